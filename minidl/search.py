"""Hyperparameter search: random search, grid search and (optionally) Optuna, scored on validation data only.

A *search space* is a dict from hyperparameter names to how each is drawn::

    from minidl.search import Choice, IntRange, LogUniform, MLPBuilder, Uniform, random_search

    space = {
        "learning_rate": LogUniform(1e-4, 1e-1),   # each factor of 10 equally likely
        "batch_size": Choice([16, 32, 64, 128]),
        "units": Choice([8, 16, 32, 64, 128]),      # a plain list means the same: [8, 16, 32, 64, 128]
        "depth": IntRange(1, 3),                    # 1, 2 or 3 hidden layers (both ends included)
        "dropout": Uniform(0.0, 0.5),
        "l2": Choice([0.0, 1e-4, 1e-3]),
        "optimizer": Choice(["adam", "rmsprop", "sgd"]),
        "activation": "relu",                       # a plain value is fixed
    }
    build = MLPBuilder(input_shape=(2,), outputs=3)   # or your own build(params) -> compiled Sequential
    result = random_search(build, space, train=(x_train, y_train), validation=(x_val, y_val),
                           n_trials=20, epochs=60, patience=10, seed=0)
    print(result)                  # the trials, best first
    result.plot()                  # validation score against each hyperparameter
    result.evaluate_best(x_test, y_test)   # the test set, once, for the chosen model only

**What a trial does.** ``model = build(params)`` (or ``build(params, seed=...)`` when ``build`` takes a
``seed``), then ``model.fit(x_train, y_train, batch_size=params.get("batch_size", 32), epochs=epochs,
validation_data=validation, callbacks=[EarlyStopping(objective, patience, restore_best_weights=True), ...])``.
The trial's score is the ``objective`` at its best epoch — exactly what the kept (restored) model gets on
the validation data. The default objective, ``"val_data_loss"``, is ``val_loss`` without the L1/L2 penalty:
Keras's ``val_loss`` adds ``l·Σw²`` to the data loss, so a search over ``l2`` that compared ``val_loss`` would
favour the trials without a penalty. (Both are in every trial's metrics; they are equal without a penalty.)
``batch_size`` is a hyperparameter of ``fit``; every other key is for ``build``. A trial whose loss becomes NaN/inf stops there (status ``"diverged"``) and keeps its best
finite epoch, if it had one.

**Selection on validation only.** The search functions take ``train=`` and ``validation=`` and nothing else
that holds data, and the objective must be a ``val_*`` entry of the logs: there is no way to hand them a test
set. The test set is used afterwards, once, by :meth:`SearchResult.evaluate_best` — the selection is over by
then and nothing it returns can change it.

**Reproducibility.** One ``seed`` fixes everything: the hyperparameter draws (a generator seeded with
``seed``) and every trial's model seed (``seed`` itself, the same for all trials — common random numbers: two
trials with the same architecture start from the same weights and see the same batch order, so differences
between trials come from the hyperparameters, not from luck). Same seed ⇒ same trials, same scores, same
weights, bit for bit on the same machine — with ``workers=1`` or in worker processes, because every trial runs
with ``threads`` numba/BLAS threads (default 1) in either case (see :mod:`minidl.threads` for why the thread
count matters). A ``build`` without a ``seed`` argument must seed its ``Sequential`` itself; an unseeded
model is an error.

**Worker processes.** ``workers=2`` runs trials in 2 processes (started with ``spawn``, which is safe with
numba's and the BLAS's threads and works the same on Linux, macOS and Windows). Each worker must import
``build``: use a function defined at the top level of a module (or :class:`MLPBuilder`), not a lambda, a
nested function or one defined in a notebook or in the script being run (the workers do not re-run that script,
so it needs no ``if __name__ == "__main__":`` guard).

**Optuna** (``pip install ".[search]"``): :func:`optuna_search` takes the same space and arguments, draws with
the TPE sampler (seeded) and stops unpromising trials early with the median pruner, which is told the
per-epoch validation objective (the validation loss, by default). Pruned trials are listed but never selected.

Grid search tries every combination (``itertools.product`` in the order of the space's keys); continuous
ranges contribute ``points`` values each (log-spaced for :class:`LogUniform`). Bergstra & Bengio (2012) explain
why random search usually does better for the same number of trials: a grid tries the one hyperparameter that
matters at only ``points`` values.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import inspect
import io
import itertools
import math
import pickle
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import config as _config
from .callbacks import Callback, EarlyStopping, TerminateOnNaN
from .threads import limit_threads

__all__ = ["Uniform", "LogUniform", "IntRange", "Choice", "Space", "MLPBuilder", "Trial", "SearchResult",
           "random_search", "grid_search", "optuna_search"]


# ------------------------------------------------------------------------------------------------ space
class Distribution:
    """How one hyperparameter is drawn. ``sample(rng)`` draws a value, ``grid(points)`` lists values."""

    log = False  # plotted on a log axis

    def sample(self, rng: np.random.Generator):
        raise NotImplementedError

    def grid(self, points: int) -> list:
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Distribution):
    """A float drawn uniformly from ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self):
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Uniform needs finite low < high; got {self.low!r}, {self.high!r}")

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))

    def grid(self, points):
        return [float(v) for v in np.linspace(self.low, self.high, points)]


@dataclass(frozen=True)
class LogUniform(Distribution):
    """A float whose logarithm is uniform on ``[log low, log high]``: each factor of 10 equally likely.

    The right prior for scales — learning rates, L1/L2 factors — where 1e-4 vs 1e-3 matters as much as
    1e-2 vs 1e-1."""

    low: float
    high: float
    log = True

    def __post_init__(self):
        if not (0 < self.low < self.high and np.isfinite(self.high)):
            raise ValueError(f"LogUniform needs 0 < low < high; got {self.low!r}, {self.high!r}")

    def sample(self, rng):
        return float(10 ** rng.uniform(np.log10(self.low), np.log10(self.high)))

    def grid(self, points):
        return [float(v) for v in np.geomspace(self.low, self.high, points)]


@dataclass(frozen=True)
class IntRange(Distribution):
    """An integer from ``low`` to ``high``, **both included**, in steps of ``step``; every value equally likely
    (``log=True``: log-uniform, e.g. widths 8 … 256)."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self):
        if not all(isinstance(v, (int, np.integer)) for v in (self.low, self.high, self.step)):
            raise TypeError(f"IntRange takes integers; got {self.low!r}, {self.high!r}, step {self.step!r}")
        if self.low > self.high or self.step < 1 or (self.log and self.low < 1):
            raise ValueError(f"IntRange needs low <= high and step >= 1 (low >= 1 with log=True); got "
                             f"{self.low}, {self.high}, step {self.step}")

    @property
    def values(self) -> list[int]:
        return list(range(int(self.low), int(self.high) + 1, int(self.step)))

    def sample(self, rng):
        values = self.values
        if self.log:  # log-uniform on [low, high + 1), rounded down to the step grid
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return values[min(int((v - self.low) // self.step), len(values) - 1)]
        return values[int(rng.integers(len(values)))]

    def grid(self, points):
        values = self.values
        if len(values) <= points:
            return values
        picks = np.geomspace(self.low, self.high, points) if self.log else np.linspace(self.low, self.high, points)
        return sorted({min(values, key=lambda v: abs(v - p)) for p in picks})


class Choice(Distribution):
    """One of a list of values, each equally likely (numbers, strings, ``None`` or booleans)."""

    def __init__(self, values):
        values = list(values)
        if not values:
            raise ValueError("Choice needs at least one value")
        self.values = [_plain(v) for v in values]

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def grid(self, points):
        return list(self.values)

    @property
    def log(self):  # a choice of scales (0.0001, 0.001, 0.01) reads best on a log axis
        nums = [v for v in self.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return len(nums) == len(self.values) and len(nums) > 2 and min(nums) > 0 and max(nums) / min(nums) >= 100

    def __eq__(self, other):
        return isinstance(other, Choice) and self.values == other.values

    def __repr__(self):
        return f"Choice({self.values!r})"


def _plain(v):
    """numpy scalars → Python numbers, so tables, CSV files and Optuna see plain values."""
    return v.item() if isinstance(v, np.generic) else v


class Space:
    """A search space: ``Space({"learning_rate": LogUniform(1e-4, 1e-1), "units": [16, 32], "depth": 2})``.

    Values may be a :class:`Distribution`, a list or tuple (a :class:`Choice`) or a plain value (fixed).
    Hyperparameters are drawn in the order of the keys."""

    def __init__(self, spec):
        if isinstance(spec, Space):
            spec = spec.spec
        if not isinstance(spec, dict) or not spec:
            raise TypeError(f"a search space is a non-empty dict of name -> distribution; got {spec!r}")
        self.spec = {}
        for name, v in spec.items():
            if not isinstance(name, str):
                raise TypeError(f"hyperparameter names are strings; got {name!r}")
            if isinstance(v, (list, tuple)):
                v = Choice(v)
            elif not isinstance(v, Distribution):
                v = _plain(v)
            self.spec[name] = v

    def __iter__(self):
        return iter(self.spec)

    def varying(self) -> dict:
        """The hyperparameters that take more than one value."""
        return {k: v for k, v in self.spec.items()
                if isinstance(v, Distribution) and not (isinstance(v, Choice) and len(v.values) == 1)}

    def sample(self, rng: np.random.Generator) -> dict:
        return {k: (v.sample(rng) if isinstance(v, Distribution) else v) for k, v in self.spec.items()}

    def grid(self, points: int = 3) -> list[dict]:
        axes = [v.grid(points) if isinstance(v, Distribution) else [v] for v in self.spec.values()]
        return [dict(zip(self.spec, combo)) for combo in itertools.product(*axes)]

    def __repr__(self):
        return "Space({" + ", ".join(f"{k!r}: {v!r}" for k, v in self.spec.items()) + "})"


# ------------------------------------------------------------------------------------------------ builder
class MLPBuilder:
    """A default ``build(params, seed)``: Input → ``depth`` × [Dense(``units``, ``activation``), Dropout] → output.

    Hyperparameters it reads (all optional): ``units`` (32), ``depth`` (2), ``activation`` ("relu"),
    ``dropout`` (0), ``l1`` (0), ``l2`` (0) on the hidden kernels, ``optimizer`` ("adam"; any name
    :func:`minidl.optimizers.get` knows), ``learning_rate`` (1e-3), ``momentum`` (0, SGD only) and
    ``batch_size`` (used by ``fit``, ignored here). Any other name is an error — a typo in a space must not
    silently do nothing.

    Defaults suit classification into ``outputs`` classes (softmax, sparse categorical cross-entropy,
    accuracy); for regression use ``output_activation="linear", loss="mse", metrics=("mae",)``."""

    KNOWN = {"units", "depth", "activation", "dropout", "l1", "l2", "optimizer", "learning_rate", "momentum",
             "batch_size"}

    def __init__(self, input_shape, outputs, output_activation="softmax", loss="sparse_categorical_crossentropy",
                 metrics=("accuracy",)):
        self.input_shape = tuple(input_shape) if np.ndim(input_shape) else (int(input_shape),)
        self.outputs, self.output_activation, self.loss = int(outputs), output_activation, loss
        self.metrics = list(metrics)

    def __call__(self, params: dict, seed=None):
        from .layers import Dense, Dropout, Input
        from .model import Sequential
        from .optimizers import get as get_optimizer
        from .regularizers import L1L2

        unknown = set(params) - self.KNOWN
        if unknown:
            raise ValueError(f"MLPBuilder does not know the hyperparameter(s) {sorted(unknown)}; it reads "
                             f"{sorted(self.KNOWN)}. Write your own build(params) for others.")
        l1, l2 = float(params.get("l1", 0.0)), float(params.get("l2", 0.0))
        dropout = float(params.get("dropout", 0.0))
        layers = [Input(self.input_shape)]
        for _ in range(int(params.get("depth", 2))):
            layers.append(Dense(int(params.get("units", 32)), activation=params.get("activation", "relu"),
                                kernel_regularizer=L1L2(l1, l2) if (l1 or l2) else None))
            if dropout:
                layers.append(Dropout(dropout))
        layers.append(Dense(self.outputs, activation=self.output_activation))
        model = Sequential(layers, seed=seed)
        name = str(params.get("optimizer", "adam")).lower()
        optimizer = get_optimizer({"name": name, "learning_rate": float(params.get("learning_rate", 1e-3)),
                                   **({"momentum": float(params["momentum"])} if name == "sgd" and "momentum" in params
                                      else {})})
        model.compile(optimizer, self.loss, metrics=self.metrics)
        return model

    def __repr__(self):
        return (f"MLPBuilder(input_shape={self.input_shape}, outputs={self.outputs}, "
                f"output_activation={self.output_activation!r}, loss={self.loss!r})")


# ------------------------------------------------------------------------------------------------ trials
@dataclass
class Trial:
    """One trained configuration. ``score`` is the objective at ``best_epoch`` (1-based), the epoch whose
    weights were kept; ``metrics`` all validation entries there; ``status`` "ok", "diverged" or "pruned"."""

    index: int
    params: dict
    score: float
    metrics: dict
    epochs: int
    best_epoch: int
    status: str
    seconds: float
    history: dict = field(repr=False, default_factory=dict)
    weights: list | None = field(repr=False, default=None)

    def row(self) -> dict:
        """A flat dict for a table: trial, the hyperparameters, the validation metrics, epochs, status, seconds."""
        return {"trial": self.index, **self.params, **self.metrics, "epochs": self.epochs,
                "best_epoch": self.best_epoch, "status": self.status, "seconds": round(self.seconds, 2)}


class _QuietTerminateOnNaN(TerminateOnNaN):
    """``TerminateOnNaN`` (so ``fit`` stops instead of raising) without the print; remembers that it fired."""

    fired = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.fired = True
            self.model.stop_training = True


class _FiniteEarlyStopping(EarlyStopping):
    """``EarlyStopping`` for which a NaN/inf epoch is never the best one. (The plain callback takes a first epoch
    whose value is NaN as "best" — nothing to compare with yet — and then restores NaN weights.)"""

    def _is_improvement(self, value, reference):
        return bool(np.isfinite(value)) and super()._is_improvement(value, reference)


class _ValidationDataLoss(Callback):
    """Adds ``val_data_loss`` to the epoch logs: ``val_loss`` minus the L1/L2 penalty, i.e. the loss on the
    validation *data*. ``val_loss`` (as in Keras) includes ``l·Σw²``, so comparing it across trials with
    different penalties favours the trials without one; the data loss compares them fairly."""

    def on_train_begin(self, logs=None):
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "val_loss" in logs:
            penalty = float(sum(layer.regularization_loss() for layer in self.model.layers))
            logs["val_data_loss"] = float(logs["val_loss"]) - penalty  # later callbacks see it too
            self.values.append(logs["val_data_loss"])


def _wants_seed(build) -> bool:
    try:
        parameters = inspect.signature(build).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _build(build, params, seed):
    model = build(dict(params), seed=seed) if _wants_seed(build) else build(dict(params))
    if not hasattr(model, "fit") or not getattr(model, "compiled", False):
        raise TypeError(f"build(params) must return a compiled minidl Sequential; got {type(model).__name__}"
                        + ("" if not hasattr(model, "fit") else " that is not compiled"))
    if getattr(model, "seed", 0) is None:
        raise ValueError("build(params) returned a model without a seed, so trials would not be reproducible: "
                         "create it with Sequential(..., seed=...) or give build a `seed` argument "
                         "(build(params, seed)) and pass it on")
    return model


def _run_trial(build, index, params, seed, data, opts, extra_callbacks=()):
    """Build, train with early stopping, and score one configuration (in this process or a worker)."""
    (x, y), (x_val, y_val) = data
    objective, mode, patience, epochs = opts["objective"], opts["mode"], opts["patience"], opts["epochs"]
    with limit_threads(opts["threads"]), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        start = time.perf_counter()
        model = _build(build, params, seed)
        nan_guard, data_loss = _QuietTerminateOnNaN(), _ValidationDataLoss()
        callbacks = [data_loss, nan_guard, *extra_callbacks]  # data_loss first: the others may watch its entry
        stopper = None
        if patience is not None:
            stopper = _FiniteEarlyStopping(objective, patience=patience, mode=mode, restore_best_weights=True)
            callbacks.insert(1, stopper)
        history = model.fit(x, y, batch_size=int(params.get("batch_size", opts["batch_size"])), epochs=epochs,
                            validation_data=(x_val, y_val), callbacks=callbacks, verbose=0).history
        history["val_data_loss"] = data_loss.values  # History ran before it and did not see the entry
        seconds = time.perf_counter() - start
    if objective not in history:
        raise KeyError(f"objective {objective!r} is not in the training logs {sorted(history)}: compile the "
                       f"model with the metric, or choose one of the val_* entries")
    values = np.asarray(history[objective], dtype=float)
    finite = np.isfinite(values)
    if stopper is not None and stopper.best_weights is not None:
        best = int(stopper.best_epoch)  # EarlyStopping counts epochs from 0, as the history lists do
    elif stopper is None and finite.size and finite[-1]:
        best = len(values) - 1
    else:
        best = None
    pruned = any(getattr(cb, "pruned", False) for cb in extra_callbacks)
    status = "pruned" if pruned else ("diverged" if nan_guard.fired or not finite.all() else "ok")
    metrics = {k: (float(v[best]) if best is not None else float("nan"))
               for k, v in history.items() if k.startswith("val_")}
    score = metrics.get(objective, float("nan"))
    return Trial(index=index, params=dict(params), score=score, metrics=metrics, epochs=len(values),
                 best_epoch=(best + 1) if best is not None else 0, status=status, seconds=seconds,
                 history={k: [float(v) for v in vs] for k, vs in history.items()},
                 weights=model.get_weights() if best is not None else None)


# worker processes: the build function and the data arrive once, in the initializer
_WORKER = {}


def _worker_init(build, data, kernels, floatx):
    _config.set_kernels(kernels)
    _config.set_floatx(floatx)
    _WORKER.update(build=build, data=data)


def _worker_run(index, params, seed, opts):
    return _run_trial(_WORKER["build"], index, params, seed, _WORKER["data"], opts)


def _check_importable(build):
    """Worker processes re-import ``build`` by name: say clearly when that cannot work."""
    module, qualname = getattr(build, "__module__", None), getattr(build, "__qualname__", None)
    if qualname is None:  # an instance of a class with __call__ (e.g. MLPBuilder): its class must be importable
        module, qualname = type(build).__module__, type(build).__qualname__
    problem = None
    if module in (None, "__main__", "__mp_main__") or "<" in (qualname or "<"):
        problem = (f"it is defined in {'the script or notebook being run' if module == '__main__' else module!r}"
                   if "<" not in (qualname or "<") else f"{qualname!r} is a lambda or a nested function")
    else:
        try:
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            pickle.dumps(build)
        except Exception as exc:  # noqa: BLE001 — any failure means a worker could not get it either
            problem = f"{module}.{qualname} cannot be imported and pickled ({type(exc).__name__}: {exc})"
    if problem:
        raise ValueError(f"workers > 1 runs trials in separate processes, which must import the build function, "
                         f"but {problem}. Move build to a module (a .py file on the path) and import it from "
                         f"there, use minidl.search.MLPBuilder, or run with workers=1.")


@contextlib.contextmanager
def _workers_do_not_rerun_main():
    """A ``spawn``ed worker normally re-runs the parent's main script (as ``__mp_main__``) to rebuild its globals,
    so a script or lesson without an ``if __name__ == "__main__":`` guard would run again in every worker. The
    workers need nothing from it — ``build`` was checked to be importable from a module — so while they start,
    ``__main__`` looks like an interactive session (no ``__file__``, no ``__spec__``), as in a notebook."""
    main = sys.modules.get("__main__")
    saved = {k: vars(main)[k] for k in ("__file__", "__spec__") if main is not None and k in vars(main)}
    try:
        if "__file__" in saved:
            del main.__file__
        if "__spec__" in saved:
            main.__spec__ = None
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


# ------------------------------------------------------------------------------------------------ results
class SearchResult:
    """The trials of a search and the choice made on validation data.

    ``trials`` (list of :class:`Trial`, in the order they were run), ``best`` (the selected trial),
    ``best_params``, ``best_model`` (rebuilt with the kept weights), ``rows()`` / ``table()`` / ``to_csv()``,
    ``plot()``, and :meth:`evaluate_best` for the single test-set evaluation."""

    def __init__(self, trials, objective, mode, space, build, seed, method, study=None):
        self.trials, self.objective, self.mode, self.space = list(trials), objective, mode, space
        self._build, self.seed, self.method, self.study = build, seed, method, study
        self.test_scores = None
        self._best_model = None

    @property
    def best(self) -> Trial:
        candidates = [t for t in self.trials if t.status != "pruned" and np.isfinite(t.score)]
        if not candidates:
            raise RuntimeError("no trial finished with a finite validation score (all diverged or were pruned)")
        sign = 1 if self.mode == "min" else -1
        return min(candidates, key=lambda t: (sign * t.score, t.index))  # ties: the earlier trial

    @property
    def best_params(self) -> dict:
        return dict(self.best.params)

    @property
    def best_model(self):
        if self._best_model is None:
            best = self.best
            self._best_model = _build(self._build, best.params, self.seed)
            self._best_model.set_weights(best.weights)
        return self._best_model

    def evaluate_best(self, x_test, y_test, batch_size=None) -> dict:
        """Evaluate the selected model once on held-out test data; ``{"loss": ..., metric: ...}``.

        The choice was made on validation data before this call and nothing here changes it. Calling it
        again warns: a test set looked at more than once starts to be used for choosing."""
        if self.test_scores is not None:
            import warnings
            warnings.warn("the test set was already evaluated for this search: keep it for one final "
                          "measurement, or its score stops being unbiased", stacklevel=2)
        batch = batch_size or int(self.best.params.get("batch_size", 32))
        self.test_scores = self.best_model.evaluate(x_test, y_test, batch_size=batch, return_dict=True)
        return dict(self.test_scores)

    def rows(self, sort=False) -> list[dict]:
        """One flat dict per trial (see :meth:`Trial.row`); ``sort=True``: best validation score first."""
        trials = self.trials
        if sort:
            sign = 1 if self.mode == "min" else -1
            trials = sorted(trials, key=lambda t: (t.status == "pruned", not np.isfinite(t.score),
                                                   sign * t.score if np.isfinite(t.score) else 0, t.index))
        return [t.row() for t in trials]

    def table(self, sort=True, columns=None, max_rows=None) -> str:
        """The trials as aligned text, best first (``sort=False``: in the order run)."""
        rows = self.rows(sort=sort)[:max_rows]
        columns = columns or list(dict.fromkeys(k for r in rows for k in r))
        cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)

    def __str__(self):
        b = self.best
        return (f"{self.method}: {len(self.trials)} trials, selected on {self.objective} ({self.mode}) — best "
                f"trial {b.index}, {self.objective} = {b.score:.4g}\n" + self.table())

    def __repr__(self):
        return f"<SearchResult {self.method}: {len(self.trials)} trials, objective {self.objective!r}>"

    def to_csv(self, path=None, sort=False) -> str:
        """Write the table as CSV to ``path`` (if given); returns the CSV text."""
        rows = self.rows(sort=sort)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(buffer.getvalue())
        return buffer.getvalue()

    def plot(self, params=None, fig=None, ncols=3):
        """Validation score against each hyperparameter that varied: one panel each, best trial circled.

        Log axes for :class:`LogUniform` (and choices of scales); categories at evenly spaced positions.
        Returns the matplotlib figure."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator, NullFormatter

        names = list(params or Space(self.space).varying())
        if not names:
            raise ValueError("no hyperparameter varies in this search: nothing to plot")
        ok = [t for t in self.trials if np.isfinite(t.score)]
        best = self.best
        ncols = min(ncols, len(names))
        nrows = math.ceil(len(names) / ncols)
        if fig is None:
            fig = plt.figure(figsize=(4.2 * ncols, 3.4 * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        spec = Space(self.space).spec
        colors = {"ok": "tab:blue", "diverged": "tab:red", "pruned": "tab:grey"}
        for ax, name in zip(axes, names):
            dist = spec.get(name)
            values = [t.params.get(name) for t in ok]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            categorical = (not numeric) or (isinstance(dist, Choice) and not dist.log)
            if categorical:
                cats = list(dist.values) if isinstance(dist, Choice) else sorted(set(map(str, values)))
                pos = {c: i for i, c in enumerate(cats)}
                xs = [pos.get(v, pos.get(str(v))) for v in values]
                ax.set_xticks(range(len(cats)), [_fmt(c) for c in cats])
                ax.set_xlim(-0.5, len(cats) - 0.5)
                bx = pos.get(best.params.get(name), pos.get(str(best.params.get(name))))
            else:
                xs, bx = values, best.params.get(name)
                if getattr(dist, "log", False):
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels overlap
                if isinstance(dist, (Uniform, LogUniform)):
                    pad = (dist.high / dist.low) ** 0.03 if dist.log else 0.03 * (dist.high - dist.low)
                    ax.set_xlim(*((dist.low / pad, dist.high * pad) if dist.log else (dist.low - pad, dist.high + pad)))
                if isinstance(dist, IntRange):
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.scatter(xs, [t.score for t in ok], c=[colors[t.status] for t in ok], s=28, alpha=0.75,
                       edgecolors="k", linewidths=0.4)
            ax.scatter([bx], [best.score], s=220, facecolors="none", edgecolors="k", linewidths=1.5)
            ax.set(xlabel=name, ylabel=self.objective)
            ax.grid(alpha=0.3)
        for ax in axes[len(names):]:
            ax.set_visible(False)
        n_bad = len(self.trials) - len(ok)
        fig.suptitle(f"{self.method}: {len(self.trials)} trials (circled: best on {self.objective})"
                     + (f"; {n_bad} without a finite score not shown" if n_bad else ""), fontsize=10)
        fig.tight_layout()
        return fig


def _fmt(v) -> str:
    if isinstance(v, float):
        if not np.isfinite(v):
            return str(v)
        return f"{v:.3g}" if (v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4)) else f"{v:.4g}"
    return str(v)


# ------------------------------------------------------------------------------------------------ searches
def _objective_mode(objective, mode):
    if not (isinstance(objective, str) and objective.startswith("val_")):
        raise ValueError(f"the objective must be a validation entry of the training logs ('val_data_loss', "
                         f"'val_loss', 'val_accuracy', ...): selection uses validation data only; got {objective!r}")
    if mode == "auto":
        mode = "max" if ("acc" in objective or objective.endswith("auc")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
    return mode


def _check_data(train, validation):
    for name, pair in (("train", train), ("validation", validation)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"{name} must be a pair (x, y) of arrays; got {type(pair).__name__}")
    (x, y), (x_val, y_val) = train, validation
    x, y, x_val, y_val = (np.asarray(a) for a in (x, y, x_val, y_val))
    if len(x) != len(y) or len(x_val) != len(y_val):
        raise ValueError(f"x and y differ in length: train {len(x)} vs {len(y)}, validation {len(x_val)} vs "
                         f"{len(y_val)}")
    if x.shape == x_val.shape and np.array_equal(x, x_val):
        raise ValueError("the validation data are the training data: selection needs held-out samples")
    return (x, y), (x_val, y_val)


def _options(objective, mode, patience, epochs, batch_size, threads):
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer; got {epochs!r}")
    if patience is not None and not (isinstance(patience, (int, np.integer)) and patience >= 0):
        raise ValueError(f"patience must be None (no early stopping) or an integer >= 0; got {patience!r}")
    return {"objective": objective, "mode": _objective_mode(objective, mode), "patience": patience,
            "epochs": int(epochs), "batch_size": int(batch_size), "threads": int(threads)}


def _report(verbose, trial, total, objective):
    if verbose:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
        print(f"trial {trial.index + 1}/{total}: {params} → {objective} {trial.score:.4g} "
              f"(best epoch {trial.best_epoch}/{trial.epochs}, {trial.status})", flush=True)


def _run_all(build, configurations, seed, data, opts, workers, verbose):
    if workers is None or workers < 1:
        raise ValueError(f"workers must be a positive integer; got {workers!r}")
    total = len(configurations)
    if workers == 1 or total <= 1:
        trials = []
        for i, params in enumerate(configurations):
            trials.append(_run_trial(build, i, params, seed, data, opts))
            _report(verbose, trials[-1], total, opts["objective"])
        return trials
    _check_importable(build)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, total), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init,
                             initargs=(build, data, _config.kernels(), np.dtype(_config.floatx()).name)) as pool:
        with _workers_do_not_rerun_main():  # the workers start during these submits
            futures = [pool.submit(_worker_run, i, params, seed, opts) for i, params in enumerate(configurations)]
        trials = []
        for f in futures:  # in submission order: the same list as with workers=1
            trials.append(f.result())
            _report(verbose, trials[-1], total, opts["objective"])
    return trials


def random_search(build, space, *, train, validation, n_trials=20, seed=0, epochs=20, patience=5,
                  objective="val_data_loss", mode="auto", batch_size=32, workers=1, threads=1, verbose=0):
    """Train ``n_trials`` configurations drawn independently from ``space``; select on ``validation``.

    ``build(params)`` (or ``build(params, seed)``) returns a compiled Sequential; ``train`` and
    ``validation`` are ``(x, y)`` pairs. Each trial trains for at most ``epochs`` epochs with early stopping
    on ``objective`` (``patience`` epochs without improvement; ``None`` turns it off) and keeps its best
    epoch. ``batch_size`` is the default when the space has no ``"batch_size"``. ``seed`` fixes the draws and
    every model's seed; ``workers`` > 1 trains in that many processes with the same results;
    ``threads`` numba/BLAS threads per trial. Returns a :class:`SearchResult`."""
    space = Space(space)
    opts = _options(objective, mode, patience, epochs, batch_size, threads)
    data = _check_data(train, validation)
    if not (isinstance(n_trials, (int, np.integer)) and n_trials >= 1):
        raise ValueError(f"n_trials must be a positive integer; got {n_trials!r}")
    rng = np.random.default_rng(seed)
    configurations = [space.sample(rng) for _ in range(n_trials)]
    trials = _run_all(build, configurations, seed, data, opts, workers, verbose)
    return SearchResult(trials, objective, opts["mode"], space.spec, build, seed, "random search")


def grid_search(build, space, *, train, validation, points=3, seed=0, epochs=20, patience=5,
                objective="val_data_loss", mode="auto", batch_size=32, workers=1, threads=1, verbose=0):
    """Train every combination of the space's values (continuous ranges: ``points`` values each); select on
    ``validation``. Same arguments and result as :func:`random_search`; ``seed`` only seeds the models."""
    space = Space(space)
    opts = _options(objective, mode, patience, epochs, batch_size, threads)
    data = _check_data(train, validation)
    configurations = space.grid(points)
    trials = _run_all(build, configurations, seed, data, opts, workers, verbose)
    return SearchResult(trials, objective, opts["mode"], space.spec, build, seed, "grid search")


class _OptunaReport(Callback):
    """Tell Optuna the objective after every epoch; stop the fit when the pruner says so."""

    def __init__(self, trial, objective):
        self.trial, self.objective, self.pruned = trial, objective, False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.objective)
        if value is None or not np.isfinite(value):
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True


def _suggest(trial, name, dist):
    if not isinstance(dist, Distribution):
        return dist
    if isinstance(dist, LogUniform):
        return trial.suggest_float(name, dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return trial.suggest_float(name, dist.low, dist.high)
    if isinstance(dist, IntRange):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, Choice):
        return trial.suggest_categorical(name, dist.values)
    raise TypeError(f"optuna_search cannot translate {dist!r}; use Uniform, LogUniform, IntRange or Choice")


def optuna_search(build, space, *, train, validation, n_trials=20, seed=0, epochs=20, patience=5,
                  objective="val_data_loss", mode="auto", batch_size=32, pruner="median", n_startup_trials=5,
                  n_warmup_steps=2, threads=1, verbose=0):
    """Like :func:`random_search`, with Optuna's TPE sampler choosing each trial from the ones before.

    ``pruner="median"``: after each epoch the trial reports its validation objective, and Optuna's
    ``MedianPruner(n_startup_trials, n_warmup_steps)`` stops it when it is worse than the median of earlier
    trials at the same epoch (status "pruned"; never selected). ``pruner=None`` turns pruning off; an Optuna
    pruner object is used as given. Trials run one after another (TPE learns from finished trials), so the
    same ``seed`` gives the same study. The Optuna study is ``result.study``. Needs ``pip install ".[search]"``."""
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover — the search extra installs it
        raise ImportError('optuna_search needs Optuna: pip install ".[search]" (or pip install optuna)') from exc
    space = Space(space)
    opts = _options(objective, mode, patience, epochs, batch_size, threads)
    data = _check_data(train, validation)
    if pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    elif pruner is None:
        pruner = optuna.pruners.NopPruner()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize" if opts["mode"] == "min" else "maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    trials = []

    def run(optuna_trial):
        params = {name: _suggest(optuna_trial, name, dist) for name, dist in space.spec.items()}
        reporter = _OptunaReport(optuna_trial, objective)
        t = _run_trial(build, optuna_trial.number, params, seed, data, opts, extra_callbacks=[reporter])
        trials.append(t)
        _report(verbose, t, n_trials, objective)
        if t.status == "pruned":
            raise optuna.TrialPruned()
        if not np.isfinite(t.score):
            return float("nan")  # Optuna records the trial as failed and carries on
        return t.score

    study.optimize(run, n_trials=n_trials, catch=())
    return SearchResult(trials, objective, opts["mode"], space.spec, build, seed, "optuna (TPE)", study=study)
