"""``SiLU``: the sigmoid-weighted linear unit (swish)."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .backend import logistic
from .chain import Buffers, Call, Passes
from .module import Module


class SiLU(Module):
    r"""The sigmoid-weighted linear unit (swish), elementwise: ``Y = X * sigmoid(X)``.
    PyTorch's ``torch.nn.SiLU``.

    The sigmoid is ``Sigmoid``'s (SciPy's ``expit`` on small arrays, NumPy's vectorised
    ``exp`` on large ones), kept for the backward pass, which reads it and the input:
    ``dX = dY * s * (1 + X * (1 - s))``, ``s = sigmoid(X)``. Stable for every finite
    input (far below zero the output is ``-0``, no warnings). Pair it with He
    initialisation (``Dense(..., init="he_normal")``).

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> SiLU().forward(np.array([[-1.0, 0.0, 2.0]])).round(6)
        array([[-0.268941,  0.      ,  1.761594]])
    """

    reads_output = False  # (its backward pass reads its input and the sigmoid)

    def to_onnx(self, graph: Any, x: str) -> str:
        # x / (1 + exp(-x)): the sigmoid as Sigmoid exports it (accurate in the tails)
        e = graph.node("Exp", [graph.node("Neg", [x])])
        return graph.node("Div", [x, graph.node("Add", [e, graph.constant(np.ones(()), "one")])])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        s = np.zeros_like(Y)
        forward: list[Call] = [logistic(X, s), partial(np.multiply, X, s, Y)]
        if dX is None:
            return Passes(forward, [])
        one, slope = np.ones((), Y.dtype), np.zeros_like(dX)  # (a 0-d one: no conversion per call)
        return Passes(forward, [partial(np.subtract, one, s, slope), partial(np.multiply, slope, X, slope),
                                partial(np.add, slope, one, slope), partial(np.multiply, slope, s, slope),
                                partial(np.multiply, dY, slope, dX)])
