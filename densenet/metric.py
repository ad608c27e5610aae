"""The ``Metric`` protocol: a score of a model's outputs, added up over batches.

A metric measures what a loss does not say plainly: the share of right answers, the
mean absolute error, R². ``fit(..., metrics=[...])`` records it for every epoch, on the
training batches (each batch's outputs as its step computed them, before the update,
averaged over the epoch as the loss is) and on the validation data (``val_`` in front
of its name); ``evaluate(..., metrics=[...])`` on a data set. ``History``, the
callbacks' ``logs`` and the monitors (``EarlyStopping``, ``ModelCheckpoint``,
``ReduceLROnPlateau``) know it by its ``name``, and whether higher is better by its
``greater_is_better``.

What a user calls:

- ``update(y_pred, y_true, sample_weight=None)``: add a batch;
- ``result()``: the metric of everything added since the last ``reset()``;
- ``metric(y_pred, y_true, sample_weight=None)``: one batch's metric on its own (what
  was added is left as it was).

What a subclass defines: ``totals(y_pred, y_true, weight)``, a batch's sums as a short
float64 vector (for a mean of per-sample scores, ``mean_totals``: the weighted sum of
the scores and the sum of the weights; of one shape for every batch); ``value(totals)``,
the metric of added-up totals; and, if its totals do not simply add, ``combine(a, b)``,
which returns the totals of both. A metric that needs
every sample at once (``AUC``: it sorts them) keeps its batches itself, in place of
totals (``add_totals``, ``result``, ``reset``). ``check`` says which targets it takes;
``fit`` and ``evaluate`` pass the targets the loss checked (``Loss.target``: class
labels as integers for ``CrossEntropyLoss``), unchecked.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import as_numeric, real_number, sample_weights


def quiet() -> AbstractContextManager[Any]:  # (np.errstate is generic in NumPy 1's stubs only)
    """Where a metric computes: finite outputs may still overflow its arithmetic (squared
    errors of 1e200), whose value is then what it makes (inf, or NaN from inf - inf), as in
    ``fit``'s steps, without a warning; what underflows is 0 or subnormal, whatever
    ``np.seterr`` says (``backend.underflow_ignored``)."""
    return np.errstate(over="ignore", invalid="ignore", under="ignore")


def reported(metric: Metric) -> float:
    """``metric.result()`` as a Python float, what ``fit`` records and ``evaluate``
    returns: a real number of Python's or NumPy's (a 0-d array too); ``TypeError``
    naming the metric for anything else (a metric of one's own returning None or a
    string), which would be recorded as NaN or fail a conversion without its name."""
    value = metric.result()
    number = real_number(value)
    if number is not None:
        return number
    raise TypeError(f"metric {metric.name!r} ({type(metric).__name__}) gave {value!r} as its result, "
                    "not a real number: value(totals) (or result()) must return a float")


class Metric:
    """Base class of the metrics: see the module docstring for the protocol.

    Args:
        name: what ``fit`` records it as (``History``, ``logs``, monitors); default the
            class's ``NAME``.
    """

    #: The name it is recorded under unless one is given.
    NAME = "metric"

    #: Whether a higher value is better (accuracy, R²) or a lower one (errors): what the
    #: monitors' ``mode="auto"`` goes by.
    greater_is_better = False

    #: the totals of the batches added since the last reset (None: none yet)
    _totals: NDArray[Any] | None = None

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not (isinstance(name, str) and name):
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = self.NAME if name is None else name

    # -- what a subclass defines -------------------------------------------------------

    def totals(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
        """A batch's sums (a 1-D float64 array) for checked arrays; ``weight`` ``(N,)``
        each sample's weight, or None (each counts 1)."""
        raise TypeError(f"{type(self).__name__} does not define totals(y_pred, y_true, weight): "
                        "a Metric must")

    def value(self, totals: NDArray[Any]) -> float:
        """The metric of ``totals`` (NaN when no sample counted)."""
        raise TypeError(f"{type(self).__name__} does not define value(totals): a Metric must")

    def combine(self, a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
        """The totals of two sets of batches, ``a`` (which it may write into: the running
        totals) and ``b``: ``a + b``, added into ``a`` (a metric whose totals do not simply
        add overrides it)."""
        return np.add(a, b, out=a)

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``update``'s arguments checked: finite real numbers, ``y_pred`` ``(N, k)`` or
        ``(N,)`` (one column), ``y_true`` of exactly its shape; as 2-D float arrays."""
        return same_shape(outputs(y_pred, type(self).__name__), y_true, type(self).__name__)

    # -- what a user calls ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget every batch added."""
        self._totals = None

    def update(self, y_pred: ArrayLike, y_true: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        """Add a batch: outputs ``y_pred``, targets ``y_true`` (see ``check``) and, if given,
        ``sample_weight`` ``(N,)`` (finite, >= 0: sample ``i`` counts ``w_i`` times)."""
        self.add(*self.checked(y_pred, y_true, sample_weight))

    def result(self) -> float:
        """The metric of every batch added since the last ``reset`` (NaN if none was, or
        no sample counted)."""
        if self._totals is None:
            return math.nan
        with quiet():
            return self.value(self._totals)

    def __call__(self, y_pred: ArrayLike, y_true: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """The metric of this batch alone; what ``update`` added is left as it was."""
        checked = self.checked(y_pred, y_true, sample_weight)
        with quiet():
            return self.value(self._numbers(self.totals(*checked), "totals"))

    def add(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None) -> None:
        """``update`` for arrays already checked (``fit``'s and ``evaluate``'s)."""
        with quiet():
            self.add_totals(self._numbers(self.totals(y_pred, y_true, weight), "totals"))

    def add_totals(self, totals: NDArray[Any]) -> None:
        """Add a batch's ``totals`` (``totals``'s result; not kept: it may be reused), of
        the running totals' shape; ``combine`` must return the totals of both."""
        running = self._totals
        if running is None:
            self._totals = np.array(totals, np.float64)
            return
        self._same_shape(totals, running, "totals")
        combined = self._numbers(self.combine(running, totals), "combine")
        self._totals = self._same_shape(combined, running, "combine")

    def _numbers(self, totals: object, method: str) -> NDArray[Any]:
        """What a subclass's ``method`` returned, as an array of real numbers; ``TypeError``
        naming the metric for anything else (a metric of one's own returning None, a
        string, ragged lists; a ``combine`` that adds into ``a`` and returns nothing)."""
        try:
            array: NDArray[Any] | None = np.asarray(totals)
        except ValueError:  # (ragged lists)
            array = None
        if array is None or array.dtype.kind not in "biuf":
            hint = " (write them into a and return it)" if method == "combine" else ""
            raise TypeError(f"metric {self.name!r} ({type(self).__name__}): {method}() returned {totals!r}, "
                            f"not {'the totals of both' if hint else 'an array of numbers'}{hint}")
        return array

    def _same_shape(self, totals: NDArray[Any], running: NDArray[Any], method: str) -> NDArray[Any]:
        if totals.shape != running.shape:
            raise ValueError(f"metric {self.name!r} ({type(self).__name__}): {method}() returned shape "
                             f"{totals.shape}, but the totals so far have shape {running.shape}: "
                             "a metric's totals keep one shape")
        return totals

    def checked(self, y_pred: ArrayLike, y_true: ArrayLike,
                sample_weight: ArrayLike | None) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
        """``check``'s arrays and the weights checked against their rows."""
        y_pred, y_true = self.check(y_pred, y_true)
        weight = (None if sample_weight is None
                  else sample_weights(sample_weight, y_pred.shape[0], np.float64,
                                      f"{type(self).__name__}: sample_weight", some=False))
        return y_pred, y_true, weight

    def config(self) -> dict[str, Any]:
        """Its constructor arguments (for ``repr``)."""
        return {} if self.name == self.NAME else {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def mean_totals(scores: NDArray[Any], weight: NDArray[Any] | None) -> NDArray[Any]:
    """The totals of a mean of per-sample ``scores``: ``[sum(w s), sum(w)]``; ``scores``
    ``(N,)``, or ``(N, k)`` of which each sample scores its row's mean."""
    if scores.ndim == 2:
        scores = scores.mean(axis=1) if scores.shape[1] > 1 else scores[:, 0]  # (one column: itself)
    if weight is None:
        return np.array([np.sum(scores, dtype=np.float64), scores.shape[0]])
    return np.array([np.dot(scores.astype(np.float64), weight), np.sum(weight, dtype=np.float64)])


def mean_of(totals: NDArray[Any]) -> float:
    """The mean that ``mean_totals`` added up: NaN when the weights sum to 0."""
    return float(totals[0] / totals[1]) if totals[1] else math.nan


def outputs(y_pred: ArrayLike, owner: str) -> NDArray[Any]:
    """``y_pred`` checked: finite floats (float32 stays float32, anything else becomes
    float64), 1-D or 2-D; ``ValueError`` naming ``owner`` otherwise."""
    dtype = getattr(y_pred, "dtype", None)
    array = as_numeric(y_pred, f"{owner}: y_pred", dtype if dtype in (np.float32, np.float64) else np.float64)
    if array.ndim not in (1, 2):
        raise ValueError(f"{owner}: y_pred must be (n_samples, n_outputs) or (n_samples,), "
                         f"got shape {array.shape}")
    return array


def same_shape(y_pred: NDArray[Any], y_true: ArrayLike, owner: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """``y_true`` checked against ``y_pred`` (``outputs``' answer): finite numbers of exactly
    its shape, both as 2-D arrays of its dtype; ``ValueError`` naming ``owner`` otherwise."""
    y_true = as_numeric(y_true, f"{owner}: y_true", y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{owner}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
                         "they must match exactly")
    return as_columns(y_pred), as_columns(y_true)


def as_columns(array: NDArray[Any]) -> NDArray[Any]:
    """A 1-D array as one column."""
    return array[:, None] if array.ndim == 1 else array
