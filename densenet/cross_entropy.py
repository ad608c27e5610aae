"""``CrossEntropyLoss``: softmax cross-entropy on logits."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import hyperparameter
from .chain import Call
from .class_loss import ClassLoss, ValueAndRows, ignoring, label_weights, minus_rows
from .log_softmax import log_softmax
from .loss import LossPlan, row_means


class CrossEntropyLoss(ClassLoss):
    r"""Softmax cross-entropy on logits, averaged over the samples (PyTorch's semantics).

    With ``log p = log_softmax(y_pred)`` along the classes:

    - integer class labels ``t`` ``(N,)``: ``L = -mean_i log p[i, t_i]``;
    - class probabilities ``T`` ``(N, C)``: ``L = -mean_i sum_c T[i, c] log p[i, c]``,
      each value in [0, 1]; a row is taken as it is, summing to 1 or not (smoothed,
      partial or several labels).

    Args:
        weight: ``(C,)`` class weights, finite and >= 0 (PyTorch's ``weight``); default
            None, every class 1. With labels each sample's loss is multiplied by its
            class's weight and the mean is over the weights,
            ``L = -sum_i w[t_i] log p[i, t_i] / sum_i w[t_i]``; with probabilities each
            term is, ``L = -mean_i sum_c w[c] T[i, c] log p[i, c]``. A batch whose
            labels all weigh 0 has a loss of 0 and a zero gradient (PyTorch's 0 / 0 is
            NaN): nothing to learn from it. In ``fit`` each batch counts in the epoch's
            loss by its labels' weights' sum (``LossPlan.share``), so that the epoch's
            loss is the data set's, ``evaluate``'s, whatever the batch size.
        label_smoothing: ``eps`` from 0 to 1 (default 0): the targets become
            ``(1 - eps) T + eps / C`` (``T`` one-hot for labels), as in PyTorch; with
            labels and weights the mean is still over the labels' weights.
        ignore_index: None (default), or a label value whose samples count for nothing,
            as PyTorch's ``ignore_index``: with labels, a sample whose label is this value
            adds nothing to the loss (smoothing included) and has a zero gradient, and the
            mean is over the other samples (over their labels' weights, with ``weight``);
            a batch whose labels are all ignored has a loss of 0 and a zero gradient
            (PyTorch's is NaN), and counts for nothing in ``fit``'s epoch loss. It may be
            any integer, a class among them; class probabilities ignore it. PyTorch's
            default is -100; densenet's is None, so that a loss that ignores nothing costs
            nothing for it per step, and a label of -100 is refused by name unless asked for.

    The log-softmax is computed stably (each row shifted by its maximum), and
    the gradient is the fused ``(softmax(y_pred) - T) / N`` for labels (``T``
    one-hot), ``(s softmax(y_pred) - T) / N`` for probabilities whose row sums
    are ``s``. Feed it the last ``Dense`` layer's output, not a ``Softmax``.

    Shape:
        - y_pred: ``(N, C)`` logits
        - y_true: ``(N,)`` integer labels in ``[0, C)``, or ``(N, C)`` probabilities in [0, 1]

    Example:
        >>> import numpy as np
        >>> loss = CrossEntropyLoss()
        >>> round(loss.forward(np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([0, 1])), 6)
        0.693147
        >>> loss.backward()
        array([[-0.25,  0.25],
               [ 0.25, -0.25]])
    """

    probabilities = True
    what = "logits"
    takes = ("logits", "log-probabilities")  # (a LogSoftmax's outputs: their softmax is the probabilities)

    def __init__(self, weight: ArrayLike | None = None, ignore_index: int | None = None,
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index)
        self._label_smoothing = hyperparameter(label_smoothing, "CrossEntropyLoss", "label_smoothing",
                                               high=1.0)

    @property
    def label_smoothing(self) -> float:
        """The share of each target spread evenly over the classes (fixed: plans read it)."""
        return self._label_smoothing

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        n, classes = y_pred.shape
        dtype = y_pred.dtype
        logp, exp, row = np.zeros_like(y_pred), np.zeros_like(y_pred), np.zeros((n, 1), dtype)
        forward: list[Call] = [partial(log_softmax, y_pred, logp, exp, row)]
        scale = np.array(1.0 / n, dtype)
        smoothing, labels = self.label_smoothing, y_true if y_true.ndim == 1 else None
        # over labels a mean over their weights (``label_weights_in``); over class
        # probabilities PyTorch's mean over n, whose value the weights' scale is part of
        weight = (self.label_weights_in(dtype) if labels is not None
                  else None if self.weight is None else self.weight.astype(dtype))
        # the gradient: softmax - T, over n; softmax = exp(log p)
        backward: list[Call] = [partial(np.exp, logp, grad)]
        ignored = None
        if labels is not None and self.ignore_index is not None:
            ignored = np.zeros(n, bool)
            y_true = labels = ignoring(labels, ignored, self.ignore_index, forward)
        # what the mean is over: the labels' class weights, or while labels may be ignored,
        # the labels not ignored (each weighing 1)
        label_weight = np.ones(classes, dtype) if weight is None and ignored is not None else weight
        # their sum (a batch's share in fit's epoch loss), set in the forward pass
        share, weight_sum = None, np.zeros((), dtype)
        if labels is not None and label_weight is not None:
            share = partial(float, weight_sum)
        if labels is not None and not smoothing:
            flat_logp, flat_grad = logp.reshape(-1), grad.reshape(-1)
            index, picked = np.zeros(n, np.intp), np.zeros(n, dtype)
            offsets = np.arange(n) * classes
            # take's mode "clip" (its axis, out, mode): with "raise" NumPy copies the output
            # on every call; the labels were checked when they came in, so no index clips
            forward += [partial(np.add, offsets, y_true, index),
                        partial(np.take, flat_logp, index, None, picked, "clip")]

            def value() -> float:
                return -float(picked.sum()) / n

            rows: Callable[[NDArray[Any]], object] = partial(np.negative, picked)

            one = np.ones((), dtype)
            at_label = np.zeros(n, dtype)
            backward += [partial(np.take, flat_grad, index, None, at_label, "clip"),
                         partial(np.subtract, at_label, one, at_label),
                         partial(np.put, flat_grad, index, at_label)]
            if label_weight is not None:
                value, rows = _weigh_labels(label_weight, y_true, picked, (scale, weight_sum), forward,
                                            backward, grad, ignored)
        else:
            if smoothing:
                y_true = _smoothed(y_true, classes, smoothing, forward, y_pred, ignored)
            if weight is not None:  # w[c] T[i, c] in place of T, in the value and the gradient
                weighted_target, columns = np.zeros_like(y_pred), np.tile(weight, (n, 1))
                forward.append(partial(np.multiply, y_true, columns, weighted_target))
                y_true = weighted_target
            product = np.zeros_like(y_pred)
            forward.append(partial(np.multiply, y_true, logp, product))

            def value() -> float:
                return -float(product.sum()) / n

            rows = row_means(product, -float(classes))  # minus each row's sum

            # a row of T summing to s has the gradient s softmax - T (PyTorch takes the rows
            # as they are); the row sums (add.reduce's axis, dtype, out, keepdims) are spread
            # before the product (see ``log_softmax``)
            total, spread = np.zeros((n, 1), dtype), np.zeros_like(y_pred)
            backward += [partial(np.add.reduce, y_true, 1, None, total, True),
                         partial(np.copyto, spread, total), partial(np.multiply, grad, spread, grad),
                         partial(np.subtract, grad, y_true, grad)]
            if labels is not None and label_weight is not None:  # smoothed labels: the mean over weights
                value, rows = _overlabel_weights(label_weight, labels, product, (scale, weight_sum), forward,
                                                  ignored)
        backward.append(partial(np.multiply, grad, scale, grad))
        return LossPlan(forward, value, backward, rows, share)

    def repr_args(self) -> list[str]:
        return super().repr_args() + (
            [f"label_smoothing={self.label_smoothing!r}"] if self.label_smoothing else [])


def _weigh_labels(weight: NDArray[Any], labels: NDArray[Any], picked: NDArray[Any],
                  mean: tuple[NDArray[Any], NDArray[Any]], forward: list[Call], backward: list[Call],
                  grad: NDArray[Any], ignored: NDArray[np.bool_] | None) -> ValueAndRows:
    """The labels' plan weighted by class: each sample's picked log-probability times its
    label's weight (``forward``; 0 for the samples ``ignored`` marks, if not None), the
    gradient rows times it and the mean over the weights' sum instead of ``n`` (``mean``:
    ``scale`` and the sum, see ``label_weights``); returns the value and the rows
    (``n w[t_i] l_i / sum w[t]``, whose mean is the value)."""
    n, spread, scale = len(labels), np.zeros_like(grad), mean[0]
    of_label = label_weights(weight, labels, mean, forward, ignored)
    if ignored is not None:  # (an ignored sample's log-probability may be -inf: not 0 * -inf)
        forward.append(partial(np.copyto, picked, np.zeros((), picked.dtype), "no", ignored))
    forward.append(partial(np.multiply, picked, of_label, picked))
    backward += [partial(np.copyto, spread, of_label.reshape(n, 1)), partial(np.multiply, grad, spread, grad)]

    def value() -> float:
        return -float(picked.sum()) * float(scale)

    return value, partial(minus_rows, picked, scale)


def _smoothed(target: NDArray[Any], classes: int, smoothing: float, forward: list[Call],
              like: NDArray[Any], ignored: NDArray[np.bool_] | None) -> NDArray[Any]:
    """An array the ``forward`` calls fill with ``(1 - eps) T + eps / C``, ``T`` the class
    probabilities ``target`` or the one-hot rows of the labels ``target``, the rows of the
    labels ``ignored`` marks (if not None) zeros; returns it."""
    dtype, n = like.dtype, len(like)
    smoothed = np.zeros_like(like)
    low = np.full((), smoothing / classes, dtype)
    if target.ndim == 2:
        forward += [partial(np.multiply, target, np.full((), 1.0 - smoothing, dtype), smoothed),
                    partial(np.add, smoothed, low, smoothed)]
        return smoothed
    high = np.full((), 1.0 - smoothing + smoothing / classes, dtype)
    index, offsets = np.zeros(n, np.intp), np.arange(n) * classes
    forward += [partial(np.copyto, smoothed, low), partial(np.add, offsets, target, index),
                partial(np.put, smoothed.ravel(), index, high)]
    if ignored is not None:  # (the rows marked spread over the classes first: see ``log_softmax``)
        rows = np.zeros(like.shape, bool)
        forward += [partial(np.copyto, rows, ignored.reshape(n, 1)),
                    partial(np.copyto, smoothed, np.zeros((), dtype), "no", rows)]
    return smoothed


def _overlabel_weights(weight: NDArray[Any], labels: NDArray[Any], product: NDArray[Any],
                        mean: tuple[NDArray[Any], NDArray[Any]], forward: list[Call],
                        ignored: NDArray[np.bool_] | None) -> ValueAndRows:
    """For smoothed labels with class weights (or some ``ignored``): the mean over the labels'
    weights' sum instead of ``n`` (``mean``: see ``label_weights``); returns the value and
    the rows (``n`` times each row's loss over that sum)."""
    scale = mean[0]
    label_weights(weight, labels, mean, forward, ignored)

    def value() -> float:
        return -float(product.sum()) * float(scale)

    def rows(out: NDArray[Any]) -> None:
        np.add.reduce(product, 1, out=out)
        minus_rows(out, scale, out)

    return value, rows
