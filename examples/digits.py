"""Two recipes on real data: scikit-learn's bundled 8x8 digits (no download).

64 pixel inputs scaled to [0, 1]; 25% of the 1797 images held out
(``random_state=0``); the predicted digit is the output with the largest value.

- ``--recipe tutorial`` (default): the tutorial's recipe scaled up: sigmoid
  layers (Glorot initialisation), ten sigmoid outputs against one-hot targets,
  ``MSELoss``, mini-batch SGD.
- ``--recipe modern``: ReLU hidden layers (He initialisation), ten logits,
  softmax cross-entropy on the integer labels (``CrossEntropyLoss``), Adam.
  Default network 64-256-256-256-256-256-256-10 (six hidden layers), where the
  tutorial's recipe no longer learns. ``--activation`` swaps the ReLUs for
  LeakyReLU, PReLU, ELU, GELU, SiLU (He initialisation), SELU (LeCun's, which its
  self-normalisation assumes) or Tanh (Glorot's). ``--optimizer`` swaps Adam for
  AdamW, AMSGrad, RAdam, NAdam, Adamax, RMSprop, Adagrad or SGD with Nesterov
  momentum, each at its own default rate unless ``--lr`` is given.

``--lr-find`` chooses each seed's rate by the learning-rate range test
(``dn.lr_find``: a short training with the rate rising until the loss shoots up; the
rate used is its suggestion, a tenth of where the loss was lowest), in place of the
default or ``--lr`` (which stay when the test has no suggestion, as for the tutorial's
recipe, whose loss is bounded); the time it takes is counted in the fit's.

Either recipe takes ``--batchnorm``, a ``BatchNorm1d`` between each hidden layer and
its activation (normalising by each batch's statistics in training, by running ones
in ``predict``), or ``--layernorm``, a ``LayerNorm`` there (each sample by its own
statistics), and ``--dropout P``, ``Dropout(P)`` after each hidden layer (used in
training; ``predict`` infers without it). ``--one-cycle MAX_LR`` trains with the
one-cycle policy (``OneCycleLR`` over the whole run: the rate from MAX_LR / 25 up to
MAX_LR in the first 30% of the steps, then far down, the momentum the other way).

Needs scikit-learn for the data: pip install -e ".[examples]".

    python examples/digits.py [--recipe tutorial|modern] [--sizes 64 64 10] [--seeds 0 1 2 3 4]
                              [--epochs N] [--batch-size N] [--lr LR] [--activation NAME] [--optimizer NAME]
                              [--batchnorm | --layernorm] [--dropout P] [--drop-last] [--float32]
                              [--one-cycle MAX_LR | --lr-find]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

import densenet as dn

RECIPES = {
    # sizes, epochs, batch size, learning rate
    "tutorial": ([64, 64, 10], 100, 16, 2.0),
    "modern": ([64] + [256] * 6 + [10], 20, 32, 1e-3),
}

#: the tutorial's activation and initialisation
TUTORIAL: tuple[Callable[[int], dn.Module], str] = (lambda width: dn.Sigmoid(), "glorot_uniform")

#: the modern recipe's hidden activations by name, and the initialisation each wants
ACTIVATIONS: dict[str, tuple[Callable[[int], dn.Module], str]] = {
    "relu": (lambda width: dn.ReLU(), "he_normal"),
    "leaky_relu": (lambda width: dn.LeakyReLU(), "he_normal"),
    "prelu": (dn.PReLU, "he_normal"),  # one learned slope per feature
    "elu": (lambda width: dn.ELU(), "he_normal"),
    "gelu": (lambda width: dn.GELU(), "he_normal"),
    "silu": (lambda width: dn.SiLU(), "he_normal"),
    "selu": (lambda width: dn.SELU(), "lecun_normal"),
    "tanh": (lambda width: dn.Tanh(), "glorot_uniform"),
}

#: the modern recipe's optimisers by name, and the learning rate each takes by default
#: (PyTorch's defaults, but RMSprop's, 1e-3 where PyTorch's 1e-2 reaches only 82-96% on this
#: network (seeds 0-2), and SGD's, which has none)
OPTIMIZERS: dict[str, tuple[Callable[[float], dn.Optimizer], float]] = {
    "adam": (dn.Adam, 1e-3),
    "adamw": (dn.AdamW, 1e-3),
    "amsgrad": (lambda lr: dn.Adam(lr, amsgrad=True), 1e-3),
    "radam": (dn.RAdam, 1e-3),
    "nadam": (dn.NAdam, 2e-3),
    "adamax": (dn.Adamax, 2e-3),
    "rmsprop": (dn.RMSprop, 1e-3),
    "adagrad": (dn.Adagrad, 1e-2),
    "nesterov": (lambda lr: dn.SGD(lr, momentum=0.9, nesterov=True), 1e-2),
}


def load_data() -> tuple[NDArray[Any], ...]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'") from None
    images, labels = load_digits(return_X_y=True)
    return tuple(train_test_split(images / 16.0, labels, test_size=0.25, random_state=0))


def network(recipe: str, sizes: list[int], dtype: type, seed: int, dropout: float = 0.0,
            norm: str | None = None, activation: str = "relu") -> dn.Sequential:
    """The recipe's network; ``norm`` ("batch" or "layer") puts a ``BatchNorm1d`` or a
    ``LayerNorm`` between each hidden layer and its activation."""
    modules: list[dn.Module] = []
    last = len(sizes) - 2
    make, init = TUTORIAL if recipe == "tutorial" else ACTIVATIONS[activation]
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        hidden = i < last
        modules.append(dn.Dense(n_in, n_out, init=init))
        if norm and hidden:
            modules.append(dn.BatchNorm1d(n_out) if norm == "batch" else dn.LayerNorm(n_out))
        if recipe == "tutorial" or hidden:
            modules.append(make(n_out))
        if dropout and hidden:
            modules.append(dn.Dropout(dropout))
    return dn.Sequential(*modules, dtype=dtype, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="tutorial")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                        help="the modern recipe's hidden activation (default relu)")
    norms = parser.add_mutually_exclusive_group()
    norms.add_argument("--batchnorm", action="store_true",
                       help="BatchNorm1d between each hidden layer and its activation")
    norms.add_argument("--layernorm", action="store_true",
                       help="LayerNorm between each hidden layer and its activation")
    parser.add_argument("--dropout", type=float, default=0.0, metavar="P",
                        help="Dropout(P) after each hidden layer (default none)")
    parser.add_argument("--drop-last", action="store_true",
                        help="skip each epoch's last batch when it is smaller than --batch-size")
    parser.add_argument("--float32", action="store_true", help="train in float32 (default float64)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam",
                        help="the modern recipe's optimiser (default adam)")
    rates = parser.add_mutually_exclusive_group()
    rates.add_argument("--one-cycle", type=float, metavar="MAX_LR",
                       help="the one-cycle policy up to MAX_LR (OneCycleLR; --lr is then unused)")
    rates.add_argument("--lr-find", action="store_true",
                       help="each seed's rate by the range test (dn.lr_find; --lr is then unused)")
    args = parser.parse_args()
    sizes, epochs, batch_size, lr = RECIPES[args.recipe]
    if args.recipe == "modern":
        lr = OPTIMIZERS[args.optimizer][1]
    sizes = sizes if args.sizes is None else args.sizes
    epochs = epochs if args.epochs is None else args.epochs
    batch_size = batch_size if args.batch_size is None else args.batch_size
    lr = lr if args.lr is None else args.lr
    if sizes[0] != 64 or sizes[-1] != 10:
        parser.error("--sizes must start with 64 (pixels) and end with 10 (digits)")
    for name, values in (("--sizes", sizes), ("--epochs", [epochs]), ("--batch-size", [batch_size])):
        if min(values) < 1:
            parser.error(f"{name} must be at least 1")
    if min(args.seeds) < 0:
        parser.error("--seeds must be integers >= 0")
    if not 0.0 <= lr < math.inf:
        parser.error("--lr must be a finite number >= 0")
    if args.one_cycle is not None and not 0.0 < args.one_cycle < math.inf:
        parser.error("--one-cycle must be a finite number > 0")
    if not 0.0 <= args.dropout < 1.0:
        parser.error("--dropout must be from 0 to below 1")
    if args.activation != "relu" and args.recipe != "modern":
        parser.error("--activation is the modern recipe's (the tutorial's is the sigmoid)")
    if args.optimizer != "adam" and args.recipe != "modern":
        parser.error("--optimizer is the modern recipe's (the tutorial's is plain SGD)")

    X_train, X_test, labels_train, labels_test = load_data()
    loss: type[dn.Loss]  # a new loss and optimiser for each seed
    optimizer: Callable[[], dn.Optimizer]
    if args.recipe == "tutorial":
        targets, loss, optimizer = np.eye(10)[labels_train], dn.MSELoss, lambda: dn.SGD(lr)
        how = f"sigmoid, MSELoss, SGD lr {lr}"
    else:
        make = OPTIMIZERS[args.optimizer][0]
        targets, loss, optimizer = labels_train, dn.CrossEntropyLoss, lambda: make(lr)
        how = f"{type(ACTIVATIONS[args.activation][0](1)).__name__}, CrossEntropyLoss, {make(lr)!r}"
    norm = "batch" if args.batchnorm else "layer" if args.layernorm else None
    if norm:
        how += f", {'BatchNorm1d' if norm == 'batch' else 'LayerNorm'} before each hidden activation"
    if args.dropout:
        how += f", Dropout({args.dropout}) after each hidden layer"
    if args.drop_last:
        how += ", the last smaller batch of each epoch skipped"
    if args.one_cycle is not None:
        if args.one_cycle <= 0:
            parser.error("--one-cycle must be > 0")
        how = how.replace(f" lr {lr}", "").replace(f"lr={lr}, ", "")
        how += f", one cycle up to lr {args.one_cycle}"
    if args.lr_find:
        how = how.replace(f" lr {lr}", "").replace(f"lr={lr}, ", "") + ", the rate by lr_find"
    dtype = np.float32 if args.float32 else np.float64
    print(f"digits: {len(X_train)} training, {len(X_test)} test images; {args.recipe} recipe: "
          f"network {'-'.join(map(str, sizes))}, {how}, {np.dtype(dtype).name}, {epochs} epochs, "
          f"batch size {batch_size}")
    accuracies = []
    for seed in args.seeds:
        model = network(args.recipe, sizes, dtype, seed, args.dropout, norm, args.activation)
        trainer = optimizer()
        callbacks = [] if args.one_cycle is None else [dn.OneCycleLR(trainer, max_lr=args.one_cycle)]
        start = time.perf_counter()
        found = ""
        if args.lr_find:
            test = dn.lr_find(model, X_train, targets, optimizer=trainer, loss=loss(), batch_size=batch_size,
                              seed=seed)
            if test.suggestion is None:
                found = f", lr_find had no suggestion ({test}): lr {trainer.lr}"
            else:
                trainer.lr = test.suggestion
                found = f", lr {test.suggestion:.3g} by lr_find"
        history = model.fit(X_train, targets, optimizer=trainer, loss=loss(), epochs=epochs,
                            batch_size=batch_size, drop_last=args.drop_last, callbacks=callbacks)
        seconds = time.perf_counter() - start
        test_targets = labels_test if args.recipe == "modern" else np.eye(10)[labels_test]
        accuracy = model.evaluate(X_test, test_targets, loss(), metrics=["accuracy"])["accuracy"]
        accuracies.append(accuracy)
        print(f"  seed {seed}: test accuracy {accuracy:.2%}, final loss {history.loss[-1]:.4f}, "
              f"fit {seconds:.2f}s{found}")
    print(f"min {min(accuracies):.2%}, median {np.median(accuracies):.2%}, max {max(accuracies):.2%}")


if __name__ == "__main__":
    main()
