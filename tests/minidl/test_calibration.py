"""Specification of minidl.calibration: ECE, reliability diagram, temperature scaling."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.calibration import (
    TemperatureScaling,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
    reliability_diagram,
    softmax,
)


def _well_specified_problem(n, n_classes=3, scale=1.5, seed=0):
    """True logits z and labels drawn from softmax(z): a model predicting softmax(z) is calibrated."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, scale, size=(n, n_classes))
    p = softmax(z)
    u = rng.random(n)[:, None]
    labels = (u > np.cumsum(p, axis=1)).sum(axis=1)
    return z, labels


# ------------------------------------------------------------------------------------------------ ECE


def test_ece_matches_hand_computation_on_four_examples():
    # n_bins=5: bins (0,.2], (.2,.4], (.4,.6], (.6,.8], (.8,1]
    probs = np.array([[0.9, 0.1],    # conf .9, correct -> bin 5
                      [0.8, 0.2],    # conf .8, wrong   -> bin 4 (right edge included)
                      [0.3, 0.7],    # conf .7, correct -> bin 4
                      [0.45, 0.55]])  # conf .55, wrong -> bin 3
    labels = np.array([0, 1, 1, 0])
    # bin 5: |1 - .9| = .1 (n=1); bin 4: |.5 - .75| = .25 (n=2); bin 3: |0 - .55| = .55 (n=1)
    expected = (1 * 0.1 + 2 * 0.25 + 1 * 0.55) / 4
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(expected, abs=1e-12)
    b = reliability_bins(probs, labels, n_bins=5)
    assert b["counts"].tolist() == [0, 0, 1, 2, 1]
    assert np.isnan(b["accuracy"][0]) and b["accuracy"][3] == pytest.approx(0.5)


def test_ece_accepts_binary_one_column_and_one_hot_labels():
    p1 = np.array([0.1, 0.8, 0.7, 0.55])             # P(class 1)
    p2 = np.stack([1 - p1, p1], axis=1)
    labels = np.array([0, 1, 1, 0])
    onehot = np.eye(2, dtype=int)[labels]
    assert expected_calibration_error(p1, labels, 5) == pytest.approx(expected_calibration_error(p2, labels, 5))
    assert expected_calibration_error(p2, onehot, 5) == pytest.approx(expected_calibration_error(p2, labels, 5))


def test_ece_of_true_posterior_is_small():
    z, y = _well_specified_problem(20000)
    assert expected_calibration_error(softmax(z), y) < 0.02


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200), st.integers(2, 5), st.integers(1, 20), st.integers(0, 2**31))
def test_ece_lies_between_0_and_1(n, c, n_bins, seed):
    rng = np.random.default_rng(seed)
    p = softmax(rng.normal(0, 3, size=(n, c)))
    y = rng.integers(0, c, n)
    assert 0.0 <= expected_calibration_error(p, y, n_bins) <= 1.0


@pytest.mark.parametrize(
    "probs, labels, message",
    [
        (np.full((3, 2), 0.5), np.array([0, 1]), "labels has 2 entries"),
        (np.full((3, 2), 0.5), np.array([0, 1, 2]), "labels must lie in 0..1"),
        (np.full((3, 2), 0.5), np.array([0, -1, 1]), "labels must lie in 0..1"),
        (np.full((3, 2), 0.7), np.array([0, 1, 1]), "sum to 1"),
        (np.array([[2.0, -1.0]]), np.array([0]), r"must lie in \[0, 1\]"),
        (np.zeros((2, 2, 2)), np.array([0, 1]), "shape"),
        (np.full((3, 2), 0.5), np.array([0.5, 1, 0]), "integer class indices"),
    ],
)
def test_ece_rejects_bad_input_with_clear_message(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels)


def test_nll_of_uniform_prediction_is_log_c():
    assert negative_log_likelihood(np.full((4, 3), 1 / 3), [0, 1, 2, 0]) == pytest.approx(np.log(3))


# ------------------------------------------------------------------------------------- reliability diagram


def test_reliability_diagram_writes_non_trivial_png(tmp_path):
    z, y = _well_specified_problem(2000, seed=1)
    path = tmp_path / "figs" / "reliability.png"
    fig = reliability_diagram({"before": softmax(5 * z), "after": softmax(z)}, y, path=path, n_bins=10,
                              title="over-confident model")
    assert path.exists()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title().startswith("before: ECE =")


# ------------------------------------------------------------------------------------- temperature scaling


def test_temperature_recovers_overconfidence_factor_and_lowers_ece():
    z, y = _well_specified_problem(40000, seed=2)
    overconfident = 5.0 * z
    val, test = slice(0, 20000), slice(20000, None)
    ts = TemperatureScaling().fit(overconfident[val], y[val])
    assert ts.temperature_ == pytest.approx(5.0, rel=0.05)
    assert ts.nll_after_ < ts.nll_before_
    before = expected_calibration_error(softmax(overconfident[test]), y[test])
    after = expected_calibration_error(ts.transform(overconfident[test]), y[test])
    assert before > 0.1
    assert after < 0.02
    assert after < before / 5


def test_temperature_is_found_from_probabilities_too():
    z, y = _well_specified_problem(20000, seed=3)
    p = softmax(5.0 * z)
    ts = TemperatureScaling(input="probs").fit(p, y)
    assert ts.temperature_ == pytest.approx(5.0, rel=0.07)
    np.testing.assert_allclose(ts.transform(p), softmax(z), atol=0.05)


def test_underconfident_model_gets_temperature_below_one():
    z, y = _well_specified_problem(20000, seed=4)
    ts = TemperatureScaling().fit(0.5 * z, y)
    assert ts.temperature_ == pytest.approx(0.5, rel=0.07)


def test_temperature_minimises_nll_against_a_grid():
    z, y = _well_specified_problem(3000, seed=5)
    ts = TemperatureScaling().fit(3.0 * z, y)
    grid = np.exp(np.linspace(np.log(0.5), np.log(20), 400))
    nll = [negative_log_likelihood(softmax(3.0 * z / t), y) for t in grid]
    assert ts.nll_after_ <= min(nll) + 1e-9
    assert ts.nll_after_ == pytest.approx(negative_log_likelihood(ts.transform(3.0 * z), y), rel=1e-9)


def test_binary_one_column_logits_match_two_column_form():
    z, y = _well_specified_problem(5000, n_classes=2, seed=6)
    margin = 4.0 * (z[:, 1] - z[:, 0])          # sigmoid logit of class 1
    two_col = np.stack([np.zeros_like(margin), margin], axis=1)
    t1 = TemperatureScaling().fit(margin, y)
    t2 = TemperatureScaling().fit(two_col, y)
    assert t1.temperature_ == pytest.approx(t2.temperature_, rel=1e-9)
    q = t1.transform(margin)
    assert q.shape == (5000,)
    np.testing.assert_allclose(q, t2.transform(two_col)[:, 1], rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 60), st.integers(2, 4), st.floats(0.2, 8.0), st.integers(0, 2**31))
def test_temperature_scaling_never_changes_the_predicted_class(n, c, factor, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=(n, c)) * factor
    y = rng.integers(0, c, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tiny samples may put T on a bound
        q = TemperatureScaling().fit(z, y).transform(z)
    assert np.all(q.argmax(axis=1) == z.argmax(axis=1))
    assert np.all(q >= 0) and np.allclose(q.sum(axis=1), 1.0)  # may underflow to 0 when T is tiny


def test_separable_validation_data_warns_about_bound():
    z = np.array([[5.0, -5.0], [-5.0, 5.0], [4.0, -4.0]])
    with pytest.warns(RuntimeWarning, match="search bound"):
        ts = TemperatureScaling().fit(z, [0, 1, 0])
    assert ts.temperature_ == pytest.approx(ts.t_min, rel=1e-2)


def test_temperature_scaling_errors_are_explicit():
    ts = TemperatureScaling()
    with pytest.raises(RuntimeError, match="before fit"):
        ts.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels has 3 entries but logits has 2 rows"):
        ts.fit(np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        ts.fit(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="input must be"):
        TemperatureScaling(input="scores")
    with pytest.raises(ValueError, match="input='probs' expects values"):
        TemperatureScaling(input="probs").fit(np.array([[2.0, -1.0]]), [0])
    ts.fit(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), [0, 1, 2, 1])
    with pytest.raises(ValueError, match="fitted on 3 classes"):
        ts.transform(np.zeros((2, 4)))


def test_config_round_trip_keeps_temperature():
    z, y = _well_specified_problem(2000, seed=7)
    ts = TemperatureScaling().fit(2 * z, y)
    clone = TemperatureScaling.from_config(ts.get_config())
    np.testing.assert_array_equal(clone.transform(2 * z), ts.transform(2 * z))
