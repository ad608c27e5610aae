"""``NAdam``: Adam with Nesterov momentum."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import flag, hyperparameter
from .backend import underflow_ignored
from .moments import MomentOptimizer, Moments
from .optimizer import setting


class NAdam(MomentOptimizer):
    r"""Adam with Nesterov momentum, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and >= 0 (default 2e-3, PyTorch's).
        betas, eps, weight_decay, decay_mask, lr_scale: as ``Adam``.
        momentum_decay: ``psi`` >= 0 (default 4e-3): how fast the momentum's weight
            ``mu_t`` rises to ``b1`` from ``b1 / 2``.
        decoupled_weight_decay: shrink the parameters by ``1 - lr wd`` each step (as
            ``AdamW``) rather than adding ``wd params`` to the gradient.

    Each step ``t = 1, 2, ...`` updates ``m`` and ``v`` as Adam's, then, with
    ``mu_t = b1 (1 - 0.96**(t psi) / 2)`` and ``P_t = mu_1 mu_2 ... mu_t``::

        d = sqrt(v / (1 - b2**t)) + eps
        params = params - lr (1 - mu_t) / (1 - P_t) * g / d
                        - lr mu_(t+1) / (1 - P_t mu_(t+1)) * m / d

    the gradient's own share and the momentum's, looked one step ahead. The moments
    are flat vectors beside ``params`` (``state_dict``: ``exp_avg``, ``exp_avg_sq``)
    and the product ``P_t`` a number (``mu_product``, PyTorch's names); a step
    allocates nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> NAdam(lr=0.1).step(params, grads)   # the first step: about lr, the momentum's part weighed in
        >>> params.round(6)
        array([ 0.894355, -0.894355])
    """

    SCALARS = ("mu_product",)

    # read at every step: a schedule may change them between steps
    momentum_decay = setting("momentum_decay", hyperparameter)
    decoupled_weight_decay = setting("decoupled_weight_decay", flag)

    def __init__(self, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, decay_mask: ArrayLike | None = None,
                 lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, decay_mask, lr_scale)
        self.momentum_decay, self.decoupled_weight_decay = momentum_decay, decoupled_weight_decay
        self.mu_product = 1.0
        # g / d (the gradient's share of a step), and the work vectors it was made beside
        self._share: tuple[NDArray[Any], Moments] | None = None

    def initial_state(self, name: str) -> float:
        return 1.0 if name == "mu_product" else 0.0

    @underflow_ignored
    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        work = self.moments(params, grads)
        if self._share is None or self._share[1] is not work:  # (new work vectors: new arrays)
            self._share = (np.empty_like(params), work)
        g, m, v, lr = work.g, work.m, work.v, self._lr
        b1, b2 = self.betas
        t, psi = self.steps, self.momentum_decay
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        product = self.mu_product * mu
        # d = sqrt(v) / c + eps with c = sqrt(1 - b2**t); x / d as c x / (sqrt(v) + eps c)
        c = math.sqrt(1.0 - b2 ** t)
        tmp, share = work.tmp, self._share[0]
        work.over_root(v, self.eps * c, (g, share), (m, tmp))
        self.scale_step(params, share)
        self.scale_step(params, tmp)
        work.ops.axpy(-lr * c * (1.0 - mu) / (1.0 - product), share, params)
        work.tmp_to_params(-lr * c * mu_next / (1.0 - product * mu_next))
        self.mu_product = product

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_share"] = None
        return state

    def __repr__(self) -> str:
        extra = ", decoupled_weight_decay=True" if self.decoupled_weight_decay else ""
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}, momentum_decay={self.momentum_decay}{extra}"
                f"{self.per_parameter_repr()})")
