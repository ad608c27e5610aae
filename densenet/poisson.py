"""``PoissonNLLLoss``: the Poisson negative log-likelihood of counts, on log-rates."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import non_negative
from .accuracy import Accuracy
from .loss import Loss, LossPlan, row_means


class PoissonNLLLoss(Loss):
    r"""Poisson negative log-likelihood of targets ``t`` (counts, or any rates >= 0)
    given log-rates ``z``, averaged over every element: ``L = mean(exp(z) - t z)``
    (PyTorch's ``PoissonNLLLoss()`` with its defaults: ``log_input=True``, ``full=False``,
    ``reduction="mean"``; the dropped ``log(t!)`` does not depend on ``z``).

    The gradient is ``(exp(z) - t) / size``; the predicted rate is ``exp(z)``.

    Shape:
        - y_pred: log-rates, any shape (a ``Dense`` output)
        - y_true: targets >= 0, exactly the shape of ``y_pred`` (``fit`` also takes
          ``(N,)`` for a one-output model)

    Example:
        >>> import numpy as np
        >>> loss = PoissonNLLLoss()
        >>> loss.forward(np.zeros((2, 1)), np.array([[1.0], [3.0]]))   # rate exp(0) = 1 for both
        1.0
        >>> loss.backward().ravel()                # (exp(z) - t) / 2: the second rate should grow
        array([ 0., -1.])
    """

    def accuracy(self, n_outputs: int) -> Accuracy:
        """None: its outputs are log-rates of counts, which are not classified."""
        raise ValueError("PoissonNLLLoss predicts log-rates of counts, which are not classified: accuracy "
                         "(and auc, f1, precision, recall) has no meaning for them; use a regression metric "
                         "such as 'mae'")

    def target_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        return non_negative(values, name, "PoissonNLLLoss")

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        rate, term = np.zeros_like(y_pred), np.zeros_like(y_pred)
        size = y_pred.size
        scale = np.array(1.0 / size, y_pred.dtype)
        # exp(z) - t z; a log-rate too large for the dtype gives an infinite loss, its
        # overflow unreported (fit's steps and forward/backward run under errstate)
        forward = [partial(np.exp, y_pred, rate), partial(np.multiply, y_true, y_pred, term),
                   partial(np.subtract, rate, term, term)]
        backward = [partial(np.exp, y_pred, grad), partial(np.subtract, grad, y_true, grad),
                    partial(np.multiply, grad, scale, grad)]
        return LossPlan(forward, lambda: float(term.sum()) / size, backward, row_means(term))
