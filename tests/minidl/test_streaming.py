"""Training from a batch source (PyDataset-style object, generator, from_batches) with background prefetch.

The central promise: the same batches in the same order give bit-identical weights, whether they come
from arrays or from a source read by the prefetch thread.
"""

import threading
import traceback
import warnings

import numpy as np
import pytest

import minidl
from minidl import Conv2D, Dense, EarlyStopping, Flatten, Input, MaxPooling2D, Sequential
from minidl.data import ArraySource, Prefetcher, PyDataset, from_batches

BATCH = 16


def mlp(seed=0):
    model = Sequential([Input((4,)), Dense(16, activation="relu"), Dense(3, activation="softmax")], seed=seed)
    model.compile(minidl.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def blobs(rng, n=70):
    y = np.arange(n) % 3
    x = rng.standard_normal((n, 4)) + 2.0 * np.eye(3, 4)[y]
    return x.astype(np.float32), y


class Batches(PyDataset):
    """A PyDataset over in-memory batches that records which batches were read, and by which thread."""

    def __init__(self, x, y, w=None, batch_size=BATCH, fail_at=None):
        super().__init__()
        self.x, self.y, self.w, self.batch_size, self.fail_at = x, y, w, batch_size, fail_at
        self.reads, self.threads, self.epochs_ended = [], set(), 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise_from_reader(i)
        self.reads.append(i)
        self.threads.add(threading.current_thread().name)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return (self.x[s], self.y[s]) if self.w is None else (self.x[s], self.y[s], self.w[s])

    def on_epoch_end(self):
        self.epochs_ended += 1


def raise_from_reader(i):
    raise OSError(f"disk error reading batch {i}")


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("minidl-prefetch") and t.is_alive()]


def logged(history):
    """The epoch logs of a History without the wall times (which differ from run to run)."""
    return {k: v for k, v in history.history.items() if k != "time"}


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_pydataset_gives_bit_identical_weights_and_history_to_arrays(rng):
    x, y = blobs(rng)
    xv, yv = blobs(rng, n=30)
    ref, src = mlp(), mlp()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, validation_data=(xv, yv), verbose=0)
    source = Batches(x, y)
    h_src = src.fit(source, epochs=3, shuffle=False, validation_data=Batches(xv, yv), verbose=0)
    assert_same_weights(ref, src)
    assert logged(h_src) == logged(h_ref)
    assert source.reads == list(range(5)) * 3 and source.epochs_ended == 3
    assert source.threads == {"minidl-prefetch"}  # read by the background thread, not the training loop
    assert src.evaluate(Batches(xv, yv), return_dict=True) == ref.evaluate(xv, yv, batch_size=BATCH, return_dict=True)
    np.testing.assert_array_equal(src.predict(Batches(xv, yv)), ref.predict(xv, batch_size=BATCH))
    assert not prefetch_threads()


def test_cnn_from_a_source_equals_arrays(rng):
    x = rng.standard_normal((40, 8, 8, 2)).astype(np.float32)
    y = rng.integers(0, 2, 40)

    def cnn():
        m = Sequential([Input((8, 8, 2)), Conv2D(4, 3, activation="relu"), MaxPooling2D(), Flatten(),
                        Dense(2, activation="softmax")], seed=1)
        m.compile(minidl.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
        return m

    ref, src = cnn(), cnn()
    ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    src.fit(Batches(x, y, batch_size=8), epochs=2, shuffle=False, verbose=0)
    assert_same_weights(ref, src)


def test_generator_with_steps_per_epoch_and_from_batches_equal_arrays(rng):
    x, y = blobs(rng, n=64)
    ref = mlp()
    ref.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)

    def passes(n_epochs):
        for _ in range(n_epochs):
            for i in range(0, 64, BATCH):
                yield x[i:i + BATCH], y[i:i + BATCH]

    gen = mlp()
    h = gen.fit(passes(3), steps_per_epoch=4, epochs=3, verbose=0)  # shuffle=True is ignored for a generator
    assert_same_weights(ref, gen)
    assert len(h.history["loss"]) == 3

    fresh = mlp()
    fresh.fit(from_batches(lambda: passes(1), steps=4), epochs=3, verbose=0)
    assert_same_weights(ref, fresh)

    arrays = mlp()  # ArraySource is what fit uses for arrays
    arrays.fit(ArraySource(x, y, batch_size=BATCH), epochs=3, shuffle=False, verbose=0)
    assert_same_weights(ref, arrays)


def test_shuffled_array_source_equals_shuffled_arrays_with_the_models_generator(rng):
    x, y = blobs(rng, n=64)
    ref = mlp(seed=5)
    ref.fit(x, y, batch_size=BATCH, epochs=3, verbose=0)
    src = mlp(seed=5)
    shuffle_rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(2**31,)))
    src.fit(ArraySource(x, y, batch_size=BATCH, shuffle=True, seed=shuffle_rng), epochs=3, verbose=0)
    assert_same_weights(ref, src)


def test_shuffled_array_source_batches_are_the_samples_of_the_order_and_never_overwritten_while_held(rng):
    """Large shuffled batches are gathered into recycled buffers (minidl.kernels.workspace): each batch is
    still ``x[order[part]]`` for every input array, and a batch somebody holds is never reused."""
    x1 = rng.standard_normal((48, 256, 256)).astype(np.float32)   # 4 MB per batch of 16: pooled
    x2 = rng.standard_normal((48, 3)).astype(np.float32)
    y = np.arange(48)
    for x in (x1, [x1, x2]):
        source = ArraySource(x, y, batch_size=BATCH, shuffle=True, seed=1)
        held = []
        for epoch in range(3):
            source.on_epoch_begin()
            batches = [source[i] for i in range(len(source))]
            for i, (xb, yb) in enumerate(batches):
                idx = source.order[i * BATCH:(i + 1) * BATCH]
                np.testing.assert_array_equal(yb, idx)
                for a, b in zip(x if isinstance(x, list) else [x], xb if isinstance(x, list) else [xb]):
                    np.testing.assert_array_equal(b, a[idx])
            if epoch == 0:
                held = [(xb if isinstance(x, list) else [xb], yb) for xb, yb in batches]
                copies = [([a.copy() for a in xb], yb) for xb, yb in held]
            del batches
        for (xb, yb), (xc, yc) in zip(held, copies):   # the first epoch's batches, held: unchanged
            for a, c in zip(xb, xc):
                np.testing.assert_array_equal(a, c)


def test_pydataset_batch_order_is_shuffled_from_the_model_seed_unless_shuffle_false(rng):
    x, y = blobs(rng, n=80)
    orders = []
    for _ in range(2):
        source = Batches(x, y)
        mlp(seed=3).fit(source, epochs=2, verbose=0)
        orders.append(source.reads)
    assert orders[0] == orders[1]  # same seed, same order
    assert sorted(orders[0][:5]) == list(range(5)) and orders[0][:5] != list(range(5))


def test_a_generator_without_steps_is_one_epoch_then_training_stops_with_a_warning(rng):
    x, y = blobs(rng, n=48)
    gen = ((x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, 48, BATCH))
    with pytest.warns(UserWarning, match="ran out of data"):
        h = mlp().fit(gen, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1


def test_steps_per_epoch_continues_a_pydataset_across_epochs(rng):
    x, y = blobs(rng, n=80)  # 5 batches
    source = Batches(x, y)
    with pytest.warns(UserWarning, match="ran out of data after 1 of steps=2"):  # epoch 3 (as Keras)
        mlp().fit(source, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0)
    assert source.reads == [0, 1, 2, 3, 4, 0, 1]
    assert source.epochs_ended == 1  # one full pass so far


def test_sample_weight_as_third_element_equals_array_sample_weight(rng):
    x, y = blobs(rng, n=64)
    w = rng.uniform(0.1, 3.0, 64).astype(np.float32)
    ref, src = mlp(), mlp()
    h_ref = ref.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    h_src = src.fit(Batches(x, y, w), epochs=2, shuffle=False, verbose=0)
    assert_same_weights(ref, src)
    assert logged(h_src) == logged(h_ref)
    assert ref.evaluate(x, y, batch_size=BATCH, sample_weight=w) == src.evaluate(Batches(x, y, w))


def test_class_weight_with_a_pydataset_equals_arrays(rng):
    x, y = blobs(rng, n=64)
    ref, src = mlp(), mlp()
    ref.fit(x, y, class_weight={0: 2.0, 2: 0.5}, batch_size=BATCH, shuffle=False, verbose=0)
    src.fit(Batches(x, y), class_weight={0: 2.0, 2: 0.5}, shuffle=False, verbose=0)
    assert_same_weights(ref, src)


def test_the_reader_runs_ahead_of_training_by_a_bounded_number_of_batches():
    produced, reached = [], threading.Event()
    depth = 2

    def items():
        for i in range(100):
            produced.append(i)
            if len(produced) == depth + 2:
                reached.set()
            yield i

    p = Prefetcher(items(), depth)
    it = iter(p)
    assert next(it) == 0
    assert reached.wait(timeout=30)  # 1 consumed + `depth` queued + 1 waiting to be queued
    p.close()
    assert len(produced) == depth + 2
    assert not p._thread.is_alive()


def test_prefetch_reads_the_next_batch_while_the_current_one_trains(rng):
    x, y = blobs(rng, n=64)
    source = Batches(x, y)
    read_ahead = []

    class Watch(minidl.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:  # still inside step 0: has batch 1 been read meanwhile?
                for _ in range(3000):
                    if 1 in source.reads:
                        break
                    threading.Event().wait(0.01)
                read_ahead.append(1 in source.reads)

    mlp().fit(source, epochs=1, shuffle=False, verbose=0, callbacks=[Watch()])
    assert read_ahead == [True]


def test_an_error_in_the_reader_is_raised_in_the_training_loop_with_its_traceback(rng):
    x, y = blobs(rng, n=64)
    with pytest.raises(OSError, match="disk error reading batch 2") as info:
        mlp().fit(Batches(x, y, fail_at=2), epochs=2, shuffle=False, verbose=0)
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "raise_from_reader" in frames and "__getitem__" in frames and "fit" in frames
    assert not prefetch_threads()


def test_bad_batches_are_named(rng):
    x, y = blobs(rng, n=64)
    x_nan = np.concatenate([x, x])
    x_nan[70, 0] = np.nan  # in batch 4
    bad = Batches(x_nan, np.concatenate([y, y]))
    with pytest.raises(ValueError, match=r"batch 4 of x \(Batches\): x contains NaN"):
        mlp().fit(bad, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=r"must be a tuple \(x,\), \(x, y\) or \(x, y, sample_weight\)"):
        mlp().fit(from_batches([{"x": x}]), verbose=0)
    with pytest.raises(ValueError, match=r"batch 0 of x \(_Batches\): y must hold numbers"):
        mlp().fit(from_batches([(x, np.array(["a"] * 64))]), verbose=0)
    assert not prefetch_threads()


def test_keyboard_interrupt_and_early_stopping_stop_the_reader(rng):
    x, y = blobs(rng, n=160)

    class Interrupt(minidl.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mlp().fit(Batches(x, y), epochs=5, verbose=0, callbacks=[Interrupt()])
    assert not prefetch_threads()
    h = mlp().fit(Batches(x, y), epochs=50, verbose=0, validation_data=Batches(x, y),
                  callbacks=[EarlyStopping(monitor="loss", patience=0, min_delta=10)])
    assert len(h.history["loss"]) == 2
    assert not prefetch_threads()


@pytest.mark.parametrize("kwargs,match", [
    ({"y": "y"}, "x is a batch source .*: do not pass y"),
    ({"batch_size": 8}, "do not pass batch_size"),
    ({"sample_weight": "w"}, "do not pass sample_weight"),
    ({"validation_split": 0.2}, "validation_split needs arrays"),
    ({"steps_per_epoch": 0}, "steps must be a positive integer"),
])
def test_keras_argument_rules_for_sources(rng, kwargs, match):
    x, y = blobs(rng, n=32)
    kwargs = {k: {"y": y, "w": np.ones(32)}.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match):
        mlp().fit(Batches(x, y), verbose=0, **kwargs)


def test_class_weight_with_a_generator_is_refused_as_in_keras(rng):
    x, y = blobs(rng, n=32)
    with pytest.raises(ValueError, match="class_weight is not supported for a generator"):
        mlp().fit(iter([(x, y)]), class_weight={0: 1.0}, verbose=0)


def test_an_empty_source_is_one_error(rng):
    with pytest.raises(ValueError, match=r"x \(_Batches\) gave no batches to train on"):
        mlp().fit(from_batches([]), verbose=0)
    with pytest.raises(ValueError, match="gave no batches to evaluate"):
        mlp().evaluate(from_batches([]))
    with pytest.raises(ValueError, match="gave no batches to predict"):
        mlp().predict(from_batches([]))


def test_progress_bar_with_a_source_of_unknown_length(rng, capsys):
    x, y = blobs(rng, n=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlp().fit(from_batches(lambda: iter([(x[:16], y[:16]), (x[16:], y[16:])])), epochs=2, verbose=1)
    out = capsys.readouterr()
    assert "Epoch 2/2" in out.out + out.err
