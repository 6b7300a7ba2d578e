"""Specification of popsim.features.stats: equal to tskit on msprime data, the SFS formulas, neutral expectations."""

import msprime
import numpy as np
import pytest

from popsim.features import stats as S

RTOL = 1e-10  # "equal to tskit": relative error below 1e-10 (absolute floor for values that are ~0)


def close(mine, theirs):
    mine, theirs = np.asarray(mine, float), np.asarray(theirs, float)
    return np.allclose(mine, theirs, rtol=RTOL, atol=1e-14, equal_nan=True)


def two_population_ts(seed, discrete_genome=False, sizes=(6, 9)):
    """A split model GN/BF with migration, small enough to simulate in milliseconds."""
    dem = msprime.Demography()
    dem.add_population(name="GN", initial_size=5_000)
    dem.add_population(name="BF", initial_size=10_000)
    dem.add_population(name="ANC", initial_size=5_000)
    dem.set_symmetric_migration_rate(["GN", "BF"], 1e-4)
    dem.add_population_split(time=2_000, derived=["GN", "BF"], ancestral="ANC")
    ts = msprime.sim_ancestry({"GN": sizes[0], "BF": sizes[1]}, demography=dem, sequence_length=20_000,
                              recombination_rate=1e-8, random_seed=seed)
    return msprime.sim_mutations(ts, rate=5e-8, random_seed=seed + 1000, discrete_genome=discrete_genome,
                                 model=msprime.BinaryMutationModel())


@pytest.fixture(scope="module")
def tree_sequences():
    # Infinite sites and a discrete genome (where recurrent/back mutations can occur) both.
    return [two_population_ts(seed, discrete_genome=bool(seed % 2)) for seed in range(1, 7)]


# ------------------------------------------------------------------------------------------------
# Equality with tskit
# ------------------------------------------------------------------------------------------------

def test_one_population_statistics_equal_tskit_per_bp_and_per_locus(tree_sequences):
    for ts in tree_sequences:
        g, _, pops = S.from_tree_sequence(ts)
        L = ts.sequence_length
        for hap in [None, np.flatnonzero(pops == "GN"), np.flatnonzero(pops == "BF")]:
            sset = ts.samples() if hap is None else hap
            assert close(S.segregating_sites(g, hap, L), ts.segregating_sites(sset))
            assert close(S.segregating_sites(g, hap), ts.segregating_sites(sset, span_normalise=False))
            assert close(S.diversity(g, hap, L), ts.diversity(sset))
            assert close(S.diversity(g, hap), ts.diversity(sset, span_normalise=False))
            assert close(S.tajimas_d(g, hap), ts.Tajimas_D(sset))


def test_two_population_statistics_equal_tskit(tree_sequences):
    for ts in tree_sequences:
        g, _, pops = S.from_tree_sequence(ts)
        a, b = np.flatnonzero(pops == "GN"), np.flatnonzero(pops == "BF")
        L = ts.sequence_length
        assert close(S.divergence(g, a, b, L), ts.divergence([a, b]))
        assert close(S.divergence(g, a, b), ts.divergence([a, b], span_normalise=False))
        assert close(S.fst_tskit(g, a, b), ts.Fst([a, b]))
        # Hudson's Fst and net divergence from tskit's diversity and divergence.
        pi_a, pi_b, dxy = ts.diversity(a), ts.diversity(b), ts.divergence([a, b])
        assert close(S.fst_hudson(g, a, b), 1 - (pi_a + pi_b) / 2 / dxy)
        assert close(S.net_divergence(g, a, b, L), dxy - (pi_a + pi_b) / 2)


def test_sfs_equals_tskit_allele_frequency_spectrum_folded_and_unfolded(tree_sequences):
    for ts in tree_sequences:
        g, _, pops = S.from_tree_sequence(ts)
        for hap in [None, np.flatnonzero(pops == "GN"), np.flatnonzero(pops == "BF")]:
            sset = [ts.samples() if hap is None else hap]
            for polarised in (True, False):
                theirs = ts.allele_frequency_spectrum(sset, polarised=polarised, span_normalise=False)
                assert close(S.sfs(g, hap, folded=not polarised), theirs)
                theirs_bp = ts.allele_frequency_spectrum(sset, polarised=polarised)  # tskit default: per bp
                assert close(S.sfs(g, hap, folded=not polarised, sequence_length=ts.sequence_length), theirs_bp)


def test_compute_statistics_table_columns_equal_tskit(tree_sequences):
    ts = tree_sequences[0]
    g, _, pops = S.from_tree_sequence(ts)
    a, b = np.flatnonzero(pops == "GN"), np.flatnonzero(pops == "BF")
    d = S.compute_statistics(g, ts.sequence_length, pops)
    expected = {
        "S": ts.segregating_sites(), "pi": ts.diversity(), "tajimas_d": ts.Tajimas_D(),
        "S_GN": ts.segregating_sites(a), "S_BF": ts.segregating_sites(b),
        "pi_GN": ts.diversity(a), "pi_BF": ts.diversity(b),
        "tajimas_d_GN": ts.Tajimas_D(a), "tajimas_d_BF": ts.Tajimas_D(b),
        "dxy_GN_BF": ts.divergence([a, b]), "fst_tskit_GN_BF": ts.Fst([a, b]),
    }
    worst = max(abs(d[k] - v) / max(abs(v), 1e-300) for k, v in expected.items())
    assert worst < RTOL, f"largest relative deviation from tskit {worst:.2e}"


def test_t1_preset_gives_the_eight_task_statistics_in_order(tree_sequences):
    ts = tree_sequences[0]
    g, _, pops = S.from_tree_sequence(ts)
    table = S.statistics_table([g, g[:10]], ts.sequence_length, pops, statistics="t1")
    assert table.names == ["fst_tskit_GN_BF", "dxy_GN_BF", "S_GN", "S_BF",
                           "pi_GN", "pi_BF", "tajimas_d_GN", "tajimas_d_BF"]
    assert table.values.shape == (2, 8)
    assert close(table["pi_GN"][0], ts.diversity(np.flatnonzero(pops == "GN")))


# ------------------------------------------------------------------------------------------------
# θ_H and Fay & Wu's H against the formulas on tskit's polarised SFS
# ------------------------------------------------------------------------------------------------

def test_theta_h_and_fay_wu_h_follow_the_polarised_sfs_formulas(tree_sequences):
    for ts in tree_sequences:
        g, _, _ = S.from_tree_sequence(ts)
        n = g.shape[1]
        xi = ts.allele_frequency_spectrum(polarised=True, span_normalise=False)
        i = np.arange(1, n)
        theta_h = np.sum(2 * i**2 * xi[1:n]) / (n * (n - 1))       # Fay & Wu (2000)
        theta_pi = np.sum(2 * i * (n - i) * xi[1:n]) / (n * (n - 1))  # Tajima's π from the SFS
        assert close(S.theta_h(g), theta_h)
        assert close(S.fay_wu_h(g), theta_pi - theta_h)
        assert close(S.theta_h(g, sequence_length=ts.sequence_length), theta_h / ts.sequence_length)
        a1 = np.sum(1 / i)
        assert close(S.watterson_theta(g), ts.segregating_sites(span_normalise=False) / a1)


def test_neutral_expectations_pi_theta_h_equal_theta_and_h_is_zero():
    # Standard neutral model: E[π] = E[θ_H] = E[θ_W] = θ = 4·N·μ·L and E[H] = 0 (per locus).
    N, L, mu, reps = 10_000, 1_000, 1.25e-7, 3000
    theta = 4 * N * mu * L  # = 5
    values = []
    mutation_seeds = np.random.default_rng(7).integers(1, 2**31, size=reps)
    for ts, seed in zip(msprime.sim_ancestry(5, population_size=N, sequence_length=L, num_replicates=reps,
                                             random_seed=42), mutation_seeds):
        mts = msprime.sim_mutations(ts, rate=mu, random_seed=int(seed), discrete_genome=False)
        g = mts.genotype_matrix()
        values.append((S.diversity(g), S.theta_h(g), S.fay_wu_h(g), S.watterson_theta(g)))
    values = np.array(values)
    mean, se = values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(reps)
    for name, m, s, expected in zip(["pi", "theta_h", "H", "theta_w"], mean, se, [theta, theta, 0.0, theta]):
        assert abs(m - expected) < 4 * s, f"E[{name}] = {m:.3f} ± {s:.3f}, expected {expected}"


# ------------------------------------------------------------------------------------------------
# Hand-computed toy cases
# ------------------------------------------------------------------------------------------------

TOY = np.array([  # 4 sites × 4 haplotypes
    [1, 0, 0, 0],   # singleton
    [1, 1, 0, 0],   # doubleton
    [1, 1, 1, 1],   # fixed derived: not segregating
    [0, 1, 1, 1],   # derived at frequency 3
], dtype=np.int8)


def test_toy_matrix_by_hand():
    # π per site = 2x(n−x)/(n(n−1)) with n = 4: 6/12, 8/12, 0, 6/12 → 20/12.
    assert S.diversity(TOY) == pytest.approx(20 / 12)
    assert S.segregating_sites(TOY) == 3
    assert S.segregating_sites(TOY, sequence_length=100) == pytest.approx(0.03)
    assert S.watterson_theta(TOY) == pytest.approx(3 / (1 + 1 / 2 + 1 / 3))
    assert list(S.sfs(TOY)) == [0, 1, 1, 1, 1]
    assert list(S.sfs(TOY, folded=True)) == [1, 2, 1, 0, 0]
    # θ_H = Σ 2 i² ξ_i / (n(n−1)) = 2(1 + 4 + 9)/12.
    assert S.theta_h(TOY) == pytest.approx(28 / 12)
    assert S.fay_wu_h(TOY) == pytest.approx(20 / 12 - 28 / 12)
    # Haplotypes (columns): 1110, 0111, 0011, 0011 → 3 distinct, counts 1,1,2.
    assert S.haplotype_count(TOY) == 3
    assert S.haplotype_diversity(TOY) == pytest.approx(4 / 3 * (1 - (1 + 1 + 4) / 16))


def test_toy_two_populations_by_hand():
    a, b = [0, 1], [2, 3]
    # Between-set pairs that differ, per site: 2/4, 4/4, 0/4, 2/4 → dxy = 2.
    # Within a (haplotypes 0, 1) the pair differs at sites 1 and 4 → π_a = 2; b = (2, 3) never differs.
    assert S.divergence(TOY, a, b) == pytest.approx(2.0)
    pi_a, pi_b = S.diversity(TOY, a), S.diversity(TOY, b)
    assert (pi_a, pi_b) == (pytest.approx(2.0), pytest.approx(0.0))
    assert S.fst_hudson(TOY, a, b) == pytest.approx(1 - 1.0 / 2.0)
    assert S.fst_tskit(TOY, a, b) == pytest.approx(1 - 2 * 2.0 / (2.0 + 4.0 + 0.0))
    assert S.net_divergence(TOY, a, b) == pytest.approx(2.0 - 1.0)


def test_missing_calls_use_the_called_haplotypes_of_each_site():
    g = np.array([[1, 0, -1, 0],     # 3 calls, x = 1 → π = 2·1·2/6
                  [1, -1, -1, -1],   # 1 call → contributes nothing
                  [1, 1, 0, 0]], dtype=np.int8)
    assert S.diversity(g) == pytest.approx(4 / 6 + 8 / 12)
    assert S.segregating_sites(g) == 2
    assert S.watterson_theta(g) == pytest.approx(1 / 1.5 + 1 / (1 + 1 / 2 + 1 / 3))
    # SFS and haplotypes only use complete sites (here the third).
    assert list(S.sfs(g)) == [0, 0, 1, 0, 0]
    assert S.haplotype_count(g) == 2


def test_haplotype_count_matches_brute_force(tree_sequences):
    g, _, _ = S.from_tree_sequence(tree_sequences[2])
    sub = g[:12]  # few sites so that some haplotypes coincide
    brute = {tuple(col) for col in sub.T}
    assert S.haplotype_count(sub) == len(brute)


def test_statistics_table_save_and_load_roundtrip(tmp_path, tree_sequences):
    tables = [S.from_tree_sequence(ts) for ts in tree_sequences[:3]]
    t = S.statistics_table([g for g, _, _ in tables], 20_000, tables[0][2], statistics="t1")
    t.save(tmp_path / "stats.npz")
    back = S.StatisticsTable.load(tmp_path / "stats.npz")
    assert back.names == t.names and np.array_equal(back.values, t.values)
    assert back.select(["S_GN", "pi_BF"]).values.shape == (3, 2)


# ------------------------------------------------------------------------------------------------
# Bad inputs give one-sentence errors naming the argument
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (np.zeros(5, dtype=np.int8), "genotypes expected a 2-D matrix"),
    (np.full((2, 3), 2, dtype=np.int8), "genotypes expected 0"),
    (np.zeros((2, 3)) + 0.5, "genotypes expected an integer matrix"),
])
def test_bad_genotypes_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        S.diversity(bad)


def test_bad_population_labels_and_presets_are_rejected():
    with pytest.raises(ValueError, match=r"populations expected one label per haplotype, shape \(4,\)"):
        S.compute_statistics(TOY, 100, populations=["a", "b"])
    with pytest.raises(ValueError, match="statistics expected a preset name"):
        S.compute_statistics(TOY, 100, statistics="t9")
    with pytest.raises(ValueError, match="need populations"):
        S.compute_statistics(TOY, 100, statistics=["pi_pop"])
    with pytest.raises(ValueError, match="sequence_length expected a positive length"):
        S.diversity(TOY, sequence_length=0)


def test_undefined_ratios_are_nan_not_errors_as_in_tskit():
    empty = np.zeros((0, 10), dtype=np.int8)
    values = S.compute_statistics(empty, 1_000.0, np.array(["A"] * 5 + ["B"] * 5), "t1")
    assert np.isnan(values["fst_tskit_A_B"]) and np.isnan(values["tajimas_d_A"])
    assert values["S_A"] == 0.0 and values["dxy_A_B"] == 0.0
    assert np.isnan(S.fst_hudson(empty, [0, 1], [5, 6]))
    assert np.isnan(S.tajimas_d(np.array([[0], [1]], dtype=np.int8)))   # one haplotype
    with pytest.raises(ValueError, match="haplotypes_1 is empty"):
        S.fst_hudson(np.array([[0, 1], [1, 1]]), [], [0, 1])
