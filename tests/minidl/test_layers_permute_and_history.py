"""``Permute`` (gradient check, Keras parity, errors) and ``History``'s per-epoch wall time and learning rate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Conv1D, Dense, Flatten, Input, Permute, Sequential
from minidl.gradcheck import check_layer


@pytest.mark.parametrize("dims,shape", [((2, 1), (3, 4)), ((1, 2), (3, 4)), ((3, 1, 2), (2, 3, 4)),
                                        ((2, 3, 1), (2, 3, 4))])
def test_permute_gradient_and_shapes(rng, dims, shape):
    layer = Permute(dims)
    x = rng.standard_normal((2, *shape))
    assert max(check_layer(layer, x).values()) < 1e-9
    assert layer.output_shape == tuple(shape[d - 1] for d in dims)
    y = layer.forward(x)
    assert y.flags.c_contiguous and y.shape == (2, *layer.output_shape)
    np.testing.assert_array_equal(layer.backward(y), x)  # backward undoes forward


@settings(max_examples=20, deadline=None)
@given(st.permutations([1, 2, 3]), st.lists(st.integers(1, 4), min_size=3, max_size=3))
def test_permute_moves_each_value_to_its_permuted_index(dims, shape):
    x = np.arange(np.prod(shape) * 2, dtype=np.float64).reshape(2, *shape)
    y = Permute(dims).forward(x)
    index = (1, *(s - 1 for s in shape))          # the last element of sample 1
    permuted = (1, *(index[d] for d in dims))
    assert y[permuted] == x[index]


def test_permute_equals_keras_in_a_conv1d_along_snps_model(keras, rng):
    # (N, haplotypes, SNPs) → Permute((2, 1)) → (N, SNPs, haplotypes): Conv1D slides along SNPs
    mm = Sequential([Input((6, 10)), Permute((2, 1)), Conv1D(4, 3, activation="relu"), Flatten(), Dense(2)],
                    seed=0)
    km = keras.Sequential([keras.Input((6, 10)), keras.layers.Permute((2, 1)),
                           keras.layers.Conv1D(4, 3, activation="relu"), keras.layers.Flatten(),
                           keras.layers.Dense(2)])
    km.set_weights(mm.get_weights())
    x = rng.standard_normal((5, 6, 10)).astype(np.float32)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    mm.compile(minidl.SGD(0.1), "mse")
    km.compile(keras.optimizers.SGD(0.1), "mse")
    y = rng.standard_normal((5, 2)).astype(np.float32)
    assert mm.train_on_batch(x, y) == pytest.approx(float(km.train_on_batch(x, y)), rel=1e-5)
    for a, b in zip(mm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_permute_errors():
    with pytest.raises(ValueError, match="permutation of 1..2"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="permutation"):
        Permute((1, 1))
    with pytest.raises(TypeError, match="tuple of axis numbers"):
        Permute(2)
    with pytest.raises(ValueError, match="samples of rank 2"):
        Permute((2, 1)).forward(np.ones((2, 3, 4, 5)))


def small_model():
    model = Sequential([Input((3,)), Dense(2)], seed=0)
    model.compile(minidl.SGD(0.1), "mse")
    return model


def test_history_records_each_epochs_wall_time_and_learning_rate(rng):
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    h = small_model().fit(x, y, epochs=3, verbose=0)
    assert len(h.history["time"]) == 3 and all(t > 0 for t in h.history["time"])
    assert h.history["learning_rate"] == [pytest.approx(0.1)] * 3
    sched = minidl.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    h = small_model().fit(x, y, epochs=3, callbacks=[sched], verbose=0)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_history_records_the_rate_reduce_lr_on_plateau_used_as_keras_does(keras, rng):
    x, y = rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    # min_delta=10: no epoch "improves", so the rate is cut by 2 after every epoch from the second on
    cb = minidl.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    h = small_model().fit(x, y, epochs=4, batch_size=16, callbacks=[cb], verbose=0)
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    km.compile(keras.optimizers.SGD(0.1), "mse")
    kh = km.fit(x, y, epochs=4, batch_size=16, verbose=0,
                callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                             min_delta=10.0)])
    assert h.history["learning_rate"] == pytest.approx(kh.history["learning_rate"])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
