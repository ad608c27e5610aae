"""Group ``callbacks``: what a ``ModelCheckpoint`` after every epoch, and a
``WeightAveraging`` and a ``OneCycleLR`` after every batch, add to an epoch
(``workloads.callback_epochs``): 64-128-10 at batch 32 and 784-512-512-10 at batch 256 on
4,096 random rows, ReLU and softmax cross-entropy; Adam with and without the checkpoint
(the model and its moments written, fsync'ed) and the averaging (a moving average of the
weights), SGD with momentum with and without the schedule (the rate and momentum set at
every step)."""

from __future__ import annotations

import numpy as np
import pytest
import workloads


@pytest.mark.benchmark(group="callbacks")
@pytest.mark.parametrize("side", workloads.CALLBACK_SIDES)
@pytest.mark.parametrize("shape", list(workloads.CALLBACK_SIZES))
def test_epoch(benchmark, shape, side, tmp_path):
    work = workloads.callback_epochs(shape, str(tmp_path))[side]
    sizes, batch_size = workloads.CALLBACK_SIZES[shape]
    benchmark.extra_info.update(network="-".join(map(str, sizes)), batch_size=batch_size, rows=4096,
                                dtype="float64")
    result = benchmark.pedantic(work, rounds=5, warmup_rounds=1)
    assert np.isfinite(result).all()


def test_the_callbacks_do_what_they_are_timed_for(tmp_path):
    """Not timed: the checkpoint writes the model each epoch, the averaging keeps a moving
    average beside a model that trains as without it, the schedule moves the rate."""
    works = workloads.callback_epochs("small", str(tmp_path), n=256)
    written = works["adam+checkpoint"]()
    import densenet as dn

    assert np.array_equal(dn.load(tmp_path / "small.npz").params, written)
    alone, averaged = works["adam"](), works["adam+averaging"]()
    assert np.array_equal(alone, averaged)  # (the same start: the average is left beside the model)
    plain, cycled = works["sgd"](), works["sgd+one-cycle"]()
    assert not np.array_equal(plain, cycled)  # (the same start: the rates differ)
