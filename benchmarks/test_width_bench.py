"""Group ``width``: 2-h-1 sigmoid networks, densenet vs the scalar MLP.

- ``width-step``: SGD at batch size 1, 64 steps per round (time per round / 64 = one step);
- ``width-epoch``: one full-batch SGD step on 1024 samples (one epoch).
The crossover width is where densenet's per-step time stops being flat: see report.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import workloads

WIDTHS = [2, 4, 8, 16, 64, 256]


@pytest.mark.benchmark(group="width-step")
@pytest.mark.parametrize("side", ["densenet", "scalar"])
@pytest.mark.parametrize("h", WIDTHS)
def test_batch1_steps(benchmark, h, side):
    densenet, scalar, steps = workloads.mlp_epoch((2, h, 1), n=64, batch_size=1)
    benchmark.extra_info.update(network=f"2-{h}-1", batch_size=1, steps=steps)
    result = benchmark.pedantic(densenet if side == "densenet" else scalar, rounds=5, warmup_rounds=1)
    workloads.check_epoch(result, (2, h, 1))


@pytest.mark.benchmark(group="width-epoch")
@pytest.mark.parametrize("side", ["densenet", "scalar"])
@pytest.mark.parametrize("h", WIDTHS)
def test_full_batch_epoch(benchmark, h, side):
    densenet, scalar, steps = workloads.mlp_epoch((2, h, 1), n=1024, batch_size=1024)
    benchmark.extra_info.update(network=f"2-{h}-1", batch_size=1024, steps=steps)
    rounds = 5 if side == "densenet" or h <= 16 else 2
    result = benchmark.pedantic(densenet if side == "densenet" else scalar, rounds=rounds, warmup_rounds=1)
    workloads.check_epoch(result, (2, h, 1))


@pytest.mark.parametrize("h", [2, 16])
def test_both_sides_train_identically(h):
    """Not timed: the two sides of this group do the same arithmetic."""
    from densenet import reference

    model = workloads.sigmoid_mlp((2, h, 1))
    scalar = reference.ScalarMLP((2, h, 1), model.params)
    X, y = workloads.regression_data(32, (2, h, 1))
    model.fit(X, y, epochs=1, batch_size=1, shuffle=False)
    scalar.train(X.tolist(), y.tolist(), lr=0.1, epochs=1, batch_size=1)
    np.testing.assert_allclose(scalar.params(), model.params, rtol=1e-11, atol=1e-14)
