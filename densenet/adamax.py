"""``Adamax``: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .moments import Moments, beta_pair
from .optimizer import Optimizer, setting


class Adamax(Optimizer):
    r"""Adamax, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and > 0 (default 2e-3, PyTorch's).
        betas, eps, weight_decay: as ``Adam`` (``eps`` is added to each gradient's
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

    # read at every step: a schedule may change them between steps
    betas = setting("betas", beta_pair)
    eps = setting("eps", partial(hyperparameter, low_open=True))
    weight_decay = setting("weight_decay", hyperparameter)

    def __init__(self, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self._work: Moments | None = None

    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        state = self.state(params)
        m, u = state["exp_avg"], state["exp_inf"]
        work = self._work
        coupled = bool(self.weight_decay)
        if work is None or not work.made_for(params, grads, m, u, coupled):
            work = self._work = Moments(params, grads, m, u, coupled)
        b1, b2 = self.betas
        self.steps += 1
        g = work.decay(self.weight_decay, self._lr)
        work.first(b1)
        tmp = work.tmp
        np.abs(g, out=tmp)  # u = max(b2 u, |g| + eps)
        np.add(tmp, self.eps, out=tmp)
        np.multiply(u, b2, out=u)
        np.maximum(u, tmp, out=u)
        np.divide(m, u, out=tmp)
        work.tmp_to_params(-self._lr / (1.0 - b1 ** self.steps))

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = None
        return state

    def __repr__(self) -> str:
        return f"Adamax(lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})"
