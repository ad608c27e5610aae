"""``expm1``, ``log1p`` and the step ``[x > 0]`` as vectorised NumPy passes, for the activations.

NumPy vectorises ``exp``, ``log`` and ``tanh`` in float32 on any x86-64 processor with
AVX2, but its ``expm1`` and ``log1p`` only with AVX-512: without it (many laptops, AMD
before Zen 4) each is a scalar loop, about 18 ns an element in float32, 8x its ``exp``
(2.3 ms against 0.28 ms for a 256 x 512 array on an AMD EPYC of the Zen 2 kind), and
in float64 ``log1p`` takes 2x its ``log``. On large arrays the two are therefore
written with the vectorised functions, exactly enough that no cancellation is left:

- ``expm1(x) = tanh(x / 2) (exp(x) + 1)`` (float32, ``x <= 0``): ``tanh`` keeps its
  relative accuracy near 0, where ``exp(x) - 1`` cancels, and ``exp(x) + 1`` lies in
  ``(1, 2]``. It leaves ``exp(x)``, which an exponential unit's backward pass reads. In
  float64 ``tanh`` is itself a scalar loop without AVX-512 (2x ``expm1``), so
  ``expm1`` is kept there.
- ``log1p(u) = log(w) - ((w - 1) - u) / w`` with ``w = 1 + u`` (``u >= 0``, either dtype):
  ``(w - 1) - u`` is the rounding error of ``w`` (exactly, for ``u <= 1``), and the
  second term the first order of what it costs ``log(w)``. It leaves ``w``, which the
  softplus's slope ``u / w`` reads.

Measured against long double values here (80,000 inputs each, from the smallest
subnormal up): ``expm1`` within 2.7 ulp, ``log1p`` within 1.0 ulp in float64 and 2.7 in
float32 (NumPy's own calls: 0.75 ulp); the tests bound them by 3, 2 and 4 ulp.

The step ``[x > 0]`` (1 above zero, else 0), which the slopes of the rectifiers and
exponential units need, is ``ceil(min(max(x, 0), 1))`` against whole arrays of zeros and
ones: NumPy's ``sign`` is a scalar loop without AVX-512, and so are its ``maximum`` and
``minimum`` against a 0-d bound (a ``sign`` and a 0-d ``maximum`` took 330 us on a 256 x 512
float32 array here, the three passes 80).

On a 256 x 512 array the passes take 0.45x (``expm1`` and the ``exp`` beside it,
float32) and 0.25x (``log1p`` float32) or 0.58x (float64) the time of NumPy's calls
there; below ``PASSES_MIN_SIZE`` elements the one call is cheaper. With AVX-512 NumPy's
own ``expm1`` and ``log1p`` are vectorised too, and there the passes took 1.5-1.8x their
time (an Intel Xeon with AVX-512 and AMX): the passes are planned only where NumPy's
dispatch says its loop is its baseline one (``simd_loop``). And the passes of ``expm1`` are
made of ``exp`` and ``tanh``, which NumPy vectorises on x86-64 only from AVX2 on: held to its
baseline loops (``NPY_ENABLE_CPU_FEATURES=X86_V2``, as on a processor without AVX2) those are
scalar loops too, and a float32 ELU's and SELU's forward and backward passes of a 256 x 512
batch took 1.24x and 1.21x their time on NumPy's ``expm1`` (the Xeon, held so; Softplus's on
the ``log1p`` passes, made of ``log``, 0.54x in float32 and 0.72x in float64): ``expm1``'s
are planned only where NumPy's ``exp`` and ``tanh`` are beyond its baseline (``passes_pay``).
NumPy 1 cannot report its loops; its ``expm1`` and ``log1p`` are SVML's AVX-512 loops where it
links SVML (Linux), and there the passes made ELU's, SELU's and Softplus's steps 1.13-1.28x as
slow (NumPy 1.26, float32 and float64): for it ``densenet.numpy_loops.numpy1_loop`` infers the loops
from the processor's features.

Where ``DENSENET_BLAS`` names MKL, the float64 ``expm1`` and ``log1p`` of large arrays are
instead its vector math's calls (``densenet.backend.library_call``: faster than the passes and
within an ulp); in float32 the passes stay, their ``exp`` the library's call from 65,536
elements (``transcendental``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backend import library_call
from .numpy_loops import numpy_loop

#: A planned call (as ``densenet.chain.Call``, which sits above this file).
Call = Callable[[], object]

__all__ = ["PASSES_MIN_SIZE", "above_zero", "expm1_nonpositive", "log1p_nonnegative", "passes_pay",
           "simd_loop", "transcendental"]

#: From this many elements on, the passes are faster than NumPy's one call where that
#: call is a scalar loop (at 1,024 elements: 0.70x ``expm1`` and ``exp`` in float32,
#: 0.76x and 0.89x ``log1p`` in float32 and float64; at 256, 0.83x, 1.18x and 1.64x).
PASSES_MIN_SIZE = 1024


def simd_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> bool:
    """Whether NumPy runs ``ufunc`` on ``dtype`` here with a loop beyond its baseline: what
    its dispatch chose for this processor (``densenet.numpy_loops.numpy_loop``). For ``expm1``
    and ``log1p`` those loops are its AVX-512 ones and the baseline loop is a scalar loop;
    False where NumPy names no loop or cannot say (a NumPy 1 on a processor other than an
    x86-64: the passes)."""
    loop = numpy_loop(ufunc, np.dtype(dtype))
    return loop is not None and not loop.startswith("baseline")


def passes_pay(ufunc: np.ufunc, dtype: np.dtype[Any]) -> bool:
    """Whether the passes for ``ufunc`` (``np.expm1`` or ``np.log1p``) on ``dtype`` are faster
    here than NumPy's one call (from ``PASSES_MIN_SIZE`` elements on): where NumPy's loop for it
    is not vectorised (``simd_loop``) and, for ``expm1``, its ``exp`` and ``tanh``, of which
    those passes are made, are not its baseline loops (on x86-64, scalar ones without AVX2).
    Where NumPy cannot say, the passes."""
    if simd_loop(ufunc, dtype):
        return False
    if ufunc is not np.expm1:
        return True
    loops = [numpy_loop(part, np.dtype(dtype)) for part in (np.exp, np.tanh)]
    return not any(loop is not None and loop.startswith("baseline") for loop in loops)


def transcendental(ufunc: np.ufunc, X: NDArray[Any], out: NDArray[Any]) -> Call:
    """The call writing ``out = ufunc(X)`` for an activation's ``exp``, ``expm1``, ``log1p``
    or ``tanh``: the vector math library's where it takes the arrays
    (``densenet.backend.library_call``: ``DENSENET_BLAS=mkl``, large arrays), else NumPy's."""
    return library_call(ufunc, X, out) or partial(ufunc, X, out)


def expm1_nonpositive(X: NDArray[Any], out: NDArray[Any]) -> tuple[list[Call], NDArray[Any] | None]:
    """The calls writing ``out = expm1(X)`` for ``X <= 0`` (``out`` of ``X``'s shape and
    dtype, not ``X`` itself), and the array in which they also leave ``exp(X)``: the vector
    math library's call where it takes the arrays, else by the passes above in float32 from
    ``PASSES_MIN_SIZE`` elements on where NumPy's ``expm1`` is a scalar loop, else NumPy's
    ``expm1`` (and None). Where the passes pay: ``passes_pay``."""
    library = library_call(np.expm1, X, out)
    if library is not None:
        return [library], None
    if X.dtype != np.float32 or X.size < PASSES_MIN_SIZE or not passes_pay(np.expm1, X.dtype):
        return [partial(np.expm1, X, out)], None
    half, one = np.full((), 0.5, X.dtype), np.ones((), X.dtype)  # (0-d: no conversion per call)
    exp, work = np.zeros_like(X), np.zeros_like(X)
    return [partial(np.multiply, X, half, work), transcendental(np.tanh, work, work),
            transcendental(np.exp, X, exp), partial(np.add, exp, one, out),
            partial(np.multiply, out, work, out)], exp


def log1p_nonnegative(U: NDArray[Any], out: NDArray[Any]) -> tuple[list[Call], NDArray[Any] | None]:
    """The calls writing ``out = log1p(U)`` for finite ``U >= 0`` (``out`` of ``U``'s shape
    and dtype, not ``U`` itself), and the array in which they also leave ``1 + U``: the
    vector math library's call where it takes the arrays, else by the passes above from
    ``PASSES_MIN_SIZE`` elements on where NumPy's ``log1p`` is a scalar loop, else NumPy's
    ``log1p`` (and None)."""
    library = library_call(np.log1p, U, out)
    if library is not None:
        return [library], None
    if U.size < PASSES_MIN_SIZE or not passes_pay(np.log1p, U.dtype):
        return [partial(np.log1p, U, out)], None
    one = np.ones((), U.dtype)
    w, work = np.zeros_like(U), np.zeros_like(U)
    return [partial(np.add, U, one, w), partial(np.log, w, out), partial(np.subtract, w, one, work),
            partial(np.subtract, work, U, work), partial(np.divide, work, w, work),
            partial(np.subtract, out, work, out)], w


def above_zero(X: NDArray[Any], out: NDArray[Any], nonnegative: bool = False) -> list[Call]:
    """The calls writing ``out = [X > 0]``: 1 where ``X > 0``, 0 where ``X <= 0`` (NaN where
    ``X`` is NaN), ``out`` of ``X``'s shape and dtype (``X`` itself allowed). With
    ``nonnegative`` (``X >= 0`` known, a rectifier's output) one pass fewer."""
    ones = np.ones_like(out)
    calls: list[Call] = [] if nonnegative else [partial(np.maximum, X, np.zeros_like(out), out=out)]
    return [*calls, partial(np.minimum, X if nonnegative else out, ones, out=out), partial(np.ceil, out, out)]
