"""``LogSoftmax``: log-probabilities over the last axis."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .chain import Buffers, Passes
from .module import Module
from .softmax import shifted_exp


class LogSoftmax(Module):
    r"""The logarithm of the softmax over the features of each sample:
    ``Y[i] = X[i] - log(sum(exp(X[i])))``.

    Stable for every finite input: each row is shifted by its maximum first, so
    ``exp`` never overflows, and a class far below the best gets its log-probability,
    not ``log(0)`` (to ``-inf`` only once the shift itself overflows, without a warning).
    The backward pass uses the output: ``dX = dY - exp(Y) * sum(dY, axis=1)``.
    Followed by ``NLLLoss`` it is ``CrossEntropyLoss`` on the logits (PyTorch's
    ``log_softmax`` and ``nll_loss``), and trains as it does; a model ending with it
    predicts log-probabilities.

    Shape:
        - Input: ``(N, C)``
        - Output: ``(N, C)``, each row's ``exp`` summing to 1

    Example:
        >>> import numpy as np
        >>> LogSoftmax().forward(np.array([[0.0, 0.0], [1000.0, 0.0]]))
        array([[-6.93147181e-01, -6.93147181e-01],
               [ 0.00000000e+00, -1.00000000e+03]])
    """

    outputs = "log-probabilities"

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.node("LogSoftmax", [x], axis=-1)

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        row, spread = np.zeros((X.shape[0], 1), Y.dtype), np.zeros_like(Y)
        forward = [partial(log_softmax, X, Y, spread, row)]
        if dX is None:
            return Passes(forward, [])
        # dX = dY - softmax * (each row's sum of dY), the sums spread over a whole array
        # first (see ``log_softmax``); add.reduce's axis, dtype, out, keepdims
        return Passes(forward, [partial(np.add.reduce, dY, 1, None, row, True),
                                partial(np.copyto, spread, row), partial(np.exp, Y, dX),
                                partial(np.multiply, dX, spread, dX), partial(np.subtract, dY, dX, dX)])


def log_softmax(Z: NDArray[Any], out: NDArray[Any], exp: NDArray[Any], row: NDArray[Any]) -> None:
    """``out = Z - max - log(sum(exp(Z - max)))`` row by row, with work arrays ``exp``
    ``(N, C)`` and ``row`` ``(N, 1)``. A shift that overflows gives ``-inf``, the
    correct log-probability of a class that far below the best, without a warning.
    Each row's shift is spread over ``exp`` before it is subtracted: a ufunc that
    broadcasts an ``(N, 1)`` column takes an iterator buffer on every call."""
    shifted_exp(Z, out, exp, row)
    np.log(row, out=row)
    np.copyto(exp, row)
    np.subtract(out, exp, out=out)
