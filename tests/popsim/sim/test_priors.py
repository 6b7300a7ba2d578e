"""Priors: each distribution draws inside its support, conditional bounds hold, JSON round trips, clear errors."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popsim.sim.priors import (
    Choice,
    Fixed,
    IntUniform,
    LogUniform,
    Uniform,
    prior_from_dict,
    priors_from_dict,
    priors_to_dict,
    reference_params,
    sample_params,
)


def draws(prior, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([prior.sample(rng, {}) for _ in range(n)])


def test_uniform_draws_lie_between_bounds_with_the_right_mean():
    x = draws(Uniform(10, 20))
    assert x.min() >= 10 and x.max() <= 20
    assert abs(x.mean() - 15) < 4 * (10 / np.sqrt(12)) / np.sqrt(len(x))


def test_log_uniform_is_uniform_on_the_log_scale():
    x = draws(LogUniform(1e2, 1e6))
    assert x.min() >= 1e2 and x.max() <= 1e6
    log_x = np.log10(x)
    # log10 is uniform on [2, 6]: mean 4, sd 4/sqrt(12)
    assert abs(log_x.mean() - 4) < 4 * (4 / np.sqrt(12)) / np.sqrt(len(x))


def test_integer_uniform_includes_both_ends_and_only_integers():
    x = draws(IntUniform(200, 203))
    assert set(x) == {200.0, 201.0, 202.0, 203.0}


def test_fixed_always_returns_its_value():
    assert set(draws(Fixed(0.1), n=10)) == {0.1}


def test_choice_respects_probabilities():
    x = draws(Choice([1, 2], probabilities=[0.9, 0.1]), n=4000)
    assert set(x) <= {1.0, 2.0}
    assert abs((x == 1).mean() - 0.9) < 4 * np.sqrt(0.09 / 4000)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_conditional_prior_keeps_the_contact_more_recent_than_the_split(seed):
    priors = {"T_split": Uniform(1000, 5000), "T_contact": Uniform(0, "0.5 * T_split")}
    p = sample_params(priors, np.random.default_rng(seed))
    assert 0 <= p["T_contact"] <= 0.5 * p["T_split"]


def test_same_generator_state_gives_same_parameters():
    priors = {"N": LogUniform(1e3, 1e5), "T": IntUniform(10, 100), "T2": Uniform(0, "T")}
    assert sample_params(priors, np.random.default_rng(7)) == sample_params(priors, np.random.default_rng(7))


def test_priors_round_trip_through_json():
    priors = {
        "N": LogUniform(1e3, 1e5),
        "T": IntUniform(10, 100),
        "T2": Uniform("T / 10", "T - 1"),
        "m": Fixed(1e-4),
        "c": Choice([1, 2, 3], [0.2, 0.3, 0.5]),
    }
    text = json.dumps(priors_to_dict(priors))
    assert priors_from_dict(json.loads(text)) == priors


def test_reference_params_are_medians():
    p = reference_params({"N": LogUniform(100, 10000), "T": Uniform(0, 10), "T2": Uniform(0, "T")})
    assert p == pytest.approx({"N": 1000, "T": 5, "T2": 2.5})


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Uniform(5, 1), "low=5"),
        (lambda: LogUniform(-1, 10), "LogUniform low=-1"),
        (lambda: Uniform(0, "T +"), "not a valid expression"),
        (lambda: Uniform(0, "__import__('os')"), "not a simple arithmetic"),
        (lambda: Choice([1, 2], [0.5, 0.6]), "sum to 1"),
        (lambda: Fixed("a"), "Fixed value"),
        (lambda: prior_from_dict({"type": "Gamma"}), "prior type 'Gamma'"),
    ],
)
def test_bad_prior_arguments_raise_one_clear_error(make, words):
    with pytest.raises((ValueError, TypeError), match=words.replace("(", r"\(").replace("+", r"\+")):
        make()


def test_a_bound_naming_a_later_parameter_is_refused():
    with pytest.raises(ValueError, match="refers to \\['T_split'\\]"):
        sample_params({"T_contact": Uniform(0, "T_split"), "T_split": Uniform(1, 2)}, np.random.default_rng(0))
