"""The fast Adam update (one numba pass per array) gives the reference's NumPy results bit for bit.

Property, checked by hypothesis over shapes, float32/float64, amsgrad, hyperparameters and several steps:
``fast.adam_update`` leaves ``w, m, v`` (and ``vhat``) with exactly the bits of ``reference.adam_update`` —
on its serial path and on its parallel path (forced on small arrays, split in blocks of any size). Also:
NaN/∞ gradients and a zero denominator behave as NumPy, arrays it cannot update in one pass fall back to
the same lines, and :class:`minidl.optimizers.Adam` updates the weights in place through the active family.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import optimizers, threads
from minidl.config import use_kernels
from minidl.kernels import family, optimizer_numba

REF, FAST = family("reference"), family("fast")


@contextlib.contextmanager
def _parallel_from(size):
    old = optimizer_numba.PARALLEL_FROM
    optimizer_numba.PARALLEL_FROM = size
    try:
        yield
    finally:
        optimizer_numba.PARALLEL_FROM = old


@contextlib.contextmanager
def _blocks_per_thread(n):
    old = optimizer_numba.BLOCKS_PER_THREAD
    optimizer_numba.BLOCKS_PER_THREAD = n
    try:
        yield
    finally:
        optimizer_numba.BLOCKS_PER_THREAD = old


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _assert_same_bits(fast, ref, what):
    for name, a, b in zip(("w", "m", "v", "vhat"), fast, ref):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(_bits(a), _bits(b), err_msg=f"{name} ({what}): fast vs reference bits")


def _run(K, w, grads, amsgrad, hyper):
    """``len(grads)`` Adam steps of family K on copies of ``w`` and zero slots: the final (w, m, v, vhat)."""
    w = w.copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    vhat = np.zeros_like(w) if amsgrad else None
    lr, beta_1, beta_2, epsilon = hyper
    with np.errstate(all="ignore"):
        for t, g in enumerate(grads, start=1):
            K.adam_update(w, g, m, v, vhat, w.dtype.type(lr), beta_1, beta_2, epsilon, t)
    return w, m, v, vhat


@st.composite
def problems(draw):
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    steps = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    w = rng.standard_normal(shape).astype(dtype)
    # gradients over many orders of magnitude, with exact zeros: every rounding regime of the step
    grads = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-9, 4, shape) * (rng.random(shape) > 0.1))
             .astype(dtype) for _ in range(steps)]
    hyper = (draw(st.sampled_from([1e-3, 0.01, 0.3])), draw(st.sampled_from([0.9, 0.5, 0.0])),
             draw(st.sampled_from([0.999, 0.9])), draw(st.sampled_from([1e-7, 1e-3, 0.0])))
    return w, grads, hyper


@settings(max_examples=40, deadline=None)
@given(problems(), st.booleans())
def test_fast_adam_update_equals_reference_bit_for_bit_on_serial_and_parallel_paths(problem, amsgrad):
    w, grads, hyper = problem
    ref = _run(REF, w, grads, amsgrad, hyper)
    _assert_same_bits(_run(FAST, w, grads, amsgrad, hyper), ref, "serial")
    with _parallel_from(0), threads.limit_threads(2):   # the blocked, multi-threaded loop on small arrays too
        for blocks in (1, 3):   # blocks per thread: any split of the elements gives the same bits
            with _blocks_per_thread(blocks):
                _assert_same_bits(_run(FAST, w, grads, amsgrad, hyper), ref, f"parallel, {blocks} blocks/thread")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_nan_and_infinite_gradients_and_a_zero_denominator_behave_as_numpy(dtype, amsgrad):
    w = np.linspace(-1, 1, 12).astype(dtype)
    g1 = np.array([np.nan, np.inf, -np.inf, 0, 1, -1, 0, 0, 2, np.nan, 0, 3], dtype)
    g2 = np.array([0, 0, 0, np.nan, 1, np.inf, 0, 5, 0, 0, -np.inf, 0], dtype)
    hyper = (1e-3, 0.9, 0.999, 0.0)   # ε = 0: zero gradients give 0/0
    ref = _run(REF, w, [g1, g2, g2], amsgrad, hyper)
    assert np.isnan(ref[0]).any() and np.isnan(ref[2]).any()
    for size in (10**9, 0):
        with _parallel_from(size):
            _assert_same_bits(_run(FAST, w, [g1, g2, g2], amsgrad, hyper), ref, f"parallel from {size}")


def test_arrays_it_cannot_update_in_one_pass_take_the_reference_lines_in_place():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 5)).astype(np.float32)
    g = rng.standard_normal((5, 6)).astype(np.float32).T   # a transposed view: not C-contiguous
    results = []
    for K in (REF, FAST):
        for w in (base.copy(), np.asfortranarray(base)):   # a C-contiguous and a Fortran-ordered weight
            m, v = np.zeros_like(w), np.zeros_like(w)
            K.adam_update(w, g, m, v, None, np.float32(0.01), 0.9, 0.999, 1e-7, 1)
            assert not np.array_equal(w, base)   # updated in place, whatever its layout
            results.append(np.ascontiguousarray(w))
    for r in results[1:]:
        np.testing.assert_array_equal(_bits(r), _bits(results[0]))


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_optimizer_updates_in_place_with_the_same_bits_in_both_families(amsgrad):
    rng = np.random.default_rng(4)
    shapes = [(300, 7), (7,), (3, 3, 2, 4)]
    weights0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    out = {}
    for name in ("reference", "fast"):
        weights = [w.copy() for w in weights0]
        opt = optimizers.Adam(0.01, amsgrad=amsgrad)
        # the (300, 7) kernel on the parallel path, the others on the serial one
        with use_kernels(name), _parallel_from(1000), threads.limit_threads(2):
            for step in grads:
                opt.apply([(str(i), w, g) for i, (w, g) in enumerate(zip(weights, step))])
        out[name] = weights, opt.get_state()
    for (w_ref, w_fast) in zip(out["reference"][0], out["fast"][0]):
        np.testing.assert_array_equal(_bits(w_fast), _bits(w_ref))
    state_ref, state_fast = out["reference"][1], out["fast"][1]
    assert state_ref["iterations"] == state_fast["iterations"] == 3
    for key, slots in state_ref["slots"].items():
        assert sorted(slots) == sorted(state_fast["slots"][key]) == sorted(
            ["momentum", "velocity"] + (["velocity_hat"] if amsgrad else []))
        for slot, a in slots.items():
            np.testing.assert_array_equal(_bits(state_fast["slots"][key][slot]), _bits(a))
