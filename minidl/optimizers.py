"""Optimizers: how a gradient becomes a weight update. Formulas exactly as Keras 3 computes them
(``keras/src/optimizers/*.py``), verified step by step in ``tests/minidl/test_optimizers.py`` and
against Keras itself in ``tests/minidl/test_keras_parity.py``.

Notation: ``w`` a weight tensor, ``g`` its gradient, ``η`` the learning rate at this step, ``t`` the
step number starting at 1; every state tensor starts at zero unless stated.

* **SGD**: ``w ← w − η·g``; with momentum μ: ``m ← μ·m − η·g``; ``w ← w + m``
  (Nesterov: ``w ← w + μ·m − η·g``).
* **RMSprop** (ρ=0.9, ε=1e-7): ``v ← ρ·v + (1−ρ)·g²``; ``w ← w − η·g / sqrt(v + ε)``
  (centered: ``v − ḡ²`` with ``ḡ ← ρ·ḡ + (1−ρ)·g``; momentum: ``m ← μ·m + step``; ``w ← w − m``).
* **Adagrad** (accumulator starts at 0.1, ε=1e-7): ``a ← a + g²``; ``w ← w − η·g / sqrt(a + ε)``.
* **Adadelta** (ρ=0.95, ε=1e-7, η=0.001): ``a ← ρ·a + (1−ρ)·g²``;
  ``Δ = −sqrt(d + ε)·g / sqrt(a + ε)``; ``d ← ρ·d + (1−ρ)·Δ²``; ``w ← w + η·Δ``.
* **Adam** (β₁=0.9, β₂=0.999, ε=1e-7), Keras's "ε-hat" form:
  ``m ← m + (g − m)(1−β₁)``; ``v ← v + (g² − v)(1−β₂)``;
  ``α = η·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ)``; ``w ← w − α·m / (sqrt(v) + ε)``.

Gradient clipping (applied first, as Keras): ``clipnorm`` rescales each tensor to norm ≤ clipnorm;
``global_clipnorm`` rescales all together; ``clipvalue`` clips each element. ``learning_rate`` may be a
schedule from :mod:`minidl.schedules`, evaluated at the step counter before the update.

Weights are updated **in place**, so layers keep referring to the same arrays.

State: ``iterations`` (the step counter ``t − 1``, which schedules and Adam's bias correction read) and
``slots`` (per weight: momentum, velocity, accumulators...). :meth:`Optimizer.get_state` /
:meth:`Optimizer.set_state` expose them; ``Sequential.save`` stores them, so train → save → load → train
is the uninterrupted run.
"""

from __future__ import annotations

import numpy as np

from . import kernels as _kernels
from . import schedules as _schedules
from ._naming import lookup


class Optimizer:
    """Base class. ``apply(variables)`` takes ``[(key, weight, gradient), ...]`` and updates in place."""

    def __init__(self, learning_rate=0.001, clipnorm=None, global_clipnorm=None, clipvalue=None, name=None):
        if sum(a is not None for a in (clipnorm, global_clipnorm, clipvalue)) > 1:
            raise ValueError("Only one of clipnorm, global_clipnorm and clipvalue can be set; got "
                             f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}, clipvalue={clipvalue}")
        if not isinstance(learning_rate, _schedules.LearningRateSchedule):
            if not (isinstance(learning_rate, (int, float, np.floating)) and learning_rate >= 0):
                raise ValueError(f"learning_rate must be a non-negative number or a schedule; got {learning_rate!r}")
            learning_rate = float(learning_rate)
        self._learning_rate = learning_rate
        self.clipnorm, self.global_clipnorm, self.clipvalue = clipnorm, global_clipnorm, clipvalue
        self.name = name or type(self).__name__.lower()
        self.iterations = 0  # number of updates applied so far
        self.slots: dict[str, dict[str, np.ndarray]] = {}  # per-weight state (momentum, velocity, ...)

    # -- learning rate --------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate for the next update (schedules are evaluated at ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            raise TypeError("This optimizer's learning rate is a schedule; it cannot be set to a number")
        self._learning_rate = float(value)

    # -- clipping -------------------------------------------------------------
    def _clip(self, grads):
        if self.clipnorm:
            return [g * self.clipnorm / max(float(np.sqrt(np.sum(g * g))), self.clipnorm) for g in grads]
        if self.global_clipnorm:
            norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
            return [g * self.global_clipnorm / max(norm, self.global_clipnorm) for g in grads]
        if self.clipvalue:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # -- update ---------------------------------------------------------------
    def _slot(self, key, name, like, init=0.0):
        state = self.slots.setdefault(key, {})
        if name not in state:
            state[name] = np.full_like(like, init)
        return state[name]

    def apply(self, variables) -> None:
        """One update of every ``(key, weight, gradient)``; ``key`` names the weight's state."""
        variables = list(variables)
        grads = self._clip([g for _, _, g in variables])
        lr = self.learning_rate
        for (key, w, _), g in zip(variables, grads):
            self.update_step(key, w, g.astype(w.dtype, copy=False), w.dtype.type(lr))
        self.iterations += 1

    def update_step(self, key, w, g, lr) -> None:
        raise NotImplementedError

    # -- state (saved with the model) -----------------------------------------
    def get_state(self) -> dict:
        """What the next update depends on besides the config: ``{"iterations": t, "slots": {key: {name:
        array}}}`` (copies). ``Sequential.save`` stores it so that a resumed run continues bit for bit."""
        return {"iterations": int(self.iterations),
                "slots": {key: {name: a.copy() for name, a in state.items()} for key, state in self.slots.items()}}

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned (slots copied; they must match the weights they follow)."""
        iterations = state.get("iterations", 0)
        if not (isinstance(iterations, (int, np.integer)) and iterations >= 0):
            raise ValueError(f"optimizer iterations must be a non-negative integer; got {iterations!r}")
        self.iterations = int(iterations)
        self.slots = {key: {name: np.array(a) for name, a in slot.items()} for key, slot in state.get("slots", {}).items()}

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"name": type(self).__name__,
                "learning_rate": lr.get_config() if isinstance(lr, _schedules.LearningRateSchedule) else lr,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum. Keras default η = 0.01."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD momentum must be in [0, 1]; got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def update_step(self, key, w, g, lr):
        if self.momentum == 0:
            w -= lr * g
            return
        m = self._slot(key, "momentum", w)
        mu = w.dtype.type(self.momentum)
        m[...] = m * mu - lr * g
        if self.nesterov:
            w += m * mu - lr * g
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divide the step by a running RMS of recent gradients (Hinton's lecture 6e)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)

    def update_step(self, key, w, g, lr):
        rho = w.dtype.type(self.rho)
        v = self._slot(key, "velocity", w)
        v[...] = rho * v + (1 - rho) * g * g
        if self.centered:
            gbar = self._slot(key, "average_gradient", w)
            gbar[...] = rho * gbar + (1 - rho) * g
            denominator = v - gbar * gbar + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * g / np.sqrt(denominator)
        if self.momentum > 0:
            m = self._slot(key, "momentum", w)
            m[...] = self.momentum * m + increment
            w -= m
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Per-weight step sizes shrinking with the sum of squared past gradients (Duchi et al. 2011)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def update_step(self, key, w, g, lr):
        a = self._slot(key, "accumulator", w, self.initial_accumulator_value)
        a += g * g
        w -= lr * g / np.sqrt(a + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adagrad without the ever-shrinking step: ratio of running RMS of updates and gradients (Zeiler 2012)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update_step(self, key, w, g, lr):
        rho = w.dtype.type(self.rho)
        a = self._slot(key, "accumulated_grad", w)
        d = self._slot(key, "accumulated_delta_var", w)
        a[...] = rho * a + (1 - rho) * g * g
        delta = -np.sqrt(d + self.epsilon) * g / np.sqrt(a + self.epsilon)
        d[...] = rho * d + (1 - rho) * delta * delta
        w += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Momentum plus RMS scaling with bias correction (Kingma & Ba 2015), Keras's ε-hat form."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)

    def update_step(self, key, w, g, lr):
        """The equations above, in place, by the active kernel family (:func:`minidl.kernels.reference.adam_update`
        is the NumPy version to read; the fast family gives the same bits in one pass over each array)."""
        m = self._slot(key, "momentum", w)
        v = self._slot(key, "velocity", w)
        vhat = self._slot(key, "velocity_hat", w) if self.amsgrad else None
        _kernels.active().adam_update(w, g, m, v, vhat, lr, self.beta_1, self.beta_2, self.epsilon,
                                      self.iterations + 1)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


_OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta, "adam": Adam}


def get(identifier, argument: str = "optimizer") -> Optimizer:
    """An optimizer from a name (``"adam"``, with Keras defaults), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        cfg = dict(identifier)
        cls = lookup(_OPTIMIZERS, cfg.pop("name"), kind="optimizer", argument=argument)
        if isinstance(cfg.get("learning_rate"), dict):
            cfg["learning_rate"] = _schedules.from_config(cfg["learning_rate"])
        return cls(**cfg)
    return lookup(_OPTIMIZERS, identifier, kind="optimizer", argument=argument)()
