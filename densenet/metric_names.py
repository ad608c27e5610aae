"""The metrics that ``fit`` and ``evaluate`` take by name, and their checks."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._validation import kind_given, not_a_list, reworded
from .absolute_error import MeanAbsoluteError
from .auc import AUC
from .f1 import F1Score
from .loss import Loss
from .metric import Metric
from .precision import Precision
from .r2 import R2Score
from .recall import Recall
from .squared_error import MeanSquaredError

#: A metric as ``fit`` and ``evaluate`` take it: a ``Metric`` or one of ``NAMES``.
MetricLike = Metric | str

#: The names, and what each makes for a loss and a model's number of outputs.
NAMES: dict[str, Callable[[Loss, int], Metric]] = {
    "accuracy": lambda loss, n_outputs: loss.accuracy(n_outputs),
    "auc": lambda loss, n_outputs: _auc(loss, n_outputs),
    "f1": lambda loss, n_outputs: F1Score.like(loss.accuracy(n_outputs)),
    "precision": lambda loss, n_outputs: Precision.like(loss.accuracy(n_outputs)),
    "recall": lambda loss, n_outputs: Recall.like(loss.accuracy(n_outputs)),
    "mae": lambda loss, n_outputs: MeanAbsoluteError(),
    "mse": lambda loss, n_outputs: MeanSquaredError(),
    "rmse": lambda loss, n_outputs: MeanSquaredError(squared=False),
    "r2": lambda loss, n_outputs: R2Score(),
}


def _auc(loss: Loss, n_outputs: int) -> AUC:
    """``AUC()`` for a loss whose outputs are yes-or-no labels (``Loss.accuracy`` with a
    threshold); for one whose outputs are scores of classes, each class's area against the
    others, of the outputs' softmax where the loss takes logits or log-probabilities
    (``Loss.takes``), of the outputs themselves otherwise (a regression loss on one-hot rows)."""
    accuracy = loss.accuracy(n_outputs)
    if accuracy.threshold is not None:
        return AUC()
    takes = loss.takes or ()  # (None: any real numbers, taken as they are)
    kind = next((kind for kind in ("logits", "log-probabilities") if kind in takes), "probabilities")
    return AUC(classes=kind, ignore_index=accuracy.ignore_index)


def resolved(metrics: Sequence[MetricLike], loss: Loss, n_outputs: int, owner: str) -> tuple[Metric, ...]:
    """``metrics`` as fresh ``Metric`` objects with nothing added: a name made for ``loss``
    and ``n_outputs`` outputs (``"accuracy"`` as the loss means it), a ``Metric`` copied
    (the caller's is never changed). ``TypeError``/``ValueError`` naming ``owner`` for
    anything else, an unknown name, or two metrics of one name (or named ``loss``)."""
    if isinstance(metrics, (str, Metric)) or not isinstance(metrics, Sequence):
        raise TypeError(f"{owner}: metrics must be a list of metrics (names such as 'accuracy', or "
                        f"densenet Metric objects), got {not_a_list(metrics, 'metrics', Metric)}")
    made = []
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in NAMES:
                raise ValueError(f"{owner}: unknown metric {metric!r}; the names are {sorted(NAMES)}, "
                                 "or pass a densenet Metric (such as dn.Accuracy(top_k=5))")
            try:
                made.append(NAMES[metric](loss, n_outputs))
            except (TypeError, ValueError) as error:  # (a loss with no such meaning: named by what was asked)
                raise reworded(error, f"{owner}: metric {metric!r}: {error}") from None
        elif isinstance(metric, Metric):
            fresh = copy.deepcopy(metric)
            fresh.reset()
            made.append(fresh)
        else:
            raise TypeError(f"{owner}: a metric must be a name such as 'accuracy' or a densenet Metric, "
                            f"got {kind_given(metric, with_repr=True)}")
    names = [metric.name for metric in made]
    for name in names:
        if name == "loss" or name.startswith("val_") or names.count(name) > 1:
            reason = "named twice" if names.count(name) > 1 else "a name fit records for itself"
            raise ValueError(f"{owner}: metric name {name!r} is {reason}; give one a name of its own "
                             "(name=...)")
    return tuple(made)


def check_targets(metrics: Sequence[Metric], target: NDArray[Any], n_outputs: int, dtype: DTypeLike,
                  loss: Loss, owner: str) -> None:
    """``ValueError``/``TypeError`` naming ``owner`` and the metric if one cannot score
    ``target`` (targets as ``loss.target`` returned them) against ``n_outputs`` outputs:
    ``fit`` and ``evaluate`` add their batches unchecked (``Metric.add``)."""
    outputs = np.broadcast_to(np.zeros(n_outputs, dtype), (target.shape[0], n_outputs))  # (no memory)
    for metric in metrics:
        try:
            metric.check(outputs, target)
        except (ValueError, TypeError) as error:
            raise reworded(error, f"{owner}: metric {metric!r} cannot score the targets {loss!r} takes "
                                  f"(shape {target.shape}, dtype {target.dtype}): {error}") from None
