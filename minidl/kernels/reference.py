"""Reference kernels: convolution, pooling and batch normalisation in clear NumPy — the version to read.

This module is one of the two kernel families (the contract, with every signature, shape and
semantics, is :class:`minidl.kernels.contract.KernelFamily`). Every function here has a fast twin in
:mod:`minidl.kernels.fast` with the same signature and the same result; ``tests/minidl/test_kernels.py``
proves they agree (hypothesis over random shapes, strides and paddings, float32 and float64). Every
function returns new arrays and leaves its arguments unchanged, except the optimizer's update
(:func:`adam_update`), which updates the weights and their state in place.

Conventions (channels-last, as Keras and TensorFlow)
----------------------------------------------------
* images ``x``: ``(N, H, W, C)``; kernels ``w``: ``(kh, kw, C, F)``; outputs ``y``: ``(N, Ho, Wo, F)``.
  1-D layers call these with ``H = 1`` (a sequence is an image one pixel high).
* ``strides = (sh, sw)``; ``pads = (top, bottom, left, right)`` zero rows/columns added around ``x``.
  :func:`minidl.kernels.geometry.same_padding` computes TensorFlow's ``padding="same"`` amounts (the
  extra pixel goes bottom/right).

Convolution (really a cross-correlation, as in every deep-learning library)
--------------------------------------------------------------------------
With ``xp`` the padded input::

    y[n, i, j, f] = b[f] + Σ_{a, c, k} xp[n, i·sh + a, j·sw + c, k] · w[a, c, k, f]

Differentiating, each weight meets every input pixel it ever touched, weighted by the error there::

    dW[a, c, k, f] = Σ_{n, i, j} xp[n, i·sh + a, j·sw + c, k] · dy[n, i, j, f]

— a **correlation of the input with dY** (dY plays the role of the kernel). And each input pixel
receives the error of every output it contributed to::

    dxp[n, p, q, k] = Σ_{i, j, f} dy[n, i, j, f] · w[p − i·sh, q − j·sw, k, f]

Substituting ``a = p − i·sh`` shows this is a **full convolution of dY with the flipped kernel**:
spread dY out by the stride (insert ``sh − 1`` zero rows between its rows), pad it by ``kh − 1`` on
every side, and correlate with ``w`` rotated by 180° in space and with ``C`` and ``F`` swapped.
:func:`conv2d_backward_input` does exactly that, reusing :func:`conv2d_forward`.
"""

from __future__ import annotations

import sys

import numpy as np

from .contract import is_plain_relu
from .geometry import as_image, output_hw

# ---------------------------------------------------------------------------------------- dense


def matmul(a, b):
    """``a @ b`` — a Dense layer's ``z = x·W`` (each output unit sums input × weight over the inputs)."""
    return a @ b


def weight_gradient(a, b):
    """``aᵀ·b`` — a Dense layer's ``dW = xᵀ·dz``: ``dW[i, j] = Σ_rows x[row, i]·dz[row, j]``, input × error
    summed over the batch."""
    return a.T @ b


def all_finite(x):
    """True if no element of ``x`` is NaN or ±∞ — the models' input check."""
    return bool(np.all(np.isfinite(x)))


# ---------------------------------------------------------------------------------------- convolution


def _pad(x, pads, value=0.0):
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def conv2d_forward(x, w, b, strides, pads, relu=False):
    """``y = x ⋆ w + b`` (cross-correlation), then ``max(y, 0)`` if ``relu``.

    x ``(N, H, W, C)``, w ``(kh, kw, C, F)``, b ``(F,)`` or None.

    One loop over output positions; at each, the window ``(N, kh, kw, C)`` is contracted with ``w``.
    """
    kh, kw, _, F = w.shape
    sh, sw = strides
    xp = _pad(x, pads)
    Ho, Wo = output_hw(x.shape, (kh, kw), strides, pads)
    y = np.zeros((x.shape[0], Ho, Wo, F), dtype=np.result_type(x, w))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            y[:, i, j, :] = np.tensordot(window, w, axes=3)
    if b is not None:
        y += b
    return np.maximum(y, 0) if relu else y


def conv2d_backward_weights(x, dy, kernel_shape, strides, pads):
    """``dW = Σ_{n,i,j} window(n, i, j) ⊗ dy[n, i, j]`` — the correlation of the input with dY.

    x ``(N, H, W, C)``, dy ``(N, Ho, Wo, F)`` → dW ``kernel_shape = (kh, kw, C, F)``. (``db = Σ dy``
    over N, Ho, Wo is one line in the layer.)
    """
    kh, kw, _, _ = kernel_shape
    sh, sw = strides
    xp = _pad(x, pads)
    dW = np.zeros(kernel_shape, dtype=np.result_type(x, dy))
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            window = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]   # (N, kh, kw, C)
            dW += np.tensordot(window, dy[:, i, j, :], axes=([0], [0]))  # (kh, kw, C, F)
    return dW


def conv2d_backward_input(dy, w, x_shape, strides, pads):
    """``dx`` as the full convolution of dY with the flipped kernel (see the module docstring).

    dy ``(N, Ho, Wo, F)``, w ``(kh, kw, C, F)`` → dx ``x_shape = (N, H, W, C)``.

    1. dilate: put dY's values ``sh`` rows / ``sw`` columns apart (zeros between) — undoes the stride;
    2. pad by ``kh − 1`` / ``kw − 1`` on every side — "full" convolution: every overlap counts;
    3. correlate with ``w[::-1, ::-1]`` with its channel axes swapped, ``(kh, kw, F, C)``;
    4. the result is the gradient of the *padded* input, ``(N, Hp', Wp', C)``; rows/columns that no
       window reached (when the stride does not divide evenly) get zero; finally crop the padding.
    """
    N, Ho, Wo, F = dy.shape
    kh, kw, C, _ = w.shape
    sh, sw = strides
    top, bottom, left, right = pads
    dilated = np.zeros((N, (Ho - 1) * sh + 1, (Wo - 1) * sw + 1, F), dtype=dy.dtype)
    dilated[:, ::sh, ::sw, :] = dy
    w_flipped = w[::-1, ::-1, :, :].transpose(0, 1, 3, 2)
    dxp_reached = conv2d_forward(dilated, w_flipped, None, (1, 1), (kh - 1, kh - 1, kw - 1, kw - 1))
    Hp, Wp = x_shape[1] + top + bottom, x_shape[2] + left + right
    dxp = np.zeros((N, Hp, Wp, C), dtype=dxp_reached.dtype)
    dxp[:, :dxp_reached.shape[1], :dxp_reached.shape[2], :] = dxp_reached
    return dxp[:, top:Hp - bottom, left:Wp - right, :]


def conv2d_backward(x, dy, w, strides, pads, need_dx=True):
    """Both gradients of :func:`conv2d_forward` from ``dy = ∂L/∂y``: ``(dW, dx)``.

    The two formulas of the module docstring, one after the other: ``dW`` is the correlation of the input
    with dY (:func:`conv2d_backward_weights`), ``dx`` the full convolution of dY with the flipped kernel
    (:func:`conv2d_backward_input`). ``dx`` is None when ``need_dx`` is False: the first layer of a
    network needs no input gradient, and skipping it saves a whole convolution. (The bias gradient
    ``db = Σ dy`` over N, Ho, Wo is one line in the layer; a ReLU's ``dy·[y > 0]`` comes before this.)
    """
    dW = conv2d_backward_weights(x, dy, w.shape, strides, pads)
    dx = conv2d_backward_input(dy, w, x.shape, strides, pads) if need_dx else None
    return dW, dx


def bias_act_forward(z, b, relu):
    """Epilogue of a convolution: ``y = z + b`` and, if ``relu``, ``max(y, 0)``. Returns a new array."""
    y = z.copy() if b is None else z + b
    return np.maximum(y, 0) if relu else y


def relu_backward(dy, y):
    """``dz = dy`` where the ReLU output ``y > 0``, else 0 (the gradient at exactly 0 is taken as 0)."""
    return np.where(y > 0, dy, 0).astype(dy.dtype, copy=False)


def conv_bias_activation(x, w, b, strides, pads, activation):
    """A convolution layer's forward pass in its three steps, as Keras's ``Conv`` layers: kernel → bias →
    activation, ``y = f(x ⋆ w + b)``.

    x ``(N, H, W, C)`` with w ``(kh, kw, C, F)``, or a sequence x ``(N, L, C)`` with w ``(k, C, F)``
    (convolved as an image one pixel high, returned as ``(N, Lo, F)``); b ``(F,)`` or None; ``activation``
    an object of :mod:`minidl.activations`, called on ``z`` shaped like the output. A plain ReLU is
    ``max(z, 0)``, its derivative ``[y > 0]`` (:func:`activation_backward`).
    """
    x4, w4 = as_image(x, w)
    z = conv2d_forward(x4, w4, None, strides, pads)      # 1. kernel (Keras: convolution_op)
    if x.ndim == 3:
        z = z[:, 0]                                      #    back to the sequence's (N, Lo, F)
    if b is not None:
        z = z + b                                        # 2. bias
    if is_plain_relu(activation):                        # 3. activation
        return np.maximum(z, 0)
    return activation.forward(z)


def conv_bias_activation_checked(x, w, b, strides, pads, activation):
    """A first layer's forward pass and the model's input check: :func:`conv_bias_activation` and
    :func:`all_finite` of ``x``, as ``(y, finite)``."""
    return conv_bias_activation(x, w, b, strides, pads, activation), all_finite(x)


def activation_backward(dy, y, activation):
    """``dz = dy·f'(z)`` for the activation of :func:`conv_bias_activation`; ``y`` is its output."""
    if is_plain_relu(activation):
        return relu_backward(dy, y)
    return activation.backward(dy)


def conv_layer_backward(x, dy, y, w, strides, pads, activation, use_bias, need_dx=True):
    """The backward pass of a convolution layer, the reverse of :func:`conv_bias_activation`:
    ``(dW, db, dx)``. With ``z = x ⋆ w + b`` and ``y = f(z)``:

    * ``dz = dy·f'(z)`` (:func:`activation_backward`),
    * ``dW, dx`` = :func:`conv2d_backward` of ``dz`` (``dx`` None unless ``need_dx``),
    * ``db[f] = Σ_{n,i,j} dz[n, i, j, f]`` (None unless ``use_bias``).
    """
    dz = activation_backward(dy, y, activation)
    x4, w4 = as_image(x, w)
    dW, dx = conv2d_backward(x4, dz if dz.ndim == 4 else dz[:, None], w4, strides, pads, need_dx)
    db = dz.reshape(-1, dz.shape[-1]).sum(axis=0) if use_bias else None
    return dW.reshape(w.shape), db, None if dx is None else dx.reshape(x.shape)


# ---------------------------------------------------------------------------------------- pooling


def max_pool2d_forward(x, pool, strides, pads):
    """Max over each window; returns ``(y, arg)``.

    x ``(N, H, W, C)`` → y ``(N, Ho, Wo, C)``; ``arg`` (int32, same shape) is the position of the
    winner inside its window, ``a·pw + c`` — the *first* maximum in row-major order, as TensorFlow.
    Padding (``"same"``) is −∞, so a padded cell never wins.
    """
    ph, pw = pool
    sh, sw = strides
    xp = _pad(x, pads, -np.inf)
    Ho, Wo = output_hw(x.shape, pool, strides, pads)
    N, C = x.shape[0], x.shape[3]
    y = np.empty((N, Ho, Wo, C), dtype=x.dtype)
    arg = np.empty((N, Ho, Wo, C), dtype=np.int32)
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(N, ph * pw, C)
            arg[:, i, j, :] = window.argmax(axis=1)   # argmax returns the first maximum
            y[:, i, j, :] = window.max(axis=1)
    return y, arg


def max_pool2d_backward(dy, arg, x_shape, pool, strides, pads):
    """The whole error of a window goes to its winner: ``dx[winner] += dy`` (windows may overlap)."""
    ph, pw = pool
    sh, sw = strides
    top, bottom, left, right = pads
    N, H, W, C = x_shape
    dxp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=dy.dtype)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            a, c = np.divmod(arg[:, i, j, :], pw)
            np.add.at(dxp, (n_idx, i * sh + a, j * sw + c, c_idx), dy[:, i, j, :])
    return dxp[:, top:top + H, left:left + W, :]


def _window_counts(x_shape, pool, strides, pads):
    """How many *real* (unpadded) cells each window covers: TensorFlow's average excludes padding."""
    ones = np.ones((1, x_shape[1], x_shape[2], 1))
    ph, pw = pool
    sh, sw = strides
    op = _pad(ones, pads)
    Ho, Wo = output_hw(x_shape, pool, strides, pads)
    counts = np.empty((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            counts[i, j] = op[0, i * sh:i * sh + ph, j * sw:j * sw + pw, 0].sum()
    return counts


def avg_pool2d_forward(x, pool, strides, pads):
    """Mean over each window of the real cells (padding excluded from the count, as TensorFlow)."""
    ph, pw = pool
    sh, sw = strides
    xp = _pad(x, pads)
    Ho, Wo = output_hw(x.shape, pool, strides, pads)
    counts = _window_counts(x.shape, pool, strides, pads)
    y = np.empty((x.shape[0], Ho, Wo, x.shape[3]), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            y[:, i, j, :] = xp[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].sum(axis=(1, 2)) / counts[i, j]
    return y


def avg_pool2d_backward(dy, x_shape, pool, strides, pads):
    """Each real cell of a window receives ``dy / count`` (its share of the mean)."""
    ph, pw = pool
    sh, sw = strides
    top, bottom, left, right = pads
    N, H, W, C = x_shape
    counts = _window_counts(x_shape, pool, strides, pads)
    dxp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=dy.dtype)
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            dxp[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :] += (dy[:, i, j, :] / counts[i, j])[:, None, None, :]
    return dxp[:, top:top + H, left:left + W, :]


# ---------------------------------------------------------------------------------------- batch norm


def batchnorm_stats(x2):
    """Per-channel mean and *biased* variance of ``x2`` ``(M, C)`` (all non-channel axes flattened)."""
    mean = x2.mean(axis=0, dtype=np.float64)
    var = ((x2 - mean) ** 2).mean(axis=0)
    return mean, var


def batchnorm_apply(x2, scale, shift):
    """``y = x·scale + shift`` per channel, with ``scale = γ/sqrt(σ² + ε)``, ``shift = β − μ·scale``."""
    return (x2 * scale + shift).astype(x2.dtype, copy=False)


def batchnorm_backward_sums(dy2, x2, mean, inv_std):
    """``(Σ dy, Σ dy·x̂)`` per channel, with ``x̂ = (x − μ)·inv_std`` — the two reductions of BN's backward."""
    xhat = (x2 - mean) * inv_std
    return dy2.sum(axis=0, dtype=np.float64), (dy2 * xhat).sum(axis=0, dtype=np.float64)


def batchnorm_backward_input(dy2, x2, mean, inv_std, scale, sum_dy, sum_dy_xhat):
    """Training-mode ``dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂))`` (means over the M rows)."""
    M = x2.shape[0]
    xhat = (x2 - mean) * inv_std
    return (scale * (dy2 - sum_dy / M - xhat * (sum_dy_xhat / M))).astype(dy2.dtype, copy=False)



def batchnorm_max_pool2d_forward(x, scale, shift, pool, strides, pads):
    """A batch norm's affine, then max pooling (a training block BN → MaxPool): ``(y, arg, x_win)``, ``y`` and
    ``arg`` of :func:`max_pool2d_forward` on ``x·scale + shift`` (:func:`batchnorm_apply` per channel), and
    ``x_win`` the input ``x`` at each window's winner (all three ``(N, Ho, Wo, C)``); x ``(N, H, W, C)``."""
    xn = batchnorm_apply(x.reshape(-1, x.shape[-1]), scale, shift).reshape(x.shape)
    y, arg = max_pool2d_forward(xn, pool, strides, pads)
    return y, arg, _at_winners(x, arg, pool, strides, pads)


def _at_winners(x, arg, pool, strides, pads):
    """``x[n, i·sh + a − top, j·sw + c − left, k]`` with ``(a, c) = divmod(arg[n, i, j, k], pw)``: the value
    of each window's winner (never padding: padding is −∞ and never wins)."""
    a, c = np.divmod(arg, pool[1])
    n, i, j, k = np.indices(arg.shape, sparse=True)
    return x[n, i * strides[0] + a - pads[0], j * strides[1] + c - pads[2], k]


def batchnorm_max_pool2d_backward(dy, arg, x_win, x, mean, inv_std, scale, pool, strides, pads):
    """Backward of :func:`batchnorm_max_pool2d_forward` in training mode (batch statistics ``mean``,
    ``inv_std``): the pooling's gradient ``dy_bn`` (:func:`max_pool2d_backward`), then the batch norm's sums
    and input gradient. Returns ``(dx, Σ dy_bn, Σ dy_bn·x̂)`` — dx ``(N, H, W, C)``, the sums float64 ``(C,)``
    (the gradients of β and γ). ``x_win`` (the forward's) is not needed here: ``dy_bn`` is zero off the
    winners, so the sums are also ``Σ dy`` and ``Σ dy·(x_win − μ)·inv_std`` over the pooled cells."""
    C = x.shape[-1]
    dbn = max_pool2d_backward(dy, arg, x.shape, pool, strides, pads).reshape(-1, C)
    x2 = x.reshape(-1, C)
    sum_dy, sum_dy_xhat = batchnorm_backward_sums(dbn, x2, mean, inv_std)
    dx = batchnorm_backward_input(dbn, x2, mean, inv_std, scale, sum_dy, sum_dy_xhat)
    return dx.reshape(x.shape), sum_dy, sum_dy_xhat


def avg_pool2d_batchnorm_backward(dy, p, mean, inv_std, scale, sum_dy, sum_dy_xhat, x_shape, pool, strides, pads):
    """Backward of a training block average pooling → batch norm, from the batch norm's ``dy`` ``(N, Ho, Wo, C)``
    and its sums (:func:`batchnorm_backward_sums`): its input gradient (:func:`batchnorm_backward_input`, ``p``
    the pooled output it normalised), then :func:`avg_pool2d_backward` → dx ``(x_shape)``."""
    C = p.shape[-1]
    dbn = batchnorm_backward_input(dy.reshape(-1, C), p.reshape(-1, C), mean, inv_std, scale, sum_dy, sum_dy_xhat)
    return avg_pool2d_backward(dbn.reshape(p.shape), x_shape, pool, strides, pads)

def conv_avg_pool_batchnorm_backward(x, dy, p, y, w, strides, pads, activation, use_bias, need_dx, pool, batchnorm):
    """Backward of a training block conv layer → average pooling → batch norm, step by step: the pooling's
    input gradient :func:`avg_pool2d_batchnorm_backward` (from the batch norm's ``dy`` and ``p``, the pooled
    output it normalised), then :func:`conv_layer_backward` of it. ``pool = (pool_size, pool_strides,
    pool_pads)``, ``batchnorm = (mean, inv_std, scale, sum_dy, sum_dy_xhat)``. Returns ``(dW, db, dx)``."""
    y4 = y if y.ndim == 4 else y[:, None]
    p4 = p if p.ndim == 4 else p[:, None]
    dy4 = dy.reshape(p4.shape)
    dyc = avg_pool2d_batchnorm_backward(dy4, p4, *batchnorm, y4.shape, *pool)
    return conv_layer_backward(x, dyc.reshape(y.shape), y, w, strides, pads, activation, use_bias, need_dx)


def conv_batchnorm_max_pool_backward(x, dy, arg, x_win, y, w, strides, pads, activation, use_bias, need_dx, pool,
                                     batchnorm):
    """Backward of a training block conv layer → batch norm → max pooling, step by step: the batch norm's input
    gradient and sums :func:`batchnorm_max_pool2d_backward` (from the pooling's ``dy``, ``arg`` and ``x_win``, the
    batch norm's input ``y`` being the conv output), then :func:`conv_layer_backward` of it. ``pool = (pool_size,
    pool_strides, pool_pads)``, ``batchnorm = (mean, inv_std, scale)``. Returns ``(dW, db, dx, Σ dy_bn, Σ dy_bn·x̂)``."""
    y4 = y if y.ndim == 4 else y[:, None]
    dy4, arg4, xw4 = (v if v.ndim == 4 else v[:, None] for v in (dy, arg, x_win))
    dxb, sum_dy, sum_dy_xhat = batchnorm_max_pool2d_backward(dy4, arg4, xw4, y4, *batchnorm, *pool)
    return (*conv_layer_backward(x, dxb.reshape(y.shape), y, w, strides, pads, activation, use_bias, need_dx),
            sum_dy, sum_dy_xhat)


def conv_inference(x, w, b, strides, pads, activation, pool=None, affine=None):
    """Inference forward of a conv block, step by step: :func:`conv_bias_activation`, then the optional
    per-channel affine (batch norm with moving statistics, :func:`batchnorm_apply`) and pooling, in the
    order ``affine[2]`` (``before_pool``) says. ``pool = (mode, pool_size, pool_strides, pool_pads)``."""
    return conv_inference_steps(sys.modules[__name__], x, w, b, strides, pads, activation, pool, affine)


def conv_inference_steps(family, x, w, b, strides, pads, activation, pool=None, affine=None):
    """:func:`conv_inference` by the step functions of ``family`` (a module, or any object with
    ``conv_bias_activation``, ``batchnorm_apply``, ``max_pool2d_forward`` and ``avg_pool2d_forward``): the
    reference's own, or the fast family's where it does not fuse a block."""
    y = family.conv_bias_activation(x, w, b, strides, pads, activation)
    y4 = y if y.ndim == 4 else y[:, None]

    def apply_affine(a):
        scale, shift, _ = affine
        return family.batchnorm_apply(a.reshape(-1, a.shape[-1]), scale, shift).reshape(a.shape)

    if affine is not None and affine[2]:
        y4 = apply_affine(y4)
    if pool is not None:
        mode, size, pool_strides, pool_pads = pool
        y4 = (family.max_pool2d_forward(y4, size, pool_strides, pool_pads)[0] if mode == "max"
              else family.avg_pool2d_forward(y4, size, pool_strides, pool_pads))
    if affine is not None and not affine[2]:
        y4 = apply_affine(y4)
    return y4 if x.ndim == 4 else y4[:, 0]


# ---------------------------------------------------------------------------------------- optimizer


def adam_coefficients(dtype, lr, beta_1, beta_2, epsilon, t):
    """The scalars of Adam's step ``t`` in ``dtype`` (as Keras computes them, in the weights' dtype):
    ``(α, 1 − β₁, 1 − β₂, ε)`` with the bias-corrected step size ``α = η·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ)``."""
    dt = np.dtype(dtype).type
    alpha = dt(lr) * np.sqrt(1 - dt(beta_2) ** t) / (1 - dt(beta_1) ** t)
    return alpha, 1 - dt(beta_1), 1 - dt(beta_2), dt(epsilon)


def adam_update(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t):
    """Adam's step ``t`` (≥ 1), Keras's ε-hat form, **in place** on ``w``, ``m``, ``v`` (and ``vhat``)::

        m ← m + (g − m)·(1 − β₁)          the running mean of the gradients
        v ← v + (g² − v)·(1 − β₂)         the running mean of their squares
        v̂ ← max(v̂, v)                     with amsgrad only (vhat given); v̂ then replaces v below
        w ← w − α·m / (sqrt(v) + ε)        α = η·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ) corrects the zero start of m, v

    Every operation in the weights' dtype, as NumPy evaluates these lines (each step a pass over the array).
    """
    alpha, c1, c2, eps = adam_coefficients(w.dtype, lr, beta_1, beta_2, epsilon, t)
    m += (g - m) * c1
    v += (g * g - v) * c2
    if vhat is not None:
        np.maximum(vhat, v, out=vhat)
        v = vhat
    w -= m * alpha / (np.sqrt(v) + eps)


__all__ = ["all_finite", "matmul", "weight_gradient",
           "conv_bias_activation", "conv_bias_activation_checked", "activation_backward", "conv_layer_backward",
           "conv2d_forward", "conv2d_backward", "conv2d_backward_weights", "conv2d_backward_input",
           "bias_act_forward", "relu_backward", "conv_inference",
           "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
           "batchnorm_stats", "batchnorm_apply", "batchnorm_backward_sums", "batchnorm_backward_input",
           "batchnorm_max_pool2d_forward", "batchnorm_max_pool2d_backward", "avg_pool2d_batchnorm_backward",
           "conv_avg_pool_batchnorm_backward", "conv_batchnorm_max_pool_backward", "adam_update"]
