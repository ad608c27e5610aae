"""Losses: ``MSELoss``.

A loss is its own module and knows nothing about the output activation:
``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


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
    """

    def __init__(self) -> None:
        self._diff = np.empty((0, 0))
        self._grad = np.empty((0, 0))
        self._scale = 0.0

    def forward(self, y_pred: NDArray, y_true: NDArray) -> float:
        """The mean squared error of ``y_pred`` against ``y_true``, as a Python float."""
        if np.shape(y_pred) != np.shape(y_true):
            raise ValueError(
                f"MSELoss: y_pred has shape {np.shape(y_pred)} but y_true has shape "
                f"{np.shape(y_true)}; they must match exactly"
            )
        if np.size(y_pred) == 0:
            raise ValueError("MSELoss: y_pred and y_true are empty")
        return self._forward(y_pred, y_true)

    def _forward(self, y_pred: NDArray, y_true: NDArray) -> float:
        diff = self._diff
        if diff.shape != y_pred.shape or diff.dtype != y_pred.dtype:
            diff = self._diff = np.empty_like(y_pred, order="C")
            self._grad = np.empty_like(diff)
        np.subtract(y_pred, y_true, out=diff)
        self._scale = 2.0 / diff.size
        return float(np.vdot(diff, diff)) / diff.size

    def backward(self) -> NDArray:
        """dL/dy_pred for the last ``forward``; the array is reused by the next call."""
        return np.multiply(self._diff, self._scale, out=self._grad)

    def __call__(self, y_pred: NDArray, y_true: NDArray) -> float:
        return self.forward(y_pred, y_true)

    def __repr__(self) -> str:
        return "MSELoss()"
