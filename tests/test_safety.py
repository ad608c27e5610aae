"""Numerical safety: no warning and a finite result for every finite input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import densenet as dn

from .conftest import mlp

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
    assert Y.dtype == dtype and np.all(np.isfinite(Y)) and np.all((Y >= 0) & (Y <= 1))


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
    assert Y[1, 0] == 1.0 and Y[2, 0] == 0.0


def test_float32_models_reject_values_beyond_float32():
    model = mlp((2, 3, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="non-finite value.*as float32"):
        model.predict([[1e300, 0.0]])
