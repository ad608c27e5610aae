"""``MeanSquaredError``: the mean of ``(y_pred - y_true) ** 2``, or its root."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import flag
from .metric import Metric, mean_of, mean_totals


class MeanSquaredError(Metric):
    """The mean squared error over every output of every sample (weighted by the
    sample weights, if any), or with ``squared=False`` its square root, the RMSE.

    Args:
        squared: True (default): the mean squared error (``MSELoss``'s value, and
            scikit-learn's ``mean_squared_error``); False: its root (the root of the mean
            over every output, as Keras's ``RootMeanSquaredError``; scikit-learn's
            ``root_mean_squared_error`` averages each output's root instead).
        name: default ``"mse"``, or ``"rmse"`` when not ``squared``.

    Example:
        >>> import numpy as np, densenet as dn
        >>> dn.MeanSquaredError(squared=False)(np.array([1.0, 2.0]), np.array([4.0, 6.0]))
        3.5355339059327378
    """

    NAME = "mse"

    def __init__(self, squared: bool = True, name: str | None = None) -> None:
        self.squared = flag(squared, type(self).__name__, "squared")
        super().__init__(name if name is not None or self.squared else "rmse")

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        errors = np.square(y_pred - y_true)
        return mean_totals(errors, weight)

    def value(self, totals: NDArray[Any]) -> float:
        mean = mean_of(totals)
        return mean if self.squared else math.sqrt(mean)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {} if self.squared else {"squared": False}
        return config if self.name == ("mse" if self.squared else "rmse") else {**config, "name": self.name}
