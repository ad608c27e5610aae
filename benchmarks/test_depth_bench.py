"""Group ``depth``: 2-32-...-32-1 with 1 to 8 hidden layers, batch size 1, densenet vs scalar."""

from __future__ import annotations

import pytest
import workloads

DEPTHS = [1, 2, 4, 8]


@pytest.mark.benchmark(group="depth")
@pytest.mark.parametrize("side", ["densenet", "scalar"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_batch1_steps(benchmark, depth, side):
    sizes = (2,) + (32,) * depth + (1,)
    densenet, scalar, steps = workloads.mlp_epoch(sizes, n=32, batch_size=1)
    benchmark.extra_info.update(network="-".join(map(str, sizes)), batch_size=1, steps=steps)
    result = benchmark.pedantic(densenet if side == "densenet" else scalar, rounds=5, warmup_rounds=1)
    workloads.check_epoch(result, sizes)
