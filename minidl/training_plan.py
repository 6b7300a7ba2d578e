"""The training plan: which consecutive layers a training step (``fit``, ``train_on_batch``) runs as one block.

A training step needs every value its backward pass reads, but not every layer's output: after a batch
norm → max pooling pair only the pooled output goes on. ``Sequential``'s training step asks :func:`plan` for
its layers grouped into **steps**, and runs its forward pass through them in order and its backward pass in
reverse. A step is a layer, run as usual, or a block of two or three:

    BatchNormalization (trainable) → MaxPooling1D/2D        (:class:`BatchNormMaxPool`)
    AveragePooling1D/2D → BatchNormalization (trainable)    (:class:`AvgPoolBatchNorm`)
    Conv1D/2D → AveragePooling1D/2D → BatchNormalization (trainable)    (:class:`ConvAvgPoolBatchNorm`)
    Conv1D/2D → BatchNormalization (trainable) → MaxPooling1D/2D        (:class:`ConvBatchNormMaxPool`)

The first is computed by the kernel family's
:meth:`~minidl.kernels.contract.KernelFamily.batchnorm_max_pool2d_forward` and ``…_backward``: batch
statistics in one pass, then the normalised values are pooled while in registers, so the normalised array
(for benchmark R0's first block, 156 MB per batch) is never written; backward takes the batch norm's two
sums over the pooling's winners only and writes ``dx`` in one pass (:mod:`minidl.kernels.bnpool_numba`).
The second runs its forward as the two layers, and its backward writes the pooling's input gradient in one
pass from the batch norm's output gradient
(:meth:`~minidl.kernels.contract.KernelFamily.avg_pool2d_batchnorm_backward`), without storing the batch
norm's input gradient. The third goes one step further (benchmark R1's two blocks): the convolution's backward pass
makes each sample's gradient from the batch norm's output gradient as it reads it
(:meth:`~minidl.kernels.contract.KernelFamily.conv_avg_pool_batchnorm_backward`), so the pooling's input
gradient is never written either; its forward pass is the three layers'. The fourth does the same for a
convolution before the first kind of block (benchmark R0's first layer): its weight gradient's loop makes each
output row's gradient from the pooling's output gradient and winners
(:meth:`~minidl.kernels.contract.KernelFamily.conv_batchnorm_max_pool_backward`), so the batch norm's input gradient
(R0: 156 MB per batch) is never written; its forward pass is the convolution's, then the first kind's.
Results equal the layers run one by one to float rounding (the sums add the same terms in another order;
the forward values are the same bits): the batch statistics are those of the batch norm's input and the
moving statistics are updated as in :meth:`BatchNormalization.forward` (``tests/minidl/test_bnpool.py``).

Scope, as :mod:`minidl.inference`: only the training step is planned. ``model.forward(x, training=True)``,
``model.backward``, ``compute_gradients`` (and so :mod:`minidl.gradcheck`), :mod:`minidl.inspect` and a
learner's own loop run layer by layer, so every layer keeps its output and the values its backward reads.
Inside a :class:`BatchNormMaxPool` the batch norm's output exists only pooled; in every block the layers'
own ``backward`` is not run (the block's is). A functional ``Model`` asks :func:`plan_graph` for its blocks.
Set :data:`FUSE` to False to turn the planning off (for A/B timings).
"""

from __future__ import annotations

from . import inference as _inference
from . import kernels as _kernels
from .layers.conv import Conv1D, Conv2D
from .layers.normalization import BatchNormalization
from .layers.pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D

#: plan fused blocks in a training step (False: every layer on its own, as ``forward``)
FUSE = True


class BatchNormMaxPool:
    """A batch norm followed by a max pooling layer, as one step of a training pass.

    ``bn`` a built, trainable BatchNormalization; ``pool`` a built MaxPooling1D/2D taking its output. Has a
    layer's ``forward(x, training)`` and ``backward(dy)``: in training mode the fused kernels; otherwise (or
    for a batch norm frozen since the plan was made) the two layers in turn.
    """

    def __init__(self, bn, pool):
        self.bn, self.pool = bn, pool
        self.layers = (bn, pool)
        self._fused = False

    def forward(self, x, training=False):
        """The pooling's output for ``x`` (the batch norm's input); updates the moving statistics in training."""
        bn, pool = self.bn, self.pool
        self._fused = bool(training) and bn.trainable
        if not self._fused:
            return pool.forward(bn.forward(x, training=training), training=training)
        x = bn._check_input(x).astype(bn.dtype, copy=False)
        pool._check_input(x)
        scale, shift = bn._statistics(x.reshape(-1, x.shape[-1]), training)
        self._x4 = x if pool.rank == 2 else x[:, None]
        y, self._arg, self._x_win = _kernels.active().batchnorm_max_pool2d_forward(self._x4, scale, shift,
                                                                                   *self._geometry())
        return y if pool.rank == 2 else y[:, 0]

    def backward(self, dy):
        """``∂L/∂x`` from ``dy = ∂L/∂(pooled output)``; stores the batch norm's ``γ``, ``β`` gradients."""
        bn, pool = self.bn, self.pool
        if not self._fused:
            return bn.backward(pool.backward(dy))
        dy4 = dy if pool.rank == 2 else dy[:, None]
        dx, sum_dy, sum_dy_xhat = _kernels.active().batchnorm_max_pool2d_backward(
            dy4, self._arg, self._x_win, self._x4, bn._mean, bn._inv_std, bn._scale, *self._geometry())
        bn._store_sums(sum_dy, sum_dy_xhat)
        return dx if pool.rank == 2 else dx[:, 0]

    def _geometry(self):
        pool = self.pool
        return pool._p2(), pool._s2(), pool._pads(pool.input_shape)

    def __repr__(self):
        return "BatchNormMaxPool(" + " → ".join(layer.name for layer in self.layers) + ")"


class AvgPoolBatchNorm:
    """An average pooling layer followed by a batch norm, as one step of a training pass.

    Forward runs the two layers in turn (the batch norm keeps its input, the pooled output, for backward);
    backward takes the batch norm's sums, then the kernel family's
    :meth:`~minidl.kernels.contract.KernelFamily.avg_pool2d_batchnorm_backward` writes the pooling's input
    gradient directly, in training mode (a batch norm in inference mode: the two layers' backward passes).
    """

    def __init__(self, pool, bn):
        self.pool, self.bn = pool, bn
        self.layers = (pool, bn)

    def forward(self, x, training=False):
        """The batch norm's output for ``x`` (the pooling's input)."""
        return self.bn.forward(self.pool.forward(x, training=training), training=training)

    def backward(self, dy):
        """``∂L/∂x`` from ``dy = ∂L/∂(batch-norm output)``; stores the batch norm's ``γ``, ``β`` gradients."""
        bn, pool = self.bn, self.pool
        if not bn._training:
            return pool.backward(bn.backward(dy))
        K = _kernels.active()
        dy2 = dy.reshape(bn._x2.shape)
        sums = K.batchnorm_backward_sums(dy2, bn._x2, bn._mean, bn._inv_std)
        bn._store_sums(*sums)
        p4 = bn._x2.reshape(bn._shape if pool.rank == 2 else (bn._shape[0], 1, *bn._shape[1:]))
        dx = K.avg_pool2d_batchnorm_backward(dy2.reshape(p4.shape), p4, bn._mean, bn._inv_std, bn._scale, *sums,
                                             pool._x_shape, pool._p2(), pool._s2(), pool._pads(pool.input_shape))
        return dx if pool.rank == 2 else dx[:, 0]

    def __repr__(self):
        return "AvgPoolBatchNorm(" + " → ".join(layer.name for layer in self.layers) + ")"


def _conv_backward_arguments(conv):
    """``(w, strides, pads, activation, use_bias, need_dx)`` of a conv layer's backward pass, in the order of the
    kernel family's conv block functions (after ``x``, ``dy``, … and ``y``)."""
    return (conv.params["kernel"], conv._s2(), conv._pads(conv.input_shape), conv.activation, conv.use_bias,
            conv.compute_input_gradient)


def _store_conv_gradients(conv, dW, db, dx):
    """Store a conv layer's kernel (and bias) gradient as its own backward does; return ``dx``."""
    conv._store_grad("kernel", dW)
    if conv.use_bias:
        conv._store_grad("bias", db)
    return dx


class _ConvBlock:
    """What the blocks that a convolution starts share: the layers, a forward pass that runs the convolution and then
    :meth:`_rest` (the layers after it), the model's input check as the convolution reads it (as the first step),
    and the convolution's ``compute_input_gradient``."""

    def __init__(self, conv, *rest):
        self.conv = conv
        self.layers = (conv, *rest)

    @property
    def compute_input_gradient(self):
        """The convolution's: a first step's backward may skip ``∂L/∂input`` (:meth:`Sequential._backward`)."""
        return self.conv.compute_input_gradient

    @compute_input_gradient.setter
    def compute_input_gradient(self, value):
        self.conv.compute_input_gradient = value

    def forward(self, x, training=False):
        """The block's output for ``x`` (the convolution's input); updates the moving statistics in training."""
        return self._rest(self.conv.forward(x, training=training), training)

    def forward_checked(self, x, training=False):
        """:meth:`forward` and whether ``x`` is finite, ``(out, finite)``: the convolution checks ``x`` as it reads
        it (:meth:`minidl.layers.conv.Conv2D.forward_checked`). For a non-finite ``x`` the layers after it are not
        run (the model raises; the batch norm's moving statistics stay as they were)."""
        y, finite = self.conv.forward_checked(x, training=training)
        return (self._rest(y, training) if finite else y), finite

    def _rest(self, y, training):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(" + " → ".join(layer.name for layer in self.layers) + ")"


class ConvAvgPoolBatchNorm(_ConvBlock):
    """A convolution layer, an average pooling layer and a batch norm, as one step of a training pass.

    Forward runs the three layers in turn (each keeps what its backward would read); backward, for a batch
    norm in training mode, takes the batch norm's sums, then the kernel family's
    :meth:`~minidl.kernels.contract.KernelFamily.conv_avg_pool_batchnorm_backward` gives the convolution's
    gradients and input gradient directly from the batch norm's output gradient (a batch norm in inference
    mode: the three layers' backward passes).
    """

    def __init__(self, conv, pool, bn):
        super().__init__(conv, pool, bn)
        self.pool, self.bn = pool, bn

    def _rest(self, y, training):
        return self.bn.forward(self.pool.forward(y, training=training), training=training)

    def backward(self, dy):
        """``∂L/∂x`` from ``dy = ∂L/∂(batch-norm output)`` (None if the convolution computes no input gradient);
        stores the gradients of the convolution and the batch norm."""
        conv, pool, bn = self.conv, self.pool, self.bn
        if not bn._training:
            return conv.backward(pool.backward(bn.backward(dy)))
        K = _kernels.active()
        dy2 = dy.reshape(bn._x2.shape)
        sums = K.batchnorm_backward_sums(dy2, bn._x2, bn._mean, bn._inv_std)
        bn._store_sums(*sums)
        p = bn._x2.reshape(bn._shape)
        dW, db, dx = K.conv_avg_pool_batchnorm_backward(
            conv._x, dy2.reshape(p.shape), p, conv._y, *_conv_backward_arguments(conv),
            (pool._p2(), pool._s2(), pool._pads(pool.input_shape)), (bn._mean, bn._inv_std, bn._scale, *sums))
        return _store_conv_gradients(conv, dW, db, dx)


class ConvBatchNormMaxPool(_ConvBlock):
    """A convolution layer followed by a :class:`BatchNormMaxPool` block, as one step of a training pass.

    Forward: the convolution, then the block (each keeps what its backward reads). Backward, where the block ran
    fused (training mode): the kernel family's
    :meth:`~minidl.kernels.contract.KernelFamily.conv_batchnorm_max_pool_backward` gives the convolution's
    gradients, its input gradient and the batch norm's sums from the pooling's output gradient; otherwise the
    block's backward, then the convolution's.
    """

    def __init__(self, conv, bn, pool):
        super().__init__(conv, bn, pool)
        self.bn, self.pool = bn, pool
        self._block = BatchNormMaxPool(bn, pool)

    def _rest(self, y, training):
        return self._block.forward(y, training=training)

    def backward(self, dy):
        """``∂L/∂x`` from ``dy = ∂L/∂(pooled output)`` (None if the convolution computes no input gradient);
        stores the gradients of the convolution and the batch norm."""
        conv, bn, block = self.conv, self.bn, self._block
        if not block._fused:
            return conv.backward(block.backward(dy))
        dW, db, dx, sum_dy, sum_dy_xhat = _kernels.active().conv_batchnorm_max_pool_backward(
            conv._x, dy, block._arg, block._x_win, conv._y, *_conv_backward_arguments(conv), block._geometry(),
            (bn._mean, bn._inv_std, bn._scale))
        bn._store_sums(sum_dy, sum_dy_xhat)
        return _store_conv_gradients(conv, dW, db, dx)


#: the pooling layers of a convolution's rank, by convolution type (the convolutions that start a block)
_AVERAGE_POOLING = {Conv1D: AveragePooling1D, Conv2D: AveragePooling2D}
_MAX_POOLING = {Conv1D: MaxPooling1D, Conv2D: MaxPooling2D}


def _triple(first, second, third):
    """The block conv → average pooling → batch norm (:class:`ConvAvgPoolBatchNorm`) or conv → batch norm → max
    pooling (:class:`ConvBatchNormMaxPool`) of three consecutive layers, or None."""
    if not (FUSE and None not in (first, second, third) and first.built and second.built and third.built
            and type(first) in _AVERAGE_POOLING):
        return None
    trainable_bn = lambda layer: type(layer) is BatchNormalization and layer.trainable
    if type(second) is _AVERAGE_POOLING[type(first)] and trainable_bn(third):
        return ConvAvgPoolBatchNorm(first, second, third)
    if trainable_bn(second) and type(third) is _MAX_POOLING[type(first)]:
        return ConvBatchNormMaxPool(first, second, third)
    return None


def _block(first, second):
    """The block of ``first`` → ``second`` (:class:`BatchNormMaxPool`, :class:`AvgPoolBatchNorm`), or None."""
    if not (FUSE and first is not None and second is not None and first.built and second.built):
        return None
    if type(first) is BatchNormalization and first.trainable and type(second) in (MaxPooling1D, MaxPooling2D):
        return BatchNormMaxPool(first, second)
    if type(first) in (AveragePooling1D, AveragePooling2D) and type(second) is BatchNormalization and second.trainable:
        return AvgPoolBatchNorm(first, second)
    return None


def plan(layers) -> list:
    """The steps of a training pass through ``layers`` (a chain: each layer's input is the previous one's
    output): layers, with a block in place of each fusable pair (module docstring)."""
    layers = list(layers)
    steps, i = [], 0

    def at(k):
        return layers[k] if k < len(layers) else None

    while i < len(layers):
        block = _triple(at(i), at(i + 1), at(i + 2)) or _block(at(i), at(i + 1))
        steps.append(block if block is not None else layers[i])
        i += len(block.layers) if block is not None else 1
    return steps


def plan_graph(ops, output) -> dict:
    """The blocks of a graph's training pass (``ops`` in topological order, ``output`` the output layer):
    ``{first layer: block}`` for each fusable pair or triple in which every layer but the last feeds only the
    next one and is not the output (:func:`minidl.inference.only_next`), so no one else needs the values between
    them."""
    following = _inference.only_next(ops, output)
    blocks, inside = {}, set()
    for layer in ops:
        if layer in inside:
            continue
        second = following(layer)
        block = _triple(layer, second, following(second)) or _block(layer, second)
        if block is not None:
            blocks[layer] = block
            inside.update(block.layers)
    return blocks


__all__ = ["FUSE", "AvgPoolBatchNorm", "BatchNormMaxPool", "ConvAvgPoolBatchNorm", "ConvBatchNormMaxPool", "plan",
           "plan_graph"]
