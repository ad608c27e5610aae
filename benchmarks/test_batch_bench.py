"""Group ``batch``: one epoch over 1024 samples of 2-64-64-1 at batch sizes 1 to 1024.

samples per second = 1024 / time per round (pytest-benchmark reports rounds per
second; ``extra_info["samples"]`` gives the factor).

Group ``batch-one``: one epoch of big layers (``workloads.BATCH_ONE_FITS``) at batch size 1,
densenet and PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
import workloads

BATCH_SIZES = [1, 4, 16, 64, 256, 1024]


@pytest.mark.benchmark(group="batch")
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_epoch(benchmark, batch_size):
    work = workloads.densenet_epoch((2, 64, 64, 1), n=1024, batch_size=batch_size)
    benchmark.extra_info.update(network="2-64-64-1", batch_size=batch_size, samples=1024)
    history = benchmark.pedantic(work, rounds=5, warmup_rounds=1)
    workloads.check_epoch(history, (2, 64, 64, 1))


@pytest.mark.benchmark(group="batch-one")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("side", ["densenet", "pytorch"])
@pytest.mark.parametrize("fit", list(workloads.BATCH_ONE_FITS))
def test_batch_one_epoch(benchmark, fit, side, dtype):
    """Big layers at batch size 1, where each weight gradient is an outer product (BLAS's
    rank-1 update in densenet), densenet and PyTorch from the same start."""
    if side == "pytorch":
        pytest.importorskip("torch")
    densenet, pytorch = workloads.batch_one_fit(fit, dtype)
    benchmark.extra_info.update(network=fit, batch_size=1, dtype=np.dtype(dtype).name,
                                samples=workloads.BATCH_ONE_FITS[fit][1])
    result = benchmark.pedantic(densenet if side == "densenet" else pytorch, rounds=5, warmup_rounds=1)
    loss = result.loss[-1] if side == "densenet" else float(result)
    assert np.isfinite(loss)
    assert 0 < loss < 1
