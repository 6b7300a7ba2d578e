"""Layers. One concept per file; ``base.py`` states the contract every layer follows."""

from .activations import ELU, Activation, LeakyReLU, ReLU, Softmax
from .base import Input, Layer, layer_class
from .conv import Conv1D, Conv2D
from .dense import Dense
from .dropout import Dropout
from .exchangeable import ExchangeablePooling
from .merge import Add, Average, Concatenate, Merge, Multiply, Subtract
from .normalization import BatchNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .reshape import Flatten, Permute, Reshape

__all__ = ["Layer", "Input", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Flatten",
           "Reshape", "Dropout", "layer_class",
           "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "BatchNormalization", "ExchangeablePooling", "Permute", "Concatenate", "Add", "Subtract", "Multiply",
           "Average", "Merge"]
