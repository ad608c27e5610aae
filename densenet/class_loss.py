"""``ClassLoss``: the base of the losses on class labels (``CrossEntropyLoss``, ``NLLLoss``):
their class weights, ignored label, target checks, and the calls their plans share."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._validation import (
    as_array,
    as_numeric,
    first_outside,
    not_integer_labels,
    positive_int,
    unit_interval,
    weight_vector,
)
from .accuracy import Accuracy
from .chain import Call
from .loss import Loss

#: A plan's value and its per-sample losses (``LossPlan.value``, ``LossPlan.rows``).
ValueAndRows = tuple[Callable[[], float], Callable[[NDArray[Any]], object]]


class ClassLoss(Loss):
    """A loss on ``(N, C)`` scores of ``C`` classes against integer class labels ``(N,)``
    (and, where ``probabilities``, class probabilities ``(N, C)``), with PyTorch's
    ``weight`` (one per class) and ``ignore_index`` (a label that counts for nothing).
    The subclass plans the loss; ``what`` names its scores in messages."""

    #: whether class probabilities ``(N, C)`` are targets too
    probabilities: ClassVar[bool] = False
    #: what ``y_pred`` holds, for messages
    what: ClassVar[str] = "scores"
    #: (a loss pickled before ``ignore_index`` existed ignores nothing)
    _ignore_index: int | None = None

    def __init__(self, weight: ArrayLike | None = None, ignore_index: int | None = None) -> None:
        name = type(self).__name__
        self._weight = None if weight is None else weight_vector(weight, "weight", name,
                                                                 "one weight per class, a 1-D array (C,)")
        self._ignore_index = None if ignore_index is None else positive_int(
            ignore_index, f"{name}: ignore_index", "an integer or None", low=-sys.maxsize - 1)
        if self._ignore_index is not None and self._ignore_index > sys.maxsize:
            raise ValueError(f"{name}: ignore_index {ignore_index} is beyond every label (the largest "
                             f"index is {sys.maxsize})")

    def accuracy(self, n_outputs: int) -> Accuracy:
        """Each output a class's score: right when the highest is the label's (or the
        target row's largest entry's); a label equal to ``ignore_index`` counts for nothing."""
        return Accuracy(ignore_index=self.ignore_index)

    @property
    def ignore_index(self) -> int | None:
        """The label whose samples are ignored, or None (fixed: plans read it)."""
        return self._ignore_index

    @property
    def weight(self) -> NDArray[Any] | None:
        """The class weights ``(C,)`` (a read-only float64 array), or None (fixed: plans read them)."""
        return self._weight

    def label_weights_in(self, dtype: DTypeLike) -> NDArray[Any] | None:
        """The class weights for a mean over the labels' weights, in ``dtype``, or None: times
        the power of two that brings the largest to [0.5, 1). Such a mean depends on their
        ratios alone and the scaling is exact, so it computes the same bits as the weights as
        given wherever these fit the dtype, and weights that do not (1e300 or 1e-300 in
        float32, which overflowed to inf, a divergence blamed on the learning rate, or
        underflowed to 0, as if no label weighed anything) weigh as their ratios say."""
        if self._weight is None:
            return None
        largest = float(self._weight.max())
        with np.errstate(under="ignore"):  # (a weight 2**1022 times below the largest: subnormal)
            unit = self._weight if largest == 0.0 else np.ldexp(self._weight, -math.frexp(largest)[1])
            return unit.astype(dtype)

    def target(self, y: ArrayLike, n_outputs: int, dtype: DTypeLike, name: str = "y") -> NDArray[Any]:
        """Integer labels ``(N,)`` in ``[0, n_outputs)`` or equal to ``ignore_index`` (as
        ``intp``), or where ``probabilities``, class probabilities ``(N, n_outputs)`` (as ``dtype``)."""
        owner = type(self).__name__
        if self.weight is not None and len(self.weight) != n_outputs:
            raise ValueError(f"{owner}: weight has {len(self.weight)} class weights, but the model has "
                             f"{n_outputs} outputs (classes)")
        array = as_array(y, name)
        if array.ndim == 1:
            return class_labels(array, n_outputs, name, owner, self.ignore_index, self.probabilities)
        if self.probabilities and array.ndim == 2 and array.shape[1] == n_outputs:
            return unit_interval(as_numeric(array, name, dtype), name, owner)
        rule = (f"integer class labels (n_samples,) or class probabilities (n_samples, {n_outputs})"
                if self.probabilities else "integer class labels (n_samples,)")
        hint = ("; for class probabilities use CrossEntropyLoss on the logits"
                if not self.probabilities and array.ndim == 2 else "")
        raise ValueError(f"{owner}: {name} has shape {array.shape}; it must be {rule}{hint}")

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        owner, dtype = type(self).__name__, getattr(y_pred, "dtype", None)
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
        y_pred = as_numeric(y_pred, f"{owner}: y_pred", dtype)
        if y_pred.ndim != 2:
            raise ValueError(f"{owner}: y_pred must be 2-D {self.what} (n_samples, n_classes), "
                             f"got shape {y_pred.shape}")
        y_true = as_array(y_true, f"{owner}: y_true")  # (forward is what the user called: it names the loss)
        y_true = self.target(y_true, y_pred.shape[1], y_pred.dtype, "y_true")
        if len(y_true) != len(y_pred):
            raise ValueError(f"{owner}: y_pred has {len(y_pred)} rows but y_true has {len(y_true)}")
        return self.pred_values(y_pred, "y_pred"), y_true

    def repr_args(self) -> list[str]:
        """The settings ``repr`` shows: those that are not the defaults."""
        return ([] if self.weight is None else [f"weight={self.weight.tolist()}"]) + (
            [] if self.ignore_index is None else [f"ignore_index={self.ignore_index}"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.repr_args())})"


def class_labels(array: NDArray[Any], classes: int, name: str, owner: str, ignore_index: int | None,
                 probabilities: bool) -> NDArray[Any]:
    """``array`` (the targets named ``name``) as ``intp`` class labels for ``classes``
    classes: integers in ``[0, classes)`` or equal to ``ignore_index`` (if not None);
    else ``TypeError`` (not integers; ``probabilities``: saying how class probabilities
    are passed) or ``ValueError`` (empty, or the first label outside) naming ``owner``."""
    if array.dtype.kind not in "iu":
        raise not_integer_labels(array, name, owner, classes if probabilities else None)
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    bad = first_outside(array, classes, ignore_index)
    if bad is not None:
        ignored = ("" if ignore_index is None else f" and is not ignore_index {ignore_index}")
        hint = (f"; PyTorch's {owner} ignores -100 by default: pass ignore_index=-100 for that"
                if ignore_index is None and bad == -100 else
                "; one output is a yes-or-no classifier: BCEWithLogitsLoss on 0/1 targets, or a model with "
                "an output per class" if classes == 1 else "")
        raise ValueError(f"{owner}: class label {bad} in {name} is outside [0, {classes})"
                         f"{ignored} for a model with {classes} outputs{hint}")
    return array.astype(np.intp, copy=False)


def ignoring(labels: NDArray[Any], ignored: NDArray[np.bool_], ignore_index: int,
             forward: list[Call]) -> NDArray[Any]:
    """Add to ``forward`` the calls that mark in ``ignored`` the labels equal to
    ``ignore_index`` and copy the labels into an array (returned) with those made 0: an
    ignored sample's gathers stay in its own row, and its weight is made 0 where the
    label weights are gathered (``label_weights``)."""
    kept = np.zeros_like(labels)
    forward += [partial(np.equal, labels, np.array(ignore_index, labels.dtype), ignored),
                partial(np.copyto, kept, labels),
                partial(np.copyto, kept, np.zeros((), kept.dtype), "no", ignored)]
    return kept


def minus_rows(values: NDArray[Any], scale: NDArray[Any], out: NDArray[Any]) -> None:
    """``out = -n * values * scale`` (``n`` the rows of ``out``, ``scale`` ``label_weights``'s
    1 over the labels' weights' sum): each sample's share of the mean over that sum, the
    ``LossPlan.rows`` of the losses weighted by label. The two factors are applied apart: of
    labels that weigh nothing the sum is taken as the smallest normal number, and ``n`` over
    it overflows (0 times it would be NaN) where each factor alone does not."""
    np.multiply(values, -float(scale), out=out)
    np.multiply(out, len(out), out=out)


def label_weights(weight: NDArray[Any], labels: NDArray[Any], mean: tuple[NDArray[Any], NDArray[Any]],
                  forward: list[Call], ignored: NDArray[np.bool_] | None) -> NDArray[Any]:
    """Add to ``forward`` the calls that gather each label's class weight into an array (returned;
    0 where ``ignored``, if not None), write their sum into ``mean[1]`` and set ``mean[0]``
    (``scale``) to 1 over it: the mean over the labels' weights instead of ``n``. Labels that
    all weigh 0 (all ignored) have a loss of 0 and a zero gradient, not 0 / 0: the sum is
    taken at least as the dtype's smallest normal number for the division."""
    scale, total = mean
    dtype = scale.dtype
    of_label, floor, one = np.zeros(len(labels), dtype), np.zeros((), dtype), np.ones((), dtype)
    forward.append(partial(np.take, weight, labels, None, of_label, "clip"))
    if ignored is not None:
        forward.append(partial(np.copyto, of_label, np.zeros((), dtype), "no", ignored))
    smallest = np.full((), np.finfo(dtype).tiny, dtype)
    forward += [partial(np.add.reduce, of_label, None, None, total),
                partial(np.maximum, total, smallest, out=floor), partial(np.divide, one, floor, scale)]
    return of_label
