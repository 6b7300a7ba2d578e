"""``Sequential``: a stack of layers trained by mini-batch gradient descent — the Keras workflow.

    model = Sequential([Input((8,)), Dense(32, activation="relu"), Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, validation_split=0.2,
                        callbacks=[EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)])

One training step (:meth:`Sequential.train_on_batch`) is the whole algorithm:

1. forward:  ``a₀ = x``, ``aₗ = layerₗ.forward(aₗ₋₁, training=True)``;
2. loss:     ``L = loss(y, a_L) + Σ penalties``;
3. backward: ``d = ∂L/∂a_L``, then ``d = layerₗ.backward(d)`` from the last layer to the first —
   each layer stores the gradients of its own parameters on the way;
4. update:   the optimizer changes every trainable parameter using its gradient.

When the last layer ends in softmax (sigmoid) and the loss is (binary) cross-entropy, step 3 starts
from ``∂L/∂z = (p − y)/N`` at the logits — see :mod:`minidl.losses`.

Randomness: ``seed`` feeds a ``numpy.random.SeedSequence``; layer ``i`` (unless it has its own seed)
draws its initial weights and dropout masks from child ``i``, and the shuffles come from another child.
Same seed ⇒ same initial weights, masks and shuffles, bit for bit, on any machine and thread count. The
weights after training are the same bit for bit on the same machine with the same thread count and the
same kernel family; across thread counts only to float32 rounding (the BLAS sums products in a
thread-dependent order) — see "Reproducibility, exactly" in README.md.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from . import callbacks as _callbacks
from . import config
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from .activations import SigmoidFunction, SoftmaxFunction
from .layers.base import Input, Layer, layer_class

_SHUFFLE_STREAM = 2**31  # spawn key of the shuffling generator (layers use 0, 1, 2, ...)


def _batches(n, batch_size, order=None):
    """Yield index arrays of consecutive mini-batches (the last one may be smaller)."""
    idx = np.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield idx[start:start + batch_size]


class Sequential:
    """A linear stack of layers with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``."""

    def __init__(self, layers=None, name="sequential", seed=None):
        self.name = name
        self.seed = seed
        self._seed_seq = np.random.SeedSequence(seed)
        self.input_layer: Input | None = None
        self.layers: list[Layer] = []
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self.stop_training = False
        self.compiled = False
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- structure
    def add(self, layer: Layer) -> None:
        """Append a layer (an ``Input`` may only come first)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expected a minidl layer; got {type(layer).__name__}")
        if isinstance(layer, Input):
            if self.input_layer is not None or self.layers:
                raise ValueError("Input must be the first layer of a Sequential model")
            self.input_layer = layer
            return
        if layer.rng is None:
            # child stream number = position of the layer: weights do not depend on other layers
            child = np.random.SeedSequence(self._seed_seq.entropy, spawn_key=(len(self.layers),))
            layer.rng = np.random.default_rng(child)
        self.layers.append(layer)
        if self.input_layer is not None:
            self._build_from(len(self.layers) - 1)

    def _build_from(self, start):
        shape = self.input_layer.shape if start == 0 else self.layers[start - 1].output_shape
        for layer in self.layers[start:]:
            if not layer.built:
                layer.build(shape)
            shape = layer.output_shape

    def build(self, input_shape) -> None:
        """Build every layer for samples of ``input_shape`` (batch axis excluded)."""
        if self.input_layer is None:
            self.input_layer = Input(tuple(input_shape))
        self._build_from(0)

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self):
        return None if self.input_layer is None else (None, *self.input_layer.shape)

    @property
    def output_shape(self):
        return None if not self.built else (None, *self.layers[-1].output_shape)

    @property
    def dtype(self):
        return self.layers[0].dtype if self.layers else np.dtype(config.floatx())

    def get_layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r}; layers are: {', '.join(l.name for l in self.layers)}")

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose the optimizer, the loss and the metrics to report (Keras names accepted)."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='mse' or loss='sparse_categorical_crossentropy'")
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        if isinstance(metrics, (str, _metrics.Metric)) or callable(metrics):
            metrics = [metrics]
        self.metrics = [_metrics.get(m, self.loss) for m in (metrics or [])]
        self.compiled = True

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"Call model.compile(optimizer=..., loss=...) before {what}")
        if not self.layers:
            raise RuntimeError(f"The model has no layers; add some before {what}")

    def _fused_activation(self):
        """The last activation if softmax/sigmoid feeds a matching cross-entropy, else None."""
        act = getattr(self.layers[-1], "activation", None)
        if isinstance(self.loss, _losses.CategoricalCrossentropy) and isinstance(act, SoftmaxFunction) and act.axis == -1:
            return act
        if isinstance(self.loss, _losses.BinaryCrossentropy) and isinstance(act, SigmoidFunction):
            return act
        return None

    # ---------------------------------------------------------------- passes
    def _as_input(self, x):
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    def forward(self, x, training=False):
        """Run ``x`` through every layer and return the output."""
        a = self.input_layer.forward(x) if self.input_layer is not None else x
        for layer in self.layers:
            a = layer.forward(a, training=training)
        return a

    def backward(self, dy, from_logits=False, need_input_gradient=True):
        """Propagate ``∂L/∂output`` back to ``∂L/∂input``; each layer stores its parameter gradients.

        With ``from_logits=True``, ``dy`` is the gradient with respect to the last layer's
        pre-activation ``z`` (the fused softmax + cross-entropy path). Training does not need
        ``∂L/∂input``; with ``need_input_gradient=False`` a first layer that can skip computing it
        (convolutions: ``compute_input_gradient``) does so, and None is returned.
        """
        first = self.layers[0]
        skip = not need_input_gradient and hasattr(first, "compute_input_gradient")
        if skip:
            keep, first.compute_input_gradient = first.compute_input_gradient, False
        try:
            layers = self.layers
            if from_logits:
                dy = layers[-1].backward_linear(dy)
                layers = layers[:-1]
            for layer in reversed(layers):
                dy = layer.backward(dy)
        finally:
            if skip:
                first.compute_input_gradient = keep
        return dy

    def _regularization_loss(self):
        return sum(layer.regularization_loss() for layer in self.layers)

    def _trainable_variables(self):
        return [(f"{i}/{layer.name}/{n}", layer.params[n], layer.grads[n])
                for i, layer in enumerate(self.layers) for n in layer.trainable_names]

    def _loss_and_grad(self, y, y_pred):
        fused = self._fused_activation()
        if fused is not None:
            value, dz = self.loss.fused(y, fused.z, y_pred)
            return value, dz, True
        return self.loss(y, y_pred), self.loss.gradient(y, y_pred), False

    def train_on_batch(self, x, y):
        """One gradient step on one batch; returns the loss (and metrics, if any, as a list)."""
        self._require_compiled("train_on_batch")
        x, y = self._check_xy(x, y)
        loss, values = self._train_step(self._as_input(x), y)
        return loss if not self.metrics else [loss, *[float(np.mean(v)) for v in values]]

    def compute_gradients(self, x, y, training=True):
        """Forward, loss and backward on one batch, without updating any weight.

        Afterwards every layer's ``grads`` holds ``∂L/∂θ``. Returns ``(loss, y_pred)``; the loss
        includes the regularization penalties. Lessons use this to look at gradients.
        """
        self._require_compiled("compute_gradients")
        y_pred = self.forward(x, training=training)
        value, dy, from_logits = self._loss_and_grad(y, y_pred)
        self.backward(dy, from_logits=from_logits, need_input_gradient=False)
        return value + self._regularization_loss(), y_pred

    def _train_step(self, x, y):
        loss, y_pred = self.compute_gradients(x, y, training=True)
        self.optimizer.apply(self._trainable_variables())
        return loss, [m.values(y, y_pred) for m in self.metrics]

    # ---------------------------------------------------------------- checks
    def _check_xy(self, x, y, names=("x", "y")):
        x = self._check_x(x, names[0])
        if y is None:
            raise ValueError(f"{names[1]} is required")
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"{names[0]} and {names[1]} must have the same number of samples; "
                             f"got {len(x)} and {len(y)}")
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
            raise ValueError(f"{names[1]} contains NaN or infinite values")
        return x, y

    def _check_x(self, x, name="x"):
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError(f"{name} must be a numeric array; got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"{name} must be a batch of samples with shape (N, ...); got shape {x.shape}")
        expected = self.input_layer.shape if self.input_layer is not None else (
            self.layers[0].input_shape if self.layers and self.layers[0].built else None)
        if expected is not None and tuple(x.shape[1:]) != tuple(expected):
            raise ValueError(f"{name} has sample shape {tuple(x.shape[1:])}; the model expects {tuple(expected)}")
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return x

    # ---------------------------------------------------------------- fit
    def fit(self, x, y, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0):
        """Train for ``epochs`` passes over ``(x, y)``; returns a :class:`~minidl.callbacks.History`.

        ``validation_split`` holds out the *last* fraction of the samples (before shuffling), as Keras
        does; ``validation_data=(x_val, y_val)`` takes precedence. The reported ``loss`` and metrics are
        means over the epoch's training batches; ``val_*`` are computed after the epoch with
        ``training=False``.
        """
        self._require_compiled("fit")
        x, y = self._check_xy(x, y)
        if not (isinstance(batch_size, (int, np.integer)) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
            raise ValueError(f"epochs must be a non-negative integer; got {epochs!r}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {validation_split!r}")
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            x_val, y_val = self._check_xy(*validation_data, names=("validation_data x", "validation_data y"))
        elif validation_split:
            split_at = int(math.floor(len(x) * (1.0 - validation_split)))
            if split_at == 0 or split_at == len(x):
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {len(x)}")
            x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
        else:
            x_val = y_val = None
        verbose = 1 if verbose == "auto" else int(verbose)

        history = _callbacks.History()
        cbs = [history, *(callbacks or [])]
        for cb in cbs:
            cb.set_model(self)
        terminate_on_nan = any(isinstance(cb, _callbacks.TerminateOnNaN) for cb in cbs)
        shuffle_rng = np.random.default_rng(np.random.SeedSequence(self._seed_seq.entropy,
                                                                   spawn_key=(_SHUFFLE_STREAM,)))
        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin()
        n = len(x)
        n_batches = math.ceil(n / batch_size)
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            order = shuffle_rng.permutation(n) if shuffle else None
            total, seen = 0.0, 0
            metric_sums = np.zeros(len(self.metrics))
            bar = self._progress(verbose, n_batches, epoch, epochs)
            for b, idx in enumerate(_batches(n, batch_size, order)):
                xb, yb = self._as_input(x[idx]), y[idx]
                loss, values = self._train_step(xb, yb)
                if not np.isfinite(loss):
                    if terminate_on_nan:
                        for cb in cbs:
                            cb.on_train_batch_end(b, {"loss": loss})
                        break
                    raise ValueError(f"The loss became {loss} at epoch {epoch + 1}, batch {b + 1}: try a lower "
                                     "learning_rate, standardised inputs/targets, or clipnorm")
                total += loss * len(idx)
                seen += len(idx)
                metric_sums += [float(np.sum(v)) for v in values]
                logs = {"loss": total / seen}
                for cb in cbs:
                    cb.on_train_batch_end(b, logs)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
            logs = {"loss": total / max(seen, 1)}
            logs.update({m.name: float(s / max(seen, 1)) for m, s in zip(self.metrics, metric_sums)})
            if x_val is not None:
                val = self.evaluate(x_val, y_val, batch_size=batch_size, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            if bar is not None:
                bar.set_postfix_str(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
                bar.close()
            elif verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        return history

    @staticmethod
    def _progress(verbose, total, epoch, epochs):
        if verbose != 1:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True,
                    file=sys.stdout, dynamic_ncols=True)

    # ---------------------------------------------------------------- inference
    def predict(self, x, batch_size=32, verbose=0):
        """Outputs for ``x`` in inference mode (dropout off, batch-norm moving statistics)."""
        if not self.layers:
            raise RuntimeError("The model has no layers")
        x = self._check_x(x)
        outs = [self.forward(self._as_input(x[idx]), training=False) for idx in _batches(len(x), batch_size)]
        if not outs:
            return np.zeros((0, *self.layers[-1].output_shape), dtype=self.dtype)
        return np.concatenate(outs)

    def evaluate(self, x, y, batch_size=32, verbose=0, return_dict=False):
        """Loss (including penalties) and metrics over ``(x, y)`` in inference mode."""
        self._require_compiled("evaluate")
        x, y = self._check_xy(x, y)
        total = 0.0
        metric_sums = np.zeros(len(self.metrics))
        for idx in _batches(len(x), batch_size):
            y_pred = self.forward(self._as_input(x[idx]), training=False)
            fused = self._fused_activation()
            value = (self.loss.fused(y[idx], fused.z, y_pred)[0] if fused is not None
                     else self.loss(y[idx], y_pred))
            total += value * len(idx)
            metric_sums += [float(np.sum(m.values(y[idx], y_pred))) for m in self.metrics]
        n = max(len(x), 1)
        result = {"loss": total / n + self._regularization_loss()}
        result.update({m.name: float(s / n) for m, s in zip(self.metrics, metric_sums)})
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if not self.metrics else list(result.values())

    # ---------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """All parameters, layer by layer in Keras order (copies)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Set all parameters from a list like the one :meth:`get_weights` returns (or Keras's).

        Raises ValueError, leaving every weight unchanged, for a wrong count or shape, or for NaN or
        infinite values (the message names the layer and the parameter).
        """
        weights = list(weights)
        expected = sum(len(layer.params) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights expected {expected} arrays for model {self.name!r}; got {len(weights)}")
        checked, i = [], 0
        for layer in self.layers:   # check every layer first: an error leaves the model unchanged
            k = len(layer.params)
            checked.append(layer._checked_weights(weights[i:i + k]))
            i += k
        for layer, ws in zip(self.layers, checked):
            layer.set_weights(ws)

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> str:
        """Print (and return) the Keras-style table: Layer (type) / Output Shape / Param #."""
        if not self.built:
            raise ValueError("The model is not built yet: start it with Input(shape) or call build()/fit() first")
        rows = [(f"{layer.name} ({type(layer).__name__})", str((None, *layer.output_shape)),
                 f"{layer.count_params():,}") for layer in self.layers]
        w = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(("Layer (type)", "Output Shape",
                                                                                "Param #"))]
        line = "─" * sum(w)
        out = [f'Model: "{self.name}"', line,
               "Layer (type)".ljust(w[0]) + "Output Shape".ljust(w[1]) + "Param #".rjust(w[2]), line]
        out += [r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]) for r in rows]
        trainable = sum(layer.params[n].size for layer in self.layers for n in layer.trainable_names)
        total = self.count_params()
        out += [line, f" Total params: {total:,}", f" Trainable params: {trainable:,}",
                f" Non-trainable params: {total - trainable:,}", line]
        text = "\n".join(out)
        print_fn(text)
        return text

    # ---------------------------------------------------------------- save / load
    def get_config(self) -> dict:
        return {"name": self.name, "seed": self.seed,
                "input_shape": None if self.input_layer is None else list(self.input_layer.shape),
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()} for l in self.layers]}

    def save(self, path, metadata: dict | None = None) -> None:
        """Write architecture, compile settings, weights and training state to one ``.npz`` file (atomically).

        The training state is the optimizer's (:meth:`~minidl.optimizers.Optimizer.get_state`: step counter
        and slots such as Adam's m and v, SGD's momentum) and each layer's random-number generator (dropout
        masks), so that train → save → :func:`load_model` → train gives the weights of the uninterrupted
        run, bit for bit (same kernel family and thread count, as any run; ``fit`` with ``shuffle=False``
        or ``train_on_batch`` — ``fit`` draws its shuffles afresh at every call).

        ``metadata`` (JSON-serialisable) travels with the model — e.g. the genotype-image transform and
        class names of a trained classifier; read it back with :func:`load_metadata`.
        """
        path = os.fspath(path)
        if not path.endswith(".npz"):
            raise ValueError(f"Model files end in '.npz'; got {path!r}")
        arrays = {f"w{i:04d}": w for i, w in enumerate(self.get_weights())}
        optimizer_state = None
        if self.compiled:
            state = self.optimizer.get_state()
            slots = []
            for key, slot in state["slots"].items():
                for name, a in slot.items():
                    slots.append([key, name])
                    arrays[f"s{len(slots) - 1:04d}"] = a
            optimizer_state = {"iterations": state["iterations"], "slots": slots}
        meta = {"format": "minidl-model", "version": 2, "model": self.get_config(),
                "compile": None if not self.compiled else {
                    "optimizer": self.optimizer.get_config(), "loss": self.loss.get_config(),
                    "metrics": [m.name for m in self.metrics]},
                "optimizer_state": optimizer_state,
                "rng_states": [None if layer.rng is None else layer.rng.bit_generator.state for layer in self.layers],
                "metadata": metadata or {}}
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:  # write then rename: an interrupted save never leaves a half file
            np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)

    @classmethod
    def from_config(cls, cfg: dict) -> "Sequential":
        layers = []
        if cfg.get("input_shape") is not None:
            layers.append(Input(tuple(cfg["input_shape"])))
        for spec in cfg["layers"]:
            layers.append(layer_class(spec["class_name"]).from_config(spec["config"]))
        return cls(layers, name=cfg.get("name", "sequential"), seed=cfg.get("seed"))


def _read(path, with_weights=True, with_state=False):
    """``(meta, weights)`` of a model file; with ``with_state``, ``(meta, weights, slot arrays)``."""
    import zipfile

    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder; expected a minidl model file (.npz)")
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if "__meta__" not in data:
                raise ValueError(f"{path} is not a minidl model file (no __meta__ entry)")
            meta = json.loads(str(data["__meta__"]))
            weights = [data[k] for k in sorted(k for k in data.files if k.startswith("w"))] if with_weights else None
            slots = [data[k] for k in sorted(k for k in data.files if k.startswith("s"))] if with_state else None
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable minidl model file (corrupt or truncated: "
                         f"{type(error).__name__})") from None
    except ValueError as error:
        if "minidl model file" in str(error):
            raise
        # numpy's "pickled (object) data": a text file or a foreign pickle — never unpickled here
        raise ValueError(f"{path} is not a minidl model file (not an .npz archive)") from None
    return (meta, weights, slots) if with_state else (meta, weights)


def load_metadata(path) -> dict:
    """The ``metadata`` dict stored by ``Sequential.save(path, metadata=...)`` (without loading weights)."""
    return _read(path, with_weights=False)[0].get("metadata", {})


def load_model(path) -> Sequential:
    """Rebuild a model saved with :meth:`Sequential.save`: weights, compile settings and the training state
    (optimizer step counter and slots, layers' random generators), so training resumes where it stopped.
    Files written before the state was saved load with a fresh optimizer."""
    meta, weights, slot_arrays = _read(path, with_state=True)
    model = Sequential.from_config(meta["model"])
    if not model.built:
        raise ValueError(f"{path}: the saved model has no input shape, so it cannot be rebuilt")
    try:
        model.set_weights(weights)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    for layer, state in zip(model.layers, meta.get("rng_states") or []):
        if state is not None and layer.rng is not None:
            layer.rng.bit_generator.state = state
    if meta.get("compile"):
        c = meta["compile"]
        model.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c["metrics"] or None)
        saved = meta.get("optimizer_state")
        if saved:
            if len(saved["slots"]) != len(slot_arrays):
                raise ValueError(f"{path}: optimizer state lists {len(saved['slots'])} slots; the file holds "
                                 f"{len(slot_arrays)} (corrupt model file)")
            slots: dict = {}
            for (key, name), a in zip(saved["slots"], slot_arrays):
                slots.setdefault(key, {})[name] = a
            model.optimizer.set_state({"iterations": saved["iterations"], "slots": slots})
    return model
