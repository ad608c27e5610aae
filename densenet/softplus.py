"""``Softplus``: a smooth rectifier whose outputs are positive."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import finite_in, hyperparameter, nonzero_in
from .chain import Buffers, Call, Passes
from .elementary import above_zero, log1p_nonnegative, transcendental
from .module import Module

#: Per dtype, from where ``log1p(exp(z))`` rounds to ``z`` and ``sigmoid(z)`` to 1
#: (``exp(-z)`` below a quarter of an ulp of 1): a higher threshold stops here.
SATURATED = {np.dtype(np.float32): 20.0, np.dtype(np.float64): 40.0}


class Softplus(Module):
    r"""The softplus, elementwise: ``Y = log(1 + exp(beta * X)) / beta``, and ``Y = X``
    where ``beta * X > threshold`` (PyTorch's ``torch.nn.Softplus(beta, threshold)``).
    Its outputs are positive: an output layer for rates, scales or variances.

    Args:
        beta: finite and > 0 (default 1.0): the larger, the nearer ``ReLU``.
        threshold: finite (default 20.0): beyond it, the output is the input.

    Computed with ``log1p(exp(min(beta X, threshold)))``; beyond the threshold the output
    is ``X`` exactly (as PyTorch's, which jumps there by ``log1p(exp(-threshold)) / beta``,
    2e-9 for the default threshold). A threshold above ``SATURATED`` (20 in float32, 40 in
    float64, where ``log1p(exp(z))`` rounds to ``z`` and ``sigmoid(z)`` to 1) acts as that
    bound, so that ``exp`` never overflows (PyTorch's output is inf from ``beta X = 89``
    in float32 with such a threshold). Far below zero
    the output underflows to 0. The backward pass reads the ``exp`` and the side of the
    threshold the forward pass kept: ``dX = dY * sigmoid(beta X)``, and ``dX = dY``
    beyond the threshold.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> Softplus().forward(np.array([[-30.0, 0.0, 1.0, 30.0]])).round(6)
        array([[ 0.      ,  0.693147,  1.313262, 30.      ]])
    """

    reads_output = False  # (its backward pass reads the exp and the side it keeps)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self._beta = hyperparameter(beta, "Softplus", "beta", low_open=True)
        self._threshold = hyperparameter(threshold, "Softplus", "threshold", low=-math.inf)

    @property
    def beta(self) -> float:
        """The input's scale inside the log (fixed)."""
        return self._beta

    @property
    def threshold(self) -> float:
        """Beyond ``beta * X > threshold`` the output is the input (fixed)."""
        return self._threshold

    def config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}

    def to_onnx(self, graph: Any, x: str) -> str:
        # Where(beta x > threshold, x, log1p(exp(min(beta x, threshold))) / beta), the
        # constants in the model's dtype (ONNX's Softplus has no beta and no threshold). ONNX
        # has no Log1p, and Log(1 + e) rounds e below an ulp of 1 away, where the output is
        # that small: log1p(e) = Log(u) - ((u - 1) - e) / u, u = 1 + e, the rounding of u
        # taken back to first order (e itself where u is 1), within a few ulp of it
        beta, one = graph.constant(np.array(self.beta), "beta"), graph.constant(np.ones(()), "one")
        edge = min(self.threshold, SATURATED[np.dtype(graph.dtype)])  # (as the passes)
        threshold = graph.constant(np.array(edge), "threshold")
        scaled = graph.node("Mul", [x, beta])
        e = graph.node("Exp", [graph.node("Min", [scaled, threshold])])
        u = graph.node("Add", [e, one])
        rounding = graph.node("Div", [graph.node("Sub", [graph.node("Sub", [u, one]), e]), u])
        soft = graph.node("Div", [graph.node("Sub", [graph.node("Log", [u]), rounding]), beta])
        return graph.node("Where", [graph.node("Greater", [scaled, threshold]), x, soft])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        dtype = Y.dtype
        nonzero_in(dtype, self.beta, repr(self), "beta", "the output would be divided by 0")
        finite_in(dtype, self.threshold, repr(self), "threshold")
        # 0-d constants: no Python-scalar conversion per call
        edge = min(self.threshold, SATURATED[dtype])
        beta, threshold, one = (np.full((), value, dtype) for value in (self.beta, edge, 1.0))
        bound = np.full(Y.shape, edge, dtype)  # (a 0-d bound: minimum is a scalar loop on AVX2)
        # beta X (X itself for beta 1); exp(min(beta X, threshold)) and the 0-or-1 indicator
        # of beta X > threshold are kept for the backward pass
        scaled = X if self.beta == 1.0 else np.zeros_like(Y)
        e, above, spare = np.zeros_like(Y), np.zeros_like(Y), np.zeros_like(Y)
        log1p, w = log1p_nonnegative(e, Y)  # (1 + e too, or None)
        forward: list[Call] = [] if scaled is X else [partial(_times, X, beta, scaled)]
        forward += [partial(np.minimum, scaled, bound, out=e), transcendental(np.exp, e, e), *log1p]
        if self.beta != 1.0:
            forward.append(partial(np.divide, Y, beta, Y))
        # Y = soft (1 - above) + X above, one of the two terms 0: exactly X beyond the threshold.
        # [beta X > threshold] as [beta X - threshold > 0]: a comparison into a float array
        # casts through a buffer per call, and a masked copy is 10x slower
        forward += [partial(np.subtract, scaled, threshold, above), *above_zero(above, above),
                    partial(np.subtract, one, above, spare),
                    partial(np.multiply, Y, spare, Y), partial(np.multiply, X, above, spare),
                    partial(np.add, Y, spare, Y)]
        if dX is None:
            return Passes(forward, [])
        # the slope sigmoid(beta X) = e / (1 + e) below the threshold, 1 beyond it: the larger
        # of that and the indicator
        slope = [partial(np.divide, e, w, spare)] if w is not None else [
            partial(np.add, e, one, spare), partial(np.divide, e, spare, spare)]
        return Passes(forward, [*slope, partial(np.maximum, spare, above, out=spare),
                                partial(np.multiply, dY, spare, dX)])

    def __repr__(self) -> str:
        args = [f"{name}={value!r}" for name, value, default in
                (("beta", self.beta, 1.0), ("threshold", self.threshold, 20.0)) if value != default]
        return f"{type(self).__name__}({', '.join(args)})"


def _times(X: NDArray[Any], factor: NDArray[Any], out: NDArray[Any]) -> None:
    """``out = X * factor``, beyond the float range +-inf without a warning (then past any
    threshold: the output is the input)."""
    with np.errstate(over="ignore"):
        np.multiply(X, factor, out=out)
