"""The tutorial's recipe, scaled up: wider and deeper sigmoid networks on a larger two-class problem.

The data are two interleaving half-moons made with NumPy alone (no downloads):
for each sample, a class label ~ Bernoulli(1/2) and an angle t ~ U(0, pi) give the
point (cos t, sin t) for class 0 or (1 - cos t, 1/2 - sin t) for class 1, plus
N(0, 0.2^2) noise on each coordinate, then centred and scaled to about [-1, 1].
The classes are not linearly separable, so the tutorial's 2-2-1 network
underfits and wider or deeper ones do better. Same recipe throughout: sigmoid
layers, MSELoss, SGD with mini-batches, default (Glorot) initialisation.

    python examples/scaling.py [--samples 6000] [--epochs 100] [--batch-size 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import densenet as dn


def two_moons(n: int, noise: float = 0.2, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    """``n`` samples of the two-moons problem: X ``(n, 2)``, y ``(n, 1)`` in {0, 1}."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    x1 = np.where(label == 0, np.cos(t), 1 - np.cos(t))
    x2 = np.where(label == 0, np.sin(t), 0.5 - np.sin(t))
    X = np.column_stack([x1, x2]) + rng.normal(0, noise, (n, 2))
    X = (X - [0.5, 0.25]) / [0.87, 0.5]
    return X, label.reshape(-1, 1).astype(float)


def sigmoid_mlp(sizes: tuple[int, ...], dtype: type, seed: int) -> dn.Sequential:
    modules: list[dn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        modules += [dn.Dense(n_in, n_out), dn.Sigmoid()]
    return dn.Sequential(*modules, dtype=dtype, seed=seed)


CONFIGS = [  # (layer sizes, learning rate, dtype)
    ((2, 2, 1), 1.0, np.float64),
    ((2, 16, 1), 2.0, np.float64),
    ((2, 64, 64, 1), 1.0, np.float64),
    ((2, 64, 64, 1), 1.0, np.float32),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=6000, help="total; a third is held out")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.samples < 3:
        parser.error("--samples must be at least 3 (a third is held out)")
    for name, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            parser.error(f"{name} must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be an integer >= 0")

    X, y = two_moons(args.samples, seed=args.seed)
    n_train = 2 * args.samples // 3
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    print(f"two moons: {n_train} training and {len(X_test)} test samples, "
          f"{args.epochs} epochs, batch size {args.batch_size}\n")
    print(f"{'network':<14} {'dtype':<8} {'params':>6} {'lr':>4} {'loss':>8} {'test acc':>9} {'time':>7}")
    for sizes, lr, dtype in CONFIGS:
        model = sigmoid_mlp(sizes, dtype, args.seed)
        start = time.perf_counter()
        history = model.fit(X_train, y_train, optimizer=dn.SGD(lr), epochs=args.epochs,
                            batch_size=args.batch_size, seed=args.seed)
        seconds = time.perf_counter() - start
        accuracy = np.mean((model.predict(X_test) > 0.5) == (y_test > 0.5))
        name = "-".join(map(str, sizes))
        print(f"{name:<14} {np.dtype(dtype).name:<8} {model.params.size:>6} {lr:>4} "
              f"{history.loss[-1]:>8.4f} {accuracy:>9.2%} {seconds:>6.2f}s")


if __name__ == "__main__":
    main()
