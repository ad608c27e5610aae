"""The training step, planned once per batch size.

At small batch sizes a step costs what its Python and NumPy calls cost, not
what its arithmetic costs: a 2-2-1 network at batch size 1 does 17 flops of
matrix products per step and spends microseconds on call overhead. So ``fit``
does not call ``module.forward`` and ``module.backward`` per step. It asks
each module once for a *plan*: the same NumPy calls bound to arrays allocated
up front (``functools.partial`` objects taking no arguments). A step then

1. copies (or gathers) the batch into the plan's input arrays,
2. runs the forward calls, reads the loss, runs the backward calls,

and the optimiser updates ``model.params`` in place. Nothing is allocated,
nothing is validated, and the results are bit-identical to calling
``forward``/``backward``, which make the same NumPy calls in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .losses import MSELoss
    from .model import Sequential

Call = Callable[[], object]


@dataclass(frozen=True)
class ModelPlan:
    """A model's forward and backward passes for one batch size.

    ``X`` is the input array to fill; ``Y`` the output; ``dY`` the array the
    loss writes dL/dY into before ``backward`` runs. ``backward`` writes
    ``model.grads`` and skips dL/dX of the first layer with parameters.
    """

    X: NDArray
    Y: NDArray
    dY: NDArray
    forward: tuple[Call, ...]
    backward: tuple[Call, ...]


def plan_model(model: Sequential, n: int) -> ModelPlan:
    """Plan ``model``'s passes for batches of ``n`` samples."""
    X = np.zeros((n, model.in_features), model.dtype)
    inputs, outputs, forward = [], [], []
    out = X
    for module in model:
        inputs.append(out)
        calls, out = module.plan_forward(out)
        outputs.append(out)
        forward += calls
    dY = grad = np.zeros_like(out)
    backward: list[Call] = []
    first = model._trainable[0]
    for i in range(len(model) - 1, first - 1, -1):
        calls, grad = model[i].plan_backward(inputs[i], outputs[i], grad, input_grad=i > first)
        backward += calls
    return ModelPlan(X, out, dY, tuple(forward), tuple(backward))


def _plan_loss(loss: MSELoss, Y: NDArray, T: NDArray, dY: NDArray) -> tuple[list[Call], Callable[[], float], list[Call]]:
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
