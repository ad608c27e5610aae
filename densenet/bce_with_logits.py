"""``BCEWithLogitsLoss``: binary cross-entropy on logits."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._validation import unit_interval, weight_vector
from .accuracy import Accuracy
from .backend import expit
from .loss import Loss, LossPlan, row_means


class BCEWithLogitsLoss(Loss):
    r"""Binary cross-entropy on logits ``z``, averaged over every element (PyTorch's
    semantics): ``L = mean(BCE(sigmoid(z), t))``, computed stably as
    ``max(z, 0) - z t + log(1 + exp(-|z|))`` for any finite ``z``.

    The gradient is ``(sigmoid(z) - t) / size``.

    Args:
        pos_weight: None, or one weight >= 0 per output (column) for its yes targets
            (PyTorch's ``pos_weight``): the loss of an element is then
            ``-(p t log sigmoid(z) + (1 - t) log(1 - sigmoid(z)))``, so that ``p > 1``
            counts each yes ``p`` times (for a label that is rarely yes: the number of its
            no samples over its yes ones), and its gradient ``(sigmoid(z) (1 - t + p t) -
            p t) / size``; computed stably as ``(1 - t) z + (1 + (p - 1) t) softplus(-z)``.

    Shape:
        - y_pred: logits, any shape (a ``Dense`` output)
        - y_true: targets in [0, 1], exactly the shape of ``y_pred`` (``fit`` also
          takes ``(N,)`` for a one-output model)

    Example:
        >>> import numpy as np
        >>> round(BCEWithLogitsLoss().forward(np.array([[0.0], [1000.0]]), np.array([[1.0], [0.0]])), 6)
        500.346574
        >>> round(BCEWithLogitsLoss(pos_weight=[3.0]).forward(np.array([[0.0]]), np.array([[1.0]])), 6)
        2.079442
    """

    takes = ("logits",)
    #: (a loss pickled before ``pos_weight`` existed weighs every yes 1)
    _pos_weight: NDArray[Any] | None = None

    def __init__(self, pos_weight: ArrayLike | None = None) -> None:
        if pos_weight is not None:
            self._pos_weight = weight_vector(pos_weight, "pos_weight", "BCEWithLogitsLoss",
                                             "one weight per output, a 1-D array (n_outputs,)")

    @property
    def pos_weight(self) -> NDArray[Any] | None:
        """The weights of the yes targets, one per output (a read-only float64 array), or
        None (fixed: plans read them)."""
        return self._pos_weight

    def target(self, y: ArrayLike, n_outputs: int, dtype: DTypeLike, name: str = "y") -> NDArray[Any]:
        """The default's targets (the output's shape, values in [0, 1]), for a model whose
        outputs ``pos_weight`` has a weight each."""
        if self.pos_weight is not None and len(self.pos_weight) != n_outputs:
            raise ValueError(f"BCEWithLogitsLoss: pos_weight has {len(self.pos_weight)} weights, but the "
                             f"model has {n_outputs} outputs")
        return super().target(y, n_outputs, dtype, name)

    def accuracy(self, n_outputs: int) -> Accuracy:
        """Each output the logit of yes: right when above 0 (a probability above 0.5) for
        a target above 0.5."""
        return Accuracy(threshold=0.0)

    def target_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        return unit_interval(values, name, "BCEWithLogitsLoss")

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        if self.pos_weight is not None:
            return self._weighted_plan(y_pred, y_true, grad, self.pos_weight)
        term, soft, product = np.zeros_like(y_pred), np.zeros_like(y_pred), np.zeros_like(y_pred)
        zero = np.zeros((), y_pred.dtype)
        size = y_pred.size
        scale = np.array(1.0 / size, y_pred.dtype)
        # (max(z, 0) - z t) + log(1 + exp(-|z|)): the first part 0 for a right label (z of
        # 200, t = 1) before the small second one (exp(-200)) is added to it
        forward = [partial(np.abs, y_pred, soft), partial(np.negative, soft, soft),
                   partial(np.exp, soft, soft), partial(np.log1p, soft, soft),
                   partial(np.maximum, y_pred, zero, out=term), partial(np.multiply, y_pred, y_true, product),
                   partial(np.subtract, term, product, term), partial(np.add, term, soft, term)]
        backward = [partial(expit, y_pred, grad), partial(np.subtract, grad, y_true, grad),
                    partial(np.multiply, grad, scale, grad)]
        return LossPlan(forward, lambda: float(term.sum()) / size, backward, row_means(term))

    def _weighted_plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any],
                       pos_weight: NDArray[Any]) -> LossPlan:
        """``plan`` with ``pos_weight``: ``w = 1 + (p - 1) t`` per element (the forward pass
        writes it; the backward pass reads it), the loss ``(1 - t) z + w softplus(-z)``, its
        gradient ``((1 - t) - w sigmoid(-z)) / size``."""
        columns = 1 if y_pred.ndim == 1 else y_pred.shape[-1]
        if len(pos_weight) != columns:
            raise ValueError(f"BCEWithLogitsLoss: pos_weight has {len(pos_weight)} weights, but y_pred has "
                             f"{columns} columns (shape {y_pred.shape})")
        term, soft, w = np.zeros_like(y_pred), np.zeros_like(y_pred), np.zeros_like(y_pred)
        p_less_1 = (pos_weight - 1).astype(y_pred.dtype)
        zero, one = np.zeros((), y_pred.dtype), np.ones((), y_pred.dtype)
        size = y_pred.size
        scale = np.array(1.0 / size, y_pred.dtype)
        forward = [partial(np.multiply, y_true, p_less_1, out=w), partial(np.add, w, one, out=w),
                   # softplus(-z) = log(1 + exp(-|z|)) + max(-z, 0)
                   partial(np.abs, y_pred, soft), partial(np.negative, soft, soft),
                   partial(np.exp, soft, soft), partial(np.log1p, soft, soft),
                   partial(np.negative, y_pred, term), partial(np.maximum, term, zero, out=term),
                   partial(np.add, soft, term, soft), partial(np.multiply, soft, w, soft),
                   # + (1 - t) z = z - z t
                   partial(np.multiply, y_pred, y_true, term), partial(np.subtract, y_pred, term, term),
                   partial(np.add, term, soft, term)]
        # sigmoid(-z) w, then (1 - t) - it, scaled
        backward = [partial(np.negative, y_pred, grad), partial(expit, grad, grad),
                    partial(np.multiply, grad, w, grad), partial(np.add, grad, y_true, grad),
                    partial(np.subtract, one, grad, grad), partial(np.multiply, grad, scale, grad)]
        return LossPlan(forward, lambda: float(term.sum()) / size, backward, row_means(term))

    def __repr__(self) -> str:
        weights = "" if self.pos_weight is None else f"pos_weight={self.pos_weight.tolist()}"
        return f"{type(self).__name__}({weights})"
