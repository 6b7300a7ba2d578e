"""Window geometry shared by both kernel families and by the layers: padding amounts and output sizes.

Channels-last, as Keras and TensorFlow: ``pads = (top, bottom, left, right)`` zero rows/columns added
around an image ``(N, H, W, C)``. :func:`same_padding` computes TensorFlow's ``padding="same"`` amounts
(the extra pixel goes bottom/right).
"""

from __future__ import annotations


def same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow ``"same"`` padding along one axis: output ``ceil(size/s)``; extra pixel after.

    ``pad_total = max((out − 1)·s + k − size, 0)``, ``before = pad_total // 2``, ``after = the rest``.
    """
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def output_length(size: int, k: int, s: int, pad_before: int, pad_after: int) -> int:
    """Number of window positions: ``floor((size + pads − k) / s) + 1`` (≤ 0 if the window does not fit)."""
    span = size + pad_before + pad_after - k
    return span // s + 1 if span >= 0 else 0


def padding_amounts(in_hw, k_hw, strides, padding: str) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` for ``padding`` ``"valid"`` (none) or ``"same"`` (TensorFlow's)."""
    if padding == "valid":
        return 0, 0, 0, 0
    top, bottom = same_padding(in_hw[0], k_hw[0], strides[0])
    left, right = same_padding(in_hw[1], k_hw[1], strides[1])
    return top, bottom, left, right


def output_hw(x_shape, k_hw, strides, pads) -> tuple[int, int]:
    """``(Ho, Wo)`` of a window ``k_hw`` sliding over an image of shape ``x_shape = (N, H, W, C)``."""
    return (output_length(x_shape[1], k_hw[0], strides[0], pads[0], pads[1]),
            output_length(x_shape[2], k_hw[1], strides[1], pads[2], pads[3]))


def as_image(x, w):
    """A sequence ``x`` ``(N, L, C)`` with kernel ``w`` ``(k, C, F)`` as an image one pixel high, ``(N, 1, L, C)``
    with kernel ``(1, k, C, F)`` (views, no copy); an image ``(N, H, W, C)`` and its kernel unchanged."""
    return (x[:, None], w[None]) if x.ndim == 3 else (x, w)


__all__ = ["same_padding", "output_length", "padding_amounts", "output_hw", "as_image"]
