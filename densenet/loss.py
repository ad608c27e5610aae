"""The ``Loss`` protocol: a loss checks its own targets and plans its value and gradient.

A loss is its own module and knows nothing about the output activation. It
tells the training loop, ``evaluate`` and ``gradcheck`` what they need:

- ``target(y, n_outputs, dtype)``: the targets of a data set checked and
  converted for a model with ``n_outputs`` outputs (which shapes and kinds of
  target a loss accepts is the loss's business: ``fit`` asks, never decides);
- ``plan(y_pred, y_true, grad)``: on arrays fixed for one batch size, the calls
  that compute the loss, a call that returns its value (read once per batch at
  most), and the calls that write dL/dy_pred into ``grad``.

``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred`` derive
from ``plan``, with the same calls, so a hand-written loop and ``fit`` agree
bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._validation import as_numeric
from .chain import Call
from .kept import KeepsPlans

#: A standalone loss keeps its plans for this many shapes.
KEPT_PLANS = 4


@dataclass(frozen=True)
class LossPlan:
    """A loss on fixed arrays: run ``forward``, then ``value()`` is the loss;
    ``backward`` writes dL/dy_pred."""

    forward: Sequence[Call]
    value: Callable[[], float]
    backward: Sequence[Call]


class Loss(KeepsPlans):
    """Base class of the losses: see the module docstring for the protocol.

    The default ``target`` and ``check`` suit a loss whose target has the
    output's shape (a regression loss); a loss with other targets overrides them.
    """

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
        return y

    def check(self, y_pred: ArrayLike, y_true: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """``forward``'s arguments checked: real numbers of one float dtype and
        exactly the same shape (nothing broadcasts)."""
        dtype = getattr(y_pred, "dtype", None)
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
        y_pred, y_true = as_numeric(y_pred, "y_pred", dtype), as_numeric(y_true, "y_true", dtype)
        if y_pred.shape != y_true.shape:
            raise ValueError(
                f"{type(self).__name__}: y_pred has shape {y_pred.shape} but y_true has shape "
                f"{y_true.shape}; they must match exactly"
            )
        return y_pred, y_true

    def plan(self, y_pred: NDArray[Any], y_true: NDArray[Any], grad: NDArray[Any]) -> LossPlan:
        """The loss of ``y_pred`` against ``y_true`` and its gradient into ``grad``."""
        raise TypeError(f"{self!r} does not define plan(): a Loss must")

    def forward(self, y_pred: ArrayLike, y_true: ArrayLike) -> float:
        """The loss of ``y_pred`` against ``y_true``, as a Python float."""
        y_pred, y_true = self.check(y_pred, y_true)
        key = (y_pred.shape, y_pred.dtype, y_true.shape, y_true.dtype)
        plans = self._kept(KEPT_PLANS)  # (P, T, G, plan) by shapes and dtypes
        kept = plans.borrow(key)
        if kept is None:
            P, T, G = np.zeros_like(y_pred), np.zeros_like(y_true), np.zeros_like(y_pred)
            kept = (P, T, G, self.plan(P, T, G))
        P, T, G, plan = kept
        P[...], T[...] = y_pred, y_true
        for call in plan.forward:
            call()
        plans.hold(key, kept)  # for this thread's backward
        return plan.value()

    def backward(self) -> NDArray[Any]:
        """dL/dy_pred for the last ``forward`` in this Python thread, as a new array."""
        held = self._held()
        if held is None:
            raise RuntimeError(f"{self!r}.backward called before forward")
        G, plan = held[1][2:]
        for call in plan.backward:
            call()
        return G.copy()

    def __call__(self, y_pred: ArrayLike, y_true: ArrayLike) -> float:
        return self.forward(y_pred, y_true)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_plans", None)
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _holds_integers(y: NDArray[Any]) -> bool:
    """Whether every value is a whole number (labels passed where targets are expected)."""
    return bool(np.all(y == np.round(y)))
