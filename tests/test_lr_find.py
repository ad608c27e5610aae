"""``lr_find``: the learning-rate range test trains copies, follows its rates, stops on
divergence, and suggests a rate that trains."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn


def blobs(n=600, seed=0, features=10, classes=4):
    """Gaussian clusters around random centres: a problem that learns in a few epochs
    at a good rate, not at all at a tiny one, and diverges at a large one."""
    rng = np.random.default_rng(seed)
    centres = 1.5 * rng.standard_normal((classes, features))
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.standard_normal((n, features)), labels


def relu_net(seed=0):
    return dn.Sequential(dn.Dense(10, 64, init="he_normal"), dn.ReLU(), dn.Dense(64, 64, init="he_normal"),
                         dn.ReLU(), dn.Dense(64, 4), seed=seed)


def test_the_model_and_the_optimizer_are_left_exactly_as_they_were():
    """Copies train: the model's weights, running statistics and generator, and the
    optimiser's state, rate and step count are untouched, and both go on as before."""
    X, labels = blobs()
    model = dn.Sequential(dn.Dense(10, 32), dn.BatchNorm1d(32), dn.ReLU(), dn.Dropout(0.2), dn.Dense(32, 4),
                          seed=1)
    adam = dn.Adam(0.01)
    model.fit(X, labels, optimizer=adam, loss=dn.CrossEntropyLoss(), epochs=2)
    twin, twin_adam = copy.deepcopy(model), copy.deepcopy(adam)
    params, state, rng = model.params.copy(), model.state.copy(), model.rng.bit_generator.state
    kept = copy.deepcopy(adam.state_dict())
    found = dn.lr_find(model, X, labels, optimizer=adam, loss=dn.CrossEntropyLoss(), steps=40)
    assert len(found.rates) > 10
    assert_array_equal(model.params, params)
    assert_array_equal(model.state, state)
    assert model.rng.bit_generator.state == rng
    assert adam.lr == 0.01
    assert adam.steps == kept["steps"]
    for name, vector in adam.state_dict().items():
        assert_array_equal(vector, kept[name])
    model.fit(X, labels, optimizer=adam, loss=dn.CrossEntropyLoss(), epochs=1)  # still its model's
    twin.fit(X, labels, optimizer=twin_adam, loss=dn.CrossEntropyLoss(), epochs=1)
    assert_array_equal(model.params, twin.params)


def test_the_rates_rise_exponentially_and_the_losses_are_those_of_training_at_them():
    """The whole data in one batch: each recorded loss is the model's loss before a
    step at that rate, as a hand-written loop of single-step fits computes it."""
    X, y = dn.tutorial.X, dn.tutorial.y
    model = dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), dn.Sigmoid(), seed=0)
    found = dn.lr_find(model, X, y, start_lr=1e-3, end_lr=10.0, steps=50, batch_size=4)
    assert len(found.rates) == 50
    assert not found.diverged
    assert found.rates[0] == 1e-3
    assert found.rates[-1] == 10.0
    assert_allclose(found.rates[1:] / found.rates[:-1], (1e4) ** (1 / 49), rtol=1e-12)
    by_hand, losses = copy.deepcopy(model), []
    for rate in found.rates:
        losses.append(by_hand.evaluate(X, y))
        by_hand.fit(X, y, optimizer=dn.SGD(rate), epochs=1, batch_size=4)
    assert_allclose(found.losses, losses, rtol=1e-12)
    average, smoothed = 0.0, []
    for k, value in enumerate(losses, start=1):
        average = 0.98 * average + 0.02 * value
        smoothed.append(average / (1 - 0.98 ** k))
    assert_allclose(found.smoothed, smoothed, rtol=1e-12)
    assert found.suggestion is None
    assert found.lowest == 10.0  # still falling at the end: no suggestion



@pytest.mark.parametrize("start_lr, end_lr", [(1e-320, 1.0), (1e-7, 1e308), (1e-310, 1.7e308)])
def test_a_range_whose_ratio_no_float_holds_still_rises_exponentially(start_lr, end_lr):
    """``end_lr / start_lr`` beyond float's range (a subnormal start, or an end near the
    largest float) made every rate after the first inf, refused by SGD's name."""
    model = dn.Sequential(dn.Dense(2, 1), dn.Sigmoid(), seed=0)
    found = dn.lr_find(model, dn.tutorial.X, dn.tutorial.y, start_lr=start_lr, end_lr=end_lr, steps=40,
                       batch_size=4, diverge=1e300)
    rates = found.rates
    assert rates[0] == start_lr
    assert np.all(np.isfinite(rates))
    assert np.all(rates > 0)
    assert_allclose(np.log(rates[1:] / rates[:-1]), (np.log(end_lr) - np.log(start_lr)) / 39, rtol=1e-12)

def test_a_loss_that_rises_past_diverge_times_its_lowest_stops_the_test():
    X = np.linspace(-3, 3, 64).reshape(-1, 1)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    found = dn.lr_find(model, X, 3 * X, start_lr=1e-4, end_lr=1e4, steps=100, batch_size=16, smoothing=0.5)
    assert found.diverged
    assert 10 < len(found.rates) < 100
    lowest_so_far = np.minimum.accumulate(found.smoothed)
    assert found.smoothed[-1] > 4 * lowest_so_far[-1]
    assert (found.smoothed[:-1] <= 4 * lowest_so_far[:-1]).all()  # (it stopped at the first rise past 4x)
    assert found.suggestion == found.lowest / 10
    assert found.lowest < found.rates[-1]
    assert len(found.losses) == len(found.smoothed) == len(found.rates)


def test_a_loss_that_becomes_non_finite_stops_the_test_with_the_steps_before_it():
    X = np.linspace(-3, 3, 64).reshape(-1, 1)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    found = dn.lr_find(model, X, 3 * X, start_lr=1e-3, end_lr=1e30, steps=100, batch_size=64, diverge=1e300)
    assert found.diverged
    assert len(found.rates) < 100
    assert np.isfinite(found.losses).all()
    assert found.losses[-1] > 1e100
    with pytest.raises(ValueError, match=r"lr_find: the loss was not finite at the first step \(at start_lr"):
        dn.lr_find(model, X, 1e200 * X, batch_size=64)  # (its square overflows)


def final_loss(seed, X, labels, optimizer):
    """The training loss after 3 epochs at batch 32 (inf if it diverged)."""
    try:
        history = relu_net(seed).fit(X, labels, optimizer=optimizer, loss=dn.CrossEntropyLoss(), epochs=3)
        return history.loss[-1]
    except dn.DivergenceError:
        return np.inf


@pytest.mark.parametrize("make", [lambda lr=1e-3: dn.Adam(lr), lambda lr=0.1: dn.SGD(lr, momentum=0.9),
                                  lambda lr=0.1: dn.SGD(lr), lambda lr=0.01: dn.RMSprop(lr)],
                         ids=["adam", "momentum", "sgd", "rmsprop"])
def test_the_suggestion_trains_about_as_well_as_the_best_rate_of_a_grid(make):
    """Three epochs at the suggested rate end within 4x the loss of the best of the rates
    1e-5, 1e-4, ..., 10, and below the losses at a hundredth of it and at ten times the
    test's lowest point (seeds 0-2; measured: 0.6-3.6x the best)."""
    X, labels = blobs()
    for seed in range(3):
        found = dn.lr_find(relu_net(seed), X, labels, optimizer=make(), loss=dn.CrossEntropyLoss())
        assert found.suggestion is not None
        assert found.diverged
        suggested = final_loss(seed, X, labels, make(found.suggestion))
        best = min(final_loss(seed, X, labels, make(rate)) for rate in 10.0 ** np.arange(-5, 2))
        assert suggested <= 4 * best
        assert suggested < final_loss(seed, X, labels, make(found.suggestion / 100))
        assert suggested < final_loss(seed, X, labels, make(found.lowest * 10))


def test_no_suggestion_when_the_loss_never_falls():
    """A range that starts at rates already too large: the loss rises from the first
    step, and there is no rate to suggest (nor when it never rises: above)."""
    X = np.linspace(-3, 3, 64).reshape(-1, 1)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    found = dn.lr_find(model, X, 3 * X, start_lr=1.0, end_lr=1e3, batch_size=16)
    assert found.diverged
    assert np.argmin(found.smoothed) == 0
    assert found.suggestion is None


def test_divergence_is_judged_after_the_first_tenth_of_the_steps():
    """Unsmoothed losses that rise from the first step: the test stops at the first step
    past the first tenth (11 of 100), not before; one that rises past 4x only at its
    last step took all its steps and did not stop early."""
    X = np.linspace(-3, 3, 64).reshape(-1, 1)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    found = dn.lr_find(model, X, 3 * X, start_lr=10.0, end_lr=1e3, batch_size=64, smoothing=0.0)
    assert found.losses[1] > 4 * found.losses[0]  # (past 4x from the second step on)
    assert len(found.rates) == 11
    assert found.diverged
    assert_array_equal(found.smoothed, found.losses)
    both = dn.lr_find(model, X, 3 * X, start_lr=10.0, end_lr=20.0, steps=2, batch_size=64, smoothing=0.0)
    assert both.losses[1] > 4 * both.losses[0]
    assert len(both.rates) == 2
    assert not both.diverged


def test_every_step_is_taken_with_fewer_rows_than_features():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 64)), rng.standard_normal((8, 1))
    found = dn.lr_find(dn.Sequential(dn.Dense(64, 1), seed=0), X, y, start_lr=1e-6, end_lr=1e-3, batch_size=2)
    assert len(found.rates) == 100
    assert not found.diverged


def test_the_defaults_and_the_result_s_immutability():
    """The range and its stopping rule by default (the usual ones: 1e-7 to 10 in 100
    steps, a 0.98 moving average, stopped at 4x its lowest); a result cannot be changed."""
    import dataclasses
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(dn.lr_find).parameters.items()
                if p.default is not inspect.Parameter.empty}
    assert defaults == dict(optimizer=None, loss=None, start_lr=1e-7, end_lr=10.0, steps=100, batch_size=32,
                            smoothing=0.98, diverge=4.0, seed=None, sample_weight=None)
    X = np.linspace(-3, 3, 64).reshape(-1, 1)
    found = dn.lr_find(dn.Sequential(dn.Dense(1, 1), seed=0), X, 3 * X, steps=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.suggestion = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("lowest, suggested", [(0, False), (9, False), (10, True), (98, True), (99, False)])
def test_a_suggestion_needs_the_lowest_point_past_the_first_tenth_and_before_the_last_step(lowest, suggested):
    rates = np.logspace(-7, 1, 100)
    smoothed = 1.0 + np.abs(np.arange(100) - lowest)
    found = dn.LRFind(rates, smoothed, smoothed, diverged=True)
    assert found.lowest == rates[lowest]
    assert found.suggestion == (rates[lowest] / 10 if suggested else None)


def test_sparse_rows_and_a_float32_model():
    """What fit takes, the test takes: CSR rows, a float32 model (its losses in float32's
    precision, the rates in float64)."""
    sparse = pytest.importorskip("scipy.sparse")
    X, labels = blobs()
    rows = sparse.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    model = relu_net().clone(np.float32)
    params = model.params.copy()
    found = dn.lr_find(model, rows.astype(np.float32), labels, optimizer=dn.NAdam(),
                       loss=dn.CrossEntropyLoss())
    assert found.diverged
    assert found.suggestion is not None
    assert np.isfinite(found.losses).all()
    assert found.rates.dtype == np.float64
    assert_array_equal(model.params, params)


def test_sample_weights_reach_the_steps():
    X, labels = blobs()
    weights = np.where(labels == 0, 3.0, 0.5)
    kwargs = dict(optimizer=dn.Adam(), loss=dn.CrossEntropyLoss(), steps=20, seed=0)
    weighted = dn.lr_find(relu_net(), X, labels, sample_weight=weights, batch_size=len(X), **kwargs)
    plain = dn.lr_find(relu_net(), X, labels, batch_size=len(X), **kwargs)
    model = relu_net()
    weighted_loss = model.evaluate(X, labels, dn.CrossEntropyLoss(), sample_weight=weights)
    assert weighted.losses[0] == pytest.approx(weighted_loss, rel=1e-12)
    assert plain.losses[0] == pytest.approx(model.evaluate(X, labels, dn.CrossEntropyLoss()), rel=1e-12)
    assert weighted.losses[0] != pytest.approx(plain.losses[0], rel=1e-3)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(start_lr=0.0), ValueError, r"lr_find: invalid start_lr 0\.0"),
    (dict(start_lr=1.0, end_lr=1.0), ValueError, r"lr_find: invalid end_lr 1\.0; it must lie in \(1, inf\)"),
    (dict(steps=1), ValueError, "lr_find: steps must be an integer >= 2, got 1"),
    (dict(steps=2.5), TypeError, "lr_find: steps must be an integer >= 2, got 2.5"),
    (dict(smoothing=1.0), ValueError, r"lr_find: invalid smoothing 1\.0; it must lie in \[0, 1\)"),
    (dict(diverge=1.0), ValueError, r"lr_find: invalid diverge 1\.0; it must lie in \(1, inf\)"),
    (dict(batch_size=0), ValueError, "lr_find: batch_size must be an integer >= 1, got 0"),
    (dict(optimizer=dn.LBFGS()), ValueError, "lr_find needs an optimiser that steps batch by batch"),
    (dict(optimizer="adam"), TypeError, "lr_find: optimizer must be a densenet Optimizer, got str"),
    (dict(X=np.ones((4, 3))), ValueError, r"X has 3 features"),
    (dict(y=np.ones((5, 1))), ValueError, "5"),
])
def test_bad_arguments_are_refused_before_any_step(kwargs, error, message):
    model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), seed=0)
    params = model.params.copy()
    data = {"X": dn.tutorial.X, "y": dn.tutorial.y}
    data.update({k: kwargs.pop(k) for k in ("X", "y") if k in kwargs})
    with pytest.raises(error, match=message):
        dn.lr_find(model, data["X"], data["y"], **kwargs)
    assert_array_equal(model.params, params)
