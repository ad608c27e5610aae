"""``load``: a model file read back into a ``Sequential``, and the optimiser's and
schedules' states saved beside the model put back into new ones.

``Sequential.save`` describes the model (``Sequential.config``) and ``densenet.io``
writes and reads the file safely; this file checks what a file describes before it
trusts it: a file refused is a ``ValueError`` naming it, and an optimiser given to
``load`` is left as it was when its state, or a schedule's, is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import io
from ._validation import kind_given, learning_rate
from .callbacks import checked_schedules
from .model import Sequential
from .module import build
from .optimizer import Optimizer


def load(path: io.File, optimizer: Optimizer | None = None,
         schedules: Sequence[Any] | None = ()) -> Sequential:
    """Rebuild the model saved at ``path``: predictions are bit-identical. ``path``
    may also be a binary file object, read from where it stands to its end (``seek`` is
    not needed; an object just saved into stands at its end: ``seek(0)`` it first).

    Modules are found by the name they were saved under (``densenet.module.type_name``);
    a custom module's class must be defined (imported) before loading. Given a
    new ``optimizer`` of the type saved with the model (``save(path, optimizer)``),
    its state and learning rate are restored: training then resumes exactly. Given
    new ``schedules`` of the types saved (``save(path, optimizer, schedules)``, in the
    same order, made for ``optimizer``; the first ones of those saved: a
    ``ModelCheckpoint``'s file holds its own place after them), each goes on from where it was
    (``load_state_dict``): a schedule sets its rate for that place (then ``optimizer``'s
    is put back to the file's, a plateau's drops kept), a
    ``WeightAveraging`` hands its average to the next fit, an ``EarlyStopping`` its best
    value, epochs without improvement and best weights.

    Raises:
        FileNotFoundError: no file at ``path``.
        TypeError: ``path`` is neither a file name nor a binary file object.
        ValueError: the file is truncated or corrupted, is not a densenet model
            file, has another format version, or describes an invalid model;
            or it holds no state for ``optimizer``, or an invalid one; or an invalid
            state for one of ``schedules``. ``optimizer`` is then as it was (its state
            and rate); the schedules before a refused one hold the file's states.

    Example:
        >>> import os, tempfile
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
        >>> adam = dn.Adam(lr=0.01)
        >>> _ = model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=adam, epochs=5, batch_size=2)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> model.save(path, optimizer=adam)
        >>> resumed = dn.Adam(lr=0.01)
        >>> copy = dn.load(path, optimizer=resumed)
        >>> bool((copy.params == model.params).all()), resumed.steps
        (True, 10)
    """
    schedules = checked_schedules("load", schedules)
    config, params, extra = io.read(path)
    where = io.describe(path)
    try:
        modules = [build(spec) for spec in config["modules"]]
        dtype = np.dtype(config["dtype"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"load: {where} has an invalid model description: {error}") from None
    if params.dtype != dtype or params.ndim != 1:
        raise ValueError(
            f"load: {where} stores params as {params.dtype} {params.shape}, "
            f"expected a 1-D {dtype} vector"
        )
    try:
        model = Sequential(*modules, dtype=dtype, seed=0)
    except (TypeError, ValueError) as error:
        raise ValueError(f"load: {where} describes an invalid model: {error}") from None
    if params.size != model.params.size:
        raise ValueError(
            f"load: {where} stores {params.size} parameters, but its architecture has "
            f"{model.params.size}"
        )
    model.params[...] = params
    _load_state(model, extra.get("state"), where)
    frozen = config.get("frozen", [])  # (none in a file saved before modules could be frozen)
    if not isinstance(frozen, list) or not all(isinstance(i, int) for i in frozen):
        raise ValueError(f"load: {where} has an invalid list of frozen modules: {frozen!r}")
    if frozen:
        try:
            model.freeze(*frozen)
        except (TypeError, ValueError) as error:
            raise ValueError(f"load: {where} has an invalid list of frozen modules: {error}") from None
    state = config.get("rng_state")
    if state is not None:
        try:
            if _negative(state):  # (NumPy 1 takes one as its two's complement, with a DeprecationWarning)
                raise ValueError(state)
            model.rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError):  # (a number out of its C type's range)
            raise ValueError(f"load: {where} has an invalid random-generator state") from None
    if optimizer is not None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"load: optimizer must be a densenet Optimizer, got {kind_given(optimizer)}")
        # a state refused part-way (the optimiser's rate, a schedule's) puts the optimiser back
        # as it was, as fit undoes a diverging epoch: a half-restored one would train on silently
        before = optimizer.state_dict(), optimizer.lr
        try:
            rate = _load_optimizer(optimizer, config.get("optimizer"), extra, where)
            if schedules:
                _load_schedules(schedules, config.get("schedules"), extra, where)
                if rate is not None:  # the rate the run was at: an epoch schedule's place alone
                    optimizer.lr = rate  # lacks a plateau's drops (or a rate set by hand)
        except ValueError:
            optimizer.load_state_dict(before[0])
            if not optimizer.full_batch:
                optimizer.lr = before[1]
            raise
    elif schedules:
        _load_schedules(schedules, config.get("schedules"), extra, where)
    return model


def _negative(value: object) -> bool:
    """Whether a JSON value holds a negative integer (a generator's state holds none)."""
    if isinstance(value, dict):
        return any(_negative(v) for v in value.values())
    if isinstance(value, list):
        return any(_negative(v) for v in value)
    return isinstance(value, int) and value < 0


def _load_schedules(schedules: Sequence[Any], saved: Any, extra: dict[str, NDArray[Any]], where: str) -> None:
    """Put the schedules' states saved beside a model (numbers in ``saved``, arrays in
    ``extra``) into ``schedules``, in order."""
    if not isinstance(saved, list):
        raise ValueError(f"load: {where} holds no schedule state (save it with "
                         "model.save(path, optimizer, schedules=[...]))")
    names = [type(s).__name__ for s in schedules]
    kept = [entry.get("type") if isinstance(entry, dict) else None for entry in saved]
    if names != kept[:len(names)]:  # (the first ones: a ModelCheckpoint writes its own place last)
        raise ValueError(f"load: {where} holds the states of the schedules {kept}, not of {names}")
    for i, (schedule, entry) in enumerate(zip(schedules, saved)):
        state, prefix = entry.get("state"), f"schedules.{i}."
        arrays = {name[len(prefix):]: array for name, array in extra.items() if name.startswith(prefix)}
        if isinstance(state, dict):  # (anything else: load_state_dict says what is wrong)
            state = {**state, **arrays}
        try:
            schedule.load_state_dict(state)
        except (TypeError, ValueError) as error:
            raise ValueError(f"load: {where} holds an invalid schedule state: {error}") from None
        except KeyError as error:  # (a callback of one's own reading a key an older state lacks)
            held = sorted(state) if isinstance(state, dict) else state
            raise ValueError(f"load: {where} holds an invalid schedule state: {type(schedule).__name__}"
                             f".load_state_dict looked for {error}, which the state does not hold (it holds "
                             f"{held!r})") from None


def _load_optimizer(optimizer: Optimizer, saved: Any, extra: dict[str, NDArray[Any]],
                    where: str) -> float | None:
    """Put the optimiser state saved beside a model into ``optimizer`` (a densenet ``Optimizer``);
    the rate it was given (None for one that has none)."""
    if not isinstance(saved, dict):
        raise ValueError(f"load: {where} holds no optimiser state (save it with model.save(path, optimizer))")
    if saved.get("type") != type(optimizer).__name__:
        raise ValueError(f"load: {where} holds the state of {saved.get('type')!r}, not of {optimizer!r}")
    prefix = "optimizer."
    state = {"steps": saved.get("steps"),  # and any numbers the optimiser keeps, then its vectors
             **{name: v for name, v in saved.items() if name not in ("type", "lr")},
             **{name[len(prefix):]: v for name, v in extra.items() if name.startswith(prefix)}}
    try:  # (the rate checked before the state goes in)
        lr = learning_rate(saved.get("lr"), type(optimizer).__name__)
        optimizer.load_state_dict(state)
        if optimizer.full_batch:  # (without a rate: one an older version let a schedule set is left out)
            return None
        optimizer.lr = lr
        return lr
    except (TypeError, ValueError) as error:
        raise ValueError(f"load: {where} holds an invalid optimiser state: {error}") from None


def _load_state(model: Sequential, state: NDArray[Any] | None, where: str) -> None:
    """Put the saved ``state`` vector (None: the file has none) into ``model``."""
    if state is None and not model.state.size:
        return
    if state is None or state.dtype != model.dtype or state.shape != model.state.shape:
        found = "none" if state is None else f"{state.dtype} {state.shape}"
        raise ValueError(f"load: {where} stores state as {found}, but its architecture has "
                         f"{model.state.size} {model.dtype} state values")
    model.state[...] = state
