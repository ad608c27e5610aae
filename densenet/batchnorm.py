"""``BatchNorm1d``: features normalised by the batch's statistics in training, by running ones after."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import flag, hyperparameter, nonzero_in, positive_int
from .backend import add_outer, shares
from .chain import Buffers, Call, Passes
from .module import Module

#: What an ``eps`` that is 0 in the model's dtype would do
_DIVIDED = "a feature of one value in a batch would be divided by 0"


class BatchNorm1d(Module):
    r"""Each feature normalised, then scaled and shifted:
    ``Y = gamma * (X - mean) / sqrt(var + eps) + beta``, per feature (column).

    In training, ``mean`` and ``var`` are the batch's (the variance biased, over the
    ``N`` rows), and each training pass updates the running statistics,
    ``running = (1 - momentum) * running + momentum * batch`` (the variance unbiased
    there, times ``N / (N - 1)``); at inference they are the running ones. PyTorch's
    ``torch.nn.BatchNorm1d`` on ``(N, C)`` inputs (with ``track_running_stats=True``;
    PyTorch's ``weight`` and ``bias`` are ``gamma`` and ``beta`` here).

    Args:
        num_features: ``C``, the number of features, >= 1.
        eps: added to the variance, > 0 (default 1e-5).
        momentum: the weight of each batch in the running statistics, from 0 to 1
            (default 0.1); or None: the running statistics are then the plain average
            of every training batch's since the start (or ``reset_running_stats``),
            the ``k``-th batch weighing ``1 / k``. ``eps`` and ``momentum`` may be changed
            between steps; None only on a module made with ``momentum=None``, which
            counts its training batches (``num_batches_tracked``). ``dn.update_bn``
            estimates the statistics afresh as that average, whatever the momentum.
        affine: learn ``gamma`` and ``beta`` (default); False: ``Y`` is the normalised
            input itself, and the module has no parameters.

    Attributes:
        gamma, beta: the scale and shift, ``(C,)`` each (views into the model's
            ``params``: ones and zeros to start); ``dgamma``, ``dbeta`` their gradients.
            With ``affine=False`` the module has none of these four (PyTorch's
            ``weight`` and ``bias`` are None then).
        running_mean, running_var: ``(C,)`` each (views into the model's ``state``:
            zeros and ones to start), saved, copied and pickled with the model.
        num_batches_tracked: made with ``momentum=None`` only: the training passes run
            since the start, a 0-d view into the ``state`` too (in the model's dtype:
            exact to 2**24 passes in float32, 2**53 in float64).

    Training passes are those of ``fit`` and of ``forward``/``backward`` on a model in
    training mode (``Sequential.train()``, the default; a module on its own runs
    them too); ``predict``, ``evaluate`` and ``forward`` after ``model.eval()`` run the
    inference passes. A training batch needs at least two rows: ``fit`` refuses a
    ``batch_size`` that leaves a batch of one, by name. In training a row's output
    depends on the other rows of its batch.

    Shape:
        - Input: ``(N, C)``
        - Output: ``(N, C)``

    Example:
        >>> import numpy as np
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3), seed=0)
        >>> X = np.array([[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]])
        >>> Y = model.forward(X)                      # training mode: the batch's statistics
        >>> np.allclose(Y.mean(axis=0), 0), np.allclose(Y.var(axis=0), 1, atol=1e-4)
        (True, True)
        >>> hidden = X @ model[0].W + model[0].b
        >>> np.allclose(model[1].running_mean, 0.1 * hidden.mean(axis=0))  # a step of momentum 0.1
        True
        >>> Z = model.eval().forward(X)               # inference: the running statistics
        >>> np.allclose(Z, (hidden - model[1].running_mean) / np.sqrt(model[1].running_var + 1e-5))
        True
    """

    batch_statistics = True
    folds_descent = True
    reads_output = False  # (its backward pass reads the normalised input it keeps)
    settable = ("eps", "momentum")

    # views into the model's flat vectors, made by ``bind`` (``param_views``, ``state_views``)
    gamma: NDArray[Any]
    beta: NDArray[Any]
    dgamma: NDArray[Any]
    dbeta: NDArray[Any]
    running_mean: NDArray[Any]
    running_var: NDArray[Any]
    num_batches_tracked: NDArray[Any]

    _eps: float
    _momentum: float | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True) -> None:
        self._num_features = positive_int(num_features, "BatchNorm1d: num_features")
        self._affine = flag(affine, "BatchNorm1d", "affine")
        self._counted = momentum is None  # (fixed: the count is a block of the model's state)
        # eps, momentum and 1 - momentum as 0-d arrays of each float dtype, read by the
        # planned passes at each call: setting eps or momentum changes every plan
        self._constants = {np.dtype(t): tuple(np.zeros((), t) for _ in range(3))
                           for t in (np.float32, np.float64)}
        self.eps, self.momentum = eps, momentum
        self.bind()
        self._start()

    @property
    def num_features(self) -> int:
        """The number of features (fixed: it shapes the parameters and the state)."""
        return self._num_features

    @property
    def affine(self) -> bool:
        """Whether it learns ``gamma`` and ``beta`` (fixed: it shapes the parameters)."""
        return self._affine

    @property
    def eps(self) -> float:
        """Added to the variance before its square root, > 0."""
        return self._eps

    @eps.setter
    def eps(self, eps: float) -> None:
        eps = hyperparameter(eps, "BatchNorm1d", "eps", low_open=True)
        statistics = getattr(self, "running_mean", None)  # (none while it is made: plans check then)
        if statistics is not None:  # (set between steps, as by a callback: the plans read it)
            nonzero_in(statistics.dtype, eps, "BatchNorm1d", "eps", _DIVIDED)
        self._eps = eps
        with np.errstate(over="ignore"):  # (inf in a dtype it is beyond: a plan in that dtype refuses it)
            for constant, _, _ in self._constants.values():
                constant[...] = eps

    @property
    def momentum(self) -> float | None:
        """The weight of each training batch in the running statistics, from 0 to 1; None:
        ``1 / num_batches_tracked`` (their plain average)."""
        return self._momentum

    @momentum.setter
    def momentum(self, momentum: float | None) -> None:
        if momentum is None:
            if not self._counted:
                raise TypeError(f"{self!r}: momentum None (the running statistics the average of every "
                                "training batch's) needs the count of batches, which only a module made "
                                "with momentum=None keeps: make it BatchNorm1d(..., momentum=None)")
            self._momentum = None  # each training pass sets the weights from the count
            return
        momentum = hyperparameter(momentum, "BatchNorm1d", "momentum", high=1.0)
        self._momentum = momentum
        for _, weight, keep in self._constants.values():
            weight[...], keep[...] = shares(momentum, weight.dtype)

    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.num_features,), (self.num_features,)) if self.affine else ()

    def param_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        if not self.affine:
            return {}
        gamma, beta = blocks
        return {"gamma": gamma, "beta": beta}

    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.num_features,), (self.num_features,)) + (((),) if self._counted else ())

    def state_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        names = ("running_mean", "running_var", "num_batches_tracked")
        return dict(zip(names, blocks))

    @property
    def input_width(self) -> int:
        return self.num_features

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine}

    def reset_parameters(self, rng: np.random.Generator) -> None:
        self._start()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1 and no batch counted: the statistics of a
        new module (its ``gamma`` and ``beta`` kept)."""
        self.running_mean[...], self.running_var[...] = 0.0, 1.0
        if self._counted:
            self.num_batches_tracked[...] = 0

    def _start(self) -> None:
        """Scale 1, shift 0, and the running statistics of a new module."""
        if self.affine:
            self.gamma[...], self.beta[...] = 1.0, 0.0
        self.reset_running_stats()

    def to_onnx(self, graph: Any, x: str) -> str:
        # an exported model infers. BatchNormalization's epsilon is a float32 attribute
        # whatever the graph's dtype (1e-3 in it is 1.0000000474974513e-3): the variance
        # constant is running_var + eps as the passes add them, in the model's dtype, and
        # the epsilon 0
        dtype = graph.dtype
        nonzero_in(dtype, self.eps, f"export: {self!r}", "eps", _DIVIDED)  # (as the passes refuse it)
        size = self.num_features
        gamma, beta = ((self.gamma, self.beta) if self.affine
                       else (np.ones(size, dtype), np.zeros(size, dtype)))
        var = self.running_var.astype(dtype) + np.asarray(self.eps, dtype)
        inputs = [graph.constant(array, name) for array, name in
                  ((gamma, "gamma"), (beta, "beta"), (self.running_mean, "mean"), (var, "var_eps"))]
        return graph.node("BatchNormalization", [x, *inputs], epsilon=0.0)

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        running_mean, running_var, *counted = buffers.state
        n, dtype, size = X.shape[0], Y.dtype, self.num_features
        if buffers.training and n < 2:
            raise ValueError(f"{self!r}: a training batch needs at least 2 samples to normalise by its "
                             f"statistics, got an input of shape {X.shape}; use larger batches, or "
                             "model.eval() to normalise by the running statistics")
        nonzero_in(dtype, self.eps, repr(self), "eps", _DIVIDED)
        eps, weight, keep = self._constants[dtype]
        # Y = (X - mean) * scale + beta with scale = gamma / std: the centred input is what
        # the backward pass keeps. Per-feature vectors are copied out to full rows before
        # each elementwise pass (a broadcasting pass would take an iterator buffer per call,
        # as would one writing into a strided output).
        ones, rows, centred = np.ones(n, dtype), np.zeros(X.shape, dtype), np.zeros(X.shape, dtype)
        mean, var, inv_std, scale, spare = (np.zeros(size, dtype) for _ in range(5))
        forward: list[Call]
        if buffers.training:  # the batch's statistics, then the running ones updated
            # the mean as the first row plus the mean of the rows less it: a feature of equal
            # values is centred to 0 exactly (its mean, summed and scaled, would round), and
            # one of values far from 0 keeps its spread's digits
            first = X[0]
            forward = [*_centre(X, first, rows, centred), partial(np.dot, ones, centred, mean),
                       partial(np.multiply, mean, 1.0 / n, mean), *_centre(centred, mean, rows, centred),
                       partial(np.add, mean, first, mean),
                       partial(np.multiply, centred, centred, rows), partial(np.dot, ones, rows, var),
                       partial(np.multiply, var, 1.0 / n, var),
                       *[partial(self._count, count, weight, keep) for count in counted],
                       *_blend(running_mean, mean, None, weight, keep, spare),
                       *_blend(running_var, var, n / (n - 1), weight, keep, spare)]
        else:
            mean, var = running_mean, running_var
            forward = _centre(X, mean, rows, centred)
        forward += [partial(np.add, var, eps, inv_std), partial(np.sqrt, inv_std, inv_std),
                    partial(np.reciprocal, inv_std, inv_std)]
        if self.affine:
            gamma, beta = buffers.params
            forward.append(partial(np.multiply, gamma, inv_std, scale))
        else:  # gamma 1 and beta 0
            scale, beta = inv_std, None
        if buffers.negate_output:  # -Y for the next module, at no cost: -scale and -beta
            minus_scale, minus_beta = np.zeros(size, dtype), None if beta is None else np.zeros(size, dtype)
            forward += [partial(np.negative, scale, minus_scale),
                        *([] if beta is None else [partial(np.negative, beta, minus_beta)]),
                        *_affine(centred, minus_scale, minus_beta, rows, Y)]
        else:
            forward += _affine(centred, scale, beta, rows, Y)
        # dbeta = sum(dY), dgamma = sum(dY * (X - mean)) / std, over the rows (what dX is
        # made of in training too); into spare vectors when the descent is folded (the
        # gradient blocks are then what it updates) or there are no parameters
        descent: list[Call] = []
        if self.affine:
            (g_gamma, g_beta), descent = buffers.gradients()
        else:
            g_gamma, g_beta = np.zeros((2, size), dtype)
        sums: list[Call] = [partial(np.dot, ones, dY, g_beta), partial(np.multiply, dY, centred, rows),
                            partial(np.dot, ones, rows, g_gamma),
                            partial(np.multiply, g_gamma, inv_std, g_gamma)]
        backward = sums if self.affine and not buffers.frozen else []
        input_grad: list[Call] = []
        if dX is not None and buffers.training:
            # dX = scale * (dY - mean(dY)) - (X - mean) * scale / std * mean(dY * (X - mean)) / std
            share, scale_n = np.zeros(size, dtype), np.zeros(size, dtype)
            input_grad = [*([] if self.affine else sums),
                          *_scale(dY, scale, rows, dX), partial(np.multiply, scale, 1.0 / n, scale_n),
                          partial(np.multiply, g_gamma, inv_std, share),
                          partial(np.multiply, share, scale_n, share),
                          *_scale(centred, share, rows, rows), partial(np.subtract, dX, rows, dX),
                          partial(np.multiply, g_beta, scale_n, share), *_centre(dX, share, rows, dX)]
        elif dX is not None:  # the running statistics are constants: dX = scale * dY
            input_grad = _scale(dY, scale, rows, dX)
        if not descent:
            return Passes(forward, backward, input_grad, buffers.negate_output)
        # (dX reads scale, made from gamma by the forward pass: the update may come after it)
        return Passes(forward, [*backward, *input_grad, *descent], (), buffers.negate_output)

    def _count(self, count: NDArray[Any], weight: NDArray[Any], keep: NDArray[Any]) -> None:
        """A training pass counted; with momentum None, the running statistics' ``weight``
        for its batch ``1 / count`` (as PyTorch's, in float64) and ``keep`` the rest (``shares``)."""
        count += 1
        if self._momentum is None:
            weight[...], keep[...] = shares(1.0 / float(count), weight.dtype)

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value, default in
                        (("eps", self.eps, 1e-5), ("momentum", self.momentum, 0.1),
                         ("affine", self.affine, True)) if value != default)
        return f"{type(self).__name__}(num_features={self.num_features}{extra})"


def _scale(A: NDArray[Any], v: NDArray[Any], rows: NDArray[Any], out: NDArray[Any]) -> list[Call]:
    """``out = A * v`` for a per-feature ``v`` (copied into ``rows`` first)."""
    return [partial(np.copyto, rows, v), partial(np.multiply, A, rows, out)]


def _centre(X: NDArray[Any], v: NDArray[Any], rows: NDArray[Any], out: NDArray[Any]) -> list[Call]:
    """``out = X - v`` for a per-feature ``v`` (copied into ``rows`` first)."""
    return [partial(np.copyto, rows, v), partial(np.subtract, X, rows, out)]


def _affine(xhat: NDArray[Any], gamma: NDArray[Any], beta: NDArray[Any] | None, rows: NDArray[Any],
            Y: NDArray[Any]) -> list[Call]:
    """``Y = xhat * gamma + beta`` (None: no ``beta``); a strided ``Y`` (the next module's
    ``[X, 1]``) gets a contiguous result copied in."""
    out = Y if Y.flags.c_contiguous else np.zeros(Y.shape, Y.dtype)
    calls = _scale(xhat, gamma, rows, out)
    if beta is not None:
        shift = add_outer(np.ones(out.shape[0], out.dtype), beta, out)
        if shift is None:
            raise TypeError("BatchNorm1d: the planned arrays do not allow a BLAS product without copies")
        calls.append(shift)
    return calls if out is Y else [*calls, partial(np.copyto, Y, out)]


def _blend(running: NDArray[Any], batch: NDArray[Any], factor: float | None, weight: NDArray[Any],
           keep: NDArray[Any], spare: NDArray[Any]) -> list[Call]:
    """``running = keep * running + weight * batch * factor`` (None: no factor)."""
    scaled = [] if factor is None else [partial(np.multiply, spare, factor, spare)]
    return [partial(np.multiply, batch, weight, spare), *scaled,
            partial(np.multiply, running, keep, running), partial(np.add, running, spare, running)]
