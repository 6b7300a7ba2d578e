"""Random networks, built twice — in Keras 3 and in minidl — must train alike (issue 15 §1).

Hypothesis draws a network: an MLP (1–3 hidden Dense layers) or a CNN (Conv1D or Conv2D, 1–2 convolutions
with kernel 1–3, strides 1–2, ``valid``/``same``, optional max/average pooling and BatchNormalization, then
Flatten → Dense), with random widths, activations (the Keras names and the ``ReLU``/``LeakyReLU``/``ELU``
layers with their parameters), L1/L2/L1L2 penalties, a loss and one of every optimizer (SGD plain, with
momentum, Nesterov; Adam; RMSprop; Adagrad; Adadelta). The Keras model's initial weights are copied into
minidl (``get_weights``/``set_weights``), some of them first made *dead* on purpose — a zero kernel (every
pre-activation exactly 0: the kink), a very negative bias (a layer that outputs exactly 0) — and the data
has exact zeros, whole zero rows among them. Both take the same ``train_on_batch`` steps on the same
batches; then the losses, every weight and the predictions are compared.

Tolerances (float32): losses 1e-4 relative; predictions 1e-4 relative + 1e-5 absolute; weights
``W_ATOL + W_RTOL·|w|`` with ``W_ATOL = 1e-4``, ``W_RTOL = 1e-3``. The two libraries add the same float32
products in different orders; after a few steps the weights agree to ~1e-6. A mistaken derivative is
orders of magnitude larger (the ReLU-at-0 bug of issue 15 moved biases by 0.1).

One exception is avoided rather than tolerated: a BatchNormalization removes any constant shift of its
input, so the gradient of every bias upstream of it (through linear pieces) is mathematically 0 and
numerically rounding noise (~1e-9, different in each library). Adam and RMSprop divide a gradient by
its own RMS, turning noise that is of the order of their default ``ε = 1e-7`` or above into a full step of ±η
— different in each library. So in networks with a BatchNormalization those two get
``epsilon=BN_EPSILON`` (1e-3): gradients below ~1e-3 then take proportionally small steps, larger
ones the same steps as before; the formulas compared are the same. (The default ε is compared in
``test_keras_parity.py``.)

Cost: ``MAX_EXAMPLES`` networks, derandomized (the same ones on every run), no shrinking (a failure prints
the drawn network instead); Keras runs eagerly (``run_eagerly=True``: no graph tracing per network, same
arithmetic).
"""

import os

import numpy as np
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st

import minidl

#: networks per CI run; set MINIDL_PARITY_EXAMPLES for a longer local search
MAX_EXAMPLES = int(os.environ.get("MINIDL_PARITY_EXAMPLES", 40))
LOSS_RTOL = 1e-4
PRED_RTOL, PRED_ATOL = 1e-4, 1e-5
W_ATOL, W_RTOL = 1e-4, 1e-3
#: Adam's and RMSprop's ε in networks with a BatchNormalization (see the module docstring)
BN_EPSILON = 1e-3

ACTIVATIONS = ["relu", "relu", "relu", "tanh", "sigmoid", "elu", "selu", "leaky_relu", "linear", "softplus",
               "softsign", "silu"]
# activation layers with parameters: (class name, kwargs)
ACTIVATION_LAYERS = [("ReLU", {}), ("ReLU", {"max_value": 1.0}), ("ReLU", {"max_value": 6.0}),
                     ("ReLU", {"threshold": 0.5}), ("ReLU", {"negative_slope": 0.1}),
                     ("ReLU", {"negative_slope": 0.1, "max_value": 1.0, "threshold": 0.5}),
                     ("LeakyReLU", {}), ("ELU", {"alpha": 0.5})]
OPTIMIZERS = [("SGD", {"learning_rate": 0.3}), ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
              ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
              ("Adam", {"learning_rate": 0.01}), ("RMSprop", {"learning_rate": 0.01}),
              ("Adagrad", {"learning_rate": 0.1}), ("Adadelta", {"learning_rate": 1.0})]
HEADS = [("sparse_categorical_crossentropy", "softmax"), ("categorical_crossentropy", "softmax"),
         ("binary_crossentropy", "sigmoid"), ("mse", "linear"), ("mse", "relu")]
REGULARIZERS = [None, None, ("L1", 0.01), ("L2", 0.01), ("L1L2", (0.01, 0.01))]
DEAD = ["none", "none", "zero_kernel", "negative_bias"]


@st.composite
def regularizer(draw):
    return draw(st.sampled_from(REGULARIZERS))


@st.composite
def activation(draw):
    return draw(st.sampled_from(ACTIVATIONS))


@st.composite
def hidden_extras(draw):
    """What may follow a Dense/Conv layer: an activation layer, a BatchNormalization."""
    extras = []
    if draw(st.integers(0, 4)) == 0:
        extras.append(draw(st.sampled_from(ACTIVATION_LAYERS)))
    if draw(st.integers(0, 3)) == 0:
        extras.append(("BatchNormalization", {"momentum": draw(st.sampled_from([0.99, 0.5]))}))
    return extras


def _dead(draw, act):
    """A dead-unit treatment for a layer with activation ``act``.

    A zero kernel makes the layer's output the constant ``f(0)``. When ``f(0)`` is not a float32 number
    (softplus: log 2) and a BatchNormalization follows, ``x − mean`` of that constant is 0 exactly in
    minidl (mean in float64) but ±1 ulp in TensorFlow (a float32 sum): rounding noise, not a derivative,
    then decides which side of the next kink each unit is on. Not a parity question, so not drawn.
    """
    dead = draw(st.sampled_from(DEAD))
    return "none" if dead == "zero_kernel" and act == "softplus" else dead


def _conv_out(n, k, s, padding):
    return -(-n // s) if padding == "same" else (n - k) // s + 1


@st.composite
def networks(draw):
    kind = draw(st.sampled_from(["mlp", "mlp", "conv1d", "conv2d"]))
    layers = []   # (class name, kwargs, dead-unit treatment)
    if kind == "mlp":
        shape = (draw(st.integers(1, 8)),)
        for _ in range(draw(st.integers(1, 3))):
            act = draw(activation())
            layers.append(("Dense", {"units": draw(st.integers(1, 8)), "activation": act,
                                     "kernel_regularizer": draw(regularizer()),
                                     "bias_regularizer": draw(st.sampled_from([None, None, ("L2", 0.01)]))},
                           _dead(draw, act)))
            layers += [(name, kw, "none") for name, kw in draw(hidden_extras())]
    else:
        rank = 1 if kind == "conv1d" else 2
        spatial = [draw(st.integers(4, 10)) for _ in range(rank)]
        shape = (*spatial, draw(st.integers(1, 3)))
        for _ in range(draw(st.integers(1, 2))):
            k = draw(st.integers(1, 3))
            s = draw(st.integers(1, 2))
            padding = draw(st.sampled_from(["valid", "same"]))
            if any(_conv_out(n, k, s, padding) < 1 for n in spatial):
                continue
            spatial = [_conv_out(n, k, s, padding) for n in spatial]
            act = draw(activation())
            layers.append((f"Conv{rank}D", {"filters": draw(st.integers(1, 4)), "kernel_size": k, "strides": s,
                                            "padding": padding, "activation": act,
                                            "kernel_regularizer": draw(regularizer())},
                           _dead(draw, act)))
            layers += [(name, kw, "none") for name, kw in draw(hidden_extras())]
            if draw(st.booleans()):
                pool = draw(st.integers(2, 3))
                ps = draw(st.sampled_from([None, 1, 2]))
                ppad = draw(st.sampled_from(["valid", "same"]))
                if all(_conv_out(n, pool, ps or pool, ppad) >= 1 for n in spatial):
                    spatial = [_conv_out(n, pool, ps or pool, ppad) for n in spatial]
                    mode = draw(st.sampled_from(["Max", "Average"]))
                    layers.append((f"{mode}Pooling{rank}D", {"pool_size": pool, "strides": ps, "padding": ppad},
                                   "none"))
        layers.append(("Flatten", {}, "none"))
        if draw(st.booleans()):
            act = draw(activation())
            layers.append(("Dense", {"units": draw(st.integers(1, 6)), "activation": act,
                                     "kernel_regularizer": draw(regularizer())}, _dead(draw, act)))
    loss, head = draw(st.sampled_from(HEADS))
    n_out = draw(st.integers(2, 4)) if "categorical" in loss else draw(st.integers(1, 3))
    layers.append(("Dense", {"units": n_out, "activation": head}, "none"))
    return {"input_shape": shape, "layers": layers, "loss": loss, "optimizer": draw(st.sampled_from(OPTIMIZERS)),
            "batch": draw(st.integers(1, 6)), "steps": draw(st.integers(2, 4)),
            "zeros": draw(st.sampled_from([0.0, 0.3, 0.7])), "seed": draw(st.integers(0, 2**16))}


def _regularizer(lib, spec):
    if spec is None:
        return None
    name, value = spec
    return getattr(lib.regularizers, name)(*(value if isinstance(value, tuple) else (value,)))


def _layer(lib, layers_mod, name, kwargs):
    kw = dict(kwargs)
    for key in ("kernel_regularizer", "bias_regularizer"):
        if key in kw:
            kw[key] = _regularizer(lib, kw[key])
    return getattr(layers_mod, name)(**kw)


def build(keras, net):
    km = keras.Sequential([keras.Input(net["input_shape"])]
                          + [_layer(keras, keras.layers, n, kw) for n, kw, _ in net["layers"]])
    mm = minidl.Sequential([minidl.Input(net["input_shape"])]
                           + [_layer(minidl, minidl.layers, n, kw) for n, kw, _ in net["layers"]])
    return km, mm


def make_dead(km, net):
    """Zero kernels (pre-activations exactly 0) or very negative biases (outputs exactly 0), in Keras."""
    for layer, (_, _, dead) in zip(km.layers, net["layers"]):
        if dead == "zero_kernel":
            w = layer.get_weights()
            layer.set_weights([np.zeros_like(w[0]), *w[1:]])
        elif dead == "negative_bias":
            w = layer.get_weights()
            layer.set_weights([w[0], np.full_like(w[1], -10.0)])


def make_data(net, rng, n):
    x = rng.standard_normal((n, *net["input_shape"])).astype(np.float32)
    x *= rng.random(x.shape) >= net["zeros"]
    x[rng.random(n) < 0.25] = 0.0                        # whole samples of zeros: z = bias exactly
    n_out = net["layers"][-1][1]["units"]
    if net["loss"] == "sparse_categorical_crossentropy":
        y = rng.integers(0, n_out, n)
    elif net["loss"] == "categorical_crossentropy":
        y = np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, n)]
    elif net["loss"] == "binary_crossentropy":
        y = rng.integers(0, 2, (n, n_out)).astype(np.float32)
    else:
        y = rng.standard_normal((n, n_out)).astype(np.float32)
    return x, y


def glorot_kernels(km, rng):
    """Kernels drawn as Keras's ``glorot_uniform`` does, from a seeded NumPy generator (biases, γ, β and
    the moving statistics keep Keras's constant initial values). Not ``keras.utils.set_random_seed``: it
    resets TensorFlow's global seed, which aborted the process after a few hundred networks."""
    for layer in km.layers:
        ws = layer.get_weights()
        if not ws or "kernel" not in layer.weights[0].path:
            continue
        k = ws[0]
        receptive = int(np.prod(k.shape[:-2])) if k.ndim > 2 else 1
        fan_in, fan_out = k.shape[-2] * receptive, k.shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        layer.set_weights([rng.uniform(-limit, limit, k.shape).astype(np.float32), *ws[1:]])


def run_pair(keras, net):
    km, mm = build(keras, net)
    glorot_kernels(km, np.random.default_rng(net["seed"] + 1))
    make_dead(km, net)
    mm.set_weights(km.get_weights())
    opt_name, opt_kw = net["optimizer"]
    if opt_name in ("Adam", "RMSprop") and any(n == "BatchNormalization" for n, _, _ in net["layers"]):
        opt_kw = {**opt_kw, "epsilon": BN_EPSILON}
    km.compile(getattr(keras.optimizers, opt_name)(**opt_kw), net["loss"], run_eagerly=True, jit_compile=False)
    mm.compile(getattr(minidl.optimizers, opt_name)(**opt_kw), net["loss"])
    rng = np.random.default_rng(net["seed"])
    b, steps = net["batch"], net["steps"]
    x, y = make_data(net, rng, b * steps)
    k_losses, m_losses = [], []
    for s in range(steps):
        xb, yb = x[s * b:(s + 1) * b], y[s * b:(s + 1) * b]
        k_losses.append(float(km.train_on_batch(xb, yb)))
        m_losses.append(float(mm.train_on_batch(xb, yb)))
    return km, mm, x, k_losses, m_losses


def check_pair(keras, net):
    note(f"network: {net}")
    km, mm, x, k_losses, m_losses = run_pair(keras, net)
    np.testing.assert_allclose(m_losses, k_losses, rtol=LOSS_RTOL, atol=1e-6, err_msg="losses")
    names = [f"{l.name}/{n}" for l in mm.layers for n in l.params]
    for name, wm, wk in zip(names, mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(wm, wk, rtol=W_RTOL, atol=W_ATOL, err_msg=f"weight {name}")
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=PRED_RTOL, atol=PRED_ATOL,
                               err_msg="predictions")


# issue 15's reproduction: a dead hidden layer gives exactly-zero pre-activations in the next one
ISSUE_15 = {"input_shape": (4,), "loss": "categorical_crossentropy", "optimizer": ("SGD", {"learning_rate": 1.0}),
            "layers": [("Dense", {"units": u, "activation": "relu", "kernel_regularizer": ("L2", 0.01)}, "none")
                       for u in (4, 5, 14)] + [("Dense", {"units": 3, "activation": "softmax"}, "none")],
            "batch": 6, "steps": 2, "zeros": 0.0, "seed": 1010}
ZERO_KERNEL = {**ISSUE_15, "layers": [("Dense", {"units": 5, "activation": "relu"}, "zero_kernel"),
                                      ("Dense", {"units": 3, "activation": "softmax"}, "none")]}
CONV_TIES = {"input_shape": (6, 6, 1), "loss": "sparse_categorical_crossentropy",
             "optimizer": ("Adam", {"learning_rate": 0.01}), "batch": 4, "steps": 2, "zeros": 0.7, "seed": 7,
             "layers": [("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"},
                         "negative_bias"),
                        ("MaxPooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}, "none"),
                        ("Flatten", {}, "none"), ("Dense", {"units": 3, "activation": "softmax"}, "none")]}


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@example(net=ISSUE_15)
@example(net=ZERO_KERNEL)
@example(net=CONV_TIES)
@given(net=networks())
def test_random_networks_train_like_keras(keras, net):
    check_pair(keras, net)
