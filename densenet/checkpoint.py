"""``ModelCheckpoint``: a callback that writes the model, and its optimiser's state, as ``fit`` trains."""

from __future__ import annotations

import math
import os
import string
from collections.abc import Mapping, Sequence
from typing import Any

from ._validation import count, flag, hyperparameter, positive_int
from .callbacks import (
    Callback,
    checked_mode,
    checked_monitor,
    checked_schedules,
    improves,
    monitored_mode,
    require_monitored,
    worst,
)
from .io import split_state, try_writing_in


class ModelCheckpoint(Callback):
    """Write the model to a file after every epoch (or every ``every``-th), with the
    optimiser's state, so that a training that stops (a crash, a Ctrl-C, a machine
    taken back) can go on from the last file exactly as if it never stopped.

    Each file is ``model.save(path, optimizer=...)``'s: written atomically (an
    interrupted write leaves the earlier file whole), and ``densenet.load(path,
    optimizer=...)`` rebuilds the model with its running statistics and random
    generator, and the optimiser with its state and learning rate: a ``fit`` of the
    remaining epochs then ends with the weights the whole ``fit`` would have
    (bit-identical; shuffled batches and dropout masks included, as they come from
    the model's generator unless ``fit`` is given a ``seed``).

    Args:
        path: the file's name, a ``str`` or path object. It may hold the fields
            ``{epoch}`` (the number of epochs done, counted from 1 and across ``fit``
            calls) and what the fit records (``{loss}``, ``{val_loss}``, a metric's
            ``{val_accuracy}``...), with any format spec
            (``"run-{epoch:03d}-{val_loss:.4f}.npz"``): each write then makes a new file.
            Its folder must exist and take new files when training begins (a
            temporary file is made there and removed, as each write makes one),
            and a path that is a folder is refused then too: before the first step.
        monitor: ``"val_loss"`` (default; needs ``validation_data``), ``"loss"`` or a
            metric's name: what ``save_best_only`` compares.
        save_best_only: write only after an epoch whose ``monitor`` is better than the
            best one written so far (default False: after every epoch it looks at).
        every: look at every ``every``-th epoch only (default 1: each one).
        save_optimizer: store the optimiser's state with the model (default True).
        schedules: learning-rate schedules of the fit (``OneCycleLR``, ``StepLR``...)
            whose places to store too, a ``WeightAveraging`` whose average and an
            ``EarlyStopping`` whose best epoch and weights to store
            (``Sequential.save``'s ``schedules``): then
            ``densenet.load(path, optimizer=..., schedules=[...])`` with new ones made
            as before resumes them as well.
        mode: whether ``save_best_only`` keeps the lowest ``monitor`` (``"min"``) or the
            highest (``"max"``); ``"auto"`` (default): the highest for a metric whose
            ``greater_is_better`` (accuracy), else the lowest.

    Attributes:
        epoch: the epochs seen so far, across ``fit`` calls (the ``{epoch}`` of the
            last one).
        last_path: the file written last, or None.
        best, best_epoch: with ``save_best_only``, the best ``monitor`` written and
            its ``epoch`` (``inf``, or ``-inf`` when higher is better, and 0 before the
            first write). Both carry over from
            one ``fit`` to the next, as the file does: a later ``fit`` replaces it only
            with a better model.

    Each file also holds the checkpoint's own place (``state_dict``: ``monitor``,
    ``epoch``, ``best``, ``best_epoch``), after the ``schedules``' states, and a checkpoint
    may be among another's ``schedules``: a best-only checkpoint among those of the one
    that writes every epoch (and before it in ``fit``'s callbacks, so that the place
    written is that epoch's). A run that goes on in a new process gives checkpoints made
    as before to ``densenet.load``'s ``schedules`` (``load(last, optimizer=...,
    schedules=[*schedules, best_only])``): they go on counting epochs, and the best-only one
    replaces its file only with a better model. One made anew and not given its place has
    seen nothing: its first write replaces the best file, whatever it holds. ``load`` may
    be given fewer schedules than a file holds (the first ones).

    A learning-rate schedule's place (``StepLR``'s epoch, ``OneCycleLR``'s step...) is in
    the file only if it is among ``schedules``. ``fit`` calls a checkpoint after its
    other callbacks (``Callback.runs_last``), wherever it is in the list: a file holds
    what they made of the epoch (its next rate), and one that stops the training at an
    epoch's end stops it before that epoch is written.

    Example:
        >>> import os, tempfile
        >>> import numpy as np, densenet as dn
        >>> folder = tempfile.mkdtemp()
        >>> model = dn.Sequential(dn.Dense(2, 4), dn.Tanh(), dn.Dense(4, 1), seed=0)
        >>> adam = dn.Adam(lr=0.01)
        >>> checkpoint = dn.ModelCheckpoint(os.path.join(folder, "run-{epoch:02d}.npz"), every=2)
        >>> _ = model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=adam, epochs=6, callbacks=[checkpoint])
        >>> sorted(os.listdir(folder))
        ['run-02.npz', 'run-04.npz', 'run-06.npz']
        >>> resumed = dn.Adam(lr=0.01)
        >>> copy = dn.load(checkpoint.last_path, optimizer=resumed)
        >>> bool((copy.params == model.params).all()), resumed.steps
        (True, 6)
    """

    runs_last = True  # after the schedules' hooks: the file holds where they are after the epoch
    #: (defaults for one pickled before modes existed)
    mode = "auto"
    _sense = "min"  # the mode, "auto" resolved when training begins

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss", save_best_only: bool = False,
                 every: int = 1, save_optimizer: bool = True, schedules: Sequence[Any] | None = (),
                 mode: str = "auto") -> None:
        self.path, self.fields = _template(path)
        self.monitor = checked_monitor("ModelCheckpoint", monitor)
        self.mode = checked_mode("ModelCheckpoint", mode)
        self.save_best_only = flag(save_best_only, "ModelCheckpoint", "save_best_only")
        self.every = positive_int(every, "ModelCheckpoint every")
        self.save_optimizer = flag(save_optimizer, "ModelCheckpoint", "save_optimizer")
        self.schedules = checked_schedules("ModelCheckpoint", schedules)
        self.epoch, self.best, self.best_epoch = 0, math.inf, 0
        self.last_path: str | None = None

    def state_dict(self) -> dict[str, Any]:
        """Where the checkpoint is: what it monitors, the epochs seen, the best value
        written and its epoch (JSON numbers; each file it writes holds them)."""
        return {"monitor": self.monitor, "epoch": self.epoch, "best": self.best,
                "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Go on from ``state`` (an earlier ``state_dict()``, of a checkpoint monitoring the
        same): the epochs counted on, and with ``save_best_only`` only a model better than
        ``best`` written. A state that is not one (``ValueError`` or ``TypeError`` naming
        what is wrong) leaves the checkpoint as it was."""
        names = ("monitor", "epoch", "best", "best_epoch")
        if not isinstance(state, Mapping) or set(state) != set(names):
            raise ValueError(f"ModelCheckpoint: a state must hold {', '.join(names)} (a state_dict()), "
                             f"got {state!r}")
        if not isinstance(state["monitor"], str) or state["monitor"] != self.monitor:
            raise ValueError(f"ModelCheckpoint: a state of monitor {state['monitor']!r} given to one of "
                             f"{self.monitor!r}: its best is not a value of what this one compares")
        epoch = count(state["epoch"], "ModelCheckpoint epoch")
        best_epoch = count(state["best_epoch"], "ModelCheckpoint best_epoch")
        if best_epoch > epoch:
            raise ValueError(f"ModelCheckpoint: best_epoch must be an epoch written (of {epoch}), or 0, "
                             f"got {best_epoch}")
        best = state["best"]
        if not (isinstance(best, float) and math.isinf(best)):  # (inf or -inf: nothing written yet)
            best = hyperparameter(best, "ModelCheckpoint", "best", low=-math.inf)
        self.epoch, self.best, self.best_epoch = epoch, float(best), best_epoch

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Refuse, before the first step, a fit that could not write the files."""
        for field in self.fields:
            if field != "epoch":
                require_monitored("ModelCheckpoint", field, self.params)
        for i, schedule in enumerate(self.schedules):
            try:  # (a state of one's own that no file could give back)
                split_state(schedule.state_dict(), f"schedules[{i}], {type(schedule).__name__},")
            except TypeError as error:
                raise TypeError(f"ModelCheckpoint: {error}") from None
        if self.save_best_only:
            self._sense = monitored_mode("ModelCheckpoint", self.monitor, self.mode, self.params)
            if not self.best_epoch:  # nothing written yet
                self.best = worst(self._sense)
        folder = os.path.dirname(self.path)
        if any(field for _, field, _, _ in string.Formatter().parse(folder)):
            return  # (a folder named by the epoch's fields is known at each write only)
        folder = folder.format()  # (a literal brace is written doubled)
        if not os.path.isdir(folder or os.curdir):
            raise FileNotFoundError(f"ModelCheckpoint: the folder {folder!r} of {self.path!r} does not "
                                    "exist; create it before training")
        named = None if self.fields else self.path.format()  # (the one file written, if no field)
        if named is not None and os.path.isdir(named):
            raise IsADirectoryError(f"ModelCheckpoint: {named!r} is a folder; give a file name in it "
                                    f"(such as {os.path.join(named, 'model.npz')!r})")
        try_writing_in(folder or os.curdir, os.path.basename(named or "checkpoint"), "ModelCheckpoint")

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch += 1
        if logs is None or self.epoch % self.every:
            return
        if self.save_best_only:
            value = logs[self.monitor]
            if not improves(value, self.best, self._sense):
                return
            self.best, self.best_epoch = value, self.epoch
        name = self.path.format(epoch=self.epoch, **logs)
        self.model.save(name, optimizer=self.params["optimizer"] if self.save_optimizer else None,
                        schedules=(*self.schedules, self))
        self.last_path = name

    def __repr__(self) -> str:
        settings = (f"monitor={self.monitor!r}, save_best_only={self.save_best_only}, every={self.every}, "
                    f"save_optimizer={self.save_optimizer}")
        settings += "" if self.mode == "auto" else f", mode={self.mode!r}"
        scheduled = f", schedules={list(self.schedules)!r}" if self.schedules else ""
        return f"{type(self).__name__}({self.path!r}, {settings}{scheduled})"


def _template(path: Any) -> tuple[str, tuple[str, ...]]:
    """``path`` as a ``str`` and the fields it names, checked: ``TypeError`` for what is
    not a file name, ``ValueError`` for a field that is not a name or a bad format
    (whether the fit records a field is checked when it begins)."""
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
        raise TypeError(f"ModelCheckpoint: path must be a file name (a str or path object), got "
                        f"{type(path).__name__}; a checkpoint writes a new file each time")
    text = os.fspath(path)
    try:
        fields = tuple(dict.fromkeys(field for _, field, _, _ in string.Formatter().parse(text)
                                     if field is not None))
        unknown = [field for field in fields if not field.isidentifier()]
        if not unknown:
            text.format(**{**dict.fromkeys(fields, 0.5), "epoch": 1})  # (a bad format spec fails here)
    except (ValueError, TypeError) as error:
        raise ValueError(f"ModelCheckpoint: path {text!r} is not a valid name pattern: {error}") from None
    if unknown:
        raise ValueError(f"ModelCheckpoint: path {text!r} names {', '.join(f'{{{f}}}' for f in unknown)}; "
                         "it may name {epoch} and what fit records ({loss}, {val_loss}, a metric's name) "
                         "only (a literal brace is written doubled)")
    return text, fields
