"""``RAdam``: Adam with its early steps' variance rectified."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import flag
from .backend import underflow_ignored
from .moments import MomentOptimizer
from .optimizer import setting


class RAdam(MomentOptimizer):
    r"""Rectified Adam, with PyTorch's update rule.

    Args:
        lr, betas, eps, weight_decay, decay_mask, lr_scale: as ``Adam``.
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

    # read at every step: a schedule may change it between steps
    decoupled_weight_decay = setting("decoupled_weight_decay", flag)

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, decay_mask, lr_scale)
        self.decoupled_weight_decay = decoupled_weight_decay

    @underflow_ignored
    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        work = self.moments(params, grads)
        m, v, lr, t = work.m, work.v, self._lr, self.steps
        b1, b2 = self.betas
        decayed = b2 ** t
        rho = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho - 2.0 * t * decayed / (1.0 - decayed)
        tmp = work.tmp
        if rho_t <= 5.0:
            np.copyto(tmp, m)
            self.scale_step(params, tmp)
            work.tmp_to_params(-lr / (1.0 - b1 ** t))
            return
        rectified = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho / ((rho - 4.0) * (rho - 2.0) * rho_t))
        c = math.sqrt(1.0 - decayed)  # (eps added before the bias correction, unlike Adam's)
        work.over_root(v, self.eps, (m, tmp))
        self.scale_step(params, tmp)
        work.tmp_to_params(-lr * rectified * c / (1.0 - b1 ** t))

    def denominator_eps(self) -> tuple[float, float] | None:
        return self.eps, 1.0  # (added as it is)

    def __repr__(self) -> str:
        extra = ", decoupled_weight_decay=True" if self.decoupled_weight_decay else ""
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}{extra}{self.per_parameter_repr()})")
