"""Group ``metrics``: what training metrics add to an epoch of ``fit``
(``workloads.metric_epochs``: the tutorial's 2-2-1 network at batch 1, 784-30-10 at batch 10,
a 784-128-10 multilabel network at batch 256), each metric side beside the same fit without;
and group ``decay``: AdamW with ``decay_mask=model.decay_mask()`` beside AdamW decaying every
parameter, one 784-512-512-10 epoch at batch 256 (``workloads.decay_epochs``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import workloads


@pytest.mark.benchmark(group="metrics")
@pytest.mark.parametrize("side", list(workloads.METRIC_SIDES))
@pytest.mark.parametrize("fit", list(workloads.METRIC_FITS))
def test_epoch(benchmark, fit, side):
    works = workloads.metric_epochs(fit)
    if side not in works:
        pytest.skip(f"{side} does not score {fit}'s class outputs")
    sizes, batch_size, rows, _ = workloads.METRIC_FITS[fit]
    benchmark.extra_info.update(network="-".join(map(str, sizes)), batch_size=batch_size, rows=rows,
                                metrics=workloads.METRIC_SIDES[side])
    result = benchmark.pedantic(works[side], rounds=5, warmup_rounds=1)
    assert all(math.isfinite(value) for value in result.values())


@pytest.mark.benchmark(group="decay")
@pytest.mark.parametrize("side", ["adamw", "adamw+decay_mask"])
def test_decay_epoch(benchmark, side):
    work = workloads.decay_epochs()[side]
    benchmark.extra_info.update(network="784-512-512-10", batch_size=256, rows=4096, dtype="float32")
    result = benchmark.pedantic(work, rounds=5, warmup_rounds=1)
    assert np.isfinite(result).all()


def test_the_sides_record_what_they_are_timed_for():
    """Not timed: each side's fit records its metrics, and the masked AdamW spares the biases."""
    for fit in workloads.METRIC_FITS:
        works = workloads.metric_epochs(fit, n=64)
        for side, work in works.items():
            assert set(work()) == set(workloads.METRIC_SIDES[side])
        assert ("auc" in works) == (fit != "mnist-shape")
    works = workloads.decay_epochs(n=64, batch_size=32, sizes=(6, 5, 3))
    plain, masked = works["adamw"]().copy(), works["adamw+decay_mask"]().copy()
    assert not np.array_equal(plain, masked)
