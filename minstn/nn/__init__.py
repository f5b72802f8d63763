"""Layers and containers, as torch.nn."""
from .module import Module, Parameter
from .layers import (Linear, Conv2d, Conv1d, MaxPool2d, MaxPool1d, Dropout, ReLU, Tanh,
                     Sigmoid, Flatten, Sequential, LSTM)
from .spatial import SpatialTransformer, SpatialTransformer1d
from . import init

__all__ = ["Module", "Parameter", "Linear", "Conv2d", "Conv1d", "MaxPool2d", "MaxPool1d",
           "Dropout", "ReLU", "Tanh", "Sigmoid", "Flatten", "Sequential", "LSTM",
           "SpatialTransformer", "SpatialTransformer1d", "init"]
