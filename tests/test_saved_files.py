"""Files saved before load now, whatever NumPy runs: ``tests/files`` holds a trained model
saved with its optimiser's and schedules' state under NumPy 1.24 and under NumPy 2.4
(``tools/saved_models.py``), and what loading each must give back. CI loads them under
NumPy 1.24, 2.2, 2.4 and 2.5 (``.ci/run``). Nothing a user saved may be lost to a new release
of densenet or NumPy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

FILES = Path(__file__).resolve().parent / "files"
SAVED = ["model_numpy1", "model_numpy2"]


def loaded(name: str) -> tuple[dn.Sequential, dn.Adam, dn.StepLR, dn.EarlyStopping]:
    """The saved model, with an optimiser and schedules made as they were and given their state."""
    adam = dn.Adam(0.01)
    step, stop = dn.StepLR(adam, 2, gamma=0.5), dn.EarlyStopping(monitor="loss", patience=3)
    model = dn.load(FILES / f"{name}.npz", optimizer=adam, schedules=[step, stop])
    return model, adam, step, stop


@pytest.mark.parametrize("name", SAVED)
def test_a_saved_model_loads_its_numbers_bit_for_bit(name):
    expected = np.load(FILES / f"{name}_expected.npz")
    model, adam, step, stop = loaded(name)
    assert repr(model) == repr(dn.Sequential(dn.Dense(4, 8), dn.BatchNorm1d(8), dn.ReLU(), dn.Dense(8, 3),
                                             dtype=np.float32))
    assert model.dtype == np.float32
    moments, best = adam.state_dict(), stop.state_dict()
    for got, stored in [(model.params, "params"), (model.state, "state"), (moments["exp_avg"], "exp_avg"),
                        (moments["exp_avg_sq"], "exp_avg_sq"), (best["best_params"], "best_params"),
                        (best["best_state"], "best_state")]:
        assert got.dtype == expected[stored].dtype
        assert_array_equal(got, expected[stored])
    assert moments["steps"] == expected["steps"]
    assert adam.lr == expected["lr"]
    assert step.state_dict() == {"epoch": int(expected["step_epoch"]), "base_lr": 0.01}
    assert (stop.best, stop.best_epoch) == (float(expected["best"]), int(expected["best_epoch"]))
    # (predicted by another processor or BLAS, the sums may round otherwise: float32's rounding)
    assert_allclose(model.predict(expected["X"]), expected["predicted"], rtol=1e-5, atol=1e-6)


def test_the_files_of_both_numpys_train_on_alike():
    """Loaded, each trains on as the model that never stopped would: both the same bits,
    whichever NumPy wrote them (the optimiser's steps, the schedule's epoch and rate, the
    early stop's best and the model's random generator all come back)."""
    expected = np.load(FILES / "model_numpy1_expected.npz")
    resumed = []
    for name in SAVED:
        model, adam, step, stop = loaded(name)
        history = model.fit(expected["X"], expected["labels"], loss=dn.CrossEntropyLoss(), optimizer=adam,
                            epochs=2, batch_size=16, callbacks=[step, stop])
        resumed.append((model.params.copy(), model.state.copy(), history.loss, adam.lr))
    assert resumed[1][3] == resumed[0][3] == 0.01 * 0.5 ** 2  # (epochs 4 and 5: StepLR's second halving)
    for first, second in zip(resumed[0][:3], resumed[1][:3]):
        assert_array_equal(first, second)
    assert not np.array_equal(resumed[0][0], expected["params"])
