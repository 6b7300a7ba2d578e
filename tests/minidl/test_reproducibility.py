"""What "reproducible" means in minidl, tested (issue 15 §4).

Guaranteed: same seed ⇒ same initial weights, dropout masks and shuffles (NumPy generators only), on any
machine and thread count; and same seed + same machine + same thread count + same kernel family ⇒ the
same weights after ``fit``, bit for bit. *Not* guaranteed: the same bits on 1 and on 2 threads — the BLAS
(OpenBLAS's sgemm) adds the terms of a product in a different order when it has more threads (measured in
issue 15: weights differ by up to ~1e-6 after training), so across thread counts results agree to
float32 rounding only.
"""

import numpy as np
import pytest

import minidl
from minidl import config, threads


def _model():
    model = minidl.Sequential([minidl.Input((9, 12, 2)),
                               minidl.Conv2D(4, 3, activation="relu"),               # 3·3·2 > 16: im2col + BLAS
                               minidl.Conv2D(4, (1, 3), padding="same", activation="relu"),
                               minidl.BatchNormalization(), minidl.MaxPooling2D(2), minidl.Dropout(0.2),
                               minidl.Flatten(), minidl.Dense(8, activation="relu"),
                               minidl.Dense(3, activation="softmax")], seed=42)
    model.compile(minidl.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def _train():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 9, 12, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = _model()
    initial = model.get_weights()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)     # shuffled, with dropout
    return initial, model.get_weights()


@pytest.mark.parametrize("family", ["reference", "fast"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_same_seed_and_threads_give_identical_weights_after_fit(family, n_threads):
    with config.use_kernels(family), threads.limit_threads(n_threads):
        _, first = _train()
        _, second = _train()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_initial_weights_do_not_depend_on_the_thread_count():
    with threads.limit_threads(1):
        one = _model().get_weights()
    with threads.limit_threads(2):
        two = _model().get_weights()
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
