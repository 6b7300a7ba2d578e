"""Inference from summary statistics: the classic approach the networks are compared with.

* :mod:`popsim.inference.abc` — approximate Bayesian computation with the semantics of R's ``abc`` package
  (rejection, local-linear adjustment, model choice, cross-validation, goodness of fit).
* :mod:`popsim.inference.plots` — its figures (prior vs posterior, distances, confusion matrices).
"""
