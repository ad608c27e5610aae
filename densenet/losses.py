"""Losses: ``MSELoss``.

A loss is its own module and knows nothing about the output activation:
``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas

from .optim import BLAS_SMALL

Call = Callable[[], object]


class MSELoss:
    r"""Mean squared error over every element: ``L = mean((y_pred - y_true) ** 2)``.

    ``backward()`` returns ``dL/dy_pred = 2 (y_pred - y_true) / y_pred.size``,
    so the gradient of a batch is the mean of its samples' gradients.

    Shape:
        - y_pred: any shape
        - y_true: exactly the shape of ``y_pred``; ``(N,)`` against ``(N, 1)`` is
          an error, never a silent broadcast.

    Example:
        >>> import numpy as np
        >>> loss = MSELoss()
        >>> loss.forward(np.zeros((4, 1)), np.array([[1.0], [0.0], [0.0], [1.0]]))
        0.5
        >>> loss.backward().ravel()
        array([-0.5,  0. ,  0. , -0.5])

    ``forward`` checks the shapes; ``plan`` (used by ``fit``) trusts them.
    """

    def __init__(self) -> None:
        self._diff: NDArray | None = None

    def forward(self, y_pred: NDArray, y_true: NDArray) -> float:
        """The mean squared error of ``y_pred`` against ``y_true``, as a Python float."""
        if np.shape(y_pred) != np.shape(y_true):
            raise ValueError(
                f"MSELoss: y_pred has shape {np.shape(y_pred)} but y_true has shape "
                f"{np.shape(y_true)}; they must match exactly"
            )
        if np.size(y_pred) == 0:
            raise ValueError("MSELoss: y_pred and y_true are empty")
        diff = self._diff = np.subtract(y_pred, y_true)
        return float(np.vdot(diff, diff)) / diff.size

    def backward(self) -> NDArray:
        """dL/dy_pred for the last ``forward``, as a new array."""
        if self._diff is None:
            raise RuntimeError("MSELoss.backward called before forward")
        diff = self._diff
        return diff * np.array(2.0 / diff.size, diff.dtype)

    def plan(self, y_pred: NDArray, y_true: NDArray,
             grad: NDArray) -> tuple[list[Call], Callable[[], float], list[Call]]:
        """The loss on fixed arrays for the training loop (see ``densenet.step``).

        Returns ``(forward calls, value, backward calls)``: after the forward
        calls, ``value()`` is the loss; the backward calls write dL/dy_pred into
        ``grad``, with the same NumPy calls as ``backward``. ``value`` uses BLAS
        dot directly for small arrays, so it may differ from ``forward`` in the
        last bit; the gradient, and so training, does not.
        """
        diff = np.zeros_like(y_pred)
        size = diff.size
        scale = np.array(2.0 / size, diff.dtype)  # 0-d: no Python-scalar conversion per call
        flat = diff.reshape(-1)
        dot = np.vdot
        if size <= BLAS_SMALL:  # 4x less call overhead than np.vdot, on the calling thread
            dot = blas.ddot if flat.dtype == np.float64 else blas.sdot

        def value() -> float:
            return float(dot(flat, flat)) / size

        return [partial(np.subtract, y_pred, y_true, diff)], value, [partial(np.multiply, diff, scale, grad)]

    def __call__(self, y_pred: NDArray, y_true: NDArray) -> float:
        return self.forward(y_pred, y_true)

    def __repr__(self) -> str:
        return "MSELoss()"
