"""Numerical gradient checks: is the backward pass we wrote by hand right?

The idea (CS231n; Ng's course): nudge one number at a time and watch the loss move. The centred
difference

    ∂L/∂θᵢ ≈ (L(θ + h·eᵢ) − L(θ − h·eᵢ)) / 2h

has error O(h²), so in float64 with h ≈ 1e-6 it agrees with a correct analytic gradient to about
1e-9 relative. We compare with the relative error

    rel(a, n) = ‖a − n‖ / max(‖a‖ + ‖n‖, tiny)

which is scale-free: < 1e-7 means correct for smooth functions; ~1e-5 can happen near kinks (ReLU at 0,
max pooling ties); > 1e-3 means a bug. Every test in ``tests/minidl`` that says "gradient" uses
:func:`check_layer`, :func:`check_model` or :func:`check_loss`.

For a layer we use the scalar ``L = Σ y ⊙ R`` with a fixed random ``R`` (plus the layer's
regularization penalty), so ``∂L/∂y = R`` exercises every output with a different weight.
"""

from __future__ import annotations

import copy

import numpy as np


def relative_error(analytic, numeric, tiny: float = 1e-30) -> float:
    """``‖a − n‖₂ / (‖a‖₂ + ‖n‖₂)``; 0 when both are exactly zero."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"relative_error expected arrays of the same shape; got {a.shape} and {n.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return float(np.linalg.norm(a - n) / max(denom, tiny))


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Centred-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is modified in place one element at a time and restored, so ``f`` can read it directly
    (as a layer reads its own parameters).
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writing to it changes x
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = f()
        flat[i] = old - h
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def check_layer(layer, x, *, training: bool = False, h: float = 1e-6, seed: int = 0) -> dict[str, float]:
    """Relative error of ``dx`` and of every trainable parameter's gradient of ``layer`` at input ``x``.

    The layer and ``x`` are cast to float64. A stochastic layer (dropout) gets the same random draws
    at every evaluation, because its generator is restored to the same state before each forward.
    Returns ``{"input": err, "kernel": err, ...}``; the caller asserts the tolerance.
    """
    x = np.array(x, dtype=np.float64)
    if not layer.built:
        layer.build(x.shape[1:])
    layer.cast(np.float64)
    rng_state = copy.deepcopy(layer.rng) if layer.rng is not None else None

    def forward():
        if rng_state is not None:
            layer.rng = copy.deepcopy(rng_state)
        return layer.forward(x, training=training)

    y = forward()
    R = np.random.default_rng(seed).standard_normal(y.shape)

    def loss():
        return float(np.sum(forward() * R)) + layer.regularization_loss()

    # analytic gradients: one forward, one backward with dy = R
    forward()
    dx = layer.backward(R)
    analytic = {"input": dx, **{n: layer.grads[n].copy() for n in layer.trainable_names}}

    errors = {"input": relative_error(analytic["input"], numerical_gradient(loss, x, h))}
    for name in layer.trainable_names:
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, layer.params[name], h))
    return errors


def check_loss(loss, y_true, y_pred, *, h: float = 1e-6) -> float:
    """Relative error of ``loss.gradient(y_true, y_pred)`` against centred differences of ``loss(...)``."""
    y_pred = np.array(y_pred, dtype=np.float64)
    analytic = loss.gradient(y_true, y_pred)
    numeric = numerical_gradient(lambda: loss(y_true, y_pred), y_pred, h)
    return relative_error(analytic, numeric)


def check_model(model, x, y=None, *, training: bool = False, h: float = 1e-6, seed: int = 0) -> dict[str, float]:
    """Relative errors of a whole model's backward pass — ``Sequential`` or functional ``Model``.

    Every layer and the input arrays are cast to float64. Without ``y`` the loss is ``L = Σ output ⊙ R``
    (fixed random ``R``) plus the penalties; with ``y`` (a compiled model) it is the compiled loss plus the
    penalties, and the analytic gradient takes the path training takes (fused softmax/sigmoid +
    cross-entropy). Returns ``{"input": err}`` (one input) or ``{"input:<Input name>": err, ...}`` and
    ``{"<layer>/<parameter>": err}`` for every trainable parameter. Stochastic layers get the same random
    draws at every evaluation.
    """
    for layer in model.layers:
        layer.cast(np.float64)
    checked = model._check_x(x)
    xs = [np.array(a, dtype=np.float64) for a in (checked if isinstance(checked, list) else [checked])]
    states = {layer: copy.deepcopy(layer.rng) for layer in model.layers if layer.rng is not None}

    def forward():
        for layer, state in states.items():
            layer.rng = copy.deepcopy(state)
        return model.forward(xs if isinstance(checked, list) else xs[0], training=training)

    out = forward()
    if y is None:
        R = np.random.default_rng(seed).standard_normal(out.shape)

        def loss():
            return float(np.sum(forward() * R)) + model._regularization_loss()

        dxs = model.backward(R)
    else:
        def loss():
            return float(model.loss(y, forward())) + model._regularization_loss()

        _, dy, from_logits = model._loss_and_grad(y, out)
        dxs = model.backward(dy, from_logits=from_logits)
    dxs = dxs if isinstance(dxs, list) else [dxs]
    analytic = {f"{l.name}/{n}": l.grads[n].copy() for l in model.layers for n in l.trainable_names}
    names = [l.name for l in getattr(model, "input_layers", [])]
    keys = ["input"] if len(xs) == 1 else [f"input:{n}" for n in names]
    errors = {k: relative_error(d, numerical_gradient(loss, a, h)) for k, d, a in zip(keys, dxs, xs)}
    params = {f"{l.name}/{n}": l.params[n] for l in model.layers for n in l.trainable_names}
    for key, g in analytic.items():
        errors[key] = relative_error(g, numerical_gradient(loss, params[key], h))
    return errors
