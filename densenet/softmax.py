"""``Softmax``: probabilities over the last axis."""

from __future__ import annotations

from functools import partial

import numpy as np

from .chain import Buffers, Passes
from .module import Module


class Softmax(Module):
    r"""Softmax over the features of each sample: ``Y[i] = exp(X[i]) / sum(exp(X[i]))``.

    Stable for every finite input: each row is shifted by its maximum first, so
    ``exp`` never overflows and every row sums to 1. The backward pass uses
    the output: ``dX = Y * (dY - sum(dY * Y, axis=1))``. For classification,
    feed the logits to ``CrossEntropyLoss`` instead, which fuses the two.

    Shape:
        - Input: ``(N, C)``
        - Output: ``(N, C)``, rows summing to 1

    Example:
        >>> import numpy as np
        >>> Softmax().forward(np.array([[0.0, 0.0], [1000.0, 0.0]]))
        array([[0.5, 0.5],
               [1. , 0. ]])
    """

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        row = np.zeros((X.shape[0], 1), Y.dtype)
        forward = [partial(np.max, X, 1, out=row, keepdims=True), partial(np.subtract, X, row, Y),
                   partial(np.exp, Y, Y), partial(np.sum, Y, 1, out=row, keepdims=True),
                   partial(np.divide, Y, row, Y)]
        if dX is None:
            return Passes(forward, [])
        dot = np.zeros((X.shape[0], 1), Y.dtype)
        return Passes(forward, [partial(np.multiply, dY, Y, dX),
                                partial(np.sum, dX, 1, out=dot, keepdims=True),
                                partial(np.subtract, dY, dot, dX), partial(np.multiply, dX, Y, dX)])
