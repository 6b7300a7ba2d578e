"""Approximate Bayesian computation (ABC) in NumPy, with the semantics of R's ``abc`` package (2.2.x).

The idea in one paragraph: simulate many data sets under parameters drawn from the prior, summarise each by
a few statistics, and keep the simulations whose statistics are closest to the observed ones. The parameters
of the kept simulations approximate the posterior; the models they came from approximate the posterior
model probabilities.

What R's ``abc`` does, and this module reproduces
-------------------------------------------------
1. **Scaling** — every statistic (column j) is divided by its median absolute deviation over the reference
   table, ``MAD_j = 1.4826 · median_i |s_ij − median_k s_kj|`` (R's ``mad``). The observed statistics are
   divided by the same numbers. A column whose MAD is 0 is left unscaled (R's ``normalise``).
2. **Distance** — Euclidean on the scaled statistics: ``d_i = sqrt(Σ_j (s_ij/MAD_j − t_j/MAD_j)²)``.
3. **Acceptance** — keep exactly ``n_acc = ceil(n · tol)`` simulations: those with ``d_i ≤ d_(n_acc)`` (the
   ``n_acc``-th smallest distance), ties at the threshold broken by row order. ``tol`` is a fraction in (0, 1].
   (R takes the first ``n_acc`` rows with ``d_i ≤ d_(n_acc)`` in row order, which with ties at the threshold
   can drop a strictly closer row; we keep every strictly closer row. Without ties the two agree.)
4. **Rejection posterior** — the accepted parameters, unweighted.
5. **Local-linear regression** (Beaumont et al. 2002) — Epanechnikov weights
   ``w_i = 1 − (d_i / d_(n_acc))²`` (the farthest accepted simulation gets weight 0), a weighted least-squares
   fit ``θ_i ≈ α + s_i·β`` on the scaled statistics, and adjusted values
   ``θ*_i = α + t·β + (θ_i − α − s_i·β) = θ_i − (s_i − t)·β``: each accepted parameter is moved along the
   regression line to where its statistics would equal the observed ones t (residuals centred on their
   mean, as R 2.2). With ``hcorr`` the
   residuals are also rescaled by a second regression of ``log(residual²)`` (heteroscedastic correction,
   Blum & François 2010): ``θ*_i = pred + σ(t)/σ(s_i) · r_i``. Parameters may first be transformed
   (``log``, or ``logit`` within bounds) and are transformed back afterwards.
6. **Model choice** (``postpr``) — the share of accepted simulations from each model (rejection), or a
   weighted multinomial logistic regression of the model index on the accepted statistics, evaluated at the
   observed statistics (``mnlogistic``); both corrected for unequal numbers of simulations per model.
7. **Cross-validation** — ``cv4postpr``: each of ``nval`` simulations per model in turn is the "observed"
   data, the others are the reference table (leave one out); gives a confusion matrix.
   ``cv4abc``: the same for parameters, with the posterior median (R's default ``statistic="median"``) as the
   estimate and R's prediction error ``Σ(θ̂ − θ)² / (nval · var(θ))`` (``var`` with nval − 1 in the
   denominator, so this is ``(nval−1)/nval · Σ(θ̂−θ)²/Σ(θ−θ̄)²``).
8. **Goodness of fit** (``gfit``) — the mean distance of the accepted simulations to the observed data,
   compared with its null distribution obtained with simulations as pseudo-observed data; p-value is the
   share of null values ≥ the observed one.

Inputs
------
``sumstat`` is a matrix ``(simulations, statistics)``, a :class:`popsim.features.stats.StatisticsTable` or a
:class:`popsim.sim.dataset.Dataset` simulated with statistics; a dataset also gives ``index`` (its scenario
names, pass ``index=None``) and ``param`` (parameter names, e.g. ``abc(target, "T_split", dataset, 0.05)``).
A ``target`` may be a ``{name: value}`` mapping. Statistic names travel into results (``stat_names``),
errors and summaries; unnamed columns are ``stat[0], stat[1], …`` (column indices, never ``S1``).
``drop_constant=True`` leaves out statistics that take one value in every simulation (their names in
``result.dropped``, one ``ConstantStatisticWarning``). In ``cv4postpr``/``cv4abc`` a warning raised by many
leave-one-out calls is emitted once, ending "(in 37 of 200 cross-validation calls)".

ABC on network outputs (Perez et al. 2022, Mol Ecol Resour): a trained network's outputs on the simulations
— class probabilities or logits for model choice, parameter estimates for inference — are statistics like
any other: ``postpr(net(x_obs), labels, net(x_ref), tol)``. :func:`popsim.inference.network_outputs.network_statistics`
names the columns (``p_isolation``, ``T_split_hat``) and drops the redundant last probability.

Known departures from R, on purpose: inputs with NaN statistics raise an error unless
``nan_policy="omit"`` (R silently drops them); R's ``mnlogistic`` passes its kernel weights to ``multinom``
under a misspelt argument name (``weigths``), so R fits it *unweighted* — we use the Epanechnikov weights
by default and ``weighted=False`` reproduces R; R's ``gfit`` code averages all distances while its help
page says "accepted" — ``distances="accepted"`` (default) or ``"all"``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from minidl.metrics import confusion_matrix
from minidl.threads import limit_threads

__all__ = [
    "MAD_CONSTANT",
    "mad",
    "normalise",
    "distances",
    "accept",
    "epanechnikov",
    "weighted_quantile",
    "abc",
    "ABCResult",
    "postpr",
    "PostprResult",
    "multinomial_logistic_regression",
    "cv4postpr",
    "CVPostprResult",
    "cv4abc",
    "CVABCResult",
    "prediction_error",
    "gfit",
    "GfitResult",
    "ConstantStatisticWarning",
]

MAD_CONSTANT = 1.4826  # makes the MAD of normal data estimate its standard deviation (R's default)


# ----------------------------------------------------------------------------------------------
# Input checks: one-sentence errors naming the argument, what was received and what was expected
# ----------------------------------------------------------------------------------------------

def _check_tol(tol) -> float:
    try:
        t = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"tol expected a fraction in (0, 1]; got {tol!r}") from None
    if not (0.0 < t <= 1.0):
        raise ValueError(f"tol expected a fraction in (0, 1] (e.g. 0.05 keeps the closest 5 %); got {tol!r}")
    return t


def _names(names, count, prefix):
    """``names`` checked against ``count`` columns, or placeholders ``stat[0], stat[1], ...`` (0-based column
    indices, so they cannot be read as "S of population 1")."""
    if names is None:
        return [f"{prefix}[{j}]" for j in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        raise ValueError(f"{prefix}_names expected {count} names (one per column); got {len(names)}")
    return names


def _is_dataset(x) -> bool:
    """A ``popsim.sim.dataset.Dataset`` (recognised by its attributes, without importing zarr)."""
    return all(hasattr(x, a) for a in ("statistic_names", "statistics", "labels", "scenario_names", "params"))


def _statistics_of(sumstat, stat_names=None, name="sumstat"):
    """``(values (n, k) float64, names or None)`` of an array, a StatisticsTable or a Dataset."""
    if _is_dataset(sumstat):
        if sumstat.statistics is None or not sumstat.statistic_names:
            raise ValueError(f"{name} is a dataset without statistics ({str(getattr(sumstat, 'path', ''))!r}); "
                             "simulate with SimulationSettings(statistics=SummaryStatistics(...)) or pass "
                             "dataset.statistics_table(...) instead")
        values, names = sumstat.statistics, list(sumstat.statistic_names)
    elif hasattr(sumstat, "names") and hasattr(sumstat, "values"):  # StatisticsTable
        values, names = sumstat.values, list(sumstat.names)
    else:
        values, names = sumstat, None
    s = np.asarray(values, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"{name} expected a matrix (simulations, statistics); got shape {s.shape}")
    if stat_names is not None:
        names = _names(stat_names, s.shape[1], "stat")
    return s, names


def _as_table(sumstat, name="sumstat") -> np.ndarray:
    """Reference table as float64 of shape (simulations, statistics); a StatisticsTable or Dataset is accepted."""
    return _statistics_of(sumstat, None, name)[0]


def _index_of(index, sumstat, n):
    """Model label of each simulation: ``index``, or the scenario names of a Dataset when ``index`` is None."""
    if index is None:
        if not _is_dataset(sumstat):
            raise ValueError("index expected one model label per simulation; got None (only a Dataset as sumstat "
                             "provides its own labels)")
        index = np.asarray(sumstat.scenario_names)[np.asarray(sumstat.labels)]
    index = np.asarray(index)
    if index.shape != (n,):
        raise ValueError(f"index expected one model label per simulation ({n}); got shape {index.shape}")
    return index


def _param_of(param, sumstat, param_names):
    """Parameters (n, p) and their names: an array, or names of a Dataset's parameters (None: all)."""
    if _is_dataset(sumstat) and (param is None or isinstance(param, str)
                                 or (isinstance(param, (list, tuple)) and all(isinstance(x, str) for x in param))):
        available = list(sumstat.parameter_names)
        wanted = available if param is None else [param] if isinstance(param, str) else list(param)
        unknown = [w for w in wanted if w not in available]
        if unknown:
            raise ValueError(f"param expected parameter names of the dataset {available}; got unknown {unknown}")
        theta = np.asarray(sumstat.params, dtype=np.float64)[:, [available.index(w) for w in wanted]]
        return theta, list(param_names) if param_names is not None else wanted
    if param is None:
        raise ValueError("param expected the parameters of each simulation; got None (only a Dataset as sumstat "
                         "provides its own)")
    theta = np.asarray(param, dtype=np.float64)
    return (theta[:, None] if theta.ndim == 1 else theta), param_names


def _target_of(target, stat_names):
    """A target as a vector, or a ``{statistic: value}`` mapping (e.g. ``compute_statistics``) put in column order."""
    if isinstance(target, Mapping):
        if stat_names is None:
            raise ValueError("target given as {name: value} needs named statistics (a StatisticsTable, a Dataset "
                             "or stat_names)")
        missing = [n for n in stat_names if n not in target]
        if missing:
            raise ValueError(f"target expected a value for every statistic; missing {missing}")
        return np.array([float(target[n]) for n in stat_names])
    if hasattr(target, "names") and hasattr(target, "values"):  # a one-row StatisticsTable
        if stat_names is not None and list(target.names) != list(stat_names):
            raise ValueError(f"target expected the columns {list(stat_names)}; got {list(target.names)}")
        return np.asarray(target.values, dtype=np.float64).ravel()
    return target


def _constant_columns(s: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Indices of the columns that take one value over the usable simulations."""
    return np.flatnonzero(np.ptp(s[good], axis=0) == 0)


def _drop_constant(s, t, good, stat_names, drop_constant, where):
    """Drop constant columns (``drop_constant``): returns ``(s, t, names, dropped)`` and warns once."""
    dropped = []
    if drop_constant:
        constant = _constant_columns(s, good)
        if constant.size:
            dropped = [stat_names[j] for j in constant]
            if constant.size == s.shape[1]:
                raise ValueError(f"sumstat expected at least one statistic that varies between simulations; all "
                                 f"{len(dropped)} are constant: {dropped}")
            keep = np.setdiff1d(np.arange(s.shape[1]), constant)
            s, stat_names = s[:, keep], [stat_names[j] for j in keep]
            t = None if t is None else t[keep]
            warnings.warn(f"{where}: dropped {len(dropped)} constant statistic(s) {dropped} (they take one value "
                          "in every simulation, so they cannot tell simulations apart)", ConstantStatisticWarning,
                          stacklevel=3)
    return s, t, stat_names, dropped


def _check_target(target, sumstat: np.ndarray, stat_names) -> np.ndarray:
    t = np.asarray(target, dtype=np.float64).ravel()
    if t.size != sumstat.shape[1]:
        raise ValueError(
            f"target expected {sumstat.shape[1]} statistics (one per column of sumstat); got {t.size}")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        which = [stat_names[j] for j in bad] if stat_names else [f"stat[{j}]" for j in bad]
        raise ValueError(f"target expected finite statistics; got NaN/inf in {which}")
    return t


def _reference_and_target(target, sumstat, tol, stat_names):
    """The checked reference table (n, k), target (k,), tolerance and statistic names shared by abc and postpr."""
    s, names = _statistics_of(sumstat, stat_names)
    stat_names = _names(names, s.shape[1], "stat")
    return s, _check_target(_target_of(target, stat_names), s, stat_names), _check_tol(tol), stat_names


class ConstantStatisticWarning(UserWarning):
    """Statistics that take one value in every simulation were dropped (``drop_constant=True``)."""


class _CrossValidationWarnings:
    """Collect the warnings of every leave-one-out call and re-emit each distinct one once:
    ``"<message> (in 37 of 200 cross-validation calls)"`` instead of 37 copies."""

    def __init__(self, where: str):
        self.where, self.calls, self.seen = where, 0, {}

    def call(self, function, *args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function(*args, **kwargs)
        self.calls += 1
        for w in caught:
            key = (w.category, str(w.message))
            self.seen[key] = self.seen.get(key, 0) + 1
        return result

    def emit(self):
        for (category, message), count in self.seen.items():
            warnings.warn(f"{self.where}: {message} (in {count} of {self.calls} cross-validation calls)", category,
                          stacklevel=3)


def _good_rows(sumstat: np.ndarray, nan_policy: str) -> np.ndarray:
    """Mask of usable simulations; NaN rows raise unless nan_policy == 'omit' (R's na.omit)."""
    finite = np.all(np.isfinite(sumstat), axis=1)
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy expected 'raise' or 'omit'; got {nan_policy!r}")
    if not finite.all():
        bad = np.flatnonzero(~finite)
        if nan_policy == "raise":
            raise ValueError(
                f"sumstat expected finite statistics; got NaN/inf in {bad.size} simulation(s) "
                f"(first row {bad[0]}) — drop them or pass nan_policy='omit' as R's abc does")
    if finite.sum() == 0:
        raise ValueError("sumstat expected at least one simulation with finite statistics; got none")
    return finite


# ----------------------------------------------------------------------------------------------
# Scaling, distance, acceptance, kernel
# ----------------------------------------------------------------------------------------------

def mad(x, axis=0) -> np.ndarray:
    """Median absolute deviation, R's ``mad``: ``1.4826 · median(|x − median(x)|)``.

    Parameters
    ----------
    x : array_like, shape (n, k) with ``axis=0``
    Returns
    -------
    ndarray, shape (k,)
    """
    x = np.asarray(x, dtype=np.float64)
    centre = np.median(x, axis=axis, keepdims=True)
    return MAD_CONSTANT * np.median(np.abs(x - centre), axis=axis)


def normalise(sumstat, target, good=None):
    """Divide each statistic (and the target) by its MAD over the usable simulations.

    Returns ``(scaled_sumstat (n, k), scaled_target (k,), mads (k,))``. A column with MAD 0 is left as it
    is (R's ``normalise``), which keeps constant statistics from dividing by zero.
    """
    s = np.asarray(sumstat, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    m = mad(s if good is None else s[good], axis=0)
    scale = np.where(m > 0, m, 1.0)
    return s / scale, t / scale, m


def distances(target, sumstat, good=None):
    """Euclidean distance of every simulation to the target on MAD-scaled statistics.

    Returns ``(dist (n,), scaled_sumstat (n, k), scaled_target (k,))``. Rows not in ``good`` get a distance
    larger than every good one (R: ``floor(max + 10)``) so they are never accepted.
    """
    scaled, t, _ = normalise(sumstat, target, good)
    with np.errstate(invalid="ignore"):
        dist = np.sqrt(np.sum((scaled - t) ** 2, axis=1))
    if good is not None and not good.all():
        dist = dist.copy()
        dist[~good] = math.floor(np.max(dist[good]) + 10)
    return dist, scaled, t


def accept(dist, tol):
    """Indices of the ``ceil(n · tol)`` closest simulations, in row order, and the threshold distance.

    ``n_acc = ceil(len(dist) · tol)``; the threshold ``ds`` is the ``n_acc``-th smallest distance; all rows
    with ``d < ds`` are kept, and rows tied at ``ds`` fill the remaining places in row order.

    Returns
    -------
    accepted : ndarray of int, shape (n_acc,)
    ds : float
    """
    tol = _check_tol(tol)
    dist = np.asarray(dist, dtype=np.float64)
    n_acc = math.ceil(dist.size * tol)  # same floating-point product as R's ceiling(length(dist)*tol)
    ds = float(np.sort(dist)[n_acc - 1])
    # Everything strictly closer than the threshold is kept; ties at the threshold fill the remaining
    # places in row order. (R keeps the first n_acc rows with d <= ds, which can drop a closer row when
    # several rows tie at ds; without ties at the threshold both rules agree.)
    below = np.flatnonzero(dist < ds)
    ties = np.flatnonzero(dist == ds)[: n_acc - below.size]
    return np.sort(np.concatenate([below, ties])), ds


def epanechnikov(dist, ds) -> np.ndarray:
    """Epanechnikov kernel weights ``w = 1 − (d/ds)²`` for accepted distances (0 at the threshold)."""
    d = np.asarray(dist, dtype=np.float64)
    if ds <= 0:
        # Every accepted simulation sits exactly on the target: they are all equally close.
        return np.ones_like(d)
    return 1.0 - (d / ds) ** 2


def weighted_quantile(x, probs, weights=None) -> np.ndarray:
    """Quantiles of ``x``; weighted ones minimise ``Σ w_i ρ_τ(x_i − q)`` (R ``quantreg::rq(x ~ 1)``).

    Unweighted: R's default type-7 quantile (NumPy's ``linear``), as ``summary.abc`` uses for rejection.
    Weighted: the smallest ``x_(k)`` whose cumulative weight reaches ``τ · Σw`` (zero weights ignored).
    """
    x = np.asarray(x, dtype=np.float64)
    probs = np.atleast_1d(np.asarray(probs, dtype=np.float64))
    if weights is None:
        return np.quantile(x, probs)
    w = np.asarray(weights, dtype=np.float64)
    keep = w > 0
    x, w = x[keep], w[keep]
    order = np.argsort(x, kind="stable")
    x, cw = x[order], np.cumsum(w[order])
    # A tiny relative slack so that τ·Σw equal to a partial sum picks that point, not the next one.
    idx = np.searchsorted(cw, probs * cw[-1] * (1 - 1e-12), side="left")
    return x[np.minimum(idx, x.size - 1)]


# ----------------------------------------------------------------------------------------------
# Parameter transformations (R's transf = "none" | "log" | "logit")
# ----------------------------------------------------------------------------------------------

def _check_transf(transf, logit_bounds, n_params):
    transf = [transf] * n_params if isinstance(transf, str) else list(transf)
    if len(transf) != n_params:
        raise ValueError(f"transf expected one of 'none'/'log'/'logit' or {n_params} of them; got {len(transf)}")
    for t in transf:
        if t not in ("none", "log", "logit"):
            raise ValueError(f"transf expected 'none', 'log' or 'logit'; got {t!r}")
    bounds = np.full((n_params, 2), np.nan)
    if "logit" in transf:
        if logit_bounds is None:
            raise ValueError("logit_bounds expected (lower, upper) per parameter for transf='logit'; got None")
        b = np.asarray(logit_bounds, dtype=np.float64)
        b = np.tile(b.reshape(1, 2), (n_params, 1)) if b.size == 2 else b.reshape(n_params, 2)
        for j, t in enumerate(transf):
            if t == "logit":
                if not (np.isfinite(b[j]).all() and b[j, 0] < b[j, 1]):
                    raise ValueError(f"logit_bounds expected lower < upper for parameter {j}; got {b[j].tolist()}")
                bounds[j] = b[j]
    return transf, bounds


def _transform(param, transf, bounds):
    """Forward transformation; out-of-range values are moved inside as R does (with a warning)."""
    p = param.copy()
    for j, t in enumerate(transf):
        col = p[:, j]
        if t == "log":
            if col.min() <= 0:
                warnings.warn(f"parameter {j}: values <= 0 replaced by the smallest positive value before log")
                col[col <= 0] = col[col > 0].min()
            p[:, j] = np.log(col)
        elif t == "logit":
            lo, hi = bounds[j]
            inside = (col > lo) & (col < hi)
            # R replaces values at or beyond a bound by the extreme value inside the bounds.
            col[col <= lo] = col[inside].min()
            col[col >= hi] = col[inside].max()
            u = (col - lo) / (hi - lo)
            p[:, j] = np.log(u / (1 - u))
    return p


def _back_transform(p, transf, bounds):
    out = p.copy()
    for j, t in enumerate(transf):
        if t == "log":
            out[:, j] = np.exp(p[:, j])
        elif t == "logit":
            lo, hi = bounds[j]
            out[:, j] = lo + (hi - lo) / (1 + np.exp(-p[:, j]))
    return out


# ----------------------------------------------------------------------------------------------
# Parameter inference
# ----------------------------------------------------------------------------------------------

def _wls(x, y, w):
    """Weighted least squares with intercept: coefficients ``(1 + k, m)`` minimising ``Σ w (y − [1,x]β)²``.

    Rows are multiplied by ``sqrt(w)``; ``lstsq`` gives the minimum-norm solution when statistics are
    collinear (R's ``lsfit`` drops aliased columns instead — fitted values are the same).
    """
    design = np.column_stack([np.ones(x.shape[0]), x])
    sw = np.sqrt(np.maximum(w, 0.0))[:, None]
    coef, *_ = np.linalg.lstsq(design * sw, y * sw, rcond=None)
    return coef, design


@dataclass
class ABCResult:
    """Posterior sample from :func:`abc`.

    Attributes
    ----------
    method : "rejection" | "loclinear"
    param_names, stat_names : list of str
    unadj_values : ndarray, shape (n_acc, params) — accepted parameters (rejection posterior)
    adj_values : ndarray, shape (n_acc, params) or None — regression-adjusted parameters (loclinear)
    weights : ndarray, shape (n_acc,) — Epanechnikov weights (loclinear) or ones (rejection)
    dist : ndarray, shape (n,) — distance of every simulation to the target
    accepted : ndarray of int, shape (n_acc,) — rows of the reference table that were kept
    threshold : float — the largest accepted distance ``d_(n_acc)``
    tol : float
    transf : list of str
    """

    method: str
    param_names: list
    stat_names: list
    unadj_values: np.ndarray
    adj_values: np.ndarray | None
    weights: np.ndarray
    dist: np.ndarray
    accepted: np.ndarray
    threshold: float
    tol: float
    transf: list = field(default_factory=list)
    dropped: list = field(default_factory=list)

    @property
    def values(self) -> np.ndarray:
        """The posterior sample: adjusted values for loclinear, accepted values for rejection."""
        return self.unadj_values if self.adj_values is None else self.adj_values

    @property
    def _w(self):
        return None if self.adj_values is None else self.weights

    def quantile(self, probs) -> np.ndarray:
        """Posterior quantiles, shape (len(probs), params); weighted for loclinear (R's summary.abc)."""
        return np.column_stack([weighted_quantile(self.values[:, j], probs, self._w)
                                for j in range(self.values.shape[1])])

    def mean(self) -> np.ndarray:
        return np.average(self.values, axis=0, weights=self._w)

    def median(self) -> np.ndarray:
        return self.quantile([0.5])[0]

    def estimate(self, statistic="median") -> np.ndarray:
        """Point estimate per parameter: posterior ``"median"`` (R's cv4abc default) or ``"mean"``."""
        if statistic == "median":
            return self.median()
        if statistic == "mean":
            return self.mean()
        raise ValueError(f"statistic expected 'median' or 'mean'; got {statistic!r}")

    def interval(self, level=0.95):
        """Equal-tailed credible interval: ``(lower (params,), upper (params,))``."""
        q = self.quantile([(1 - level) / 2, 1 - (1 - level) / 2])
        return q[0], q[1]

    def summary(self, intvl=0.95) -> dict:
        """R's ``summary.abc``: min, lower, median, mean, upper, max per parameter (weighted if loclinear)."""
        lo, hi = self.interval(intvl)
        return {"min": self.values.min(axis=0), "lower": lo, "median": self.median(), "mean": self.mean(),
                "upper": hi, "max": self.values.max(axis=0)}


def abc(target, param, sumstat, tol, method="rejection", hcorr=True, transf="none", logit_bounds=None,
        param_names=None, stat_names=None, nan_policy="raise", drop_constant=False) -> ABCResult:
    """Parameter inference by ABC (R: ``abc(target, param, sumstat, tol, method)``).

    Parameters
    ----------
    target : array_like, shape (k,) — observed statistics, in the same order as the columns of sumstat;
        or ``{name: value}`` (e.g. from ``compute_statistics``) when the statistics are named
    param : array_like, shape (n,) or (n, p) — parameters of the n simulations (prior draws); with a Dataset
        as sumstat, a parameter name, a list of names or None (all its parameters)
    sumstat : array_like (n, k), StatisticsTable or ``popsim.sim.dataset.Dataset`` — statistics of the n
        simulations (a table's or dataset's names become ``stat_names``)
    tol : float in (0, 1] — fraction of simulations kept, ``ceil(n·tol)``
    method : "rejection" or "loclinear"
    hcorr : bool — heteroscedastic correction of the local-linear adjustment (R's default True)
    transf : "none" | "log" | "logit", or one per parameter — applied before the regression (loclinear only)
    logit_bounds : (lower, upper) or shape (p, 2) — bounds of logit-transformed parameters
    nan_policy : "raise" (default) or "omit" (R's behaviour: rows with NaN are never accepted)
    drop_constant : bool — leave out statistics that take one value over the usable simulations (one
        ``ConstantStatisticWarning``; their names in ``result.dropped``)

    Returns
    -------
    ABCResult
    """
    s, t, tol, stat_names = _reference_and_target(target, sumstat, tol, stat_names)
    theta, param_names = _param_of(param, sumstat, param_names)
    if theta.ndim != 2 or theta.shape[0] != s.shape[0]:
        raise ValueError(f"param expected one row per simulation ({s.shape[0]}); got shape {theta.shape}")
    param_names = _names(param_names, theta.shape[1], "param")
    if method not in ("rejection", "loclinear"):
        raise ValueError(f"method expected 'rejection' or 'loclinear'; got {method!r}")
    good = _good_rows(s, nan_policy)
    # As R's abc (gwt): a simulation with a missing parameter value is never accepted either.
    finite_theta = np.all(np.isfinite(theta), axis=1)
    if not finite_theta.all():
        bad = np.flatnonzero(~finite_theta)
        if nan_policy == "raise":
            hint = ""
            if _is_dataset(sumstat):
                lacking = sorted({str(sumstat.scenario_names[k]) for k in np.asarray(sumstat.labels)[bad]})
                hint = f" (scenarios {lacking} lack {param_names}; infer parameters within one scenario)"
            raise ValueError(f"param expected finite values; got NaN/inf in {bad.size} simulation(s) (first row "
                             f"{bad[0]}){hint} — drop them or pass nan_policy='omit' as R's abc does")
        good = good & finite_theta
        if not good.any():
            raise ValueError("param expected at least one simulation with finite parameters and statistics; got none")
    s, t, stat_names, dropped = _drop_constant(s, t, good, stat_names, drop_constant, "abc")
    if np.all(np.ptp(s[good], axis=0) == 0):
        raise ValueError(f"sumstat expected at least one statistic that varies between simulations; all are "
                         f"constant: {stat_names}")
    if method == "rejection":
        transf = ["none"] * theta.shape[1]  # R applies no transformation to a rejection posterior
    transf, bounds = _check_transf(transf, logit_bounds, theta.shape[1])

    # Steps 1-3: scale by MAD, measure Euclidean distances, keep the ceil(n·tol) closest simulations.
    dist, scaled, t_scaled = distances(t, s, good)
    accepted, ds = accept(dist, tol)
    unadj = theta[accepted]
    if method == "rejection":
        return ABCResult("rejection", param_names, stat_names, unadj, None, np.ones(accepted.size),
                         dist, accepted, ds, tol, transf, dropped)

    # Step 5: local-linear regression adjustment on the transformed parameters.
    if accepted.size < s.shape[1] + 2:
        raise ValueError(f"tol={tol} accepts {accepted.size} simulations; loclinear with {s.shape[1]} statistics "
                         f"needs at least {s.shape[1] + 2} (raise tol or use method='rejection')")
    x = scaled[accepted]
    y = _transform(theta, transf, bounds)[accepted]
    w = epanechnikov(dist[accepted], ds)
    coef, design = _wls(x, y, w)
    # Prediction at the observed statistics, and residuals of each accepted simulation.
    pred = np.concatenate([[1.0], t_scaled]) @ coef                      # (p,)
    resid = y - design @ coef                                            # (n_acc, p)
    # R 2.2 centres the residuals (unweighted mean) and moves that mean into the prediction.
    m = resid.mean(axis=0)
    resid, pred = resid - m, pred + m
    if hcorr:
        # Second regression: log squared residuals on the statistics gives a local standard deviation
        # σ(s) = sqrt(exp(fitted)); residuals are rescaled from σ(s_i) to σ(target).
        log_r2 = np.log(np.maximum(resid**2, np.finfo(float).tiny))
        coef2, _ = _wls(x, log_r2, w)
        sd_target = np.sqrt(np.exp(np.concatenate([[1.0], t_scaled]) @ coef2))
        sd_sims = np.sqrt(np.exp(design @ coef2))
        resid = sd_target * resid / sd_sims
    adj = _back_transform(pred + resid, transf, bounds)
    return ABCResult("loclinear", param_names, stat_names, unadj, adj, w, dist, accepted, ds, tol, transf, dropped)


# ----------------------------------------------------------------------------------------------
# Model choice
# ----------------------------------------------------------------------------------------------

def multinomial_logistic_regression(x, y, n_classes, weights=None, ridge=1e-6, max_iter=100, tol=1e-10):
    """Weighted multinomial logistic regression fitted by Newton's method (IRLS).

    Model: ``P(y = c | x) = exp(η_c) / Σ_c' exp(η_c')`` with ``η_0 = 0`` (class 0 is the reference) and
    ``η_c = β_c0 + x·β_c`` for c ≥ 1 — the parametrisation of R's ``nnet::multinom``.

    Maximises ``Σ_i w_i log P(y_i | x_i) − (ridge/2)·Σ β²`` (slopes only). Gradient
    ``X^T W (Y − P)``; Hessian ``−Σ_i w_i (diag(p_i) − p_i p_iᵀ) ⊗ x_i x_iᵀ``; each Newton step is halved
    until the objective improves. The tiny ridge keeps the Newton system solvable when the classes are
    perfectly separated (probabilities then approach 0/1, as with ``multinom``'s capped iterations).

    Parameters
    ----------
    x : ndarray, shape (n, k)
    y : ndarray of int in 0..n_classes-1, shape (n,)
    weights : ndarray, shape (n,), optional

    Returns
    -------
    coef : ndarray, shape (1 + k, n_classes − 1) — intercept row first
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n, k = x.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    design = np.column_stack([np.ones(n), x])                  # (n, d)
    d, c = k + 1, n_classes - 1
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    penalty = np.full(d, ridge)
    penalty[0] = 0.0  # the intercept is not shrunk

    def probs(beta):
        eta = np.column_stack([np.zeros(n), design @ beta])     # (n, K)
        eta -= eta.max(axis=1, keepdims=True)                   # stable softmax
        e = np.exp(eta)
        return e / e.sum(axis=1, keepdims=True)

    def objective(beta):
        p = probs(beta)
        ll = np.sum(w * np.log(np.maximum(np.sum(p * onehot, axis=1), 1e-300)))
        return ll - 0.5 * np.sum(penalty[:, None] * beta**2)

    beta = np.zeros((d, c))
    current = objective(beta)
    # The Newton systems are small ((k+1)·(models−1) unknowns): multi-threaded BLAS only waits for its
    # threads on a busy machine (measured 7× slower with 2 threads under load, same result), so use one.
    with limit_threads(1):
        for _ in range(max_iter):
            p = probs(beta)
            grad = design.T @ (w[:, None] * (onehot - p))[:, 1:] - penalty[:, None] * beta     # (d, c)
            pc = p[:, 1:]
            # Per-observation class covariance diag(p) − p pᵀ, weighted, combined with x xᵀ.
            cov = np.einsum("i,ij,jk->ijk", w, pc, np.eye(c)) - np.einsum("i,ij,ik->ijk", w, pc, pc)
            hess = np.einsum("ia,ib,ijk->ajbk", design, design, cov).reshape(d * c, d * c)
            hess += np.diag(np.repeat(penalty, c)) + 1e-12 * np.eye(d * c)
            step = np.linalg.solve(hess, grad.reshape(d * c)).reshape(d, c)
            # Step halving: Newton can overshoot when probabilities are near 0 or 1.
            scale = 1.0
            while scale > 1e-8:
                trial = beta + scale * step
                value = objective(trial)
                if value >= current:
                    break
                scale /= 2
            else:
                break
            improvement = value - current
            beta, current = trial, value
            if improvement < tol * (1 + abs(current)):
                break
    return beta


def _predict_mnlogistic(coef, x):
    eta = np.concatenate([[0.0], np.concatenate([[1.0], x]) @ coef])
    e = np.exp(eta - eta.max())
    return e / e.sum()


@dataclass
class PostprResult:
    """Posterior model probabilities from :func:`postpr`.

    Attributes
    ----------
    models : list — model labels, sorted (R's factor levels)
    method : "rejection" | "mnlogistic"
    probs_rejection : ndarray, shape (models,) — share of accepted simulations per model (corrected)
    probs_mnlogistic : ndarray, shape (models,) or None
    accepted : ndarray of int — rows kept; ``accepted_models`` their labels
    weights : ndarray — Epanechnikov weights of the accepted rows
    dist, threshold, tol : as in ABCResult
    stat_names : list — the statistics used; dropped : list — constant statistics left out (drop_constant)
    """

    models: list
    method: str
    probs_rejection: np.ndarray
    probs_mnlogistic: np.ndarray | None
    accepted: np.ndarray
    accepted_models: np.ndarray
    weights: np.ndarray
    dist: np.ndarray
    threshold: float
    tol: float
    stat_names: list = field(default_factory=list)
    dropped: list = field(default_factory=list)

    @property
    def probs(self) -> np.ndarray:
        """Probabilities of the requested method (mnlogistic when fitted, else rejection)."""
        return self.probs_rejection if self.probs_mnlogistic is None else self.probs_mnlogistic

    @property
    def predicted(self):
        """The model with the highest posterior probability (first one on ties)."""
        return self.models[int(np.argmax(self.probs))]

    def bayes_factors(self) -> np.ndarray:
        """Matrix ``B[i, j] = P(model i) / P(model j)``."""
        p = self.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            return p[:, None] / p[None, :]


def postpr(target, index, sumstat, tol, method="rejection", corr=True, weighted=True, stat_names=None,
           nan_policy="raise", ridge=1e-6, drop_constant=False) -> PostprResult:
    """Posterior model probabilities (R: ``postpr(target, index, sumstat, tol, method)``).

    Parameters
    ----------
    target : array_like, shape (k,), or ``{name: value}`` when the statistics are named
    index : array_like, shape (n,) — model label of each simulation (at least two models); None with a
        Dataset as sumstat (its scenario names)
    sumstat : array_like (n, k), StatisticsTable or ``popsim.sim.dataset.Dataset`` — statistics, or any
        other per-simulation summary such as a network's outputs (:mod:`popsim.inference.network_outputs`)
    tol : float in (0, 1]
    method : "rejection" (share of accepted simulations per model) or "mnlogistic" (weighted multinomial
        logistic regression of the model on the accepted, MAD-scaled statistics, evaluated at the target)
    corr : bool — correct for unequal numbers of simulations per model: ``p_m ∝ p_m / n_m``
    weighted : bool — use the Epanechnikov weights in mnlogistic (R's code effectively does not; see module doc)
    stat_names : names of the columns (default: a table's or dataset's names, else ``stat[0], stat[1], …``)
    drop_constant : bool — leave out statistics that take one value over the usable simulations (one
        ``ConstantStatisticWarning``, names in ``result.dropped``); False raises a ValueError naming them

    Returns
    -------
    PostprResult
    """
    s, t, tol, stat_names = _reference_and_target(target, sumstat, tol, stat_names)
    index = _index_of(index, sumstat, s.shape[0])
    models, codes = np.unique(index, return_inverse=True)
    if models.size < 2:
        raise ValueError(f"index expected at least two different models; got {models.tolist()}")
    if method not in ("rejection", "mnlogistic"):
        raise ValueError(f"method expected 'rejection' or 'mnlogistic'; got {method!r}")
    good = _good_rows(s, nan_policy)
    s, t, stat_names, dropped = _drop_constant(s, t, good, stat_names, drop_constant, "postpr")
    constant = [stat_names[j] for j in _constant_columns(s, good)]
    if constant:
        raise ValueError(f"sumstat expected statistics that vary between simulations; {constant} are constant "
                         "(pass drop_constant=True to leave them out)")

    dist, scaled, t_scaled = distances(t, s, good)
    accepted, ds = accept(dist, tol)
    n_per_model = np.bincount(codes, minlength=models.size).astype(np.float64)
    acc_codes = codes[accepted]
    share = np.bincount(acc_codes, minlength=models.size) / accepted.size
    # Correct for models with more simulations having more chances to be accepted (R's corr).
    p_rej = share / n_per_model if corr else share
    p_rej = p_rej / p_rej.sum()
    weights = epanechnikov(dist[accepted], ds)

    p_mn = None
    if method == "mnlogistic":
        if np.unique(acc_codes).size < models.size:
            warnings.warn(f"only {np.unique(acc_codes).size} of {models.size} models have accepted simulations; "
                          "no regression is performed, method is set to rejection (consider a larger tol)")
            method = "rejection"
        else:
            coef = multinomial_logistic_regression(scaled[accepted], acc_codes, models.size,
                                                   weights if weighted else None, ridge=ridge)
            pred = _predict_mnlogistic(coef, t_scaled)
            # Same correction as R: proportional to pred · n · tol / n_m.
            ratio = pred * s.shape[0] * tol / n_per_model if corr else pred
            p_mn = ratio / ratio.sum()
    return PostprResult(models.tolist(), method, p_rej, p_mn, accepted, index[accepted], weights, dist, ds, tol,
                        stat_names, dropped)


# ----------------------------------------------------------------------------------------------
# Cross-validation
# ----------------------------------------------------------------------------------------------

@dataclass
class CVPostprResult:
    """Leave-one-out cross-validation of model choice (R: ``cv4postpr``).

    Attributes
    ----------
    models : list
    true, estimated : ndarray, shape (models·nval,) — true and most probable model of each pseudo-observed set
    probs : ndarray, shape (models·nval, models) — posterior model probabilities
    cv_rows : ndarray of int — rows of the reference table used as pseudo-observed data
    confusion : ndarray, shape (models, models) — rows: true model, columns: estimated model
    method, tol, seed
    stat_names : list — the statistics used; dropped : list — constant statistics left out (drop_constant)
    """

    models: list
    true: np.ndarray
    estimated: np.ndarray
    probs: np.ndarray
    cv_rows: np.ndarray
    confusion: np.ndarray
    method: str
    tol: float
    seed: object = None
    stat_names: list = field(default_factory=list)
    dropped: list = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of pseudo-observed data sets assigned to their true model."""
        return float(np.trace(self.confusion) / self.confusion.sum())

    def mean_probs(self) -> np.ndarray:
        """Mean posterior probability of each model (columns) given the true model (rows)."""
        return np.array([self.probs[self.true == m].mean(axis=0) for m in self.models])

    def summary(self) -> str:
        """Confusion matrix (rows true, columns estimated), accuracy, and the statistics used and dropped."""
        width = max(len(str(m)) for m in self.models) + 2
        lines = [f"cv4postpr: {self.method}, tol {self.tol:g}, {len(self.true)} pseudo-observed data sets, "
                 f"accuracy {100 * self.accuracy:.1f} %",
                 " " * width + "".join(f"{str(m):>{width}}" for m in self.models)]
        lines += [f"{str(m):<{width}}" + "".join(f"{c:>{width}d}" for c in row)
                  for m, row in zip(self.models, self.confusion)]
        lines.append(f"statistics ({len(self.stat_names)}): {', '.join(self.stat_names)}")
        if self.dropped:
            lines.append(f"dropped as constant ({len(self.dropped)}): {', '.join(self.dropped)}")
        return "\n".join(lines)


def cv4postpr(index, sumstat, nval, tol, method="rejection", seed=None, corr=True, weighted=True,
              nan_policy="raise", stat_names=None, drop_constant=False) -> CVPostprResult:
    """Confusion matrix of model choice by leave-one-out cross-validation (R: ``cv4postpr``).

    For each model, ``nval`` of its simulations are drawn (without replacement, ``numpy`` Generator seeded
    by ``seed``); each in turn is the observed data and :func:`postpr` runs on all *other* simulations
    (MAD recomputed without it). The estimate is the most probable model.

    ``index`` may be None with a Dataset as ``sumstat`` (its scenario names); ``stat_names`` name the columns
    (default: a table's or dataset's names). ``drop_constant`` leaves out the statistics constant over the
    whole table (reported once) and, in each call, those constant once the pseudo-observed set is left out.
    A warning raised by many of the leave-one-out calls is emitted once, with the number of calls.
    """
    s, names = _statistics_of(sumstat, stat_names)
    stat_names = _names(names, s.shape[1], "stat")
    index = _index_of(index, sumstat, s.shape[0])
    good = _good_rows(s, nan_policy)
    s, _, stat_names, dropped = _drop_constant(s, None, good, stat_names, drop_constant, "cv4postpr")
    models = np.unique(index)
    nval = int(nval)
    rng = np.random.default_rng(seed)
    rows = []
    for m in models:
        candidates = np.flatnonzero((index == m) & good)
        if nval < 1 or nval > candidates.size:
            raise ValueError(f"nval expected 1..{candidates.size} (simulations of model {m!r}); got {nval}")
        rows.append(rng.choice(candidates, size=nval, replace=False))
    rows = np.concatenate(rows)
    probs = np.empty((rows.size, models.size))
    keep = np.ones(s.shape[0], dtype=bool)
    calls = _CrossValidationWarnings("cv4postpr")
    for r, row in enumerate(rows):
        keep[row] = False  # leave the pseudo-observed data set out of the reference table
        res = calls.call(postpr, s[row], index[keep], s[keep], tol, method=method, corr=corr, weighted=weighted,
                         nan_policy=nan_policy, stat_names=stat_names, drop_constant=drop_constant)
        keep[row] = True
        # A model absent from the reduced table cannot happen (nval ≤ count), but align by label anyway.
        probs[r] = [res.probs[res.models.index(m)] if m in res.models else 0.0 for m in models.tolist()]
    calls.emit()
    # Leaving one simulation out changes its model's count by one, so with ``corr`` that model's probability
    # differs from a genuine tie only by rounding; np.argmax would then resolve every tie against the true
    # model (0 % accuracy at tol = 1). Treat near-equal probabilities as ties and break them at random.
    best = probs.max(axis=1, keepdims=True)
    tied = probs >= best - 1e-9 * np.maximum(best, 1.0)
    estimated = models[[rng.choice(np.flatnonzero(t)) for t in tied]]
    true = index[rows]
    return CVPostprResult(models.tolist(), true, estimated, probs, rows,
                          confusion_matrix(true, estimated, labels=models.tolist()), method, float(tol), seed,
                          stat_names, dropped)


def prediction_error(estimate, true, ddof: int = 1) -> np.ndarray:
    """Prediction error per parameter: ``Σ(θ̂ − θ)² / (n · var(θ))``, 0 perfect, 1 no better than the mean.

    ``ddof=1`` (default) is R's ``abc`` definition (``var`` over n − 1, as in ``summary(cv4abc(...))``);
    ``ddof=0`` gives ``Σ(θ̂ − θ)² / Σ(θ − θ̄)²``, the share of the variance left unexplained (1 − R²); R's
    value is that one times (n − 1)/n.

    Parameters
    ----------
    estimate, true : array_like, shape (n,) or (n, p)
    ddof : 1 (R) or 0 (sum-of-squares ratio).

    Returns
    -------
    ndarray, shape (p,)
    """
    if ddof not in (0, 1):
        raise ValueError(f"ddof expected 1 (R's definition) or 0 (Σ/Σ); got {ddof!r}")
    est = np.asarray(estimate, dtype=np.float64)
    tr = np.asarray(true, dtype=np.float64)
    est, tr = (est[:, None], tr[:, None]) if est.ndim == 1 else (est, tr)
    if est.shape != tr.shape:
        raise ValueError(f"estimate expected the shape of true {tr.shape}; got {est.shape}")
    n = tr.shape[0]
    return np.sum((est - tr) ** 2, axis=0) / (n * np.var(tr, axis=0, ddof=ddof))


@dataclass
class CVABCResult:
    """Leave-one-out cross-validation of parameter inference (R: ``cv4abc``).

    Attributes
    ----------
    param_names : list
    true, estimated : ndarray, shape (nval, params)
    cv_rows : ndarray of int
    prediction_error : ndarray, shape (params,) — see :func:`prediction_error`
    method, tol, statistic, seed
    stat_names : list — the statistics used; dropped : list — constant statistics left out (drop_constant)
    """

    param_names: list
    true: np.ndarray
    estimated: np.ndarray
    cv_rows: np.ndarray
    prediction_error: np.ndarray
    method: str
    tol: float
    statistic: str
    seed: object = None
    stat_names: list = field(default_factory=list)
    dropped: list = field(default_factory=list)

    def summary(self) -> str:
        """Prediction error per parameter, and the statistics used and dropped."""
        lines = [f"cv4abc: {self.method}, tol {self.tol:g}, {len(self.true)} pseudo-observed data sets, "
                 f"posterior {self.statistic} as estimate"]
        lines += [f"prediction error {name}: {err:.4f}" for name, err in zip(self.param_names, self.prediction_error)]
        lines.append(f"statistics ({len(self.stat_names)}): {', '.join(self.stat_names)}")
        if self.dropped:
            lines.append(f"dropped as constant ({len(self.dropped)}): {', '.join(self.dropped)}")
        return "\n".join(lines)


def cv4abc(param, sumstat, nval, tol, method="rejection", statistic="median", seed=None, hcorr=True,
           transf="none", logit_bounds=None, param_names=None, nan_policy="raise", stat_names=None,
           drop_constant=False) -> CVABCResult:
    """Prediction error of ABC parameter estimates by leave-one-out cross-validation (R: ``cv4abc``).

    ``nval`` simulations are drawn without replacement from the whole table; each in turn is the observed
    data, :func:`abc` runs on the others, and its posterior ``statistic`` ("median", R's default, or
    "mean"; weighted for loclinear) is the estimate. Rows with a NaN parameter are never drawn as
    pseudo-observed data (their truth is unknown).

    ``param`` may name parameters of a Dataset given as ``sumstat`` (as in :func:`abc`); ``stat_names``,
    ``drop_constant`` and the once-per-run warnings are as in :func:`cv4postpr`.
    """
    s, names = _statistics_of(sumstat, stat_names)
    stat_names = _names(names, s.shape[1], "stat")
    theta, param_names = _param_of(param, sumstat, param_names)
    if theta.shape[0] != s.shape[0]:
        raise ValueError(f"param expected one row per simulation ({s.shape[0]}); got shape {theta.shape}")
    good = _good_rows(s, nan_policy)
    s, _, stat_names, dropped = _drop_constant(s, None, good, stat_names, drop_constant, "cv4abc")
    candidates = np.flatnonzero(good & np.all(np.isfinite(theta), axis=1))
    nval = int(nval)
    if nval < 2 or nval > candidates.size:
        raise ValueError(f"nval expected 2..{candidates.size}; got {nval}")
    rng = np.random.default_rng(seed)
    rows = rng.choice(candidates, size=nval, replace=False)
    est = np.empty((nval, theta.shape[1]))
    keep = np.ones(s.shape[0], dtype=bool)
    calls = _CrossValidationWarnings("cv4abc")
    for r, row in enumerate(rows):
        keep[row] = False
        res = calls.call(abc, s[row], theta[keep], s[keep], tol, method=method, hcorr=hcorr, transf=transf,
                         logit_bounds=logit_bounds, nan_policy=nan_policy, stat_names=stat_names,
                         drop_constant=drop_constant)
        keep[row] = True
        est[r] = res.estimate(statistic)
    calls.emit()
    true = theta[rows]
    return CVABCResult(_names(param_names, theta.shape[1], "param"), true, est, rows,
                       prediction_error(est, true), method, float(tol), statistic, seed, stat_names, dropped)


# ----------------------------------------------------------------------------------------------
# Goodness of fit
# ----------------------------------------------------------------------------------------------

@dataclass
class GfitResult:
    """Goodness-of-fit test (R: ``gfit``): observed statistic, null sample and p-value."""

    dist_obs: float
    dist_sim: np.ndarray
    tol: float
    seed: object = None

    @property
    def pvalue(self) -> float:
        """Share of pseudo-observed data sets at least as far from their accepted simulations as the data."""
        return float(np.mean(self.dist_sim >= self.dist_obs))


def gfit(target, sumstat, nb_replicate, tol=0.01, statistic: Callable = np.mean, seed=None,
         distances_used="accepted", nan_policy="raise") -> GfitResult:
    """Goodness of fit of a model to the observed statistics (R: ``gfit``).

    The test statistic is ``statistic`` (default mean) of the distances between the target and the
    ``ceil(n·tol)`` accepted simulations. Its null distribution comes from ``nb_replicate`` simulations of the
    same model used as pseudo-observed data (each left out of the reference table). A small p-value means
    the observed data lie farther from the simulations than simulated data usually do: the model fits badly.
    ``distances_used="all"`` averages all distances instead (what R 2.2's code does).
    """
    s = _as_table(sumstat)
    t = _check_target(target, s, None)
    tol = _check_tol(tol)
    good = _good_rows(s, nan_policy)
    if distances_used not in ("accepted", "all"):
        raise ValueError(f"distances_used expected 'accepted' or 'all'; got {distances_used!r}")

    def gof(obs, table, good_rows):
        dist, _, _ = distances(obs, table, good_rows)
        if distances_used == "all":
            return float(statistic(dist[good_rows]))
        accepted, _ = accept(dist, tol)
        return float(statistic(dist[accepted]))

    dist_obs = gof(t, s, good)
    candidates = np.flatnonzero(good)
    nb = int(nb_replicate)
    if nb < 1 or nb > candidates.size:
        raise ValueError(f"nb_replicate expected 1..{candidates.size}; got {nb_replicate}")
    rng = np.random.default_rng(seed)
    rows = rng.choice(candidates, size=nb, replace=False)
    keep = np.ones(s.shape[0], dtype=bool)
    sims = np.empty(nb)
    for r, row in enumerate(rows):
        keep[row] = False
        sims[r] = gof(s[row], s[keep], good[keep])
        keep[row] = True
    return GfitResult(dist_obs, sims, tol, seed)
