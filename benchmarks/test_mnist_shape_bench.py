"""Group ``mnist-shape``: one epoch of 784-30-10 sigmoid/MSE at batch size 10, float64, on
1,000 random rows of MNIST's shape: densenet ``fit``, the classic per-sample loop
(``workloads.PerSampleMLP``: vectorised over neurons, looping over the samples of each
mini-batch) and PyTorch. Target P7: classic / densenet >= 10 (``report.py`` gives the ratio)."""

from __future__ import annotations

import numpy as np
import pytest
import workloads


@pytest.mark.benchmark(group="mnist-shape")
@pytest.mark.parametrize("side", ["densenet", "classic-per-sample", "pytorch"])
def test_epoch(benchmark, side):
    densenet, classic, pytorch = workloads.mnist_shape_epoch()
    if side == "pytorch":
        pytest.importorskip("torch")
    work = {"densenet": densenet, "classic-per-sample": classic, "pytorch": pytorch}[side]
    benchmark.extra_info.update(network="784-30-10", batch_size=10, rows=1000, dtype="float64")
    result = benchmark.pedantic(work, rounds=5, warmup_rounds=1)
    assert np.isfinite(np.asarray(result)).all()


def test_the_classic_loop_does_densenets_work():
    """Not timed: after each epoch the classic loop's parameters equal densenet's to rounding
    (it sums per-sample gradients, densenet multiplies matrices), so the ratio compares like work."""
    densenet, classic, _ = workloads.mnist_shape_epoch(n=200)
    for _ in range(2):
        ours, theirs = densenet().copy(), classic()
        assert np.abs(ours - theirs).max() <= 1e-13 * np.abs(ours).max()
    start = workloads.sigmoid_mlp(workloads.MNIST_SHAPE).params
    assert np.abs(ours - start).max() > 1e-3  # and they did train
