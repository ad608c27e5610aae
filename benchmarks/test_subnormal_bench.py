"""Group ``subnormal``: ``FLUSH_EVERY`` (64) Adam or momentum steps of a digits-sized ReLU network
(64-256-256-10, batch 32) a tenth of whose hidden units are dead, from an optimiser state whose
dead entries are stuck at subnormal numbers (as they are after such units died) or 0; densenet
(which flushes them at the first of those steps) and PyTorch (which does not), float32 and
float64. Stuck over clean is what the stuck state costs each: for densenet one flush, for
PyTorch every step's multiplications of subnormal numbers."""

from __future__ import annotations

import numpy as np
import pytest
import workloads

DTYPES = {"float32": np.float32, "float64": np.float64}


def subnormal(vector: np.ndarray) -> np.ndarray:
    return (vector != 0) & (np.abs(vector) < np.finfo(vector.dtype).tiny)


@pytest.mark.benchmark(group="subnormal")
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("state", ["clean", "stuck"])
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
@pytest.mark.parametrize("peer", ["densenet", "torch"])
def test_steps(benchmark, peer, optimizer, state, dtype):
    if peer == "torch":
        pytest.importorskip("torch")
    make = workloads.stuck_steps if peer == "densenet" else workloads.torch_stuck_steps
    setup, run = make(optimizer, state == "stuck", DTYPES[dtype])
    benchmark.extra_info.update(network="64-256-256-10", batch_size=workloads.DEAD_BATCH, optimizer=optimizer,
                                state=state, dtype=dtype)
    after = benchmark.pedantic(run, setup=setup, rounds=10, warmup_rounds=1)
    if peer == "densenet":  # the flush at the first step leaves no subnormal number behind
        vectors = [value for value in after.values() if isinstance(value, np.ndarray)]
    else:  # PyTorch's stuck entries stay stuck
        vectors = [value.numpy() for kept in after.values() for value in kept.values() if value.dim()]
    assert all(np.isfinite(v).all() for v in vectors)
    assert any(subnormal(v).any() for v in vectors) == (peer == "torch" and state == "stuck")
