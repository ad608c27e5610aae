"""``AUC``: the area under the ROC curve of yes-or-no labels, or of each class against the
others, exact, over every batch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import OUTPUT_KINDS, one_of, shown
from .accuracy import Accuracy, settings
from .backend import log_softmax
from .metric import Metric

AVERAGES = ("macro", "micro", "weighted")


class AUC(Metric):
    """The area under the ROC curve: the chance that a yes sample scores above a no
    sample (a tie counting one half), weighted by the sample weights, if any:
    scikit-learn's ``roc_auc_score`` for binary and multilabel targets. The outputs are
    the labels' scores, one column each (logits or probabilities alike: only their order
    counts), the targets of their shape, yes above 0.5.

    Args:
        average: with several labels, ``"macro"`` (default): the mean of the labels'
            areas; ``"micro"``: the area of every label's samples together;
            ``"weighted"``: the labels' areas weighted by their (weighted) yes samples.
        classes: None (default): the outputs are yes-or-no labels' scores, as above. With
            a kind, ``"logits"``, ``"log-probabilities"`` or ``"probabilities"``, they are
            scores of classes, a column each (a classifier's, as ``CrossEntropyLoss``
            trains it), against class labels ``(N,)`` or rows of class probabilities (the
            class their largest entry's), as ``Accuracy``'s; each class's area is that of
            its probability (the outputs' softmax, or the outputs themselves) against the
            others: scikit-learn's ``roc_auc_score(..., multi_class="ovr")`` of
            ``predict_proba``, and with two classes its binary area of the second class's
            probability, whatever ``average``.
        ignore_index: with class labels, a label that counts for nothing.
        name: default ``"auc"``.

    The area is exact: the metric keeps each sample's scores, targets and weight (``2k + 1``
    numbers for ``k`` labels or classes) until ``reset``, and sorts them when asked for its
    result, rather than counting them at fixed thresholds. A label whose samples are all
    yes or all no (a class no sample, or every sample, is) has no area: it is left out of
    the average (scikit-learn's raises an error), and the result is NaN when none has one.

    Example:
        >>> import numpy as np, densenet as dn
        >>> dn.AUC()(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.0, 0.0, 1.0, 1.0]))
        0.75
        >>> logits = np.array([[2.0, 0.5, 0.1], [0.2, 1.5, 0.3], [0.1, 0.4, 2.2], [1.0, 1.1, 0.2]])
        >>> dn.AUC(classes="logits")(logits, np.array([0, 1, 2, 0]))
        1.0
    """

    NAME = "auc"
    greater_is_better = True

    #: the batches added since the last reset: each a ``totals`` array
    _batches: list[NDArray[Any]] | None = None

    def __init__(self, average: str = "macro", classes: str | None = None, ignore_index: int | None = None,
                 name: str | None = None) -> None:
        if not one_of(average, AVERAGES):
            raise ValueError(f"AUC: average must be one of {AVERAGES}, got {average!r}")
        if not one_of(classes, (None, *OUTPUT_KINDS)):
            raise ValueError(f"AUC: classes must be None (yes-or-no labels) or what the outputs are, one of "
                             f"{OUTPUT_KINDS}; got {classes!r}")
        if ignore_index is not None and classes is None:
            raise ValueError(f"AUC: ignore_index={shown(ignore_index)} names a class label, but without "
                             "classes the targets are yes-or-no labels; give classes (what the outputs are)")
        self.average, self.classes = average, classes
        #: with classes, what the outputs and targets are and their checks: an ``Accuracy``'s
        self.ignore_index = settings("AUC", ignore_index=ignore_index)[2]
        self.kind = None if classes is None else Accuracy(ignore_index=self.ignore_index)
        super().__init__(name)

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """Without classes, ``Metric.check``'s: targets of the outputs' shape; with classes,
        ``Accuracy.check``'s: ``(N, C)`` scores, ``C >= 2``, with labels or rows."""
        if self.kind is None:
            return super().check(y_pred, y_true)
        return self.kind.check_for(type(self).__name__, y_pred, y_true)

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        """The batch itself, ``(N, 2k + 1)``: each row's ``k`` scores, its ``k`` targets (1
        for yes, 0 for no) and its weight (AUC's totals are its samples: they do not add).
        With classes, the scores are the classes' probabilities and the targets one-hot; a
        sample of the ignored label is left out."""
        w = np.ones(len(y_pred)) if weight is None else weight
        if self.classes is None:
            return np.column_stack([y_pred.astype(np.float64), y_true > 0.5, w])
        scores = y_pred.astype(np.float64)
        if self.classes != "probabilities":  # (a softmax of log-probabilities gives them back)
            scores = np.exp(log_softmax(scores, axis=1))
        labels = y_true if y_true.ndim == 1 else np.argmax(y_true, axis=1)
        kept = slice(None) if self.ignore_index is None else labels != self.ignore_index
        truth = labels[kept, None] == np.arange(scores.shape[1])
        return np.column_stack([scores[kept], truth, w[kept]])

    def reset(self) -> None:
        self._batches = None  # (the base class's totals are not used)

    def add_totals(self, totals: NDArray[Any]) -> None:
        """Keep a copy of the batch (``totals``' rows), to be joined when the result is asked."""
        if self._batches is None:
            self._batches = []
        self._batches.append(np.array(totals, np.float64))

    def result(self) -> float:
        if not self._batches:
            return math.nan
        self._batches = [np.concatenate(self._batches)]  # (the next result starts from the join)
        return self.value(self._batches[0])

    def value(self, totals: NDArray[Any]) -> float:
        labels = (totals.shape[1] - 1) // 2
        scores, truth, w = totals[:, :labels], totals[:, labels:-1], totals[:, -1]
        if self.classes is not None and labels == 2:  # the second class against the first
            return _area(scores[:, 1], truth[:, 1], w)
        if self.average == "micro":
            return _area(scores.ravel(), truth.ravel(), np.repeat(w, labels))
        areas = np.array([_area(scores[:, j], truth[:, j], w) for j in range(labels)])
        defined = ~np.isnan(areas)
        if not defined.any():
            return math.nan
        if self.average == "weighted":
            support = w @ truth[:, defined]
            return float(areas[defined] @ support / support.sum())
        return float(areas[defined].mean())

    def config(self) -> dict[str, Any]:
        given = {"average": self.average, "classes": self.classes, "ignore_index": self.ignore_index}
        defaults = {"average": "macro", "classes": None, "ignore_index": None}
        config: dict[str, Any] = {key: value for key, value in given.items() if value != defaults[key]}
        return config if self.name == self.NAME else {**config, "name": self.name}


def _area(scores: NDArray[Any], truth: NDArray[Any], weight: NDArray[Any]) -> float:
    """The area under the ROC curve of one label's ``scores`` against ``truth`` (1 or 0),
    each sample counted ``weight`` times: the curve's points at each distinct score, from
    the highest down, joined by straight lines (a tie: a diagonal, half its pairs). NaN
    without both yes and no weight (or without a sample: every one's label ignored)."""
    if not scores.size:
        return math.nan
    order = np.argsort(-scores)  # (the order within a tie does not matter: ties are grouped)
    scores, yes = scores[order], truth[order] * weight[order]
    no = weight[order] - yes
    ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last sample of each score
    tps, fps = np.r_[0.0, np.cumsum(yes)[ends]], np.r_[0.0, np.cumsum(no)[ends]]
    if not (tps[-1] and fps[-1]):
        return math.nan
    # the rates, whatever the weights' scale (the product of weights of 1e300 overflowed, of
    # 1e-300 underflowed); the trapezoid rule: the sum np.trapezoid computes, which NumPy 1 has
    # by another name
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
