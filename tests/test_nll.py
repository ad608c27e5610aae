"""LogSoftmax and NLLLoss: log-probabilities and their negative log-likelihood, the two
halves of CrossEntropyLoss as PyTorch's ``log_softmax`` and ``nll_loss`` are."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

CLASS_WEIGHTS = np.array([0.5, 2.0, 1.0, 0.25])


def scores(seed=0, n=9, classes=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    logp = dn.LogSoftmax().forward(3 * rng.standard_normal((n, classes))).astype(dtype)
    return logp, rng.integers(0, classes, n)


# -- LogSoftmax ------------------------------------------------------------------------------------

def test_log_softmax_values_are_the_logs_of_softmax_s_and_exact_far_below_the_best():
    X = np.random.default_rng(0).standard_normal((5, 4)) * 4
    Y = dn.LogSoftmax().forward(X)
    assert_allclose(Y, np.log(dn.Softmax().forward(X)), rtol=1e-14, atol=1e-15)
    assert_allclose(np.exp(Y).sum(axis=1), 1.0, rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        far = dn.LogSoftmax().forward(np.array([[0.0, -1000.0, -1e300], [1000.0, 0.0, 1000.0]]))
    # (softmax's 0 there has no logarithm; the log-probability is the distance to the best)
    assert_allclose(far, [[0.0, -1000.0, -1e300], [-np.log(2), -1000 - np.log(2), -np.log(2)]], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_equals_pytorch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((7, 5)) * 5).astype(dtype)
    dY = rng.standard_normal((7, 5)).astype(dtype)
    module = dn.LogSoftmax()
    Y, dX = module.forward(X), module.backward(dY)
    x = torch.tensor(X, requires_grad=True)
    out = torch.log_softmax(x, dim=1)
    out.backward(torch.tensor(dY))
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert Y.dtype == dX.dtype == dtype
    assert_allclose(Y, out.detach().numpy(), rtol=tol, atol=tol)
    assert_allclose(dX, x.grad.numpy(), rtol=tol, atol=tol)


def test_log_softmax_refuses_a_1d_array():
    with pytest.raises(ValueError, match=r"^LogSoftmax\(\): X must be 2-D \(n_samples, n_features\), got 1-D "
                                         r"shape \(3,\)"):
        dn.LogSoftmax().forward(np.array([1.0, 2.0, 3.0]))


# -- NLLLoss ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ignore_index", [None, -100, 2])
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHTS], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nll_equals_pytorch(ignore_index, weight, dtype):
    """The value and dL/dy_pred against ``torch.nn.NLLLoss`` (its ``ignore_index`` given as
    ours: its default -100 is ours only when asked for), a third of the labels ignored."""
    torch = pytest.importorskip("torch")
    logp, labels = scores(2, dtype=dtype)
    if ignore_index is not None:
        labels[::3] = ignore_index
    loss = dn.NLLLoss(weight=weight, ignore_index=ignore_index)
    value, grad = loss.forward(logp, labels), loss.backward()
    z = torch.tensor(logp, requires_grad=True)
    theirs = torch.nn.NLLLoss(weight=None if weight is None else torch.tensor(weight, dtype=z.dtype),
                              ignore_index=-100 if ignore_index is None else ignore_index)
    out = theirs(z, torch.tensor(labels))
    out.backward()
    tol = 1e-14 if dtype == np.float64 else 1e-6
    assert grad.dtype == dtype
    assert value == pytest.approx(out.item(), rel=tol)
    assert_allclose(grad, z.grad.numpy(), rtol=tol, atol=0)
    if ignore_index is not None:
        assert_array_equal(grad[labels == ignore_index], 0.0)


def test_nll_gradient_is_minus_the_weights_over_their_sum_at_the_labels():
    logp, labels = scores(3, n=5)
    loss = dn.NLLLoss(weight=CLASS_WEIGHTS)
    loss.forward(logp, labels)
    expected = np.zeros_like(logp)
    expected[np.arange(5), labels] = -CLASS_WEIGHTS[labels] / CLASS_WEIGHTS[labels].sum()
    assert_allclose(loss.backward(), expected, rtol=1e-15)
    plain = dn.NLLLoss()
    assert plain.forward(logp, labels) == pytest.approx(-logp[np.arange(5), labels].mean(), rel=1e-15)
    expected[np.arange(5), labels] = -1 / 5
    assert_array_equal(plain.backward(), expected)


def test_an_ignored_sample_s_infinite_log_probability_is_harmless():
    """A LogSoftmax output of -inf (a shift beyond the float range) at an ignored sample's
    class: no NaN in the loss or the gradient (the plan, as fit runs it)."""
    logp = np.array([[-np.inf, 0.0], [np.log(0.25), np.log(0.75)]])
    for weight in (None, [1.0, 3.0]):
        loss, grad = dn.NLLLoss(weight=weight, ignore_index=0), np.full_like(logp, np.nan)
        plan = loss.plan(logp, np.array([0, 1]), grad)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for call in (*plan.forward, *plan.backward):
                call()
        assert plan.value() == pytest.approx(-np.log(0.75), rel=1e-15)
        assert_array_equal(grad, [[0.0, 0.0], [0.0, -1.0]])


def test_labels_that_all_weigh_nothing_have_a_loss_and_gradient_of_zero():
    logp, _ = scores(4, n=3)
    for loss, labels in ((dn.NLLLoss(weight=[0.0, 1.0, 1.0, 1.0]), [0, 0, 0]),
                         (dn.NLLLoss(ignore_index=-1), [-1, -1, -1])):
        assert loss.forward(logp, np.array(labels)) == 0.0
        assert_array_equal(loss.backward(), 0.0)


@pytest.mark.parametrize("weight", [None, CLASS_WEIGHTS], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore_index", [None, -100])
def test_log_softmax_then_nll_trains_as_cross_entropy_on_the_logits(weight, ignore_index):
    """The two halves in a model, 30 Adam steps with sample weights: the losses and weights
    cross-entropy's fused plan gives, to rounding."""
    rng = np.random.default_rng(5)
    X, labels, w = rng.standard_normal((60, 3)), rng.integers(0, 4, 60), rng.uniform(0.5, 2, 60)
    if ignore_index is not None:
        labels[::4] = ignore_index
    runs = []
    for loss, last in ((dn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index), ()),
                       (dn.NLLLoss(weight=weight, ignore_index=ignore_index), (dn.LogSoftmax(),))):
        model = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), *last, seed=0)
        history = model.fit(X, labels, loss=loss, optimizer=dn.Adam(0.01), epochs=3, batch_size=6,
                            shuffle=False, sample_weight=w, metrics=["accuracy"])
        runs.append((model.params.copy(), history.loss, history.metrics["accuracy"]))
    assert_allclose(runs[1][0], runs[0][0], rtol=1e-11, atol=1e-13)
    assert_allclose(runs[1][1], runs[0][1], rtol=1e-12)
    assert_array_equal(runs[1][2], runs[0][2])


def test_a_batch_counts_in_the_epoch_by_its_labels_weights():
    """As cross-entropy's: an epoch without updates reports ``evaluate``'s loss of the data set."""
    rng = np.random.default_rng(6)
    X, labels = rng.standard_normal((40, 3)), rng.integers(0, 4, 40)
    labels[::3] = -100
    loss = dn.NLLLoss(weight=CLASS_WEIGHTS, ignore_index=-100)
    model = dn.Sequential(dn.Dense(3, 4), dn.LogSoftmax(), seed=0)
    expected = model.evaluate(X, labels, loss)
    history = model.fit(X, labels, loss=loss, optimizer=dn.SGD(1e-300), epochs=1, batch_size=1, shuffle=False)
    assert history.loss[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("y, error, message", [
    (np.array([0.0, 1.0, 2.0]), TypeError, r"NLLLoss: class labels y must be integers, got dtype float64 "
                                           r"\(they are whole numbers: y.astype\(int\)\)$"),
    (np.eye(3), ValueError, r"NLLLoss: y has shape \(3, 3\); it must be integer class labels \(n_samples,\); "
                            r"for class probabilities use CrossEntropyLoss on the logits"),
    (np.array([0, 3, 1]), ValueError, r"NLLLoss: class label 3 in y is outside \[0, 3\)"),
    (np.array([0, -100, 1]), ValueError, r"PyTorch's NLLLoss ignores -100 by default: pass ignore_index"),
    (np.zeros((3, 1, 1), int), ValueError, r"NLLLoss: y has shape \(3, 1, 1\); it must be integer class "
                                           r"labels \(n_samples,\)$"),
])
def test_bad_targets_are_refused_by_name_and_the_model_is_unchanged(y, error, message):
    model = dn.Sequential(dn.Dense(2, 3), dn.LogSoftmax(), seed=0)
    before = model.params.copy()
    with pytest.raises(error, match=message):
        model.fit(np.zeros((3, 2)), y, loss=dn.NLLLoss(), epochs=1)
    assert_array_equal(model.params, before)


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match=r"NLLLoss: y_pred must be 2-D log-probabilities \(n_samples, "
                                         r"n_classes\), got shape \(3,\)"):
        dn.NLLLoss().forward(np.zeros(3), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"NLLLoss: y_pred has 2 rows but y_true has 3"):
        dn.NLLLoss().forward(np.zeros((2, 2)), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"NLLLoss: weight has 4 class weights, but the model has 3 outputs"):
        dn.NLLLoss(weight=CLASS_WEIGHTS).forward(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"NLLLoss: weight must be one weight per class"):
        dn.NLLLoss(weight=np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"NLLLoss: ignore_index must be an integer or None, got 1.5"):
        dn.NLLLoss(ignore_index=1.5)


def test_repr_copies_and_pickles():
    loss = dn.NLLLoss(weight=[1.0, 2.0], ignore_index=-100)
    assert repr(loss) == "NLLLoss(weight=[1.0, 2.0], ignore_index=-100)"
    assert repr(dn.NLLLoss()) == "NLLLoss()"
    logp, labels = np.log([[0.5, 0.5], [0.1, 0.9]]), np.array([1, -100])
    for twin in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss))):
        assert repr(twin) == repr(loss)
        assert twin.forward(logp, labels) == loss.forward(logp, labels)
    assert repr(dn.LogSoftmax()) == "LogSoftmax()"

