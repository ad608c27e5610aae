"""``Softmax``: probabilities over the last axis."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

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

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.node("Softmax", [x], axis=-1)

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        forward = [partial(softmax, X, Y, np.zeros((X.shape[0], 1), Y.dtype))]
        if dX is None:
            return Passes(forward, [])
        dot = np.zeros((X.shape[0], 1), Y.dtype)
        return Passes(forward, [partial(np.multiply, dY, Y, dX),
                                partial(np.sum, dX, 1, out=dot, keepdims=True),
                                partial(np.subtract, dY, dot, dX), partial(np.multiply, dX, Y, dX)])


def softmax(X: NDArray, Y: NDArray, row: NDArray) -> None:
    """``Y = softmax(X)`` row by row, with ``row`` an ``(N, 1)`` work array.

    Shifting by the row maximum keeps ``exp`` from overflowing; a shift that
    itself overflows (``-huge - huge``) gives ``-inf``, whose ``exp`` is the
    correct 0, so that overflow flag is silenced, not an error.
    """
    np.max(X, axis=1, out=row, keepdims=True)
    with np.errstate(over="ignore"):
        np.subtract(X, row, out=Y)
    np.exp(Y, out=Y)
    np.sum(Y, axis=1, out=row, keepdims=True)
    np.divide(Y, row, out=Y)
