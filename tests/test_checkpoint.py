"""``ModelCheckpoint``: the model and its optimiser's state written as ``fit`` trains, and
a training resumed from the last file ending where the whole training would."""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

import densenet as dn


def _data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, 3))
    return X, np.tanh(X @ np.array([[1.0], [-2.0], [0.5]])) + 0.1 * rng.normal(size=(n, 1))


def _model() -> dn.Sequential:
    return dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.Tanh(), dn.Dropout(0.2), dn.Dense(8, 1),
                         seed=3)


class _Snapshots(dn.Callback):
    """The parameters and state after each epoch."""

    def __init__(self) -> None:
        self.weights: list[np.ndarray] = []
        self.state: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.params.copy())
        self.state.append(self.model.state.copy())


class _Interrupt(dn.Callback):
    """A Ctrl-C at the end of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_each_epoch_writes_the_model_as_it_is_then(tmp_path):
    X, y = _data()
    model, snapshots = _model(), _Snapshots()
    checkpoint = dn.ModelCheckpoint(tmp_path / "run-{epoch:02d}.npz")
    model.fit(X, y, optimizer=dn.Adam(0.01), epochs=3, batch_size=8, callbacks=[checkpoint, snapshots])
    assert sorted(os.listdir(tmp_path)) == ["run-01.npz", "run-02.npz", "run-03.npz"]
    for i in range(3):
        loaded = dn.load(tmp_path / f"run-{i + 1:02d}.npz")
        assert np.array_equal(loaded.params, snapshots.weights[i])
        assert np.array_equal(loaded.state, snapshots.state[i])
    assert checkpoint.last_path == str(tmp_path / "run-03.npz")
    assert checkpoint.epoch == 3
    assert not any(name.startswith(".") or name.endswith(".tmp") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("make", [
    lambda: dn.Adam(0.01), lambda: dn.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: dn.RMSprop(0.005, momentum=0.5, centered=True), lambda: dn.SGD(0.05),
    lambda: dn.NAdam(0.01, weight_decay=1e-3),
], ids=["adam", "nesterov", "rmsprop", "sgd", "nadam"])
def test_a_fit_stopped_and_resumed_from_its_last_file_ends_as_the_whole_fit(tmp_path, make):
    X, y = _data()
    whole = _model()
    whole.fit(X, y, optimizer=make(), epochs=7, batch_size=6)
    stopped = _model()
    checkpoint = dn.ModelCheckpoint(tmp_path / "run.npz")
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, optimizer=make(), epochs=7, batch_size=6, callbacks=[checkpoint, _Interrupt(3)])
    optimizer = make()
    resumed = dn.load(tmp_path / "run.npz", optimizer=optimizer)
    # (the checkpoint runs last: the Ctrl-C at the end of the fourth epoch came before its write)
    assert checkpoint.epoch == 3
    assert optimizer.steps == 3 * 7  # (7 batches an epoch)
    resumed.fit(X, y, optimizer=optimizer, epochs=4, batch_size=6)
    assert np.array_equal(resumed.params, whole.params)
    assert np.array_equal(resumed.state, whole.state)
    assert np.array_equal(resumed.predict(X), whole.predict(X))


SCHEDULES = {
    "one-cycle": lambda o: dn.OneCycleLR(o, max_lr=0.05, total_steps=7 * 7),
    "one-cycle-from-the-fit": lambda o: dn.OneCycleLR(o, max_lr=0.05, pct_start=0.5),
    "step": lambda o: dn.StepLR(o, step_size=2, gamma=0.5),
    "warm-up": lambda o: dn.LinearLR(o, start_factor=0.1, total_iters=5),
    "plateau": lambda o: dn.ReduceLROnPlateau(o, monitor="loss", factor=0.5, patience=0, threshold=0.05),
    "warm-up-then-cosine": lambda o: dn.SequentialLR(
        o, [dn.LinearLR(o, 0.1, total_iters=3), dn.CosineLR(o, 4)], milestones=[3]),
}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_a_scheduled_fit_resumed_from_its_last_file_ends_as_the_whole_fit(tmp_path, schedule):
    """The schedules' places saved beside the optimiser's state: the resumed fit takes
    the rates (and OneCycleLR's momenta) the whole fit took, whatever the checkpoint's
    place in the list of callbacks."""
    X, y = _data()
    whole, optimizer = _model(), dn.Adam(0.01)
    whole_rates = []
    whole.fit(X, y, optimizer=optimizer, epochs=7, batch_size=6,
              callbacks=[SCHEDULES[schedule](optimizer), _Rates(whole_rates)])
    stopped, optimizer = _model(), dn.Adam(0.01)
    scheduled = SCHEDULES[schedule](optimizer)
    checkpoint = dn.ModelCheckpoint(tmp_path / "run.npz", monitor="loss", schedules=[scheduled])
    rates = []
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, optimizer=optimizer, epochs=7, batch_size=6,
                    callbacks=[checkpoint, scheduled, _Rates(rates), _Interrupt(3)])
    optimizer = dn.Adam(0.01)
    again = SCHEDULES[schedule](optimizer)  # made as before, then put where the file says
    resumed = dn.load(tmp_path / "run.npz", optimizer=optimizer, schedules=[again])
    del rates[checkpoint.epoch:]  # (the epoch the Ctrl-C cut off, not in the file)
    resumed.fit(X, y, optimizer=optimizer, epochs=7 - checkpoint.epoch, batch_size=6,
                callbacks=[again, _Rates(rates)])
    assert rates == whole_rates
    assert len(set(rates)) > 1
    assert np.array_equal(resumed.params, whole.params)


@pytest.mark.parametrize("order", ["warm-up-first", "plateau-first"])
def test_a_warm_up_beside_a_plateau_schedule_keeps_its_drops_over_fits_and_files(tmp_path, order):
    """A ``LinearLR`` warm-up and a ``ReduceLROnPlateau`` on one optimiser: a drop the plateau
    made holds on (the warm-up multiplies the rate it finds), and a fit split in two, or
    resumed from its last file, takes the rates and ends with the weights of the whole fit."""
    X, y = _data()

    def schedules(optimizer):
        made = [dn.LinearLR(optimizer, start_factor=0.2, total_iters=6),
                dn.ReduceLROnPlateau(optimizer, monitor="loss", factor=0.5, patience=0, threshold=0.2)]
        return made if order == "warm-up-first" else made[::-1]

    kwargs = dict(batch_size=6)
    whole, adam, whole_rates = _model(), dn.Adam(0.01), []
    made = schedules(adam)
    whole.fit(X, y, optimizer=adam, epochs=10, callbacks=[*made, _Rates(whole_rates)], **kwargs)
    warm_up = next(s for s in made if isinstance(s, dn.LinearLR))
    own = [warm_up.rate(epoch) for epoch in range(1, 11)]
    lowered = [i for i, ((rate, _), mine) in enumerate(zip(whole_rates, own)) if rate < mine]
    assert lowered  # a drop in the warm-up, before the fits below are cut
    assert lowered[0] < 3
    assert all(rate < mine for (rate, _), mine in zip(whole_rates[lowered[0]:], own[lowered[0]:]))

    twice, adam, rates = _model(), dn.Adam(0.01), []
    made = schedules(adam)
    for epochs in (3, 7):
        twice.fit(X, y, optimizer=adam, epochs=epochs, callbacks=[*made, _Rates(rates)], **kwargs)
    assert rates == whole_rates
    assert np.array_equal(twice.params, whole.params)

    stopped, adam, rates = _model(), dn.Adam(0.01), []
    made = schedules(adam)
    checkpoint = dn.ModelCheckpoint(tmp_path / "run.npz", monitor="loss", schedules=made)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, optimizer=adam, epochs=10,
                    callbacks=[*made, checkpoint, _Rates(rates), _Interrupt(3)], **kwargs)
    adam = dn.Adam(0.01)
    again = schedules(adam)  # made as before, then put where the file says
    resumed = dn.load(tmp_path / "run.npz", optimizer=adam, schedules=again)
    del rates[checkpoint.epoch:]
    resumed.fit(X, y, optimizer=adam, epochs=10 - checkpoint.epoch, callbacks=[*again, _Rates(rates)],
                **kwargs)
    assert rates == whole_rates
    assert np.array_equal(resumed.params, whole.params)


@pytest.mark.parametrize("interrupted", [4, 9])  # (files of epochs 3 and 8: each one epoch without improving)
@pytest.mark.parametrize("restore", [True, False])
def test_a_fit_with_early_stopping_resumed_from_its_last_file_stops_where_the_whole_fit_stops(
        tmp_path, restore, interrupted):
    """The early stopping's place saved beside the optimiser's state: the resumed fit stops
    after the epoch the whole fit stopped after, and restores the same best weights."""
    X, y = _data(60)
    kwargs = dict(epochs=30, batch_size=6, validation_data=(X[40:], y[40:]))
    whole, stop = _model(), dn.EarlyStopping(patience=4, restore_best_weights=restore)
    history = whole.fit(X[:40], y[:40], optimizer=dn.Adam(0.2), callbacks=[stop], **kwargs)
    assert (stop.best_epoch, stop.stopped_epoch, history.epochs) == (7, 11, 12)  # (improving twice after 2)
    stopped, adam = _model(), dn.Adam(0.2)
    stopping = dn.EarlyStopping(patience=4, restore_best_weights=restore)
    checkpoint = dn.ModelCheckpoint(tmp_path / "run.npz", schedules=[stopping])
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X[:40], y[:40], optimizer=adam, callbacks=[stopping, checkpoint, _Interrupt(interrupted)],
                    **kwargs)
    adam, again = dn.Adam(0.2), dn.EarlyStopping(patience=4, restore_best_weights=restore)
    resumed = dn.load(tmp_path / "run.npz", optimizer=adam, schedules=[again])
    assert again.state_dict()["wait"] == 1
    assert again.state_dict()["epochs"] == interrupted
    kwargs["epochs"] = 30 - interrupted
    rest = resumed.fit(X[:40], y[:40], optimizer=adam, callbacks=[again], **kwargs)
    assert (again.best_epoch, again.stopped_epoch, rest.epochs) == (7, 11, 12 - interrupted)
    assert again.best == stop.best
    assert np.array_equal(resumed.params, whole.params)
    assert np.array_equal(resumed.state, whole.state)


@pytest.mark.parametrize("restore", [True, False])
def test_a_fit_resumed_from_the_file_of_the_epoch_it_stopped_after_trains_no_epoch(tmp_path, restore):
    """The last file of a fit that early stopping ended (a run that stopped, or a crash
    before ``fit`` returned): the resumed fit trains no epoch, as the whole run went no
    further, and ends with the weights that run ended with; the fit after it starts afresh."""
    X, y = _data(60)
    kwargs = dict(epochs=30, batch_size=6, validation_data=(X[40:], y[40:]))
    whole, adam, stop = _model(), dn.Adam(0.2), dn.EarlyStopping(patience=4, restore_best_weights=restore)
    checkpoint = dn.ModelCheckpoint(tmp_path / "run.npz", schedules=[stop])
    history = whole.fit(X[:40], y[:40], optimizer=adam, callbacks=[stop, checkpoint], **kwargs)
    assert (stop.stopped_epoch, history.epochs) == (11, 12)
    adam, again = dn.Adam(0.2), dn.EarlyStopping(patience=4, restore_best_weights=restore)
    resumed = dn.load(tmp_path / "run.npz", optimizer=adam, schedules=[again])
    steps = adam.steps
    rest = resumed.fit(X[:40], y[:40], optimizer=adam, callbacks=[again], **kwargs)
    assert (rest.epochs, rest.stopped_early, again.stopped_epoch, adam.steps) == (0, True, 11, steps)
    assert np.array_equal(resumed.params, whole.params)
    assert np.array_equal(resumed.state, whole.state)
    afresh = resumed.fit(X[:40], y[:40], optimizer=adam, callbacks=[again], **kwargs)
    assert afresh.epochs > 0


class _Rates(dn.Callback):
    """The rate and momentum each epoch ended with."""

    def __init__(self, rates):
        self.rates = rates

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.params["optimizer"]
        self.rates.append((optimizer.lr, optimizer.betas))


def test_a_file_without_the_schedules_asked_for_is_refused(tmp_path):
    X, y = _data()
    model, adam = _model(), dn.Adam(0.01)
    step = dn.StepLR(adam, step_size=1)
    model.fit(X, y, optimizer=adam, epochs=2, batch_size=8)
    model.save(tmp_path / "plain.npz", optimizer=adam)
    model.save(tmp_path / "step.npz", optimizer=adam, schedules=[step])
    with pytest.raises(ValueError, match="holds no schedule state"):
        dn.load(tmp_path / "plain.npz", optimizer=dn.Adam(), schedules=[dn.StepLR(dn.Adam(), 1)])
    with pytest.raises(ValueError, match=r"holds the states of the schedules \['StepLR'\], not of \['Cosine"):
        dn.load(tmp_path / "step.npz", schedules=[dn.CosineLR(dn.Adam(), 3)])
    with pytest.raises(ValueError, match=r"not of \['StepLR', 'StepLR'\]"):
        dn.load(tmp_path / "step.npz", schedules=[dn.StepLR(dn.Adam(), 1), dn.StepLR(dn.Adam(), 1)])
    with pytest.raises(TypeError, match="schedules must be callbacks that keep a place"):
        model.save(tmp_path / "bad.npz", schedules=[adam])
    with pytest.raises(TypeError, match="schedules must be callbacks that keep a place"):
        dn.ModelCheckpoint(tmp_path / "bad.npz", schedules=[dn.Callback()])
    assert not (tmp_path / "bad.npz").exists()


def test_none_for_schedules_means_none(tmp_path):
    X, y = _data()
    model, adam = _model(), dn.Adam(0.01)
    model.fit(X, y, optimizer=adam, epochs=2, batch_size=8,
              callbacks=[dn.ModelCheckpoint(tmp_path / "run.npz", schedules=None)])
    model.save(tmp_path / "end.npz", optimizer=adam, schedules=None)
    saved = {"run.npz": r"holds the states of the schedules \['ModelCheckpoint'\], not of \['StepLR'\]",
             "end.npz": "holds no schedule state"}  # (a checkpoint keeps its own place)
    for name, held in saved.items():
        assert np.array_equal(dn.load(tmp_path / name, optimizer=dn.Adam(0.01), schedules=None).params,
                              model.params)
        with pytest.raises(ValueError, match=held):
            dn.load(tmp_path / name, optimizer=dn.Adam(0.01), schedules=[dn.StepLR(dn.Adam(), 1)])


def test_without_the_optimiser_state_a_resumed_adam_starts_afresh(tmp_path):
    X, y = _data()
    model = _model()
    model.fit(X, y, optimizer=dn.Adam(0.01), epochs=2, batch_size=8,
              callbacks=[dn.ModelCheckpoint(tmp_path / "run.npz", save_optimizer=False)])
    assert np.array_equal(dn.load(tmp_path / "run.npz").params, model.params)
    with pytest.raises(ValueError, match="optimi"):
        dn.load(tmp_path / "run.npz", optimizer=dn.Adam(0.01))


def test_save_best_only_keeps_the_lowest_validation_loss(tmp_path):
    X, y = _data(60)
    model, snapshots = _model(), _Snapshots()
    checkpoint = dn.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    # a rate high enough that the validation loss goes up and down
    history = model.fit(X[:40], y[:40], optimizer=dn.SGD(0.4, momentum=0.9), epochs=25, batch_size=4,
                        validation_data=(X[40:], y[40:]), callbacks=[checkpoint, snapshots])
    val = np.asarray(history.val_loss)
    assert (np.diff(val) > 0).any()  # (else nothing is being tested)
    best = int(np.argmin(val))
    assert checkpoint.best == val[best]
    assert checkpoint.best_epoch == best + 1
    loaded = dn.load(tmp_path / "best.npz")
    assert np.array_equal(loaded.params, snapshots.weights[best])
    assert np.array_equal(loaded.state, snapshots.state[best])
    assert loaded.evaluate(X[40:], y[40:]) == val[best]


@pytest.mark.parametrize("given", [True, False], ids=["checkpoint-loaded", "checkpoint-anew"])
def test_a_best_only_run_resumed_in_a_new_process_replaces_its_best_file_only_with_a_better_model(
        tmp_path, given):
    """A best-only checkpoint among the schedules of the one that writes each epoch: its place
    (its epoch count and the best it wrote) is in that file; given to ``load``'s schedules, a
    best-only checkpoint made anew goes on from it, and the best file ends as the whole
    run's. One not given it has seen nothing: its first epoch replaces the best file with a
    worse model (which is why the place is in the file)."""
    X, y = _data(60)
    kwargs = dict(batch_size=4, validation_data=(X[40:], y[40:]))
    whole, best = _model(), dn.ModelCheckpoint(tmp_path / "whole.npz", save_best_only=True)
    whole.fit(X[:40], y[:40], optimizer=dn.Adam(0.05), epochs=20, callbacks=[best], **kwargs)
    assert best.best_epoch == 9  # (better at epochs 1, 3, 4, 6 and 9, then worse to the 20th)
    stopped, adam = _model(), dn.Adam(0.05)
    checkpoint = dn.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    last = dn.ModelCheckpoint(tmp_path / "last.npz", schedules=[checkpoint])  # (after it: its epoch's place)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X[:40], y[:40], optimizer=adam, epochs=20, callbacks=[checkpoint, last, _Interrupt(12)],
                    **kwargs)
    adam, again = dn.Adam(0.05), dn.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    resumed = dn.load(tmp_path / "last.npz", optimizer=adam, schedules=[again] if given else [])
    place = (again.epoch, again.best, again.best_epoch)
    assert place == ((12, best.best, 9) if given else (0, math.inf, 0))
    resumed.fit(X[:40], y[:40], optimizer=adam, epochs=8, callbacks=[again], **kwargs)
    assert np.array_equal(resumed.params, whole.params)
    assert (again.epoch, again.best_epoch == 9) == ((20, True) if given else (8, False))
    kept = np.array_equal(dn.load(tmp_path / "best.npz").params, dn.load(tmp_path / "whole.npz").params)
    assert kept == given


def test_a_checkpoint_s_state_is_refused_by_another_monitor_and_when_it_is_not_one():
    checkpoint = dn.ModelCheckpoint("run.npz", monitor="loss", save_best_only=True)
    state = {"monitor": "loss", "epoch": 3, "best": 0.5, "best_epoch": 3}  # (the best the last written)
    checkpoint.load_state_dict(state)
    assert checkpoint.state_dict() == state
    for bad, error, match in [
            ({"monitor": "val_loss"}, ValueError, r"ModelCheckpoint: a state of monitor 'val_loss' given to "
                                                  r"one of 'loss'"),
            ({"monitor": np.array(["loss", "loss"])}, ValueError,  # (was NumPy's "truth value ... ambiguous")
             r"ModelCheckpoint: a state of monitor array\(\['loss', 'loss'\].* given to one of 'loss'"),
            ({"best_epoch": 4}, ValueError, r"best_epoch must be an epoch written \(of 3\)"),
            ({"epoch": -1}, ValueError, r"ModelCheckpoint epoch must be an integer >= 0"),
            ({"best": "0.1"}, TypeError, r"best must be a real number"),
            ({"best": 10**400}, ValueError, r"invalid best 1000"),  # (float() raised OverflowError)
            ({"extra": 1}, ValueError, r"a state must hold monitor, epoch, best, best_epoch")]:
        with pytest.raises(error, match=match):
            checkpoint.load_state_dict({**state, **bad})
        assert checkpoint.state_dict() == state


def test_save_best_only_writes_only_improvements_and_remembers_them_across_fits(tmp_path):
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    checkpoint = dn.ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="loss", save_best_only=True)
    assert (checkpoint.epoch, checkpoint.best, checkpoint.best_epoch) == (0, math.inf, 0)
    assert checkpoint.last_path is None
    checkpoint.set_model(model)
    checkpoint.set_params({"metrics": ("loss",), "optimizer": dn.SGD(0.1)})
    checkpoint.on_train_begin({})
    written = []
    for fill, loss in enumerate([3.0, 2.0, 2.5, 2.0, 1.0, math.nan, 0.5]):
        model.params[...] = fill
        checkpoint.on_epoch_end(fill, {"loss": loss})
        written.append(checkpoint.last_path)
    assert [None if p is None else Path(p).name for p in written] == [
        "best-1.npz", "best-2.npz", "best-2.npz", "best-2.npz", "best-5.npz", "best-5.npz", "best-7.npz"]
    assert sorted(os.listdir(tmp_path)) == ["best-1.npz", "best-2.npz", "best-5.npz", "best-7.npz"]
    assert [dn.load(tmp_path / f"best-{e}.npz").params[0] for e in (1, 2, 5, 7)] == [0.0, 1.0, 4.0, 6.0]
    assert (checkpoint.best, checkpoint.best_epoch) == (0.5, 7)
    checkpoint.on_train_begin({})  # a second fit: only a better model replaces the best
    assert checkpoint.runs_last
    checkpoint.on_epoch_end(0, {"loss": 0.7})
    assert checkpoint.last_path == str(tmp_path / "best-7.npz")
    assert checkpoint.epoch == 8


def test_every_and_the_epoch_count_go_on_across_fits(tmp_path):
    X, y = _data()
    model = _model()
    checkpoint = dn.ModelCheckpoint(os.fspath(tmp_path / "run-{epoch}.npz"), every=2)
    for _ in range(2):
        model.fit(X, y, optimizer=dn.SGD(0.05), epochs=3, batch_size=8, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["run-2.npz", "run-4.npz", "run-6.npz"]
    assert np.array_equal(dn.load(tmp_path / "run-6.npz").params, model.params)


def test_the_losses_in_the_name_are_the_epochs(tmp_path):
    X, y = _data(50)
    model = _model()
    history = model.fit(X[:40], y[:40], epochs=2, batch_size=8, validation_data=(X[40:], y[40:]),
                        callbacks=[dn.ModelCheckpoint(tmp_path / "{epoch}-{loss:.6f}-{val_loss:.6f}.npz")])
    assert sorted(os.listdir(tmp_path)) == [
        f"{e + 1}-{history.loss[e]:.6f}-{history.val_loss[e]:.6f}.npz" for e in range(2)]


def test_a_literal_brace_is_written_doubled(tmp_path):
    folder = tmp_path / "{x}"
    folder.mkdir()
    model = _model()
    checkpoint = dn.ModelCheckpoint(tmp_path / "{{x}}" / "m{{}}.npz")
    model.fit(*_data(), epochs=1, batch_size=8, callbacks=[checkpoint])
    assert os.listdir(folder) == ["m{}.npz"]


def test_the_full_batch_optimiser_writes_each_iteration(tmp_path):
    X, y = _data()
    model = dn.Sequential(dn.Dense(3, 4), dn.Tanh(), dn.Dense(4, 1), seed=0)
    snapshots = _Snapshots()
    history = model.fit(X, y, optimizer=dn.LBFGS(), epochs=4,
                        callbacks=[dn.ModelCheckpoint(tmp_path / "it-{epoch}.npz"), snapshots])
    assert len(os.listdir(tmp_path)) == history.epochs == 4
    assert np.array_equal(dn.load(tmp_path / "it-4.npz").params, snapshots.weights[-1])


@pytest.mark.parametrize("path, error, match", [
    (io.BytesIO(), TypeError, "file name"),
    (b"run.npz", TypeError, "file name"),
    (3, TypeError, "file name"),
    ("run-{}.npz", ValueError, r"\{\}"),
    ("run-{epoch.real}.npz", ValueError, r"\{epoch.real\}"),
    ("run-{epoch:q}.npz", ValueError, "valid name pattern"),
    ("run-{epoch.npz", ValueError, "valid name pattern"),
])
def test_a_bad_path_is_refused_by_name(path, error, match):
    with pytest.raises(error, match=match):
        dn.ModelCheckpoint(path)


@pytest.mark.parametrize("arguments, error, match", [
    ({"monitor": 1}, TypeError, "monitor"),
    ({"mode": "lowest"}, ValueError, "mode"),
    ({"every": 0}, ValueError, "every"),
    ({"every": 1.5}, TypeError, "every"),
    ({"save_best_only": "yes"}, TypeError, "save_best_only"),
    ({"save_optimizer": None}, TypeError, "save_optimizer"),
])
def test_bad_arguments_are_refused_by_name(arguments, error, match):
    with pytest.raises(error, match=match):
        dn.ModelCheckpoint("run.npz", **arguments)


@pytest.mark.parametrize("path, arguments, error, match", [
    ("best.npz", {"save_best_only": True}, ValueError, "val_loss"),
    ("run-{val_loss:.3f}.npz", {}, ValueError, "val_loss"),
    ("run-{step}.npz", {}, ValueError, r"monitors 'step', but fit records only \['loss'\]"),
    ("best.npz", {"save_best_only": True, "monitor": "accuracy"}, ValueError,
     r"pass the metric to fit\(metrics=\[\.\.\.\]\)"),
    ("missing/run.npz", {}, FileNotFoundError, "missing"),
])
def test_a_fit_it_could_not_write_is_refused_before_any_step(tmp_path, path, arguments, error, match):
    X, y = _data()
    model = _model()
    before = model.params.copy(), model.state.copy(), model.rng.bit_generator.state
    with pytest.raises(error, match=match):
        model.fit(X, y, epochs=2, batch_size=8, callbacks=[dn.ModelCheckpoint(tmp_path / path, **arguments)])
    assert np.array_equal(model.params, before[0])
    assert np.array_equal(model.state, before[1])
    assert model.rng.bit_generator.state == before[2]
    assert not os.listdir(tmp_path)


def _refused_before_any_step(path, error, match):
    """``fit`` with a checkpoint writing to ``path`` raises ``error`` before its first step."""
    X, y = _data()
    model = _model()
    before = model.params.copy(), model.state.copy(), model.rng.bit_generator.state
    with pytest.raises(error, match=match):
        model.fit(X, y, epochs=2, batch_size=8, callbacks=[dn.ModelCheckpoint(path)])
    assert np.array_equal(model.params, before[0])
    assert np.array_equal(model.state, before[1])
    assert model.rng.bit_generator.state == before[2]


def test_a_path_that_is_a_folder_is_refused_before_any_step(tmp_path):
    """(it was refused by the first write, after an epoch had trained)"""
    folder = tmp_path / "runs"
    folder.mkdir()
    name, example = (re.escape(repr(str(path))) for path in (folder, folder / "model.npz"))
    _refused_before_any_step(folder, IsADirectoryError,
                             rf"^ModelCheckpoint: {name} is a folder; give a file name in it "
                             rf"\(such as {example}\)")
    assert not os.listdir(folder)


@pytest.mark.parametrize("name", ["run.npz", "run-{epoch}-{loss:.3f}.npz"])
def test_a_folder_it_cannot_write_in_is_refused_before_any_step(tmp_path, monkeypatch, name):
    """A read-only or special file system, no permission: tried with a temporary file,
    as each write makes one, before the first step."""
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    folder = re.escape(repr(str(tmp_path)))
    _refused_before_any_step(tmp_path / name, PermissionError,
                             rf"^ModelCheckpoint: cannot write files in the folder {folder} "
                             r"\(Permission denied\)")
    assert not os.listdir(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no file can be made")
def test_a_folder_where_no_file_can_be_made_is_refused_before_any_step():
    _refused_before_any_step("/proc/run.npz", OSError,
                             r"^ModelCheckpoint: cannot write files in the folder '/proc'")


def test_without_a_folder_the_current_one_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _model().fit(*_data(), epochs=1, batch_size=8, callbacks=[dn.ModelCheckpoint("run.npz")])
    assert os.listdir(tmp_path) == ["run.npz"]


def test_repr_names_the_settings():
    checkpoint = dn.ModelCheckpoint("r-{epoch}.npz", monitor="loss", save_best_only=True, every=3,
                                    save_optimizer=False)
    assert repr(checkpoint) == ("ModelCheckpoint('r-{epoch}.npz', monitor='loss', save_best_only=True, "
                                "every=3, save_optimizer=False)")
    adam = dn.Adam(0.01)
    scheduled = dn.ModelCheckpoint("r.npz", schedules=[dn.StepLR(adam, 2)])
    assert repr(scheduled).endswith("save_optimizer=True, schedules=[" + repr(scheduled.schedules[0]) + "])")
    stopping = dn.ModelCheckpoint("r.npz", schedules=[dn.StepLR(adam, 2), dn.EarlyStopping(patience=2)])
    assert repr(stopping).endswith("schedules=[StepLR(step_size=2), EarlyStopping(patience=2)])")


class _Kept(dn.Callback):
    """A callback of one's own that keeps a place: ``state_dict`` gives ``state``."""

    def __init__(self, state):
        self.state, self.loaded = state, None

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.loaded = state


def test_a_callback_of_one_s_own_gets_its_state_back_from_a_file(tmp_path):
    """What a state may hold comes back equal: NumPy's numbers as Python's (a float32 the
    same value), tuples as lists, arrays as arrays of their dtype and shape."""
    state = {"epochs": 3, "best": np.float32(0.1), "count": np.int64(7), "flag": np.bool_(True),
             "history": (1.0, 2.5), "nested": {"name": "run", "none": None, "values": [np.float64(2.0)]},
             "weights": np.arange(6.0).reshape(2, 3), "counts": np.arange(3, dtype=np.int32)}
    X, y = _data()
    mine = _Kept(state)
    _model().fit(X, y, optimizer=dn.SGD(0.01), epochs=1, batch_size=8,
                 callbacks=[dn.ModelCheckpoint(tmp_path / "run.npz", schedules=[mine])])
    again = _Kept(None)
    dn.load(tmp_path / "run.npz", optimizer=dn.SGD(0.01), schedules=[again])
    loaded = again.loaded
    assert set(loaded) == set(state)
    numbers = loaded["epochs"], loaded["best"], loaded["count"], loaded["flag"]
    assert numbers == (3, float(np.float32(0.1)), 7, True)
    assert [type(number) for number in numbers] == [int, float, int, bool]
    assert loaded["history"] == [1.0, 2.5]
    assert loaded["nested"] == {"name": "run", "none": None, "values": [2.0]}
    for name in ("weights", "counts"):
        assert loaded[name].dtype == state[name].dtype
        assert np.array_equal(loaded[name], state[name])


@pytest.mark.parametrize("state, match", [
    ("run", r"is a str, not a dict"),
    ({"seen": {1, 2}}, r"holds a value of type set at \['seen'\]; a file holds numbers, "),
    ({"per_class": {1: 0.5}}, r"holds the key 1 \(int\) at \['per_class'\]; a file's keys are strings"),
    ({0: "first"}, r"holds the key 0 \(int\) at the top level; a file's keys are strings"),
    ({"history": [np.arange(2.0)]}, r"holds a value of type ndarray at \['history'\]\[0\]; a file holds "),
    ({"z": np.complex128(1j)}, r"holds a value of type complex128 at \['z'\]; a file holds "),
    ({"objects": np.array([None, 1], dtype=object)}, r"holds an array of Python objects at \['objects'\]; "),
], ids=["str", "set", "int-key", "int-key-at-the-top", "nested-array", "complex", "object-array"])
def test_a_state_a_file_cannot_hold_is_refused_by_name_and_the_file_is_kept(tmp_path, state, match):
    """``save`` refuses a callback's state it could not give back equal, naming the callback
    and the place, and leaves the file there; a checkpoint refuses it before the first step."""
    model, path = _model(), tmp_path / "run.npz"
    model.save(path)
    kept = path.read_bytes()
    match = r"the state of schedules\[0\], _Kept, " + match
    with pytest.raises(TypeError, match="^save: " + match):
        model.save(path, schedules=[_Kept(state)])
    assert path.read_bytes() == kept
    X, y = _data()
    before = model.params.copy()
    with pytest.raises(TypeError, match="^ModelCheckpoint: " + match):
        model.fit(X, y, optimizer=dn.SGD(0.01), epochs=1, batch_size=8,
                  callbacks=[dn.ModelCheckpoint(path, schedules=[_Kept(state)])])
    assert np.array_equal(model.params, before)
    assert path.read_bytes() == kept


class _Counting(dn.Callback):
    """A later version of ``_Kept`` whose state is named otherwise: it looks for ``count``."""

    def state_dict(self):
        return {"count": 1}

    def load_state_dict(self, state):
        self.count = state["count"]


def test_a_state_without_what_a_callback_looks_for_is_named(tmp_path):
    """A callback of one's own whose ``load_state_dict`` reads a key the file's state lacks
    (a file of an earlier version of it) raised a bare ``KeyError: 'count'``."""
    path = tmp_path / "run.npz"
    _model().save(path, schedules=[_Kept({"n": 1})])
    _Counting.__name__ = "_Kept"  # (the same class, a version later)
    told = (r"^load: .*run\.npz' holds an invalid schedule state: _Kept\.load_state_dict looked for 'count', "
            r"which the state does not hold \(it holds \['n'\]\)$")
    try:
        with pytest.raises(ValueError, match=told):
            dn.load(path, schedules=[_Counting()])
    finally:
        _Counting.__name__ = "_Counting"
