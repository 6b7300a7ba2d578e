"""minidl — a small deep-learning framework written from scratch in NumPy, to be read.

Every layer writes its own backward pass by hand (``minidl/layers``), the heavy convolution loops have a
plain NumPy reference and a fast numba twin (``minidl/kernels``), and the public names follow Keras 3 so
that what you learn here carries over::

    from minidl import Sequential, Input, Dense, Adam
    model = Sequential([Input((2,)), Dense(16, activation="relu"), Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=50)

Hyperparameter search (random, grid, Optuna), selected on validation data only: :mod:`minidl.search`.
"""

from . import activations, callbacks, config, gradcheck, initializers, layers, losses, metrics, optimizers
from . import data, inspect, preprocessing, regularizers, schedules, search, threads
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                        ReduceLROnPlateau, TerminateOnNaN)
from .layers import *  # noqa: F401,F403  (Dense, Conv2D, ... — see minidl/layers/__init__.py)
from .layers import __all__ as _layer_names
from .metrics import confusion_matrix
from .functional import Model
from .model import Sequential, load_model
from .optimizers import SGD, Adadelta, Adagrad, Adam, RMSprop

__version__ = "0.1.0"
__all__ = ["Sequential", "Model", "load_model", "SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Callback",
           "History", "EarlyStopping", "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN",
           "ModelCheckpoint", "CSVLogger", "data",
           "confusion_matrix", "activations", "callbacks", "config", "gradcheck", "initializers", "layers",
           "losses", "metrics", "optimizers", "regularizers", "schedules", "inspect", "preprocessing", "search",
           "threads",
           *_layer_names]
