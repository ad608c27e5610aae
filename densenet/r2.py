"""``R2Score``: the coefficient of determination."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .metric import Metric


class R2Score(Metric):
    """The coefficient of determination, ``1 - sum(w (y - y_pred)**2) / sum(w (y - mean_w(y))**2)``
    for each output, averaged over the outputs: scikit-learn's ``r2_score`` (its
    defaults: ``multioutput="uniform_average"``, ``force_finite=True``: an output whose
    targets are all equal scores 1 when predicted exactly, else 0).

    The batches' sums are combined as counts, means and sums of squared deviations
    (Chan, Golub and LeVeque's pairwise update, each mean kept as a first target plus an
    offset from it), so that a large offset in the targets costs no precision; the result
    equals ``r2_score`` of all the batches at once to rounding. Targets all equal are found
    exactly, whatever their value: three of 0.1 predicted 0.1, 0.1 and 0.2 score 0, where
    ``r2_score``, whose mean of them rounds off 0.1, divides by that rounding (-1.7e31). NaN
    while no sample (with weight) has been added; unlike ``r2_score``, which gives NaN for one
    sample, a single sample counts as targets all equal.

    Example:
        >>> import numpy as np, densenet as dn
        >>> dn.R2Score()(np.array([2.5, 0.0, 2.0, 8.0]), np.array([3.0, -0.5, 2.0, 7.0]))
        0.9486081370449679
    """

    NAME = "r2"
    greater_is_better = True

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        y, errors = y_true.astype(np.float64), y_pred.astype(np.float64) - y_true
        w = np.ones(y.shape[0]) if weight is None else weight
        total = float(w.sum())
        shift = y[0]  # the mean as shift + offset: the offset keeps its digits beside a large shift
        offset = w @ (y - shift) / total if total else np.zeros(y.shape[1])
        squares = w @ np.square((y - shift) - offset)
        return np.concatenate(([total], shift, offset, squares, w @ np.square(errors)))

    def combine(self, a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
        k = len(a) // 4  # (1 + 4 k values)
        na, shift, offset_a, m2_a, res_a = _parts(a, k)
        nb, shift_b, offset_b, m2_b, res_b = _parts(b, k)
        n = na + nb
        if not n:  # (no weight on either side: nothing counted yet)
            return a
        delta = (shift_b - shift) + (offset_b - offset_a)  # (shifts alike: their difference is exact)
        offset = offset_a + delta * (nb / n)
        squares = m2_a + m2_b + delta * delta * (na * (nb / n))  # (na nb under- or overflows)
        return np.concatenate(([n], shift, offset, squares, res_a + res_b))

    def value(self, totals: NDArray[Any]) -> float:
        n, _, _, squares, residuals = _parts(totals, len(totals) // 4)
        if not n > 0:
            return math.nan
        scores = np.where(squares > 0, 1 - residuals / np.where(squares > 0, squares, 1.0),
                          np.where(residuals > 0, 0.0, 1.0))
        return float(scores.mean())


def _parts(totals: NDArray[Any], k: int) -> tuple[float, NDArray[Any], NDArray[Any], NDArray[Any],
                                                 NDArray[Any]]:
    """A total's weight sum; the targets' means as a shift (a first target) and an offset
    from it; their squared deviations' sums; the squared errors' sums (``k`` outputs each)."""
    return (float(totals[0]), totals[1:1 + k], totals[1 + k:1 + 2 * k], totals[1 + 2 * k:1 + 3 * k],
            totals[1 + 3 * k:])
