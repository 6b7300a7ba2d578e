"""``Sequential``: a stack of layers trained by mini-batch gradient descent — the Keras workflow.

The training workflow lives in :class:`BaseModel`, shared with the functional ``Model`` of
:mod:`minidl.functional` (a graph of layers, several inputs); ``Sequential`` only says how a stack runs
forward and backward.

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

import functools
import json
import math
import os
import sys
import warnings

import numpy as np

from . import callbacks as _callbacks
from . import config
from . import data as _data
from . import inference as _inference
from . import kernels as _kernels
from .kernels import blas as _blas
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import training_plan as _training_plan
from .activations import SigmoidFunction, SoftmaxFunction
from .layers.base import Input, Layer, layer_class

_SHUFFLE_STREAM = 2**31  # spawn key of the shuffling generator (layers use 0, 1, 2, ...)


class BaseModel:
    """What every model shares: compile / fit / evaluate / predict / train_on_batch / weights / save.

    A subclass says what the network *is*; this class says how it is trained. The subclass provides

    - ``layers`` — every layer, in Keras order (``get_weights()`` concatenates their weights in this order);
    - ``forward(x, training)`` and ``backward(dy, from_logits, need_input_gradient)``;
    - ``_output_layer()`` — the layer that produces the output (for the fused softmax/sigmoid path);
    - ``_check_x(x, name, finite)`` — the model's inputs, checked (one array, or a list for several inputs);
    - ``_summary_columns()``, ``get_config()`` and ``from_config(cfg)``.

    :class:`Sequential` (a stack) and :class:`minidl.functional.Model` (a graph of layers) are the two.
    """

    def _init_model(self, name, seed):
        self.name = name
        self.seed = seed
        self._seed_seq = np.random.SeedSequence(seed)
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self.stop_training = False
        self.compiled = False

    def _layer_rng(self, index) -> np.random.Generator:
        """The generator of the ``index``-th layer: child ``index`` of the model's seed sequence."""
        return np.random.default_rng(np.random.SeedSequence(self._seed_seq.entropy, spawn_key=(index,)))

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
        act = getattr(self._output_layer(), "activation", None)
        if isinstance(self.loss, _losses.CategoricalCrossentropy) and isinstance(act, SoftmaxFunction) and act.axis == -1:
            return act
        if isinstance(self.loss, _losses.BinaryCrossentropy) and isinstance(act, SigmoidFunction):
            return act
        return None

    # ---------------------------------------------------------------- passes
    def _as_input(self, x):
        if isinstance(x, list):  # one array per input of a functional model
            return [self._as_input(a) for a in x]
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    def _regularization_loss(self):
        return sum(layer.regularization_loss() for layer in self.layers)

    def _trainable_variables(self):
        return [(f"{i}/{layer.name}/{n}", layer.params[n], layer.grads[n])
                for i, layer in enumerate(self.layers) for n in layer.trainable_names]

    def _loss_and_grad(self, y, y_pred, sample_weight=None):
        fused = self._fused_activation()
        if fused is not None:
            value, dz = self.loss.fused(y, fused.z, y_pred, sample_weight)
            return value, dz, True
        return self.loss(y, y_pred, sample_weight), self.loss.gradient(y, y_pred, sample_weight), False

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One gradient step on one batch; returns the loss (and metrics, if any, as a list)."""
        self._require_compiled("train_on_batch")
        deferred = self._first_layer_checks_input(x)   # x's check for NaN/∞ made by the first layer, as it reads x
        x, y = self._check_xy(x, y, finite_x=not deferred)
        w = self._sample_weights(sample_weight, class_weight, y)
        loss, values = self._train_step(self._as_input(x), y, w, check_input="x" if deferred else None)
        return loss if not self.metrics else [loss, *[float(np.mean(v)) for v in values]]

    def _first_layer_checks_input(self, x):
        """True when the training pass's first layer can check ``x`` for NaN/∞ itself, in the pass that reads it
        (:meth:`minidl.layers.conv.Conv2D.forward_checked`); :class:`Sequential` says when. The model then leaves
        that check out of its own and raises after the first layer's forward pass (which changes no state)."""
        return False

    def compute_gradients(self, x, y, training=True, sample_weight=None):
        """Forward, loss and backward on one batch, without updating any weight.

        Afterwards every layer's ``grads`` holds ``∂L/∂θ``. Returns ``(loss, y_pred)``; the loss
        includes the regularization penalties. Lessons use this to look at gradients.
        ``sample_weight`` weighs the loss of each sample: ``Σ wᵢ·ℓᵢ / N`` (Keras's reduction).
        """
        self._require_compiled("compute_gradients")
        return self._gradients(x, y, training, sample_weight, self.forward, self.backward)

    def _gradients(self, x, y, training, sample_weight, forward, backward):
        y_pred = forward(x, training=training)
        value, dy, from_logits = self._loss_and_grad(y, y_pred, sample_weight)
        backward(dy, from_logits=from_logits, need_input_gradient=False)
        return value + self._regularization_loss(), y_pred

    def _training_passes(self):
        """``(forward, backward)`` of a training step (``fit``, ``train_on_batch``): :meth:`forward` and
        :meth:`backward`, unless a model runs fused blocks of layers there (:mod:`minidl.training_plan`)."""
        return self.forward, self.backward

    def _train_step(self, x, y, sample_weight=None, check_input=None):
        """One step; with ``check_input`` (the input's name), the first layer checks ``x`` for NaN/∞
        (:meth:`_first_layer_checks_input`)."""
        forward, backward = self._training_passes()
        if check_input is not None:
            forward = functools.partial(forward, check_input=check_input)
        with _blas.single_threaded_blas():   # minidl's kernels use the cores themselves (kernels/blas.py)
            loss, y_pred = self._gradients(x, y, True, sample_weight, forward, backward)
            self.optimizer.apply(self._trainable_variables())
        return loss, [m.values(y, y_pred) for m in self.metrics]  # metrics are not weighted (as Keras)

    # ---------------------------------------------------------------- checks
    def _check_xy(self, x, y, names=("x", "y"), finite_x=True):
        x = self._check_x(x, names[0], finite=finite_x)
        if y is None:
            raise ValueError(f"{names[1]} is required")
        y = np.asarray(y)
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise ValueError(f"{names[1]} must hold numbers (class indices 0..C-1, one-hot rows or regression "
                             f"targets); got dtype {y.dtype}. Encode labels first, e.g. "
                             f"classes, {names[1]} = np.unique({names[1]}, return_inverse=True)")
        if y.ndim == 0 or len(y) != _data.num_samples(x):
            raise ValueError(f"{names[0]} and {names[1]} must have the same number of samples; "
                             f"got {_data.num_samples(x)} and {len(y)}")
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
            raise ValueError(f"{names[1]} contains NaN or infinite values")
        return x, y

    def _check_array(self, x, name, expected, finite=True):
        """``x`` as a numeric batch of samples of shape ``expected`` (None: any), with finite values (unless
        ``finite`` is False: that check is made elsewhere)."""
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError(f"{name} must be a numeric array; got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"{name} must be a batch of samples with shape (N, ...); got shape {x.shape}")
        if len(x) == 0:
            raise ValueError(f"{name} has no samples (shape {x.shape}); expected at least one sample")
        if expected is not None and tuple(x.shape[1:]) != tuple(expected):
            raise ValueError(f"{name} has sample shape {tuple(x.shape[1:])}; the model expects {tuple(expected)}")
        if finite and np.issubdtype(x.dtype, np.floating) and not _kernels.active().all_finite(x):
            raise ValueError(f"{name} contains NaN or infinite values")
        return x

    def _check_sample_weight(self, w, n, name="sample_weight"):
        w = np.asarray(w)
        if not (np.issubdtype(w.dtype, np.number) or w.dtype == bool):
            raise ValueError(f"{name} must hold numbers (one weight per sample); got dtype {w.dtype}")
        if w.ndim == 2 and w.shape[1] == 1:
            w = w[:, 0]
        if w.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), one weight per sample; got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return w.astype(self.dtype)

    def _sample_weights(self, sample_weight, class_weight, y, name="sample_weight"):
        """The per-sample weights given directly or through ``class_weight`` (never both, as in Keras)."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("You cannot use class_weight and sample_weight at the same time")
        if sample_weight is not None:
            return self._check_sample_weight(sample_weight, len(y), name)
        if class_weight is not None:
            return _data.class_weights_to_sample_weights(y, _data.check_class_weight(class_weight), self.dtype)
        return None

    def _check_batch(self, x, y, w, where, need_y=True):
        """Check one batch from a source (runs in the prefetch thread) and cast it for the model."""
        names = (f"{where}: x", f"{where}: y")
        if need_y:
            x, y = self._check_xy(x, y, names)
            w = None if w is None else self._check_sample_weight(w, _data.num_samples(x), f"{where}: sample_weight")
        else:
            x = self._check_x(x, names[0])
        return self._as_input(x), y, w

    def _feed(self, x, y, sample_weight, batch_size, steps, name, *, class_weight=None, shuffle=False, rng=None,
              need_y=True):
        """A :class:`minidl.data.Feed` over arrays or over a batch source, checked as Keras checks them."""
        if _data.is_source(x):
            for arg, value in (("y", y), ("sample_weight", sample_weight), ("batch_size", batch_size)):
                if value is not None:
                    raise ValueError(f"{name} is a batch source ({type(x).__name__}): do not pass {arg}; "
                                     "its batches are (x, y) or (x, y, sample_weight) tuples")
            return _data.Feed(x, lambda xb, yb, wb, where: self._check_batch(xb, yb, wb, where, need_y),
                              steps=steps, shuffle=shuffle, rng=rng, class_weight=class_weight, name=name)
        batch_size = 32 if batch_size is None else batch_size
        if not (isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        if need_y:
            x, y = self._check_xy(x, y, ("x", "y") if name == "x" else (f"{name} x", f"{name} y"))
            w = self._sample_weights(sample_weight, class_weight, y)
        else:
            x, w = self._check_x(x, name), None
        source = _data.ArraySource(x, y, w, batch_size, shuffle=shuffle, seed=rng)
        return _data.Feed(source, lambda xb, yb, wb, where: (self._as_input(xb), yb, wb), steps=steps,
                          prefetch=False, name=name)

    # ---------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None):
        """Train for ``epochs`` passes over the data; returns a :class:`~minidl.callbacks.History`.

        ``x`` is an array (with ``y``, batched by ``batch_size``, default 32; for a functional ``Model`` with
        several inputs, a list of arrays in ``inputs`` order or a dict keyed by the ``Input`` names) or a batch
        source — a
        PyDataset-style object or a generator of ``(x, y[, sample_weight])`` tuples (see :mod:`minidl.data`);
        a source brings its own batches, so ``y``, ``sample_weight`` and ``batch_size`` are not given, and
        it is read ahead by a background thread. ``steps_per_epoch`` limits the batches of an epoch.

        ``validation_split`` holds out the *last* fraction of the samples (before shuffling), as Keras
        does; ``validation_data`` — ``(x_val, y_val[, sample_weight_val])`` or a source — takes precedence.
        ``sample_weight`` (one weight per sample) or ``class_weight`` ({class: weight}) weigh each
        sample's loss: ``Σ wᵢ·ℓᵢ / N`` per batch. The reported ``loss`` and metrics are means over the
        epoch's training batches; ``val_*`` are computed after the epoch with ``training=False``.
        """
        self._require_compiled("fit")
        if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
            raise ValueError(f"epochs must be a non-negative integer; got {epochs!r}")
        if validation_split and validation_data is None:
            x, y, sample_weight, validation_data = self._split_off_validation(x, y, sample_weight, validation_split)
        shuffle_rng = np.random.default_rng(np.random.SeedSequence(self._seed_seq.entropy,
                                                                   spawn_key=(_SHUFFLE_STREAM,)))
        train = self._feed(x, y, sample_weight, batch_size, steps_per_epoch, "x", class_weight=class_weight,
                           shuffle=shuffle, rng=shuffle_rng)
        train.skip_epochs(initial_epoch)  # resuming at initial_epoch continues the same shuffles
        val = None
        if validation_data is not None:
            val = self._validation_feed(validation_data, validation_batch_size or batch_size, validation_steps)
        verbose = 1 if verbose == "auto" else int(verbose)

        history = _callbacks.History()
        cbs = [*(callbacks or []), history]  # History last (as Keras): it sees what the others log
        for cb in cbs:
            cb.set_model(self)
        terminate_on_nan = any(isinstance(cb, _callbacks.TerminateOnNaN) for cb in cbs)
        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            total, seen, n_batches = 0.0, 0, 0
            metric_sums = np.zeros(len(self.metrics))
            bar = self._progress(verbose, train.steps_per_epoch, epoch, epochs)
            with train.epoch() as batches:  # a background thread reads ahead for sources
                for b, (xb, yb, wb) in enumerate(batches):
                    n_batches += 1
                    loss, values = self._train_step(xb, yb, wb)
                    if not np.isfinite(loss):
                        if terminate_on_nan:
                            for cb in cbs:
                                cb.on_train_batch_end(b, {"loss": loss})
                            break
                        raise ValueError(f"The loss became {loss} at epoch {epoch + 1}, batch {b + 1}: try a lower "
                                         "learning_rate, standardised inputs/targets, or clipnorm")
                    total += loss * _data.num_samples(xb)
                    seen += _data.num_samples(xb)
                    metric_sums += [float(np.sum(v)) for v in values]
                    logs = {"loss": total / seen}
                    for cb in cbs:
                        cb.on_train_batch_end(b, logs)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
            if n_batches == 0:
                if bar is not None:
                    bar.close()
                if epoch == initial_epoch:
                    raise ValueError(f"x ({type(x).__name__}) gave no batches to train on")
                warnings.warn("Your input ran out of data; interrupting training. Make sure the source can give "
                              "at least steps_per_epoch × epochs batches (a generator is read only once).",
                              stacklevel=2)
                break
            logs = {"loss": total / max(seen, 1)}
            logs.update({m.name: float(s / max(seen, 1)) for m, s in zip(self.metrics, metric_sums)})
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate_feed(val).items()})
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

    def _split_off_validation(self, x, y, sample_weight, validation_split):
        """Keras's ``validation_split``: the last fraction of the arrays (before any shuffling)."""
        if _data.is_source(x):
            raise ValueError("validation_split needs arrays; with a batch source pass validation_data=<source>")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {validation_split!r}")
        x, y = self._check_xy(x, y)
        n = _data.num_samples(x)
        split_at = int(math.floor(n * (1.0 - validation_split)))
        if split_at == 0 or split_at == n:
            raise ValueError(f"validation_split={validation_split} leaves no training or no validation "
                             f"samples out of {n}")
        head, tail = slice(None, split_at), slice(split_at, None)
        x_train, x_val = _data.take(x, head), _data.take(x, tail)
        if sample_weight is not None:
            sample_weight = self._check_sample_weight(sample_weight, n)
            return x_train, y[head], sample_weight[head], (x_val, y[tail], sample_weight[tail])
        return x_train, y[head], None, (x_val, y[tail])

    def _validation_feed(self, validation_data, batch_size, steps):
        if _data.is_source(validation_data):
            return self._feed(validation_data, None, None, None, steps, "validation_data")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val), (x_val, y_val, sample_weight_val) "
                             "or a batch source")
        x_val, y_val, w_val = (*validation_data, None)[:3]
        return self._feed(x_val, y_val, w_val, batch_size, steps, "validation_data")

    @staticmethod
    def _progress(verbose, total, epoch, epochs):
        if verbose != 1:
            return None
        from .progress import progress_bar

        return progress_bar(total=total, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True,
                    file=sys.stdout, dynamic_ncols=True)

    # ---------------------------------------------------------------- inference
    def _inference_plan(self):
        """What the inference pass plans from the layers (fused blocks, :mod:`minidl.inference`), or None."""
        return None

    def _inference_forward(self, x, plan=None):
        """``forward(x, training=False)`` without keeping anything for backward: ``predict`` and ``evaluate``
        use it (a model may run fused blocks of layers here: ``plan``, from :meth:`_inference_plan`)."""
        return self.forward(x, training=False)

    def _inference_pass(self):
        """``x → output`` for the batches of one ``predict`` or ``evaluate`` call: :meth:`_inference_forward`
        with the plan made once, not once a batch (≈ 10 µs each, a tenth of a small MLP's batch). The plan is
        kept once every layer is built (a layer built by the first batch may then join a fused block)."""
        kept = None

        def forward(x):
            nonlocal kept
            plan = kept if kept is not None else self._inference_plan()
            if kept is None and all(getattr(layer, "built", True) for layer in self.layers):
                kept = plan
            return self._inference_forward(x, plan)

        return forward

    def predict(self, x, batch_size=None, verbose=0, steps=None):
        """Outputs for ``x`` (an array or a batch source) in inference mode (dropout off, batch-norm moving
        statistics). A source's batches may be ``x`` alone or tuples whose first element is ``x``."""
        if not self.layers:
            raise RuntimeError("The model has no layers")
        feed = self._feed(x, None, None, batch_size, steps, "x", need_y=False)
        forward = self._inference_pass()
        with feed.epoch() as batches:
            with _blas.single_threaded_blas():
                outs = [forward(xb) for xb, _, _ in batches]
        if not outs:
            raise ValueError(f"x ({type(x).__name__}) gave no batches to predict")
        return np.concatenate(outs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, sample_weight=None, steps=None,
                 return_dict=False):
        """Loss (including penalties) and metrics over ``(x, y)`` or a batch source, in inference mode.

        With ``sample_weight`` the loss is ``Σ wᵢ·ℓᵢ / N`` over all samples (metrics are not weighted).
        """
        self._require_compiled("evaluate")
        result = self._evaluate_feed(self._feed(x, y, sample_weight, batch_size, steps, "x"))
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if not self.metrics else list(result.values())

    def _evaluate_feed(self, feed):
        total, n = 0.0, 0
        metric_sums = np.zeros(len(self.metrics))
        fused, forward = self._fused_activation(), self._inference_pass()
        with feed.epoch() as batches, _blas.single_threaded_blas():
            for xb, yb, wb in batches:
                y_pred = forward(xb)
                value = (self.loss.fused(yb, fused.z, y_pred, wb)[0] if fused is not None
                         else self.loss(yb, y_pred, wb))
                total += value * _data.num_samples(xb)
                n += _data.num_samples(xb)
                metric_sums += [float(np.sum(m.values(yb, y_pred))) for m in self.metrics]
        if n == 0:
            raise ValueError(f"{feed.name} ({type(feed.source).__name__}) gave no batches to evaluate")
        result = {"loss": total / n + self._regularization_loss()}
        result.update({m.name: float(s / n) for m, s in zip(self.metrics, metric_sums)})
        return result

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

    def save_weights(self, path) -> None:
        """Write only the weights (``get_weights()`` order) to a ``.weights.npz`` file, atomically."""
        path = os.fspath(path)
        if not path.endswith(".weights.npz"):
            raise ValueError(f"Weight files end in '.weights.npz'; got {path!r}")
        meta = {"format": "minidl-weights", "version": 1, "model": self.name}
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta)),
                     **{f"w{i:04d}": w for i, w in enumerate(self.get_weights())})
        os.replace(tmp, path)

    def load_weights(self, path) -> None:
        """Set the weights from a file written by :meth:`save_weights` (same architecture)."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if "__meta__" not in data or json.loads(str(data["__meta__"])).get("format") != "minidl-weights":
                raise ValueError(f"{path} is not a minidl weights file (written by save_weights)")
            self.set_weights([data[k] for k in sorted(k for k in data.files if k.startswith("w"))])

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> str:
        """Print (and return) the Keras-style table: Layer (type) / Output Shape / Param # (/ Connected to)."""
        if not self.built:
            raise ValueError("The model is not built yet: start it with Input(shape) or call build()/fit() first")
        headers, rows = self._summary_columns()
        w = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(headers)]
        gap = ["  " if h == "Param #" and i < len(headers) - 1 else "" for i, h in enumerate(headers)]
        line = "─" * (sum(w) + sum(map(len, gap)))

        def row(cells):  # the Param # column is right-aligned, the others left-aligned
            return "".join((c.rjust(k) if h == "Param #" else c.ljust(k)) + g
                           for c, k, h, g in zip(cells, w, headers, gap))

        out = [f'Model: "{self.name}"', line, row(headers), line]
        out += [row(r) for r in rows]
        trainable = sum(layer.params[n].size for layer in self.layers for n in layer.trainable_names)
        total = self.count_params()
        out += [line, f" Total params: {total:,}", f" Trainable params: {trainable:,}",
                f" Non-trainable params: {total - trainable:,}", line]
        text = "\n".join(out)
        print_fn(text)
        return text

    # ---------------------------------------------------------------- save / load
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
                "class_name": type(self).__name__,
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

class Sequential(BaseModel):
    """A linear stack of layers with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``."""

    def __init__(self, layers=None, name="sequential", seed=None):
        self._init_model(name, seed)
        self.input_layer: Input | None = None
        self.layers: list[Layer] = []
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
            layer.rng = self._layer_rng(len(self.layers))
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

    def _output_layer(self):
        return self.layers[-1]

    def _check_x(self, x, name="x", finite=True):
        expected = self.input_layer.shape if self.input_layer is not None else (
            self.layers[0].input_shape if self.layers and self.layers[0].built else None)
        return self._check_array(x, name, expected, finite)

    def _first_layer_checks_input(self, x):
        """True for a first layer with ``forward_checked`` (a convolution; the first step of the training plan
        then has it too: the layer, or a block the convolution starts, :class:`~minidl.training_plan.ConvAvgPoolBatchNorm`)
        given the array it will read as it is: a float array of the model's dtype."""
        return (hasattr(self.layers[0], "forward_checked") and isinstance(x, np.ndarray)
                and x.dtype == self.dtype and np.issubdtype(x.dtype, np.floating))

    # ---------------------------------------------------------------- passes
    def forward(self, x, training=False):
        """Run ``x`` through every layer and return the output."""
        return self._forward(self.layers, x, training=training)

    def _forward(self, steps, x, training=False, check_input=None):
        """The steps in turn. With ``check_input`` (the input's name), the first step checks its input for NaN/∞
        while it reads it (:meth:`_first_layer_checks_input`), and a non-finite input raises the model's error."""
        a = self.input_layer.forward(x) if self.input_layer is not None else x
        for i, step in enumerate(steps):
            if i == 0 and check_input is not None:
                # arithmetic on a NaN/∞ warns (NumPy's products): held back, and shown only if x was finite
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    a, finite = step.forward_checked(a, training=training)
                if not finite:
                    raise ValueError(f"{check_input} contains NaN or infinite values")
                for w in caught:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
                continue
            a = step.forward(a, training=training)
        return a

    def _training_passes(self):
        """The forward and backward passes through the steps of :func:`minidl.training_plan.plan`: layers,
        and fused blocks of them."""
        steps = _training_plan.plan(self.layers)
        return functools.partial(self._forward, steps), functools.partial(self._backward, steps)

    def _inference_plan(self):
        return _inference.plan(self.layers)

    def _inference_forward(self, x, plan=None):
        """The layers in inference mode, as the steps of :func:`minidl.inference.plan` (``plan``, or planned
        now): fused blocks where they fit."""
        a = self.input_layer.forward(x) if self.input_layer is not None else x
        return _inference.run(self._inference_plan() if plan is None else plan, a)

    def backward(self, dy, from_logits=False, need_input_gradient=True):
        """Propagate ``∂L/∂output`` back to ``∂L/∂input``; each layer stores its parameter gradients.

        With ``from_logits=True``, ``dy`` is the gradient with respect to the last layer's
        pre-activation ``z`` (the fused softmax + cross-entropy path). Training does not need
        ``∂L/∂input``; with ``need_input_gradient=False`` a first layer that can skip computing it
        (convolutions: ``compute_input_gradient``) does so, and None is returned.
        """
        return self._backward(self.layers, dy, from_logits, need_input_gradient)

    def _backward(self, steps, dy, from_logits=False, need_input_gradient=True):
        first = steps[0]
        skip = not need_input_gradient and hasattr(first, "compute_input_gradient")
        if skip:
            keep, first.compute_input_gradient = first.compute_input_gradient, False
        try:
            if from_logits:
                dy = steps[-1].backward_linear(dy)
                steps = steps[:-1]
            for step in reversed(steps):
                dy = step.backward(dy)
        finally:
            if skip:
                first.compute_input_gradient = keep
        return dy

    # ---------------------------------------------------------------- summary / config
    def _summary_columns(self):
        rows = [(f"{layer.name} ({type(layer).__name__})", str((None, *layer.output_shape)),
                 f"{layer.count_params():,}") for layer in self.layers]
        return ("Layer (type)", "Output Shape", "Param #"), rows

    def get_config(self) -> dict:
        return {"name": self.name, "seed": self.seed,
                "input_shape": None if self.input_layer is None else list(self.input_layer.shape),
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()} for l in self.layers]}

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
    """The ``metadata`` dict stored by ``model.save(path, metadata=...)`` (without loading weights)."""
    return _read(path, with_weights=False)[0].get("metadata", {})


def _model_class(name, path):
    from .functional import Model  # functional.py builds on this module

    classes = {"Sequential": Sequential, "Model": Model}
    if name not in classes:
        raise ValueError(f"{path}: unknown model class {name!r}; expected one of {', '.join(classes)}")
    return classes[name]


def load_model(path) -> BaseModel:
    """Rebuild a model saved with :meth:`BaseModel.save` (a ``Sequential`` or a functional ``Model``): weights,
    compile settings and the training state (optimizer step counter and slots, layers' random generators),
    so training resumes where it stopped. Files written before the state was saved load with a fresh
    optimizer."""
    meta, weights, slot_arrays = _read(path, with_state=True)
    model = _model_class(meta.get("class_name", "Sequential"), path).from_config(meta["model"])
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
