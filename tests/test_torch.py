"""Every module, loss and optimiser against PyTorch: forward values, losses, dX and
parameter gradients to 1e-10 on random networks mixing all activations (float64), and
optimiser trajectories over 100 steps."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn
from densenet import backend, cblas, normal

from .conftest import ACTIVATIONS as ALL
from .conftest import mkl_or_skip
from .torch_twin import float64_default, random_network, torch_flat_grads, torch_flat_params, torch_twin

torch = pytest.importorskip("torch")


def targets_for(loss, rng, n, classes):
    if isinstance(loss, (dn.CrossEntropyLoss, dn.NLLLoss)):
        labels = rng.integers(0, classes, n)
        return labels, torch.tensor(labels)
    y = rng.uniform(size=(n, classes))
    return y, torch.tensor(y)


LOSSES = {"mse": (dn.MSELoss, torch.nn.MSELoss),
          "cross_entropy": (dn.CrossEntropyLoss, torch.nn.CrossEntropyLoss),
          "nll": (dn.NLLLoss, torch.nn.NLLLoss),
          "bce_with_logits": (dn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss),
          "poisson": (dn.PoissonNLLLoss, torch.nn.PoissonNLLLoss), "l1": (dn.L1Loss, torch.nn.L1Loss),
          "huber": (dn.HuberLoss, torch.nn.HuberLoss), "smooth_l1": (dn.SmoothL1Loss, torch.nn.SmoothL1Loss)}


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("seed", range(4))
def test_forward_loss_and_gradients_equal_pytorch_autograd(seed, loss_name):
    rng = np.random.default_rng(seed)
    order = [ALL[i] for i in rng.permutation(len(ALL))]
    widths = [int(w) for w in rng.integers(2, 9, len(ALL) + 2)]  # every activation, logits out
    model = random_network(rng, widths, order)
    model = dn.Sequential(*list(_unbound(model))[:-1], seed=seed)  # logits out: no activation last
    net = torch_twin(model)
    X = rng.standard_normal((7, widths[0]))
    ours_loss, theirs_loss = (kind() for kind in LOSSES[loss_name])
    y, t = targets_for(ours_loss, rng, 7, widths[-1])

    x = torch.tensor(X, requires_grad=True)
    out = net(x)
    value = theirs_loss(out, t)
    value.backward()
    Y = model.forward(X)
    assert_allclose(Y, out.detach().numpy(), rtol=1e-10, atol=1e-14)
    assert_allclose(ours_loss.forward(Y, y), value.item(), rtol=1e-10)
    dX = model.backward(ours_loss.backward())
    assert_allclose(dX, x.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert_allclose(model.grads, torch_flat_grads(net), rtol=1e-10, atol=1e-14)


def _unbound(model):
    """Fresh copies of a model's modules (to build another model from them)."""
    import copy

    return [copy.deepcopy(m) for m in model]


OPTIMIZERS = {
    "sgd": (lambda: dn.SGD(0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "momentum": (lambda: dn.SGD(0.05, momentum=0.9, weight_decay=1e-3),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3)),
    "nesterov": (lambda: dn.SGD(0.05, momentum=0.8, nesterov=True),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda: dn.Adam(0.01, weight_decay=1e-2),
             lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-2)),
    "adamw": (lambda: dn.AdamW(0.01, betas=(0.8, 0.99)),
              lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.99))),
    "amsgrad": (lambda: dn.Adam(0.01, weight_decay=1e-2, amsgrad=True),
                lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-2, amsgrad=True)),
    "adamw_amsgrad": (lambda: dn.AdamW(0.01, betas=(0.5, 0.9), amsgrad=True),
                      lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.5, 0.9), amsgrad=True)),
    "radam": (lambda: dn.RAdam(0.01, weight_decay=1e-2),
              lambda p: torch.optim.RAdam(p, lr=0.01, weight_decay=1e-2)),
    "radam_decoupled": (lambda: dn.RAdam(0.01, betas=(0.8, 0.9), weight_decay=1e-2,
                                         decoupled_weight_decay=True),
                        lambda p: torch.optim.RAdam(p, lr=0.01, betas=(0.8, 0.9), weight_decay=1e-2,
                                                    decoupled_weight_decay=True)),
    "nadam": (lambda: dn.NAdam(0.01, weight_decay=1e-2),
              lambda p: torch.optim.NAdam(p, lr=0.01, weight_decay=1e-2)),
    "nadam_decoupled": (lambda: dn.NAdam(0.01, betas=(0.8, 0.9), weight_decay=1e-2, momentum_decay=0.1,
                                         decoupled_weight_decay=True),
                        lambda p: torch.optim.NAdam(p, lr=0.01, betas=(0.8, 0.9), weight_decay=1e-2,
                                                    momentum_decay=0.1, decoupled_weight_decay=True)),
    "adamax": (lambda: dn.Adamax(0.01), lambda p: torch.optim.Adamax(p, lr=0.01)),
    "adamax_decays": (lambda: dn.Adamax(0.01, betas=(0.5, 0.9), eps=1e-3, weight_decay=1e-2),
                      lambda p: torch.optim.Adamax(p, lr=0.01, betas=(0.5, 0.9), eps=1e-3,
                                                   weight_decay=1e-2)),
    "rmsprop": (lambda: dn.RMSprop(0.005), lambda p: torch.optim.RMSprop(p, lr=0.005)),
    "adagrad": (lambda: dn.Adagrad(0.05), lambda p: torch.optim.Adagrad(p, lr=0.05)),
    "adagrad_decays": (lambda: dn.Adagrad(0.05, lr_decay=0.02, weight_decay=1e-2,
                                          initial_accumulator_value=0.5, eps=1e-6),
                       lambda p: torch.optim.Adagrad(p, lr=0.05, lr_decay=0.02, weight_decay=1e-2,
                                                     initial_accumulator_value=0.5, eps=1e-6)),
    "rmsprop_momentum": (lambda: dn.RMSprop(0.005, alpha=0.9, weight_decay=1e-2, momentum=0.8),
                         lambda p: torch.optim.RMSprop(p, lr=0.005, alpha=0.9, weight_decay=1e-2,
                                                       momentum=0.8)),
    "rmsprop_centered": (lambda: dn.RMSprop(0.005, eps=1e-6, momentum=0.5, centered=True),
                         lambda p: torch.optim.RMSprop(p, lr=0.005, eps=1e-6, momentum=0.5, centered=True)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_training_trajectories_equal_torch_optim_over_100_steps(name):
    rng = np.random.default_rng(5)
    model = random_network(rng, [3, 16, 16, 4], [dn.Tanh, dn.ReLU])
    model = dn.Sequential(*_unbound(model)[:-1], seed=0)
    net = torch_twin(model)
    X = rng.standard_normal((64, 3))
    labels = rng.integers(0, 4, 64)
    ours, theirs = OPTIMIZERS[name]
    optimizer, torch_optimizer = ours(), theirs(net.parameters())
    history = model.fit(X, labels, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=25,
                        batch_size=16, shuffle=False)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, t = torch.tensor(X), torch.tensor(labels)
    with float64_default():
        for _ in range(25):
            for start in range(0, 64, 16):
                torch_optimizer.zero_grad()
                loss_fn(net(x[start:start + 16]), t[start:start + 16]).backward()
                torch_optimizer.step()
    assert optimizer.steps == 100
    assert history.loss[-1] < history.loss[0]
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [name for name in OPTIMIZERS if name not in ("sgd", "momentum", "nesterov")])
def test_adaptive_trajectories_on_mkls_vector_math_equal_torch_optim(monkeypatch, through, name):
    """The same 100 steps with the update's passes on MKL's vector math (``DENSENET_BLAS=mkl``;
    here for the network's 420 parameters, below ``VECTOR_MATH_MIN_BYTES`` otherwise)."""
    through(mkl_or_skip())
    passes, axpy = [], cblas.VectorMath.axpy
    monkeypatch.setattr(cblas.VectorMath, "axpy", lambda self, *args: passes.append(1) or axpy(self, *args))
    monkeypatch.setattr(backend, "VECTOR_MATH_MIN_BYTES", 0)
    test_training_trajectories_equal_torch_optim_over_100_steps(name)
    assert len(passes) >= 100  # (the step into the parameters, at least, each time)


def test_gelu_on_mkls_normal_distribution_equals_pytorch_autograd(monkeypatch, through):
    """The random networks above with GELU's ``Phi`` by MKL's vector math (``DENSENET_BLAS=mkl``;
    here on arrays of any size, below ``normal.LIBRARY_MIN_SIZE`` otherwise)."""
    through(mkl_or_skip())
    calls, normal_cdf = [], cblas.VectorMath.normal_cdf
    monkeypatch.setattr(cblas.VectorMath, "normal_cdf",
                        lambda self, *args: calls.append(1) or normal_cdf(self, *args))
    monkeypatch.setattr(normal, "LIBRARY_MIN_SIZE", 0)
    for seed in range(4):
        test_forward_loss_and_gradients_equal_pytorch_autograd(seed, "cross_entropy")
    assert len(calls) == 4  # (one GELU a network, one forward pass)


def _random_fit(seed):
    """A random fit and its PyTorch twin: 1-3 hidden layers of every activation, widths
    up to 300 (products past ``GEMM_MIN_PRODUCT``: gemm with the bias and the folded
    updates), every loss and optimiser, a partial last batch, 2-3 epochs of at most
    8 batches each (longer runs at high rates drift apart from rounding through ReLU's kink)."""
    rng = np.random.default_rng(seed)
    hidden = [int(rng.choice([4, 64, 300])) for _ in range(rng.integers(1, 4))]
    widths = [int(rng.choice([3, 64, 130])), *hidden]
    outputs = int(rng.choice([1, 3, 10]))
    modules: list[dn.Module] = []
    for n_in, n_out in zip(widths, widths[1:]):
        modules += [dn.Dense(n_in, n_out, init="he_normal"), ALL[rng.integers(0, len(ALL))]()]
    kind = ["mse", "labels", "probabilities", "bce", "bce_with_logits"][seed % 5]
    modules.append(dn.Dense(widths[-1], outputs + (kind == "labels")))
    modules += {"mse": [dn.Tanh()], "bce": [dn.Sigmoid()]}.get(kind, [])
    model = dn.Sequential(*modules, seed=seed)
    n = int(rng.choice([200, 256]))
    X = rng.standard_normal((n, widths[0]))
    y = rng.integers(0, outputs + 1, n) if kind == "labels" else rng.uniform(size=(n, outputs))
    loss, torch_loss = {"mse": LOSSES["mse"], "labels": LOSSES["cross_entropy"],
                        "probabilities": LOSSES["cross_entropy"], "bce": (dn.BCELoss, torch.nn.BCELoss),
                        "bce_with_logits": LOSSES["bce_with_logits"]}[kind]
    lr, decay = float(rng.choice([0.01, 0.1])), float(rng.choice([0.0, 0.01]))
    optimizer, torch_optimizer = [
        (dn.SGD(lr, weight_decay=decay), partial(torch.optim.SGD, lr=lr, weight_decay=decay)),
        (dn.SGD(lr, momentum=0.9, weight_decay=decay),
         partial(torch.optim.SGD, lr=lr, momentum=0.9, weight_decay=decay)),
        (dn.SGD(lr, momentum=0.5, nesterov=True),
         partial(torch.optim.SGD, lr=lr, momentum=0.5, nesterov=True)),
        (dn.Adam(lr / 10, weight_decay=decay), partial(torch.optim.Adam, lr=lr / 10, weight_decay=decay)),
        (dn.AdamW(lr / 10), partial(torch.optim.AdamW, lr=lr / 10)),
    ][seed % 5 if seed < 5 else rng.integers(0, 5)]
    batch_size = int(rng.choice([32, 64, 100]))
    return model, X, y, loss(), torch_loss(), optimizer, torch_optimizer, batch_size, int(rng.integers(2, 4))


@pytest.mark.parametrize("seed", range(15))
def test_fits_on_every_path_equal_pytorch(seed):
    model, X, y, loss, torch_loss, optimizer, torch_optimizer, batch_size, epochs = _random_fit(seed)
    net = torch_twin(model)
    torch_optimizer = torch_optimizer(net.parameters())
    model.fit(X, y, optimizer=optimizer, loss=loss, epochs=epochs, batch_size=batch_size, shuffle=False)
    x, t = torch.tensor(X), torch.tensor(y)
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            torch_optimizer.zero_grad()
            torch_loss(net(x[start:start + batch_size]), t[start:start + batch_size]).backward()
            torch_optimizer.step()
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-9, atol=1e-12)
