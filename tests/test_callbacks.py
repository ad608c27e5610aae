"""EarlyStopping and progress reporting."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

import densenet as dn
from densenet.callbacks import Progress

from .conftest import mlp, snapshot


def noisy_regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (40, 1))
    y = 1 / (1 + np.exp(-3 * X)) + rng.normal(0, 0.2, X.shape)
    return X[:20], y[:20], X[20:], y[20:]


class Snapshots(dn.Callback):
    """Keeps the parameters and logs after every epoch."""

    def __init__(self):
        self.snapshots, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self.model.params.copy())
        self.logs.append(dict(logs))


def test_validation_loss_is_recorded_each_epoch():
    X, y, Xv, yv = noisy_regression()
    model, spy = mlp((1, 8, 1), seed=0), Snapshots()
    history = model.fit(X, y, epochs=5, batch_size=4, validation_data=(Xv, yv), callbacks=[spy])
    assert history.val_loss.shape == history.loss.shape == (5,)
    for epoch, params in enumerate(spy.snapshots):
        twin = mlp((1, 8, 1))
        twin.params[...] = params
        assert_allclose(history.val_loss[epoch], twin.evaluate(Xv, yv), rtol=1e-14)
        assert spy.logs[epoch] == {"loss": history.loss[epoch], "val_loss": history.val_loss[epoch]}


@pytest.mark.parametrize("validation_data, error, message", [
    ((np.ones((3, 2)), np.ones((3, 1))), ValueError, r"X_val has 2 features"),
    ((np.ones((3, 1)), np.ones((4, 1))), ValueError, "different numbers of samples: X_val"),
    ((np.ones((3, 1)),), TypeError, "pair"),
    ("data", TypeError, "pair"),
])
def test_bad_validation_data_is_rejected_before_training(validation_data, error, message):
    X, y, _, _ = noisy_regression()
    model = mlp((1, 4, 1))
    before = snapshot(model)
    with pytest.raises(error, match=message):
        model.fit(X, y, validation_data=validation_data)
    assert_array_equal(model.params, before[0])


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y, Xv, yv = noisy_regression()
    model, spy = mlp((1, 32, 1), seed=0), Snapshots()
    stop = dn.EarlyStopping(monitor="val_loss", patience=3)
    history = model.fit(X, y, optimizer=dn.SGD(5.0), epochs=2000, batch_size=2,
                        validation_data=(Xv, yv), callbacks=[spy, stop])
    assert history.stopped_early
    assert history.epochs < 2000
    assert stop.stopped_epoch == history.epochs - 1
    best = int(np.argmin(history.val_loss))
    assert stop.best_epoch == best
    assert stop.best == history.val_loss[best]
    assert stop.stopped_epoch - best == 3
    assert_array_equal(model.params, spy.snapshots[best])
    assert model.evaluate(Xv, yv) == history.val_loss[best]


def stopped(restore=True, epochs=6):
    """An early stopping that watched ``epochs`` epochs of a 1-8-1 network, and that network."""
    X, y, Xv, yv = noisy_regression()
    model, stop = mlp((1, 8, 1), seed=0), dn.EarlyStopping(patience=100, restore_best_weights=restore)
    model.fit(X, y, optimizer=dn.SGD(0.5), epochs=epochs, batch_size=4, validation_data=(Xv, yv),
              callbacks=[stop])
    return stop, model


def test_early_stopping_s_state_is_where_it_is_and_its_own():
    stop, model = stopped()
    state = stop.state_dict()
    assert sorted(state) == ["best", "best_epoch", "best_params", "best_state", "epochs", "wait"]
    assert (state["best"], state["best_epoch"], state["epochs"]) == (stop.best, stop.best_epoch, 6)
    assert state["wait"] == 5 - stop.best_epoch
    assert_array_equal(state["best_params"], model.params)  # (restored at the end)
    state["best_params"][0] += 1.0
    assert stop.state_dict()["best_params"][0] == model.params[0]
    plain, _ = stopped(restore=False)
    assert sorted(plain.state_dict()) == ["best", "best_epoch", "epochs", "wait"]
    assert dn.EarlyStopping().state_dict() == {"best": np.inf, "best_epoch": -1, "wait": 0, "epochs": 0}


class StopAtOnce(dn.Callback):
    """Stops the fit when it begins; counts the ends it is told of."""

    def __init__(self):
        self.ends = 0

    def on_train_begin(self, logs=None):
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.ends += 1


@pytest.mark.parametrize("optimizer", [dn.SGD(0.5), dn.LBFGS()], ids=["steps", "full-batch"])
def test_a_fit_stopped_as_it_begins_trains_no_epoch_and_ends(optimizer):
    X, y, _, _ = noisy_regression()
    model, stop, spy = mlp((1, 4, 1), seed=0), StopAtOnce(), Snapshots()
    before = model.params.copy()
    history = model.fit(X, y, optimizer=optimizer, epochs=3, callbacks=[stop, spy])
    assert (history.epochs, history.stopped_early, stop.ends, spy.logs) == (0, True, 1, [])
    assert_array_equal(model.params, before)
    assert model.fit(X, y, optimizer=optimizer, epochs=3, callbacks=[spy]).epochs > 0  # (the next one trains)


def test_a_fit_stopped_as_it_begins_records_every_name_with_no_epoch():
    X, y, Xv, yv = noisy_regression()
    model = mlp((1, 4, 1), seed=0)
    history = model.fit(X, y, epochs=3, validation_data=(Xv, yv), metrics=["mae"], callbacks=[StopAtOnce()])
    assert {name: values.size for name, values in history.logs().items()} == dict.fromkeys(
        ["loss", "mae", "val_loss", "val_mae"], 0)


def test_a_loaded_early_stopping_serves_one_fit_and_the_next_starts_afresh():
    stop, model = stopped()
    again = dn.EarlyStopping(patience=100)
    again.load_state_dict(stop.state_dict())
    X, y, Xv, yv = noisy_regression()
    kwargs = dict(optimizer=dn.SGD(0.5), epochs=2, batch_size=4, validation_data=(Xv, yv), callbacks=[again])
    model.fit(X, y, **kwargs)
    assert again.state_dict()["epochs"] == 8
    assert again.best <= stop.best
    model.fit(X, y, **kwargs)
    assert again.state_dict()["epochs"] == 2
    assert again.best_epoch in (0, 1)


def test_a_loaded_early_stopping_keeps_its_own_weights_and_one_that_saw_nothing_yet_still_restores():
    stop, _ = stopped()
    state = stop.state_dict()
    again = dn.EarlyStopping(patience=100)
    again.load_state_dict(state)
    state["best_params"][0] += 1.0
    assert again.state_dict()["best_params"][0] == stop.state_dict()["best_params"][0]
    X, y, Xv, yv = noisy_regression()
    ends = []
    for fresh in (True, False):  # (the rate makes the validation loss go up and down)
        model, stop = mlp((1, 32, 1), seed=0), dn.EarlyStopping(patience=100)
        if not fresh:
            stop.load_state_dict(dn.EarlyStopping().state_dict())
        history = model.fit(X, y, optimizer=dn.SGD(5.0), epochs=12, batch_size=2, validation_data=(Xv, yv),
                            callbacks=[stop])
        ends.append(model.params.copy())
    assert stop.best_epoch < 11
    assert history.val_loss[-1] > stop.best  # (a best to restore, not the last)
    assert_array_equal(ends[1], ends[0])


def test_a_loaded_early_stopping_waits_for_a_fit_that_trains(tmp_path):
    stop, model = stopped()
    again = dn.EarlyStopping(patience=100)
    again.load_state_dict(stop.state_dict())
    X, y, Xv, yv = noisy_regression()
    kwargs = dict(optimizer=dn.SGD(0.5), epochs=1, batch_size=4, validation_data=(Xv, yv))
    with pytest.raises(FileNotFoundError):
        model.fit(X, y, callbacks=[again, dn.ModelCheckpoint(tmp_path / "missing" / "run.npz")], **kwargs)
    model.fit(X, y, callbacks=[again], **kwargs)
    assert again.state_dict()["epochs"] == 7


def test_a_loaded_early_stopping_of_another_model_is_refused_before_any_step():
    stop, _ = stopped()
    again = dn.EarlyStopping(patience=100)
    again.load_state_dict(stop.state_dict())
    X, y, Xv, yv = noisy_regression()
    other = mlp((1, 4, 1), seed=0)
    before = other.params.copy()
    with pytest.raises(ValueError, match=r"EarlyStopping: the best weights given by load_state_dict hold 25 "
                                         r"float64 parameters and 0 state values, not this model's 13 and 0"):
        other.fit(X, y, epochs=1, validation_data=(Xv, yv), callbacks=[again])
    assert_array_equal(other.params, before)


def test_an_early_stopping_pickled_before_it_could_be_resumed_starts_each_fit_afresh():
    stop, model = stopped()
    old = stop.__dict__.copy()
    del old["_epochs"]
    old.pop("_resumed", None)
    unpickled = dn.EarlyStopping.__new__(dn.EarlyStopping)
    unpickled.__dict__.update(old)
    assert unpickled.state_dict()["epochs"] == 0
    X, y, Xv, yv = noisy_regression()
    other = mlp((1, 4, 1), seed=0)  # (not the weights it kept: nothing of them is read)
    other.fit(X, y, epochs=2, validation_data=(Xv, yv), callbacks=[unpickled])
    assert unpickled.state_dict()["epochs"] == 2
    assert unpickled.state_dict()["best_params"].size == 13


GOOD = {"best": 0.5, "best_epoch": 1, "wait": 0, "epochs": 2, "best_params": np.zeros(3),
        "best_state": np.zeros(0)}


@pytest.mark.parametrize("change, error, match", [
    ({"best": "0.5"}, ValueError, r"best must be a finite number once an epoch was best"),
    ({"best": np.inf}, ValueError, r"best must be a finite number .* got inf with best_epoch 1"),
    ({"best_epoch": 2}, ValueError, r"best_epoch must be an epoch seen \(of 2\), or -1, got 2"),
    ({"best_epoch": -2}, ValueError, r"got -2"),
    ({"best_epoch": np.int64(2)}, ValueError, r"or -1, got 2$"),  # (NumPy 2's repr: np.int64(2))
    ({"best": np.float64(np.inf)}, ValueError, r"best must be a finite number .* got inf with best_epoch 1$"),
    ({"wait": -1}, ValueError, r"EarlyStopping wait must be an integer >= 0, got -1"),
    ({"epochs": 1.5}, TypeError, r"EarlyStopping epochs must be an integer >= 0, got 1.5"),
    ({"best_state": None}, ValueError, r"a state with best weights to restore .* holds both"),
    ({"best_params": np.zeros((3, 1))}, ValueError, r"best_params must be a 1-D vector of floats"),
    ({"best_state": np.zeros(2, np.float32)}, ValueError, r"best_state must be a 1-D float64 vector, got "
                                                          r"float32"),
    ({"best_epoch": -1, "best": np.inf}, ValueError, r"a state without best weights .* holds neither"),
    # an int beyond float's range is no inf (float() raised OverflowError)
    ({"best_epoch": -1, "best": 10**400}, ValueError,
     r"infinite before, got 1000.*\.\.\. with best_epoch -1$"),
    ({"best": -10**400}, ValueError, r"finite number once an epoch was best, .* got -1000"),
    ({"extra": 1}, ValueError, r"EarlyStopping: a state must hold best, best_epoch, wait, epochs"),
])
def test_a_bad_early_stopping_state_is_refused_and_changes_nothing(change, error, match):
    state = {name: value for name, value in {**GOOD, **change}.items() if value is not None}
    stop = dn.EarlyStopping()
    stop.load_state_dict(GOOD)
    with pytest.raises(error, match=match):
        stop.load_state_dict(state)
    assert stop.best == 0.5
    assert stop.state_dict()["epochs"] == 2


@pytest.mark.parametrize("best_epoch", [0, 1])
def test_an_early_stopping_state_s_best_may_be_a_whole_number(best_epoch):
    """JSON, or a hand, may write the best as an integer (2 for 2.0): a finite best, taken
    at every epoch seen; only inf and -inf, floats, mean none was seen yet."""
    stop = dn.EarlyStopping()
    stop.load_state_dict({**GOOD, "best": 2, "best_epoch": best_epoch})
    assert stop.best == 2.0
    assert isinstance(stop.best, float)
    assert stop.best_epoch == best_epoch


def test_a_fit_of_countless_epochs_that_stops_early_takes_the_memory_of_the_epochs_it_ran():
    """``epochs=10**7`` (or 10**9) with ``EarlyStopping``, "until it stops": the records grow
    as epochs run. Made for every epoch first, they took 80 MB a name (8 GB at 10**9)."""
    import tracemalloc

    X, y, Xv, yv = noisy_regression()
    model = mlp((1, 4, 1), seed=0)
    stop = dn.EarlyStopping(patience=5, min_delta=1e-4)  # (1,130 epochs)
    tracemalloc.start()
    try:
        history = model.fit(X, y, epochs=10**7, validation_data=(Xv, yv), metrics=["mae"], callbacks=[stop])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert history.stopped_early
    assert 100 < history.epochs < 10**4  # (past the first room made, 64 epochs: it grew)
    assert peak < 2**20
    twin = mlp((1, 4, 1), seed=0)  # the same run, with fit's epochs its own
    same = twin.fit(X, y, epochs=history.epochs, validation_data=(Xv, yv), metrics=["mae"])
    for name, values in history.logs().items():
        assert_array_equal(values, same[name])


def test_early_stopping_can_keep_the_last_weights_and_watch_the_training_loss():
    X, y, _, _ = noisy_regression()
    model, spy = mlp((1, 4, 1), seed=0), Snapshots()
    stop = dn.EarlyStopping(monitor="loss", patience=1, min_delta=10.0, restore_best_weights=False)
    history = model.fit(X, y, epochs=50, callbacks=[spy, stop])
    assert history.epochs == 2
    assert stop.best_epoch == 0
    assert_array_equal(model.params, spy.snapshots[-1])


def test_early_stopping_needs_validation_data_to_monitor_val_loss():
    X, y, _, _ = noisy_regression()
    model = mlp((1, 4, 1))
    before = snapshot(model)
    with pytest.raises(ValueError, match="pass validation_data"):
        model.fit(X, y, callbacks=[dn.EarlyStopping()])
    assert_array_equal(model.params, before[0])


def test_early_stopping_called_without_logs_watches_nothing():
    stop = dn.EarlyStopping(monitor="loss", patience=1)  # (as Keras's: no logs, no monitored value)
    assert stop.on_epoch_end(0) is False
    assert stop.best == float("inf")
    assert stop.on_epoch_end(1, {"loss": 0.5}) is False
    assert stop.best == 0.5


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(mode="best"), ValueError, "mode must be 'auto', 'min' or 'max', got 'best'"),
    (dict(patience=0), ValueError, "patience must be an integer >= 1, got 0"),
    (dict(patience=1.5), TypeError, "patience must be an integer >= 1, got 1.5"),
    (dict(patience=True), TypeError, "patience must be an integer >= 1, got True"),
    (dict(min_delta=-1.0), ValueError, re.escape("invalid min_delta -1.0; it must lie in [0, inf)")),
    (dict(min_delta=float("nan")), ValueError, re.escape("invalid min_delta nan; it must lie in [0, inf)")),
    (dict(min_delta=np.float32(-1)), ValueError,
     re.escape("invalid min_delta -1.0; it must lie in [0, inf)")),
    (dict(min_delta=True), TypeError, "min_delta must be a real number, got bool True"),
    (dict(min_delta="0.1"), TypeError, "min_delta must be a real number, got str '0.1'"),
])
def test_early_stopping_checks_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=f"EarlyStopping: {message}"):
        dn.EarlyStopping(**kwargs)


@pytest.mark.parametrize("min_delta", [np.float32(0.25), np.float64(0.25), np.int64(1), 1])
def test_early_stopping_takes_numpy_numbers(min_delta):
    # (a NumPy float32 is no Python float: it was refused as "not a finite number >= 0")
    stop = dn.EarlyStopping(monitor="loss", min_delta=min_delta)
    assert stop.min_delta == float(min_delta)
    assert type(stop.min_delta) is float


def test_non_callbacks_are_rejected():
    with pytest.raises(TypeError, match="callbacks must be densenet Callback objects, got builtin_function"):
        mlp((1, 2, 1)).fit(np.ones((2, 1)), np.ones((2, 1)), callbacks=[print])
    with pytest.raises(TypeError, match=r"^fit: callbacks must be densenet Callback objects, got the class "
                                        r"EarlyStopping: pass an instance, EarlyStopping\(\.\.\.\)$"):
        mlp((1, 2, 1)).fit(np.ones((2, 1)), np.ones((2, 1)), callbacks=[dn.EarlyStopping])  # (was "got type")


@pytest.fixture
def known_processor(monkeypatch):
    """BLAS on kernels made for the processor, whatever runs the test (NumPy 1's OpenBLAS
    does not know some: then the first line says so, as tested below)."""
    monkeypatch.setattr(dn.callbacks, "generic_kernels", lambda: [])
    monkeypatch.setattr(dn.callbacks, "held_back_kernels", lambda: [])


def test_verbose_names_the_blas_libraries_on_openblas_s_generic_kernels(capsys, monkeypatch):
    monkeypatch.setattr(dn.callbacks, "held_back_kernels", lambda: [])
    X, y = np.zeros((8, 1)), np.zeros((8, 1))
    hint = ("; OpenBLAS 0.3.21 (numpy.libs) and OpenBLAS 0.3.21.dev (scipy.libs): OpenBLAS's generic "
            "kernels, several times slower (it does not know this processor: set OPENBLAS_CORETYPE "
            "before Python starts, or install NumPy >= 2 and SciPy >= 1.13)")
    for generic in ([], ["OpenBLAS 0.3.21 (numpy.libs)", "OpenBLAS 0.3.21.dev (scipy.libs)"]):
        monkeypatch.setattr(dn.callbacks, "generic_kernels", lambda generic=generic: generic)
        mlp((1, 4, 1)).fit(X, y, verbose=True)
        first = capsys.readouterr().err.splitlines()[0]
        assert first.startswith("fit: 1 epochs of 1 steps, BLAS threads")
        assert first.endswith(hint) == bool(generic)


@pytest.mark.parametrize("coretype", ["Haswell", None])
def test_verbose_names_the_blas_libraries_on_avx2_kernels_on_avx512(capsys, monkeypatch, coretype):
    """``OPENBLAS_CORETYPE=Haswell`` set on a processor with AVX-512 held the 784-512-512-10
    step to 1.4-1.6x its time on OpenBLAS's own kernels (an AMD EPYC, Zen 5): the first line
    names the libraries, and what chose their kernels."""
    monkeypatch.setattr(dn.callbacks, "generic_kernels", lambda: [])
    monkeypatch.setattr(dn.callbacks, "held_back_kernels", lambda: ["OpenBLAS 0.3.30 (scipy.libs)"])
    if coretype is None:
        monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_CORETYPE", coretype)
    mlp((1, 4, 1)).fit(np.zeros((8, 1)), np.zeros((8, 1)), verbose=True)
    first = capsys.readouterr().err.splitlines()[0]
    chosen = ("OPENBLAS_CORETYPE=Haswell chose them: unset it before Python starts" if coretype else
              "this OpenBLAS does not know the processor: set OPENBLAS_CORETYPE=SkylakeX before Python "
              "starts, or install a newer NumPy and SciPy")
    assert first.endswith(f"; OpenBLAS 0.3.30 (scipy.libs): OpenBLAS's AVX2 kernels on a processor with "
                          f"AVX-512, slower than its own choice ({chosen})")


def test_verbose_prints_plain_lines_when_not_a_terminal(capsys, through, known_processor):
    through(None)  # (the lines of SciPy's BLAS: another library's is named in them)
    X, y, Xv, yv = noisy_regression()
    mlp((1, 4, 1)).fit(X, y, epochs=40, validation_data=(Xv, yv), verbose=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 22
    assert lines[0] == "fit: 40 epochs of 1 steps, BLAS threads: BLAS's own choice"  # too small to limit
    assert lines[1].startswith("epoch  1/40  loss ")
    assert "val_loss" in lines[1]
    assert lines[2].startswith("epoch  2/40")
    assert lines[3].startswith("epoch  4/40")
    assert lines[-1].startswith("epoch 40/40")


def test_verbose_states_the_threads_the_policy_chose(capsys, through, known_processor):
    through(None)  # (the lines of SciPy's BLAS: another library's is named in them)
    X, y = np.zeros((64, 64)), np.zeros((64, 10))
    mlp((64, 256, 10)).fit(X, y, epochs=1, batch_size=32, verbose=True)
    assert capsys.readouterr().err.splitlines()[0] == \
        "fit: 1 epochs of 2 steps, BLAS threads: 1 (densenet's thread policy)"


def test_verbose_says_when_a_large_plan_times_its_steps_on_one_thread_too(capsys, monkeypatch, through,
                                                                          known_processor, idle_two_cpus):
    through(None)  # (the lines of SciPy's BLAS: another library's is named in them)
    from densenet import thread_policy

    monkeypatch.setattr(thread_policy, "SENSE_EVERY", 0.0)  # (an idle machine of two CPUs) looked at afresh
    X, y = np.zeros((256, 512)), np.zeros((256, 10))
    with threadpool_limits(limits=2, user_api="blas"):  # BLAS's own count: densenet's policy adapts
        mlp((512, 512, 10)).fit(X, y, epochs=1, batch_size=256, verbose=True)
        mlp((512, 512, 10)).fit(X, y, epochs=1, optimizer=dn.LBFGS(), batch_size=256, verbose=True)
        with dn.threads(2):  # a count set: used as set, untimed
            mlp((512, 512, 10)).fit(X, y, epochs=1, batch_size=256, verbose=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fit: ")]
    assert lines == ["fit: 1 epochs of 1 steps, BLAS threads: BLAS's own choice, "
                     "or 1 while its steps time faster",
                     "fit: 1 epochs of 1 steps, BLAS threads: BLAS's own choice",  # L-BFGS
                     "fit: 1 epochs of 1 steps, BLAS threads: 2 (set: dn.set_num_threads)"]


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_shows_the_running_loss():
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(stream=stream)
    X, y, _, _ = noisy_regression()
    mlp((1, 4, 1)).fit(X, y, epochs=5, batch_size=2, callbacks=[progress])
    text = stream.getvalue()
    assert "5/5" in text
    assert "epoch 5 running loss" in text
    assert "loss" in text
    assert progress._bar is None


def test_progress_bar_refreshes_the_running_loss_20_times_an_epoch():
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    X, y = np.zeros((200, 1)), np.zeros((200, 1))
    mlp((1, 4, 1)).fit(X, y, epochs=1, batch_size=2, callbacks=[Progress(stream=stream)])  # 100 steps
    assert stream.getvalue().count("epoch 1 running loss") == 20  # after batches 5, 10, ..., 100


def test_progress_bar_refreshes_after_every_twentieth_of_the_steps_the_last_included():
    """Over 100 steps the bar shows the running loss after batches 5, 10, ..., 100 (1-based):
    batch b's loss b makes each shown mean name the batch it was shown after."""
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(stream=stream)
    progress.set_params({"epochs": 1, "steps": 100, "metrics": ("loss",), "blas_threads": None})
    progress.on_train_begin({})
    for batch in range(100):
        progress.on_batch_end(batch, {"loss": float(batch + 1)})
    progress.on_epoch_end(0, {"loss": 50.5})
    progress.on_train_end({})
    shown = [float(value) for value in re.findall(r"epoch 1 running loss ([0-9.]+)\]", stream.getvalue())]
    assert shown == [(b + 1) / 2 for b in range(5, 101, 5)]  # the mean of 1, ..., b


def test_silent_by_default(capsys):
    X, y, _, _ = noisy_regression()
    mlp((1, 4, 1)).fit(X, y, epochs=3)
    assert capsys.readouterr() == ("", "")


def test_progress_bar_is_closed_when_training_diverges():
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(stream=stream)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    X, y = np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])
    with pytest.raises(dn.DivergenceError):
        model.fit(X, y, optimizer=dn.SGD(lr=50.0), epochs=1000, batch_size=1, shuffle=False,
                  callbacks=[progress])
    assert progress._bar is None


def test_progress_bar_is_closed_on_ctrl_c():
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(stream=stream)

    class CtrlC(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    X, y, _, _ = noisy_regression()
    with pytest.raises(KeyboardInterrupt):
        mlp((1, 4, 1)).fit(X, y, epochs=50, callbacks=[progress, CtrlC()])
    assert progress._bar is None


def test_callbacks_that_began_are_told_when_a_later_one_fails_to_begin():
    """A callback's ``on_train_begin`` that raises stops the fit before its first step: the
    callbacks before it (a progress bar opened on the terminal) get ``on_train_error``, so
    they release what they hold, and the model is untouched."""
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(stream=stream)
    told = []

    class Spy(dn.Callback):
        def on_train_error(self, error):
            told.append(error)

    class Refuses(dn.Callback):
        def on_train_begin(self, logs=None):
            raise RuntimeError("not today")

    X, y, _, _ = noisy_regression()
    model = mlp((1, 4, 1))
    before = model.params.copy()
    with pytest.raises(RuntimeError, match="not today"):
        model.fit(X, y, epochs=3, callbacks=[Spy(), progress, Refuses()])
    assert progress._bar is None
    assert [str(e) for e in told] == ["not today"]
    np.testing.assert_array_equal(model.params, before)


def test_a_progress_bar_reused_across_fits_starts_afresh():
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(stream=stream)
    X, y, _, _ = noisy_regression()
    model = mlp((1, 4, 1))
    model.fit(X, y, epochs=3, batch_size=2, callbacks=[progress])
    model.params[...] += 3.0  # a much higher loss: a running mean carried over would hide it
    stream.truncate(0)
    model.fit(X, y, epochs=1, batch_size=2, callbacks=[progress])
    running = [float(part.split("running loss ")[1].split("]")[0]) for part in
               stream.getvalue().split("\r") if "epoch 1 running loss" in part]
    assert running
    assert running[-1] > 0.5 * model.evaluate(X, y)


def test_every_plain_progress_line_is_flushed_when_written():
    """To a file or a pipe (buffered, no terminal), each line is out as soon as it is
    written: the header before the first epoch starts, each epoch's line after it."""

    class Buffered(io.StringIO):
        def __init__(self):
            super().__init__()
            self.flushed = ""

        def flush(self):
            self.flushed = self.getvalue()

    stream = Buffered()
    progress = Progress(stream=stream)
    seen = []

    class Watch(dn.Callback):  # after Progress: what is out when a step or an epoch ends
        def on_batch_end(self, batch, logs=None):
            seen.append(stream.flushed)

        def on_epoch_end(self, epoch, logs=None):
            seen.append(stream.flushed)

    X, y = np.zeros((8, 1)), np.zeros((8, 1))
    mlp((1, 2, 1)).fit(X, y, epochs=2, batch_size=8, callbacks=[progress, Watch()])
    assert seen[0].startswith("fit: 2 epochs of 1 steps")
    assert seen[0].count("\n") == 1  # the first step's end
    assert seen[1].splitlines()[-1].startswith("epoch 1/2  loss ")
    assert seen[3].splitlines()[-1].startswith("epoch 2/2  loss ")
    assert seen[3] == stream.getvalue()


def test_a_run_resumed_from_a_state_whose_best_epoch_is_the_first_restores_that_epoch():
    X, y, Xv, yv = noisy_regression()
    kwargs = dict(optimizer=dn.SGD(0.5), batch_size=4, shuffle=False, validation_data=(Xv, yv))

    def stopping():  # the highest validation loss is the best: the first epoch's, as it falls
        return dn.EarlyStopping(monitor="val_loss", mode="max", patience=100)

    class Save(dn.Callback):  # the model and the callback's state after epoch 1, as a checkpoint
        def __init__(self, stop):
            self.stop = stop

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.params, self.state = self.model.params.copy(), self.stop.state_dict()

    whole, first = mlp((1, 8, 1), seed=0), mlp((1, 8, 1), seed=0)
    spy = Snapshots()
    stop = stopping()
    whole.fit(X, y, epochs=5, callbacks=[stop, spy], **kwargs)
    assert stop.best_epoch == 0
    assert not np.array_equal(spy.snapshots[-1], spy.snapshots[0])
    assert_array_equal(whole.params, spy.snapshots[0])  # restored at the end
    stop = stopping()
    saved = Save(stop)
    first.fit(X, y, epochs=2, callbacks=[stop, saved], **kwargs)
    assert saved.state["best_epoch"] == 0
    assert_array_equal(saved.state["best_params"], spy.snapshots[0])
    resumed, again = mlp((1, 8, 1), seed=1), stopping()
    resumed.params[...] = saved.params
    again.load_state_dict(saved.state)
    resumed.fit(X, y, epochs=3, callbacks=[again], **kwargs)
    assert again.best_epoch == 0
    assert again.state_dict()["epochs"] == 5
    assert_array_equal(resumed.params, whole.params)


class Saying(dn.Callback):
    """Returns ``said`` from each ``on_epoch_end``; counts the epochs it saw."""

    def __init__(self, said):
        self.said, self.seen = said, 0

    def on_epoch_end(self, epoch, logs=None):
        self.seen += 1
        return self.said


@pytest.mark.parametrize("said, epochs", [(None, 4), (False, 4), (np.False_, 4), (True, 1), (np.True_, 1)])
def test_an_epoch_s_end_stops_the_fit_on_true_alone_and_every_callback_sees_it(said, epochs):
    model = mlp((1, 1))
    after = Saying(None)
    history = model.fit(np.ones((2, 1)), np.full((2, 1), 0.3), epochs=4, callbacks=[Saying(said), after])
    assert history.epochs == after.seen == epochs
    assert history.stopped_early is (epochs < 4)


@pytest.mark.parametrize("said", [{"loss": 0.1}, 0.5, 1, "stop", np.array([True])])
def test_an_epoch_s_end_that_returns_what_is_no_answer_is_refused_by_the_callback_s_name(said):
    """A truthy return stopped the fit after its first epoch as if the callback meant it (a
    ``return logs``, a value returned by habit): only True or False (or None) is an answer."""
    with pytest.raises(TypeError, match=r"^Saying\.on_epoch_end returned .*; return True to stop "
                                        r"the fit after this epoch, or None \(or False\) to go on$"):
        mlp((1, 1)).fit(np.ones((2, 1)), np.full((2, 1), 0.3), epochs=4, callbacks=[Saying(said)])


def test_hooks_set_on_a_callback_object_are_called_as_a_subclass_s_are():
    """A hook given to an object (``cb.on_batch_end = ...``, as Keras's ``LambdaCallback``
    sets them) was never called for the batches: ``fit`` asked the class whether it
    overrides ``on_batch_end``, and the epochs' hooks were called."""
    seen = []
    callback = dn.Callback()
    callback.on_batch_end = lambda batch, logs=None: seen.append(("batch", batch, logs["loss"] > 0))
    callback.on_epoch_end = lambda epoch, logs=None: seen.append(("epoch", epoch))
    X = np.random.default_rng(0).standard_normal((12, 1))
    mlp((1, 2, 1)).fit(X, X > 0, epochs=2, batch_size=6, shuffle=False, callbacks=[callback])
    assert seen == [("batch", 0, True), ("batch", 1, True), ("epoch", 0),
                    ("batch", 0, True), ("batch", 1, True), ("epoch", 1)]
