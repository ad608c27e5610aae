"""``Dense``: the fully connected layer ``Y = X @ W + b``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import backend
from . import init as _init
from ._validation import positive_int
from .chain import Buffers, Call, Descent, Passes, SparseBatch
from .module import Module


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

    ``W`` and ``b`` are one ``(in_features + 1, out_features)`` parameter block
    ``[W; b]``; inside a ``Sequential`` that block is a slice of the model's
    flat parameter vector, so ``W`` and ``b`` are views of ``model.params``.
    ``layer.W = values`` writes into the view (``Module.__setattr__``). Given a
    ones column (``[X, 1] @ [W; b]``), forward and backward are one matrix
    product each. A new layer holds zeros until ``reset_parameters`` (which
    ``Sequential`` calls).

    Example:
        >>> import numpy as np
        >>> layer = Dense(2, 1)
        >>> layer.W[...] = [[0.0], [1.0]]
        >>> layer.b[...] = 4.0
        >>> layer.forward(np.array([[2.0, 3.0]]))
        array([[7.]])
    """

    wants_ones_column = True
    takes_sparse_input = True
    folds_descent = True
    reads_output = False
    decayed_params = ("W",)  # (not the bias)
    outputs = "logits"  # (real numbers: a loss for probabilities or log-probabilities is not for them)

    # views into the model's flat vectors, made by ``bind`` (``param_views``)
    W: NDArray[Any]
    b: NDArray[Any]
    dW: NDArray[Any]
    db: NDArray[Any]

    def __init__(self, in_features: int, out_features: int, *, init: str = _init.DEFAULT) -> None:
        self._in_features = positive_int(in_features, "Dense in_features", "a positive integer")
        self._out_features = positive_int(out_features, "Dense out_features", "a positive integer")
        self.init = init
        self.bind()

    @property
    def in_features(self) -> int:
        """The size of each input sample (fixed: it shapes the parameters)."""
        return self._in_features

    @property
    def out_features(self) -> int:
        """The size of each output sample (fixed: it shapes the parameters)."""
        return self._out_features

    @property
    def init(self) -> str:
        """The initialiser ``reset_parameters`` uses; checked when set."""
        return self._init

    @init.setter
    def init(self, name: str) -> None:
        _init.get(name)
        self._init = name

    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.in_features + 1, self.out_features),)

    def param_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        (block,) = blocks
        return {"W": block[:-1], "b": block[-1]}

    @property
    def input_width(self) -> int:
        return self.in_features

    def output_width(self, width: int) -> int:
        return self.out_features

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init}

    def reset_parameters(self, rng: np.random.Generator) -> None:
        _init.initialise(self.init, self.W, self.b, rng)

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.node("Gemm", [x, graph.constant(self.W, "W"), graph.constant(self.b, "b")])

    def forward_scaled(self, X: NDArray[Any], exponents: NDArray[np.integer[Any]]) -> NDArray[Any]:
        """``2**exponents * (X @ W) + b``, each row scaled by its own power: exact as far as
        it is representable, else a signed infinity, where ``(2**exponents * X) @ W`` could
        overflow or give NaN."""
        X = self.check_input(X)
        with np.errstate(over="ignore"):
            return np.ldexp(np.dot(X, self.W), exponents) + self.b

    def plan(self, buffers: Buffers) -> Passes:
        X, X1, Y, dY, dX = buffers.X, buffers.X1, buffers.Y, buffers.dY, buffers.dX
        (block,), (gblock,) = buffers.params, buffers.grads
        W, b_row, dW, db = block[:-1], block[-1:], gblock[:-1], gblock[-1]
        n, dtype = X.shape[0], Y.dtype
        # large products go through SciPy's BLAS, with the bias (and the descent) in
        # gemm's beta, and so do forward and input-gradient products with many outputs
        # (densenet.backend); an output BLAS cannot write in place (strided: the
        # planner makes none without a ones column) keeps np.dot
        large = buffers.at_scale or n * W.size >= backend.GEMM_MIN_PRODUCT
        input_grad: list[Call] = []
        if dX is not None:
            input_grad = [partial(_required(backend.product(dY, W.T, dX)), 1.0)
                          if large or dX.size >= backend.GEMM_MIN_OUTPUT else partial(np.dot, dY, W.T, dX)]
        if buffers.sparse is not None:
            return _sparse_passes(buffers.sparse, W, block[-1], gblock, buffers, input_grad)
        forward: list[Call]
        with_bias = (backend.product(X, W, Y, beta=1.0)
                     if X1 is None and (large or Y.size >= backend.GEMM_MIN_OUTPUT) else None)
        negated = with_bias is not None and buffers.negate_output  # -Y for the next module: gemm can
        if X1 is not None:  # [X, 1] @ [W; b]: the bias inside the product
            if Y.flags.c_contiguous:
                forward = [partial(np.dot, X1, block, Y)]
            else:
                XW = np.zeros(Y.shape, dtype)
                forward = [partial(np.dot, X1, block, XW), partial(np.copyto, Y, XW)]
        elif with_bias is not None:
            if negated:  # Y = -b rows, then Y -= X @ W
                minus_b = np.zeros_like(b_row)
                forward = [partial(np.negative, b_row, minus_b), partial(np.copyto, Y, minus_b),
                           partial(with_bias, -1.0)]
            else:  # Y = b rows, then Y += X @ W
                forward = [partial(np.copyto, Y, b_row), partial(with_bias, 1.0)]
        else:
            XW = np.zeros(Y.shape, dtype)
            # the bias rows copied out (a broadcasting copy takes no buffer), then a
            # same-shape add: a broadcasting add would take a 64 KiB iterator buffer
            # every call; measured 1.3-4x faster than the outer product ones @ b
            B = np.zeros(Y.shape, dtype)
            forward = [partial(np.dot, X, W, XW), partial(np.copyto, B, b_row), partial(np.add, XW, B, Y)]
        if buffers.frozen:  # no parameter gradients: the forward pass and dX alone
            return Passes(forward, [], input_grad, negated)
        if buffers.descent is not None:
            return Passes(forward, [*input_grad, *_descent(X, X1, dY, gblock, buffers.descent)], (), negated)
        backward: list[Call]
        if X1 is not None:  # [dW; db] at once, an outer product at one row: gemm from many outputs
            both = backend.product(X1.T, dY, gblock) if gblock.size >= backend.GEMM_MIN_OUTPUT else None
            backward = [partial(np.dot, X1.T, dY, gblock) if both is None else partial(both, 1.0)]
        elif large:
            backward = [partial(_required(backend.product(X.T, dY, dW)), 1.0),
                        partial(_required(backend.column_sums(dY, db)), 1.0)]
        else:
            # the column sums of dY as a BLAS product: 2-4x faster than np.add.reduce
            backward = [partial(np.dot, X.T, dY, dW), partial(np.dot, np.ones(n, dtype), dY, db)]
        return Passes(forward, backward, input_grad, negated)

    def __repr__(self) -> str:
        init = "" if self.init == _init.DEFAULT else f", init={self.init!r}"
        sizes = f"in_features={self.in_features}, out_features={self.out_features}"
        return f"{type(self).__name__}({sizes}{init})"


def _sparse_passes(batch: SparseBatch, W: NDArray[Any], b: NDArray[Any], gblock: NDArray[Any],
                   buffers: Buffers, input_grad: list[Call]) -> Passes:
    """The passes on a batch of SciPy sparse rows (read from ``batch`` at each call):
    SciPy's products, at what the nonzeros cost (``backend.sparse_product``,
    ``sparse_gradient``), the gradients written or, with folded descent, accumulated."""
    Y, dY, descent = buffers.Y, buffers.dY, buffers.descent
    coefficients = _WRITE if descent is None else descent
    bias = _required(backend.column_sums(dY, gblock[-1]))

    def forward() -> None:
        backend.sparse_product(batch.rows, W, b, Y)

    def gradients() -> None:
        alpha, beta = coefficients.alpha, coefficients.beta
        backend.sparse_gradient(batch.rows, dY, gblock[:-1], alpha, beta)
        bias(alpha, beta)

    if buffers.frozen:
        return Passes([forward], [], input_grad)
    if descent is not None:
        return Passes([forward], [*input_grad, gradients])
    return Passes([forward], [gradients], input_grad)


def _descent(X: NDArray[Any], X1: NDArray[Any] | None, dY: NDArray[Any], target: NDArray[Any],
             descent: Descent) -> list[Call]:
    """The calls of folded descent: ``target = alpha * [dW; db] + beta * target``, the
    gradient products written straight onto the target block (the parameters, or a
    momentum buffer) by BLAS's ``alpha`` and ``beta``, read from ``descent`` at each call."""
    if X1 is not None:
        both = _required(backend.product(X1.T, dY, target))
        return [lambda: both(descent.alpha, descent.beta)]
    weights = _required(backend.product(X.T, dY, target[:-1]))
    bias = _required(backend.column_sums(dY, target[-1]))
    return [lambda: weights(descent.alpha, descent.beta), lambda: bias(descent.alpha, descent.beta)]


#: the coefficients of a pass that writes its gradients: ``1 * gradient + 0 * grads``
_WRITE = Descent()
_WRITE.alpha, _WRITE.beta = 1.0, 0.0


def _required(call: Callable[..., None] | None) -> Callable[..., None]:
    """``call``, which the planner's arrays allow (``X``, ``dY``, ``dX`` and the
    parameter blocks are C-ordered, of the model's float dtype)."""
    if call is None:
        raise TypeError("Dense: the planned arrays do not allow a BLAS product without copies")
    return call
