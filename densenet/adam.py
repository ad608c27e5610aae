"""``Adam``: adaptive moment estimation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .optimizer import Optimizer


class Adam(Optimizer):
    r"""Adam, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and > 0.
        betas: the decay rates ``(b1, b2)`` of the moment estimates, each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: the L2 penalty ``wd``, >= 0, added to the gradient (``AdamW``
            decouples it instead).

    Each step ``t = 1, 2, ...``, with ``g = grads + wd * params``::

        m = m + (1 - b1) (g - m)            v = b2 v + (1 - b2) g * g
        params = params - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    The moments ``m`` and ``v`` are flat vectors beside ``params``
    (``state_dict``: ``exp_avg``, ``exp_avg_sq``); a step allocates nothing
    after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> Adam(lr=0.1).step(params, grads)    # the first step moves each weight by about lr
        >>> params
        array([ 0.9, -0.9])
    """

    STATE = ("exp_avg", "exp_avg_sq")

    #: Weight decay shrinks the parameters directly (AdamW) rather than joining the gradient.
    decoupled_weight_decay = False

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (b1, b2), got {betas!r}")
        self.betas = tuple(hyperparameter(b, name, f"beta{i + 1}", high=1.0, high_open=True)
                           for i, b in enumerate(betas))
        self.eps = hyperparameter(eps, name, "eps", low_open=True)
        self.weight_decay = hyperparameter(weight_decay, name, "weight_decay")
        self._work: dict[int, tuple[NDArray, NDArray]] = {}

    def step(self, params: NDArray, grads: NDArray) -> None:
        state = self.state(params)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        work = self._work.get(id(params))
        if work is None or work[0].shape != params.shape or work[0].dtype != params.dtype:
            work = (np.empty_like(params), np.empty_like(params))
            self._work = {id(params): work}
        g, tmp = work
        b1, b2 = self.betas
        lr, wd = self._lr, self.weight_decay
        self.steps += 1
        t = self.steps
        if wd and self.decoupled_weight_decay:
            np.multiply(params, 1.0 - lr * wd, out=params)
        if wd and not self.decoupled_weight_decay:
            np.multiply(params, wd, out=g)
            np.add(g, grads, out=g)
        else:
            np.copyto(g, grads)
        np.subtract(g, m, out=tmp)  # m += (1 - b1) (g - m)
        np.multiply(tmp, 1.0 - b1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, b2, out=v)  # v = b2 v + (1 - b2) g g
        np.multiply(g, 1.0 - b2, out=tmp)
        np.multiply(tmp, g, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)  # sqrt(v) / sqrt(1 - b2**t) + eps
        np.divide(tmp, math.sqrt(1.0 - b2 ** t), out=tmp)
        np.add(tmp, self.eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, lr / (1.0 - b1 ** t), out=tmp)
        np.subtract(params, tmp, out=params)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = {}
        return state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay})")
