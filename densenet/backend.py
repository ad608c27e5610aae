"""The backend: the one file that knows BLAS, its threads and ``scipy.special``.

Everything else calls NumPy ufuncs and ``np.dot`` with ``out=`` (NumPy's own
BLAS), or the helpers here. What lives here, and why:

- SciPy's level-1 BLAS (``axpy``, ``dot``, ``asum``) costs a quarter of a NumPy
  call on small vectors, but above ``BLAS_SMALL`` elements OpenBLAS starts its
  *own* thread pool, which is not NumPy's: the two pools then spin against each
  other on the same cores and slow NumPy's matrix products (measured 2-4x on 2
  cores). So SciPy's BLAS is only ever called on at most ``BLAS_SMALL``
  elements, on the calling thread, and larger vectors are cut into chunks.
- ``expit``, SciPy's logistic function, for activations.
- ``ones_column``: at which batch sizes folding a bias into its matrix
  product (``[X, 1] @ [W; b]``) pays.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas
from scipy.special import expit

__all__ = ["BLAS_SMALL", "all_finite", "axpy_chunks", "expit", "ones_column", "sum_of_squares"]

#: Up to this many elements SciPy's BLAS level-1 calls run on the calling
#: thread and beat NumPy's ufuncs; above it they would wake a second thread pool.
BLAS_SMALL = 8192

_AXPY = {np.dtype(np.float64): blas.daxpy, np.dtype(np.float32): blas.saxpy}
_DOT = {np.dtype(np.float64): blas.ddot, np.dtype(np.float32): blas.sdot}
_ASUM = {np.dtype(np.float64): blas.dasum, np.dtype(np.float32): blas.sasum}

Axpy = Callable[..., object]


def ones_column(n: int) -> bool:
    """Whether a batch of ``n`` rows gets a ones column for its bias.

    At one row ``[x, 1] @ [W; b]`` is one BLAS call instead of a product and an
    add, and ``[x, 1].T @ dy`` gives ``[dW; db]`` at once. At more rows the ones
    column makes the activations strided, and NumPy's ufuncs then take a 32 KiB
    buffer on every call: the bias is added separately instead.
    """
    return n == 1


def axpy_chunks(y: NDArray, x: NDArray) -> tuple[Axpy, list[tuple[NDArray, NDArray]]] | None:
    """BLAS ``axpy`` and ``(x, y)`` slices of at most ``BLAS_SMALL`` elements, so that
    ``for xs, ys in chunks: axpy(xs, ys, a=a)`` is ``y += a * x`` in place on the
    calling thread; None when the vectors do not allow it (not 1-D, contiguous,
    writeable float32/float64 of one dtype and shape)."""
    if not (y.ndim == 1 and x.shape == y.shape and y.dtype == x.dtype and y.dtype in _AXPY
            and y.flags.c_contiguous and y.flags.writeable and x.flags.c_contiguous):
        return None
    chunks = [(x[i:i + BLAS_SMALL], y[i:i + BLAS_SMALL]) for i in range(0, y.size, BLAS_SMALL)]
    return _AXPY[y.dtype], chunks


def sum_of_squares(v: NDArray) -> Callable[[], float]:
    """A call returning ``sum(v ** 2)`` for the contiguous array ``v`` as it is then:
    BLAS ``dot`` for small float arrays (4x less overhead than ``np.vdot``), else ``np.vdot``."""
    flat = v.reshape(-1)
    dot = _DOT.get(flat.dtype) if flat.size <= BLAS_SMALL else None
    if dot is None:
        return lambda: float(np.vdot(flat, flat))
    return lambda: float(dot(flat, flat))


def all_finite(v: NDArray) -> bool:
    """True when every element of the 1-D contiguous float vector ``v`` is finite.

    For small vectors a BLAS sum of absolute values is NaN or inf as soon as one
    element is, in one call instead of ``np.isfinite(v).all()``'s three; only
    when that sum itself overflows is the exact check needed.
    """
    asum = _ASUM.get(v.dtype)
    if asum is not None and v.size <= BLAS_SMALL:
        return math.isfinite(asum(v)) or bool(np.isfinite(v).all())
    return bool(np.isfinite(v).all())
