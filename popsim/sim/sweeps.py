"""Selective sweeps as scenarios: msprime's ``SweepGenicSelection`` (a hard sweep from a new mutation, simulated
as a structured coalescent conditioned on a deterministic-in-law stochastic trajectory) with priors.

    >>> sweep = sweep_scenario("sweep", {"pop": 20}, N=10_000, s=LogUniform(1e-3, 1e-1), age=Uniform(0, 500),
    ...                        position=Fixed(0.5))
    >>> neutral = constant_size...   # the "neutral" class: the same demography without the sweep
    >>> simulate([neutral, sweep], ...)         # labels 0 = neutral, 1 = sweep

Values (``s``, ``age``, ``position``, ``start_frequency``, ``end_frequency``) are numbers or names / expressions
of the scenario's parameters, so each can have a prior:

* ``s``: selection coefficient (msprime's genic model: fitness 1 + s per copy, so 2Ns is the population-scaled
  strength),
* ``age``: generations since the sweep *ended* (the beneficial allele reached ``end_frequency``): 0 = just fixed,
* ``position``: the selected site as a fraction of the locus length (0.5 = the centre),
* ``start_frequency`` / ``end_frequency``: default 1/(2N) (a new mutation) and 1 − 1/(2N) (fixation).

msprime supports sweeps in one population whose size does not change during the sweep; other scenarios are
refused with a message. A ``"centre"`` SNP selection in ``GenotypeImage`` centres the window on the selected
site of each sweep replicate (and on the middle of the locus for scenarios without a sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import msprime

from popsim.sim.vocabulary import Value, _check_value, _evaluate, _names

__all__ = ["Sweep", "sweep_scenario"]


@dataclass(frozen=True)
class Sweep:
    """A hard selective sweep (see module docstring)."""

    s: Value
    age: Value = 0
    position: Value = 0.5
    start_frequency: Value | None = None
    end_frequency: Value | None = None
    steps_per_unit: float = 40.0  # msprime's dt = 1 / (steps_per_unit · N) (its rule of thumb: 1/(40N) or less)

    def __post_init__(self):
        for name in ("s", "age", "position"):
            _check_value(f"Sweep {name}", getattr(self, name))
        for name in ("start_frequency", "end_frequency"):
            _check_value(f"Sweep {name}", getattr(self, name), optional=True)

    def parameter_names(self) -> set[str]:
        return set().union(*(_names(getattr(self, k)) for k in ("s", "age", "position", "start_frequency",
                                                                   "end_frequency")))

    def values(self, params: Mapping[str, float], population_size: float) -> dict[str, float]:
        """The sweep's numbers for one draw, checked."""
        out = {k: _evaluate(f"Sweep {k}", getattr(self, k), params) for k in ("s", "age", "position")}
        out["start_frequency"] = (1 / (2 * population_size) if self.start_frequency is None
                                  else _evaluate("Sweep start_frequency", self.start_frequency, params))
        out["end_frequency"] = (1 - 1 / (2 * population_size) if self.end_frequency is None
                                else _evaluate("Sweep end_frequency", self.end_frequency, params))
        if not out["s"] > 0:
            raise ValueError(f"Sweep s = {self.s!r} is {out['s']:g}; expected a selection coefficient > 0")
        if out["age"] < 0:
            raise ValueError(f"Sweep age = {self.age!r} is {out['age']:g}; expected generations >= 0 since the sweep")
        if not 0 <= out["position"] < 1:
            raise ValueError(f"Sweep position = {self.position!r} is {out['position']:g}; expected a fraction of "
                             "the locus in [0, 1)")
        if not 0 < out["start_frequency"] < out["end_frequency"] < 1:
            raise ValueError(f"Sweep frequencies {out['start_frequency']:g} -> {out['end_frequency']:g}: expected "
                             "0 < start_frequency < end_frequency < 1")
        return out

    def describe(self, params: Mapping[str, float]) -> dict:
        return {"s": str(self.s), "age_generations": str(self.age), "position_fraction": str(self.position),
                "start_frequency": str(self.start_frequency or "1/(2N)"),
                "end_frequency": str(self.end_frequency or "1 - 1/(2N)")}

    @staticmethod
    def population_size(demography: msprime.Demography, time: float) -> float:
        if demography.num_populations != 1:
            raise ValueError(f"a sweep needs a one-population demography (msprime's sweeps are single-population); "
                             f"got {demography.num_populations} populations")
        return float(demography.debug().population_size_trajectory([time])[0, 0])

    def models(self, params: Mapping[str, float], sequence_length: float, demography: msprime.Demography) -> list:
        """msprime ancestry models for one replicate: neutral for ``age`` generations, the sweep, then neutral."""
        age = _evaluate("Sweep age", self.age, params)
        n = self.population_size(demography, max(age, 0.0))
        v = self.values(params, n)
        sweep = msprime.SweepGenicSelection(position=v["position"] * sequence_length, start_frequency=v["start_frequency"],
                                            end_frequency=v["end_frequency"], s=v["s"],
                                            dt=1 / (self.steps_per_unit * n))
        before = [msprime.StandardCoalescent(duration=v["age"])] if v["age"] > 0 else []
        return [*before, sweep, msprime.StandardCoalescent()]

    def position_bp(self, params: Mapping[str, float], sequence_length: float) -> float:
        return _evaluate("Sweep position", self.position, params) * float(sequence_length)


def sweep_scenario(name: str, samples: Mapping[str, int], priors: Mapping, sweep: Sweep,
                   demography: Any = None, N: Value | None = None, description: str = "",
                   defaults: Mapping[str, Any] | None = None):
    """A sweep scenario: ``sweep`` in a one-population demography — ``demography`` (a function params ->
    ``msprime.Demography``, or a ``vocabulary.Model``) or constant size ``N`` (a number or a parameter)."""
    from popsim.sim.scenarios import Scenario
    from popsim.sim.vocabulary import Model, Population

    if (demography is None) == (N is None):
        raise ValueError("sweep_scenario needs exactly one of demography= (function or Model) or N= (constant size)")
    if N is not None:
        demography = Model([Population(next(iter(samples)), N)])
    build = demography.build if isinstance(demography, Model) else demography
    unknown = sweep.parameter_names() - set(priors)
    if unknown:
        raise ValueError(f"sweep scenario {name!r}: the sweep uses parameters {sorted(unknown)} that have no prior")
    scenario = Scenario(name, samples, priors, build, description or f"hard sweep {sweep}", dict(defaults or {}),
                        model=demography if isinstance(demography, Model) else None, sweep=sweep)
    reference = scenario.reference_params()
    sweep.models(reference, 1.0, scenario.demography(reference))  # one population, valid values: checked now
    return scenario
