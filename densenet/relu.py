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
        # bounds as whole arrays, not 0-d: NumPy's maximum and minimum against a 0-d bound
        # are a scalar loop on an AVX2 processor (256 x 512: 176 against 30 us in float32,
        # 85 against 58 in float64), and sign (the mask, [Y > 0], as it was) is slower still
        # than ceil(min(Y, 1)) (159 against 55 us, 196 against 95)
        zeros = np.zeros_like(Y)
        forward = [partial(np.maximum, X, zeros, out=Y)]
        if dX is None:
            return Passes(forward, [])
        mask, ones = np.zeros_like(dX), np.ones_like(dX)
        return Passes(forward, [partial(np.minimum, Y, ones, out=mask), partial(np.ceil, mask, mask),
                                partial(np.multiply, dY, mask, dX)])
