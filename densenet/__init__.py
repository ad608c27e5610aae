"""densenet: a small, fast, vectorised neural-network framework on NumPy and SciPy.

Conventions, everywhere in the package:

- batch first: an input is ``(n_samples, n_features)``, an output ``(n_samples, n_outputs)``;
- ``Dense(in_features, out_features)`` has ``W`` of shape ``(in, out)`` and ``b`` of
  shape ``(out,)``; its forward pass is ``X @ W + b`` and column ``j`` of ``W``
  holds neuron ``j``'s weights;
- a ``Sequential`` keeps every parameter in one flat vector ``params`` and every
  gradient in ``grads``; the layers' ``W``, ``b``, ``dW``, ``db`` are views into them;
- a module, a loss and an optimiser each follow one protocol (``Module``,
  ``Loss``, ``Optimizer``): a new one is one class in one file.

>>> import numpy as np
>>> import densenet as dn
>>> model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), dn.Sigmoid(), seed=0)
>>> history = model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=dn.SGD(lr=0.1),
...                     epochs=1000, batch_size=1, shuffle=False)
>>> bool(history.loss[-1] < history.loss[0])
True
"""

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from . import init
from .absolute_error import MeanAbsoluteError
from .accuracy import Accuracy
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .alpha_dropout import AlphaDropout
from .auc import AUC
from .averaging import WeightAveraging
from .batchnorm import BatchNorm1d
from .bce import BCELoss
from .bce_with_logits import BCEWithLogitsLoss
from .callbacks import Callback, EarlyStopping
from .chain import Buffers, Passes
from .checkpoint import ModelCheckpoint
from .clipping import clip_grad_norm
from .counts import ClassCounts
from .cross_entropy import CrossEntropyLoss
from .dense import Dense
from .dropout import Dropout
from .elu import ELU
from .f1 import F1Score
from .gelu import GELU
from .gradcheck import GradcheckError, gradcheck
from .huber import HuberLoss
from .l1 import L1Loss
from .layernorm import LayerNorm
from .lbfgs import LBFGS
from .leaky_relu import LeakyReLU
from .loading import load
from .log_softmax import LogSoftmax
from .loss import Loss
from .lr_find import LRFind, lr_find
from .metric import Metric
from .model import Sequential
from .module import Module
from .mse import MSELoss
from .nadam import NAdam
from .nll import NLLLoss
from .optimizer import Optimizer
from .poisson import PoissonNLLLoss
from .precision import Precision
from .prelu import PReLU
from .r2 import R2Score
from .radam import RAdam
from .recall import Recall
from .relu import ReLU
from .rmsprop import RMSprop
from .schedules import (
    CosineLR,
    CosineRestartsLR,
    ExponentialLR,
    LinearLR,
    LRSchedule,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from .selu import SELU
from .sgd import SGD
from .sigmoid import Sigmoid
from .silu import SiLU
from .smooth_l1 import SmoothL1Loss
from .softmax import Softmax
from .softplus import Softplus
from .squared_error import MeanSquaredError
from .tanh import Tanh
from .thread_policy import get_num_threads, set_num_threads, threads
from .training import DivergenceError, History
from .update_bn import update_bn
from .version import __version__ as __version__

if TYPE_CHECKING:  # loaded on first use (``__getattr__``); type checkers see them now
    from . import onnx, reference, tutorial

__all__ = [
    "AUC",
    "Accuracy",
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "AlphaDropout",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "Buffers",
    "Callback",
    "ClassCounts",
    "CosineLR",
    "CosineRestartsLR",
    "CrossEntropyLoss",
    "Dense",
    "DivergenceError",
    "Dropout",
    "ELU",
    "EarlyStopping",
    "ExponentialLR",
    "F1Score",
    "GELU",
    "GradcheckError",
    "History",
    "HuberLoss",
    "L1Loss",
    "LBFGS",
    "LRFind",
    "LRSchedule",
    "LayerNorm",
    "LeakyReLU",
    "LogSoftmax",
    "LinearLR",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "Loss",
    "MSELoss",
    "ModelCheckpoint",
    "MultiStepLR",
    "NAdam",
    "NLLLoss",
    "Module",
    "OneCycleLR",
    "Optimizer",
    "Passes",
    "PReLU",
    "Precision",
    "PoissonNLLLoss",
    "R2Score",
    "RAdam",
    "Recall",
    "RMSprop",
    "ReLU",
    "ReduceLROnPlateau",
    "SELU",
    "SequentialLR",
    "SGD",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "StepLR",
    "Tanh",
    "WeightAveraging",
    "clip_grad_norm",
    "get_num_threads",
    "gradcheck",
    "init",
    "load",
    "lr_find",
    "onnx",
    "reference",
    "set_num_threads",
    "threads",
    "tutorial",
    "update_bn",
]


def __getattr__(name: str) -> ModuleType:
    # The tutorial's data and the scalar reference are not part of the core, and
    # the ONNX exporter needs an optional library: they load on first use
    # (``dn.tutorial.X``, ``dn.onnx.export``), and the core never imports them.
    if name in ("tutorial", "reference", "onnx"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'densenet' has no attribute {name!r}")
