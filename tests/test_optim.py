"""SGD."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn


def test_sgd_step_written_out_by_hand():
    params = np.array([1.0, -2.0, 0.5])
    grads = np.array([0.25, 1.0, -4.0])
    view = params[:2]
    dn.SGD(lr=0.1).step(params, grads)
    assert_array_equal(params, [1.0 - 0.1 * 0.25, -2.0 - 0.1 * 1.0, 0.5 + 0.1 * 4.0])
    assert np.shares_memory(view, params)
    assert view[0] == params[0]
    assert_array_equal(grads, [0.25, 1.0, -4.0])


def test_sgd_keeps_float32():
    params, grads = np.ones(3, np.float32), np.ones(3, np.float32)
    dn.SGD(lr=0.5).step(params, grads)
    assert params.dtype == np.float32
    assert params[0] == np.float32(0.5)


@pytest.mark.parametrize("lr", [-1e-300, -0.1, float("nan"), float("inf"), -float("inf")])
def test_sgd_rejects_bad_learning_rates(lr):
    with pytest.raises(ValueError, match=r"SGD: invalid learning rate .*; it must be finite and >= 0"):
        dn.SGD(lr=lr)


@pytest.mark.parametrize("lr", [0, 0.0, -0.0, np.float32(0)])
def test_a_learning_rate_of_0_is_taken_and_moves_nothing(lr):
    params = np.array([1.0, -2.0, 3.0])
    sgd = dn.SGD(lr=lr)
    sgd.step(params, np.array([5.0, 1e300, -7.0]))
    assert_array_equal(params, [1.0, -2.0, 3.0])
    assert sgd.lr == 0.0
    assert math.copysign(1.0, sgd.lr) == 1.0


@pytest.mark.parametrize("lr", ["0.1", None, True, 1j])
def test_sgd_rejects_non_numbers(lr):
    with pytest.raises(TypeError, match="learning rate"):
        dn.SGD(lr=lr)


def test_sgd_accepts_ints_and_numpy_scalars():
    assert dn.SGD(lr=1).lr == 1.0
    assert dn.SGD(lr=np.float32(0.5)).lr == 0.5
    assert repr(dn.SGD(lr=0.1)) == "SGD(lr=0.1)"


@pytest.mark.parametrize("size", [3, 8192, 8193, 100_000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_updates_vectors_of_any_size_in_place(size, dtype):
    rng = np.random.default_rng(0)
    params = rng.standard_normal(size).astype(dtype)
    grads = rng.standard_normal(size).astype(dtype)
    want = params - dtype(0.25) * grads
    view = params[-3:]
    sgd = dn.SGD(lr=0.25)
    sgd.step(params, grads)
    np.testing.assert_allclose(params, want, rtol=4 * np.finfo(dtype).eps, atol=0)
    assert np.shares_memory(view, params)
    assert view[-1] == params[-1]
    sgd.lr = 0.5  # changing the rate between steps takes effect
    before = params.copy()
    sgd.step(params, grads)
    np.testing.assert_allclose(params, before - dtype(0.5) * grads, rtol=4 * np.finfo(dtype).eps)


def test_sgd_falls_back_for_strided_or_mixed_arrays():
    params = np.arange(10.0)[::2]
    grads = np.ones(5, np.float32)
    dn.SGD(lr=1.0).step(params, grads)
    assert_array_equal(params, [-1.0, 1.0, 3.0, 5.0, 7.0])


def test_sgd_learning_rate_is_checked_when_changed():
    sgd = dn.SGD(lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        sgd.lr = -1.0
    assert sgd.lr == 0.1


class ClippingSGD(dn.SGD):
    """SGD on gradients clipped to [-0.01, 0.01]: a subclass with a step of its own."""

    def step(self, params, grads):
        np.clip(grads, -0.01, 0.01, out=grads)
        super().step(params, grads)


def clipped(lr, momentum):
    """SGD with the same clipping as a step set on the object (``optimizer.step = ...``)."""
    optimizer = dn.SGD(lr, momentum=momentum)
    plain = optimizer.step

    def step(params, grads):
        np.clip(grads, -0.01, 0.01, out=grads)
        plain(params, grads)

    optimizer.step = step
    return optimizer


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("clipping_sgd", [ClippingSGD, clipped])
def test_a_subclass_with_a_step_of_its_own_is_stepped_where_sgd_would_be_folded(momentum, clipping_sgd):
    """``fit`` folds SGD's update into the products of a large step (``plain_descent``,
    ``heavy_ball``); a subclass whose ``step`` does more, or an SGD given a step of its own
    on the object, is not folded (its step was skipped there): its weights are a
    hand-written loop's to rounding."""
    from densenet.backend import GEMM_MIN_PRODUCT

    width = int(np.sqrt(GEMM_MIN_PRODUCT / 64)) + 8
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((128, width)), rng.standard_normal((128, width))

    def make():
        return dn.Sequential(dn.Dense(width, width), dn.Tanh(), dn.Dense(width, width), seed=0)

    model, twin, loss = make(), make(), dn.MSELoss()
    assert model.train_step(loss, dn.SGD(0.1, momentum=momentum), 64, y).folded  # (SGD itself would fold)
    clipping = clipping_sgd(0.1, momentum=momentum)
    assert not clipping.plain_descent
    assert clipping.heavy_ball(model.params) is None
    model.fit(X, y, optimizer=clipping, epochs=2, batch_size=64, shuffle=False)
    by_hand = clipping_sgd(0.1, momentum=momentum)
    for _ in range(2):
        for start in (0, 64):
            loss.forward(twin.forward(X[start:start + 64]), y[start:start + 64])
            twin.backward(loss.backward(), input_grad=False)
            by_hand.step(twin.params, twin.grads)
    assert clipping.steps == by_hand.steps == 4
    assert_allclose(model.params, twin.params, rtol=1e-10, atol=1e-12)
