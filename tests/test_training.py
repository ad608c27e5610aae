"""fit and evaluate: the training loop."""

from __future__ import annotations

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as scipy_sparse
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet import backend
from densenet import model as model_module
from densenet.model import KEPT_STEPS
from densenet.plan import TrainStep

from .conftest import mlp, snapshot


def two_blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-1, 0.5, (n // 2, 2)), rng.normal(1, 0.5, (n // 2, 2))])
    y = np.repeat([0.0, 1.0], n // 2).reshape(-1, 1)
    return X, y


def manual_training(model, X, y, lr, epochs, batch_size):
    """The same SGD written with the public forward/backward API."""
    loss, sgd = dn.MSELoss(), dn.SGD(lr)
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            loss.forward(model.forward(xb), yb)
            model.backward(loss.backward())
            sgd.step(model.params, model.grads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 5, 16, 64, 1000])
def test_fit_equals_hand_written_sgd_bit_for_bit(batch_size, dtype):
    """The planned steps of fit make the same NumPy calls as forward/backward,
    including the last partial batch."""
    X, y = two_blobs(22)
    a, b = mlp((2, 4, 3, 1), seed=1, dtype=dtype), mlp((2, 4, 3, 1), seed=1, dtype=dtype)
    history = a.fit(X, y, optimizer=dn.SGD(0.5), epochs=3, batch_size=batch_size, shuffle=False)
    manual_training(b, X.astype(dtype), y.astype(dtype), 0.5, 3, batch_size)
    assert_array_equal(a.params, b.params)
    assert history.loss.shape == (3,)
    assert history.epochs == 3


def test_history_loss_is_the_sample_weighted_mean_of_batch_losses():
    X, y = two_blobs(10)
    model, twin = mlp((2, 3, 1), seed=2), mlp((2, 3, 1), seed=2)
    history = model.fit(X, y, epochs=2, batch_size=4, shuffle=False)
    loss, sgd, want = dn.MSELoss(), dn.SGD(0.1), []
    for _ in range(2):
        total = 0.0
        for start in range(0, 10, 4):
            xb, yb = X[start:start + 4], y[start:start + 4]
            total += loss.forward(twin.forward(xb), yb) * len(xb)
            twin.backward(loss.backward())
            sgd.step(twin.params, twin.grads)
        want.append(total / 10)
    assert_allclose(history.loss, want, rtol=1e-13)


def test_training_learns_a_separable_problem():
    X, y = two_blobs(200)
    model = mlp((2, 8, 1), seed=0)
    history = model.fit(X, y, optimizer=dn.SGD(1.0), epochs=30, batch_size=8, seed=0)
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert np.mean((model.predict(X) > 0.5) == (y > 0.5)) > 0.95
    assert model.evaluate(X, y) < 0.05


def test_same_seed_gives_bit_identical_weights():
    X, y = two_blobs(50)
    runs = []
    for _ in range(2):
        model = mlp((2, 6, 1), seed=3)
        model.fit(X, y, epochs=4, batch_size=7, shuffle=True, seed=11)
        runs.append(model.params.copy())
    assert_array_equal(runs[0], runs[1])
    other = mlp((2, 6, 1), seed=3)
    other.fit(X, y, epochs=4, batch_size=7, shuffle=True, seed=12)
    assert not np.array_equal(runs[0], other.params)


def test_none_for_callbacks_or_metrics_means_none_of_them():
    """``callbacks=None`` and ``metrics=None`` (what a wrapper forwards for "not given")
    train as the defaults do and record the same history."""
    X, y = two_blobs(50)
    runs = []
    for kwargs in ({}, {"callbacks": None, "metrics": None}):
        model = mlp((2, 6, 1), seed=3)
        history = model.fit(X, y, epochs=3, batch_size=7, seed=11, validation_data=(X, y), **kwargs)
        runs.append((model.params.copy(), history.logs()))
    assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1].keys() == runs[1][1].keys() == {"loss", "val_loss"}
    for name in runs[0][1]:
        assert_array_equal(runs[0][1][name], runs[1][1][name])


def test_model_seed_drives_shuffling_when_fit_has_none():
    X, y = two_blobs(50)
    a, b = mlp((2, 6, 1), seed=3), mlp((2, 6, 1), seed=3)
    a.fit(X, y, epochs=2, batch_size=5)
    b.fit(X, y, epochs=2, batch_size=5)
    assert_array_equal(a.params, b.params)


def test_shuffled_epochs_are_seeded_permutations_of_the_data():
    """Each epoch visits every sample once, in the order a seeded Generator's shuffle of
    0..N-1 gives; the order depends on the generator alone, so a fit split in two shuffles
    like one."""
    X, y = two_blobs(20)
    model, twin, halves = mlp((2, 3, 1), seed=1), mlp((2, 3, 1), seed=1), mlp((2, 3, 1), seed=1)
    model.fit(X, y, epochs=3, batch_size=6, shuffle=True, seed=5)
    rng = np.random.default_rng(5)
    for _ in range(3):
        order = np.arange(20)
        rng.shuffle(order)
        manual_training(twin, X[order], y[order], 0.1, 1, 6)
    assert_array_equal(model.params, twin.params)
    rng = np.random.default_rng(5)
    halves.fit(X, y, epochs=1, batch_size=6, seed=rng)
    halves.fit(X, y, epochs=2, batch_size=6, seed=rng)
    assert_array_equal(halves.params, model.params)


def test_fit_continues_training():
    X, y = two_blobs(30)
    once, twice = mlp((2, 4, 1), seed=1), mlp((2, 4, 1), seed=1)
    once.fit(X, y, epochs=4, batch_size=5, shuffle=False)
    twice.fit(X, y, epochs=2, batch_size=5, shuffle=False)
    twice.fit(X, y, epochs=2, batch_size=5, shuffle=False)
    assert_array_equal(once.params, twice.params)


def test_fit_never_modifies_the_callers_arrays():
    X, y = two_blobs(30)
    X32 = X.astype(np.float32)
    copies = X.copy(), y.copy(), X32.copy()
    mlp((2, 4, 1)).fit(X, y, epochs=2, batch_size=4)
    mlp((2, 4, 1), dtype=np.float32).fit(X32, y, epochs=2, batch_size=4)
    assert_array_equal(X, copies[0])
    assert_array_equal(y, copies[1])
    assert_array_equal(X32, copies[2])


def test_one_output_model_accepts_1d_targets():
    X, y = two_blobs(20)
    a, b = mlp((2, 3, 1), seed=1), mlp((2, 3, 1), seed=1)
    a.fit(X, y, epochs=2, batch_size=4, shuffle=False)
    b.fit(X, y.ravel(), epochs=2, batch_size=4, shuffle=False)
    assert_array_equal(a.params, b.params)
    assert a.evaluate(X, y.ravel()) == a.evaluate(X, y)


def test_callbacks_see_every_epoch_and_can_stop():
    X, y = two_blobs(20)
    events = []

    class Recorder(dn.Callback):
        def on_train_begin(self, logs=None):
            events.append(("begin", self.params["metrics"], self.params["epochs"], self.params["steps"]))

        def on_epoch_end(self, epoch, logs=None):
            events.append((epoch, round(logs["loss"], 12)))
            if epoch == 2:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append(("end", logs))

    model = mlp((2, 3, 1))
    history = model.fit(X, y, epochs=10, batch_size=6, callbacks=[Recorder()])
    assert events[0] == ("begin", ("loss",), 10, 4)  # 20 samples in batches of 6: 4 steps
    assert events[-1] == ("end", {"loss": history.loss[-1]})
    assert [e[0] for e in events[1:-1]] == [0, 1, 2]
    assert [e[1] for e in events[1:-1]] == [round(v, 12) for v in history.loss]
    assert history.epochs == 3
    assert history.stopped_early
    again = model.fit(X, y, epochs=2, callbacks=[Recorder()])  # stop_training is cleared
    assert again.epochs == 2
    assert [e[0] for e in events[6:8]] == [0, 1]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(epochs=0), ValueError, "epochs must be an integer >= 1, got 0"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=None), TypeError, "batch_size"),
    (dict(shuffle="yes"), TypeError, "shuffle"),
    (dict(seed="x"), TypeError, "seed"),
])
def test_bad_arguments_are_rejected_before_any_change(kwargs, error, message):
    X, y = two_blobs(10)
    model = mlp((2, 3, 1))
    before = snapshot(model)
    with pytest.raises(error, match=message):
        model.fit(X, y, **kwargs)
    assert_array_equal(model.params, before[0])
    assert_array_equal(model.grads, before[1])


@pytest.mark.parametrize("X, y, message", [
    (np.ones((5, 2)), np.ones((4, 1)), r"different numbers of samples: X \(5, 2\), y \(4, 1\)"),
    (np.ones((5, 2)), np.ones((5, 2)), r"y has shape \(5, 2\), but the model's output is \(n_samples, 1\)"),
    (np.ones((5, 2)), np.ones((5, 1, 1)), r"y has shape \(5, 1, 1\)"),
    (np.ones((5, 2)), [[1.0]] * 4 + [[np.nan]], "y holds 1 non-finite"),
    (np.ones((5, 3)), np.ones((5, 1)), "X has 3 features"),
])
def test_bad_data_is_rejected_before_any_change(X, y, message):
    model = mlp((2, 3, 1))
    before = snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    with pytest.raises(ValueError, match=message):
        model.evaluate(X, y)
    assert_array_equal(model.params, before[0])


def test_divergence_stops_with_epoch_and_batch_and_keeps_finite_weights():
    X = np.array([[1e200, 1e200], [1.0, 1.0], [2.0, 2.0]])
    y = np.array([[1e200], [0.0], [1.0]])
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    with pytest.raises(dn.DivergenceError, match=r"epoch 0, batch 0") as caught:
        model.fit(X, y, epochs=3, batch_size=1, shuffle=False)
    assert caught.value.epoch == 0
    assert caught.value.batch == 0
    assert np.isfinite(model.params).all()


def test_divergence_in_the_first_epoch_leaves_an_empty_history_with_validation_too():
    X = np.array([[1e200, 1e200], [1.0, 1.0]])
    y = np.array([[1e200], [0.0]])
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    with pytest.raises(dn.DivergenceError) as caught:
        model.fit(X, y, epochs=3, batch_size=1, shuffle=False, validation_data=(X[1:], y[1:]))
    history = caught.value.history
    assert history.epochs == 0
    assert history.loss.shape == history.val_loss.shape == (0,)
    assert {name: len(values) for name, values in history.logs().items()} == {"loss": 0, "val_loss": 0}


def test_divergence_later_in_training_names_the_step_and_keeps_the_weights_before_it():
    X = np.array([[1.0], [3.0]])
    y = np.array([[0.0], [1.0]])
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    with pytest.raises(dn.DivergenceError) as caught:
        model.fit(X, y, optimizer=dn.SGD(lr=50.0), epochs=1000, batch_size=1, shuffle=False)
    error = caught.value
    assert error.epoch > 0
    assert error.history.epochs == error.epoch
    assert np.isfinite(model.params).all()
    # replaying from the same start, one more step from the kept weights is the bad one
    twin = dn.Sequential(dn.Dense(1, 1), seed=0)
    if error.epoch:
        twin.fit(X, y, optimizer=dn.SGD(lr=50.0), epochs=error.epoch, batch_size=1, shuffle=False)
    loss, sgd = dn.MSELoss(), dn.SGD(lr=50.0)
    for i in range(error.batch):
        loss.forward(twin.forward(X[i:i + 1]), y[i:i + 1])
        twin.backward(loss.backward())
        sgd.step(twin.params, twin.grads)
    assert_array_equal(twin.params, model.params)
    assert not error.at_start
    assert "smaller learning rate" in str(error)
    made = dn.DivergenceError(1, 2, error.history)  # (as a callback or a test of one's own makes one)
    assert not made.at_start
    assert made.state is None
    assert not made.epoch_start
    assert "the model keeps the weights from before that step" in str(made)
    assert str(made).endswith("Try a smaller learning rate or scaled inputs.")
    assert not error.epoch_start  # (no callback: nothing the replay cannot repeat)


AT_START = r"non-finite \(NaN or inf\) at the weights the fit started from, before any step, so no learning"


@pytest.mark.parametrize("dtype, huge", [(np.float64, 1e160), (np.float32, 1e20)])
@pytest.mark.parametrize("normalised", [False, True], ids=["dense", "batchnorm"])
def test_a_loss_that_overflows_at_the_starting_weights_is_laid_to_the_data(dtype, huge, normalised):
    """A target whose squared error overflows makes the loss infinite before any step: the
    error says that no learning rate helps (it said to try a smaller one). The steps
    before the bad batch stand, running statistics included, as a fit of those alone."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    y[5] = huge  # (in the third batch of two)

    def model():
        modules = (dn.Dense(2, 3), dn.BatchNorm1d(3), dn.Dense(3, 1)) if normalised else (dn.Dense(2, 1),)
        return dn.Sequential(*modules, seed=0, dtype=dtype)

    diverging, twin = model(), model()
    with pytest.raises(dn.DivergenceError, match=r"^training diverged at epoch 0, batch 2: the loss of that "
                                                 r"batch is " + AT_START) as caught:
        diverging.fit(X, y, epochs=3, batch_size=2, shuffle=False)
    twin.fit(X[:4], y[:4], epochs=1, batch_size=2, shuffle=False)
    assert caught.value.at_start
    assert pickle.loads(pickle.dumps(caught.value)).at_start
    assert_array_equal(diverging.params, twin.params)
    assert_array_equal(diverging.state, twin.state)


def test_a_loss_that_overflows_after_steps_of_the_first_epoch_is_laid_to_the_learning_rate():
    """The second batch's loss is finite at the starting weights (2e119) and infinite at
    those the first step of a huge learning rate made: that is the rate's doing."""
    X, y = np.array([[1e60], [1e60], [1.0]]), np.array([[0.0], [1.0], [0.0]])
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    assert np.isfinite(dn.MSELoss().forward(model.forward(X[1:2]), y[1:2]))
    with pytest.raises(dn.DivergenceError, match=r"epoch 0, batch 1: .*smaller learning rate") as caught:
        model.fit(X, y, optimizer=dn.SGD(1e10), epochs=2, batch_size=1, shuffle=False)
    assert not caught.value.at_start


def test_a_full_batch_fit_whose_loss_overflows_at_its_start_is_laid_to_the_data():
    X, y = np.array([[1.0], [2.0]]), np.array([[1e200], [1.0]])
    model = dn.Sequential(dn.Dense(1, 2), dn.BatchNorm1d(2), dn.Dense(2, 1), seed=0)
    params, state = model.params.copy(), model.state.copy()
    with pytest.raises(dn.DivergenceError, match=AT_START) as caught:
        model.fit(X, y, optimizer=dn.LBFGS(), epochs=10)
    assert caught.value.at_start
    assert_array_equal(model.params, params)
    assert_array_equal(model.state, state)


def test_integer_labels_with_a_regression_loss_point_to_cross_entropy():
    model = mlp((2, 3, 4))
    with pytest.raises(ValueError, match=r"y has shape \(5,\), but the model's output is \(n_samples, 4\); "
                                         r".*for integer class labels use CrossEntropyLoss, or one-hot"):
        model.fit(np.ones((5, 2)), np.array([0, 1, 2, 3, 1]))


class CountedStep(TrainStep):
    """A TrainStep that counts how many are built."""

    built = 0

    def __init__(self, *args, **kwargs):
        type(self).built += 1
        super().__init__(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch):
    CountedStep.built = 0
    monkeypatch.setattr(model_module, "TrainStep", CountedStep)
    return CountedStep


def test_a_fit_called_again_reuses_its_steps(counted):
    X, y = two_blobs(40)
    model, loss, optimizer = mlp((2, 3, 1)), dn.MSELoss(), dn.SGD(0.5)
    model.fit(X, y, optimizer=optimizer, loss=loss, epochs=1, batch_size=16)
    assert counted.built == 2  # batches of 16 and the last of 8
    for _ in range(3):
        model.fit(X, y, optimizer=optimizer, loss=loss, epochs=1, batch_size=16)
    model.fit(X, y, epochs=2, batch_size=16)  # the model's own default loss and optimiser,
    model.fit(X, y, epochs=2, batch_size=16)  # kept like the steps
    assert counted.built == 4
    model.fit(X, y, optimizer=dn.SGD(0.5), loss=loss, epochs=1, batch_size=16)  # another optimiser
    assert counted.built == 6


def test_fits_reusing_their_steps_train_like_one_fit():
    X, y = two_blobs(40)
    once, loss, optimizer = mlp((2, 3, 1)), dn.MSELoss(), dn.SGD(0.5, momentum=0.9)
    once.fit(X, y, optimizer=optimizer, loss=loss, epochs=4, batch_size=16, seed=0)
    split, split_optimizer, rng = mlp((2, 3, 1)), dn.SGD(0.5, momentum=0.9), np.random.default_rng(0)
    for _ in range(4):
        split.fit(X, y, optimizer=split_optimizer, loss=loss, epochs=1, batch_size=16, seed=rng)
    assert_array_equal(split.params, once.params)


def test_a_kept_step_is_rebuilt_when_the_optimiser_no_longer_folds():
    model = dn.Sequential(dn.Dense(512, 512), dn.Sigmoid(), dn.Dense(512, 1), seed=0)
    assert model.largest_product(16) >= backend.GEMM_MIN_PRODUCT  # folded: grads left alone
    X, y = np.random.default_rng(0).standard_normal((16, 512)), np.full((16, 1), 0.5)
    optimizer = dn.SGD(0.01)
    model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=16)
    assert not model.grads.any()
    optimizer.fold = False  # a step that folds would leave grads alone again
    model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=16)
    assert model.grads.any()


def test_the_kept_steps_are_bounded_and_not_shared_by_copies():
    X, y = two_blobs(32)
    model, loss = mlp((2, 3, 1)), dn.MSELoss()
    first = dn.SGD(0.5)
    step = model.train_step(loss, first, 32, y)
    assert model.train_step(loss, first, 32, y) is step
    assert copy.deepcopy(model).train_step(loss, first, 32, y) is not step
    assert pickle.loads(pickle.dumps(model)).train_step(loss, first, 32, y) is not step
    for _ in range(KEPT_STEPS):
        model.train_step(loss, dn.SGD(0.5), 32, y)
    assert model.train_step(loss, first, 32, y) is not step  # the oldest made room


def test_a_step_key_follows_what_the_step_is_built_from():
    X, y = two_blobs(8)
    model, loss, optimizer = mlp((2, 3, 1)), dn.MSELoss(), dn.SGD(0.1, momentum=0.9)
    optimizer.prepare(model.params)
    key = TrainStep.key(model, loss, optimizer, 8, y)
    assert TrainStep.key(model, loss, optimizer, 8, y.copy()) == key
    assert TrainStep.key(model, loss, optimizer, 4, y) != key
    assert TrainStep.key(model, dn.MSELoss(), optimizer, 8, y) != key
    assert TrainStep.key(model, loss, optimizer, 8, y.astype(np.float32)) != key
    assert TrainStep.key(model, loss, optimizer, 8, np.hstack([y, y])) != key  # (a loss of any shape)
    assert TrainStep.key(model, loss, optimizer, 8, y, weighted=True) != key  # a step with sample weights
    assert TrainStep.key(model, loss, optimizer, 8, y, weighted=False) == key
    assert TrainStep.key(model, loss, optimizer, 8, y, sparse=True) != key  # a step fed SciPy sparse rows
    assert TrainStep.key(model, loss, optimizer, 8, y, sparse=False) == key
    optimizer.momentum = 0.5  # a step reads the momentum's value at every call (a schedule may set it)
    assert TrainStep.key(model, loss, optimizer, 8, y) == key
    optimizer.momentum = 0.0  # but one without momentum is another step
    assert TrainStep.key(model, loss, optimizer, 8, y) != key
    optimizer.nesterov, optimizer.momentum = True, 0.9  # and so is one that does not fold it
    assert TrainStep.key(model, loss, optimizer, 8, y) != key


class SetsOnEpoch(dn.Callback):
    """Sets ``settings`` on ``optimizer`` at the end of epoch ``epoch`` (or of batch
    ``batch`` of it), as a schedule of momentum or weight decay would."""

    def __init__(self, optimizer, settings, epoch, batch=None):
        self.optimizer, self.settings, self.epoch, self.batch = optimizer, settings, epoch, batch
        self.seen = -1

    def on_batch_end(self, batch, logs):
        self.seen += 1 if batch == 0 else 0
        if self.batch is not None and (self.seen, batch) == (self.epoch, self.batch):
            self.apply()

    def on_epoch_end(self, epoch, logs):
        if self.batch is None and epoch == self.epoch:
            self.apply()

    def apply(self):
        for name, value in self.settings.items():
            setattr(self.optimizer, name, value)


@pytest.mark.parametrize("settings", [{"momentum": 0.9}, {"weight_decay": 0.01}, {"fold": False},
                                      {"momentum": 0.9, "nesterov": True}])
@pytest.mark.parametrize("batch", [None, 1])
def test_a_setting_changed_by_a_callback_during_fit_takes_effect_in_its_folded_steps(settings, batch):
    """``fit`` folds plain SGD into the gradient products of a large model; a callback that
    turns on momentum or weight decay (or turns folding off) must not leave the rest of
    the fit on the folded plain steps: from the next step on, it trains like a second fit
    with the new settings (same bits), here after epoch 1 or after its batch 1."""
    model = dn.Sequential(dn.Dense(512, 512), dn.Sigmoid(), dn.Dense(512, 1), seed=0)
    assert model.largest_product(8) >= backend.GEMM_MIN_PRODUCT
    X, y = np.random.default_rng(0).standard_normal((32, 512)) / 10, np.full((32, 1), 0.25)
    twin = copy.deepcopy(model)
    optimizer, twin_optimizer = dn.SGD(0.05), dn.SGD(0.05)
    assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded
    callback = SetsOnEpoch(optimizer, settings, 1, batch)
    model.fit(X, y, optimizer=optimizer, epochs=3, batch_size=8, shuffle=False, callbacks=[callback])
    switch = 2 * 4 if batch is None else 4 + batch + 1  # the steps before the change
    twin.fit(np.tile(X, (2, 1))[:switch * 8], np.tile(y, (2, 1))[:switch * 8], optimizer=twin_optimizer,
             epochs=1, batch_size=8, shuffle=False)
    for name, value in settings.items():
        setattr(twin_optimizer, name, value)
    rest = 3 * 4 - switch
    twin.fit(np.tile(X, (2, 1))[switch * 8 % 32:][:rest * 8], np.tile(y, (2, 1))[:rest * 8],
             optimizer=twin_optimizer, epochs=1, batch_size=8, shuffle=False)
    assert_array_equal(model.params, twin.params)
    assert optimizer.steps == twin_optimizer.steps == 12


@pytest.mark.parametrize("start, later", [(0.9, 0.5), (0.9, 0.0), (0.5, 0.9)])
@pytest.mark.parametrize("batch", [None, 1])
def test_a_momentum_changed_by_a_callback_during_fit_takes_effect_in_its_folded_steps(start, later, batch):
    """A folded momentum step reads the momentum's value at every call, so a change from
    one value to another plans nothing, and one to 0 plans the plain step: from the next
    step on, the fit trains like a second fit with the new momentum (same bits)."""
    model = dn.Sequential(dn.Dense(512, 512), dn.Sigmoid(), dn.Dense(512, 1), seed=0)
    X, y = np.random.default_rng(0).standard_normal((32, 512)) / 10, np.full((32, 1), 0.25)
    twin = copy.deepcopy(model)
    optimizer, twin_optimizer = dn.SGD(0.05, momentum=start), dn.SGD(0.05, momentum=start)
    assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded
    callback = SetsOnEpoch(optimizer, {"momentum": later}, 1, batch)
    model.fit(X, y, optimizer=optimizer, epochs=3, batch_size=8, shuffle=False, callbacks=[callback])
    switch = 2 * 4 if batch is None else 4 + batch + 1  # the steps before the change
    twin.fit(np.tile(X, (2, 1))[:switch * 8], np.tile(y, (2, 1))[:switch * 8], optimizer=twin_optimizer,
             epochs=1, batch_size=8, shuffle=False)
    twin_optimizer.momentum = later
    rest = 3 * 4 - switch
    twin.fit(np.tile(X, (2, 1))[switch * 8 % 32:][:rest * 8], np.tile(y, (2, 1))[:rest * 8],
             optimizer=twin_optimizer, epochs=1, batch_size=8, shuffle=False)
    assert_array_equal(model.params, twin.params)
    assert optimizer.steps == twin_optimizer.steps == 12


@pytest.mark.parametrize("make", [lambda: dn.SGD(0.1, momentum=0.9),
                                  lambda: dn.SGD(0.1, momentum=0.9, nesterov=True),
                                  lambda: dn.Adam(0.01), lambda: dn.RMSprop(0.01, momentum=0.9)],
                         ids=["sgd", "nesterov", "adam", "rmsprop"])
def test_a_schedule_that_sets_the_momentum_at_every_step_plans_the_steps_once(monkeypatch, make):
    """``OneCycleLR`` sets the momentum (Adam's first beta) at every step; each time,
    ``fit`` looked up its planned steps again, which added 10 us to a step of the tutorial's
    network (12 us) and 20 us, 40%, to a 64-64-10 step at batch 16. The steps read the
    value at every call: they are planned once a fit."""
    looked_up = []
    train_step = dn.Sequential.train_step
    monkeypatch.setattr(dn.Sequential, "train_step",
                        lambda *args, **kwargs: looked_up.append(args[3]) or train_step(*args, **kwargs))
    model, optimizer = mlp((3, 8, 2)), make()
    X, y = np.random.default_rng(0).standard_normal((30, 3)), np.zeros((30, 2))
    cycle = dn.OneCycleLR(optimizer, max_lr=0.1, total_steps=12)
    model.fit(X, y, optimizer=optimizer, epochs=3, batch_size=8, shuffle=False, callbacks=[cycle])
    assert sorted(looked_up) == [6, 8]  # the full batches' step and the last one's
    assert cycle.step == 12


# -- drop_last --------------------------------------------------------------------------------------

class BatchLosses(dn.Callback):
    def __init__(self):
        self.losses = []

    def on_batch_end(self, batch, logs):
        self.losses.append(logs["loss"])


def drop_data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.uniform(size=(n, 2))


@pytest.mark.parametrize("sparse", [False, True])
def test_drop_last_trains_on_the_full_batches_only(sparse):
    """10 rows in batches of 4, in order: the steps are those on rows 0-7 alone, bit for
    bit, and the epoch's loss is their batches' mean (8 rows)."""
    X, y = drop_data()
    dropping, reference = mlp((3, 5, 2)), mlp((3, 5, 2))
    optimizer, batches = dn.SGD(0.5, momentum=0.5), BatchLosses()
    rows = scipy_sparse.csr_matrix(X) if sparse else X
    history = dropping.fit(rows, y, optimizer=optimizer, epochs=3, batch_size=4, shuffle=False,
                           drop_last=True, callbacks=[batches])
    reference.fit(X[:8], y[:8], optimizer=dn.SGD(0.5, momentum=0.5), epochs=3, batch_size=4, shuffle=False)
    assert optimizer.steps == 6
    assert len(batches.losses) == 6
    assert batches.params["steps"] == 2
    assert_allclose(dropping.params, reference.params, rtol=1e-12)
    assert_allclose(history.loss, np.mean(np.reshape(batches.losses, (3, 2)), axis=1), rtol=1e-12)


def test_drop_last_drops_another_remainder_each_shuffled_epoch():
    """Shuffled, each epoch trains on the first full batches of that epoch's order (the
    generator's shuffle of 0..N-1, as without drop_last): the same as fitting those rows
    one epoch at a time, in that order."""
    X, y = drop_data(11)
    dropping, reference = mlp((3, 5, 2)), mlp((3, 5, 2))
    dropping.fit(X, y, optimizer=dn.Adam(0.01), epochs=4, batch_size=4, seed=3, drop_last=True)
    rng, adam, kept = np.random.default_rng(3), dn.Adam(0.01), []
    for _ in range(4):
        order = np.arange(11)
        rng.shuffle(order)
        kept.append(set(order[:8]))
        reference.fit(X[order[:8]], y[order[:8]], optimizer=adam, epochs=1, batch_size=4, shuffle=False)
    assert_array_equal(dropping.params, reference.params)
    assert len(set(map(frozenset, kept))) > 1  # (not the same rows left out every epoch)


def test_drop_last_lets_batch_statistics_skip_a_trailing_batch_of_one():
    X, y = drop_data(9)
    model = dn.Sequential(dn.Dense(3, 4), dn.BatchNorm1d(4), dn.Sigmoid(), dn.Dense(4, 2), seed=0)
    with pytest.raises(ValueError, match="makes a batch of 1; choose another batch_size"):
        model.fit(X, y, batch_size=4, epochs=1)
    model.fit(X, y, batch_size=4, epochs=1, drop_last=True)
    assert np.isfinite(model.params).all()


def test_drop_last_with_a_batch_larger_than_the_data_trains_on_all_of_it():
    X, y = drop_data(6)
    dropping, reference = mlp((3, 5, 2)), mlp((3, 5, 2))
    dropping.fit(X, y, batch_size=10, epochs=2, shuffle=False, drop_last=True)
    reference.fit(X, y, batch_size=10, epochs=2, shuffle=False)
    assert_array_equal(dropping.params, reference.params)


@pytest.mark.parametrize("value, error, message", [
    ("yes", TypeError, "fit: drop_last must be True or False"),
    (True, ValueError, "drop_last"),  # with a full-batch optimiser
])
def test_drop_last_is_checked_before_any_change(value, error, message):
    X, y = drop_data()
    model = mlp((3, 5, 2))
    before = model.params.copy()
    with pytest.raises(error, match=message):
        model.fit(X, y, optimizer=dn.LBFGS() if value is True else dn.SGD(0.1), batch_size=4, drop_last=value)
    assert_array_equal(model.params, before)


# -- validation_split: the last rows held out ------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_split_holds_out_the_last_rows_as_validation_data(weighted, sparse):
    """Keras's semantics: the last ``ceil``-rounded share of rows, before any shuffle, is the
    validation data (with their sample weights), the others train; the same as passing
    them apart, bit for bit."""
    rng = np.random.default_rng(8)
    X, labels, w = rng.standard_normal((50, 4)), rng.integers(0, 3, 50), rng.uniform(0.5, 2, 50)
    data = scipy_sparse.csr_matrix(X) if sparse else X
    weights = dict(sample_weight=w) if weighted else {}
    runs = []
    for how in ("split", "apart"):
        model = dn.Sequential(dn.Dense(4, 8), dn.Tanh(), dn.Dense(8, 3), seed=0)
        kwargs = dict(loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(0.01), epochs=3, batch_size=8,
                      metrics=["accuracy"])
        if how == "split":  # 0.25 of 50 rows: 12.5, the last 12 held out (38 = ceil(37.5) train)
            history = model.fit(data, labels, validation_split=0.25, **weights, **kwargs)
        else:
            val = (data[38:], labels[38:]) + ((w[38:],) if weighted else ())
            history = model.fit(data[:38], labels[:38], validation_data=val,
                                **({"sample_weight": w[:38]} if weighted else {}), **kwargs)
        runs.append((model.params.copy(), history.loss, history.val_loss, history.metrics["val_accuracy"]))
    for mine, theirs in zip(*runs):
        assert_array_equal(mine, theirs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(validation_split=1.0), ValueError, r"fit: invalid validation_split 1.0; it must lie in \[0, 1\)"),
    (dict(validation_split=-0.1), ValueError, r"invalid validation_split -0.1"),
    (dict(validation_split="0.2"), TypeError, r"validation_split must be a real number"),
    (dict(validation_split={}), TypeError, r"validation_split must be a real number, got dict"),  # (falsy)
    (dict(validation_split=False), TypeError, r"validation_split must be a real number, got bool"),
    (dict(validation_split=0.01), ValueError, r"fit: validation_split 0.01 of 10 rows holds out none of "
                                              r"them; give a larger share"),
    (dict(validation_split=0.2, validation_data=(np.zeros((2, 2)), np.zeros((2, 1)))), ValueError,
     r"fit: validation_split and validation_data both given: give one"),
])
def test_a_bad_validation_split_is_refused_before_any_change(kwargs, error, message):
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    before = model.params.copy()
    with pytest.raises(error, match=message):
        model.fit(np.zeros((10, 2)), np.zeros((10, 1)), **kwargs)
    assert_array_equal(model.params, before)


def _classifier(end, outputs=3):
    """A 4-input model whose last modules are ``end`` after a ``Dense(4, outputs)``."""
    return dn.Sequential(dn.Dense(4, 5), dn.Tanh(), dn.Dense(5, outputs), *end, seed=0)


def _targets(loss, outputs, n=24):
    rng = np.random.default_rng(1)
    if isinstance(loss, (dn.CrossEntropyLoss, dn.NLLLoss)):
        return rng.integers(0, outputs, n)
    return (rng.uniform(size=(n, outputs)) > 0.5).astype(float)


@pytest.mark.parametrize(("end", "loss", "kind"), [
    ([dn.Softmax()], dn.CrossEntropyLoss(), "probabilities"),
    ([dn.Sigmoid()], dn.CrossEntropyLoss(), "probabilities"),
    ([dn.Sigmoid()], dn.BCEWithLogitsLoss(), "probabilities"),
    ([dn.LogSoftmax()], dn.BCEWithLogitsLoss(), "log-probabilities"),
    ([dn.Softmax()], dn.NLLLoss(), "probabilities"),
    ([dn.Sigmoid()], dn.NLLLoss(), "probabilities"),
    ([], dn.NLLLoss(), "logits"),  # (trains towards minus infinity)
    ([], dn.BCELoss(), "logits"),  # (a log of a negative output: NaN)
], ids=["softmax-ce", "sigmoid-ce", "sigmoid-bce-logits", "log-softmax-bce-logits", "softmax-nll",
        "sigmoid-nll", "dense-nll", "dense-bce"])
def test_a_loss_meant_for_other_outputs_than_the_model_ends_in_is_warned_of(end, loss, kind):
    """Softmax then CrossEntropyLoss (a softmax of probabilities) trains, slowly: the
    commonest slip from the tutorial's Sigmoid and MSELoss. fit says so, naming both, what
    the loss is meant for and which loss takes which outputs; the fit then runs."""
    model = _classifier(end)
    if not end:  # outputs in [0, 1] for BCELoss: what the fit computes on is not at stake here
        model[-1].W[...], model[-1].b[...] = 0.0, 0.5
    X = np.random.default_rng(0).normal(size=(24, 4))
    y = _targets(loss, 3)
    twin = model.clone()
    name = type(model[-1]).__name__
    with pytest.warns(UserWarning, match=rf"fit: {type(loss).__name__}\(\) is meant for .*but the model ends "
                                         rf"in {name}\(.*\), whose outputs are {kind}") as caught:
        history = model.fit(X, y, loss=loss, optimizer=dn.SGD(0.1), epochs=2, batch_size=8)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # (once, at the caller's line)
    message = str(caught[0].message)
    assert "BCEWithLogitsLoss" in message
    assert "NLLLoss after LogSoftmax" in message
    with pytest.warns(UserWarning):
        assert_array_equal(twin.fit(X, y, loss=loss, optimizer=dn.SGD(0.1), epochs=2, batch_size=8).loss,
                           history.loss)


def _warned_calls():
    """Calls that warn, each reaching the warning through another path of the package."""
    X = np.random.default_rng(0).normal(size=(24, 4))
    labels = _targets(dn.CrossEntropyLoss(), 3)
    every_class = dn.Accuracy(top_k=3)
    return {
        "fit": lambda: _classifier([dn.Softmax()]).fit(X, labels, loss=dn.CrossEntropyLoss(), epochs=1),
        "lr_find": lambda: dn.lr_find(_classifier([dn.Softmax()]), X, labels, loss=dn.CrossEntropyLoss(),
                                      steps=5),
        "metric": lambda: every_class(np.eye(3), np.arange(3)),
        "fit's metric": lambda: _classifier([]).fit(X, labels, loss=dn.CrossEntropyLoss(), epochs=1,
                                                    metrics=[every_class]),
        "evaluate's metric": lambda: _classifier([]).evaluate(X, labels, loss=dn.CrossEntropyLoss(),
                                                              metrics=[every_class]),
        "gradcheck": lambda: dn.gradcheck(_classifier([]).clone(dtype=np.float32), X[:4], labels[:4],
                                          loss=dn.CrossEntropyLoss()),
    }


@pytest.mark.parametrize("call", list(_warned_calls()))
def test_a_warning_points_at_the_caller_s_line_whatever_path_reaches_it(call):
    """(Not at a line inside densenet: a warning filter or a traceback names the user's code.)"""
    with pytest.warns(UserWarning) as caught:
        _warned_calls()[call]()
    assert [warning.filename for warning in caught] == [__file__] * len(caught)


@pytest.mark.parametrize(("end", "loss", "kind", "source"), [
    ([dn.Softmax(), dn.Dropout(0.2)], dn.CrossEntropyLoss(), "probabilities", "Softmax()"),
    ([dn.Dropout(0.2)], dn.NLLLoss(), "logits", "Dense(in_features=5, out_features=3)"),
    ([dn.Sigmoid(), dn.Dropout(0.1), dn.Dropout(0.1)], dn.BCEWithLogitsLoss(), "probabilities", "Sigmoid()"),
], ids=["softmax-dropout-ce", "dense-dropout-nll", "sigmoid-dropouts-bce-logits"])
def test_a_dropout_after_the_last_outputs_does_not_hide_their_kind(end, loss, kind, source):
    """A Dropout keeps what its inputs are (at inference it is the identity): the outputs
    are the kind of the last module before it that says."""
    model = _classifier(end)
    X = np.random.default_rng(0).normal(size=(24, 4))
    after = ", ".join(repr(module) for module in end if isinstance(module, dn.Dropout))
    with pytest.warns(UserWarning, match=rf"the model ends in {re.escape(source)}, whose outputs are {kind} "
                                         rf"\({re.escape(after)} after it keeps? their kind\)"):
        model.fit(X, _targets(loss, 3), loss=loss, optimizer=dn.SGD(0.1), epochs=1, batch_size=8)


@pytest.mark.parametrize(("end", "loss"), [
    ([], dn.CrossEntropyLoss()), ([dn.LogSoftmax()], dn.CrossEntropyLoss()),
    ([dn.LogSoftmax()], dn.NLLLoss()), ([], dn.BCEWithLogitsLoss()), ([dn.Sigmoid()], dn.BCELoss()),
    ([dn.Softmax()], dn.BCELoss()),
    ([dn.Sigmoid()], dn.MSELoss()), ([dn.Softmax()], dn.MSELoss()), ([dn.ReLU()], dn.CrossEntropyLoss()),
], ids=["dense-ce", "log-softmax-ce", "log-softmax-nll", "dense-bce-logits", "sigmoid-bce", "softmax-bce",
        "sigmoid-mse", "softmax-mse", "relu-ce"])
def test_outputs_a_loss_is_meant_for_train_without_a_warning(end, loss):
    """(A LogSoftmax's outputs are logits too: their softmax is the probabilities.)"""
    model = _classifier(end)
    X = np.random.default_rng(0).normal(size=(24, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, _targets(loss, 3), loss=loss, optimizer=dn.SGD(0.1), epochs=1, batch_size=8)


@pytest.mark.parametrize("optimizer", [dn.SGD(0.1), dn.LBFGS()], ids=["sgd", "lbfgs"])
def test_outputs_outside_what_the_loss_takes_are_named_as_the_divergence_s_cause(optimizer):
    """BCELoss after a Dense layer: its log of a negative output is NaN at the first step.
    That is not a learning rate too large, and the error says what it is. (The outputs are
    made negative: on outputs in [0, 1] and some outside, L-BFGS's line search may step
    back into [0, 1] and train on.) Finding it, fit runs the batch's forward pass once more:
    the running statistics and the generator stay as the step before left them."""
    drop = [] if optimizer.full_batch else [dn.Dropout(0.2)]
    model = dn.Sequential(dn.Dense(4, 5), dn.BatchNorm1d(5), dn.Tanh(), *drop, dn.Dense(5, 1), seed=0)
    model[-1].b[...] = -2.0
    X = np.random.default_rng(0).normal(size=(24, 4))
    y = _targets(dn.BCELoss(), 1)
    before, state, drawn = snapshot(model), model.state.copy(), model.rng.bit_generator.state
    cause = (r"epoch 0, batch 0: the loss became non-finite on outputs it does not take \(BCELoss: the "
             r"model's outputs must lie in \[0, 1\]; \d+ value\(s\) do not, the first -")
    warned = pytest.warns(UserWarning, match=r"BCELoss\(\) is meant for probabilities, but the model ends in "
                                             r"Dense")
    with pytest.raises(dn.DivergenceError, match=cause) as caught, warned:  # (warned of first)
        model.fit(X, y, loss=dn.BCELoss(), optimizer=optimizer, epochs=3, batch_size=8, shuffle=False)
    message = str(caught.value)
    assert "smaller learning rate" not in message
    assert "BCEWithLogitsLoss" in message
    assert isinstance(caught.value.__cause__, ValueError)
    assert_array_equal(model.params, before[0])
    assert_array_equal(model.state, state)
    assert model.rng.bit_generator.state == drawn


def test_a_divergence_on_outputs_the_loss_takes_still_points_to_the_learning_rate():
    """(MSELoss at a rate of 1e100: the weights overflow.)"""
    model = _classifier([], outputs=1)
    X = np.random.default_rng(0).normal(size=(24, 4))
    with pytest.raises(dn.DivergenceError, match="became non-finite .*smaller learning rate") as caught:
        model.fit(X, _targets(dn.BCELoss(), 1), loss=dn.MSELoss(), optimizer=dn.SGD(1e100), epochs=3)
    assert caught.value.__cause__ is None
