"""Transfer learning with frozen layers: a trained classifier's layers reused, frozen,
to answer another question from few labelled samples.

scikit-learn's 8x8 digits (no download), split in two. A 64-128-128-10 ReLU network
is trained to tell the ten digits apart on the first 1,000 images. The new question,
on the other 797, is whether a digit is odd, and only a few of them are labelled
(--labels); the rest are the test set. Four ways to learn it, each a 64-128-128-10
network with a Softmax and a Dense(10, 2) on top, trained by Adam on CrossEntropyLoss:

- from scratch: every layer fresh, all 26,144 parameters trained on the few images;
- frozen: the digit classifier's layers copied in and frozen (model.freeze), the new
  last layer alone trained (the optimiser steps its 22 parameters);
- then fine-tuned: that network unfrozen and trained on at a tenth of the rate;
- then body slower: the same from the frozen network, but the copied layers at a tenth
  of that rate again (--body-scale; Adam's lr_scale=model.lr_scales(...): PyTorch's
  parameter groups with a learning rate each).

With 50 labelled images the frozen classifier's probabilities answer the new question
almost perfectly, where learning everything from them alone does not; fine-tuning all
layers on so few images loses part of it again, and less of it where the copied layers
move more slowly. Every figure is the mean over --repeats draws of the labelled images.

    python examples/finetune.py [--labels N] [--repeats N] [--body-scale S] [--seed N]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import densenet as dn

LR = 1e-2
#: The images the digit classifier is trained on; the others are for the new question.
PRETRAINING = 1000


def classifier() -> list[dn.Module]:
    return [dn.Dense(64, 128, init="he_normal"), dn.ReLU(), dn.Dense(128, 128, init="he_normal"), dn.ReLU(),
            dn.Dense(128, 10)]


def digits() -> tuple[NDArray[Any], NDArray[Any]]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'") from None

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def accuracy(model: dn.Sequential, X: NDArray[Any], y: NDArray[Any]) -> float:
    return float((model.predict(X).argmax(axis=1) == y).mean())


def fit(model: dn.Sequential, X: NDArray[Any], y: NDArray[Any], lr: float, epochs: int, seed: int,
        lr_scale: NDArray[Any] | None = None) -> float:
    """Train ``model`` by Adam (each parameter at its ``lr_scale`` share of ``lr``, if
    given); the seconds it took."""
    start = time.perf_counter()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(lr, lr_scale=lr_scale), epochs=epochs,
              batch_size=16, seed=seed)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=50, help="labelled images for the new question")
    parser.add_argument("--repeats", type=int, default=5, help="draws of the labelled images")
    parser.add_argument("--body-scale", type=float, default=0.1,
                        help="the copied layers' share of the learning rate in the last fine-tuning")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not 0.0 <= args.body_scale < math.inf:
        parser.error("--body-scale must be a finite number >= 0")
    if args.seed < 0:
        parser.error("--seed must be an integer >= 0")
    X, y = digits()
    if not 1 <= args.labels < len(y) - PRETRAINING:
        parser.error(f"--labels must be from 1 to {len(y) - PRETRAINING - 1} (of the {len(y) - PRETRAINING} "
                     "images the digit classifier is not trained on, one at least is left to test on)")
    order = np.random.default_rng(args.seed).permutation(len(y))
    first, other = order[:PRETRAINING], order[PRETRAINING:]
    pretrained = dn.Sequential(*classifier(), seed=args.seed)
    fit(pretrained, X[first], y[first], 1e-3, 30, args.seed)
    print(f"digit classifier trained on {len(first)} images: test accuracy on the other {len(other)} "
          f"{accuracy(pretrained, X[other], y[other]):.3f}")

    odd = y % 2
    rng = np.random.default_rng(args.seed)
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in
                                                          ("from scratch", "frozen", "then fine-tuned",
                                                           "then body slower")}
    for repeat in range(args.repeats):
        labelled = rng.choice(other, args.labels, replace=False)
        test = np.setdiff1d(other, labelled)
        X_few, y_few, X_test, y_test = X[labelled], odd[labelled], X[test], odd[test]
        seed = args.seed + 1 + repeat

        scratch = dn.Sequential(*classifier(), dn.Softmax(), dn.Dense(10, 2), seed=seed)
        took = fit(scratch, X_few, y_few, LR, 100, seed)
        results["from scratch"].append((accuracy(scratch, X_test, y_test), took, scratch.params.size))

        model = dn.Sequential(*classifier(), dn.Softmax(), dn.Dense(10, 2), seed=seed)
        model.params[:pretrained.params.size] = pretrained.params  # (its modules come first)
        model.freeze(slice(0, len(pretrained)))
        took = fit(model, X_few, y_few, LR, 100, seed)
        results["frozen"].append((accuracy(model, X_test, y_test), took, model.trainable_params.size))

        frozen = model.params.copy()
        model.unfreeze()
        tuned = took + fit(model, X_few, y_few, LR / 10, 50, seed)
        results["then fine-tuned"].append((accuracy(model, X_test, y_test), tuned, model.params.size))

        model.params[...] = frozen  # (from the frozen network again)
        body = model.lr_scales(args.body_scale, slice(0, len(pretrained)))
        took += fit(model, X_few, y_few, LR / 10, 50, seed, lr_scale=body)
        results["then body slower"].append((accuracy(model, X_test, y_test), took, model.params.size))

    print(f"odd or even, from {args.labels} labelled images; test accuracy on the other "
          f"{len(other) - args.labels} (mean of {args.repeats} draws):")
    print(f"  {'':<16} {'accuracy':>8} {'lowest':>8} {'trained':>8} {'seconds':>8}")
    for name, runs in results.items():
        scores, seconds, trained = zip(*runs)
        print(f"  {name:<16} {np.mean(scores):8.3f} {min(scores):8.3f} {trained[0]:8d} "
              f"{np.mean(seconds):8.2f}")


if __name__ == "__main__":
    main()
