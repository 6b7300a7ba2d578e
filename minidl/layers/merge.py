"""Merge layers: combine a *list* of batches into one — ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``,
``Average`` (Keras 3 names and semantics). They are what joins the branches of a functional model::

    image, stats = Input((40, 64, 1), name="image"), Input((18,), name="stats")
    h = Concatenate()([Flatten()(Conv2D(8, 3)(image)), Dense(16)(stats)])

Their ``forward`` takes a list ``[x₁, …, x_k]`` and their ``backward(dy)`` returns the list
``[dx₁, …, dx_k]``, one gradient per input, in the same order. The model sends each ``dxᵢ`` to the
layer that produced ``xᵢ`` (:mod:`minidl.functional`). None of them has parameters.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, shape_str


class Merge(Layer):
    """Base class: checks the list of inputs; subclasses define ``_merge`` and ``_split``.

    ``input_shape`` is the *list* of the inputs' sample shapes (batch axis excluded).
    """

    #: True if every input must have the same shape (element-wise merges)
    same_shape = True

    def build(self, input_shape) -> None:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{type(self).__name__} {self.name!r} must be called on a list of inputs; got "
                             f"sample shape {input_shape!r}")
        shapes = [tuple(int(d) for d in s) for s in input_shape]
        self.output_shape = tuple(self.compute_output_shape(shapes))
        self.input_shape = shapes
        self.built = True

    def compute_output_shape(self, input_shape) -> tuple:
        shapes = [tuple(s) for s in input_shape]
        if self.same_shape and any(s != shapes[0] for s in shapes):
            raise ValueError(f"{type(self).__name__} {self.name!r} needs inputs of the same shape; got "
                             + ", ".join(shape_str(s) for s in shapes))
        return shapes[0]

    def _check_inputs(self, xs) -> list[np.ndarray]:
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"{type(self).__name__} {self.name!r} expects a list of arrays; got "
                            f"{type(xs).__name__}")
        xs = [np.asarray(x) for x in xs]
        for i, x in enumerate(xs):
            if not np.issubdtype(x.dtype, np.number):
                raise TypeError(f"{type(self).__name__} {self.name!r} input {i} must be numeric; got dtype {x.dtype}")
            if x.ndim < 2:
                raise ValueError(f"{type(self).__name__} {self.name!r} input {i} must be a batch (N, ...); "
                                 f"got shape {x.shape}")
        if len({len(x) for x in xs}) > 1:
            raise ValueError(f"{type(self).__name__} {self.name!r} inputs have different batch sizes: "
                             f"{[len(x) for x in xs]}")
        if not self.built:
            self.build([x.shape[1:] for x in xs])
        elif [tuple(x.shape[1:]) for x in xs] != list(self.input_shape):
            raise ValueError(f"{type(self).__name__} {self.name!r} was built for inputs "
                             f"{', '.join(shape_str(s) for s in self.input_shape)}; got "
                             f"{', '.join(str(x.shape) for x in xs)}")
        return xs

    def forward(self, xs, training=False):
        return self._merge(self._check_inputs(xs))

    def backward(self, dy):
        return self._split(dy)


class Concatenate(Merge):
    """``y = [x₁ | x₂ | …]`` joined along ``axis`` (counted with the batch axis, as Keras: -1 = last).

    The inputs must agree on every other axis. Backward cuts ``dy`` back into the pieces:
    ``dxᵢ = dy[…, oᵢ : oᵢ + dᵢ, …]`` where ``dᵢ`` is input i's size along ``axis`` and ``oᵢ = d₁ + … + dᵢ₋₁``.
    """

    same_shape = False

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate axis must be an integer; got {axis!r}")
        self.axis = int(axis)

    def _sample_axis(self, rank: int) -> int:
        """``axis`` as an index into the sample shape (rank = sample rank, batch axis excluded)."""
        ax = self.axis + rank + 1 if self.axis < 0 else self.axis
        if ax == 0:
            raise ValueError(f"Concatenate {self.name!r} cannot join along the batch axis (axis={self.axis})")
        if not 1 <= ax <= rank:
            raise ValueError(f"Concatenate {self.name!r} axis={self.axis} is out of range for inputs of rank "
                             f"{rank + 1}")
        return ax - 1

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len({len(s) for s in shapes}) > 1:
            raise ValueError(f"Concatenate {self.name!r} needs inputs of the same rank; got "
                             + ", ".join(shape_str(s) for s in shapes))
        ax = self._sample_axis(len(shapes[0]))
        rest = {s[:ax] + s[ax + 1:] for s in shapes}
        if len(rest) > 1:
            raise ValueError(f"Concatenate {self.name!r} (axis={self.axis}) needs inputs that agree on every axis "
                             f"except the concatenation axis; got " + ", ".join(shape_str(s) for s in shapes))
        return (*shapes[0][:ax], sum(s[ax] for s in shapes), *shapes[0][ax + 1:])

    def _merge(self, xs):
        ax = self._sample_axis(xs[0].ndim - 1) + 1
        self._sizes = [x.shape[ax] for x in xs]
        return np.concatenate(xs, axis=ax)

    def _split(self, dy):
        ax = self._sample_axis(dy.ndim - 1) + 1
        pieces = np.split(dy, np.cumsum(self._sizes)[:-1], axis=ax)
        return [np.ascontiguousarray(p) for p in pieces]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Add(Merge):
    """``y = x₁ + x₂ + … + x_k`` (same shapes). Backward: ``dxᵢ = dy`` for every input."""

    def _merge(self, xs):
        self._k = len(xs)
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        return y

    def _split(self, dy):
        return [dy] * self._k


class Subtract(Merge):
    """``y = x₁ − x₂`` (exactly two inputs of the same shape). Backward: ``dx₁ = dy``, ``dx₂ = −dy``."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"Subtract {self.name!r} needs exactly 2 inputs; got {len(input_shape)}")
        return super().compute_output_shape(input_shape)

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _split(self, dy):
        return [dy, -dy]


class Multiply(Merge):
    """``y = x₁ ⊙ x₂ ⊙ … ⊙ x_k`` element-wise. Backward: ``dxᵢ = dy ⊙ Π_{j≠i} xⱼ`` (the product of the
    *other* inputs, computed without dividing, so exact zeros are fine)."""

    def _merge(self, xs):
        self._xs = xs
        y = xs[0].copy()
        for x in xs[1:]:
            y *= x
        return y

    def _split(self, dy):
        out = []
        for i in range(len(self._xs)):
            g = dy.copy()
            for j, x in enumerate(self._xs):
                if j != i:
                    g *= x
            out.append(g)
        return out


class Average(Merge):
    """``y = (x₁ + … + x_k) / k``. Backward: ``dxᵢ = dy / k``."""

    def _merge(self, xs):
        self._k = len(xs)
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        return y / self._k

    def _split(self, dy):
        return [dy / self._k] * self._k
