"""``Adam``: adaptive moment estimation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import flag
from .backend import underflow_ignored
from .moments import MomentOptimizer
from .optimizer import setting


class Adam(MomentOptimizer):
    r"""Adam, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and >= 0.
        betas: the decay rates ``(b1, b2)`` of the moment estimates, each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: the L2 penalty ``wd``, >= 0, added to the gradient (``AdamW``
            decouples it instead).
        amsgrad: divide by the root of the largest ``v`` so far rather than of ``v``
            (AMSGrad), so that no weight's step grows as its gradients shrink.
        decay_mask: None (every parameter decays) or a boolean vector, one entry a
            parameter, True where it decays (``model.decay_mask()``: the weights alone).
        lr_scale: None (every parameter steps at ``lr``) or a vector of numbers >= 0, one
            entry a parameter, each its share of ``lr`` (``model.lr_scales(...)``: per module).

    Each step ``t = 1, 2, ...``, with ``g = grads + wd * params``::

        m = b1 m + (1 - b1) g               v = b2 v + (1 - b2) g * g
        params = params - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    (with ``amsgrad``, ``u = max(u, v)`` and ``sqrt(u)`` in place of ``sqrt(v)``).
    The moments ``m`` and ``v`` (and ``u``) are flat vectors beside ``params``
    (``state_dict``: ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, PyTorch's names);
    a step allocates nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> Adam(lr=0.1).step(params, grads)    # the first step moves each weight by about lr
        >>> params
        array([ 0.9, -0.9])
    """

    # read at every step: a schedule may change it between steps
    amsgrad = setting("amsgrad", flag, default=False)

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, decay_mask, lr_scale)
        self.amsgrad = amsgrad

    @property
    def STATE(self) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N802 (the protocol's name)
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if self.amsgrad else ("exp_avg", "exp_avg_sq")

    @underflow_ignored
    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        work = self.moments(params, grads)
        b1, b2 = self.betas
        t, v = self.steps, work.v
        if self.amsgrad:
            v = self.state(params)["max_exp_avg_sq"]
            np.maximum(v, work.v, out=v)
        # lr / (1 - b1**t) * m / (sqrt(v) / c + eps) with c = sqrt(1 - b2**t), as
        # (lr c / (1 - b1**t)) * m / (sqrt(v) + eps c): two passes fewer
        c = math.sqrt(1.0 - b2 ** t)
        tmp = work.tmp
        work.over_root(v, self.eps * c, (work.m, tmp))
        self.scale_step(params, tmp)
        work.tmp_to_params(-self._lr * c / (1.0 - b1 ** t))

    def __repr__(self) -> str:
        amsgrad = ", amsgrad=True" if self.amsgrad else ""
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}{amsgrad}{self.per_parameter_repr()})")
