"""PoissonNLLLoss: its definition, its targets, and Poisson regression as scikit-learn fits it."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import mlp


def test_the_value_and_gradient_are_the_definition():
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((6, 3)), rng.poisson(2.0, (6, 3)).astype(float)
    loss = dn.PoissonNLLLoss()
    assert_allclose(loss.forward(z, t), np.mean(np.exp(z) - t * z), rtol=1e-14)
    assert_allclose(loss.backward(), (np.exp(z) - t) / z.size, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_log_rate_too_large_gives_an_infinite_loss_without_a_warning(dtype):
    """The suite turns warnings into errors: an overflow warning would fail here."""
    loss = dn.PoissonNLLLoss()
    z = np.array([[1000.0], [0.0]], dtype)
    assert loss.forward(z, np.ones((2, 1), dtype)) == np.inf
    assert loss.backward()[0, 0] == np.inf


def test_negative_targets_are_refused_by_name_and_the_model_is_unchanged():
    loss = dn.PoissonNLLLoss()
    with pytest.raises(ValueError, match=r"PoissonNLLLoss: y_true must be >= 0; 1 value\(s\) do not, "
                                         r"the first -1\.0 at index \(1, 0\)"):
        loss.forward(np.zeros((2, 1)), np.array([[1.0], [-1.0]]))
    model = mlp((2, 3, 1))
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"PoissonNLLLoss: y must be >= 0; 2 value\(s\) do not"):
        model.fit(np.zeros((3, 2)), np.array([1.0, -2.0, -0.5]), loss=loss, epochs=1)
    assert_array_equal(model.params, before)


def test_a_dense_layer_fits_the_poisson_regression_scikit_learn_fits():
    """One Dense layer on log-rates is Poisson regression: L-BFGS on ``PoissonNLLLoss``
    minimises what scikit-learn's ``PoissonRegressor(alpha=0)`` minimises (half the
    Poisson deviance, the same up to a constant), so both find the same coefficients."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 3))
    y = rng.poisson(np.exp(X @ np.array([0.5, -0.3, 0.2]) + 1.0)).astype(float)
    model = dn.Sequential(dn.Dense(3, 1), seed=0)
    model.fit(X, y, loss=dn.PoissonNLLLoss(), optimizer=dn.LBFGS(tolerance_grad=1e-10), epochs=500)
    reference = linear_model.PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    assert_allclose(model[0].W.ravel(), reference.coef_, rtol=1e-6)
    assert_allclose(model[0].b, [reference.intercept_], rtol=1e-6)
    assert_allclose(np.exp(model.predict(X)).ravel(), reference.predict(X), rtol=1e-6)
