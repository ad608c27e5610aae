"""Group ``big``: 784-512-512-10 sigmoid at batch size 256, one SGD step vs its matrix
products alone (target P3: <= 1.10), and PyTorch's step on the same work (P4: <= 1.0) and
its products alone (where P4 is missed, whether PyTorch's BLAS is the difference)."""

from __future__ import annotations

import numpy as np
import pytest
import workloads

DTYPES = [np.float64, np.float32]


@pytest.mark.benchmark(group="big")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("side", ["densenet-step", "matmul-floor", "pytorch-step", "pytorch-matmul-floor"])
def test_step(benchmark, side, dtype):
    step, floor = workloads.big_step(dtype)
    if side.startswith("pytorch"):
        torch = pytest.importorskip("torch")
        import threadpoolctl

        threads = threadpoolctl.threadpool_info()[0]["num_threads"]
        torch.set_num_threads(threads)
        work = workloads.torch_step(dtype) if side == "pytorch-step" else workloads.torch_floor(dtype)
    else:
        work = step if side == "densenet-step" else floor
    benchmark.extra_info.update(network="784-512-512-10", batch_size=256, dtype=np.dtype(dtype).name)
    result = benchmark.pedantic(work, rounds=10, warmup_rounds=2)
    if side.endswith("floor"):  # the weight gradients of the three layers
        assert [tuple(dW.shape) for dW in result] == [(784, 512), (512, 512), (512, 10)]
        for dW in result:
            assert np.isfinite(np.asarray(dW)).all()
            assert np.asarray(dW).any()
    else:  # the loss of a sigmoid output against targets in (0, 1)
        assert 0 < float(result) < 1


def test_step_trains():
    """Not timed: the planned step lowers the loss."""
    import densenet as dn
    from densenet.plan import TrainStep

    model = workloads.sigmoid_mlp(workloads.BIG)
    X, y = workloads.regression_data(256, workloads.BIG)
    step = TrainStep(model, dn.MSELoss(), dn.SGD(0.5), 256, y)
    step.X[...], step.y[...] = X, y
    first = step()
    for _ in range(5):
        last = step()
    assert last < first


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_the_pytorch_floor_computes_the_same_products(dtype):
    """Not timed: both floors do the same work, products equal to rounding."""
    pytest.importorskip("torch")
    _, floor = workloads.big_step(dtype)
    ours, theirs = floor(), workloads.torch_floor(dtype)()
    rtol = 1e-10 if dtype == np.float64 else 1e-3
    for dW, dW_torch in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(dW_torch), dW, rtol=rtol, atol=rtol * np.abs(dW).max())
