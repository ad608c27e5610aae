"""``WeightAveraging``: a running average of the weights over the steps of a fit, put in
the model at its end (an exponential moving average, or stochastic weight averaging)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import count, flag, hyperparameter, positive_int
from .backend import scaled_add, shares
from .callbacks import Callback, check_loaded, loaded_vectors


class WeightAveraging(Callback):
    """Average the model's parameters, and its ``state`` (running statistics) with them,
    over the training steps of a fit, and put the average in the model when the fit ends.

    After each optimiser step from epoch ``start`` on (0-based), with ``w`` the model's
    parameters and state then, and ``a`` their average:

    - ``decay`` a number in [0, 1) (default 0.999): an exponential moving average,
      ``a = decay * a + (1 - decay) * w`` (the two shares as the model's dtype holds them,
      adding up to 1: weights that stop moving are their own average);
    - ``decay=None``: the plain mean of every ``w`` averaged (stochastic weight averaging:
      a schedule that keeps the rate up, and averaging from a late ``start``, go with it).

    The first step averaged sets ``a = w``. This is PyTorch's ``AveragedModel`` updated
    after every step (``multi_avg_fn=get_ema_multi_avg_fn(decay)``, or its default mean)
    with ``use_buffers=True``; validation during the fit sees the weights as trained.
    Stochastic weight averaging's recipe then estimates the running statistics afresh for
    the average: ``dn.update_bn(model, X)`` after the fit.

    Args:
        decay: as above, in [0, 1), or None.
        start: the first epoch whose steps are averaged, >= 0.
        apply: put the average in the model (``params`` and ``state``) when the fit
            ends (default); False leaves the model as trained, the average here.

    Attributes:
        average_params, average_state: the average (flat vectors laid out as the model's
            ``params`` and ``state``), or None before a step was averaged; each fit starts
            a new average, but for one after ``load_state_dict`` (a run resumed from a
            checkpoint file), which goes on with the average it was given.
        count: the steps averaged in the last fit.

    It runs after the other callbacks (``runs_last``): what it puts in the model at the
    end replaces what another put there (``EarlyStopping``'s best weights: pass it
    ``restore_best_weights=False``). A fit that raises (``DivergenceError``, Ctrl-C)
    leaves the model as it would without it. L-BFGS, which takes no steps of its own
    to average, is refused. Two passes over the parameters and state a step (a ufunc and
    BLAS's axpy), nothing allocated after the first.

    Given to ``ModelCheckpoint``'s ``schedules`` (or ``Sequential.save``'s), the average
    is written with the model (``state_dict``), and ``densenet.load(path, optimizer=...,
    schedules=[averaging])`` with one made as before resumes it: the resumed run ends
    as the run that never stopped, bit for bit.

    Example:
        >>> import numpy as np, densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 1), seed=0)
        >>> X = np.random.default_rng(0).standard_normal((64, 2))
        >>> averaging = dn.WeightAveraging(decay=0.9)
        >>> history = model.fit(X, X @ [[1.0], [-2.0]], optimizer=dn.SGD(0.1), epochs=3, batch_size=8,
        ...                     callbacks=[averaging])
        >>> averaging.count, bool((model.params == averaging.average_params).all())
        (24, True)
    """

    runs_last = True  # (the average goes in after any other callback's end of training)
    #: (defaults for one pickled before averages could be resumed)
    _epochs, _resumed = 0, False

    def __init__(self, decay: float | None = 0.999, start: int = 0, apply: bool = True) -> None:
        self.decay = None if decay is None else hyperparameter(decay, "WeightAveraging", "decay", high=1.0,
                                                               high_open=True)
        self.start = positive_int(start, "WeightAveraging: start", "an epoch, an integer >= 0", low=0)
        self.apply = flag(apply, "WeightAveraging", "apply")
        self._restart()

    def _restart(self) -> None:
        """No average yet: as made, and as each fit begins."""
        self.average_params: NDArray[Any] | None = None
        self.average_state: NDArray[Any] | None = None
        self.count, self._epochs = 0, 0  # the steps averaged, the epochs begun
        #: each average beside its update ``a += x w`` (BLAS axpy where it can), for the arrays of the fit
        self._updates: list[tuple[NDArray[Any], Callable[[float], object]]] = []

    def state_dict(self) -> dict[str, Any]:
        """Where the averaging is: the steps averaged (``count``), the epochs of the fit
        so far (``epochs``, counted towards ``start``) and, once a step was averaged,
        copies of ``average_params`` and ``average_state``. ``ModelCheckpoint``'s and
        ``Sequential.save``'s ``schedules`` store it in the model's file, beside the
        optimiser's state; ``densenet.load``'s ``schedules`` gives it back
        (``load_state_dict``)."""
        state: dict[str, Any] = {"count": self.count, "epochs": self._epochs}
        if self.average_params is not None and self.average_state is not None:
            state.update(average_params=self.average_params.copy(), average_state=self.average_state.copy())
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Go on from ``state`` (an earlier ``state_dict()``): the next fit continues that
        average, and counts its epochs on from there, instead of starting a new one (a
        run resumed from a checkpoint file then ends as the whole run would, bit for bit);
        it must train a model of the average's size and dtype (``ValueError`` when it
        begins, before any step). The fits after it start anew (a fit refused before its
        first step, by another callback, leaves the average to the next). A state that is
        not one (``ValueError`` or ``TypeError`` naming what is wrong) leaves the callback
        as it was."""
        names = ("count", "epochs", "average_params", "average_state")
        if not (isinstance(state, Mapping) and set(names[:2]) <= set(state) <= set(names)):
            raise ValueError("WeightAveraging: a state must hold count, epochs and, with steps averaged, "
                             f"average_params and average_state (a state_dict()), got {state!r}")
        steps = count(state["count"], "WeightAveraging count")
        epochs = count(state["epochs"], "WeightAveraging epochs")
        given = [name for name in names[2:] if name in state]
        if not steps and given:
            raise ValueError(f"WeightAveraging: a state of no steps averaged holds no average, got {given}")
        if steps and len(given) < 2:
            raise ValueError(f"WeightAveraging: a state of {steps} steps averaged needs average_params "
                             "and average_state")
        averages = loaded_vectors("WeightAveraging", state, given)
        self._restart()
        if steps:
            (self.average_params, self.average_state), self.count = averages, steps
        self._epochs, self._resumed = epochs, True

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        optimizer = self.params.get("optimizer")
        if optimizer is not None and optimizer.full_batch:
            raise ValueError(f"WeightAveraging averages the weights after each step; "
                             f"{type(optimizer).__name__} minimises the whole objective itself, with no "
                             "steps of its own to average")
        if not self._resumed:
            self._restart()
            return
        params, state = self.model.params, self.model.state
        average_params, average_state = self.average_params, self.average_state
        if average_params is not None and average_state is not None:
            check_loaded("WeightAveraging", "the average given by load_state_dict holds",
                         (average_params, average_state), self.model)
            self._updates = _updaters(((average_params, params), (average_state, state)))
        # (the loaded average serves this fit once it trains: a fit refused before its first
        # step, by another callback's on_train_begin, leaves it for the next one)

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if not batch:  # (an epoch's first step: counted here, not at its end, so that a
            self._epochs += 1  # checkpoint's state_dict finds the epochs done wherever it is in the list)
            self._resumed = False  # (a loaded average: taken up by this fit)
        if self._epochs <= self.start:
            return
        params, state = self.model.params, self.model.state
        if self.average_params is None:  # the first step averaged: a = w
            self.average_params, self.average_state = params.copy(), state.copy()
            self._updates = _updaters(((self.average_params, params), (self.average_state, state)))
            self.count = 1
            return
        self.count += 1
        # (two shares of the dtype that add up to 1: weights that stop moving are their own average)
        keep, part = shares((self.count - 1) / self.count if self.decay is None else self.decay,
                            self.average_params.dtype)
        for average, add in self._updates:
            np.multiply(average, keep, out=average)
            add(part)  # a = keep a + (1 - keep) w

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.apply and self.average_params is not None and self.average_state is not None:
            self.model.params[...] = self.average_params
            self.model.state[...] = self.average_state

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_updates"] = []  # (calls made for the model's arrays; the next fit makes its own)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in ("average_params", "average_state"):  # writeable arrays of its own: joblib
            vector = state.get(name)  # hands large arrays over as read-only memory maps
            if vector is not None:
                setattr(self, name, np.require(vector, requirements=("C", "W", "O")))

    def __repr__(self) -> str:
        decay = "None" if self.decay is None else f"{self.decay:g}"
        extra = (f", start={self.start}" if self.start else "") + ("" if self.apply else ", apply=False")
        return f"{type(self).__name__}(decay={decay}{extra})"


def _updaters(pairs: tuple[tuple[NDArray[Any], NDArray[Any]], ...]) -> list[tuple[NDArray[Any],
                                                                               Callable[[float], object]]]:
    """Each ``(average, array)`` pair's average beside the call that adds a multiple of the
    model's array to it (none for an empty array)."""
    return [(average, scaled_add(average, now)) for average, now in pairs if now.size]
