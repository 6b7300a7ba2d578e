"""Learning-rate schedules, evaluated at the optimizer's step counter (0 for the first update),
with the formulas of ``keras.optimizers.schedules``.

* ``ExponentialDecay``:      ``lr₀ · rate^(step/decay_steps)``  (``staircase``: floor of the exponent)
* ``InverseTimeDecay``:      ``lr₀ / (1 + rate · step/decay_steps)``
* ``PiecewiseConstantDecay``: ``values[i]`` while ``step <= boundaries[i]``
* ``PolynomialDecay``:       ``(lr₀ − lr_end)·(1 − s/decay_steps)^power + lr_end``, ``s = min(step, decay_steps)``;
  ``power=1`` is the linear decay of the lecture.
"""

from __future__ import annotations

import math


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": type(self).__name__, **vars(self)}


def _check_positive(name, value, owner):
    if not value > 0:
        raise ValueError(f"{owner} {name} must be positive; got {value!r}")


class _DecayEverySteps(LearningRateSchedule):
    """Shared arguments of the exponential and inverse-time decays."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        _check_positive("decay_steps", decay_steps, type(self).__name__)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate, self.staircase = decay_steps, float(decay_rate), bool(staircase)

    def _progress(self, step):
        """``step / decay_steps``, floored with ``staircase``."""
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p


class ExponentialDecay(_DecayEverySteps):
    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_DecayEverySteps):
    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries, values):
        boundaries, values = list(boundaries), [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay needs one more value than boundaries; got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        if boundaries != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay boundaries must increase; got {boundaries}")
        self.boundaries, self.values = boundaries, values

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]


class PolynomialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
        _check_positive("decay_steps", decay_steps, "PolynomialDecay")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.end_learning_rate = decay_steps, float(end_learning_rate)
        self.power, self.cycle = float(power), bool(cycle)

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            # restart the decay every decay_steps (the first period starts at step 0)
            decay_steps = decay_steps * max(1, math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        frac = 1 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * frac ** self.power + self.end_learning_rate


_SCHEDULES = {cls.__name__: cls for cls in
              (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay)}


def from_config(config: dict) -> LearningRateSchedule:
    cfg = dict(config)
    name = cfg.pop("name")
    if name not in _SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {name!r}; valid names are: {', '.join(_SCHEDULES)}")
    return _SCHEDULES[name](**cfg)
