"""``HuberLoss``: squared error near the target, absolute error far from it."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .loss import Loss, LossPlan, row_means


class HuberLoss(Loss):
    r"""The Huber loss, averaged over every element (PyTorch's ``HuberLoss(delta)``): with
    ``d = y_pred - y_true``, each element's loss is ``d**2 / 2`` where ``|d| < delta``,
    else ``delta * (|d| - delta / 2)``, computed as ``m * (|d| - m / 2)`` with
    ``m = min(|d|, delta)``.

    Args:
        delta: where the loss turns from squared to absolute error; finite and > 0
            (default 1.0, PyTorch's).

    The gradient is ``clip(d, -delta, delta) / size``: the mean squared error's (halved)
    near the target, bounded far from it, so that outliers pull no harder than
    ``delta``. ``SmoothL1Loss(beta)`` is this loss divided by ``beta``.

    Shape:
        - y_pred: predictions, any shape (a ``Dense`` output)
        - y_true: targets, exactly the shape of ``y_pred``, or ``(N,)`` in ``fit`` for a
          one-output model

    Example:
        >>> import numpy as np
        >>> loss = HuberLoss()
        >>> loss.forward(np.array([[0.5], [3.0]]), np.zeros((2, 1)))   # (0.125 + 2.5) / 2
        1.3125
        >>> loss.backward().ravel()
        array([0.25, 0.5 ])
    """

    def __init__(self, delta: float = 1.0) -> None:
        self._delta = hyperparameter(delta, "HuberLoss", "delta", low_open=True)

    @property
    def delta(self) -> float:
        """Where the loss turns from squared to absolute error (fixed: plans read it)."""
        return self._delta

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        return huber_plan(y_pred, y_true, grad, self.delta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'' if self.delta == 1.0 else f'delta={self.delta!r}'})"


def huber_plan(y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any], delta: float,
               divided: bool = False) -> LossPlan:
    """The plan of the Huber loss with ``delta``, or with ``divided`` of that loss over
    ``delta`` (``SmoothL1Loss``'s, ``beta = delta``, which must be above 0 in the dtype):
    the value from ``m (|d| - m / 2)``, ``m = min(|d|, delta)``, and the gradient
    ``copysign(m, d) / size``, which is ``clip(d, -delta, delta) / size``; divided, ``m /
    delta`` in place of the second ``m`` and in the gradient (at most 1: ``|d| delta``
    would overflow where the loss over ``delta`` does not, and ``1 / delta`` may)."""
    dtype = y_pred.dtype
    diff, absolute, bounded, term = (np.zeros_like(y_pred) for _ in range(4))
    size = diff.size
    # 0-d constants: no Python-scalar conversion per call
    edge, half, scale = (np.array(value, dtype) for value in (delta, 0.5, 1.0 / size))
    forward = [partial(np.subtract, y_pred, y_true, diff), partial(np.absolute, diff, absolute),
               partial(np.minimum, absolute, edge, out=bounded), partial(np.multiply, bounded, half, term),
               partial(np.subtract, absolute, term, term)]
    if divided:
        forward.append(partial(np.divide, bounded, edge, bounded))
    forward.append(partial(np.multiply, term, bounded, term))
    backward = [partial(np.copysign, bounded, diff, grad), partial(np.multiply, grad, scale, grad)]
    return LossPlan(forward, lambda: float(term.sum()) / size, backward, row_means(term))
