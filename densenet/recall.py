"""``Recall``: of the samples of a class, the share said to be it, averaged."""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from .counts import ClassCounts, ratio


class Recall(ClassCounts):
    """The recall, ``tp / (tp + fn)`` of each class (or label), averaged: scikit-learn's
    ``recall_score`` (``zero_division=0``: 0 for a class never the target), with its
    counts weighted by the sample weights, if any. Macro recall is the balanced accuracy.

    Args:
        threshold, average, ignore_index: as ``ClassCounts`` (which classes or labels,
            and how their scores are averaged).
        name: default ``"recall"``.

    Example:
        >>> import numpy as np, densenet as dn
        >>> scores = np.eye(3)[[0, 1, 1, 2, 2, 2]]        # predicted classes 0, 1, 1, 2, 2, 2
        >>> round(dn.Recall()(scores, np.array([0, 1, 2, 2, 2, 2])), 6)      # (1 + 1 + 3/4) / 3
        0.916667
    """

    NAME = "recall"

    @staticmethod
    def score(tp: NDArray[Any], fp: NDArray[Any], fn: NDArray[Any]) -> NDArray[Any]:
        """``tp / (tp + fn)``, 0 when no sample is of the class."""
        return ratio(tp, tp + fn)
