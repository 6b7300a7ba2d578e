"""ExchangeablePooling: gradients for mean/max/sum, invariance to shuffling haplotypes, errors."""

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers import Conv2D, ExchangeablePooling


def _distinct(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 1.0 + 0.25 * rng.random(shape)


@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_exchangeable_pooling_gradients(mode, keepdims):
    layer = ExchangeablePooling(mode, keepdims=keepdims)
    errors = check_layer(layer, _distinct((2, 5, 4, 3)))
    assert layer.output_shape == ((1, 4, 3) if keepdims else (4, 3))
    assert errors["input"] < 1e-7


@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_per_haplotype_conv_then_pooling_is_invariant_to_haplotype_order(mode):
    rng = np.random.default_rng(3)
    x = rng.choice([-1.0, 1.0], size=(2, 6, 10, 1)).astype(np.float32)
    conv, pool = Conv2D(4, (1, 3), activation="relu", seed=0), ExchangeablePooling(mode)
    y = pool.forward(conv.forward(x))
    y_shuffled = pool.forward(conv.forward(x[:, rng.permutation(6)]))
    np.testing.assert_allclose(y, y_shuffled, rtol=1e-5, atol=1e-6)


def test_exchangeable_pooling_values():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    np.testing.assert_allclose(ExchangeablePooling("mean").forward(x), [[4, 5, 6, 7]])
    np.testing.assert_allclose(ExchangeablePooling("max").forward(x), [[8, 9, 10, 11]])
    np.testing.assert_allclose(ExchangeablePooling("sum").forward(x), [[12, 15, 18, 21]])


def test_exchangeable_pooling_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        ExchangeablePooling("median")
    with pytest.raises(ValueError, match="expected input .* of rank >= 3"):
        ExchangeablePooling().forward(np.zeros((2, 5)))


def test_exchangeable_pooling_config_round_trip():
    layer = ExchangeablePooling("max", keepdims=True, name="pool")
    assert ExchangeablePooling.from_config(layer.get_config()).get_config() == layer.get_config()
