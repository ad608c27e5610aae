"""``BCELoss``: binary cross-entropy on probabilities."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import unit_interval
from .accuracy import Accuracy
from .loss import Loss, LossPlan, row_means

#: PyTorch clamps each log at -100, so that a probability of exactly 0 or 1 gives a finite loss.
LOG_FLOOR = -100.0

#: PyTorch's floor for ``p (1 - p)`` in the gradient: 1e-12 as a float32
#: (9.99999996e-13), which is what its kernel uses in float64 too (measured).
EPSILON = float(np.float32(1e-12))


class BCELoss(Loss):
    r"""Binary cross-entropy on probabilities, averaged over every element (PyTorch's semantics):
    ``L = -mean(t log(p) + (1 - t) log(1 - p))``, each log clamped at -100.

    The gradient is ``(p - t) / max(p (1 - p), 1e-12) / size``. Probabilities
    of exactly 0 and 1 give finite values without warnings. For logits, use
    ``BCEWithLogitsLoss``, which is stable for any finite input.

    Shape:
        - y_pred: probabilities in [0, 1], any shape (a ``Sigmoid`` output)
        - y_true: targets in [0, 1], exactly the shape of ``y_pred`` (``fit`` also
          takes ``(N,)`` for a one-output model)

    Example:
        >>> import numpy as np
        >>> round(BCELoss().forward(np.array([[0.5], [1.0]]), np.array([[1.0], [0.0]])), 6)
        50.346574
    """

    takes = ("probabilities",)

    def accuracy(self, n_outputs: int) -> Accuracy:
        """Each output a probability of yes: right when above 0.5 for a target above 0.5."""
        return Accuracy(threshold=0.5)

    def target_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        return unit_interval(values, name, "BCELoss")

    def pred_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        return unit_interval(values, name, "BCELoss")

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        log_p, log_q, term = np.zeros_like(y_pred), np.zeros_like(y_pred), np.zeros_like(y_pred)
        size = y_pred.size
        one, floor, eps = (np.array(v, y_pred.dtype) for v in (1.0, LOG_FLOOR, EPSILON))
        scale = np.array(1.0 / size, y_pred.dtype)
        # -(t log p + (1 - t) log(1 - p)) = -(log q + t (log p - log q)), q = 1 - p
        forward = [partial(_clamped_log, y_pred, log_p, floor), partial(_clamped_log1m, y_pred, log_q, floor),
                   partial(np.subtract, log_p, log_q, term), partial(np.multiply, term, y_true, term),
                   partial(np.add, term, log_q, term)]
        denom = np.zeros_like(y_pred)
        backward = [partial(np.subtract, one, y_pred, denom), partial(np.multiply, denom, y_pred, denom),
                    partial(np.maximum, denom, eps, out=denom), partial(np.subtract, y_pred, y_true, grad),
                    partial(np.divide, grad, denom, grad), partial(np.multiply, grad, scale, grad)]
        return LossPlan(forward, lambda: -float(term.sum()) / size, backward, row_means(term, -1.0))


def _clamped_log(p: NDArray[Any], out: NDArray[Any], floor: NDArray[Any]) -> None:
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped
        np.log(p, out=out)
    np.maximum(out, floor, out=out)


def _clamped_log1m(p: NDArray[Any], out: NDArray[Any], floor: NDArray[Any]) -> None:
    np.negative(p, out=out)
    with np.errstate(divide="ignore"):  # log1p(-1) = -inf, clamped
        np.log1p(out, out=out)
    np.maximum(out, floor, out=out)
