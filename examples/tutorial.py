"""The tutorial, vectorised: train the 2-2-1 sigmoid network to guess sex from weight and height.

Starts from nine standard normals (the tutorial's random start, drawn from
``--seed``), trains by per-sample SGD (learning rate 0.1, 1000 epochs, Alice,
Bob, Charlie, Diana in order), prints the MSE over all four people every 10
epochs, then classifies Emily and Frank.

    python examples/tutorial.py [--seed 0] [--epochs 1000] [--lr 0.1] [--plot loss.png]

``--plot`` writes the training-loss curve (needs matplotlib: the ``plot`` extra).
"""

from __future__ import annotations

import argparse
import math

import densenet as dn
from densenet import tutorial


def print_loss_table(losses: list[float]) -> None:
    """One row per 100 epochs, one column per 10."""
    print("MSE over all four people, every 10 epochs:")
    print("epoch " + "".join(f"{'+' + str(10 * c):>8}" for c in range(10)))
    for row in range(0, len(losses), 10):
        cells = "".join(f"{value:8.4f}" for value in losses[row:row + 10])
        print(f"{10 * row:>5} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the random start (default 0)")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--plot", metavar="PNG", help="write the loss curve to this file")
    args = parser.parse_args()
    if args.seed < 0:
        parser.error("--seed must be an integer >= 0")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if not 0.0 <= args.lr < math.inf:
        parser.error("--lr must be a finite number >= 0")
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (before the training, not after it)
        except ImportError:
            parser.error("--plot needs matplotlib: pip install -e '.[plot]'")

    start = tutorial.initial_params(args.seed)
    model = tutorial.network(start)
    print(model)
    print("start:", ", ".join(f"{name}={value:+.3f}" for name, value in start.items()))

    record = tutorial.EveryTenEpochs()
    history = model.fit(tutorial.X, tutorial.y, optimizer=dn.SGD(lr=args.lr), loss=dn.MSELoss(),
                        epochs=args.epochs, batch_size=1, shuffle=False, callbacks=[record])
    print_loss_table(record.losses)
    if args.plot:
        from densenet.plot import loss_curve

        title = f"tutorial 2-2-1 network, SGD lr {args.lr}, batch size 1, seed {args.seed}"
        loss_curve(history, title=title).savefig(args.plot, dpi=120)
        print(f"loss curve written to {args.plot}")

    print("\nafter training:")
    for name, x in tutorial.NEW_PEOPLE.items():
        p = float(model.predict([x])[0, 0])
        print(f"  {name:<6} input {str(x):<12} output {p:.3f}  -> {'F' if p > 0.5 else 'M'}")


if __name__ == "__main__":
    main()
