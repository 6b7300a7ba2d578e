"""Simulation: seeds, biallelic segregating sites, ms -s mode, neutral expectations, identical output whatever
the executor or worker count (process pool, threads, dask.distributed)."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import msprime
import numpy as np
import pytest

from popsim.sim.priors import Fixed
from popsim.sim.scenarios import Scenario, get_scenario
from popsim.sim.simulate import Plan, SimulationSettings, derive_seeds, place_segregating_sites, simulate

FLAGSHIP = ["flagship_split", "flagship_im", "flagship_sc"]
SMALL = SimulationSettings(sequence_length=2_000, n_loci=3)


def neutral(n_individuals=5, size=10_000):
    def build(p):
        d = msprime.Demography()
        d.add_population(name="pop", initial_size=p["N"])
        return d

    return Scenario("neutral", {"pop": n_individuals}, {"N": Fixed(size)}, build)


def fingerprint(sim):
    """Everything a run produces, as bytes: equal fingerprints = byte-identical output."""
    parts = [sim.labels, sim.seeds, sim.params]
    for r in sim.replicates:
        parts += [r.genotypes, r.positions, r.locus, r.sites_per_locus]
    return b"".join(np.ascontiguousarray(p).tobytes() for p in parts)


def test_seeds_are_valid_msprime_seeds_and_depend_only_on_master_seed_and_position():
    plan = Plan(FLAGSHIP, 50, seed=123)
    assert plan.seeds.dtype == np.uint32 and plan.seeds.shape == (150, 4)
    assert plan.seeds.min() >= 1 and len(np.unique(plan.seeds)) == plan.seeds.size
    assert np.array_equal(plan.seeds[4], derive_seeds(123, 1, 1))  # row 4 = scenario 1, replicate 1
    # More replicates keep the first ones: the first 150 rows of a 100-per-scenario plan are the same.
    assert np.array_equal(Plan(FLAGSHIP, 100, seed=123).seeds[:150], plan.seeds)
    assert not np.array_equal(Plan(FLAGSHIP, 50, seed=124).seeds, plan.seeds)


def test_scenarios_are_interleaved_so_any_slice_is_balanced():
    plan = Plan(FLAGSHIP, 4, seed=0)
    assert plan.labels.tolist() == [0, 1, 2] * 4


def test_genotypes_are_biallelic_segregating_int8_with_positions_per_locus():
    sim = simulate(FLAGSHIP, 2, seed=1, settings=SMALL)
    for r in sim.replicates:
        n_sites = r.sites_per_locus.sum()
        assert r.genotypes.dtype == np.int8 and r.genotypes.shape == (n_sites, 48)
        assert set(np.unique(r.genotypes)) <= {0, 1}
        derived = r.genotypes.sum(axis=1)
        assert np.all((derived > 0) & (derived < 48))
        assert np.all((r.positions >= 0) & (r.positions < 2_000))
        for locus in range(3):
            assert np.all(np.diff(r.positions[r.locus == locus]) > 0)
    assert np.all(np.isnan(sim.params[0, 4:])) and not np.isnan(sim.params[1, 4])  # split has no m


def test_discrete_genome_mode_gives_integer_positions_and_biallelic_sites():
    sim = simulate(neutral(), 20, seed=2,
                   settings=SimulationSettings(sequence_length=1_000, mutation_rate=5e-7, recombination_rate=0, n_loci=1, discrete_genome=True))
    positions = np.concatenate([r.positions for r in sim.replicates])
    assert len(positions) > 0 and np.all(positions == np.round(positions))
    assert all(set(np.unique(r.genotypes)) <= {0, 1} for r in sim.replicates)


def test_fixed_segregating_sites_mode_gives_exactly_s_sites_per_locus():
    sim = simulate(FLAGSHIP, 2, seed=3, settings=replace(SMALL, segregating_sites=7))
    assert all(r.sites_per_locus.tolist() == [7, 7, 7] for r in sim.replicates)


def test_fixed_sites_fall_on_branches_in_proportion_to_their_length():
    ts = msprime.sim_ancestry(3, population_size=1_000, sequence_length=100, random_seed=5)
    tree = ts.first()
    placed = place_segregating_sites(ts, 20_000, np.random.default_rng(0))
    nodes = placed.tables.mutations.node
    for node in tree.nodes():
        if node == tree.root:
            continue
        expected = tree.branch_length(node) / tree.total_branch_length
        observed = np.mean(nodes == node)
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / 20_000)


def test_neutral_constant_size_matches_expected_s_and_pi_within_4_standard_errors():
    # theta = 4 N mu L = 4 * 10_000 * 2.5e-8 * 1_000 = 1 per locus; n = 10 haplotypes.
    n, theta = 10, 1.0
    sim = simulate(neutral(), 1000, seed=4,
                   settings=SimulationSettings(sequence_length=1_000, mutation_rate=2.5e-8, recombination_rate=0, n_loci=1))
    segregating = np.array([r.n_sites for r in sim.replicates])
    pi = np.array([(r.genotypes.sum(1) * (n - r.genotypes.sum(1))).sum() / (n * (n - 1) / 2) for r in sim.replicates])
    a1 = sum(1 / i for i in range(1, n))
    for observed, expected in ((segregating, theta * a1), (pi, theta)):
        standard_error = observed.std(ddof=1) / np.sqrt(len(observed))
        assert abs(observed.mean() - expected) < 4 * standard_error, (observed.mean(), expected, standard_error)


def test_same_seed_gives_byte_identical_output_for_1_or_2_workers_and_a_thread_pool():
    reference = fingerprint(simulate(FLAGSHIP, 3, seed=5, settings=SMALL))
    assert fingerprint(simulate(FLAGSHIP, 3, seed=5, settings=SMALL, workers=2, batch_size=2)) == reference
    with ThreadPoolExecutor(2) as executor:
        assert fingerprint(simulate(FLAGSHIP, 3, seed=5, settings=SMALL, executor=executor, batch_size=1)) == reference
    assert fingerprint(simulate(FLAGSHIP, 3, seed=6, settings=SMALL)) != reference


def test_dask_distributed_local_cluster_gives_the_same_output():
    import distributed  # installed by the test extra: never skipped
    reference = fingerprint(simulate(FLAGSHIP, 2, seed=7, settings=SMALL))
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        result = simulate(FLAGSHIP, 2, seed=7, settings=SMALL, executor=client.get_executor())
    assert fingerprint(result) == reference


def test_images_are_computed_in_the_workers_with_the_transform():
    from popsim.features.images import GenotypeImage

    transform = GenotypeImage(n_snps=32, distance_channel=True)
    sim = simulate(FLAGSHIP, 1, seed=8, settings=replace(SMALL, transform=transform))
    assert sim.images().shape == (3, 48, 32, 2)


def test_settings_default_to_the_scenario_defaults():
    sim = simulate("flagship_split", 1, seed=9)
    assert sim.settings.n_loci == get_scenario("flagship_split").defaults["n_loci"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"seed": -1}, "seed must be an integer >= 0; got -1"),
        ({"n": -2}, "n=-2 is not valid"),
        ({"workers": 0}, "workers must be an integer >= 1; got 0"),
        ({"sequence_length": 0}, "sequence_length must be a positive finite number; got 0"),
        ({"mutation_rate": -1e-8}, "mutation_rate must be a finite number >= 0"),
        ({"n_loci": 0}, "n_loci must be an integer >= 1; got 0"),
        ({"segregating_sites": 5, "discrete_genome": True}, "segregating_sites requires discrete_genome=False"),
        ({"scenarios": []}, "scenarios is empty"),
    ],
)
def test_bad_arguments_raise_one_clear_error(kwargs, words):
    arguments = dict(scenarios=["flagship_split"], n=1, seed=0)
    settings = {k: kwargs.pop(k) for k in list(kwargs) if k in SimulationSettings.__dataclass_fields__}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=words):
        simulate(**arguments, settings=SimulationSettings(**settings))


def test_settings_must_be_a_simulation_settings_object():
    with pytest.raises(TypeError, match="settings expected a popsim.sim.simulate.SimulationSettings"):
        simulate("flagship_split", 1, 0, {"n_loci": 2})
    with pytest.raises(ValueError, match="keep_genotypes must be True or False"):
        SimulationSettings(keep_genotypes="yes")


def test_unset_settings_come_from_the_scenarios_and_keep_genotypes_from_where_the_data_go():
    scenario = get_scenario("flagship_split")
    resolved = SimulationSettings(n_loci=2).resolve([scenario], keep_genotypes=False)
    assert resolved.resolved and resolved.n_loci == 2 and resolved.keep_genotypes is False
    assert resolved.sequence_length == scenario.defaults["sequence_length"]
    assert not SimulationSettings().resolved
    with pytest.raises(ValueError, match="describes resolved settings"):
        SimulationSettings().to_dict()
    with pytest.raises(ValueError, match="scenarios' defaults disagree"):
        SimulationSettings().resolve([scenario, get_scenario("mosquito_im")])


def segregating_sites_per_population(record):
    """A module-level statistics function (workers receive it by reference)."""
    populations = np.asarray(record.populations)
    out = {"S": float(record.genotypes.shape[0])}
    for population in np.unique(populations):
        counts = record.genotypes[:, populations == population].sum(axis=1)
        out[f"S_{population}"] = float(np.sum((counts > 0) & (counts < np.sum(populations == population))))
    return out


def test_statistics_are_computed_in_the_workers_from_the_raw_replicate():
    sim = simulate(FLAGSHIP, 2, seed=10, settings=replace(SMALL, statistics=segregating_sites_per_population),
                   workers=2)
    names, values = sim.statistics()
    assert names == ["S", "S_A", "S_B"] and values.shape == (6, 3)
    assert np.array_equal(values[:, 0], [r.n_sites for r in sim.replicates])
    assert sim.settings.to_dict()["statistics"] == "tests.popsim.sim.test_simulate:segregating_sites_per_population"


def test_summary_statistics_hook_uses_popsim_stats_per_bp():
    from popsim.sim.simulate import SummaryStatistics
    from popsim.features.stats import compute_statistics

    sim = simulate(FLAGSHIP, 1, seed=12, settings=replace(SMALL, statistics=SummaryStatistics("t1")))
    names, values = sim.statistics()
    first = sim.replicates[0]
    expected = compute_statistics(first.genotypes, 2_000 * 3, ["A"] * 24 + ["B"] * 24, "t1")
    assert names == list(expected) and np.allclose(values[0], list(expected.values()))
    assert sim.settings.to_dict()["statistics"] == "SummaryStatistics(preset='t1', per_bp=True)"
