"""Weight initializers with the definitions of Keras 3 (``keras.initializers``).

An initializer is called as ``init(shape, dtype, rng)`` with a seeded ``numpy.random.Generator``; the
same generator state gives the same weights, bit for bit.

Fans (Keras ``compute_fans``): for a dense kernel ``(in, out)`` ``fan_in = in``, ``fan_out = out``; for a
convolution kernel ``(k₁, …, in, out)`` both are multiplied by the receptive field ``k₁·…``.

Variance scaling (Glorot, He, LeCun) draws with variance ``scale / n`` where ``n`` is ``fan_in``,
``fan_out`` or their average:

* uniform:           ``U(−limit, limit)`` with ``limit = sqrt(3·scale/n)``;
* truncated normal:  normal with σ = ``sqrt(scale/n) / 0.87962566103423978`` redrawn beyond 2σ — the
  divisor is the standard deviation of a unit normal truncated at ±2, so the variance is ``scale/n``.

``GlorotUniform`` (default kernel initializer): scale 1, fan_avg, uniform ⇒ ``limit = sqrt(6/(in+out))``.
``HeNormal``: scale 2, fan_in, truncated normal — suited to ReLU networks.
"""

from __future__ import annotations

import math

import numpy as np

from ._naming import lookup


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight tensor, as Keras computes them."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def truncated_normal(rng, shape, mean=0.0, stddev=1.0):
    """Normal draws redrawn until all lie within ``mean ± 2·stddev`` (as ``tf.random.truncated_normal``)."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    return mean + stddev * x


class Initializer:
    """Base class: ``__call__(shape, dtype, rng) -> ndarray``."""

    def __call__(self, shape, dtype=np.float32, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        return np.asarray(self.sample(tuple(shape), rng), dtype=dtype)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": _NAMES_BY_CLASS[type(self)], **{k: v for k, v in vars(self).items()}}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros (default bias initializer)."""

    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones (BatchNormalization's gamma)."""

    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every weight equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    """Normal with ``mean`` and ``stddev`` (Keras defaults 0 and 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    """Uniform on ``[minval, maxval)`` (Keras defaults −0.05 and 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class TruncatedNormal(Initializer):
    """Normal with ``mean``, ``stddev`` (defaults 0, 0.05), redrawn beyond two standard deviations."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape, rng):
        return truncated_normal(rng, shape, self.mean, self.stddev)


class VarianceScaling(Initializer):
    """Draws with variance ``scale / n``; ``n`` from ``mode`` (fan_in, fan_out, fan_avg).

    ``distribution`` is ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``; see the module
    docstring for the formulas.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        if scale <= 0:
            raise ValueError(f"VarianceScaling scale must be positive; got {scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling mode must be one of {self._MODES}; got {mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling distribution must be one of {self._DISTRIBUTIONS}; got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        # 0.879… is the std of a unit normal truncated to [−2, 2]; dividing restores the variance
        return truncated_normal(rng, shape, 0.0, math.sqrt(variance) / 0.87962566103423978)


class GlorotUniform(VarianceScaling):
    """Glorot/Xavier uniform: ``U(−limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {"name": _NAMES_BY_CLASS[type(self)]}


class GlorotNormal(VarianceScaling):
    """Glorot/Xavier truncated normal with variance ``2 / (fan_in + fan_out)``."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    get_config = GlorotUniform.get_config


class HeNormal(VarianceScaling):
    """He truncated normal with variance ``2 / fan_in``."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")

    get_config = GlorotUniform.get_config


class HeUniform(VarianceScaling):
    """He uniform: ``limit = sqrt(6 / fan_in)``."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")

    get_config = GlorotUniform.get_config


class LecunNormal(VarianceScaling):
    """LeCun truncated normal with variance ``1 / fan_in`` (pairs with SELU)."""

    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")

    get_config = GlorotUniform.get_config


class LecunUniform(VarianceScaling):
    """LeCun uniform: ``limit = sqrt(3 / fan_in)``."""

    def __init__(self):
        super().__init__(1.0, "fan_in", "uniform")

    get_config = GlorotUniform.get_config


_INITIALIZERS = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
}
_NAMES_BY_CLASS = {cls: name for name, cls in _INITIALIZERS.items()}


def get(identifier, argument: str = "initializer") -> Initializer:
    """An initializer from a Keras name (``"glorot_uniform"``), a config dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        cfg = dict(identifier)
        return lookup(_INITIALIZERS, cfg.pop("name"), kind="initializer", argument=argument)(**cfg)
    return lookup(_INITIALIZERS, identifier, kind="initializer", argument=argument)()
