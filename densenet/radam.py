"""``RAdam``: Adam with its early steps' variance rectified."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import flag, hyperparameter
from .moments import Moments, beta_pair
from .optimizer import Optimizer, setting


class RAdam(Optimizer):
    r"""Rectified Adam, with PyTorch's update rule.

    Args:
        lr, betas, eps, weight_decay: as ``Adam``.
        decoupled_weight_decay: shrink the parameters by ``1 - lr wd`` each step (as
            ``AdamW``) rather than adding ``wd params`` to the gradient.

    Each step ``t = 1, 2, ...`` updates ``m`` and ``v`` as Adam's, then, with
    ``r = 2 / (1 - b2) - 1`` and ``r_t = r - 2 t b2**t / (1 - b2**t)`` (how many
    gradients ``v`` has averaged, in effect)::

        params = params - lr / (1 - b1**t) * m                      (r_t <= 5)
        params = params - lr q_t sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)
        with q_t = sqrt((r_t - 4) (r_t - 2) r / ((r - 4) (r - 2) r_t))     (r_t > 5)

    While ``v`` has seen too few gradients to trust (the first 5 steps with the default
    ``b2``), it steps as SGD with momentum; after, as Adam with its rate scaled by
    ``q_t``, which rises towards 1: a warm-up that needs no schedule. The moments are
    flat vectors beside ``params`` (``state_dict``: ``exp_avg``, ``exp_avg_sq``); a
    step allocates nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> RAdam(lr=0.1).step(params, grads)    # the first step: lr times the gradient
        >>> params
        array([ 0.95, -0.8 ])
    """

    STATE = ("exp_avg", "exp_avg_sq")

    # read at every step: a schedule may change them between steps
    betas = setting("betas", beta_pair)
    eps = setting("eps", partial(hyperparameter, low_open=True))
    weight_decay = setting("weight_decay", hyperparameter)
    decoupled_weight_decay = setting("decoupled_weight_decay", flag)

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False) -> None:
        super().__init__(lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.decoupled_weight_decay = decoupled_weight_decay
        self._work: Moments | None = None

    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        state = self.state(params)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        work = self._work
        coupled = bool(self.weight_decay) and not self.decoupled_weight_decay
        if work is None or not work.made_for(params, grads, m, v, coupled):
            work = self._work = Moments(params, grads, m, v, coupled)
        b1, b2 = self.betas
        lr = self._lr
        self.steps += 1
        t = self.steps
        work.decay(self.weight_decay, lr)
        work.first(b1)
        work.second(b2)
        decayed = b2 ** t
        rho = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho - 2.0 * t * decayed / (1.0 - decayed)
        tmp = work.tmp
        if rho_t <= 5.0:
            np.copyto(tmp, m)
            work.tmp_to_params(-lr / (1.0 - b1 ** t))
            return
        rectified = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho / ((rho - 4.0) * (rho - 2.0) * rho_t))
        c = math.sqrt(1.0 - decayed)  # (eps added before the bias correction, unlike Adam's)
        np.sqrt(v, out=tmp)
        np.add(tmp, self.eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        work.tmp_to_params(-lr * rectified * c / (1.0 - b1 ** t))

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = None
        return state

    def __repr__(self) -> str:
        extra = ", decoupled_weight_decay=True" if self.decoupled_weight_decay else ""
        return (f"RAdam(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}{extra})")
