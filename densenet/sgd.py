"""``SGD``: plain stochastic gradient descent."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backend import axpy_chunks
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Plain stochastic gradient descent: ``params <- params - lr * grads``.

    Args:
        lr: the learning rate, finite and > 0.

    ``step`` works in place and allocates nothing after its first call for a
    given pair of arrays. On contiguous float vectors it is BLAS axpy
    (``params += -lr * grads``) in slices that run on the calling thread
    (``densenet.backend``); otherwise two NumPy ufunc calls.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, 2.0]), np.array([0.5, -1.0])
        >>> SGD(lr=0.1).step(params, grads)
        >>> params
        array([0.95, 2.1 ])
    """

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__(lr)
        self._forget()

    def _forget(self) -> None:
        self._pair: tuple[NDArray, NDArray] | None = None
        self._axpy: Any = None
        self._scaled = np.empty(0)

    def step(self, params: NDArray, grads: NDArray) -> None:
        pair = self._pair
        if pair is None or params is not pair[0] or grads is not pair[1]:
            # checked once per pair of arrays: a model passes the same two every step
            self._pair, self._axpy = (params, grads), axpy_chunks(params, grads)
        if self._axpy is not None:
            axpy, chunks = self._axpy
            a = -self._lr
            for g, p in chunks:
                axpy(g, p, a=a)
            return
        scaled = self._scaled
        if scaled.shape != grads.shape or scaled.dtype != grads.dtype:
            scaled = self._scaled = np.empty_like(grads)
        np.multiply(grads, self._lr, out=scaled)
        np.subtract(params, scaled, out=params)

    def __getstate__(self) -> dict[str, Any]:
        return {"_lr": self._lr}  # the rest refers to the arrays last stepped

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forget()
