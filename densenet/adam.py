"""``Adam``: adaptive moment estimation."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import flag, hyperparameter
from .backend import Chunks, axpy_chunks
from .optimizer import Optimizer, setting


def _betas(betas: object, owner: str, name: str) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{owner}: betas must be a pair (b1, b2), got {betas!r}")
    b1, b2 = (hyperparameter(b, owner, f"beta{i + 1}", high=1.0, high_open=True) for i, b in enumerate(betas))
    return b1, b2


class Adam(Optimizer):
    r"""Adam, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and > 0.
        betas: the decay rates ``(b1, b2)`` of the moment estimates, each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: the L2 penalty ``wd``, >= 0, added to the gradient (``AdamW``
            decouples it instead).
        amsgrad: divide by the root of the largest ``v`` so far rather than of ``v``
            (AMSGrad), so that no weight's step grows as its gradients shrink.

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

    #: Weight decay shrinks the parameters directly (AdamW) rather than joining the gradient.
    decoupled_weight_decay = False

    # read at every step: a schedule may change them between steps
    betas = setting("betas", _betas)
    eps = setting("eps", partial(hyperparameter, low_open=True))
    weight_decay = setting("weight_decay", hyperparameter)
    amsgrad = setting("amsgrad", flag, default=False)

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(lr)
        self.betas, self.eps, self.weight_decay, self.amsgrad = betas, eps, weight_decay, amsgrad
        self._work: _Work | None = None

    @property
    def STATE(self) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N802 (the protocol's name)
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if self.amsgrad else ("exp_avg", "exp_avg_sq")

    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        state = self.state(params)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        work = self._work
        coupled = bool(self.weight_decay) and not self.decoupled_weight_decay
        if work is None or work.coupled != coupled or any(
                a is not b for a, b in zip(work.arrays, (params, grads, m, v))):
            work = self._work = _Work(params, grads, m, v, coupled)
        b1, b2 = self.betas
        lr, wd = self._lr, self.weight_decay
        self.steps += 1
        t = self.steps
        g, tmp = grads, work.tmp
        if wd and self.decoupled_weight_decay:
            np.multiply(params, 1.0 - lr * wd, out=params)
        elif wd:
            g = work.g
            np.multiply(params, wd, out=g)
            np.add(g, grads, out=g)
        np.multiply(m, b1, out=m)  # m = b1 m + (1 - b1) g: two passes over three vectors, not four
        work.axpy(work.g_into_m, 1.0 - b1)
        np.multiply(g, g, out=tmp)  # v = b2 v + (1 - b2) g g
        np.multiply(v, b2, out=v)
        work.axpy(work.tmp_into_v, 1.0 - b2)
        if self.amsgrad:
            v = state["max_exp_avg_sq"]
            np.maximum(v, state["exp_avg_sq"], out=v)
        # lr / (1 - b1**t) * m / (sqrt(v) / c + eps) with c = sqrt(1 - b2**t), as
        # (lr c / (1 - b1**t)) * m / (sqrt(v) + eps c): two passes fewer
        c = math.sqrt(1.0 - b2 ** t)
        np.sqrt(v, out=tmp)
        np.add(tmp, self.eps * c, out=tmp)
        np.divide(m, tmp, out=tmp)
        work.axpy(work.tmp_into_params, -lr * c / (1.0 - b1 ** t))

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = None
        return state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}" + (", amsgrad=True)" if self.amsgrad else ")"))


class _Work:
    """Adam's work vectors for one pair of arrays, and ``y += a * x`` for ``(x, y)`` each of
    ``(g, m)``, ``(tmp, v)`` and ``(tmp, params)``: chunked BLAS axpy where the arrays allow
    it (one pass)."""

    def __init__(self, params: NDArray[Any], grads: NDArray[Any], m: NDArray[Any], v: NDArray[Any],
                 coupled: bool) -> None:
        self.arrays, self.coupled = (params, grads, m, v), coupled
        self.tmp = np.empty_like(params)
        self.g = np.empty_like(params) if coupled else self.tmp  # grads + wd params
        g = self.g if coupled else grads
        self.g_into_m = (g, m, axpy_chunks(m, g))
        self.tmp_into_v = (self.tmp, v, axpy_chunks(v, self.tmp))
        self.tmp_into_params = (self.tmp, params, axpy_chunks(params, self.tmp))

    def axpy(self, pair: tuple[NDArray[Any], NDArray[Any], Chunks | None], a: float) -> None:
        x, y, chunks = pair
        if chunks is None:  # tmp is scratch until the next pass writes it
            np.multiply(x, a, out=self.tmp)
            np.add(y, self.tmp, out=y)
            return
        axpy, pieces = chunks
        for x_part, y_part in pieces:
            axpy(x_part, y_part, a=a)
