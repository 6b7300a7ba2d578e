"""Interval estimates and their coverage: does a 95 % interval cover 95 % of the test truths?

Three pieces, for comparing ABC with networks on parameter estimation (e.g. T_split):

* :func:`coverage` — the share of test truths inside their intervals, the number a calibrated 95 % interval
  should bring to 0.95 (up to binomial error ``sqrt(0.95·0.05/n)``, ≈ 0.01 for n = 500);
* :func:`credible_intervals` / :func:`abc_intervals` — ABC's equal-tailed credible intervals, the
  ``(1−level)/2`` and ``(1+level)/2`` quantiles of the accepted (rejection) or regression-adjusted and
  Epanechnikov-weighted (loclinear) posterior sample of each test target (``ABCResult.interval``);
* :func:`conformal_interval` — split-conformal prediction intervals around any point predictor (a
  regression network), calibrated on simulations it was not trained on.

Split conformal prediction (Vovk et al. 2005; Lei et al. 2018)
-------------------------------------------------------------
Given calibration pairs ``(ŷ_i, y_i)``, i = 1..n, not used for training, the scores are the absolute
residuals ``s_i = |y_i − ŷ_i|`` (or ``|y_i − ŷ_i| / σ̂_i`` with a predicted scale σ̂, e.g. a network that
predicts a distribution). With ``s_(1) ≤ … ≤ s_(n)`` sorted and

    k = ⌈(n + 1)(1 − α)⌉,   q̂ = s_(k)   (q̂ = ∞ when k > n),

the interval for a new prediction is ``[ŷ − q̂, ŷ + q̂]`` (``[ŷ − q̂σ̂, ŷ + q̂σ̂]``). If calibration and test
pairs are exchangeable — here: simulated from the same prior —

    1 − α ≤ P(y_test ∈ interval) ≤ 1 − α + 1/(n + 1)

(the upper bound when scores have no ties). The finite-sample index ``k`` is the ``(1−α)(1 + 1/n)``
empirical quantile, slightly above the plain ``1−α`` one: the test point is the (n+1)-th exchangeable score.
The guarantee is marginal (on average over the prior), not for each parameter value.

Classifier calibration (expected calibration error, reliability diagrams, temperature scaling) lives in
:mod:`minidl.calibration`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["coverage", "interval_width", "credible_intervals", "abc_intervals", "conformal_quantile",
           "conformal_interval"]


def _as_columns(x, name) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0 or a.ndim > 2 or a.shape[0] == 0:
        raise ValueError(f"{name} expected shape (n,) or (n, params) with n >= 1; got shape {a.shape}")
    return a


def coverage(lower, upper, truth):
    """Share of truths inside their interval: ``mean(lower ≤ truth ≤ upper)``.

    Parameters
    ----------
    lower, upper, truth : array_like, shape (n,) or (n, params)

    Returns
    -------
    float for 1-D inputs, ndarray of shape (params,) for 2-D inputs
    """
    lo, hi, y = _as_columns(lower, "lower"), _as_columns(upper, "upper"), _as_columns(truth, "truth")
    if not (lo.shape == hi.shape == y.shape):
        raise ValueError(f"lower, upper and truth expected the same shape; got {lo.shape}, {hi.shape}, {y.shape}")
    if np.any(lo > hi):
        raise ValueError(f"lower expected to be <= upper; got {int(np.sum(lo > hi))} interval(s) with lower > upper")
    inside = ((lo <= y) & (y <= hi)).mean(axis=0)
    return float(inside) if y.ndim == 1 else inside


def interval_width(lower, upper):
    """Mean width ``mean(upper − lower)`` (float, or per parameter for 2-D inputs): coverage at equal
    width is the fair comparison of two interval methods."""
    lo, hi = _as_columns(lower, "lower"), _as_columns(upper, "upper")
    if lo.shape != hi.shape:
        raise ValueError(f"lower and upper expected the same shape; got {lo.shape} and {hi.shape}")
    width = (hi - lo).mean(axis=0)
    return float(width) if lo.ndim == 1 else width


def _check_level(level, name="level") -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"{name} expected a probability in (0, 1); got {level!r}")
    return float(level)


def credible_intervals(results: Sequence, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible intervals of many :class:`popsim.inference.abc.ABCResult` (one per test target).

    Returns ``(lower, upper)``, each of shape ``(len(results), params)``: the ``(1−level)/2`` and
    ``(1+level)/2`` posterior quantiles (weighted for loclinear, as R's ``summary.abc``).
    """
    level = _check_level(level)
    results = list(results)
    if not results:
        raise ValueError("results expected at least one ABCResult; got none")
    bounds = [r.interval(level) for r in results]
    return np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])


def abc_intervals(targets, param, sumstat, tol, level: float = 0.95, **abc_options):
    """Run :func:`popsim.inference.abc.abc` for each row of ``targets`` and return its credible intervals.

    Parameters
    ----------
    targets : array_like, shape (m, k) — statistics of m test data sets (not in ``sumstat``)
    param, sumstat, tol, **abc_options : as for :func:`popsim.inference.abc.abc`
    level : credible level

    Returns
    -------
    lower, upper : ndarray, shape (m, params); estimates : ndarray, shape (m, params) — posterior medians
    """
    from popsim.inference.abc import abc

    t = np.asarray(getattr(targets, "values", targets), dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"targets expected a matrix (test data sets, statistics); got shape {t.shape}")
    results = [abc(row, param, sumstat, tol, **abc_options) for row in t]
    lower, upper = credible_intervals(results, level)
    return lower, upper, np.array([r.median() for r in results])


def conformal_quantile(scores, alpha: float) -> float:
    """The split-conformal threshold ``q̂ = s_(k)``, ``k = ⌈(n + 1)(1 − α)⌉`` (∞ when k > n).

    Parameters
    ----------
    scores : array_like, shape (n,) — nonconformity scores of the calibration set (e.g. |y − ŷ|)
    alpha : miscoverage in (0, 1); the interval aims at 1 − α
    """
    alpha = _check_level(alpha, "alpha")
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError(f"scores expected at least one finite calibration score; got {s.size} value(s)")
    # A small slack keeps k exact when (n + 1)(1 − α) is an integer up to rounding (e.g. 9 · 0.9).
    k = math.ceil((s.size + 1) * (1 - alpha) - 1e-9)
    if k > s.size:
        return math.inf  # too few calibration points for this α: the only valid interval is unbounded
    return float(np.sort(s)[k - 1])


def conformal_interval(pred_cal, true_cal, pred_test, alpha: float = 0.05, scale_cal=None, scale_test=None):
    """Split-conformal prediction intervals ``ŷ ± q̂`` (or ``ŷ ± q̂·σ̂``); math in the module docstring.

    Parameters
    ----------
    pred_cal, true_cal : array_like, shape (n,) or (n, params) — predictions and truths of the calibration
        split (simulations the predictor was not trained on)
    pred_test : array_like, shape (m,) or (m, params) — predictions to put intervals around
    alpha : miscoverage; 0.05 gives 95 % intervals
    scale_cal, scale_test : optional predicted scales σ̂ > 0 of the same shapes (normalised scores
        ``|y − ŷ|/σ̂``: wider intervals where the predictor is less sure)

    Returns
    -------
    lower, upper : ndarray of the shape of ``pred_test``
    """
    p_cal, y_cal = _as_columns(pred_cal, "pred_cal"), _as_columns(true_cal, "true_cal")
    p_test = _as_columns(pred_test, "pred_test")
    if p_cal.shape != y_cal.shape:
        raise ValueError(f"pred_cal and true_cal expected the same shape; got {p_cal.shape} and {y_cal.shape}")
    if p_test.shape[1:] != p_cal.shape[1:]:
        raise ValueError(f"pred_test expected {p_cal.shape[1:] or 'one'} column(s) like pred_cal; got shape "
                         f"{p_test.shape}")
    if (scale_cal is None) != (scale_test is None):
        raise ValueError("scale_cal and scale_test expected both or neither; got only one")
    if scale_cal is None:
        s_cal, s_test = np.ones_like(p_cal), np.ones_like(p_test)
    else:
        s_cal, s_test = _as_columns(scale_cal, "scale_cal"), _as_columns(scale_test, "scale_test")
        if s_cal.shape != p_cal.shape or s_test.shape != p_test.shape:
            raise ValueError(f"scale_cal and scale_test expected shapes {p_cal.shape} and {p_test.shape}; got "
                             f"{s_cal.shape} and {s_test.shape}")
        if np.any(s_cal <= 0) or np.any(s_test <= 0):
            raise ValueError("scale_cal and scale_test expected positive scales")
    scores = np.abs(y_cal - p_cal) / s_cal
    if scores.ndim == 1:
        q = conformal_quantile(scores, alpha)
    else:  # one threshold per parameter: each column gets its own marginal guarantee
        q = np.array([conformal_quantile(scores[:, j], alpha) for j in range(scores.shape[1])])
    return p_test - q * s_test, p_test + q * s_test
