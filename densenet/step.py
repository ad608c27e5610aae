"""The training step, planned once per batch size.

At small batch sizes a step costs what its Python and NumPy calls cost, not
what its arithmetic costs: a 2-2-1 network at batch size 1 does a few dozen
flops per step and spends microseconds on call overhead. So ``fit`` does not
call ``module.forward`` and ``module.backward`` per step. It asks each module
once for a *plan*: its NumPy calls bound to arrays allocated up front
(``functools.partial`` objects taking no arguments). A step then

1. copies (or gathers) the batch into the plan's input arrays,
2. runs the forward calls, reads the loss, runs the backward calls,

and the optimiser updates ``model.params`` in place. Nothing is allocated,
nothing is validated, and the results are bit-identical to a hand-written
loop over ``Sequential.forward``/``backward``, which run the same plan on
fresh arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .layers import Dense

if TYPE_CHECKING:
    from .losses import MSELoss
    from .model import Sequential

Call = Callable[[], object]


@dataclass(frozen=True)
class ModelPlan:
    """A model's forward and backward passes for one batch size.

    ``X`` is the input array to fill; ``Y`` the output; ``dY`` the array dL/dY
    is written into before ``backward`` runs. ``backward`` writes
    ``model.grads`` and, if planned with ``input_grad``, dL/dX into ``dX``.
    """

    X: NDArray
    Y: NDArray
    dY: NDArray
    dX: NDArray | None
    forward: tuple[Call, ...]
    backward: tuple[Call, ...]

    def run_forward(self) -> NDArray:
        for call in self.forward:
            call()
        return self.Y

    def run_backward(self) -> NDArray | None:
        for call in self.backward:
            call()
        return self.dX


def plan_model(model: Sequential, n: int, input_grad: bool = False) -> ModelPlan:
    """Plan ``model``'s passes for batches of ``n`` samples.

    At batch size 1 the output of a module that feeds a ``Dense`` is written
    into an array with one extra column of ones, so that ``Dense`` does
    ``[x, 1] @ [W; b]`` as one matrix product (forward) and
    ``[dW; db] = [x, 1].T @ dy`` as one (backward): two NumPy calls fewer per
    layer and step. At larger batches the ones column would make the
    activations strided, and NumPy's ufuncs then take a 32 KiB buffer per call,
    so the bias is added separately. Without ``input_grad``, dL/dX of the first
    layer with parameters is skipped: training never needs it.
    """
    modules = list(model)
    X = out = np.zeros((n, model.in_features), model.dtype)
    inputs, outputs, forward = [], [], []
    for i, module in enumerate(modules):
        inputs.append(out)
        target = None
        following = modules[i + 1] if i + 1 < len(modules) else None
        if n == 1 and isinstance(following, Dense):
            ones = np.ones((n, following.in_features + 1), model.dtype)
            target = ones[:, :-1]
        calls, result = module.plan_forward(out, target)
        forward += calls
        outputs.append(result)
        out = result if target is None else ones
    dY = grad = np.zeros_like(outputs[-1])
    backward: list[Call] = []
    first = 0 if input_grad else model._trainable[0]
    for i in range(len(modules) - 1, first - 1, -1):
        calls, grad = modules[i].plan_backward(inputs[i], outputs[i], grad,
                                               input_grad=input_grad or i > first)
        backward += calls
    return ModelPlan(X, outputs[-1], dY, grad if input_grad else None, tuple(forward), tuple(backward))


def _plan_loss(loss: MSELoss, Y: NDArray, T: NDArray,
               dY: NDArray) -> tuple[list[Call], Callable[[], float], list[Call]]:
    plan = getattr(loss, "plan", None)
    if plan is not None:
        return plan(Y, T, dY)
    # a loss without a plan: its own forward and backward, copied into place
    last = [0.0]

    def value() -> float:
        last[0] = loss.forward(Y, T)
        return last[0]

    return [], value, [lambda: np.copyto(dY, loss.backward())]


class TrainStep:
    """One planned training step: ``step()`` runs forward, loss and backward on
    ``step.X`` and ``step.y`` and returns the loss; ``model.grads`` then holds
    the gradient. The optimiser's update is left to the caller."""

    def __init__(self, model: Sequential, loss: MSELoss, n: int) -> None:
        plan = model._plan(n)
        self.n, self.X = n, plan.X
        self.y = np.zeros_like(plan.Y)
        loss_forward, self.value, loss_backward = _plan_loss(loss, plan.Y, self.y, plan.dY)
        self.forward = plan.forward + tuple(loss_forward)
        self.backward = tuple(loss_backward) + plan.backward

    def __call__(self) -> float:
        for call in self.forward:
            call()
        value = self.value()
        for call in self.backward:
            call()
        return value
