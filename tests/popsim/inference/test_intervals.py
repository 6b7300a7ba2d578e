"""Interval coverage: the exact split-conformal quantile, its 1 − α coverage on synthetic data, and ABC
credible intervals per test target."""

import math

import numpy as np
import pytest

from popsim.inference import abc as A
from popsim.inference.intervals import (abc_intervals, conformal_interval, conformal_quantile, coverage,
                                        credible_intervals, interval_width)


def test_coverage_counts_truths_inside_closed_intervals():
    assert coverage([0, 0, 0, 0], [1, 1, 1, 1], [0.5, 1.0, 1.5, -0.1]) == 0.5   # the bound 1.0 is inside
    per_param = coverage(np.zeros((2, 2)), np.ones((2, 2)), [[0.5, 2.0], [0.5, 0.5]])
    assert per_param.tolist() == [1.0, 0.5]
    assert interval_width([0, 1], [2, 5]) == 3.0


def test_conformal_quantile_is_the_k_th_smallest_score_with_k_ceil_n_plus_1_times_1_minus_alpha():
    scores = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]  # n = 9, sorted: 0.1 ... 0.9
    # α = 0.2: k = ⌈10 · 0.8⌉ = 8 → 0.8 (the plain 80 % quantile of 9 points would be lower).
    assert conformal_quantile(scores, 0.2) == 0.8
    # α = 0.1: k = ⌈10 · 0.9⌉ = 9 exactly (no rounding up to 10) → the largest score.
    assert conformal_quantile(scores, 0.1) == 0.9
    # α = 0.05: k = ⌈9.5⌉ = 10 > n → no finite threshold is valid.
    assert conformal_quantile(scores, 0.05) == math.inf
    assert conformal_quantile(scores, 0.5) == 0.5                 # k = ⌈5⌉ = 5


def test_conformal_interval_on_a_hand_example():
    lower, upper = conformal_interval(pred_cal=[1, 2, 3, 4], true_cal=[1.5, 1.0, 3.2, 4.0], pred_test=[10.0],
                                      alpha=0.4)
    # Scores 0.5, 1.0, 0.2, 0.0; k = ⌈5 · 0.6⌉ = 3 → sorted (0, 0.2, 0.5, 1.0)[2] = 0.5.
    assert lower.tolist() == [9.5] and upper.tolist() == [10.5]


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_split_conformal_intervals_cover_1_minus_alpha_within_binomial_error(alpha):
    rng = np.random.default_rng(int(alpha * 100))
    n_cal, n_test, repeats = 200, 2_000, 20
    covered = []
    for _ in range(repeats):
        # A biased, heteroscedastic "network": the guarantee holds whatever the predictor.
        theta_cal, theta_test = rng.uniform(0, 10, n_cal), rng.uniform(0, 10, n_test)
        predict = lambda t: 0.9 * t + 0.3 + rng.normal(0, 0.2 + 0.1 * t)  # noqa: E731
        lower, upper = conformal_interval(predict(theta_cal), theta_cal, predict(theta_test), alpha)
        covered.append(coverage(lower, upper, theta_test))
    mean = float(np.mean(covered))
    # Theory: 1 − α ≤ E[coverage] ≤ 1 − α + 1/(n+1); the mean of 40,000 test points (20 calibrations)
    # varies by ≈ sqrt(α(1−α)/(n_cal·repeats)) between calibrations — allow 4 such errors.
    error = 4 * math.sqrt(alpha * (1 - alpha) / (n_cal * repeats))
    assert 1 - alpha - error <= mean <= 1 - alpha + 1 / (n_cal + 1) + error


def test_scaled_conformal_intervals_are_wider_where_the_predicted_scale_is():
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 10, 400)
    sd = 0.1 + 0.2 * theta
    pred = theta + rng.normal(0, sd)
    lower, upper = conformal_interval(pred[:200], theta[:200], pred[200:], 0.1, scale_cal=sd[:200],
                                      scale_test=sd[200:])
    width = upper - lower
    assert np.allclose(width / sd[200:], width[0] / sd[200])              # ŷ ± q̂·σ̂
    assert 0.8 < coverage(lower, upper, theta[200:]) <= 1.0


def test_conformal_interval_per_parameter_columns():
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 1, (300, 2))
    pred = truth + rng.normal(0, [0.1, 1.0], (300, 2))
    lower, upper = conformal_interval(pred[:200], truth[:200], pred[200:], 0.1)
    width = (upper - lower)[0]
    assert width[1] > 5 * width[0]                                          # one threshold per parameter


@pytest.mark.parametrize("call, match", [
    (lambda: conformal_quantile([], 0.1), "at least one finite"),
    (lambda: conformal_quantile([1.0], 1.5), "alpha expected"),
    (lambda: conformal_interval([1, 2], [1], [1], 0.1), "same shape"),
    (lambda: conformal_interval([1, 2], [1, 2], [1], 0.1, scale_cal=[1, 1]), "both or neither"),
    (lambda: conformal_interval([1, 2], [1, 2], [1], 0.1, scale_cal=[1, 0], scale_test=[1]), "positive"),
    (lambda: coverage([1], [0], [0.5]), "lower expected to be <= upper"),
    (lambda: credible_intervals([], 0.9), "at least one"),
])
def test_bad_inputs_raise_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_abc_credible_intervals_are_the_posterior_quantiles_and_cover_about_their_level():
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 10, 4_000)
    sumstat = np.column_stack([theta + rng.normal(0, 1, theta.size)])
    truths = rng.uniform(1, 9, 150)
    targets = (truths + rng.normal(0, 1, truths.size))[:, None]
    lower, upper, median = abc_intervals(targets, theta, sumstat, 0.02, level=0.9)
    assert lower.shape == upper.shape == median.shape == (150, 1)
    first = A.abc(targets[0], theta, sumstat, 0.02)
    assert np.allclose([lower[0, 0], upper[0, 0]], first.quantile([0.05, 0.95])[:, 0])
    assert np.allclose(credible_intervals([first], 0.9)[0], lower[:1])
    # Rejection ABC from the prior: 90 % intervals cover about 90 % of the truths (binomial sd 2.4 %).
    assert 0.82 <= coverage(lower[:, 0], upper[:, 0], truths) <= 0.98
