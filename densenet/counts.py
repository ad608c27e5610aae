"""``ClassCounts``: the base of the metrics scored from each class's counts (F1, precision,
recall): true positives, false positives and false negatives, added up over batches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import one_of
from .accuracy import Accuracy, settings
from .metric import Metric

AVERAGES = ("macro", "micro", "weighted")


class ClassCounts(Metric):
    """A score of each class's (or label's) counts, averaged: a subclass defines
    ``score(tp, fp, fn)``, the scores of arrays of counts (one entry a class, weighted by
    the sample weights if any), elementwise; 0 where it would divide by 0, scikit-learn's
    ``zero_division=0`` (``ratio`` does that).

    Args:
        threshold: None (default): the outputs are scores of classes, as ``Accuracy``'s
            (a sample's class its highest score's column; targets class labels or rows of
            class probabilities), and the classes averaged over are those that occur among
            the targets or the predictions, as scikit-learn's. A number: each output a
            yes-or-no label (yes above ``threshold``, a target yes above 0.5), every
            label averaged over (scikit-learn's multilabel scores; one output: the score
            of its yes, scikit-learn's binary one).
        average: ``"macro"`` (default): the mean of the classes' scores; ``"micro"``: the
            score of their summed counts (with classes, the accuracy); ``"weighted"``:
            the classes' scores weighted by how often each is the target.
        ignore_index: with class labels, a label that counts for nothing.
        name: default the class's ``NAME``.

    The counts add up over batches, so the score of an epoch's batches is that of the
    epoch's rows at once. Of samples of no weight (every one 0), or of none, the score
    is NaN, as every metric's (scikit-learn's refuse such weights).
    """

    greater_is_better = True

    def __init__(self, threshold: float | None = None, average: str = "macro",
                 ignore_index: int | None = None, name: str | None = None) -> None:
        #: what the outputs and targets are, and their checks: an ``Accuracy``'s
        threshold, _, ignore_index = settings(type(self).__name__, threshold, ignore_index=ignore_index)
        self.kind = Accuracy(threshold=threshold, ignore_index=ignore_index)
        if not one_of(average, AVERAGES):
            raise ValueError(f"{type(self).__name__}: average must be one of {AVERAGES}, got {average!r}")
        self.threshold, self.ignore_index, self.average = self.kind.threshold, self.kind.ignore_index, average
        super().__init__(name)

    @classmethod
    def like(cls, accuracy: Accuracy) -> ClassCounts:
        """The macro score of the outputs and targets that ``accuracy`` scores (its
        threshold and ignored label): what ``"f1"``, ``"precision"`` and ``"recall"`` name
        in ``fit``, from the loss's ``accuracy``."""
        return cls(threshold=accuracy.threshold, ignore_index=accuracy.ignore_index)

    @staticmethod
    def score(tp: NDArray[Any], fp: NDArray[Any], fn: NDArray[Any]) -> NDArray[Any]:
        """The scores of each class's counts (of their sums, one entry, for ``"micro"``)."""
        raise TypeError("a ClassCounts metric defines score(tp, fp, fn)")

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``Accuracy.check``'s: the same outputs and targets."""
        return self.kind.check_for(type(self).__name__, y_pred, y_true)

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        """Per class (or label): the true positives, the false positives and the false
        negatives (weighted), ``[tp..., fp..., fn...]``; with classes also how often each is
        a target or a prediction (unweighted: which classes the average is over), with
        labels the samples' weight (with classes, the sum of ``tp`` and ``fn``)."""
        if self.threshold is not None:
            said, truth = y_pred > self.threshold, y_true.reshape(y_pred.shape) > 0.5
            w = np.ones(len(y_pred)) if weight is None else weight.astype(np.float64)
            return np.concatenate([w @ (said & truth), w @ (said & ~truth), w @ (~said & truth), [w.sum()]])
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
            tp, fp, fn = np.split(totals[:-1], 3)
            averaged: NDArray[np.bool_] = np.ones(len(tp), bool)
            weight = totals[-1]
        else:
            tp, fp, fn, present = np.split(totals, 4)
            averaged, weight = present > 0, (tp + fn).sum()
        if not (averaged.any() and weight > 0):  # (no sample, or none of any weight: no score)
            return math.nan
        tp, fp, fn = tp[averaged], fp[averaged], fn[averaged]
        if self.average == "micro":  # the score of the summed counts
            tp, fp, fn = (np.array([counts.sum()]) for counts in (tp, fp, fn))
            return float(self.score(tp, fp, fn)[0])
        scores = self.score(tp, fp, fn)
        if self.average == "weighted":
            support = tp + fn
            return float(scores @ support / support.sum()) if support.sum() else 0.0
        return float(scores.mean())

    def config(self) -> dict[str, Any]:
        config = {key: value for key, value in self.kind.config().items() if key != "name"}
        if self.average != "macro":
            config["average"] = self.average
        return config if self.name == self.NAME else {**config, "name": self.name}


def ratio(numerator: NDArray[Any], denominator: NDArray[Any]) -> NDArray[Any]:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros(np.shape(denominator)), where=denominator != 0)
