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


@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_grouped_pooling_gradients_with_unequal_groups(mode):
    layer = ExchangeablePooling(mode, groups=(2, 5))
    errors = check_layer(layer, _distinct((2, 7, 4, 3), seed=1))
    assert layer.output_shape == (2, 4, 3)
    assert errors["input"] < 1e-7


@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_grouped_pooling_is_each_block_pooled_alone_and_invariant_within_blocks(mode):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 4))
    y = ExchangeablePooling(mode, groups=(3, 4)).forward(x)
    for g, (lo, hi) in enumerate([(0, 3), (3, 7)]):
        np.testing.assert_allclose(y[:, g], ExchangeablePooling(mode).forward(x[:, lo:hi]))
    shuffled = np.concatenate([x[:, rng.permutation(3)], x[:, 3 + rng.permutation(4)]], axis=1)
    np.testing.assert_allclose(ExchangeablePooling(mode, groups=(3, 4)).forward(shuffled), y)
    swapped = np.concatenate([x[:, 3:], x[:, :3]], axis=1)   # rows moved across populations: not invariant
    assert not np.allclose(ExchangeablePooling(mode, groups=(3, 4)).forward(swapped), y)


def test_grouped_pooling_errors_and_config():
    with pytest.raises(ValueError, match="positive block sizes"):
        ExchangeablePooling(groups=(3, 0))
    with pytest.raises(ValueError, match="keepdims"):
        ExchangeablePooling(groups=(3, 4), keepdims=True)
    with pytest.raises(ValueError, match="add up to 7 rows but the input has 8"):
        ExchangeablePooling(groups=(3, 4)).forward(np.zeros((1, 8, 2)))
    layer = ExchangeablePooling("max", groups=(3, 4), name="pop")
    assert ExchangeablePooling(**{k: v for k, v in layer.get_config().items()}).groups == (3, 4)


def test_grouped_pooling_survives_save_and_load(tmp_path):
    import minidl
    model = minidl.Sequential([minidl.Input((7, 5, 1)), Conv2D(3, (1, 2), activation="relu"),
                               ExchangeablePooling("mean", groups=(3, 4)), minidl.layers.Flatten(),
                               minidl.layers.Dense(2)], seed=0)
    x = np.random.default_rng(0).standard_normal((4, 7, 5, 1)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    again = minidl.load_model(tmp_path / "m.npz")
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-6)
