"""The ``Loss`` protocol: a loss checks its own targets and plans its value and gradient.

A loss is its own module and knows nothing about the output activation. It
tells the training loop, ``evaluate`` and ``gradcheck`` what they need:

- ``target(y, n_outputs, dtype)``: the targets of a data set checked and
  converted for a model with ``n_outputs`` outputs (which shapes and kinds of
  target a loss accepts is the loss's business: ``fit`` asks, never decides);
  a loss whose targets have the output's shape says which values it takes in
  ``target_values`` (``BCELoss``: [0, 1]);
- ``plan(y_pred, y_true, grad)``: on arrays fixed for one batch size, the calls
  that compute the loss, a call that returns its value (read once per batch at
  most), the calls that write dL/dy_pred into ``grad``, a call that writes
  each sample's loss (``LossPlan.rows``: their mean is the value), and for a loss
  whose value is a mean over other than its rows, what it is over (``LossPlan.share``);
- ``takes``: the kinds of model outputs the loss is meant for (``"logits"``,
  ``"probabilities"``, ``"log-probabilities"``), or None for any real numbers: ``fit``
  warns when the model ends in a module whose ``Module.outputs`` are of another kind
  (a ``Softmax`` before ``CrossEntropyLoss``); ``pred_values`` says which outputs it
  can compute on at all (``BCELoss``: [0, 1]), for ``check`` and for ``fit``'s
  account of a divergence;
- ``accuracy(n_outputs)``: what "accuracy" means for its outputs (classes or
  yes-or-no labels, and at which threshold), for ``fit(..., metrics=["accuracy"])``.

``forward(y_pred, y_true, sample_weight=None) -> float`` and ``backward() ->
dL/dy_pred`` derive from ``plan``, with the same calls, so a hand-written loop and
``fit`` agree bit for bit (a loss may instead define ``forward(y_pred, y_true)`` and
``backward()`` itself, as a module may: the default ``plan`` then wraps them);
``evaluate(y_pred, y_true, sample_weight=None)`` is ``forward``'s value alone,
computed on a plan lent for the call, so that the gradient ``backward`` returns stays
that of this thread's last ``forward``;
``of_outputs`` is ``evaluate`` for a chunk of a model's own outputs (``Sequential.evaluate``
counts each chunk's value by its share), which are not checked as input is: NaN or inf
there makes a NaN or infinite loss. With sample weights ``w`` each sample's loss is
multiplied by its weight before the mean, ``mean(w_i l_i)`` (``weighted``; in PyTorch,
``(losses * w).mean()``): the weights as given. ``fit`` and ``evaluate`` divide a data
set's weights by their mean first (``relative``), so that what they report is the
weighted mean ``sum(w l) / sum(w)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._validation import (
    OUTPUT_KINDS,
    as_numeric,
    copy_result,
    described,
    real_number,
    result_shape,
    sample_weights,
    shown,
)
from .accuracy import Accuracy
from .backend import all_finite
from .chain import Call, check_overrides
from .kept import KeepsPlans

#: A standalone loss keeps its plans for this many shapes.
KEPT_PLANS = 4


@dataclass(frozen=True)
class LossPlan:
    """A loss on fixed arrays: run ``forward``, then ``value()`` is the loss and
    ``rows(out)`` writes each sample's loss into ``out`` ``(N,)`` (the value is their
    mean; None for a loss that cannot weight its samples); ``backward`` writes dL/dy_pred.

    ``share()``, for a loss whose value is a mean over other than the batch's rows, is
    what it is over (``CrossEntropyLoss``'s labels: their class weights' sum, the labels
    ignored left out): ``fit``'s epoch loss, its full-batch objective and ``evaluate`` weigh
    each batch's (chunk's) value by it, so that they are the loss of the whole data set.
    None: the batch's rows."""

    forward: Sequence[Call]
    value: Callable[[], float]
    backward: Sequence[Call]
    rows: Callable[[NDArray[Any]], object] | None = None
    share: Callable[[], float] | None = None


class Loss(KeepsPlans):
    """Base class of the losses: see the module docstring for the protocol.

    The default ``target`` and ``check`` suit a loss whose target has the
    output's shape (a regression loss), its values checked by ``target_values``;
    a loss with other targets overrides them.
    """

    #: The kinds of model outputs the loss is meant for, or None: any real numbers.
    takes: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_overrides(cls, Loss)
        takes = cls.takes
        if takes is None:
            return
        if not isinstance(takes, (tuple, list)):
            raise TypeError(f"{cls.__name__}.takes must be None or a tuple of kinds of outputs, such as "
                            f"('probabilities',); got {shown(takes)}")
        if not takes:
            raise ValueError(f"{cls.__name__}.takes is empty: None says a loss takes any real numbers")
        for kind in takes:
            if kind not in OUTPUT_KINDS:
                raise ValueError(f"{cls.__name__}.takes names {shown(kind)}, not one of "
                                 f"{', '.join(map(repr, OUTPUT_KINDS))}")
        cls.takes = tuple(takes)

    def pred_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        """``values`` (outputs named ``name``) if the loss can compute on every one, else
        ``ValueError`` naming the loss, ``name`` and the first it cannot. This default takes
        any finite number."""
        return values

    def target_values(self, values: NDArray[Any], name: str) -> NDArray[Any]:
        """``values`` (targets named ``name``, already of the right shape and dtype) if the
        loss takes every one, else ``ValueError`` naming the loss, ``name`` and the first
        value it does not take. This default takes any finite number."""
        return values

    def target(self, y: ArrayLike, n_outputs: int, dtype: DTypeLike, name: str = "y") -> NDArray[Any]:
        """``y`` checked for a model with ``n_outputs`` outputs, as ``dtype``:
        ``(n_samples, n_outputs)``, or ``(n_samples,)`` for one output (a view
        ``(n_samples, 1)`` is returned)."""
        y = as_numeric(y, name, dtype)
        if y.ndim == 1 and n_outputs == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_outputs:
            one = " or (n_samples,)" if n_outputs == 1 else ""
            hint = (f"; for integer class labels use CrossEntropyLoss, or one-hot targets "
                    f"(np.eye({n_outputs})[{name}])" if y.ndim == 1 and _holds_integers(y) else "")
            raise ValueError(
                f"{name} has shape {y.shape}, but the model's output is (n_samples, {n_outputs}); "
                f"{name} must be (n_samples, {n_outputs}){one}{hint}"
            )
        return self.target_values(y, name)

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``forward``'s arguments checked: real numbers of one float dtype and
        exactly the same shape (nothing broadcasts)."""
        dtype = getattr(y_pred, "dtype", None)
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
        owner = type(self).__name__  # (forward is what the user called: its refusals name the loss)
        y_pred = as_numeric(y_pred, f"{owner}: y_pred", dtype)
        y_true = as_numeric(y_true, f"{owner}: y_true", dtype)
        if y_pred.shape != y_true.shape:
            raise ValueError(
                f"{owner}: y_pred has shape {y_pred.shape} but y_true has shape "
                f"{y_true.shape}; they must match exactly"
            )
        return self.pred_values(y_pred, "y_pred"), self.target_values(y_true, "y_true")

    def accuracy(self, n_outputs: int) -> Accuracy:
        """The ``Accuracy`` of a model with ``n_outputs`` outputs trained by this loss (what
        ``"accuracy"`` names in ``fit`` and ``evaluate``). This default, for a regression
        loss: one output is a yes-or-no label, yes above 0.5 (the tutorial's 0/1 targets);
        more are scores of classes against one-hot targets (the highest wins)."""
        return Accuracy(threshold=0.5) if n_outputs == 1 else Accuracy()

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        """The loss of ``y_pred`` against ``y_true`` and its gradient into ``grad``.

        This default wraps a ``forward(y_pred, y_true) -> float`` and a ``backward() ->
        dL/dy_pred`` the subclass defines (caching what backward needs), at the cost of a
        copy of the gradient per step; such a loss cannot weight its samples (no ``rows``).
        """
        if not (self._defines("forward") and self._defines("backward")):
            raise TypeError(f"{self!r} defines neither plan() nor forward() and backward(): a Loss must "
                            "define one or the other")
        forward, backward = self.forward, self.backward
        value: list[float] = []  # (the last forward's)

        def run_forward() -> None:
            given = forward(y_pred, y_true)
            number = real_number(given)
            if number is None:
                raise TypeError(f"{self!r}.forward returned {given!r}, not a real number: a Loss's "
                                "forward must return its value as a float")
            value[:] = [number]

        def run_backward() -> None:
            dY = backward()
            if result_shape(dY, self, "backward") != grad.shape:
                raise ValueError(f"{self!r}.backward returned shape {np.shape(dY)}, expected {grad.shape}")
            copy_result(grad, dY, self, "backward")

        return LossPlan([run_forward], lambda: value[0], [run_backward])

    def _defines(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(Loss, name)

    def forward(self, y_pred: ArrayLike, y_true: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """The loss of ``y_pred`` against ``y_true``, as a Python float; with
        ``sample_weight`` ``(N,)`` (finite, >= 0), the mean of each sample's loss times
        its weight (see the module docstring). ``backward`` then returns its gradient."""
        return self._computed(y_pred, y_true, sample_weight, for_backward=True)

    def evaluate(self, y_pred: ArrayLike, y_true: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """``forward``'s value alone: what ``backward`` returns stays the gradient of this
        thread's last ``forward`` (``Sequential.evaluate`` computes its loss so, and may run
        between the two)."""
        return self._computed(y_pred, y_true, sample_weight, for_backward=False)

    def of_outputs(self, outputs: NDArray[Any], target: NDArray[Any],
                   weight: NDArray[Any] | None = None) -> tuple[float, float]:
        """``evaluate``'s value for a model's ``outputs`` ``(N, n_outputs)`` of its dtype,
        ``target`` as ``target`` returned it for them and ``weight`` ``(N,)`` checked (or
        None), and what it is a mean over (``LossPlan.share``, else N): the value of a data
        set is its chunks' values, each counted by its share. The outputs are the model's,
        not input to refuse, so they may hold NaN or inf (parameters that are NaN, products
        that overflowed), whose loss is what the arithmetic makes of them, NaN or inf as
        PyTorch's losses give, without a warning; outputs the loss cannot compute on are
        still refused (``pred_values``)."""
        outputs = self.pred_values(outputs, "the model's outputs")
        if all_finite(outputs):
            value, share = self._value(outputs, target, weight, for_backward=False)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                value, share = self._value(outputs, target, weight, for_backward=False)
        return value, float(len(outputs)) if share is None else share

    def _computed(self, y_pred: ArrayLike, y_true: ArrayLike, sample_weight: ArrayLike | None,
                  for_backward: bool) -> float:
        """``forward``'s (``for_backward``) or ``evaluate``'s value of arrays it checks."""
        y_pred, y_true = self.check(y_pred, y_true)
        weight = None
        if sample_weight is not None:
            if not y_pred.ndim:
                raise ValueError(f"{type(self).__name__}: sample_weight weighs the samples along y_pred's "
                                 f"first axis, but y_pred is a single number (shape ())")
            weight = sample_weights(sample_weight, len(y_pred), y_pred.dtype,
                                    f"{type(self).__name__}: sample_weight", some=False)
        return self._value(y_pred, y_true, weight, for_backward)[0]

    def _value(self, y_pred: NDArray[Any], y_true: NDArray[Any], weight: NDArray[Any] | None,
               for_backward: bool) -> tuple[float, float | None]:
        """The loss's value of checked arrays on a kept plan, one held for this thread's
        ``backward`` after (``for_backward``) or one lent for the call and given back; and
        a lent plan's ``LossPlan.share()`` (None where it has none, and for a held plan:
        ``of_outputs`` then counts the rows)."""
        key = (y_pred.shape, y_pred.dtype, y_true.shape, y_true.dtype, weight is None)
        plans = self._kept(KEPT_PLANS)  # (P, T, G, plan, W) by shapes, dtypes and weighting
        kept = plans.borrow(key) if for_backward else plans.take(key)
        if kept is None:
            # (C-ordered whatever the arrays' layout: the key has none, and the plan's
            # passes over arrays of two layouts would go through NumPy's buffers)
            P, T, G = np.zeros(y_pred.shape, y_pred.dtype), np.zeros(y_true.shape, y_true.dtype), \
                np.zeros(y_pred.shape, y_pred.dtype)
            W = None if weight is None else np.zeros(weight.shape, weight.dtype)
            kept = (P, T, G, loss_plan(self, P, T, G, W), W)
        P, T, G, plan, W = kept
        P[...], T[...] = y_pred, y_true
        if W is not None:
            W[...] = weight
        # an overflow is an infinite loss, as in fit's steps (and backend.underflow_ignored)
        with np.errstate(over="ignore", under="ignore"):
            for call in plan.forward:
                call()
            # (read before another thread can take the plan; + 0.0: a negated sum of
            # zeros, a perfect prediction's, is 0.0, not -0.0)
            value = checked_value(self, plan.value()) + 0.0
            # (read for a lent plan only: forward has no use for it)
            share = None if for_backward or plan.share is None else float(plan.share())
        if for_backward:
            plans.hold(key, kept)
        else:
            plans.give(key, kept)
        return value, share

    def backward(self) -> NDArray[Any]:
        """dL/dy_pred for the last ``forward`` in this Python thread, as a new array."""
        held = self._held()
        if held is None:
            raise RuntimeError(f"{self!r}.backward called before forward")
        G, plan = held[1][2:4]
        with np.errstate(over="ignore", under="ignore"):
            for call in plan.backward:
                call()
        return G.copy()

    def weighted_plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any],
                      weight: NDArray[Any]) -> LossPlan:
        """``plan`` with each sample's loss multiplied by its weight in ``weight``
        ``(N,)``, filled before each forward pass: ``mean(w_i l_i)`` and its gradient."""
        return weighted(loss_plan(self, y_pred, y_true, grad), grad, weight, self)

    def __call__(self, y_pred: ArrayLike, y_true: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        if sample_weight is None:  # (a loss's own forward may take two arguments)
            return self.forward(y_pred, y_true)
        return self.forward(y_pred, y_true, sample_weight)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_plans", None)
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def loss_plan(loss: Loss, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any],
              weight: NDArray[Any] | None = None) -> LossPlan:
    """``loss.plan``, or ``loss.weighted_plan`` with ``weight``, unless it gives no
    ``LossPlan``: ``TypeError`` naming the loss (a loss of one's own)."""
    plan = (loss.plan(y_pred, y_true, grad) if weight is None
            else loss.weighted_plan(y_pred, y_true, grad, weight))
    if not isinstance(plan, LossPlan):
        raise TypeError(f"{loss!r}.plan() returned {described(plan)}, not densenet.loss.LossPlan")
    return plan


def checked_value(loss: Loss, value: object) -> float:
    """``value``, what ``loss``'s plan's ``value()`` gave, as a float, unless it is no real
    number: ``TypeError`` naming the loss (an array, a string: a loss of one's own)."""
    number = real_number(value)
    if number is None:
        raise TypeError(f"{loss!r}.plan()'s value() gave {described(value)}, not a real number: it must "
                        "return the batch's loss as a float")
    return number


def weighted(plan: LossPlan, grad: NDArray[Any], weight: NDArray[Any], loss: Loss) -> LossPlan:
    """``plan`` with sample ``i``'s loss multiplied by ``weight[i]``: the value is
    ``mean(w_i l_i)`` with ``l_i`` from ``plan.rows``, and the gradient ``plan``'s
    (that of ``mean(l_i)``) with row ``i`` times ``w_i``: two passes more over
    output-sized arrays (the samples' losses, the weights spread over the gradient's
    shape) and one over the gradient; a weight of 1 multiplies by exactly 1."""
    if plan.rows is None:
        raise TypeError(f"{loss!r} cannot weight its samples: its plan gives no per-sample losses "
                        "(LossPlan.rows)")
    n, rows = len(weight), plan.rows
    losses = np.zeros(n, weight.dtype)
    column = weight.reshape((n,) + (1,) * (grad.ndim - 1))
    # with several outputs per sample, spread over grad's shape before the product: a
    # product broadcasting the column into grad itself copies grad on every call
    spread = column if column.shape == grad.shape else np.zeros_like(grad)
    # rows called once now, on the plan's arrays as they are (not yet run), to check that it
    # writes into out rather than returns (NumPy's functions return their out): not at each step
    with np.errstate(all="ignore"):
        written = rows(losses)
    if written is not None and written is not losses:
        raise TypeError(f"{loss!r}.plan()'s rows(out) returned {described(written)}: it must write each "
                        "sample's loss into out")
    forward: list[Call] = [*plan.forward, partial(rows, losses)]
    if spread is not column:
        forward.append(partial(np.copyto, spread, column))

    def value() -> float:
        return float(np.dot(weight, losses)) / n

    return LossPlan(forward, value, (*plan.backward, partial(np.multiply, grad, spread, grad)), rows,
                    plan.share)


#: The power of two that weights whose mean is not a normal float64 are first scaled by:
#: their mean, at least the smallest subnormal number over 2**63 samples (2**-1137), is then
#: normal, and their largest, below 2**63 * 2**-1022, stays far below float64's largest.
_SMALL_WEIGHTS_SCALE = 1000


def relative(weights: NDArray[Any], dtype: DTypeLike) -> NDArray[Any]:
    """``weights`` (float64) divided by their mean, in ``dtype``: what a data set's
    sample weights count for in a mean over its samples (unit weights stay exactly 1).
    Weights whose mean is below the smallest normal float64 (it would round to a subnormal
    number, or to 0) are first scaled up by an exact power of two, which their ratios keep."""
    mean = np.mean(weights)
    if mean < np.finfo(np.float64).tiny:  # (the largest weight is then below n * 2**-1022)
        weights = np.ldexp(weights, _SMALL_WEIGHTS_SCALE)
        mean = np.mean(weights)
    return (weights / mean).astype(dtype, copy=False)


def row_means(terms: NDArray[Any], scale: float = 1.0) -> Callable[[NDArray[Any]], None]:
    """A loss's ``LossPlan.rows`` from its elementwise terms: ``rows(out)`` sets
    ``out = scale * mean(terms[i])`` for each sample ``i`` (the first axis), ``out``
    ``(N,)``; the view and the factor are made once, here, not at every step."""
    by_row = terms.reshape(len(terms), -1)
    factor = scale / by_row.shape[1]

    def rows(out: NDArray[Any]) -> None:
        np.add.reduce(by_row, 1, out=out)
        if factor != 1.0:  # one output, plain mean: the sums are the means
            np.multiply(out, factor, out=out)

    return rows


def _holds_integers(y: NDArray[Any]) -> bool:
    """Whether every value is a whole number (labels passed where targets are expected)."""
    return bool(np.all(y == np.round(y)))
