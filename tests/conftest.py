"""Shared helpers for the test suite."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import settings

import densenet as dn
from densenet import backend, cblas, thread_policy

# Property tests: 200 examples; under CI the same 200 every run (derandomised, no example
# database), so a run fails for a reason in the code, not for a draw; HYPOTHESIS_PROFILE=
# thorough runs 2000 fresh ones.
settings.register_profile("default", max_examples=200)
settings.register_profile("ci", max_examples=200, derandomize=True, database=None)
settings.register_profile("thorough", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

try:  # no tqdm monitor thread: it wakes every 10 s, and test_memory traces every thread's allocations
    import tqdm

    tqdm.tqdm.monitor_interval = 0
except ImportError:
    pass


@contextlib.contextmanager
def short_fits():
    """A block whose scikit-learn estimators stop at their max_iter on purpose: their
    ConvergenceWarning (scikit-learn's MLP would give it too) is not an error there."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def numerical_grads(model: dn.Sequential, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the MSE over the model's flat parameter vector."""
    loss = dn.MSELoss()
    grads = np.empty_like(model.params)
    for k in range(model.params.size):
        saved = model.params[k]
        model.params[k] = saved + eps
        up = loss.forward(model.forward(X), y)
        model.params[k] = saved - eps
        down = loss.forward(model.forward(X), y)
        model.params[k] = saved
        grads[k] = (up - down) / (2 * eps)
    return grads


def analytic_grads(model: dn.Sequential, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    loss = dn.MSELoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    return model.grads.copy()


class NaNOnce(dn.Module):
    """The identity, whose backward pass gives NaN in its ``at``-th call alone."""

    def __init__(self, at: int):
        self.at, self.calls = at, 0

    def forward(self, X):
        return X.copy()

    def backward(self, dY):
        self.calls += 1
        return dY * np.nan if self.calls == self.at else dY.copy()


def mlp(sizes, *, dtype=np.float64, seed=0, init="glorot_uniform") -> dn.Sequential:
    """A sigmoid MLP of the given widths."""
    modules = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        modules += [dn.Dense(n_in, n_out, init=init), dn.Sigmoid()]
    return dn.Sequential(*modules, dtype=dtype, seed=seed)


def snapshot(model: dn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    return model.params.copy(), model.grads.copy()


def saved_config(path) -> dict:
    """The model description (parsed JSON) of the model file at ``path``."""
    with np.load(path) as saved:
        return json.loads(str(saved["config"]))


def rewrite_saved(path, **entries) -> None:
    """Write the model file at ``path`` again with ``entries`` in place of its own: arrays,
    None (the entry left out), or for ``config`` a dict (written as JSON)."""
    with np.load(path) as saved:
        arrays = {name: saved[name] for name in saved.files}
    if isinstance(entries.get("config"), dict):
        entries["config"] = np.array(json.dumps(entries["config"]))
    arrays.update(entries)
    with open(path, "wb") as f:
        np.savez(f, **{name: array for name, array in arrays.items() if array is not None})


def diverge_beside_a_recording_copy(model: dn.Sequential, X: np.ndarray, y: np.ndarray,
                                    **fit_args) -> tuple[int, list[tuple[np.ndarray, np.ndarray]]]:
    """Fit ``model`` until it raises ``DivergenceError``, and a copy of it the same way
    recording its ``params`` and ``state`` after every step: the error's batch, and the
    copy's record (what the model should hold after the steps before that batch)."""
    twin = copy.deepcopy(model)

    class Record(dn.Callback):
        def __init__(self):
            self.after = []

        def on_batch_end(self, batch, logs=None):
            self.after.append((self.model.params.copy(), self.model.state.copy()))

    record = Record()
    with pytest.raises(dn.DivergenceError) as caught:
        model.fit(X, y, **fit_args)
    with pytest.raises(dn.DivergenceError):
        twin.fit(X, y, callbacks=[record], **fit_args)
    return caught.value.batch, record.after


COPIES = ("deepcopy", "pickle", "clone", "save")



class LookAround(dn.Optimizer):
    """A full-batch optimiser that, as a line search may, evaluates another point (``aside``
    away) after each iterate it reports: gradient descent at rate ``lr``."""

    full_batch = True

    def __init__(self, lr: float, aside: float = 1.0) -> None:
        super().__init__(lr)
        self.aside = aside

    def minimize(self, objective, params, iterations, callback=None):
        w = params.astype(np.float64)
        for _ in range(iterations):
            w = w - self.lr * objective(w)[1]
            value = objective(w)[0]
            objective(w + self.aside)  # a point it looks at and leaves
            callback(w, value)
        params[...] = w
        return type("Result", (), {"fun": value})()

def copied(model: dn.Sequential, how: str, folder) -> dn.Sequential:
    """A copy of ``model`` made ``how`` (one of ``COPIES``; "save" saves and loads in ``folder``)."""
    if how == "save":
        model.save(folder / "model.npz")
        return dn.load(folder / "model.npz")
    return {"deepcopy": copy.deepcopy, "pickle": lambda m: pickle.loads(pickle.dumps(m)),
            "clone": dn.Sequential.clone}[how](model)


def allocation_peak(call, warm_up: int = 3, calls: int = 10, attempts: int = 3) -> int:
    """The peak of the bytes ``tracemalloc`` traces over ``calls`` calls of ``call``, after
    ``warm_up`` calls untraced (a planned step's steady state).

    ``tracemalloc`` traces every thread of the process: under pytest-xdist a worker's
    message thread (execnet's) may receive the next tests while ``call`` runs, and its
    buffers count too (seen once: a step that allocates nothing measured above 4 KiB). So
    the peak is the least of up to ``attempts`` measurements, stopping at the first of at
    most 512 bytes: a step that allocates does so in every one of them."""
    import tracemalloc

    for _ in range(warm_up):
        call()
    least = None
    for _ in range(attempts):
        tracemalloc.start()
        try:
            for _ in range(calls):
                call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        least = peak if least is None else min(least, peak)
        if least <= 512:
            break
    return least


def mkl_or_skip() -> str:
    """The file of MKL's runtime library, or a skip where it is not installed."""
    try:
        return cblas.locate("mkl")
    except OSError:
        pytest.skip("MKL is not installed (pip install 'densenet[mkl]')")


@pytest.fixture
def through():
    """``backend.use_gemm_library`` for a test, the library of before (SciPy's BLAS, unless
    ``DENSENET_BLAS`` names one) again after it."""
    before = backend.gemm_library()
    yield backend.use_gemm_library
    backend.use_gemm_library(None if before is None else before.path)


@pytest.fixture
def idle_two_cpus(monkeypatch):
    """The policy's look at the machine: two CPUs, none busy, whatever this one has (on one
    CPU, or a container's quota of one, it would run every plan on one thread)."""
    monkeypatch.setattr(thread_policy, "_cpus", lambda: 2)
    monkeypatch.setattr(thread_policy, "busy_cpus", lambda: 0)


@pytest.fixture
def tutorial_start() -> dict[str, float]:
    return dn.tutorial.initial_params(0)


#: Every activation module densenet ships (with its default arguments in the shared tests).
ACTIVATIONS = [dn.Sigmoid, dn.ReLU, dn.LeakyReLU, dn.PReLU, dn.ELU, dn.SELU, dn.Tanh, dn.GELU, dn.SiLU,
               dn.Softplus, dn.Softmax, dn.LogSoftmax]

#: How far each activation can move an error in its input (the largest slope), and how many
#: ulp of its output its own rounding costs at most (exp-based sigmoid 3, the others fewer).
SLOPE = {dn.Sigmoid: 0.25, dn.Tanh: 1.0, dn.ReLU: 1.0, dn.LeakyReLU: 1.0, dn.PReLU: 1.0, dn.ELU: 1.0,
         dn.SELU: 1.76, dn.GELU: 1.13, dn.SiLU: 1.1, dn.Softplus: 1.0, dn.Softmax: 1.0, dn.LogSoftmax: 2.0}
ULPS = 4


def error_bound(model, X):
    """An upper bound on |computed - exact| for each output of ``model`` on ``X``, in its dtype.

    A dot product of k terms computed in floating point is within k * eps * sum|terms| of the
    exact one, whatever order BLAS sums in (at batch size 1 the bias is one more term of
    [x, 1] @ [W; b]); an input error e moves a Dense output by at most |e| @ |W| and an
    activation's output by its largest slope times e (for Softmax, the row's largest e;
    LogSoftmax's ``x - log(sum(exp(x)))`` by twice it, and its rounding is of a row of C
    terms: (|y| + C) eps at most).
    A ``BatchNorm1d`` (at inference: ``model`` in eval mode) scales an error by its scale
    ``gamma / sqrt(running_var + eps)``; a ``LayerNorm`` of a row of k features with
    standard deviation s moves x_hat_i by at most 2 max(e) (1 + |x_hat_i|) / s (the row's
    mean by max(e), its deviation by 2 max(e) at most), and its sums round by
    (k + 4) eps (max|x| + |mean|) / s as much again (first order in each).
    Each rounding also errs by up to half the smallest subnormal number, whatever the
    size (``rounded``: results that underflow, as tiny weights make them; taken whole here,
    since half of float64's is no float64).
    Two evaluations of the same row (alone, or in a batch) are then within twice the bound.
    """
    eps = float(np.finfo(model.dtype).eps)
    eta = float(np.finfo(model.dtype).smallest_subnormal)

    def rounded(size):
        return eps * size + eta
    values = X.astype(np.float64)
    error = np.zeros_like(values)
    for module in model:
        if isinstance(module, dn.Dense):
            W, b = np.abs(module.W.astype(np.float64)), np.abs(module.b.astype(np.float64))
            terms = np.abs(values) @ W + b
            error = error @ W + (module.in_features + 1) * rounded(terms)
            values = values @ module.W.astype(np.float64) + module.b
        elif isinstance(module, dn.BatchNorm1d):
            scale = 1.0 / np.sqrt(module.running_var.astype(np.float64) + module.eps)
            shift = np.zeros_like(scale)
            if module.affine:
                scale, shift = scale * module.gamma, module.beta.astype(np.float64)
            size = np.abs(values) + np.abs(module.running_mean)
            values = (values - module.running_mean) * scale + shift
            error = (np.abs(scale) * (error + ULPS * rounded(size))
                     + ULPS * rounded(np.abs(values) + np.abs(shift)))
        elif isinstance(module, dn.LayerNorm):
            k = values.shape[1]
            mean = values.mean(axis=1, keepdims=True)
            std = np.sqrt(values.var(axis=1, keepdims=True) + module.eps)
            x_hat = (values - mean) / std
            gamma = np.abs(module.gamma) if module.elementwise_affine else 1.0
            shift = np.abs(module.beta) if module.elementwise_affine and module.bias else 0.0
            rounding = (k + 4) * rounded(np.abs(values).max(axis=1, keepdims=True) + np.abs(mean))
            values = module.forward(values).astype(np.float64)
            error = (gamma * (1 + np.abs(x_hat)) / std * (2 * error.max(axis=1, keepdims=True) + rounding)
                     + ULPS * rounded(np.abs(values) + shift))
        else:
            values = module.forward(values)
            rows = isinstance(module, (dn.Softmax, dn.LogSoftmax))
            spread = error.max(axis=1, keepdims=True) if rows else error
            terms = values.shape[1] if isinstance(module, dn.LogSoftmax) else 0
            error = SLOPE[type(module)] * spread + ULPS * rounded(np.abs(values) + terms)
    return error


def assert_within_rounding(a, b, bound):
    """Two evaluations of the same outputs agree within twice ``error_bound``."""
    difference = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    worst = (difference / (2 * bound + np.finfo(np.float64).tiny)).max()
    assert np.all(difference <= 2 * bound), f"a difference of {worst:.3g} x the rounding bound"


def forward_into_a_strided_output(module: dn.Module, X: np.ndarray, **buffers) -> tuple[np.ndarray, object]:
    """Run ``module``'s planned forward pass on ``X`` into columns 1 to -1 of a wider array of
    zeros (a strided ``Buffers.Y``, as the next module's ``[X, 1]`` is); returns that array
    and the passes. ``buffers``: the other ``Buffers`` fields (``training`` True unless given)."""
    from densenet.chain import Buffers

    out = np.zeros((X.shape[0], X.shape[1] + 2))
    params, grads = module.blocks()
    fields = {"X": X, "X1": None, "Y": out[:, 1:-1], "dY": np.zeros(X.shape), "dX": None, "params": params,
              "grads": grads, "training": True, **buffers}
    passes = module.plan(Buffers(**fields))
    for call in passes.forward:
        call()
    return out, passes
