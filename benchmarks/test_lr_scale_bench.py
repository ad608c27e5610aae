"""Group ``lr-scale``: one step of the 784-512-512-10 ReLU network at batch 256 with its
first two Dense layers at a tenth of the learning rate (``lr_scale``) or not, by SGD,
momentum SGD, Adam and AdamW (``workloads.lr_scale_step``), densenet and PyTorch (a
parameter group per layer), float32 and float64: what a per-parameter learning rate costs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import workloads
from numpy.testing import assert_allclose

DTYPES = {"float32": np.float32, "float64": np.float64}


@pytest.mark.benchmark(group="lr-scale")
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(workloads.LR_SCALE_OPTIMIZERS))
@pytest.mark.parametrize("side", ["densenet", "densenet scaled", "torch groups"])
def test_step(benchmark, side, name, dtype):
    if side == "torch groups":
        pytest.importorskip("torch")
        step = workloads.torch_lr_scale_step(name, DTYPES[dtype])
    else:
        step = workloads.lr_scale_step(name, side == "densenet scaled", DTYPES[dtype])
    benchmark.extra_info.update(network="784-512-512-10", batch_size=256, optimizer=name, dtype=dtype,
                                body_scale=workloads.BODY_SCALE if side != "densenet" else 1.0)
    assert math.isfinite(float(benchmark.pedantic(step, rounds=20, warmup_rounds=2)))


@pytest.mark.parametrize("name", list(workloads.LR_SCALE_OPTIMIZERS))
def test_the_scaled_layers_move_a_tenth_as_far_on_the_first_step(name):
    """Not timed: the scaled step moves the first two layers ``BODY_SCALE`` times as far as
    the unscaled one, and the last layer as far."""
    sizes = (6, 5, 5, 3)
    moved = {}
    for scaled in (False, True):
        model = workloads.relu_mlp(sizes)
        before = [module.flat_params.copy() for module in model]
        workloads.lr_scale_step(name, scaled, np.float64, batch_size=8, sizes=sizes, model=model)()
        moved[scaled] = [module.flat_params - start for module, start in zip(model, before)]
    for i in (0, 2):
        assert_allclose(moved[True][i], workloads.BODY_SCALE * moved[False][i], rtol=1e-9, atol=1e-15)
    assert_allclose(moved[True][4], moved[False][4], rtol=1e-12)
