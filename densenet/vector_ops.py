"""The passes an optimiser's step makes over its flat vectors, and where they run.

An adaptive optimiser's update (Adam's, RMSprop's, Adagrad's...) is a few passes over
vectors as long as the model: ``y = a x + b y``, ``y += a x``, ``x *= b``, ``x * x``,
``|x|``, a square root and quotients ``x / d`` and ``x / (d + shift)``. ``Ufuncs`` runs
them by NumPy's ufuncs and SciPy's BLAS axpy, on the calling thread;
``densenet.cblas.VectorMath`` runs the same passes on a library's threads, one call each
(MKL's, where ``DENSENET_BLAS`` names it). ``vector_ops(params)`` chooses for an
optimiser's vectors, once, when it plans its step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backend import scaled_add, vector_math
from .cblas import VectorMath

__all__ = ["Ufuncs", "VectorOps", "vector_ops"]


#: A pair ``(x, y)`` and its planned ``y += a x`` call.
_Planned = tuple[NDArray[Any], NDArray[Any], Callable[[float], object]]


class Ufuncs:
    """The passes of ``VectorMath`` by NumPy's ufuncs, and ``axpy`` by SciPy's BLAS in
    slices on the calling thread (``backend.scaled_add``), planned for each pair of vectors
    at its first call and kept with them: one object for one optimiser's vectors."""

    __slots__ = ("_planned",)

    def __init__(self) -> None:
        self._planned: dict[tuple[int, int], _Planned] = {}

    def axpby(self, a: float, x: NDArray[Any], b: float, y: NDArray[Any]) -> None:
        """``y = a x + b y`` in place: ``y *= b``, then ``y += a x``."""
        np.multiply(y, b, out=y)
        self.axpy(a, x, y)

    def axpy(self, a: float, x: NDArray[Any], y: NDArray[Any]) -> None:
        """``y += a x`` in place."""
        planned = self._planned.get((id(x), id(y)))
        if planned is None:  # (the plan holds the arrays: their ids stay theirs)
            planned = self._planned[id(x), id(y)] = (x, y, scaled_add(y, x))
        planned[2](a)

    def scale(self, x: NDArray[Any], b: float) -> None:
        """``x *= b`` in place."""
        np.multiply(x, b, out=x)

    def square(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = x * x``."""
        np.multiply(x, x, out=out)

    def sqrt(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = sqrt(x)``."""
        np.sqrt(x, out=out)

    def absolute(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = |x|``."""
        np.abs(x, out=out)

    def divide(self, x: NDArray[Any], d: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = x / d``."""
        np.divide(x, d, out=out)

    def ratios(self, d: NDArray[Any], shift: float, *pairs: tuple[NDArray[Any], NDArray[Any]]) -> None:
        """``out = x / (d + shift)`` for each pair ``(x, out)``: ``d += shift`` (``d`` is
        overwritten), then a quotient a pair (an ``out`` that is ``d`` comes last)."""
        np.add(d, shift, out=d)
        for x, out in pairs:
            np.divide(x, d, out=out)


#: Either kind of passes: they have the same methods.
VectorOps = Ufuncs | VectorMath


def vector_ops(params: NDArray[Any]) -> VectorOps:
    """The passes for an optimiser's vectors like ``params``: a library's vector math
    (``backend.vector_math``: MKL's, on long vectors, where ``DENSENET_BLAS`` names it),
    else NumPy's (``Ufuncs``)."""
    library = vector_math(params)
    return Ufuncs() if library is None else library
