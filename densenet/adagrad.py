"""``Adagrad``: each weight's steps scaled by the root of its summed squared gradients."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import finite_in, hyperparameter
from .backend import underflow_ignored
from .optimizer import Optimizer, scale_vector, setting
from .vector_ops import vector_ops


class Adagrad(Optimizer):
    r"""Adagrad, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and >= 0 (default 0.01, PyTorch's).
        lr_decay: ``d`` >= 0: step ``t`` takes the rate ``lr / (1 + (t - 1) d)``.
        weight_decay: the L2 penalty ``wd``, >= 0, added to the gradient.
        decay_mask: None (every parameter decays) or a boolean vector, one entry a
            parameter, True where it decays (``model.decay_mask()``: the weights alone).
        lr_scale: None (every parameter steps at ``lr``) or a vector of numbers >= 0, one
            entry a parameter, each its share of ``lr`` (``model.lr_scales(...)``: per module).
        initial_accumulator_value: where the sums of squares start, >= 0.
        eps: added to the denominator, > 0 (default 1e-10).

    Each step ``t = 1, 2, ...``, with ``g = grads + wd * params``::

        s = s + g * g
        params = params - lr / (1 + (t - 1) d) * g / (sqrt(s) + eps)

    so a weight whose gradients have been large moves less. The sums ``s`` are a flat
    vector beside ``params`` (``state_dict``: ``sum``, PyTorch's name); a step allocates
    nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.5, -2.0])
        >>> Adagrad(lr=0.1).step(params, grads)   # the first step moves each weight by lr
        >>> params
        array([ 0.9, -0.9])
    """

    STATE = ("sum",)

    # read at every step: a schedule may change them between steps
    lr_decay = setting("lr_decay", hyperparameter)
    initial_accumulator_value = setting("initial_accumulator_value", hyperparameter)
    eps = setting("eps", partial(hyperparameter, low_open=True))
    lr_scale = setting("lr_scale", scale_vector)

    def __init__(self, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr)
        self.lr_decay, self.weight_decay, self.eps, self.decay_mask = lr_decay, weight_decay, eps, decay_mask
        self.initial_accumulator_value, self.lr_scale = initial_accumulator_value, lr_scale
        self._work: _Work | None = None

    def initial_state(self, name: str) -> float:
        return self.initial_accumulator_value

    def denominator_eps(self) -> tuple[float, float] | None:
        return self.eps, 1.0

    def check_shift(self, dtype: np.dtype[Any]) -> None:
        """``eps`` (``Optimizer.check_shift``), and the sums' start, which the state holds in
        the parameters' dtype: beyond its range, refused by name."""
        super().check_shift(dtype)
        finite_in(dtype, self.initial_accumulator_value, "Adagrad", "initial_accumulator_value",
                  whose="the parameters'")

    @underflow_ignored
    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        self.check_arrays(params, grads)
        self.before_step()
        total = self.state(params)["sum"]
        work = self._work
        decays = bool(self.weight_decay)
        if work is None or not work.made_for(params, grads, decays):
            work = self._work = _Work(params, grads, decays)
        g, tmp, ops = work.g, work.tmp, work.ops
        if decays:
            self.add_decay(params, grads, g)
        self.steps += 1
        ops.square(g, tmp)
        ops.axpy(1.0, tmp, total)
        ops.sqrt(total, tmp)
        ops.ratios(tmp, self.eps, (g, tmp))
        self.scale_step(params, tmp)
        ops.axpy(-self._lr / (1.0 + (self.steps - 1) * self.lr_decay), tmp, params)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = None
        return state

    def __repr__(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name in (
            "lr_decay", "weight_decay", "initial_accumulator_value") if getattr(self, name))
        return f"{type(self).__name__}(lr={self.lr}{extra}, eps={self.eps}{self.per_parameter_repr()})"


class _Work:
    """Adagrad's work vectors for one pair of arrays, whether it decays the weights, and
    the passes that run over them (``densenet.vector_ops``)."""

    def __init__(self, params: NDArray[Any], grads: NDArray[Any], decays: bool) -> None:
        self.arrays, self.decays = (params, grads), decays
        self.tmp = np.empty_like(params)
        self.g = np.empty_like(params) if decays else grads  # grads + wd params
        self.ops = vector_ops(params)

    def made_for(self, params: NDArray[Any], grads: NDArray[Any], decays: bool) -> bool:
        """Whether it was made for these arrays (by identity) and weight decay or not."""
        return decays == self.decays and params is self.arrays[0] and grads is self.arrays[1]
