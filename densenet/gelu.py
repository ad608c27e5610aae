"""``GELU``: the Gaussian error linear unit."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from .chain import Buffers, Passes
from .module import Module
from .normal import distribution, distribution_onnx


class GELU(Module):
    r"""The Gaussian error linear unit, elementwise: ``Y = X * Phi(X)``, where ``Phi`` is
    the standard normal distribution function, equal to ``0.5 * X * (1 + erf(X /
    sqrt(2)))``. PyTorch's ``torch.nn.GELU()`` (its default, ``approximate="none"``).

    ``Phi`` is SciPy's ``ndtr`` on small arrays and vectorised NumPy passes on large
    ones (``densenet.normal``: a polynomial times ``exp(-X**2 / 2)``, within a few ulp
    of the exact value for ``|X| < 5``, as close as ``ndtr`` or closer beyond); where the
    products run on MKL (``DENSENET_BLAS=mkl``), one call to its vector math on its threads,
    within an ulp.

    Stable for every finite input, with no warnings; ``Phi`` is computed directly, so
    far below zero the output keeps its tiny value where ``1 + erf`` would round to 0
    (``X = -10``: about ``-7.6e-23``). The forward pass keeps ``Phi(X)`` and
    ``X * exp(-X**2 / 2)``, from which the backward pass takes ``dX = dY * (Phi(X) + X *
    phi(X))``, with ``phi`` the normal density ``exp(-X**2 / 2) / sqrt(2 pi)``; it reads
    neither input nor output, so the output may be written over the input.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> GELU().forward(np.array([[-1.0, 0.0, 1.0]])).round(6)
        array([[-0.158655,  0.      ,  0.841345]])
    """

    in_place = True
    reads_output = False

    def to_onnx(self, graph: Any, x: str) -> str:
        if graph.dtype == np.float64:  # onnxruntime has no float64 Erf: Phi by densenet's own passes
            return graph.node("Mul", [x, distribution_onnx(graph, x)])
        # 0.5 * x * (1 + erf(x / sqrt(2))): the Erf form, which every opset from 13 has
        scaled = graph.node("Mul", [x, graph.constant(np.array(math.sqrt(0.5)), "sqrt_half")])
        erf = graph.node("Erf", [scaled])
        one_plus = graph.node("Add", [erf, graph.constant(np.ones(()), "one")])
        return graph.node("Mul", [graph.node("Mul", [x, one_plus]), graph.constant(np.array(0.5), "half")])

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        cdf, gauss = np.zeros_like(Y), np.zeros_like(Y)
        forward = distribution(X, cdf, gauss)
        if dX is None:
            return Passes([*forward, partial(np.multiply, X, cdf, Y)], [])
        scale, slope = np.full((), 1 / math.sqrt(2 * math.pi), Y.dtype), np.zeros_like(dX)
        forward += [partial(np.multiply, X, gauss, gauss), partial(np.multiply, X, cdf, Y)]  # (Y may be X)
        return Passes(forward, [partial(np.multiply, gauss, scale, slope), partial(np.add, slope, cdf, slope),
                                partial(np.multiply, dY, slope, dX)])
