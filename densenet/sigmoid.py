"""``Sigmoid``: the logistic activation."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .backend import EXP_SIGMOID_MIN_SIZE, logistic
from .chain import Buffers, Passes
from .module import Module


class Sigmoid(Module):
    r"""The logistic sigmoid, elementwise: ``Y = 1 / (1 + exp(-X))``.

    Stable for every finite input in float32 and float64: no overflow warning,
    outputs in [0, 1], accurate to a few ulp. Small arrays use
    ``scipy.special.expit`` (one call); from ``EXP_SIGMOID_MIN_SIZE`` elements
    on, NumPy's vectorised ``exp`` is several times faster. The backward pass
    uses the output: ``dX = dY * Y * (1 - Y)``.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> Sigmoid().forward(np.array([[0.0, 7.0]]))
        array([[0.5       , 0.99908895]])
    """

    in_place = True
    outputs = "probabilities"

    def to_onnx(self, graph: Any, x: str) -> str:
        # 1 / (1 + exp(-x)) as four nodes, not ONNX's Sigmoid: onnxruntime's Sigmoid gives 0
        # from x = -20 (float32) or -38 (float64) on, and is 2x off at -17 (float32)
        e = graph.node("Exp", [graph.node("Neg", [x])])
        return graph.node("Reciprocal", [graph.node("Add", [e, graph.constant(np.ones(()), "one")])])

    def takes_negated_input(self, size: int) -> bool:
        return size >= EXP_SIGMOID_MIN_SIZE  # 1 / (1 + exp(-x)) from -x: no negation pass

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        forward = [logistic(X, Y, buffers.negated_input)]  # (X holds -x when negated)
        if dX is None:
            return Passes(forward, [])
        one, tmp = np.ones((), Y.dtype), np.zeros_like(dX)
        if dX is dY:  # planned in place (large arrays): dY is read by the last pass only
            return Passes(forward, [partial(np.subtract, one, Y, tmp), partial(np.multiply, tmp, Y, tmp),
                                    partial(np.multiply, tmp, dY, dX)])
        # ((1 - Y) * Y) * dY, no ufunc in place: NumPy's in-place ufuncs are ~3x
        # slower on one-element arrays
        return Passes(forward, [partial(np.subtract, one, Y, dX), partial(np.multiply, dX, Y, tmp),
                                partial(np.multiply, tmp, dY, dX)])

