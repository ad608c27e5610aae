"""Learning-rate schedules: callbacks that set ``optimizer.lr`` after each epoch.

A schedule holds the optimiser and counts the epochs it has seen, across
``fit`` calls, so a training split over several calls follows one schedule.
The rates follow PyTorch's ``StepLR`` and ``CosineAnnealingLR`` (closed form).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._validation import hyperparameter, positive_int
from .callbacks import Callback
from .optimizer import Optimizer


class LRSchedule(Callback):
    """Base class: ``rate(epoch)`` is the learning rate for epoch ``epoch`` (0-based).

    Args:
        optimizer: the optimiser whose ``lr`` is set; its ``lr`` now is the base rate.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be a densenet Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer, self.base_lr, self.epoch = optimizer, optimizer.lr, 0

    def rate(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch``."""
        raise NotImplementedError

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Refuse a fit that trains with another optimiser (before it begins): its rates
        would go to one that nothing steps."""
        trained = params.get("optimizer", self.optimizer)
        if trained is not self.optimizer:
            raise ValueError(f"{type(self).__name__} schedules the learning rate of {self.optimizer!r} "
                             f"(object {id(self.optimizer):#x}), but fit trains with another optimiser, "
                             f"{trained!r} (object {id(trained):#x}): make the schedule for fit's optimizer")
        super().set_params(params)

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
