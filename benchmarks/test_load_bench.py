"""Group ``load``: three fits (one epoch each, ``workloads.LOAD_FITS``) idle and with two
busy-loop processes beside them, densenet and PyTorch. Target P6: loaded / idle <= 3 for each
fit, and no worse than PyTorch's own ratio (``report.py`` measures both side by side)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import workloads


@pytest.mark.benchmark(group="load")
@pytest.mark.parametrize("condition", ["idle", "two-busy-processes"])
@pytest.mark.parametrize("side", ["densenet", "pytorch"])
@pytest.mark.parametrize("fit", list(workloads.LOAD_FITS))
def test_fit(benchmark, fit, side, condition):
    if side == "pytorch":
        pytest.importorskip("torch")
    densenet, pytorch = workloads.load_fit(fit)
    work = densenet if side == "densenet" else pytorch
    benchmark.extra_info.update(fit=fit, condition=condition)
    busy = workloads.busy_processes(2, seconds=120) if condition != "idle" else contextlib.nullcontext()
    with busy:
        result = benchmark.pedantic(work, rounds=5, warmup_rounds=1)
    loss = result.loss[-1] if side == "densenet" else float(result)
    assert np.isfinite(loss)
    assert loss > 0


def test_busy_processes_always_stop():
    """Not timed: the busy processes run while the block runs and are gone after it,
    also when it raises; each also stops by itself after its time."""
    with pytest.raises(KeyboardInterrupt), workloads.busy_processes(2, seconds=60) as procs:
        assert all(proc.poll() is None for proc in procs)
        raise KeyboardInterrupt
    assert all(proc.poll() is not None for proc in procs)
    with workloads.busy_processes(1, seconds=0.0) as (proc,):
        assert proc.wait(timeout=10) == 0
