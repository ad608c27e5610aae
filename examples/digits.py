"""The tutorial's recipe on real data: scikit-learn's bundled 8x8 digits (no download).

64 pixel inputs scaled to [0, 1], ten sigmoid outputs trained against one-hot
targets with MSELoss and mini-batch SGD, default (Glorot) initialisation and a
plain ``fit`` call; 25% of the 1797 images held out (``random_state=0``). The
predicted digit is the output with the largest value.

Needs scikit-learn for the data: pip install -e ".[examples]".

    python examples/digits.py [--sizes 64 64 10] [--seeds 0 1 2 3 4] [--epochs 100]
                              [--batch-size 16] [--lr 2.0] [--float32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import densenet as dn


def load_data() -> tuple[np.ndarray, ...]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'") from None
    images, labels = load_digits(return_X_y=True)
    X = images / 16.0
    Y = np.eye(10)[labels]
    return tuple(train_test_split(X, Y, labels, test_size=0.25, random_state=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 64, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--float32", action="store_true", help="train in float32 (default float64)")
    args = parser.parse_args()
    if args.sizes[0] != 64 or args.sizes[-1] != 10:
        parser.error("--sizes must start with 64 (pixels) and end with 10 (digits)")

    X_train, X_test, Y_train, Y_test, _, labels_test = load_data()
    dtype = np.float32 if args.float32 else np.float64
    name = "-".join(map(str, args.sizes))
    print(f"digits: {len(X_train)} training, {len(X_test)} test images; network {name}, "
          f"{np.dtype(dtype).name}, SGD lr {args.lr}, {args.epochs} epochs, batch size {args.batch_size}")
    accuracies = []
    for seed in args.seeds:
        modules: list[dn.Module] = []
        for n_in, n_out in zip(args.sizes, args.sizes[1:]):
            modules += [dn.Dense(n_in, n_out), dn.Sigmoid()]
        model = dn.Sequential(*modules, dtype=dtype, seed=seed)
        start = time.perf_counter()
        history = model.fit(X_train, Y_train, optimizer=dn.SGD(args.lr), epochs=args.epochs,
                            batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(model.predict(X_test).argmax(axis=1) == labels_test))
        accuracies.append(accuracy)
        print(f"  seed {seed}: test accuracy {accuracy:.2%}, final loss {history.loss[-1]:.4f}, "
              f"fit {seconds:.2f}s")
    print(f"min {min(accuracies):.2%}, median {np.median(accuracies):.2%}, max {max(accuracies):.2%}")


if __name__ == "__main__":
    main()
