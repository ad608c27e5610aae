"""Every module, loss and optimiser against PyTorch: forward values, losses, dX and
parameter gradients to 1e-10 on random networks mixing all activations (float64),
optimiser trajectories over 100 steps, and random fits (every module, loss and optimiser
setting, clipping, drop_last) against PyTorch's training loop."""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn
from densenet import backend, cblas, normal

from .conftest import ACTIVATIONS as ALL
from .conftest import mkl_or_skip
from .torch_twin import (
    float64_default,
    random_network,
    torch_fit,
    torch_flat_grads,
    torch_flat_params,
    torch_flat_state,
    torch_twin,
)

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


def _loss_with_options(rng, n, classes):
    """A random loss with random options, PyTorch's, targets for both and the module the loss
    wants last (None: logits)."""
    weight = rng.uniform(0.2, 2.0, classes) if rng.integers(2) else None
    torch_weight = None if weight is None else torch.tensor(weight)
    labels = rng.integers(0, classes, n)
    ignored = int(labels[0]) if rng.integers(3) == 0 else None  # (a label some sample keeps: labels[0])
    ignoring = {} if ignored is None else {"ignore_index": ignored}
    smoothing = float(rng.choice([0.0, 0.1, 0.3]))
    reach = float(rng.choice([0.3, 1.0, 2.0]))
    kind = rng.integers(10)
    if kind == 0:
        y = rng.normal(size=(n, classes))
        return dn.MSELoss(), torch.nn.MSELoss(), y, None
    if kind == 1:
        y = rng.normal(size=(n, classes))
        return dn.L1Loss(), torch.nn.L1Loss(), y, None
    if kind == 2:
        y = rng.normal(size=(n, classes))
        return dn.HuberLoss(reach), torch.nn.HuberLoss(delta=reach), y, None
    if kind == 3:
        y = rng.normal(size=(n, classes))
        return dn.SmoothL1Loss(reach), torch.nn.SmoothL1Loss(beta=reach), y, None
    if kind == 4:
        return (dn.CrossEntropyLoss(weight, ignored, smoothing),
                torch.nn.CrossEntropyLoss(torch_weight, label_smoothing=smoothing, **ignoring), labels, None)
    if kind == 5:
        y = rng.dirichlet(np.ones(classes), n)
        return (dn.CrossEntropyLoss(weight, label_smoothing=smoothing),
                torch.nn.CrossEntropyLoss(torch_weight, label_smoothing=smoothing), y, None)
    if kind == 6:
        return dn.NLLLoss(weight, ignored), torch.nn.NLLLoss(torch_weight, **ignoring), labels, dn.LogSoftmax
    if kind == 7:
        y = rng.uniform(size=(n, classes)) if rng.integers(2) else rng.integers(0, 2, (n, classes)) * 1.0
        return dn.BCELoss(), torch.nn.BCELoss(), y, dn.Sigmoid
    if kind == 8:
        y = rng.integers(0, 2, (n, classes)) * 1.0
        return (dn.BCEWithLogitsLoss(weight), torch.nn.BCEWithLogitsLoss(pos_weight=torch_weight), y, None)
    y = rng.poisson(2.0, (n, classes)) * 1.0
    return dn.PoissonNLLLoss(), torch.nn.PoissonNLLLoss(), y, None


def _hidden_block(rng, width):
    """A random module after a Dense layer of ``width`` outputs: an activation with its
    settings, or a normalisation with its options."""
    kind = rng.integers(6)
    if kind == 0:
        return dn.PReLU(int(rng.choice([1, width])), float(rng.choice([0.25, -0.3])))
    if kind == 1:
        return dn.BatchNorm1d(width, eps=float(rng.choice([1e-5, 0.1])),
                              momentum=[0.1, 0.5, None][rng.integers(3)], affine=bool(rng.integers(2)))
    if kind == 2:
        return dn.LayerNorm(width, eps=float(rng.choice([1e-5, 0.1])),
                            elementwise_affine=bool(rng.integers(2)), bias=bool(rng.integers(2)))
    if kind == 3:
        return [dn.LeakyReLU(0.1), dn.ELU(0.7), dn.Softplus(2.0, 5.0)][rng.integers(3)]
    return ALL[rng.integers(0, len(ALL))]()


def _fit_with_options(seed):
    """A small random fit drawing what the other fits leave at their defaults: BatchNorm1d
    of each momentum (None: a running mean), with and without its affine; LayerNorm with and
    without its affine and bias; PReLU of one slope and of one a feature; the activations'
    settings; every loss with its options (class weights, an ignored label, label smoothing,
    probabilities, pos_weight, delta, beta); every optimiser setting of ``OPTIMIZERS``;
    clipping; drop_last; batches of 2 rows to all of them."""
    rng = np.random.default_rng(seed)
    n, n_in, classes = int(rng.integers(8, 40)), int(rng.integers(1, 5)), int(rng.integers(2, 4))
    loss, torch_loss, y, head = _loss_with_options(rng, n, classes)
    modules: list[dn.Module] = []
    width = n_in
    for _ in range(rng.integers(1, 4)):
        hidden = int(rng.integers(2, 9))
        modules.append(dn.Dense(width, hidden))
        modules += [_hidden_block(rng, hidden) for _ in range(rng.integers(1, 3))]
        width = hidden
    modules += [dn.Dense(width, classes), *([] if head is None else [head()])]
    model = dn.Sequential(*modules, seed=seed)
    batch_size = int(rng.choice([2, 3, 5, 8, n]))
    return dict(model=model, X=rng.normal(size=(n, n_in)), y=y, loss=loss, torch_loss=torch_loss,
                optimizer=list(OPTIMIZERS)[rng.integers(len(OPTIMIZERS))], batch_size=batch_size,
                epochs=int(rng.integers(1, 5)), drop_last=bool(rng.integers(3) == 0 or n % batch_size == 1),
                max_grad_norm=[None, None, 0.5, 5.0][rng.integers(4)])


def _apart(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("seed", range(40))
def test_fits_of_every_module_loss_and_option_are_pytorch_s_to_its_own_rounding(seed):
    """PyTorch's loop from the same start, and again from a start one rounding away (each
    parameter times 1 +- 2**-52): ours is no further from the first than 100 times the
    second is, and within 1e-9 where the fit does not grow roundings (in most: a Dense bias
    before a BatchNorm1d has no gradient but rounding, which an adaptive optimiser scales up)."""
    fit = _fit_with_options(seed)
    model, ours, theirs = fit["model"], *OPTIMIZERS[fit["optimizer"]]
    n = len(fit["X"]) - (len(fit["X"]) % fit["batch_size"] if fit["drop_last"] else 0)
    rounded = copy.deepcopy(model)
    rounded.params[...] *= 1 + np.random.default_rng(seed).choice([-1.0, 1.0], model.params.size) * 2.0**-52
    nets = [torch_twin(model), torch_twin(rounded)]
    for net in nets:
        torch_fit(net, theirs(net.parameters()), fit["X"][:n], fit["y"][:n], fit["epochs"], fit["batch_size"],
                  max_norm=fit["max_grad_norm"], loss=fit["torch_loss"])
    model.fit(fit["X"], fit["y"], optimizer=ours(), loss=fit["loss"], epochs=fit["epochs"],
              batch_size=fit["batch_size"], shuffle=False, drop_last=fit["drop_last"],
              max_grad_norm=fit["max_grad_norm"])
    params, state = [torch_flat_params(net) for net in nets], [torch_flat_state(net) for net in nets]
    assert _apart(model.params, params[0]) <= max(1e-9, 100 * _apart(params[1], params[0]))
    assert _apart(model.state, state[0]) <= max(1e-9, 100 * _apart(state[1], state[0]))  # (none: 0 <= 1e-9)
