"""Modules: the ``Module`` protocol, the ``Dense`` layer and the ``Sigmoid`` activation.

Conventions (see the package docstring): batch first, an input is
``(n_samples, in_features)``; ``Dense.W`` is ``(in_features, out_features)`` so
the forward pass is ``X @ W + b`` with no transpose.

``forward(X)`` returns a new array and caches what ``backward`` needs;
``backward(dY)`` returns dL/dX and overwrites (never accumulates) the
parameter gradients ``dW`` and ``db``. Modules trust their inputs:
``Sequential`` validates data once, at its boundary.

A module states its two passes as *plans*: ``plan_forward(X)`` and
``plan_backward(X, Y, dY, input_grad)`` return the computation as a list of
argument-free NumPy calls on arrays allocated once. ``fit`` runs those plans
step after step (see ``densenet.step``), so a training step allocates nothing
and pays only for its NumPy calls; ``forward`` and ``backward`` build a plan
on fresh arrays and run it once, so both paths give bit-identical results.
(Within a ``Sequential`` at batch size 1 the planner also folds each hidden
layer's bias into its matrix product; ``Sequential.forward`` and ``backward``
run the same plans as ``fit``.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from . import init as _init
from ._validation import positive_int

Call = Callable[[], object]


class Module:
    """Base class of every layer and activation.

    A subclass implements either ``plan_forward`` and ``plan_backward`` (the fast
    path; ``forward`` and ``backward`` then come for free) or ``forward`` and
    ``backward`` (``fit`` then wraps them, with a copy per pass). Modules with
    parameters also set ``n_params`` and implement ``bind`` and ``reset_parameters``.
    """

    n_params: int = 0
    _cache: tuple[NDArray, NDArray] | None = None
    _in_model: bool = False  # set by the Sequential that owns the module

    def forward(self, X: NDArray) -> NDArray:
        """The output for a batch ``X``, as a new array; caches what ``backward`` needs."""
        calls, Y = self.plan_forward(X)
        for call in calls:
            call()
        self._cache = (X, Y)
        return Y

    def backward(self, dY: NDArray) -> NDArray:
        """Given dL/dY of the last ``forward``, write the parameter gradients and return dL/dX."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        X, Y = self._cache
        calls, dX = self.plan_backward(X, Y, dY, input_grad=True)
        for call in calls:
            call()
        return dX

    def plan_forward(self, X: NDArray, out: NDArray | None = None) -> tuple[list[Call], NDArray]:
        """The forward pass from the fixed array ``X``: calls that write a fixed output,
        ``out`` when given (a contiguous view into a larger array), else a new array.

        This default wraps ``forward`` (for modules that define only that).
        """
        Y = np.zeros_like(self.forward(X)) if out is None else out
        return [lambda: np.copyto(Y, self.forward(X))], Y

    def plan_backward(self, X: NDArray, Y: NDArray, dY: NDArray,
                      input_grad: bool) -> tuple[list[Call], NDArray | None]:
        """The backward pass from the fixed array ``dY``, given this module's planned
        input ``X`` and output ``Y``; dL/dX is written only if ``input_grad``.

        This default wraps ``backward`` (for modules that define only that).
        """
        dX = np.zeros_like(X)
        return [lambda: np.copyto(dX, self.backward(dY))], dX

    def bind(self, params: NDArray, grads: NDArray) -> None:
        """Make this module's parameters and gradients views into the given 1-D slices."""

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Draw fresh parameters from ``rng``."""

    def __call__(self, X: NDArray) -> NDArray:
        return self.forward(X)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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
        self.in_features = positive_int(in_features, "Dense in_features", "a positive integer")
        self.out_features = positive_int(out_features, "Dense out_features", "a positive integer")
        _init.get(init)
        self.init = init
        self.n_params = (self.in_features + 1) * self.out_features
        self.bind(np.zeros(self.n_params), np.zeros(self.n_params))

    def bind(self, params: NDArray, grads: NDArray) -> None:
        shape = (self.in_features + 1, self.out_features)
        block, gblock = params.reshape(shape), grads.reshape(shape)
        self.W, self.b = block[:-1], block[-1]
        self.dW, self.db = gblock[:-1], gblock[-1]
        # (1, out) views of b and db and a view of W.T, made once: at batch size 1
        # the cost of a step is the number and kind of NumPy calls, and a same-shape
        # add or copy is several times cheaper than a broadcast or a reduction.
        self._block, self._gblock = block, gblock
        self._b_row, self._db_row, self._WT = block[-1:], gblock[-1:], self.W.T
        self._cache = None

    def reset_parameters(self, rng: np.random.Generator) -> None:
        _init.initialise(self.init, self.W, self.b, rng)

    def plan_forward(self, X: NDArray, out: NDArray | None = None) -> tuple[list[Call], NDArray]:
        """``X @ W + b``. An ``X`` with one column more than ``in_features`` is taken
        as ``[X, 1]`` (its last column all ones, kept so by the planner): then
        ``[X, 1] @ [W; b]`` is one matrix product, with no separate bias pass."""
        n, dtype = X.shape[0], self.W.dtype
        Y = np.zeros((n, self.out_features), dtype) if out is None else out
        if X.shape[1] == self.in_features + 1:
            if Y.flags.c_contiguous:
                return [partial(np.dot, X, self._block, Y)], Y
            XW = np.zeros((n, self.out_features), dtype)
            return [partial(np.dot, X, self._block, XW), partial(Y.__setitem__, Ellipsis, XW)], Y
        XW = np.zeros((n, self.out_features), dtype)
        calls: list[Call] = [partial(np.dot, X, self.W, XW)]
        if n == 1:
            # never in place: NumPy's in-place ufuncs are ~3x slower on one-element arrays
            calls.append(partial(np.add, XW, self._b_row, Y))
        else:
            # the bias rows as a BLAS outer product, then a same-shape add: a
            # broadcasting add would take a 32 KiB iterator buffer every call
            B = np.zeros_like(XW)
            calls += [partial(np.dot, np.ones((n, 1), dtype), self._b_row, B), partial(np.add, XW, B, Y)]
        return calls, Y

    def plan_backward(self, X: NDArray, Y: NDArray, dY: NDArray,
                      input_grad: bool) -> tuple[list[Call], NDArray | None]:
        if X.shape[1] == self.in_features + 1:  # [X, 1].T @ dY is [dW; db] in one product
            calls: list[Call] = [partial(np.dot, X.T, dY, self._gblock)]
        else:
            calls = [partial(np.dot, X.T, dY, self.dW)]
            if dY.shape[0] == 1:
                calls.append(partial(self._db_row.__setitem__, Ellipsis, dY))
            else:  # the column sums as a BLAS product: 2-4x faster than np.add.reduce
                calls.append(partial(np.dot, np.ones(dY.shape[0], dY.dtype), dY, self.db))
        if not input_grad:
            return calls, None
        dX = np.zeros((dY.shape[0], self.in_features), dY.dtype)
        calls.append(partial(np.dot, dY, self._WT, dX))
        return calls, dX

    def __repr__(self) -> str:
        return f"Dense(in_features={self.in_features}, out_features={self.out_features})"


class Sigmoid(Module):
    r"""The logistic sigmoid, elementwise: ``Y = 1 / (1 + exp(-X))``.

    Stable for every finite input in float32 and float64: no overflow warning,
    outputs in [0, 1], accurate to a few ulp. Small arrays use
    ``scipy.special.expit`` (one call); from ``EXP_SIGMOID_MIN_SIZE`` elements
    on, NumPy's vectorised ``exp`` is several times faster. The backward pass
    uses the cached output: ``dX = dY * Y * (1 - Y)``.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> Sigmoid().forward(np.array([[0.0, 7.0]]))
        array([[0.5       , 0.99908895]])
    """

    def plan_forward(self, X: NDArray, out: NDArray | None = None) -> tuple[list[Call], NDArray]:
        Y = np.zeros_like(X) if out is None else out
        if X.size < EXP_SIGMOID_MIN_SIZE:
            return [partial(expit, X, Y)], Y
        return [partial(_sigmoid_by_exp, X, Y, np.ones((), Y.dtype))], Y

    def plan_backward(self, X: NDArray, Y: NDArray, dY: NDArray,
                      input_grad: bool) -> tuple[list[Call], NDArray | None]:
        dX, tmp = np.zeros_like(Y), np.zeros_like(Y)
        one = np.ones((), Y.dtype)  # a 0-d array: no Python-scalar conversion per call
        # ((1 - Y) * Y) * dY, never in place: NumPy's in-place ufuncs are ~3x
        # slower on one-element arrays
        return [partial(np.subtract, one, Y, dX), partial(np.multiply, dX, Y, tmp),
                partial(np.multiply, tmp, dY, dX)], dX


#: From this many elements on, ``Sigmoid`` computes ``1 / (1 + exp(-x))`` with
#: NumPy's vectorised ``exp`` (3.4x faster than ``expit`` in float64, 4.7x in
#: float32, on 256 x 512); below it, the one ``expit`` call is cheaper.
EXP_SIGMOID_MIN_SIZE = 2048


def _sigmoid_by_exp(X: NDArray, Y: NDArray, one: NDArray) -> None:
    """``Y = 1 / (1 + exp(-X))`` (``one``: a 0-d 1 of ``Y``'s dtype): within a few
    ulp of the exact value (tested against float64 ``expit``), limits exactly 0 and 1.

    ``exp(-x)`` overflows to inf for very negative ``x`` and ``1 / (1 + inf)``
    is the correct limit 0, so the overflow flag is silenced, not an error.
    """
    with np.errstate(over="ignore"):
        np.negative(X, out=Y)
        np.exp(Y, out=Y)
        np.add(Y, one, out=Y)
        np.divide(one, Y, out=Y)
