"""Training allocates nothing per step (target P5), measured with tracemalloc.

Allocation counts are deterministic, so unlike timings they belong in the tests.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import densenet as dn
from densenet.plan import TrainStep

from .conftest import mlp

KIB = 1024


def traced_peak(work) -> tuple[int, int]:
    """(peak, still allocated) bytes traced while ``work()`` runs."""
    tracemalloc.start()
    try:
        work()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, current


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((256, 64)), rng.uniform(size=(256, 10))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_a_further_fit_peaks_below_64_kib(data, batch_size, shuffle):
    X, y = data
    model = mlp((64, 128, 10))
    model.fit(X, y, epochs=1, batch_size=batch_size, shuffle=shuffle)  # plans the steps
    peak, left = traced_peak(lambda: model.fit(X, y, epochs=3, batch_size=batch_size, shuffle=shuffle))
    assert peak <= 64 * KIB
    assert left <= 1 * KIB


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_training_steps_allocate_nothing(data, batch_size, dtype):
    X, y = data
    model = mlp((64, 128, 10), dtype=dtype)
    loss = dn.MSELoss()
    X, y = model.check_data(X, y, loss)
    step = TrainStep(model, loss, dn.SGD(0.1), batch_size, y)
    step.X[...], step.y[...] = X[:batch_size], y[:batch_size]

    def hundred_steps():
        for _ in range(100):
            step()

    hundred_steps()  # warm-up
    peak, left = traced_peak(hundred_steps)
    # No array is allocated: the smallest array of this step (32 x 10 float32)
    # is 1.25 KiB. What is traced is Python bookkeeping: np.errstate in the
    # sigmoid of large arrays (under 1 KiB, freed) and a few bytes kept.
    assert peak <= 1 * KIB
    assert left <= 256


def test_fit_does_not_copy_data_of_the_models_dtype(data):
    X, y = data
    model = mlp((64, 128, 10))
    model.fit(X, y, epochs=1, batch_size=32)
    peak, _ = traced_peak(lambda: model.fit(X, y, epochs=1, batch_size=32))
    assert peak < X.nbytes
    X32 = X.astype(np.float32)  # converted once, at the boundary
    peak, _ = traced_peak(lambda: model.fit(X32, y, epochs=1, batch_size=32))
    assert X.nbytes <= peak < X.nbytes + 64 * KIB
