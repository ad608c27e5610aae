"""``ELU``: the exponential linear unit."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ._validation import hyperparameter
from .chain import Buffers, Passes
from .module import Module


class ELU(Module):
    r"""The exponential linear unit, elementwise: ``Y = X`` where ``X > 0``, else
    ``alpha * (exp(X) - 1)``, computed as ``max(X, 0) + alpha * expm1(min(X, 0))``
    (``expm1``: exact near 0).

    Args:
        alpha: the value the output tends to far below zero is ``-alpha``; finite and
            >= 0 (default 1.0, PyTorch's). With ``alpha = 1`` the slope is continuous.

    The backward pass: ``dX = dY`` where ``Y > 0``, else ``alpha * exp(X) * dY`` (at 0
    the slope below, as in PyTorch), from the ``min(X, 0)`` the forward pass kept (not
    as ``(Y + alpha) * dY``, which cancels far below zero). Stable for every finite
    input (no warnings). Pair it with He initialisation
    (``Dense(..., init="he_normal")``). PyTorch's ``torch.nn.ELU`` (which also takes
    a negative ``alpha``; then the output's sign no longer tells the side of the input,
    which this module's in-place passes need).

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> ELU().forward(np.array([[-1.0, 0.0, 2.0]])).round(6)
        array([[-0.632121,  0.      ,  2.      ]])
    """

    in_place = True

    def __init__(self, alpha: float = 1.0) -> None:
        self._alpha = hyperparameter(alpha, "ELU", "alpha")

    @property
    def alpha(self) -> float:
        """The scale of the negative side (fixed)."""
        return self._alpha

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def to_onnx(self, graph: Any, x: str) -> str:
        # max(x, 0) + alpha * (exp(min(x, 0)) - 1) with alpha in the model's dtype, not ONNX's
        # Elu, whose alpha is a float32 attribute
        zero, one = graph.constant(np.zeros(()), "zero"), graph.constant(np.ones(()), "one")
        below = graph.node("Sub", [graph.node("Exp", [graph.node("Min", [x, zero])]), one])
        scaled = graph.node("Mul", [below, graph.constant(np.array(self.alpha), "alpha")])
        return graph.node("Add", [graph.node("Max", [x, zero]), scaled])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        # 0-d constants: no Python-scalar conversion per call
        # 0-d constants: no Python-scalar conversion per call
        zero, alpha = np.zeros((), Y.dtype), np.full((), self.alpha, Y.dtype)
        clipped, below = np.zeros_like(Y), np.zeros_like(Y)  # min(X, 0), kept for the backward pass
        # the negative side first, as Y may be X; max(X, 0) is X - min(X, 0), exactly
        forward = [partial(np.minimum, X, zero, out=clipped), partial(np.expm1, clipped, below),
                   partial(np.multiply, below, alpha, below), partial(np.subtract, X, clipped, Y),
                   partial(np.add, Y, below, Y)]
        if dX is None:
            return Passes(forward, [])
        # the slope alpha * exp(min(X, 0)) + (1 - alpha) * [Y > 0], from the input (Y + alpha
        # would cancel far below zero); [Y > 0] as max(sign(Y), 0): on 256 x 512 float64 the
        # two take 130 us, a masked copy 700, and a comparison into a float array allocates
        slope, above = np.zeros_like(dX), np.zeros_like(dX)
        rest = np.full((), 1.0 - self.alpha, Y.dtype)
        return Passes(forward, [partial(np.exp, clipped, slope), partial(np.multiply, slope, alpha, slope),
                                partial(np.sign, Y, above), partial(np.maximum, above, zero, out=above),
                                partial(np.multiply, above, rest, above),
                                partial(np.add, slope, above, slope), partial(np.multiply, dY, slope, dX)])

    def __repr__(self) -> str:
        return "ELU()" if self.alpha == 1.0 else f"ELU(alpha={self.alpha!r})"
