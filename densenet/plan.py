"""The training step: a model, a loss and an optimiser planned for one batch size.

``TrainStep`` joins the model's planned passes (``Sequential.plan``), the
loss's plan and the optimiser's in-place update into one list of calls on
arrays allocated once. A step then

1. takes the batch the caller copied (or gathered) into ``step.X`` (or gave ``step.feed``:
   SciPy sparse rows) and ``step.y``,
2. runs the forward calls, reads the loss, runs the backward calls,
3. updates ``model.trainable_params`` in place (``model.params``, unless modules are
   frozen: ``Sequential.freeze``),

and allocates nothing. Because ``Sequential.forward``/``backward`` and
``Loss.forward``/``backward`` run the same planned calls, a hand-written loop
gives bit-identical weights, with one exception: on a model whose largest
product has at least ``backend.GEMM_MIN_PRODUCT`` multiply-adds, or whose modules
that train hold ``FOLD_MIN_BLOCK`` parameters each on average, plain gradient
descent (``optimizer.plain_descent``) and classical momentum
(``optimizer.heavy_ball``) are folded into the backward pass (``densenet.chain``):
``W -= lr * X.T @ dY`` is one BLAS call, which saves a pass over all the
parameters, 3-5% of a 784-512-512-10 batch-256 step; with momentum the gradient
products accumulate into the momentum buffer (``b = momentum * b + X.T @ dY``)
and one pass updates the parameters from it (0.97-0.98x that step's time), after one
that adds the weight decay to it, if any (``b += wd * params``: 0.95-0.96x the time of
that step with the decay unfolded).
There ``model.grads`` is not written, and the weights equal a hand-written
loop's to rounding (the gradient is not rounded before it is scaled). A step that
clips the gradient's norm (``max_grad_norm``) needs the whole gradient before its
update, and never folds it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import GEMM_MIN_PRODUCT, scaled_add
from .clipping import clipper
from .loss import checked_value, loss_plan

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .chain import Descent
    from .loss import Loss
    from .model import Sequential
    from .optimizer import Optimizer
    from .thread_policy import ThreadChoice


#: A step folds its update into the backward pass (the module docstring) also where the
#: modules that train hold at least this many parameters each on average, whatever the
#: size of its products: there the update's pass costs more than gradient products on
#: SciPy's BLAS instead of NumPy's (its calls cost more, a per-module price). Folded over
#: not, one step alone: 0.68-0.79x at 784-30-10 batch 1, 0.88-0.96x at batch 10 (the
#: MNIST-shaped epoch's), 0.62-0.66x at 64-256-256-10 batch 1 in float64; with fewer
#: parameters a module (2-48x8-1 and 2-64x5-1 at batch 32; 32-200-10 at batch 16 in float32)
#: 0.98-1.16x (``benchmarks/NOTES.md``).
FOLD_MIN_BLOCK = 8192


class TrainStep:
    """One planned training step on batches of ``n`` rows.

    Args:
        model: the model; its plan for batch size ``n`` is reused.
        loss: the loss.
        optimizer: updates ``model.params`` from ``model.grads`` at the end of the
            step; None for a step that only computes the loss and the gradient.
        n: the batch size.
        target: a target array as ``loss.target`` returns it; ``step.y`` gets its
            dtype and trailing shape.
        weighted: multiply each sample's loss by its weight in ``step.w``
            (``Loss.weighted_plan``; ``fit`` fills it with weights divided by their mean).
        sparse: the batches come as SciPy CSR rows, given to ``step.feed``
            (``Plan.feed``), not copied into ``step.X``.
        max_grad_norm: None, or the largest 2-norm of the gradient: a larger one is
            scaled down to it before the update (``densenet.clipping``).

    Fill ``step.X`` and ``step.y`` (and ``step.w``), then ``step()`` returns the batch's loss;
    ``model.grads`` holds its gradient and ``model.params`` has been updated
    (unless there is no optimiser). When the update is folded into the backward
    pass (``folded``: see the module docstring), ``model.grads`` is not written.
    """

    def __init__(self, model: Sequential, loss: Loss, optimizer: Optimizer | None, n: int,
                 target: NDArray[Any], weighted: bool = False, sparse: bool = False,
                 max_grad_norm: float | None = None) -> None:
        self.params, self.grads = model.trainable_params, model.trainable_grads
        shares = module_shares(model, optimizer) if optimizer is not None and max_grad_norm is None else None
        if shares is not None and not folds(model.largest_product(n), [size for size, _ in shares]):
            shares = None
        folding = None if optimizer is None or shares is None else _folding(optimizer, self.params, shares)
        plan = model.plan(n, descent=None if folding is None else folding[0], sparse=sparse)
        plan.check_backward()
        self.n, self.X, self.feed = n, plan.X, plan.feed
        #: the batch's output, as the step's forward pass computed it (before the update)
        self.Y = plan.Y
        #: how many BLAS threads its steps run on, chosen by timing them (``fit`` sets it)
        self.thread_choice: ThreadChoice | None = None
        self.y = np.zeros((n, *target.shape[1:]), target.dtype)
        #: the batch's sample weights (``Loss.weighted_plan``), or None: unweighted
        self.w = np.zeros(n, model.dtype) if weighted else None
        planned = loss_plan(loss, plan.Y, self.y, plan.dY, self.w)
        self.forward = plan.forward + tuple(planned.forward)
        # (the loss's first value checked, then the value read as it is: ``_first_value``)
        self.value: Callable[[], float] = partial(self._first_value, loss, planned.value)
        #: what the batch's value is a mean over, for an epoch's mean (``LossPlan.share``); None: its rows
        self.share = planned.share
        self.backward = tuple(planned.backward) + plan.backward
        descent = plan.descent
        #: whether the update is folded into the backward pass (``model.grads`` unwritten)
        self.folded = descent is not None
        #: the arrays a step writes, which must stay finite
        self.written: tuple[NDArray[Any], ...] = (self.grads, self.params)
        self.update: Callable[[], object]  # what follows the backward calls
        if folding is not None and descent is not None:
            into, coefficients, self.update = folding
            trained = tuple(d for d in descent if d is not None)  # (in the order of module_shares)
            self.backward = (partial(coefficients, trained), *self.backward)
            self.written = (self.params,) if into is self.params else (into, self.params)
        elif optimizer is not None:
            self.update = partial(optimizer.step, self.params, self.grads)
        else:
            self.update = _nothing
        if max_grad_norm is not None:
            self.update = partial(_clipped, clipper(self.grads, max_grad_norm), self.update)

    @staticmethod
    def key(model: Sequential, loss: Loss, optimizer: Optimizer | None, n: int, target: NDArray[Any],
            weighted: bool = False, sparse: bool = False,
            max_grad_norm: float | None = None) -> tuple[Any, ...]:
        """What a step for ``model`` is built from, besides the model: two steps with
        equal keys are interchangeable (``Sequential.train_step`` keeps steps by it).
        The optimiser's answers to folding are part of it, so that a step is rebuilt
        when they change (a momentum set after a first fit, a buffer replaced, another
        ``lr_scale``); the momentum's value is not (the step reads it at every call)."""
        folding = None
        if optimizer is not None:
            heavy = optimizer.heavy_ball(model.trainable_params)
            folding = (optimizer.plain_descent, heavy if heavy is None else id(heavy[1]),
                       module_shares(model, optimizer))
        return (id(loss), id(optimizer), n, target.dtype, target.shape[1:], folding, weighted, sparse,
                max_grad_norm)

    def _first_value(self, loss: Loss, value: Callable[[], float]) -> float:
        """The loss's first value, checked (a loss of one's own); then ``value`` is read unchecked."""
        self.value = value
        return checked_value(loss, value())

    def __call__(self) -> float:
        for call in self.forward:
            call()
        value = self.value()
        for call in self.backward:
            call()
        self.update()
        return value


#: ``module_shares``' last answer for a vector: ``(lr_scale, sizes, shares)``, the vector
#: held so that its identity stays its own (``fit`` asks at every change of a setting, which
#: a schedule may make at every step)
_last_shares: tuple[NDArray[Any], tuple[int, ...], tuple[tuple[int, float], ...] | None] | None = None


def folds(largest_product: int, sizes: list[int]) -> bool:
    """Whether a step whose largest product has ``largest_product`` multiply-adds and whose
    modules that train hold ``sizes`` parameters folds its update (if the optimiser can)."""
    return bool(sizes) and (largest_product >= GEMM_MIN_PRODUCT or sum(sizes) >= FOLD_MIN_BLOCK * len(sizes))


def module_shares(model: Sequential, optimizer: Optimizer) -> tuple[tuple[int, float], ...] | None:
    """Each module whose parameters train, in order: its parameter count and its share of
    the learning rate (``optimizer.lr_scale``'s value over its parameters; 1 without one);
    None if a module's parameters do not share one value (or the vector is not the size
    of ``trainable_params``): a step then cannot fold the update, and the optimiser steps."""
    global _last_shares
    frozen = set(model.frozen)
    sizes = tuple(m.n_params for i, m in enumerate(model.layers) if m.n_params and i not in frozen)
    scale = optimizer.lr_scale  # (a read-only vector, replaced when set)
    if scale is None:
        return tuple((size, 1.0) for size in sizes)
    last = _last_shares
    if last is not None and last[0] is scale and last[1] == sizes:
        return last[2]
    shares: tuple[tuple[int, float], ...] | None = None
    if scale.size == sum(sizes):  # (else the optimiser refuses it before any step)
        bounds = np.cumsum((0, *sizes))
        blocks = [scale[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        if all(block.min() == block.max() for block in blocks):
            shares = tuple((block.size, float(block[0])) for block in blocks)
    _last_shares = (scale, sizes, shares)
    return shares


def _folding(optimizer: Optimizer, params: NDArray[Any], shares: tuple[tuple[int, float], ...]) -> tuple[
        NDArray[Any], Callable[[tuple[Descent, ...]], None], Callable[[], object]] | None:
    """How a step folds ``optimizer``'s update into its backward pass, each module whose
    parameters train at its share of the rate (``module_shares``): the vector the gradients
    accumulate into, what sets those modules' coefficients (``Descent``, in that order)
    before each backward pass, and what follows it; None if the optimiser says it cannot
    be folded."""
    if optimizer.plain_descent:  # params -= lr * scale * grads, onto the parameters

        def plain(descents: tuple[Descent, ...]) -> None:  # (lr may have changed since)
            lr = optimizer.lr
            for descent, (_, share) in zip(descents, shares):
                descent.alpha, descent.beta = -lr * share, 1.0

        return params, plain, optimizer.count_step
    heavy = optimizer.heavy_ball(params)
    if heavy is None:
        return None
    buffer = heavy[1]  # buffer = momentum * buffer + grads + wd * params, then params -= lr * scale * buffer
    descend, decay = _shared_descent(params, buffer, shares), _decay(optimizer, params, buffer)

    def accumulate(descents: tuple[Descent, ...]) -> None:  # the first step takes the gradient alone;
        optimizer.before_step()
        now = optimizer.heavy_ball(params)  # a schedule may have changed the momentum since
        beta = now[0] if optimizer.steps and now is not None else 0.0
        for descent in descents:
            descent.alpha, descent.beta = 1.0, beta

    def update() -> None:
        decay()
        descend(-optimizer.lr)
        optimizer.count_step()

    return buffer, accumulate, update


def _decay(optimizer: Optimizer, params: NDArray[Any], buffer: NDArray[Any]) -> Callable[[], None]:
    """A call adding the optimiser's weight decay as it is when it runs (a callback may set
    it) to ``buffer``: ``buffer += wd * params`` (``Optimizer.decays``: one number, one axpy
    in slices; a ``decay_mask``'s vector, a product into a spare made at its first use and a
    sum); nothing at 0."""
    add = scaled_add(buffer, params)
    spares: list[NDArray[Any]] = []

    def run() -> None:
        decays = optimizer.decays(params)
        if not isinstance(decays, np.ndarray):
            if decays:
                add(decays)
            return
        if not spares:
            spares.append(np.empty_like(params))
        with np.errstate(under="ignore"):  # (as the optimiser's own step)
            np.multiply(params, decays, out=spares[0])
            np.add(buffer, spares[0], out=buffer)

    return run


def _shared_descent(params: NDArray[Any], buffer: NDArray[Any],
                    shares: tuple[tuple[int, float], ...]) -> Callable[[float], object]:
    """A call ``run(a)`` setting ``params += a * share * buffer``, each module's block at
    its share: one axpy (in slices: ``scaled_add``) a run of consecutive modules with the
    same share, one in all without an ``lr_scale``."""
    runs: list[tuple[int, int, float]] = []
    start = 0
    for size, share in shares:
        if runs and runs[-1][2] == share:
            runs[-1] = (runs[-1][0], start + size, share)
        else:
            runs.append((start, start + size, share))
        start += size
    adds = [(share, scaled_add(params[a:b], buffer[a:b])) for a, b, share in runs]

    def each(a: float) -> None:
        for share, add in adds:
            add(a * share)

    return each


def _nothing() -> None:
    """No update: a step without an optimiser."""


def _clipped(clip: Callable[[], float], update: Callable[[], object]) -> None:
    """The gradient clipped, then the update."""
    clip()
    update()
