"""BatchNorm1d: its statistics, training and inference modes, its state in copies and
files, what fit does with it, and PyTorch's autograd and optimisers."""

from __future__ import annotations

import copy
import io
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal, assert_array_max_ulp

import densenet as dn

from .conftest import (
    COPIES,
    LookAround,
    copied,
    diverge_beside_a_recording_copy,
    forward_into_a_strided_output,
)
from .torch_twin import (
    assert_mse_gradients_equal_pytorch,
    torch_fit,
    torch_flat_params,
    torch_flat_state,
    torch_twin,
)


def normalised(dtype=np.float64, seed=0, momentum=0.1, affine=True):
    """Two BatchNorm1d; with ``affine=False`` the first has no parameters (the second keeps them)."""
    return dn.Sequential(dn.Dense(5, 16), dn.BatchNorm1d(16, momentum=momentum, affine=affine), dn.ReLU(),
                         dn.Dense(16, 8), dn.BatchNorm1d(8), dn.Tanh(), dn.Dense(8, 3), dtype=dtype,
                         seed=seed)


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal((n, 5)) + 1, rng.standard_normal((n, 3))


def randomised(model, seed=1):
    """``model`` with random scales, shifts and running statistics (not their starts)."""
    rng = np.random.default_rng(seed)
    for module in model:
        if module.batch_statistics:
            size = module.num_features
            if module.affine:
                module.gamma, module.beta = rng.uniform(0.5, 2, size), rng.standard_normal(size)
            module.running_mean, module.running_var = rng.standard_normal(size), rng.uniform(0.5, 2, size)
            if module.momentum is None:  # as if some batches had been counted
                module.num_batches_tracked = 5
    return model


# -- what it computes --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_normalises_by_the_batch_and_updates_the_running_statistics(dtype):
    norm = dn.BatchNorm1d(4, momentum=0.25)
    model = dn.Sequential(norm, dtype=dtype, seed=0)
    randomised(model)
    start = (norm.gamma, norm.beta, norm.running_mean, norm.running_var)
    gamma, beta, mean0, var0 = (a.copy() for a in start)
    X = (np.random.default_rng(0).standard_normal((10, 4)) * [1, 2, 3, 4] + [0, 1, -1, 5]).astype(dtype)
    Y = model.forward(X)
    mean, var = X.astype(np.float64).mean(axis=0), X.astype(np.float64).var(axis=0)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    assert_allclose(Y, gamma * (X - mean) / np.sqrt(var + 1e-5) + beta, rtol=tol, atol=tol)
    assert_allclose(norm.running_mean, 0.75 * mean0 + 0.25 * mean, rtol=tol, atol=tol)
    assert_allclose(norm.running_var, 0.75 * var0 + 0.25 * var * 10 / 9, rtol=tol)  # unbiased there
    assert Y.dtype == norm.running_mean.dtype == dtype


@pytest.mark.parametrize("dtype, value", [(np.float32, 1e5), (np.float32, 1e8), (np.float64, 0.1),
                                          (np.float64, 1e15 + 0.5)])
def test_a_feature_of_equal_values_in_a_batch_normalises_to_beta_exactly(dtype, value):
    """The batch's mean was summed and scaled with rounding, so a feature of equal values
    was centred to rounding noise, which dividing by the root of a small variance then
    magnified (0.4 for a float32 feature of 1e5; PyTorch's output is beta, its variance 0)."""
    norm = dn.BatchNorm1d(2)
    model = dn.Sequential(norm, dtype=dtype, seed=0)
    randomised(model)
    var0 = norm.running_var.copy()
    rng = np.random.default_rng(3)
    X = np.column_stack([np.full(7, value), rng.standard_normal(7)]).astype(dtype)
    G = rng.standard_normal((7, 2)).astype(dtype)
    Y = model.forward(X)
    dX = model.backward(G)
    assert_array_equal(Y[:, 0], np.full(7, norm.beta[0]))
    assert norm.running_var[0] == dtype(0.9) * var0[0]  # a variance of 0 blended in
    inv = 1 / np.sqrt(np.float64(dtype(1e-5)))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert_allclose(dX[:, 0], norm.gamma[0] * inv * (G[:, 0] - G[:, 0].mean()), rtol=tol, atol=0)


@pytest.mark.parametrize("momentum", [0.001, 0.01, 0.9, None])
def test_float32_running_statistics_of_batches_of_one_statistic_stay_at_it(momentum):
    """``momentum`` and ``1 - momentum`` rounded to float32 apart do not add up to 1, so the
    running statistics of batches that are all alike drifted off theirs: 112 ulps of the
    mean after 5,000 batches at momentum 0.001, 36 for the plain average (``momentum=None``,
    shares ``1 / k``), as PyTorch's do. Now the larger share is taken as float32 holds it and
    the other is 1 less that: within 4 ulps."""
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((16, 32)) * rng.uniform(0.5, 3, 32) + rng.uniform(-5, 5, 32)).astype(np.float32)
    norm = dn.BatchNorm1d(32, momentum=momentum)
    model = dn.Sequential(norm, dtype=np.float32, seed=0).train()
    if momentum is not None:
        norm.momentum = 1.0
        model.forward(X)  # (the running statistics those of the batch)
        norm.momentum = momentum
    for _ in range(5000):
        model.forward(X)
    wide = X.astype(np.float64)
    assert_array_max_ulp(norm.running_mean, wide.mean(axis=0).astype(np.float32), maxulp=8)
    assert_array_max_ulp(norm.running_var, wide.var(axis=0, ddof=1).astype(np.float32), maxulp=8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inference_normalises_by_the_running_statistics_and_changes_nothing(dtype):
    model = randomised(normalised(dtype))
    norm = model[1]
    X, _ = data()
    X = X.astype(dtype)
    state = model.state.copy()
    Y = model.predict(X)
    assert_array_equal(model.state, state)
    hidden = X @ model[0].W + model[0].b
    expected = norm.gamma * (hidden - norm.running_mean) / np.sqrt(norm.running_var + norm.eps) + norm.beta
    Z = np.tanh(model[4].gamma * (np.maximum(expected, 0) @ model[3].W + model[3].b - model[4].running_mean)
                / np.sqrt(model[4].running_var + 1e-5) + model[4].beta)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(Y, Z @ model[6].W + model[6].b, rtol=tol, atol=tol)
    # one row infers as in any batch: the rows are independent at inference
    assert_allclose(model.predict(X[:1]), Y[:1], rtol=tol, atol=tol)


def test_eval_mode_forward_is_predict_and_training_mode_forward_is_not():
    model = randomised(normalised())
    X, _ = data()
    predicted = model.predict(X)
    assert_array_equal(model.eval().forward(X), predicted)
    state = model.state.copy()
    trained = model.train().forward(X)
    assert not np.allclose(trained, predicted)
    assert not np.array_equal(model.state, state)  # a training pass moves the running statistics


def test_a_training_batch_of_one_is_refused_and_inference_takes_one():
    model = randomised(normalised())
    X, _ = data()
    before, state = model.params.copy(), model.state.copy()
    with pytest.raises(ValueError, match=r"BatchNorm1d\(num_features=16\): a training batch needs at least"):
        model.forward(X[:1])
    assert_array_equal(model.params, before)
    assert_array_equal(model.state, state)
    assert model.eval().forward(X[:1]).shape == (1, 3)
    assert_array_equal(model.state, state)


def test_a_module_on_its_own_trains_on_its_own_statistics():
    norm = dn.BatchNorm1d(3)
    X = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 5.0, 2.0]])
    Y = norm.forward(X)
    assert_allclose(Y.mean(axis=0), 0, atol=1e-15)
    assert_allclose(norm.running_mean, 0.1 * X.mean(axis=0))
    dX = norm.backward(np.ones_like(Y))  # a constant dY: normalising removes it all
    assert_allclose(dX, 0, atol=1e-12)
    assert_allclose(norm.dbeta, 3.0)
    with pytest.raises(ValueError, match="at least 2"):
        norm.forward(X[:1])


def test_the_defaults_and_parameters_are_pytorchs():
    norm = dn.BatchNorm1d(4)
    assert (norm.eps, norm.momentum, norm.affine) == (1e-5, 0.1, True)
    assert_array_equal(norm.gamma, 1.0)
    assert_array_equal(norm.beta, 0.0)
    assert_array_equal(norm.running_mean, 0.0)
    assert_array_equal(norm.running_var, 1.0)
    assert norm.param_shapes() == norm.state_shapes() == ((4,), (4,))
    assert repr(norm) == "BatchNorm1d(num_features=4)"
    other = dn.BatchNorm1d(2, eps=1e-3, momentum=0.5)
    assert repr(other) == "BatchNorm1d(num_features=2, eps=0.001, momentum=0.5)"
    assert norm.batch_statistics
    assert not norm.random
    plain = dn.BatchNorm1d(3, affine=False)
    assert plain.param_shapes() == ()
    assert plain.n_params == 0
    assert plain.state_shapes() == ((3,), (3,))
    assert repr(plain) == "BatchNorm1d(num_features=3, affine=False)"
    assert not hasattr(plain, "gamma")
    assert not hasattr(plain, "dbeta")
    assert type(plain)(**plain.config()).affine is False


def test_without_affine_the_output_is_the_normalised_input():
    X = np.array([[1.0, 2.0], [3.0, 7.0], [0.0, 1.0]])
    model = dn.Sequential(dn.BatchNorm1d(2, affine=False), seed=0)
    assert model.params.size == 0
    assert_allclose(model.forward(X), (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0) + 1e-5), rtol=1e-14)
    assert_allclose(model.eval().forward(X), (X - 0.1 * X.mean(axis=0)) / np.sqrt(
        0.9 + 0.1 * X.var(axis=0, ddof=1) + 1e-5), rtol=1e-14)


def test_the_summary_counts_the_state_apart_from_the_parameters():
    lines = normalised().summary().splitlines()
    assert lines[2].split()[-1] == "32"  # gamma and beta: parameters
    assert lines[-1] == "total: 307 parameters, float64, 2456 bytes; 48 state values (not trained)"
    assert "state" not in dn.Sequential(dn.Dense(2, 1), seed=0).summary()


def test_reset_parameters_starts_the_running_statistics_again():
    model = randomised(normalised())
    model.reset_parameters(0)
    assert_array_equal(model.state, normalised().state)
    assert_array_equal(model[1].gamma, 1.0)


@pytest.mark.parametrize("name, value, error", [
    ("num_features", 0, ValueError), ("num_features", 2.5, TypeError), ("num_features", True, TypeError),
    ("eps", 0.0, ValueError), ("eps", -1e-5, ValueError), ("eps", float("inf"), ValueError),
    ("eps", float("nan"), ValueError), ("eps", "1e-5", TypeError),
    ("momentum", -0.1, ValueError), ("momentum", 1.5, ValueError), ("momentum", float("nan"), ValueError),
    ("momentum", "0.1", TypeError), ("momentum", True, TypeError), ("affine", "yes", TypeError),
    ("affine", 1, TypeError),
])
def test_bad_arguments_are_refused_by_name(name, value, error):
    arguments = {"num_features": 3, name: value}
    with pytest.raises(error, match=name):
        dn.BatchNorm1d(**arguments)
    if name in ("eps", "momentum"):  # a setter refuses it the same way, and keeps the old value
        norm = dn.BatchNorm1d(3, eps=1e-3, momentum=0.2)
        with pytest.raises(error, match=name):
            setattr(norm, name, value)
        assert (norm.eps, norm.momentum) == (1e-3, 0.2)


def test_setting_eps_and_momentum_changes_the_plans_already_made():
    model = dn.Sequential(dn.BatchNorm1d(2), seed=0)
    X = np.array([[0.0, 1.0], [2.0, 5.0]])
    model.forward(X)
    model.state[...] = [0, 0, 1, 1]
    model[0].momentum, model[0].eps = 0.5, 1.0
    Y = model.forward(X)
    assert_allclose(model[0].running_mean, 0.5 * X.mean(axis=0))
    assert_allclose(Y, (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0) + 1.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_momentum_none_averages_every_training_batch(dtype):
    norm = dn.BatchNorm1d(3, momentum=None)
    model = dn.Sequential(norm, dtype=dtype, seed=0)
    assert norm.state_shapes() == ((3,), (3,), ())
    assert norm.num_batches_tracked.shape == ()
    assert np.shares_memory(norm.num_batches_tracked, model.state)
    assert norm.num_batches_tracked == 0
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((n, 3)) * [1, 2, 3] + [0, 1, -1]).astype(dtype) for n in (4, 9, 2, 6)]
    for k, X in enumerate(batches, start=1):
        model.forward(X)
        assert norm.num_batches_tracked == k
        wide = [b.astype(np.float64) for b in batches[:k]]
        tol = 1e-14 if dtype == np.float64 else 1e-6
        means, variances = [b.mean(axis=0) for b in wide], [b.var(axis=0, ddof=1) for b in wide]
        assert_allclose(norm.running_mean, np.mean(means, axis=0), rtol=tol, atol=tol)
        assert_allclose(norm.running_var, np.mean(variances, axis=0), rtol=tol)
    state = model.state.copy()
    model.predict(batches[0])  # inference counts nothing
    model.eval().forward(batches[0])
    assert_array_equal(model.state, state)


def test_a_counting_module_switches_between_momentum_and_the_average():
    norm = dn.BatchNorm1d(2, momentum=None)
    model = dn.Sequential(norm, seed=0)
    X1, X2, X3 = (np.array([[0.0, 1.0], [2.0, 5.0]]) + k for k in (0.0, 1.0, 3.0))
    model.forward(X1)
    norm.momentum = 0.5  # the count goes on, and momentum weighs the batch
    model.forward(X2)
    assert norm.num_batches_tracked == 2
    assert_allclose(norm.running_mean, 0.5 * X1.mean(axis=0) + 0.5 * X2.mean(axis=0))
    norm.momentum = None  # the third batch weighs a third
    model.forward(X3)
    assert norm.num_batches_tracked == 3
    assert norm.momentum is None
    before = (X1.mean(axis=0) + X2.mean(axis=0)) / 2
    assert_allclose(norm.running_mean, (2 / 3) * before + X3.mean(axis=0) / 3)
    assert repr(norm) == "BatchNorm1d(num_features=2, momentum=None)"
    assert type(norm)(**norm.config()).state_shapes() == norm.state_shapes()


def test_momentum_none_on_a_module_made_with_a_number_is_refused_by_name():
    model = dn.Sequential(dn.BatchNorm1d(2, momentum=0.2), seed=0)
    state = model.state.copy()
    with pytest.raises(TypeError, match=r"BatchNorm1d\(num_features=2, momentum=0.2\): momentum None .* "
                                        r"BatchNorm1d\(\.\.\., momentum=None\)"):
        model[0].momentum = None
    assert model[0].momentum == 0.2
    assert not hasattr(model[0], "num_batches_tracked")
    model.forward(np.array([[0.0, 1.0], [2.0, 5.0]]))
    assert_allclose(model[0].running_mean, 0.2 * np.array([1.0, 3.0]))
    assert model.state.shape == state.shape


def test_running_statistics_estimated_again_after_training():
    """PyTorch's way of estimating them afresh for trained weights: reset, momentum None,
    a training pass over each batch of the data; the running mean is then the batches'."""
    X, y = data(64)
    model = normalised(momentum=None)
    model[1].momentum = 0.1
    model.fit(X, y, optimizer=dn.Adam(1e-2), epochs=3, batch_size=16)
    params = model.params.copy()
    norm = model[1]
    assert norm.num_batches_tracked == 12
    assert not np.array_equal(norm.gamma, 1.0)
    norm.reset_running_stats()
    assert_array_equal(norm.running_mean, 0.0)
    assert_array_equal(norm.running_var, 1.0)
    assert norm.num_batches_tracked == 0
    assert_array_equal(model.params, params)  # gamma and beta kept
    norm.momentum = None
    for start in range(0, 64, 16):
        model.forward(X[start:start + 16])
    hidden = X @ model[0].W + model[0].b
    means = [hidden[start:start + 16].mean(axis=0) for start in range(0, 64, 16)]
    assert_allclose(norm.running_mean, np.mean(means, axis=0), rtol=1e-12, atol=1e-15)
    assert norm.num_batches_tracked == 4
    assert_array_equal(model.params, params)  # forward passes train nothing


def test_widths_must_match():
    with pytest.raises(ValueError, match=r"BatchNorm1d\(num_features=4\) at index 1 expects 4 input"):
        dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(4))
    model = dn.Sequential(dn.BatchNorm1d(3), dn.Dense(3, 1), seed=0)  # it may come first: it fixes the width
    with pytest.raises(ValueError, match="expects 3 features"):
        model.predict(np.zeros((2, 4)))


# -- PyTorch ------------------------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.3, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_values_gradients_and_running_statistics_equal_pytorch_autograd(training, affine, momentum):
    pytest.importorskip("torch")
    model = randomised(normalised(momentum=momentum, affine=affine)).train(training)
    net = torch_twin(model)
    assert_mse_gradients_equal_pytorch(model, net, *data())
    assert_allclose(model.state, torch_flat_state(net), rtol=1e-10)


@pytest.mark.parametrize("which", ["sgd", "momentum", "adam", "adam-without-affine", "sgd-cumulative"])
def test_a_fit_follows_pytorchs_training_loop(which):
    """Four epochs of four batches: every parameter and running statistic as in PyTorch's
    loop with its optimiser, train mode for the steps (batch statistics)."""
    torch = pytest.importorskip("torch")
    model = normalised(seed=2, affine=which != "adam-without-affine",
                       momentum=None if which.endswith("cumulative") else 0.1)
    which = which.split("-")[0]
    net = torch_twin(model)
    X, y = data(64)
    optimizer, theirs = {"sgd": (dn.SGD(0.1), torch.optim.SGD(net.parameters(), lr=0.1)),
                         "momentum": (dn.SGD(0.05, momentum=0.9, weight_decay=1e-3),
                                      torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9,
                                                      weight_decay=1e-3)),
                         "adam": (dn.Adam(1e-2), torch.optim.Adam(net.parameters(), lr=1e-2))}[which]
    history = model.fit(X, y, optimizer=optimizer, epochs=4, batch_size=16, shuffle=False,
                        validation_data=(X, y))
    torch_fit(net, theirs, X, y, 4, 16)
    x, t = torch.tensor(X), torch.tensor(y)
    # a bias just before a BatchNorm1d has a gradient of 0 in training, computed as rounding
    # noise of 1e-17, which Adam's update divides by its own size: those stay near 0 in both
    # (and the running means, which hold them, differ by as much)
    noise = biases_before_normalisation(model)
    theirs_params = torch_flat_params(net)
    drift = 1e-9 if which == "adam" else 1e-13
    assert_allclose(model.params[~noise], theirs_params[~noise], rtol=1e-10, atol=1e-13)
    assert_allclose(model.params[noise], 0, atol=drift)
    assert_allclose(theirs_params[noise], 0, atol=drift)
    assert_allclose(model.state, torch_flat_state(net), rtol=1e-10, atol=drift)
    with torch.no_grad():  # validation infers on the running statistics
        expected = torch.nn.functional.mse_loss(net.eval()(x), t).item()
    assert history.val_loss[-1] == pytest.approx(expected, rel=1e-10)


def biases_before_normalisation(model):
    """Which of ``model.params`` are the biases of Dense layers just before a BatchNorm1d."""
    marked = copy.deepcopy(model)
    marked.params[...] = 0
    for before, module in zip(marked, marked[1:]):
        if module.batch_statistics:
            before.b = 1
    return marked.params == 1


# -- fit ------------------------------------------------------------------------------------------

def test_fit_takes_batches_of_two():
    model = normalised()
    X, y = data(34)
    history = model.fit(X, y, optimizer=dn.Adam(0.01), epochs=3, batch_size=16)  # the last batch: 2 rows
    assert np.isfinite(history.loss).all()


@pytest.mark.parametrize("n, batch_size, why", [(32, 1, "batch_size=1"),
                                                (33, 8, "batch_size=8 on 33 samples"),
                                                (1, 4, "batch_size=4 on 1 samples")])
def test_fit_refuses_batches_of_one_before_any_change(n, batch_size, why):
    model = randomised(normalised())
    X, y = data(n)
    before, state, draws = model.params.copy(), model.state.copy(), model.rng.bit_generator.state
    refused = rf"BatchNorm1d\(num_features=16\) at index 1 .*{why} makes a batch of 1"
    with pytest.raises(ValueError, match=refused):
        model.fit(X, y, epochs=2, batch_size=batch_size)
    assert_array_equal(model.params, before)
    assert_array_equal(model.state, state)
    assert model.rng.bit_generator.state == draws


def test_lbfgs_chunks_are_its_batches():
    model = normalised()
    X, y = data(33)
    with pytest.raises(ValueError, match="batch_size=16 on 33 samples makes a batch of 1"):
        model.fit(X, y, optimizer=dn.LBFGS(), epochs=5, batch_size=16)
    history = model.fit(X, y, optimizer=dn.LBFGS(), epochs=20, batch_size=33)
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert np.isfinite(model.state).all()


def test_batch_normalisation_trains_a_deep_sigmoid_network_that_stalls_without_it():
    """The recipe's limit: a depth-6 sigmoid/MSE/SGD network on two moons predicts one class;
    with a BatchNorm1d before each sigmoid the same recipe learns it."""
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, np.pi, 200)
    upper = rng.random(200) < 0.5
    X = np.where(upper[:, None], np.c_[np.cos(angle), np.sin(angle)],
                 np.c_[1 - np.cos(angle), 0.5 - np.sin(angle)]) + rng.normal(0, 0.1, (200, 2))
    y = upper.astype(float)[:, None]
    accuracies = {}
    for norm in (False, True):
        modules: list[dn.Module] = []
        for n_in, n_out in zip([2, 16, 16, 16, 16, 16], [16, 16, 16, 16, 16, 1]):
            modules.append(dn.Dense(n_in, n_out))
            if norm and n_out > 1:
                modules.append(dn.BatchNorm1d(n_out))
            modules.append(dn.Sigmoid())
        model = dn.Sequential(*modules, seed=0)
        model.fit(X, y, optimizer=dn.SGD(0.5), epochs=60, batch_size=16, seed=0)
        accuracies[norm] = np.mean((model.predict(X) > 0.5) == y)
    assert accuracies[False] < 0.6
    assert accuracies[True] > 0.85


def test_a_diverging_fit_puts_the_running_statistics_back_with_the_weights():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.standard_normal((64, 3))
    y[40:] *= 1e200  # the sixth batch makes the loss overflow
    model = normalised(seed=4)
    bad, after = diverge_beside_a_recording_copy(model, X, y, optimizer=dn.SGD(2.0), epochs=1, batch_size=8,
                                                 shuffle=False)
    assert bad >= 1
    assert_array_equal(model.params, after[bad - 1][0])
    assert_array_equal(model.state, after[bad - 1][1])


def test_early_stopping_restores_the_best_epochs_running_statistics():
    X, y = data(64)
    model = normalised()

    class Record(dn.Callback):
        def __init__(self):
            self.states = []

        def on_epoch_end(self, epoch, logs):
            self.states.append(self.model.state.copy())

    record, stop = Record(), dn.EarlyStopping(monitor="val_loss", patience=3)
    X_val, y_val = data(32, seed=5)
    model.fit(X, y, optimizer=dn.Adam(0.05), epochs=60, batch_size=16, validation_data=(X_val, y_val),
              callbacks=[record, stop])
    assert stop.stopped_epoch is not None
    assert stop.best_epoch < stop.stopped_epoch
    assert_array_equal(model.state, record.states[stop.best_epoch])


@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_passes_in_training_and_leaves_the_model(affine):
    model = randomised(normalised(affine=affine))
    X, y = data(12)
    params, state = model.params.copy(), model.state.copy()
    report = dn.gradcheck(model, X, y)
    assert report.ok, report
    assert_array_equal(model.params, params)
    assert_array_equal(model.state, state)


# -- copies, files, the ecosystem ------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("how", COPIES)
def test_a_copy_keeps_the_running_statistics_and_trains_alike(how, affine, momentum, tmp_path):
    model = normalised(affine=affine, momentum=momentum)
    X, y = data()
    model.fit(X, y, optimizer=dn.SGD(0.05), epochs=2, batch_size=8)
    twin = copied(model, how, tmp_path)
    assert_array_equal(twin.state, model.state)
    assert not np.array_equal(model.state, normalised().state)  # (they moved)
    assert np.shares_memory(twin[1].running_mean, twin.state)
    assert_array_equal(twin.predict(X), model.predict(X))
    model.fit(X, y, optimizer=dn.SGD(0.05), epochs=3, batch_size=8)
    twin.fit(X, y, optimizer=dn.SGD(0.05), epochs=3, batch_size=8)
    assert_array_equal(twin.params, model.params)
    assert_array_equal(twin.state, model.state)


def test_a_float32_clone_keeps_the_running_statistics():
    model = randomised(normalised())
    twin = model.clone(dtype=np.float32)
    assert twin.state.dtype == np.float32
    assert_array_equal(twin.state, model.state.astype(np.float32))


def test_the_state_is_one_vector_of_views_that_cannot_be_rebound():
    model = normalised()
    assert model.state.shape == (2 * 16 + 2 * 8,)
    for module in (model[1], model[4]):
        for name in ("running_mean", "running_var"):
            assert np.shares_memory(getattr(module, name), model.state)
    model[1].running_mean = np.arange(16.0)  # assigns into the view
    assert_array_equal(model.state[:16], np.arange(16.0))
    with pytest.raises(AttributeError, match="assign into it"):
        model.state = np.zeros(48)
    with pytest.raises(ValueError, match="running_var has shape"):
        model[1].running_var = np.ones(3)
    assert dn.Sequential(dn.Dense(2, 1), seed=0).state.shape == (0,)
    assert dn.Sigmoid().flat_state.shape == (0,)  # (a module on its own binds on first use)


def test_a_file_without_the_state_its_architecture_has_is_refused(tmp_path):
    from densenet import io as dn_io

    model = normalised()
    buffer = io.BytesIO()
    model.save(buffer)
    config, params, extra = dn_io.read(io.BytesIO(buffer.getvalue()))
    for state in ({}, {"state": np.zeros(3)}, {"state": model.state.astype(np.float32)}):
        path = tmp_path / "broken.npz"
        dn_io.write(path, config, params, state)
        with pytest.raises(ValueError, match="stores state as .*48 float64 state values"):
            dn.load(path)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_onnx_export_infers_on_the_running_statistics(dtype, affine):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from densenet.onnx import export

    model = randomised(normalised(dtype, affine=affine))
    X = data()[0].astype(dtype)
    proto = export(model)
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node].count("BatchNormalization") == 2
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (Y,) = session.run(None, {"X": X})
    tol = 1e-12 if dtype == np.float64 else 1e-5  # (about 100 ulps of the outputs)
    assert_allclose(Y, model.predict(X), rtol=tol, atol=tol)


def test_huge_inputs_infer_on_the_running_statistics():
    """Inputs beyond 2**511 take the model's rescaled path; a first module without a
    rescaled way of its own runs its passes there in the model's mode: predict infers."""
    model = randomised(dn.Sequential(dn.BatchNorm1d(2), dn.Dense(2, 1), dn.Sigmoid(), seed=0))
    X = np.array([[1e300, -1e300], [3.0, 4.0]])
    state = model.state.copy()
    Y = model.predict(X)
    assert_array_equal(model.state, state)
    assert_array_equal(Y[1:], model.predict(X[1:]))  # the rows are independent at inference
    assert np.isfinite(Y).all()
    dropping = dn.Sequential(dn.Dropout(0.5), dn.Dense(2, 1), seed=0)
    draws = dropping.rng.bit_generator.state
    assert_allclose(dropping.predict(X), X @ dropping[1].W + dropping[1].b, rtol=1e-15)  # no mask
    assert dropping.rng.bit_generator.state == draws


@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_it_plans_into_a_strided_output(training, affine, negate):
    """The planner may hand a module any output view (``Buffers.Y`` may be strided, as the
    next module's ``[X, 1]``): every row is written, nothing beside it; asked for minus its
    output (for a Sigmoid after it), it writes that, and says so."""
    norm = dn.BatchNorm1d(3, affine=affine)
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -0.5])
    if affine:
        norm.gamma, norm.beta = gamma, beta
    else:
        gamma, beta = 1.0, 0.0
    norm.running_mean, norm.running_var = [1.0, 0.0, -1.0], [4.0, 1.0, 0.25]
    X = np.array([[1.0, 2.0, 3.0], [3.0, -1.0, 0.0], [0.0, 0.5, 2.0], [2.0, 2.0, 2.0]])
    mean, var = (X.mean(axis=0), X.var(axis=0)) if training else (norm.running_mean, norm.running_var)
    expected = gamma * (X - mean) / np.sqrt(var + 1e-5) + beta
    out, passes = forward_into_a_strided_output(norm, X, training=training, state=norm.state_blocks(),
                                                negate_output=negate)
    assert passes.negated == negate
    assert_allclose(out[:, 1:4], -expected if negate else expected, rtol=1e-14)
    assert not out[:, [0, 4]].any()


def test_a_diverging_lbfgs_puts_back_the_last_good_iterates_running_statistics():
    """Every evaluation of the full-batch objective is a training pass, which moves the
    running statistics: on divergence they go back with the weights to the last good
    iterate's."""
    from scipy.optimize import OptimizeResult

    class Wild(dn.LBFGS):
        def minimize(self, objective, params, iterations, callback=None):
            start = params.copy()
            try:
                objective(start + 0.5)
                callback(start + 0.5, 0.25)  # a good iterate
                objective(start - 0.5)  # an evaluation after it
                callback(np.full_like(start, np.inf), 0.25)  # weights gone
            except StopIteration:
                return OptimizeResult(fun=0.25)
            raise AssertionError("fit did not stop at the second iterate")

    class Record(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.state = self.model.state.copy()

    model, record = normalised(), Record()
    X, y = data(16)
    with pytest.raises(dn.DivergenceError, match="epoch 1, batch 0"):
        model.fit(X, y, optimizer=Wild(), epochs=5, batch_size=16, callbacks=[record])
    assert_array_equal(model.state, record.state)


#: where a batch's variance overflows: hidden values of 1e20 in float32, 1e160 in float64
HUGE = {np.float32: 1e20, np.float64: 1e160}
STATE_GONE = (r"the running statistics of BatchNorm1d\(num_features=4\) at index 1 \(its running_var\) "
              r"became non-finite")


def _trained_on_sane_data(dtype):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 1))
    model = dn.Sequential(dn.Dense(3, 4), dn.BatchNorm1d(4), dn.Tanh(), dn.Dense(4, 1), dtype=dtype, seed=0)
    model.fit(X, y, optimizer=dn.Adam(0.01), epochs=2, batch_size=16, seed=0)
    return model, X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [lambda: dn.Adam(0.01), dn.LBFGS], ids=["adam", "lbfgs"])
def test_a_batch_variance_beyond_the_dtype_s_range_is_a_divergence_not_an_infinite_running_variance(
        dtype, optimizer):
    """A batch's variance that overflows (its features normalised to 0) would make the running
    variance inf for good, every later prediction a constant: a divergence, named."""
    model, X, y = _trained_on_sane_data(dtype)
    params, state = model.params.copy(), model.state.copy()
    with pytest.raises(dn.DivergenceError, match=rf"epoch 0, batch 0: {STATE_GONE}.*Scale the in") as caught:
        model.fit(X * HUGE[dtype], y, optimizer=optimizer(), epochs=3, batch_size=64)
    assert_array_equal(model.params, params)
    assert_array_equal(model.state, state)
    where = "BatchNorm1d(num_features=4) at index 1 (its running_var)"
    assert caught.value.state == where
    assert pickle.loads(pickle.dumps(caught.value)).state == where
    assert not caught.value.at_start


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_step_whose_batch_variance_overflows_is_named_and_the_steps_before_it_kept(dtype):
    model, X, y = _trained_on_sane_data(dtype)
    twin = model.clone()
    huge = X.copy()
    huge[48:] *= HUGE[dtype]
    with pytest.raises(dn.DivergenceError, match=rf"epoch 0, batch 3: {STATE_GONE}"):
        model.fit(huge, y, optimizer=dn.Adam(0.01), epochs=2, batch_size=16, shuffle=False)
    twin.fit(X[:48], y[:48], optimizer=dn.Adam(0.01), epochs=1, batch_size=16, shuffle=False)
    assert_array_equal(model.params, twin.params)
    assert_array_equal(model.state, twin.state)


def test_an_iterate_whose_weights_are_not_finite_is_laid_to_the_weights_whatever_the_state():
    from scipy.optimize import OptimizeResult

    class Gone(dn.LBFGS):
        def minimize(self, objective, params, iterations, callback=None):
            start = params.copy()
            objective(start * 1e25)  # (its running variance inf)
            try:
                callback(np.full_like(start, np.inf), 0.25)
            except StopIteration:
                return OptimizeResult(fun=0.25)
            raise AssertionError("fit did not stop at the iterate")

    model, X, y = _trained_on_sane_data(np.float32)
    state = model.state.copy()
    with pytest.raises(dn.DivergenceError, match="epoch 0, batch 0: the loss or the weights bec") as caught:
        model.fit(X, y, optimizer=Gone(), epochs=5, batch_size=64)
    assert caught.value.state is None
    assert_array_equal(model.state, state)


@pytest.mark.parametrize("value", [np.inf, np.nan])
@pytest.mark.parametrize("optimizer", [lambda: dn.Adam(0.01), dn.LBFGS], ids=["adam", "lbfgs"])
def test_running_statistics_that_are_not_finite_before_a_fit_are_refused_by_name(value, optimizer):
    """No training makes them finite again (the running variance (1 - m) inf + m v stays
    inf): refused before any change, with the way out, not laid to a step."""
    model, X, y = _trained_on_sane_data(np.float64)
    model[1].running_var[2] = value
    params, state = model.params.copy(), model.state.copy()
    match = (r"fit: the running statistics of BatchNorm1d\(num_features=4\) at index 1 \(its running_var\) "
             r"are not finite before any step.*reset_running_stats")
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, optimizer=optimizer(), epochs=2, batch_size=64)
    assert_array_equal(model.params, params)
    assert_array_equal(model.state, state)
    model[1].reset_running_stats()
    model.fit(X, y, optimizer=optimizer(), epochs=2, batch_size=64)
    assert np.isfinite(model.state).all()


def test_running_statistics_a_last_trial_point_makes_non_finite_are_a_divergence():
    """A line search's evaluation after the last iterate whose batch variance overflows: the
    iterate's weights and running statistics are kept, and the divergence named."""
    from scipy.optimize import OptimizeResult

    class TrialBeyond(dn.LBFGS):
        def minimize(self, objective, params, iterations, callback=None):
            start = params.copy()
            objective(start)
            callback(start, 0.25)  # a good iterate
            objective(start * 1e25)  # a trial point: hidden values of 1e25 in float32
            params[...] = start
            return OptimizeResult(fun=0.25)

    class Record(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.state = self.model.state.copy()

    model, X, y = _trained_on_sane_data(np.float32)
    params, record = model.params.copy(), Record()
    with pytest.raises(dn.DivergenceError, match=rf"epoch 1, batch 0: {STATE_GONE}"):
        model.fit(X, y, optimizer=TrialBeyond(), epochs=5, batch_size=64, callbacks=[record])
    assert_array_equal(model.params, params)
    assert_array_equal(model.state, record.state)
    assert np.isfinite(record.state).all()


def test_scoring_a_full_batch_iterate_leaves_the_running_statistics_as_they_were():
    """Where the optimiser last evaluated another point than its iterate (a line search),
    fit evaluates the iterate once more for its metrics, a training pass: the running
    statistics stay as the optimiser's own evaluations left them, as without metrics."""

    X, y = data(16)
    states, weights = [], []
    for metrics in ((), ["mae"]):
        model = normalised()
        model.fit(X, y, optimizer=LookAround(0.05, aside=0.1), epochs=4, batch_size=16, metrics=metrics)
        states.append(model.state.copy())
        weights.append(model.params.copy())
    assert_array_equal(states[1], states[0])
    assert_array_equal(weights[1], weights[0])
    assert not np.array_equal(states[0], normalised().state)  # (the passes moved them)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_folded_fit_follows_the_unfolded_one_to_rounding(dtype, momentum, monkeypatch):
    """A model large enough for fit to fold plain (or heavy-ball) SGD into its backward pass:
    the BatchNorm1d accumulates its gradients into what the descent updates, and the
    weights follow the unfolded fit's to rounding."""
    from densenet.plan import TrainStep

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((64, 64)).astype(dtype), rng.uniform(size=(64, 4)).astype(dtype)
    results = {}
    for folds in (True, False):
        if not folds:
            monkeypatch.setattr("densenet.plan.GEMM_MIN_PRODUCT", np.inf)
            monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", np.inf)  # (the product decides)
        model = dn.Sequential(dn.Dense(64, 512), dn.BatchNorm1d(512), dn.Sigmoid(), dn.Dense(512, 4),
                              dn.BatchNorm1d(4), dn.Sigmoid(), dtype=dtype, seed=0)
        optimizer = dn.SGD(0.5, momentum=momentum)
        assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded == folds
        model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False)
        results[folds] = model.params.copy(), model.state.copy()
    scale, tol = np.abs(results[False][0]).max(), (1e-11 if dtype == np.float64 else 1e-4)
    assert np.abs(results[True][0] - results[False][0]).max() <= tol * scale
    assert_allclose(results[True][1], results[False][1], rtol=tol, atol=tol)
    assert not np.array_equal(results[True][0], normalised_start(dtype))  # it trained


def normalised_start(dtype):
    return dn.Sequential(dn.Dense(64, 512), dn.BatchNorm1d(512), dn.Sigmoid(), dn.Dense(512, 4),
                         dn.BatchNorm1d(4), dn.Sigmoid(), dtype=dtype, seed=0).params


def test_sample_weights_weigh_the_loss_not_the_statistics():
    model = dn.Sequential(dn.BatchNorm1d(2), dn.Dense(2, 1), seed=0)
    X, y = np.array([[0.0, 1.0], [2.0, 5.0], [10.0, -3.0]]), np.zeros((3, 1))
    model.fit(X, y, epochs=1, batch_size=3, sample_weight=[1.0, 1.0, 0.0])
    assert_allclose(model[0].running_mean, 0.1 * X.mean(axis=0))  # the row of weight 0 counts


@pytest.mark.parametrize("make", [lambda: dn.BatchNorm1d(4, eps=1e-50), lambda: dn.LayerNorm(4, eps=1e-50)])
def test_an_eps_that_is_zero_in_the_model_s_dtype_is_refused_before_any_change(make):
    """A feature (BatchNorm1d) or a row (LayerNorm) of one value was divided by 0: a fit
    diverged with an error that blamed the learning rate, or warned of a division by 0."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4))
    model = dn.Sequential(dn.Dense(4, 4), make(), dn.Dense(4, 1), dtype=np.float32, seed=0)
    model[0].W[:, 0], model[0].b[0] = 0.0, 0.0  # (the first feature is 0 for every sample)
    before = model.params.copy(), model.state.copy()
    for run in (lambda: model.fit(X, np.ones((32, 1)), epochs=1), lambda: model.forward(X),
                lambda: model.predict(X)):
        # (refused, not a FloatingPointError of the cast that finds it, whatever np.seterr says)
        refusal = r"eps=1e-50 is 0 in float32 \(the model's dtype\): a (feature|row) "
        with np.errstate(all="raise"), pytest.raises(ValueError, match=refusal):
            run()
        assert_array_equal(model.params, before[0])
        assert_array_equal(model.state, before[1])
    twin = dn.Sequential(dn.Dense(4, 4), make(), dn.Dense(4, 1), seed=0)  # float64 holds it
    twin[0].W[:, 0], twin[0].b[0] = 0.0, 0.0
    twin.fit(X, np.ones((32, 1)), epochs=1)
    assert np.isfinite(twin.predict(X)).all()


class SetsEps(dn.Callback):
    def __init__(self, module, eps):
        self.module, self.eps = module, eps

    def on_epoch_end(self, epoch, logs=None):
        self.module.eps = self.eps


def test_an_eps_set_between_steps_that_is_zero_in_the_model_s_dtype_is_refused():
    """The planned passes read ``eps`` at every call, so a callback may change it; one that
    is 0 in float32 divided a constant feature by 0 (a warning, then a divergence that blamed
    the learning rate): the setter refuses it, in the dtype of the model the module is in."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4))
    X[:, 0] = 1.0
    model = dn.Sequential(dn.BatchNorm1d(4), dn.Dense(4, 1), dtype=np.float32, seed=0)
    with pytest.raises(ValueError, match=r"^BatchNorm1d: eps=1e-50 is 0 in float32 \(the model's dtype\): a "
                                         r"feature of one value in a batch would be divided by 0"):
        model.fit(X, np.ones((32, 1)), epochs=3, callbacks=[SetsEps(model[0], 1e-50)])
    assert model[0].eps == 1e-5
    assert np.isfinite(model.predict(X)).all()
    model[0].eps = 1e-30  # (a float32 number)
    float64 = dn.Sequential(dn.BatchNorm1d(4), dn.Dense(4, 1), seed=0)
    float64.fit(X, np.ones((32, 1)), epochs=3, callbacks=[SetsEps(float64[0], 1e-50)])
    assert float64[0].eps == 1e-50
    assert np.isfinite(float64.params).all()
