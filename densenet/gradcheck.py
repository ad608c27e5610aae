"""``gradcheck``: backpropagation against central finite differences.

Every parameter of the flat vector and every input element is nudged by
``+-eps``; the slope of the loss, ``(L(p + eps) - L(p - eps)) / (2 eps)``, is
compared with what ``backward`` wrote, element by element:
``|analytic - numeric| <= atol + rtol * |numeric|``. The defaults are
PyTorch's ``gradcheck`` defaults (eps 1e-6, atol 1e-5, rtol 1e-3). The check
runs on a copy of the model (``Sequential.clone``), in float64: a float32
model is checked through a float64 copy of itself, with a warning. The
report names each parameter block as its module names it (``Module.param_views``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import flag, hyperparameter, is_sparse, kind_given, sample_weights, warn
from .backend import underflow_ignored
from .loss import Loss, checked_value, loss_plan
from .model import Sequential, as_model
from .module import split
from .mse import MSELoss

if TYPE_CHECKING:
    from .chain import Plan


class GradcheckError(AssertionError):
    """Backpropagated gradients disagree with finite differences; ``report`` says where."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(f"gradcheck failed:\n{report}")
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.report,), self.__dict__  # (the default passes the message as the report)


@dataclass(frozen=True)
class Check:
    """One block of gradients: a layer's ``W`` or ``b``, or the input ``X``."""

    name: str
    analytic: NDArray[Any]
    numeric: NDArray[Any]
    atol: float
    rtol: float

    @property
    def error(self) -> NDArray[Any]:
        return np.abs(self.analytic - self.numeric)

    @property
    def max_abs_error(self) -> float:
        return float(self.error.max())

    @property
    def max_rel_error(self) -> float:
        return float(np.max(self.error / np.maximum(np.abs(self.numeric), np.finfo(float).tiny)))

    @property
    def ok(self) -> bool:
        return bool(np.all(self.error <= self.atol + self.rtol * np.abs(self.numeric)))


@dataclass(frozen=True)
class GradcheckReport:
    """The result of ``gradcheck``: ``ok`` and one ``Check`` per block."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = [f"{'block':<{width}}  {'size':>6}  {'max abs err':>11}  {'max rel err':>11}  ok"]
        for c in self.checks:
            lines.append(f"{c.name:<{width}}  {c.analytic.size:>6}  {c.max_abs_error:>11.3e}  "
                         f"{c.max_rel_error:>11.3e}  {'yes' if c.ok else 'NO'}")
        return "\n".join(lines)


@underflow_ignored
def gradcheck(model: Sequential, X: ArrayLike, y: ArrayLike, loss: Loss | None = None, *,
              sample_weight: ArrayLike | None = None, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> GradcheckReport:
    """Check ``model``'s gradients of ``loss`` at ``(X, y)`` against central differences.

    Args:
        model: the model; it is not touched (a copy is checked).
        X, y: a batch, validated like ``fit``'s. A SciPy sparse ``X`` is checked on the
            passes ``fit`` runs on sparse rows, every entry stored (the input gradient
            is checked at every entry, zeros included).
        loss: a ``densenet.Loss``; default ``MSELoss()``.
        sample_weight: ``(N,)``: check the gradients of the loss with each sample's
            loss multiplied by its weight (``Loss.weighted_plan``).
        eps, atol, rtol: step and tolerances (PyTorch's defaults).
        raise_exception: raise ``GradcheckError`` on a mismatch (default), else
            only return the report.

    Returns:
        A ``GradcheckReport``: per parameter block (``0: Dense.W``, ``0: Dense.b``, ...) of
        each module that trains (not of frozen ones: ``Sequential.freeze``), the largest
        absolute and relative errors, and those of the input gradient. The passes a large
        batch runs (``Sequential.plan(..., at_scale=True)``: products on gemm, modules in
        place, negated inputs), and those that fold plain SGD's update into them (where
        every module with parameters ``folds_descent``), are checked on the same rows too;
        where they fail (a module of one's own that declares ``in_place``,
        ``takes_negated_input`` or ``folds_descent`` and does not honour it), their rows
        follow, named ``... (large batches' passes)`` or ``... (folded descent)``.

    Example:
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), dn.Sigmoid(), seed=0)
        >>> gradcheck(model, dn.tutorial.X, dn.tutorial.y).ok
        True
    """
    model = as_model(model, "gradcheck")
    loss = MSELoss() if loss is None else loss
    raise_exception = flag(raise_exception, "gradcheck", "raise_exception")
    eps = hyperparameter(eps, "gradcheck", "eps", low_open=True)
    atol, rtol = hyperparameter(atol, "gradcheck", "atol"), hyperparameter(rtol, "gradcheck", "rtol")
    if not isinstance(loss, Loss):
        raise TypeError(f"gradcheck: loss must be a densenet Loss, got {kind_given(loss, with_repr=True)}")
    X_checked, _ = model.check_data(X, y, loss)
    weight = None if sample_weight is None else sample_weights(sample_weight, X_checked.shape[0], np.float64)
    if model.dtype != np.float64:
        warn(f"gradcheck: the model is {model.dtype.name}; checking a float64 copy of it (finite differences "
             "need float64)")
    model = model.clone(dtype=np.float64)
    inputs, target = model.check_data(X, y, loss)
    sparse = is_sparse(inputs)
    rows = None
    if sparse:  # the passes fit runs on sparse rows, on rows that store every entry, zeros too
        n, k = inputs.shape
        every = (inputs.toarray().ravel(), np.tile(np.arange(k), n), np.arange(0, n * k + 1, k))
        rows = type(inputs)(every, shape=(n, k))
        inputs = rows.data.reshape(n, k)  # nudging an entry below nudges the rows
    else:
        inputs = inputs.copy()  # nudged in place below
    # a ``random`` module (Dropout) draws the same numbers at every evaluation (the
    # gradient checked is that of the loss for one draw), and running statistics start
    # from the same values
    side = model.side_state()
    params = model.trainable_params

    # on the planned passes that fit and forward/backward run, the data validated once: the
    # loss is evaluated twice per parameter and input element (thousands of times for a
    # small network), and predict and the loss's forward would check their inputs at each
    # (about 3x the time)
    def backpropagated(plan: Plan) -> tuple[Callable[[], float], NDArray[Any], NDArray[Any]]:
        """The loss of ``plan`` for the batch, and the gradients it backpropagates, of the
        parameters that train and of the input. A plan with folded descent accumulates them
        into the parameters themselves, as plain SGD's folded step does (``params = 1 *
        gradient + 1 * params``: they are then what the parameters gained, and the parameters
        are put back)."""
        for coefficients in plan.descent or ():
            if coefficients is not None:
                coefficients.alpha, coefficients.beta = 1.0, 1.0
        planned = loss_plan(loss, plan.Y, target.copy(), plan.dY, None if weight is None else weight.copy())
        forward = (*plan.forward, *planned.forward)

        def value() -> float:
            model.set_side_state(side)
            plan.feed(inputs if rows is None else rows)
            for call in forward:
                call()
            return planned.value()

        checked_value(loss, value())
        for call in planned.backward:
            call()
        before = params.copy()
        dX = cast(NDArray[Any], plan.run_backward())  # planned with input_grad: not None
        # (a frozen module's gradients are not computed)
        gradients = model.trainable_grads.copy() if plan.descent is None else params - before
        params[...] = before
        return value, gradients, dX.copy()

    n = len(inputs)
    value, analytic, dX = backpropagated(model.plan(n, input_grad=True, sparse=sparse))
    numeric = _central_differences(params, value, eps)
    numeric_dX = _central_differences(inputs, value, eps)
    checks = _checks(model, analytic, dX, numeric, numeric_dX, atol, rtol)
    # the passes of a large batch (products on gemm, in place, negated inputs), and those that
    # fold plain SGD's update into the products, give the same gradients to rounding, unless a
    # module declares what its passes do not honour: they are checked too, and reported where
    # they fail (the first of the two that does), named so
    for folded, suffix in ((False, " (large batches' passes)"), (True, " (folded descent)")):
        plan = model.plan(n, input_grad=True, descent=params if folded else None, sparse=sparse,
                          at_scale=True)
        if folded and plan.descent is None:  # (a module with parameters does not fold: fit never does)
            break
        _, at_scale, dX_at_scale = backpropagated(plan)
        more = _checks(model, at_scale, dX_at_scale, numeric, numeric_dX, atol, rtol, suffix)
        if not all(check.ok for check in more):
            checks += more
            break
    report = GradcheckReport(tuple(checks))
    if raise_exception and not report.ok:
        raise GradcheckError(report)
    return report


def _checks(model: Sequential, analytic: NDArray[Any], dX: NDArray[Any], numeric: NDArray[Any],
            numeric_dX: NDArray[Any], atol: float, rtol: float, suffix: str = "") -> list[Check]:
    """One ``Check`` per parameter block of each module that trains and one of the input,
    the backpropagated gradients against the numeric ones; ``suffix`` ends their names."""
    checks: list[Check] = []
    start = 0
    for i, module in enumerate(model):
        if i in model.frozen:
            continue
        stop = start + module.n_params
        shapes = module.param_shapes()
        a = module.param_views(split(analytic[start:stop], shapes))
        n = module.param_views(split(numeric[start:stop], shapes))
        for name in a:
            checks.append(Check(f"{i}: {type(module).__name__}.{name}{suffix}", a[name], n[name], atol, rtol))
        start = stop
    checks.append(Check(f"input X{suffix}", dX, numeric_dX, atol, rtol))
    return checks


def _central_differences(v: NDArray[Any], value: Callable[[], float], eps: float) -> NDArray[Any]:
    """d value / d v by central differences, nudging ``v`` in place (restored)."""
    flat = v.reshape(-1)
    out = np.empty(flat.size)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        up = value()
        flat[k] = saved - eps
        down = value()
        flat[k] = saved
        out[k] = (up - down) / (2 * eps)
    return out.reshape(v.shape)
