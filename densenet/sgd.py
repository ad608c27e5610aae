"""``SGD``: stochastic gradient descent, with momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import flag, hyperparameter, own_method
from .backend import scaled_add
from .optimizer import Optimizer, scale_vector, setting

#: the arrays last stepped, the settings version and the settings read then
_Pair = tuple[NDArray[Any], NDArray[Any], int, tuple[float, float, bool]]


def _check_nesterov(momentum: float, nesterov: bool) -> None:
    if nesterov and not momentum:
        raise ValueError("SGD: Nesterov momentum needs a momentum > 0")


class SGD(Optimizer):
    r"""Stochastic gradient descent, with PyTorch's update rule.

    Args:
        lr: the learning rate, finite and >= 0.
        momentum: the momentum factor ``mu``, >= 0 (default 0: plain SGD).
        nesterov: use Nesterov momentum (needs ``momentum > 0``).
        weight_decay: the L2 penalty ``wd``, >= 0, added to the gradient.
        decay_mask: None (every parameter decays) or a boolean vector, one entry a
            parameter, True where it decays (``model.decay_mask()``: the weights alone).
        lr_scale: None (every parameter steps at ``lr``) or a vector of numbers >= 0, one
            entry a parameter, each its share of ``lr`` (``model.lr_scales(...)``: per module).
        fold: without Nesterov momentum (and, without momentum, without weight decay), let
            ``fit`` fold the update into the gradient products of a model with large products
            or large layers (below); False keeps ``model.grads`` written at every step, for
            code that reads it.

    Each step, with ``g = grads + wd * params``::

        b = g                     (first step)      b = mu * b + g   (later steps)
        g = g + mu * b            (nesterov)        g = b            (otherwise)
        params = params - lr * s * g   (s: lr_scale, 1 without one)

    Without momentum and weight decay this is ``params <- params - lr * grads``,
    BLAS axpy in slices that run on the calling thread (``densenet.backend``);
    ``fit`` then folds the update into the gradient products where they are large
    or the modules that train hold 8,192 parameters each on average
    (``densenet.plan.TrainStep``) and does not write ``model.grads``, unless
    ``fold=False``. With momentum (not Nesterov) ``fit`` folds likewise: the gradient
    products accumulate into ``b`` (``heavy_ball``), and one pass adds the weight decay
    ``wd * params`` to it, if any, before the update. Both
    fold under an ``lr_scale`` too where each module's parameters share one scale (as
    ``model.lr_scales`` makes), each module at its own rate. A subclass that redefines
    ``step`` is never folded: ``fit`` calls its step.
    The momentum buffer ``b`` is a flat vector beside ``params`` (``state_dict``);
    a step allocates nothing after the first.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, 2.0]), np.array([0.5, -1.0])
        >>> SGD(lr=0.1).step(params, grads)
        >>> params
        array([0.95, 2.1 ])
    """

    # each step reads them; fit rebuilds its planned steps when one changes what they are
    # built on: a momentum's value a folded step reads at every call, so only its being 0
    momentum = setting("momentum", hyperparameter, plans=bool)
    lr_scale = setting("lr_scale", scale_vector)
    nesterov = setting("nesterov", flag)
    fold = setting("fold", flag, default=True)  # (an SGD pickled before fold existed folds)

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, fold: bool = True, *,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr)
        self.momentum, self.weight_decay, self.nesterov, self.fold = momentum, weight_decay, nesterov, fold
        self.decay_mask, self.lr_scale = decay_mask, lr_scale
        _check_nesterov(self.momentum, self.nesterov)
        self._forget()

    @property
    def STATE(self) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N802 (the protocol's name)
        return ("momentum_buffer",) if self.momentum else ()

    def _forget(self) -> None:
        """Drop what is tied to the arrays last stepped (``step`` makes it again)."""
        self._pair: _Pair | None = None
        self._axpy: tuple[NDArray[Any], Any] | None = None
        self._spares: dict[str, NDArray[Any]] = {}

    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        pair = self._pair
        if pair is None or params is not pair[0] or grads is not pair[1] or pair[2] != self.settings_version:
            self.check_arrays(params, grads)
            pair = self._prepare(params, grads)  # once per pair of arrays and settings: a model
        momentum, weight_decay, nesterov = pair[3]  # passes the same two every step
        direction = grads
        if momentum or weight_decay or self._scaled is not None:  # (a plain step is one BLAS axpy, which
            with np.errstate(under="ignore"):  # NumPy's error settings do not reach: underflow_ignored)
                direction = self._direction(params, grads, momentum, weight_decay, nesterov)
        self.steps += 1
        self._update(params, direction)

    def _direction(self, params: NDArray[Any], grads: NDArray[Any], momentum: float, weight_decay: float,
                   nesterov: bool) -> NDArray[Any]:
        """The step's direction (its update is ``-lr`` times it): the gradient with weight
        decay, momentum and each parameter's share of the rate, as set."""
        g = self._g
        if weight_decay:
            self.add_decay(params, grads, g)
        direction = g
        if momentum:
            self.before_step()
            direction = buffer = self.state(params)["momentum_buffer"]
            if self.steps == 0:
                np.copyto(buffer, g)
            else:
                np.multiply(buffer, momentum, out=buffer)
                np.add(buffer, g, out=buffer)
            if nesterov:
                direction = self._ahead
                np.multiply(buffer, momentum, out=direction)
                np.add(g, direction, out=direction)
        if self._scaled is not None:  # each parameter's share of lr, into a vector of its own
            direction = self.scale_step(params, direction, out=self._scaled)
        return direction

    def _prepare(self, params: NDArray[Any], grads: NDArray[Any]) -> _Pair:
        """Read the settings for the steps to come and make their work arrays (kept for the
        same arrays: a schedule may set the momentum at every step)."""
        settings = momentum, weight_decay, nesterov = self.momentum, self.weight_decay, self.nesterov
        _check_nesterov(momentum, nesterov)  # (set one at a time, they are checked together here)
        pair = self._pair
        if pair is None or params is not pair[0] or grads is not pair[1]:
            self._spares, self._axpy = {}, None  # (made for other arrays)
        self._g = self._work_vector("g", params) if weight_decay else grads  # grads + wd params
        self._ahead = self._work_vector("ahead", params) if nesterov else self._g  # g + mu b
        self._scaled = None if self.lr_scale is None else self._work_vector("scaled", params)
        self._pair = (params, grads, self.settings_version, settings)
        return self._pair

    def _work_vector(self, name: str, params: NDArray[Any]) -> NDArray[Any]:
        """A work vector shaped like ``params``, made once for the pair of arrays."""
        spare = self._spares.get(name)
        if spare is None:
            spare = self._spares[name] = np.empty_like(params)
        return spare

    @property
    def plain_descent(self) -> bool:
        return self._folds() and not (self.momentum or self.weight_decay)

    def heavy_ball(self, params: NDArray[Any]) -> tuple[float, NDArray[Any]] | None:
        if not self._folds() or not self.momentum or self.nesterov:
            return None
        return self.momentum, self.state(params)["momentum_buffer"]

    def _folds(self) -> bool:
        """Whether a plan may apply the step in its place: ``fold``, and the step is this
        class's (a subclass's own ``step``, or one set on the object, which may do more,
        would be skipped)."""
        return self.fold and not own_method(self, "step", SGD)

    def _update(self, params: NDArray[Any], direction: NDArray[Any]) -> None:
        """``params -= lr * direction``: chunked BLAS axpy where the arrays allow it
        (``backend.scaled_add``), kept for the pair of arrays."""
        if self._axpy is None or self._axpy[0] is not direction:
            self._axpy = (direction, scaled_add(params, direction))
        self._axpy[1](-self._lr)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        # tied to the arrays last stepped
        for name in ("_pair", "_axpy", "_g", "_ahead", "_scaled", "_spares"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._forget()

    def __repr__(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name in ("momentum", "nesterov", "weight_decay")
                        if getattr(self, name))
        extra += "" if self.fold else ", fold=False"
        return f"{type(self).__name__}(lr={self.lr}{extra}{self.per_parameter_repr()})"
