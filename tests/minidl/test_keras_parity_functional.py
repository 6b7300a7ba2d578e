"""Functional models built twice — with minidl's and with Keras 3's layer calls — compute and train alike.

The same calls in the same order give the same ``model.layers`` order and so the same ``get_weights()``
list (Keras's weight order), so the weights of one copy straight into the other. Then the predictions,
the loss and the weights after training steps are compared: first the hybrid network of issue 17 (an
image branch with Conv2D/pooling/Flatten, a statistics branch with Dense, Concatenate, a Dense head);
then random two-branch graphs drawn by hypothesis (vector or sequence inputs, Permute/Conv1D/Dense
branches, every merge layer, a tensor that feeds two layers, optional hidden head).

Tolerances (float32), as ``test_keras_parity_random.py``: loss 1e-4 relative; predictions 1e-4 relative +
1e-5 absolute; weights ``1e-4 + 1e-3·|w|`` after the steps, and the predictions of the trained weights to
the same tolerance. (Adam divides a gradient by its own RMS + ε: a gradient element of ~1e-5, which
happens, turns its float32 rounding, ~1e-8, into a step that differs by ~1e-5 between the libraries; the
gradients themselves agree to ~1e-8.)
"""

import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

import minidl

MAX_EXAMPLES = int(os.environ.get("MINIDL_PARITY_EXAMPLES", 12))
LOSS_RTOL = 1e-4
PRED_RTOL, PRED_ATOL = 1e-4, 1e-5
W_ATOL, W_RTOL = 1e-4, 1e-3


def libs(keras):
    """The two libraries behind one set of names (layers, Input, Model)."""
    mini = SimpleNamespace(Input=lambda shape, name: minidl.Input(shape, name=name), L=minidl,
                           Model=lambda i, o: minidl.Model(i, o, seed=0))
    ker = SimpleNamespace(Input=lambda shape, name: keras.Input(shape=shape, name=name), L=keras.layers,
                          Model=lambda i, o: keras.Model(i, o))
    return mini, ker


def hybrid(lib):
    L = lib.L
    image, stats = lib.Input((8, 9, 1), "image"), lib.Input((5,), "stats")
    a = L.Conv2D(3, 3, activation="relu", padding="same", name="conv")(image)
    a = L.Flatten(name="flat")(L.MaxPooling2D(2, name="pool")(a))
    b = L.Dense(6, activation="tanh", name="stats_dense")(stats)
    h = L.Concatenate(name="cat")([a, b])
    h = L.Dense(8, activation="relu", name="hidden")(h)
    return lib.Model([image, stats], L.Dense(3, activation="softmax", name="head")(h))


def assert_weights_close(mm, km):
    for name, a, b in zip([w.path for w in km.weights], mm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=W_RTOL, atol=W_ATOL, err_msg=name)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_two_input_hybrid_equals_keras(keras, rng, optimizer):
    mini, ker = libs(keras)
    mm, km = hybrid(mini), hybrid(ker)
    assert [l.name for l in mm.layers] == [l.name for l in km.layers]
    assert [w.shape for w in mm.get_weights()] == [tuple(w.shape) for w in km.weights]
    km.set_weights(mm.get_weights())
    x = [rng.standard_normal((12, 8, 9, 1)).astype(np.float32), rng.standard_normal((12, 5)).astype(np.float32)]
    y = rng.integers(0, 3, 12)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=PRED_RTOL, atol=PRED_ATOL)
    kw = {"learning_rate": 0.05 if optimizer == "SGD" else 0.01}
    mm.compile(getattr(minidl, optimizer)(**kw), "sparse_categorical_crossentropy")
    km.compile(getattr(keras.optimizers, optimizer)(**kw), "sparse_categorical_crossentropy")
    assert mm.evaluate(x, y) == pytest.approx(km.evaluate(x, y, verbose=0), rel=LOSS_RTOL)
    for _ in range(2):
        assert mm.train_on_batch(x, y) == pytest.approx(float(km.train_on_batch(x, y)), rel=LOSS_RTOL)
    assert_weights_close(mm, km)
    xd = {"image": x[0], "stats": x[1]}
    np.testing.assert_allclose(mm.predict(xd), km.predict(xd, verbose=0), rtol=W_RTOL, atol=W_ATOL)


# ---------------------------------------------------------------- random graphs
MERGES = ["Concatenate", "Add", "Subtract", "Multiply", "Average"]
ACTS = ["relu", "tanh", "sigmoid", "linear", "elu"]


@st.composite
def graphs(draw):
    """A recipe: two inputs, one branch each, an optional extra reader of branch A, a merge, a head."""
    inputs = [draw(st.sampled_from(["vector", "sequence"])) for _ in range(2)]
    branches = []
    for kind in inputs:
        steps = []
        if kind == "sequence":
            if draw(st.booleans()):
                steps.append(("Permute", {"dims": (2, 1)}))
            steps.append(("Conv1D", {"filters": draw(st.integers(1, 3)), "kernel_size": draw(st.integers(1, 3)),
                                     "padding": draw(st.sampled_from(["valid", "same"])),
                                     "activation": draw(st.sampled_from(ACTS))}))
            steps.append((draw(st.sampled_from(["Flatten", "GlobalAveragePooling1D"])), {}))
        for _ in range(draw(st.integers(0 if kind == "sequence" else 1, 2))):
            steps.append(("Dense", {"units": draw(st.integers(1, 4)), "activation": draw(st.sampled_from(ACTS))}))
        branches.append(steps)
    merge = draw(st.sampled_from(MERGES))
    fan_out = draw(st.booleans()) and merge != "Subtract"       # branch A also read by one more Dense
    width = draw(st.integers(1, 4))                               # element-wise merges project to this width
    head = draw(st.sampled_from([None, "relu", "tanh"]))
    task = draw(st.sampled_from(["softmax", "sigmoid", "mse"]))
    optimizer = draw(st.sampled_from(["SGD", "Adam"]))
    return dict(inputs=inputs, branches=branches, merge=merge, fan_out=fan_out, width=width, head=head,
                task=task, optimizer=optimizer, shapes=[(5,) if k == "vector" else (4, 6) for k in inputs])


def build(lib, g):
    L, names = lib.L, iter(f"l{i}" for i in range(100))
    ins = [lib.Input(shape, f"in{i}") for i, shape in enumerate(g["shapes"])]
    tensors = []
    for inp, steps in zip(ins, g["branches"]):
        t = inp
        for cls, kw in steps:
            t = getattr(L, cls)(**kw, name=next(names))(t)
        tensors.append(t)
    if g["fan_out"]:
        tensors.append(L.Dense(2, activation="tanh", name=next(names))(tensors[0]))
    if g["merge"] != "Concatenate":
        tensors = [L.Dense(g["width"], name=next(names))(t) for t in tensors]
    h = getattr(L, g["merge"])(name=next(names))(tensors)
    if g["head"]:
        h = L.Dense(3, activation=g["head"], name=next(names))(h)
    out = {"softmax": (3, "softmax"), "sigmoid": (2, "sigmoid"), "mse": (2, "linear")}[g["task"]]
    return lib.Model(ins, L.Dense(out[0], activation=out[1], name=next(names))(h))


LOSSES = {"softmax": "sparse_categorical_crossentropy", "sigmoid": "binary_crossentropy", "mse": "mse"}


def targets(rng, task, n):
    if task == "softmax":
        return rng.integers(0, 3, n)
    if task == "sigmoid":
        return rng.integers(0, 2, (n, 2)).astype(np.float32)
    return rng.standard_normal((n, 2)).astype(np.float32)


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(g=graphs())
def test_random_two_branch_graphs_equal_keras(keras, g):
    note(repr(g))
    mini, ker = libs(keras)
    mm, km = build(mini, g), build(ker, g)
    assert [l.name for l in mm.layers] == [l.name for l in km.layers]
    km.set_weights(mm.get_weights())
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((10, *s)).astype(np.float32) for s in g["shapes"]]
    y = targets(rng, g["task"], 10)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=PRED_RTOL, atol=PRED_ATOL)
    lr = 0.1 if g["optimizer"] == "SGD" else 0.01
    mm.compile(getattr(minidl, g["optimizer"])(lr), LOSSES[g["task"]])
    km.compile(getattr(keras.optimizers, g["optimizer"])(lr), LOSSES[g["task"]], run_eagerly=True)
    for _ in range(2):
        assert mm.train_on_batch(x, y) == pytest.approx(float(km.train_on_batch(x, y)), rel=LOSS_RTOL)
    assert_weights_close(mm, km)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=W_RTOL, atol=W_ATOL)
