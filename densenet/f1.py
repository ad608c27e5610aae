"""``F1Score``: the harmonic mean of precision and recall, per class or label, averaged."""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from .counts import ClassCounts, ratio


class F1Score(ClassCounts):
    """The F1 score, ``2 tp / (2 tp + fp + fn)`` of each class (or label), averaged:
    scikit-learn's ``f1_score`` (``zero_division=0``), with its counts weighted by the
    sample weights, if any. For unbalanced classes, where accuracy says little.

    Args:
        threshold, average, ignore_index: as ``ClassCounts`` (which classes or labels,
            and how their scores are averaged).
        name: default ``"f1"``.

    Example:
        >>> import numpy as np, densenet as dn
        >>> scores = np.eye(3)[[0, 1, 1, 2, 2, 2]]        # predicted classes 0, 1, 1, 2, 2, 2
        >>> round(dn.F1Score()(scores, np.array([0, 1, 2, 2, 2, 0])), 6)
        0.666667
    """

    NAME = "f1"

    @staticmethod
    def score(tp: NDArray[Any], fp: NDArray[Any], fn: NDArray[Any]) -> NDArray[Any]:
        """``2 tp / (2 tp + fp + fn)``, 0 when nothing is counted."""
        return ratio(2 * tp, 2 * tp + fp + fn)
