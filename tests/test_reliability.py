"""Behaviour users meet rarely but must be able to trust."""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import mlp


def linear(w=0.0, b=0.0):
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    model.params[...] = [w, b]
    return model


def test_a_weight_overflowing_mid_epoch_with_a_finite_loss_is_divergence_at_that_batch():
    # batch 0 is ordinary; at batch 1 the loss is 1e308 (finite) but its gradient,
    # -2e308, overflows: the weights would become -inf
    X = np.array([[1.0], [1e154], [2.0]])
    y = np.array([[0.5], [1e154], [0.0]])
    model = linear()
    with pytest.raises(dn.DivergenceError, match="epoch 0, batch 1") as caught:
        model.fit(X, y, optimizer=dn.SGD(0.1), epochs=3, batch_size=1, shuffle=False)
    assert caught.value.epoch == 0 and caught.value.batch == 1
    twin = linear()  # the one good step, by hand
    loss = dn.MSELoss()
    loss.forward(twin.forward(X[:1]), y[:1])
    twin.backward(loss.backward())
    dn.SGD(0.1).step(twin.params, twin.grads)
    assert_array_equal(model.params, twin.params)


def test_huge_but_finite_weights_are_not_divergence():
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    model[0].W[...] = [[1e308], [-1e308]]
    X = np.zeros((4, 2))  # the huge weights meet zeros: predictions are the bias
    history = model.fit(X, np.ones((4, 1)), epochs=3, batch_size=2)
    assert history.epochs == 3
    assert_array_equal(model[0].W, [[1e308], [-1e308]])
    assert np.isfinite(model.params).all() and abs(model[0].b[0] - 1) < abs(0 - 1)


@pytest.mark.parametrize("big", [2.0 ** 63 * 1.5, 1e20, 1e30, 1e37, 3.4e38])
def test_huge_float32_inputs_around_the_rescue_threshold_give_the_float64_answer(big):
    """Above 2**63 the first layer's sums could overflow float32: inputs are rescaled.
    x c - x c with c a power of two is exactly 0, though x c overflows float32 (inf - inf
    would be NaN); the rest of the network must see just the bias."""
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), dtype=np.float32, seed=0)
    c = 2.0 ** int(np.ceil(np.log2(4 * 3.4e38 / big)))  # big * c overflows float32
    model[0].W[...] = [[c, 1.0, 0.5], [-c, 1.0, -0.5]]
    X = np.array([[big, big], [big / 2, big / 2]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = model.predict(X)
    reference = model.clone(dtype=np.float64).predict(X.astype(np.float64))  # no overflow in float64
    assert np.isfinite(Y).all()
    assert_allclose(Y, reference, rtol=1e-5, atol=1e-6)


def test_callbacks_reused_across_fits_start_afresh():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(-1, 1, (40, 1)), rng.uniform(size=(40, 1))
    stop = dn.EarlyStopping(monitor="loss", patience=2, min_delta=1.0)  # stops after 2 epochs
    model = mlp((1, 4, 1), seed=0)
    first = model.fit(X, y, epochs=50, callbacks=[stop])
    assert first.epochs == 3 and stop.stopped_epoch == 2
    model.params[...] += 5.0  # a much worse start: a stale best would stop at once
    second = model.fit(X, y, epochs=50, callbacks=[stop])
    assert second.epochs == 3 and stop.best_epoch == 0 and stop.best == second.loss[0]


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd):
        events.append(("fsync", "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def spy_replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    mlp((2, 2, 1)).save(tmp_path / "m.npz")
    assert events == [("fsync", "file"), ("replace", "m.npz"), ("fsync", "folder")]
