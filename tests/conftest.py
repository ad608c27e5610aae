"""Shared helpers for the test suite."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

import densenet as dn

# Property tests: 200 examples; under CI the same 200 every run (derandomised, no example
# database), so a run fails for a reason in the code, not for a draw; HYPOTHESIS_PROFILE=
# thorough runs 2000 fresh ones.
settings.register_profile("default", max_examples=200)
settings.register_profile("ci", max_examples=200, derandomize=True, database=None)
settings.register_profile("thorough", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


def numerical_grads(model: dn.Sequential, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the MSE over the model's flat parameter vector."""
    loss = dn.MSELoss()
    grads = np.empty_like(model.params)
    for k in range(model.params.size):
        saved = model.params[k]
        model.params[k] = saved + eps
        up = loss.forward(model.forward(X), y)
        model.params[k] = saved - eps
        down = loss.forward(model.forward(X), y)
        model.params[k] = saved
        grads[k] = (up - down) / (2 * eps)
    return grads


def analytic_grads(model: dn.Sequential, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    loss = dn.MSELoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    return model.grads.copy()


def mlp(sizes, *, dtype=np.float64, seed=0, init="glorot_uniform") -> dn.Sequential:
    """A sigmoid MLP of the given widths."""
    modules = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        modules += [dn.Dense(n_in, n_out, init=init), dn.Sigmoid()]
    return dn.Sequential(*modules, dtype=dtype, seed=seed)


def snapshot(model: dn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    return model.params.copy(), model.grads.copy()


@pytest.fixture
def tutorial_start() -> dict[str, float]:
    return dn.tutorial.initial_params(0)
