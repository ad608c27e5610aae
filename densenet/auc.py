"""``AUC``: the area under the ROC curve of yes-or-no labels, exact, over every batch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

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
        name: default ``"auc"``.

    The area is exact: the metric keeps each sample's scores, targets and weight (``2k + 1``
    numbers for ``k`` labels) until ``reset``, and sorts them when asked for its result,
    rather than counting them at fixed thresholds. A label whose samples are all yes or
    all no has no area: it is left out of the average (scikit-learn's raises an error),
    and the result is NaN when no label has one.

    Example:
        >>> import numpy as np, densenet as dn
        >>> dn.AUC()(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.0, 0.0, 1.0, 1.0]))
        0.75
    """

    NAME = "auc"
    greater_is_better = True

    #: the batches added since the last reset: each a ``totals`` array
    _batches: list[NDArray[Any]] | None = None

    def __init__(self, average: str = "macro", name: str | None = None) -> None:
        if average not in AVERAGES:
            raise ValueError(f"AUC: average must be one of {AVERAGES}, got {average!r}")
        self.average = average
        super().__init__(name)

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        """The batch itself, ``(N, 2k + 1)``: each row's ``k`` scores, its ``k`` targets (1
        for yes, 0 for no) and its weight (AUC's totals are its samples: they do not add)."""
        w = np.ones(len(y_pred)) if weight is None else weight
        return np.column_stack([y_pred.astype(np.float64), y_true > 0.5, w])

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
        config: dict[str, Any] = {} if self.average == "macro" else {"average": self.average}
        return config if self.name == self.NAME else {**config, "name": self.name}


def _area(scores: NDArray[Any], truth: NDArray[Any], weight: NDArray[Any]) -> float:
    """The area under the ROC curve of one label's ``scores`` against ``truth`` (1 or 0),
    each sample counted ``weight`` times: the curve's points at each distinct score, from
    the highest down, joined by straight lines (a tie: a diagonal, half its pairs). NaN
    without both yes and no weight."""
    order = np.argsort(-scores)  # (the order within a tie does not matter: ties are grouped)
    scores, yes = scores[order], truth[order] * weight[order]
    no = weight[order] - yes
    ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last sample of each score
    tps, fps = np.r_[0.0, np.cumsum(yes)[ends]], np.r_[0.0, np.cumsum(no)[ends]]
    pairs = tps[-1] * fps[-1]  # the weight of the (yes, no) pairs: 0 without both
    # the trapezoid rule: the sum np.trapezoid computes, which NumPy 1 has by another name
    area = np.sum(np.diff(fps) * (tps[1:] + tps[:-1]) / 2.0)
    return float(area / pairs) if pairs else math.nan
