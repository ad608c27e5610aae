"""Group ``freeze``: one Adam step of the 784-512-512-10 ReLU network at batch 256 with none,
the first or the first two of its Dense layers frozen (``workloads.freeze_step``), densenet
and PyTorch (``requires_grad_(False)``), float32 and float64: what a fine-tuning step saves,
and what it costs beside PyTorch's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import workloads

DTYPES = {"float32": np.float32, "float64": np.float64}


@pytest.mark.benchmark(group="freeze")
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("side", list(workloads.FREEZE_SIDES))
@pytest.mark.parametrize("peer", ["densenet", "torch"])
def test_step(benchmark, peer, side, dtype):
    if peer == "torch":
        pytest.importorskip("torch")
    make = workloads.freeze_step if peer == "densenet" else workloads.torch_freeze_step
    step = make(side, DTYPES[dtype])
    benchmark.extra_info.update(network="784-512-512-10", batch_size=256, frozen=side, dtype=dtype)
    assert math.isfinite(float(benchmark.pedantic(step, rounds=20, warmup_rounds=2)))


def test_the_frozen_layers_stay_as_they_were():
    """Not timed: the steps timed leave the frozen layers alone and train the rest."""
    sizes = (6, 5, 5, 3)
    for side, frozen in workloads.FREEZE_SIDES.items():
        model = workloads.relu_mlp(sizes)
        step = workloads.freeze_step(side, np.float64, batch_size=8, sizes=sizes, model=model)
        before = [module.flat_params.copy() for module in model]
        step()
        for i, module in enumerate(model):
            if module.n_params:
                assert np.array_equal(module.flat_params, before[i]) == (i in frozen), (side, i)
