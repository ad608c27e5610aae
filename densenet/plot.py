"""Plots of training (matplotlib, the ``plot`` extra, imported only when called)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import flag

if TYPE_CHECKING:
    from .lr_find import LRFind
    from .training import History


def _axes(ax: Any) -> Any:
    """``ax``, or the axes of a new figure (6 x 4 inches) when it is None."""
    if ax is None:
        fig = _matplotlib_figure()(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
    return ax


def _finish(ax: Any, title: str | None) -> Any:
    """Title (if any), a faint grid and the legend on ``ax``; returns its figure."""
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax.figure


def _matplotlib_figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "densenet.plot needs matplotlib: pip install 'densenet[plot]'"
        ) from None
    return Figure


def loss_curve(history: History, ax: Any = None, *, title: str | None = None,
               log_scale: bool = True) -> Any:
    """Plot ``history.loss`` (and ``history.val_loss``) against the epoch.

    Args:
        history: what ``fit`` returned.
        ax: a matplotlib ``Axes`` to draw on; by default a new ``Figure`` with one.
        title: the axes title.
        log_scale: a logarithmic loss axis (default True).

    Returns:
        The matplotlib ``Figure``. No pyplot and no GUI backend are involved, so
        it works headless: ``loss_curve(history).savefig("loss.png")``.
    """
    log_scale = flag(log_scale, "loss_curve", "log_scale")
    ax = _axes(ax)
    epochs = np.arange(1, history.epochs + 1)
    ax.plot(epochs, history.loss, label="training loss")
    if history.val_loss is not None:
        ax.plot(epochs, history.val_loss, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log_scale and np.all(history.loss > 0):
        ax.set_yscale("log")
    return _finish(ax, title)


def metric_curve(history: History, name: str = "accuracy", ax: Any = None, *,
                 title: str | None = None) -> Any:
    """Plot a metric ``fit`` recorded (``fit(..., metrics=[name])``): its training value,
    and its validation value (``val_`` + ``name``) if recorded, against the epoch.

    Args:
        history: what ``fit`` returned.
        name: the metric's name (``"accuracy"``, ``"r2"``...), without ``val_``.
        ax: a matplotlib ``Axes`` to draw on; by default a new ``Figure`` with one.
        title: the axes title.

    Returns:
        The matplotlib ``Figure`` (headless, as ``loss_curve``'s). ``KeyError`` for a
        name the history does not hold.
    """
    values = history[name]  # (KeyError naming what it holds)
    ax = _axes(ax)
    epochs = np.arange(1, history.epochs + 1)
    ax.plot(epochs, values, label=f"training {name}")
    if f"val_{name}" in history.logs():
        ax.plot(epochs, history[f"val_{name}"], label=f"validation {name}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    return _finish(ax, title)


def lr_curve(found: LRFind, ax: Any = None, *, title: str | None = None) -> Any:
    """Plot an ``lr_find`` result: each step's loss (faint) and the smoothed loss against
    the rate on a logarithmic axis, and the suggested rate as a vertical line.

    Args:
        found: what ``densenet.lr_find`` returned.
        ax: a matplotlib ``Axes`` to draw on; by default a new ``Figure`` with one.
        title: the axes title.

    Returns:
        The matplotlib ``Figure`` (headless, as ``loss_curve``'s).
    """
    ax = _axes(ax)
    ax.plot(found.rates, found.losses, alpha=0.3, label="batch loss")
    ax.plot(found.rates, found.smoothed, label="smoothed loss")
    if found.suggestion is not None:
        ax.axvline(found.suggestion, color="black", linestyle="--",
                   label=f"suggestion {found.suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    return _finish(ax, title)
