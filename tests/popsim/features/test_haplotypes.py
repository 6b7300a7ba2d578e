"""Haplotype-structure statistics (popsim.features.haplotypes): Hudson's Snn against a loop written from its
definition, its limits, invariance to the order of haplotypes within a population, per-locus averaging,
missing data, the stats keys ``snn`` / ``dxy_rel`` and the ``default_hap`` preset, and bad inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popsim.features.haplotypes import (distance_profiles, haplotype_statistics, pairwise_differences,
                                        relative_cross_differences, snn)
from popsim.features.stats import PRESETS, compute_statistics, statistics_table


def snn_by_definition(genotypes, pop1, pop2):
    """Hudson (2000): X_j = W_j / T_j over every haplotype j; Snn = mean X_j. Plain loops."""
    hap = list(pop1) + list(pop2)
    home = {h: (0 if h in set(pop1) else 1) for h in hap}
    xs = []
    for j in hap:
        dist = {k: sum(int(genotypes[s, j] != genotypes[s, k]) for s in range(genotypes.shape[0]))
                for k in hap if k != j}
        nearest = [k for k, v in dist.items() if v == min(dist.values())]
        xs.append(sum(home[k] == home[j] for k in nearest) / len(nearest))
    return float(np.mean(xs))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_snn_equals_the_definition_with_ties(sites, n1, n2, seed):
    rng = np.random.default_rng(seed)
    g = (rng.random((sites, n1 + n2)) < 0.4).astype(np.int8)  # few sites: many ties
    order = rng.permutation(n1 + n2)
    pop1, pop2 = order[:n1], order[n1:]
    if n1 + n2 < 2:
        return
    assert snn(g, pop1, pop2) == pytest.approx(snn_by_definition(g, pop1, pop2), abs=1e-12)


def test_pairwise_differences_count_mismatches():
    g = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]])
    d = pairwise_differences(g)
    assert d.tolist() == [[0, 1, 2], [1, 0, 1], [2, 1, 0]]  # haplotypes 0101, 1101, 1001 (by site)


def test_snn_is_one_for_separated_populations_and_near_half_for_one_population():
    rng = np.random.default_rng(1)
    # Fixed differences: every haplotype of population 1 carries 1s where population 2 carries 0s.
    base = (rng.random((30, 1)) < 0.5).astype(np.int8)
    noise = (rng.random((30, 20)) < 0.05).astype(np.int8)
    g = np.hstack([np.repeat(base, 10, axis=1), np.repeat(1 - base, 10, axis=1)]) ^ noise
    assert snn(g, np.arange(10), np.arange(10, 20)) == 1.0
    # One random-mating population split at random into two labels: Snn averages (n_i - 1)/(n - 1) ≈ 0.49.
    panmictic = (rng.random((400, 100)) < 0.3).astype(np.int8)
    assert abs(snn(panmictic, np.arange(50), np.arange(50, 100)) - 49 / 99) < 0.08


def test_statistics_ignore_the_order_of_haplotypes_within_a_population():
    rng = np.random.default_rng(2)
    g = (rng.random((80, 16)) < 0.3).astype(np.int8)
    loci = np.repeat(np.arange(4), 20)
    pop1, pop2 = np.arange(8), np.arange(8, 16)
    before = haplotype_statistics(g, loci, pop1, pop2, names=("A", "B"))
    shuffled = np.concatenate([rng.permutation(8), 8 + rng.permutation(8)])
    after = haplotype_statistics(g[:, shuffled], loci, pop1, pop2, names=("A", "B"))
    assert before == pytest.approx(after, abs=1e-12)


def test_loci_are_compared_separately_and_averaged():
    rng = np.random.default_rng(3)
    g = (rng.random((50, 12)) < 0.4).astype(np.int8)
    loci = np.repeat([0, 1], [20, 30])
    pop1, pop2 = np.arange(6), np.arange(6, 12)
    out = haplotype_statistics(g, loci, pop1, pop2, names=("A", "B"))
    per = [snn(g[loci == k], pop1, pop2) for k in (0, 1)]
    assert out["snn_A_B"] == pytest.approx(np.mean(per)) and out["snn_sd_A_B"] == pytest.approx(np.std(per))
    rel = [relative_cross_differences(g[loci == k], pop1, pop2) for k in (0, 1)]
    assert out["dxy_rel_q50_A_B"] == pytest.approx(np.mean([r[2] for r in rel]))
    assert out["dxy_rel_low_A_B"] == pytest.approx(np.mean([r[5] for r in rel]))
    # One locus (loci=None) is not the average of the two.
    whole = haplotype_statistics(g, None, pop1, pop2, names=("A", "B"))
    assert whole["snn_sd_A_B"] == 0 and whole["snn_A_B"] == pytest.approx(snn(g, pop1, pop2))


def test_relative_differences_are_quantiles_over_the_mean():
    g = np.array([[1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]])  # pop1 = haplotypes 0, 1; pop2 = 2, 3
    # Haplotypes (by site) 110, 000, 010, 001: d(0,2)=1, d(0,3)=3, d(1,2)=1, d(1,3)=1.
    cross = np.array([[1, 3], [1, 1]], dtype=float)
    got = relative_cross_differences(g, [0, 1], [2, 3], quantiles=(0.0, 0.5, 1.0))
    values = cross.ravel() / cross.mean()
    assert got[:3] == pytest.approx(np.quantile(values, [0, 0.5, 1]))
    assert got[3] == 0.0  # no pair closer than a quarter of the mean (1.5 / 4)


def test_missing_calls_leave_the_site_out_and_monomorphic_loci_are_skipped():
    g = np.array([[1, 0, 1, 0], [0, -1, 1, 1], [1, 1, 0, 0]])
    assert pairwise_differences(g).tolist() == pairwise_differences(g[[0, 2]]).tolist()
    loci = np.array([0, 0, 1])
    flat = np.zeros((3, 4), dtype=np.int8)
    out = haplotype_statistics(flat, loci, [0, 1], [2, 3], names=("A", "B"))
    assert all(np.isnan(v) for v in out.values())
    one = haplotype_statistics(np.vstack([flat[:2], g[2:]]), loci, [0, 1], [2, 3], names=("A", "B"))
    assert one["snn_A_B"] == snn(g[2:], [0, 1], [2, 3]) and one["snn_sd_A_B"] == 0


def test_keys_and_preset_in_compute_statistics_and_tables():
    rng = np.random.default_rng(4)
    g = (rng.random((40, 12)) < 0.3).astype(np.int8)
    loci = np.repeat(np.arange(4), 10)
    labels = np.repeat(["A", "B"], 6)
    d = compute_statistics(g, 1e4, labels, ["snn", "dxy_rel"], loci=loci)
    assert list(d) == ["snn_A_B", "snn_sd_A_B", "dxy_rel_q05_A_B", "dxy_rel_q25_A_B", "dxy_rel_q50_A_B",
                       "dxy_rel_q75_A_B", "dxy_rel_q95_A_B", "dxy_rel_low_A_B"]
    assert d == haplotype_statistics(g, loci, np.arange(6), np.arange(6, 12), names=("A", "B"))
    assert PRESETS["default_hap"][: len(PRESETS["default_sfs"])] == PRESETS["default_sfs"]
    full = compute_statistics(g, 1e4, labels, "default_hap", loci=loci)
    assert full["snn_A_B"] == d["snn_A_B"]
    # The site-wise statistics do not depend on loci.
    assert compute_statistics(g, 1e4, labels, "default_sfs", loci=loci) == compute_statistics(g, 1e4, labels, "default_sfs")
    table = statistics_table([g, g[:20]], 1e4, labels, ["snn"], loci=[loci, loci[:20]], warn=False)
    assert table.values[0, 0] == d["snn_A_B"]
    assert table.values[1, 0] == pytest.approx(np.mean([snn(g[loci == k], np.arange(6), np.arange(6, 12)) for k in (0, 1)]))


def test_a_dataset_computes_them_per_locus(tmp_path):
    from popsim.sim.dataset import simulate_dataset
    from popsim.sim.simulate import SimulationSettings

    ds = simulate_dataset(tmp_path / "d", ["flagship_split", "flagship_im"], 2, seed=5,
                          settings=SimulationSettings(keep_genotypes=True), workers=1)
    table = ds.statistics_table(["snn"])
    populations = np.asarray(ds.haplotype_populations)
    a, b = np.flatnonzero(populations == "A"), np.flatnonzero(populations == "B")
    for row, record in zip(table.values, ds.iter_replicates()):
        expected = haplotype_statistics(record.genotypes, record.locus, a, b, names=("A", "B"))
        assert row[0] == pytest.approx(expected["snn_A_B"])


def test_distance_profiles_sort_each_population_block_and_leave_self_last():
    rng = np.random.default_rng(6)
    g = (rng.random((30, 7)) < 0.4).astype(np.int8)
    loci = np.repeat([0, 2], 15)  # locus 1 has no site
    prof = distance_profiles(g, loci, 3, (3, 4))
    assert prof.shape == (21, 7) and prof.dtype == np.float32
    assert not prof[7:14].any()
    for locus in (0, 2):
        d = pairwise_differences(g[loci == locus])
        for i in range(7):
            row = prof[locus * 7 + i]
            others = [j for j in range(7) if j != i]
            own, cross = (range(3), range(3, 7)) if i < 3 else (range(3, 7), range(3))
            block = row[:3] if i < 3 else row[3:]
            expected_own = sorted(d[i, j] for j in own if j != i) + [max(d[i, j] for j in others)]
            assert block.tolist() == expected_own
            assert (row[3:] if i < 3 else row[:3]).tolist() == sorted(d[i, j] for j in cross)


def test_distance_profiles_follow_a_shuffle_within_populations_row_for_row():
    rng = np.random.default_rng(7)
    g = (rng.random((40, 10)) < 0.3).astype(np.int8)
    loci = np.repeat(np.arange(2), 20)
    order = np.concatenate([rng.permutation(4), 4 + rng.permutation(6)])
    before = distance_profiles(g, loci, 2, (4, 6)).reshape(2, 10, 10)
    after = distance_profiles(g[:, order], loci, 2, (4, 6)).reshape(2, 10, 10)
    assert np.array_equal(after, before[:, order])  # rows move with their haplotype, columns stay sorted


@pytest.mark.parametrize("call, message", [
    (lambda: distance_profiles(np.zeros((3, 4)), None, 1, (2, 3)), "summing to the 4"),
    (lambda: distance_profiles(np.zeros((3, 4)), [0, 1, 5], 2, (2, 2)), "indices in 0..1"),
    (lambda: distance_profiles(np.zeros((3, 4)), None, 0, (2, 2)), "positive number of loci"),
    (lambda: snn(np.zeros(5), [0], [1]), "matrix"),
    (lambda: snn(np.zeros((3, 4)), [], [1, 2]), "non-empty"),
    (lambda: pairwise_differences(np.zeros((3, 4)), [0, 7]), "indices"),
    (lambda: haplotype_statistics(np.zeros((3, 4)), [0, 1], [0, 1], [2, 3]), "one locus index per site"),
    (lambda: haplotype_statistics(np.zeros((3, 4)), None, [0], [1]), "3 haplotypes"),
    (lambda: relative_cross_differences(np.zeros((3, 4)), [0, 1], [2, 3], quantiles=(0.5, 0.2)), "increasing"),
])
def test_bad_inputs_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
