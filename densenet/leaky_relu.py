"""``LeakyReLU``: the rectified linear unit with a small slope below zero."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ._validation import hyperparameter
from .chain import Buffers, Passes
from .elementary import above_zero
from .module import Module


class LeakyReLU(Module):
    r"""The leaky rectified linear unit, elementwise: ``Y = X`` where ``X > 0``, else
    ``negative_slope * X``, computed as ``max(X, negative_slope * X)``.

    Args:
        negative_slope: the slope below zero, from 0 to 1 (default 0.01, PyTorch's);
            0 is ``ReLU``.

    The backward pass uses the output: ``dX = dY`` where ``Y > 0``, else
    ``negative_slope * dY`` (at 0 the slope below, as in PyTorch). Pair it with He
    initialisation (``Dense(..., init="he_normal")``). PyTorch's ``torch.nn.LeakyReLU``
    (which also takes slopes outside [0, 1]; with those the output's sign no longer
    tells which side an input was on, which this module's in-place passes need).

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> LeakyReLU(0.1).forward(np.array([[-2.0, 0.0, 3.0]]))
        array([[-0.2,  0. ,  3. ]])
    """

    in_place = True

    def __init__(self, negative_slope: float = 0.01) -> None:
        self._negative_slope = hyperparameter(negative_slope, "LeakyReLU", "negative_slope", high=1.0)

    @property
    def negative_slope(self) -> float:
        """The slope below zero (fixed)."""
        return self._negative_slope

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def to_onnx(self, graph: Any, x: str) -> str:
        # max(x, slope * x) with the slope in the model's dtype, not ONNX's LeakyRelu, whose
        # alpha is a float32 attribute (0.01 is 0.0099999998 there: 2e-8 off in float64)
        slope = graph.constant(np.array(self.negative_slope), "negative_slope")
        return graph.node("Max", [x, graph.node("Mul", [x, slope])])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        # 0-d constants: no Python-scalar conversion per call
        below, rest = np.full((), self.negative_slope, Y.dtype), np.full((), 1 - self.negative_slope, Y.dtype)
        scaled = np.zeros_like(Y)
        forward = [partial(np.multiply, X, below, scaled), partial(np.maximum, X, scaled, out=Y)]
        if dX is None:
            return Passes(forward, [])
        # the slope: 1 where Y > 0, else negative_slope, as negative_slope + (1 - negative_slope)
        # * [Y > 0] (``densenet.elementary.above_zero``: heaviside is 7x slower, and a comparison
        # into the float dtype casts through a buffer per call)
        slope = np.zeros_like(dX)
        return Passes(forward, [*above_zero(Y, slope), partial(np.multiply, slope, rest, slope),
                                partial(np.add, slope, below, slope), partial(np.multiply, dY, slope, dX)])

    def __repr__(self) -> str:
        slope = "" if self.negative_slope == 0.01 else f"negative_slope={self.negative_slope!r}"
        return f"{type(self).__name__}({slope})"
