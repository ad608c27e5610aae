"""The standard normal distribution function ``Phi`` as NumPy passes, for ``GELU``.

SciPy's ``ndtr`` is a scalar loop: about 14 ns an element in float32 and float64
alike, 1.8 ms for a 256 x 512 array, where NumPy's vectorised ``exp`` takes 0.07 ms
(float64) and 0.045 ms (float32). On large arrays ``Phi`` is therefore computed by
vectorised passes, from the lower tail ``h = Phi(-|x|)``:

    h = q(s) * exp(-x**2 / 2),    s = (|x| - k) / (|x| + k),

where ``q(s) = erfcx(|x| / sqrt(2)) / 2`` (``erfcx``, the scaled complementary error
function, is smooth and slowly varying on ``[0, inf)``, and ``s`` maps ``|x|`` from 0 to
the underflow bound onto ``[-1, 1)``) is a polynomial of degree 20 (float64) or 9
(float32) in ``s``, interpolating ``q`` at the Chebyshev points of ``s``'s range, made
by ``tools/normal_coefficients.py`` in 50-digit arithmetic. Then ``Phi(x) = h`` below
zero and ``1 - h`` above, written without masks or indicators as ``h + min(1 - 2 h, max(x,
0))``: ``1 - 2 h = erf(|x| / sqrt(2))`` is at least 0, and less than ``0.8 x`` for ``x > 0``.

Accuracy (relative, of ``h``, against 50-digit values): within 3 ulp for ``|x| < 2``,
5 up to 5, 17 up to 10 in float64 and float32, and beyond that the rounding of
``x**2 / 2`` inside ``exp``, ``(x**2 / 2) eps`` at most: 261 ulp at ``x = 38``
(float64; ``ndtr`` is 1,000 ulp off there) and 35 at ``x = 14`` (float32, where
``ndtr``, computed in float64, is exact). Below ``NORMAL_MIN_SIZE`` elements the one
``ndtr`` call is cheaper than the passes and is used instead. ``distribution_onnx``
writes the same passes as ONNX nodes (a float64 GELU's export).

Where the products run on a library with vector math (MKL's, ``DENSENET_BLAS=mkl``:
``densenet.backend.vector_math``), ``Phi`` is instead its one threaded call (VML's
``CdfNorm``, within an ulp of the exact value: ``densenet.cblas.VectorMath.normal_cdf``)
from ``LIBRARY_MIN_SIZE`` elements: at 131,072 float64 elements it took about 0.2x the
passes' time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from .backend import vector_math
from .cblas import VectorMath
from .elementary import transcendental

__all__ = ["DENSITY_BOUND", "LIBRARY_MIN_SIZE", "NORMAL_MIN_SIZE", "TAIL", "distribution",
           "distribution_onnx"]

#: From this many elements on, per dtype, the passes are faster than one ``ndtr`` call
#: (with the density's four passes beside either: 0.98x its time at 8,192 float64
#: elements, 0.45x at 131,072; in float32 0.88x at 2,048, 0.13x at 131,072).
NORMAL_MIN_SIZE = {np.dtype(np.float64): 8192, np.dtype(np.float32): 2048}

#: From this many elements on ``Phi`` is the vector math library's call where there is one:
#: below it the call costs as much as ``ndtr`` (both 4-5 us at 64 elements or fewer).
LIBRARY_MIN_SIZE = 64

#: Beyond this ``|x|``, ``exp(-x**2 / 2)`` is 0 in float64 (from 38.6): ``x`` is clipped
#: here before squaring, so that ``x**2`` cannot overflow.
DENSITY_BOUND = 40.0

#: Per dtype, ``(k, coefficients of q in s, highest power first)``; written by
#: ``tools/normal_coefficients.py`` (``|x|`` up to 38.5 in float64, 14 in float32,
#: where ``h`` underflows).
TAIL: dict[np.dtype[Any], tuple[float, tuple[float, ...]]] = {
    np.dtype(np.float64): (5.0, (
        1.5377772581993554e-09, 4.05823639185872e-09, -1.1290622209140503e-08, -3.7191898558603876e-08,
        7.79317243791934e-08, 2.420269083700097e-07, -6.75788979903459e-07, -1.2695452606435516e-06,
        6.644744064835342e-06, 9.611746009616467e-07, -6.042756761390336e-05, 0.00013427686312474465,
        0.00021955075045261414, -0.0023788443583810767, 0.00899137054954876, -0.023413900487620497,
        0.047855352284208307, -0.08088387726412842, 0.11606881188600288, -0.14345755526401197,
        0.07691930497500629)),
    np.dtype(np.float32): (4.0, (
        -7.356532296398655e-05, -0.00018204652587883174, 0.0006579204346053302, 0.0005120789865031838,
        -0.00849611684679985, 0.030863359570503235, -0.0717071071267128, 0.12437936663627625,
        -0.17039772868156433, 0.09441064298152924)),
}


def distribution(X: NDArray[Any], cdf: NDArray[Any], gauss: NDArray[Any]) -> list[Callable[[], object]]:
    """The calls that write ``Phi(X)`` into ``cdf`` and ``exp(-X**2 / 2)`` (the normal
    density times ``sqrt(2 pi)``) into ``gauss``; both arrays of ``X``'s shape and dtype,
    neither ``X``. ``Phi`` by the vector math library's call (see above), else ``ndtr`` below
    ``NORMAL_MIN_SIZE`` elements and the passes above from it."""
    dtype = cdf.dtype
    bound, minus_half = (np.full((), value, dtype) for value in (DENSITY_BOUND, -0.5))
    density: list[Callable[[], object]] = [
        partial(np.clip, X, -bound, bound, out=gauss), partial(np.square, gauss, gauss),
        partial(np.multiply, gauss, minus_half, gauss), transcendental(np.exp, gauss, gauss)]
    library = _library(X, cdf)
    if library is not None:  # (flat views of both: they are C-ordered)
        return [partial(library.normal_cdf, X.ravel(), cdf.ravel()), *density]
    if X.size < NORMAL_MIN_SIZE[dtype]:
        return [partial(ndtr, X, cdf), *density]
    k, coefficients = TAIL[dtype]
    constants = tuple(np.full((), c, dtype) for c in (k, 0.0, np.inf, 1.0, -2.0, *coefficients))
    scratch = np.empty_like(cdf), np.empty_like(cdf)
    return [*density, partial(_distribution, X, cdf, gauss, scratch, constants)]


def distribution_onnx(graph: Any, x: str) -> str:
    """``Phi(x)`` as ONNX nodes in ``graph`` (``densenet.onnx.Graph``: its ``node`` and
    ``constant``), by the passes above in the graph's dtype; returns the output's name.
    (For a float64 ``GELU``: onnxruntime has no float64 ``Erf``.)"""
    k, coefficients = TAIL[np.dtype(graph.dtype)]

    def constant(value: float, hint: str) -> str:
        return graph.constant(np.array(value), hint)

    a = graph.node("Min", [graph.node("Abs", [x]), constant(DENSITY_BOUND, "bound")])  # (h is 0 beyond)
    gauss = graph.node("Exp", [graph.node("Mul", [graph.node("Mul", [a, a]), constant(-0.5, "minus_half")])])
    k_ = constant(k, "k")
    s = graph.node("Div", [graph.node("Sub", [a, k_]), graph.node("Add", [a, k_])])
    q = constant(coefficients[0], "q")
    for c in coefficients[1:]:  # Horner's rule (the graph numbers the constants' names)
        q = graph.node("Add", [graph.node("Mul", [q, s]), constant(c, "q")])
    h = graph.node("Mul", [q, gauss])  # Phi(-|x|)
    t = graph.node("Add", [graph.node("Mul", [h, constant(-2.0, "minus_two")]), constant(1.0, "one")])
    positive = graph.node("Max", [x, constant(0.0, "zero")])
    return graph.node("Add", [h, graph.node("Min", [t, positive])])


def _library(X: NDArray[Any], cdf: NDArray[Any]) -> VectorMath | None:
    """The vector math library that writes ``Phi(X)`` into ``cdf``, if there is one, the
    two are C-ordered (so that their flat views are views) and have ``LIBRARY_MIN_SIZE``
    elements or more."""
    if not (X.flags.c_contiguous and cdf.flags.c_contiguous):
        return None
    return vector_math(cdf.ravel(), min_bytes=LIBRARY_MIN_SIZE * cdf.itemsize)


def _distribution(X: NDArray[Any], cdf: NDArray[Any], gauss: NDArray[Any],
                  scratch: tuple[NDArray[Any], NDArray[Any]], constants: tuple[NDArray[Any], ...]) -> None:
    """``cdf = Phi(X)`` from ``gauss = exp(-X**2 / 2)``, by ``h = q(s) * gauss`` (``scratch``:
    two arrays like ``cdf``; ``constants``: 0-d ``k``, 0, inf, 1, -2 and ``q``'s
    coefficients). (NumPy's ``heaviside`` and ``sign`` passes take 3-30x an ``add``'s time,
    and a product with a boolean array allocates, so the sign is taken by ``clip`` and
    ``minimum``.)"""
    s, t = scratch
    k, zero, inf, one, minus_two, first, *rest = constants
    np.abs(X, out=s)
    np.add(s, k, out=cdf)
    np.subtract(s, k, out=s)
    np.divide(s, cdf, out=s)
    np.multiply(s, first, out=cdf)  # Horner's rule: q(s) into cdf
    for c in rest[:-1]:
        np.add(cdf, c, out=cdf)
        np.multiply(cdf, s, out=cdf)
    np.add(cdf, rest[-1], out=cdf)
    np.multiply(cdf, gauss, out=cdf)  # h = Phi(-|X|)
    np.multiply(cdf, minus_two, out=t)
    np.add(t, one, out=t)  # (>= 0: h is at most 1/2, its value at 0, in both dtypes: tested)
    np.clip(X, zero, inf, out=s)
    np.minimum(t, s, out=t)  # 1 - 2 h where X > 0, else 0
    np.add(cdf, t, out=cdf)
