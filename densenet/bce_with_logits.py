"""``BCEWithLogitsLoss``: binary cross-entropy on logits."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import unit_interval
from .accuracy import Accuracy
from .backend import expit
from .loss import Loss, LossPlan, row_means


class BCEWithLogitsLoss(Loss):
    r"""Binary cross-entropy on logits ``z``, averaged over every element (PyTorch's
    semantics): ``L = mean(BCE(sigmoid(z), t))``, computed stably as
    ``max(z, 0) - z t + log(1 + exp(-|z|))`` for any finite ``z``.

    The gradient is ``(sigmoid(z) - t) / size``.

    Shape:
        - y_pred: logits, any shape (a ``Dense`` output)
        - y_true: targets in [0, 1], exactly the shape of ``y_pred`` (``fit`` also
          takes ``(N,)`` for a one-output model)

    Example:
        >>> import numpy as np
        >>> round(BCEWithLogitsLoss().forward(np.array([[0.0], [1000.0]]), np.array([[1.0], [0.0]])), 6)
        500.346574
    """

    def accuracy(self, n_outputs: int) -> Accuracy:
        """Each output the logit of yes: right when above 0 (a probability above 0.5) for
        a target above 0.5."""
        return Accuracy(threshold=0.0)

    def target_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        return unit_interval(values, name, "BCEWithLogitsLoss")

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        term, soft = np.zeros_like(y_pred), np.zeros_like(y_pred)
        zero = np.zeros((), y_pred.dtype)
        size = y_pred.size
        scale = np.array(1.0 / size, y_pred.dtype)
        # log(1 + exp(-|z|)) + max(z, 0) - z t
        forward = [partial(np.abs, y_pred, soft), partial(np.negative, soft, soft),
                   partial(np.exp, soft, soft), partial(np.log1p, soft, soft),
                   partial(np.multiply, y_pred, y_true, term), partial(np.subtract, soft, term, term),
                   partial(np.maximum, y_pred, zero, out=soft), partial(np.add, term, soft, term)]
        backward = [partial(expit, y_pred, grad), partial(np.subtract, grad, y_true, grad),
                    partial(np.multiply, grad, scale, grad)]
        return LossPlan(forward, lambda: float(term.sum()) / size, backward, row_means(term))
