"""Optimisers: ``SGD``.

An optimiser updates a model's flat parameter vector in place from its flat
gradient vector, so one step is one vector operation whatever the architecture.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas

_AXPY = {np.dtype(np.float64): blas.daxpy, np.dtype(np.float32): blas.saxpy}

#: Up to this size SciPy's BLAS level-1 calls beat two NumPy ufunc calls and
#: run on the calling thread. Above it OpenBLAS starts its own thread pool,
#: which is not NumPy's: the two pools then spin against each other on the
#: same cores and slow NumPy's matrix products (measured 2-4x on 2 cores).
BLAS_SMALL = 8192


def _axpy_chunks(params: NDArray, grads: NDArray) -> list[tuple[NDArray, NDArray]] | None:
    """``(grads, params)`` slices of at most ``BLAS_SMALL`` elements, on which BLAS
    axpy updates ``params`` in place on the calling thread; None if it cannot."""
    if not (params.ndim == 1 and grads.shape == params.shape and params.dtype == grads.dtype
            and params.dtype in _AXPY and params.flags.c_contiguous and params.flags.writeable
            and grads.flags.c_contiguous):
        return None
    return [(grads[i:i + BLAS_SMALL], params[i:i + BLAS_SMALL])
            for i in range(0, params.size, BLAS_SMALL)]


def _learning_rate(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"SGD: learning rate must be a real number, got {type(lr).__name__}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"SGD: invalid learning rate {lr}; it must be finite and > 0")
    return float(lr)


class SGD:
    r"""Plain stochastic gradient descent: ``params <- params - lr * grads``.

    Args:
        lr: the learning rate, finite and > 0.

    ``step`` works in place and allocates nothing after its first call for a
    given pair of arrays. On contiguous float vectors it is BLAS axpy
    (``params += -lr * grads``) in slices of ``BLAS_SMALL`` elements, which
    run on the calling thread; otherwise two NumPy ufunc calls.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, 2.0]), np.array([0.5, -1.0])
        >>> SGD(lr=0.1).step(params, grads)
        >>> params
        array([0.95, 2.1 ])
    """

    def __init__(self, lr: float = 0.1) -> None:
        self.lr = lr
        self._scaled = np.empty(0)
        self._params: NDArray | None = None
        self._grads: NDArray | None = None
        self._chunks: list[tuple[NDArray, NDArray]] | None = None
        self._axpy = blas.daxpy

    @property
    def lr(self) -> float:
        """The learning rate; may be changed between steps (checked when set)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _learning_rate(value)

    def step(self, params: NDArray, grads: NDArray) -> None:
        """Update ``params`` in place from ``grads`` (same shape and dtype)."""
        if params is not self._params or grads is not self._grads:
            # checked once per pair of arrays: a model passes the same two every step
            self._chunks = _axpy_chunks(params, grads)
            self._params, self._grads = params, grads
            self._axpy = _AXPY.get(params.dtype)
        if self._chunks is not None:
            axpy, a = self._axpy, -self._lr
            for g, p in self._chunks:
                axpy(g, p, a=a)
            return
        scaled = self._scaled
        if scaled.shape != grads.shape or scaled.dtype != grads.dtype:
            scaled = self._scaled = np.empty_like(grads)
        np.multiply(grads, self._lr, out=scaled)
        np.subtract(params, scaled, out=params)

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr})"
