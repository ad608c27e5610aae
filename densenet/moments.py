"""``MomentOptimizer``: the base of Adam and its kin, which step by moment estimates.

Adam, RAdam, NAdam and Adamax keep a decaying mean of the gradient (``exp_avg``) and of
its square (``exp_avg_sq``; Adamax a decaying maximum of its magnitude) beside the
parameters, and differ in how they step from them. ``MomentOptimizer`` holds what they
share: the settings ``betas``, ``eps`` and ``weight_decay`` (with the base class's
``decay_mask``), and the start of a step (``moments``). ``Moments`` is one optimiser's
work vectors for one model's arrays and the steps they share, ``y = b y + (1 - b) x`` for
each estimate among them, by the passes ``densenet.vector_ops`` chooses (NumPy's on the
calling thread, or a library's vector math on its threads).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import hyperparameter
from .optimizer import Optimizer, scale_vector, setting, unplanned
from .vector_ops import vector_ops


def beta_pair(value: object, owner: str, name: str) -> tuple[float, float]:
    """``value`` as a pair of decay rates ``(b1, b2)``, each in [0, 1) (a ``setting`` check):
    a tuple, a list or a 1-D NumPy array of two."""
    if not (isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray) and value.ndim == 1)) or (
            len(value) != 2):
        raise TypeError(f"{owner}: {name} must be a pair (b1, b2), got {value!r}")
    return (hyperparameter(value[0], owner, "beta1", high=1.0, high_open=True),
            hyperparameter(value[1], owner, "beta2", high=1.0, high_open=True))


class Moments:
    """Work vectors for one optimiser's ``params``, ``grads`` and estimates ``m`` and
    ``v``, the passes that run over them (``ops``: ``densenet.vector_ops``), and the steps
    Adam's kin share.

    ``coupled``: the weight decay joins the gradient (``g = grads + wd params``, in a
    vector of its own) rather than shrinking the parameters; ``g`` is the gradient a step
    goes by (``grads`` itself when not coupled), ``m`` and ``v`` the estimates. ``tmp`` is
    scratch that a step may use between the passes here.
    """

    def __init__(self, params: NDArray[Any], grads: NDArray[Any], m: NDArray[Any], v: NDArray[Any],
                 coupled: bool) -> None:
        self.arrays, self.coupled = (params, grads, m, v), coupled
        self.params, self.m, self.v = params, m, v
        self.tmp = np.empty_like(params)
        self.g = np.empty_like(params) if coupled else grads  # grads + wd params
        self.ops = vector_ops(params)

    def made_for(self, params: NDArray[Any], grads: NDArray[Any], m: NDArray[Any], v: NDArray[Any],
                 coupled: bool) -> bool:
        """Whether these are its arrays (by identity) and its kind of weight decay."""
        return coupled == self.coupled and all(a is b for a, b in zip(self.arrays, (params, grads, m, v)))

    @classmethod
    def started(cls, kept: Moments | None, params: NDArray[Any], grads: NDArray[Any], m: NDArray[Any],
                v: NDArray[Any], coupled: bool) -> Moments:
        """A step's work vectors: ``kept`` (an optimiser's from its last step) if they were
        made for these arrays and this kind of weight decay, else new ones."""
        if kept is not None and kept.made_for(params, grads, m, v, coupled):
            return kept
        return cls(params, grads, m, v, coupled)

    def first(self, b1: float) -> None:
        """``m = b1 m + (1 - b1) g``."""
        self.ops.axpby(1.0 - b1, self.g, b1, self.m)

    def second(self, b2: float) -> None:
        """``v = b2 v + (1 - b2) g g``."""
        self.ops.square(self.g, self.tmp)
        self.ops.axpby(1.0 - b2, self.tmp, b2, self.v)

    def over_root(self, v: NDArray[Any], shift: float, *pairs: tuple[NDArray[Any], NDArray[Any]]) -> None:
        """``out = x / (sqrt(v) + shift)`` for each pair ``(x, out)``, through ``tmp`` (an
        ``out`` that is ``tmp`` comes last)."""
        self.ops.sqrt(v, self.tmp)
        self.ops.ratios(self.tmp, shift, *pairs)

    def tmp_to_params(self, a: float) -> None:
        """``params += a tmp``."""
        self.ops.axpy(a, self.tmp, self.params)


class MomentOptimizer(Optimizer):
    """Base class of the optimisers that step by moment estimates (``Adam``, ``RAdam``,
    ``NAdam``, ``Adamax``): their settings ``betas`` (each in [0, 1)), ``eps`` (> 0) and
    ``weight_decay`` (>= 0), read at every step (a schedule may change them between
    steps), and ``moments``, the start of their steps.

    ``STATE`` starts with the two estimates' names; ``decoupled_weight_decay`` says
    whether the weight decay shrinks the parameters (AdamW's) rather than joining the
    gradient.
    """

    STATE: tuple[str, ...] = ("exp_avg", "exp_avg_sq")

    #: Weight decay shrinks the parameters directly (AdamW) rather than joining the gradient.
    decoupled_weight_decay = False

    betas = setting("betas", beta_pair, plans=unplanned)  # (a one-cycle schedule sets them every step)
    lr_scale = setting("lr_scale", scale_vector)
    eps = setting("eps", partial(hyperparameter, low_open=True))

    def __init__(self, lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr)
        self.betas, self.eps, self.weight_decay, self.decay_mask = betas, eps, weight_decay, decay_mask
        self.lr_scale = lr_scale
        self._work: Moments | None = None

    def denominator_eps(self) -> tuple[float, float] | None:
        """``eps`` times ``sqrt(1 - b2**t)``, at least ``sqrt(1 - b2)`` (Adam's, AdamW's and
        NAdam's: they add ``eps`` to ``sqrt(v)`` over that correction, in one pass fewer)."""
        return self.eps, math.sqrt(1.0 - self.betas[1])

    def moments(self, params: NDArray[Any], grads: NDArray[Any], second: bool = True) -> Moments:
        """Start a step: count it, apply the weight decay, and update the first estimate
        (and the second, the decaying mean of ``g * g``, unless ``second`` is False);
        returns the work vectors (``g`` the gradient stepped by, ``tmp`` free)."""
        self.check_arrays(params, grads)
        self.before_step()
        state = self.state(params)
        decays, decoupled = bool(self.weight_decay), self.decoupled_weight_decay
        self._work = work = Moments.started(self._work, params, grads, state[self.STATE[0]],
                                            state[self.STATE[1]], decays and not decoupled)
        if decays and decoupled:
            self.shrink(params, self._lr, by=work.ops.scale)
        elif decays:
            self.add_decay(params, grads, work.g)
        self.steps += 1
        b1, b2 = self.betas
        work.first(b1)
        if second:
            work.second(b2)
        return work

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = None
        return state
