"""Optimisers: ``SGD``.

An optimiser updates a model's flat parameter vector in place from its flat
gradient vector, so one step is one vector operation whatever the architecture.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


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
        self.lr = _learning_rate(lr)
        self._scaled = np.empty(0)

    def step(self, params: NDArray, grads: NDArray) -> None:
        """Update ``params`` in place from ``grads`` (same shape and dtype)."""
        scaled = self._scaled
        if scaled.shape != grads.shape or scaled.dtype != grads.dtype:
            scaled = self._scaled = np.empty_like(grads)
        np.multiply(grads, self.lr, out=scaled)
        np.subtract(params, scaled, out=params)

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr})"
