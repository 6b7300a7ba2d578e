"""Layers. One concept per file; ``base.py`` states the contract every layer follows."""

from .activations import ELU, Activation, LeakyReLU, ReLU, Softmax
from .base import Input, Layer, layer_class
from .dense import Dense
from .dropout import Dropout
from .reshape import Flatten, Reshape

__all__ = ["Layer", "Input", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Flatten",
           "Reshape", "Dropout", "layer_class"]
