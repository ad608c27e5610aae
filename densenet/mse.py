"""``MSELoss``: the mean squared error."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backend import sum_of_squares
from .loss import Loss, LossPlan, row_means


class MSELoss(Loss):
    r"""Mean squared error over every element: ``L = mean((y_pred - y_true) ** 2)``.

    The gradient is ``dL/dy_pred = 2 (y_pred - y_true) / y_pred.size``, so the
    gradient of a batch is the mean of its samples' gradients (PyTorch's
    ``reduction="mean"``).

    Shape:
        - y_pred: any shape
        - y_true: exactly the shape of ``y_pred``; ``(N,)`` against ``(N, 1)`` is
          an error, never a silent broadcast. (``fit`` and ``evaluate`` accept
          ``y`` of shape ``(N,)`` for a one-output model: ``Loss.target``.)

    Example:
        >>> import numpy as np
        >>> loss = MSELoss()
        >>> loss.forward(np.zeros((4, 1)), np.array([[1.0], [0.0], [0.0], [1.0]]))
        0.5
        >>> loss.backward().ravel()
        array([-0.5,  0. ,  0. , -0.5])
    """

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        diff = np.zeros_like(y_pred)
        size = diff.size
        scale = np.array(2.0 / size, diff.dtype)  # 0-d: no Python-scalar conversion per call
        squares = sum_of_squares(diff)
        square = np.zeros_like(diff)
        mean_squares = row_means(square)

        def rows(out: NDArray[Any]) -> None:  # each sample's mean square
            np.multiply(diff, diff, out=square)
            mean_squares(out)

        return LossPlan(forward=[partial(np.subtract, y_pred, y_true, diff)],
                        value=lambda: squares() / size,
                        backward=[partial(np.multiply, diff, scale, grad)], rows=rows)
