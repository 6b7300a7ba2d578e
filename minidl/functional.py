"""The functional API: a model is a graph of layers, built by calling layers on symbolic tensors (Keras 3).

    image = Input((40, 64, 1), name="image")            # one genotype image per sample
    stats = Input((18,), name="stats")                  # and its summary statistics
    a = Flatten()(MaxPooling2D(2)(Conv2D(8, 3, activation="relu")(image)))
    b = Dense(16, activation="relu")(stats)
    h = Concatenate()([a, b])                           # (N, 2448 + 16)
    out = Dense(3, activation="softmax")(h)
    model = Model(inputs=[image, stats], outputs=out, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit({"image": x_img, "stats": x_stats}, y, epochs=10)      # or fit([x_img, x_stats], y, ...)

Calling a layer on a :class:`SymbolicTensor` (or on an ``Input``) computes nothing: it builds the layer for
that shape, records which tensors it reads, and returns a new symbolic tensor for its output. ``Model``
walks that record back from the output to the inputs and trains the graph with everything ``Sequential``
has (:class:`minidl.model.BaseModel`): compile / fit / evaluate / predict / train_on_batch / summary /
get_weights / set_weights / save / :func:`~minidl.model.load_model`, callbacks and batch sources.

Backpropagation through a graph
-------------------------------
Every layer ``f`` reads tensors ``u₁ … u_k`` (one, or a list for merge layers) and writes one tensor
``v = f(u₁, …, u_k)``. A *topological order* lists each layer after the layers that produce its inputs.

**Forward**, in topological order: ``v = f.forward(u₁, …, u_k)``; every value is kept until the step ends.

**Backward**, in reverse order. Start with ``ḡ(output) = ∂L/∂output``. When layer ``f`` is reached, every
layer that reads its output ``v`` has already been processed, so ``ḡ(v) = ∂L/∂v`` is complete, and

    [ḡ(u₁), …, ḡ(u_k)]  +=  f.backward(ḡ(v))        i.e.  ḡ(uᵢ) += (∂v/∂uᵢ)ᵀ ḡ(v)

(``f.backward`` also stores ``∂L/∂θ`` of its own parameters). The ``+=`` is the multivariable chain
rule: a tensor ``u`` read by several layers ``f₁ … f_m`` influences the loss along every path, so

    ∂L/∂u = Σⱼ (∂vⱼ/∂u)ᵀ ∂L/∂vⱼ       (vⱼ = output of fⱼ)

— gradients *add up* where a tensor fans out, and a merge layer (``Concatenate``, ``Add``) hands one
gradient back to each of its inputs. For ``Concatenate`` the pieces are slices of ``ḡ(v)``; for ``Add``
every input receives ``ḡ(v)`` itself. At the end ``ḡ(xᵢ)`` is ``∂L/∂xᵢ`` for each input ``xᵢ``.

The order is the one Keras uses for ``model.layers`` (and hence ``model.weights`` / ``get_weights()``): a
depth-first walk from the output gives each layer a discovery index; the *depth* of a layer is the length
of the longest path from it to the output; layers are sorted by decreasing depth, ties by discovery
index. Decreasing depth is a topological order (a layer's inputs are strictly deeper than it), so the
forward pass runs in ``model.layers`` order and the backward pass in the reverse — and weights copy to and
from a Keras model built with the same calls.

Limits: one output tensor (several outputs: concatenate them); a layer object may be called once (each
layer keeps the values of its last forward pass for backward, so shared layers are not supported — create
one layer per use).

Randomness: ``Model(..., seed=s)`` re-draws the initial weights of every layer without its own ``seed``
from child ``i`` of ``SeedSequence(s)``, ``i`` = position among the non-input layers of ``model.layers``
(as ``Sequential`` does); same seed ⇒ same weights, dropout masks and shuffles.
"""

from __future__ import annotations

import functools

import numpy as np

from . import inference as _inference
from . import training_plan as _training_plan
from .layers.base import Input, Layer, layer_class, shape_str
from .layers.merge import Merge
from .model import BaseModel


class SymbolicTensor:
    """A placeholder for the batch a layer will output — its shape and where it comes from (Keras: the
    ``KerasTensor``). ``shape`` includes the batch axis as ``None``: ``(None, 18)``."""

    def __init__(self, layer: Layer, sample_shape):
        self.layer = layer
        self.sample_shape = tuple(sample_shape)

    @property
    def shape(self):
        return (None, *self.sample_shape)

    @property
    def name(self):
        return self.layer.name

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape} from layer {self.layer.name!r} ({type(self.layer).__name__})>"


def _tensor(x) -> SymbolicTensor:
    """The symbolic tensor of an ``Input`` (created on first use) or the tensor itself."""
    if isinstance(x, Input):
        if getattr(x, "_output_tensor", None) is None:
            x._inbound, x._output_tensor = [], SymbolicTensor(x, x.shape)
        return x._output_tensor
    return x


def is_symbolic(x) -> bool:
    """True for a symbolic tensor, an ``Input``, or a non-empty list/tuple of them."""
    if isinstance(x, (list, tuple)):
        return bool(x) and all(isinstance(t, (SymbolicTensor, Input)) for t in x)
    return isinstance(x, (SymbolicTensor, Input))


def call_symbolic(layer: Layer, x) -> SymbolicTensor:
    """``layer(x)`` on symbolic input: build ``layer`` for ``x``'s shape, record the edge, return the output."""
    if isinstance(layer, Input):
        raise TypeError(f"Input {layer.name!r} starts a graph; it cannot be called on a tensor")
    if getattr(layer, "_inbound", None) is not None:
        raise ValueError(f"Layer {layer.name!r} is already used in a graph: each minidl layer keeps the values of "
                         "its last forward pass for backward, so a layer cannot be called twice (shared layers are "
                         "not supported). Create a new layer for each use.")
    what = f"{type(layer).__name__} {layer.name!r}"
    if isinstance(layer, Merge):
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"{what} must be called on a list of tensors, e.g. {type(layer).__name__}()([a, b]); "
                            f"got one tensor")
        tensors = [_tensor(t) for t in x]
        shape = [t.sample_shape for t in tensors]
    else:
        if isinstance(x, (list, tuple)):
            raise TypeError(f"{what} takes one tensor; got a list of {len(x)} (join them first with Concatenate "
                            "or Add)")
        tensors = [_tensor(x)]
        shape = tensors[0].sample_shape
        if layer.input_rank is not None and len(shape) + 1 != layer.input_rank:
            raise ValueError(f"{what} expected input of rank {layer.input_rank} {layer._rank_hint()}; got "
                             f"{shape_str(shape)} from layer {tensors[0].layer.name!r}")
    if not layer.built:
        layer.build(shape)
    else:  # built before (e.g. used on arrays): the shapes must be the ones it was built for
        built_for = list(layer.input_shape) if isinstance(layer, Merge) else layer.input_shape
        given = [tuple(s) for s in shape] if isinstance(layer, Merge) else tuple(shape)
        if built_for != given:
            raise ValueError(f"{what} was built for input shape {built_for}; got {given}")
    layer._inbound = tensors
    layer._output_tensor = SymbolicTensor(layer, layer.output_shape)
    return layer._output_tensor


def _as_list(x, what) -> list:
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    if not items:
        raise ValueError(f"Model {what} is empty; expected a tensor or a list of tensors")
    for t in items:
        if not isinstance(t, (SymbolicTensor, Input)):
            raise TypeError(f"Model {what} must be symbolic tensors (from Input(...) and layer calls); got "
                            f"{type(t).__name__}")
    return [_tensor(t) for t in items]


def keras_layer_order(inputs: list[Input], output: Layer) -> list[Layer]:
    """The layers between ``inputs`` and ``output`` in Keras's ``model.layers`` order (see module docstring).

    Raises ValueError if the output needs an ``Input`` that is not in ``inputs`` (graph disconnected) or if
    an input does not lead to the output.
    """
    discovered: dict[Layer, int] = {}
    finished: list[Layer] = []   # a layer after all the layers it reads (depth-first post-order)

    def visit(layer):  # iterative depth-first search: graphs may be deeper than Python's recursion limit
        stack = [(layer, iter(getattr(layer, "_inbound", [])))]
        discovered.setdefault(layer, len(discovered))
        while stack:
            node, parents = stack[-1]
            for t in parents:
                if t.layer not in discovered:
                    discovered[t.layer] = len(discovered)
                    stack.append((t.layer, iter(getattr(t.layer, "_inbound", []))))
                    break
            else:
                stack.pop()
                finished.append(node)

    visit(output)
    depth: dict[Layer, int] = {output: 0}
    for layer in reversed(finished):      # consumers before producers: depth = longest path to the output
        for t in getattr(layer, "_inbound", []):
            depth[t.layer] = max(depth.get(t.layer, 0), depth[layer] + 1)
    for layer in finished:
        if isinstance(layer, Input) and layer not in inputs:
            raise ValueError(f"Graph disconnected: the output needs Input {layer.name!r}, which is not in inputs="
                             f"[{', '.join(i.name for i in inputs)}]")
    for layer in inputs:
        if layer not in depth:
            raise ValueError(f"Input {layer.name!r} is not connected to the outputs: no layer path leads from it "
                             "to the output. Remove it from inputs or use it.")
    return sorted(finished, key=lambda l: (-depth[l], discovered[l]))


class Model(BaseModel):
    """A model over a graph of layers: ``Model(inputs, outputs, name="functional", seed=None)``.

    ``inputs`` is an ``Input`` or a list of them (the order of the arrays given to ``fit``/``predict`` as a
    list; a dict is keyed by the ``Input`` names); ``outputs`` is the symbolic tensor the model computes
    (one output). See the module docstring for the algorithm.
    """

    def __init__(self, inputs, outputs, name="functional", seed=None):
        self._init_model(name, seed)
        self.inputs = _as_list(inputs, "inputs")
        outs = _as_list(outputs, "outputs")
        if len(outs) != 1:
            raise ValueError(f"Model supports one output tensor; got {len(outs)}. Join several outputs into one "
                             "with Concatenate and split the predictions afterwards.")
        self.outputs = outs
        self.input_layers = [t.layer for t in self.inputs]
        for t in self.inputs:
            if not isinstance(t.layer, Input):
                raise ValueError(f"Model inputs must be Input(...) tensors; got the output of layer "
                                 f"{t.layer.name!r} ({type(t.layer).__name__})")
        if len(set(self.input_layers)) != len(self.input_layers):
            raise ValueError("Model inputs list the same Input twice")
        if isinstance(outs[0].layer, Input):
            raise ValueError(f"Model output is Input {outs[0].layer.name!r} itself; call at least one layer on it")
        self.layers: list[Layer] = keras_layer_order(self.input_layers, outs[0].layer)
        names = [l.name for l in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Layer names must be unique in a model; {', '.join(map(repr, dup))} appear more than once")
        self._ops = [l for l in self.layers if not isinstance(l, Input)]
        for i, layer in enumerate(self._ops):
            if layer.seed is None and not getattr(layer, "_owned", False):
                layer.rng = self._layer_rng(i)      # re-draw the initial weights from the model's seed
                layer.build(layer.input_shape)
            layer._owned = True                   # a second Model over the same layers keeps their weights

    # ---------------------------------------------------------------- structure
    built = True

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        return self.outputs[0].shape

    @property
    def dtype(self):
        return self._output_layer().dtype

    def _output_layer(self):
        return self.outputs[0].layer

    def _check_x(self, x, name="x", finite=True):
        """The model's inputs as a list of checked arrays, from an array (one input), a list or a dict (their
        values finite unless ``finite`` is False)."""
        names = [l.name for l in self.input_layers]
        k = len(names)
        listed = ", ".join(map(repr, names))
        if isinstance(x, dict):
            missing, extra = [n for n in names if n not in x], [n for n in x if n not in names]
            if missing or extra:
                raise ValueError(f"{name} is a dict; its keys must be the Input names {listed}"
                                 + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))
            arrays = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and (k > 1 or (len(x) == 1 and np.ndim(x[0]) >= 2)):
            if len(x) != k:
                raise ValueError(f"{name} must hold {k} arrays, one per input ({listed}); got {len(x)}")
            arrays = list(x)
        elif k == 1:
            arrays = [x]
        else:
            raise ValueError(f"The model has {k} inputs ({listed}): pass {name} as a list of {k} arrays in that order "
                             f"or a dict keyed by the Input names; got one {type(x).__name__}")
        checked = [self._check_array(a, name if k == 1 else f"{name}[{n!r}]", layer.shape, finite)
                   for a, n, layer in zip(arrays, names, self.input_layers)]
        counts = [len(a) for a in checked]
        if len(set(counts)) > 1:
            raise ValueError(f"The arrays of {name} must have the same number of samples; got "
                             + ", ".join(f"{n}: {c}" for n, c in zip(names, counts)))
        return checked

    # ---------------------------------------------------------------- passes
    def forward(self, x, training=False):
        """Run the inputs (a list of arrays in ``inputs`` order, or one array) through the graph."""
        return self._forward({}, x, training=training)

    def _forward(self, blocks, x, training=False):
        """:meth:`forward`, each of ``blocks`` (``{first layer: block}``, :func:`minidl.training_plan.plan_graph`)
        run as one step."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        values = {layer: layer.forward(a) for layer, a in zip(self.input_layers, xs)}
        for layer in self._ops:           # topological order: every input value exists already
            if layer in values:           # computed inside a block already
                continue
            args = [values[t.layer] for t in layer._inbound]
            block = blocks.get(layer)
            if block is not None:
                values[block.layers[-1]] = block.forward(args[0], training=training)
                values.update({inner: None for inner in block.layers[:-1]})   # inside the block: no one else reads
            else:
                values[layer] = layer.forward(args if isinstance(layer, Merge) else args[0], training=training)
        return values[self._output_layer()]

    def _training_passes(self):
        """The forward and backward passes with the fused blocks of :func:`minidl.training_plan.plan_graph`."""
        blocks = _training_plan.plan_graph(self._ops, self._output_layer())
        return functools.partial(self._forward, blocks), functools.partial(self._backward, blocks)

    def _inference_plan(self):
        return _inference.plan_graph(self._ops, self._output_layer())

    def _inference_forward(self, x, plan=None):
        """:meth:`forward` in inference mode with the fused blocks of :func:`minidl.inference.plan_graph`
        (``plan``, or planned now)."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        values = {layer: layer.forward(a) for layer, a in zip(self.input_layers, xs)}
        blocks = self._inference_plan() if plan is None else plan
        for layer in self._ops:
            if layer in values:           # computed inside a fused block already
                continue
            args = [values[t.layer] for t in layer._inbound]
            block = blocks.get(layer)
            if block is not None:
                values[block.layers[-1]] = block.forward(args[0])
                values.update({inner: None for inner in block.layers[:-1]})   # their values are not needed
            else:
                values[layer] = layer.forward(args if isinstance(layer, Merge) else args[0], training=False)
        return values[self._output_layer()]

    def backward(self, dy, from_logits=False, need_input_gradient=True):
        """Propagate ``∂L/∂output`` back through the graph; returns ``∂L/∂x`` per input (one array if the
        model has one input). Each layer stores its parameter gradients; see the module docstring.

        ``from_logits`` and ``need_input_gradient`` as in :meth:`minidl.model.Sequential.backward` (layers
        that read only inputs then skip their input gradient where they can, and None is returned).
        """
        return self._backward({}, dy, from_logits, need_input_gradient)

    def _backward(self, blocks, dy, from_logits=False, need_input_gradient=True):
        """:meth:`backward` through the passes of :meth:`_forward` with the same ``blocks``."""
        ending = {block.layers[-1]: block for block in blocks.values()}
        inner = {layer for block in blocks.values() for layer in block.layers[:-1]}
        skipped = []
        if not need_input_gradient:
            for layer in self._ops:
                if hasattr(layer, "compute_input_gradient") and all(isinstance(t.layer, Input) for t in layer._inbound):
                    skipped.append((layer, layer.compute_input_gradient))
                    layer.compute_input_gradient = False
        try:
            out = self._output_layer()
            grads = {out: dy}                               # ḡ(v) for each layer's output v
            for layer in reversed(self._ops):
                if layer in inner:                          # its block was run at the block's last layer
                    continue
                g = grads.pop(layer)                        # complete: every reader was processed
                step = ending.get(layer, layer)
                dx = layer.backward_linear(g) if (from_logits and layer is out) else step.backward(g)
                first = step.layers[0] if step is not layer else layer
                for t, d in zip(first._inbound, dx if isinstance(layer, Merge) else [dx]):
                    if d is not None:                       # ḡ(u) += (∂v/∂u)ᵀ ḡ(v)
                        grads[t.layer] = d if t.layer not in grads else grads[t.layer] + d
        finally:
            for layer, keep in skipped:
                layer.compute_input_gradient = keep
        dxs = [grads.get(layer) for layer in self.input_layers]
        return dxs[0] if len(dxs) == 1 else dxs

    # ---------------------------------------------------------------- summary / config
    def _summary_columns(self):
        rows = [(f"{l.name} ({'InputLayer' if isinstance(l, Input) else type(l).__name__})",
                 str((None, *l.output_shape)), f"{l.count_params():,}",
                 ", ".join(t.layer.name for t in getattr(l, "_inbound", []) or []) or "-") for l in self.layers]
        return ("Layer (type)", "Output Shape", "Param #", "Connected to"), rows

    def get_config(self) -> dict:
        return {"name": self.name, "seed": self.seed,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config(),
                            "inbound": [t.layer.name for t in getattr(l, "_inbound", None) or []]}
                           for l in self.layers],
                "input_layers": [l.name for l in self.input_layers],
                "output_layers": [self._output_layer().name]}

    @classmethod
    def from_config(cls, cfg: dict) -> "Model":
        """Rebuild the graph: create each layer from its config and call it on its inbound tensors."""
        tensors: dict[str, SymbolicTensor] = {}
        for spec in cfg["layers"]:
            layer = layer_class(spec["class_name"]).from_config(spec["config"])
            if isinstance(layer, Input):
                tensors[layer.name] = _tensor(layer)
                continue
            missing = [n for n in spec["inbound"] if n not in tensors]
            if missing:
                raise ValueError(f"Model config: layer {layer.name!r} reads {missing}, which come later or not at all")
            args = [tensors[n] for n in spec["inbound"]]
            tensors[layer.name] = layer(args if isinstance(layer, Merge) else args[0])
        return cls([tensors[n] for n in cfg["input_layers"]], tensors[cfg["output_layers"][0]],
                   name=cfg.get("name", "functional"), seed=cfg.get("seed"))
