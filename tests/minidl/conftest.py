import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator: every test sees the same random numbers."""
    return np.random.default_rng(20261124)


def away_from_kinks(x, margin=0.1):
    """Move values away from 0 so ReLU-type kinks are never crossed by a finite difference."""
    return np.sign(x) * (np.abs(x) + margin)


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the TensorFlow CPU backend, 2 threads, for parity tests (installed by the test extra)."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised by another test module
        pass
    import keras as keras_module

    assert keras_module.__version__.startswith("3."), keras_module.__version__
    return keras_module
