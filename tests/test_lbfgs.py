"""LBFGS: full-batch training through scipy.optimize, from fit."""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import OptimizeResult

import densenet as dn

from .conftest import mlp, snapshot


def tutorial_network():
    return dn.tutorial.network(dn.tutorial.initial_params(0))


def test_lbfgs_fits_the_tutorial_with_one_history_entry_per_iteration():
    epochs_seen = []

    class Spy(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs_seen.append((epoch, logs["loss"], self.model.evaluate(dn.tutorial.X, dn.tutorial.y)))

    model, lbfgs = tutorial_network(), dn.LBFGS()
    history = model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=lbfgs, epochs=200, callbacks=[Spy()])
    assert 1 < history.epochs < 200
    assert lbfgs.steps == history.epochs  # converged early
    assert history.loss[-1] < 1e-6 < history.loss[0]
    assert [e[0] for e in epochs_seen] == list(range(history.epochs))
    for _, logged, at_the_iterate in epochs_seen:  # each entry is the loss at that iterate
        assert_allclose(logged, at_the_iterate, rtol=1e-12)
    assert_allclose(model.evaluate(dn.tutorial.X, dn.tutorial.y), history.loss[-1], rtol=1e-12)
    sgd = tutorial_network()
    sgd_history = sgd.fit(dn.tutorial.X, dn.tutorial.y, epochs=history.epochs, batch_size=1, shuffle=False)
    assert history.loss[-1] < sgd_history.loss[-1] / 1000


def test_batch_size_only_bounds_the_rows_evaluated_at_a_time():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.uniform(size=(50, 2))
    whole, chunked = mlp((3, 6, 2), seed=1), mlp((3, 6, 2), seed=1)
    whole.fit(X, y, optimizer=dn.LBFGS(), epochs=15, batch_size=50)
    chunked.fit(X, y, optimizer=dn.LBFGS(), epochs=15, batch_size=7)
    assert_allclose(chunked.params, whole.params, rtol=1e-9, atol=1e-12)


def test_early_stopping_and_validation_work_with_lbfgs():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (60, 1))
    y = np.sin(3 * X) + rng.normal(0, 0.3, X.shape)
    model = mlp((1, 32, 1), seed=0)
    stop = dn.EarlyStopping(patience=3)
    history = model.fit(X[:30], y[:30], optimizer=dn.LBFGS(), epochs=500, loss=dn.MSELoss(),
                        validation_data=(X[30:], y[30:]), callbacks=[stop])
    assert history.stopped_early
    assert history.epochs < 500
    assert history.val_loss.shape == history.loss.shape
    assert_allclose(model.evaluate(X[30:], y[30:]), history.val_loss.min(), rtol=1e-12)  # best restored


def test_divergence_keeps_the_last_finite_weights():
    X, y = np.array([[1e150], [1.0]]), np.array([[0.0], [1.0]])
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    before = snapshot(model)
    with pytest.raises(dn.DivergenceError, match="epoch 0, batch 0") as caught:
        model.fit(X, y, optimizer=dn.LBFGS(), epochs=10)
    assert caught.value.history.epochs == 0
    assert not caught.value.at_start  # (its loss at the start is finite: 1e298 at most)
    assert_array_equal(model.params, before[0])


def test_an_iterate_with_a_finite_loss_but_infinite_weights_is_a_divergence():
    """Sigmoid outputs stay finite when a weight is infinite, and so does the loss: the
    weights are checked too, and the last finite iterate is put back."""

    class Wild(dn.LBFGS):
        def minimize(self, objective, params, iterations, callback=None):
            try:
                callback(params + 0.5, 0.25)  # a good iterate
                callback(np.full_like(params, np.inf), 0.25)  # weights gone, the loss still finite
            except StopIteration:  # the callback's way to stop, as SciPy's minimize takes it
                return OptimizeResult(fun=0.25)
            raise AssertionError("fit did not stop at the second iterate")

    model = dn.Sequential(dn.Dense(1, 1), dn.Sigmoid(), seed=0)
    first = model.params + 0.5
    with pytest.raises(dn.DivergenceError, match="epoch 1, batch 0") as caught:
        model.fit(np.array([[1.0], [2.0]]), np.array([[0.0], [1.0]]), optimizer=Wild(), epochs=5)
    assert caught.value.history.epochs == 1
    assert not caught.value.at_start
    assert not caught.value.epoch_start  # (the last iterate, not a start of its own)
    assert_array_equal(model.params, first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lbfgs_trains_float32_and_float64_models(dtype):
    model = dn.Sequential(dn.Dense(2, 4), dn.Tanh(), dn.Dense(4, 1), dtype=dtype, seed=0)
    history = model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=dn.LBFGS(), epochs=50)
    assert model.params.dtype == dtype
    assert history.loss[-1] < 1e-4


def test_lbfgs_is_not_stepped_and_checks_its_arguments():
    with pytest.raises(TypeError, match=r"LBFGS minimises the whole objective at once: use it through fit"):
        dn.LBFGS().step(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="LBFGS history_size must be an integer >= 1, got 0"):
        dn.LBFGS(history_size=0)
    with pytest.raises(ValueError, match=r"LBFGS: invalid tolerance_grad -1\.0"):
        dn.LBFGS(tolerance_grad=-1.0)
    with pytest.raises(ValueError, match="LBFGS max_eval must be None or an integer >= 1, got 0"):
        dn.LBFGS(max_eval=0)
    with pytest.raises(ValueError, match=r"LBFGS: invalid weight_decay -0\.1"):
        dn.LBFGS(weight_decay=-0.1)


def test_lbfgs_has_no_learning_rate_to_set():
    """Its line searches choose each step's length: a rate set on it would change nothing,
    so setting one is refused rather than lost (1.0, what it reports and saves, is taken)."""
    lbfgs = dn.LBFGS()
    assert lbfgs.lr == 1.0
    for rate in (0.5, 2.0):
        with pytest.raises(TypeError, match=rf"LBFGS has no learning rate to set \(got lr={rate}\): its "
                                            "line searches choose each step's length"):
            lbfgs.lr = rate
        assert lbfgs.lr == 1.0
    with pytest.raises(ValueError, match="learning rate"):  # not a rate at all: the usual check
        lbfgs.lr = -1.0
    lbfgs.lr = 1.0
    assert lbfgs.lr == 1.0


def test_a_file_holding_a_rate_that_an_earlier_version_let_a_schedule_set_still_loads():
    """Before, a schedule could set an LBFGS's rate (to no effect) and ``save`` wrote it: such
    a file loads, its rate, which nothing used, left out."""
    model = mlp((2, 3, 1), seed=0)
    lbfgs = dn.LBFGS()
    model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=lbfgs, epochs=3)
    written = io.BytesIO()
    model.save(written, optimizer=lbfgs)
    arrays = dict(np.load(io.BytesIO(written.getvalue())))
    config = json.loads(str(arrays["config"]))
    assert config["optimizer"]["lr"] == 1.0
    config["optimizer"]["lr"] = 0.5  # (what ReduceLROnPlateau once left there)
    arrays["config"] = np.array(json.dumps(config))
    older = io.BytesIO()
    np.savez(older, **arrays)
    older.seek(0)
    resumed = dn.LBFGS()
    loaded = dn.load(older, optimizer=resumed)
    assert_array_equal(loaded.params, model.params)
    assert resumed.steps == 3
    assert resumed.lr == 1.0


SCHEDULES = {
    "StepLR": lambda o: dn.StepLR(o, 2), "MultiStepLR": lambda o: dn.MultiStepLR(o, [2]),
    "ExponentialLR": lambda o: dn.ExponentialLR(o, 0.9), "LinearLR": lambda o: dn.LinearLR(o),
    "CosineLR": lambda o: dn.CosineLR(o, 5), "CosineRestartsLR": lambda o: dn.CosineRestartsLR(o, 5),
    "OneCycleLR": lambda o: dn.OneCycleLR(o, 1.0, cycle_momentum=False),
    "ReduceLROnPlateau": lambda o: dn.ReduceLROnPlateau(o, monitor="loss"),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_a_schedule_of_lbfgs_is_refused_when_it_is_made(name):
    """A schedule would set a rate nothing uses (the epoch schedules' on_epoch_end, the
    plateau's after its patience): refused before any training, not halfway through."""
    lbfgs = dn.LBFGS()
    with pytest.raises(ValueError, match=rf"{name} sets the learning rate of LBFGS\(.*\), which has none: "
                                         r"it minimises the whole objective itself \(full_batch\)"):
        SCHEDULES[name](lbfgs)
    assert lbfgs.lr == 1.0
    SCHEDULES[name](dn.SGD(0.1))  # (the same arguments make a schedule of an optimiser that steps)


@pytest.mark.parametrize("optimizer", [dn.SGD(0.1), dn.Adam()], ids=repr)
def test_an_optimizer_that_steps_has_no_minimize(optimizer):
    params = np.ones(3)
    with pytest.raises(TypeError, match=r"steps batch by batch \(full_batch is False\): it has no minimize"):
        optimizer.minimize(lambda w: (float(w @ w), 2 * w), params, 5)
    np.testing.assert_array_equal(params, np.ones(3))


def test_the_result_says_how_the_last_minimisation_ended():
    """Converged, or stopped by the iterations fit gave it: SciPy's status and message,
    without the arrays (the iterate and the curvature pairs, the model's size ten times)."""
    X, y = dn.tutorial.X, dn.tutorial.y
    lbfgs = dn.LBFGS()
    assert lbfgs.result is None
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    model.fit(X, y, optimizer=lbfgs, epochs=3)
    assert (lbfgs.result.status, lbfgs.result.nit, lbfgs.result.success) == (1, 3, False)
    assert "ITERATIONS" in lbfgs.result.message
    assert lbfgs.result.nfev >= 3
    assert set(lbfgs.result) == {"success", "status", "message", "nit", "nfev", "fun"}
    model.fit(X, y, optimizer=lbfgs, epochs=10_000)
    assert (lbfgs.result.status, lbfgs.result.success) == (0, True)
    assert lbfgs.result.nit < 10_000
    assert lbfgs.result.fun == pytest.approx(model.evaluate(X, y), rel=1e-9)
    assert copy.deepcopy(lbfgs).result == lbfgs.result


def test_lbfgs_defaults_are_the_documented_ones(monkeypatch):
    seen = {}

    def spy(fun, x0, **kwargs):
        seen.update(kwargs["options"])
        return OptimizeResult(x=x0, fun=0.0, success=True)

    monkeypatch.setattr("scipy.optimize.minimize", spy)
    dn.LBFGS().minimize(lambda w: (0.0, 0 * w), np.zeros(3), 5)
    assert seen == {"maxiter": 5, "maxcor": 10, "gtol": 1e-7, "ftol": 1e-12}


def test_max_eval_bounds_the_evaluations():
    """SciPy's ``maxfun``: it stops the run once that many evaluations are spent (it may
    finish the line search it is in); without it the same run takes more."""
    counts = []

    def rosenbrock(w):
        counts[-1] += 1
        x, y = w
        value = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        return value, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])

    for max_eval in (None, 10):
        counts.append(0)
        result = dn.LBFGS(max_eval=max_eval).minimize(rosenbrock, np.array([-1.2, 1.0]), 1000)
    assert result.success is False
    assert counts[1] <= 12 < counts[0]
    assert "EVALUATIONS EXCEEDS LIMIT" in str(result.message)


def test_weight_decay_adds_its_l2_penalty_to_what_lbfgs_minimises():
    """``weight_decay`` wd minimises ``f(w) + wd/2 |w|^2`` (the penalty whose gradient the
    stepping optimisers add, ``wd w``): for ``f = |w - a|^2`` the minimum is at
    ``2a / (2 + wd)``. The callback sees ``f`` alone, as ``History`` shows the loss
    without the decay."""
    a = np.array([3.0, -4.0, 0.5])
    seen = []
    params = np.zeros(3)
    dn.LBFGS(weight_decay=0.5).minimize(lambda w: (float((w - a) @ (w - a)), 2 * (w - a)), params, 100,
                                        lambda w, value: seen.append((w.copy(), value)))
    np.testing.assert_allclose(params, 2 * a / 2.5, rtol=1e-7)
    for w, value in seen:
        assert value == pytest.approx(float((w - a) @ (w - a)), rel=1e-12, abs=1e-15)


def test_a_fit_with_weight_decay_ends_where_the_penalised_gradient_vanishes():
    X, y = dn.tutorial.X, dn.tutorial.y
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    history = model.fit(X, y, optimizer=dn.LBFGS(weight_decay=0.1), epochs=500)
    loss = dn.MSELoss()
    assert history.loss[-1] == pytest.approx(model.evaluate(X, y), rel=1e-12)  # the loss alone
    loss.forward(model.forward(X), y)
    model.backward(loss.backward(), input_grad=False)
    assert np.abs(model.grads + 0.1 * model.params).max() < 1e-6
    assert np.abs(model.grads).max() > 1e-3  # the data's gradient alone does not vanish there


def test_a_loss_refusing_the_outputs_of_any_chunk_is_named_in_the_divergence_error():
    """The refusal is looked for in every chunk of rows, each computed again at the last good
    weights: here the first chunk's outputs lie outside BCELoss's [0, 1], the last's inside."""
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    model[0].W[...], model[0].b[...] = 1.0, 0.0
    X, y = np.array([[5.0], [0.5]]), np.array([[1.0], [0.0]])
    refused = r"does not take \(BCELoss: .* the first 5\.0 at index \(0, 0\)"
    with pytest.warns(UserWarning, match="is meant for probabilities"), \
            pytest.raises(dn.DivergenceError, match=refused):
        model.fit(X, y, loss=dn.BCELoss(), optimizer=dn.LBFGS(), epochs=5, batch_size=1)
    assert model[0].W == 1.0
    assert model[0].b == 0.0
