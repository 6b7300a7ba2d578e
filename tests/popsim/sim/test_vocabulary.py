"""popsim.sim.vocabulary: declarative building blocks checked against hand-written msprime demographies."""

import math

import demes
import msprime
import numpy as np
import pytest

from popsim.sim.priors import Fixed, LogUniform, Uniform
from popsim.sim.vocabulary import Epoch, Migration, Model, Population, Split, symmetric_migration

PARAMS = {"g": 2.0, "N_A": 20_000.0, "f_A": 0.1, "N_B": 5_000.0, "N_ANC": 8_000.0, "T_glacial": 30_000.0,
          "T_split": 200_000.0, "M_recent": 2.0, "M_old": 0.5}


def glacial_model():
    """A expands exponentially since the end of the glaciation from f_A × N_A; migration in two periods."""
    return Model(
        populations=[
            Population("A", [Epoch(size="N_A", end="T_glacial", growth="exponential"), Epoch(factor="f_A")]),
            Population("B", "N_B"),
            Population("ANC", "N_ANC"),
        ],
        migrations=[*symmetric_migration("A", "B", "M_recent", end="T_glacial"),
                    *symmetric_migration("A", "B", "M_old", start="T_glacial")],
        splits=[Split("T_split", ["A", "B"], "ANC")],
        time_units="years", generation_time="g",
    )


def hand_written(p):
    """The same model written directly in msprime, as a researcher would."""
    g = p["g"]
    t_glacial, t_split = p["T_glacial"] / g, p["T_split"] / g
    n_a_old = p["f_A"] * p["N_A"]
    rate = math.log(p["N_A"] / n_a_old) / t_glacial
    d = msprime.Demography()
    d.add_population(name="A", initial_size=p["N_A"], growth_rate=rate)
    d.add_population(name="B", initial_size=p["N_B"])
    d.add_population(name="ANC", initial_size=p["N_ANC"])
    # Recent period. Forward in time, A receives M/(4 N_A) of migrants from B: backwards, lineages move
    # from A to B, i.e. msprime source="A", dest="B". A grows, so 4Nm uses its size at mid-period.
    n_a_mid = p["N_A"] * math.exp(-rate * t_glacial / 2)
    d.set_migration_rate(source="A", dest="B", rate=p["M_recent"] / (4 * n_a_mid))
    d.set_migration_rate(source="B", dest="A", rate=p["M_recent"] / (4 * p["N_B"]))
    d.add_population_parameters_change(time=t_glacial, population="A", initial_size=n_a_old, growth_rate=0)
    d.add_migration_rate_change(time=t_glacial, source="A", dest="B", rate=p["M_old"] / (4 * n_a_old))
    d.add_migration_rate_change(time=t_glacial, source="B", dest="A", rate=p["M_old"] / (4 * p["N_B"]))
    d.add_population_split(time=t_split, derived=["A", "B"], ancestral="ANC")
    return d


def assert_same_demography(ours, theirs, end_time):
    ours_debug, theirs_debug = ours.debug(), theirs.debug()
    assert [e.start_time for e in ours_debug.epochs] == pytest.approx([e.start_time for e in theirs_debug.epochs])
    for a, b in zip(ours_debug.epochs, theirs_debug.epochs):
        np.testing.assert_allclose(a.migration_matrix, b.migration_matrix, rtol=1e-12)
        np.testing.assert_allclose([p.start_size for p in a.populations], [p.start_size for p in b.populations], rtol=1e-12)
        np.testing.assert_allclose([p.growth_rate for p in a.populations], [p.growth_rate for p in b.populations],
                                   rtol=1e-12, atol=1e-300)
    steps = np.linspace(0, end_time, 50)
    np.testing.assert_allclose(ours_debug.population_size_trajectory(steps),
                               theirs_debug.population_size_trajectory(steps), rtol=1e-10)


def test_glacial_model_matches_a_hand_written_msprime_demography():
    ours = glacial_model().build(PARAMS)
    assert_same_demography(ours, hand_written(PARAMS), PARAMS["T_split"] / PARAMS["g"] * 1.5)
    # The convention, spelled out: forward in time A receives migrants from B, so backwards lineages of A
    # move to B: the matrix row of A (msprime's source) and column of B (dest) carry A's rate.
    epoch0 = ours.debug().epochs[0]
    n_a_mid = PARAMS["N_A"] * math.sqrt(PARAMS["f_A"])  # geometric mean of the ends of the growth period
    assert epoch0.migration_matrix[0, 1] * 4 * n_a_mid == pytest.approx(PARAMS["M_recent"])
    assert epoch0.migration_matrix[1, 0] * 4 * PARAMS["N_B"] == pytest.approx(PARAMS["M_recent"])


def test_one_way_migration_direction_and_4Nm_of_the_receiving_population():
    model = Model([Population("A", "N_A"), Population("B", "N_B"), Population("ANC", 1000)],
                  [Migration(source="A", dest="B", M="M")], [Split(500, ["A", "B"], "ANC")])
    d = model.build({"N_A": 1000, "N_B": 4000, "M": 2.0})
    expected = msprime.Demography()
    expected.add_population(name="A", initial_size=1000)
    expected.add_population(name="B", initial_size=4000)
    expected.add_population(name="ANC", initial_size=1000)
    expected.set_migration_rate(source="B", dest="A", rate=2.0 / (4 * 4000))  # backwards: B's lineages go to A
    expected.add_population_split(time=500, derived=["A", "B"], ancestral="ANC")
    assert_same_demography(d, expected, 1000)
    # In demes (forward in time) the migration goes from A into B with m = 4Nm / (4 N_B).
    graph = d.to_demes()
    (migration,) = graph.migrations
    assert (migration.source, migration.dest) == ("A", "B") and migration.rate == pytest.approx(2.0 / 16_000)


def test_scenario_from_model_draws_exports_years_and_draws(tmp_path):
    priors = {"g": Uniform(1, 3), "N_A": LogUniform(1e4, 5e4), "f_A": Uniform(0.05, 0.5), "N_B": LogUniform(1e3, 1e4),
              "N_ANC": LogUniform(1e3, 1e4), "T_glacial": Uniform(10_000, 50_000),
              "T_split": Uniform("T_glacial + 50000", 400_000), "M_recent": Uniform(0.1, 5), "M_old": Fixed(0.5)}
    scenario = glacial_model().scenario("glacial_A", {"A": 3, "B": 3}, priors)
    params = scenario.sample_params(np.random.default_rng(3))
    graph = scenario.to_demes(params)
    meta = graph.metadata["popsim"]
    assert meta["time_units"] == "years" and meta["generation_time_years"] == pytest.approx(params["g"])
    assert meta["times_years"]["T_split"] == pytest.approx(params["T_split"])
    assert graph["A"].start_time == pytest.approx(params["T_split"] / params["g"])  # generations in the graph
    demes.loads(demes.dumps(graph))  # metadata survives a YAML round trip
    # A title with many parameters wraps; log_time draws.
    assert scenario.draw(tmp_path / "lin.png", params).exists()
    assert scenario.draw(tmp_path / "log.png", params, log_time=True).read_bytes()[:4] == b"\x89PNG"
    msprime.sim_ancestry({"A": 2, "B": 2}, demography=scenario.demography(params), sequence_length=100, random_seed=1)


def test_model_validation_names_the_problem():
    with pytest.raises(ValueError, match=r"\['f_A'\] that have no prior"):
        glacial_model().scenario("x", {"A": 2}, {k: Fixed(v) for k, v in PARAMS.items() if k != "f_A"})
    with pytest.raises(ValueError, match="no model value uses"):
        glacial_model().scenario("x", {"A": 2}, {**{k: Fixed(v) for k, v in PARAMS.items()}, "typo": Fixed(1)})
    with pytest.raises(ValueError, match="after the population's split"):
        glacial_model().build({**PARAMS, "T_glacial": 300_000.0})
    with pytest.raises(ValueError, match="generation_time"):
        Model([Population("A", 100)], time_units="years")
    with pytest.raises(ValueError, match="oldest epoch cannot be exponential"):
        Population("A", [Epoch(size=10, growth="exponential")])
    with pytest.raises(ValueError, match="not a population"):
        Model([Population("A", 100)], [Migration("A", "C", 1)])
    with pytest.raises(ValueError, match="exactly one of size= or factor="):
        Epoch(size=1, factor=2)


def test_title_wraps_with_many_parameters():
    scenario = glacial_model().scenario("glacial_A", {"A": 2, "B": 2}, {k: Fixed(v) for k, v in PARAMS.items()})
    lines = scenario.title().splitlines()
    assert lines[0] == "glacial_A" and len(lines) >= 3 and all(len(line) <= 80 for line in lines)
    assert "M_old=0.5" in scenario.title()


def test_nested_splits_with_an_exponential_ancestor_and_migration_into_a_derived_population():
    model = Model([Population("A", 1000), Population("B", 2000), Population("C", 500),
                   Population("AB", [Epoch(size=3000, end=1500, growth="exponential"), Epoch(size=300)]),
                   Population("ANC", 4000)],
                  [Migration("AB", "C", 1.0, start=1000)],  # forward in time C receives from AB, after AB exists
                  [Split(1000, ["A", "B"], "AB"), Split(2000, ["AB", "C"], "ANC")])
    expected = msprime.Demography()
    for name, size in (("A", 1000), ("B", 2000), ("C", 500), ("AB", 3000), ("ANC", 4000)):
        expected.add_population(name=name, initial_size=size)
    expected.add_population_parameters_change(time=1000, population="AB", initial_size=3000,
                                              growth_rate=math.log(3000 / 300) / 500)
    expected.add_migration_rate_change(time=1000, source="C", dest="AB", rate=1.0 / (4 * 500))
    expected.add_population_parameters_change(time=1500, population="AB", initial_size=300, growth_rate=0)
    expected.add_population_split(time=1000, derived=["A", "B"], ancestral="AB")
    expected.add_population_split(time=2000, derived=["AB", "C"], ancestral="ANC")
    expected.sort_events()
    assert_same_demography(model.build({}), expected, 3000)
    with pytest.raises(ValueError, match="before population 'AB' exists"):
        Model(model.populations, [Migration("AB", "C", 1.0)], model.splits).build({})
