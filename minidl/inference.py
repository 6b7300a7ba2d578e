"""The inference plan: which consecutive layers ``predict`` and ``evaluate`` run as one fused block.

Training needs every layer's output (its backward pass reads them), so ``forward(x, training=True)`` runs the
layers one by one. Inference does not: ``Sequential.predict`` and ``evaluate`` ask :func:`plan` for the
layers grouped into **steps**, and run them with :func:`run` (a functional ``Model`` asks
:func:`plan_graph` for its blocks). A step is a layer, run as usual
(``layer.forward(a, training=False)``), or a :class:`ConvBlock`:

    Conv1D/Conv2D (ReLU or no activation) → [BatchNormalization] → [Max/AveragePooling of the same rank]
    Conv1D/Conv2D → [Max/AveragePooling] → [BatchNormalization]

(at least one of the two after the convolution), computed by the kernel family's
:meth:`~minidl.kernels.contract.KernelFamily.conv_inference`: in inference a batch norm is a per-channel
affine ``x·scale + shift`` (moving statistics, :meth:`BatchNormalization.inference_affine`), and the fast
family pools each piece of the convolution's output while it is in cache, so the output before pooling is
never written (:mod:`minidl.kernels.fusion_numba`). Results are those of the layers run one by one (the
same bits with the fast family, except 3×3 Winograd convolutions, which a block computes with larger tiles:
equal to about 4e-6 of the largest output in float32; ``tests/minidl/test_fusion.py``); nothing is kept for a
backward pass.

``model.forward(x, training=False)`` itself still runs layer by layer and keeps each layer's values, so a
backward pass may follow it (``compute_gradients(training=False)``, :mod:`minidl.gradcheck`, saliency maps).
Set :data:`FUSE` to False to turn the planning off (for A/B timings).
"""

from __future__ import annotations

import numpy as np

from . import kernels as _kernels
from .layers.conv import _Conv
from .layers.normalization import BatchNormalization
from .layers.pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D

#: plan fused blocks in ``predict``/``evaluate`` (False: every layer on its own, as ``forward``)
FUSE = True

_POOLS = {MaxPooling1D: ("max", 1), MaxPooling2D: ("max", 2), AveragePooling1D: ("avg", 1),
          AveragePooling2D: ("avg", 2)}


class ConvBlock:
    """A convolution followed by a batch norm and/or a pooling layer, run as one step in inference.

    ``conv`` a built Conv1D/Conv2D; ``bn`` a BatchNormalization or None; ``pool`` a Max/AveragePooling layer
    of the convolution's rank or None; ``bn_first``: the batch norm comes before the pooling.
    """

    def __init__(self, conv, bn=None, pool=None, bn_first=True):
        self.conv, self.bn, self.pool, self.bn_first = conv, bn, pool, bool(bn_first)
        order = [bn, pool] if bn_first else [pool, bn]
        self.layers = tuple(layer for layer in [conv, *order] if layer is not None)

    def forward(self, x):
        """The block's output for ``x`` (the convolution's input), as its layers' forward passes in turn."""
        conv = self.conv
        x = conv._check_input(x).astype(conv.dtype, copy=False)
        pool = None
        if self.pool is not None:
            p = self.pool
            pool = (_POOLS[type(p)][0], p._p2(), p._s2(), p._pads(p.input_shape))
        affine = None if self.bn is None else (*self.bn.inference_affine(), self.bn_first)
        return _kernels.active().conv_inference(x, conv.params["kernel"], conv.params.get("bias"), conv._s2(),
                                                conv._pads(conv.input_shape), conv.activation, pool, affine)

    def __repr__(self):
        return "ConvBlock(" + " → ".join(layer.name for layer in self.layers) + ")"


def _pool_of(layer, conv):
    kind = _POOLS.get(type(layer))
    return layer if kind is not None and kind[1] == conv.rank and layer.built else None


def _bn_of(layer, conv):
    ok = type(layer) is BatchNormalization and layer.built and np.dtype(layer.dtype) == np.dtype(conv.dtype)
    return layer if ok else None


def _block(conv, first, second):
    """The :class:`ConvBlock` of ``conv`` followed by ``first`` then ``second`` (either None), or None."""
    if not (FUSE and isinstance(conv, _Conv) and conv.built):
        return None
    bn, pool = _bn_of(first, conv), _pool_of(first, conv)
    if bn is not None:
        return ConvBlock(conv, bn, _pool_of(second, conv), bn_first=True)
    if pool is not None:
        return ConvBlock(conv, _bn_of(second, conv), pool, bn_first=False)
    return None


def plan(layers) -> list:
    """The steps of an inference pass through ``layers`` (a chain: each layer's input is the previous one's
    output): layers, with :class:`ConvBlock` in place of each fusable run of them (module docstring)."""
    layers = list(layers)
    steps, i = [], 0
    while i < len(layers):
        nxt = layers[i + 1:i + 3] + [None, None]
        block = _block(layers[i], nxt[0], nxt[1])
        steps.append(block if block is not None else layers[i])
        i += len(block.layers) if block is not None else 1
    return steps


def only_next(ops, output):
    """For a graph (``ops`` in topological order, each with its ``_inbound`` tensors; ``output`` the output
    layer): a function ``layer → next`` giving the one layer that reads ``layer``'s value, if ``layer`` is not
    the output, has exactly that one reader, and that reader has no other input (so a block may take both and
    no one else needs the value between them); None otherwise (and for None)."""
    consumers = {}
    for layer in ops:
        for t in layer._inbound:
            consumers.setdefault(t.layer, []).append(layer)

    def following(layer):
        c = consumers.get(layer, [])
        ok = layer is not None and layer is not output and len(c) == 1 and len(c[0]._inbound) == 1
        return c[0] if ok else None

    return following


def plan_graph(ops, output) -> dict:
    """The blocks of a graph (``ops`` in topological order, each with its ``_inbound`` tensors; ``output`` the
    output layer): ``{first layer: ConvBlock}`` for each run conv → a → b in which every layer but the last
    feeds only the next one and is not the output (so no one else needs its value, :func:`only_next`)."""
    following = only_next(ops, output)
    blocks, inside = {}, set()
    for layer in ops:
        if layer in inside:
            continue
        first = following(layer)
        block = _block(layer, first, following(first))
        if block is not None:
            blocks[layer] = block
            inside.update(block.layers[1:])
    return blocks


def run(steps, x):
    """Run ``x`` through the steps of :func:`plan` in inference mode."""
    for step in steps:
        x = step.forward(x) if isinstance(step, ConvBlock) else step.forward(x, training=False)
    return x


__all__ = ["FUSE", "ConvBlock", "plan", "plan_graph", "run"]
