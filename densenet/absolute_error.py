"""``MeanAbsoluteError``: the mean of ``|y_pred - y_true|``."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .metric import Metric, mean_of, mean_totals


class MeanAbsoluteError(Metric):
    """The mean absolute error over every output of every sample (weighted by the
    sample weights, if any): scikit-learn's ``mean_absolute_error`` (its default
    ``multioutput="uniform_average"``).

    Example:
        >>> import numpy as np, densenet as dn
        >>> dn.MeanAbsoluteError()(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.5, 2.0], [2.0, 4.0]]))
        0.375
    """

    NAME = "mae"

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        errors = np.abs(y_pred - y_true)
        return mean_totals(errors, weight)

    def value(self, totals: NDArray[Any]) -> float:
        return mean_of(totals)
