"""Callbacks: hooks that ``fit`` calls while it trains.

- ``Callback``: the base class; override the hooks you need.
- ``EarlyStopping``: stop when a monitored loss stops improving, and restore
  the best weights.
- ``Progress``: what ``fit(verbose=True)`` adds: a tqdm bar or plain lines.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._validation import (
    as_float,
    count,
    flag,
    hyperparameter,
    kind_given,
    not_a_list,
    one_of,
    positive_int,
    shown,
)
from .thread_policy import generic_kernels, held_back_by, held_back_kernels

if TYPE_CHECKING:
    from .model import Sequential


class Callback:
    """Base class, shaped like Keras's: override any of the hooks; the defaults do nothing.

    Before training, ``fit`` sets ``self.model`` (the model it trains) and
    ``self.params`` (``{"epochs": ..., "steps": batches per epoch, "metrics":
    ("loss",) or ("loss", "val_loss"), "blas_threads": the count the thread policy
    sets, or None when BLAS chooses, "blas_threads_set": whether that count is the one
    ``dn.set_num_threads`` set, "thread_trial": whether the steps are timed on
    that count and on one thread, to run on the faster (``thread_policy.ThreadChoice``),
    "gemm_library": the file of the BLAS library ``DENSENET_BLAS`` names, which runs
    the large products, or None (``backend.gemm_library``), "optimizer": the optimiser
    it trains with}``).
    To stop after an epoch, set ``self.model.stop_training = True`` (or return True
    from ``on_epoch_end``; a return other than True, False or None is refused); set in
    ``on_train_begin``, the fit trains no epoch (``on_train_end`` is still called).
    Callbacks are called in the order given, those with ``runs_last`` after the others.
    ``on_batch_end`` is called only for callbacks that have one of their own (their
    class's, or one set on the object: ``callback.on_batch_end = function``), so the step
    loop pays nothing for the others.

    Example:
        >>> import numpy as np, densenet as dn
        >>> class Halt(dn.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         if logs["loss"] < 0.1:
        ...             self.model.stop_training = True
        >>> model = dn.Sequential(dn.Dense(1, 1), seed=0)
        >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
        >>> model.fit(X, 0.5 * X, epochs=1000, callbacks=[Halt()]).stopped_early
        True
    """

    model: Sequential  # set by fit through set_model
    params: Mapping[str, Any] = MappingProxyType({})  # set by fit through set_params

    #: whether ``fit`` calls its hooks after every other callback's (``ModelCheckpoint``:
    #: what it writes after an epoch is then what the schedules made of that epoch)
    runs_last: ClassVar[bool] = False

    #: constructor arguments its ``repr`` leaves out (a schedule's optimiser)
    unshown: ClassVar[tuple[str, ...]] = ()

    def set_model(self, model: Sequential) -> None:
        """Called by ``fit`` before training: the model it trains."""
        self.model = model

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Called by ``fit`` before training: what it will run (see the class docstring)."""
        self.params = params

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Called once before the first epoch."""

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Called after each optimiser step with the batch's index and ``logs["loss"]``."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> bool | None:
        """Called after each epoch with ``logs["loss"]`` (and ``"val_loss"``); True stops
        the fit after it."""
        return None

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Called once after the last epoch (not after a ``DivergenceError``)."""

    def on_train_error(self, error: BaseException) -> None:
        """Called instead of ``on_train_end`` when training stops with ``error`` (a
        ``DivergenceError``, a ``KeyboardInterrupt``, a callback's ``on_train_begin`` that
        raised: every callback is told, begun or not): release what the callback holds."""

    def __repr__(self) -> str:
        """The class and its constructor's arguments that are not their defaults, as it
        keeps them (``StepLR(step_size=10, gamma=0.5)``): those it keeps under their own
        names, but ``unshown``."""
        return f"{type(self).__name__}({', '.join(settings(self, self.unshown))})"


def settings(kept: object, unshown: tuple[str, ...] = ()) -> list[str]:
    """``name=value`` for each argument of ``type(kept).__init__`` (but ``unshown``) that
    ``kept`` holds as an attribute of that name, unless it is the argument's default."""
    try:
        parameters = list(inspect.signature(type(kept).__init__).parameters.values())[1:]
    except (TypeError, ValueError):  # (no signature to read: a C type's)
        return []
    missing = object()
    args = []
    for parameter in parameters:
        value = getattr(kept, parameter.name, missing)
        if (parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or parameter.name in unshown
                or value is missing or _same(value, parameter.default)):
            continue
        args.append(f"{parameter.name}={value!r}")
    return args


def _same(value: object, default: object) -> bool:
    """Whether ``value`` is ``default`` (False for an array's comparison, which is no bool)."""
    try:
        return value is default or bool(value == default)
    except (TypeError, ValueError):
        return False


def checked_monitor(owner: str, monitor: object) -> str:
    """``monitor`` if it is a name (a non-empty ``str``), else ``TypeError`` naming ``owner``;
    whether ``fit`` records it is checked when training begins (``monitored_mode``)."""
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"{owner}: monitor must be the name of what fit records ('loss', 'val_loss', or a "
                        f"metric's name such as 'val_accuracy'), got {monitor!r}")
    return monitor


def checked_mode(owner: str, mode: object) -> str:
    """``mode`` if it is ``"auto"``, ``"min"`` or ``"max"``, else ``ValueError`` naming ``owner``."""
    if not one_of(mode, ("auto", "min", "max")):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    return str(mode)


def monitored_mode(owner: str, monitor: str, mode: str, params: Mapping[str, Any]) -> str:
    """Before training: ``"min"`` or ``"max"``, whether a lower or a higher ``monitor`` is
    better (``mode``, or for ``"auto"`` the metric's ``greater_is_better``: ``fit``'s
    ``params["greater_is_better"]``; a loss is better lower); ``ValueError`` if the fit
    records no ``monitor`` (``require_monitored``)."""
    require_monitored(owner, monitor, params)
    if mode != "auto":
        return mode
    return "max" if monitor in params.get("greater_is_better", ()) else "min"


def improves(value: float, best: float, mode: str, delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``delta`` (``mode``: ``"min"``, lower
    is better; ``"max"``, higher)."""
    return value < best - delta if mode == "min" else value > best + delta


def worst(mode: str) -> float:
    """What any value beats: ``inf`` for ``"min"``, ``-inf`` for ``"max"``."""
    return math.inf if mode == "min" else -math.inf


def callback_list(value: object, owner: str, name: str) -> tuple[Any, ...]:
    """``value``, an argument ``name`` that takes a list of callbacks, as a tuple (None as
    none: what a wrapper passes on for "not given"); ``TypeError`` naming ``owner`` for a
    callback alone or what is no list."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Callback)) or not isinstance(value, Iterable):
        raise TypeError(f"{owner}: {name} must be a list of callbacks, "
                        f"got {not_a_list(value, name, Callback)}")
    return tuple(value)


def checked_schedules(owner: str, schedules: object) -> tuple[Any, ...]:
    """``schedules`` as a tuple, each a callback that can say where it is (a ``state_dict``:
    the learning-rate schedules, ``WeightAveraging``, ``EarlyStopping``), None as none;
    ``TypeError`` naming ``owner`` otherwise."""
    schedules = callback_list(schedules, owner, "schedules")
    for schedule in schedules:
        if not (isinstance(schedule, Callback) and callable(getattr(schedule, "state_dict", None))):
            raise TypeError(f"{owner}: schedules must be callbacks that keep a place (learning-rate "
                            "schedules, WeightAveraging, EarlyStopping, ModelCheckpoint: with a state_dict), "
                            f"got {kind_given(schedule)}")
    return schedules


def loaded_vectors(owner: str, state: Mapping[str, Any], names: Sequence[str]) -> list[NDArray[Any]]:
    """Copies of the vectors ``names`` of a state given to ``load_state_dict`` (the
    callback's own), each 1-D, of one float dtype; ``ValueError`` naming ``owner`` and the
    first that is not."""
    vectors = [np.array(state[name], copy=True) for name in names]
    for i, (name, vector) in enumerate(zip(names, vectors)):
        if vector.ndim != 1 or vector.dtype.kind != "f" or vector.dtype != vectors[0].dtype:
            rule = f"a 1-D {vectors[0].dtype} vector" if i else "a 1-D vector of floats"
            raise ValueError(f"{owner}: {name} must be {rule}, got {vector.dtype} {vector.shape}")
    return vectors


def check_loaded(owner: str, what: str, loaded: tuple[NDArray[Any], NDArray[Any]], model: Sequential) -> None:
    """``ValueError`` (``owner``'s, ``what`` naming the vectors) unless ``loaded``, a
    ``(params, state)`` pair given by ``load_state_dict``, is laid out as ``model``'s."""
    params, state = model.params, model.state
    if [(a.shape, a.dtype) for a in loaded] != [(a.shape, a.dtype) for a in (params, state)]:
        raise ValueError(f"{owner}: {what} {loaded[0].size} {loaded[0].dtype} parameters and "
                         f"{loaded[1].size} state values, not this model's {params.size} and {state.size} "
                         f"{params.dtype}")


def require_monitored(owner: str, monitor: str, params: Mapping[str, Any]) -> None:
    """Before training: ``ValueError`` if the fit (``params``, as ``set_params`` gets them)
    records no ``monitor`` (``"val_loss"`` without validation data)."""
    metrics = params.get("metrics", ())
    if monitor not in metrics:
        hint = ("pass validation_data=(X_val, y_val)" if monitor.startswith("val_")
                else "pass the metric to fit(metrics=[...])")
        raise ValueError(f"{owner} monitors {monitor!r}, but fit records only {list(metrics)}; {hint}, or "
                         "monitor one of those")


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: ``"val_loss"`` (default; needs ``validation_data``), ``"loss"``, or a
            metric's name (``"val_accuracy"``: ``fit(..., metrics=["accuracy"])``).
        patience: epochs without improvement before stopping, >= 1.
        min_delta: the least change that counts as an improvement, >= 0.
        restore_best_weights: at the end of training, put back the parameters
            of the best epoch, and the model's ``state`` (running statistics) with
            them (default True).
        mode: ``"auto"`` (default: lower is better for a loss and an error, higher for a
            metric whose ``greater_is_better``, such as accuracy), ``"min"`` or ``"max"``.

    Attributes:
        best: the best value seen; ``best_epoch`` the epoch (0-based) it came from
            (``inf``, or ``-inf`` when higher is better, and -1 when a fit starts).
        stopped_epoch: the epoch after which training stopped, or None.

    Given to ``ModelCheckpoint``'s ``schedules`` (or ``Sequential.save``'s), where it is
    (``state_dict``: the best value and epoch, the epochs without improvement, the best
    weights) is written with the model, and ``densenet.load(path, optimizer=...,
    schedules=[stopping])`` with one made as before hands it to the next fit, which then
    stops, and restores, where the run that never stopped would (epochs counted on from
    the file's).

    Example:
        >>> import numpy as np, densenet as dn
        >>> model = dn.Sequential(dn.Dense(1, 1), seed=0)
        >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
        >>> stop = dn.EarlyStopping(monitor="loss", patience=2, min_delta=1e-3)
        >>> history = model.fit(X, 3 * X, epochs=500, batch_size=4, callbacks=[stop])
        >>> history.epochs < 500 and stop.stopped_epoch == history.epochs - 1
        True
    """

    #: (defaults for one pickled before modes existed, and before it could be resumed)
    mode = "auto"
    _sense = "min"  # the mode, "auto" resolved when training begins
    _epochs, _resumed = 0, False

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True, mode: str = "auto") -> None:
        checked_monitor("EarlyStopping", monitor)
        self.mode = checked_mode("EarlyStopping", mode)
        self.patience = positive_int(patience, "EarlyStopping: patience")
        self.monitor, self.min_delta = monitor, hyperparameter(min_delta, "EarlyStopping", "min_delta")
        self.restore_best_weights = flag(restore_best_weights, "EarlyStopping", "restore_best_weights")
        self.best, self.best_epoch = math.inf, -1
        self.stopped_epoch: int | None = None
        self._best: tuple[NDArray[Any], NDArray[Any]] | None = None  # the best epoch's params and state
        self._wait = 0

    def state_dict(self) -> dict[str, Any]:
        """Where it is: the best value (``best``) and its epoch (``best_epoch``), the
        epochs since (``wait``), the epochs seen (``epochs``) and, with
        ``restore_best_weights`` once an epoch was best, copies of that epoch's
        parameters and state (``best_params``, ``best_state``)."""
        state: dict[str, Any] = {"best": self.best, "best_epoch": self.best_epoch, "wait": self._wait,
                                 "epochs": self._epochs}
        if self._best is not None and self.best_epoch >= 0:
            state.update(best_params=self._best[0].copy(), best_state=self._best[1].copy())
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Go on from ``state`` (an earlier ``state_dict()``): the next fit continues
        from there (its epochs counted on from ``epochs``) instead of starting afresh; it
        must train a model of the best weights' size and dtype (``ValueError`` when it
        begins, before any step). The fits after it start afresh (a fit refused before its
        first epoch ended leaves the place to the next). A state that is not one
        (``ValueError`` or ``TypeError`` naming what is wrong) leaves the callback as it was."""
        names = ("best", "best_epoch", "wait", "epochs", "best_params", "best_state")
        if not (isinstance(state, Mapping) and set(names[:4]) <= set(state) <= set(names)):
            raise ValueError("EarlyStopping: a state must hold best, best_epoch, wait, epochs and, with "
                             "restore_best_weights, best_params and best_state (a state_dict()), "
                             f"got {state!r}")
        best, best_epoch = state["best"], state["best_epoch"]
        wait = count(state["wait"], "EarlyStopping wait")
        epochs = count(state["epochs"], "EarlyStopping epochs")
        if isinstance(best_epoch, bool) or not isinstance(best_epoch, (int, np.integer)) or not (
                -1 <= best_epoch < epochs):
            raise ValueError(f"EarlyStopping: best_epoch must be an epoch seen (of {epochs}), or -1, got "
                             f"{shown(best_epoch)}")
        number = not isinstance(best, bool) and isinstance(best, (int, float, np.floating, np.integer))
        value = as_float(best) if number else math.nan  # (an int beyond float's range: inf, refused)
        if math.isnan(value) or (best_epoch >= 0) != math.isfinite(value) or (
                best_epoch < 0 and not isinstance(best, (float, np.floating))):
            raise ValueError(f"EarlyStopping: best must be a finite number once an epoch was best, infinite "
                             f"before, got {shown(best)} with best_epoch {shown(best_epoch)}")
        given = [name for name in names[4:] if name in state]
        kept = self.restore_best_weights and best_epoch >= 0
        if len(given) != (2 if kept else 0):
            raise ValueError(f"EarlyStopping: a state {'with' if kept else 'without'} best weights to "
                             f"restore (restore_best_weights={self.restore_best_weights}, best_epoch "
                             f"{best_epoch}) holds {'both' if kept else 'neither'} of best_params and "
                             f"best_state, got {given}")
        weights = loaded_vectors("EarlyStopping", state, given)
        self.best, self.best_epoch, self._wait, self._epochs = value, int(best_epoch), wait, epochs
        self._best = (weights[0], weights[1]) if weights else None
        self.stopped_epoch, self._resumed = None, True

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._sense = monitored_mode("EarlyStopping", self.monitor, self.mode, self.params)
        params, state = self.model.params, self.model.state
        if self._resumed:
            best = self._best
            if best is not None:
                check_loaded("EarlyStopping", "the best weights given by load_state_dict hold", best,
                             self.model)
            # (the loaded place serves this fit once an epoch ends: a fit refused before, by
            # another callback's on_train_begin, leaves it for the next one)
            if self.restore_best_weights and best is None:  # (nothing was best yet)
                self._best = (np.empty_like(params), np.empty_like(state))
            if self._wait >= self.patience:  # the run stopped at the loaded place: no epoch more
                self.stopped_epoch, self._resumed = self._epochs - 1, False
                self.model.stop_training = True
            return
        self.best, self.best_epoch, self.stopped_epoch, self._wait = worst(self._sense), -1, None, 0
        self._epochs = 0
        self._best = (np.empty_like(params), np.empty_like(state)) if self.restore_best_weights else None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> bool:
        self._resumed = False  # (a loaded place: taken up by this fit)
        if logs is None:  # nothing to monitor (fit always passes its logs)
            return False
        epoch = self._epochs  # (the fit's epoch, or, resumed, the whole run's)
        self._epochs += 1
        value = logs[self.monitor]
        if improves(value, self.best, self._sense, self.min_delta):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self._best is not None:
                self._best[0][...] = self.model.params
                self._best[1][...] = self.model.state
            return False
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._best is not None and self.best_epoch >= 0:
            self.model.params[...] = self._best[0]
            self.model.state[...] = self._best[1]


class Progress(Callback):
    """Progress for ``fit(verbose=True)``.

    First a line stating the epochs, the steps and the BLAS threads the fit runs on (and
    the BLAS libraries that run OpenBLAS's generic kernels, or its AVX2 kernels on a processor with
    AVX-512: ``thread_policy.generic_kernels``, ``held_back_kernels``).
    When tqdm is installed (``pip install densenet[progress]``) and ``stream``
    is a terminal: a bar over the epochs showing the running mean of the
    current epoch's batch losses (refreshed about 20 times an epoch), then each
    epoch's ``logs``. Otherwise a plain line after the first epoch, every
    ``max(1, epochs // 20)`` epochs and after the last.
    """

    def __init__(self, stream: Any = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self._bar: Any = None
        self._epoch, self._sum, self._count = 0, 0.0, 0

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.epochs = self.params["epochs"]
        self.every = max(1, self.epochs // 20)
        self.batch_every = max(1, self.params["steps"] // 20)
        self._epoch, self._sum, self._count = 0, 0.0, 0
        threads = self.params["blas_threads"]
        print(f"fit: {self.epochs} epochs of {self.params['steps']} steps, BLAS threads: "
              + ("BLAS's own choice" if threads is None else f"{threads} (set: dn.set_num_threads)"
                 if self.params.get("blas_threads_set") else f"{threads} (densenet's thread policy)")
              + (", or 1 while its steps time faster" if self.params.get("thread_trial") else "")
              + (f"; large products on {library} (DENSENET_BLAS)"
                 if (library := self.params.get("gemm_library")) else "")
              + (f"; {' and '.join(generic)}: OpenBLAS's generic kernels, several times slower (it "
                 "does not know this processor: set OPENBLAS_CORETYPE before Python starts, or install "
                 "NumPy >= 2 and SciPy >= 1.13)" if (generic := generic_kernels()) else "")
              + (f"; {' and '.join(held)}: OpenBLAS's AVX2 kernels on a processor with AVX-512, slower "
                 f"than its own choice ({held_back_by()})" if (held := held_back_kernels()) else ""),
              file=self.stream, flush=True)
        isatty = getattr(self.stream, "isatty", None)
        if isatty is not None and isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=self.epochs, unit="epoch", file=self.stream, leave=True)

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self._bar is None or logs is None:
            return
        self._sum += logs["loss"]
        self._count += 1
        if (batch + 1) % self.batch_every == 0:
            self._bar.set_postfix_str(
                f"epoch {self._epoch + 1} running loss {self._sum / self._count:.4g}", refresh=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        text = "  ".join(f"{name} {value:.4g}" for name, value in (logs or {}).items())
        self._epoch, self._sum, self._count = epoch + 1, 0.0, 0
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        elif epoch == 0 or (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            width = len(str(self.epochs))
            print(f"epoch {epoch + 1:>{width}}/{self.epochs}  {text}", file=self.stream, flush=True)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_error(self, error: BaseException) -> None:
        self.on_train_end()
