"""``LayerNorm``: each sample's features normalised by their own mean and variance."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import flag, hyperparameter, nonzero_in, positive_int
from .backend import add_outer, product
from .chain import Buffers, Call, Passes
from .module import Module


class LayerNorm(Module):
    r"""Each row normalised over its features, then scaled and shifted:
    ``Y = gamma * (X - mean) / sqrt(var + eps) + beta``, ``mean`` and ``var`` (biased)
    those of the row. PyTorch's ``torch.nn.LayerNorm(normalized_shape)`` on ``(N, C)``
    inputs (its ``weight`` and ``bias`` are ``gamma`` and ``beta`` here).

    Unlike ``BatchNorm1d`` it keeps no running statistics and a row's output depends on
    that row alone: training and inference compute the same thing, at any batch size,
    one row included. Each row is shifted by its first value before its mean is taken:
    a row of equal values normalises to ``beta`` exactly, its variance 0 (as in
    PyTorch), and a row far from 0 keeps its spread's digits.

    Args:
        normalized_shape: ``C``, the number of features, >= 1.
        eps: added to the variance, > 0 (default 1e-5).
        elementwise_affine: learn ``gamma`` (default); False: neither ``gamma`` nor
            ``beta``, and no parameters.
        bias: learn ``beta`` too (default), when ``elementwise_affine``.

    Attributes:
        gamma, beta: the scale and shift, ``(C,)`` each (views into the model's
            ``params``: ones and zeros to start); ``dgamma``, ``dbeta`` their gradients.

    The backward pass reads the normalised input ``Xh`` and ``1 / std`` the forward pass
    kept: with ``G = dY * gamma``, ``dX = (G - mean(G) - Xh * mean(G * Xh)) / std`` row by
    row, ``dgamma = sum(dY * Xh)`` and ``dbeta = sum(dY)`` over the rows.

    Shape:
        - Input: ``(N, C)``
        - Output: ``(N, C)``

    Example:
        >>> import numpy as np
        >>> Y = LayerNorm(3).forward(np.array([[1.0, 2.0, 3.0], [10.0, 0.0, 5.0]]))
        >>> np.allclose(Y.mean(axis=1), 0), np.allclose(Y.var(axis=1), 1, atol=1e-4)
        (True, True)
    """

    folds_descent = True
    reads_output = False  # (its backward pass reads the normalised input it keeps)

    # views into the model's flat vectors, made by ``bind`` (``param_views``)
    gamma: NDArray[Any]
    beta: NDArray[Any]
    dgamma: NDArray[Any]
    dbeta: NDArray[Any]

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        self._normalized_shape = positive_int(normalized_shape, "LayerNorm: normalized_shape")
        self._eps = hyperparameter(eps, "LayerNorm", "eps", low_open=True)
        self._affine = flag(elementwise_affine, "LayerNorm", "elementwise_affine")
        self._bias = flag(bias, "LayerNorm", "bias")
        self.bind()
        self._start()

    @property
    def eps(self) -> float:
        """Added to the variance before its square root, > 0 (fixed: plans read it)."""
        return self._eps

    @property
    def normalized_shape(self) -> int:
        """The number of features (fixed: it shapes the parameters)."""
        return self._normalized_shape

    @property
    def elementwise_affine(self) -> bool:
        """Whether it learns ``gamma`` (fixed: it shapes the parameters)."""
        return self._affine

    @property
    def bias(self) -> bool:
        """Whether it learns ``beta`` (with ``elementwise_affine``; fixed)."""
        return self._bias

    def _blocks(self) -> tuple[str, ...]:
        """The names of its parameter blocks, in their order in the flat vector."""
        if not self.elementwise_affine:
            return ()
        return ("gamma", "beta") if self.bias else ("gamma",)

    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple((self.normalized_shape,) for _ in self._blocks())

    def param_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        return dict(zip(self._blocks(), blocks))

    @property
    def input_width(self) -> int:
        return self.normalized_shape

    def config(self) -> dict[str, Any]:
        return {"normalized_shape": self.normalized_shape, "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias}

    def reset_parameters(self, rng: np.random.Generator) -> None:
        self._start()

    def _start(self) -> None:
        """Scale 1 and shift 0 (what a new module has)."""
        for name, value in zip(self._blocks(), (1.0, 0.0)):
            getattr(self, name)[...] = value

    def to_onnx(self, graph: Any, x: str) -> str:
        # The row means as products with a constant column (every opset has MatMul, and
        # its constants are in the model's dtype, where LayerNormalization's epsilon is
        # float32). On the graph's input, forward_scaled's arithmetic, as the model's
        # for huge inputs: each row 2**k xs (k its largest magnitude's power of two, at
        # least 0), whose squares do not overflow, normalised with eps scaled as the
        # variance is (the same bits as the unscaled rows' wherever no number underflows)
        size, const = self.normalized_shape, graph.constant
        eps = const(np.array(self.eps), "eps")
        if x == graph.input:
            peak = graph.row_max(graph.node("Abs", [x]))
            log2 = graph.node("Mul", [graph.node("Log", [peak]), const(np.array(1 / np.log(2)), "log2e")])
            k = graph.node("Max", [graph.node("Floor", [log2]), const(np.array(0.0), "zero")])
            power = graph.node("Pow", [const(np.array(0.5), "half"), k])  # 2**-k
            x = graph.node("Mul", [x, power])
            scaled = graph.node("Mul", [graph.node("Mul", [eps, power]), power])
            tiny = const(np.array(np.finfo(graph.dtype).tiny), "tiny")
            eps = graph.node("Min", [eps, graph.node("Max", [scaled, tiny])])
        average = const(np.full((size, 1), 1.0 / size), "average")
        shifted = graph.node("Sub", [x, graph.first_column(x)])  # (as the passes: less the first value)
        centred = graph.node("Sub", [shifted, graph.node("MatMul", [shifted, average])])
        var = graph.node("MatMul", [graph.node("Mul", [centred, centred]), average])
        std = graph.node("Sqrt", [graph.node("Add", [var, eps])])
        y = graph.node("Div", [centred, std])
        for name, op in zip(self._blocks(), ("Mul", "Add")):
            y = graph.node(op, [y, graph.constant(getattr(self, name), name)])
        return y

    def forward_scaled(self, X: NDArray[Any], exponents: NDArray[np.integer[Any]]) -> NDArray[Any]:
        """The output for ``X * 2**exponents``: each row normalised by the statistics of
        ``X``, whose squares do not overflow as those of huge rows do, with ``eps`` scaled
        as the variance is (``eps * 4**-k``, at least the smallest normal number, which a
        constant row's 0 / 0 needs, or ``eps`` if smaller), in the arithmetic of the
        passes: a row of power 0 gives the same bits as they do, and so does any other
        whose scaled values stay normal numbers."""
        X = self.check_input(X)
        dtype, inverse_size = X.dtype, np.asarray(1.0 / self.normalized_shape, X.dtype)
        with np.errstate(under="ignore"):
            shifted = X - X[:, :1]
            centred = shifted - np.add.reduce(shifted, 1, keepdims=True) * inverse_size
            var = np.add.reduce(centred * centred, 1, keepdims=True) * inverse_size
            eps = np.asarray(self.eps, dtype)
            eps = np.minimum(eps, np.maximum(np.ldexp(eps, -2 * exponents), np.finfo(dtype).tiny))
            scale = np.reciprocal(np.sqrt(var + eps))
            if self.elementwise_affine:
                scale = scale * self.gamma
            Y = centred * scale
            return Y + self.beta if self.elementwise_affine and self.bias else Y

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        n, size, dtype = X.shape[0], self.normalized_shape, Y.dtype
        nonzero_in(dtype, self.eps, repr(self), "eps", "a row of one value would be divided by 0")
        # (folded descent: the gradients' accumulation once dX, which reads gamma, is written)
        written, descent = buffers.gradients()
        params, grads = dict(zip(self._blocks(), buffers.params)), dict(zip(self._blocks(), written))
        # With C = X - mean and r = 1 / std per row: Y = C * S + beta, S = r gamma (an outer
        # product, one BLAS call). Row statistics are each row's own sums (add.reduce's axis,
        # dtype, out, keepdims), the same bits whatever rows share its batch, as a BLAS product
        # would not be; a per-row (n, 1) or per-feature (size,) vector is spread into a full
        # (n, size) array before an elementwise pass (a ufunc broadcasting it takes an iterator
        # buffer per call).
        average, ones = np.full(size, 1.0 / size, dtype), np.ones(n, dtype)
        mean, r = np.zeros((n, 1), dtype), np.zeros((n, 1), dtype)
        rows, centred, S = (np.zeros(X.shape, dtype) for _ in range(3))
        gamma, inverse_size = params.get("gamma"), np.full((), 1.0 / size, dtype)
        # C = (X - X[:, :1]) - mean(X - X[:, :1]): each row shifted by its first value, then
        # centred. A row's mean, summed and scaled, rounds; its values shifted by one of
        # them, a row of equal values is 0 exactly (its output beta, its variance 0), and a
        # row far from 0 keeps its spread's digits.
        forward: list[Call] = [
            partial(np.copyto, rows, X[:, :1]), partial(np.subtract, X, rows, centred),
            partial(np.add.reduce, centred, 1, None, mean, True),
            partial(np.multiply, mean, inverse_size, mean),
            _add_outer(mean[:, 0], np.ones(size, dtype), centred, -1.0),
            partial(np.multiply, centred, centred, rows), partial(np.add.reduce, rows, 1, None, r, True),
            partial(np.multiply, r, inverse_size, r), partial(np.add, r, np.full((), self.eps, dtype), r),
            partial(np.sqrt, r, r), partial(np.reciprocal, r, r),
            _outer(r, gamma.reshape(1, size), S) if gamma is not None else partial(np.copyto, S, r)]
        out = Y if Y.flags.c_contiguous else np.zeros(Y.shape, dtype)  # (a strided Y: [X, 1])
        forward.append(partial(np.multiply, centred, S, out))
        if "beta" in params:
            forward.append(_add_outer(ones, params["beta"], out, 1.0))
        if out is not Y:
            forward.append(partial(np.copyto, Y, out))
        # dgamma = r @ (dY * C) (the rows' sums of dY * C * r), dbeta = sum(dY) over the rows
        P = np.zeros(X.shape, dtype)
        backward: list[Call] = [partial(np.multiply, dY, centred, P)]
        if "gamma" in grads:
            backward.append(partial(np.dot, r[:, 0], P, grads["gamma"]))
        if "beta" in grads:
            backward.append(partial(np.dot, ones, dY, grads["beta"]))
        if dX is None:
            return Passes(forward, [*backward, *descent])
        if size == 1:  # every row a row of one value: Y is beta whatever X, so dX is 0 (the
            # formula below gives it as two products that round apart, times 1/sqrt(eps))
            return Passes(forward, [*backward, partial(np.copyto, dX, np.zeros((), dtype)), *descent])
        # dX = r (G - mean(G) - Xh mean(G Xh)) with G = dY gamma, Xh = C r:
        # dX = dY * S - r m1 - C r**3 m2, m1 = dY @ (gamma / size), m2 = (dY * C) @ (gamma / size)
        weights = average if gamma is None else np.zeros(size, dtype)
        m1, m2 = np.zeros(n, dtype), np.zeros(n, dtype)
        shift, scale = np.zeros((n, 1), dtype), np.zeros((n, 1), dtype)
        backward += [*([] if gamma is None else [partial(np.multiply, gamma, average, weights)]),
                     partial(np.dot, dY, weights, m1), partial(np.dot, P, weights, m2),
                     partial(np.multiply, r[:, 0], m1, shift[:, 0]), partial(np.multiply, r, r, scale),
                     partial(np.multiply, scale, r, scale),
                     partial(np.multiply, scale[:, 0], m2, scale[:, 0]),
                     partial(np.multiply, dY, S, dX), partial(np.copyto, rows, scale),
                     partial(np.multiply, centred, rows, rows), partial(np.subtract, dX, rows, dX),
                     _add_outer(shift[:, 0], np.ones(size, dtype), dX, -1.0)]
        return Passes(forward, [*backward, *descent])

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value, default in
                        (("eps", self.eps, 1e-5), ("elementwise_affine", self.elementwise_affine, True),
                         ("bias", self.bias, True)) if value != default)
        return f"{type(self).__name__}(normalized_shape={self.normalized_shape}{extra})"


def _add_outer(column: NDArray[Any], row: NDArray[Any], out: NDArray[Any], sign: float) -> Call:
    """``backend.add_outer``'s call (``out`` is C-ordered: the planner's ``dX``, and the
    forward pass's ``out``)."""
    run = add_outer(column, row, out, sign)
    if run is None:
        raise TypeError("LayerNorm: the planned arrays do not allow a BLAS product without copies")
    return run


def _outer(column: NDArray[Any], row: NDArray[Any], out: NDArray[Any]) -> Call:
    """The call that writes ``column @ row`` (an ``(n, 1)`` by ``(1, size)`` outer product)
    into ``out``: one BLAS call (``backend.product``'s; from ``RANK_ONE_MIN_SIZE`` outputs a
    rank-1 update), which NumPy's ``dot`` is slower at (261 against 46 us at 256 x 512,
    float64)."""
    run = product(column, row, out)
    return partial(np.dot, column, row, out) if run is None else partial(run, 1.0)
