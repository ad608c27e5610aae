"""``Accuracy``: the share of samples classified right."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    as_array,
    as_numeric,
    first_outside,
    hyperparameter,
    not_integer_labels,
    positive_int,
    warn,
)
from .metric import Metric, as_columns, mean_of, mean_totals, outputs, same_shape


class Accuracy(Metric):
    """The share of samples classified right (weighted by the sample weights, if any).

    Args:
        threshold: None (default): the outputs are scores of classes, a column each
            (logits or probabilities), and a sample's class is the column of its highest
            score (the first, on a tie: ``argmax``). Its target is a class label (an
            integer in ``[0, C)``; ``y_true`` ``(N,)``) or a row of class probabilities
            (``(N, C)``, one-hot or not: its class is its largest entry's column). A
            number: each output is a yes-or-no label of its own, yes above ``threshold``
            (0.5 for probabilities, 0 for logits), against a target of the outputs' shape,
            yes above 0.5; a sample scores the share of its labels that are right (1 for
            all, 0 for none: Keras's binary accuracy, one minus the Hamming loss).
        top_k: with classes, a sample is right when its class is among its ``top_k``
            highest scores (ties ranked as ``argmax`` ranks them, the first column first;
            scikit-learn's ``top_k_accuracy_score`` ranks the last first, and so differs
            from ``argmax`` and from this on tied scores); 1 by default.
        ignore_index: with class labels, a label that counts for nothing
            (``CrossEntropyLoss``'s ``ignore_index``); None by default.
        name: default ``"accuracy"``, or ``"top{k}_accuracy"`` for ``top_k`` k > 1.

    ``fit(..., metrics=["accuracy"])`` asks the loss which kind its outputs are
    (``Loss.accuracy``): ``CrossEntropyLoss`` classes, ``BCELoss`` labels at 0.5,
    ``BCEWithLogitsLoss`` labels at 0, a regression loss labels at 0.5 for one output
    (the tutorial's) and classes for more (one-hot targets).

    Example:
        >>> import numpy as np, densenet as dn
        >>> scores = np.array([[2.0, 1.0, 0.1], [0.3, 0.2, 0.9], [0.1, 3.0, 0.2]])
        >>> dn.Accuracy()(scores, np.array([0, 0, 1]))
        0.6666666666666666
        >>> dn.Accuracy(top_k=2)(scores, np.array([0, 0, 1]))
        1.0
        >>> dn.Accuracy(threshold=0.5)(np.array([0.9, 0.2, 0.6]), np.array([1.0, 0.0, 0.0]))
        0.6666666666666666
    """

    NAME = "accuracy"
    greater_is_better = True

    def __init__(self, threshold: float | None = None, top_k: int = 1, ignore_index: int | None = None,
                 name: str | None = None) -> None:
        self.threshold, self.top_k, self.ignore_index = settings(type(self).__name__, threshold, top_k,
                                                                 ignore_index)
        super().__init__(name if name is not None or self.top_k == 1 else f"top{self.top_k}_accuracy")

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``y_pred`` ``(N, C)`` (C >= 2) with ``y_true`` class labels ``(N,)`` or rows
        ``(N, C)``; with a threshold, ``y_pred`` ``(N, k)`` or ``(N,)`` and ``y_true`` of its
        shape. ``ValueError``/``TypeError`` naming what does not fit."""
        return self.check_for(type(self).__name__, y_pred, y_true)

    def check_for(self, owner: str, y_pred: ArrayLike,
                  y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``check``, for a metric named ``owner`` that scores the same outputs and targets
        (``F1Score``...): its errors and warnings name ``owner``."""
        scores = outputs(y_pred, owner)
        if self.threshold is not None:
            return same_shape(scores, y_true, owner)
        if scores.ndim == 1 or scores.shape[1] < 2:
            raise ValueError(f"{owner}: y_pred has shape {scores.shape}: one score per sample, but without a "
                             "threshold each column is a class; for yes-or-no outputs pass threshold (0.5 "
                             "for probabilities, 0 for logits)")
        n, classes = scores.shape
        if self.top_k >= classes:
            warn(f"{owner}: top_k={self.top_k} with {classes} classes: every label is among the top "
                 f"{self.top_k}, and every sample right")
        array = as_array(y_true, f"{owner}: y_true")
        if array.shape == (n,):
            if array.dtype.kind not in "iu":
                raise not_integer_labels(array, "y_true", owner, classes)
            bad = first_outside(array, classes, self.ignore_index)
            if bad is not None:
                raise ValueError(f"{owner}: class label {bad} in y_true is outside [0, {classes}) for "
                                 f"y_pred's {classes} columns")
            return scores, array.astype(np.intp)
        if array.shape != scores.shape:
            raise ValueError(f"{owner}: y_true has shape {array.shape}; it must be class labels ({n},) or "
                             f"rows of class probabilities {scores.shape}, as y_pred")
        return scores, as_numeric(array, f"{owner}: y_true", scores.dtype)

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        if self.threshold is not None:
            right = np.equal(y_pred > self.threshold, as_columns(y_true) > 0.5)
            return mean_totals(right, weight)
        labels = y_true if y_true.ndim == 1 else np.argmax(y_true, axis=1)
        if self.ignore_index is not None:  # an ignored sample is not there
            kept = labels != self.ignore_index
            y_pred, labels, weight = y_pred[kept], labels[kept], None if weight is None else weight[kept]
        if self.top_k == 1:
            right = np.argmax(y_pred, axis=1) == labels
        else:  # the label's rank: the columns scoring higher, or as high and before it
            score = np.take_along_axis(y_pred, labels[:, None], axis=1)
            columns = np.arange(y_pred.shape[1])
            ahead = (y_pred > score) | ((y_pred == score) & (columns < labels[:, None]))
            right = np.count_nonzero(ahead, axis=1) < self.top_k
        return mean_totals(right, weight)

    def value(self, totals: NDArray[Any]) -> float:
        return mean_of(totals)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.threshold is not None:
            config["threshold"] = self.threshold
        if self.top_k != 1:
            config["top_k"] = self.top_k
        if self.ignore_index is not None:
            config["ignore_index"] = self.ignore_index
        default = self.NAME if self.top_k == 1 else f"top{self.top_k}_accuracy"
        return config if self.name == default else {**config, "name": self.name}


def settings(owner: str, threshold: object = None, top_k: object = 1,
             ignore_index: object = None) -> tuple[float | None, int, int | None]:
    """An ``Accuracy``'s ``threshold``, ``top_k`` and ``ignore_index``, checked; the errors
    name ``owner``, the metric being made (``F1Score``, ``AUC``... take the settings of the
    ``Accuracy`` they hold)."""
    cut = None if threshold is None else hyperparameter(threshold, owner, "threshold", low=-np.inf)
    k = positive_int(top_k, f"{owner} top_k")
    if cut is not None and k != 1:
        raise ValueError(f"{owner}: top_k ranks classes, but threshold={threshold!r} makes each output a "
                         "label of its own; leave top_k 1 with a threshold")
    if ignore_index is not None:
        ignore_index = positive_int(ignore_index, f"{owner} ignore_index", "an integer or None",
                                    low=-sys.maxsize - 1)
    return cut, k, ignore_index
