"""Modules: the ``Module`` protocol, the ``Dense`` layer and the ``Sigmoid`` activation.

Conventions (see the package docstring): batch first, an input is
``(n_samples, in_features)``; ``Dense.W`` is ``(in_features, out_features)`` so
the forward pass is ``X @ W + b`` with no transpose.

``forward(X)`` caches exactly what ``backward`` needs and returns the module's
output; ``backward(dY)`` returns the gradient with respect to the input and
overwrites (never accumulates) the parameter gradients ``dW`` and ``db``.

Modules trust their inputs: ``Sequential`` validates data once at its boundary.
The arrays a module returns are its own work buffers, reused by its next call
with the same batch size; ``Sequential.forward`` and ``predict`` return copies.
"""

from __future__ import annotations

import operator

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from . import init as _init


class Module:
    """Base class of every layer and activation.

    Subclasses implement ``forward`` and ``backward``; those with parameters
    also set ``n_params`` and implement ``bind`` and ``reset_parameters``.
    """

    n_params: int = 0

    def forward(self, X: NDArray) -> NDArray:
        """Compute the output for a batch ``X`` and cache what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dY: NDArray) -> NDArray:
        """Given dL/dY, write the parameter gradients and return dL/dX."""
        raise NotImplementedError

    def backward_params(self, dY: NDArray) -> None:
        """Write the parameter gradients only (the first layer's dL/dX is never needed)."""
        self.backward(dY)

    def bind(self, params: NDArray, grads: NDArray) -> None:
        """Make this module's parameters and gradients views into the given 1-D slices."""

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Draw fresh parameters from ``rng``."""

    def __call__(self, X: NDArray) -> NDArray:
        return self.forward(X)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _work(base: NDArray, n: int, m: int, dtype: np.dtype) -> tuple[NDArray, NDArray]:
    """An ``(n, m)`` work array: the first ``n`` rows of ``base`` when it fits, else a new base.

    Returns ``(base, view)``. Keeping the larger base means alternating batch
    sizes (a last partial batch, say) never reallocate.
    """
    if base.shape[1] != m or base.shape[0] < n or base.dtype != dtype:
        base = np.empty((n, m), dtype)
    return base, base[:n]


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a positive integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{what} must be a positive integer, got {n}")
    return n


class Dense(Module):
    r"""A fully connected layer: ``Y = X @ W + b``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        init: name of the initialiser used by ``reset_parameters``
            (see ``densenet.init``; default ``"glorot_uniform"``).

    Shape:
        - Input: ``(N, in_features)``
        - Output: ``(N, out_features)``

    Attributes:
        W: weights, ``(in_features, out_features)``; column ``j`` holds neuron ``j``'s weights.
        b: biases, ``(out_features,)``.
        dW, db: gradients of the loss with respect to ``W`` and ``b``, same shapes.

    ``W`` and ``b`` are stored as one ``(in_features + 1, out_features)`` block
    ``[W; b]``; inside a ``Sequential`` that block is a slice of the model's flat
    parameter vector, so ``W`` and ``b`` are views of ``model.params``. Assign
    into them (``layer.W[...] = values``), never rebind them.

    A new layer holds zeros until ``reset_parameters`` (which ``Sequential`` calls).

    Example:
        >>> import numpy as np
        >>> layer = Dense(2, 1)
        >>> layer.W[...] = [[0.0], [1.0]]
        >>> layer.b[...] = 4.0
        >>> layer.forward(np.array([[2.0, 3.0]]))
        array([[7.]])
    """

    def __init__(self, in_features: int, out_features: int, *, init: str = _init.DEFAULT) -> None:
        self.in_features = _positive_int(in_features, "Dense in_features")
        self.out_features = _positive_int(out_features, "Dense out_features")
        _init.get(init)
        self.init = init
        self.n_params = (self.in_features + 1) * self.out_features
        self.bind(np.zeros(self.n_params), np.zeros(self.n_params))

    def bind(self, params: NDArray, grads: NDArray) -> None:
        shape = (self.in_features + 1, self.out_features)
        block, gblock = params.reshape(shape), grads.reshape(shape)
        self.W, self.b = block[:-1], block[-1]
        self.dW, self.db = gblock[:-1], gblock[-1]
        self._X: NDArray | None = None
        self._Ybase = self._Y = np.empty((0, self.out_features), params.dtype)
        self._dXbase = self._dX = np.empty((0, self.in_features), params.dtype)

    def reset_parameters(self, rng: np.random.Generator) -> None:
        _init.initialise(self.init, self.W, self.b, rng)

    def forward(self, X: NDArray) -> NDArray:
        Y = self._Y
        if Y.shape[0] != X.shape[0]:
            self._Ybase, Y = _work(self._Ybase, X.shape[0], self.out_features, self.W.dtype)
            self._Y = Y
        np.matmul(X, self.W, out=Y)
        np.add(Y, self.b, out=Y)
        self._X = X
        return Y

    def backward_params(self, dY: NDArray) -> None:
        np.matmul(self._X.T, dY, out=self.dW)
        np.add.reduce(dY, axis=0, out=self.db)

    def backward(self, dY: NDArray) -> NDArray:
        self.backward_params(dY)
        dX = self._dX
        if dX.shape[0] != dY.shape[0]:
            self._dXbase, dX = _work(self._dXbase, dY.shape[0], self.in_features, self.W.dtype)
            self._dX = dX
        return np.matmul(dY, self.W.T, out=dX)

    def __repr__(self) -> str:
        return f"Dense(in_features={self.in_features}, out_features={self.out_features})"


class Sigmoid(Module):
    r"""The logistic sigmoid, elementwise: ``Y = 1 / (1 + exp(-X))``.

    Computed by ``scipy.special.expit``, which is exact to rounding and raises no
    overflow warning for any finite input in float32 or float64. The backward
    pass uses the cached output: ``dX = dY * Y * (1 - Y)``.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> Sigmoid().forward(np.array([[0.0, 7.0]]))
        array([[0.5       , 0.99908895]])
    """

    def __init__(self) -> None:
        self._Ybase = self._Y = np.empty((0, 0))
        self._dXbase = self._dX = np.empty((0, 0))

    def forward(self, X: NDArray) -> NDArray:
        Y = self._Y
        if Y.shape != X.shape or Y.dtype != X.dtype:
            self._Ybase, Y = _work(self._Ybase, X.shape[0], X.shape[1], X.dtype)
            self._Y = Y
        return expit(X, out=Y)

    def backward(self, dY: NDArray) -> NDArray:
        Y, dX = self._Y, self._dX
        if dX.shape != Y.shape or dX.dtype != Y.dtype:
            self._dXbase, dX = _work(self._dXbase, Y.shape[0], Y.shape[1], Y.dtype)
            self._dX = dX
        np.subtract(1, Y, out=dX)
        np.multiply(dX, Y, out=dX)
        return np.multiply(dX, dY, out=dX)
