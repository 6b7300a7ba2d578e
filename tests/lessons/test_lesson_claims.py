"""What the lessons claim, checked with their fixed seeds in quick mode.

Each test runs one lesson (as ``python lessons/NN_name.py --quick``) and asserts a number the lesson's text
states, so a change that silently breaks a lesson's message fails here. One test per claim, named after
its lesson; each is self-contained (lesson 17's claims share one quick run, a module fixture).
"""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl.calibration import expected_calibration_error, negative_log_likelihood
from popsim.inference.intervals import conformal_interval, coverage, interval_width

LESSONS = Path(__file__).resolve().parents[2] / "lessons"


def run_quick(stem, output):
    """Run ``lessons/<stem>.py --quick`` and return its global namespace."""
    saved = sys.argv
    sys.argv = [str(LESSONS / f"{stem}.py"), "--quick", "--output", str(output)]
    try:
        return runpy.run_path(str(LESSONS / f"{stem}.py"), run_name="__main__")
    finally:
        sys.argv = saved


def test_00_digits_network_mlp_reads_test_digits_above_90_percent(tmp_path):
    # The lesson states 96.9 % with seed 2026 and promises "above 90 %" in quick mode.
    ns = run_quick("00_digits_network", tmp_path)
    assert ns["settings"].seed == 2026 and ns["settings"].quick
    assert len(ns["test"]) == 360
    assert ns["test_accuracy"] > 0.90, ns["test_accuracy"]
    text = (LESSONS / "00_digits_network.py").read_text(encoding="utf-8")
    assert "above\n# 90 %" in text or "above 90 %" in text, "the lesson no longer states the tested threshold"


# --- lesson 17: one quick run shared by the claims below (the lesson takes ~15 s in quick mode) ----------------

@pytest.fixture(scope="module")
def lesson17(tmp_path_factory):
    return run_quick("17_network_outputs_and_intervals", tmp_path_factory.mktemp("lesson17"))


def test_17_the_four_sets_are_disjoint_and_abc_on_network_outputs_uses_unseen_simulations(lesson17):
    g = lesson17
    sets = [g["train"], g["val"], g["cal"], g["test"]]
    assert sum(map(len, sets)) == len(np.unique(np.concatenate(sets))) == len(g["dataset"])
    for method, (kind, rows, _) in g["model_choice"].items():
        assert np.intersect1d(rows, g["test"]).size == 0, method            # nothing is fitted on the test set
        if kind.endswith("outputs") and "wrong" not in method:
            assert np.intersect1d(rows, np.concatenate([g["train"], g["val"]])).size == 0, method


def test_17_abc_on_network_outputs_gives_probabilities_summing_to_one_for_every_test_replicate(lesson17):
    g = lesson17
    assert g["features"]["CNN outputs"].names == ["logit_split", "logit_IM"]    # two columns: the third is redundant
    for method in ("ABC on CNN outputs", "ABC on MLP outputs"):
        p = g["posterior"][method]
        assert p.shape == (len(g["test"]), 3)
        assert np.all((p >= 0) & (p <= 1))
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-12)


def test_17_temperature_scaling_keeps_every_predicted_class_and_lowers_the_calibration_nll(lesson17):
    g = lesson17
    for name, scaling in g["temperature"].items():
        before, after = g["classifiers"][f"{name} softmax"], g["classifiers"][f"{name} softmax, temperature-scaled"]
        np.testing.assert_array_equal(before.argmax(axis=1), after.argmax(axis=1))
        assert scaling.nll_after_ <= scaling.nll_before_ + 1e-12, name


def test_17_conformal_intervals_cover_the_test_truths_at_the_nominal_level(lesson17):
    # The text: split-conformal intervals cover at least 1 - alpha on average; on n test replicates the
    # coverage may fall below by binomial error only (3 standard errors; measured in quick mode: 0.983, 0.967, 0.933).
    g = lesson17
    n, truth = len(g["test"]), g["truth_t"]
    for method in ("conformal around network estimate", "conformal, scaled by the estimate",
                   "conformal, scaled by the learned σ̂"):
        for level in g["LEVELS"]:
            lo, hi = g["intervals"][method][level]
            assert coverage(lo, hi, truth) >= level - 3 * np.sqrt(level * (1 - level) / n), (method, level)
    # Cut to the prior's support [4000, 16000], which holds every truth: the cut loses no coverage, only width
    cal, test = g["cal"], g["test"]
    raw_lo, raw_hi = conformal_interval(g["t_hat"][cal], g["t_split"][cal], g["t_hat"][test], alpha=0.05)
    lo, hi = g["intervals"]["conformal around network estimate"][0.95]
    assert np.all((g["BOUNDS"][0] <= lo) & (hi <= g["BOUNDS"][1]))
    assert coverage(lo, hi, truth) == coverage(raw_lo, raw_hi, truth)
    assert interval_width(lo, hi) <= interval_width(raw_lo, raw_hi)


def test_17_abc_credible_intervals_are_nested_across_levels(lesson17):
    g = lesson17
    for method in g["posteriors"]:
        lo80, hi80 = g["intervals"][method][0.8]
        lo95, hi95 = g["intervals"][method][0.95]
        assert np.all(lo95 <= lo80 + 1e-9) and np.all(hi80 <= hi95 + 1e-9), method


def test_17_the_lessons_gaussian_nll_gradient_matches_central_differences(lesson17):
    # The lesson writes its own loss (mean and log sd of T_split); its gradient is checked here in float64.
    loss = lesson17["GaussianNLL"]()
    rng = np.random.default_rng(0)
    y_pred, y_true = rng.normal(size=(7, 2)), rng.normal(size=7)
    weights = rng.uniform(0.5, 2.0, size=7)
    for w in (None, weights):
        analytic = loss.gradient(y_true, y_pred, w)
        numeric = np.zeros_like(y_pred)
        for index in np.ndindex(*y_pred.shape):
            step = np.zeros_like(y_pred)
            step[index] = 1e-6
            numeric[index] = (loss(y_true, y_pred + step, w) - loss(y_true, y_pred - step, w)) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="shape \\(N, 2\\)"):
        loss(y_true, y_pred[:, :1])


def test_14_flagship_temperature_scaling_moves_confidence_never_the_predicted_class(tmp_path):
    # The lesson states: every classifier (ABC and MLP with and without the SFS, CNN, hybrid) has its test
    # ECE before and after temperature scaling; T is fitted on the validation set, so the validation NLL
    # cannot rise (T = 1 is a candidate); and the predicted class, hence the accuracy, cannot change.
    ns = run_quick("14_flagship", tmp_path)
    assert ns["settings"].seed == 2026 and ns["settings"].quick
    results = json.loads((tmp_path / "results.json").read_text())
    classifiers = ns["classifiers"]
    assert len(classifiers) == 6 and set(results["calibration"]) == set(results["accuracy"]) == set(classifiers)
    val_labels, truth = ns["labels"][ns["val"]], ns["labels"][ns["test"]]
    for name, (p_val, p_test, pred) in classifiers.items():
        c, scaled = results["calibration"][name], ns["scaled_probs"][name]
        np.testing.assert_array_equal(scaled.argmax(axis=1), p_test.argmax(axis=1))
        assert results["accuracy"][name] == np.mean(scaled.argmax(axis=1) == truth) == np.mean(pred == truth)
        assert c["temperature"] > 0
        val_scaled = p_val ** (1 / c["temperature"])            # softmax(log p / T), written out
        val_scaled /= val_scaled.sum(axis=1, keepdims=True)
        assert negative_log_likelihood(val_scaled, val_labels) <= negative_log_likelihood(p_val, val_labels) + 1e-9
        assert c["ece_before"] == expected_calibration_error(p_test, truth)
        assert c["ece_after"] == expected_calibration_error(scaled, truth)
    # The hybrid reads two inputs; the SFS statistics extend the classic ones; their scaler saw training rows only.
    assert len(ns["hybrid"].inputs) == 2
    assert set(ns["informative"]) < set(ns["informative_sfs"])
    np.testing.assert_allclose(ns["scaler_sfs"].mean_, ns["stats_sfs"][ns["train"]].mean(axis=0))
    text = (LESSONS / "14_flagship.py").read_text(encoding="utf-8")
    assert "cannot change" in text, "the lesson no longer states that the predicted class is kept"
