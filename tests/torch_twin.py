"""PyTorch twins of densenet models, for the cross-checks (tests only)."""

from __future__ import annotations

import contextlib

import numpy as np
from numpy.testing import assert_allclose

import densenet as dn


def torch_twin(model: dn.Sequential):
    """A ``torch.nn.Sequential`` computing what ``model`` computes, from its parameters."""
    import torch

    layers = []
    for module in model:
        if isinstance(module, dn.Dense):
            linear = torch.nn.Linear(module.in_features, module.out_features).double()
            with torch.no_grad():
                linear.weight[...] = torch.tensor(module.W.T.copy())
                linear.bias[...] = torch.tensor(module.b.copy())
            layers.append(linear)
        elif isinstance(module, dn.BatchNorm1d):
            norm = torch.nn.BatchNorm1d(module.num_features, eps=module.eps, momentum=module.momentum,
                                        affine=module.affine)
            values = {"running_mean": module.running_mean, "running_var": module.running_var}
            if module.momentum is None:  # (a module made with None counts its batches)
                values["num_batches_tracked"] = module.num_batches_tracked.astype(np.int64)
            if module.affine:
                values.update(weight=module.gamma, bias=module.beta)
            with torch.no_grad():
                for name, value in values.items():
                    getattr(norm.double(), name)[...] = torch.tensor(value.copy())
            layers.append(norm.train(model.training))
        elif isinstance(module, dn.LayerNorm):
            norm = torch.nn.LayerNorm(module.normalized_shape, eps=module.eps,
                                      elementwise_affine=module.elementwise_affine, bias=module.bias).double()
            with torch.no_grad():
                for name, ours in (("weight", "gamma"), ("bias", "beta")):
                    if getattr(norm, name) is not None:
                        getattr(norm, name)[...] = torch.tensor(getattr(module, ours).copy())
            layers.append(norm)
        elif isinstance(module, dn.LeakyReLU):
            layers.append(torch.nn.LeakyReLU(module.negative_slope))
        elif isinstance(module, dn.PReLU):
            prelu = torch.nn.PReLU(module.num_parameters).double()
            with torch.no_grad():
                prelu.weight[...] = torch.tensor(module.a.copy())
            layers.append(prelu)
        elif isinstance(module, dn.Softplus):
            layers.append(torch.nn.Softplus(module.beta, module.threshold))
        elif isinstance(module, dn.ELU):
            layers.append(torch.nn.ELU(module.alpha))
        else:
            layers.append({dn.Sigmoid: torch.nn.Sigmoid(), dn.ReLU: torch.nn.ReLU(), dn.Tanh: torch.nn.Tanh(),
                           dn.GELU: torch.nn.GELU(), dn.SiLU: torch.nn.SiLU(), dn.SELU: torch.nn.SELU(),
                           dn.Softmax: torch.nn.Softmax(dim=1),
                           dn.LogSoftmax: torch.nn.LogSoftmax(dim=1)}[type(module)])
    return torch.nn.Sequential(*layers)


def torch_flat_grads(net) -> np.ndarray:
    """The twin's parameter gradients in densenet's flat layout: ``[dW; db]`` per layer."""
    import torch

    blocks = []
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            blocks.append(np.vstack([layer.weight.grad.numpy().T, layer.bias.grad.numpy()[None]]).ravel())
        elif isinstance(layer, torch.nn.BatchNorm1d) and layer.affine:
            blocks += [layer.weight.grad.numpy(), layer.bias.grad.numpy()]
        elif isinstance(layer, torch.nn.LayerNorm):
            blocks += [p.grad.numpy() for p in (layer.weight, layer.bias) if p is not None]
        elif isinstance(layer, torch.nn.PReLU):
            blocks.append(layer.weight.grad.numpy())
    return np.concatenate(blocks)


def torch_flat_params(net) -> np.ndarray:
    import torch

    blocks = []
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            blocks.append(np.vstack([layer.weight.detach().numpy().T,
                                     layer.bias.detach().numpy()[None]]).ravel())
        elif isinstance(layer, torch.nn.BatchNorm1d) and layer.affine:
            blocks += [layer.weight.detach().numpy(), layer.bias.detach().numpy()]
        elif isinstance(layer, torch.nn.LayerNorm):
            blocks += [p.detach().numpy() for p in (layer.weight, layer.bias) if p is not None]
        elif isinstance(layer, torch.nn.PReLU):
            blocks.append(layer.weight.detach().numpy())
    return np.concatenate(blocks)


def torch_flat_state(net) -> np.ndarray:
    """The twin's running statistics in densenet's ``state`` layout."""
    import torch

    blocks = [np.zeros(0)]
    for layer in net:
        if isinstance(layer, torch.nn.BatchNorm1d):
            blocks += [layer.running_mean.numpy(), layer.running_var.numpy()]
            if layer.momentum is None:  # (densenet's module then keeps the count in its state)
                blocks.append(layer.num_batches_tracked.numpy().reshape(1))
    return np.concatenate(blocks)


def random_network(rng: np.random.Generator, widths, activations, dtype=np.float64) -> dn.Sequential:
    modules: list[dn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        modules.append(dn.Dense(n_in, n_out, init="he_normal"))
        modules.append(activations[i % len(activations)]())
    return dn.Sequential(*modules, dtype=dtype, seed=int(rng.integers(2**31)))


def assert_mse_gradients_equal_pytorch(model: dn.Sequential, net, X: np.ndarray, y: np.ndarray) -> None:
    """One forward and backward pass of ``model`` under ``MSELoss`` on ``(X, y)`` against its
    twin ``net`` under PyTorch's autograd: the loss to 1e-12, dL/dX and the parameter
    gradients to 1e-10."""
    import torch

    loss = dn.MSELoss()
    value = loss.forward(model.forward(X), y)
    dX = model.backward(loss.backward())
    x = torch.tensor(X, requires_grad=True)
    expected = torch.nn.functional.mse_loss(net(x), torch.tensor(y))
    expected.backward()
    assert abs(value - expected.item()) <= 1e-12 * expected.item()
    assert_allclose(dX, x.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert_allclose(model.grads, torch_flat_grads(net), rtol=1e-10, atol=1e-14)


def torch_fit(net, optimizer, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
              max_norm: float | None = None, scheduler=None, loss=None) -> None:
    """PyTorch's training loop for ``net`` under ``loss`` (default ``MSELoss``), the batches
    in order (``fit`` with ``shuffle=False``), in float64 by default; with ``max_norm``, the
    gradient of the parameters that train clipped to it before each step; with
    ``scheduler``, its ``step()`` after each optimiser step."""
    import torch

    x, t = torch.tensor(X), torch.tensor(y)
    loss = torch.nn.MSELoss() if loss is None else loss
    trained = [p for p in net.parameters() if p.requires_grad]
    with float64_default():
        for _ in range(epochs):
            for start in range(0, len(X), batch_size):
                batch = slice(start, start + batch_size)
                optimizer.zero_grad()
                loss(net(x[batch]), t[batch]).backward()
                if max_norm is not None:
                    torch.nn.utils.clip_grad_norm_(trained, max_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()


@contextlib.contextmanager
def float64_default():
    """PyTorch's default dtype float64 inside: the dtype its optimisers give their running
    numbers (NAdam's product of momenta is float32 otherwise)."""
    import torch

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(default)
