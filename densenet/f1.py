"""``F1Score``: the harmonic mean of precision and recall, per class or label, averaged."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .accuracy import Accuracy
from .metric import Metric

AVERAGES = ("macro", "micro", "weighted")


class F1Score(Metric):
    """The F1 score, ``2 tp / (2 tp + fp + fn)`` of each class (or label), averaged:
    scikit-learn's ``f1_score`` (``zero_division=0``), with its counts weighted by the
    sample weights, if any. For unbalanced classes, where accuracy says little.

    Args:
        threshold: None (default): the outputs are scores of classes, as ``Accuracy``'s
            (a sample's class its highest score's column; targets class labels or rows of
            class probabilities), and the classes averaged over are those that occur among
            the targets or the predictions, as scikit-learn's. A number: each output a
            yes-or-no label (yes above ``threshold``, a target yes above 0.5), every
            label averaged over (scikit-learn's multilabel F1; one output: the F1 of its
            yes, scikit-learn's binary F1).
        average: ``"macro"`` (default): the mean of the classes' scores; ``"micro"``: the
            score of their summed counts (with classes, the accuracy); ``"weighted"``:
            the classes' scores weighted by how often each is the target.
        ignore_index: with class labels, a label that counts for nothing.
        name: default ``"f1"``.

    The counts add up over batches, so the score of an epoch's batches is that of the
    epoch's rows at once.

    Example:
        >>> import numpy as np, densenet as dn
        >>> scores = np.eye(3)[[0, 1, 1, 2, 2, 2]]        # predicted classes 0, 1, 1, 2, 2, 2
        >>> round(dn.F1Score()(scores, np.array([0, 1, 2, 2, 2, 0])), 6)
        0.666667
    """

    NAME = "f1"
    greater_is_better = True

    def __init__(self, threshold: float | None = None, average: str = "macro",
                 ignore_index: int | None = None, name: str | None = None) -> None:
        #: what the outputs and targets are, and their checks: an ``Accuracy``'s
        self.kind = Accuracy(threshold=threshold, ignore_index=ignore_index)
        if average not in AVERAGES:
            raise ValueError(f"F1Score: average must be one of {AVERAGES}, got {average!r}")
        self.threshold, self.ignore_index, self.average = self.kind.threshold, self.kind.ignore_index, average
        super().__init__(name)

    @classmethod
    def like(cls, accuracy: Accuracy) -> F1Score:
        """The macro F1 of the outputs and targets that ``accuracy`` scores (its threshold
        and ignored label): what ``"f1"`` names in ``fit``, from the loss's ``accuracy``."""
        return cls(threshold=accuracy.threshold, ignore_index=accuracy.ignore_index)

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``Accuracy.check``'s: the same outputs and targets."""
        return self.kind.check(y_pred, y_true)

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        """Per class (or label): the true positives, the false positives and the false
        negatives (weighted), ``[tp..., fp..., fn...]``; with classes also how often each is
        a target or a prediction (unweighted: which classes the average is over)."""
        if self.threshold is not None:
            said, truth = y_pred > self.threshold, y_true.reshape(y_pred.shape) > 0.5
            w = np.ones(len(y_pred)) if weight is None else weight.astype(np.float64)
            return np.concatenate([w @ (said & truth), w @ (said & ~truth), w @ (~said & truth)])
        classes = y_pred.shape[1]
        labels = y_true if y_true.ndim == 1 else np.argmax(y_true, axis=1)
        w = np.ones(len(labels)) if weight is None else weight.astype(np.float64)
        chosen = np.argmax(y_pred, axis=1)
        if self.ignore_index is not None:  # an ignored sample is not there
            kept = labels != self.ignore_index
            labels, chosen, w = labels[kept], chosen[kept], w[kept]
        tp = np.bincount(labels, w * (chosen == labels), minlength=classes)
        predicted = np.bincount(chosen, w, minlength=classes)
        actual = np.bincount(labels, w, minlength=classes)
        # the classes averaged over: those some sample is or is said to be, whatever its weight
        present = np.bincount(labels, minlength=classes) + np.bincount(chosen, minlength=classes)
        return np.concatenate([tp, predicted - tp, actual - tp, present])

    def value(self, totals: NDArray[Any]) -> float:
        if self.threshold is not None:
            tp, fp, fn = np.split(totals, 3)
            averaged = np.ones(len(tp), bool)
        else:
            tp, fp, fn, present = np.split(totals, 4)
            averaged = present > 0
        if not averaged.any():
            return math.nan
        tp, fp, fn = tp[averaged], fp[averaged], fn[averaged]
        if self.average == "micro":
            return _f1(tp.sum(), fp.sum(), fn.sum())
        scores = np.array([_f1(*counts) for counts in zip(tp, fp, fn)])
        if self.average == "weighted":
            support = tp + fn
            return float(scores @ support / support.sum()) if support.sum() else 0.0
        return float(scores.mean())

    def config(self) -> dict[str, Any]:
        config = {key: value for key, value in self.kind.config().items() if key != "name"}
        if self.average != "macro":
            config["average"] = self.average
        return config if self.name == self.NAME else {**config, "name": self.name}


def _f1(tp: float, fp: float, fn: float) -> float:
    """``2 tp / (2 tp + fp + fn)``, 0 when nothing is counted (scikit-learn's ``zero_division=0``)."""
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0
