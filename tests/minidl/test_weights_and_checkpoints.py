"""sample_weight / class_weight against Keras; ModelCheckpoint, CSVLogger and resuming; one clear error for
empty arrays and non-numeric labels."""

import csv

import numpy as np
import pytest

import minidl
from minidl import CSVLogger, Dense, Input, ModelCheckpoint, Sequential, load_model
from minidl.model import load_metadata

W_ATOL, W_RTOL = 2e-5, 1e-4

LOSSES = [("sparse_categorical_crossentropy", 3, "softmax"), ("binary_crossentropy", 2, "sigmoid"),
          ("mse", 2, None)]


def pair(keras, n_out, act, loss):
    mm = Sequential([Input((5,)), Dense(8, activation="tanh"), Dense(n_out, activation=act)], seed=0)
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                           keras.layers.Dense(n_out, activation=act)])
    km.set_weights(mm.get_weights())
    mm.compile(minidl.SGD(0.2), loss)
    km.compile(keras.optimizers.SGD(0.2), loss)
    return mm, km


def targets(rng, loss, n_out, n):
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (n, n_out)).astype(np.float32)
    return rng.standard_normal((n, n_out)).astype(np.float32)


@pytest.mark.parametrize("loss,n_out,act", LOSSES, ids=[l[0] for l in LOSSES])
def test_sample_weight_in_fit_and_evaluate_matches_keras(keras, rng, loss, n_out, act):
    n = 40
    x = rng.standard_normal((n, 5)).astype(np.float32)
    y = targets(rng, loss, n_out, n)
    w = rng.uniform(0.0, 3.0, n).astype(np.float32)
    mm, km = pair(keras, n_out, act, loss)
    hm = mm.fit(x, y, sample_weight=w, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hk = km.fit(x, y, sample_weight=w, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(mm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=W_ATOL, rtol=W_RTOL)
    np.testing.assert_allclose(hm.history["loss"], hk.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(mm.evaluate(x, y, sample_weight=w, batch_size=16),
                               km.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0), rtol=1e-5)
    # the reduction is Σ w·ℓ / N (not / Σ w): doubling every weight doubles the loss
    np.testing.assert_allclose(mm.evaluate(x, y, sample_weight=2 * w), 2 * mm.evaluate(x, y, sample_weight=w),
                               rtol=1e-6)


def test_class_weight_matches_keras(keras, rng):
    n = 48
    x = rng.standard_normal((n, 5)).astype(np.float32)
    y = rng.integers(0, 3, n)
    mm, km = pair(keras, 3, "softmax", "sparse_categorical_crossentropy")
    weights = {0: 0.5, 1: 3.0}  # class 2 not listed: weight 1, as in Keras
    hm = mm.fit(x, y, class_weight=weights, batch_size=16, epochs=2, shuffle=False, verbose=0)
    hk = km.fit(x, y, class_weight=weights, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(mm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=W_ATOL, rtol=W_RTOL)
    np.testing.assert_allclose(hm.history["loss"], hk.history["loss"], rtol=1e-5)


def test_class_weight_of_one_hot_labels_uses_the_argmax(rng):
    x = rng.standard_normal((12, 5)).astype(np.float32)
    labels = rng.integers(0, 3, 12)
    a = Sequential([Input((5,)), Dense(3, activation="softmax")], seed=0)
    b = Sequential([Input((5,)), Dense(3, activation="softmax")], seed=0)
    a.compile("sgd", "sparse_categorical_crossentropy")
    b.compile("sgd", "categorical_crossentropy")
    a.fit(x, labels, class_weight={1: 4.0}, shuffle=False, verbose=0)
    b.fit(x, np.eye(3, dtype=np.float32)[labels], class_weight={1: 4.0}, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def model(seed=0):
    m = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")], seed=seed)
    m.compile(minidl.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def data(rng, n=60):
    y = np.arange(n) % 3
    return (rng.standard_normal((n, 4)) + 1.5 * np.eye(3, 4)[y]).astype(np.float32), y


@pytest.mark.parametrize("call,match", [
    (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), r"x has no samples \(shape \(0, 4\)\)"),
    (lambda m, x, y: m.evaluate(x[:0], y[:0]), "x has no samples"),
    (lambda m, x, y: m.predict(x[:0]), "x has no samples"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0), "validation_data x has no samples"),
    (lambda m, x, y: m.fit(x, np.array(["split", "im", "sc"] * 20), verbose=0),
     r"y must hold numbers .*got dtype <U5.*np.unique"),
    (lambda m, x, y: m.evaluate(x, y.astype(object)), "y must hold numbers"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, y.astype(str)), verbose=0), "validation_data y must hold numbers"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(59), verbose=0), r"sample_weight must have shape \(60,\)"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(60), class_weight={0: 1.0}, verbose=0),
     "class_weight and sample_weight at the same time"),
    (lambda m, x, y: m.fit(x, y, class_weight={"a": 1.0}, verbose=0), "class_weight keys must be integer"),
])
def test_empty_arrays_and_non_numeric_labels_give_one_clear_error(rng, call, match):
    x, y = data(rng)
    with pytest.raises(ValueError, match=match):
        call(model(), x, y)


def test_checkpoint_every_epoch_with_keras_style_names(rng, tmp_path):
    x, y = data(rng)
    m = model()
    m.fit(x, y, epochs=3, validation_split=0.25, verbose=0,
          callbacks=[ModelCheckpoint(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.3f}.npz")])
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert [n[:5] for n in names] == ["m-01-", "m-02-", "m-03-"] and all(n.endswith(".npz") for n in names)
    last = load_model(tmp_path / "ckpt" / names[-1])
    for a, b in zip(last.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert load_metadata(tmp_path / "ckpt" / names[-1])["checkpoint"]["epoch"] == 3
    assert not list((tmp_path / "ckpt").glob("*.tmp"))


def test_save_best_only_keeps_the_best_epoch(rng, tmp_path):
    x, y = data(rng)
    seen = []

    class Record(minidl.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["val_loss"], self.model.get_weights()))

    m = Sequential([Input((4,)), Dense(3, activation="softmax")], seed=0)
    m.compile(minidl.SGD(2.0), "sparse_categorical_crossentropy")  # a large step: val_loss goes up and down
    m.fit(x, y, epochs=8, validation_split=0.3, verbose=0,
          callbacks=[ModelCheckpoint(tmp_path / "best.npz", save_best_only=True), Record()])
    best = int(np.argmin([v for v, _ in seen]))
    for a, b in zip(load_model(tmp_path / "best.npz").get_weights(), seen[best][1]):
        np.testing.assert_array_equal(a, b)
    assert load_metadata(tmp_path / "best.npz")["checkpoint"]["epoch"] == best + 1

    m.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "w.weights.npz", monitor="loss",
                                                                save_weights_only=True)])
    fresh = Sequential([Input((4,)), Dense(3, activation="softmax")], seed=9)
    fresh.load_weights(tmp_path / "w.weights.npz")
    for a, b in zip(fresh.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="must end in '.weights.npz'"):
        ModelCheckpoint(tmp_path / "w.npz", save_weights_only=True)
    with pytest.raises(ValueError, match="must end in '.npz'"):
        ModelCheckpoint(tmp_path / "m.keras")


def test_training_resumed_from_a_checkpoint_equals_uninterrupted_training(rng, tmp_path):
    """SGD without momentum has no optimizer state, so weights must match exactly (shuffles included)."""
    x, y = data(rng)
    uninterrupted = model()
    h_full = uninterrupted.fit(x, y, epochs=6, batch_size=16, verbose=0)

    first = model()
    first.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "last.npz"),
                                                                   CSVLogger(tmp_path / "log.csv")])
    resumed = load_model(tmp_path / "last.npz")
    done = load_metadata(tmp_path / "last.npz")["checkpoint"]["epoch"]
    h_rest = resumed.fit(x, y, epochs=6, batch_size=16, initial_epoch=done, verbose=0,
                         callbacks=[CSVLogger(tmp_path / "log.csv", append=True)])
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h_rest.epoch == [4, 5]
    np.testing.assert_allclose(h_rest.history["loss"], h_full.history["loss"][4:], rtol=0)
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5"]  # one header, six epochs
    assert float(rows[-1][2]) == h_full.history["loss"][-1]


def test_csv_logger_separator_and_overwrite(rng, tmp_path):
    x, y = data(rng)
    path = tmp_path / "log.tsv"
    for _ in range(2):
        model().fit(x, y, epochs=2, validation_split=0.2, verbose=0, callbacks=[CSVLogger(path, separator="\t")])
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(lines) == 3  # append=False starts again


def test_a_keras_pydataset_trains_a_minidl_model_unchanged(keras, rng):
    x, y = data(rng, n=48)
    w = rng.uniform(0.5, 2.0, 48).astype(np.float32)

    class KerasBatches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)], w[16 * i:16 * (i + 1)]

    ref, src = model(), model()
    ref.fit(x, y, sample_weight=w, batch_size=16, epochs=2, shuffle=False, verbose=0)
    src.fit(KerasBatches(), epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), src.get_weights()):
        np.testing.assert_array_equal(a, b)
