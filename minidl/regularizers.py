"""Weight penalties added to the loss (Keras 3 definitions and defaults).

* ``L1(l1=0.01)``:  penalty ``l1·Σ|w|``,  gradient ``l1·sign(w)``  (drives weights to exactly zero);
* ``L2(l2=0.01)``:  penalty ``l2·Σw²``,   gradient ``2·l2·w``      (shrinks all weights — "weight decay");
* ``L1L2(l1=0, l2=0)``: both.

The penalty is added once per step to the batch loss (not divided by the batch size), exactly as Keras
adds ``model.losses``. The layer adds the gradient to its parameter gradient in ``backward``.
"""

from __future__ import annotations

import numpy as np

from ._naming import lookup


class Regularizer:
    """Base class: ``penalty(w) -> float`` and ``gradient(w) -> array like w``."""

    def penalty(self, w) -> float:
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": _NAMES_BY_CLASS[type(self)], **vars(self)}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


class L1L2(Regularizer):
    """``l1·Σ|w| + l2·Σw²``; gradient ``l1·sign(w) + 2·l2·w``."""

    def __init__(self, l1=0.0, l2=0.0):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"regularization factors must be >= 0; got l1={l1!r}, l2={l2!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def penalty(self, w):
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.sum(np.abs(w)))
        if self.l2:
            total += self.l2 * float(np.sum(np.square(w)))
        return total

    def gradient(self, w):
        g = np.zeros_like(w)
        if self.l1:
            g += self.l1 * np.sign(w)
        if self.l2:
            g += 2 * self.l2 * w
        return g


class L1(L1L2):
    """``l1·Σ|w|`` (Keras default l1 = 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1, l2=0.0)

    def get_config(self):
        return {"name": "l1", "l1": self.l1}


class L2(L1L2):
    """``l2·Σw²`` (Keras default l2 = 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=l2)

    def get_config(self):
        return {"name": "l2", "l2": self.l2}


_REGULARIZERS = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_NAMES_BY_CLASS = {L1: "l1", L2: "l2", L1L2: "l1_l2"}


def get(identifier, argument: str = "regularizer"):
    """A regularizer from ``None``, a name (``"l2"``), a config dict or an instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        cfg = dict(identifier)
        return lookup(_REGULARIZERS, cfg.pop("name"), kind="regularizer", argument=argument)(**cfg)
    return lookup(_REGULARIZERS, identifier, kind="regularizer", argument=argument)()
