"""Group ``blocks``: the 784-512-512-10 step at batch size 256 with one activation, loss or
optimiser swapped in at a time (``workloads.BLOCKS``), vs its matrix products alone and vs
PyTorch's same step with the same thread count. ``report.py`` gives the ratios."""

from __future__ import annotations

import numpy as np
import pytest
import workloads

DTYPES = [np.float64, np.float32]


@pytest.mark.benchmark(group="blocks")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("side", ["densenet", "pytorch"])
@pytest.mark.parametrize("block", list(workloads.BLOCKS))
def test_block_step(benchmark, block, side, dtype):
    if side == "pytorch":
        torch = pytest.importorskip("torch")
        threads = next((i["num_threads"] for i in workloads.blas_info() if "num_threads" in i), None)
        if threads:
            torch.set_num_threads(int(threads))
        work = workloads.torch_block_step(block, dtype)
    else:
        work = workloads.block_step(block, dtype)
    benchmark.extra_info.update(network="784-512-512-10", batch_size=256, block=block,
                                dtype=np.dtype(dtype).name)
    first = float(work())
    last = float(benchmark.pedantic(work, rounds=5, warmup_rounds=1))
    if "dropout" in workloads.BLOCKS[block][0]:  # each step's loss is of other masks: it may rise
        assert np.isfinite(first)
        assert np.isfinite(last)
        assert last > 0
    else:
        assert np.isfinite(first)
        assert 0 < last <= first * 1.01  # the steps train: the loss does not rise
