"""MNIST in the classic recipe of chapter 1 of Michael Nielsen's "Neural Networks and
Deep Learning", and in a modern one.

Classic: the first 50,000 training images train, the last 10,000 validate; pixels
/ 256; a 784-30-10 sigmoid network; the quadratic cost; SGD on mini-batches of 10;
the book's learning rate eta = 3.0 (its published result: about 95%, best epoch
95.42%). Modern: ReLU hidden layers (He initialisation), cross-entropy on the
labels, Adam. Validation and test accuracy are printed after every epoch.

The four IDX files (plain or .gz) must be in --data; --download fetches them from a
public mirror, checking each against its SHA-256 (densenet.datasets). With --checkpoint
FILE the model and its optimiser are written to FILE after every epoch, and a run that
finds FILE goes on from it: stopped and started again, it ends as a run that never stopped.

    python examples/mnist.py --data DIR [--download] [--epochs 30] [--seed 0]
                             [--sizes 784 30 10] [--recipe classic|modern] [--float32]
                             [--checkpoint FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import densenet as dn
from densenet.datasets import load_mnist

#: The book's learning rate for the quadratic cost C = 1/(2m) sum_x ||y(x) - a(x)||^2
#: over a mini-batch of m: its step is w -= (eta / m) sum_x (a - y) da/dw.
NIELSEN_ETA = 3.0

#: densenet's MSELoss is the mean over all m * 10 elements, L = 1/(10 m) sum_x ||y - a||^2,
#: so dL/dw = (2 / (10 m)) sum_x (a - y) da/dw, and w -= lr dL/dw is the book's step when
#: lr * 2 / 10 = eta, that is lr = 5 * eta.
CLASSIC_LR = NIELSEN_ETA * 10 / 2


class Accuracy(dn.Callback):
    """Prints validation and test accuracy and the time after every epoch."""

    def __init__(self, X_val: NDArray[Any], labels_val: NDArray[Any], X_test: NDArray[Any],
                 labels_test: NDArray[Any], done: int = 0) -> None:
        self.data = (X_val, labels_val, X_test, labels_test)
        self.start = time.perf_counter()
        self.best = 0.0
        self.done = done  # epochs run before this fit (a resumed run's)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        X_val, labels_val, X_test, labels_test = self.data
        assert logs is not None  # (fit gives both)
        assert self.model is not None
        val = np.mean(self.model.predict(X_val).argmax(axis=1) == labels_val)
        test = np.mean(self.model.predict(X_test).argmax(axis=1) == labels_test)
        self.best = max(self.best, val)
        print(f"epoch {self.done + epoch + 1:>3}: loss {logs['loss']:.4f}, validation {val:.2%}, "
              f"test {test:.2%}, {time.perf_counter() - self.start:.1f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the folder of the four MNIST files")
    parser.add_argument("--download", action="store_true", help="fetch missing files from a public mirror")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[784, 30, 10])
    parser.add_argument("--recipe", choices=["classic", "modern"], default="classic")
    parser.add_argument("--float32", action="store_true", help="train in float32 (default float64)")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="write the model after every epoch to FILE, and go on from FILE if it exists")
    args = parser.parse_args()
    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        parser.error("--sizes must start with 784 (pixels) and end with 10 (digits)")
    if min(args.sizes) < 1:
        parser.error("--sizes must be at least 1")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be an integer >= 0")
    try:
        data = load_mnist(args.data, download=args.download)
    except FileNotFoundError as error:
        sys.exit(f"{error} (here: run with --download)")

    images = data.train_images.reshape(len(data.train_images), -1) / 256.0
    split = len(images) * 5 // 6  # 50,000 of 60,000
    X_train, X_val = images[:split], images[split:]
    labels_train, labels_val = data.train_labels[:split], data.train_labels[split:]
    X_test = data.test_images.reshape(len(data.test_images), -1) / 256.0
    dtype = np.float32 if args.float32 else np.float64

    modules: list[dn.Module] = []
    last = len(args.sizes) - 2
    for i, (n_in, n_out) in enumerate(zip(args.sizes, args.sizes[1:])):
        if args.recipe == "classic":
            modules += [dn.Dense(n_in, n_out, init="normal"), dn.Sigmoid()]
        else:
            modules += [dn.Dense(n_in, n_out, init="he_normal")] + ([dn.ReLU()] if i < last else [])
    model = dn.Sequential(*modules, dtype=dtype, seed=args.seed)
    loss: dn.Loss
    optimizer: dn.Optimizer
    if args.recipe == "classic":
        targets, loss, optimizer = np.eye(10)[labels_train], dn.MSELoss(), dn.SGD(CLASSIC_LR)
        how = f"sigmoid, MSE, SGD lr {CLASSIC_LR} (the book's eta {NIELSEN_ETA}), mini-batch 10"
        batch_size = 10
    else:
        targets, loss, optimizer = labels_train, dn.CrossEntropyLoss(), dn.Adam(1e-3)
        how, batch_size = "ReLU, cross-entropy, Adam lr 0.001, mini-batch 32", 32
    print(f"MNIST: {len(X_train)} training, {len(X_val)} validation, {len(X_test)} test images; "
          f"{args.recipe} recipe: {'-'.join(map(str, args.sizes))}, {how}, {np.dtype(dtype).name}")
    callbacks: list[dn.Callback] = []
    done = 0
    if args.checkpoint:
        if os.path.exists(args.checkpoint):  # the weights, optimiser state and shuffling generator saved
            saved = dn.load(args.checkpoint, optimizer=optimizer)
            if saved.config()["modules"] != model.config()["modules"] or saved.dtype != model.dtype:
                parser.error(f"{args.checkpoint} holds another network than --sizes, --recipe and --float32 "
                             "ask for")
            model, done = saved, optimizer.steps // -(-len(X_train) // batch_size)
            print(f"going on from {args.checkpoint}, after epoch {done}")
        callbacks.append(dn.ModelCheckpoint(args.checkpoint, monitor="loss"))
    report = Accuracy(X_val, labels_val, X_test, data.test_labels, done)
    if done < args.epochs:  # (batches are shuffled by the model's generator, seeded by --seed)
        model.fit(X_train, targets, optimizer=optimizer, loss=loss, epochs=args.epochs - done,
                  batch_size=batch_size, callbacks=[report, *callbacks])
    print(f"best validation accuracy {report.best:.2%}")


if __name__ == "__main__":
    main()
