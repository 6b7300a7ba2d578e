"""The fast family's recycled output buffers (:mod:`minidl.kernels.workspace`): a buffer is handed out again
only when nobody holds it or any view of it, so kernel outputs never alias an array a caller still has."""

import numpy as np
import pytest

from minidl.kernels import family, workspace

BIG = (1024, 1024 + 7)   # float32: 4 MB, at least MIN_BYTES


@pytest.fixture(autouse=True)
def _empty_pool():
    workspace.clear()
    yield
    workspace.clear()


def test_a_dropped_buffer_is_reused_and_a_held_one_never():
    a = workspace.empty(BIG, np.float32)
    address = a.__array_interface__["data"][0]
    b = workspace.empty(BIG, np.float32)            # a is held: a new buffer
    assert not np.shares_memory(a, b)
    del a
    c = workspace.empty(BIG[::-1], np.float32)      # same size, other shape: a's buffer again
    assert c.shape == BIG[::-1] and c.__array_interface__["data"][0] == address
    assert not np.shares_memory(b, c)


def test_a_view_kept_by_the_caller_keeps_its_buffer_out_of_the_pool():
    a = workspace.empty(BIG, np.float32)
    view = a[3:5].reshape(-1)
    del a
    b = workspace.empty(BIG, np.float32)
    assert not np.shares_memory(view, b)
    assert workspace.pooled_bytes() == (2 * b.nbytes, 0)


def test_buffers_are_matched_by_dtype_and_small_arrays_are_not_pooled():
    a = workspace.empty(BIG, np.float32)
    del a
    b = workspace.empty(BIG, np.int32)              # same bytes, other dtype
    assert b.dtype == np.int32 and workspace.pooled_bytes()[1] == b.nbytes
    small = workspace.empty((10, 10), np.float64)
    assert small.shape == (10, 10) and workspace.pooled_bytes() == (b.nbytes, b.nbytes)


def test_free_buffers_beyond_the_limit_are_dropped_oldest_first(monkeypatch):
    nbytes = int(np.prod(BIG)) * 4
    monkeypatch.setattr(workspace, "MAX_POOLED_BYTES", nbytes)
    a, b = workspace.empty(BIG, np.float32), workspace.empty(BIG, np.float32)
    del a, b
    c = workspace.empty((2 * BIG[0], BIG[1]), np.float32)   # another size: both others are free, one dropped
    assert workspace.pooled_bytes() == (c.nbytes, nbytes)


def test_fast_kernel_outputs_held_by_the_caller_are_never_overwritten_by_later_calls():
    fast = family("fast")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 40, 200, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    y1 = fast.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), relu=True)
    kept = y1.copy()
    y2 = fast.conv2d_forward(2 * x, w, None, (1, 1), (0, 0, 0, 0), relu=True)
    np.testing.assert_array_equal(y1, kept)
    assert not np.shares_memory(y1, y2)
    del y1
    y3 = fast.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), relu=True)   # may reuse y1's buffer
    np.testing.assert_allclose(y3, kept, rtol=1e-6)
    assert not np.shares_memory(y2, y3)
