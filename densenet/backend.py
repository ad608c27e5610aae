"""The backend: the calls into BLAS and ``scipy.special`` that the rest of densenet makes.

Everything else calls NumPy ufuncs and, for small products, ``np.dot`` with
``out=`` (NumPy's own BLAS), or the helpers here. What lives here, and why:

- SciPy's level-1 BLAS (``axpy``, ``dot``, ``asum``) costs a quarter of a NumPy
  call on small vectors, but above ``BLAS_SMALL`` elements OpenBLAS may wake its
  thread pool; SciPy's and NumPy's are two pools, which spin against each other
  on the same cores (measured 2-4x slower products on 2 cores). So level-1 calls
  take at most ``BLAS_SMALL`` elements, on the calling thread, and larger
  vectors are cut into slices: a step's only threaded calls are its products.
- ``product`` and ``column_sums``: matrix products of at least
  ``GEMM_MIN_PRODUCT`` multiply-adds go through SciPy's ``gemm``/``gemv``, the
  same BLAS as the level-1 calls, so a large step uses one thread pool; their
  ``alpha`` and ``beta`` also take a bias added into the product (``beta = 1``
  onto rows holding ``b``) and an SGD update folded into the gradient product
  (``W <- W - lr * X.T @ dY``: ``alpha = -lr``, ``beta = 1``). So do smaller
  products with at least ``GEMM_MIN_OUTPUT`` outputs where ``np.dot`` would
  need more passes (a forward product and its bias) or is slow (an outer
  product, ``(n, 1) @ (1, m)``). Otherwise ``np.dot`` costs less per call (0.45
  against 0.60 us for a 2x2 by 2x2 product). Neither library threads products
  this small.
- ``gemm_library``: where ``DENSENET_BLAS`` names another BLAS library (``mkl``, or a
  path: ``densenet.cblas``), ``product`` runs the products of at least
  ``GEMM_MIN_PRODUCT`` multiply-adds and every rank-1 update through its CBLAS ``gemm``
  and ``ger`` instead of SciPy's, ``column_sums`` its ``gemv`` above ``BLAS_SMALL``
  elements, and the thread policy sets its threads too: the calls OpenBLAS would
  thread are then that library's, one thread pool again (with SciPy's ``ger`` and
  ``gemv`` beside MKL's products, a BatchNorm1d step took 2.2x its time).
- ``sparse_product`` and ``sparse_gradient``: a first ``Dense`` on SciPy sparse
  rows multiplies them as they are, at what their nonzeros cost, and its weight
  gradient touches only the rows of ``W`` that the batch's columns reach: on
  rows of 100 nonzeros among 100,000 features, 100 outputs, batch 32, the two
  took about 1 ms against 25 ms for the same products on the rows made dense.
- ``logistic`` (SciPy's ``expit`` on small arrays, NumPy's vectorised ``exp`` on large
  ones) for activations; ``log_expit`` and ``log_softmax``, logarithms stable where the
  function underflows.
- ``library_call``: on ``gemm_library``'s vector math (MKL's), an activation's ``exp``,
  ``expm1``, ``log1p`` and ``tanh`` of a large array are one call on its threads, where NumPy's
  loop is not an AVX-512 one (``densenet.numpy_loops``; without AVX-512 its float64 loops of
  these are scalar ones: VML's calls took 0.31-0.57x their time on two threads, 0.51-0.95x on
  one).
- ``underflow_ignored``: every public call that computes runs with NumPy's underflow
  unreported, whatever ``np.seterr`` says.
- ``ones_column``: at which batch sizes folding a bias into its matrix
  product (``[X, 1] @ [W; b]``) pays.
- The thread policy, which sets how many threads BLAS runs a plan's products on, is
  ``densenet.thread_policy``'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import partial, wraps
from typing import Any, ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas
from scipy.special import expit, log_expit, log_softmax

from .cblas import ENV, Cblas, VectorMath
from .numpy_loops import wide_simd_loop

__all__ = ["BLAS_SMALL", "EXP_SIGMOID_MIN_SIZE", "GEMM_MIN_OUTPUT", "GEMM_MIN_PRODUCT",
           "IN_PLACE_MIN_SIZE", "RANK_ONE_MIN_SIZE", "TRANSCENDENTAL_MIN_SIZE",
           "VECTOR_MATH_MIN_BYTES", "abs_sum", "add_outer", "all_finite", "axpy_chunks",
           "column_sums", "expit", "gemm_library", "gemm_library_choices", "in_place", "library_call",
           "log_expit", "log_softmax", "logistic", "magnitude_at_most", "ones_column", "product",
           "scaled_add", "sparse_gradient", "sparse_product", "sum_of_squares", "underflow_ignored",
           "use_gemm_library", "vector_math"]

#: Up to this many elements SciPy's BLAS level-1 calls run on the calling
#: thread and beat NumPy's ufuncs; above it they would wake a second thread pool.
BLAS_SMALL = 8192

_AXPY = {np.dtype(np.float64): blas.daxpy, np.dtype(np.float32): blas.saxpy}
_DOT = {np.dtype(np.float64): blas.ddot, np.dtype(np.float32): blas.sdot}
_ASUM = {np.dtype(np.float64): blas.dasum, np.dtype(np.float32): blas.sasum}

_GEMM = {np.dtype(np.float64): blas.dgemm, np.dtype(np.float32): blas.sgemm}
_GEMV = {np.dtype(np.float64): blas.dgemv, np.dtype(np.float32): blas.sgemv}
_GER = {np.dtype(np.float64): blas.dger, np.dtype(np.float32): blas.sger}

Axpy = Callable[..., object]
#: ``axpy_chunks``'s answer: BLAS axpy and the ``(x, y)`` slices it runs on
Chunks = tuple[Axpy, list[tuple[NDArray[Any], NDArray[Any]]]]

#: Matrix products of at least this many multiply-adds run through SciPy's BLAS
#: (``product``); the same size from which OpenBLAS may thread (``SERIAL_BELOW``).
GEMM_MIN_PRODUCT = 2 ** 18

#: A ``Dense`` forward product (with its bias in gemm's ``beta``), input-gradient product
#: or one-row ``[dW; db]`` product with at least this many outputs goes through ``product``
#: whatever its size (the last an outer product, 0.5-0.6x ``np.dot``'s time from 16Ki):
#: a 1024x2 by 2x64 forward product and bias took 39 us against ``np.dot`` and a bias
#: add's 61 us, a 1024x1 by 1x64 product 15 against 24 us; from 32x1 by 1x64 (2,048
#: outputs: 1.8 against 2.6 us) gemm was as fast or faster, below it not always.
GEMM_MIN_OUTPUT = 2048


#: An outer product with at least this many outputs runs as BLAS's rank-1 update (``product``).
#: Below it gemm took 0.3-0.7 us less with ``beta = 0`` (zeroing the output is a call more)
#: and the same with ``beta = 1``, rows 4 KiB apart or not (16 x 512 float64: 4.6 against 4.9
#: us); from it gemm into rows 4 KiB apart took 3-10x ``ger``'s time (32 x 512 float64: 34.6
#: against 11.0 us; 16 x 1024 float32: 14.6 against 5.3), and within 1 us of it otherwise.
RANK_ONE_MIN_SIZE = 2 ** 14


def _fortran(M: NDArray[Any]) -> tuple[NDArray[Any], int] | None:
    """``(F, t)`` with ``F`` Fortran-ordered and ``M == F`` (``t = 0``) or ``F.T``
    (``t = 1``): how BLAS reads ``M`` without a copy; None if it cannot."""
    if M.flags.f_contiguous:
        return M, 0
    if M.flags.c_contiguous:
        return M.T, 1
    return None


#: The library ``DENSENET_BLAS`` names, once loaded (``gemm_library``); None: SciPy's BLAS.
_gemm_library: Cblas | None = None
_gemm_library_read = False
_gemm_library_choices = 0  # how many times use_gemm_library has chosen one (gemm_library_choices)


def gemm_library() -> Cblas | None:
    """The BLAS library whose ``gemm`` runs ``product``'s large products: the one the
    environment variable ``DENSENET_BLAS`` names (``mkl``, or a path; ``densenet.cblas``),
    loaded at the first call (``OSError`` naming the variable if it cannot be), or the
    one ``use_gemm_library`` set; None: SciPy's."""
    global _gemm_library, _gemm_library_read
    if not _gemm_library_read:
        name = os.environ.get(ENV, "").strip()
        _gemm_library = Cblas(name) if name else None
        _gemm_library_read = True
    return _gemm_library


#: An optimiser's passes over vectors of at least this many bytes run on ``gemm_library``'s
#: vector math where it has one (``vector_math``). Adam's step on MKL's, over NumPy's on the
#: calling thread (2 threads, medians of 7 rounds): float64 2.3x at 8,192 values, 0.94x at
#: 32,768, 0.52x at 65,536 (512 KiB), 0.38x at 2**20; float32 1.3x at 65,536, 0.64x at
#: 131,072 (512 KiB), 0.31x at 2**20. Below it the library's calls cost more than they save
#: (each wakes its threads).
VECTOR_MATH_MIN_BYTES = 2 ** 19


def vector_math(v: NDArray[Any], min_bytes: int | None = None) -> VectorMath | None:
    """The passes over vectors like ``v`` (an optimiser's flat parameters) on
    ``gemm_library``'s threads (``densenet.cblas.VectorMath``: MKL's), if there is such a
    library with vector math and ``v`` is a contiguous float vector of at least ``min_bytes``
    (default ``VECTOR_MATH_MIN_BYTES``, the optimisers' passes' threshold); else None (NumPy's
    ufuncs, on the calling thread)."""
    least = VECTOR_MATH_MIN_BYTES if min_bytes is None else min_bytes
    library = gemm_library()
    if library is None or v.ndim != 1 or v.nbytes < least or not v.flags.c_contiguous:
        return None
    return library.vector_math(v.dtype)


#: From how many elements on an activation's ``exp``, ``expm1``, ``log1p`` or ``tanh`` of a
#: dtype runs as the vector math library's call (``library_call``); the pairs not here stay
#: NumPy's (in float32 ``expm1`` and ``log1p`` are ``densenet.elementary``'s passes). Each
#: from where the call was faster than NumPy's on one thread and on two (MKL 2026.2,
#: an AMD EPYC without AVX-512, where NumPy's float64 loops are scalar ones; medians of 7):
#: float64 ``exp`` 0.56x / 0.43x at 4,096 elements, ``tanh`` 0.51x / 0.31x, ``log1p`` 0.70x /
#: 0.57x at 16,384, ``expm1`` 0.95x / 0.51x at 65,536 (1.07x on one thread at 16,384);
#: float32 ``exp`` 0.70x / 0.54x at 65,536. Float32 ``tanh`` was slower on one thread
#: (1.28x at 65,536).
_D, _F = np.dtype(np.float64), np.dtype(np.float32)
TRANSCENDENTAL_MIN_SIZE = {("exp", _D): 4096, ("tanh", _D): 4096, ("log1p", _D): 16384, ("expm1", _D): 65536,
                           ("exp", _F): 65536}


def library_call(ufunc: np.ufunc, X: NDArray[Any], out: NDArray[Any]) -> Callable[[], object] | None:
    """The vector math library's call writing ``out = ufunc(X)`` (``np.exp``, ``np.expm1``,
    ``np.log1p`` or ``np.tanh``; ``out`` may be ``X``), on its threads, where ``gemm_library``
    has vector math (MKL's: ``DENSENET_BLAS=mkl``), ``X`` and ``out`` are C-ordered arrays of
    one float dtype with at least ``TRANSCENDENTAL_MIN_SIZE`` elements for the pair, and NumPy's
    loop for it here is not an AVX-512 one (those are as fast); else None (NumPy's ufunc).
    Within an ulp of the exact value (``densenet.cblas.VectorMath``), as NumPy's are."""
    least = TRANSCENDENTAL_MIN_SIZE.get((ufunc.__name__, X.dtype))
    if least is None or X.size < least or out.dtype != X.dtype or out.shape != X.shape or not (
            X.flags.c_contiguous and out.flags.c_contiguous) or wide_simd_loop(ufunc, X.dtype):
        return None
    library = vector_math(out.reshape(-1), min_bytes=0)  # (flat views: both are C-ordered)
    return None if library is None else library.planned(ufunc.__name__, X.reshape(-1), out.reshape(-1))


def use_gemm_library(name: str | None) -> Cblas | None:
    """Run large products through the library ``name`` names (as ``DENSENET_BLAS``
    would; None: SciPy's BLAS) in the plans built from now on (those built before keep
    their calls), and count its threads in the thread policy; returns it."""
    global _gemm_library, _gemm_library_read, _gemm_library_choices
    library = None if name is None else Cblas(name)  # (the one before stays if this fails)
    _gemm_library, _gemm_library_read = library, True
    _gemm_library_choices += 1
    return library


def gemm_library_choices() -> int:
    """How many times ``use_gemm_library`` has chosen the library for the products: after
    each, the thread policy looks again for the BLAS libraries loaded (``thread_policy``)."""
    return _gemm_library_choices


def product(A: NDArray[Any], B: NDArray[Any], C: NDArray[Any],
            beta: float = 0.0) -> Callable[..., None] | None:
    """A call ``run(alpha, beta=beta)`` setting ``C = alpha * A @ B + beta * C`` in
    place, one BLAS ``gemm`` on SciPy's BLAS (on ``gemm_library``'s from
    ``GEMM_MIN_PRODUCT`` multiply-adds, if one is set); None unless ``C`` is C-ordered and
    writeable, the three share a float dtype and ``A``, ``B`` are C- or F-ordered
    (nothing is copied).

    NumPy arrays are row-major and BLAS column-major: ``C.T = B.T @ A.T`` is what
    BLAS computes, on the same memory.

    An outer product (inner size 1, ``A`` a column and ``B`` a row, each contiguous) with
    at least ``RANK_ONE_MIN_SIZE`` outputs is one rank-1 update instead (``ger``, after
    ``C`` is zeroed or scaled by ``beta`` if it is not 1): OpenBLAS's gemm (SciPy's 0.3.30,
    Haswell kernels) writes an output whose rows are a multiple of 4 KiB apart at a
    tenth of its speed at inner size 1 (256 x 512 float64: 477 us, against 52 us for
    256 x 520), and ``ger`` does not (zeroing and ``ger`` 46-51 us; 785 x 512, a one-row
    weight gradient: 1,501 against 150 us, 82 us with ``beta = 1``).
    """
    gemm = _GEMM.get(C.dtype)
    if gemm is None or A.dtype != C.dtype or B.dtype != C.dtype or not (
            C.flags.c_contiguous and C.flags.writeable):
        return None
    library = gemm_library()
    if A.ndim == B.ndim == 2 and A.shape[1] == B.shape[0] == 1 and C.size >= RANK_ONE_MIN_SIZE:
        column, row = A[:, 0], B[0]
        if column.flags.c_contiguous and row.flags.c_contiguous:
            add = None if library is None else library.ger(column, row, C)
            return _rank_one(_scipy_rank_one(_GER[C.dtype], column, row, C) if add is None else add, C, beta)
    if library is not None and A.ndim == 2 and A.shape[0] * A.shape[1] * C.shape[-1] >= GEMM_MIN_PRODUCT:
        return library.gemm(A, B, C, beta)
    left, right, out = _fortran(B.T), _fortran(A.T), C.T
    if left is None or right is None:
        return None
    (a, trans_a), (b, trans_b) = left, right

    def run(alpha: float, beta: float = beta) -> None:
        if gemm(alpha, a, b, beta, out, trans_a=trans_a, trans_b=trans_b, overwrite_c=True) is not out:
            raise RuntimeError("BLAS gemm did not write its output in place")  # a copy would be lost

    return run


def add_outer(column: NDArray[Any], row: NDArray[Any], out: NDArray[Any],
              sign: float = 1.0) -> Callable[[], None] | None:
    """The call that adds ``sign`` times the outer product of ``column`` ``(n,)`` and
    ``row`` ``(m,)`` to ``out`` ``(n, m)`` in one BLAS call (``product``'s: a rank-1 update,
    a gemm of inner size 1 below ``RANK_ONE_MIN_SIZE`` outputs), one pass over ``out``; with
    one of the vectors ones (a per-row or per-feature shift), the bits of an addition or a
    subtraction. Spreading the vector into a full array and adding that took two passes
    (53 against 18 us at 256 x 512, float64). None where ``product`` is."""
    run = product(column.reshape(-1, 1), row.reshape(1, -1), out, beta=1.0)
    return None if run is None else partial(run, sign)


def _rank_one(add: Callable[[float], None], C: NDArray[Any], beta: float) -> Callable[..., None]:
    """``product``'s call for ``C = alpha * column[:, None] * row + beta * C``, ``add(alpha)``
    being the rank-1 update onto ``C``."""

    def run(alpha: float, beta: float = beta) -> None:
        if beta == 0.0:
            C.fill(0.0)  # (not read: as gemm, whatever C held)
        elif beta != 1.0:
            np.multiply(C, beta, out=C)
        add(alpha)

    return run


def _scipy_rank_one(ger: Callable[..., Any], column: NDArray[Any], row: NDArray[Any],
                    C: NDArray[Any]) -> Callable[[float], None]:
    """SciPy's rank-1 update ``C += alpha * column[:, None] * row``, as ``run(alpha)``."""
    transposed = C.T  # (m, n), Fortran-ordered: BLAS's view of C

    def add(alpha: float) -> None:
        if ger(alpha, row, column, a=transposed, overwrite_a=True) is not transposed:
            raise RuntimeError("BLAS ger did not write its output in place")

    return add


def column_sums(A: NDArray[Any], out: NDArray[Any], beta: float = 0.0) -> Callable[..., None] | None:
    """A call ``run(alpha, beta=beta)`` setting ``out = alpha * A.sum(axis=0) + beta *
    out`` in place, one BLAS ``gemv`` (``A.T @ ones``; on ``gemm_library``'s above
    ``BLAS_SMALL`` elements, if one is set); None unless ``A`` is C-ordered and ``out`` a
    contiguous writeable vector of its float dtype."""
    gemv = _GEMV.get(out.dtype)
    if gemv is None or A.dtype != out.dtype or A.ndim != 2 or not (
            A.flags.c_contiguous and out.ndim == 1 and out.flags.c_contiguous and out.flags.writeable):
        return None
    library = gemm_library()
    if library is not None and A.size > BLAS_SMALL:  # (where OpenBLAS would thread it)
        return library.column_sums(A, out, beta)
    a, ones = A.T, np.ones(A.shape[0], A.dtype)

    def run(alpha: float, beta: float = beta) -> None:
        if gemv(alpha, a, ones, beta, out, overwrite_y=True) is not out:
            raise RuntimeError("BLAS gemv did not write its output in place")

    return run


def sparse_product(rows: Any, W: NDArray[Any], b: NDArray[Any], out: NDArray[Any]) -> None:
    """``out = rows @ W + b`` for SciPy CSR ``rows``: SciPy's product, which costs what
    the nonzeros cost (and allocates its result)."""
    np.add(rows @ W, b, out=out)


def sparse_gradient(rows: Any, dY: NDArray[Any], out: NDArray[Any], alpha: float, beta: float) -> None:
    """``out = alpha * rows.T @ dY + beta * out`` for SciPy CSR ``rows`` ``(n, k)`` and
    ``out`` ``(k, m)``, computed on the columns the rows use (a batch of sparse rows
    uses few): ``out``'s other rows are only scaled by ``beta`` (with ``beta = 1``,
    not touched). Allocates a few arrays per call, the largest of ``k`` indices."""
    used = np.zeros(out.shape[0], rows.indices.dtype)
    used[rows.indices] = 1
    columns = np.flatnonzero(used)
    np.cumsum(used, out=used)  # each used column's place among them, plus one
    used -= 1
    compact = type(rows)((rows.data, used[rows.indices], rows.indptr), shape=(rows.shape[0], len(columns)))
    gradient = compact.T @ dY
    gradient *= alpha
    if beta == 0.0:
        out[...] = 0.0
    else:
        if beta != 1.0:
            out *= beta
        gradient += out[columns]
    out[columns] = gradient


def ones_column(n: int) -> bool:
    """Whether a batch of ``n`` rows gets a ones column for its bias.

    At one row ``[x, 1] @ [W; b]`` is one BLAS call instead of a product and an
    add, and ``[x, 1].T @ dy`` gives ``[dW; db]`` at once. At more rows the ones
    column makes the activations strided, and NumPy's ufuncs then take a 32 KiB
    buffer on every call: the bias is added separately instead.
    """
    return n == 1


#: From this many elements on, an elementwise module (``Module.in_place``) writes
#: its output over its input and dL/dX over dL/dY (``in_place``).
IN_PLACE_MIN_SIZE = 2 ** 14


def in_place(size: int) -> bool:
    """Whether an elementwise module on ``size``-element arrays works in place.

    Its passes then touch one array fewer, which pays once the arrays outgrow
    the caches: a 64-w-w-10 sigmoid training step took 0.92-0.97x its time with
    separate arrays at 32Ki-512Ki elements per array, 0.97-1.00x at 1-16Ki. On
    tiny arrays an in-place ufunc costs more than one with a separate output
    (NumPy's overlap check), so small plans keep their arrays apart.
    """
    return size >= IN_PLACE_MIN_SIZE


#: From this many elements on, ``logistic`` computes ``1 / (1 + exp(-x))`` with NumPy's
#: vectorised ``exp`` (3.4x faster than ``expit`` in float64, 4.7x in float32, on
#: 256 x 512); below it, the one ``expit`` call is cheaper.
EXP_SIGMOID_MIN_SIZE = 2048


def logistic(X: NDArray[Any], out: NDArray[Any], negated: bool = False) -> Callable[[], object]:
    """The call that writes the logistic function ``1 / (1 + exp(-x))`` of ``x = X`` (of
    ``x = -X`` when ``negated``) into ``out``: SciPy's ``expit`` below
    ``EXP_SIGMOID_MIN_SIZE`` elements, else (and always when ``negated``) by ``exp``:
    NumPy's, or the vector math library's where it takes the array (``library_call``)."""
    if X.size < EXP_SIGMOID_MIN_SIZE and not negated:
        return partial(expit, X, out)
    exp = library_call(np.exp, X if negated else out, out)  # (None: NumPy's)
    # (positional arguments: a keyword costs a dict per call)
    return partial(_logistic_by_exp, X, out, np.ones((), out.dtype), negated, exp)


def _logistic_by_exp(X: NDArray[Any], Y: NDArray[Any], one: NDArray[Any], negated: bool,
                     exp: Callable[[], object] | None) -> None:
    """``Y = 1 / (1 + exp(-X))`` (``one``: a 0-d 1 of ``Y``'s dtype), or of ``-X`` when
    ``negated``: within a few ulp of the exact value (tested against float64 ``expit``),
    limits exactly 0 and 1. ``exp``: the library's call writing ``Y = exp(Y)`` (of ``X``
    when ``negated``), or None for NumPy's.

    ``exp(-x)`` overflows to inf for very negative ``x`` and ``1 / (1 + inf)``
    is the correct limit 0, so the overflow flag is silenced, not an error.
    """
    if not negated:
        np.negative(X, out=Y)
    if exp is None:
        with np.errstate(over="ignore"):
            np.exp(X if negated else Y, out=Y)
    else:
        exp()  # (the library's overflow: inf, without NumPy's warning)
    np.add(Y, one, out=Y)  # (inf + 1 and 1 / inf raise no flag)
    np.divide(one, Y, out=Y)


def axpy_chunks(y: NDArray[Any], x: NDArray[Any]) -> Chunks | None:
    """BLAS ``axpy`` and ``(x, y)`` slices of at most ``BLAS_SMALL`` elements, so that
    ``for xs, ys in chunks: axpy(xs, ys, a=a)`` is ``y += a * x`` in place on the
    calling thread; None when the vectors do not allow it (not 1-D, contiguous,
    writeable float32/float64 of one dtype and shape)."""
    if not (y.ndim == 1 and x.shape == y.shape and y.dtype == x.dtype and y.dtype in _AXPY
            and y.flags.c_contiguous and y.flags.writeable and x.flags.c_contiguous):
        return None
    chunks = [(x[i:i + BLAS_SMALL], y[i:i + BLAS_SMALL]) for i in range(0, y.size, BLAS_SMALL)]
    return _AXPY[y.dtype], chunks


def scaled_add(y: NDArray[Any], x: NDArray[Any]) -> Callable[[float], object]:
    """A call ``run(a)`` setting ``y += a * x`` in place: BLAS axpy in slices on the
    calling thread where the vectors allow it (``axpy_chunks``), else two ufunc
    passes through a buffer kept with the call."""
    chunks = axpy_chunks(y, x)
    if chunks is None:
        scaled = np.empty_like(x)

        def by_ufuncs(a: float) -> None:
            with np.errstate(under="ignore"):  # (as BLAS's axpy: underflow_ignored)
                np.multiply(x, a, out=scaled)
                np.add(y, scaled, out=y)

        return by_ufuncs
    axpy, pieces = chunks
    if len(pieces) == 1:  # one call: small vectors, as every step of the tutorial's
        (x_part, y_part), = pieces
        return partial(_axpy_into, axpy, x_part, y_part)

    def sliced(a: float) -> None:
        for x_part, y_part in pieces:
            axpy(x_part, y_part, a=a)

    return sliced


def _axpy_into(axpy: Axpy, x: NDArray[Any], y: NDArray[Any], a: float) -> None:
    axpy(x, y, a=a)


def sum_of_squares(v: NDArray[Any]) -> Callable[[], float]:
    """A call returning ``sum(v ** 2)`` for the contiguous array ``v`` as it is then:
    BLAS ``dot`` on the calling thread for float arrays (4x less overhead than
    ``np.vdot`` on small ones), in slices of ``BLAS_SMALL`` elements whose sums are
    added; ``np.vdot`` for other dtypes."""
    flat = v.reshape(-1)
    dot = _DOT.get(flat.dtype)
    if dot is None:
        return lambda: float(np.vdot(flat, flat))
    if flat.size <= BLAS_SMALL:
        return lambda: float(dot(flat, flat))
    pieces = [flat[i:i + BLAS_SMALL] for i in range(0, flat.size, BLAS_SMALL)]

    def sliced() -> float:  # no list per call: this runs in every step
        total = 0.0
        for piece in pieces:
            total += dot(piece, piece)
        return float(total)

    return sliced


def abs_sum(v: NDArray[Any]) -> float | None:
    """``sum(|v|)`` for a float32/float64 array in one contiguous block (C or Fortran
    order); None for any other array.

    NaN or inf as soon as an element is, and never below the largest ``|v|``
    (partial sums of non-negative terms only grow, rounded or not): a bound that
    spares the exact checks when it is finite and small. BLAS ``asum`` in slices
    of ``BLAS_SMALL`` elements on the calling thread: one read pass and no
    temporary, where ``np.isfinite(v).all()`` writes and reads a boolean array
    the size of ``v``.
    """
    asum = _ASUM.get(v.dtype)
    if asum is None or not (v.flags.c_contiguous or v.flags.f_contiguous):
        return None
    flat = v if v.ndim == 1 else v.ravel(order="K")  # a view, in memory order
    if not flat.size:  # (BLAS refuses an empty vector)
        return 0.0
    if flat.size <= BLAS_SMALL:
        return asum(flat)  # one call: the parameters checked after every epoch of a small model
    total = 0.0
    for start in range(0, flat.size, BLAS_SMALL):
        total += asum(flat[start:start + BLAS_SMALL])
    return total


_P = ParamSpec("_P")
_R = TypeVar("_R")


def underflow_ignored(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` run with NumPy's underflow unreported, whatever ``np.seterr`` says.

    densenet's arithmetic underflows by design: a saturated sigmoid's ``exp(-800)`` is 0,
    the second moments of small gradients are subnormal, a float64 input of 1e-42 is
    float32's 0 or a subnormal. Under ``np.seterr(all="raise")`` (set by a user hunting a
    NaN of their own) each would raise ``FloatingPointError`` in the middle of a step, so
    every public call that computes runs so: through this decorator where a call is made
    once for much work (``fit``, ``clone``, a module on its own, the moment optimisers'
    ``step``, ``clip_grad_norm``, ``gradcheck``, the estimators' fits and predictions), and
    through ``under="ignore"`` in the ``np.errstate`` that the other calls enter anyway
    (``forward`` and ``predict``, a loss's ``forward`` and ``backward``, a metric, the input
    casts) or enter for it (``backward``; ``SGD.step`` where it runs ufuncs: BLAS's axpy of a
    plain step is not checked); ``evaluate``, ``lr_find`` and ``update_bn`` compute through
    those. Overflow and invalid results are left to the checks each call makes (its
    ``DivergenceError``, its refused input, its NaN) and to the settings where a call does
    not expect them. About 1 us a call (a new ``np.errstate`` each time: one kept and
    entered again would give an inner call's saved settings to the outer one on NumPy 1)."""
    @wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(under="ignore"):
            return function(*args, **kwargs)
    return run


def shares(share: float, dtype: np.dtype[Any]) -> tuple[float, float]:
    """``share`` and ``1 - share`` (``share`` in [0, 1]) as two numbers of ``dtype`` that add
    up to 1 exactly: the larger as the dtype holds it, the other 1 less that (exact). The
    weights of a running average ``keep * a + (1 - keep) * x`` (``BatchNorm1d``'s running
    statistics, ``WeightAveraging``): rounded to float32 apart, they do not add up to 1, and
    the average of values that no longer change drifted off them (1.3e-3 at 0.99999)."""
    kind = np.dtype(dtype).type
    larger = kind(max(share, 1.0 - share))
    smaller = float(kind(1.0) - larger)
    return (float(larger), smaller) if share >= 0.5 else (smaller, float(larger))


def all_finite(v: NDArray[Any]) -> bool:
    """True when every element of ``v`` is finite: ``abs_sum`` where it applies, the
    exact check only when that sum is not finite (an element is not, or the sum
    overflowed) or ``v`` is not a contiguous float array; that check in slices of rows
    of about ``BLAS_SMALL`` elements, so that its temporary does not grow with ``v``
    (a column slice ``data[:, :-1]`` given to ``predict``)."""
    total = abs_sum(v)
    if total is not None and math.isfinite(total):
        return True
    if v.ndim < 2:
        return bool(np.isfinite(v).all())
    rows = max(1, BLAS_SMALL // max(1, v[0].size))
    return all(np.isfinite(v[start:start + rows]).all() for start in range(0, len(v), rows))


def magnitude_at_most(v: NDArray[Any], bound: float) -> bool:
    """True when every ``|x|`` in ``v`` is at most ``bound`` (False for NaN):
    ``abs_sum`` where it applies, the exact ``max``/``min`` only when that sum is
    above ``bound`` (an element may be, or only their sum)."""
    total = abs_sum(v)
    return (total is not None and total <= bound) or bool(v.max() <= bound and v.min() >= -bound)
