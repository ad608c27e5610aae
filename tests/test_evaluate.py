"""``evaluate`` works through the data ``PREDICT_BATCH`` rows at a time, the loss too: each
chunk's value counted by what it is a mean over (its rows, or for ``CrossEntropyLoss`` on
labels with class weights or ``ignore_index`` its labels' weights' sum), as ``fit``'s epoch
loss counts its batches. Its memory then grows with neither the data nor the outputs
(``test_memory``)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn
from densenet.metric_names import resolved
from densenet.model import PREDICT_BATCH

#: Two whole chunks and a part of one.
ROWS = 2 * PREDICT_BATCH + 1808

LOSSES = {
    "mse": (dn.MSELoss, 3, "values"),
    "huber": (lambda: dn.HuberLoss(0.5), 3, "values"),
    "bce-logits": (lambda: dn.BCEWithLogitsLoss(pos_weight=[2.0, 0.5, 1.0]), 3, "binary"),
    "ce": (dn.CrossEntropyLoss, 4, "labels"),
    "ce-weighted-ignoring": (lambda: dn.CrossEntropyLoss(weight=[1.0, 3.0, 0.5, 2.0], ignore_index=1), 4,
                             "labels"),
    "ce-smoothed-weighted": (lambda: dn.CrossEntropyLoss(weight=[1.0, 3.0, 0.5, 2.0], label_smoothing=0.1),
                             4, "labels"),
    "ce-probabilities": (dn.CrossEntropyLoss, 4, "probabilities"),
    "nll-weighted": (lambda: dn.NLLLoss(weight=[1.0, 3.0, 0.5, 2.0]), 4, "labels"),
}


def data(kind, outputs, n=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    if kind == "values":
        y = rng.standard_normal((n, outputs))
    elif kind == "binary":
        y = rng.integers(0, 2, (n, outputs)).astype(float)
    elif kind == "labels":
        y = rng.integers(0, outputs, n)
    else:
        y = rng.dirichlet(np.ones(outputs), n)
    return X, y


def model_for(name, outputs, dtype=np.float64):
    last = [dn.LogSoftmax()] if name.startswith("nll") else []
    return dn.Sequential(dn.Dense(5, 16), dn.Tanh(), dn.Dense(16, outputs), *last, dtype=dtype, seed=0)


def share_of(loss, y):
    """What ``loss``'s value over targets ``y`` is a mean over: the labels' class weights
    (those ignored left out) for a class loss on labels that weighs or ignores them, else
    the rows."""
    weight, ignore = getattr(loss, "weight", None), getattr(loss, "ignore_index", None)
    if y.ndim == 1 and (weight is not None or ignore is not None):
        weights = np.ones(4) if weight is None else np.asarray(weight, float)
        return float(weights[y[y != ignore]].sum())
    return float(len(y))


def chunked(loss, outputs, y, w=None):
    """The loss of ``outputs`` against ``y`` as ``evaluate`` computes it: each chunk's
    ``Loss.evaluate``, counted by its share. With ``w``, the weights divided by their mean
    over all the rows first (``evaluate``'s weighted mean)."""
    if w is not None:
        w = (w / np.mean(w)).astype(outputs.dtype)
    total = shares = 0.0
    for start in range(0, len(outputs), PREDICT_BATCH):
        rows = slice(start, start + PREDICT_BATCH)
        value = loss.evaluate(outputs[rows], y[rows], None if w is None else w[rows])
        share = share_of(loss, y[rows])
        total += value * share
        shares += share
    return total / shares


@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample-weights"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_evaluate_is_the_share_weighted_mean_of_its_chunks_losses(name, weighted):
    """Exactly the chunks' values counted by their shares, and the loss of all the outputs
    at once to rounding (it was computed so, on a plan of the data's size)."""
    make, outputs, kind = LOSSES[name]
    X, y = data(kind, outputs)
    w = np.random.default_rng(1).uniform(0.0, 2.0, len(X)) if weighted else None
    model, loss = model_for(name, outputs), make()
    value = model.evaluate(X, y, loss, sample_weight=w)
    Y = model.predict(X)
    assert value == chunked(loss, Y, y, w)
    whole = loss.evaluate(Y, y) if w is None else loss.evaluate(Y, y, w / np.mean(w))
    assert_allclose(value, whole, rtol=1e-13)


@pytest.mark.parametrize("name", ["mse", "ce-weighted-ignoring"])
def test_a_float32_model_s_loss_is_that_of_its_chunks_to_its_rounding(name):
    make, outputs, kind = LOSSES[name]
    X, y = data(kind, outputs)
    model, loss = model_for(name, outputs, np.float32), make()
    value = model.evaluate(X, y, loss)
    Y = model.predict(X)
    assert value == chunked(loss, Y, y)
    assert_allclose(value, loss.evaluate(Y, y), rtol=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_data_of_one_chunk_gives_the_loss_of_its_outputs_bit_for_bit(name):
    make, outputs, kind = LOSSES[name]
    X, y = data(kind, outputs, n=PREDICT_BATCH)
    model, loss = model_for(name, outputs), make()
    assert model.evaluate(X, y, loss) == loss.evaluate(model.predict(X), y)


@pytest.mark.parametrize("rows", [100, ROWS])
@pytest.mark.parametrize("source", [np.float64, np.uint8, np.int32])
def test_data_of_another_dtype_gives_the_loss_of_the_converted_data(source, rows):
    """Converted a chunk at a time into the plans' input, in one chunk or several."""
    X, y = data("labels", 4, n=rows)
    X = (np.abs(X) * 50).astype(source)
    model, loss = model_for("ce", 4, np.float32), dn.CrossEntropyLoss()
    converted = X.astype(np.float32)
    assert model.evaluate(X, y, loss, metrics=["accuracy"]) == model.evaluate(converted, y, loss,
                                                                              metrics=["accuracy"])


def test_the_validation_loss_is_evaluate_s_of_many_chunks():
    make, outputs, kind = LOSSES["ce-weighted-ignoring"]
    X, y = data(kind, outputs)
    model = model_for("ce", outputs)
    history = model.fit(X[:64], y[:64], loss=make(), epochs=2, validation_data=(X, y))
    assert history.val_loss[-1] == model.evaluate(X, y, make())


def test_chunks_whose_labels_all_count_for_nothing_count_for_nothing():
    """A chunk of ignored labels only has a share of 0: the loss is the other chunks'; a
    data set of such labels only has the loss of no label, 0, as the loss gives alone."""
    X, y = data("labels", 4)
    y[:PREDICT_BATCH] = 1  # the first chunk's labels all ignored
    model, loss = model_for("ce", 4), dn.CrossEntropyLoss(ignore_index=1)
    value = model.evaluate(X, y, loss)
    assert value == chunked(loss, model.predict(X), y)
    assert_allclose(value, loss.evaluate(model.predict(X[PREDICT_BATCH:]), y[PREDICT_BATCH:]), rtol=1e-13)
    y[:] = 1
    assert model.evaluate(X, y, loss) == loss.evaluate(model.predict(X), y) == 0.0


@pytest.mark.parametrize("name, metrics", [
    ("ce", ["accuracy", "f1", "precision", "recall"]),
    ("bce-logits", ["auc", "accuracy", "f1"]),
    ("mse", ["mae", "mse", "rmse", "r2"]),
])
def test_metrics_of_many_chunks_are_those_of_all_the_outputs(name, metrics):
    make, outputs, kind = LOSSES[name]
    X, y = data(kind, outputs)
    w = np.random.default_rng(1).uniform(0.0, 2.0, len(X))
    model, loss = model_for(name, outputs), make()
    results = model.evaluate(X, y, loss, sample_weight=w, metrics=metrics)
    assert results["loss"] == model.evaluate(X, y, loss, sample_weight=w)
    Y = model.predict(X)
    for metric in resolved(metrics, loss, outputs, "test"):
        metric.update(Y, y, w)
        assert_allclose(results[metric.name], metric.result(), rtol=1e-12, err_msg=metric.name)


def test_outputs_holding_nan_in_a_later_chunk_make_every_metric_nan():
    """As where the one chunk holds them (``test_reliability``): a NaN output has no class.
    A huge row makes both hidden units +inf, weighed +1 and -1 in each output: inf - inf."""
    X, y = data("labels", 4)
    model = dn.Sequential(dn.Dense(5, 2), dn.ReLU(), dn.Dense(2, 4), seed=0)
    model[0].W, model[0].b = 1e6, 0.0
    model[2].W = np.vstack([np.ones(4), -np.ones(4)])
    X[-1] = 1e303
    Y = model.predict(X)
    assert np.isnan(Y[-1]).all()
    assert np.isfinite(Y[:-1]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = model.evaluate(X, y, dn.CrossEntropyLoss(), metrics=["accuracy", "f1"])
        clean = model.evaluate(X[:-1], y[:-1], dn.CrossEntropyLoss(), metrics=["accuracy", "f1"])
    assert all(math.isnan(value) for value in results.values()), results
    assert all(math.isfinite(value) for value in clean.values()), clean
