"""``NLLLoss``: the negative log-likelihood of class labels, on log-probabilities."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .chain import Call
from .class_loss import ClassLoss, ignoring, label_weights, minus_rows
from .loss import LossPlan


class NLLLoss(ClassLoss):
    r"""The negative log-likelihood of integer class labels, averaged over the samples
    (PyTorch's ``NLLLoss``, ``reduction="mean"``): ``L = -mean_i y_pred[i, t_i]``.

    ``y_pred`` holds log-probabilities, the output of ``LogSoftmax``: the two together
    are ``CrossEntropyLoss`` on the logits (PyTorch's ``log_softmax`` then ``nll_loss``),
    which also takes class probabilities and label smoothing; this one serves models and
    recipes written that way, and a model whose outputs are log-probabilities. Any real
    scores are taken as they are. The gradient is ``-1 / N`` at each sample's label and 0
    elsewhere.

    Args:
        weight: ``(C,)`` class weights, finite and >= 0 (PyTorch's ``weight``); default
            None, every class 1. Each sample's term is multiplied by its label's weight
            and the mean is over the weights, ``L = -sum_i w[t_i] y_pred[i, t_i] / sum_i
            w[t_i]``; a batch whose labels all weigh 0 has a loss of 0 and a zero gradient
            (PyTorch's 0 / 0 is NaN), and in ``fit`` each batch counts in the epoch's loss
            by its labels' weights' sum, as ``CrossEntropyLoss``'s.
        ignore_index: None (default), or a label value whose samples count for nothing
            (PyTorch's default is -100), as ``CrossEntropyLoss``'s.

    Shape:
        - y_pred: ``(N, C)`` log-probabilities
        - y_true: ``(N,)`` integer labels in ``[0, C)``

    Example:
        >>> import numpy as np
        >>> loss = NLLLoss()
        >>> logp = np.log([[0.5, 0.5], [0.25, 0.75]])
        >>> round(loss.forward(logp, np.array([0, 1])), 6)       # -(log 0.5 + log 0.75) / 2
        0.490415
        >>> loss.backward()
        array([[-0.5,  0. ],
               [ 0. , -0.5]])
    """

    what = "log-probabilities"
    takes = ("log-probabilities",)

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        n, classes = y_pred.shape
        dtype = y_pred.dtype
        forward: list[Call] = []
        labels, ignored = y_true, None
        if self.ignore_index is not None:
            ignored = np.zeros(n, bool)
            labels = ignoring(labels, ignored, self.ignore_index, forward)
        # each sample's score at its label, gathered from the flat array: take's mode "clip"
        # (its axis, out, mode) copies nothing, and the labels were checked when they came in
        index, picked, offsets = np.zeros(n, np.intp), np.zeros(n, dtype), np.arange(n) * classes
        forward += [partial(np.add, offsets, labels, index),
                    partial(np.take, y_pred.reshape(-1), index, None, picked, "clip")]
        backward: list[Call] = [partial(np.copyto, grad, np.zeros((), dtype))]
        at_labels = partial(np.put, grad.reshape(-1), index)
        # what the mean is over: the labels' class weights, or while labels may be ignored,
        # the labels not ignored (each weighing 1)
        weight = self.label_weights_in(dtype) if self.weight is not None else (
            None if ignored is None else np.ones(classes, dtype))
        if weight is None:
            backward.append(partial(at_labels, np.array(-1.0 / n, dtype)))

            def value() -> float:
                return -float(picked.sum()) / n

            return LossPlan(forward, value, backward, partial(np.negative, picked))
        scale, total = np.zeros((), dtype), np.zeros((), dtype)
        of_label = label_weights(weight, labels, (scale, total), forward, ignored)
        if ignored is not None:  # (an ignored sample's score may be -inf: not 0 * -inf)
            forward.append(partial(np.copyto, picked, np.zeros((), dtype), "no", ignored))
        forward.append(partial(np.multiply, picked, of_label, picked))
        minus, step = np.zeros((), dtype), np.zeros(n, dtype)
        backward += [partial(np.negative, scale, minus), partial(np.multiply, of_label, minus, step),
                     partial(at_labels, step)]

        def weighted() -> float:
            return -float(picked.sum()) * float(scale)

        rows = partial(minus_rows, picked, scale)
        return LossPlan(forward, weighted, backward, rows, partial(float, total))
