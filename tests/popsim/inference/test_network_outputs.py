"""ABC on a network's outputs (Perez et al. 2022): class probabilities, logits and parameter estimates as named
statistics, through postpr / cv4postpr / abc / cv4abc."""

import numpy as np
import pytest

from minidl.calibration import softmax
from popsim.inference import abc as A
from popsim.inference.network_outputs import network_statistics

MODELS = ["isolation", "migration", "secondary_contact"]


def simulated_network(n_per_model=150, strength=2.5, seed=0):
    """Labels and the logits of an imperfect classifier: the true class's logit is raised by ``strength``,
    and isolation vs migration are confused more than either with secondary contact."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(MODELS, n_per_model)
    code = np.repeat(np.arange(3), n_per_model)
    logits = rng.normal(0, 1, (labels.size, 3))
    logits[np.arange(labels.size), code] += strength
    # Noise on the difference of logits 0 and 1 blurs isolation vs migration, not secondary contact.
    blur = rng.normal(0, 1.5, np.sum(code < 2))
    logits[code < 2, 0] += blur
    logits[code < 2, 1] -= blur
    return labels, logits


def test_probabilities_become_named_columns_without_the_redundant_last_one():
    _, logits = simulated_network(10)
    table = network_statistics(softmax(logits), "probabilities", MODELS)
    assert table.names == ["p_isolation", "p_migration"]
    assert table.values.shape == (30, 2) and table.kind == "probabilities"
    full = network_statistics(softmax(logits), "probabilities", MODELS, drop_redundant=False)
    assert full.names == ["p_isolation", "p_migration", "p_secondary_contact"]
    assert np.allclose(full.values.sum(axis=1), 1.0)


def test_logits_are_centred_so_equivalent_outputs_give_equal_statistics():
    _, logits = simulated_network(10)
    shifted = network_statistics(logits + 7.0, "logits", MODELS)
    assert shifted.names == ["logit_isolation", "logit_migration"]
    assert np.allclose(shifted.values, network_statistics(logits, "logits", MODELS).values)


def test_cv4postpr_on_network_probabilities_gives_a_confusion_matrix_with_their_names():
    labels, logits = simulated_network()
    table = network_statistics(softmax(logits), "probabilities", MODELS)
    cv = A.cv4postpr(labels, table, nval=40, tol=0.05, seed=1)
    assert cv.stat_names == ["p_isolation", "p_migration"] and cv.models == sorted(MODELS)
    # The network's own argmax accuracy on the same rows: ABC on its outputs should be about as good.
    network = np.mean(np.asarray(MODELS)[np.argmax(logits[cv.cv_rows], axis=1)] == cv.true)
    assert cv.accuracy > 0.7 and abs(cv.accuracy - network) < 0.12
    # Secondary contact is the easy model; isolation and migration are confused with each other.
    sc = cv.models.index("secondary_contact")
    assert cv.confusion[sc, sc] >= 35
    assert "p_isolation, p_migration" in cv.summary()


def test_postpr_on_the_outputs_for_one_observed_data_set():
    labels, logits = simulated_network()
    reference = network_statistics(softmax(logits[:-1]), "probabilities", MODELS)
    observed = network_statistics(softmax(logits[-1]), "probabilities", MODELS)  # one row, secondary contact
    res = A.postpr(observed, labels[:-1], reference, 0.05)
    assert res.stat_names == ["p_isolation", "p_migration"]
    assert np.isclose(res.probs.sum(), 1.0) and res.predicted == labels[-1] == "secondary_contact"
    assert res.probs[res.models.index("secondary_contact")] > 0.8
    # The regression version needs accepted simulations of every model: a wider tolerance.
    wide = A.postpr(observed, labels[:-1], reference, 0.5, method="mnlogistic")
    assert wide.method == "mnlogistic" and wide.predicted == "secondary_contact"


def test_abc_on_a_networks_parameter_estimates():
    rng = np.random.default_rng(2)
    t_split = rng.uniform(100, 5_000, 600)
    estimates = t_split * np.exp(rng.normal(0, 0.15, t_split.size))    # a network with 15 % error
    table = network_statistics(estimates, "estimates", ["T_split"])
    assert table.names == ["T_split_hat"]
    cv = A.cv4abc(t_split, table, nval=60, tol=0.05, method="loclinear", seed=3, param_names=["T_split"])
    assert cv.stat_names == ["T_split_hat"]
    # ABC on the estimate does about as well as the estimate itself (≈ 0.1: 15 % error on a wide prior).
    raw = A.prediction_error(estimates[cv.cv_rows], t_split[cv.cv_rows])[0]
    assert cv.prediction_error[0] < 0.2 and cv.prediction_error[0] < 1.5 * raw


@pytest.mark.parametrize("outputs, kind, match", [
    (np.array([[0.2, 0.2]]), "probabilities", "summing to 1"),
    (np.array([[1.5, -0.5]]), "probabilities", "in \\[0, 1\\]"),
    (np.array([[0.5, np.nan]]), "probabilities", "finite"),
    (np.ones((2, 1)), "logits", "at least two classes"),
    (np.ones((2, 2)), "scores", "kind expected"),
])
def test_bad_outputs_raise_one_clear_error(outputs, kind, match):
    with pytest.raises(ValueError, match=match):
        network_statistics(outputs, kind)


def test_names_must_match_the_columns():
    with pytest.raises(ValueError, match="names expected 3 names"):
        network_statistics(np.full((2, 3), 1 / 3), "probabilities", ["a", "b"])
