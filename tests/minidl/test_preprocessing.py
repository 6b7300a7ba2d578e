"""StandardScaler: fitted on training data, applied unchanged to everything else, invertible."""

import numpy as np
import pytest

from minidl.preprocessing import StandardScaler


def test_training_columns_get_mean_zero_and_unit_variance(rng):
    x = rng.normal([1e-3, 500.0], [1e-4, 50.0], size=(200, 2))
    z = StandardScaler().fit_transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)


def test_other_data_uses_the_training_scaler_not_its_own(rng):
    train = rng.normal(0, 1, (100, 3))
    observed = rng.normal(5, 2, (10, 3))
    scaler = StandardScaler().fit(train)
    z = scaler.transform(observed)
    np.testing.assert_allclose(z, (observed - train.mean(0)) / train.std(0), rtol=1e-5)
    assert z.mean() > 3  # a shift stays visible: we did not refit on the observed data


def test_log_targets_round_trip(rng):
    t = rng.uniform(200, 4000, (50, 2))
    scaler = StandardScaler(log=[0]).fit(t)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(t, np.float64)), t, rtol=1e-10)
    restored = StandardScaler.from_config(scaler.get_config())
    np.testing.assert_allclose(restored.transform(t), scaler.transform(t))


def test_constant_column_maps_to_zero_not_nan():
    z = StandardScaler().fit_transform(np.c_[np.ones(5), np.arange(5.0)])
    assert np.all(z[:, 0] == 0)


def test_clear_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="fitted on 2 columns; got 3"):
        StandardScaler().fit(np.random.rand(5, 2)).transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="positive values"):
        StandardScaler(log=True).fit(np.array([[1.0], [-1.0]]))
