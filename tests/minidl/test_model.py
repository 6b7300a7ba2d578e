"""Sequential: the sanity checks every network should pass, save/load, determinism, clear errors."""

import warnings

import numpy as np
import pytest

import minidl
from minidl import (SGD, Adam, Dense, Dropout, EarlyStopping, Input, LearningRateScheduler, ReduceLROnPlateau,
                    Sequential, TerminateOnNaN, confusion_matrix, load_model)


def mlp(seed=0, n_in=4, n_out=3, dropout=0.0):
    layers = [Input((n_in,)), Dense(16, activation="relu"), Dense(8, activation="tanh")]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(n_out, activation="softmax"))
    return Sequential(layers, seed=seed)


def blobs(rng, n=120, n_classes=3, n_in=4):
    y = np.arange(n) % n_classes
    x = rng.standard_normal((n, n_in)) + 2.0 * np.eye(n_classes, n_in)[y]
    return x.astype(np.float32), y


def test_initial_crossentropy_is_close_to_log_of_class_count(rng):
    x, y = blobs(rng, n_classes=5, n_in=6)
    model = mlp(n_in=6, n_out=5)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert abs(model.evaluate(x, y) - np.log(5)) < 0.3


def test_small_mlp_overfits_twenty_samples(rng):
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)  # random labels: only memorisation can fit them
    model = Sequential([Input((4,)), Dense(64, activation="relu"), Dense(3, activation="softmax")], seed=1)
    model.compile(Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=300, batch_size=20, verbose=0)
    loss, acc = model.evaluate(x, y)
    assert acc == 1.0 and loss < 0.05


def test_training_learns_a_held_out_problem(rng):
    x, y = blobs(rng, n=600)
    model = mlp()
    model.compile(Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:400], y[:400], epochs=20, verbose=0)
    assert model.evaluate(x[400:], y[400:])[1] > 0.85


def test_same_seed_gives_bit_identical_weights_after_training(rng):
    x, y = blobs(rng)
    runs = []
    for _ in range(2):
        model = mlp(seed=42, dropout=0.3)
        model.compile(Adam(0.01), "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    other = mlp(seed=43)
    assert not np.array_equal(other.get_weights()[0], runs[0][0])


def test_history_has_keras_keys_and_validation_split_takes_the_last_fraction(rng):
    x, y = blobs(rng, n=100)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "time", "learning_rate"}
    assert len(h.history["loss"]) == 2 and h.epoch == [0, 1]
    assert h.history["val_loss"][-1] == pytest.approx(model.evaluate(x[80:], y[80:])[0], rel=1e-6)


def test_fit_prints_one_line_per_epoch_with_verbose_2(rng, capsys):
    x, y = blobs(rng, n=40)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2 - loss:" in out and "Epoch 2/2 - loss:" in out


def test_train_on_batch_returns_loss_and_metrics(rng):
    x, y = blobs(rng, n=32)
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1


def test_regularization_penalty_is_part_of_the_reported_loss(rng):
    x, y = blobs(rng, n=32)
    plain = Sequential([Input((4,)), Dense(3, activation="softmax")], seed=0)
    reg = Sequential([Input((4,)), Dense(3, activation="softmax", kernel_regularizer="l2")], seed=0)
    for m in (plain, reg):
        m.compile("sgd", "sparse_categorical_crossentropy")
    penalty = 0.01 * np.sum(reg.get_weights()[0].astype(np.float64) ** 2)
    assert reg.evaluate(x, y) == pytest.approx(plain.evaluate(x, y) + penalty, rel=1e-5)


def test_save_and_load_give_identical_predictions(rng, tmp_path):
    x, y = blobs(rng)
    model = mlp(dropout=0.2)
    model.compile(Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path, metadata={"class_names": ["a", "b", "c"]})
    loaded = load_model(path)
    assert minidl.model.load_metadata(path) == {"class_names": ["a", "b", "c"]}
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert loaded.evaluate(x, y) == pytest.approx(model.evaluate(x, y))
    assert not (tmp_path / "model.npz.tmp").exists()
    loaded.save(tmp_path / "again.npz")  # a loaded model saves again (configs hold dicts now)
    np.testing.assert_array_equal(load_model(tmp_path / "again.npz").predict(x), model.predict(x))


def test_get_set_weights_round_trip():
    a, b = mlp(seed=1), mlp(seed=2)
    b.set_weights(a.get_weights())
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="set_weights expected 6 arrays"):
        b.set_weights(a.get_weights()[:-1])


def test_summary_lists_layers_shapes_and_parameter_counts():
    text = mlp().summary(print_fn=lambda s: None)
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    assert "(None, 16)" in text and "80" in text  # 4*16 + 16
    assert "Total params: 243" in text  # 80 + 136 + 27


def test_early_stopping_restores_the_best_weights(rng):
    x, y = blobs(rng, n=60)
    model = mlp()
    model.compile(SGD(0.5), "sparse_categorical_crossentropy")
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x, y, epochs=50, validation_data=(x[:20], y[:20]), callbacks=[stop], verbose=0)
    best = int(np.argmin(h.history["val_loss"]))
    assert stop.best == pytest.approx(min(h.history["val_loss"]))
    assert len(h.history["val_loss"]) <= best + 3  # stopped `patience` epochs after the best
    assert model.evaluate(x[:20], y[:20]) == pytest.approx(stop.best, rel=1e-5)


def test_early_stopping_warns_on_a_loss_watched_with_mode_max():
    with pytest.warns(UserWarning, match="mode='max'"):
        EarlyStopping(monitor="val_loss", mode="max")
    assert EarlyStopping(monitor="val_accuracy").mode == "max"


def test_reduce_lr_on_plateau_and_scheduler(rng):
    x, y = blobs(rng, n=40)
    model = mlp()
    model.compile(SGD(0.0), "sparse_categorical_crossentropy")  # lr 0: the loss never improves
    model.optimizer.learning_rate = 1e-9
    model.fit(x, y, epochs=4, verbose=0, validation_split=0.25,
              callbacks=[ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)])
    assert model.optimizer.learning_rate < 1e-9
    model.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 3)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_nan_loss_raises_a_clear_error_unless_terminate_on_nan(rng):
    x, y = blobs(rng, n=64)
    y_reg = np.full((64, 3), 1e30, dtype=np.float32)  # huge targets blow the loss up
    model = Sequential([Input((4,)), Dense(3)], seed=0)
    model.compile(SGD(1e10), "mse")
    with pytest.raises(ValueError, match="The loss became (nan|inf) at epoch 1"):
        model.fit(x, y_reg, epochs=3, verbose=0)
    model = Sequential([Input((4,)), Dense(3)], seed=0)
    model.compile(SGD(1e10), "mse")
    h = model.fit(x, y_reg, epochs=3, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(h.history.get("loss", [])) <= 1


@pytest.mark.parametrize("call,match", [
    (lambda m, x, y: m.fit(x[:, :3], y, verbose=0), r"x has sample shape \(3,\); the model expects \(4,\)"),
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0), "x and y must have the same number of samples; got 40 and 39"),
    (lambda m, x, y: m.fit(x[0], y, verbose=0), r"x must be a batch of samples with shape \(N, ...\)"),
    (lambda m, x, y: m.fit(np.where(x > 1, np.nan, x), y, verbose=0), "x contains NaN"),
    (lambda m, x, y: m.fit(x, y + 5, verbose=0), "integer labels in 0..2"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "batch_size must be a positive integer"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0), r"validation_split must be in \[0, 1\)"),
])
def test_bad_inputs_give_one_clear_error(call, match, rng):
    x, y = blobs(rng, n=40)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=match):
        call(model, x, y)


def _conv_first_model(kind):
    layers = ([Input((40, 130)), minidl.Conv1D(64, 2, activation="relu"), minidl.AveragePooling1D(2)] if kind == "1d"
              else [Input((9, 12, 3)), minidl.Conv2D(8, 3, activation="relu"), minidl.MaxPooling2D(2)])
    model = Sequential([*layers, minidl.BatchNormalization(), minidl.Flatten(), Dense(3, activation="softmax")],
                       seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("family", ["fast", "reference"])
@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_train_on_batch_of_a_conv_first_model_checks_x_in_the_first_layer_and_changes_nothing_on_nan(family, kind,
                                                                                                    bad, rng):
    """A model whose first layer is a convolution leaves x's NaN/∞ check to that layer, in the pass that reads x
    (``forward_checked``): the same error as the model's own check, nothing changed (weights, moving statistics,
    optimizer state) — and on finite data the same loss and weights, to the bit, as with the model's check."""
    from minidl.config import use_kernels
    shape = (40, 130) if kind == "1d" else (9, 12, 3)
    x = rng.standard_normal((6, *shape)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    with use_kernels(family):
        checked, plain = _conv_first_model(kind), _conv_first_model(kind)
        plain._first_layer_checks_input = lambda x: False   # the model's own check, before the pass
        assert checked._first_layer_checks_input(x) and not checked._first_layer_checks_input(x.astype(np.float64))
        losses = [m.train_on_batch(x, y) for m in (checked, plain)]
        assert losses[0] == losses[1]
        for a, b in zip(checked.get_weights(), plain.get_weights()):
            np.testing.assert_array_equal(a, b)
        before = [w.copy() for w in checked.get_weights()]
        iterations = checked.optimizer.iterations
        for sample in (0, 3, 5):   # any sample: the first layer's tasks check the samples they read
            x_bad = x.copy()
            flat = x_bad[sample].reshape(-1)
            flat[sample * 7] = bad
            flat[sample * 7 + shape[-1]] = -bad   # ∞ − ∞ in a window: NumPy's products warn "invalid value" there
            with warnings.catch_warnings():
                warnings.simplefilter("error")   # one clear error: no warning from the arithmetic on the NaN
                with pytest.raises(ValueError, match="^x contains NaN or infinite values$"):
                    checked.train_on_batch(x_bad, y)
        assert checked.optimizer.iterations == iterations
        for a, b in zip(checked.get_weights(), before):
            np.testing.assert_array_equal(a, b)
        assert np.isfinite(checked.train_on_batch(x, y))   # and it trains on after the errors


def test_train_on_batch_casting_x_checks_it_before_the_pass(rng):
    """x of another dtype than the model's is cast before the first layer reads it: the model checks x itself,
    as given, before anything runs (a float64 1e300 is finite; cast to float32 it would be ∞)."""
    model = _conv_first_model("2d")
    x = rng.standard_normal((4, 9, 12, 3))
    x[2, 3, 4, 0] = np.nan
    assert not model._first_layer_checks_input(x)
    with pytest.raises(ValueError, match="^x contains NaN or infinite values$"):
        model.train_on_batch(x, np.zeros(4, int))


def test_string_names_are_checked_at_compile():
    model = mlp()
    with pytest.raises(ValueError, match="Unknown loss 'sparse_crossentropy'"):
        model.compile("adam", "sparse_crossentropy")
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'"):
        model.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(RuntimeError, match="compile"):
        mlp().fit(np.zeros((2, 4)), np.zeros(2))


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    cm = confusion_matrix([0, 0, 1, 2, 2], np.eye(3)[[0, 1, 1, 2, 0]])
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_public_names_are_keras_like():
    for name in ["Sequential", "Dense", "Dropout", "Flatten", "Input", "Activation", "ReLU", "LeakyReLU", "ELU",
                 "Softmax", "SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "EarlyStopping", "History"]:
        assert hasattr(minidl, name), name


def test_confusion_matrix_with_labels_counts_any_class_values_in_the_order_given():
    cm = confusion_matrix(["im", "split", "split", "sc"], ["im", "im", "split", "sc"], labels=["split", "im", "sc"])
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="not in labels"):
        confusion_matrix(["x"], ["split"], labels=["split", "im"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_set_weights_refuses_nan_and_inf_naming_layer_and_parameter(bad):
    model = Sequential([Input((3,)), Dense(4, activation="relu", name="hidden"), minidl.BatchNormalization(name="bn"),
                        Dense(2, name="out")], seed=0)
    before = model.get_weights()
    weights = model.get_weights()
    weights[0][1, 2] = bad                       # hidden/kernel
    with pytest.raises(ValueError, match=r"Layer 'hidden' weight 'kernel' contains NaN or infinite values \(1 of 12\)"):
        model.set_weights(weights)
    weights = model.get_weights()
    weights[5][0] = bad                          # bn/moving_variance
    weights[6][0, 0] = 7.0                       # a valid change in a later layer: not applied either
    with pytest.raises(ValueError, match="Layer 'bn' weight 'moving_variance'"):
        model.set_weights(weights)
    for a, b in zip(model.get_weights(), before):  # nothing changed
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Layer 'out' weight 'bias'"):
        model.layers[2].set_weights([before[6], np.array([0.0, bad])])


def test_load_model_names_the_file_and_weight_when_it_holds_nan(tmp_path):
    model = Sequential([Input((3,)), Dense(2, name="d")], seed=0)
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["w0001"] = np.array([np.nan, 0.0], np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"m\.npz: Layer 'd' weight 'bias' contains NaN"):
        load_model(path)


def test_early_stopping_never_keeps_a_diverged_epoch_as_the_best():
    from minidl.callbacks import EarlyStopping

    class Stub:
        stop_training = False
        weights = [np.zeros(1)]

        def get_weights(self):
            return [w.copy() for w in self.weights]

        def set_weights(self, weights):
            self.weights = weights

    stopper, model = EarlyStopping(patience=1, restore_best_weights=True), Stub()
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch, loss in enumerate([float("nan"), 2.0, 1.0, 3.0]):
        model.weights = [np.full(1, float(epoch))]
        stopper.on_epoch_end(epoch, {"val_loss": loss})
    stopper.on_train_end()
    assert stopper.best == 1.0 and stopper.best_epoch == 2 and model.weights[0][0] == 2.0
