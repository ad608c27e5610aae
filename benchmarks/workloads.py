"""The work the benchmarks time, shared by the pytest-benchmark suites and report.py.

Every workload is a pair of callables doing the same work two ways (densenet
and a reference or peer), built from the same starting parameters and data, so
their times can be compared as a ratio measured side by side in one process.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import densenet as dn
from densenet import reference, tutorial

Work = Callable[[], object]


# -- models and data ----------------------------------------------------------------

def sigmoid_mlp(sizes: tuple[int, ...], dtype: type = np.float64, seed: int = 0) -> dn.Sequential:
    """Dense + Sigmoid for every layer of ``sizes``, default initialisation."""
    modules: list[dn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        modules += [dn.Dense(n_in, n_out), dn.Sigmoid()]
    return dn.Sequential(*modules, dtype=dtype, seed=seed)


def relu_mlp(sizes: tuple[int, ...], dtype: type = np.float64, seed: int = 0) -> dn.Sequential:
    """Dense layers of ``sizes`` (He-normal), ReLU between them, none after the last."""
    modules: list[dn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        modules += [dn.Dense(n_in, n_out, init="he_normal")] + ([dn.ReLU()] if i < len(sizes) - 2 else [])
    return dn.Sequential(*modules, dtype=dtype, seed=seed)


def regression_data(n: int, sizes: tuple[int, ...], dtype: type = np.float64,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` standard-normal inputs and uniform targets in (0, 1) for a ``sizes`` network."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.uniform(0.05, 0.95, (n, sizes[-1])).astype(dtype)
    return X, y


# -- the tutorial: densenet fit vs the scalar version ---------------------------------

def tutorial_training(seed: int = 0, epochs: int = 1000) -> tuple[Work, Work]:
    """(densenet, scalar): the tutorial's whole training from the same random start."""
    start = tutorial.initial_params(seed)

    def densenet() -> list[float]:
        record = tutorial.EveryTenEpochs()
        tutorial.network(start).fit(tutorial.X, tutorial.y, optimizer=dn.SGD(lr=0.1),
                                    loss=dn.MSELoss(), epochs=epochs, batch_size=1,
                                    shuffle=False, callbacks=[record])
        return record.losses

    def scalar() -> list[float]:
        return reference.ScalarNetwork(start).train(tutorial.X, tutorial.y, lr=0.1, epochs=epochs)

    return densenet, scalar


# -- MLPs: densenet fit vs the scalar MLP -----------------------------------------------

def mlp_epoch(sizes: tuple[int, ...], n: int, batch_size: int,
              dtype: type = np.float64, lr: float = 0.1) -> tuple[Work, Work, int]:
    """(densenet, scalar, steps): one epoch of SGD over ``n`` samples in order.

    Both start from the same parameters; each call continues training.
    """
    model = sigmoid_mlp(sizes, dtype)
    scalar_net = reference.ScalarMLP(sizes, model.params)
    X, y = regression_data(n, sizes, dtype)
    X_list, y_list = X.tolist(), y.tolist()
    optimizer = dn.SGD(lr)

    def densenet() -> object:
        return model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=False)

    def scalar() -> list[float]:
        scalar_net.train(X_list, y_list, lr=lr, epochs=1, batch_size=batch_size)
        return scalar_net.params()

    return densenet, scalar, -(-n // batch_size)


def densenet_epoch(sizes: tuple[int, ...], n: int, batch_size: int,
                   dtype: type = np.float64, lr: float = 0.1) -> Work:
    """One densenet epoch alone (for sweeps where the scalar version would take minutes)."""
    model = sigmoid_mlp(sizes, dtype)
    X, y = regression_data(n, sizes, dtype)
    optimizer = dn.SGD(lr)
    return lambda: model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=False)


def check_epoch(result: object, sizes: tuple[int, ...]) -> None:
    """What an ``mlp_epoch`` or ``densenet_epoch`` side returned says it trained:
    densenet's one-epoch ``History`` with a loss in (0, 1) (sigmoid outputs,
    targets in (0.05, 0.95)), or the scalar network's finite parameters."""
    if isinstance(result, dn.History):
        assert result.loss.shape == (1,)
        assert 0 < result.loss[0] < 1
    else:
        params = np.asarray(result)
        n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
        assert params.shape == (n_params,)
        assert np.isfinite(params).all()


# -- big layers: a planned SGD step vs its matrix products alone ------------------------

BIG = (784, 512, 512, 10)


def big_step(dtype: type = np.float64, batch_size: int = 256, sizes: tuple[int, ...] = BIG,
             lr: float = 0.01) -> tuple[Work, Work]:
    """(step, floor) at ``batch_size``.

    step: one SGD step of a sigmoid MLP, as ``fit`` runs it: the planned forward,
    loss and backward passes, then the optimiser's in-place update.
    floor: only that step's matrix products (forward ``X @ W`` for every layer,
    ``X.T @ dY`` for every layer, ``dY @ W.T`` for all but the first) on
    preallocated arrays: the BLAS time no implementation of the step can beat.
    """
    from densenet.plan import TrainStep

    model = sigmoid_mlp(sizes, dtype)
    X, y = regression_data(batch_size, sizes, dtype)
    step = TrainStep(model, dn.MSELoss(), dn.SGD(lr), batch_size, y)
    step.X[...] = X
    step.y[...] = y

    return step, _products(X, sizes, lambda a: a, lambda a, b, out: np.dot(a, b, out=out))


def _products(X: np.ndarray, sizes: tuple[int, ...], wrap: Callable[[np.ndarray], object],
              dot: Callable[[object, object, object], object]) -> Work:
    """The eight products of ``big_step``'s step on preallocated arrays (``wrap`` makes
    each array the library's own, sharing its memory), by ``dot(a, b, out)``."""
    rng = np.random.default_rng(1)
    Ws = [wrap(rng.standard_normal((a, b)).astype(X.dtype)) for a, b in zip(sizes, sizes[1:])]
    acts = [wrap(X)] + [wrap(np.zeros((len(X), b), X.dtype)) for b in sizes[1:]]
    last = rng.standard_normal((len(X), sizes[-1])).astype(X.dtype)  # the loss gradient they start from
    grads = [wrap(np.zeros((len(X), b), X.dtype)) for b in sizes[:-1]] + [wrap(last)]
    dWs = [wrap(np.zeros((a, b), X.dtype)) for a, b in zip(sizes, sizes[1:])]

    def products() -> list[object]:
        for i, W in enumerate(Ws):
            dot(acts[i], W, acts[i + 1])
        for i in range(len(Ws) - 1, -1, -1):
            dot(acts[i].T, grads[i + 1], dWs[i])
            if i:
                dot(grads[i + 1], Ws[i].T, grads[i])
        return dWs

    return products


def torch_floor(dtype: type = np.float64, batch_size: int = 256, sizes: tuple[int, ...] = BIG) -> Work:
    """``big_step``'s floor in PyTorch: the same eight products by ``torch.mm`` into
    preallocated tensors (PyTorch's BLAS, MKL in its x86 wheels)."""
    import torch

    X, _ = regression_data(batch_size, sizes, dtype)
    return _products(X, sizes, torch.from_numpy, lambda a, b, out: torch.mm(a, b, out=out))


def product_floor(dtype: type = np.float64, batch_size: int = 256, sizes: tuple[int, ...] = BIG) -> Work:
    """``big_step``'s floor by ``densenet.backend.product``'s calls, planned once: the
    products as densenet runs them, on the library ``DENSENET_BLAS`` names if one is set
    (``densenet.cblas``), else on SciPy's BLAS."""
    from densenet import backend

    X, _ = regression_data(batch_size, sizes, dtype)
    runs: list[Callable[[float], object]] = []

    def plan(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        run = backend.product(a, b, out)
        if run is None:
            raise ValueError(f"backend.product cannot run {a.shape} @ {b.shape} in place")
        runs.append(run)

    _products(X, sizes, lambda a: a, plan)()

    def products() -> None:
        for run in runs:
            run(1.0)

    return products


#: The works ``median_time`` times (each built for a dtype and the network's sizes).
TIMED = {
    "step": lambda dtype, sizes: big_step(dtype, sizes=sizes)[0],
    "hand": lambda dtype, sizes: hand_step(dtype, sizes=sizes),
    "floor": lambda dtype, sizes: product_floor(dtype, sizes=sizes),
    "torch": lambda dtype, sizes: torch_step(dtype, sizes=sizes),
    "adam": lambda dtype, sizes: block_step("adam", dtype, sizes=sizes),
    "torch_adam": lambda dtype, sizes: torch_block_step("adam", dtype, sizes=sizes),
    "gelu": lambda dtype, sizes: block_step("gelu", dtype, sizes=sizes),
    "torch_gelu": lambda dtype, sizes: torch_block_step("gelu", dtype, sizes=sizes),
    "selu": lambda dtype, sizes: block_step("selu", dtype, sizes=sizes),
    "torch_selu": lambda dtype, sizes: torch_block_step("selu", dtype, sizes=sizes),
}


def median_time(kind: str, dtype: str, sizes: tuple[int, ...] = BIG, rounds: int = 7,
                block: int = 5) -> float:
    """Seconds per call of the work ``TIMED[kind]``, median over ``rounds`` rounds of ``block``
    calls after ``block`` untimed ones: what ``report.py`` runs in a process of its own
    (PyTorch on as many threads as NumPy's BLAS)."""
    if kind.startswith("torch"):
        import torch

        threads = next((i.get("num_threads") for i in blas_info() if "num_threads" in i), None)
        if threads:
            torch.set_num_threads(int(threads))
    work = TIMED[kind](np.dtype(dtype).type, tuple(sizes))
    for _ in range(block):
        work()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(block):
            work()
        times.append((time.perf_counter() - start) / block)
    return float(np.median(times))


def hand_step(dtype: type = np.float64, batch_size: int = 256, sizes: tuple[int, ...] = BIG,
              lr: float = 0.01) -> Work:
    """The step of ``big_step`` written by hand, as the README's "step by hand": ``forward``,
    the loss, ``backward`` and ``SGD.step``; it returns the loss."""
    model = sigmoid_mlp(sizes, dtype)
    X, y = regression_data(batch_size, sizes, dtype)
    loss, optimizer = dn.MSELoss(), dn.SGD(lr)

    def step() -> float:
        value = loss.forward(model.forward(X), y)
        model.backward(loss.backward(), input_grad=False)  # dL/dX is not needed here
        optimizer.step(model.params, model.grads)
        return value

    return step


# -- blocks: one activation, loss or optimiser at a time in the big step ---------------

#: name -> (hidden activation, output activation or None, loss, optimizer); everything
#: but the named block is the tutorial's recipe (sigmoid, MSE, plain SGD). A loss named
#: ``weighted_...`` weighs each sample's loss (``block_weights``: ``fit``'s sample weights);
#: a hidden activation ``a+dropout`` is followed by ``Dropout(0.5)`` (``selu+alpha_dropout``:
#: ``SELU`` then ``AlphaDropout(0.1)``), and ``batchnorm+a``
#: follows a ``BatchNorm1d`` of the layer's width (``layernorm+a``: a ``LayerNorm``).
BLOCKS = {
    "sigmoid": ("sigmoid", "sigmoid", "mse", "sgd"),
    "relu": ("relu", "sigmoid", "mse", "sgd"),
    "leaky_relu": ("leaky_relu", "sigmoid", "mse", "sgd"),
    "gelu": ("gelu", "sigmoid", "mse", "sgd"),
    "elu": ("elu", "sigmoid", "mse", "sgd"),
    "silu": ("silu", "sigmoid", "mse", "sgd"),
    "selu": ("selu", "sigmoid", "mse", "sgd"),
    "prelu": ("prelu", "sigmoid", "mse", "sgd"),
    "softplus": ("softplus", "sigmoid", "mse", "sgd"),
    "tanh": ("tanh", "sigmoid", "mse", "sgd"),
    "softmax": ("softmax", "sigmoid", "mse", "sgd"),
    "cross_entropy": ("sigmoid", None, "cross_entropy", "sgd"),
    "nll": ("sigmoid", "log_softmax", "nll", "sgd"),
    "bce": ("sigmoid", "sigmoid", "bce", "sgd"),
    "bce_with_logits": ("sigmoid", None, "bce_with_logits", "sgd"),
    "poisson": ("sigmoid", None, "poisson", "sgd"),
    "l1": ("sigmoid", None, "l1", "sgd"),
    "huber": ("sigmoid", None, "huber", "sgd"),
    "momentum": ("sigmoid", "sigmoid", "mse", "momentum"),
    "momentum_wd": ("sigmoid", "sigmoid", "mse", "momentum_wd"),
    "adam": ("sigmoid", "sigmoid", "mse", "adam"),
    "adamw": ("sigmoid", "sigmoid", "mse", "adamw"),
    "rmsprop": ("sigmoid", "sigmoid", "mse", "rmsprop"),
    "adagrad": ("sigmoid", "sigmoid", "mse", "adagrad"),
    "amsgrad": ("sigmoid", "sigmoid", "mse", "amsgrad"),
    "radam": ("sigmoid", "sigmoid", "mse", "radam"),
    "nadam": ("sigmoid", "sigmoid", "mse", "nadam"),
    "adamax": ("sigmoid", "sigmoid", "mse", "adamax"),
    "sample_weight": ("sigmoid", "sigmoid", "weighted_mse", "sgd"),
    "dropout": ("sigmoid+dropout", "sigmoid", "mse", "sgd"),
    "alpha_dropout": ("selu+alpha_dropout", "sigmoid", "mse", "sgd"),
    "batchnorm": ("batchnorm+sigmoid", "sigmoid", "mse", "sgd"),
    "layernorm": ("layernorm+sigmoid", "sigmoid", "mse", "sgd"),
}

_DN_ACTIVATIONS: dict[str, Callable[[int], dn.Module]] = {
    "sigmoid": lambda width: dn.Sigmoid(), "relu": lambda width: dn.ReLU(), "tanh": lambda width: dn.Tanh(),
    "leaky_relu": lambda width: dn.LeakyReLU(), "gelu": lambda width: dn.GELU(),
    "elu": lambda width: dn.ELU(), "silu": lambda width: dn.SiLU(), "selu": lambda width: dn.SELU(),
    "softplus": lambda width: dn.Softplus(),
    "softmax": lambda width: dn.Softmax(), "log_softmax": lambda width: dn.LogSoftmax(),
    "dropout": lambda width: dn.Dropout(0.5), "alpha_dropout": lambda width: dn.AlphaDropout(0.1),
    "batchnorm": dn.BatchNorm1d, "layernorm": dn.LayerNorm, "prelu": dn.PReLU}
_DN_LOSSES = {"mse": dn.MSELoss, "cross_entropy": dn.CrossEntropyLoss, "nll": dn.NLLLoss, "bce": dn.BCELoss,
              "bce_with_logits": dn.BCEWithLogitsLoss, "poisson": dn.PoissonNLLLoss, "l1": dn.L1Loss,
              "huber": dn.HuberLoss}
_DN_OPTIMIZERS = {"sgd": lambda: dn.SGD(0.01), "momentum": lambda: dn.SGD(0.01, momentum=0.9),
                  "momentum_wd": lambda: dn.SGD(0.01, momentum=0.9, weight_decay=1e-4),
                  "adam": lambda: dn.Adam(1e-4), "adamw": lambda: dn.AdamW(1e-4),
                  "rmsprop": lambda: dn.RMSprop(1e-5), "adagrad": lambda: dn.Adagrad(1e-4),
                  "amsgrad": lambda: dn.Adam(1e-4, amsgrad=True), "radam": lambda: dn.RAdam(1e-4),
                  "nadam": lambda: dn.NAdam(1e-4), "adamax": lambda: dn.Adamax(1e-4)}


def block_weights(batch_size: int, dtype: type) -> np.ndarray:
    """Sample weights in (0, 2) divided by their mean, as ``fit`` divides them."""
    w = np.random.default_rng(3).uniform(0.0, 2.0, batch_size)
    return (w / w.mean()).astype(dtype)


def block_data(name: str, dtype: type, batch_size: int = 256,
               sizes: tuple[int, ...] = BIG) -> tuple[np.ndarray, np.ndarray]:
    """Inputs, and targets of the kind the block's loss takes (labels for cross-entropy
    and the negative log-likelihood)."""
    X, y = regression_data(batch_size, sizes, dtype)
    if BLOCKS[name][2] in ("cross_entropy", "nll"):
        y = np.random.default_rng(2).integers(0, sizes[-1], batch_size)
    return X, y


def block_step(name: str, dtype: type = np.float64, batch_size: int = 256,
               sizes: tuple[int, ...] = BIG) -> Work:
    """One training step of the 784-512-512-10 network with block ``name`` (see ``BLOCKS``),
    as ``fit`` runs it; it returns the batch's loss."""
    from densenet.plan import TrainStep

    hidden, output, loss_name, optimizer = BLOCKS[name]
    modules: list[dn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        modules.append(dn.Dense(n_in, n_out))
        last = i == len(sizes) - 2
        if not last or output is not None:
            modules += [_DN_ACTIVATIONS[name](n_out) for name in (output if last else hidden).split("+")]
    model = dn.Sequential(*modules, dtype=dtype, seed=0)
    weighted = loss_name.startswith("weighted_")
    loss = _DN_LOSSES[loss_name.removeprefix("weighted_")]()
    X, y = block_data(name, dtype, batch_size, sizes)
    X, y = model.check_data(X, y, loss)
    step = TrainStep(model, loss, _DN_OPTIMIZERS[optimizer](), batch_size, y, weighted=weighted)
    step.X[...], step.y[...] = X, y
    if step.w is not None:
        step.w[...] = block_weights(batch_size, dtype)
    return step


def torch_block_step(name: str, dtype: type = np.float64, batch_size: int = 256,
                     sizes: tuple[int, ...] = BIG) -> Work:
    """The same step in PyTorch (CPU), the usual way; it returns the loss tensor."""
    import torch

    hidden, output, loss_name, optimizer = BLOCKS[name]
    activations = {"sigmoid": lambda width: torch.nn.Sigmoid(), "relu": lambda width: torch.nn.ReLU(),
                   "tanh": lambda width: torch.nn.Tanh(), "softmax": lambda width: torch.nn.Softmax(dim=1),
                   "log_softmax": lambda width: torch.nn.LogSoftmax(dim=1),
                   "leaky_relu": lambda width: torch.nn.LeakyReLU(), "gelu": lambda width: torch.nn.GELU(),
                   "elu": lambda width: torch.nn.ELU(), "silu": lambda width: torch.nn.SiLU(),
                   "selu": lambda width: torch.nn.SELU(), "softplus": lambda width: torch.nn.Softplus(),
                   "dropout": lambda width: torch.nn.Dropout(0.5), "batchnorm": torch.nn.BatchNorm1d,
                   "alpha_dropout": lambda width: torch.nn.AlphaDropout(0.1),
                   "layernorm": torch.nn.LayerNorm, "prelu": torch.nn.PReLU}
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        last = i == len(sizes) - 2
        if not last or output is not None:
            layers += [activations[name](n_out) for name in (output if last else hidden).split("+")]
    net = torch.nn.Sequential(*layers).to(torch.float64 if dtype == np.float64 else torch.float32)
    losses = {"mse": torch.nn.MSELoss, "cross_entropy": torch.nn.CrossEntropyLoss, "nll": torch.nn.NLLLoss,
              "bce": torch.nn.BCELoss,
              "bce_with_logits": torch.nn.BCEWithLogitsLoss, "poisson": torch.nn.PoissonNLLLoss,
              "l1": torch.nn.L1Loss, "huber": torch.nn.HuberLoss}
    optimizers = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01),
                  "momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
                  "momentum_wd": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-4),
                  "adam": lambda p: torch.optim.Adam(p, lr=1e-4),
                  "adamw": lambda p: torch.optim.AdamW(p, lr=1e-4),
                  "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-5),
                  "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-4),
                  "amsgrad": lambda p: torch.optim.Adam(p, lr=1e-4, amsgrad=True),
                  "radam": lambda p: torch.optim.RAdam(p, lr=1e-4),
                  "nadam": lambda p: torch.optim.NAdam(p, lr=1e-4),
                  "adamax": lambda p: torch.optim.Adamax(p, lr=1e-4)}
    X, y = (torch.from_numpy(a) for a in block_data(name, dtype, batch_size, sizes))
    opt = optimizers[optimizer](net.parameters())
    loss_fn = losses[loss_name.removeprefix("weighted_")]()
    if loss_name.startswith("weighted_"):  # each sample's mean loss times its weight, then the mean
        w, each = torch.from_numpy(block_weights(batch_size, dtype)), losses[loss_name[9:]](reduction="none")

        def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (each(out, target).mean(dim=1) * w).mean()

    return torch_train_step(net, opt, loss_fn, X, y)


def torch_train_step(net: Any, opt: Any, loss_fn: Callable[[Any, Any], Any], X: Any, y: Any) -> Work:
    """A PyTorch training step of ``net`` on ``(X, y)``, the usual way (gradients zeroed in
    place, as ``fit`` overwrites them); it returns the loss tensor."""

    def step() -> object:
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(X), y)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


# -- frozen modules: what a fine-tuning step costs ----------------------------------------

#: The freeze group's sides: which Dense layers of ``relu_mlp(BIG)`` (modules 0, 2 and 4)
#: are frozen; "none" trains them all.
FREEZE_SIDES: dict[str, tuple[int, ...]] = {"none": (), "first": (0,), "first two": (0, 2)}


def freeze_step(side: str, dtype: type = np.float32, batch_size: int = 256,
                sizes: tuple[int, ...] = BIG, model: dn.Sequential | None = None) -> Work:
    """One Adam step of ``model`` (default ``relu_mlp(sizes)``) on softmax cross-entropy, as
    ``fit`` runs it, with the modules ``FREEZE_SIDES[side]`` frozen (``model.freeze``); it
    returns the loss."""
    from densenet.plan import TrainStep

    model = relu_mlp(sizes, dtype) if model is None else model
    if FREEZE_SIDES[side]:
        model.freeze(*FREEZE_SIDES[side])
    loss = dn.CrossEntropyLoss()
    X, y = regression_data(batch_size, sizes, dtype)
    X, y = model.check_data(X, np.random.default_rng(2).integers(0, sizes[-1], batch_size), loss)
    step = TrainStep(model, loss, dn.Adam(1e-4), batch_size, y)
    step.X[...], step.y[...] = X, y
    return step


def torch_freeze_step(side: str, dtype: type = np.float32, batch_size: int = 256,
                      sizes: tuple[int, ...] = BIG) -> Work:
    """The same step in PyTorch (CPU), the frozen layers' parameters ``requires_grad_(False)``
    and left out of the optimiser; it returns the loss tensor."""
    import torch

    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    net = torch.nn.Sequential(*layers).to(torch.float64 if dtype == np.float64 else torch.float32)
    for i in FREEZE_SIDES[side]:
        net[i].requires_grad_(False)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    X = torch.from_numpy(regression_data(batch_size, sizes, dtype)[0])
    y = torch.from_numpy(np.random.default_rng(2).integers(0, sizes[-1], batch_size))
    return torch_train_step(net, opt, torch.nn.CrossEntropyLoss(), X, y)


# -- subnormal state: the steps after a network's units died --------------------------------

#: The subnormal group's network (digits-sized) and batch size; a timed run makes
#: ``FLUSH_EVERY`` steps, so that it flushes once, at its first step.
DEAD_SIZES, DEAD_BATCH = (64, 256, 256, 10), 32


def dead_units(sizes: tuple[int, ...], biases: list[np.ndarray]) -> None:
    """Kill every tenth unit of each hidden layer: its bias so low that the ReLU after it
    never passes anything (its weights' gradients are then 0)."""
    for bias in biases[:len(sizes) - 2]:
        bias[::10] = -1e4


def stuck(state: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """``state`` with its ``dead`` entries at four times the smallest subnormal number, where
    a decay by 0.9 or 0.999 leaves them: a unit's momenta after it died."""
    state = state.copy()
    state[dead] = 4 * np.finfo(state.dtype).smallest_subnormal
    return state


def stuck_steps(optimizer: str, stuck_state: bool, dtype: type = np.float32) -> tuple[Work, Work]:
    """(setup, run): ``run`` makes ``FLUSH_EVERY`` planned steps (as ``fit`` runs them) of a
    ReLU network a tenth of whose hidden units are dead, from the optimiser state ``setup``
    puts back, the dead units' parameters at stuck subnormal numbers if ``stuck_state``, else
    0; it returns the optimiser's state after them. ``optimizer``: "adam" or "momentum"."""
    from densenet.optimizer import FLUSH_EVERY
    from densenet.plan import TrainStep

    model, loss = relu_mlp(DEAD_SIZES, dtype), dn.CrossEntropyLoss()
    dead_units(DEAD_SIZES, [module.b for module in model if module.n_params])
    X, y = regression_data(DEAD_BATCH, DEAD_SIZES, dtype)
    X, y = model.check_data(X, np.random.default_rng(2).integers(0, DEAD_SIZES[-1], DEAD_BATCH), loss)
    opt = dn.Adam(1e-4) if optimizer == "adam" else dn.SGD(0.01, momentum=0.9)
    step = TrainStep(model, loss, opt, DEAD_BATCH, y)
    step.X[...], step.y[...] = X, y
    start = model.params.copy()
    for _ in range(3):
        step()  # (a state of normal numbers for the units alive)
    state = opt.state_dict()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    dead = model.grads == 0
    for name in opt.STATE:
        state[name] = stuck(state[name], dead) if stuck_state else np.where(dead, 0, state[name])
    state["steps"] = FLUSH_EVERY

    def setup() -> None:
        model.params[...] = start
        opt.load_state_dict(state)

    def run() -> object:
        for _ in range(FLUSH_EVERY):
            step()
        return opt.state_dict()

    return setup, run


def torch_stuck_steps(optimizer: str, stuck_state: bool, dtype: type = np.float32) -> tuple[Work, Work]:
    """The same in PyTorch (CPU), the usual way: its own start, the same dead units, its
    state's dead entries stuck or 0 as asked; ``run`` returns the optimiser's state."""
    import torch

    from densenet.optimizer import FLUSH_EVERY

    kind = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(DEAD_SIZES, DEAD_SIZES[1:])):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if i < len(DEAD_SIZES) - 2 else [])
    net = torch.nn.Sequential(*layers).to(kind)
    with torch.no_grad():
        dead_units(DEAD_SIZES, [layer.bias.numpy() for layer in net if isinstance(layer, torch.nn.Linear)])
    params = list(net.parameters())
    opt = (torch.optim.Adam(params, lr=1e-4) if optimizer == "adam"
           else torch.optim.SGD(params, lr=0.01, momentum=0.9))
    X = torch.from_numpy(regression_data(DEAD_BATCH, DEAD_SIZES, dtype)[0])
    y = torch.from_numpy(np.random.default_rng(2).integers(0, DEAD_SIZES[-1], DEAD_BATCH))
    step = torch_train_step(net, opt, torch.nn.CrossEntropyLoss(), X, y)
    start = [p.detach().clone() for p in params]
    for _ in range(3):
        step()
    dead = [p.grad == 0 for p in params]
    state = {p: {name: (torch.from_numpy(stuck(value.numpy(), d.numpy())) if stuck_state
                        else torch.where(d, 0, value)) if value.shape == p.shape else value.clone()
                 for name, value in opt.state[p].items()} for p, d in zip(params, dead)}

    def setup() -> None:
        with torch.no_grad():
            for p, value in zip(params, start):
                p.copy_(value)
        for p in params:
            for name, value in state[p].items():
                opt.state[p][name] = value.clone()

    def run() -> object:
        for _ in range(FLUSH_EVERY):
            step()
        return opt.state

    return setup, run


# -- per-parameter learning rates: what a scale costs ---------------------------------------

#: The lr-scale group's optimisers: densenet's and PyTorch's, each made from ``(params or
#: groups, lr_scale)``; ``lr_scale_step`` scales the first two Dense layers by ``BODY_SCALE``.
LR_SCALE_OPTIMIZERS: dict[str, tuple[float, dict[str, Any]]] = {
    "sgd": (1e-3, {}), "momentum": (1e-3, {"momentum": 0.9}), "adam": (1e-4, {}), "adamw": (1e-4, {}),
}
BODY_SCALE = 0.1


def lr_scale_step(name: str, scaled: bool, dtype: type = np.float32, batch_size: int = 256,
                  sizes: tuple[int, ...] = BIG, model: dn.Sequential | None = None) -> Work:
    """One step of ``model`` (default ``relu_mlp(sizes)``) on softmax cross-entropy, as
    ``fit`` runs it, by the optimiser ``LR_SCALE_OPTIMIZERS[name]``, with the first two Dense
    layers (modules 0 and 2) at ``BODY_SCALE`` of its rate if ``scaled`` (``lr_scale``); it
    returns the loss."""
    from densenet.plan import TrainStep

    model = relu_mlp(sizes, dtype) if model is None else model
    lr, settings = LR_SCALE_OPTIMIZERS[name]
    kind = "SGD" if name in ("sgd", "momentum") else {"adam": "Adam", "adamw": "AdamW"}[name]
    scale = model.lr_scales(BODY_SCALE, 0, 2) if scaled else None
    optimizer = getattr(dn, kind)(lr, **settings, lr_scale=scale)
    loss = dn.CrossEntropyLoss()
    X, _ = regression_data(batch_size, sizes, dtype)
    X, y = model.check_data(X, np.random.default_rng(2).integers(0, sizes[-1], batch_size), loss)
    step = TrainStep(model, loss, optimizer, batch_size, y)
    step.X[...], step.y[...] = X, y
    return step


def torch_lr_scale_step(name: str, dtype: type = np.float32, batch_size: int = 256,
                        sizes: tuple[int, ...] = BIG) -> Work:
    """The scaled step in PyTorch (CPU): a parameter group per Dense layer, the first two
    with ``lr * BODY_SCALE``; it returns the loss tensor."""
    import torch

    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    net = torch.nn.Sequential(*layers).to(torch.float64 if dtype == np.float64 else torch.float32)
    lr, settings = LR_SCALE_OPTIMIZERS[name]
    kind = "SGD" if name in ("sgd", "momentum") else {"adam": "Adam", "adamw": "AdamW"}[name]
    groups = [{"params": list(layer.parameters()), "lr": lr * (BODY_SCALE if i in (0, 2) else 1.0)}
              for i, layer in enumerate(net) if isinstance(layer, torch.nn.Linear)]
    opt = getattr(torch.optim, kind)(groups, lr=lr, **settings)
    X = torch.from_numpy(regression_data(batch_size, sizes, dtype)[0])
    y = torch.from_numpy(np.random.default_rng(2).integers(0, sizes[-1], batch_size))
    return torch_train_step(net, opt, torch.nn.CrossEntropyLoss(), X, y)


# -- L-BFGS vs SGD in the same wall time ------------------------------------------------

LbfgsRun = Callable[[], tuple[float, float]]
SgdRun = Callable[[float], tuple[float, int]]


def lbfgs_and_sgd(scale: float = 1.0) -> dict[str, tuple[LbfgsRun, SgdRun]]:
    """Per problem, (L-BFGS run -> (seconds, final loss), SGD run for a given number of
    seconds -> (final loss, epochs)): the tutorial (SGD as the tutorial trains, batch
    size 1, lr 0.1) and digits 64-64-10 sigmoid/MSE (SGD lr 2.0, batch size 16, as
    ``examples/digits.py``), from the same start. L-BFGS runs 200 and 100 iterations,
    times ``scale`` (a smoke run's shorter runs)."""
    import time

    problems = {"tutorial 2-2-1": (lambda: tutorial.network(tutorial.initial_params(0)),
                                   tutorial.X, tutorial.y, 1, 0.1, 200)}
    try:
        from sklearn.datasets import load_digits

        images, labels = load_digits(return_X_y=True)
        problems["digits 64-64-10"] = (lambda: sigmoid_mlp((64, 64, 10)), images / 16.0,
                                       np.eye(10)[labels], 16, 2.0, 100)
    except ImportError:
        pass
    runs = {}
    for name, (build, X, y, batch_size, lr, full) in problems.items():
        iterations = max(1, round(full * scale))

        def lbfgs(build=build, X=X, y=y, iterations=iterations) -> tuple[float, float]:
            model = build()
            start = time.perf_counter()
            history = model.fit(X, y, optimizer=dn.LBFGS(), epochs=iterations, batch_size=len(X))
            return time.perf_counter() - start, float(history.loss[-1])

        def sgd(seconds: float, build=build, X=X, y=y, batch_size=batch_size, lr=lr) -> tuple[float, int]:
            model, optimizer = build(), dn.SGD(lr)
            start, epochs = time.perf_counter(), 0
            while time.perf_counter() - start < seconds:
                model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=False)
                epochs += 1
            return float(model.evaluate(X, y)), epochs

        runs[name] = (lbfgs, sgd)
    return runs


# -- peers -----------------------------------------------------------------------------

def torch_step(dtype: type = np.float64, batch_size: int = 256, sizes: tuple[int, ...] = BIG) -> Work:
    """One SGD step (lr 0.01, MSE) of the same sigmoid MLP in PyTorch, the usual way: the
    ``sigmoid`` block's step (``torch_block_step``)."""
    return torch_block_step("sigmoid", dtype, batch_size, sizes)


def torch_tutorial(seed: int = 0, epochs: int = 1000) -> Work:
    """The tutorial's training in PyTorch: 2-2-1 sigmoid, batch 1, loss every 10 epochs."""
    import torch

    start = tutorial.initial_params(seed)
    X = torch.tensor(tutorial.X)
    y = torch.tensor(tutorial.y)

    def train() -> list[float]:
        net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(),
                                  torch.nn.Linear(2, 1), torch.nn.Sigmoid()).double()
        with torch.no_grad():
            net[0].weight[...] = torch.tensor([[start["w1"], start["w2"]], [start["w3"], start["w4"]]])
            net[0].bias[...] = torch.tensor([start["b1"], start["b2"]])
            net[2].weight[...] = torch.tensor([[start["w5"], start["w6"]]])
            net[2].bias[...] = torch.tensor([start["b3"]])
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        loss_fn = torch.nn.MSELoss()
        losses = []
        for epoch in range(epochs):
            for i in range(4):
                optimizer.zero_grad()
                loss_fn(net(X[i:i + 1]), y[i:i + 1]).backward()
                optimizer.step()
            if epoch % 10 == 0:
                with torch.no_grad():
                    losses.append(loss_fn(net(X), y).item())
        return losses

    return train


def sklearn_epochs(sizes: tuple[int, ...], n: int, batch_size: int, epochs: int = 1) -> Work:
    """scikit-learn's MLPRegressor (logistic hidden units, squared error, plain SGD)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y = regression_data(n, sizes)
    target = y.ravel() if sizes[-1] == 1 else y

    def train() -> MLPRegressor:
        net = MLPRegressor(hidden_layer_sizes=sizes[1:-1], activation="logistic", solver="sgd",
                           learning_rate_init=0.1, momentum=0.0, batch_size=batch_size,
                           max_iter=epochs, shuffle=False, alpha=0.0, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            net.fit(X, target)
        return net

    return train


# -- MNIST-shaped: 784-30-10 at batch 10, the classic per-sample loop ------------------

MNIST_SHAPE = (784, 30, 10)


class PerSampleMLP:
    """The classic mini-batch SGD loop: backprop vectorised over the neurons (column
    vectors, one matrix-vector product per layer) but looping over the samples of
    each mini-batch, summing their gradients, then one update per mini-batch. The
    cost of a sample is 1/2 ||a - y||^2 and a mini-batch of m steps by eta / m times
    the summed gradient, so ``eta = lr * 2 / n_out`` takes densenet's MSELoss step
    (the mean over m * n_out elements) exactly.
    """

    def __init__(self, model: dn.Sequential) -> None:
        dense = [(layer.W, layer.b) for layer in model.layers if isinstance(layer, dn.Dense)]
        self.weights = [W.T.copy() for W, _ in dense]  # (n_out, n_in): column-vector convention
        self.biases = [b.reshape(-1, 1).copy() for _, b in dense]

    def train_epoch(self, X: np.ndarray, y: np.ndarray, batch_size: int, eta: float) -> None:
        for start in range(0, len(X), batch_size):
            self.update(X[start:start + batch_size], y[start:start + batch_size], eta)

    def update(self, X: np.ndarray, y: np.ndarray, eta: float) -> None:
        nabla_w = [np.zeros_like(W) for W in self.weights]
        nabla_b = [np.zeros_like(b) for b in self.biases]
        for x, t in zip(X, y):
            dw, db = self.backprop(x.reshape(-1, 1), t.reshape(-1, 1))
            nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
            nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
        self.weights = [W - (eta / len(X)) * nw for W, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(X)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x: np.ndarray, t: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        activations = [x]
        for W, b in zip(self.weights, self.biases):
            activations.append(1.0 / (1.0 + np.exp(-(W @ activations[-1] + b))))
        a = activations[-1]
        delta = (a - t) * a * (1 - a)
        dw, db = [delta @ activations[-2].T], [delta]
        for layer in range(len(self.weights) - 1, 0, -1):
            a = activations[layer]
            delta = (self.weights[layer].T @ delta) * a * (1 - a)
            dw.insert(0, delta @ activations[layer - 1].T)
            db.insert(0, delta)
        return dw, db

    def params(self) -> np.ndarray:
        """densenet's flat layout: per layer, W (n_in, n_out) row-major then b."""
        return np.concatenate([part for W, b in zip(self.weights, self.biases)
                               for part in (W.T.ravel(), b.ravel())])


def mnist_shape_epoch(n: int = 1000, batch_size: int = 10, lr: float = 15.0,
                      dtype: type = np.float64) -> tuple[Work, Work, Work]:
    """(densenet, classic, pytorch): one epoch of mini-batch SGD, in order, over ``n`` random
    rows of MNIST's shape (784 pixels in [0, 1), one-hot labels) on 784-30-10 sigmoid with the
    quadratic cost, from the same start. densenet returns its parameters, the classic loop its
    parameters in densenet's layout, PyTorch its loss on the last batch."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (n, MNIST_SHAPE[0])).astype(dtype)
    y = np.eye(MNIST_SHAPE[-1], dtype=dtype)[rng.integers(0, MNIST_SHAPE[-1], n)]
    model = sigmoid_mlp(MNIST_SHAPE, dtype)
    classic_net = PerSampleMLP(model)
    torch_work = _torch_sigmoid_epoch(model, X, y, batch_size, lr)
    optimizer = dn.SGD(lr)

    def densenet() -> np.ndarray:
        model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=False)
        return model.params

    def classic() -> np.ndarray:
        classic_net.train_epoch(X, y, batch_size, eta=lr * 2 / MNIST_SHAPE[-1])
        return classic_net.params()

    return densenet, classic, torch_work


def _torch_sigmoid_epoch(model: dn.Sequential, X: np.ndarray, y: np.ndarray, batch_size: int,
                         lr: float) -> Work:
    """One epoch of the same sigmoid/MSE/SGD training in PyTorch, from ``model``'s parameters."""
    def train() -> object:
        return state["train"]()

    state: dict[str, Work] = {}

    def build() -> Work:
        import torch

        torch_dtype = torch.float64 if model.dtype == np.float64 else torch.float32
        layers: list[torch.nn.Module] = []
        for W, b in ((layer.W, layer.b) for layer in model.layers if isinstance(layer, dn.Dense)):
            linear = torch.nn.Linear(*W.shape).to(torch_dtype)
            with torch.no_grad():
                linear.weight[...] = torch.from_numpy(W.T.copy())
                linear.bias[...] = torch.from_numpy(b.copy())
            layers += [linear, torch.nn.Sigmoid()]
        net = torch.nn.Sequential(*layers)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        loss_fn = torch.nn.MSELoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

        def epoch() -> object:
            for start in range(0, len(Xt), batch_size):
                optimizer.zero_grad(set_to_none=False)
                loss = loss_fn(net(Xt[start:start + batch_size]), yt[start:start + batch_size])
                loss.backward()
                optimizer.step()
            return loss.detach()

        return epoch

    try:
        state["train"] = build()
    except ImportError:
        state["train"] = _needs_torch
    return train


def _needs_torch() -> object:
    import torch  # noqa: F401  (raises ImportError: the caller skips)

    raise AssertionError("unreachable")


# -- sparse: a bag of words, kept sparse or made dense ------------------------------------

BAG_OF_WORDS = (10_000, 64, 5)  # words, hidden ReLU units, classes


def bag_of_words(n: int = 1024, per_row: int = 50, words: int = BAG_OF_WORDS[0],
                 seed: int = 0) -> tuple[object, np.ndarray]:
    """``n`` rows of ``per_row`` word counts (1-3) among ``words`` (a SciPy CSR matrix; a word
    drawn twice in a row is counted twice) and labels in 0..4, a function of the first words."""
    from scipy import sparse

    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), per_row)
    X = sparse.csr_matrix((rng.integers(1, 4, n * per_row).astype(np.float64),
                           (rows, rng.integers(0, words, n * per_row))), shape=(n, words))
    y = np.asarray(X[:, :BAG_OF_WORDS[-1]].argmax(axis=1)).ravel()
    return X, y


def sparse_epochs(batch_size: int, n: int = 1024) -> dict[str, Work]:
    """One epoch of 10000-64-5 ReLU/softmax cross-entropy/plain SGD on ``bag_of_words``,
    in order, three ways: densenet on the sparse rows and on the same rows dense, from the
    same start, and scikit-learn's MLPClassifier (``partial_fit``: one epoch of the same
    batches on the sparse rows, from its own start). Each call continues training and
    returns the parameters it trained."""
    words, hidden, classes = BAG_OF_WORDS
    X, y = bag_of_words(n)
    dense_X = X.toarray()
    models = {side: dn.Sequential(dn.Dense(words, hidden, init="he_uniform"), dn.ReLU(),
                                  dn.Dense(hidden, classes), seed=0) for side in ("sparse", "dense")}
    optimizers = {side: dn.SGD(0.05) for side in models}
    loss = dn.CrossEntropyLoss()

    def fit(side: str, data: object) -> Work:
        def epoch() -> np.ndarray:
            models[side].fit(data, y, loss=loss, optimizer=optimizers[side], epochs=1, batch_size=batch_size,
                             shuffle=False)
            return models[side].params
        return epoch

    return {"densenet-sparse": fit("sparse", X), "densenet-dense": fit("dense", dense_X),
            "sklearn-sparse": _sklearn_sparse_epoch(models["sparse"], X, y, batch_size)}


def _sklearn_sparse_epoch(model: dn.Sequential, X: object, y: np.ndarray, batch_size: int) -> Work:
    from sklearn.neural_network import MLPClassifier

    net = MLPClassifier(hidden_layer_sizes=(model[0].out_features,), solver="sgd", learning_rate_init=0.05,
                        momentum=0.0, alpha=0.0, batch_size=batch_size, shuffle=False, random_state=0)

    def epoch() -> np.ndarray:
        net.partial_fit(X, y, classes=np.arange(BAG_OF_WORDS[-1]))
        return np.concatenate([part for W, b in zip(net.coefs_, net.intercepts_) for part in (W.ravel(), b)])

    return epoch


# -- callbacks: a checkpoint after each epoch, a schedule after each batch ----------------

#: The callbacks group's networks: a small one, where per-batch Python counts, and the big one.
CALLBACK_SIZES = {"small": ((64, 128, 10), 32), "big": (BIG, 256)}

#: Each side's optimiser and callbacks: the three with callbacks beside the two without.
CALLBACK_SIDES = ("adam", "adam+checkpoint", "adam+averaging", "sgd", "sgd+one-cycle")


def callback_epochs(shape: str, folder: str, n: int = 4096) -> dict[str, Work]:
    """One epoch of a ReLU network with softmax cross-entropy on ``n`` random rows, five
    ways (``CALLBACK_SIDES``): Adam, then Adam with a ``ModelCheckpoint`` writing the model
    and Adam's moments into ``folder`` after the epoch, then Adam with ``WeightAveraging``
    (an exponential moving average after every step, left beside the model: ``apply=False``,
    so that it trains as Adam alone); SGD with momentum 0.9, then SGD
    under ``OneCycleLR``, which sets the rate and the momentum after every batch (a cycle
    longer than any run, so that both change at every step). Each call continues training
    and returns the parameters."""
    sizes, batch_size = CALLBACK_SIZES[shape]
    rng = np.random.default_rng(0)
    X, y = rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n)
    loss = dn.CrossEntropyLoss()

    def side(name: str) -> Work:
        model = relu_mlp(sizes)
        optimizer: dn.Optimizer = dn.Adam(1e-3) if name.startswith("adam") else dn.SGD(0.01, momentum=0.9)
        callbacks: list[dn.Callback] = []
        if name == "adam+checkpoint":
            callbacks.append(dn.ModelCheckpoint(os.path.join(folder, f"{shape}.npz"), monitor="loss"))
        elif name == "adam+averaging":
            callbacks.append(dn.WeightAveraging(0.999, apply=False))
        elif name == "sgd+one-cycle":
            callbacks.append(dn.OneCycleLR(optimizer, max_lr=0.01, total_steps=10**9))

        def epoch() -> np.ndarray:
            model.fit(X, y, loss=loss, optimizer=optimizer, epochs=1, batch_size=batch_size,
                      callbacks=callbacks)
            return model.params
        return epoch

    return {name: side(name) for name in CALLBACK_SIDES}


# -- metrics and decay masks: what they add to an epoch ---------------------------------

#: The fits of group ``metrics``: layer sizes, batch size, rows, loss, the metrics timed
#: beside the fit without (``METRIC_SIDES``): the tutorial's network on its own four rows
#: (50 epochs a call), 784-30-10 at batch 10 and a 784-128-10 multilabel network at 256.
METRIC_FITS = {
    "tutorial": ((2, 2, 1), 1, 4, "mse"),
    "mnist-shape": ((784, 30, 10), 10, 2000, "cross_entropy"),
    "multilabel": ((784, 128, 10), 256, 16384, "bce_with_logits"),
}
METRIC_SIDES = {"none": [], "accuracy": ["accuracy"], "f1+precision+recall": ["f1", "precision", "recall"],
                "auc": ["auc"]}


def metric_epochs(name: str, n: int | None = None) -> dict[str, Work]:
    """One epoch of fit (50 for the tutorial's four rows) on the fit ``name`` of
    ``METRIC_FITS`` (float32 on random rows, Adam; the tutorial's own data and SGD), with
    each side's metrics of ``METRIC_SIDES`` (``"auc"`` for the labels' losses only). Each
    call continues training and returns the last epoch's metrics."""
    sizes, batch_size, rows, loss_name = METRIC_FITS[name]
    rows = rows if n is None else n
    rng = np.random.default_rng(0)
    if name == "tutorial":
        X, y, dtype, epochs = dn.tutorial.X, dn.tutorial.y, np.float64, 50
    else:
        X, dtype, epochs = rng.random((rows, sizes[0]), dtype=np.float32), np.float32, 1
        y = (rng.integers(0, sizes[-1], rows) if loss_name == "cross_entropy"
             else (rng.random((rows, sizes[-1])) > 0.5).astype(np.float32))
    loss = {"mse": dn.MSELoss, "cross_entropy": dn.CrossEntropyLoss,
            "bce_with_logits": dn.BCEWithLogitsLoss}[loss_name]()

    def side(metrics: list[str]) -> Work:
        if name == "tutorial":
            model, optimizer = dn.tutorial.network(dn.tutorial.initial_params(0)), dn.SGD(0.1)
        else:
            model, optimizer = relu_mlp(sizes, dtype), dn.Adam(1e-3)

        def epoch() -> dict[str, float]:
            history = model.fit(X, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                                metrics=metrics, shuffle=False)
            return {key: float(values[-1]) for key, values in history.metrics.items()}
        return epoch

    return {label: side(metrics) for label, metrics in METRIC_SIDES.items()
            if label != "auc" or loss_name != "cross_entropy"}


def decay_epochs(n: int = 4096, batch_size: int = 256, sizes: tuple[int, ...] = BIG) -> dict[str, Work]:
    """One epoch of AdamW (weight decay 0.01) on a ReLU network with softmax cross-entropy,
    float32, on ``n`` random rows: every parameter decaying, and the weights alone
    (``decay_mask=model.decay_mask()``). Each call continues training and returns the
    parameters."""
    rng = np.random.default_rng(0)
    X, y = rng.random((n, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], n)

    def side(masked: bool) -> Work:
        model = relu_mlp(sizes, np.float32)
        optimizer = dn.AdamW(1e-3, decay_mask=model.decay_mask() if masked else None)

        def epoch() -> np.ndarray:
            model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, batch_size=batch_size)
            return model.params
        return epoch

    return {"adamw": side(False), "adamw+decay_mask": side(True)}


# -- under load: the same fits with busy processes beside them -------------------------

@contextlib.contextmanager
def busy_processes(n: int = 2, seconds: float = 300.0) -> Iterator[list[subprocess.Popen]]:
    """``n`` processes spinning a core each for the ``with`` block: each stops by itself
    after ``seconds`` at most, and all are killed when the block ends, however it ends."""
    code = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(seconds)]) for _ in range(n)]
    try:
        time.sleep(0.3)  # started and spinning
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


#: The load group's fits: name -> (sizes, rows, batch size, SGD learning rate).
LOAD_FITS = {
    "784-512-512-10 batch 256": (BIG, 1024, 256, 0.01),  # the big step's network, 4 steps
    "2-64-64-1 batch 32": ((2, 64, 64, 1), 1024, 32, 0.1),  # P2's network, 32 steps
    "64-256-256-10 batch 16": ((64, 256, 256, 10), 1347, 16, 2.0),  # digits-shaped, 85 steps
}


def load_fit(name: str, dtype: type = np.float64, steps: int | None = None) -> tuple[Work, Work]:
    """(densenet, pytorch): one epoch of the ``LOAD_FITS`` fit ``name`` (shuffle off, same
    start and data on both sides), or of its first ``steps`` batches; densenet returns its
    History, PyTorch its last loss."""
    sizes, n, batch_size, lr = LOAD_FITS[name]
    if steps is not None:
        n = min(n, steps * batch_size)
    return sgd_epoch(sizes, n, batch_size, lr, dtype)


#: The batch-1 fits of big layers (``batch_one_fit``): name -> (sizes, rows). A step's weight
#: gradients there are outer products, ``[x, 1].T @ dy``.
BATCH_ONE_FITS = {"784-512-512-10": (BIG, 64), "64-256-256-10": ((64, 256, 256, 10), 64)}


def batch_one_fit(name: str, dtype: type = np.float64) -> tuple[Work, Work]:
    """(densenet, pytorch): one epoch of the ``BATCH_ONE_FITS`` fit ``name`` at batch size 1,
    SGD at rate 0.01, shuffle off, the same start and data on both sides."""
    sizes, n = BATCH_ONE_FITS[name]
    return sgd_epoch(sizes, n, 1, 0.01, dtype)


def sgd_epoch(sizes: tuple[int, ...], n: int, batch_size: int, lr: float,
              dtype: type = np.float64) -> tuple[Work, Work]:
    """(densenet, pytorch): one epoch of a sigmoid/MSE/SGD ``sizes`` network over ``n`` random
    rows (shuffle off, the same start and data on both sides); densenet returns its History,
    PyTorch its last loss."""
    model = sigmoid_mlp(sizes, dtype)
    X, y = regression_data(n, sizes, dtype)
    optimizer = dn.SGD(lr)

    def densenet() -> object:
        return model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=False)

    return densenet, _torch_sigmoid_epoch(model.clone(), X, y, batch_size, lr)


# -- what the machine ran ---------------------------------------------------------------

def blas_info() -> list[dict[str, object]]:
    """The BLAS libraries loaded, with their kernel (``architecture``) and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed: pip install -e '.[bench]'"}]
    return [{key: info.get(key) for key in ("internal_api", "version", "architecture",
                                            "num_threads", "prefix")}
            for info in threadpool_info() if info.get("user_api") == "blas"]


def gemm_library() -> str:
    """Where densenet's large products run: the library ``DENSENET_BLAS`` names, or SciPy's BLAS."""
    from densenet import backend

    library = backend.gemm_library()
    return "SciPy's BLAS" if library is None else f"`{library.path}` (DENSENET_BLAS)"


def torch_blas() -> str:
    """The BLAS under PyTorch's CPU products, as its build reports it."""
    try:
        import torch
    except ImportError:
        return "torch not installed"
    return "MKL" if torch.backends.mkl.is_available() else "not MKL (see torch.__config__.show())"


def cpu_model() -> str:
    """The processor's name (Linux's ``/proc/cpuinfo``; else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "unset"),
    }
