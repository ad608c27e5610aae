"""Callbacks: hooks that ``fit`` calls while it trains."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Sequential


class Callback:
    """Base class: override any of the hooks; the defaults do nothing.

    ``on_epoch_end`` may return True to stop training after that epoch.
    ``on_batch_end`` is called only for callbacks that override it, so the
    step loop pays nothing for the others.
    """

    def on_train_begin(self, model: Sequential) -> None:
        """Called once before the first epoch."""

    def on_batch_end(self, model: Sequential, batch: int, loss: float) -> None:
        """Called after each optimiser step with the batch's index and loss."""

    def on_epoch_end(self, model: Sequential, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after each epoch with ``logs["loss"]`` (and ``"val_loss"``); True stops."""
        return None

    def on_train_end(self, model: Sequential) -> None:
        """Called once after the last epoch."""
