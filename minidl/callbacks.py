"""Callbacks: code that runs at fixed points of ``Sequential.fit`` (Keras 3 names and defaults).

``History`` is always attached and returned by ``fit``; ``history.history["val_loss"]`` is a list with
one number per epoch (``"time"`` and ``"learning_rate"`` too). ``EarlyStopping``, ``ReduceLROnPlateau`` and ``ModelCheckpoint`` watch one entry of the
epoch logs; ``CSVLogger`` writes every entry to a CSV file, one row per epoch.

Resuming an interrupted training run::

    checkpoint = ModelCheckpoint("ckpt/last.npz")                # every epoch; the file says which one
    model.fit(x, y, epochs=20, callbacks=[checkpoint])            # ... killed after epoch 7
    model = load_model("ckpt/last.npz")
    done = load_metadata("ckpt/last.npz")["checkpoint"]["epoch"]  # 7
    model.fit(x, y, epochs=20, initial_epoch=done, callbacks=[checkpoint])

About ``mode``: "min" for losses and errors, "max" for accuracies; "auto" decides from the name
(anything with "acc" → max, otherwise min). Watching ``val_loss`` with ``mode="max"`` stops training
as the model *improves* — a mistake seen in public course material — so it triggers a warning.
"""

from __future__ import annotations

import collections
import csv
import math
import os
import time
import warnings

import numpy as np


class Callback:
    """Base class. ``self.model`` is set by ``fit``; set ``self.model.stop_training = True`` to stop."""

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records the epoch logs: ``history[key]`` is a list with one value per epoch; ``epoch`` the indices.

    Besides the losses and metrics it records, for every epoch,

    - ``history["time"]``: the epoch's wall time in seconds (training, validation and the other callbacks'
      epoch-end work; ``fit`` runs History after every other callback, as Keras does);
    - ``history["learning_rate"]``: the learning rate — the value a callback logged for the epoch
      (``ReduceLROnPlateau`` and ``LearningRateScheduler`` log the rate the epoch used, as in Keras), else the
      optimizer's ``learning_rate`` at the end of the epoch (with a schedule: the rate of the next step).
    """

    def on_train_begin(self, logs=None):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - getattr(self, "_start", time.perf_counter())
        self.epoch.append(epoch)
        logs = dict(logs or {})
        optimizer = getattr(getattr(self, "model", None), "optimizer", None)
        if "learning_rate" not in logs and optimizer is not None:
            logs["learning_rate"] = optimizer.learning_rate
        logs["time"] = seconds
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)


def _monitor_op(monitor: str, mode: str, owner: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner} mode must be 'auto', 'min' or 'max'; got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    elif mode == "max" and "loss" in monitor:
        warnings.warn(f"{owner} watches {monitor!r} with mode='max': it will treat a rising loss as "
                      f"improvement. Use mode='min' (or 'auto') for losses.", stacklevel=3)
    return mode


class _Monitor(Callback):
    """Shared logic: is the monitored value better than the best so far by more than ``min_delta``?"""

    def __init__(self, monitor, mode, min_delta):
        self.monitor = monitor
        self.mode = _monitor_op(monitor, mode, type(self).__name__)
        self.min_delta = abs(float(min_delta))

    def _is_improvement(self, value, reference):
        if not np.isfinite(value):  # a diverged epoch (NaN/inf) is never the best one
            return False
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def _get(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} monitors {self.monitor!r}, which is not in the logs "
                          f"(available: {', '.join(logs or {})}).", stacklevel=3)
        return value


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best_weights=True`` the weights of the best epoch are put back when training ends,
    so the model you keep is the one that did best on validation data. Monitor validation data, never
    the test set: the test set must stay unseen until the final evaluation.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = int(patience), int(verbose), baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self.baseline
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._get(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau factor must be in (0, 1); got {factor!r}")
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = float(factor), int(patience), int(verbose)
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter, self.best = 0, 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = self._get(logs)
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(value, self.best):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.4g}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        self.schedule, self.verbose = schedule, int(verbose)

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.optimizer.learning_rate))
        if not math.isfinite(lr):
            raise ValueError(f"LearningRateScheduler schedule returned {lr!r} at epoch {epoch}")
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr:.4g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class ModelCheckpoint(_Monitor):
    """Save the model (or only its weights) at the end of every epoch, or only when ``monitor`` improves.

    ``filepath`` may hold Keras-style fields filled from the epoch logs: ``"ckpt/{epoch:02d}-{val_loss:.3f}.npz"``
    (``epoch`` counts from 1, as Keras does). Full models are written with ``Sequential.save`` (``.npz``;
    read back with ``load_model``); with ``save_weights_only=True`` with ``Sequential.save_weights``
    (``.weights.npz``; read back with ``model.load_weights``). Both write to a temporary file and rename it,
    so a run killed while saving leaves the previous checkpoint intact. A full-model file also records
    ``{"checkpoint": {"epoch": epochs done, "monitor": ..., "value": ...}}`` in its metadata
    (``minidl.model.load_metadata``): pass that epoch as ``fit(initial_epoch=...)`` to resume.
    Missing folders are created.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, 0.0)
        self.filepath = os.fspath(filepath)
        suffix = ".weights.npz" if save_weights_only else ".npz"
        if not self.filepath.endswith(suffix) or (not save_weights_only and self.filepath.endswith(".weights.npz")):
            raise ValueError(f"ModelCheckpoint filepath must end in {suffix!r} when save_weights_only="
                             f"{bool(save_weights_only)}; got {self.filepath!r}")
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint supports save_freq='epoch' only; got {save_freq!r}")
        self.verbose, self.save_best_only = int(verbose), bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.best = None if initial_value_threshold is None else float(initial_value_threshold)

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **(logs or {}))
        except KeyError as missing:
            raise KeyError(f"ModelCheckpoint filepath {self.filepath!r} names {missing}, which is not in the "
                           f"epoch logs (available: epoch, {', '.join(logs or {})})") from None

    def on_epoch_end(self, epoch, logs=None):
        path = self._path(epoch, logs)
        value = (logs or {}).get(self.monitor)
        if self.save_best_only:
            if value is None:
                warnings.warn(f"ModelCheckpoint can save the best model only with {self.monitor!r} in the logs "
                              f"(available: {', '.join(logs or {})}); skipping.", stacklevel=2)
                return
            if not self._is_improvement(value, self.best):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {previous} to {value:.5f}, "
                      f"saving model to {path}")
            self.best = value
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            info = {"epoch": epoch + 1, "monitor": self.monitor,
                    "value": None if value is None else float(value)}
            self.model.save(path, metadata={"checkpoint": info})


class CSVLogger(Callback):
    """Write the epoch logs to ``filename``: a header ``epoch,<keys in sorted order>`` then one row per epoch
    (``epoch`` counts from 0, as in Keras). With ``append=True`` an existing file is continued (no second
    header) — what you want when resuming a run. The file is flushed after every epoch.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys, self.writer, self.csv_file = None, None, None

    def on_train_begin(self, logs=None):
        header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                header = not f.readline()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.write_header, self.keys, self.writer = header, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=dialect)
            if self.write_header:
                self.writer.writeheader()
        row = collections.OrderedDict(epoch=epoch)
        row.update((k, logs.get(k, "NA")) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file, self.writer = None, None
