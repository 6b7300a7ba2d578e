"""Standardisation of inputs and regression targets — fitted on training data only.

Two rules that public course material has broken, and that this module makes easy to keep:

1. **Inputs**: summary statistics have wildly different scales (π per bp ~1e-3, S ~1e3). Fit a
   :class:`StandardScaler` on the *training* statistics and apply the **same** scaler to validation,
   test and observed (real) data — never refit it on the data you predict.
2. **Targets**: regress standardised (and, for positive quantities spread over orders of magnitude,
   log-transformed) parameters, then invert the transform on the predictions.

``z = (f(x) − μ) / σ`` with ``f`` the identity or ``log``, ``μ`` and ``σ`` per column from the training
set (``σ`` of a constant column is set to 1, so it maps to 0 rather than to NaN).
"""

from __future__ import annotations

import numpy as np


class StandardScaler:
    """Column-wise ``(f(x) − mean) / std`` with ``f = log`` for the columns in ``log`` (all if True).

    >>> scaler = StandardScaler().fit(train_stats)
    >>> model.fit(scaler.transform(train_stats), y)
    >>> model.predict(scaler.transform(observed_stats))      # the training scaler, not a new one
    """

    def __init__(self, log=False):
        self.log = log
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def _log_mask(self, n_columns):
        if self.log is True:
            return np.ones(n_columns, bool)
        if self.log is False or self.log is None:
            return np.zeros(n_columns, bool)
        mask = np.zeros(n_columns, bool)
        mask[list(self.log)] = True
        return mask

    def _forward(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"StandardScaler expected a table of shape (samples, columns); got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("StandardScaler input contains NaN or infinite values")
        mask = self._log_mask(x.shape[1])
        if np.any(x[:, mask] <= 0):
            raise ValueError("StandardScaler(log=...) needs positive values in the log-transformed columns")
        out = x.copy()
        out[:, mask] = np.log(x[:, mask])
        return out

    def fit(self, x) -> "StandardScaler":
        """Learn per-column mean and standard deviation from training data ``x`` (samples, columns)."""
        fx = self._forward(x)
        if len(fx) < 2:
            raise ValueError(f"StandardScaler.fit needs at least 2 samples; got {len(fx)}")
        self.mean_ = fx.mean(axis=0)
        std = fx.std(axis=0)
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def _check_fitted(self, x):
        if self.mean_ is None:
            raise RuntimeError("StandardScaler is not fitted: call fit(training_data) first")
        if np.asarray(x).ndim == 2 and np.asarray(x).shape[1] != len(self.mean_):
            raise ValueError(f"StandardScaler was fitted on {len(self.mean_)} columns; got {np.asarray(x).shape[1]}")

    def transform(self, x, dtype=np.float32) -> np.ndarray:
        """``(f(x) − mean) / std`` with the training mean and std."""
        self._check_fitted(x)
        return ((self._forward(x) - self.mean_) / self.std_).astype(dtype)

    def fit_transform(self, x, dtype=np.float32) -> np.ndarray:
        return self.fit(x).transform(x, dtype)

    def inverse_transform(self, z) -> np.ndarray:
        """Back to the original scale: ``f⁻¹(z·std + mean)``."""
        self._check_fitted(z)
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 1:
            z = z[:, None]
        out = z * self.std_ + self.mean_
        mask = self._log_mask(out.shape[1])
        out[:, mask] = np.exp(out[:, mask])
        return out

    def get_config(self) -> dict:
        """JSON-ready description (stored in model bundles with the network)."""
        log = self.log if isinstance(self.log, bool) or self.log is None else [int(i) for i in self.log]
        return {"log": log, "mean": None if self.mean_ is None else self.mean_.tolist(),
                "std": None if self.std_ is None else self.std_.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> "StandardScaler":
        scaler = cls(log=config.get("log", False))
        if config.get("mean") is not None:
            scaler.mean_ = np.asarray(config["mean"], dtype=np.float64)
            scaler.std_ = np.asarray(config["std"], dtype=np.float64)
        return scaler
