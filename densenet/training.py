"""The training loop: ``fit``, its ``History`` and the ``DivergenceError`` it raises.

Data is validated once, before training starts. The loop then runs planned
steps (``densenet.plan``) on the model's flat buffers: a step allocates
nothing (no copy of ``X`` when it already has the model's dtype, batches
copied or gathered with ``np.take(out=)`` into the step's input arrays, one
in-place optimiser update; shuffled data that is not C-ordered is copied
once, as ``np.take`` would copy it at every batch). The model keeps its
steps (``train_step``), so a fit called again with the same loss and
optimiser builds none.

The loop works on any model through its public interface (``check_data``,
``train_step``, ``params``, ``grads``, ``rng``, ``evaluate``, ``snapshot_buffer``):
``Sequential.fit`` calls it, and this file never imports the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import init as _init
from ._validation import (
    flag,
    hyperparameter,
    is_sparse,
    kind_given,
    own_method,
    positive_int,
    sample_weights,
    shown,
    warn,
)
from .backend import all_finite, gemm_library
from .callbacks import Callback, Progress, callback_list
from .clipping import norm_bound
from .init import Seed
from .interrupt import StepInterrupts
from .loss import Loss, relative
from .metric import Metric, reported
from .metric_names import MetricLike, check_targets, resolved
from .module import state_arrays
from .mse import MSELoss
from .optimizer import Optimizer
from .sgd import SGD
from .thread_policy import blas_threads, get_num_threads, thread_choice, thread_count, trial_count

if TYPE_CHECKING:
    from .model import Sequential
    from .plan import TrainStep
    from .thread_policy import ThreadChoice


#: The rows of outputs kept for a fit's metrics before they are added to them (``_Kept``).
KEPT_ROWS = 512


@dataclass
class History:
    """What ``fit`` recorded, one entry per epoch run.

    Attributes:
        loss: the mean training loss over each epoch's batches (each batch
            weighted by its number of samples), ``(epochs_run,)``.
        val_loss: the loss on ``validation_data`` after each epoch, or None.
        stopped_early: True when a callback stopped training before ``epochs``.
        metrics: each of ``fit``'s ``metrics`` by name, over each epoch's training
            batches (``"accuracy"``) and, with validation data, on it (``"val_accuracy"``),
            ``(epochs_run,)`` each; ``history["val_accuracy"]`` is one of them.
    """

    loss: NDArray[Any] = field(default_factory=lambda: np.empty(0))
    val_loss: NDArray[Any] | None = None
    stopped_early: bool = False
    metrics: dict[str, NDArray[Any]] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """The number of epochs that ran."""
        return len(self.loss)

    def logs(self) -> dict[str, NDArray[Any]]:
        """Everything recorded, by name, in ``fit``'s order: ``loss``, the metrics, and with
        validation data ``val_loss`` and the metrics on it."""
        logs = {"loss": self.loss}
        logs.update((name, values) for name, values in self.metrics.items() if not name.startswith("val_"))
        if self.val_loss is not None:
            logs["val_loss"] = self.val_loss
        logs.update((name, values) for name, values in self.metrics.items() if name.startswith("val_"))
        return logs

    def __getitem__(self, name: str) -> NDArray[Any]:
        """What was recorded as ``name`` (``"loss"``, ``"val_accuracy"``...), per epoch."""
        logs = self.logs()
        if name not in logs:
            raise KeyError(f"History has no {name!r}; it recorded {list(logs)}")
        return logs[name]


#: Which loss takes which outputs, for the messages of a mismatch between a model and its loss
LOSS_CHOICES = ("logits: CrossEntropyLoss, or BCEWithLogitsLoss, on a Dense layer's outputs; probabilities: "
                "BCELoss after Sigmoid; log-probabilities: NLLLoss after LogSoftmax")


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, non-finite weights or non-finite running
    statistics.

    Attributes:
        epoch, batch: where (0-based) the first bad step happened.
        history: the ``History`` of the epochs completed before it.

        at_start: True when the loss of that batch was not finite at the weights the fit
            started from, before any step: the data (targets whose squared errors overflow)
            or those weights made it so, not a learning rate.
        state: where the step made the model's ``state`` non-finite while its loss and the
            weights stayed finite (``"BatchNorm1d(num_features=4) at index 1 (its
            running_var)"``: a batch's variance beyond the dtype's range, which would leave
            the running variance inf for good), or None.
        optimizer_state: the optimiser's state vector the step made non-finite while the
            loss, the weights and the model's state stayed finite (``"exp_avg_sq"``: the
            square of a gradient beyond the dtype's range, which would stop the parameters
            it holds for good), or None.
        epoch_start: True when the model keeps the weights of the epoch's start rather
            than those from before the bad step: the replay of the epoch that finds that
            step could not follow the fit's steps (a callback changed the weights between
            steps, or a module or loss gave another result for the same weights), and
            ``batch`` is the last the fit took.

    The model keeps the weights from before that step (or, ``epoch_start``, the epoch's).
    When the loss was given outputs it cannot compute on (``Loss.pred_values``: ``BCELoss``
    after a ``Dense`` layer), the message says so, and the loss's ``ValueError`` is the
    ``__cause__``; when ``at_start``, ``state``, ``optimizer_state`` or ``epoch_start``, it
    says that.
    """

    def __init__(self, epoch: int, batch: int, history: History, refusal: ValueError | None = None,
                 at_start: bool = False, state: str | None = None, optimizer_state: str | None = None,
                 optimizer: str = "the optimiser", epoch_start: bool = False) -> None:
        where = f"training diverged at epoch {epoch}, batch {batch}"
        kept = "the model keeps the weights from before that step"
        if epoch_start:
            kept = (f"the model keeps the weights from the start of epoch {epoch}: the replay of the epoch "
                    "that finds the bad step could not follow the fit's steps (a callback changed the "
                    "weights between steps, or a module or loss gave another result for the same weights), "
                    "and the batch named is the last the fit took")
        if refusal is not None:
            message = (f"{where}: the loss became non-finite on outputs it does not take ({refusal}); "
                       f"{kept}. End the model in a module whose outputs the loss takes, or choose the loss "
                       f"for the model's outputs ({LOSS_CHOICES})")
        elif at_start:
            message = (f"{where}: the loss of that batch is non-finite (NaN or inf) at the weights the fit "
                       "started from, before any step, so no learning rate makes it finite: the batch's "
                       "inputs or targets are too large for the loss in the model's dtype (the squared "
                       "errors of targets near 1e155 overflow float64, near 1e19 float32), or those weights "
                       f"are; {kept}. Scale the data (standardise the targets)")
        elif state is not None:
            message = (f"{where}: the running statistics of {state} became non-finite (NaN or inf) while the "
                       "loss and the weights stayed finite: the batch's values before that module are too "
                       "large for its statistics in the model's dtype (a variance overflows float32 near "
                       f"1.8e19, float64 near 1.3e154); {kept}. Scale the inputs (standardise them)")
        elif optimizer_state is not None:
            message = (f"{where}: the optimiser's state ({optimizer}'s {optimizer_state}) became non-finite "
                       "(NaN or inf) while the loss and the weights stayed finite: a gradient too large for "
                       "it in the model's dtype (a square overflows float32 beyond 1.8e19, float64 beyond "
                       f"1.3e154), which would stop the parameters it holds for good; {kept}. Clip the "
                       "gradients (fit's max_grad_norm), or scale the data or the loss")
        else:
            message = (f"{where}: the loss or the weights became non-finite (NaN or inf); {kept}. Try a "
                       "smaller learning rate or scaled inputs.")
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history
        self.at_start, self.state, self.optimizer_state = at_start, state, optimizer_state
        self.epoch_start = epoch_start
        self._optimizer = optimizer
        self.__cause__ = self._refusal = refusal

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from what made it (a copy, or a pickle that a worker process sends back):
        # the default rebuilds an exception from its message alone
        return (type(self), (self.epoch, self.batch, self.history, self._refusal, self.at_start, self.state,
                             self.optimizer_state, self._optimizer, self.epoch_start), self.__dict__)


def _check_outputs(model: Sequential, loss: Loss) -> None:
    """Warn when ``model`` ends in a module whose outputs are of a kind ``loss`` is not meant
    for (``Module.outputs``, ``Loss.takes``): a ``Softmax`` before ``CrossEntropyLoss``, whose
    softmax then squashes probabilities, trains slowly, or not at all. Modules whose outputs
    are of their inputs' kind (``Dropout``) are looked through."""
    *before, last = model
    kept = []
    while last.outputs == "inputs" and before:
        kept.append(last)
        last = before.pop()
    kind, takes = last.outputs, loss.takes
    if kind in (None, "inputs") or takes is None or kind in takes:
        return
    after = ", ".join(map(repr, reversed(kept)))
    after = f" ({after} after it {'keeps' if len(kept) == 1 else 'keep'} their kind)" if kept else ""
    warn(f"fit: {loss!r} is meant for {' or '.join(takes)}, but the model ends in {last!r}, whose outputs "
         f"are {kind}{after}: the loss then computes another function than it means, and training learns "
         f"slowly or not at all. Give the loss what it takes ({LOSS_CHOICES})")


def non_finite_state(model: Sequential) -> str | None:
    """Which module's state holds a value that is not finite, ``"{module!r} at index {i}
    (its {name})"`` (``DivergenceError.state``), or None if none does."""
    if all_finite(model.state):
        return None
    for i, module in enumerate(model):
        for name, values in state_arrays(module):
            if not all_finite(values):
                return f"{module!r} at index {i} (its {name})"
    return None


def _check_frozen(model: Sequential, frozen: tuple[int, ...]) -> None:
    """``RuntimeError`` unless ``model``'s frozen modules are still ``frozen``: a callback that
    freezes or unfreezes modules during ``fit`` changes what the optimiser steps."""
    if model.frozen != frozen:
        raise RuntimeError(f"fit: modules were frozen or unfrozen during training (frozen {frozen}, now "
                           f"{model.frozen}): the optimiser's state is for the parameters that trained "
                           "before. Stop the fit instead (model.stop_training = True) and fit again with a "
                           "new optimiser")


#: A record of the settings a step ran with: the optimiser's (``Optimizer.setting_values``)
#: and its modules' (``Module.settable``)
Settings = tuple[tuple[Any, ...], tuple[Any, ...]]


class _Epoch:
    """One epoch's batches, fed through planned steps (``densenet.plan``)."""

    def __init__(self, model: Sequential, X: Any, y: NDArray[Any], w: NDArray[Any] | None,
                 batch_size: int, shuffle: bool, loss: Loss, optimizer: Optimizer | None,
                 drop_last: bool = False, max_grad_norm: float | None = None,
                 metrics: Sequence[Metric] = ()) -> None:
        self.sparse = is_sparse(X)  # (a batch of its rows is fed to the step: ``Plan.feed``)
        if shuffle and not self.sparse:  # (np.take copies a source that is not one C-ordered block,
            # whole, at every batch: a DataFrame's values, data[:, :-1]. Once here instead; the
            # weights are a new array already, ``relative``'s)
            X, y = np.ascontiguousarray(X), np.ascontiguousarray(y)
        self.model, self.X, self.y, self.w, self.optimizer = model, X, y, w, optimizer
        self.max_grad_norm = max_grad_norm
        n = X.shape[0]
        self.batch_size = min(batch_size, n)
        #: the rows an epoch trains on: all, or (``drop_last``) those of its full batches
        self.rows = n - n % self.batch_size if drop_last else n
        self.starts = range(0, self.rows, self.batch_size)
        #: 0..n-1, and this epoch's order of the rows; None: in order
        self.shuffled = (np.arange(n), np.arange(n)) if shuffle else None
        self.loss = loss
        self.plan_steps()
        #: the batches' outputs kept for the metrics (reset by ``run``), or None: no metrics
        self.kept = _Kept(self, metrics) if metrics else None
        #: the modules' settings a callback may change between steps (``Module.settable``)
        self.module_settings = [(module, name) for module in model for name in module.settable]
        #: ``run``'s record of the settings (``settings_now``): those the epoch began with,
        #: or None where no callback can change them, and (i, those of step i) for each step
        #: a callback changed them before (``find_bad_step`` takes each step with its own)
        self.start_settings: Settings | None = None
        self.changes: list[tuple[int, Settings]] = []
        #: ``run``'s record of each step's loss (where callbacks run between steps: they
        #: may change what a replay cannot repeat) and BLAS thread count (``ThreadChoice``)
        self.losses: list[float] = []
        self.counts: list[int] = []
        self.threads: ThreadChoice | None = None
        #: the index of the step ``run`` stopped in with an error of its own, or None
        self.halted: int | None = None
        #: the model's weights and the optimiser's state as the epoch began (``keep_start``)
        self.start_weights: NDArray[Any] | None = None
        self.start_state: dict[str, Any] = {}
        self.start_side: Any = None

    def plan_steps(self) -> None:
        """The steps for full batches and the last one, for the optimiser's settings now
        (``Optimizer.plans_version``: a callback may change what they are built on); kept
        by the model, so that unchanged settings build nothing."""
        model, loss, optimizer, y = self.model, self.loss, self.optimizer, self.y
        weighted = self.w is not None
        self.version = None if optimizer is None else optimizer.plans_version
        self.frozen = model.frozen  # (what the steps are planned for: ``unchanged`` checks it)
        clip = self.max_grad_norm
        self.full = model.train_step(loss, optimizer, self.batch_size, y, weighted, self.sparse, clip)
        rest = self.rows - self.starts[-1]
        self.last = (self.full if rest == self.batch_size
                     else model.train_step(loss, optimizer, rest, y, weighted, self.sparse, clip))

    def unchanged(self) -> None:
        """``RuntimeError`` if modules were frozen or unfrozen since ``plan_steps`` (by a
        callback): the steps and the optimiser's state are for what trained before."""
        _check_frozen(self.model, self.frozen)

    def settings_changed(self) -> bool:
        """Whether a setting of the optimiser has changed what the steps are built on since
        ``plan_steps`` (a momentum set to another value than 0 has not: ``setting``'s ``plans``)."""
        return self.optimizer is not None and self.optimizer.plans_version != self.version

    def keep_start(self) -> None:
        """Keep the weights, the running statistics (and generator) and the optimiser's state
        as they are, as the epoch's start (``back_to_start``), allocating nothing after the
        first epoch; ``run`` keeps the optimiser's settings."""
        model = self.model
        if self.start_weights is None:
            self.start_weights = model.snapshot_buffer()
        self.start_weights[...] = model.params
        self.start_state = self.optimizer.snapshot() if self.optimizer is not None else {}
        self.start_side = model.side_state()  # a replay then draws what the epoch drew

    def back_to_start(self) -> None:
        """Put back the weights, running statistics and optimiser's state and settings of the
        epoch's start (``keep_start``)."""
        model, optimizer = self.model, self.optimizer
        assert self.start_weights is not None, "keep_start() first"
        assert optimizer is not None
        if self.start_settings is not None:  # (first: the state's vectors are those of the settings then)
            self.take_settings(self.start_settings)
        model.params[...] = self.start_weights
        optimizer.load_state_dict(self.start_state)
        model.set_side_state(self.start_side)

    def settings_now(self) -> Settings:
        """The optimiser's settings (``Optimizer.setting_values``) and the modules'
        (``module_settings``), as they are."""
        assert self.optimizer is not None
        return self.optimizer.setting_values(), self.module_values()

    def module_values(self) -> tuple[Any, ...]:
        """The values of ``module_settings``."""
        return tuple([getattr(module, name) for module, name in self.module_settings])

    def take_settings(self, values: Settings) -> None:
        """Give the optimiser and the modules the settings of ``run``'s record, and plan the
        steps anew if they change what the steps are built on."""
        optimizer = self.optimizer
        assert optimizer is not None
        optimizer.set_settings(dict(zip(optimizer.settings(), values[0])))
        for (module, name), value in zip(self.module_settings, values[1]):
            if getattr(module, name) != value:
                setattr(module, name, value)
        if self.settings_changed():
            self.plan_steps()

    def reshuffle(self, rng: np.random.Generator) -> None:
        """Draw this epoch's order afresh (when shuffling): a permutation of 0..n-1 that
        depends on the generator alone, so that a fit resumed later shuffles the same."""
        if self.shuffled is not None:
            rows, order = self.shuffled
            order[...] = rows
            rng.shuffle(order)

    def batch(self, i: int, start: int) -> TrainStep:
        """The step for batch ``i``, its input and target arrays filled."""
        step = self.full if i < len(self.starts) - 1 else self.last
        stop = start + self.batch_size
        if self.sparse:
            return self._sparse_batch(step, start, stop)
        if self.shuffled is not None:
            rows = self.shuffled[1][start:stop]
            np.take(self.X, rows, axis=0, out=step.X, mode="clip")
            np.take(self.y, rows, axis=0, out=step.y, mode="clip")
            if self.w is not None and step.w is not None:
                np.take(self.w, rows, axis=0, out=step.w, mode="clip")
        else:
            step.X[...] = self.X[start:stop]
            step.y[...] = self.y[start:stop]
            if self.w is not None and step.w is not None:
                step.w[...] = self.w[start:stop]
        return step

    def _sparse_batch(self, step: TrainStep, start: int, stop: int) -> TrainStep:
        """``batch`` for a SciPy sparse ``X``: its rows gathered by SciPy (into a new matrix:
        a step on sparse data allocates) and fed to the step (``Plan.feed``: as they are if
        the first module takes them, else made dense in the step's input)."""
        rows = slice(start, stop) if self.shuffled is None else self.shuffled[1][start:stop]
        step.feed(self.X[rows])
        step.y[...] = self.y[rows]
        if self.w is not None and step.w is not None:
            step.w[...] = self.w[rows]
        return step

    def run(self, on_batch: Sequence[Callback] = (),
            threads: ThreadChoice | None = None) -> tuple[float, float, int | None]:
        """Train one epoch (each step through ``threads``, if given): returns (sum of batch
        losses x their shares, sum of the shares, None), or stops at the first non-finite
        loss with (partial sums, that batch's index). A batch's share is what its loss is
        a mean over (``TrainStep.share``): its rows, unless the loss says otherwise. Each
        batch's outputs are kept for the metrics (``_Kept``), reset first. The settings
        that callbacks give the steps are recorded (``changes``), and so are the steps'
        losses where callbacks run and their thread counts (``losses``, ``counts``), for a
        replay (``find_bad_step``); a step that raises is noted (``halted``): it may have
        written part of its update."""
        batch, isfinite, full, kept = self.batch, math.isfinite, self.full, self.kept
        optimizer, losses, counts, settable = self.optimizer, self.losses, self.counts, self.module_settings
        self.unchanged()
        if kept is not None:
            kept.reset()
        self.changes = []
        losses.clear()
        counts.clear()
        self.threads = threads
        if optimizer is not None:
            lr, version = optimizer.lr, optimizer.settings_version
            # (only callbacks change them between steps)
            self.start_settings = self.settings_now() if on_batch else None
            modules = self.start_settings[1] if self.start_settings is not None else ()
        total = shares = 0.0
        for i, start in enumerate(self.starts):
            step = batch(i, start)
            try:
                if threads is None:
                    value = step()
                else:
                    value = threads(step, step is full)
                    counts.append(threads.current)
            except BaseException:
                self.halted = i
                raise
            if not isfinite(value):
                return total, shares, i
            if kept is not None:
                kept.keep(i, step.Y)
            share = step.n if step.share is None else step.share()
            total += value * share
            shares += share
            if on_batch:
                losses.append(value)
                for callback in on_batch:
                    callback.on_batch_end(i, {"loss": value})
                self.unchanged()
                if optimizer is not None:
                    now = self.module_values() if settable else ()
                    if optimizer.lr != lr or optimizer.settings_version != version or now != modules:
                        lr, version, modules = optimizer.lr, optimizer.settings_version, now
                        self.changes.append((i + 1, (optimizer.setting_values(), now)))  # (for a replay)
                        if self.settings_changed():  # the next steps take the new settings
                            self.plan_steps()
                            full = self.full
        return total, shares, None

    def find_bad_step(self, stop: int | None) -> tuple[int, str | None, str | None, bool]:
        """Replay the epoch's steps up to ``stop`` (the batch whose loss ``run`` found
        non-finite; None: all) one checked step at a time from the epoch's start
        (``back_to_start``), each with the settings and thread count it ran with
        (``changes``, ``counts``); stop before the first step with a non-finite loss,
        gradient, result, model state or optimiser state, with the weights, states and
        settings from before it, and return its index, where only the model's state went
        non-finite which (``non_finite_state``), where only the optimiser's did which of
        its vectors, and False.

        A replay that does not follow the fit puts back the epoch's start and returns
        ``stop`` (or the last batch), None, None and True: one whose step's loss is not the
        one ``run`` recorded (a callback changed the weights between steps, or a module or
        loss gave another result for the same weights), or in which no step fails; so
        does one that raises."""
        model, optimizer, changed = self.model, self.optimizer, dict(self.changes)
        assert optimizer is not None
        losses, counts, threads = self.losses, self.counts, self.threads
        params = model.params
        last = len(self.starts) - 1 if stop is None else stop
        self.back_to_start()
        before = np.empty_like(params)
        try:
            for i in range(last + 1):
                if i in changed:
                    self.take_settings(changed[i])
                before[...] = params
                state, side = optimizer.state_dict(), model.side_state()
                step = self.batch(i, self.starts[i])
                value = step() if threads is None else threads.run_on(step, counts[i])
                if i < len(losses) and value != losses[i]:  # (a finite loss, recorded)
                    break
                finite = math.isfinite(value) and all(all_finite(array) for array in step.written)
                where = None if not finite else non_finite_state(model)
                vector = None if not finite or where is not None else optimizer.non_finite_state()
                if not finite or where is not None or vector is not None:
                    params[...] = before
                    optimizer.load_state_dict(state)
                    model.set_side_state(side)
                    return i, where, vector, False
        except BaseException:  # (a module's error, a second Ctrl-C) nothing half made
            self.back_to_start()
            raise
        self.back_to_start()
        return last, None, None, True

    def finite_at_start(self, i: int) -> bool:
        """Whether batch ``i``'s loss is finite at the epoch's start weights (``keep_start``):
        its forward pass at them, the parameters and the side state put back."""
        model = self.model
        assert self.start_weights is not None, "keep_start() first"
        params, side = model.params.copy(), model.side_state()
        model.params[...] = self.start_weights
        try:
            return math.isfinite(self._forward(i).value())
        finally:
            model.params[...] = params
            model.set_side_state(side)

    def _forward(self, i: int) -> TrainStep:
        """Batch ``i``'s step with its forward pass (the loss's included) run at the weights
        now: its ``Y`` and ``value()`` are the batch's (the side state is the caller's to keep)."""
        step = self.batch(i, self.starts[i])
        for call in step.forward:
            call()
        return step

    def refusal(self, batches: Sequence[int]) -> ValueError | None:
        """Why the loss cannot compute on the model's outputs for the first of ``batches``
        whose it cannot (``Loss.pred_values``' error), or None: each batch's forward pass at
        the weights now, the model's side state (running statistics, generator) kept."""
        side = self.model.side_state()
        try:
            for i in batches:
                outputs = self._forward(i).Y
                try:
                    self.loss.pred_values(outputs, "the model's outputs")
                except ValueError as error:
                    return error
            return None
        finally:
            self.model.set_side_state(side)


class _Kept:
    """An epoch's outputs for its metrics: each step's ``Y`` copied into a buffer of about
    ``KEPT_ROWS`` rows (one copy a step, into a view made once), which is added to the
    metrics with its rows' targets and weights whenever it is full and at the epoch's end.
    So the metrics cost one copy a step and a few calls every ``KEPT_ROWS`` rows, whatever
    they are, and add up exactly the batches the steps computed (before each update)."""

    def __init__(self, epoch: _Epoch, metrics: Sequence[Metric]) -> None:
        self.epoch, self.metrics = epoch, tuple(metrics)
        size = epoch.batch_size
        #: the batches a buffer holds, and their views of it
        self.per = max(1, KEPT_ROWS // size)
        Y = epoch.full.Y
        self.Y = np.empty((self.per * size, *Y.shape[1:]), Y.dtype)
        self.views = [self.Y[j * size:(j + 1) * size] for j in range(self.per)]
        self.last = len(epoch.starts) - 1

    def reset(self) -> None:
        """Start an epoch: the metrics reset."""
        for metric in self.metrics:
            metric.reset()

    def keep(self, i: int, Y: NDArray[Any]) -> None:
        """Keep batch ``i``'s outputs ``Y``; add the buffer to the metrics when full or at the
        epoch's last batch."""
        j = i % self.per
        if i < self.last:
            np.copyto(self.views[j], Y)
            if j == self.per - 1:
                self.add(i - j, self.per * self.epoch.batch_size)
            return
        kept = j * self.epoch.batch_size + len(Y)  # (the last batch may be short)
        np.copyto(self.Y[kept - len(Y):kept], Y)
        self.add(i - j, kept)

    def add(self, first: int, rows: int) -> None:
        """Add the buffer's first ``rows`` rows, from batch ``first`` on, to the metrics."""
        epoch = self.epoch
        start = epoch.starts[first]
        stop = start + rows
        order = slice(start, stop) if epoch.shuffled is None else epoch.shuffled[1][start:stop]
        y, w = epoch.y[order], None if epoch.w is None else epoch.w[order]
        for metric in self.metrics:
            metric.add(self.Y[:rows], y, w)


def _split(rows: Any, target: NDArray[Any], sample_weight: ArrayLike | None, share: float,
           validation_data: object) -> tuple[Any, NDArray[Any], ArrayLike | None, tuple[Any, ...]]:
    """``fit``'s ``validation_split``: the rows, targets and weights to train on, and the
    last ``share`` of them (a share in [0, 1), checked by ``fit``) as ``validation_data``
    (``ValueError`` for a share of no row, or beside ``validation_data``)."""
    if validation_data is not None:
        raise ValueError("fit: validation_split and validation_data both given: give one")
    n = rows.shape[0]
    cut = math.ceil(n * (1.0 - share))
    if cut >= n:
        raise ValueError(f"fit: validation_split {share} of {n} rows holds out none of them; give a larger "
                         "share")
    weights = None if sample_weight is None else sample_weights(sample_weight, n, np.float64)
    held = (rows[cut:], target[cut:]) + (() if weights is None else (weights[cut:],))
    return rows[:cut], target[:cut], None if weights is None else weights[:cut], held


def fit(
    model: Sequential,
    X: ArrayLike,
    y: ArrayLike,
    *,
    optimizer: Optimizer | None = None,
    loss: Loss | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: Seed = None,
    validation_data: tuple[ArrayLike, ...] | None = None,
    callbacks: Sequence[Callback] | None = (),
    verbose: bool = False,
    sample_weight: ArrayLike | None = None,
    drop_last: bool = False,
    max_grad_norm: float | None = None,
    metrics: Sequence[MetricLike] | None = (),
    validation_split: float = 0.0,
) -> History:
    """Train ``model`` on ``(X, y)`` by mini-batch gradient descent.

    Args:
        X: ``(N, in_features)``.
        y: what ``loss`` accepts as targets (``Loss.target``); for ``MSELoss``
            ``(N, out_features)``, or ``(N,)`` for a one-output model.
        optimizer: a ``densenet.Optimizer``; default ``SGD(lr=0.1)``.
        loss: a ``densenet.Loss``; default ``MSELoss()``.
        epochs: passes over the data, >= 1.
        batch_size: samples per step, >= 1; the last batch of an epoch holds
            the remainder when ``batch_size`` does not divide N.
        shuffle: visit the samples in a fresh random order each epoch, the
            generator's shuffle of ``0..N-1`` (otherwise in the given order).
        drop_last: skip each epoch's last batch when it holds fewer than
            ``batch_size`` rows (PyTorch's ``DataLoader(drop_last=True)``): every
            step then averages ``batch_size`` rows, and a shuffled epoch leaves out
            other rows each time; the epoch's loss is the mean over the rows trained
            on. A ``batch_size`` above N still trains on all N. Mini-batch optimisers
            only (a full-batch one minimises over every row).
        max_grad_norm: None (default), or a number > 0: before each update, a gradient
            whose 2-norm (over all the parameters) exceeds it is scaled down by
            ``max_grad_norm / (norm + 1e-6)``, as PyTorch's ``clip_grad_norm_`` between
            ``backward`` and ``step`` (``densenet.clip_grad_norm``, for a loop written by
            hand). ``model.grads`` then holds the clipped gradient (plain gradient descent
            is not folded into the backward pass). Mini-batch optimisers only.
        seed: the shuffling Generator or its seed (``densenet.init.Seed``: an int, a
            ``SeedSequence``...); None uses the model's own
            Generator (seeded by ``Sequential(seed=...)``), so the same model
            seed and calls give bit-identical weights. (A ``Dropout`` draws its
            masks from the model's Generator, whatever the seed.)
        validation_data: ``(X_val, y_val)`` or ``(X_val, y_val, w_val)``,
            evaluated with ``loss`` after every epoch (``History.val_loss``,
            ``logs["val_loss"]``; weighted by ``w_val`` as ``sample_weight``),
            by inference passes (``Dropout`` off; the training loss has it on).
        validation_split: a share from 0 to 1 (default 0): the last rows of ``X`` and
            ``y`` (and of ``sample_weight``), before any shuffle, are held out as
            ``validation_data``, the first ``ceil(N * (1 - validation_split))`` trained on
            (Keras's ``validation_split``: shuffle ordered data first). Not with
            ``validation_data``; a share that holds out no row is refused.
        callbacks: ``densenet.Callback`` objects, e.g. ``EarlyStopping`` (None: none).
        verbose: report progress: a tqdm bar with the running loss when tqdm
            is installed (the ``progress`` extra) and stderr is a terminal,
            otherwise a plain line every ``max(1, epochs // 20)`` epochs
            (``densenet.callbacks.Progress``).
        sample_weight: ``(N,)`` weights >= 0, not all 0, divided by their mean:
            sample ``i``'s loss counts ``w_i / mean(w)`` times in its batch's mean,
            so that the epoch's loss (``History.loss``) and full-batch training's
            objective are the weighted mean ``sum(w l) / sum(w)``, and each batch's
            gradient an unbiased estimate of its gradient (a weight acts at batch
            size 1 too). Unit weights train exactly as none, scaling every weight
            changes nothing, an integer weight k counts as k copies of the sample
            (exactly so in full-batch steps), a zero weight as none. A callback's
            ``on_batch_end`` gets the value the step minimised, the batch's mean of
            ``(w_i / mean(w)) l_i``, not a weighted mean of the batch alone.
        metrics: what to record besides the loss, each a name (``"accuracy"``, as the
            loss means it: ``Loss.accuracy``; ``"f1"``, ``"precision"``, ``"recall"``, of
            the same classes; ``"auc"``, of labels' scores; ``"mae"``, ``"mse"``, ``"rmse"``,
            ``"r2"``)
            or a ``densenet.Metric`` (``dn.Accuracy(top_k=5)``; copied, never changed):
            for every epoch, over its training batches (each batch's outputs as its step
            computed them, before the update, in training mode; weighted as the loss; a
            full-batch optimiser's iterate on all the rows) and, with ``validation_data``,
            on it by inference passes (``val_`` in front of the name). ``History``, the
            callbacks' ``logs`` and their monitors see them by name (None: none).

    Returns:
        A ``History`` of per-epoch losses: the mean of the batches' losses, each counted by
        what its loss is a mean over (its rows; for ``CrossEntropyLoss`` on labels with
        class weights or ``ignore_index``, its labels' weights' sum, the ignored left out:
        ``LossPlan.share``), so that an epoch without updates reports ``evaluate``'s loss.

    Raises:
        ValueError, TypeError: for bad data or arguments, before any change to the model;
            a full-batch optimiser (``LBFGS``) for a model with a ``random`` module; a
            ``batch_size`` that leaves a batch of one row for a module that computes
            statistics over its training batches (``BatchNorm1d``; for ``LBFGS``, whose
            chunks of ``batch_size`` rows are then the batches it normalises by); a model
            whose running statistics (``state``) are not finite.
        DivergenceError: when a step makes the loss, the weights or the running statistics
            non-finite; the model (its weights and ``state``, and the optimiser's state)
            keep the values from before that step.
        ValueError: when no sample of the data counts in the loss (every label ignored,
            or of a class that weighs 0): found by the first epoch, whose changes are undone.
        KeyboardInterrupt: at a Ctrl-C, after the step it came in and that batch's
            callbacks, never inside a step (``densenet.interrupt``): the model, the
            optimiser and the schedules hold whole steps; elsewhere, and at a second
            Ctrl-C, at once. A full-batch optimiser's fit keeps its last iterate.

    An error raised inside a step (by a module or loss of the user's own, or a second
    Ctrl-C) leaves nothing of it: the weights, running statistics and the optimiser's state
    and settings go back to the epoch's start (the callbacks keep what they saw).

    ``fit`` never modifies ``X`` or ``y`` and can be called again to continue.
    """
    optimizer = SGD(0.1) if optimizer is None else optimizer
    loss = MSELoss() if loss is None else loss
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a densenet Optimizer (such as dn.SGD(lr=0.1)), "
                        f"got {kind_given(optimizer, with_repr=True)}")
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a densenet Loss (such as dn.MSELoss()), "
                        f"got {kind_given(loss, with_repr=True)}")
    if optimizer.full_batch:
        drawing = next(((i, m) for i, m in enumerate(model) if m.random), None)
        if drawing is not None:
            raise ValueError(f"fit: {optimizer!r} minimises a fixed objective, but {drawing[1]!r} at index "
                             f"{drawing[0]} draws random numbers in every training pass; train this model "
                             "with a batch-by-batch optimiser (such as dn.Adam)")
    rows, target = model.check_data(X, y, loss)
    share = hyperparameter(validation_split, "fit", "validation_split", high=1.0, high_open=True)
    if share:
        rows, target, sample_weight, validation_data = _split(rows, target, sample_weight, share,
                                                              validation_data)
    n = rows.shape[0]
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    drop_last = flag(drop_last, "fit", "drop_last")
    if drop_last and optimizer.full_batch:
        raise ValueError(f"fit: drop_last leaves out rows of a mini-batch epoch, but {optimizer!r} minimises "
                         "the loss over every row; leave drop_last False for it")
    _check_batches(model, n, batch_size, drop_last)
    if max_grad_norm is not None:
        max_grad_norm = norm_bound(max_grad_norm, "fit", "max_grad_norm")
        if optimizer.full_batch:
            raise ValueError(f"fit: max_grad_norm clips each step's gradient, but {optimizer!r} minimises "
                             "the loss over every row itself; leave max_grad_norm None for it")
    w = (None if sample_weight is None
         else relative(sample_weights(sample_weight, n, np.float64), model.dtype))
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    rng = model.rng if seed is None else _init.as_generator(seed)
    if not model.params.size:
        raise ValueError("the model has no parameters to train")
    if not model.trainable_params.size:
        raise ValueError(f"fit: every module with parameters is frozen (modules {model.frozen}): there is "
                         "nothing to train; model.unfreeze(...) the ones to train")
    broken = non_finite_state(model)
    if broken is not None:  # ((1 - m) inf + m v is inf: a step would be blamed for it)
        raise ValueError(f"fit: the running statistics of {broken} are not finite before any step (NaN or "
                         "inf); no training makes them finite again: reset them (a BatchNorm1d's "
                         "reset_running_stats()) or write finite values into model.state")
    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, w_val)")
        X_val, y_val = model.check_data(validation_data[0], validation_data[1], loss,
                                        names=("X_val", "y_val"))
        w_val = (None if len(validation_data) < 3 or validation_data[2] is None
                 else sample_weights(validation_data[2], X_val.shape[0], model.dtype, "w_val"))
        validation = X_val, y_val, w_val
    measured = resolved(() if metrics is None else metrics, loss, model.out_features, "fit")
    for checked in (target, None if validation is None else validation[1]):
        if checked is not None:
            check_targets(measured, checked, model.out_features, model.dtype, loss, "fit")
    _check_outputs(model, loss)
    optimizer.prepare(model.trainable_params)

    callbacks = callback_list(callbacks, "fit", "callbacks") + (
        (Progress(),) if flag(verbose, "fit", "verbose") else ())
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"fit: callbacks must be densenet Callback objects, got {kind_given(callback)}")
    callbacks = tuple(sorted(callbacks, key=lambda callback: callback.runs_last))  # (a stable sort)
    record = _Record(model, epochs, callbacks, loss, validation, measured)
    size = min(batch_size, n)
    steps = 1 if optimizer.full_batch else n // size if drop_last else -(-n // size)
    largest = model.largest_product(size)  # rows of a step or chunk
    threads = thread_count(largest)
    trial = not optimizer.full_batch and trial_count(largest, threads) is not None
    library = gemm_library()
    params = {"epochs": epochs, "steps": steps, "metrics": tuple(record.recorded), "blas_threads": threads,
              "blas_threads_set": threads is not None and threads == get_num_threads(),
              "thread_trial": trial, "gemm_library": None if library is None else library.path,
              "optimizer": optimizer, "greater_is_better": record.greater_is_better}
    model.stop_training = False
    for callback in callbacks:
        callback.set_model(model)
        callback.set_params(params)
    try:  # a callback that fails to begin stops the fit: those that began are told, as for any error
        for callback in callbacks:
            callback.on_train_begin({})
        if model.stop_training:  # stopped before the first epoch (a resumed run that had stopped)
            record.history.stopped_early = True  # (of epochs >= 1)
        else:  # divergence is detected and reported below
            with blas_threads(threads), np.errstate(over="ignore", invalid="ignore"):
                if optimizer.full_batch:
                    _train_full_batch(model, rows, target, w, loss, optimizer, epochs, batch_size, record)
                else:
                    _train_steps(model, rows, target, w, loss, optimizer, epochs, batch_size, bool(shuffle),
                                 rng, record, threads, drop_last, max_grad_norm)
    except BaseException as error:  # Ctrl-C included: a progress bar is closed on every way out
        if not isinstance(error, DivergenceError):
            record.stopped(error)
        raise
    logs = {name: float(values[-1]) for name, values in record.history.logs().items() if len(values)}
    for callback in callbacks:
        callback.on_train_end(logs)
    return record.history


def _check_batches(model: Sequential, n: int, batch_size: int, drop_last: bool) -> None:
    """Raise ``ValueError`` if a batch of an epoch (``batch_size`` rows of ``n``, the last
    one left out with ``drop_last``; or a full-batch optimiser's chunk) would hold one row
    and a module computes statistics over the rows of its training batches
    (``Module.batch_statistics``; a frozen one runs its inference passes)."""
    full = min(batch_size, n)  # (a batch_size above n: one batch of n)
    last = full if drop_last else n % full or full
    if min(full, last) > 1:
        return
    found = next(((i, m) for i, m in enumerate(model) if m.batch_statistics and i not in model.frozen), None)
    if found is not None:
        size = f"batch_size={batch_size}" if batch_size == 1 else f"batch_size={batch_size} on {n} samples"
        raise ValueError(f"fit: {found[1]!r} at index {found[0]} computes statistics over the samples of "
                         f"each training batch and needs at least 2, but {size} makes a batch of 1; "
                         "choose another batch_size")


#: the epochs ``fit`` first makes room for in what it records: the room doubles as more run
_FIRST_ROOM = 64


def _grown(values: NDArray[Any], size: int) -> NDArray[Any]:
    """``values`` followed by NaN up to ``size``."""
    grown = np.full(size, np.nan)
    grown[: len(values)] = values
    return grown


class _Record:
    """What happens after each epoch: the metrics, the validation loss and metrics, the
    ``History``, the callbacks."""

    def __init__(self, model: Sequential, epochs: int, callbacks: Sequence[Callback], loss: Loss,
                 validation: tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None] | None,
                 metrics: Sequence[Metric] = ()) -> None:
        self.model, self.epochs, self.callbacks, self.loss = model, epochs, callbacks, loss
        self.validation = validation
        #: the training batches' metrics (``_Epoch`` adds to them), and their names
        self.metrics = tuple(metrics)
        names = [metric.name for metric in self.metrics]
        validated = [] if validation is None else ["val_loss", *(f"val_{name}" for name in names)]
        #: what each epoch logged, by name: room for fit's epochs, made as they run (a fit of
        #: ``epochs=10**9`` that ``EarlyStopping`` ends takes the room of the epochs it ran)
        self.recorded: dict[str, NDArray[Any]] = {name: np.full(min(epochs, _FIRST_ROOM), np.nan)
                                                  for name in ("loss", *names, *validated)}
        #: the names whose higher values are better (the monitors' ``mode="auto"``)
        prefixes = ("",) if validation is None else ("", "val_")
        self.greater_is_better = tuple(prefix + metric.name for metric in self.metrics
                                       if metric.greater_is_better for prefix in prefixes)
        self.history = History()
        self._show(0)

    def _show(self, epochs: int) -> None:
        """Make the ``History`` show the first ``epochs`` epochs recorded (views, every name
        present from the start)."""
        self.history.loss = self.recorded["loss"][:epochs]
        if self.validation is not None:
            self.history.val_loss = self.recorded["val_loss"][:epochs]
        self.history.metrics = {name: values[:epochs] for name, values in self.recorded.items()
                                if name not in ("loss", "val_loss")}

    def end_epoch(self, epoch: int, loss: float) -> bool:
        """Record epoch ``epoch`` with its training ``loss`` (and the metrics of its batches);
        True when a callback stops training."""
        logs = {"loss": loss}
        for metric in self.metrics:
            logs[metric.name] = reported(metric)
        if self.validation is not None:
            X_val, y_val, w_val = self.validation
            if self.metrics:
                measured = self.model.evaluate(X_val, y_val, self.loss, sample_weight=w_val,
                                               metrics=self.metrics)
                logs.update((f"val_{name}", value) for name, value in measured.items())
            else:
                logs["val_loss"] = self.model.evaluate(X_val, y_val, self.loss, sample_weight=w_val)
        room = len(self.recorded["loss"])
        if epoch == room:  # (the epochs come in order) twice the room, at most fit's epochs
            room = min(2 * room, self.epochs)
            self.recorded = {name: _grown(values, room) for name, values in self.recorded.items()}
        for name, value in logs.items():
            self.recorded[name][epoch] = value
        self._show(epoch + 1)
        stop = any([_stops(callback, callback.on_epoch_end(epoch, logs)) for callback in self.callbacks])
        if stop or self.model.stop_training:
            self.history.stopped_early = epoch + 1 < self.epochs
            return True
        return False

    def diverged(self, epoch: int, batch: int, refusal: ValueError | None, at_start: bool,
                 state: str | None = None, optimizer_state: str | None = None,
                 optimizer: str = "the optimiser", epoch_start: bool = False) -> DivergenceError:
        """The error to raise, once the callbacks have been told (``refusal``: the loss's
        refusal of the outputs, ``_Epoch.refusal``; the others ``DivergenceError``'s)."""
        error = DivergenceError(epoch, batch, self.history, refusal, at_start, state, optimizer_state,
                                optimizer, epoch_start)
        self.stopped(error)
        return error

    def stopped(self, error: BaseException) -> None:
        """Tell the callbacks that training stops with ``error``."""
        for callback in self.callbacks:
            callback.on_train_error(error)


def _stops(callback: Callback, said: object) -> bool:
    """Whether ``callback``'s ``on_epoch_end`` returned True (stop after this epoch);
    ``TypeError`` naming it for a return that is not True, False or None (a ``return
    logs`` would otherwise stop the fit as if it were meant)."""
    if said is None or isinstance(said, (bool, np.bool_)):
        return bool(said)
    raise TypeError(f"{type(callback).__name__}.on_epoch_end returned {shown(said)}; return True to stop "
                    "the fit after this epoch, or None (or False) to go on")


def _train_steps(model: Sequential, X: Any, y: NDArray[Any], w: NDArray[Any] | None, loss: Loss,
                 optimizer: Optimizer, epochs: int, batch_size: int, shuffle: bool, rng: np.random.Generator,
                 record: _Record, threads: int | None, drop_last: bool,
                 max_grad_norm: float | None) -> None:
    """Mini-batch training, one optimiser step per batch, on the BLAS thread count that
    ``threads`` (the thread policy's) or one thread makes faster (``ThreadChoice``)."""
    # (an on_batch_end of their own: their class's, or one set on the object, as Keras's
    # LambdaCallback sets them; the base class's does nothing)
    on_batch = [c for c in record.callbacks if own_method(c, "on_batch_end", Callback)]
    epoch_run = _Epoch(model, X, y, w, batch_size, shuffle, loss, optimizer, drop_last, max_grad_norm,
                       record.metrics)
    full = epoch_run.full  # keeps its choice for the next fit
    choice = full.thread_choice = thread_choice(model.largest_product(full.n), threads, full.thread_choice)
    running = model.state if model.state.size else None  # (checked after each epoch, as the weights)
    # (a Ctrl-C in a step comes after it and its callbacks: the model holds whole steps)
    interrupts = StepInterrupts(on_batch, {_Epoch.run.__code__, _Epoch.find_bad_step.__code__})
    with nullcontext() if choice is None else choice, interrupts:
        for epoch in range(epochs):
            epoch_run.reshuffle(rng)
            epoch_run.keep_start()
            try:
                total, shares, bad = epoch_run.run(on_batch, choice)
            except BaseException:
                if epoch_run.halted is not None:  # a step stopped half made: none of it is kept
                    epoch_run.back_to_start()
                raise
            finite = (all_finite(model.params) and (running is None or all_finite(running))
                      and optimizer.non_finite_state() is None)
            if bad is not None or not finite or not shares:
                if bad is None and not shares:
                    epoch_run.back_to_start()
                    raise ValueError(f"fit: no sample of the data counts in {loss!r} (every label ignored, "
                                     "or of a class that weighs 0): there is nothing to train on")
                bad, state, vector, epoch_start = epoch_run.find_bad_step(bad)
                refusal = epoch_run.refusal([bad])
                # (asked in the first epoch alone, whose start is the fit's)
                at_start = (refusal is None and state is None and vector is None and epoch == 0
                            and not epoch_run.finite_at_start(bad))
                raise record.diverged(epoch, bad, refusal, at_start, state, vector, type(optimizer).__name__,
                                      epoch_start)
            if record.end_epoch(epoch, total / shares):
                return
            if epoch_run.settings_changed():  # a callback changed a setting: plan the steps anew
                epoch_run.plan_steps()


class _FullBatch:
    """The loss over all of ``(X, y)`` and its gradient, ``batch_size`` rows at a time:
    the objective a full-batch optimiser minimises (an epoch of steps without updates)."""

    def __init__(self, model: Sequential, X: Any, y: NDArray[Any], w: NDArray[Any] | None,
                 loss: Loss, batch_size: int, metrics: Sequence[Metric] = ()) -> None:
        self.model, self.n = model, X.shape[0]
        self.batches = _Epoch(model, X, y, w, batch_size, False, loss, None, metrics=metrics)
        #: the weights of the last call: the metrics hold its outputs' (when there are metrics)
        self.at = np.full(model.trainable_params.shape, np.nan) if metrics else None
        several = len(self.batches.starts) > 1
        #: the gradients' sum over the batches, and a batch's scaled gradient (one batch: none)
        self.sums = ((np.zeros_like(model.trainable_grads), np.zeros_like(model.trainable_grads)) if several
                     else None)

    def __call__(self, w: NDArray[Any]) -> tuple[float, NDArray[Any]]:
        params, grads, kept = self.model.trainable_params, self.model.trainable_grads, self.batches.kept
        params[...] = w
        if self.at is not None and kept is not None:
            self.at[...] = w
            kept.reset()
        total = shares = 0.0
        for i, start in enumerate(self.batches.starts):
            step = self.batches.batch(i, start)
            value = step()
            if kept is not None:
                kept.keep(i, step.Y)
            share = step.n if step.share is None else step.share()  # (see ``_Epoch.run``)
            total += value * share
            shares += share
            if self.sums is not None:  # the gradient of the mean: a share-weighted mean of the batches'
                gradient, scaled = self.sums
                np.multiply(grads, share, out=scaled)
                if i == 0:
                    np.copyto(gradient, scaled)
                else:
                    np.add(gradient, scaled, out=gradient)
        if not shares:
            raise ValueError("fit: no sample of the data counts in the loss (every label ignored, or of a "
                             "class that weighs 0): there is nothing to train on")
        if self.sums is not None:
            np.multiply(self.sums[0], 1 / shares, out=grads)
        return total / shares, grads.astype(np.float64)


def _train_full_batch(model: Sequential, X: Any, y: NDArray[Any], w: NDArray[Any] | None, loss: Loss,
                      optimizer: Optimizer, epochs: int, batch_size: int, record: _Record) -> None:
    """Full-batch training: the optimiser runs its own iterations (``Optimizer.minimize``),
    each one an epoch of the ``History``."""
    objective = _FullBatch(model, X, y, w, loss, batch_size, record.metrics)
    params = model.trainable_params  # (the iterates; frozen modules' parameters stay as they are)
    frozen = model.frozen
    good = model.snapshot_buffer()  # the last iterate with a finite loss, weights and state
    good[...] = model.params
    good_side = model.side_state()  # and its running statistics, if any
    iteration, diverged, state = 0, False, None

    def each(w: NDArray[Any], value: float) -> None:
        nonlocal iteration, diverged, good_side, state
        params[...] = w
        finite = math.isfinite(value) and all_finite(params)
        if not (finite and all_finite(model.state)):
            diverged = True
            state = non_finite_state(model) if finite else None  # (only the state: named)
            raise StopIteration
        good[...] = model.params
        good_side = model.side_state()
        iteration += 1
        if objective.at is not None and not np.array_equal(objective.at, w):
            objective(w)  # the metrics of the iterate itself (the last evaluation was another point)
            model.set_side_state(good_side)  # (the running statistics as the iterate left them)
        if record.end_epoch(iteration - 1, value):
            raise StopIteration
        _check_frozen(model, frozen)  # (after the callbacks: the iterate is kept, the error raised)

    try:
        result = optimizer.minimize(objective, params, epochs, each)
    except BaseException:  # (a Ctrl-C, a callback's error) the weights of the last iterate, not a trial's
        model.params[...] = good
        model.set_side_state(good_side)
        raise
    finite = math.isfinite(result.fun) and all_finite(params)
    if diverged or not (finite and all_finite(model.state)):
        if not diverged and finite:  # (an evaluation after the last iterate: only the state)
            state = non_finite_state(model)
        model.params[...] = good
        model.set_side_state(good_side)
        batches = objective.batches
        refusal = batches.refusal(range(len(batches.starts)))
        at_start = (refusal is None and state is None and not iteration
                    and not math.isfinite(objective(params.copy())[0]))
        model.set_side_state(good_side)  # (the objective's pass at the start ran in training mode)
        raise record.diverged(iteration, 0, refusal, at_start, state)
