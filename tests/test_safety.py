"""Numerical safety: no warning and a finite result for every finite input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import densenet as dn

from .conftest import assert_within_rounding, error_bound, mlp

EXTREMES = {np.float64: 1e300, np.float32: 3e38}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_inputs_give_finite_outputs_without_warnings(dtype):
    big = EXTREMES[dtype]
    model = mlp((4, 16, 16, 3), dtype=dtype, seed=0)
    X = np.array([[big, -big, big, -big], [big] * 4, [-big] * 4, [big, 0, 0, 1e-300],
                  [1e-45, -1e-45, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = model.predict(X)
    assert Y.dtype == dtype
    assert np.all(np.isfinite(Y))
    assert np.all((Y >= 0) & (Y <= 1))


@pytest.mark.parametrize("dtype, big, w", [(np.float32, 3e38, 4.0), (np.float64, 1e300, 2.0 ** 40)])
def test_overflowing_first_layer_sums_are_rescued(dtype, big, w):
    """x w - x w is exactly 0 (w a power of two), though each product overflows:
    computed as is, inf - inf would be NaN."""
    model = dn.Sequential(dn.Dense(2, 1), dn.Sigmoid(), dtype=dtype, seed=0)
    model[0].W[...] = [[w], [-w]]
    model[0].b[...] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = model.predict(np.array([[big, big], [big, -big], [-big, big]]))
    np.testing.assert_allclose(Y[0], [1 / (1 + np.exp(-0.5))], rtol=1e-6)
    assert Y[1, 0] == 1.0
    assert Y[2, 0] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_row_s_output_does_not_depend_on_a_huge_row_beside_it(dtype):
    """A batch that holds a huge row goes through the rescaled first layer; the other rows
    come out as they do without it, within rounding: each row is scaled by its own power of
    two (one for the whole batch made 1e-300 beside 1e300 a 0, and 1.0 beside 3e38 a float32
    subnormal)."""
    big, tiny = EXTREMES[dtype], float(np.finfo(dtype).tiny)
    model = dn.Sequential(dn.Dense(3, 4), dn.Tanh(), dn.Dense(4, 2), dtype=dtype, seed=0)
    model[0].b, model[2].b = 0.0, 0.0  # (outputs as small as the inputs)
    scales = np.array([[1.0], [1e-6], [1e-12], [1e-20], [1e4 * tiny], [tiny]])
    rows = (np.random.default_rng(0).standard_normal((6, 3)) * scales).astype(dtype)
    alone = model.predict(rows)
    for huge in ([big, -big, 1.0], [0.0, 0.0, big]):
        beside = model.predict(np.vstack([rows, np.array([huge], dtype)]))
        assert_within_rounding(beside[:-1], alone, error_bound(model, rows))
        np.testing.assert_allclose(beside[-1], model.predict(np.array([huge], dtype))[0], rtol=1e-6)
        assert np.all(beside[:-1] != 0)
    identity = dn.Sequential(dn.Dense(2, 1), dtype=dtype, seed=0)
    identity[0].W, identity[0].b = [[1.0], [0.0]], 0.0
    odd = 3 * float(np.finfo(dtype).smallest_subnormal)  # (a halving would round its last bit away)
    assert identity.predict(np.array([[odd, 0.0], [big, 0.0]], dtype))[0, 0] == odd


def test_float32_models_reject_values_beyond_float32():
    model = mlp((2, 3, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="non-finite value.*as float32"):
        model.predict([[1e300, 0.0]])


@pytest.mark.parametrize("call", ["predict", "evaluate", "update_bn"])
def test_values_beyond_float32_in_later_batches_are_named_by_their_place_in_X(call):
    """``predict``, ``evaluate`` and ``update_bn`` convert data of another dtype a batch at
    a time (never a whole copy): a value that is inf in float32 is still named by its row
    and column in ``X``, all of them counted, and the model is left as it was."""
    model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3), dn.Dense(3, 1), dtype=np.float32, seed=0)
    X = np.ones((10_000, 2))
    X[[7_000, 9_999], [1, 0]] = [1e39, -1e300]
    before = model.params.copy(), model.state.copy()
    run = {"predict": lambda: model.predict(X), "evaluate": lambda: model.evaluate(X, np.ones(10_000)),
           "update_bn": lambda: dn.update_bn(model, X)}[call]
    with pytest.raises(ValueError, match=r"^X holds 2 non-finite value\(s\) \(NaN or inf\) as float32, "
                                         r"the first at index \(7000, 1\)$"):
        run()
    assert np.array_equal(model.params, before[0])
    assert np.array_equal(model.state, before[1])
    X[[7_000, 9_999], [1, 0]] = 3e38  # finite in float32: taken (the first layer's sums rescued)
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("call", ["forward", "fit", "check_input"])
def test_what_takes_data_whole_converts_it_whole_and_refuses_values_beyond_float32(call):
    """``forward`` (a batch), ``fit`` (which trains on a copy in the model's dtype) and
    ``check_input`` convert data of another dtype whole, and refuse what is not finite in
    the model's dtype, naming it, with the model left as it was."""
    model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3), dn.Dense(3, 1), dtype=np.float32, seed=0)
    X = np.ones((100, 2))
    X[[70, 99], [1, 0]] = [1e39, -1e300]
    before = model.params.copy(), model.state.copy()
    run = {"forward": lambda: model.forward(X), "fit": lambda: model.fit(X, np.ones(100)),
           "check_input": lambda: model.check_input(X)}[call]
    with pytest.raises(ValueError, match=r"^X holds 2 non-finite value\(s\) \(NaN or inf\) as float32, "
                                         r"the first at index \(70, 1\)$"):
        run()
    assert np.array_equal(model.params, before[0])
    assert np.array_equal(model.state, before[1])
    checked = model.check_input(np.ones((4, 2), np.uint8))
    assert checked.dtype == np.float32
    assert np.array_equal(checked, np.ones((4, 2)))
