"""train → save → load → train is the uninterrupted run, bit for bit (issue 15 §4).

``Sequential.save`` stores the optimizer's state (step counter, slots: Adam's m and v, SGD's momentum,
RMSprop's velocity...) and the layers' random generators (dropout masks); ``load_model`` restores them.
Files written before that load with a fresh optimizer, as before.
"""

import json
import zipfile

import numpy as np
import pytest

import minidl
from minidl import schedules


def _model(optimizer, seed=3):
    model = minidl.Sequential([minidl.Input((6,)), minidl.Dense(8, activation="relu"), minidl.Dropout(0.3),
                               minidl.BatchNormalization(), minidl.Dense(3, activation="softmax")], seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(11)
    return rng.standard_normal((48, 6)).astype(np.float32), rng.integers(0, 3, 48)


OPTIMIZERS = {
    "adam": lambda: minidl.Adam(0.01),
    "sgd_momentum": lambda: minidl.SGD(0.05, momentum=0.9),
    "sgd_nesterov": lambda: minidl.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop_centered_momentum": lambda: minidl.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: minidl.Adagrad(0.1),
    "adadelta": lambda: minidl.Adadelta(1.0),
    "adam_exponential_decay": lambda: minidl.Adam(schedules.ExponentialDecay(0.02, decay_steps=3, decay_rate=0.5)),
    "sgd_momentum_piecewise": lambda: minidl.SGD(schedules.PiecewiseConstantDecay([4, 7], [0.1, 0.05, 0.01]),
                                                 momentum=0.9),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_train_save_load_train_equals_uninterrupted_training(tmp_path, name):
    x, y = _data()
    straight = _model(OPTIMIZERS[name]())
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    first = _model(OPTIMIZERS[name]())
    first.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "half.npz")
    resumed = minidl.load_model(tmp_path / "half.npz")
    assert resumed.optimizer.iterations == first.optimizer.iterations == 6
    resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 12
    # slot keys hold the layer names, which differ between the two models: compare in order
    assert len(resumed.optimizer.slots) == len(straight.optimizer.slots) > 0
    for mine, theirs in zip(resumed.optimizer.slots.values(), straight.optimizer.slots.values()):
        assert mine.keys() == theirs.keys()
        for slot_name in mine:
            np.testing.assert_array_equal(mine[slot_name], theirs[slot_name])
    np.testing.assert_array_equal(resumed.predict(x), straight.predict(x))


def test_train_on_batch_resume_with_schedule_and_clipping(tmp_path):
    x, y = _data()

    def make():
        return _model(minidl.Adam(schedules.InverseTimeDecay(0.05, decay_steps=2, decay_rate=1.0), clipnorm=0.5))

    straight, first = make(), make()
    for s in range(6):
        straight.train_on_batch(x[s * 8:(s + 1) * 8], y[s * 8:(s + 1) * 8])
    for s in range(3):
        first.train_on_batch(x[s * 8:(s + 1) * 8], y[s * 8:(s + 1) * 8])
    first.save(tmp_path / "m.npz")
    resumed = minidl.load_model(tmp_path / "m.npz")
    assert resumed.optimizer.learning_rate == first.optimizer.learning_rate   # the schedule at step 3
    for s in range(3, 6):
        resumed.train_on_batch(x[s * 8:(s + 1) * 8], y[s * 8:(s + 1) * 8])
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def _strip_state(path):
    """Rewrite a model file as the format before the training state was saved (version 1)."""
    with np.load(path) as data:
        meta = json.loads(str(data["__meta__"]))
        arrays = {k: data[k] for k in data.files if k.startswith("w")}
    meta["version"] = 1
    del meta["optimizer_state"], meta["rng_states"]
    with open(path, "wb") as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)


def test_old_model_files_without_state_load_with_a_fresh_optimizer(tmp_path):
    x, y = _data()
    model = _model(minidl.Adam(0.01))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "old.npz"
    model.save(path)
    _strip_state(path)
    with zipfile.ZipFile(path) as z:
        assert not any(n.startswith("s") for n in z.namelist())
    loaded = minidl.load_model(path)
    assert loaded.optimizer.iterations == 0 and loaded.optimizer.slots == {}
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)   # trains from a fresh Adam


def test_uncompiled_model_saves_and_loads_without_optimizer(tmp_path):
    model = minidl.Sequential([minidl.Input((3,)), minidl.Dense(2)], seed=0)
    model.save(tmp_path / "u.npz")
    loaded = minidl.load_model(tmp_path / "u.npz")
    assert not loaded.compiled
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_round_trips_and_is_a_copy():
    opt = minidl.SGD(0.1, momentum=0.9)
    w, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    opt.apply([("k", w, g)])
    state = opt.get_state()
    state["slots"]["k"]["momentum"][...] = 99
    assert opt.slots["k"]["momentum"][0] != 99
    other = minidl.SGD(0.1, momentum=0.9)
    other.set_state(opt.get_state())
    assert other.iterations == 1
    w2 = w.copy()
    opt.apply([("k", w, g)])
    other.apply([("k", w2, g)])
    np.testing.assert_array_equal(w, w2)
    with pytest.raises(ValueError, match="iterations"):
        other.set_state({"iterations": -1})
