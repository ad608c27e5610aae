"""CrossEntropyLoss, BCELoss and BCEWithLogitsLoss: values, gradients, targets, PyTorch."""

from __future__ import annotations

import copy
import pickle
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import snapshot

LOSSES = [dn.CrossEntropyLoss, dn.BCELoss, dn.BCEWithLogitsLoss]


def cases(seed=0, n=6, classes=4):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, n)
    probs = rng.dirichlet(np.ones(classes), n)
    return logits, labels, probs


def finite_differences(loss, y_pred, y_true, eps=1e-6):
    numeric = np.empty_like(y_pred)
    for idx in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss.forward(up, y_true) - loss.forward(down, y_true)) / (2 * eps)
    return numeric


@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_cross_entropy_value_and_gradient(target):
    logits, labels, probs = cases()
    y = labels if target == "labels" else probs
    T = np.eye(4)[labels] if target == "labels" else probs
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    loss = dn.CrossEntropyLoss()
    assert_allclose(loss.forward(logits, y), -np.mean(np.sum(T * log_p, axis=1)), rtol=1e-14)
    assert_allclose(loss.backward(), (np.exp(log_p) - T) / len(logits), rtol=1e-13, atol=1e-16)
    numeric = finite_differences(dn.CrossEntropyLoss(), logits, y)
    assert_allclose(loss.backward(), numeric, rtol=1e-6, atol=1e-9)


def test_cross_entropy_gradient_is_the_values_for_targets_whose_rows_do_not_sum_to_one():
    """Class probabilities are taken as they are (PyTorch's semantics): a row summing to s
    has the gradient ``(s softmax - T) / N``, not the fused ``(softmax - T) / N``."""
    logits, _, _ = cases(4)
    T = np.random.default_rng(5).uniform(0, 1, logits.shape)  # rows summing to 0.6-3
    T[0] = 0.0  # a row of zeros: no loss, no gradient
    loss = dn.CrossEntropyLoss()
    loss.forward(logits, T)
    numeric = finite_differences(dn.CrossEntropyLoss(), logits, T)
    assert_allclose(loss.backward(), numeric, rtol=1e-6, atol=1e-9)
    assert_array_equal(loss.backward()[0], 0.0)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e308, 0.0, -1e308], [0.0, 1e4, 0.0]])  # -1e308 - 1e308 overflows
    loss = dn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss.forward(logits, np.array([0, 1])) == 0.0
        assert np.isfinite(loss.backward()).all()
        assert loss.forward(logits, np.array([2, 1])) == np.inf  # probability 0 for the label


@pytest.mark.parametrize("y, error, message", [
    (np.array([0, 4, 1]), ValueError,
     r"class label 4 in y_true is outside \[0, 4\) for a model with 4 outputs"),
    (np.array([0, -1, 1]), ValueError, r"class label -1 in y_true is outside \[0, 4\)"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "class labels y_true must be integers, got dtype float64"),
    (np.ones((3, 3)), ValueError, r"y_true has shape \(3, 3\); it must be integer class labels"),
    (np.array([0, 1]), ValueError, "y_pred has 3 rows but y_true has 2"),
    (np.full((3, 4), -0.25), ValueError,
     r"CrossEntropyLoss: y_true must lie in \[0, 1\]; 12 value\(s\) do not, the first -0.25 at index"),
])
def test_cross_entropy_rejects_bad_targets(y, error, message):
    with pytest.raises(error, match=message):
        dn.CrossEntropyLoss().forward(np.zeros((3, 4)), y)


def test_fit_takes_integer_labels_for_cross_entropy_and_only_what_the_loss_accepts():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # 0, 1, 2
    model = dn.Sequential(dn.Dense(2, 16), dn.ReLU(), dn.Dense(16, 3), seed=0)
    history = model.fit(X, labels, loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(0.05), epochs=60,
                        batch_size=10, seed=0)
    assert history.loss[-1] < 0.3 * history.loss[0]
    assert np.mean(model.predict(X).argmax(axis=1) == labels) > 0.9
    assert model.evaluate(X, labels, dn.CrossEntropyLoss()) < history.loss[0]
    before = snapshot(model)
    for bad, message in [(labels + 1, "class label 3 in y is outside"), (labels * 1.0, "must be integers"),
                         (labels[:-1], "different numbers of samples")]:
        with pytest.raises((TypeError, ValueError), match=message):
            model.fit(X, bad, loss=dn.CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"y has shape \(60,\), but the model's output is \(n_samples, 3\)"):
        model.fit(X, labels, loss=dn.MSELoss())  # labels are the cross-entropy's business
    assert_array_equal(model.params, before[0])


def test_bce_clamps_logs_like_pytorch_and_never_warns():
    p = np.array([[0.0], [1.0], [0.0], [1.0], [0.25]])
    t = np.array([[0.0], [1.0], [1.0], [0.0], [0.5]])
    loss = dn.BCELoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.forward(p, t)
        grad = loss.backward()
    want = -np.mean([0.0, 0.0, -100.0, -100.0, 0.5 * np.log(0.25) + 0.5 * np.log(0.75)])
    assert_allclose(value, want, rtol=1e-14)
    assert np.isfinite(grad).all()
    assert_allclose(grad[4], (0.25 - 0.5) / (0.25 * 0.75) / 5, rtol=1e-14)


@pytest.mark.parametrize("kind", [dn.BCELoss, dn.BCEWithLogitsLoss])
def test_binary_losses_reject_targets_outside_zero_one(kind):
    with pytest.raises(ValueError, match=r"y_true must lie in \[0, 1\]; 1 value\(s\) do not, the first 1\.5"):
        kind().forward(np.full((3, 1), 0.5), np.array([[0.0], [1.5], [1.0]]))
    model = dn.Sequential(dn.Dense(2, 1), dn.Sigmoid(), seed=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        model.fit(np.ones((3, 2)), [0.0, -0.5, 1.0], loss=kind())
    assert_array_equal(model.params, before[0])


def test_bce_rejects_probabilities_outside_zero_one():
    with pytest.raises(ValueError, match=r"BCELoss: y_pred must lie in \[0, 1\]"):
        dn.BCELoss().forward(np.array([[1.5]]), np.array([[1.0]]))


def test_bce_with_logits_is_stable_and_equals_bce_of_the_sigmoid():
    z = np.array([[-1e300, -800.0, -3.0, 0.0, 3.0, 800.0, 1e300]]).T
    t = np.array([[0.0, 1.0, 0.25, 0.5, 1.0, 0.0, 1.0]]).T
    loss = dn.BCEWithLogitsLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.forward(z, t)
        grad = loss.backward()
    stable = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    assert_allclose(value, stable.mean(), rtol=1e-14)
    assert_allclose(grad, (1 / (1 + np.exp(-np.clip(z, -700, 700))) - t) / z.size, rtol=1e-14, atol=1e-300)
    middle = slice(2, 5)
    p = 1 / (1 + np.exp(-z[middle]))
    assert_allclose(dn.BCEWithLogitsLoss().forward(z[middle], t[middle]),
                    dn.BCELoss().forward(p, t[middle]), rtol=1e-14)


@pytest.mark.parametrize("dtype, far", [(np.float64, 200.0), (np.float32, 60.0)])
def test_bce_with_logits_keeps_the_small_loss_of_confident_right_answers(dtype, far):
    """It summed log1p(exp(-|z|)) - z t before max(z, 0): a right answer of logit 200
    lost its loss of exp(-200) to the cancellation (0, where PyTorch gives 1.4e-87)."""
    z, t = np.array([[far], [-1.5 * far]], dtype), np.array([[1.0], [0.0]], dtype)
    want = (np.log1p(np.exp(-far)) + np.log1p(np.exp(-1.5 * far))) / 2
    rel = 1e-6 if dtype == np.float32 else 1e-15
    assert dn.BCEWithLogitsLoss().forward(z, t) == pytest.approx(want, rel=rel, abs=0)


@pytest.mark.parametrize("kind", LOSSES)
def test_gradients_match_finite_differences(kind):
    logits, labels, probs = cases(1, classes=3)
    if kind is dn.CrossEntropyLoss:
        y_pred, y_true = logits, labels
    elif kind is dn.BCELoss:
        y_pred, y_true = 1 / (1 + np.exp(-logits)), probs
    else:
        y_pred, y_true = logits, probs
    loss = kind()
    loss.forward(y_pred, y_true)
    assert_allclose(loss.backward(), finite_differences(kind(), y_pred, y_true), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", LOSSES)
def test_losses_keep_the_dtype(kind, dtype):
    logits, labels, probs = cases(2, classes=3)
    y_pred = (1 / (1 + np.exp(-logits)) if kind is dn.BCELoss else logits).astype(dtype)
    y_true = labels if kind is dn.CrossEntropyLoss else probs.astype(dtype)
    loss = kind()
    assert np.isfinite(loss.forward(y_pred, y_true))
    assert loss.backward().dtype == dtype


@pytest.mark.parametrize("kind", LOSSES)
def test_equal_to_pytorch(kind):
    torch = pytest.importorskip("torch")
    logits, labels, probs = cases(3, n=9, classes=5)
    if kind is dn.CrossEntropyLoss:
        unnormalised = probs / 2  # rows summing to 1/2: taken as they are
        pairs = [(logits, labels, torch.tensor(labels)), (logits, probs, torch.tensor(probs)),
                 (logits, unnormalised, torch.tensor(unnormalised))]
        theirs = torch.nn.CrossEntropyLoss()
    elif kind is dn.BCELoss:
        p = 1 / (1 + np.exp(-logits))
        p[0, :2] = [0.0, 1.0]
        pairs = [(p, probs, torch.tensor(probs))]
        theirs = torch.nn.BCELoss()
    else:
        pairs = [(logits, probs, torch.tensor(probs))]
        theirs = torch.nn.BCEWithLogitsLoss()
    for y_pred, y_true, t in pairs:
        z = torch.tensor(y_pred, requires_grad=True)
        value = theirs(z, t)
        value.backward()
        loss = kind()
        assert_allclose(loss.forward(y_pred, y_true), value.item(), rtol=1e-12)
        assert_allclose(loss.backward(), z.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_integer_labels_of_the_index_type_are_taken_without_a_copy():
    labels = np.array([0, 2, 1, 2], dtype=np.intp)
    taken = dn.CrossEntropyLoss().target(labels, 3, np.float64)
    assert taken is labels
    assert dn.CrossEntropyLoss().target(labels.astype(np.int8), 3, np.float64).dtype == np.intp


# -- CrossEntropyLoss(weight=...): class weights --------------------------------------------------

CLASS_WEIGHTS = np.array([0.5, 2.0, 1.0, 0.25])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_class_weights_equal_pytorch(target, dtype, smoothing):
    torch = pytest.importorskip("torch")
    logits, labels, probs = cases(3, n=9)
    logits = logits.astype(dtype)
    y = labels if target == "labels" else probs.astype(dtype)
    loss = dn.CrossEntropyLoss(weight=CLASS_WEIGHTS, label_smoothing=smoothing)
    value, grad = loss.forward(logits, y), loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(CLASS_WEIGHTS, dtype=z.dtype),
                                       label_smoothing=smoothing)(z, torch.tensor(y))
    theirs.backward()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(theirs.item(), rel=tol)
    assert_allclose(grad, z.grad.numpy(), rtol=tol, atol=tol * np.abs(grad).max())
    assert grad.dtype == dtype
    unweighted = dn.CrossEntropyLoss(label_smoothing=smoothing)
    assert abs(value - unweighted.forward(logits, y)) > 1e-3  # (the weights matter here)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_label_smoothing_equals_pytorch(target, dtype):
    torch = pytest.importorskip("torch")
    logits, labels, probs = cases(6, n=9)
    logits = logits.astype(dtype)
    y = labels if target == "labels" else probs.astype(dtype)
    for smoothing in (0.1, 1.0):
        loss = dn.CrossEntropyLoss(label_smoothing=smoothing)
        value, grad = loss.forward(logits, y), loss.backward()
        z = torch.tensor(logits, requires_grad=True)
        theirs = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(z, torch.tensor(y))
        theirs.backward()
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert value == pytest.approx(theirs.item(), rel=tol)
        assert_allclose(grad, z.grad.numpy(), rtol=tol, atol=tol * np.abs(grad).max())
    assert value != pytest.approx(dn.CrossEntropyLoss().forward(logits, y), rel=1e-3)


@pytest.mark.parametrize("ignoring", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_class_weights_times_sample_weights_equal_pytorchs_per_sample_losses(target, smoothing, ignoring):
    """With sample weights too, each sample's loss is weighted by both; labels' mean is over
    the class weights' sum, as without sample weights: sum_i s_i w[t_i] l_i / sum_i w[t_i],
    the labels ignored left out of both sums (class probabilities ignore ``ignore_index``)."""
    torch = pytest.importorskip("torch")
    logits, labels, probs = cases(4, n=8)
    if ignoring:
        labels[[1, 4, 5]] = -100
    y = labels if target == "labels" else probs
    s = np.random.default_rng(5).uniform(0, 2, 8)
    ignore = {"ignore_index": -100} if ignoring else {}
    loss = dn.CrossEntropyLoss(weight=CLASS_WEIGHTS, label_smoothing=smoothing, **ignore)
    value, grad = loss.forward(logits, y, sample_weight=s), loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    each = torch.nn.CrossEntropyLoss(weight=torch.tensor(CLASS_WEIGHTS), reduction="none",
                                     label_smoothing=smoothing, **ignore)(z, torch.tensor(y))
    norm = CLASS_WEIGHTS[labels[labels != -100]].sum() if target == "labels" else len(y)
    theirs = (each * torch.tensor(s)).sum() / norm
    theirs.backward()
    assert value == pytest.approx(theirs.item(), rel=1e-12)
    assert_allclose(grad, z.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_class_weights_train_and_pass_gradcheck():
    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((40, 3)), rng.integers(0, 4, 40)
    model = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), seed=0)
    loss = dn.CrossEntropyLoss(weight=CLASS_WEIGHTS)
    assert dn.gradcheck(model, X[:6], labels[:6], loss).ok
    assert dn.gradcheck(model, X[:6], labels[:6], loss, sample_weight=np.arange(1.0, 7.0)).ok
    smoothed = dn.CrossEntropyLoss(weight=CLASS_WEIGHTS, label_smoothing=0.1)
    assert dn.gradcheck(model, X[:6], labels[:6], smoothed, sample_weight=np.arange(1.0, 7.0)).ok
    history = model.fit(X, labels, loss=loss, optimizer=dn.Adam(0.05), epochs=30, batch_size=8)
    assert history.loss[-1] < 0.7 * history.loss[0]
    # a rare class weighed up is predicted more often than without the weight
    heavy = dn.CrossEntropyLoss(weight=[1.0, 1.0, 1.0, 20.0])
    plain = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), seed=0)
    weighted = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), seed=0)
    plain.fit(X, labels, loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(0.05), epochs=30, batch_size=8)
    weighted.fit(X, labels, loss=heavy, optimizer=dn.Adam(0.05), epochs=30, batch_size=8)
    assert (weighted.predict(X).argmax(1) == 3).sum() > (plain.predict(X).argmax(1) == 3).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda weight: dn.CrossEntropyLoss(weight=weight),
    lambda weight: dn.CrossEntropyLoss(weight=weight, label_smoothing=0.1, ignore_index=0),
    lambda weight: dn.NLLLoss(weight=weight),
])
def test_a_mean_over_class_weights_does_not_depend_on_their_scale(make, dtype):
    """Over labels the loss is a mean over the labels' weights, which depends on their
    ratios alone: weights of 1e300 or 1e-300 train, evaluate and differentiate as weights
    of 1 do (in float32 they overflowed to inf, a divergence blamed on the learning rate,
    or underflowed to 0, refused as if every label weighed nothing), and times a power of
    two in the same bits."""
    rng = np.random.default_rng(7)
    X, labels = rng.standard_normal((48, 3)), rng.integers(0, 4, 48)
    outputs = rng.standard_normal((48, 4)).astype(dtype)
    nll = isinstance(make(CLASS_WEIGHTS), dn.NLLLoss)
    if nll:
        outputs = dn.LogSoftmax().forward(outputs)

    def trained(scale):
        last = [dn.LogSoftmax()] if nll else []
        model = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), *last, dtype=dtype, seed=0)
        loss = make(np.asarray(CLASS_WEIGHTS) * scale)
        history = model.fit(X, labels, loss=loss, optimizer=dn.SGD(0.1), epochs=3, batch_size=8, seed=0)
        value = loss.forward(outputs, labels)
        return (model.params, np.array(history.loss), np.array(model.evaluate(X, labels, loss=loss)),
                np.array(value), loss.backward())

    plain = trained(1.0)
    for scale in (2.0 ** 1000, 2.0 ** -1000):
        for got, want in zip(trained(scale), plain):
            assert_array_equal(got, want, strict=True)
    for scale in (1e300, 1e-300):
        for got, want in zip(trained(scale), plain):
            assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-7)


@pytest.mark.parametrize("weight, error, message", [
    ([[1.0, 2.0]], ValueError, r"one weight per class, a 1-D array \(C,\), got shape \(1, 2\)"),
    ([], ValueError, "^CrossEntropyLoss: weight is empty"),
    ([1.0, -0.5, 1.0, 1.0], ValueError, r"^CrossEntropyLoss: weight must be >= 0; 1 value\(s\) do not, the "
                                        r"first -0.5"),
    ([1.0, np.nan, 1.0, 1.0], ValueError, "^CrossEntropyLoss: weight holds 1 non-finite"),
    (["a", "b", "c", "d"], TypeError, "^CrossEntropyLoss: weight"),
    ([[1.0, 2.0], [3.0]], ValueError, "^CrossEntropyLoss: weight is not a rectangular array of numbers"),
])
def test_bad_class_weights_are_refused_by_name(weight, error, message):
    with pytest.raises(error, match=message):
        dn.CrossEntropyLoss(weight=weight)


BAD_SMOOTHING = [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError), ("0.1", TypeError),
                 (None, TypeError)]


@pytest.mark.parametrize("smoothing, error", BAD_SMOOTHING)
def test_bad_label_smoothing_is_refused_by_name(smoothing, error):
    with pytest.raises(error, match="label_smoothing"):
        dn.CrossEntropyLoss(label_smoothing=smoothing)


def test_class_weights_must_match_the_outputs_and_are_kept_apart_from_the_callers_array():
    model = dn.Sequential(dn.Dense(3, 5), seed=0)
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"weight has 4 class weights, but the model has 5 outputs"):
        model.fit(np.zeros((4, 3)), np.arange(4), loss=dn.CrossEntropyLoss(weight=CLASS_WEIGHTS))
    assert_array_equal(model.params, before)
    given = CLASS_WEIGHTS.copy()
    loss = dn.CrossEntropyLoss(weight=given)
    given[0] = 100.0  # the loss keeps its own copy, which cannot be written
    assert loss.weight[0] == 0.5
    with pytest.raises(ValueError, match="read-only"):
        loss.weight[0] = 1.0
    assert repr(loss) == "CrossEntropyLoss(weight=[0.5, 2.0, 1.0, 0.25])"
    assert repr(dn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(dn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"
    import pickle

    twin = pickle.loads(pickle.dumps(loss))
    logits, labels, _ = cases()
    assert twin.forward(logits, labels) == loss.forward(logits, labels)


def test_labels_that_all_weigh_nothing_have_a_loss_and_gradient_of_zero():
    """A mean over no weight: PyTorch's 0 / 0 is NaN; here the loss and its gradient are 0
    (nothing to learn from such a batch), without a warning."""
    logits, _, _ = cases()
    loss = dn.CrossEntropyLoss(weight=[0.0, 1.0, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss.forward(logits, np.zeros(6, int)) == 0.0
        assert_array_equal(loss.backward(), 0.0)
    assert loss.forward(logits, np.array([0, 0, 1, 0, 0, 0])) == pytest.approx(
        dn.CrossEntropyLoss().forward(logits[2:3], np.array([1])), rel=1e-14)


# -- CrossEntropyLoss(ignore_index=...): samples that count for nothing ----------------------------

def ignoring(seed, n=9, ignore_index=-100):
    """Logits and labels, three of them ``ignore_index``."""
    logits, labels, _ = cases(seed, n=n)
    labels[[1, 4, 5]] = ignore_index
    return logits, labels


@pytest.mark.parametrize("ignore_index", [-100, 2, 255])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHTS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ignored_labels_equal_pytorch(ignore_index, smoothing, weight, dtype):
    """The mean over the samples not ignored (over their labels' weights), smoothing
    included; ignored samples' gradients zero."""
    torch = pytest.importorskip("torch")
    logits, labels = ignoring(7, ignore_index=ignore_index)
    logits = logits.astype(dtype)
    loss = dn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, label_smoothing=smoothing)
    value, grad = loss.forward(logits, labels), loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.CrossEntropyLoss(weight=None if weight is None else torch.tensor(weight, dtype=z.dtype),
                                       ignore_index=ignore_index, label_smoothing=smoothing)
    out = theirs(z, torch.tensor(labels))
    out.backward()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(out.item(), rel=tol)
    assert_allclose(grad, z.grad.numpy(), rtol=tol, atol=tol * np.abs(grad).max())
    assert_array_equal(grad[labels == ignore_index], 0.0)
    assert grad.dtype == dtype
    kept = labels != ignore_index  # the same as the loss of the samples kept alone
    alone = dn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)
    assert value == pytest.approx(alone.forward(logits[kept], labels[kept]), rel=tol)
    assert_allclose(grad[kept] * kept.sum(), alone.backward() * kept.sum(), rtol=tol, atol=tol)


def test_ignored_labels_pass_gradcheck_and_a_full_batch_fit_ignores_their_samples():
    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((40, 3)), rng.integers(0, 4, 40)
    labels[::5] = -100
    loss = dn.CrossEntropyLoss(ignore_index=-100)
    model = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), seed=0)
    assert dn.gradcheck(model, X[:6], labels[:6], loss).ok
    assert dn.gradcheck(model, X[:6], labels[:6], dn.CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1),
                        sample_weight=np.arange(1.0, 7.0)).ok
    # one batch of all the rows: each step the same as on the rows not ignored alone
    twin = model.clone()
    kept = labels != -100
    history = model.fit(X, labels, loss=loss, optimizer=dn.SGD(0.5), epochs=20, batch_size=40)
    alone = twin.fit(X[kept], labels[kept], loss=dn.CrossEntropyLoss(), optimizer=dn.SGD(0.5), epochs=20,
                     batch_size=40)
    assert history.loss[-1] < history.loss[0]
    assert_allclose(history.loss, alone.loss, rtol=1e-12)
    assert_allclose(model.params, twin.params, rtol=1e-11, atol=1e-13)
    assert model.evaluate(X, labels, loss) == pytest.approx(twin.evaluate(X[kept], labels[kept],
                                                                          dn.CrossEntropyLoss()), rel=1e-12)


def test_class_probabilities_ignore_ignore_index_as_in_pytorch():
    logits, _, probs = cases(2, n=9)
    assert (dn.CrossEntropyLoss(ignore_index=1).forward(logits, probs)
            == dn.CrossEntropyLoss().forward(logits, probs))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_labels_all_ignored_have_a_loss_of_zero_and_fit_refuses_data_with_nothing_else(smoothing):
    logits, _, _ = cases()
    loss = dn.CrossEntropyLoss(ignore_index=-100, label_smoothing=smoothing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss.forward(logits, np.full(6, -100)) == 0.0
        assert_array_equal(loss.backward(), 0.0)
    model = dn.Sequential(dn.Dense(3, 4), seed=0)
    before = model.params.copy()
    for optimizer in (dn.SGD(0.1, weight_decay=0.1), dn.LBFGS()):
        with pytest.raises(ValueError, match=r"fit: no sample of the data counts in .*every label ignored"):
            model.fit(np.ones((4, 3)), np.full(4, -100), loss=loss, optimizer=optimizer, batch_size=2)
        assert_array_equal(model.params, before)


@pytest.mark.parametrize("make", [
    lambda: dn.CrossEntropyLoss(ignore_index=0),
    lambda: dn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1),
    lambda: dn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0, 4.0], ignore_index=0),
    lambda: dn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0, 4.0], ignore_index=0, label_smoothing=0.1),
    lambda: dn.NLLLoss(ignore_index=0), lambda: dn.NLLLoss(weight=[1.0, 2.0, 3.0, 4.0], ignore_index=0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_all_ignored_weigh_nothing_with_sample_weights_too(make, dtype):
    """With sample weights, each sample's share of the mean was scaled by n over the
    labels' weights' sum, taken as the smallest normal number when it is 0: for 5 rows or
    more that factor overflowed, and 0 times it gave a NaN loss (a fit then failed with a
    DivergenceError laid to the data, an evaluate in chunks gave NaN)."""
    loss = make()
    rng = np.random.default_rng(4)
    outputs = np.log(rng.dirichlet(np.ones(4), 8)).astype(dtype)  # (log-probabilities for NLLLoss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss.forward(outputs, np.zeros(8, int), sample_weight=rng.uniform(0.5, 2, 8)) == 0.0
        assert_array_equal(loss.backward(), 0.0)
    model = dn.Sequential(dn.Dense(3, 4), *([dn.LogSoftmax()] if isinstance(loss, dn.NLLLoss) else []),
                          seed=0, dtype=dtype)
    X, y = rng.standard_normal((16, 3)), np.r_[np.zeros(8, int), rng.integers(1, 4, 8)]
    w = np.tile([0.5, 1.5], 8)  # (a mean of 1 in both fits below: fit weighs by the weights' ratios)
    history = model.fit(X, y, loss=loss, sample_weight=w, batch_size=8, epochs=2, shuffle=False)
    assert np.isfinite(history.loss).all()
    twin = dn.Sequential(dn.Dense(3, 4), *([dn.LogSoftmax()] if isinstance(loss, dn.NLLLoss) else []),
                         seed=0, dtype=dtype)
    twin.fit(X[8:], y[8:], loss=loss, sample_weight=w[8:], batch_size=8, epochs=2, shuffle=False)
    assert_array_equal(model.params, twin.params)  # (plain SGD: the batch of ignored labels steps by 0)


@pytest.mark.parametrize("ignore_index, error", [(1.5, TypeError), ("a", TypeError), (True, TypeError),
                                                 (2**70, ValueError), (sys.maxsize + 1, ValueError),
                                                 (-sys.maxsize - 2, ValueError)])
def test_a_bad_ignore_index_is_refused_by_name(ignore_index, error):
    with pytest.raises(error, match="ignore_index"):
        dn.CrossEntropyLoss(ignore_index=ignore_index)


def test_ignore_index_may_be_any_index_value_and_an_ignored_row_s_infinite_log_probability_is_harmless():
    for extreme in (sys.maxsize, -sys.maxsize - 1):
        assert dn.CrossEntropyLoss(ignore_index=extreme).ignore_index == extreme
    # row 1 is ignored; its class 0 is so far below its best that log p is -inf there
    logits = np.array([[0.5, 0.1, -0.2], [-1e308, 1e308, 0.0], [0.3, 0.0, 0.9]])
    labels = np.array([2, -100, 0])
    loss = dn.CrossEntropyLoss(ignore_index=-100)
    value = loss.forward(logits, labels)
    assert np.isfinite(value)
    assert np.isfinite(loss.backward()).all()
    assert value == dn.CrossEntropyLoss().forward(logits[[0, 2]], labels[[0, 2]])


def test_labels_neither_classes_nor_ignored_are_refused_by_name_with_pytorch_s_default_named():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"class label -100 in y_true is outside \[0, 4\) for a model with 4 "
                                         r"outputs; PyTorch's CrossEntropyLoss ignores -100 by default: pass "
                                         r"ignore_index=-100"):
        dn.CrossEntropyLoss().forward(logits, np.array([0, -100, 1]))
    with pytest.raises(ValueError, match=r"class label -1 in y_true is outside \[0, 4\) and is not "
                                         r"ignore_index -100 for a model with 4 outputs$"):
        dn.CrossEntropyLoss(ignore_index=-100).forward(logits, np.array([0, -100, -1]))
    with pytest.raises(ValueError, match=r"class label -100 in y_true is outside \[0, 4\) and is not "
                                         r"ignore_index 255 for a model with 4 outputs$"):  # (no hint)
        dn.CrossEntropyLoss(ignore_index=255).forward(logits, np.array([0, -100, 255]))
    loss = dn.CrossEntropyLoss(ignore_index=7, label_smoothing=0.1)
    assert repr(loss) == "CrossEntropyLoss(ignore_index=7, label_smoothing=0.1)"
    assert loss.ignore_index == 7
    import pickle

    assert pickle.loads(pickle.dumps(loss)).ignore_index == 7


def test_a_loss_pickled_before_ignore_index_existed_ignores_nothing():
    loss = dn.CrossEntropyLoss(weight=CLASS_WEIGHTS)
    state = loss.__getstate__()
    del state["_ignore_index"]  # (what an earlier version pickled)
    old = dn.CrossEntropyLoss.__new__(dn.CrossEntropyLoss)
    old.__dict__.update(state)  # (what unpickling does: a loss defines no __setstate__)
    logits, labels, _ = cases()
    assert old.ignore_index is None
    assert old.forward(logits, labels) == loss.forward(logits, labels)



EPOCH_LOSSES = {"ignored": dn.CrossEntropyLoss(ignore_index=-100),
                "class weights": dn.CrossEntropyLoss(weight=CLASS_WEIGHTS),
                "both, smoothed": dn.CrossEntropyLoss(weight=CLASS_WEIGHTS, ignore_index=-100,
                                                      label_smoothing=0.2)}


@pytest.mark.parametrize("batch_size", [1, 7, 40])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", EPOCH_LOSSES)
def test_an_epoch_s_loss_is_the_data_set_s_loss_whatever_its_batches(name, weighted, batch_size):
    """Each batch's loss is a mean over its labels' weights (the labels ignored left out):
    the epoch weighs the batches by those sums, so that an epoch without updates reports
    ``evaluate``'s loss of the whole data set, at batch size 1 too (where most batches are a
    single ignored label, or a label of weight 0.25). So does the full-batch objective."""
    rng = np.random.default_rng(4)
    X, labels = rng.standard_normal((40, 3)), rng.integers(0, 4, 40)
    labels[::3] = -100 if "ignored" in name or "both" in name else labels[::3]
    w = rng.uniform(0.5, 2.0, 40) if weighted else None
    loss = EPOCH_LOSSES[name]
    model = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 4), seed=0)
    expected = model.evaluate(X, labels, loss, sample_weight=w)
    history = model.fit(X, labels, loss=loss, optimizer=dn.SGD(1e-300), epochs=1, batch_size=batch_size,
                        sample_weight=w, shuffle=False)
    assert history.loss[0] == pytest.approx(expected, rel=1e-12)
    from densenet.training import _FullBatch

    target, relative = loss.target(labels, 4, np.float64), None if w is None else w / w.mean()
    value, gradient = _FullBatch(model, X, target, relative, loss, batch_size)(model.params.copy())
    assert value == pytest.approx(expected, rel=1e-12)
    whole = _FullBatch(model, X, target, relative, loss, 40)(model.params.copy())
    assert_allclose(gradient, whole[1], rtol=1e-10, atol=1e-15)


# -- BCEWithLogitsLoss(pos_weight=...): weights of the yes targets ---------------------------------

POS_WEIGHT = np.array([0.5, 3.0, 1.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_pos_weight_equals_pytorch(dtype, weighted):
    """Soft and hard targets, each column its own weight (one of them 0: yes counts nothing),
    with and without sample weights (PyTorch: the per-element losses weighted, averaged)."""
    torch = pytest.importorskip("torch")
    logits, _, probs = cases(7, n=9)
    probs[::2] = np.round(probs[::2] * 2)  # (hard 0/1 targets in half the rows)
    logits, probs = logits.astype(dtype), np.clip(probs, 0, 1).astype(dtype)
    s = np.random.default_rng(8).uniform(0, 2, 9) if weighted else None
    loss = dn.BCEWithLogitsLoss(pos_weight=POS_WEIGHT)
    value, grad = loss.forward(logits, probs, sample_weight=s), loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    each = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(POS_WEIGHT, dtype=z.dtype), reduction="none")(
        z, torch.tensor(probs))
    theirs = (each.mean(1) * torch.tensor(s, dtype=z.dtype)).mean() if weighted else each.mean()
    theirs.backward()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(theirs.item(), rel=tol)
    assert_allclose(grad, z.grad.numpy(), rtol=tol, atol=tol * np.abs(grad).max())
    assert grad.dtype == dtype
    assert abs(value - dn.BCEWithLogitsLoss().forward(logits, probs, sample_weight=s)) > 1e-3


def test_pos_weight_is_stable_and_of_ones_is_no_weight():
    z = np.array([[-1e300, -800.0, -3.0, 0.0], [3.0, 800.0, 1e300, 20.0]])
    t = np.array([[1.0, 1.0, 0.25, 0.5], [1.0, 0.0, 0.0, 1.0]])
    p = np.array([2.0, 0.5, 3.0, 1.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = dn.BCEWithLogitsLoss(pos_weight=p).forward(z, t)
    softplus = np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z)))  # log(1 + exp(-z))
    want = ((1 - t) * z + (1 + (p - 1) * t) * softplus).mean()
    assert value == pytest.approx(want, rel=1e-14)
    logits, _, probs = cases(9)
    plain, ones = dn.BCEWithLogitsLoss(), dn.BCEWithLogitsLoss(pos_weight=np.ones(4))
    assert ones.forward(logits, probs) == pytest.approx(plain.forward(logits, probs), rel=1e-14)
    assert_allclose(ones.backward(), plain.backward(), rtol=1e-14, atol=1e-17)
    # a 1-D batch is one output's samples: one weight
    one = dn.BCEWithLogitsLoss(pos_weight=[3.0])
    assert one.forward(logits[:, 0], probs[:, 0]) == pytest.approx(
        one.forward(logits[:, :1], probs[:, :1]), rel=1e-15)
    assert one.backward().shape == (6, 1)


def test_pos_weight_trains_passes_gradcheck_and_says_yes_more():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = (X[:, :2] @ np.array([1.0, -1.0]) + rng.standard_normal(80) > 1.5).astype(float)[:, None]  # rare yes
    model = dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 1), seed=0)
    heavy = dn.BCEWithLogitsLoss(pos_weight=[float((1 - y).sum() / y.sum())])
    assert dn.gradcheck(model, X[:6], y[:6], heavy).ok
    assert dn.gradcheck(model, X[:6], y[:6], heavy, sample_weight=np.arange(1.0, 7.0)).ok
    plain, weighted = copy.deepcopy(model), copy.deepcopy(model)
    plain.fit(X, y, loss=dn.BCEWithLogitsLoss(), optimizer=dn.Adam(0.05), epochs=40, batch_size=16)
    history = weighted.fit(X, y, loss=heavy, optimizer=dn.Adam(0.05), epochs=40, batch_size=16,
                           metrics=["recall"])
    assert history.loss[-1] < history.loss[0]
    assert (weighted.predict(X) > 0).sum() > (plain.predict(X) > 0).sum()
    assert dn.Recall(threshold=0.0)(weighted.predict(X), y) > dn.Recall(threshold=0.0)(plain.predict(X), y)


@pytest.mark.parametrize("pos_weight, error, message", [
    ([[1.0, 2.0]], ValueError, r"one weight per output, a 1-D array \(n_outputs,\), got shape \(1, 2\)"),
    (2.0, ValueError, r"one weight per output, a 1-D array \(n_outputs,\), got shape \(\)"),
    ([], ValueError, "^BCEWithLogitsLoss: pos_weight is empty"),
    ([1.0, -0.5], ValueError, r"^BCEWithLogitsLoss: pos_weight must be >= 0; 1 value\(s\) do not, the "
                              r"first -0.5"),
    ([1.0, np.inf], ValueError, "^BCEWithLogitsLoss: pos_weight holds 1 non-finite"),
    (["a"], TypeError, "^BCEWithLogitsLoss: pos_weight"),
    ([[1.0], [2.0, 3.0]], ValueError, "^BCEWithLogitsLoss: pos_weight is not a rectangular array of numbers"),
])
def test_bad_pos_weights_are_refused_by_name(pos_weight, error, message):
    with pytest.raises(error, match=message):
        dn.BCEWithLogitsLoss(pos_weight=pos_weight)


def test_pos_weight_must_match_the_outputs_and_is_kept_apart_from_the_callers_array():
    model = dn.Sequential(dn.Dense(3, 2), seed=0)
    before = model.params.copy()
    weights = np.array([1.0, 2.0, 3.0])
    loss = dn.BCEWithLogitsLoss(pos_weight=weights)
    with pytest.raises(ValueError, match="BCEWithLogitsLoss: pos_weight has 3 weights, but the model has 2 "):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), loss=loss)
    assert_array_equal(model.params, before)
    with pytest.raises(ValueError, match=r"pos_weight has 3 weights, but y_pred has 2 columns \(shape"):
        loss.forward(np.zeros((4, 2)), np.ones((4, 2)))
    weights[0] = 9.0
    assert loss.pos_weight.tolist() == [1.0, 2.0, 3.0]
    assert not loss.pos_weight.flags.writeable
    assert repr(loss) == "BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0])"
    assert repr(dn.BCEWithLogitsLoss()) == "BCEWithLogitsLoss()"
    for again in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss))):
        assert repr(again) == repr(loss)
    state = dn.BCEWithLogitsLoss().__dict__.copy()
    old = dn.BCEWithLogitsLoss.__new__(dn.BCEWithLogitsLoss)
    old.__dict__.update({k: v for k, v in state.items() if k != "_pos_weight"})  # (pickled before it existed)
    assert old.pos_weight is None
    assert old.forward(np.zeros((2, 1)), np.ones((2, 1))) == pytest.approx(np.log(2))


@pytest.mark.parametrize(("loss", "y", "error", "message"), [
    (dn.CrossEntropyLoss(), np.array([0.0, 1.0, 2.0, 1.0]), TypeError,
     r"CrossEntropyLoss: class labels y must be integers, got dtype float64 \(they are whole numbers: "
     r"y.astype\(int\); for class probabilities pass an \(n_samples, 3\) array\)$"),
    (dn.NLLLoss(), np.array([1.0, 0.0, 2.0, -0.0]), TypeError,
     r"NLLLoss: class labels y must be integers, got dtype float64 \(they are whole numbers: "
     r"y.astype\(int\)\)$"),
    (dn.NLLLoss(), np.array([True, False, True, True]), TypeError,
     r"got dtype bool \(they are whole numbers: y.astype\(int\)\)$"),
    (dn.CrossEntropyLoss(), np.array([0.5, 1.0, 2.0, 1.0]), TypeError,
     r"got dtype float64 \(for class probabilities pass an \(n_samples, 3\) array\)$"),
    (dn.NLLLoss(), np.array([0.0, 1.0, np.nan, 1.0]), TypeError,
     r"got dtype float64 \(1 NaN, the first at index 2: missing labels\? fill or drop them\)$"),
    (dn.CrossEntropyLoss(), np.array(["cat", "dog", "cat", "eel"]), TypeError,
     r"got dtype <U3 \(labels of another kind: number them, np.unique\(y, return_inverse=True\)\[1\], or use "
     r"densenet.sklearn.DenseNetClassifier, which takes any; for class probabilities"),
    (dn.NLLLoss(), np.array(["cat", 1, "cat", 2.5], dtype=object), TypeError,
     r"got dtype object \(labels of another kind: number them, np.unique\(y, return_inverse=True\)\[1\]"),
    (dn.NLLLoss(), np.array([2, 1, 0, 1], dtype=object), TypeError,
     r"got dtype object \(they are whole numbers: y.astype\(int\)\)$"),
    (dn.NLLLoss(), np.array(["2", "1", "0", "1"]), TypeError, r"got dtype <U1 \(labels of another kind"),
])
def test_labels_of_another_dtype_are_refused_with_the_way_to_integers(loss, y, error, message):
    model = dn.Sequential(dn.Dense(2, 3), seed=0)
    before = model.params.copy()
    with pytest.raises(error, match=message):
        model.fit(np.zeros((4, 2)), y, loss=loss, epochs=1)
    assert_array_equal(model.params, before)


@pytest.mark.parametrize("loss", [dn.CrossEntropyLoss(), dn.NLLLoss()], ids=["ce", "nll"])
def test_yes_or_no_labels_for_one_output_point_to_bce_with_logits(loss):
    """One output is one class: its softmax is 1 and its loss 0, whatever the weights."""
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    with pytest.raises(ValueError, match=r"class label 1 in y is outside \[0, 1\) for a model with 1 "
                                         r"outputs; one output is a yes-or-no classifier: BCEWithLogitsLoss "
                                         r"on 0/1 targets, or a model with an output per class"):
        model.fit(np.zeros((4, 2)), np.array([0, 1, 1, 0]), loss=loss, epochs=1)
    with pytest.raises(ValueError, match=r"label 2 in y is outside \[0, 2\) for a model with 2 outputs$"):
        dn.Sequential(dn.Dense(2, 2), seed=0).fit(np.zeros((4, 2)), np.array([0, 1, 2, 0]), loss=loss)
