"""``L1Loss``: the mean absolute error."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .loss import Loss, LossPlan, row_means


class L1Loss(Loss):
    r"""Mean absolute error over every element: ``L = mean(|y_pred - y_true|)`` (PyTorch's
    ``L1Loss()``).

    The gradient is ``sign(y_pred - y_true) / size``: 0 where a prediction is exactly
    its target, as in PyTorch. Its size does not shrink near the minimum, so plain SGD
    keeps stepping around it: ``HuberLoss`` and ``SmoothL1Loss`` are quadratic there.

    Shape:
        - y_pred: any shape
        - y_true: exactly the shape of ``y_pred`` (``fit`` also takes ``(N,)`` for a
          one-output model)

    Example:
        >>> import numpy as np
        >>> loss = L1Loss()
        >>> loss.forward(np.array([[1.0], [2.0]]), np.array([[0.0], [4.0]]))
        1.5
        >>> loss.backward().ravel()
        array([ 0.5, -0.5])
    """

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        diff, absolute = np.zeros_like(y_pred), np.zeros_like(y_pred)
        size = diff.size
        scale = np.array(1.0 / size, diff.dtype)  # 0-d: no Python-scalar conversion per call
        forward = [partial(np.subtract, y_pred, y_true, diff), partial(np.absolute, diff, absolute)]
        backward = [partial(np.sign, diff, grad), partial(np.multiply, grad, scale, grad)]
        return LossPlan(forward, lambda: float(absolute.sum()) / size, backward, row_means(absolute))
