"""Learning-rate schedules: callbacks that set ``optimizer.lr`` after each epoch.

A schedule holds the optimiser and what it has seen (the epochs, the best loss),
across ``fit`` calls, so a training split over several calls follows one schedule.
The rates follow PyTorch's ``StepLR`` and ``CosineAnnealingLR`` (closed form) and
``ReduceLROnPlateau`` (from the losses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._validation import count, hyperparameter, positive_int
from .callbacks import Callback, checked_monitor, require_monitored
from .optimizer import Optimizer


class _Scheduler(Callback):
    """What every schedule is: a callback that sets one optimiser's ``lr``."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be a densenet Optimizer, "
                            f"got {type(optimizer).__name__}")
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


class LRSchedule(_Scheduler):
    """Base class: ``rate(epoch)`` is the learning rate for epoch ``epoch`` (0-based).

    Args:
        optimizer: the optimiser whose ``lr`` is set; its ``lr`` now is the base rate.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer)
        self.base_lr, self.epoch = optimizer.lr, 0

    def rate(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch``."""
        raise NotImplementedError

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch += 1
        rate = self.rate(self.epoch)
        if rate > 0:  # learning rates are > 0: at a rate of 0 the last one is kept
            self.optimizer.lr = rate


class StepLR(LRSchedule):
    """``lr = base_lr * gamma ** (epoch // step_size)``.

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> [dn.StepLR(sgd, step_size=2, gamma=0.5).rate(e) for e in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = positive_int(step_size, "StepLR step_size")
        self.gamma = hyperparameter(gamma, "StepLR", "gamma", low_open=True)

    def rate(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineLR(LRSchedule):
    """``lr = min_lr + (base_lr - min_lr) (1 + cos(pi epoch / epochs)) / 2``, from the
    base rate down to ``min_lr`` over ``epochs`` epochs, then back up (PyTorch's
    ``CosineAnnealingLR`` with ``T_max=epochs``, ``eta_min=min_lr``). With
    ``min_lr=0`` the rate at epoch ``epochs`` is 0, which no optimiser takes: the
    epoch after a full period keeps the last positive rate.

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
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * epoch / self.epochs)) / 2


class ReduceLROnPlateau(_Scheduler):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving:
    PyTorch's ``ReduceLROnPlateau`` (``mode="min"``) as a callback.

    Args:
        optimizer: the optimiser whose ``lr`` is set.
        monitor: ``"val_loss"`` (default; needs ``validation_data``) or ``"loss"``.
        factor: the rate's multiplier at a plateau, in (0, 1).
        patience: epochs without improvement that are tolerated, >= 0: the rate drops
            after the ``patience + 1``-th.
        threshold: what counts as an improvement, >= 0: a loss below
            ``best * (1 - threshold)`` (``threshold_mode="rel"``) or below
            ``best - threshold`` (``"abs"``).
        cooldown: epochs after a drop whose lack of improvement is not counted, >= 0.
        min_lr: the rate never drops below it, >= 0.
        eps: a drop smaller than this is not made, >= 0.

    Attributes:
        best: the best loss seen; ``num_bad_epochs`` and ``cooldown_counter`` PyTorch's
        counts. They carry over from one ``fit`` to the next, as the other schedules'
        epochs do.

    Example:
        >>> import densenet as dn
        >>> sgd = dn.SGD(lr=1.0)
        >>> plateau = dn.ReduceLROnPlateau(sgd, monitor="loss", factor=0.5, patience=1)
        >>> for epoch, loss in enumerate([3.0, 2.0, 2.0, 2.0, 2.0]):
        ...     plateau.on_epoch_end(epoch, {"loss": loss})
        >>> sgd.lr   # halved after the second epoch in a row without improvement
        0.5
    """

    def __init__(self, optimizer: Optimizer, monitor: str = "val_loss", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        super().__init__(optimizer)
        name = type(self).__name__
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.monitor, self.threshold_mode = checked_monitor(name, monitor), threshold_mode
        self.factor = hyperparameter(factor, name, "factor", low_open=True, high=1.0, high_open=True)
        self.patience = count(patience, f"{name} patience")
        self.cooldown = count(cooldown, f"{name} cooldown")
        self.threshold = hyperparameter(threshold, name, "threshold")
        self.min_lr = hyperparameter(min_lr, name, "min_lr")
        self.eps = hyperparameter(eps, name, "eps")
        self.best, self.num_bad_epochs, self.cooldown_counter = math.inf, 0, 0

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        require_monitored(type(self).__name__, self.monitor, self.params)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is None:  # nothing to monitor (fit always passes its logs)
            return
        loss = logs[self.monitor]
        better = (loss < self.best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                  else loss < self.best - self.threshold)
        if better:
            self.best, self.num_bad_epochs = loss, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs in a cooldown do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            rate = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - rate > self.eps and rate > 0:  # (learning rates are > 0)
                self.optimizer.lr = rate
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
