"""Dense and Sigmoid on their own."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn


def _dense(n_in, n_out, seed=0):
    layer = dn.Dense(n_in, n_out)
    layer.reset_parameters(np.random.default_rng(seed))
    layer.b[...] = np.random.default_rng(seed + 1).standard_normal(n_out)
    return layer


def test_dense_shapes_and_layout():
    layer = dn.Dense(3, 4)
    assert layer.W.shape == (3, 4) and layer.b.shape == (4,)
    assert layer.dW.shape == (3, 4) and layer.db.shape == (4,)
    assert layer.n_params == 16
    assert repr(layer) == "Dense(in_features=3, out_features=4)"


def test_dense_forward_is_X_at_W_plus_b():
    layer = _dense(3, 4)
    X = np.random.default_rng(2).standard_normal((5, 3))
    assert_allclose(layer.forward(X), X @ layer.W + layer.b, rtol=1e-14)


def test_dense_backward_writes_and_overwrites_gradients():
    layer = _dense(3, 4)
    rng = np.random.default_rng(3)
    X, dY = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    for _ in range(2):  # a second call must overwrite, not accumulate
        layer.forward(X)
        dX = layer.backward(dY)
        assert_allclose(layer.dW, X.T @ dY, rtol=1e-13)
        assert_allclose(layer.db, dY.sum(axis=0), rtol=1e-13)
        assert_allclose(dX, dY @ layer.W.T, rtol=1e-13)


def test_dense_work_buffers_follow_the_batch_size():
    layer = _dense(2, 3)
    rng = np.random.default_rng(0)
    for n in (8, 3, 8, 1):
        X = rng.standard_normal((n, 2))
        assert_allclose(layer.forward(X), X @ layer.W + layer.b, rtol=1e-14)
        assert layer.backward(np.ones((n, 3))).shape == (n, 2)


@pytest.mark.parametrize("args, error, message", [
    ((0, 3), ValueError, "Dense in_features must be a positive integer, got 0"),
    ((2, -1), ValueError, "Dense out_features must be a positive integer, got -1"),
    ((2.5, 3), TypeError, "Dense in_features must be a positive integer, got 2.5"),
    ((True, 3), TypeError, "Dense in_features must be a positive integer, got True"),
    (("2", 3), TypeError, "Dense in_features must be a positive integer, got '2'"),
])
def test_dense_rejects_bad_sizes(args, error, message):
    with pytest.raises(error, match=message):
        dn.Dense(*args)


def test_dense_accepts_numpy_integers():
    assert dn.Dense(np.int64(2), np.int32(3)).W.shape == (2, 3)


def test_dense_rejects_unknown_initialiser():
    with pytest.raises(ValueError, match="unknown initialiser 'lecun'"):
        dn.Dense(2, 2, init="lecun")


@pytest.mark.parametrize("rows", [1, 400])  # below and above EXP_SIGMOID_MIN_SIZE
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_every_finite_input(dtype, rows):
    big = np.finfo(dtype).max
    X = np.tile(np.array([-big, -1e4, -745.0, -88.0, -1.0, 0.0, 1.0, 88.0, 745.0, 1e4, big],
                         dtype=dtype), (rows, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = dn.Sigmoid().forward(X)
    assert Y.dtype == dtype
    assert np.all(np.isfinite(Y)) and np.all((Y >= 0) & (Y <= 1))
    assert np.all(Y[:, 0] == 0) and np.all(Y[:, -1] == 1) and np.all(Y[:, 5] == 0.5)
    assert np.all(np.diff(Y, axis=1) >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_fast_path_is_accurate_to_a_few_ulp(dtype):
    from scipy.special import expit

    from densenet.sigmoid import EXP_SIGMOID_MIN_SIZE

    X = np.linspace(-60, 60, 4 * EXP_SIGMOID_MIN_SIZE).reshape(-1, 8).astype(dtype)
    Y = dn.Sigmoid().forward(X)
    truth = expit(X.astype(np.float64))  # float64 expit: within 1 ulp of exact
    assert np.all(np.abs(Y - truth) <= 3 * np.spacing(truth.astype(dtype)))
    small = dn.Sigmoid().forward(X[:1])
    assert_array_equal(small, expit(X[:1]))


def test_sigmoid_values_and_backward_from_cached_output():
    X = np.linspace(-6, 6, 13).reshape(1, -1)
    act = dn.Sigmoid()
    Y = act.forward(X)
    assert_allclose(Y, 1 / (1 + np.exp(-X)), rtol=1e-15)
    dY = np.random.default_rng(0).standard_normal(X.shape)
    assert_allclose(act.backward(dY), dY * Y * (1 - Y), rtol=1e-15)


def test_sigmoid_backward_matches_finite_differences():
    X = np.random.default_rng(1).standard_normal((4, 3))
    act, eps = dn.Sigmoid(), 1e-6
    act.forward(X)
    analytic = act.backward(np.ones_like(X)).copy()
    numeric = (dn.Sigmoid().forward(X + eps) - dn.Sigmoid().forward(X - eps)) / (2 * eps)
    assert_allclose(analytic, numeric, rtol=1e-8)


def test_module_repr_and_call():
    act = dn.Sigmoid()
    assert repr(act) == "Sigmoid()"
    assert_array_equal(act(np.zeros((1, 2))), [[0.5, 0.5]])
