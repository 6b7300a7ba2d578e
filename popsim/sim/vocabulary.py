"""A declarative vocabulary for the demographic models researchers write, turned into ``msprime.Demography``.

Instead of ~40 lines of raw msprime in each ``build(params)``, a model is described once with values that are
numbers, parameter names or short expressions of parameters (the syntax of prior bounds: ``"0.1 * N_A"``):

    >>> model = Model(
    ...     populations=[
    ...         # present size N_A; exponential link back to f_A × N_A at the end of the glaciation; constant before
    ...         Population("A", [Epoch(size="N_A", end="T_glacial", growth="exponential"), Epoch(factor="f_A")]),
    ...         Population("B", "N_B"),
    ...         Population("ANC", "N_ANC"),
    ...     ],
    ...     migrations=[
    ...         *symmetric_migration("A", "B", M="M_recent", end="T_glacial"),         # period 1: 0 .. T_glacial
    ...         *symmetric_migration("A", "B", M="M_old", start="T_glacial"),         # period 2: T_glacial .. split
    ...     ],
    ...     splits=[Split("T_split", ["A", "B"], "ANC")],
    ...     time_units="years", generation_time="g",
    ... )
    >>> scenario = model.scenario("glacial_A", {"A": 10, "B": 10}, priors)   # priors name every parameter used

Conventions (all checked when the scenario is made and again for every draw):

* **Times** are before the present. With ``time_units="years"`` every time (epoch ends, migration periods,
  splits) is in years and divided by ``generation_time`` (years per generation, a number or a parameter with
  its own prior) to give msprime's generations. The demes export keeps the years and the generation time in
  its ``metadata["popsim"]``.
* **Epochs** of a population run from its recent end backwards; ``end`` is the older boundary (``None`` for
  the oldest epoch: until the population's split, or forever). An epoch's size is ``size`` (diploid
  individuals) or ``factor`` × the population's *present* size (its first epoch's size).
  ``growth="exponential"`` links the epoch exponentially to the next older one: the size goes from the older
  epoch's size at ``end`` to this epoch's size at its recent end, i.e. msprime growth rate
  ``rate = log(N_a / N_b) / (t_b − t_a)`` with ``N_a`` the size at the recent time ``t_a``.
* **Migration** is given *forward in time*: ``Migration(source, dest, M)`` says that ``dest`` receives
  migrants from ``source``, with ``M = 4 · N_dest · m`` (``m`` the fraction of ``dest`` replaced by migrants
  from ``source`` each generation, ``N_dest`` the receiving population's size in that period). msprime's
  migration matrix is backwards in time (lineages move from ``dest`` to ``source``): the conversion happens
  here, once. Where the receiving population's size changes inside a migration period, ``m`` is computed
  piecewise for each of its epochs (for an exponential epoch with the geometric mean of the sizes at the
  ends of the piece, i.e. the size at its midpoint), so that ``4 N m`` is as given.
* **Splits**: ``Split(time, derived, ancestral)`` — going back in time, the derived populations merge into
  the ancestral one (msprime's ``add_population_split``), which starts at the split time; its epochs' ends
  must be older than the split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

import msprime
import numpy as np

from popsim.sim.priors import _evaluate_expression, _names_in

__all__ = ["Model", "Population", "Epoch", "Migration", "Split", "symmetric_migration"]

Value = Union[float, int, str]  # a number, a parameter name, or an expression of parameters


def _names(value: Value | None) -> set[str]:
    if value is None or not isinstance(value, str):
        return set()
    try:
        return _names_in(value)
    except ValueError as error:
        raise ValueError(f"model value {value!r}: {error}") from None


def _check_value(where: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.integer, np.floating)):
        raise TypeError(f"{where} must be a number, a parameter name or an expression; got {value!r}")
    _names(value)


def _evaluate(where: str, value: Value, params: Mapping[str, float]) -> float:
    if isinstance(value, str):
        try:
            result = _evaluate_expression(value, params)
        except ValueError as error:
            raise ValueError(f"{where} = {value!r}: {str(error).replace('prior bound', 'expression')}") from None
    else:
        result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{where} = {value!r} is {result}; expected a finite number")
    return result


@dataclass(frozen=True)
class Epoch:
    """One period of a population's history (see module docstring).

    end : older boundary (time before present; years or generations as the model says); None = oldest epoch.
    size : diploid individuals; or factor : times the population's present size (exactly one of the two).
    growth : "constant" or "exponential" (exponential link from the next older epoch's size at ``end`` to
        ``size`` at this epoch's recent end).
    """

    size: Value | None = None
    end: Value | None = None
    factor: Value | None = None
    growth: str = "constant"

    def __post_init__(self):
        if (self.size is None) == (self.factor is None):
            raise ValueError(f"Epoch needs exactly one of size= or factor=; got size={self.size!r}, factor={self.factor!r}")
        _check_value("Epoch size", self.size, optional=True)
        _check_value("Epoch factor", self.factor, optional=True)
        _check_value("Epoch end", self.end, optional=True)
        if self.growth not in ("constant", "exponential"):
            raise ValueError(f"Epoch growth must be 'constant' or 'exponential'; got {self.growth!r}")


@dataclass(frozen=True)
class Population:
    """A population: a name and its epochs from the present backwards (a single value = one constant epoch)."""

    name: str
    epochs: Sequence[Epoch] | Value = ()
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Population name must be an identifier (letters, digits, _); got {self.name!r}")
        epochs = self.epochs
        if not isinstance(epochs, (list, tuple)):
            epochs = (Epoch(size=epochs),)
        epochs = tuple(epochs)
        if not epochs or not all(isinstance(e, Epoch) for e in epochs):
            raise ValueError(f"Population {self.name!r} needs one or more Epoch objects (or one size); got {self.epochs!r}")
        if epochs[0].factor is not None:
            raise ValueError(f"Population {self.name!r}: the first (most recent) epoch needs size=, "
                             "since factor= is relative to it")
        for i, epoch in enumerate(epochs[:-1]):
            if epoch.end is None:
                raise ValueError(f"Population {self.name!r} epoch {i} has no end but is not the oldest; "
                                 "every epoch but the last needs end=")
        if epochs[-1].growth == "exponential":
            raise ValueError(f"Population {self.name!r}: the oldest epoch cannot be exponential "
                             "(an exponential epoch links to the next older one)")
        object.__setattr__(self, "epochs", epochs)


@dataclass(frozen=True)
class Migration:
    """Forward in time, ``dest`` receives migrants from ``source``: ``M = 4 N_dest m`` from ``start`` to
    ``end`` (times before present; ``end=None``: until either population's split, or forever)."""

    source: str
    dest: str
    M: Value
    start: Value = 0
    end: Value | None = None

    def __post_init__(self):
        if self.source == self.dest:
            raise ValueError(f"Migration source and dest are both {self.source!r}; expected two populations")
        _check_value("Migration M", self.M)
        _check_value("Migration start", self.start)
        _check_value("Migration end", self.end, optional=True)


def symmetric_migration(a: str, b: str, M: Value, start: Value = 0, end: Value | None = None) -> tuple[Migration, Migration]:
    """Migration both ways with the same 4Nm of each receiving population."""
    return Migration(a, b, M, start, end), Migration(b, a, M, start, end)


@dataclass(frozen=True)
class Split:
    """``derived`` populations split from ``ancestral`` at ``time`` (before present)."""

    time: Value
    derived: Sequence[str]
    ancestral: str

    def __post_init__(self):
        _check_value("Split time", self.time)
        object.__setattr__(self, "derived", tuple(self.derived))
        if not self.derived or self.ancestral in self.derived:
            raise ValueError(f"Split needs derived populations other than the ancestral {self.ancestral!r}; got {self.derived}")


@dataclass(frozen=True)
class Model:
    """A declarative demographic model (see module docstring); ``build(params)`` gives the ``msprime.Demography``."""

    populations: Sequence[Population]
    migrations: Sequence[Migration] = ()
    splits: Sequence[Split] = ()
    time_units: str = "generations"
    generation_time: Value | None = None
    _time_values: tuple = field(init=False, repr=False, default=())

    def __post_init__(self):
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "migrations", tuple(self.migrations))
        object.__setattr__(self, "splits", tuple(self.splits))
        if self.time_units not in ("generations", "years"):
            raise ValueError(f"Model time_units must be 'generations' or 'years'; got {self.time_units!r}")
        if self.time_units == "years":
            if self.generation_time is None:
                raise ValueError("Model time_units='years' needs generation_time= (years per generation: a number "
                                 "or a parameter with a prior)")
            _check_value("Model generation_time", self.generation_time)
        elif self.generation_time is not None:
            raise ValueError("Model generation_time is only used with time_units='years'")
        names = [p.name for p in self.populations]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"Model populations must have distinct names; got {names}")
        for migration in self.migrations:
            for role in ("source", "dest"):
                if getattr(migration, role) not in names:
                    raise ValueError(f"Migration {role} {getattr(migration, role)!r} is not a population; "
                                     f"expected one of {names}")
        ancestors = set()
        for split in self.splits:
            for name in (*split.derived, split.ancestral):
                if name not in names:
                    raise ValueError(f"Split population {name!r} is not a population; expected one of {names}")
            if split.ancestral in ancestors:
                raise ValueError(f"population {split.ancestral!r} is the ancestral population of two splits; "
                                 "expected one split per ancestral population")
            ancestors.add(split.ancestral)
        derived = [d for s in self.splits for d in s.derived]
        if len(set(derived)) != len(derived):
            raise ValueError(f"a population is derived in two splits: {derived}")
        times = [e.end for p in self.populations for e in p.epochs if e.end is not None]
        times += [v for m in self.migrations for v in (m.start, m.end) if v is not None]
        times += [s.time for s in self.splits]
        object.__setattr__(self, "_time_values", tuple(times))

    # -- parameters --------------------------------------------------------------------------------------
    def parameter_names(self) -> set[str]:
        """Every parameter name the model's values refer to."""
        values = [self.generation_time]
        values += [v for p in self.populations for e in p.epochs for v in (e.size, e.factor, e.end)]
        values += [v for m in self.migrations for v in (m.M, m.start, m.end)]
        values += [s.time for s in self.splits]
        return set().union(*(_names(v) for v in values))

    def generations_per_unit(self, params: Mapping[str, float]) -> float:
        if self.time_units == "generations":
            return 1.0
        g = _evaluate("generation_time", self.generation_time, params)
        if not g > 0:
            raise ValueError(f"generation_time = {self.generation_time!r} is {g:g}; expected years per generation > 0")
        return 1.0 / g

    def demes_metadata(self, params: Mapping[str, float]) -> dict:
        """What the demes export keeps of the model's own units: ``{"popsim": {...}}``."""
        out: dict[str, Any] = {"time_units": self.time_units}
        if self.time_units == "years":
            out["generation_time_years"] = _evaluate("generation_time", self.generation_time, params)
            out["times_years"] = {str(v): _evaluate("time", v, params) for v in dict.fromkeys(self._time_values)}
        return {"popsim": out}

    # -- msprime -----------------------------------------------------------------------------------------
    def _time(self, where: str, value: Value, params, scale: float) -> float:
        t = _evaluate(where, value, params)
        if t < 0:
            raise ValueError(f"{where} = {value!r} is {t:g}; expected a time >= 0 before the present")
        return t * scale

    def build(self, params: Mapping[str, float]) -> msprime.Demography:
        scale = self.generations_per_unit(params)
        split_time = {}  # derived population -> time (generations) it merges into its ancestor
        start_time = {p.name: 0.0 for p in self.populations}  # time the population begins (backwards)
        for split in self.splits:
            t = self._time(f"Split({split.ancestral}) time", split.time, params, scale)
            if not t > 0:
                raise ValueError(f"Split({split.ancestral}) time must be > 0; got {t:g} generations")
            for name in split.derived:
                split_time[name] = t
            start_time[split.ancestral] = t
        for split in self.splits:  # a population splitting from an ancestor must start before it ends
            for name in split.derived:
                if start_time[name] >= split_time[name]:
                    raise ValueError(f"population {name!r} starts at {start_time[name]:g} generations but splits "
                                     f"into {split.ancestral!r} at {split_time[name]:g}; time order violated")

        demography = msprime.Demography()
        sizes: dict[str, list[tuple[float, float, float, float]]] = {}  # name -> [(t0, t1, N0, rate)]
        for population in self.populations:
            name, t_begin = population.name, start_time[population.name]
            t_stop = split_time.get(name, math.inf)
            starts, values = [t_begin], []
            for i, epoch in enumerate(population.epochs):
                where = f"population {name!r} epoch {i}"
                if epoch.size is not None:
                    size = _evaluate(f"{where} size", epoch.size, params)
                else:
                    size = _evaluate(f"{where} factor", epoch.factor, params) * values[0]
                if not size > 0:
                    raise ValueError(f"{where} size is {size:g}; expected a positive number of diploid individuals")
                values.append(size)
                end = math.inf if epoch.end is None else self._time(f"{where} end", epoch.end, params, scale)
                if not end > starts[-1]:
                    raise ValueError(f"{where} ends at {end:g} generations, not after it starts ({starts[-1]:g}); "
                                     "epochs run from the present backwards, so their ends must increase")
                if epoch.end is not None and end > t_stop:
                    raise ValueError(f"{where} ends at {end:g} generations, after the population's split into its "
                                     f"ancestor at {t_stop:g}; expected the epoch to end before the split")
                starts.append(end)
            pieces = []
            for i, epoch in enumerate(population.epochs):
                rate = 0.0
                if epoch.growth == "exponential":
                    # N(t_a) = N_a, N(t_b) = N_b with t_a < t_b: rate = log(N_a / N_b) / (t_b - t_a).
                    rate = math.log(values[i] / values[i + 1]) / (starts[i + 1] - starts[i])
                pieces.append((starts[i], starts[i + 1], values[i], rate))
            sizes[name] = pieces
            first = pieces[0]
            demography.add_population(name=name, initial_size=first[2],
                                      growth_rate=first[3] if first[0] == 0 else 0.0,
                                      description=population.description)
            for i, (t0, _, size, rate) in enumerate(pieces):
                if t0 > 0 and (i > 0 or rate != 0):
                    demography.add_population_parameters_change(time=t0, population=name, initial_size=size,
                                                                growth_rate=rate)

        # Migration: (receiving, source) -> list of (t0, t1, m); emitted as one rate per breakpoint.
        pieces_by_pair: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for migration in self.migrations:
            where = f"Migration({migration.source} -> {migration.dest})"
            M = _evaluate(f"{where} M", migration.M, params)
            if M < 0:
                raise ValueError(f"{where} M = {migration.M!r} is {M:g}; expected 4Nm >= 0")
            t0 = self._time(f"{where} start", migration.start, params, scale)
            limit = min(split_time.get(migration.source, math.inf), split_time.get(migration.dest, math.inf))
            t1 = limit if migration.end is None else self._time(f"{where} end", migration.end, params, scale)
            if not t1 > t0:
                raise ValueError(f"{where} ends at {t1:g} generations, not after it starts ({t0:g})")
            if t1 > limit:
                raise ValueError(f"{where} ends at {t1:g} generations, after a split of one of its populations "
                                 f"({limit:g}); expected the migration to end by the split")
            for name in (migration.source, migration.dest):
                if t0 < start_time[name]:
                    raise ValueError(f"{where} starts at {t0:g} generations, before population {name!r} exists "
                                     f"(from {start_time[name]:g})")
            for (e0, e1, size, rate) in sizes[migration.dest]:
                a, b = max(t0, e0), min(t1, e1)
                if not b > a:
                    continue
                # Size of the receiving population over [a, b): constant, or for exponential growth the size at
                # the midpoint of the piece (the geometric mean of its ends).
                n = size if rate == 0 else size * math.exp(-rate * ((a + b) / 2 - e0))
                pieces_by_pair.setdefault((migration.dest, migration.source), []).append((a, b, M / (4 * n)))
        for (receiving, source), pieces in pieces_by_pair.items():
            breakpoints = sorted({t for a, b, _ in pieces for t in (a, b) if math.isfinite(t)})
            for t in breakpoints:
                m = sum(r for a, b, r in pieces if a <= t < b)
                # msprime's matrix is backwards in time: lineages in the receiving population move to the source.
                if t == 0:
                    demography.set_migration_rate(source=receiving, dest=source, rate=m)
                else:
                    demography.add_migration_rate_change(time=t, rate=m, source=receiving, dest=source)
        for split in self.splits:
            demography.add_population_split(time=split_time[split.derived[0]], derived=list(split.derived),
                                            ancestral=split.ancestral)
        demography.sort_events()
        return demography

    def scenario(self, name: str, samples: Mapping[str, int], priors: Mapping, description: str = "",
                 defaults: Mapping[str, Any] | None = None):
        """The ``Scenario`` of this model with these priors (which must name every parameter the model uses)."""
        from popsim.sim.scenarios import Scenario

        used, given = self.parameter_names(), set(priors)
        if used - given:
            raise ValueError(f"model {name!r} uses parameters {sorted(used - given)} that have no prior; "
                             f"priors given: {sorted(given)}")
        if given - used:
            raise ValueError(f"model {name!r} has priors {sorted(given - used)} that no model value uses; "
                             "expected one prior per parameter of the model (a typo?)")
        return Scenario(name, samples, priors, self.build, description, dict(defaults or {}), model=self)
