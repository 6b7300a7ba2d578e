"""Calibration of classifier probabilities: expected calibration error, reliability diagrams, temperature scaling.

A classifier is *calibrated* when its confidence can be taken at face value: among all predictions made with
confidence 0.8, about 80 % are right. Networks trained with cross-entropy are often over-confident, and a
network trained on simulations and applied to real data can be even more so. Guo et al. (2017, "On
Calibration of Modern Neural Networks") measure this with the expected calibration error and repair it with
a single scalar, the temperature.

Notation (used in every docstring below): N examples, C classes, ``probs`` of shape (N, C) with rows summing
to 1, integer ``labels`` of shape (N,) in ``0..C-1``. For each example the *confidence* is
``conf_i = max_c p_ic`` and the *prediction* ``ŷ_i = argmax_c p_ic``.

Binary problems may be given in the one-column form: ``probs`` of shape (N,) holding ``P(class 1)``, which is
read as the two-column array ``[1 - p, p]`` (and one-column logits ``z`` as ``[0, z]``, so that
``softmax([0, z]) = [1 - σ(z), σ(z)]``).

Pure NumPy (matplotlib only for the figure); nothing here depends on the rest of minidl.
Tests: ``tests/minidl/test_calibration.py``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "TemperatureScaling",
    "expected_calibration_error",
    "negative_log_likelihood",
    "reliability_bins",
    "reliability_diagram",
    "softmax",
]

# Probabilities are clipped to [_EPS, 1] before taking logs, so that log(0) never appears.
_EPS = 1e-12


# --------------------------------------------------------------------------------------------- validation


def _as_two_column(x: np.ndarray, *, logits: bool) -> np.ndarray:
    """(N,) binary input -> (N, 2); (N, C) unchanged."""
    if x.ndim == 1:
        if logits:
            return np.stack([np.zeros_like(x), x], axis=1)
        return np.stack([1.0 - x, x], axis=1)
    return x


def _check_labels(labels, n: int, n_classes: int, what: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == n_classes and y.shape[0] == n:
        # One-hot labels are common in Keras code; accept them when they really are one-hot.
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise ValueError(f"labels of shape {y.shape} look one-hot but rows are not one-hot vectors")
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"labels expected shape ({n},) of class indices (or ({n}, {n_classes}) one-hot); "
                         f"got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} entries but {what} has {n} rows; they must match")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"labels must be integer class indices; got non-integer values of dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][:5]
        raise ValueError(f"labels must lie in 0..{n_classes - 1} for {n_classes} classes; got {bad.tolist()}")
    return y


def _check_probs(probs, labels, *, atol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim not in (1, 2):
        raise ValueError(f"probs expected shape (N, C) or (N,) for binary problems; got shape {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("probs is empty; need at least one example")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contains NaN or infinite values")
    if p.min() < -atol or p.max() > 1 + atol:
        raise ValueError(f"probs must lie in [0, 1]; got values in [{p.min():.4g}, {p.max():.4g}] "
                         "(logits? pass them through softmax, or use TemperatureScaling(input='logits'))")
    p = _as_two_column(np.clip(p, 0.0, 1.0), logits=False)
    if p.shape[1] < 2:
        raise ValueError(f"probs expected at least 2 classes; got shape {p.shape}")
    row_sums = p.sum(axis=1)
    if np.max(np.abs(row_sums - 1.0)) > atol:
        worst = int(np.argmax(np.abs(row_sums - 1.0)))
        raise ValueError(f"rows of probs must sum to 1; row {worst} sums to {row_sums[worst]:.6g}")
    y = _check_labels(labels, p.shape[0], p.shape[1], "probs")
    return p, y


def _check_bins(n_bins) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    return int(n_bins)


# ---------------------------------------------------------------------------------------------- basic maths


def softmax(z, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax, ``softmax(z)_c = exp(z_c − max z) / Σ_k exp(z_k − max z)``."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def negative_log_likelihood(probs, labels) -> float:
    """Mean negative log-likelihood (categorical cross-entropy), ``NLL = −(1/N) Σ_i log p_{i, y_i}``.

    ``probs`` (N, C) or (N,) binary; ``labels`` (N,). Probabilities are clipped at 1e-12 before the log.
    """
    p, y = _check_probs(probs, labels)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))


# ------------------------------------------------------------------------------ expected calibration error


def reliability_bins(probs, labels, n_bins: int = 15) -> dict:
    """Per-bin accuracy and confidence, the numbers behind the ECE and the reliability diagram.

    The confidence axis [0, 1] is cut into ``M = n_bins`` equal-width bins ``B_m = ((m−1)/M, m/M]``
    (a confidence of exactly 0, only possible with C = 1, goes to the first bin). For bin m with
    ``n_m = |B_m|`` examples::

        acc(B_m)  = (1/n_m) Σ_{i ∈ B_m} 1[ŷ_i = y_i]
        conf(B_m) = (1/n_m) Σ_{i ∈ B_m} conf_i

    Returns a dict of NumPy arrays: ``edges`` (M+1,), ``accuracy`` (M,), ``confidence`` (M,) — NaN for empty
    bins — and ``counts`` (M,) int.
    """
    p, y = _check_probs(probs, labels)
    m = _check_bins(n_bins)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    # Bin index of ((m-1)/M, m/M] is ceil(conf*M) - 1; clip puts conf == 0 into bin 0.
    idx = np.clip(np.ceil(conf * m).astype(np.int64) - 1, 0, m - 1)
    counts = np.bincount(idx, minlength=m)
    sum_conf = np.bincount(idx, weights=conf, minlength=m)
    sum_acc = np.bincount(idx, weights=correct, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, sum_acc / counts, np.nan)
        confidence = np.where(counts > 0, sum_conf / counts, np.nan)
    return {"edges": np.linspace(0.0, 1.0, m + 1), "accuracy": accuracy, "confidence": confidence,
            "counts": counts}


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins (Naeini et al. 2015; Guo et al. 2017).

    ``ECE = Σ_{m=1..M} (n_m / N) · |acc(B_m) − conf(B_m)|``, with the bins, ``acc`` and ``conf`` defined in
    :func:`reliability_bins`; empty bins contribute nothing. 0 means perfectly calibrated (on these bins);
    the largest possible value is 1.

    ``probs``: (N, C) class probabilities (or (N,) ``P(class 1)`` for binary problems); ``labels``: (N,)
    integer classes (one-hot (N, C) also accepted). ``n_bins``: M, 15 as in Guo et al.
    """
    b = reliability_bins(probs, labels, n_bins)
    counts = b["counts"]
    filled = counts > 0
    gaps = np.abs(b["accuracy"][filled] - b["confidence"][filled])
    return float(np.sum(counts[filled] * gaps) / counts.sum())


def reliability_diagram(probs, labels, path=None, n_bins: int = 15, title: str | None = None):
    """Draw a reliability diagram (accuracy against confidence per bin) and optionally save it as PNG.

    ``probs`` is one (N, C) array, or a dict ``{name: probs}`` (e.g. ``{"before": p0, "after": p1}``) to draw
    panels side by side with the same ``labels``. Each panel shows per-bin accuracy as bars, the diagonal
    ``acc = conf`` (perfect calibration), the gap between bar and diagonal in red, the share of examples per
    bin as a line, and the ECE in the panel title (bins as in :func:`reliability_bins`).

    ``path``: where to save the PNG (parent folders created); ``None`` to only return the figure.
    Returns the matplotlib Figure (uses the non-interactive Agg canvas, so no display is needed).
    """
    from matplotlib.figure import Figure  # local import: numbers above must not need matplotlib

    panels = dict(probs) if isinstance(probs, dict) else {"": probs}
    if not panels:
        raise ValueError("probs is an empty dict; give at least one array of probabilities")
    fig = Figure(figsize=(4.2 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, p) in zip(axes, panels.items()):
        b = reliability_bins(p, labels, n_bins)
        ece = expected_calibration_error(p, labels, n_bins)
        edges, width = b["edges"], 1.0 / len(b["counts"])
        filled = b["counts"] > 0
        acc = np.where(filled, b["accuracy"], 0.0)
        conf = np.where(filled, b["confidence"], 0.0)
        ax.bar(edges[:-1], acc, width=width, align="edge", color="tab:blue", edgecolor="black",
               linewidth=0.5, label="accuracy")
        ax.bar(edges[:-1][filled], (conf - acc)[filled], bottom=acc[filled], width=width, align="edge",
               color="tab:red", alpha=0.35, edgecolor="tab:red", linewidth=0.5, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        share = b["counts"] / b["counts"].sum()
        ax.plot(edges[:-1] + width / 2, share, "o-", color="tab:gray", markersize=3, linewidth=1,
                label="share of examples")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name + ': ' if name else ''}ECE = {ece:.3f}")
        ax.legend(loc="upper left", fontsize=7)
    if title:
        fig.suptitle(title)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


# -------------------------------------------------------------------------------------- temperature scaling


class TemperatureScaling:
    """Temperature scaling (Guo et al. 2017): one scalar ``T > 0`` fitted on held-out validation data.

    Calibrated probabilities are ``q_i = softmax(z_i / T)``; ``T > 1`` softens over-confident predictions,
    ``T < 1`` sharpens under-confident ones. Dividing all logits by the same positive number never changes the
    argmax, so accuracy is unchanged — only the confidence moves.

    Input (``input=`` at construction, used by both ``fit`` and ``transform``):

    - ``"logits"`` (default): pre-softmax scores ``z``, shape (N, C); or (N,) for a binary sigmoid output,
      read as ``[0, z]`` so that ``softmax([0, z]/T) = [1 − σ(z/T), σ(z/T)]``.
    - ``"probs"``: probabilities ``p`` (N, C) (or (N,) ``P(class 1)``), turned into logits with
      ``z = log p`` (clipped at 1e-12). This is exact because softmax is invariant to adding a constant per
      row: ``softmax(log p) = p``, so ``softmax(log p / T) = p^{1/T} / Σ_c p_c^{1/T}``.

    Fitting minimises the validation negative log-likelihood over ``u = log T``::

        NLL(T) = (1/N) Σ_i [ logsumexp_c(z_ic / T) − z_{i, y_i} / T ]

    With ``s = 1/T`` this is convex in ``s`` (its second derivative is the mean variance of ``z_i`` under
    ``softmax(s z_i)``), hence unimodal in ``u``; a golden-section search on ``u ∈ [log T_min, log T_max]``
    finds the minimum, then a few safeguarded Newton steps in ``s`` polish it (no SciPy needed). If the
    minimum sits on a bound (e.g. perfectly separated validation data drive ``T → 0``), a warning says so.

    Attributes after ``fit``: ``temperature_`` (T), ``nll_before_`` (at T = 1), ``nll_after_``, ``n_iter_``.
    Tested in ``tests/minidl/test_calibration.py`` (an over-confident model with logits ×5 gives T ≈ 5).
    """

    def __init__(self, input: str = "logits", t_min: float = 1e-2, t_max: float = 1e2, tol: float = 1e-7):
        if input not in ("logits", "probs"):
            raise ValueError(f"input must be 'logits' or 'probs'; got {input!r}")
        if not (0 < t_min < 1 < t_max):
            raise ValueError(f"need 0 < t_min < 1 < t_max; got t_min={t_min}, t_max={t_max}")
        self.input = input
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.tol = float(tol)
        self.temperature_: float | None = None
        self.nll_before_: float | None = None
        self.nll_after_: float | None = None
        self.n_iter_: int = 0

    # -- inputs ---------------------------------------------------------------------------------------
    def _logits(self, x, n_classes: int | None = None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2):
            raise ValueError(f"TemperatureScaling expected {self.input} of shape (N, C) or (N,) for binary "
                             f"problems; got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.input} is empty; need at least one example")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{self.input} contains NaN or infinite values")
        if self.input == "probs":
            if x.min() < -1e-6 or x.max() > 1 + 1e-6:
                raise ValueError(f"input='probs' expects values in [0, 1]; got [{x.min():.4g}, {x.max():.4g}]"
                                 " (did you mean input='logits'?)")
            z = np.log(np.clip(_as_two_column(np.clip(x, 0.0, 1.0), logits=False), _EPS, 1.0))
        else:
            z = _as_two_column(x, logits=True)
        if z.shape[1] < 2:
            raise ValueError(f"need at least 2 classes; got shape {x.shape}")
        if n_classes is not None and z.shape[1] != n_classes:
            raise ValueError(f"TemperatureScaling was fitted on {n_classes} classes; got {self.input} of shape "
                             f"{x.shape}")
        return z

    @staticmethod
    def _nll(z: np.ndarray, y: np.ndarray, s: float) -> float:
        zs = z * s
        return float(np.mean(_logsumexp(zs) - zs[np.arange(len(y)), y]))

    # -- fitting --------------------------------------------------------------------------------------
    def fit(self, x, labels) -> "TemperatureScaling":
        """Fit T on validation ``x`` (logits or probabilities, see class docstring) and ``labels`` (N,)."""
        z = self._logits(x)
        y = _check_labels(labels, z.shape[0], z.shape[1], self.input)
        f = lambda u: self._nll(z, y, math.exp(-u))  # noqa: E731  (u = log T, s = 1/T = e^{-u})

        # Golden-section search on u; the NLL is unimodal in u because it is convex in s = e^{-u}.
        lo, hi = math.log(self.t_min), math.log(self.t_max)
        g = (math.sqrt(5.0) - 1.0) / 2.0
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        fa, fb = f(a), f(b)
        n_iter = 0
        while hi - lo > self.tol and n_iter < 200:
            n_iter += 1
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = hi - g * (hi - lo)
                fa = f(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + g * (hi - lo)
                fb = f(b)
        u = (lo + hi) / 2.0

        # Newton polish in s: dNLL/ds = mean(E_q[z] − z_y), d²NLL/ds² = mean(Var_q[z]), q = softmax(s z).
        s = math.exp(-u)
        for _ in range(5):
            q = softmax(z * s)
            ez = (q * z).sum(axis=1)
            grad = float(np.mean(ez - z[np.arange(len(y)), y]))
            hess = float(np.mean((q * z * z).sum(axis=1) - ez * ez))
            if hess <= 1e-15:
                break
            s_new = s - grad / hess
            if not (1.0 / self.t_max <= s_new <= 1.0 / self.t_min) or self._nll(z, y, s_new) > self._nll(z, y, s):
                break
            n_iter += 1
            converged = abs(s_new - s) <= 1e-12 * max(1.0, s)
            s = s_new
            if converged:
                break

        t = 1.0 / s
        at_bound = min(abs(math.log(t) - math.log(self.t_min)), abs(math.log(t) - math.log(self.t_max))) < 1e-3
        if at_bound:
            warnings.warn(f"TemperatureScaling: the NLL minimum lies at the search bound T = {t:.4g} "
                          f"(bounds [{self.t_min}, {self.t_max}]); the validation data may be separable or "
                          "too small", RuntimeWarning, stacklevel=2)
        self.temperature_ = t
        self.nll_before_ = self._nll(z, y, 1.0)
        self.nll_after_ = self._nll(z, y, s)
        self.n_iter_ = n_iter
        self.n_classes_ = z.shape[1]
        return self

    def transform(self, x) -> np.ndarray:
        """Calibrated probabilities ``softmax(z / T)``: (N, C), or (N,) ``P(class 1)`` if ``x`` was (N,)."""
        if self.temperature_ is None:
            raise RuntimeError("TemperatureScaling.transform called before fit")
        z = self._logits(x, getattr(self, "n_classes_", None))
        q = softmax(z / self.temperature_)
        return q[:, 1] if np.ndim(x) == 1 else q

    def fit_transform(self, x, labels) -> np.ndarray:
        """``fit(x, labels)`` then ``transform(x)``."""
        return self.fit(x, labels).transform(x)

    # -- persistence (so a model bundle can store the fitted temperature) ------------------------------
    def get_config(self) -> dict:
        """Plain-dict state: input kind, bounds, tolerance and the fitted temperature (None if not fitted)."""
        return {"input": self.input, "t_min": self.t_min, "t_max": self.t_max, "tol": self.tol,
                "temperature": self.temperature_,
                "n_classes": getattr(self, "n_classes_", None)}

    @classmethod
    def from_config(cls, config: dict) -> "TemperatureScaling":
        """Inverse of :meth:`get_config`."""
        obj = cls(input=config["input"], t_min=config["t_min"], t_max=config["t_max"], tol=config["tol"])
        obj.temperature_ = config.get("temperature")
        if config.get("n_classes") is not None:
            obj.n_classes_ = int(config["n_classes"])
        return obj

    def __repr__(self) -> str:
        t = "unfitted" if self.temperature_ is None else f"temperature={self.temperature_:.4g}"
        return f"TemperatureScaling(input={self.input!r}, {t})"
