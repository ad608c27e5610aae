"""The scalar references agree with densenet and with each other."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn

from .conftest import mlp


def test_scalar_mlp_is_the_tutorial_network():
    start = dn.tutorial.initial_params(3)
    model = dn.tutorial.network(start)
    scalar = dn.reference.ScalarMLP((2, 2, 1), model.params)
    net = dn.reference.ScalarNetwork(start)
    for x in dn.tutorial.X:
        assert_allclose(scalar.forward(x)[0], float(net.feedforward(x)), rtol=1e-14)
    scalar.train(dn.tutorial.X.tolist(), dn.tutorial.y.tolist(), lr=0.1, epochs=20, batch_size=1)
    net.train(dn.tutorial.X, dn.tutorial.y, lr=0.1, epochs=20)
    assert_allclose(scalar.params(), dn.tutorial.network(net.params()).params, rtol=1e-12)


@pytest.mark.parametrize("sizes, batch_size", [((2, 5, 1), 1), ((3, 4, 4, 2), 3), ((2, 8, 1), 16)])
def test_scalar_mlp_follows_densenet(sizes, batch_size):
    model = mlp(sizes, seed=7)
    scalar = dn.reference.ScalarMLP(sizes, model.params)
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((16, sizes[0])), rng.uniform(size=(16, sizes[-1]))
    assert_allclose([scalar.forward(x) for x in X], model.predict(X), rtol=1e-13)
    model.fit(X, y, optimizer=dn.SGD(0.5), epochs=3, batch_size=batch_size, shuffle=False)
    scalar.train(X.tolist(), y.tolist(), lr=0.5, epochs=3, batch_size=batch_size)
    assert_allclose(scalar.params(), model.params, rtol=1e-11, atol=1e-14)


def test_scalar_mlp_trains_one_epoch_of_one_sample_steps_at_0_1_by_default():
    model = mlp((2, 3, 1), seed=9)
    scalar = dn.reference.ScalarMLP((2, 3, 1), model.params)
    X, y = np.random.default_rng(10).standard_normal((5, 2)), np.linspace(0.1, 0.9, 5).reshape(-1, 1)
    scalar.train(X.tolist(), y.tolist())
    model.fit(X, y, optimizer=dn.SGD(0.1), epochs=1, batch_size=1, shuffle=False)
    assert_allclose(scalar.params(), model.params, rtol=1e-12, atol=1e-15)


def test_scalar_mlp_checks_its_parameter_count():
    with pytest.raises(ValueError, match=r"needs 9 parameters, got 3"):
        dn.reference.ScalarMLP((2, 2, 1), [0.0] * 3)


def test_core_never_imports_tutorial_or_reference():
    import subprocess
    import sys

    code = ("import sys, densenet as dn; dn.Sequential(dn.Dense(2, 1)).fit([[0.0, 1.0]], [1.0]);"
            "print(sorted(m for m in sys.modules if m.startswith('densenet')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "densenet.tutorial" not in out
    assert "densenet.reference" not in out
    assert "densenet.model" in out
