"""``lr_find``: the learning-rate range test, to choose a rate without hunting for one.

A short training whose rate rises exponentially at every step, from far too small to far
too large, recording each batch's loss: the loss stays flat while the rate is too small,
falls once it is large enough, and shoots up once it is too large. A good rate lies
where it falls, well below the point where it is lowest. The test trains copies: the
model and optimiser given are left exactly as they were.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import hyperparameter, kind_given, positive_int
from .callbacks import Callback
from .init import Seed
from .model import Sequential, as_model
from .optimizer import Optimizer
from .sgd import SGD
from .training import DivergenceError

if TYPE_CHECKING:
    from .loss import Loss


@dataclass(frozen=True)
class LRFind:
    """What ``lr_find`` measured.

    Attributes:
        rates: the rate of each step taken, rising exponentially.
        losses: each step's batch loss (before its update), as ``fit`` minimises it.
        smoothed: ``losses`` smoothed by an exponential moving average (weight
            ``smoothing`` for the older values, bias-corrected), which the test stops
            on and suggests from.
        diverged: True when the test stopped before its last step: the smoothed loss
            rose above ``diverge`` times its lowest (checked after the first tenth of the
            steps), or a loss was not finite (that step is not in the arrays).
        suggestion: a tenth of ``lowest``, the rate where the smoothed loss was lowest:
            a rate that learns fast, well below where the rate starts to do harm. None
            when the loss was lowest at the last step (the range did not reach a rate
            too large: raise ``end_lr``) or in the first tenth of the steps (it never
            fell: a model or data that does not learn, or too few steps).
    """

    rates: NDArray[np.float64]
    losses: NDArray[np.float64]
    smoothed: NDArray[np.float64]
    diverged: bool

    @property
    def lowest(self) -> float:
        """The rate of the step with the lowest smoothed loss."""
        return float(self.rates[int(np.argmin(self.smoothed))])

    @property
    def suggestion(self) -> float | None:
        """A tenth of ``lowest``, if the smoothed loss was lowest past the first tenth of
        the steps and before the last; else None."""
        lowest, steps = int(np.argmin(self.smoothed)), len(self.rates)
        return float(self.rates[lowest]) / 10.0 if steps // 10 <= lowest < steps - 1 else None

    def __repr__(self) -> str:
        rate = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (f"LRFind({len(self.rates)} steps, rates {self.rates[0]:.3g} to {self.rates[-1]:.3g}, "
                f"suggestion {rate}, lowest {self.lowest:.3g}{', diverged' if self.diverged else ''})")


class _Stop(Exception):
    """Raised by the test's callback to end the training between two steps."""


class _RangeTest(Callback):
    """Sets each step's rate and records each batch's loss; stops after ``steps``, or
    once the smoothed loss exceeds ``diverge`` times its lowest (not in the first tenth
    of the steps, where the average has seen too few batches to judge)."""

    def __init__(self, optimizer: Optimizer, rates: NDArray[np.float64], smoothing: float,
                 diverge: float) -> None:
        self.optimizer, self.rates, self.smoothing, self.diverge = optimizer, rates, smoothing, diverge
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average = 0.0
        self.diverged = False

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        value = (logs or {})["loss"]  # (fit always gives the batch's loss)
        self.losses.append(value)
        self.average = self.smoothing * self.average + (1.0 - self.smoothing) * value
        self.smoothed.append(self.average / (1.0 - self.smoothing ** len(self.losses)))
        if len(self.losses) > len(self.rates) // 10 and self.smoothed[-1] > self.diverge * min(self.smoothed):
            self.diverged = len(self.losses) < len(self.rates)
            raise _Stop
        if len(self.losses) == len(self.rates):
            raise _Stop
        self.optimizer.lr = float(self.rates[len(self.losses)])


def lr_find(model: Sequential, X: ArrayLike, y: ArrayLike, *, optimizer: Optimizer | None = None,
            loss: Loss | None = None, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
            batch_size: int = 32, smoothing: float = 0.98, diverge: float = 4.0,
            seed: Seed = None, sample_weight: ArrayLike | None = None) -> LRFind:
    """The learning-rate range test: train copies of ``model`` and ``optimizer`` for up
    to ``steps`` mini-batch steps on ``(X, y)``, the rate rising exponentially from
    ``start_lr`` to ``end_lr``, and record each batch's loss (``LRFind``).

    Args:
        model: the model to test; it is not changed (a deep copy trains).
        X, y, loss, batch_size, sample_weight: as ``fit`` (the defaults too: ``MSELoss``).
        optimizer: the optimiser to test (default ``SGD``), copied with its state, so
            that a test midway through a training measures from where it is; its rate is
            the test's.
        start_lr, end_lr: the first and last rate, ``0 < start_lr < end_lr``.
        steps: the most steps, >= 2; the data is shuffled again after each pass.
        smoothing: the moving average's weight on the older losses, in [0, 1).
        diverge: stop once the smoothed loss exceeds this many times its lowest, > 1.
        seed: the shuffling's generator, as ``fit``'s (default: the model copy's).

    Returns:
        An ``LRFind``: the rates, the losses and their smoothed values, whether the test
        stopped early, and a suggested rate (``.suggestion``: a tenth of the rate where
        the smoothed loss was lowest). ``densenet.plot.lr_curve`` draws it.

    Raises:
        ValueError or TypeError, before any step, for bad arguments or data, and for a
        full-batch optimiser (``LBFGS`` takes no rate).

    Example:
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 8), dn.Tanh(), dn.Dense(8, 1), seed=0)
        >>> found = dn.lr_find(model, dn.tutorial.X, dn.tutorial.y, start_lr=1e-4, end_lr=100)
        >>> found
        LRFind(63 steps, rates 0.0001 to 0.572, suggestion 0.0327, lowest 0.327, diverged)
    """
    model = as_model(model, "lr_find")
    start = hyperparameter(start_lr, "lr_find", "start_lr", low_open=True)
    end = hyperparameter(end_lr, "lr_find", "end_lr", low=start, low_open=True)
    count = positive_int(steps, "lr_find: steps", "an integer >= 2", low=2)
    weight = hyperparameter(smoothing, "lr_find", "smoothing", high=1.0, high_open=True)
    limit = hyperparameter(diverge, "lr_find", "diverge", low=1.0, low_open=True)
    size = positive_int(batch_size, "lr_find: batch_size")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"lr_find: optimizer must be a densenet Optimizer, got {kind_given(optimizer)}")
    if optimizer is not None and optimizer.full_batch:
        raise ValueError(f"lr_find needs an optimiser that steps batch by batch with a rate; {optimizer!r} "
                         "minimises the whole objective itself")
    trial_model = copy.deepcopy(model)
    trial = SGD(start) if optimizer is None else copy.deepcopy(optimizer)
    # start * (end / start)**t, by logarithms: the ratio may be beyond float's range (a
    # subnormal start, an end near the largest float); the last rate, which could round
    # up to inf, is the end itself
    low, high = math.log(start), math.log(end)
    with np.errstate(over="ignore"):
        rates = np.exp(low + np.arange(count) / (count - 1) * (high - low))
    rates[0], rates[-1] = start, end  # (exactly, whatever the rounding of the powers)
    trial.lr = float(rates[0])
    test = _RangeTest(trial, rates, weight, limit)
    try:  # (an epoch has a step at least; the test's callback ends the fit after its steps)
        trial_model.fit(X, y, optimizer=trial, loss=loss, epochs=count, batch_size=size, seed=seed,
                        callbacks=[test], sample_weight=sample_weight)
    except _Stop:
        pass
    except DivergenceError:  # a loss or the weights not finite: the steps before it stand
        test.diverged = True
    taken = len(test.losses)
    if not taken:
        raise ValueError(f"lr_find: the loss was not finite at the first step (at start_lr {start:g}): "
                         "check the data and the model's outputs")
    return LRFind(rates[:taken].copy(), np.array(test.losses), np.array(test.smoothed), test.diverged)
