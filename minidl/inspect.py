"""Looking inside a network: what every layer outputs, and what the output is sensitive to.

* :func:`layer_outputs` (alias :func:`activations`) — one forward pass, the output of every layer,
  keyed by layer name: the feature maps a CNN computes from one genotype image.
* :func:`saliency` — the gradient of one output unit with respect to the input,
  ``S = ∂y[unit]/∂x`` (Simonyan et al. 2014): large ``|S|`` marks the input values (haplotypes, SNPs)
  that would change the prediction most. Computed by the layers' own backward passes with
  ``dy = one-hot(unit)``, exactly as training computes ``∂L/∂x`` with ``dy = ∂L/∂y``.

Both take any object with a ``layers`` list (``Sequential``) or a plain list of layers, and run in
inference mode (dropout off, batch-norm moving statistics). ``saliency`` overwrites the layers'
``grads`` (it is a backward pass) but never changes a weight. Tested in ``tests/minidl/test_inspect.py``.
"""

from __future__ import annotations

import numpy as np


def _layers(model):
    layers = list(getattr(model, "layers", model))
    if not layers:
        raise ValueError("inspect expected a model with layers (or a non-empty list of layers); got none")
    return layers


def _input(model, x):
    x = np.asarray(x)
    inp = getattr(model, "input_layer", None)
    return inp.forward(x) if inp is not None else x


def layer_outputs(model, x) -> dict[str, np.ndarray]:
    """``{layer name: output}`` for every layer, in order, for the batch ``x`` (inference mode).

    Shapes: ``x`` ``(N, …)``; each value ``(N, …)`` as that layer's ``output_shape``.
    """
    out = {}
    a = _input(model, x)
    for layer in _layers(model):
        a = layer.forward(a, training=False)
        out[layer.name] = a
    return out


activations = layer_outputs


def saliency(model, x, unit=None, layer=None) -> np.ndarray:
    """``∂ y[n, unit] / ∂ x[n]`` for every sample ``n`` of ``x`` — one backward pass for the whole batch.

    ``unit``: index into one sample's output — an int (last axis, e.g. a class) or a tuple for outputs
    of higher rank; ``None`` takes each sample's largest output (its predicted class).
    ``layer``: name or index of the layer whose output is differentiated (default: the last), e.g. a
    convolution's feature map to see what one filter responds to.
    Returns an array shaped like ``x``. Samples do not interact in inference mode, so the gradient of
    ``Σₙ y[n, unit]`` separates into one saliency map per sample.
    """
    layers = _layers(model)
    if layer is None:
        stop = len(layers) - 1
    elif isinstance(layer, str):
        names = [lay.name for lay in layers]
        if layer not in names:
            raise ValueError(f"saliency layer {layer!r} is not in the model; layers are: {', '.join(names)}")
        stop = names.index(layer)
    else:
        stop = range(len(layers))[layer]
    chain = layers[:stop + 1]
    a = _input(model, x)
    for lay in chain:
        a = lay.forward(a, training=False)
    dy = np.zeros_like(a)
    flat = a.reshape(a.shape[0], -1)
    if unit is None:
        idx = flat.argmax(axis=1)
        dy.reshape(a.shape[0], -1)[np.arange(a.shape[0]), idx] = 1
    else:
        unit = (unit,) if isinstance(unit, (int, np.integer)) else tuple(unit)
        try:
            dy[(slice(None), *unit)] = 1
        except IndexError:
            raise ValueError(f"saliency unit {unit} is outside the output of one sample, shape {a.shape[1:]}") from None
    first = chain[0]
    keep = getattr(first, "compute_input_gradient", None)
    if keep is not None:
        first.compute_input_gradient = True    # a first Conv may skip dx during training; here we need it
    try:
        for lay in reversed(chain):
            dy = lay.backward(dy)
    finally:
        if keep is not None:
            first.compute_input_gradient = keep
    return dy
