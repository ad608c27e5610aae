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


def _contiguous_vectors(params: NDArray, grads: NDArray) -> bool:
    """True when BLAS axpy updates ``params`` in place (1-D, contiguous, writeable)."""
    return (params.ndim == 1 and grads.shape == params.shape and params.flags.c_contiguous
            and params.flags.writeable and grads.flags.c_contiguous)


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

    ``step`` works in place on the flat vectors and allocates nothing after its
    first call for a given size and dtype.

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
        if params is self._params and grads is self._grads:
            self._axpy(grads, params, a=-self._lr)
            return
        if params.dtype == grads.dtype and params.dtype in _AXPY and _contiguous_vectors(params, grads):
            # BLAS axpy, params += (-lr) * grads: one call, in place, no temporary;
            # the pair is remembered so the next step skips these checks
            self._params, self._grads, self._axpy = params, grads, _AXPY[params.dtype]
            self._axpy(grads, params, a=-self._lr)
            return
        scaled = self._scaled
        if scaled.shape != grads.shape or scaled.dtype != grads.dtype:
            scaled = self._scaled = np.empty_like(grads)
        np.multiply(grads, self._lr, out=scaled)
        np.subtract(params, scaled, out=params)

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr})"
