"""``Adamax``: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .backend import underflow_ignored
from .moments import MomentOptimizer


class Adamax(MomentOptimizer):
    r"""Adamax, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and >= 0 (default 2e-3, PyTorch's).
        betas, eps, weight_decay, decay_mask, lr_scale: as ``Adam`` (``eps`` is added to each gradient's
            magnitude).

    Each step ``t = 1, 2, ...``, with ``g = grads + wd * params``::

        m = b1 m + (1 - b1) g               u = max(b2 u, |g| + eps)
        params = params - lr / (1 - b1**t) * m / u

    ``u`` is a decaying maximum of the gradient's magnitude, so a step is at most about
    ``lr`` whatever the gradients. ``m`` and ``u`` are flat vectors beside ``params``
    (``state_dict``: ``exp_avg``, ``exp_inf``, PyTorch's names); a step allocates
    nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> Adamax(lr=0.1).step(params, grads)   # the first step moves each weight by about lr
        >>> params.round(6)
        array([ 0.9, -0.9])
    """

    STATE = ("exp_avg", "exp_inf")

    def __init__(self, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, decay_mask: ArrayLike | None = None,
                 lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, decay_mask, lr_scale)

    @underflow_ignored
    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        work = self.moments(params, grads, second=False)  # (the second estimate: u, below)
        g, m, u, tmp = work.g, work.m, work.v, work.tmp
        b1, b2 = self.betas
        ops = work.ops
        ops.absolute(g, tmp)  # u = max(b2 u, |g| + eps)
        np.add(tmp, self.eps, out=tmp)
        ops.scale(u, b2)
        np.maximum(u, tmp, out=u)  # (NumPy's: a NaN stays, which VML's Fmax would drop)
        ops.divide(m, u, tmp)
        self.scale_step(params, tmp)
        work.tmp_to_params(-self._lr / (1.0 - b1 ** self.steps))

    def denominator_eps(self) -> tuple[float, float] | None:
        return self.eps, 1.0  # (added as it is)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}{self.per_parameter_repr()})")
