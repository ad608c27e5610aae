"""A Ctrl-C during ``fit``: raised after the step it comes in and that batch's callbacks,
never inside a step, so that the model, its optimiser and its schedules hold whole steps;
elsewhere in a fit, and at a second Ctrl-C, at once. An error raised inside a step (a
second Ctrl-C, a module's own) leaves nothing of it: the model and its optimiser go back
to the epoch's start."""

from __future__ import annotations

import contextlib
import signal
import threading

import numpy as np
import pytest

import densenet as dn
from densenet import plan
from densenet.interrupt import StepInterrupts

from .conftest import NaNOnce

EPOCHS, BATCH = 3, 8  # 40 rows: 5 steps an epoch, 15 in all
AT = 7  # the step (counted from 1) whose backward pass sends the Ctrl-C: epoch 1, batch 1


@pytest.fixture(autouse=True)
def python_handler():
    """SIGINT handled by Python's own handler in each test (as in a script; a test runner's
    worker may ignore it), and put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class CtrlC(dn.Module):
    """The identity, whose backward pass (or forward pass) sends this process SIGINT
    ``times`` times in its ``at``-th call (counted from 1), and counts the calls it finished."""

    def __init__(self, at: int | None = None, times: int = 1, where: str = "backward"):
        self.at, self.times, self.where = at, times, where
        self.calls = self.finished = 0

    def _call(self, where: str, array: np.ndarray) -> np.ndarray:
        if where == self.where:
            self.calls += 1
            if self.calls == self.at:
                for _ in range(self.times):
                    signal.raise_signal(signal.SIGINT)
            self.finished += 1
        return array.copy()

    def forward(self, X):
        return self._call("forward", X)

    def backward(self, dY):
        return self._call("backward", dY)


class Steps(dn.Callback):
    """The weights and the optimiser's state after each step."""

    def __init__(self, optimizer: dn.Optimizer | None = None):
        self.optimizer = optimizer
        self.weights: list[np.ndarray] = []
        self.states: list[dict] = []

    def on_batch_end(self, batch, logs=None):
        self.weights.append(self.model.params.copy())
        self.states.append({} if self.optimizer is None else self.optimizer.state_dict())


def data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 3))
    return X, np.tanh(X @ np.array([[1.0], [-2.0], [0.5]]))


def model(ctrl_c: CtrlC) -> dn.Sequential:
    """Between two layers: a folded descent updates the last before the Ctrl-C and the
    first after it."""
    return dn.Sequential(dn.Dense(3, 8), dn.Tanh(), ctrl_c, dn.Dense(8, 1), seed=2)


def assert_same_state(state: dict, expected: dict) -> None:
    assert sorted(state) == sorted(expected)
    for name, value in expected.items():
        assert np.array_equal(state[name], value), name


OPTIMIZERS = {
    "sgd": lambda: dn.SGD(0.1),
    "sgd, folded": lambda: dn.SGD(0.1),
    "momentum, folded": lambda: dn.SGD(0.1, momentum=0.9),
    "adam": lambda: dn.Adam(0.01),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_ctrl_c_inside_a_step_comes_after_it_and_its_callbacks(name, monkeypatch):
    monkeypatch.setattr(plan, "FOLD_MIN_BLOCK", 0 if "folded" in name else 10**9)
    X, y = data()
    whole_optimizer = OPTIMIZERS[name]()
    whole = Steps(whole_optimizer)
    model(CtrlC()).fit(X, y, optimizer=whole_optimizer, epochs=EPOCHS, batch_size=BATCH, callbacks=[whole])
    ctrl_c, optimizer = CtrlC(at=AT), OPTIMIZERS[name]()
    stopped, steps = model(ctrl_c), Steps()
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, optimizer=optimizer, epochs=EPOCHS, batch_size=BATCH, callbacks=[steps])
    assert ctrl_c.finished == AT
    assert len(steps.weights) == AT  # the batch's callbacks ran
    assert np.array_equal(stopped.params, whole.weights[AT - 1])
    assert_same_state(optimizer.state_dict(), whole.states[AT - 1])


def test_a_schedule_stepping_each_batch_holds_the_steps_taken():
    X, y = data()
    sgd = dn.SGD(0.1)
    cycle = dn.OneCycleLR(sgd, max_lr=0.5, total_steps=EPOCHS * 5)
    with pytest.raises(KeyboardInterrupt):
        model(CtrlC(at=AT)).fit(X, y, optimizer=sgd, epochs=EPOCHS, batch_size=BATCH, callbacks=[cycle])
    assert cycle.step == AT
    assert sgd.lr == cycle.values(AT)[0]
    assert sgd.steps == AT


def test_a_ctrl_c_between_the_steps_comes_at_once():
    """In ``on_epoch_end`` (as in validation, or a checkpoint's writing) nothing is half made:
    Python's own handler raises it where it comes."""
    after = []

    class CtrlCAtEpochEnd(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            signal.raise_signal(signal.SIGINT)
            after.append(epoch)

    X, y = data()
    twice = model(CtrlC())
    twice.fit(X, y, epochs=1, batch_size=BATCH, shuffle=False)
    stopped = model(CtrlC())
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, callbacks=[CtrlCAtEpochEnd()])
    assert after == []
    assert np.array_equal(stopped.params, twice.params)


def test_a_second_ctrl_c_in_the_same_step_comes_at_once_and_leaves_the_epoch_s_start(monkeypatch):
    """Folded, the step had updated the last layer and not the first when it stopped."""
    monkeypatch.setattr(plan, "FOLD_MIN_BLOCK", 0)
    X, y = data()
    whole = Steps()
    model(CtrlC()).fit(X, y, epochs=EPOCHS, batch_size=BATCH, callbacks=[whole])
    ctrl_c = CtrlC(at=AT, times=2)
    stopped = model(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    assert ctrl_c.finished == AT - 1
    assert np.array_equal(stopped.params, whole.weights[EPOCH_START - 1])


EPOCH_START = 5  # the steps before the epoch ``AT`` is in: 40 rows in batches of 8


class Fails(dn.Module):
    """The identity, whose backward pass (or forward pass) raises ``RuntimeError`` in its
    ``at``-th call (counted from 1)."""

    def __init__(self, at: int | None = None, where: str = "backward"):
        self.at, self.where, self.calls = at, where, 0

    def _call(self, where: str, array: np.ndarray) -> np.ndarray:
        if where == self.where:
            self.calls += 1
            if self.calls == self.at:
                raise RuntimeError("a module's own error")
        return array.copy()

    def forward(self, X):
        return self._call("forward", X)

    def backward(self, dY):
        return self._call("backward", dY)


class Everything(Steps):
    """``Steps``, with the running statistics and the learning rate after each step."""

    def __init__(self, optimizer: dn.Optimizer):
        super().__init__(optimizer)
        self.running: list[np.ndarray] = []
        self.rates: list[float] = []

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        self.running.append(self.model.state.copy())
        self.rates.append(self.optimizer.lr)


@pytest.mark.parametrize("where", ["backward", "forward"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_error_inside_a_step_leaves_the_epoch_s_start(name, where, monkeypatch):
    """The weights, the running statistics, the optimiser's state and its settings (a
    schedule's rate) go back to where the epoch began (where ``History`` ends); before,
    a folded step stopped in the backward pass had updated the last layer alone."""
    monkeypatch.setattr(plan, "FOLD_MIN_BLOCK", 0 if "folded" in name else 10**9)
    X, y = data()

    def setup(fails: Fails) -> tuple[dn.Sequential, dict]:
        net = dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.Tanh(), fails, dn.Dense(8, 1), seed=2)
        optimizer = OPTIMIZERS[name]()
        schedule = dn.OneCycleLR(optimizer, max_lr=0.5, total_steps=EPOCHS * 5, cycle_momentum=False)
        return net, {"optimizer": optimizer, "callbacks": [schedule, Everything(optimizer)],
                     "epochs": EPOCHS, "batch_size": BATCH}

    net, arguments = setup(Fails())
    net.fit(X, y, **arguments)
    whole = arguments["callbacks"][1]
    stopped, arguments = setup(Fails(at=AT, where=where))
    with pytest.raises(RuntimeError, match="a module's own error"):
        stopped.fit(X, y, **arguments)
    seen = arguments["callbacks"][1]
    assert len(seen.weights) == AT - 1
    assert np.array_equal(stopped.params, whole.weights[EPOCH_START - 1])
    assert np.array_equal(stopped.state, whole.running[EPOCH_START - 1])
    assert_same_state(seen.optimizer.state_dict(), whole.states[EPOCH_START - 1])
    assert seen.optimizer.lr == whole.rates[EPOCH_START - 1]


def test_a_ctrl_c_in_the_replay_of_a_diverging_epoch_comes_after_its_divergence_error():
    """The epoch's third step makes the weights NaN, and its fourth's loss is NaN: the
    epoch stops there (4 backward passes). Its replay, which finds no bad step (the NaN came
    once), runs the epoch's steps up to that one (4), puts back the epoch's start and raises
    ``DivergenceError``, which goes before a Ctrl-C that came in the replay's second step."""
    X, y = data()
    ctrl_c = CtrlC(at=4 + 2)
    diverging = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), NaNOnce(3), ctrl_c, dn.Dense(8, 1), seed=2)
    start = diverging.params.copy()
    with pytest.raises(dn.DivergenceError) as caught:
        diverging.fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    assert caught.value.epoch_start
    assert ctrl_c.finished == 4 + 4
    assert np.array_equal(diverging.params, start)


@pytest.mark.parametrize("at", [None, AT], ids=["a whole fit", "a fit stopped"])
def test_python_s_handler_is_put_back(at):
    X, y = data()
    with contextlib.suppress(KeyboardInterrupt):
        model(CtrlC(at=at)).fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_of_the_user_s_own_is_left_to_act():
    seen = []

    def mine(signum, frame):
        seen.append(signum)

    signal.signal(signal.SIGINT, mine)
    X, y = data()
    history = model(CtrlC(at=AT)).fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    assert len(history.loss) == EPOCHS
    assert seen == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is mine


def test_a_fit_in_another_thread_leaves_sigint_alone():
    """Only the main thread may set a handler (``signal.signal`` raises ``ValueError``
    elsewhere); Ctrl-C interrupts the main thread alone, so a fit in another has none to take."""
    X, y = data()
    results: list[object] = []

    def train():
        try:
            results.append(len(model(CtrlC()).fit(X, y, epochs=EPOCHS, batch_size=BATCH).loss))
        except BaseException as error:  # (reported below, in the main thread)
            results.append(error)

    thread = threading.Thread(target=train)
    thread.start()
    thread.join()
    assert results == [EPOCHS]


def test_a_full_batch_fit_stopped_keeps_the_last_iterate():
    """L-BFGS evaluates trial points that are not iterates: a Ctrl-C in one leaves the model
    at the last iterate, the one ``History`` ends with, its running statistics too."""

    class Iterates(dn.Callback):
        def __init__(self):
            self.weights, self.state = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.weights.append(self.model.params.copy())
            self.state.append(self.model.state.copy())

    X, y = data()
    iterates = Iterates()
    stopped = dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.Tanh(), CtrlC(at=12, where="forward"),
                            dn.Dense(8, 1), seed=2)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, optimizer=dn.LBFGS(), epochs=50, callbacks=[iterates])
    assert len(iterates.weights) >= 2
    assert np.array_equal(stopped.params, iterates.weights[-1])
    assert np.array_equal(stopped.state, iterates.state[-1])


def steps_code():
    """Stands for the epoch's loop of steps: a Ctrl-C while it runs is noted."""
    signal.raise_signal(signal.SIGINT)


def test_a_ctrl_c_noted_after_the_last_callbacks_comes_when_the_fit_ends():
    went_on = []
    with pytest.raises(KeyboardInterrupt), StepInterrupts([], {steps_code.__code__}):
        steps_code()
        went_on.append(True)
    assert went_on == [True]


def test_an_error_on_its_way_goes_before_a_noted_ctrl_c():
    with pytest.raises(ValueError, match="on its way"), StepInterrupts([], {steps_code.__code__}):
        steps_code()
        raise ValueError("on its way")


def test_a_noted_ctrl_c_joins_the_batch_s_callbacks_once():
    on_batch: list = []
    with pytest.raises(KeyboardInterrupt), StepInterrupts(on_batch, {steps_code.__code__}):
        steps_code()
        on_batch[0].on_batch_end(0, {"loss": 1.0})
    assert len(on_batch) == 1


def test_an_error_inside_the_replay_of_a_diverging_epoch_leaves_the_epoch_s_start():
    """The epoch's third step makes the weights NaN, and its fourth's loss is NaN: the
    epoch stops there (4 backward passes), and its replay begins; a module raises in the
    replay's second step. The model and its optimiser go back to the epoch's start, the
    fit's here, and the error goes on its way."""
    X, y = data()
    net = dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.Tanh(), NaNOnce(3), Fails(at=4 + 2),
                        dn.Dense(8, 1), seed=2)
    start, running = net.params.copy(), net.state.copy()
    optimizer = dn.SGD(0.1, momentum=0.9)
    with pytest.raises(RuntimeError, match="a module's own error"):
        net.fit(X, y, optimizer=optimizer, epochs=EPOCHS, batch_size=BATCH)
    assert np.array_equal(net.params, start)
    assert np.array_equal(net.state, running)
    state = optimizer.state_dict()  # (a vector a state put back lacks is at its initial 0)
    assert state["steps"] == 0
    assert not state.get("momentum_buffer", np.zeros(1)).any()


def test_an_error_inside_a_step_gives_back_the_module_settings_of_the_epoch_s_start():
    """A callback that sets a ``Dropout``'s ``p`` after each step: after an error inside a
    step, ``p`` is the one the epoch began with, as the weights and the rate are."""
    X, y = data()

    class Drops(dn.Callback):
        def __init__(self, dropout):
            self.dropout, self.ps, self.weights = dropout, [], []

        def on_batch_end(self, batch, logs=None):
            self.dropout.p = 0.05 * (len(self.ps) % 7)
            self.ps.append(self.dropout.p)
            self.weights.append(self.model.params.copy())

    dropout = dn.Dropout(0.5)
    net = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dropout, Fails(at=AT), dn.Dense(8, 1), seed=2)
    seen = Drops(dropout)
    with pytest.raises(RuntimeError, match="a module's own error"):
        net.fit(X, y, epochs=EPOCHS, batch_size=BATCH, callbacks=[seen])
    assert len(seen.ps) == AT - 1
    assert dropout.p == seen.ps[EPOCH_START - 1] != seen.ps[-1]
    assert np.array_equal(net.params, seen.weights[EPOCH_START - 1])
