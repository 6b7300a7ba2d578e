"""The fast kernel family: the functions of :class:`~minidl.kernels.contract.KernelFamily`, compiled.

Same functions, signatures and results as :mod:`minidl.kernels.reference` (read that one for the
mathematics; ``tests/minidl/test_kernels.py`` proves they agree). This module only gathers the public
functions of the modules that implement them:

* :mod:`.checks` — the input check (in cache-sized pieces, no big temporary array);
* :mod:`.blas` — the Dense layer's products, kept fast on several threads of a busy machine;
* :mod:`.conv_numba` — convolutions: direct numba loops for small receptive fields, im2col + BLAS for
  the others, and :mod:`.winograd_numba` (Winograd F(4, r)) for stride-1 kernels one pixel high;
* :mod:`.pooling_numba` — max and average pooling;
* :mod:`.fusion_numba` — a conv → batch norm → pooling block of inference in one pass;
* :mod:`.normalization_numba` — the batch-normalisation passes;
* :mod:`.bnpool_numba` — training blocks batch norm → max pooling and average pooling → batch norm, in
  fewer passes;
* :mod:`.optimizer_numba` — the Adam update of a weight array in one pass;
* :mod:`.gemm_numba` — the convolutions' small matrix products (64 columns at a time, register-blocked).

Importing this module loads numba (and compiles, or loads from numba's cache, each kernel on first use).
"""

from __future__ import annotations

import os

# numba's OpenMP threads wait for the next parallel loop by sleeping, not by spinning (unless the user chose
# otherwise): between two numba loops the BLAS and the task threads of :mod:`.conv_blocked` need the same two
# cores, and spinning idle threads took them — measured on a busy 2-core machine, separate processes
# alternated: an R1 train_on_batch step 0.44–0.53 s with passive waiting against 0.65–0.87 s without.
# Read by the OpenMP runtime when numba loads it, at the first parallel kernel (after this import).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# the public functions of this family, gathered from the modules that implement them (see __all__ below)
from . import reference
from .blas import matmul, reduction_dot  # noqa: F401
from .bnpool_numba import (avg_pool2d_batchnorm_backward, batchnorm_max_pool2d_backward,  # noqa: F401
                           batchnorm_max_pool2d_forward)
from .checks import all_finite  # noqa: F401
from .conv_numba import (activation_backward, bias_act_forward, conv2d_backward,  # noqa: F401
                         conv2d_backward_input, conv2d_backward_weights, conv2d_forward, conv_bias_activation,
                         conv_avg_pool_batchnorm_backward, conv_batchnorm_max_pool_backward, conv_bias_activation_checked,
                         conv_layer_backward, relu_backward)
from .fusion_numba import conv_inference  # noqa: F401
from .normalization_numba import (batchnorm_apply, batchnorm_backward_input,  # noqa: F401
                                  batchnorm_backward_sums, batchnorm_stats)
from .pooling_numba import (avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward,  # noqa: F401
                            max_pool2d_forward)
from .optimizer_numba import adam_update  # noqa: F401


def weight_gradient(a, b):
    """Same as the reference, ``aᵀ·b``: summed over short row blocks on every thread
    (:func:`minidl.kernels.blas.reduction_dot`; ``matmul`` is :func:`minidl.kernels.blas.matmul`)."""
    return reduction_dot(a, b)


#: the same public functions as the reference family (``tests/minidl/test_kernels.py`` checks that each one is
#: defined here, with the contract's signature)
__all__ = list(reference.__all__)
