"""``RMSprop``: gradients scaled by a running root mean square."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import flag, hyperparameter
from .backend import underflow_ignored
from .optimizer import Optimizer, scale_vector, setting, unplanned
from .vector_ops import vector_ops


class RMSprop(Optimizer):
    r"""RMSprop, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and >= 0 (default 0.01, PyTorch's).
        alpha: the decay rate of the running averages, in [0, 1) (default 0.99).
        eps: added to the denominator, > 0.
        weight_decay: the L2 penalty ``wd``, >= 0, added to the gradient.
        decay_mask: None (every parameter decays) or a boolean vector, one entry a
            parameter, True where it decays (``model.decay_mask()``: the weights alone).
        lr_scale: None (every parameter steps at ``lr``) or a vector of numbers >= 0, one
            entry a parameter, each its share of ``lr`` (``model.lr_scales(...)``: per module).
        momentum: the momentum factor ``mu``, >= 0 (default 0).
        centered: divide by the running standard deviation of the gradient (its
            root mean square less its running mean) rather than its root mean square.

    Each step, with ``g = grads + wd * params``::

        v = alpha v + (1 - alpha) g * g
        a = alpha a + (1 - alpha) g                 (centered)
        d = g / (sqrt(v - a * a) + eps)             (centered; else sqrt(v))
        b = mu b + d,  params = params - lr b       (momentum; else params - lr d)

    The running averages and the momentum buffer are flat vectors beside ``params``
    (``state_dict``: ``square_avg``, ``grad_avg``, ``momentum_buffer``, PyTorch's names),
    each starting at 0; a step allocates nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> RMSprop(lr=0.01).step(params, grads)   # the first step: about lr / sqrt(1 - alpha) each
        >>> params.round(6)
        array([ 0.9, -0.9])
    """

    # read at every step: a schedule may change them between steps (fit plans anew)
    alpha = setting("alpha", partial(hyperparameter, high=1.0, high_open=True))
    eps = setting("eps", partial(hyperparameter, low_open=True))
    momentum = setting("momentum", hyperparameter, plans=unplanned, holds=bool)  # (one-cycle: every step)
    centered = setting("centered", flag)
    lr_scale = setting("lr_scale", scale_vector)

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, *,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr)
        self.alpha, self.eps, self.weight_decay, self.decay_mask = alpha, eps, weight_decay, decay_mask
        self.momentum, self.centered, self.lr_scale = momentum, centered, lr_scale
        self._work: _Work | None = None

    @property
    def STATE(self) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N802 (the protocol's name)
        return (("square_avg",) + (("momentum_buffer",) if self.momentum else ())
                + (("grad_avg",) if self.centered else ()))

    def denominator_eps(self) -> tuple[float, float] | None:
        return self.eps, 1.0

    @underflow_ignored
    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        self.check_arrays(params, grads)
        self.before_step()
        state = self.state(params)
        work = self._work
        if work is None or not work.made_for(params, grads, state, bool(self.weight_decay)):
            work = self._work = _Work(params, grads, state, bool(self.weight_decay))
        alpha, wd, g, tmp, ops = self.alpha, self.weight_decay, work.g, work.tmp, work.ops
        if wd:
            self.add_decay(params, grads, g)
        ops.square(g, tmp)  # v = alpha v + (1 - alpha) g g
        ops.axpby(1.0 - alpha, tmp, alpha, state["square_avg"])
        if self.centered:  # a = alpha a + (1 - alpha) g; sqrt(v - a a)
            average = state["grad_avg"]
            ops.axpby(1.0 - alpha, g, alpha, average)
            ops.square(average, tmp)
            np.subtract(state["square_avg"], tmp, out=tmp)
            ops.sqrt(tmp, tmp)
        else:
            ops.sqrt(state["square_avg"], tmp)
        ops.ratios(tmp, self.eps, (g, tmp))
        self.steps += 1
        if self.momentum:
            buffer = state["momentum_buffer"]
            ops.axpby(1.0, tmp, self.momentum, buffer)
            if self.lr_scale is None:
                ops.axpy(-self._lr, buffer, params)
                return
            self.scale_step(params, buffer, out=tmp)  # (the buffer is state: scaled into tmp)
        else:
            self.scale_step(params, tmp)
        ops.axpy(-self._lr, tmp, params)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = None
        return state

    def __repr__(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name in ("weight_decay", "momentum", "centered")
                        if getattr(self, name))
        settings = f"lr={self.lr}, alpha={self.alpha}, eps={self.eps}{extra}"
        return f"{type(self).__name__}({settings}{self.per_parameter_repr()})"


class _Work:
    """RMSprop's work vectors for one pair of arrays, its state vectors and whether it
    decays the weights, and the passes that run over them (``densenet.vector_ops``); the
    other settings' values are read at each step (a schedule may set the momentum at
    every step)."""

    def __init__(self, params: NDArray[Any], grads: NDArray[Any], state: dict[str, NDArray[Any]],
                 decays: bool) -> None:
        self.arrays, self.state, self.decays = (params, grads), dict(state), decays
        self.tmp = np.empty_like(params)
        self.g = np.empty_like(params) if decays else grads  # grads + wd params
        self.ops = vector_ops(params)

    def made_for(self, params: NDArray[Any], grads: NDArray[Any], state: dict[str, NDArray[Any]],
                 decays: bool) -> bool:
        """Whether it was made for these arrays (by identity) and weight decay or not."""
        if decays != self.decays or params is not self.arrays[0] or grads is not self.arrays[1]:
            return False
        return len(state) == len(self.state) and all(self.state.get(k) is v for k, v in state.items())
