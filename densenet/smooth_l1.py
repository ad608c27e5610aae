"""``SmoothL1Loss``: the Huber loss scaled to slope 1 far from the target."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .huber import huber_plan
from .l1 import L1Loss
from .loss import Loss, LossPlan


class SmoothL1Loss(Loss):
    r"""The smooth L1 loss, averaged over every element (PyTorch's ``SmoothL1Loss(beta)``):
    with ``d = y_pred - y_true``, each element's loss is ``d**2 / (2 beta)`` where
    ``|d| < beta``, else ``|d| - beta / 2``: ``HuberLoss(delta=beta)`` divided by ``beta``.

    Args:
        beta: where the loss turns from squared to absolute error; finite and >= 0
            (default 1.0, PyTorch's). ``beta = 0`` is ``L1Loss`` (and so is a beta that
            the outputs' dtype rounds to 0: 1e-50 in float32).

    The gradient is ``clip(d / beta, -1, 1) / size``: slope 1 far from the target, as
    ``L1Loss``'s, whatever ``beta``.

    Shape:
        as ``HuberLoss``'s: ``y_true`` exactly the shape of ``y_pred`` (``(N,)`` in ``fit``
        for one output).

    Example:
        >>> import numpy as np
        >>> loss = SmoothL1Loss(beta=0.5)
        >>> loss.forward(np.array([[0.25], [3.0]]), np.zeros((2, 1)))   # (0.0625 + 2.75) / 2
        1.40625
        >>> loss.backward().ravel()
        array([0.25, 0.5 ])
    """

    def __init__(self, beta: float = 1.0) -> None:
        self._beta = hyperparameter(beta, "SmoothL1Loss", "beta")

    @property
    def beta(self) -> float:
        """Where the loss turns from squared to absolute error (fixed: plans read it)."""
        return self._beta

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        if not np.array(self.beta, y_pred.dtype):  # (0, or a beta the dtype rounds to 0: L1Loss's)
            return L1Loss().plan(y_pred, y_true, grad)
        return huber_plan(y_pred, y_true, grad, self.beta, divided=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'' if self.beta == 1.0 else f'beta={self.beta!r}'})"
