"""Figures for ABC results, saved as PNG files (matplotlib's Agg canvas; no display needed).

Every function takes a result object from :mod:`popsim.inference.abc`, writes one PNG to ``path`` and returns the path.
They build a ``matplotlib.figure.Figure`` directly instead of using ``pyplot``, so they never change the
global backend of a notebook or a lesson that imports them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_prior_posterior", "plot_distance_histogram", "plot_confusion_matrix", "plot_gfit",
           "plot_cv_estimates"]


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)  # attach the Agg canvas so savefig renders without a GUI
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_prior_posterior(result, prior, path, true=None, bins=30) -> Path:
    """Prior (all simulations) vs posterior (rejection, and regression-adjusted if any), one panel per parameter.

    Parameters
    ----------
    result : ABCResult
    prior : array_like, shape (n,) or (n, params) — parameters of all simulations (the prior sample)
    true : array_like, shape (params,), optional — true value, drawn as a vertical line
    """
    prior = np.asarray(prior, dtype=np.float64)
    prior = prior[:, None] if prior.ndim == 1 else prior
    n_params = prior.shape[1]
    fig = Figure(figsize=(4.5 * n_params, 3.5))
    for j in range(n_params):
        ax = fig.add_subplot(1, n_params, j + 1)
        # Shared bins so the heights of prior and posterior histograms are comparable densities.
        edges = np.histogram_bin_edges(np.concatenate([prior[:, j], result.values[:, j]]), bins=bins)
        ax.hist(prior[:, j], bins=edges, density=True, color="0.8", label="prior")
        ax.hist(result.unadj_values[:, j], bins=edges, density=True, histtype="step", lw=2,
                color="C0", label=f"rejection ({result.unadj_values.shape[0]})")
        if result.adj_values is not None:
            ax.hist(result.adj_values[:, j], bins=edges, weights=result.weights, density=True,
                    histtype="step", lw=2, color="C3", label="local-linear")
        if true is not None:
            ax.axvline(np.atleast_1d(true)[j], color="k", ls="--", label="true")
        ax.set_xlabel(result.param_names[j])
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    fig.suptitle(f"ABC posterior, tol = {result.tol}")
    return _save(fig, path)


def plot_distance_histogram(result, path, bins=50) -> Path:
    """Histogram of all distances to the observed statistics, with the acceptance threshold ``d_(n_acc)``."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    d = result.dist[np.isfinite(result.dist)]
    ax.hist(d, bins=bins, color="0.7")
    ax.axvline(result.threshold, color="C3", lw=2,
               label=f"threshold {result.threshold:.3g} ({len(result.accepted)} accepted)")
    ax.set_xlabel("Euclidean distance on MAD-scaled statistics")
    ax.set_ylabel("simulations")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confusion_matrix(cv, path, title=None) -> Path:
    """Confusion matrix of a :class:`CVPostprResult` (rows: true model, columns: estimated)."""
    cm = np.asarray(cv.confusion)
    k = cm.shape[0]
    fig = Figure(figsize=(1.6 * k + 2, 1.4 * k + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(cm, cmap="Blues", vmin=0)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    labels = [str(m) for m in cv.models]
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("estimated model")
    ax.set_ylabel("true model")
    ax.set_title(title or f"{cv.method}, tol {cv.tol}: accuracy {100 * cv.accuracy:.1f} %")
    return _save(fig, path)


def plot_gfit(result, path, bins=30) -> Path:
    """Null distribution of the goodness-of-fit statistic with the observed value and the p-value."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(result.dist_sim, bins=bins, density=True, color="0.7", label="null (pseudo-observed)")
    ax.axvline(result.dist_obs, color="C0", lw=2, label=f"observed, p = {result.pvalue:.3f}")
    ax.set_xlabel("mean distance to accepted simulations")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_cv_estimates(cv, path) -> Path:
    """Estimated vs true parameter values from :func:`popsim.inference.abc.cv4abc`, with the 1:1 line."""
    n_params = cv.true.shape[1]
    fig = Figure(figsize=(4 * n_params, 3.8))
    for j in range(n_params):
        ax = fig.add_subplot(1, n_params, j + 1)
        ax.scatter(cv.true[:, j], cv.estimated[:, j], s=10)
        lo = min(cv.true[:, j].min(), cv.estimated[:, j].min())
        hi = max(cv.true[:, j].max(), cv.estimated[:, j].max())
        ax.plot([lo, hi], [lo, hi], color="k", lw=1)
        ax.set_xlabel(f"true {cv.param_names[j]}")
        ax.set_ylabel(f"estimated ({cv.statistic})")
        ax.set_title(f"prediction error {cv.prediction_error[j]:.3f}")
    return _save(fig, path)
