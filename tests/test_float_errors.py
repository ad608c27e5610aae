"""What densenet computes does not depend on NumPy's floating-point error settings.

A user hunting a NaN of their own sets ``np.seterr(all="raise")``; densenet's arithmetic
underflows by design (a saturated sigmoid's ``exp(-800)`` is 0, Adam's second moments of
small gradients are subnormal), so under those settings each public call must still
compute, to the bit, what it computes under NumPy's defaults, raise nothing the defaults
would not, and leave the user's settings as they were.
"""

from __future__ import annotations

import numpy as np
import pytest

import densenet as dn

from .test_memory import BLOCKS, targets_of

RAISE = {"all": "raise"}
#: NumPy's defaults (the suite makes their warnings errors)
DEFAULTS = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}


def under(settings, work):
    """``work()`` under NumPy's error ``settings``, checking that they are as set after it."""
    with np.errstate(**settings):
        expected = np.geterr()
        result = work()
        assert np.geterr() == expected
    return result


def same_under_raise(work):
    """``work()``'s arrays under NumPy's defaults and under ``all="raise"``, equal to the bit."""
    defaults, raising = under(DEFAULTS, work), under(RAISE, work)
    assert len(defaults) == len(raising)
    for a, b in zip(defaults, raising):
        np.testing.assert_array_equal(a, b, strict=True)
    return defaults


def saturating(dtype, rows=64, seed=0):
    """Inputs whose first products saturate every activation in ``dtype`` (an ``exp`` of
    them underflows), a few too small for float32 (their cast underflows), and uniform
    targets (N, 10)."""
    rng = np.random.default_rng(seed)
    scale = 2000.0 if dtype == np.float64 else 300.0
    X = rng.standard_normal((rows, 64)) * scale
    X[::5, 3] = 1e-42
    return X, rng.uniform(size=(rows, 10))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", list(BLOCKS))
def test_every_block_trains_and_predicts_the_same_under_raise(block, dtype):
    hidden, output, make_loss, make_optimizer = BLOCKS[block]
    X, y = saturating(dtype)
    y = targets_of(block, y)

    def network():
        modules = [dn.Dense(64, 128), hidden(), dn.Dense(128, 10)] + ([output()] if output else [])
        return dn.Sequential(*modules, dtype=dtype, seed=0)

    def work():
        model, loss, optimizer = network(), make_loss(), make_optimizer()
        try:  # (some blocks diverge on such inputs: then the same way, from the same weights)
            fitted = model.fit(X, y, loss=loss, optimizer=optimizer, epochs=2, batch_size=16)
            outcome = np.array(fitted["loss"])
        except dn.DivergenceError as error:
            outcome = np.array(str(error))
        predicted = model.predict(X)
        evaluated = model.evaluate(X, y, loss=loss)
        model, loss, optimizer = network(), make_loss(), make_optimizer()  # a step by hand
        out = model.forward(X[:16])
        value = loss.forward(out, y[:16])
        dX = model.backward(loss.backward())
        optimizer.step(model.params, model.grads)
        steps = model.params.copy()
        return steps, predicted, np.array(evaluated), outcome, out, np.array(value), dX

    same_under_raise(work)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [dn.Sigmoid, dn.Tanh, dn.ReLU, dn.LeakyReLU, dn.ELU, dn.GELU, dn.SiLU,
                                  dn.SELU, dn.Softplus, dn.Softmax, dn.LogSoftmax, lambda: dn.PReLU(64),
                                  lambda: dn.Dense(64, 64, init="normal"), lambda: dn.BatchNorm1d(64),
                                  lambda: dn.LayerNorm(64), lambda: dn.Dropout(0.5),
                                  lambda: dn.AlphaDropout(0.2)])
def test_a_module_on_its_own_computes_the_same_under_raise(make, dtype):
    X = saturating(dtype)[0].astype(dtype)

    def work():
        module = make()
        if module.n_params:
            dn.Sequential(module, dtype=dtype, seed=0)
        module.rng = np.random.default_rng(0)  # (the same dropout masks)
        Y = module.forward(X)
        return Y, module.backward(np.full_like(Y, 1e-30))

    same_under_raise(work)


LOSSES = {
    "mse": (dn.MSELoss, "probabilities"), "bce": (dn.BCELoss, "probabilities"),
    "bce_with_logits": (dn.BCEWithLogitsLoss, "probabilities"),
    "cross_entropy": (dn.CrossEntropyLoss, "labels"),
    "cross_entropy_probabilities": (lambda: dn.CrossEntropyLoss(label_smoothing=0.1), "probabilities"),
    "nll": (dn.NLLLoss, "labels"), "poisson": (dn.PoissonNLLLoss, "probabilities"),
    "l1": (dn.L1Loss, "probabilities"), "huber": (dn.HuberLoss, "probabilities"),
    "smooth_l1": (lambda: dn.SmoothL1Loss(0.5), "probabilities"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LOSSES))
def test_a_loss_on_its_own_computes_the_same_under_raise(name, dtype):
    make, targets = LOSSES[name]
    rng = np.random.default_rng(1)
    outputs = (rng.standard_normal((32, 10)) * 800).astype(dtype)
    if name == "bce":
        outputs = np.clip(np.abs(outputs), 0, 1).astype(dtype) * np.asarray(1e-30, dtype)
    elif name == "nll":
        outputs = dn.LogSoftmax().forward(outputs)
    y = rng.integers(0, 10, 32) if targets == "labels" else rng.uniform(size=(32, 10)).astype(dtype) * 1e-30
    weights = rng.uniform(size=32) * 1e-30

    def work():
        loss = make()
        return (np.array(loss.forward(outputs, y)), loss.backward(), np.array(loss.evaluate(outputs, y)),
                np.array(loss.evaluate(outputs, y, sample_weight=weights)))

    same_under_raise(work)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [lambda: dn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
                                  dn.Adam, lambda: dn.Adam(amsgrad=True), dn.AdamW, dn.NAdam, dn.RAdam,
                                  dn.Adamax, dn.Adagrad, lambda: dn.RMSprop(momentum=0.9, centered=True)])
def test_an_optimiser_on_its_own_steps_the_same_under_raise(make, dtype):
    rng = np.random.default_rng(2)
    start = rng.standard_normal(4096).astype(dtype)
    # their squares underflow, and the smallest a step's products of them (Adamax's)
    tiny = np.finfo(dtype).tiny
    grads = (rng.standard_normal(4096) * tiny ** rng.uniform(0.5, 1.0, 4096)).astype(dtype)

    def work():
        params, optimizer = start.copy(), make()
        for _ in range(5):
            optimizer.step(params, grads)
        return (params,)

    same_under_raise(work)


def test_metrics_copies_and_the_tools_compute_the_same_under_raise():
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((200, 3)) * 900, rng.integers(0, 3, 200)
    small, close = rng.uniform(size=(200, 2)) * 1e-160, rng.uniform(size=(200, 2)) * 1e-160
    X, y = saturating(np.float64, rows=48)
    start = rng.standard_normal(1000) * 1e-170
    weights = rng.uniform(size=200) * 1e-310

    def work():
        scores = [dn.AUC(classes="logits")(logits, labels), dn.Accuracy()(logits, np.eye(3)[labels]),
                  dn.R2Score()(small, close), dn.MeanSquaredError()(small, close),
                  dn.MeanAbsoluteError()(small, close)]
        for metric in (dn.R2Score(), dn.AUC(classes="logits")):
            metric.update(*((small, close) if isinstance(metric, dn.R2Score) else (logits, labels)),
                          sample_weight=weights)
            scores.append(metric.result())
        grads = start.copy()
        norm = dn.clip_grad_norm(grads, 1e-300)
        model = dn.Sequential(dn.Dense(64, 8), dn.Sigmoid(), dn.Dense(8, 10), dn.Softmax(), seed=0)
        report = dn.gradcheck(model, X[:4], y[:4], raise_exception=False)  # (saturated: its exp underflow)
        found = dn.lr_find(model, X, y, steps=20, batch_size=8)
        analytic = np.concatenate([check.analytic.ravel() for check in report.checks])
        model.params[::7] = 1e-42  # (float32's subnormals, or 0)
        normalised = dn.Sequential(dn.Dense(64, 8), dn.BatchNorm1d(8), dn.Sigmoid(), seed=0)
        dn.update_bn(normalised, X)
        return (np.array(scores), grads, np.array(norm), analytic, found.rates, found.losses,
                model.clone(np.float32).params, normalised.state)

    same_under_raise(work)


def test_the_estimators_are_the_same_under_raise():
    pytest.importorskip("sklearn")
    from densenet.sklearn import DenseNetClassifier, DenseNetRegressor

    X, targets = saturating(np.float64, rows=90)
    labels, indicators = np.argmax(targets, axis=1) % 3, (targets > 0.5).astype(int)

    def work():  # (score is scikit-learn's: its r2_score of targets of 1e-160 would raise)
        results = []
        for dtype in ("float32", "float64"):  # (X's 1e-42 cast to float32 underflows)
            classifier = DenseNetClassifier((16,), max_iter=3, random_state=0, dtype=dtype).fit(X, labels)
            labeller = DenseNetClassifier((16,), max_iter=3, random_state=0, dtype=dtype, early_stopping=True)
            labeller.fit(X, indicators)  # (multilabel: each label's sigmoid of saturated logits)
            regressor = DenseNetRegressor((16,), max_iter=3, random_state=0, dtype=dtype)
            results += [classifier.predict_proba(X), classifier.predict_log_proba(X), classifier.predict(X),
                        np.array(classifier.score(X, labels)), labeller.predict_proba(X),
                        labeller.predict_log_proba(X), np.array(labeller.validation_scores_),
                        regressor.fit(X, targets * 1e-160).predict(X)]
        return results

    with pytest.warns(Warning):  # (not converged in 3 iterations)
        same_under_raise(work)
