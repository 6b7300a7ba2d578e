"""The kernel-family contract: every function a layer may call, with its shapes and semantics.

Two modules implement it, function for function:

* :mod:`minidl.kernels.reference` — clear NumPy with the derivations: the version to read;
* :mod:`minidl.kernels.fast`      — numba loops, im2col + BLAS, Winograd: the version to run.

:func:`minidl.kernels.active` returns one of the two modules typed as :class:`KernelFamily`, so an
editor's "go to definition" on ``K.conv_bias_activation`` in a layer lands on the documented signature
below; read :mod:`minidl.kernels.reference` next for how it is computed. ``tests/minidl/test_kernels.py`` checks
that both modules export exactly these functions with these signatures and compute the same numbers.

Conventions (channels-last, as Keras and TensorFlow)
----------------------------------------------------
* images ``x``: ``(N, H, W, C)``; conv kernels ``w``: ``(kh, kw, C, F)``; conv outputs ``(N, Ho, Wo, F)``.
  1-D layers pass images one pixel high (``H = 1``, kernels ``(1, k, C, F)``).
* ``strides = (sh, sw)``; ``pads = (top, bottom, left, right)``; ``pool = (ph, pw)``;
  see :mod:`minidl.kernels.geometry` for the amounts of ``padding="same"``.
* batch-norm functions see arrays as ``(M, C)``: every axis but the channel flattened into rows.

Memory: every function returns **new arrays** and leaves its arguments unchanged (the fast family may
work in place on buffers it allocated itself, never on yours) — except the optimizer's update
(:meth:`KernelFamily.adam_update`), which exists to update the weights and their state in place. Pass the
array arguments of one call in one dtype (float32 or float64); the outputs have that dtype, except
batch-norm statistics and sums (float64).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..activations import ActivationFunction, LinearFunction, ReLUFunction


class KernelFamily(Protocol):
    """What :func:`minidl.kernels.active` returns: a module with these functions."""

    # ------------------------------------------------------------------------------------ input check
    def all_finite(self, x: np.ndarray) -> bool:
        """True if no element of ``x`` (any shape, a float array) is NaN or ±∞: the check of a model's input."""

    # ------------------------------------------------------------------------------------ dense
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b``: a ``(…, K)``, b ``(K, M)`` → ``(…, M)`` — a Dense layer's ``x·W``."""

    def weight_gradient(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``aᵀ·b``: a ``(R, K)``, b ``(R, M)`` → ``(K, M)`` — a Dense layer's ``dW = xᵀ·dz``, a sum over the R
        rows of the batch of (input ⊗ output error)."""

    # ------------------------------------------------------------------------------------ convolution layer
    def conv_bias_activation(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides: tuple[int, int],
                             pads: tuple[int, int, int, int], activation: ActivationFunction) -> np.ndarray:
        """The forward pass of a convolution layer, kernel → bias → activation: ``y = f(x ⋆ w + b)``.

        x ``(N, H, W, C)`` with w ``(kh, kw, C, F)`` → y ``(N, Ho, Wo, F)``; or a sequence x ``(N, L, C)`` with
        w ``(k, C, F)`` (a ``Conv1D``), convolved as an image one pixel high → y ``(N, Lo, F)`` (strides and
        pads still in 2-D form, ``(1, s)`` and ``(0, 0, left, right)``). b ``(F,)`` or None. ``activation`` is
        an object of :mod:`minidl.activations`: its ``forward`` is called on ``z = x ⋆ w + b`` (shaped like
        y) and keeps what its ``backward`` needs — except for a plain ReLU (:func:`is_plain_relu`), computed
        as ``max(z, 0)``. Returns y, a new array. The fast family applies the bias and a plain ReLU inside
        the convolution, while each piece of the output is still in cache.
        """

    def conv_bias_activation_checked(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                                     strides: tuple[int, int], pads: tuple[int, int, int, int],
                                     activation: ActivationFunction) -> tuple[np.ndarray, bool]:
        """``(conv_bias_activation(x, w, b, strides, pads, activation), all_finite(x))``: a first layer's
        forward pass with the model's input check (``train_on_batch``). The fast family checks each sample
        just before its convolution reads it, so ``x`` (for benchmark R1, 138 MB per batch) comes from memory
        once for both.
        """

    def activation_backward(self, dy: np.ndarray, y: np.ndarray, activation: ActivationFunction) -> np.ndarray:
        """``dz = dy·f'(z)`` for the activation applied by :meth:`conv_bias_activation`, whose output was ``y``.

        ``activation.backward(dy)``, except for a plain ReLU: :meth:`relu_backward` ``(dy, y)``, ``dy`` where
        ``y > 0`` (0 at exactly 0). dy and y of the same shape → dz, a new array (or ``dy`` itself for no
        activation, as ``activation.backward`` of ``linear`` returns it).
        """

    def conv_layer_backward(self, x: np.ndarray, dy: np.ndarray, y: np.ndarray, w: np.ndarray,
                            strides: tuple[int, int], pads: tuple[int, int, int, int], activation: ActivationFunction,
                            use_bias: bool, need_dx: bool = True
                            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The backward pass of a convolution layer, the reverse of :meth:`conv_bias_activation`: ``(dW, db, dx)``.

        x, w, strides, pads and activation as given to :meth:`conv_bias_activation` (an image or a sequence),
        ``y`` its output and ``dy = ∂L/∂y`` of y's shape. Then ``dz = dy·f'(z)`` (:meth:`activation_backward`),
        ``(dW, dx)`` as :meth:`conv2d_backward` of dz (dW shaped like w, dx like x; dx None unless
        ``need_dx``), and ``db = Σ dz`` over every axis but the last (``(F,)``; None unless ``use_bias``).
        New arrays. The fast family, for a plain ReLU or no activation, applies the ReLU's mask and sums ``db``
        while each sample's ``dy`` is read for the convolution — the masked ``dz`` is never written to memory.
        """

    def conv_inference(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides: tuple[int, int],
                       pads: tuple[int, int, int, int], activation: ActivationFunction,
                       pool: tuple | None = None, affine: tuple | None = None) -> np.ndarray:
        """Inference forward of a convolution block: conv → bias → activation → [affine] → [pool] → [affine].

        The first three steps are :meth:`conv_bias_activation` (same x, w, b, strides, pads, activation;
        a sequence x ``(N, L, C)`` gives a sequence out). Then, optionally:

        * ``affine = (scale, shift, before_pool)``: ``y·scale + shift`` per channel (``(F,)`` each), as
          :meth:`batchnorm_apply` — a batch normalisation in inference mode; applied before the pooling if
          ``before_pool`` (Conv → BN → Pool), after it otherwise (Conv → Pool → BN);
        * ``pool = (mode, pool_size, pool_strides, pool_pads)``: ``mode`` ``"max"`` or ``"avg"``, the rest in
          2-D form as for :meth:`max_pool2d_forward` / :meth:`avg_pool2d_forward` (whose values it returns;
          max pooling's ``arg`` is not computed).

        Returns the block's output, a new array; nothing is kept for a backward pass. The fast family computes
        it in one pass where the pooling windows tile the conv output (stride = pool size, no padding), so the
        conv output before pooling is never written to memory (``minidl.inference`` plans these blocks).
        """

    # ------------------------------------------------------------------------------------ convolution
    def conv2d_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides: tuple[int, int],
                       pads: tuple[int, int, int, int], relu: bool = False) -> np.ndarray:
        """``y = x ⋆ w + b`` (cross-correlation, bias omitted if ``b`` is None), then ``max(y, 0)`` if ``relu``.

        x ``(N, H, W, C)``, w ``(kh, kw, C, F)``, b ``(F,)`` or None → y ``(N, Ho, Wo, F)``, a new array.
        """

    def conv2d_backward(self, x: np.ndarray, dy: np.ndarray, w: np.ndarray, strides: tuple[int, int],
                        pads: tuple[int, int, int, int], need_dx: bool = True
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        """Both gradients of :meth:`conv2d_forward` (without bias and ReLU) from ``dy = ∂L/∂y``: ``(dW, dx)``.

        x ``(N, H, W, C)``, dy ``(N, Ho, Wo, F)``, w ``(kh, kw, C, F)`` → dW ``(kh, kw, C, F)`` and dx
        ``(N, H, W, C)``, new arrays; ``dx`` is None when ``need_dx`` is False (a first layer needs none).
        """

    def conv2d_backward_weights(self, x: np.ndarray, dy: np.ndarray, kernel_shape: tuple[int, int, int, int],
                                strides: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
        """``dW`` alone, shape ``kernel_shape = (kh, kw, C, F)``: the correlation of the input with dY."""

    def conv2d_backward_input(self, dy: np.ndarray, w: np.ndarray, x_shape: tuple[int, int, int, int],
                              strides: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
        """``dx`` alone, shape ``x_shape = (N, H, W, C)``: the full convolution of dY with the flipped kernel."""

    def bias_act_forward(self, z: np.ndarray, b: np.ndarray | None, relu: bool) -> np.ndarray:
        """Epilogue of a convolution: ``y = z + b`` (no bias if None), then ``max(y, 0)`` if ``relu``.

        z ``(…, F)``, b ``(F,)`` → y of z's shape, a new array (``z`` unchanged).
        """

    def relu_backward(self, dy: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``dz = dy`` where the ReLU output ``y > 0``, else 0 (the gradient at exactly 0 is taken as 0).

        dy, y of the same shape → dz of that shape and dy's dtype, a new array.
        """

    # ------------------------------------------------------------------------------------ pooling
    def max_pool2d_forward(self, x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int],
                           pads: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Max over each window: ``(y, arg)``, x ``(N, H, W, C)`` → y ``(N, Ho, Wo, C)``.

        ``arg`` (int32, y's shape) is the winner's position inside its window, ``a·pw + c``: the *first*
        maximum in row-major order, as TensorFlow. Padding counts as −∞ (never wins).
        """

    def max_pool2d_backward(self, dy: np.ndarray, arg: np.ndarray, x_shape: tuple[int, int, int, int],
                            pool: tuple[int, int], strides: tuple[int, int],
                            pads: tuple[int, int, int, int]) -> np.ndarray:
        """``dx`` ``(x_shape)``: the whole ``dy`` of each window goes to its winner ``arg`` (windows may overlap)."""

    def avg_pool2d_forward(self, x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int],
                           pads: tuple[int, int, int, int]) -> np.ndarray:
        """Mean over the real (unpadded) cells of each window, as TensorFlow: ``(N, Ho, Wo, C)``."""

    def avg_pool2d_backward(self, dy: np.ndarray, x_shape: tuple[int, int, int, int], pool: tuple[int, int],
                            strides: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
        """``dx`` ``(x_shape)``: each real cell of a window receives ``dy / count``."""

    # ------------------------------------------------------------------------------------ batch norm
    def batchnorm_stats(self, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and *biased* variance of ``x2`` ``(M, C)``: two float64 arrays ``(C,)``."""

    def batchnorm_apply(self, x2: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """``y = x·scale + shift`` per channel (``scale = γ/√(σ² + ε)``, ``shift = β − μ·scale``): ``(M, C)``."""

    def batchnorm_backward_sums(self, dy2: np.ndarray, x2: np.ndarray, mean: np.ndarray,
                                inv_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Σ dy, Σ dy·x̂)`` per channel, float64 ``(C,)`` each, with ``x̂ = (x − μ)·inv_std``."""

    def batchnorm_backward_input(self, dy2: np.ndarray, x2: np.ndarray, mean: np.ndarray, inv_std: np.ndarray,
                                 scale: np.ndarray, sum_dy: np.ndarray, sum_dy_xhat: np.ndarray) -> np.ndarray:
        """Training-mode ``dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂))`` (means over the M rows): ``(M, C)``."""

    # ------------------------------------------------------------------------------------ pooling ↔ batch norm blocks
    def batchnorm_max_pool2d_forward(self, x: np.ndarray, scale: np.ndarray, shift: np.ndarray,
                                     pool: tuple[int, int], strides: tuple[int, int],
                                     pads: tuple[int, int, int, int]
                                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A training block batch norm → max pooling, forward: ``(y, arg, x_win)``, ``y`` and ``arg`` of
        :meth:`max_pool2d_forward` on ``x·scale + shift`` per channel (:meth:`batchnorm_apply`), and ``x_win``
        the input at each window's winner, in x's dtype (all three ``(N, Ho, Wo, C)``). x ``(N, H, W, C)``;
        scale, shift ``(C,)``.

        The fast family writes only these three where the windows tile ``x`` (stride = pool size, no
        padding): the normalised array is never stored (:mod:`minidl.kernels.bnpool_numba`).
        """

    def batchnorm_max_pool2d_backward(self, dy: np.ndarray, arg: np.ndarray, x_win: np.ndarray, x: np.ndarray,
                                      mean: np.ndarray, inv_std: np.ndarray, scale: np.ndarray,
                                      pool: tuple[int, int], strides: tuple[int, int],
                                      pads: tuple[int, int, int, int]
                                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Its backward in training mode: ``dy_bn`` = :meth:`max_pool2d_backward` of ``dy`` ``(N, Ho, Wo, C)``,
        then :meth:`batchnorm_backward_sums` and :meth:`batchnorm_backward_input` of ``dy_bn`` (``x`` the batch
        norm's input, ``mean``/``inv_std`` its batch statistics; ``arg``, ``x_win`` the forward's). Returns
        ``(dx, Σ dy_bn, Σ dy_bn·x̂)``: dx of x's shape, the two sums float64 ``(C,)``. The fast family takes
        the sums over the pooled cells (``dy_bn`` is zero off the winners: ``Σ dy``, ``Σ dy·x̂_win``) and
        writes dx in one pass, without ``dy_bn``.
        """

    def avg_pool2d_batchnorm_backward(self, dy: np.ndarray, p: np.ndarray, mean: np.ndarray, inv_std: np.ndarray,
                                      scale: np.ndarray, sum_dy: np.ndarray, sum_dy_xhat: np.ndarray,
                                      x_shape: tuple[int, int, int, int], pool: tuple[int, int],
                                      strides: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
        """A training block average pooling → batch norm, backward from the batch norm's ``dy`` and sums
        (:meth:`batchnorm_backward_sums` of ``dy`` and ``p``, the pooled output it normalised, both
        ``(N, Ho, Wo, C)``): :meth:`batchnorm_backward_input`, then :meth:`avg_pool2d_backward` → dx
        ``(x_shape)``. The fast family writes dx in one pass where the windows tile, never the batch norm's
        input gradient.
        """

    def conv_avg_pool_batchnorm_backward(self, x: np.ndarray, dy: np.ndarray, p: np.ndarray, y: np.ndarray,
                                         w: np.ndarray, strides: tuple[int, int], pads: tuple[int, int, int, int],
                                         activation: ActivationFunction, use_bias: bool, need_dx: bool,
                                         pool: tuple, batchnorm: tuple
                                         ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """A training block convolution layer → average pooling → batch norm, backward from the batch norm's
        ``dy`` (training mode): ``(dW, db, dx)`` of the convolution layer, as :meth:`conv_layer_backward` of the
        pooling's input gradient :meth:`avg_pool2d_batchnorm_backward`.

        x, y, w, strides, pads, activation, use_bias, need_dx as for :meth:`conv_layer_backward` (``y`` the conv
        layer's output, an image or a sequence); ``p`` the pooled output the batch norm normalised and ``dy``,
        both of the pooling's output shape (an image or a sequence, as ``y``). ``pool = (pool_size,
        pool_strides, pool_pads)`` in 2-D form; ``batchnorm = (mean, inv_std, scale, sum_dy, sum_dy_xhat)`` (its
        batch statistics and :meth:`batchnorm_backward_sums` of ``dy`` and ``p``). The fast family, for a plain
        ReLU or no activation and windows that tile, makes each sample's masked gradient from ``dy`` and ``p``
        as the convolution's backward pass reads it: the pooling's input gradient (twice the size of ``dy`` for
        a pool of 2) is never written to memory.
        """

    def conv_batchnorm_max_pool_backward(self, x: np.ndarray, dy: np.ndarray, arg: np.ndarray, x_win: np.ndarray,
                                         y: np.ndarray, w: np.ndarray, strides: tuple[int, int],
                                         pads: tuple[int, int, int, int], activation: ActivationFunction,
                                         use_bias: bool, need_dx: bool, pool: tuple, batchnorm: tuple
                                         ) -> tuple:
        """A training block convolution layer → batch norm → max pooling, backward from the pooling's ``dy``
        (the batch norm in training mode): ``(dW, db, dx, Σ dy_bn, Σ dy_bn·x̂)`` — :meth:`conv_layer_backward` of
        the batch norm's input gradient from :meth:`batchnorm_max_pool2d_backward`, and that function's two sums.

        x, y, w, strides, pads, activation, use_bias, need_dx as for :meth:`conv_layer_backward` (``y`` the conv
        output, the batch norm's input); ``dy``, ``arg``, ``x_win`` of the pooling's output shape, as
        :meth:`batchnorm_max_pool2d_forward` returned them. ``pool = (pool_size, pool_strides, pool_pads)`` in 2-D
        form; ``batchnorm = (mean, inv_std, scale)``. The fast family, for a plain ReLU or no activation, windows
        that tile and the direct loops without an input gradient (R0's first layer), makes each output row's
        gradient from ``dy`` and ``arg`` as the weight gradient's loop reads it: the batch norm's input gradient
        is never written to memory.
        """

    # ------------------------------------------------------------------------------------ optimizer
    def adam_update(self, w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, vhat: np.ndarray | None,
                    lr: float, beta_1: float, beta_2: float, epsilon: float, t: int) -> None:
        """Adam's step ``t`` (≥ 1) on a weight ``w`` with gradient ``g``, **in place** on ``w``, ``m``, ``v``:
        ``m ← m + (g − m)(1−β₁)``; ``v ← v + (g² − v)(1−β₂)``; [amsgrad: ``v̂ ← max(v̂, v)``, used as ``v``];
        ``w ← w − α·m/(√v + ε)``, ``α = η·√(1−β₂ᵗ)/(1−β₁ᵗ)`` (:class:`minidl.optimizers.Adam`).

        ``w, g, m, v`` (and ``vhat``, None without amsgrad) of one shape and dtype, float32 or float64; every
        operation in that dtype. Returns None. Both families give the same bits (the fast one in one pass).
        """


def is_plain_relu(activation: ActivationFunction) -> bool:
    """True for ``"relu"`` with Keras defaults (no slope, cap or threshold): ``max(z, 0)``, derivative ``[y > 0]``.

    Both families compute it this way after a convolution (:meth:`KernelFamily.conv_bias_activation`);
    the fast one fuses it with the bias into the convolution.
    """
    return (type(activation) is ReLUFunction and activation.negative_slope == 0 and activation.max_value is None
            and activation.threshold == 0)


def is_linear(activation: ActivationFunction) -> bool:
    """True for no activation (``"linear"``, ``f(z) = z``)."""
    return isinstance(activation, LinearFunction)


def functions() -> tuple[str, ...]:
    """Names of the contract's functions, in declaration order."""
    return tuple(name for name, value in vars(KernelFamily).items() if callable(value) and not name.startswith("_"))


__all__ = ["KernelFamily", "functions", "is_plain_relu", "is_linear"]
