"""A network's outputs as ABC statistics (Perez et al. 2022, Mol Ecol Resour).

A network trained to tell models apart (or to estimate parameters) compresses each simulation into a few
numbers — class probabilities, logits, parameter estimates — that are close to sufficient for the task it
was trained on. Those numbers can be used as the summary statistics of ABC: run the network on every
simulation of a reference table *not used to train it* and on the observed data, then

>>> table = network_statistics(model.predict(x_reference), kind="probabilities", names=models)
>>> observed = network_statistics(model.predict(x_observed[None]), kind="probabilities", names=models)
>>> postpr(observed, labels_reference, table, tol=0.05)            # posterior model probabilities
>>> cv4postpr(labels_reference, table, nval=100, tol=0.05)          # their cross-validated confusion matrix
>>> abc(network_statistics(t_obs, "estimates", ["T_split"]), t_reference, network_statistics(
...     t_hat_reference, "estimates", ["T_split"]), tol=0.05, method="loclinear")

What ABC adds to the network's own answer: posterior model probabilities that account for the whole
reference table (and are calibrated by construction when the table is drawn from the prior), Bayes factors,
and credible intervals (:mod:`popsim.inference.intervals`). Statistics and network outputs can be combined
column by column.

Columns
-------
* ``kind="probabilities"``: ``p_<class>``, rows in [0, 1] summing to 1. The last column is dropped by
  default (``drop_redundant``): it equals 1 minus the others, so it adds no information and makes the
  regressions of ``mnlogistic`` and ``loclinear`` collinear.
* ``kind="logits"``: ``logit_<class>``, centred per row (``z − mean(z)``) because softmax is unchanged by
  adding a constant to every logit; the last column is dropped as redundant by default.
* ``kind="estimates"``: ``<name>_hat``, one column per estimated parameter, as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["NETWORK_OUTPUT_KINDS", "NetworkStatistics", "network_statistics"]

NETWORK_OUTPUT_KINDS = ("probabilities", "logits", "estimates")


@dataclass(frozen=True)
class NetworkStatistics:
    """Named network outputs, accepted by ``postpr``/``abc``/``cv4postpr``/``cv4abc`` wherever a
    ``StatisticsTable`` is (they read ``names`` and ``values``; ``inference`` does not import ``features``).

    names : list of str, length k; values : ndarray, shape (n, k), float64; kind : what the outputs are.
    """

    names: list
    values: np.ndarray
    kind: str

    def __len__(self) -> int:
        return self.values.shape[0]


def network_statistics(outputs, kind: str = "probabilities", names: Sequence | None = None,
                       drop_redundant: bool = True, atol: float = 1e-3) -> NetworkStatistics:
    """Network outputs ``(simulations, outputs)`` as named statistics for ABC.

    Parameters
    ----------
    outputs : array_like, shape (n, k) — or (k,) for one data set, (n,) for one estimated parameter
    kind : "probabilities", "logits" or "estimates" (module docstring)
    names : class names (probabilities, logits) or parameter names (estimates), length k; default
        ``0, 1, …`` for classes and ``param[0], …`` for estimates
    drop_redundant : drop the last probability / centred logit (default True)
    atol : tolerance of the probability checks (rows in [0, 1] summing to 1)

    Returns
    -------
    NetworkStatistics — ``names``, ``values`` (n, k) or (n, k − 1), ``kind``
    """
    if kind not in NETWORK_OUTPUT_KINDS:
        raise ValueError(f"kind expected one of {NETWORK_OUTPUT_KINDS}; got {kind!r}")
    x = np.asarray(outputs, dtype=np.float64)
    if x.ndim == 0:
        x = x.reshape(1, 1)
    elif x.ndim == 1:
        # One row of class outputs, or one estimated parameter per simulation.
        x = x[:, None] if kind == "estimates" and (names is None or len(names) == 1) else x[None, :]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"outputs expected a matrix (simulations, outputs); got shape {np.shape(outputs)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"outputs expected finite values; got {int(np.sum(~np.isfinite(x)))} NaN/inf")
    k = x.shape[1]
    if names is None:
        names = [f"param[{j}]" for j in range(k)] if kind == "estimates" else [str(j) for j in range(k)]
    names = [str(n) for n in names]
    if len(names) != k:
        raise ValueError(f"names expected {k} names (one per output column); got {len(names)}")
    if kind == "probabilities":
        if k < 2:
            raise ValueError(f"probabilities expected at least two classes (columns); got {k}")
        if x.min() < -atol or x.max() > 1 + atol or not np.allclose(x.sum(axis=1), 1.0, atol=atol):
            raise ValueError("outputs expected class probabilities (rows in [0, 1] summing to 1); got row sums "
                             f"{x.sum(axis=1).min():.4g}..{x.sum(axis=1).max():.4g} — pass kind='logits' for "
                             "raw network outputs")
        columns = [f"p_{n}" for n in names]
    elif kind == "logits":
        if k < 2:
            raise ValueError(f"logits expected at least two classes (columns); got {k}")
        x = x - x.mean(axis=1, keepdims=True)  # softmax(z) = softmax(z + c): keep the identifiable part
        columns = [f"logit_{n}" for n in names]
    else:
        columns = [f"{n}_hat" for n in names]
    if kind != "estimates" and drop_redundant:
        x, columns = x[:, :-1], columns[:-1]
    return NetworkStatistics(columns, x, kind)
