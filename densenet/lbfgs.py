"""``LBFGS``: limited-memory BFGS on the whole data set, through SciPy."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import hyperparameter, learning_rate, positive_int
from .optimizer import Objective, Optimizer, setting

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult


def _no_scale(value: object, owner: str, name: str) -> None:
    """Refuse an ``lr_scale`` (a ``setting`` check): L-BFGS has no learning rate to scale."""
    if value is not None:
        raise TypeError(f"{owner}: {name} must be None: its line searches choose each step's length, "
                        "there is no learning rate to scale (freeze modules to leave them as they are)")


class LBFGS(Optimizer):
    r"""L-BFGS over the model's flat parameter vector: ``scipy.optimize.minimize``
    with ``method="L-BFGS-B"`` and ``jac=True``, each evaluation a full-batch
    forward and backward pass.

    Args:
        history_size: the number of curvature pairs kept (SciPy's ``maxcor``; 10 as SciPy's).
        tolerance_grad: stop when the largest gradient element is below it (``gtol``; 1e-7 as
            PyTorch's ``LBFGS``).
        tolerance_change: stop when the loss changes relatively less (``ftol``; 1e-12, tighter than
            SciPy's default of about 2.2e-9).
        max_eval: the most evaluations of the loss and gradient in one ``fit`` (``maxfun``),
            >= 1; None (default) for SciPy's 15000.
        weight_decay: the L2 penalty ``wd``, >= 0: L-BFGS minimises ``loss + wd/2 |w|^2``
            over every parameter, the penalty whose gradient ``wd w`` ``SGD`` and ``Adam``
            add to theirs. ``History`` and callbacks get the loss without it.
        decay_mask: None (every parameter is penalised) or a boolean vector, one entry a
            parameter, True where it is (``model.decay_mask()``: the weights alone).

    It is a full-batch optimiser (``full_batch`` is True): in ``fit``, ``epochs``
    is the largest number of L-BFGS iterations (one ``History`` entry and one
    ``on_epoch_end`` per iteration, so that ``EarlyStopping`` works), ``batch_size``
    is the number of rows evaluated at a time to bound memory (the gradient is
    always the whole data set's), and ``shuffle`` does not apply. The line
    searches set each step's length: there is no learning rate (``lr`` is 1.0
    and can not be set to another, and the schedules refuse an ``LBFGS`` when
    they are made). Iterations run in float64 (SciPy's), a float32 model's
    parameters are rounded to float32 at each evaluation. The curvature memory
    lives for one ``fit``; ``steps`` counts the iterations, and ``result`` says how
    the last minimisation ended: a ``scipy.optimize.OptimizeResult`` of its
    ``success``, ``status`` (0: converged; 1: ``epochs`` iterations or ``max_eval``
    evaluations ran out), ``message``, ``nit``, ``nfev`` and ``fun`` (the objective,
    with ``weight_decay``'s penalty), without its arrays (None before the first).

    Example:
        >>> import numpy as np
        >>> params = np.array([3.0, -4.0])
        >>> result = LBFGS().minimize(lambda w: (float(w @ w), 2 * w), params, 50)
        >>> bool(result.success), bool(np.abs(params).max() < 1e-6)
        (True, True)
    """

    full_batch = True

    history_size = setting("history_size", lambda value, owner, name: positive_int(value, f"{owner} {name}"))
    tolerance_grad = setting("tolerance_grad", hyperparameter)
    tolerance_change = setting("tolerance_change", hyperparameter)
    max_eval = setting("max_eval", lambda value, owner, name: (
        None if value is None else positive_int(value, f"{owner} {name}", "None or an integer >= 1")))

    # a line search picks each step's length: there is no learning rate to share out
    lr_scale = setting("lr_scale", _no_scale)

    def __init__(self, history_size: int = 10, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-12, max_eval: int | None = None,
                 weight_decay: float = 0.0, *, decay_mask: ArrayLike | None = None) -> None:
        super().__init__(lr=1.0)
        self.result: OptimizeResult | None = None
        self.history_size, self.tolerance_grad, self.tolerance_change = (history_size, tolerance_grad,
                                                                          tolerance_change)
        self.max_eval, self.weight_decay, self.decay_mask = max_eval, weight_decay, decay_mask

    @property
    def lr(self) -> float:
        """1.0, always: the line searches choose each step's length. Setting another rate
        is a ``TypeError`` (a rate meant for an optimiser that steps would change nothing
        here), and the schedules refuse an ``LBFGS`` when they are made."""
        return 1.0

    @lr.setter
    def lr(self, value: float) -> None:
        rate = learning_rate(value, type(self).__name__)
        if rate != 1.0:
            raise TypeError(f"{type(self).__name__} has no learning rate to set (got lr={rate}): its line "
                            "searches choose each step's length")

    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        raise TypeError("LBFGS minimises the whole objective at once: use it through fit(...) "
                        "or LBFGS.minimize, not step()")

    def minimize(self, objective: Objective, params: NDArray[Any], iterations: int,
                 callback: Callable[[NDArray[Any], float], None] | None = None) -> OptimizeResult:
        """Minimise ``objective`` from ``params`` for at most ``iterations`` iterations;
        ``params`` ends at the best point found. ``callback(w, loss)`` is called after
        each iteration and may raise ``StopIteration`` to stop."""
        # imported here, not with densenet: scipy.optimize is a third of ``import densenet``'s time
        from scipy.optimize import OptimizeResult, minimize

        start = params.astype(np.float64)
        wd = self.decays(start)  # (a vector with a decay_mask)

        def penalised(w: NDArray[Any]) -> tuple[float, NDArray[Any]]:
            value, gradient = objective(w)
            decayed = wd * w  # the penalty's gradient
            return value + 0.5 * float(w @ decayed), gradient + decayed

        def each(intermediate_result: OptimizeResult) -> None:
            self.steps += 1
            if callback is not None:
                w = intermediate_result.x
                callback(w, float(intermediate_result.fun) - 0.5 * float(w @ (wd * w)))

        options = {"maxiter": iterations, "maxcor": self.history_size, "gtol": self.tolerance_grad,
                   "ftol": self.tolerance_change}
        if self.max_eval is not None:
            options["maxfun"] = self.max_eval
        result = minimize(penalised if self.weight_decay else objective, start, jac=True,
                          method="L-BFGS-B", callback=each, options=options)
        params[...] = result.x
        kept = ("success", "status", "message", "nit", "nfev", "fun")  # (not x and the curvature pairs)
        self.result = OptimizeResult({key: result[key] for key in kept if key in result})
        return result

    def __repr__(self) -> str:
        decay = f", weight_decay={self.weight_decay}" if self.weight_decay else ""
        return f"{type(self).__name__}(history_size={self.history_size}{decay}{self.per_parameter_repr()})"
