"""Scalar reference versions: the yardsticks densenet is tested and benchmarked against.

Nothing in the core imports this module.

- ``ScalarNetwork``: the tutorial's 2-2-1 network in the tutorial's own style:
  nine named floats, NumPy scalars and ``np.exp``, one sample per update, the
  MSE over all samples recorded every 10 epochs.
- ``ScalarMLP``: the same per-neuron, per-weight loops for any layer sizes
  (sigmoid everywhere, MSE, SGD), on plain Python floats and ``math.exp``,
  the fastest honest scalar version, so speedups against it are not inflated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")

Weights = list[list[list[float]]]  # ScalarMLP's W[layer][i][j]
Biases = list[list[float]]  # and b[layer][j]


def sigmoid(x: float) -> float:
    """The logistic function, as the tutorial writes it."""
    return 1 / (1 + np.exp(-x))


def sigmoid_slope(x: float) -> float:
    """f'(x) = f(x) (1 - f(x))."""
    fx = sigmoid(x)
    return fx * (1 - fx)


class ScalarNetwork:
    """The tutorial's network: two sigmoid hidden neurons h1, h2 and an output o1.

    Args:
        params: the nine values, as a mapping ``w1``..``w6``, ``b1``..``b3`` or a
            sequence in that order.

    >>> net = ScalarNetwork(dict(w1=0, w2=1, w3=0, w4=1, w5=0, w6=1, b1=0, b2=0, b3=0))
    >>> float(net.feedforward(np.array([2.0, 3.0])))
    0.7216325609518421
    """

    def __init__(self, params: Mapping[str, float] | Sequence[float]) -> None:
        if not isinstance(params, Mapping):
            params = dict(zip(NAMES, params))
        self.w1, self.w2, self.w3, self.w4, self.w5, self.w6, self.b1, self.b2, self.b3 = (
            float(params[name]) for name in NAMES
        )
        self.losses: list[float] = []

    def params(self) -> dict[str, float]:
        """The nine parameters by name, as Python floats."""
        return {name: float(getattr(self, name)) for name in NAMES}

    def feedforward(self, x: Sequence[float] | NDArray[Any]) -> float:
        """The output o1 for one sample ``x = (x1, x2)``."""
        h1 = sigmoid(self.w1 * x[0] + self.w2 * x[1] + self.b1)
        h2 = sigmoid(self.w3 * x[0] + self.w4 * x[1] + self.b2)
        return sigmoid(self.w5 * h1 + self.w6 * h2 + self.b3)

    def train(self, X: ArrayLike, y: ArrayLike, lr: float = 0.1, epochs: int = 1000) -> list[float]:
        """Per-sample SGD on ``L = (y - y_pred)^2``, samples in order.

        Returns the MSE over all samples after every 10th epoch (0, 10, ...).
        """
        inputs, targets = np.asarray(X, dtype=float), np.asarray(y, dtype=float).reshape(-1)
        self.losses = []
        for epoch in range(epochs):
            for x, y_true in zip(inputs, targets):
                # forward, keeping the pre-activations for the derivatives
                s1 = self.w1 * x[0] + self.w2 * x[1] + self.b1
                h1 = sigmoid(s1)
                s2 = self.w3 * x[0] + self.w4 * x[1] + self.b2
                h2 = sigmoid(s2)
                s3 = self.w5 * h1 + self.w6 * h2 + self.b3
                y_pred = sigmoid(s3)

                # chain rule, one partial derivative at a time
                dL_dypred = -2 * (y_true - y_pred)
                dypred_dw5 = h1 * sigmoid_slope(s3)
                dypred_dw6 = h2 * sigmoid_slope(s3)
                dypred_db3 = sigmoid_slope(s3)
                dypred_dh1 = self.w5 * sigmoid_slope(s3)
                dypred_dh2 = self.w6 * sigmoid_slope(s3)
                dh1_dw1 = x[0] * sigmoid_slope(s1)
                dh1_dw2 = x[1] * sigmoid_slope(s1)
                dh1_db1 = sigmoid_slope(s1)
                dh2_dw3 = x[0] * sigmoid_slope(s2)
                dh2_dw4 = x[1] * sigmoid_slope(s2)
                dh2_db2 = sigmoid_slope(s2)

                self.w1 -= lr * dL_dypred * dypred_dh1 * dh1_dw1
                self.w2 -= lr * dL_dypred * dypred_dh1 * dh1_dw2
                self.b1 -= lr * dL_dypred * dypred_dh1 * dh1_db1
                self.w3 -= lr * dL_dypred * dypred_dh2 * dh2_dw3
                self.w4 -= lr * dL_dypred * dypred_dh2 * dh2_dw4
                self.b2 -= lr * dL_dypred * dypred_dh2 * dh2_db2
                self.w5 -= lr * dL_dypred * dypred_dw5
                self.w6 -= lr * dL_dypred * dypred_dw6
                self.b3 -= lr * dL_dypred * dypred_db3

            if epoch % 10 == 0:
                y_preds = np.array([self.feedforward(x) for x in inputs])
                self.losses.append(float(((targets - y_preds) ** 2).mean()))
        return self.losses


def _sigmoid(x: float) -> float:
    # the stable form: exp of a non-positive number never overflows
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class ScalarMLP:
    """A sigmoid MLP of any sizes, one neuron and one weight at a time.

    ``W[l][i][j]`` is the weight from input ``i`` to neuron ``j`` of layer ``l``
    (densenet's ``(in, out)`` layout) and ``b[l][j]`` its bias; all Python floats.

    Args:
        sizes: layer widths, e.g. ``(2, 64, 64, 1)``.
        params: a flat vector in ``Sequential.params`` layout (``[W; b]`` per
            layer), so a densenet model and a ScalarMLP can start equal.

    >>> mlp = ScalarMLP((2, 1), [0.0, 1.0, 4.0])
    >>> round(mlp.forward([2.0, 3.0])[0], 12)
    0.999088948806
    """

    def __init__(self, sizes: Sequence[int], params: Sequence[float]) -> None:
        self.sizes = tuple(int(s) for s in sizes)
        flat = [float(p) for p in params]
        need = sum((n_in + 1) * n_out for n_in, n_out in zip(self.sizes, self.sizes[1:]))
        if len(flat) != need:
            raise ValueError(f"ScalarMLP{self.sizes} needs {need} parameters, got {len(flat)}")
        self.W: Weights = []
        self.b: Biases = []
        k = 0
        for n_in, n_out in zip(self.sizes, self.sizes[1:]):
            self.W.append([flat[k + i * n_out: k + (i + 1) * n_out] for i in range(n_in)])
            k += n_in * n_out
            self.b.append(flat[k: k + n_out])
            k += n_out

    def params(self) -> list[float]:
        """The flat vector, in ``Sequential.params`` layout."""
        flat: list[float] = []
        for W, b in zip(self.W, self.b):
            for row in W:
                flat.extend(row)
            flat.extend(b)
        return flat

    def _activations(self, x: Sequence[float]) -> list[list[float]]:
        acts = [list(x)]
        for W, b in zip(self.W, self.b):
            a = acts[-1]
            out = []
            for j in range(len(b)):
                s = b[j]
                for i in range(len(a)):
                    s += a[i] * W[i][j]
                out.append(_sigmoid(s))
            acts.append(out)
        return acts

    def forward(self, x: Sequence[float]) -> list[float]:
        """The outputs for one sample."""
        return self._activations(x)[-1]

    def _gradients(self, x: Sequence[float], t: Sequence[float], scale: float, gW: Weights,
                   gb: Biases) -> None:
        """Add ``scale`` x the gradient of ``sum((y - t)^2)`` for one sample into gW, gb."""
        acts = self._activations(x)
        delta = [2.0 * (yk - tk) * yk * (1.0 - yk) for yk, tk in zip(acts[-1], t)]
        for layer in range(len(self.W) - 1, -1, -1):
            a, W = acts[layer], self.W[layer]
            for j in range(len(delta)):
                gb[layer][j] += scale * delta[j]
                for i in range(len(a)):
                    gW[layer][i][j] += scale * a[i] * delta[j]
            if layer:
                delta = [
                    sum(W[i][j] * delta[j] for j in range(len(delta))) * a[i] * (1.0 - a[i])
                    for i in range(len(a))
                ]

    def _zeros(self) -> tuple[Weights, Biases]:
        return ([[[0.0] * len(row) for row in W] for W in self.W], [[0.0] * len(b) for b in self.b])

    def train_batch(self, X: Sequence[Sequence[float]], Y: Sequence[Sequence[float]], lr: float) -> None:
        """One SGD step on the batch's MSE (mean over samples and outputs)."""
        gW, gb = self._zeros()
        scale = 1.0 / (len(X) * len(Y[0]))
        for x, t in zip(X, Y):
            self._gradients(x, t, scale, gW, gb)
        for W, b, dW, db in zip(self.W, self.b, gW, gb):
            for j in range(len(b)):
                b[j] -= lr * db[j]
            for row, drow in zip(W, dW):
                for j in range(len(row)):
                    row[j] -= lr * drow[j]

    def train(self, X: Sequence[Sequence[float]], Y: Sequence[Sequence[float]], lr: float = 0.1,
              epochs: int = 1, batch_size: int = 1) -> None:
        """Mini-batch SGD over the samples in order."""
        for _ in range(epochs):
            for start in range(0, len(X), batch_size):
                self.train_batch(X[start:start + batch_size], Y[start:start + batch_size], lr)
