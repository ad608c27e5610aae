"""Group ``peers``: scikit-learn's MLPRegressor on the same 2-64-64-1 work.

MLPRegressor (logistic hidden units, identity output, squared error, plain SGD,
no momentum, no L2) is the nearest scikit-learn configuration; its output layer
is linear, ours a sigmoid. PyTorch appears in the ``tutorial`` and ``big`` groups.
"""

from __future__ import annotations

import numpy as np
import pytest
import workloads


@pytest.mark.benchmark(group="peers")
@pytest.mark.parametrize("batch_size", [1, 64])
def test_sklearn(benchmark, batch_size):
    pytest.importorskip("sklearn")
    work = workloads.sklearn_epochs((2, 64, 64, 1), n=1024, batch_size=batch_size)
    benchmark.extra_info.update(network="2-64-64-1", batch_size=batch_size, samples=1024)
    net = benchmark.pedantic(work, rounds=3, warmup_rounds=1)
    assert net.n_iter_ == 1
    assert np.isfinite(net.loss_)


@pytest.mark.benchmark(group="peers")
@pytest.mark.parametrize("batch_size", [1, 64])
def test_densenet(benchmark, batch_size):
    work = workloads.densenet_epoch((2, 64, 64, 1), n=1024, batch_size=batch_size)
    benchmark.extra_info.update(network="2-64-64-1", batch_size=batch_size, samples=1024)
    history = benchmark.pedantic(work, rounds=3, warmup_rounds=1)
    workloads.check_epoch(history, (2, 64, 64, 1))
