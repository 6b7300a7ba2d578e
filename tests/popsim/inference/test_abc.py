"""Specification of popsim.inference.abc: R abc semantics on hand-computed cases, model choice, coverage, errors."""

import math
import warnings

import msprime
import numpy as np
import pytest

from popsim.features import stats as S
from popsim.inference import abc as A
from popsim.inference import plots as abc_plot


# ------------------------------------------------------------------------------------------------
# Hand-computed toy cases
# ------------------------------------------------------------------------------------------------

def test_mad_is_r_mad_with_constant_1_4826():
    # median 3; |x − 3| = 2, 1, 0, 1, 97 → median 1 → 1.4826.
    assert A.mad([1, 2, 3, 4, 100]) == pytest.approx(1.4826)
    assert A.mad(np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])).tolist() == pytest.approx([1.4826, 0.0])


def test_normalise_divides_by_mad_and_leaves_zero_mad_columns_unscaled():
    s = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0], [100.0, 5.0]])
    scaled, target, mads = A.normalise(s, [3.0, 6.0])
    assert mads.tolist() == pytest.approx([1.4826, 0.0])
    assert scaled[:, 0] == pytest.approx(s[:, 0] / 1.4826)
    assert scaled[:, 1] == pytest.approx(s[:, 1])          # MAD 0: unscaled, as R's normalise
    assert target.tolist() == pytest.approx([3.0 / 1.4826, 6.0])


def test_accept_keeps_ceil_n_tol_closest_with_ties_broken_by_row_order():
    dist = np.array([0.5, 0.1, 0.3, 0.3, 0.9, 0.2, 0.3, 0.7, 0.8, 0.6])
    accepted, ds = A.accept(dist, 0.4)                    # ceil(10 · 0.4) = 4
    assert ds == 0.3
    assert accepted.tolist() == [1, 2, 3, 5]              # rows 2, 3, 6 tie at 0.3: first two kept
    # ceil(2.5) = 3: rows 1 (0.1) and 5 (0.2) are closer than the threshold 0.3, the first tie (row 2) fills
    # the last place. (R's rule would keep rows 1, 2, 3 and drop the closer row 5.)
    assert A.accept(dist, 0.25)[0].tolist() == [1, 2, 5]
    assert A.accept(dist, 0.01)[0].tolist() == [1]        # ceil(0.1) = 1
    assert A.accept(dist, 1.0)[0].tolist() == list(range(10))
    assert A.accept(np.arange(2000.0), 0.05)[0].size == 100  # ceiling(2000 * 0.05) in R is 100


def test_epanechnikov_weights():
    assert A.epanechnikov([0.0, 1.0, 2.0], 2.0).tolist() == pytest.approx([1.0, 0.75, 0.0])


def test_local_linear_adjustment_by_hand():
    # One statistic s = 0, 1, 2, 3 (MAD 1.4826), target 0, tol 1: all four accepted, threshold = farthest,
    # weights 1 − (s/3)² = 1, 8/9, 5/9, 0. The first three lie on θ = 1 + 2 s, the fourth (weight 0) does not:
    # the fit is exactly that line, and θ* = θ − 2·(s − 0) = 1, 1, 1, 94.
    s = np.array([0.0, 1.0, 2.0, 3.0])
    theta = np.array([1.0, 3.0, 5.0, 100.0])
    res = A.abc([0.0], theta, s, tol=1.0, method="loclinear", hcorr=False)
    assert res.weights.tolist() == pytest.approx([1.0, 8 / 9, 5 / 9, 0.0])
    assert res.adj_values[:, 0].tolist() == pytest.approx([1.0, 1.0, 1.0, 94.0])
    assert res.mean()[0] == pytest.approx(1.0)             # weighted mean ignores the weight-0 row
    assert res.unadj_values[:, 0].tolist() == theta.tolist()


def test_rejection_posterior_is_the_accepted_parameters_unweighted():
    s = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    theta = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    res = A.abc([1.1], theta, s, tol=0.4)                  # ceil(2) = 2 closest: s = 1 and s = 2
    assert sorted(res.values[:, 0].tolist()) == [20.0, 30.0]
    assert res.estimate("median")[0] == pytest.approx(25.0)  # R's type-7 quantile


def test_heteroscedastic_correction_shrinks_residuals_where_the_target_is_precise():
    # Noise in θ grows with s; at a target with small s the corrected posterior must be narrower.
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, 4000)
    theta = 2 * s + rng.normal(0, 0.05 + 2 * s, 4000)
    plain = A.abc([0.05], theta, s, tol=1.0, method="loclinear", hcorr=False)
    corrected = A.abc([0.05], theta, s, tol=1.0, method="loclinear", hcorr=True)
    assert np.std(corrected.adj_values) < 0.5 * np.std(plain.adj_values)


def test_log_and_logit_transforms_keep_adjusted_values_inside_their_support():
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.01, 1.0, 3000)
    s = np.column_stack([np.log(theta) + rng.normal(0, 0.5, 3000), rng.normal(size=3000)])
    res_log = A.abc([np.log(0.02), 0.0], theta, s, 0.1, method="loclinear", transf="log")
    assert np.all(res_log.adj_values > 0)
    res_logit = A.abc([np.log(0.02), 0.0], theta, s, 0.1, method="loclinear", transf="logit",
                      logit_bounds=(0.0, 1.0))
    assert np.all((res_logit.adj_values > 0) & (res_logit.adj_values < 1))


def test_weighted_quantile_matches_repeated_observations():
    x = np.array([3.0, 1.0, 2.0])
    # Weight 2 on x = 1 behaves like the sample 1, 1, 2, 3.
    w = np.array([1.0, 2.0, 1.0])
    assert A.weighted_quantile(x, [0.25, 0.5, 0.75, 1.0], w).tolist() == [1.0, 1.0, 2.0, 3.0]


def test_prediction_error_is_r_definition():
    true = np.array([1.0, 2.0, 3.0, 4.0])
    est = np.array([1.5, 2.0, 2.5, 4.0])
    # Σ(θ̂ − θ)² = 0.5; n · var(θ) = 4 · 5/3.
    assert A.prediction_error(est, true)[0] == pytest.approx(0.5 / (4 * 5 / 3))
    assert A.prediction_error(np.full(4, true.mean()), true)[0] == pytest.approx(3 / 4)


def test_multinomial_logistic_regression_recovers_coefficients_and_weights_act_as_counts():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 2))
    true_coef = np.array([[0.5, -0.5], [2.0, 0.0], [0.0, -1.5]])   # (intercept + 2 slopes, 2 classes)
    eta = np.column_stack([np.zeros(3000), np.column_stack([np.ones(3000), x]) @ true_coef])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    coef = A.multinomial_logistic_regression(x, y, 3)
    assert np.abs(coef - true_coef).max() < 0.25
    # Weight 2 on a row equals duplicating it.
    w = np.ones(3000)
    w[:100] = 2.0
    dup = A.multinomial_logistic_regression(np.vstack([x, x[:100]]), np.concatenate([y, y[:100]]), 3)
    assert A.multinomial_logistic_regression(x, y, 3, weights=w) == pytest.approx(dup, abs=1e-6)


# ------------------------------------------------------------------------------------------------
# Behaviour on simulated data
# ------------------------------------------------------------------------------------------------

def _normal_model(theta, rng):
    """Toy model: one informative statistic θ + N(0, 1) and one pure-noise statistic."""
    return np.column_stack([theta + rng.normal(0, 1, theta.size), rng.normal(0, 1, theta.size)])


def test_posterior_90_percent_intervals_cover_about_90_percent_of_held_out_truths():
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 10, 8000)
    sumstat = _normal_model(theta, rng)
    truths = rng.uniform(1, 9, 200)                        # away from the prior edges
    observed = _normal_model(truths, rng)
    for method in ("rejection", "loclinear"):
        covered = []
        for t, obs in zip(truths, observed):
            lo, hi = A.abc(obs, theta, sumstat, 0.02, method=method).interval(0.9)
            covered.append(lo[0] <= t <= hi[0])
        assert abs(np.mean(covered) - 0.9) < 0.07, f"{method}: coverage {np.mean(covered):.3f}"


def test_cv4abc_prediction_error_small_for_informative_and_near_one_for_noise_statistics():
    rng = np.random.default_rng(4)
    theta = rng.uniform(0, 10, 3000)
    sumstat = _normal_model(theta, rng)
    informative = A.cv4abc(theta, sumstat, nval=100, tol=0.05, seed=1)
    assert informative.prediction_error[0] < 0.15
    noise = A.cv4abc(theta, sumstat[:, 1], nval=100, tol=0.05, seed=1)
    assert noise.prediction_error[0] > 0.8
    assert informative.estimated.shape == (100, 1)


@pytest.fixture(scope="module")
def constant_vs_bottleneck():
    """100 msprime replicates each of a constant-size population and a strong recent bottleneck."""
    keys = ["S", "pi", "tajimas_d", "theta_h", "n_haplotypes", "haplotype_diversity"]
    rows, labels = [], []
    for model in ("constant", "bottleneck"):
        dem = msprime.Demography()
        dem.add_population(name="pop", initial_size=10_000)
        if model == "bottleneck":
            # Size 200 between 200 and 400 generations ago: 0.5 coalescent units, most lineages merge.
            dem.add_population_parameters_change(time=200, initial_size=200, population="pop")
            dem.add_population_parameters_change(time=400, initial_size=10_000, population="pop")
        for seed in range(1, 101):
            ts = msprime.sim_ancestry(10, demography=dem, sequence_length=50_000, recombination_rate=1e-8,
                                      random_seed=seed + (1000 if model == "bottleneck" else 0))
            ts = msprime.sim_mutations(ts, rate=1e-8, random_seed=seed, discrete_genome=False)
            rows.append(list(S.compute_statistics(ts.genotype_matrix(), 50_000, statistics=keys).values()))
            labels.append(model)
    rows, labels = np.array(rows), np.array(labels)
    # A bottleneck replicate can have no segregating site, hence Tajima's D = NaN: drop such rows up front.
    finite = np.all(np.isfinite(rows), axis=1)
    return rows[finite], labels[finite], keys


def test_model_choice_constant_vs_bottleneck_far_above_chance(constant_vs_bottleneck):
    sumstat, index, _ = constant_vs_bottleneck
    cv = A.cv4postpr(index, sumstat, nval=20, tol=0.1, method="rejection", seed=5)
    assert cv.confusion.sum() == 40 and cv.confusion.shape == (2, 2)
    assert cv.accuracy >= 0.85, f"confusion {cv.confusion.tolist()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all accepted from one model → R's fallback to rejection warns
        cv_mn = A.cv4postpr(index, sumstat, nval=20, tol=0.2, method="mnlogistic", seed=5)
    assert cv_mn.accuracy >= 0.85
    assert cv_mn.mean_probs().shape == (2, 2)


def test_postpr_probabilities_sum_to_one_and_favour_the_true_model(constant_vs_bottleneck):
    sumstat, index, _ = constant_vs_bottleneck
    row = np.flatnonzero(index == "bottleneck")[0]
    others = np.arange(len(index)) != row                # the pseudo-observed set is not in the reference
    res = A.postpr(sumstat[row], index[others], sumstat[others], 0.5, method="mnlogistic")  # both models accepted
    assert res.probs_rejection.sum() == pytest.approx(1.0)
    assert res.probs_mnlogistic.sum() == pytest.approx(1.0)
    assert res.predicted == "bottleneck"
    assert res.models == ["bottleneck", "constant"]       # sorted labels, as R's factor levels


def test_postpr_corrects_for_unequal_numbers_of_simulations():
    # Model b has three times as many simulations but identical statistics: corrected probabilities equal.
    rng = np.random.default_rng(6)
    sumstat = rng.normal(size=(400, 2))
    index = np.array(["a"] * 100 + ["b"] * 300)
    rng.shuffle(index)
    res = A.postpr([0.0, 0.0], index, sumstat, tol=1.0)
    assert res.probs_rejection.tolist() == pytest.approx([0.5, 0.5])
    assert A.postpr([0.0, 0.0], index, sumstat, tol=1.0, corr=False).probs_rejection.tolist() == \
        pytest.approx([0.25, 0.75])


def test_gfit_p_value_is_small_only_for_data_the_model_cannot_produce(constant_vs_bottleneck):
    sumstat, index, _ = constant_vs_bottleneck
    constant = sumstat[index == "constant"]
    fits = A.gfit(constant[0], constant[1:], nb_replicate=50, tol=0.1, seed=1)
    assert fits.pvalue > 0.05
    bottleneck_data = sumstat[index == "bottleneck"][0]
    misfit = A.gfit(bottleneck_data, constant, nb_replicate=50, tol=0.1, seed=1)
    assert misfit.pvalue < 0.05


def test_plots_are_written_as_png(tmp_path, constant_vs_bottleneck):
    sumstat, index, _ = constant_vs_bottleneck
    rng = np.random.default_rng(7)
    theta = rng.uniform(0, 10, 500)
    toy = _normal_model(theta, rng)
    res = A.abc(toy[0], theta[1:], toy[1:], 0.1, method="loclinear")
    cv = A.cv4postpr(index, sumstat, nval=5, tol=0.1, seed=1)
    paths = [
        abc_plot.plot_prior_posterior(res, theta[1:], tmp_path / "posterior.png", true=theta[0]),
        abc_plot.plot_distance_histogram(res, tmp_path / "distances.png"),
        abc_plot.plot_confusion_matrix(cv, tmp_path / "confusion.png"),
        abc_plot.plot_gfit(A.gfit(toy[0], toy[1:], 20, seed=1), tmp_path / "gfit.png"),
        abc_plot.plot_cv_estimates(A.cv4abc(theta, toy, 20, 0.1, seed=1), tmp_path / "cv.png"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------
# Bad inputs: one-sentence errors naming the argument, the value and what was expected
# ------------------------------------------------------------------------------------------------

SUMSTAT = np.random.default_rng(8).normal(size=(50, 3))
PARAM = np.arange(50.0)


@pytest.mark.parametrize("tol", [0, -0.1, 1.5, float("nan"), "a lot"])
def test_tol_outside_zero_one_is_rejected(tol):
    with pytest.raises(ValueError, match=r"tol expected a fraction in \(0, 1\]"):
        A.abc([0, 0, 0], PARAM, SUMSTAT, tol)


def test_statistic_count_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"target expected 3 statistics \(one per column of sumstat\); got 2"):
        A.abc([0, 0], PARAM, SUMSTAT, 0.1)
    with pytest.raises(ValueError, match="target expected 3 statistics"):
        A.postpr([0, 0], PARAM > 25, SUMSTAT, 0.1)


def test_nan_statistics_are_rejected_with_the_row_or_name():
    with pytest.raises(ValueError, match=r"target expected finite statistics; got NaN/inf in \['b'\]"):
        A.abc([0, np.nan, 0], PARAM, SUMSTAT, 0.1, stat_names=["a", "b", "c"])
    bad = SUMSTAT.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"sumstat expected finite statistics; got NaN/inf in 1 simulation\(s\) \(first row 7\)"):
        A.abc([0, 0, 0], PARAM, bad, 0.1)
    # R's behaviour on request: the NaN row is never accepted.
    res = A.abc([0, 0, 0], PARAM, bad, 0.9, nan_policy="omit")
    assert 7 not in res.accepted.tolist()


def test_other_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"param expected one row per simulation \(50\); got shape \(49, 1\)"):
        A.abc([0, 0, 0], PARAM[:49], SUMSTAT, 0.1)
    with pytest.raises(ValueError, match="method expected 'rejection' or 'loclinear'; got 'neuralnet'"):
        A.abc([0, 0, 0], PARAM, SUMSTAT, 0.1, method="neuralnet")
    with pytest.raises(ValueError, match="index expected at least two different models"):
        A.postpr([0, 0, 0], np.zeros(50), SUMSTAT, 0.1)
    with pytest.raises(ValueError, match="nval expected 1..25"):
        A.cv4postpr(PARAM >= 25, SUMSTAT, nval=30, tol=0.1)
    with pytest.raises(ValueError, match="logit_bounds expected"):
        A.abc([0, 0, 0], PARAM, SUMSTAT, 0.5, method="loclinear", transf="logit")
    with pytest.raises(ValueError, match="loclinear with 3 statistics needs at least 5"):
        A.abc([0, 0, 0], PARAM, SUMSTAT, 0.05, method="loclinear")
    assert math.ceil(50 * 0.05) == 3


# ------------------------------------------------------------------------------------------------
# Command line: popsim abc on a statistics file
# ------------------------------------------------------------------------------------------------

def test_cli_abc_prints_model_probabilities_posterior_and_cross_validation(tmp_path, capsys,
                                                                          constant_vs_bottleneck):
    from popsim.cli.main import main as popsim_main

    sumstat, index, keys = constant_vs_bottleneck
    labels = (index == "bottleneck").astype(np.int64)
    theta = np.where(labels == 1, np.arange(len(labels), dtype=float), np.nan)[:, None]  # only in one model
    path = tmp_path / "stats.npz"
    np.savez(path, names=np.array(keys), values=sumstat, labels=labels,
             scenario_names=np.array(["constant", "bottleneck"]), params=theta,
             parameter_names=np.array(["T_bottleneck"]), populations=np.array([]), per_bp=np.array(True))
    status = popsim_main(["abc", "--train", str(path), "--target", str(path), "--target-row", "0",
                          "--statistics", "S,pi,tajimas_d", "--tol", "0.1", "--param", "T_bottleneck",
                          "--cv", "5", "--plots", str(tmp_path / "plots")])
    out = capsys.readouterr().out
    assert status == 0
    assert "P(constant)" in out and "P(bottleneck)" in out
    assert "T_bottleneck: median" in out
    assert "confusion matrix" in out and "prediction error of T_bottleneck" in out
    assert (tmp_path / "plots" / "confusion.png").exists()


def test_cli_select_columns_follows_presets_and_population_names():
    from popsim.cli.analysis import select_columns

    names = ["S", "fst_tskit_GN_BF", "dxy_GN_BF", "S_GN", "S_BF", "pi_GN", "pi_BF", "tajimas_d_GN", "tajimas_d_BF"]
    data = {"names": np.array(names), "values": np.arange(18.0).reshape(2, 9), "populations": np.array(["GN", "BF"])}
    t1 = select_columns(data, "t1")
    assert t1["names"].tolist() == names[1:]
    assert select_columns(data, ["S", "S_pop"])["values"][0].tolist() == [0.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="statistics expected columns present in the file"):
        select_columns(data, ["theta_h"])


def test_cli_stats_on_a_dataset_matches_popsim_stats(tmp_path, capsys):
    from popsim.cli.main import main as popsim_main
    from popsim.sim.dataset import Dataset, simulate_dataset
    from popsim.sim.simulate import SimulationSettings

    simulate_dataset(tmp_path / "ds", ["flagship_split", "flagship_im"], 2, 11,
                     settings=SimulationSettings(keep_genotypes=True, n_loci=2), progress=False)
    out = tmp_path / "stats.npz"
    assert popsim_main(["stats", str(tmp_path / "ds"), "--statistics", "t1", "-o", str(out)]) == 0
    assert "4 replicates × 8 statistics (per bp)" in capsys.readouterr().out
    with np.load(out) as z:
        names, values, labels = z["names"].tolist(), z["values"], z["labels"]
    assert names == ["fst_tskit_A_B", "dxy_A_B", "S_A", "S_B", "pi_A", "pi_B", "tajimas_d_A", "tajimas_d_B"]
    rec = next(Dataset(tmp_path / "ds").iter_replicates())
    # Loci are concatenated, so per-bp values divide by n_loci × sequence_length.
    expected = S.compute_statistics(rec.genotypes, rec.n_loci * rec.sequence_length,
                                    np.asarray(rec.populations), "t1")
    assert values[0] == pytest.approx(list(expected.values()), rel=1e-12)
    assert labels[0] == rec.label


def test_cv4postpr_breaks_ties_at_random_not_against_the_true_model():
    # with tol = 1 every simulation is accepted: all models tie, so the accuracy must be near chance
    rng = np.random.default_rng(3)
    index = np.repeat(["a", "b"], 100)
    sumstat = rng.normal(size=(200, 2))
    cv = A.cv4postpr(index, sumstat, nval=60, tol=1.0, seed=4)
    assert 0.3 < cv.accuracy < 0.7


def test_prediction_error_ddof0_is_the_sum_of_squares_ratio_and_r_times_n_minus_1_over_n():
    rng = np.random.default_rng(3)
    true = rng.normal(size=(25, 2))
    est = true + rng.normal(scale=0.5, size=true.shape)
    ratio = np.sum((est - true) ** 2, axis=0) / np.sum((true - true.mean(axis=0)) ** 2, axis=0)
    np.testing.assert_allclose(A.prediction_error(est, true, ddof=0), ratio, rtol=1e-12)
    np.testing.assert_allclose(A.prediction_error(est, true, ddof=0), A.prediction_error(est, true) * 25 / 24,
                               rtol=1e-12)
    with pytest.raises(ValueError, match="ddof"):
        A.prediction_error(est, true, ddof=2)


def test_nan_parameters_raise_or_are_never_accepted_with_omit():
    rng = np.random.default_rng(0)
    sumstat = rng.normal(size=(200, 2))
    theta = sumstat[:, 0] * 2.0
    theta[:50] = np.nan
    with pytest.raises(ValueError, match="param expected finite values; got NaN/inf in 50 simulation"):
        A.abc([0.0, 0.0], theta, sumstat, 0.1)
    res = A.abc([0.0, 0.0], theta, sumstat, 0.1, nan_policy="omit")
    assert np.isfinite(res.median()).all()
    assert np.all(res.accepted >= 50)  # the rows without a parameter value are never kept
