"""Gradient clipping: ``dn.clip_grad_norm`` and ``fit(..., max_grad_norm=...)``, against
PyTorch's ``clip_grad_norm_``."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet.plan import TrainStep

from .conftest import allocation_peak, snapshot
from .torch_twin import random_network, torch_fit, torch_flat_params, torch_twin


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm", [0.5, 3.0, 10.0, 1e6])  # (the norm is 6.8: clipped twice, then kept)
def test_clip_grad_norm_equals_pytorch_s(dtype, max_norm):
    """The norm returned and the gradient scaled (or, below the bound, left bit for bit),
    against ``torch.nn.utils.clip_grad_norm_`` on the same values split into tensors."""
    torch = pytest.importorskip("torch")
    grads = np.random.default_rng(0).standard_normal(57).astype(dtype)
    pieces = [torch.nn.Parameter(torch.zeros(size, dtype=getattr(torch, np.dtype(dtype).name)))
              for size in (12, 3, 40, 2)]
    for piece, part in zip(pieces, np.split(grads, [12, 15, 55])):
        piece.grad = torch.tensor(part.copy())
    theirs = torch.nn.utils.clip_grad_norm_(pieces, max_norm)
    ours, before = grads.copy(), grads.copy()
    norm = dn.clip_grad_norm(ours, max_norm)
    tol = 1e-13 if dtype == np.float64 else 1e-6
    assert norm == pytest.approx(float(theirs), rel=tol)
    assert norm == pytest.approx(np.linalg.norm(before), rel=tol)
    assert_allclose(ours, np.concatenate([p.grad.numpy() for p in pieces]), rtol=tol, atol=0)
    if max_norm > norm:
        assert_array_equal(ours, before)
    else:
        # scaled by max_norm / (norm + 1e-6), as PyTorch's
        assert np.linalg.norm(ours.astype(np.float64)) == pytest.approx(max_norm * norm / (norm + 1e-6),
                                                                         rel=10 * tol)


@pytest.mark.parametrize("make_optimizer", [lambda: dn.SGD(0.5), lambda: dn.SGD(0.5, momentum=0.9),
                                            lambda: dn.Adam(0.01)], ids=["sgd", "momentum", "adam"])
def test_fit_clips_as_a_hand_written_loop_does_bit_for_bit(make_optimizer):
    """On a model large enough that plain SGD and momentum would fold their updates into the
    backward pass, a clipping fit does not: it writes ``model.grads``, clips them and steps,
    as a loop written with ``clip_grad_norm`` does, to the last bit."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((256, 64)), rng.standard_normal((256, 10))
    model = dn.Sequential(dn.Dense(64, 256), dn.Tanh(), dn.Dense(256, 256), dn.Tanh(), dn.Dense(256, 10),
                          seed=0)
    assert model.largest_product(256) >= dn.backend.GEMM_MIN_PRODUCT  # (where plain steps fold)
    twin, loss = model.clone(), dn.MSELoss()
    model.fit(X, y, optimizer=make_optimizer(), epochs=3, batch_size=64, shuffle=False, max_grad_norm=0.05)
    optimizer, norms = make_optimizer(), []
    for _ in range(3):
        for start in range(0, 256, 64):
            loss.forward(twin.forward(X[start:start + 64]), y[start:start + 64])
            twin.backward(loss.backward(), input_grad=False)
            norms.append(dn.clip_grad_norm(twin.grads, 0.05))
            optimizer.step(twin.params, twin.grads)
    assert min(norms) > 0.05  # (every step clipped)
    assert_array_equal(model.params, twin.params)
    assert_array_equal(model.grads, twin.grads)
    assert np.linalg.norm(model.grads) == pytest.approx(0.05 * norms[-1] / (norms[-1] + 1e-6), rel=1e-12)


TWINS = {"momentum": lambda net, torch: (dn.SGD(0.3, momentum=0.9),
                                         torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9)),
         "adam": lambda net, torch: (dn.Adam(0.02), torch.optim.Adam(net.parameters(), lr=0.02))}


@pytest.mark.parametrize("make", TWINS.values(), ids=TWINS.keys())
def test_a_clipped_fit_follows_pytorch_s_clipped_loop(make):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    model = random_network(rng, (5, 16, 16, 3), [dn.Tanh, dn.ReLU])
    X, y = rng.standard_normal((48, 5)), 4 * rng.standard_normal((48, 3))
    net = torch_twin(model)
    ours, theirs = make(net, torch)
    model.fit(X, y, optimizer=ours, epochs=5, batch_size=12, shuffle=False, max_grad_norm=0.1)
    torch_fit(net, theirs, X, y, 5, 12, max_norm=0.1)
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)
    unclipped = random_network(np.random.default_rng(3), (5, 16, 16, 3), [dn.Tanh, dn.ReLU])
    unclipped.fit(X, y, optimizer=make(torch_twin(unclipped), torch)[0], epochs=5, batch_size=12,
                  shuffle=False)
    assert np.abs(unclipped.params - model.params).max() > 1e-3  # (the clipping acts here)


def test_clipping_trains_where_the_same_steps_diverge():
    """Plain SGD at a learning rate too large for its first steps (targets of size 10s)
    diverges; with the gradient's norm clipped, those steps are bounded and it trains."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = 10 * X @ rng.standard_normal((4, 1))
    make = lambda: dn.Sequential(dn.Dense(4, 32), dn.ReLU(), dn.Dense(32, 1), seed=0)  # noqa: E731
    with pytest.raises(dn.DivergenceError), np.errstate(all="ignore"):
        make().fit(X, y, optimizer=dn.SGD(0.3), epochs=20, batch_size=20)
    model = make()
    history = model.fit(X, y, optimizer=dn.SGD(0.3), epochs=20, batch_size=20, max_grad_norm=1.0)
    assert np.isfinite(model.params).all()
    assert history.loss[-1] < 0.01 * history.loss[0]


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), ("1", TypeError), (True, TypeError)])
def test_a_bad_max_grad_norm_is_refused_by_name_and_the_model_kept(value, error):
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    before = snapshot(model)
    with pytest.raises(error, match="max_grad_norm"):
        model.fit(np.ones((4, 2)), np.ones(4), max_grad_norm=value)
    assert_array_equal(model.params, before[0])
    with pytest.raises(error, match="clip_grad_norm: .*max_norm"):
        dn.clip_grad_norm(model.grads, value)


def test_clipping_is_refused_for_a_full_batch_optimiser_and_for_arrays_it_cannot_scale():
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    with pytest.raises(ValueError, match=r"fit: max_grad_norm clips each step's gradient, but LBFGS\("):
        model.fit(np.ones((4, 2)), np.ones(4), optimizer=dn.LBFGS(), max_grad_norm=1.0)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    for bad, got in (([1.0, 2.0], "list"), (np.arange(3), "int64 array"),
                     (np.ones((4, 2))[:, 0], "non-contiguous float64 array"),
                     (np.ones(3, np.float16), "float16 array"), (frozen, "read-only float64 array")):
        with pytest.raises(TypeError, match=r"^clip_grad_norm: grads must be a writeable, contiguous "
                                            rf"float32 or float64 array \(such as model.grads\), got {got}$"):
            dn.clip_grad_norm(bad, 1.0)


def test_a_clipping_step_allocates_nothing():
    rng = np.random.default_rng(0)
    model = dn.Sequential(dn.Dense(64, 128), dn.ReLU(), dn.Dense(128, 10), seed=0)
    X, y = model.check_data(rng.standard_normal((256, 64)), rng.standard_normal((256, 10)), dn.MSELoss())
    step = TrainStep(model, dn.MSELoss(), dn.Adam(), 256, y, max_grad_norm=1e-3)
    step.X[...], step.y[...] = X, y
    assert allocation_peak(step) < 4096
    assert np.linalg.norm(model.grads) == pytest.approx(1e-3, rel=1e-5)  # (it clipped)
