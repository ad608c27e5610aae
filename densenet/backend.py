"""The backend: the one file that knows BLAS, its threads and ``scipy.special``.

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
  loop is not an AVX-512 one (without AVX-512 its float64 loops of these are scalar ones:
  VML's calls took 0.31-0.57x their time on two threads, 0.51-0.95x on one).
- ``underflow_ignored``: every public call that computes runs with NumPy's underflow
  unreported, whatever ``np.seterr`` says.
- ``ones_column``: at which batch sizes folding a bias into its matrix
  product (``[X, 1] @ [W; b]``) pays.
- The thread policy (``thread_count``, ``blas_threads``, ``set_num_threads``, ``threads``).
  OpenBLAS threads a product as soon as it is a few hundred thousand
  multiply-adds. On an idle machine (2 cores) a second thread pays from about
  2**21 multiply-adds in the plan's largest product: one-epoch fits ran
  0.94-0.99x as fast on two threads as on one at 0.1-1 Mi (2-64-64-1 batch 32,
  64-256-256-10 batch 16, 784-30-10 batch 10), 1.14-1.29x at 2-3 Mi and
  1.4-1.65x from 6 Mi up. But beside busy processes a thread that shares its
  core stalls every product it takes part in: with two busy-loop processes, a
  digits-shaped 64-256-256-10 batch-16 epoch took 2.7-15.5x its idle time on
  BLAS's own two threads. So a plan whose largest product is under
  ``PARALLEL_MIN_PRODUCT`` runs on one thread, and a larger one on BLAS's own
  count cut to the CPUs other processes leave free (``busy_cpus``, looked at
  once a second at most): beside two busy processes a 784-512-512-10 epoch then
  takes 2.3-2.7x its idle time instead of 3.9-13x. The CPUs counted are those
  the process may run on, or fewer where its control group's quota allows fewer
  (``cpu_quota``: a container's CPU limit). A count set with ``set_num_threads``
  is the one large plans run on, as set: OpenBLAS sums a product of inner size
  over 384 (float64; 448 in float32, SkylakeX kernels) in another order on one
  thread than on two, and a 784-512-512-10 float32 fit of 20 epochs ended with
  weights up to 5e-3 apart on the two counts. The policy sets counts from the
  main Python thread only (``on_main_thread``).
- ``ThreadChoice``: what the load the kernel reports does not show (a virtual
  machine's host giving its CPUs to other guests, two virtual CPUs far apart in
  the host's caches) a fit finds out by timing its own steps on both counts
  (where no count is set).
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache, partial, wraps
from typing import Any, ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas
from scipy.special import expit, log_expit, log_softmax

from .cblas import ENV, Cblas, VectorMath

__all__ = ["BLAS_SMALL", "CGROUP_CPU_MAX", "CGROUP_V1_CPU", "EXP_SIGMOID_MIN_SIZE", "GEMM_MIN_OUTPUT",
           "GEMM_MIN_PRODUCT", "IN_PLACE_MIN_SIZE", "PARALLEL_MIN_PRODUCT", "RANK_ONE_MIN_SIZE",
           "SENSE_EVERY", "SERIAL_BELOW", "TRIAL_EVERY", "TRIAL_MARGIN", "TRIAL_STEPS", "ThreadChoice",
           "TRANSCENDENTAL_MIN_SIZE", "VECTOR_MATH_MIN_BYTES",
           "abs_sum", "add_outer", "all_finite", "axpy_chunks", "blas_threads", "busy_cpus", "busy_from",
           "column_sums", "cpu_quota", "expit", "gemm_library", "generic_kernels", "get_num_threads",
           "in_place", "library_call", "library_exports",
           "log_expit", "log_softmax", "logistic", "magnitude_at_most", "numpy1_features", "numpy1_loop",
           "numpy_loop", "on_main_thread",
           "ones_column", "product", "quota_from", "scaled_add", "set_num_threads", "sparse_gradient",
           "sparse_product", "sum_of_squares", "thread_choice", "thread_count", "threads", "trial_count",
           "underflow_ignored", "use_gemm_library", "vector_math", "wide_simd_loop"]

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


@cache
def numpy_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> str | None:
    """The loop NumPy's dispatch chose for ``ufunc`` on ``dtype`` (in and out) here: the
    target ``numpy.lib.introspect.opt_func_info`` names (``"baseline(X86_V2)"``,
    ``"X86_V3"``, ``"X86_V4"``...; NumPy 2) or, NumPy 1 reporting none, what ``numpy1_loop``
    infers; None where neither names one."""
    try:
        from numpy.lib.introspect import opt_func_info  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return numpy1_loop(ufunc, dtype)
    loops = opt_func_info(func_name=f"^{ufunc.__name__}$").get(ufunc.__name__, {})
    loop = loops.get(dtype.char * (ufunc.nin + ufunc.nout))
    return None if loop is None else str(loop["current"])


#: NumPy 1's loops beyond its baseline (SSE3 on x86-64) for the functions whose loops the
#: activations' plans ask about, which NumPy 1 cannot report (``opt_func_info`` is NumPy 2's):
#: (function, dtype character) -> its loops, widest first, each named by the features it needs
#: (``numpy1_features``). Its ``expm1`` and ``log1p`` are SVML's AVX-512 loops where it links
#: SVML (its x86-64 Linux builds); its float32 ``exp`` and ``tanh`` its own AVX-512 and AVX2 loops. NumPy
#: 1.24 and 1.26, a 256 x 512 array here, microseconds (best of 7 rounds of 20), on AVX-512, held
#: to AVX2 (``NPY_DISABLE_CPU_FEATURES``) and to neither: float32 ``expm1`` 45-66, 1,360, 1,360;
#: ``log1p`` 92-102, 1,750-1,780, 1,770-2,380; ``exp`` 66-81, 137-168, 529-535; ``tanh`` 55-74,
#: 270-400, 2,120-2,310; float64 ``expm1`` 191-196, 1,410-1,930; ``log1p`` 143-218, 1,720-2,450.
NUMPY1_LOOPS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("exp", "f"): (("AVX512F",), ("AVX2", "FMA3")), ("tanh", "f"): (("AVX512_SKX",), ("AVX2", "FMA3")),
    **{(name, char): (("AVX512_SKX", "SVML"),) for name in ("expm1", "log1p") for char in "fd"}}


def numpy1_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> str | None:
    """What NumPy 1 runs for ``ufunc`` on ``dtype`` here, named as NumPy 2 names its loops (the
    first feature a loop needs, or ``"baseline"``), by ``NUMPY1_LOOPS``; None for a function
    not there or a processor other than an x86-64."""
    loops = NUMPY1_LOOPS.get((ufunc.__name__, dtype.char))
    if loops is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    features = numpy1_features()
    return next((needs[0] for needs in loops if all(features.get(need) for need in needs)), "baseline")


@cache
def numpy1_features() -> dict[str, bool]:
    """The processor features NumPy 1's dispatch runs loops of here (its ``__cpu_features__``,
    less those ``NPY_DISABLE_CPU_FEATURES`` names), and ``"SVML"``: whether it links SVML's
    loops (its module exports them, as its x86-64 Linux builds do). Empty where NumPy keeps no
    such record."""
    try:
        from numpy.core import _multiarray_umath  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return {}
    features, path = getattr(_multiarray_umath, "__cpu_features__", None), _multiarray_umath.__file__
    if features is None:
        return {}
    return {**features, "SVML": library_exports(path, "__svml_expm1f16")}


def library_exports(path: str | None, symbol: str) -> bool:
    """Whether the shared library at ``path`` (loaded, or loadable) exports ``symbol``; False
    for no path (a module's ``__file__`` may be None)."""
    if path is None:
        return False
    try:
        return hasattr(ctypes.CDLL(path), symbol)
    except OSError:
        return False


def wide_simd_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> bool:
    """Whether NumPy's loop for ``ufunc`` on ``dtype`` here is an AVX-512 one (``numpy_loop``)."""
    loop = numpy_loop(ufunc, np.dtype(dtype))
    return loop is not None and ("X86_V4" in loop or "AVX512" in loop)


def use_gemm_library(name: str | None) -> Cblas | None:
    """Run large products through the library ``name`` names (as ``DENSENET_BLAS``
    would; None: SciPy's BLAS) in the plans built from now on (those built before keep
    their calls), and count its threads in the thread policy; returns it."""
    global _gemm_library, _gemm_library_read, _libraries
    library = None if name is None else Cblas(name)  # (the one before stays if this fails)
    _gemm_library, _gemm_library_read, _libraries = library, True, None
    return library


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


#: A plan whose largest matrix product has fewer multiply-adds than this runs on one
#: BLAS thread; from it up, on as many as are configured and free (see the module
#: docstring for the measurements).
PARALLEL_MIN_PRODUCT = 2 ** 21

#: Products below this many multiply-adds OpenBLAS runs on one thread by itself:
#: no limit is set for them, so tiny plans (the tutorial's) pay nothing. (Set it to
#: ``math.inf`` and no plan is ever limited or timed: the policy is off.)
SERIAL_BELOW = 2 ** 18

#: Seconds for which one look at the machine's load (``busy_cpus``) is reused.
SENSE_EVERY = 1.0

_num_threads: int | None = None
_libraries: list[Any] | None = None
_original: list[int] | None = None  # the counts BLAS had when set_num_threads took over (None: it has not)
_sensed: tuple[float, int, int] | None = None  # (when, free CPUs, BLAS's own count)


def set_num_threads(n: int | None) -> None:
    """Run BLAS (NumPy's and SciPy's) on ``n`` threads from now on; ``None`` puts back the
    counts it had before (before the first call with a number since the last ``None``:
    other code may set counts between). ``fit``, ``predict`` and ``evaluate`` still run
    small plans on one thread (``thread_count``) and large ones on ``n``, whatever the load
    and the steps' timings: OpenBLAS sums a product of a large inner size in another order
    on one thread than on two, so a count that followed the load would make the weights a
    fit trains depend on what else the machine runs. Unset (``None``), large plans run on
    BLAS's own count cut to the CPUs left free, and ``fit`` one thread while its steps time
    faster on one (``ThreadChoice``). Call it from the main Python thread: the count is the
    whole process's, and OpenBLAS may ignore one set from another thread
    (``on_main_thread``)."""
    global _num_threads, _original, _sensed
    integer = isinstance(n, (int, np.integer)) and not isinstance(n, bool)
    if n is not None and not (integer and 1 <= n <= 2**31 - 1):
        raise (ValueError if integer else TypeError)(
            f"set_num_threads: n must be an integer from 1 to 2147483647 or None, got {n!r}")
    n = None if n is None else int(n)  # (a C int for each library)
    libraries = _blas_libraries()
    if n is None:
        for lib, count in zip(libraries, _original or []):
            lib.set_num_threads(count)
        _original = None
    else:
        if _original is None:
            _original = [lib.get_num_threads() for lib in libraries]
        for lib in libraries:
            lib.set_num_threads(n)
    _num_threads = n
    _sensed = None  # the next plan looks at the load afresh


def get_num_threads() -> int | None:
    """What ``set_num_threads`` set (``None``: BLAS's own default)."""
    return _num_threads


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """``set_num_threads(n)`` for a ``with`` block (any code in it, a hand-written
    training loop too), then what it was: the counts BLAS had when the block began, and
    ``get_num_threads``'s answer.

    Example:
        >>> import densenet as dn
        >>> before = dn.get_num_threads()
        >>> with dn.threads(1):   # small products: one BLAS thread, whatever the machine
        ...     dn.get_num_threads()
        1
        >>> dn.get_num_threads() == before
        True
    """
    global _num_threads, _original, _sensed
    saved = _num_threads, _original, [lib.get_num_threads() for lib in _blas_libraries()]
    set_num_threads(n)
    try:
        yield
    finally:
        _num_threads, _original, counts = saved
        for lib, count in zip(_blas_libraries(), counts):
            lib.set_num_threads(count)
        _sensed = None


def thread_count(largest_product: int) -> int | None:
    """The BLAS threads a plan whose largest product has ``largest_product``
    multiply-adds runs on: 1 below ``PARALLEL_MIN_PRODUCT``; else the count
    ``set_num_threads`` set, as set (the weights a fit trains then do not depend on the
    load), or where none is, BLAS's own count cut to the CPUs (``cpu_quota``'s, if
    fewer) other processes leave free right now (``busy_cpus``), at least 1. ``None``
    means no limit is set (BLAS decides): below ``SERIAL_BELOW``, and in every
    Python thread but the main one (``on_main_thread``)."""
    if largest_product < SERIAL_BELOW or not on_main_thread():
        return None
    if largest_product < PARALLEL_MIN_PRODUCT:
        return 1
    if _num_threads is not None:
        return _num_threads
    global _sensed
    now = time.monotonic()
    if _sensed is None or now - _sensed[0] >= SENSE_EVERY:
        _sensed = (now, _cpus() - busy_cpus(), max(lib.get_num_threads() for lib in _blas_libraries()))
    _, free, blas_count = _sensed
    return max(1, free) if free < blas_count else None



def on_main_thread() -> bool:
    """Whether this is the main Python thread, the one from which the thread policy sets
    BLAS's counts.

    OpenBLAS (0.3.30 and 0.3.31 here) keeps one count per library for the whole
    process, and from other threads a set count may not take: once the main thread has
    set one, counts set from other threads were ignored (a gemm in a worker thread ran
    on two threads after the worker set one), and of two worker threads, the second's
    putting back two threads was ignored after the first had set one. Two fits in two
    threads, each putting back the count it found, left BLAS on one thread for the rest
    of the process in two runs of three. So fits and predictions in other threads (a
    threaded server, Dask's workers, joblib's threading backend) run on the counts BLAS
    has, which the main thread sets (``set_num_threads``; one thread per worker is the
    usual choice for a pool of threads)."""
    return threading.current_thread() is threading.main_thread()


def busy_cpus() -> int:
    """How many CPUs other work keeps busy right now: the tasks the kernel counts as
    running (``/proc/loadavg``'s fourth field) less this process's own running threads
    (OpenBLAS's workers keep running a while after a product). 0 where the kernel does
    not say (not Linux). The counts are of one instant: a busy-loop neighbour is always
    counted, a burst may be missed. About 60 us; asked only for plans large enough to
    be threaded."""
    try:
        with open("/proc/loadavg", "rb") as file:
            loadavg = file.read()
        stats = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat", "rb") as file:
                stats.append(file.read())
    except OSError:
        return 0
    return busy_from(loadavg, stats)


def busy_from(loadavg: bytes, task_stats: list[bytes]) -> int:
    """``busy_cpus`` from the text of ``/proc/loadavg`` and of this process's
    ``/proc/self/task/*/stat`` files (state ``R``: running); 0 if they do not parse."""
    try:
        running = int(loadavg.split()[3].split(b"/")[0])
    except (ValueError, IndexError):
        return 0
    # a stat is "pid (name) state ...", and the name may hold spaces and parentheses
    own = sum(stat[stat.rindex(b")") + 2:].startswith(b"R") for stat in task_stats if b")" in stat)
    return max(0, running - own)


#: Where the kernel states the CPU quota of this process's control group, as a container
#: sees its own: cgroup v2's ``cpu.max``, else cgroup v1's quota and period files.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_CPU = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _cpus() -> int:
    """The CPUs this process may use: those it may run on, or fewer where its control
    group's quota allows fewer (a container limited to 2 CPUs on a 64-CPU machine sees
    64 in its affinity, and OpenBLAS starts 64 threads there by default)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


def cpu_quota() -> float | None:
    """The CPUs' worth of time this process's control group may use (its quota over its
    period: 1.5 for 150 ms in every 100 ms), or None where it has no quota or none is
    stated (not Linux, no cgroup files)."""
    try:
        with open(CGROUP_CPU_MAX) as file:
            return quota_from(file.read())
    except OSError:
        pass
    try:
        with open(CGROUP_V1_CPU[0]) as quota, open(CGROUP_V1_CPU[1]) as period:
            return quota_from(f"{quota.read()} {period.read()}")
    except OSError:
        return None


def quota_from(text: str) -> float | None:
    """``cpu_quota`` from ``"quota period"`` (cgroup v2's ``cpu.max``; v1's two files
    joined): None for no quota (``max``, or v1's -1) or text that does not parse."""
    try:
        quota, period = (int(field) for field in text.split()[:2])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def blas_threads(count: int | None) -> AbstractContextManager[None]:
    """A ``with`` block running on ``count`` BLAS threads (``thread_count``'s answer),
    NumPy's and SciPy's alike; the counts are put back after it (about 4 us). ``None``:
    nothing is set."""
    return nullcontext() if count is None else _limited(count)


def generic_kernels() -> list[str]:
    """The BLAS libraries loaded (NumPy's, SciPy's) that run OpenBLAS's generic kernels,
    each as ``"OpenBLAS 0.3.21 (numpy.libs)"``: those OpenBLAS chooses on a processor it
    does not know, the one it reports as ``Prescott`` (an x86-64 of 2004, with neither
    AVX2 nor FMA). NumPy 1's OpenBLAS (0.3.21-0.3.23) and SciPy 1.11-1.12's (0.3.21) run
    them on Intel's Xeons of 2023 (family 6, model 207), where the 784-512-512-10 step
    took 4.5x its time on the kernels ``OPENBLAS_CORETYPE=SkylakeX`` chooses (README,
    "Which kernels OpenBLAS runs")."""
    return [f"OpenBLAS {lib.version} ({os.path.basename(os.path.dirname(lib.filepath))})"
            for lib in _blas_libraries() if getattr(lib, "architecture", None) == "Prescott"]


def _blas_libraries() -> list[Any]:
    """NumPy's and SciPy's BLAS (and ``gemm_library``'s, loaded first), found once
    through threadpoolctl."""
    global _libraries
    if _libraries is None:
        from threadpoolctl import ThreadpoolController

        gemm_library()

        _libraries = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _libraries


@contextmanager
def _limited(n: int) -> Iterator[None]:
    libraries = _blas_libraries()
    saved = [lib.get_num_threads() for lib in libraries]
    for lib in libraries:
        lib.set_num_threads(n)
    try:
        yield
    finally:
        for lib, count in zip(libraries, saved):
            lib.set_num_threads(count)


#: A trial of ``ThreadChoice`` times this many steps on each count, each after an
#: untimed step on that count (the first step after a switch pays for the switch).
TRIAL_STEPS = 3

#: Seconds for which a ``ThreadChoice`` keeps its choice before it times the counts again.
TRIAL_EVERY = 10.0

#: One thread is chosen when its steps took at most this fraction of the time the
#: other count's did: where both are about as fast, the thread policy's count stays.
TRIAL_MARGIN = 0.95


class ThreadChoice:
    """Runs a planned training step on ``count`` BLAS threads or on one, whichever the
    step's own timings favoured in the last trial.

    The thread policy sees the load the kernel reports (``busy_cpus``), not all
    of it: on a virtual machine the host may give the CPUs to other guests, or
    place the two virtual CPUs far apart in its caches. On this project's 2-CPU
    machine, with nothing else running in it, one epoch of 2-64-64-1 at batch
    1024 took 1.37x (1.34-1.38) as long on two threads as on one, and 0.77x
    (0.66-1.01) half an hour later; 64-256-256-10 at batch 128, 0.66x (0.64-0.70)
    and then 1.17x (0.72-1.19). So a fit whose plan may run on several threads times its
    steps: a trial runs them alternately on ``count`` threads and on one
    (``TRIAL_STEPS`` timed steps each, every one after an untimed step on the same
    count), and the next ``TRIAL_EVERY`` seconds of steps run on one thread if its
    median step took at most ``TRIAL_MARGIN`` of the other's, else on ``count``.
    Trial steps are ordinary training steps. Steps of another batch size (a
    fit's last, smaller batch) run on the current count, untimed.

    Use it as a context (``with choice:``) around the steps of one fit, entered
    with BLAS on ``count`` threads: it puts back the counts it changed when the
    block ends (and changes none while ``count`` is the faster).
    """

    def __init__(self, count: int) -> None:
        self.count = count
        #: the count steps run on between trials
        self.best = count
        self._trial: list[tuple[int, bool]] = []  # (count, timed) of the trial's steps to come
        self._times: dict[int, list[float]] = {}
        self._due = -math.inf  # when the next trial starts (time.monotonic)
        self._current = count  # what BLAS runs on now
        self._saved: list[int] | None = None  # BLAS's counts before this block changed them

    def __enter__(self) -> ThreadChoice:
        self._current, self._saved = self.count, None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._saved is not None:
            for lib, count in zip(_blas_libraries(), self._saved):
                lib.set_num_threads(count)

    def __call__(self, step: Callable[[], float], timed: bool = True) -> float:
        """Run ``step`` (a full batch if ``timed``, else untimed) on the chosen count,
        or as the next step of a trial; returns what it returns."""
        if not timed:  # on whatever count the last step ran
            return step()
        if not self._trial:
            if time.monotonic() < self._due:
                self._use(self.best)
                return step()
            self._trial = [(n, t) for _ in range(TRIAL_STEPS) for n in (self.count, 1) for t in (False, True)]
            self._times = {self.count: [], 1: []}
        count, keep = self._trial.pop(0)
        self._use(count)
        start = time.perf_counter()
        value = step()
        if keep:
            self._times[count].append(time.perf_counter() - start)
        if not self._trial:
            one, many = (statistics.median(self._times[n]) for n in (1, self.count))
            self.best = 1 if one <= TRIAL_MARGIN * many else self.count
            self._due = time.monotonic() + TRIAL_EVERY
        return value

    def _use(self, count: int) -> None:
        if count != self._current:
            libraries = _blas_libraries()
            if self._saved is None:
                self._saved = [lib.get_num_threads() for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(count)
            self._current = count


def trial_count(largest_product: int, count: int | None) -> int | None:
    """The count a fit times against one thread (``ThreadChoice``) when its plan's
    largest product has ``largest_product`` multiply-adds and the thread policy runs it
    on ``count`` threads (``thread_count``'s answer); None where only one count is in
    question (a plan under ``PARALLEL_MIN_PRODUCT``, one thread, a count set with
    ``set_num_threads``, or a fit in another Python thread than the main one:
    ``on_main_thread``)."""
    if (largest_product < PARALLEL_MIN_PRODUCT or largest_product < SERIAL_BELOW or not on_main_thread()
            or _num_threads is not None):
        return None
    if count is None:  # no limit set: BLAS's own count, as thread_count has just looked it up
        count = _sensed[2] if _sensed is not None else max(lib.get_num_threads() for lib in _blas_libraries())
    return count if count > 1 else None


def thread_choice(largest_product: int, count: int | None, kept: ThreadChoice | None) -> ThreadChoice | None:
    """The ``ThreadChoice`` for such a fit (see ``trial_count``): ``kept`` (a previous
    fit's) if it chose between the same counts, a new one otherwise, or None."""
    count = trial_count(largest_product, count)
    if count is None:
        return None
    return kept if kept is not None and kept.count == count else ThreadChoice(count)
