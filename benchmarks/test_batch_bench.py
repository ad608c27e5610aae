"""Group ``batch``: one epoch over 1024 samples of 2-64-64-1 at batch sizes 1 to 1024.

samples per second = 1024 / time per round (pytest-benchmark reports rounds per
second; ``extra_info["samples"]`` gives the factor).
"""

from __future__ import annotations

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
