"""``ReLU``: the rectified linear unit."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .chain import Buffers, Passes
from .module import Module


class ReLU(Module):
    r"""The rectified linear unit, elementwise: ``Y = max(X, 0)``.

    The backward pass uses the output: ``dX = dY * (Y > 0)`` (the gradient at 0
    is 0, as in PyTorch), with ``sign(Y)`` as the 0/1 mask. Pair it with He
    initialisation (``Dense(..., init="he_normal")`` or ``"he_uniform"``).

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> ReLU().forward(np.array([[-2.0, 0.0, 3.0]]))
        array([[0., 0., 3.]])
    """

    in_place = True

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.node("Relu", [x])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        zero = np.zeros((), Y.dtype)  # a 0-d array: no Python-scalar conversion per call
        forward = [partial(np.maximum, X, zero, out=Y)]
        if dX is None:
            return Passes(forward, [])
        mask = np.zeros_like(dX)
        return Passes(forward, [partial(np.sign, Y, mask), partial(np.multiply, dY, mask, dX)])
