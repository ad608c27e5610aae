"""``ELU``: the exponential linear unit."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .chain import Buffers, Call, Passes
from .elementary import above_zero, expm1_nonpositive, transcendental
from .module import Module


class ELU(Module):
    r"""The exponential linear unit, elementwise: ``Y = X`` where ``X > 0``, else
    ``alpha * (exp(X) - 1)``, computed as ``max(X, 0) + alpha * expm1(min(X, 0))``
    (``expm1``: exact near 0).

    Args:
        alpha: the scale of the negative side, whose output tends to ``-alpha`` far below
            zero; finite and >= 0 (default 1.0, PyTorch's). With ``alpha = 1`` the slope
            is continuous.

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
        return exponential_linear_onnx(graph, x, self.alpha)

    def plan(self, buffers: Buffers) -> Passes:
        return exponential_linear(buffers, self.alpha)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'' if self.alpha == 1.0 else f'alpha={self.alpha!r}'})"


def exponential_linear(buffers: Buffers, alpha: float, scale: float = 1.0) -> Passes:
    """The in-place passes of ``scale * ELU(alpha)`` (``SELU``'s with its constants) on ``buffers``:
    ``Y = scale * (max(X, 0) + alpha * expm1(min(X, 0)))``, and dX from the ``min(X, 0)`` kept
    (and the ``exp(min(X, 0))`` that ``densenet.elementary``'s ``expm1`` may leave)."""
    X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
    # 0-d constants: no Python-scalar conversion per call; the bound of min(X, 0) a whole
    # array: NumPy's minimum against a 0-d bound is a scalar loop on an AVX2 processor
    # (256 x 512: 176 against 30 us in float32)
    below_slope, above_slope = (np.full((), value, Y.dtype) for value in (scale * alpha, scale))
    zeros, clipped, below = np.zeros_like(Y), np.zeros_like(Y), np.zeros_like(Y)  # clipped = min(X, 0), kept
    expm1, exp = expm1_nonpositive(clipped, below)  # (exp(min(X, 0)) too, or None)
    # the slope is scale * alpha * exp(min(X, 0)) + (scale - scale * alpha) * [X > 0], from the
    # input (from Y it would cancel far below zero); the second term 0 for alpha = 1 (ELU's
    # default), else [X > 0] from max(X, 0) kept
    rest = scale - scale * alpha
    kept = dX is not None and rest != 0.0
    positive = np.zeros_like(Y) if kept else Y  # max(X, 0), kept for [X > 0]
    # the negative side first, as Y may be X; max(X, 0) is X - min(X, 0), exactly
    forward: list[Call] = [partial(np.minimum, X, zeros, out=clipped), *expm1]
    if scale * alpha != 1.0:
        forward.append(partial(np.multiply, below, below_slope, below))
    forward.append(partial(np.subtract, X, clipped, positive))
    if scale != 1.0:
        forward += [partial(_scaled, positive, above_slope, Y), partial(np.add, Y, below, Y)]
    else:
        forward.append(partial(np.add, positive, below, Y))
    if dX is None:
        return Passes(forward, [])
    slope = np.zeros_like(dX)
    backward: list[Call] = [partial(np.multiply, exp, below_slope, slope)] if exp is not None else [
        transcendental(np.exp, clipped, slope), partial(np.multiply, slope, below_slope, slope)]
    if kept:
        above, factor = np.zeros_like(dX), np.full((), rest, Y.dtype)
        backward += [*above_zero(positive, above, nonnegative=True),
                     partial(np.multiply, above, factor, above), partial(np.add, slope, above, slope)]
    backward.append(partial(np.multiply, dY, slope, dX))
    return Passes(forward, backward)


def exponential_linear_onnx(graph: Any, x: str, alpha: float, scale: float = 1.0) -> str:
    """``scale * (Max(x, 0) + alpha * expm1(Min(x, 0)))`` with the constants in the model's
    dtype, not ONNX's Elu and Selu, whose are float32 attributes. ONNX has no ``Expm1``, and
    ``Exp(m) - 1`` loses every digit near 0: ``expm1(m) = t / ((1 - t) / 2)``, ``t =
    Tanh(m / 2)``, stays within a few ulp of it in onnxruntime (halving is exact, and
    ``1 - t`` lies in [1, 2])."""
    zero, one = graph.constant(np.zeros(()), "zero"), graph.constant(np.ones(()), "one")
    half = graph.constant(np.array(0.5), "half")
    t = graph.node("Tanh", [graph.node("Mul", [graph.node("Min", [x, zero]), half])])
    below = graph.node("Div", [t, graph.node("Mul", [graph.node("Sub", [one, t]), half])])
    below = graph.node("Mul", [below, graph.constant(np.array(scale * alpha), "alpha")])
    above = graph.node("Max", [x, zero])
    if scale != 1.0:
        above = graph.node("Mul", [above, graph.constant(np.array(scale), "scale")])
    return graph.node("Add", [above, below])


def _scaled(X: NDArray[Any], factor: NDArray[Any], out: NDArray[Any]) -> None:
    """``out = X * factor``, beyond the float range +-inf (the value, rounded) without a warning."""
    with np.errstate(over="ignore"):
        np.multiply(X, factor, out=out)
