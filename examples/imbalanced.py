"""A rare positive class: binary cross-entropy with and without pos_weight, scored by
precision, recall, F1 and ROC AUC.

scikit-learn's make_classification draws a two-class problem where one sample in
twenty is positive (no download). A 20-64-64-1 ReLU network is trained by AdamW
(weight decay on its weights alone: decay_mask) on logits with BCEWithLogitsLoss,
once plainly and once with pos_weight, the negatives' count over the positives',
each stopping early on the validation AUC and keeping its best weights. The table
compares the two on held-out test rows: accuracy says little here (always saying
no is 95% right). pos_weight trades precision for recall (more positives found, more
false alarms); the AUC, which ranks the scores whatever the threshold, barely moves.

    python examples/imbalanced.py [--samples N] [--epochs N] [--seed N]
"""

from __future__ import annotations

import argparse
from typing import Any

from numpy.typing import NDArray

import densenet as dn

METRICS = ["accuracy", "precision", "recall", "f1", "auc"]


def data(samples: int, seed: int) -> tuple[NDArray[Any], ...]:
    """Standardised train, validation and test splits (60/20/20, stratified)."""
    try:
        from sklearn.datasets import make_classification
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'") from None

    X, y = make_classification(n_samples=samples, n_features=20, n_informative=6, weights=[0.95],
                               flip_y=0.01, class_sep=0.8, random_state=seed)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, stratify=y_rest,
                                                    random_state=seed)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return tuple(part.astype(float) for part in ((X_train - mean) / std, y_train, (X_val - mean) / std, y_val,
                                                 (X_test - mean) / std, y_test))


def train(X: NDArray[Any], y: NDArray[Any], X_val: NDArray[Any], y_val: NDArray[Any],
          pos_weight: float | None, epochs: int, seed: int) -> dn.Sequential:
    model = dn.Sequential(dn.Dense(X.shape[1], 64, init="he_normal"), dn.ReLU(),
                          dn.Dense(64, 64, init="he_normal"), dn.ReLU(), dn.Dense(64, 1), seed=seed)
    loss = dn.BCEWithLogitsLoss(pos_weight=None if pos_weight is None else [pos_weight])
    model.fit(X, y, loss=loss, optimizer=dn.AdamW(1e-3, weight_decay=0.01, decay_mask=model.decay_mask()),
              epochs=epochs, batch_size=32, seed=seed, metrics=["auc"], validation_data=(X_val, y_val),
              callbacks=[dn.EarlyStopping(monitor="val_auc", patience=10, restore_best_weights=True)])
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.samples < 200:
        parser.error("--samples must be at least 200 (a twentieth are positive: 10, split 6/2/2)")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be an integer >= 0")
    X, y, X_val, y_val, X_test, y_test = data(args.samples, args.seed)
    weight = float((y == 0).sum() / (y == 1).sum())
    print(f"{len(y)} training rows, {int(y.sum())} positive ({y.mean():.1%}); pos_weight {weight:.1f}")
    print(f"{'loss':<38}" + "".join(f"{name:>10}" for name in METRICS))
    for label, pos_weight in (("BCEWithLogitsLoss()", None), (f"BCEWithLogitsLoss(pos_weight=[{weight:.1f}])",
                                                            weight)):
        model = train(X, y, X_val, y_val, pos_weight, args.epochs, args.seed)
        scores = model.evaluate(X_test, y_test, dn.BCEWithLogitsLoss(), metrics=METRICS)
        print(f"{label:<38}" + "".join(f"{scores[name]:>10.3f}" for name in METRICS))


if __name__ == "__main__":
    main()
