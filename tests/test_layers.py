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
    assert layer.W.shape == (3, 4)
    assert layer.b.shape == (4,)
    assert layer.dW.shape == (3, 4)
    assert layer.db.shape == (4,)
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
    assert np.all(np.isfinite(Y))
    assert np.all((Y >= 0) & (Y <= 1))
    assert np.all(Y[:, 0] == 0)
    assert np.all(Y[:, -1] == 1)
    assert np.all(Y[:, 5] == 0.5)
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


def test_dense_sizes_are_fixed_and_its_initialiser_is_checked_when_set():
    """The sizes shape the parameter block: rebinding one broke every later call with a
    reshape error. The initialiser may change (``reset_parameters`` uses it), checked."""
    model = dn.Sequential(dn.Dense(3, 2), seed=0)
    layer = model[0]
    for name in ("in_features", "out_features"):
        with pytest.raises(AttributeError):
            setattr(layer, name, 4)
    with pytest.raises(ValueError, match="unknown initialiser 'nonsense'"):
        layer.init = "nonsense"
    assert (layer.in_features, layer.out_features, layer.init) == (3, 2, "glorot_uniform")
    layer.init = "he_normal"
    assert repr(layer) == "Dense(in_features=3, out_features=2, init='he_normal')"
    model.reset_parameters(0)
    assert model.predict(np.zeros((1, 3))).shape == (1, 2)


def test_a_dense_pickled_with_its_sizes_as_plain_attributes_comes_back_with_them():
    """Before they became properties, a pickled Dense held its sizes and initialiser as
    plain attributes; unpickled now, it is the same layer."""
    layer = dn.Dense(3, 2, init="he_uniform")
    state = layer.__getstate__()
    old = {key.lstrip("_") if key in ("_in_features", "_out_features", "_init") else key: value
           for key, value in state.items()}
    assert {"in_features", "out_features", "init"} <= set(old)
    twin = dn.Dense.__new__(dn.Dense)
    twin.__setstate__(old)
    assert (twin.in_features, twin.out_features, twin.init) == (3, 2, "he_uniform")
    assert_array_equal(twin.W, layer.W)
    assert np.shares_memory(twin.W, twin.flat_params)
