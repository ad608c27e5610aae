"""``SELU``: the scaled exponential linear unit of self-normalising networks."""

from __future__ import annotations

from typing import Any

from .chain import Buffers, Passes
from .elu import exponential_linear, exponential_linear_onnx
from .module import Module

#: The constants that make a layer's outputs keep mean 0 and variance 1 (PyTorch's).
ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


class SELU(Module):
    r"""The scaled exponential linear unit, elementwise: ``Y = scale * ELU(alpha)(X)``, that is
    ``scale * X`` where ``X > 0``, else ``scale * alpha * (exp(X) - 1)``, with the fixed
    ``alpha = 1.6733`` and ``scale = 1.0507`` (PyTorch's ``torch.nn.SELU``).

    With these constants, and weights drawn with variance ``1 / fan_in``
    (``Dense(..., init="lecun_normal")``), activations that start near mean 0 and
    variance 1 stay near them layer after layer: deep networks of Dense layers train
    without normalisation layers. The passes are ``ELU``'s, scaled.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> SELU().forward(np.array([[-1.0, 0.0, 2.0]])).round(6)
        array([[-1.111331,  0.      ,  2.101402]])
    """

    in_place = True

    def to_onnx(self, graph: Any, x: str) -> str:
        return exponential_linear_onnx(graph, x, ALPHA, SCALE)

    def plan(self, buffers: Buffers) -> Passes:
        return exponential_linear(buffers, ALPHA, SCALE)
