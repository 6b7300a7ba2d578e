"""Simulation: the first step of the pipeline.

* :mod:`popsim.sim.priors` — prior distributions of named parameters (uniform, log-uniform, conditional ...).
* :mod:`popsim.sim.scenarios` — a scenario = samples + priors + a recipe ``params -> msprime.Demography``;
  the built-in library, demes import/export, drawings.
* :mod:`popsim.sim.simulate` — seeded, parallel simulation of replicates (``simulate``), the settings object
  that travels with it (``SimulationSettings``).
* :mod:`popsim.sim.dataset` — simulations written to disk in resumable chunks and read back (``Dataset``).
"""
