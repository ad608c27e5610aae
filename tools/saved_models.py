"""Write the model files that ``tests/test_saved_files.py`` loads.

    python tools/saved_models.py      # once under NumPy 1, once under NumPy 2

A float32 classifier (Dense, BatchNorm1d, ReLU, Dense) trained three epochs by Adam under a
``StepLR`` and an ``EarlyStopping``, saved with the optimiser's and the schedules' state as a
user saves it (``tests/files/model_numpyN.npz``), and beside it, in a plain ``.npz`` of its
own (``model_numpyN_expected.npz``), what loading it must give back: the inputs and the
predictions, the parameters and the state, the optimiser's and the schedules' state, and the
versions that wrote it. The files are kept: a later release must load them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import densenet as dn

FILES = Path(__file__).resolve().parent.parent / "tests" / "files"


def trained() -> tuple[dn.Sequential, dn.Adam, dn.StepLR, dn.EarlyStopping, np.ndarray, np.ndarray]:
    """The model, its optimiser, its schedules and the data it was trained on."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 64)
    model = dn.Sequential(dn.Dense(4, 8), dn.BatchNorm1d(8), dn.ReLU(), dn.Dense(8, 3), dtype=np.float32,
                          seed=0)
    adam = dn.Adam(0.01)
    step, stop = dn.StepLR(adam, 2, gamma=0.5), dn.EarlyStopping(monitor="loss", patience=3)
    model.fit(X, labels, loss=dn.CrossEntropyLoss(), optimizer=adam, epochs=3, batch_size=16,
              callbacks=[step, stop], seed=1)
    return model, adam, step, stop, X, labels


def main() -> None:
    model, adam, step, stop, X, labels = trained()
    name = f"model_numpy{np.__version__.split('.')[0]}"
    FILES.mkdir(exist_ok=True)
    model.save(FILES / f"{name}.npz", optimizer=adam, schedules=[step, stop])
    optimizer, stopping = adam.state_dict(), stop.state_dict()
    np.savez(FILES / f"{name}_expected.npz", X=X, labels=labels, predicted=model.predict(X),
             params=model.params, state=model.state, lr=adam.lr, steps=optimizer["steps"],
             exp_avg=optimizer["exp_avg"], exp_avg_sq=optimizer["exp_avg_sq"],
             step_epoch=step.state_dict()["epoch"], best=stopping["best"], best_epoch=stopping["best_epoch"],
             best_params=stopping["best_params"], best_state=stopping["best_state"],
             numpy=np.__version__, densenet=dn.__version__)
    print(f"wrote {name}.npz and {name}_expected.npz in {FILES} (NumPy {np.__version__})")


if __name__ == "__main__":
    main()
