"""Inference from summary statistics: the classic approach the networks are compared with.

* :mod:`popsim.inference.abc` — approximate Bayesian computation with the semantics of R's ``abc`` package
  (rejection, local-linear adjustment, model choice, cross-validation, goodness of fit).
* :mod:`popsim.inference.network_outputs` — a network's outputs (probabilities, logits, estimates) as named
  ABC statistics (Perez et al. 2022).
* :mod:`popsim.inference.intervals` — coverage of credible/prediction intervals, ABC credible intervals per
  test target, split-conformal intervals for a regression network.
* :mod:`popsim.inference.plots` — its figures (prior vs posterior, distances, confusion matrices).
"""
