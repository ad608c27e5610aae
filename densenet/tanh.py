"""``Tanh``: the hyperbolic tangent activation."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .chain import Buffers, Passes
from .elementary import transcendental
from .module import Module


class Tanh(Module):
    r"""The hyperbolic tangent, elementwise: ``Y = tanh(X)``.

    Stable for every finite input (outputs in [-1, 1], no warnings). The
    backward pass uses the output: ``dX = dY * (1 - Y**2)``.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> Tanh().forward(np.array([[0.0, 1000.0]]))
        array([[0., 1.]])
    """

    in_place = True

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.node("Tanh", [x])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        forward = [transcendental(np.tanh, X, Y)]
        if dX is None:
            return Passes(forward, [])
        one, slope = np.ones((), Y.dtype), np.zeros_like(dX)
        return Passes(forward, [partial(np.multiply, Y, Y, slope), partial(np.subtract, one, slope, slope),
                                partial(np.multiply, dY, slope, dX)])
