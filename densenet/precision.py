"""``Precision``: of the samples said to be a class, the share that are, averaged."""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from .counts import ClassCounts, ratio


class Precision(ClassCounts):
    """The precision, ``tp / (tp + fp)`` of each class (or label), averaged:
    scikit-learn's ``precision_score`` (``zero_division=0``: 0 for a class never
    predicted), with its counts weighted by the sample weights, if any.

    Args:
        threshold, average, ignore_index: as ``ClassCounts`` (which classes or labels,
            and how their scores are averaged).
        name: default ``"precision"``.

    Example:
        >>> import numpy as np, densenet as dn
        >>> scores = np.eye(3)[[0, 1, 1, 2, 2, 2]]        # predicted classes 0, 1, 1, 2, 2, 2
        >>> round(dn.Precision()(scores, np.array([0, 1, 2, 2, 2, 2])), 6)   # (1 + 1/2 + 1) / 3
        0.833333
    """

    NAME = "precision"

    @staticmethod
    def score(tp: NDArray[Any], fp: NDArray[Any], fn: NDArray[Any]) -> NDArray[Any]:
        """``tp / (tp + fp)``, 0 when nothing is predicted."""
        return ratio(tp, tp + fp)
