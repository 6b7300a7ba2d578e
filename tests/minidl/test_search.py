"""minidl.search: spaces, random and grid search, validation-only selection, reproducibility, worker processes,
the results table and figure, and the Optuna adapter (the `search` extra is part of the `test` extra, so the
Optuna tests always run). Everything trains tiny MLPs for a few epochs."""

import csv
import io
import warnings

import numpy as np
import pytest

from minidl import SGD, Dense, Input, Sequential
from minidl.search import (Choice, IntRange, LogUniform, MLPBuilder, Space, Uniform, grid_search, optuna_search,
                           random_search)


def spiral_data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.3, 3.0, n)
    label = rng.integers(0, 3, n)
    angle = t * 2.5 + label * 2 * np.pi / 3
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) + rng.normal(0, 0.15, (n, 2))
    return x.astype(np.float32), label


X, Y = spiral_data()
TRAIN, VALIDATION = (X[:100], Y[:100]), (X[100:], Y[100:])
BUILD = MLPBuilder(input_shape=(2,), outputs=3)
SPACE = {"learning_rate": LogUniform(1e-3, 1e-1), "units": [4, 8], "depth": IntRange(1, 2),
         "dropout": Uniform(0.0, 0.3), "l2": Choice([0.0, 1e-3]), "optimizer": ["adam", "rmsprop", "sgd"],
         "batch_size": [32, 64]}
QUICK = dict(train=TRAIN, validation=VALIDATION, epochs=4, patience=1)


def build_with_fixed_seed(params):
    """A user's build(params) without a seed argument: it seeds its model itself (importable: workers can use it)."""
    model = Sequential([Input((2,)), Dense(int(params["units"]), activation="relu"), Dense(3, activation="softmax")],
                       seed=7)
    model.compile(SGD(params["learning_rate"]), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def comparable(result):
    """Everything about the trials except the wall-clock seconds."""
    return [({k: v for k, v in t.row().items() if k != "seconds"}, {k: v for k, v in t.history.items() if k != "time"},
             [w.tobytes() for w in t.weights])
            for t in result.trials]


# ------------------------------------------------------------------------------------------------ spaces
def test_space_accepts_distributions_lists_and_fixed_values_and_draws_plain_python_values():
    space = Space({"lr": LogUniform(1e-4, 1e-1), "units": [8, 16, 32], "depth": IntRange(1, 3), "act": "relu",
                   "p": Uniform(0, 0.5), "w": IntRange(8, 256, log=True)})
    assert space.spec["units"] == Choice([8, 16, 32]) and space.spec["act"] == "relu"
    assert set(space.varying()) == {"lr", "units", "depth", "p", "w"}
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(300)]
    for d in draws:
        assert list(d) == ["lr", "units", "depth", "act", "p", "w"]  # the order of the keys
        assert type(d["lr"]) is float and 1e-4 <= d["lr"] <= 1e-1
        assert type(d["units"]) is int and type(d["depth"]) is int and type(d["w"]) is int
        assert 8 <= d["w"] <= 256
    assert {d["depth"] for d in draws} == {1, 2, 3}                     # both ends included
    per_decade = np.histogram(np.log10([d["lr"] for d in draws]), bins=[-4, -3, -2, -1])[0]
    assert per_decade.min() > 60                                        # log-uniform: ~100 draws per decade
    again = np.random.default_rng(0)
    assert [space.sample(again) for _ in range(300)] == draws


def test_grid_is_the_product_of_the_values_in_key_order_with_log_spaced_points_for_log_ranges():
    grid = Space({"lr": LogUniform(1e-3, 1e-1), "optimizer": ["adam", "sgd"], "depth": IntRange(1, 2),
                  "units": 8}).grid(points=3)
    assert len(grid) == 3 * 2 * 2
    np.testing.assert_allclose(sorted({g["lr"] for g in grid}), [1e-3, 1e-2, 1e-1])
    assert grid[0] == {"lr": 1e-3, "optimizer": "adam", "depth": 1, "units": 8}
    assert grid[1] == {"lr": 1e-3, "optimizer": "adam", "depth": 2, "units": 8}


@pytest.mark.parametrize("bad", [lambda: LogUniform(0, 1), lambda: Uniform(1, 1), lambda: IntRange(3, 1),
                                 lambda: Choice([]), lambda: IntRange(1.5, 3)])
def test_invalid_distributions_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        bad()


# ------------------------------------------------------------------------------------------------ searches
def test_random_search_is_reproducible_from_one_seed():
    first = random_search(BUILD, SPACE, n_trials=3, seed=11, **QUICK)
    second = random_search(BUILD, SPACE, n_trials=3, seed=11, **QUICK)
    assert comparable(first) == comparable(second)                      # same trials, scores, weights
    other = random_search(BUILD, SPACE, n_trials=3, seed=12, **QUICK)
    assert [t.params for t in other.trials] != [t.params for t in first.trials]
    assert first.best_params == second.best_params


def test_workers_give_the_same_trials_as_one_process():
    one = random_search(BUILD, SPACE, n_trials=4, seed=3, workers=1, **QUICK)
    two = random_search(BUILD, SPACE, n_trials=4, seed=3, workers=2, **QUICK)
    assert comparable(one) == comparable(two)
    plain = grid_search(build_with_fixed_seed, {"learning_rate": [0.05, 0.2], "units": [4, 8]}, workers=2, **QUICK)
    assert comparable(plain) == comparable(grid_search(build_with_fixed_seed, {"learning_rate": [0.05, 0.2],
                                                                               "units": [4, 8]}, **QUICK))


def test_workers_need_an_importable_build_function_and_say_so():
    def local_build(params):
        return build_with_fixed_seed(params)

    for build in (local_build, lambda params: build_with_fixed_seed(params)):
        with pytest.raises(ValueError, match="import"):
            random_search(build, SPACE, n_trials=2, workers=2, **QUICK)
        assert len(random_search(build, {"learning_rate": [0.1], "units": [4]}, n_trials=2, **QUICK).trials) == 2


def test_each_trial_stops_early_and_keeps_its_best_epoch_whose_score_the_kept_model_reproduces():
    result = grid_search(BUILD, {"learning_rate": [0.3, 0.01], "optimizer": ["sgd", "adam"], "units": 8},
                         train=TRAIN, validation=VALIDATION, epochs=25, patience=2)
    assert any(t.epochs < 25 for t in result.trials)                    # early stopping happened
    for t in result.trials:
        assert t.score == min(t.history["val_data_loss"])
        assert t.history["val_data_loss"][t.best_epoch - 1] == t.score
        assert t.history["val_data_loss"] == t.history["val_loss"]       # no penalty in this space
        assert t.epochs - t.best_epoch <= 2 or t.epochs == 25
    best = result.best
    assert best.score == min(t.score for t in result.trials)
    kept = result.best_model.evaluate(*VALIDATION, batch_size=32, return_dict=True)
    np.testing.assert_allclose(kept["loss"], best.score, rtol=1e-6)


def test_the_default_objective_is_the_validation_loss_without_the_l2_penalty():
    result = grid_search(BUILD, {"l2": [0.0, 0.01], "learning_rate": 0.01, "units": 8}, **QUICK)
    plain, penalised = result.trials
    assert plain.metrics["val_data_loss"] == plain.metrics["val_loss"]
    assert penalised.metrics["val_data_loss"] < penalised.metrics["val_loss"]  # val_loss adds 0.01·Σw²
    model = BUILD(penalised.params, seed=result.seed)                 # the penalised trial's kept model
    model.set_weights(penalised.weights)
    penalty = sum(layer.regularization_loss() for layer in model.layers)
    assert penalty > 0
    np.testing.assert_allclose(model.evaluate(*VALIDATION, return_dict=True)["loss"] - penalty, penalised.score,
                               rtol=1e-6)


def test_selection_uses_validation_only():
    with pytest.raises(TypeError):
        random_search(BUILD, SPACE, n_trials=1, test=VALIDATION, **QUICK)  # there is no place for a test set
    for objective in ("loss", "accuracy", "test_accuracy"):
        with pytest.raises(ValueError, match="validation"):
            random_search(BUILD, SPACE, n_trials=1, objective=objective, **QUICK)
    with pytest.raises(ValueError, match="training data"):
        random_search(BUILD, SPACE, n_trials=1, train=TRAIN, validation=TRAIN, epochs=1)
    by_accuracy = random_search(BUILD, SPACE, n_trials=3, objective="val_accuracy", **QUICK)
    assert by_accuracy.mode == "max" and by_accuracy.best.score == max(t.score for t in by_accuracy.trials)
    # the test set comes afterwards, once, for the model already chosen
    chosen = by_accuracy.best_params
    scores = by_accuracy.evaluate_best(X[:20], Y[:20])
    assert set(scores) == {"loss", "accuracy"} and by_accuracy.best_params == chosen
    with pytest.warns(UserWarning, match="already evaluated"):
        by_accuracy.evaluate_best(X[:20], Y[:20])


def test_unseeded_models_and_unknown_hyperparameters_are_errors():
    def unseeded(params):
        model = Sequential([Input((2,)), Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        return model

    with pytest.raises(ValueError, match="seed"):
        random_search(unseeded, {"units": [1]}, n_trials=1, **QUICK)
    with pytest.raises(ValueError, match="lerning_rate"):
        random_search(BUILD, {"lerning_rate": [0.1]}, n_trials=1, **QUICK)


def test_a_diverging_trial_is_marked_and_not_selected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = grid_search(BUILD, {"optimizer": "sgd", "learning_rate": [1e12, 0.05], "units": 8},
                             train=TRAIN, validation=VALIDATION, epochs=3, patience=1)
    diverged, fine = result.trials
    assert diverged.status == "diverged" and not np.isfinite(diverged.score)
    assert fine.status == "ok" and result.best is fine


def test_results_table_csv_and_figure(tmp_path):
    result = random_search(BUILD, SPACE, n_trials=3, seed=5, **QUICK)
    rows = result.rows(sort=True)
    assert [r["val_data_loss"] for r in rows] == sorted(r["val_data_loss"] for r in rows)
    assert set(SPACE) | {"trial", "val_data_loss", "val_loss", "val_accuracy", "epochs", "best_epoch",
                         "status"} <= set(rows[0])
    text = result.table()
    assert text.splitlines()[0].split()[:2] == ["trial", "learning_rate"] and len(text.splitlines()) == 4
    assert "best trial" in str(result)
    result.to_csv(tmp_path / "trials.csv")
    read = list(csv.DictReader(io.StringIO((tmp_path / "trials.csv").read_text())))
    assert [int(r["trial"]) for r in read] == [0, 1, 2]
    np.testing.assert_allclose([float(r["val_data_loss"]) for r in read], [t.score for t in result.trials])
    fig = result.plot()
    assert sum(ax.get_visible() for ax in fig.axes) == len(SPACE)  # one panel per hyperparameter that varies
    assert [ax.get_xscale() for ax in fig.axes][:1] == ["log"]      # the learning rate on a log axis
    fig.savefig(tmp_path / "search.png")
    assert (tmp_path / "search.png").stat().st_size > 10_000


# ------------------------------------------------------------------------------------------------ Optuna
def test_optuna_tpe_study_is_reproducible_and_reports_validation_loss_each_epoch():
    import optuna  # not importorskip: the test extra installs the search extra, so CI always runs this
    kwargs = dict(n_trials=4, seed=1, n_startup_trials=2, n_warmup_steps=1, **QUICK)
    first = optuna_search(BUILD, SPACE, **kwargs)
    second = optuna_search(BUILD, SPACE, **kwargs)
    assert comparable(first) == comparable(second)
    assert isinstance(first.study.sampler, optuna.samplers.TPESampler)
    assert isinstance(first.study.pruner, optuna.pruners.MedianPruner)
    for t, frozen in zip(first.trials, first.study.trials):
        assert frozen.number == t.index and frozen.params == t.params
        assert list(frozen.intermediate_values.values()) == pytest.approx(t.history["val_data_loss"])
    assert first.best.status != "pruned" and first.best.score == min(
        t.score for t in first.trials if t.status == "ok")


def test_optuna_pruned_trials_stop_early_and_are_never_selected():
    import optuna  # not importorskip: the test extra installs the search extra, so CI always runs this

    class PruneFromTheSecondTrialOn(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.number >= 1 and trial.last_step is not None and trial.last_step >= 1

    result = optuna_search(BUILD, SPACE, n_trials=3, seed=2, pruner=PruneFromTheSecondTrialOn(),
                           train=TRAIN, validation=VALIDATION, epochs=6, patience=None)
    statuses = [t.status for t in result.trials]
    assert statuses[0] == "ok" and statuses[1:] == ["pruned", "pruned"]
    assert [t.epochs for t in result.trials[1:]] == [2, 2]
    assert [s.state for s in result.study.trials[1:]] == [optuna.trial.TrialState.PRUNED] * 2
    assert result.best.index == 0
