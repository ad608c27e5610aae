"""``PReLU``: the rectified linear unit with a learned slope below zero."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import finite_in, hyperparameter, positive_int
from .chain import Buffers, Call, Passes
from .elementary import above_zero
from .module import Module


class PReLU(Module):
    r"""The parametric rectified linear unit, elementwise: ``Y = X`` where ``X > 0``, else
    ``a * X``, with the slope ``a`` learned, one for every feature or one for all
    (PyTorch's ``torch.nn.PReLU``; its ``weight`` is ``a`` here), computed as
    ``max(X, 0) + a * min(X, 0)``.

    Args:
        num_parameters: 1 (default: one slope for every feature) or ``C``, the number of
            features (one slope each).
        init: the slopes' starting value, finite (default 0.25, PyTorch's).

    Attributes:
        a: the slopes, ``(num_parameters,)`` (a view into the model's ``params``); ``da``
            its gradient, ``sum(dY * min(X, 0))`` over the rows (and the features, for one
            slope).

    The backward pass reads the ``min(X, 0)`` and the sign of the input the forward pass
    leaves: ``dX = dY`` where ``X > 0``, else ``a * dY`` (at 0 the slope below, as in
    PyTorch). Any slope is allowed, negative or above 1.

    Shape:
        - Input: ``(N, C)``
        - Output: ``(N, C)``

    Example:
        >>> import numpy as np
        >>> PReLU().forward(np.array([[-2.0, 0.0, 3.0]]))
        array([[-0.5,  0. ,  3. ]])
    """

    folds_descent = True
    reads_output = False  # (its backward pass reads min(X, 0) and the input's sign)

    # views into the model's flat vectors, made by ``bind`` (``param_views``)
    a: NDArray[Any]
    da: NDArray[Any]

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        self._num_parameters = positive_int(num_parameters, "PReLU: num_parameters")
        self._init = hyperparameter(init, "PReLU", "init", low=-math.inf)
        self.bind()
        self._start()

    @property
    def num_parameters(self) -> int:
        """The number of slopes, 1 or the features' (fixed: it shapes the parameters)."""
        return self._num_parameters

    @property
    def init(self) -> float:
        """The slopes' starting value (``reset_parameters`` sets them to it)."""
        return self._init

    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.num_parameters,),)

    def param_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        (a,) = blocks
        return {"a": a}

    @property
    def input_width(self) -> int | None:
        return None if self.num_parameters == 1 else self.num_parameters

    def config(self) -> dict[str, Any]:
        return {"num_parameters": self.num_parameters, "init": self.init}

    def reset_parameters(self, rng: np.random.Generator) -> None:
        self._start()

    def _start(self) -> None:
        finite_in(self.a.dtype, self.init, "PReLU", "init")
        self.a[...] = self.init

    def to_onnx(self, graph: Any, x: str) -> str:
        # max(x, 0) + a * min(x, 0), the slopes in the model's dtype (their (C,) or (1,)
        # broadcast over the rows, as ONNX's PRelu's would)
        zero = graph.constant(np.zeros(()), "zero")
        below = graph.node("Mul", [graph.node("Min", [x, zero]), graph.constant(self.a, "slope")])
        return graph.node("Add", [graph.node("Max", [x, zero]), below])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        # (folded descent: the gradient's accumulation once dX, which reads the slopes, is written)
        ((a,), ((da,), descent)) = buffers.params, buffers.gradients()
        n, dtype = X.shape[0], Y.dtype
        zeros, one = np.zeros(X.shape, dtype), np.ones((), dtype)  # (a 0-d bound: a scalar loop on AVX2)
        # min(X, 0), kept; the slopes are spread over full rows before each elementwise pass
        # (a ufunc broadcasting them would take an iterator buffer per call)
        below, slopes = np.zeros(X.shape, dtype), np.zeros(X.shape, dtype)
        out = Y if Y.flags.c_contiguous else np.zeros(Y.shape, dtype)  # (a strided Y: [X, 1])
        forward: list[Call] = [partial(np.minimum, X, zeros, out=below), partial(np.copyto, slopes, a),
                               partial(np.multiply, below, slopes, slopes),
                               partial(np.subtract, X, below, out), partial(np.add, out, slopes, out)]
        if out is not Y:
            forward.append(partial(np.copyto, Y, out))
        # da = sum(dY * min(X, 0)) over the rows (and the features, for one slope)
        product = np.zeros(X.shape, dtype)
        backward: list[Call] = [partial(np.multiply, dY, below, product)]
        if self.num_parameters == 1:
            backward.append(partial(_dot, product.ravel(), np.ones(product.size, dtype), da.reshape(())))
        else:
            backward.append(partial(_dot, np.ones(n, dtype), product, da))
        if dX is None:
            return Passes(forward, [*backward, *descent])
        # the slope a + (1 - a) [X > 0] (see ``LeakyReLU``)
        above = np.zeros(X.shape, dtype)
        backward += [*above_zero(X, above), partial(np.copyto, slopes, a),
                     partial(np.subtract, one, slopes, product), partial(np.multiply, above, product, above),
                     partial(np.add, above, slopes, above), partial(np.multiply, dY, above, dX)]
        return Passes(forward, [*backward, *descent])

    def __repr__(self) -> str:
        args = [f"{name}={value!r}" for name, value, default in
                (("num_parameters", self.num_parameters, 1), ("init", self.init, 0.25)) if value != default]
        return f"{type(self).__name__}({', '.join(args)})"


def _dot(x: NDArray[Any], y: NDArray[Any], out: NDArray[Any]) -> None:
    """``out = x @ y``: a slope's gradient, beyond the float range +-inf without a warning
    (as ``Dense``'s gradient products, whose BLAS does not warn)."""
    with np.errstate(over="ignore", invalid="ignore"):
        np.dot(x, y, out=out)
