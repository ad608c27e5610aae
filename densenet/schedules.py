"""Learning-rate schedules: callbacks that set ``optimizer.lr`` after each epoch
(``OneCycleLR``: after each batch, and the momentum with it).

A schedule holds the optimiser and what it has seen (the epochs or steps, the best
loss), across ``fit`` calls, so a training split over several calls follows one
schedule; ``state_dict()`` and ``load_state_dict()`` carry that to another process
(``Sequential.save(path, optimizer, schedules=[...])`` keeps it in the model's file).
The rates follow PyTorch's ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LinearLR``,
``CosineAnnealingLR`` and ``SequentialLR`` (closed forms), ``ReduceLROnPlateau`` (from the
losses) and ``OneCycleLR``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._validation import (
    count,
    flag,
    hyperparameter,
    kind_given,
    learning_rate,
    one_of,
    positive_int,
    real_number,
)
from .callbacks import Callback, callback_list, checked_mode, checked_monitor, monitored_mode, worst
from .optimizer import Optimizer


class _Scheduler(Callback):
    """What every schedule is: a callback that sets one optimiser's ``lr``."""

    unshown = ("optimizer",)

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be a densenet Optimizer, "
                            f"got {kind_given(optimizer)}")
        if optimizer.full_batch:  # (its rates would change nothing: refused before any training)
            raise ValueError(f"{type(self).__name__} sets the learning rate of {optimizer!r}, which has "
                             "none: it minimises the whole objective itself (full_batch); schedule an "
                             "optimiser that steps")
        self.optimizer = optimizer

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Refuse a fit that trains with another optimiser (before it begins): its rates
        would go to one that nothing steps."""
        trained = params.get("optimizer", self.optimizer)
        if trained is not self.optimizer:
            raise ValueError(f"{type(self).__name__} schedules the learning rate of {self.optimizer!r} "
                             f"(object {id(self.optimizer):#x}), but fit trains with another optimiser, "
                             f"{trained!r} (object {id(trained):#x}): make the schedule for fit's optimizer")
        super().set_params(params)

    def state_dict(self) -> dict[str, Any]:
        """Where the schedule is (JSON numbers): what a training resumed elsewhere needs,
        beside the optimiser's state, to follow it on (``load_state_dict``)."""
        raise NotImplementedError

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Go on from ``state`` (an earlier ``state_dict()``, checked: ``ValueError`` or
        ``TypeError`` naming what is wrong, the schedule unchanged), and set the
        optimiser's rate (and momentum) for that place."""
        raise NotImplementedError

    def _fields(self, state: object, names: tuple[str, ...]) -> list[Any]:
        """The values of ``names`` in ``state``, which must hold those names and no other."""
        if not isinstance(state, Mapping) or set(state) != set(names):
            raise ValueError(f"{type(self).__name__}: a state must hold {', '.join(names)} (a state_dict()), "
                             f"got {state!r}")
        return [state[name] for name in names]


class LRSchedule(_Scheduler):
    """Base class: ``rate(epoch)`` is the learning rate for epoch ``epoch`` (0-based).

    A schedule of one's own defines ``rate`` (``fit`` sets it when it starts the first
    epoch and after each epoch; ``state_dict`` keeps the epoch and the base rate). A rate
    changed since the schedule set it (by a ``ReduceLROnPlateau`` beside it, or by hand)
    goes on from there: after epoch ``e`` the schedule multiplies it by ``rate(e + 1) /
    rate(e)``, as PyTorch's schedulers chain.

    Args:
        optimizer: the optimiser whose ``lr`` is set; its ``lr`` now is the base rate.

    Example:
        >>> import densenet as dn
        >>> class WarmUp(dn.LRSchedule):
        ...     def rate(self, epoch):
        ...         return self.base_lr * min(1.0, (epoch + 1) / 3)
        >>> [round(WarmUp(dn.SGD(lr=0.3)).rate(e), 2) for e in range(4)]
        [0.1, 0.2, 0.3, 0.3]
    """

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer)
        self.base_lr, self.epoch = optimizer.lr, 0

    def rate(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch``."""
        raise NotImplementedError

    def set_rate(self) -> None:
        """Set the rate of the epoch the schedule is at (``rate(0)`` for a new one: a
        schedule whose first rate is not the base rate sets it when it is made, and
        ``fit`` sets it when it starts the first epoch; ``load_state_dict`` sets it too)."""
        self.optimizer.lr = self._checked_rate(self.epoch)

    def _checked_rate(self, epoch: int) -> float:
        """``rate(epoch)`` as a float; ``TypeError`` or ``ValueError`` naming the schedule
        and the epoch where it is no learning rate: not a real number, negative or NaN, or
        past a float's range (a gamma above 1 grows the rate without bound)."""
        name = type(self).__name__
        try:
            rate = self.rate(epoch)
            value = real_number(rate)
        except OverflowError:  # (a float's power, or an int, past its range)
            value = math.inf
        if value is None:
            raise TypeError(f"{name}: rate({epoch}) gave {rate!r}, not a real number")
        if math.isinf(value):
            raise ValueError(f"{name}: its learning rate for epoch {epoch} overflows a float "
                             f"(base rate {self.base_lr!r})")
        if not value >= 0:
            raise ValueError(f"{name}: its learning rate for epoch {epoch} is {value!r}; "
                             "a rate must be finite and >= 0")
        return value

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        if self.epoch == 0:  # (later, the rate is the one the last epoch left)
            self.set_rate()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.optimizer.lr = self._next_rate()
        self.epoch += 1

    def _next_rate(self) -> float:
        """``rate(epoch + 1)``; or, where the optimiser's rate is no longer ``rate(epoch)``
        (another schedule, a plateau's drop, or a hand changed it), that rate times
        ``rate(epoch + 1) / rate(epoch)``: the change holds on, as with PyTorch's
        schedulers stepped one after another."""
        following, current = self._checked_rate(self.epoch + 1), self._checked_rate(self.epoch)
        rate = self.optimizer.lr
        if rate == current or current == 0:  # (from a rate of 0 no ratio says where to go)
            return following
        chained = rate * (following / current)
        if not math.isfinite(chained):
            raise ValueError(f"{type(self).__name__}: its learning rate for epoch {self.epoch + 1}, the "
                             f"optimiser's {rate!r} times rate({self.epoch + 1}) / rate({self.epoch}) = "
                             f"{following!r} / {current!r}, overflows a float")
        return chained

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        epoch, base_lr = self._fields(state, ("epoch", "base_lr"))
        name = type(self).__name__
        kept = self.epoch, self.base_lr
        self.epoch, self.base_lr = count(epoch, f"{name} epoch"), learning_rate(base_lr, name)
        try:
            self.set_rate()
        except ValueError:  # (a rate past a float's range)
            self.epoch, self.base_lr = kept
            raise


class StepLR(LRSchedule):
    """``lr = base_lr * gamma ** (epoch // step_size)``, ``gamma >= 0`` (0: the rate drops to 0
    at the first step, as in PyTorch).

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> [dn.StepLR(sgd, step_size=2, gamma=0.5).rate(e) for e in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = positive_int(step_size, "StepLR step_size")
        self.gamma = hyperparameter(gamma, "StepLR", "gamma")

    def rate(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRSchedule):
    """``lr = base_lr * gamma ** k`` from the ``k``-th milestone epoch on (a milestone
    listed twice counts twice), ``gamma >= 0``.

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> [dn.MultiStepLR(sgd, milestones=[2, 3], gamma=0.5).rate(e) for e in range(5)]
        [1.0, 1.0, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        try:
            listed = list(milestones)
        except TypeError:
            raise TypeError(f"MultiStepLR: milestones must be a list of epochs, got {milestones!r}") from None
        self.milestones = tuple(sorted(count(m, "MultiStepLR milestone") for m in listed))
        self.gamma = hyperparameter(gamma, "MultiStepLR", "gamma")
        self.set_rate()

    def rate(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRSchedule):
    """``lr = base_lr * gamma ** epoch``, ``gamma >= 0``.

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> [dn.ExponentialLR(sgd, gamma=0.5).rate(e) for e in range(4)]
        [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = hyperparameter(gamma, "ExponentialLR", "gamma")

    def rate(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** epoch


class LinearLR(LRSchedule):
    """``lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch,
    total_iters) / total_iters)``: from a fraction of the base rate to another over
    ``total_iters`` epochs, then constant; a warm-up with the defaults (PyTorch's
    ``LinearLR``). The rate of epoch 0 is set when the schedule is made.

    Args:
        optimizer: the optimiser whose ``lr`` is set; its ``lr`` now is the base rate.
        start_factor: the first epoch's fraction, in (0, 1] (default 1/3).
        end_factor: the fraction from epoch ``total_iters`` on, in [0, 1] (default 1).
        total_iters: the epochs it takes, >= 1 (default 5).

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> warm_up = dn.LinearLR(sgd, start_factor=0.25, total_iters=3)
        >>> sgd.lr, [warm_up.rate(e) for e in range(5)]
        (0.25, [0.25, 0.5, 0.75, 1.0, 1.0])
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        super().__init__(optimizer)
        self.start_factor = hyperparameter(start_factor, "LinearLR", "start_factor", low_open=True, high=1.0)
        self.end_factor = hyperparameter(end_factor, "LinearLR", "end_factor", high=1.0)
        self.total_iters = positive_int(total_iters, "LinearLR total_iters")
        self.set_rate()

    def rate(self, epoch: int) -> float:
        share = min(epoch, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * share)


class CosineLR(LRSchedule):
    """``lr = min_lr + (base_lr - min_lr) (1 + cos(pi epoch / epochs)) / 2``, from the
    base rate down to ``min_lr`` over ``epochs`` epochs, then back up (PyTorch's
    ``CosineAnnealingLR`` with ``T_max=epochs``, ``eta_min=min_lr``). With
    ``min_lr=0`` the epoch after a full period trains at a rate of 0: it moves nothing
    (an optimiser with moments still updates them, as PyTorch's do).

    Example:
        >>> import densenet as dn
        >>> adam = dn.Adam(lr=1.0)
        >>> [round(dn.CosineLR(adam, epochs=4).rate(e), 3) for e in range(5)]
        [1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, optimizer: Optimizer, epochs: int, min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self.epochs = positive_int(epochs, "CosineLR epochs")
        self.min_lr = hyperparameter(min_lr, "CosineLR", "min_lr", high=self.base_lr)

    def rate(self, epoch: int) -> float:
        return _cosine(self.min_lr, self.base_lr, epoch / self.epochs)


class CosineRestartsLR(LRSchedule):
    """``CosineLR``'s descent from the base rate to ``min_lr``, restarted: over ``epochs``
    epochs, then over ``mult`` times as many, and so on (PyTorch's
    ``CosineAnnealingWarmRestarts`` with ``T_0=epochs``, ``T_mult=mult``,
    ``eta_min=min_lr``, stepped once an epoch).

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> [round(dn.CosineRestartsLR(sgd, epochs=2, mult=2).rate(e), 3) for e in range(7)]
        [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]
    """

    def __init__(self, optimizer: Optimizer, epochs: int, mult: int = 1, min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self.epochs = positive_int(epochs, "CosineRestartsLR epochs")
        self.mult = positive_int(mult, "CosineRestartsLR mult")
        self.min_lr = hyperparameter(min_lr, "CosineRestartsLR", "min_lr", high=self.base_lr)

    def rate(self, epoch: int) -> float:
        done, period = epoch, self.epochs  # the epochs into the current period, and its length
        if self.mult == 1:  # (periods of one length: a remainder, not a turn for each period)
            done %= period
        while done >= period:  # (periods that grow: a turn for each, as many as a log of epoch)
            done, period = done - period, period * self.mult
        return _cosine(self.min_lr, self.base_lr, done / period)


class SequentialLR(LRSchedule):
    """Schedules in turn: ``schedules[i]`` from epoch ``milestones[i - 1]`` on (the first
    from 0), counting its epochs from there (PyTorch's ``SequentialLR``): a warm-up, then
    a decay. Every schedule's base rate is the first's (a warm-up made first has lowered
    the optimiser's rate by the time the next is made); pass this one to ``fit``, not them.

    Args:
        optimizer: the optimiser whose ``lr`` is set, the one the schedules were made for.
        schedules: epoch schedules (``LRSchedule``: ``StepLR``, ``LinearLR``, ``CosineLR``...;
            PyTorch's ``schedulers``).
        milestones: the epochs at which the next schedule takes over, increasing, one
            fewer than the schedules.

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> warm_up = dn.LinearLR(sgd, start_factor=0.25, total_iters=3)
        >>> decay = dn.CosineLR(sgd, epochs=4)
        >>> both = dn.SequentialLR(sgd, [warm_up, decay], milestones=[3])
        >>> [round(both.rate(e), 3) for e in range(8)]
        [0.25, 0.5, 0.75, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, optimizer: Optimizer, schedules: Iterable[LRSchedule],
                 milestones: Iterable[int]) -> None:
        name = type(self).__name__
        self.schedules, milestones = callback_list(schedules, name, "schedules"), list(milestones)
        if not self.schedules:
            raise ValueError(f"{name}: schedules must hold at least one schedule")
        for i, schedule in enumerate(self.schedules):
            if not isinstance(schedule, LRSchedule) or isinstance(schedule, SequentialLR):
                raise TypeError(f"{name}: schedule {i} must be an epoch schedule (StepLR, LinearLR, "
                                f"CosineLR...), got {type(schedule).__name__}")
            if schedule.optimizer is not optimizer:
                raise ValueError(f"{name}: schedule {i}, {type(schedule).__name__}, was made for another "
                                 f"optimiser than {optimizer!r}")
        self.milestones = tuple(positive_int(m, f"{name} milestone") for m in milestones)
        increasing = list(self.milestones) == sorted(set(self.milestones))
        if len(self.milestones) != len(self.schedules) - 1 or not increasing:
            raise ValueError(f"{name}: milestones must be increasing epochs, one fewer than the "
                             f"{len(self.schedules)} schedules, got {milestones}")
        super().__init__(optimizer)
        self.base_lr = self.schedules[0].base_lr
        self._share_base()
        self.set_rate()

    def _share_base(self) -> None:
        for schedule in self.schedules:
            schedule.base_lr = self.base_lr

    def rate(self, epoch: int) -> float:
        i = bisect.bisect_right(self.milestones, epoch)
        return self.schedules[i].rate(epoch - (self.milestones[i - 1] if i else 0))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._share_base()
        self.set_rate()


class ReduceLROnPlateau(_Scheduler):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving:
    PyTorch's ``ReduceLROnPlateau`` as a callback.

    Args:
        optimizer: the optimiser whose ``lr`` is set.
        monitor: ``"val_loss"`` (default; needs ``validation_data``), ``"loss"``, or a
            metric's name (``"val_accuracy"``: ``fit(..., metrics=["accuracy"])``).
        factor: the rate's multiplier at a plateau, in [0, 1) (0: down to ``min_lr`` at once).
        patience: epochs without improvement that are tolerated, >= 0: the rate drops
            after the ``patience + 1``-th.
        threshold: what counts as an improvement, >= 0: a value below
            ``best * (1 - threshold)`` (``threshold_mode="rel"``) or below
            ``best - threshold`` (``"abs"``); in ``"max"`` mode, above ``best * (1 +
            threshold)`` or ``best + threshold``.
        cooldown: epochs after a drop whose lack of improvement is not counted, >= 0.
        min_lr: the rate never drops below it, >= 0.
        eps: a drop smaller than this is not made, >= 0.
        mode: ``"min"``: lower is better (PyTorch's default), ``"max"``: higher is; or
            ``"auto"`` (default): ``"max"`` for a metric whose ``greater_is_better``
            (accuracy), else ``"min"``; resolved when training begins.

    Attributes:
        best: the best value seen (``inf``, or ``-inf`` in ``"max"`` mode, before any);
        ``num_bad_epochs`` and ``cooldown_counter`` PyTorch's counts. They carry over from
        one ``fit`` to the next, as the other schedules' epochs do.

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> plateau = dn.ReduceLROnPlateau(sgd, monitor="loss", factor=0.5, patience=1)
        >>> for epoch, loss in enumerate([3.0, 2.0, 2.0, 2.0, 2.0]):
        ...     plateau.on_epoch_end(epoch, {"loss": loss})
        >>> sgd.lr   # halved after the second epoch in a row without improvement
        0.5
    """

    #: (the defaults of one pickled before modes existed)
    mode = "auto"
    #: "min" or "max": the mode, "auto" resolved when training begins
    sense = "min"

    def __init__(self, optimizer: Optimizer, monitor: str = "val_loss", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8, mode: str = "auto") -> None:
        super().__init__(optimizer)
        name = type(self).__name__
        if not one_of(threshold_mode, ("rel", "abs")):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.monitor, self.threshold_mode = checked_monitor(name, monitor), threshold_mode
        self.mode = checked_mode(name, mode)
        self.sense = "min" if mode == "auto" else mode
        self.factor = hyperparameter(factor, name, "factor", high=1.0, high_open=True)
        self.patience = count(patience, f"{name} patience")
        self.cooldown = count(cooldown, f"{name} cooldown")
        self.threshold = hyperparameter(threshold, name, "threshold")
        self.min_lr = hyperparameter(min_lr, name, "min_lr")
        self.eps = hyperparameter(eps, name, "eps")
        self.best, self.num_bad_epochs, self.cooldown_counter = worst(self.sense), 0, 0

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        sense = monitored_mode(type(self).__name__, self.monitor, self.mode, self.params)
        if math.isinf(self.best):  # nothing seen yet (in either mode)
            self.best = worst(sense)
        self.sense = sense

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        best, bad, cooldown = self._fields(state, ("best", "num_bad_epochs", "cooldown_counter"))
        name = type(self).__name__
        if not (isinstance(best, float) and math.isinf(best)):  # (inf or -inf: nothing seen yet)
            best = hyperparameter(best, name, "best", low=-math.inf)
        self.best, self.num_bad_epochs, self.cooldown_counter = (
            float(best), count(bad, f"{name} num_bad_epochs"), count(cooldown, f"{name} cooldown_counter"))

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is None:  # nothing to monitor (fit always passes its logs)
            return
        value = logs[self.monitor]
        if self.sense == "min":
            better = (value < self.best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                      else value < self.best - self.threshold)
        else:
            better = (value > self.best * (1.0 + self.threshold) if self.threshold_mode == "rel"
                      else value > self.best + self.threshold)
        if better:
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs in a cooldown do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            rate = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - rate > self.eps:
                self.optimizer.lr = rate
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0


class OneCycleLR(_Scheduler):
    """The one-cycle policy, after every batch: the rate rises from ``max_lr /
    div_factor`` to ``max_lr`` over the first ``pct_start`` of the steps, then falls to
    ``max_lr / div_factor / final_div_factor``, while the momentum (SGD's and RMSprop's
    ``momentum``, Adam's and AdamW's first beta) falls from ``max_momentum`` to
    ``base_momentum`` and back (PyTorch's ``OneCycleLR``, its rates and momenta to the
    last bit). The first step's rate and momentum are set when the schedule is made.

    Args:
        optimizer: the optimiser whose ``lr`` (and momentum) is set.
        max_lr: the highest rate, > 0.
        total_steps: the steps of the cycle, >= 1; or ``epochs`` times
            ``steps_per_epoch``; if none is given, the first ``fit``'s epochs times its
            batches per epoch. A ``fit`` that would go past the cycle's end is refused
            before its first step.
        pct_start: the share of the steps that the rate rises, in [0, 1] (default 0.3).
        anneal_strategy: ``"cos"`` (default) or ``"linear"``: how each phase goes from its
            start to its end.
        cycle_momentum: cycle the momentum too (default True, as PyTorch's: plain
            ``SGD`` then steps with a momentum); it needs an optimiser with a
            ``momentum`` or ``betas``.
        base_momentum, max_momentum: the momentum's bounds, in [0, 1) (0.85 and 0.95).
        div_factor: the first rate is ``max_lr / div_factor``, > 0 (default 25).
        final_div_factor: the last rate is the first ``/ final_div_factor``, > 0 (1e4).
        three_phase: a third phase: up, down to the first rate (symmetrically), then
            down to the last (default False).

    Attributes:
        step: the steps taken so far, across ``fit`` calls; ``total_steps`` the cycle's.

    The settings are fixed once it is made. After the cycle's last step the rate and
    momentum stay those of that step.

    Example:
        >>> import numpy as np, densenet as dn
        >>> sgd = dn.SGD(lr=0.1)
        >>> cycle = dn.OneCycleLR(sgd, max_lr=1.0, total_steps=10, div_factor=10.0)
        >>> round(sgd.lr, 12), sgd.momentum   # the first step's
        (0.1, 0.95)
        >>> [round(cycle.values(k)[0], 3) for k in range(10)]
        [0.1, 0.55, 1.0, 0.95, 0.812, 0.611, 0.389, 0.188, 0.05, 0.0]
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False) -> None:
        super().__init__(optimizer)
        name = type(self).__name__
        self.max_lr = hyperparameter(max_lr, name, "max_lr", low_open=True)
        self.pct_start = hyperparameter(pct_start, name, "pct_start", high=1.0)
        if not one_of(anneal_strategy, ("cos", "linear")):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = flag(cycle_momentum, name, "cycle_momentum")
        self.base_momentum, self.max_momentum = (hyperparameter(m, name, which, high=1.0, high_open=True)
                                                 for m, which in ((base_momentum, "base_momentum"),
                                                                  (max_momentum, "max_momentum")))
        self.div_factor = hyperparameter(div_factor, name, "div_factor", low_open=True)
        self.final_div_factor = hyperparameter(final_div_factor, name, "final_div_factor", low_open=True)
        self.three_phase = flag(three_phase, name, "three_phase")
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        settings = {"max_lr": self.max_lr, "div_factor": self.div_factor,
                    "final_div_factor": self.final_div_factor}
        for which, rate, terms in (("first rate", self.initial_lr, ["max_lr", "div_factor"]),
                                   ("last rate", self.min_lr, list(settings))):
            if not math.isfinite(rate):  # (an inf, or NaN in the fall from max_lr to inf)
                quotient = " / ".join(repr(settings[term]) for term in terms)
                raise ValueError(f"{name}: the {which}, {' / '.join(terms)} = {quotient}, "
                                 "is beyond float's range")
        self._kept: list[tuple[float, float, float, float, float]] | None = None
        if self.cycle_momentum and not any(hasattr(optimizer, a) for a in ("betas", "momentum")):
            raise ValueError(f"{name}: cycle_momentum needs an optimiser with a momentum or betas, and "
                             f"{optimizer!r} has neither; pass cycle_momentum=False")
        if total_steps is not None:
            self.total_steps: int | None = positive_int(total_steps, f"{name} total_steps")
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = positive_int(positive_int(epochs, f"{name} epochs")
                                            * positive_int(steps_per_epoch, f"{name} steps_per_epoch"),
                                            f"{name}: epochs times steps_per_epoch")
        elif epochs is None and steps_per_epoch is None:
            self.total_steps = None  # the first fit's
        else:
            raise ValueError(f"{name}: give total_steps, or both epochs and steps_per_epoch, or none of them "
                             "(the first fit's steps)")
        if self.total_steps is not None:
            self._check(self.total_steps)
        self.step = 0
        self._set(*self.values(0))

    def _phases(self, total: int) -> list[tuple[float, float, float, float, float]]:
        """Each phase's last step, and its rate's and momentum's start and end values, for
        a cycle of ``total`` steps (PyTorch's arithmetic)."""
        share, first, peak, low = self.pct_start, self.initial_lr, self.max_lr, self.min_lr
        high, base = self.max_momentum, self.base_momentum
        rise = (float(share * total) - 1, first, peak, high, base)
        phases = [rise, (total - 1, peak, low, base, high)]
        if self.three_phase:
            back = (float(2 * share * total) - 2, peak, first, base, high)
            phases = [rise, back, (total - 1, first, low, high, high)]
        return phases

    def _check(self, total: int) -> None:
        """``ValueError`` if the first phase of a cycle of ``total`` steps ends at step 0
        (``pct_start * total == 1``), where PyTorch's rate divides by zero. No other step
        falls in a phase of no length: a step falls in the first phase that ends at or
        after it, so in one that starts before it, and the last phase ends at the last step."""
        ends = [phase[0] for phase in self._phases(total)]
        if ends[0] == 0:
            raise ValueError(f"{type(self).__name__}: pct_start={self.pct_start} of {total} steps leaves a "
                             f"phase of the cycle without steps (its phases end at steps {ends}); choose "
                             "another pct_start or more steps")

    def values(self, step: int) -> tuple[float, float]:
        """The rate and momentum of step ``step`` (0-based) of the cycle."""
        if self.total_steps is None:  # (before the first fit: only the first step's is known)
            return _anneal(self.anneal_strategy, self.initial_lr, self.max_lr, 0.0), self.max_momentum
        return self._values(self.total_steps, step)

    def _values(self, total: int, step: int) -> tuple[float, float]:
        """``values(step)`` in a cycle of ``total`` steps."""
        phases = self._kept
        if phases is None:  # (made once, not at every step: the cycle's length is fixed once set)
            phases = self._kept = self._phases(total)
        start, chosen = 0.0, phases[-1]  # the first phase that ends at or after the step
        for phase in phases[:-1]:        # (the last ends at the last step)
            if step <= phase[0]:
                chosen = phase
                break
            start = phase[0]
        end, lr_start, lr_end, momentum_start, momentum_end = chosen
        share = (step - start) / (end - start)
        return (_anneal(self.anneal_strategy, lr_start, lr_end, share),
                _anneal(self.anneal_strategy, momentum_start, momentum_end, share))

    def _set(self, rate: float, momentum: float) -> None:
        optimizer: Any = self.optimizer  # (one with betas or a momentum, checked when made)
        optimizer.lr = rate
        if self.cycle_momentum:
            if hasattr(optimizer, "betas"):
                optimizer.betas = (momentum, optimizer.betas[1])
            else:
                optimizer.momentum = momentum

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        name = type(self).__name__
        planned = self.params["epochs"] * self.params["steps"]
        if self.total_steps is None:
            total = positive_int(self.step + planned, f"{name}: the cycle's steps (fit's epochs times "
                                 "batches)")
            self._check(total)
            self.total_steps = total
        left = self.total_steps - self.step
        if planned > left:
            epochs, steps = self.params["epochs"], self.params["steps"]
            raise ValueError(f"{name}: the cycle has {left} of its {self.total_steps} steps left, but fit "
                             f"would take {planned} ({epochs} epochs of {steps} batches)")

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.step += 1
        if self.total_steps is not None and self.step < self.total_steps:
            self._set(*self.values(self.step))

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "total_steps": self.total_steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        step, total = self._fields(state, ("step", "total_steps"))
        name = type(self).__name__
        step = count(step, f"{name} step")
        if total is None:
            if step:
                raise ValueError(f"{name}: a state of {step} steps needs the cycle's total_steps, got None")
        else:
            total = positive_int(total, f"{name} total_steps")
            if step > total:
                raise ValueError(f"{name}: a state of {step} steps is past the cycle's {total}")
            self._check(total)
        self.step, self.total_steps, self._kept = step, total, None
        if total is None or step < total:  # (after the last step: the optimiser's are that step's)
            self._set(*self.values(step))


def _cosine(low: float, high: float, share: float) -> float:
    """``low + (high - low) (1 + cos(pi share)) / 2``, the factor in [0, 1] taken first: the
    product of ``high - low`` and ``1 + cos`` overflows for ``high`` above half the largest
    float."""
    return low + (high - low) * ((1 + math.cos(math.pi * share)) / 2)


def _anneal(strategy: str, start: float, end: float, share: float) -> float:
    """From ``start`` (``share`` 0) to ``end`` (1), PyTorch's arithmetic."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * share) + 1)
    return (end - start) * share + start
