"""``F1Score``: the harmonic mean of precision and recall, per class or label, averaged."""

from __future__ import annotations

from .counts import ClassCounts


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
    def score(tp: float, fp: float, fn: float) -> float:
        """``2 tp / (2 tp + fp + fn)``, 0 when nothing is counted."""
        denominator = 2 * tp + fp + fn
        return float(2 * tp / denominator) if denominator else 0.0
