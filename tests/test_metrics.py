"""Metrics: each against scikit-learn's, added up over batches, and in fit, evaluate,
History and the monitors."""

from __future__ import annotations

import copy
import math
import os
import pickle
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from tests.conftest import LookAround, snapshot

rng = np.random.default_rng(0)


def scores(n=60, classes=4, seed=0):
    """Random scores (no ties), labels and weights."""
    r = np.random.default_rng(seed)
    return r.standard_normal((n, classes)), r.integers(0, classes, n), r.uniform(0, 3, n)


# -- each metric against scikit-learn's --------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_of_labels_and_of_probability_rows_is_scikit_learn_s(weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    Y, labels, w = scores()
    w = w if weighted else None
    want = metrics.accuracy_score(labels, Y.argmax(1), sample_weight=w)
    assert dn.Accuracy()(Y, labels, w) == pytest.approx(want, rel=1e-15)
    soft = np.random.default_rng(1).dirichlet(np.ones(4), size=60)  # rows of class probabilities
    want = metrics.accuracy_score(soft.argmax(1), Y.argmax(1), sample_weight=w)
    assert dn.Accuracy()(Y, soft, w) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_top_k_accuracy_is_scikit_learn_s(k, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    Y, labels, w = scores()
    w = w if weighted else None
    want = metrics.top_k_accuracy_score(labels, Y, k=k, labels=range(4), sample_weight=w)
    metric = dn.Accuracy(top_k=k)
    assert metric(Y, labels, w) == pytest.approx(want, rel=1e-15)
    assert metric.name == ("accuracy" if k == 1 else f"top{k}_accuracy")


def test_top_k_ranks_ties_as_argmax_does():
    """A tie goes to the column first: with k 1 exactly ``argmax``, and so on for each k."""
    Y = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 2.0, 2.0]])
    labels = np.array([1, 2, 2])
    assert dn.Accuracy()(Y, labels) == 0.0
    assert dn.Accuracy(top_k=2)(Y, labels) == 2 / 3
    assert dn.Accuracy(top_k=1)(Y, labels) == np.mean(Y.argmax(1) == labels)


@pytest.mark.parametrize("threshold", [0.5, 0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_of_labels_with_a_threshold_is_one_minus_the_hamming_loss(threshold, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(2)
    Y, T = r.uniform(-1, 1.5, (50, 3)), (r.random((50, 3)) > 0.5).astype(float)
    w = r.uniform(0, 2, 50) if weighted else None
    want = 1 - metrics.hamming_loss(T.astype(int), (threshold < Y).astype(int), sample_weight=w)
    assert dn.Accuracy(threshold=threshold)(Y, T, w) == pytest.approx(want, rel=1e-14)
    one = dn.Accuracy(threshold=threshold)(Y[:, 0], T[:, 0], w)  # a single output, 1-D
    assert one == pytest.approx(metrics.accuracy_score(T[:, 0], Y[:, 0] > threshold, sample_weight=w))


def test_a_target_counts_as_yes_above_one_half_and_an_output_above_the_threshold():
    Y = np.array([[0.9], [0.9], [0.1], [0.1]])
    T = np.array([[0.6], [0.5], [0.4], [0.51]])
    assert dn.Accuracy(threshold=0.5)(Y, T) == 0.5  # right, wrong twice, right
    at = np.array([[0.5], [0.5], [0.0], [0.0]])  # exactly at the threshold: no
    assert dn.Accuracy(threshold=0.5)(at, np.array([[0.0], [0.0], [0.0], [1.0]])) == 0.75
    assert dn.Accuracy(threshold=0.0)(at, np.array([[1.0], [1.0], [0.0], [0.0]])) == 1.0
    # F1 alike: one yes said (0.9) and right, one at the threshold not said, a target of 0.5 not yes
    f1 = dn.F1Score(threshold=0.5)(np.array([0.9, 0.5, 0.1]), np.array([1.0, 1.0, 0.5]))
    assert f1 == pytest.approx(2 / 3, rel=1e-15)  # tp 1, fn 1, fp 0


def test_ignored_labels_count_for_nothing():
    Y, labels, w = scores()
    ignored = labels.copy()
    ignored[::3] = -100
    kept = ignored != -100
    metric = dn.Accuracy(ignore_index=-100)
    assert metric(Y, ignored) == np.mean(Y.argmax(1)[kept] == labels[kept])
    want = np.average(Y.argmax(1)[kept] == labels[kept], weights=w[kept])
    assert metric(Y, ignored, w) == pytest.approx(want, rel=1e-15)
    assert math.isnan(metric(Y[:3], np.full(3, -100)))  # nothing counted


#: the scores of each class's counts, and scikit-learn's function of each
COUNTED = [(dn.F1Score, "f1_score"), (dn.Precision, "precision_score"), (dn.Recall, "recall_score")]


@pytest.mark.parametrize("make, theirs", COUNTED)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
def test_scores_of_classes_are_scikit_learn_s(make, theirs, average, weighted):
    score = getattr(pytest.importorskip("sklearn.metrics"), theirs)
    Y, labels, w = scores(classes=5)
    w = w if weighted else None
    labels = labels % 4  # class 4 is never a target: still one when it is predicted
    Y[:, 3] -= 10  # class 3 is a target never predicted (0/0 precision: 0)
    assert set(Y.argmax(1)) == {0, 1, 2, 4}
    assert set(labels) == {0, 1, 2, 3}
    want = score(labels, Y.argmax(1), average=average, sample_weight=w, zero_division=0)
    assert make(average=average)(Y, labels, w) == pytest.approx(want, rel=1e-14)
    rows = np.eye(5)[labels]
    assert make(average=average)(Y, rows, w) == pytest.approx(want, rel=1e-14)
    unseen = Y.copy()
    unseen[:, 4] = -100  # now neither a target nor predicted: left out of the average
    want = score(labels, unseen.argmax(1), average=average, sample_weight=w, zero_division=0)
    assert make(average=average)(unseen, labels, w) == pytest.approx(want, rel=1e-14)


def test_the_three_scores_differ_and_macro_recall_is_the_balanced_accuracy():
    metrics = pytest.importorskip("sklearn.metrics")
    Y, labels, w = scores(classes=4)
    values = {make(average="macro")(Y, labels, w) for make, _ in COUNTED}
    assert len(values) == 3
    want = metrics.balanced_accuracy_score(labels, Y.argmax(1), sample_weight=w)
    assert dn.Recall()(Y, labels, w) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("make, theirs", COUNTED)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
def test_scores_of_labels_are_scikit_learn_s_multilabel_and_binary_ones(make, theirs, average, weighted):
    score = getattr(pytest.importorskip("sklearn.metrics"), theirs)
    r = np.random.default_rng(11)
    Y, T = r.standard_normal((60, 4)), (r.random((60, 4)) > 0.6).astype(float)
    Y, T = np.c_[Y, -np.ones(60)], np.c_[T, np.zeros(60)]  # (a fifth label neither yes nor said: 0/0)
    T[:, 3] = 0  # a label never yes
    Y[:, 2] = -1  # and one never said
    w = r.uniform(0, 2, 60) if weighted else None
    want = score(T.astype(int), (Y > 0).astype(int), average=average, sample_weight=w, zero_division=0)
    assert make(threshold=0.0, average=average)(Y, T, w) == pytest.approx(want, rel=1e-14)
    binary = score(T[:, 0], Y[:, 0] > 0.5, sample_weight=w)
    assert make(threshold=0.5, average=average)(Y[:, 0], T[:, 0], w) == pytest.approx(binary, rel=1e-14)
    no = np.zeros_like(T)  # no yes at all: no support to weigh by
    want = score(no, (Y > 0).astype(int), average=average, sample_weight=w, zero_division=0)
    assert make(threshold=0.0, average=average)(Y, no, w) == want == 0.0


@pytest.mark.parametrize("make, theirs", COUNTED)
def test_a_class_seen_once_counts_in_the_average(make, theirs):
    score = getattr(pytest.importorskip("sklearn.metrics"), theirs)
    Y = np.eye(3)[[0, 0, 1, 1, 2]]  # class 2 said once, never the target
    labels = np.array([0, 0, 1, 1, 0])
    want = score(labels, Y.argmax(1), average="macro", zero_division=0)
    assert make()(Y, labels) == pytest.approx(want, rel=1e-15)
    assert make()(Y[:4], labels[:4]) == 1.0  # (without it)


@pytest.mark.parametrize("make, theirs", COUNTED)
def test_the_scores_leave_ignored_labels_out(make, theirs):
    score = getattr(pytest.importorskip("sklearn.metrics"), theirs)
    Y, labels, _ = scores()
    ignored = labels.copy()
    ignored[::3] = 7
    kept = ignored != 7
    want = score(labels[kept], Y.argmax(1)[kept], average="macro")
    assert make(ignore_index=7)(Y, ignored) == pytest.approx(want, rel=1e-14)


def test_a_score_of_counts_says_what_it_lacks():
    class Specificity(dn.ClassCounts):
        NAME = "specificity"

    with pytest.raises(TypeError, match=r"a ClassCounts metric defines score\(tp, fp, fn\)"):
        Specificity()(np.eye(3), np.arange(3))

    class Hits(dn.ClassCounts):
        NAME = "hits"

        @staticmethod
        def score(tp, fp, fn):
            return tp  # (the counts themselves, class by class)

    assert Hits(average="micro")(np.eye(3)[[0, 1, 1]], np.array([0, 1, 2])) == 2.0
    assert Hits().greater_is_better
    assert repr(Hits(average="weighted")) == "Hits(average='weighted')"


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auc_is_scikit_learn_s_roc_auc_with_ties_and_weights(average, weighted, dtype):
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(12)
    Y = np.round(r.standard_normal((80, 3)), 1).astype(dtype)  # (many ties)
    T = (r.random((80, 3)) > 0.6).astype(float)
    w = r.uniform(0, 2, 80) if weighted else None
    want = metrics.roc_auc_score(T, Y, average=average, sample_weight=w)
    assert dn.AUC(average=average)(Y, T, w) == pytest.approx(want, rel=1e-14)
    for column in range(3):  # one label, 1-D or a column: the binary area
        binary = metrics.roc_auc_score(T[:, column], Y[:, column], sample_weight=w)
        assert dn.AUC(average=average)(Y[:, column], T[:, column], w) == pytest.approx(binary, rel=1e-14)
        assert dn.AUC()(Y[:, [column]], T[:, [column]], w) == pytest.approx(binary, rel=1e-14)


@pytest.mark.parametrize("make", [dn.MeanSquaredError, dn.MeanAbsoluteError, dn.R2Score, dn.Accuracy,
                                  lambda: dn.Accuracy(threshold=0.0), dn.F1Score, dn.Precision, dn.Recall,
                                  dn.AUC, lambda: dn.AUC(average="micro"), lambda: dn.AUC(average="weighted"),
                                  lambda: dn.AUC(classes="logits"), lambda: dn.AUC(average="weighted",
                                                                                   classes="logits")])
def test_metrics_do_not_depend_on_the_scale_of_the_weights(make):
    """A weighted AUC divided the area by the product of the yes and no weights: of
    weights of 1e300 it overflowed (a warning, then NaN), of 1e-300 it underflowed to
    0 (NaN)."""
    r = np.random.default_rng(14)
    Y, w, labels = r.standard_normal((80, 3)), r.uniform(0, 2, 80), r.integers(0, 3, 80)
    metric = make()
    T = labels if getattr(metric, "classes", None) else np.eye(3)[labels]
    want = metric(Y, T, w)
    assert np.isfinite(want)
    for scale in (1e300, 1e-300):
        assert make()(Y, T, w * scale) == pytest.approx(want, rel=1e-13)


def test_auc_counts_a_tie_as_half_and_goes_by_order_alone():
    T = np.array([0.0, 1.0, 0.0, 1.0])
    assert dn.AUC()(np.array([0.1, 0.9, 0.2, 0.8]), T) == 1.0
    assert dn.AUC()(np.array([0.9, 0.1, 0.8, 0.2]), T) == 0.0
    assert dn.AUC()(np.array([0.5, 0.5, 0.5, 0.5]), T) == 0.5
    assert dn.AUC()(np.array([0.1, 0.5, 0.5, 0.9]), T) == 0.875  # of 4 pairs: 3 right, 1 tied
    logits = np.array([-3.0, 2.0, 1.5, 1.0])
    assert dn.AUC()(logits, T) == dn.AUC()(1 / (1 + np.exp(-logits)), T) == 0.75
    assert dn.AUC()(np.array([0.3, 0.7]), np.array([0.4, 0.6])) == 1.0  # a target is yes above 0.5
    assert dn.AUC()(np.array([0.9, 0.1]), np.array([0.5, 1.0])) == 0.0  # and 0.5 is no


def test_a_label_all_yes_or_all_no_is_left_out_of_auc_s_average():
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(13)
    Y, T = r.standard_normal((40, 3)), (r.random((40, 3)) > 0.5).astype(float)
    T[:, 1] = 1.0
    for average in ("macro", "weighted"):
        want = metrics.roc_auc_score(T[:, [0, 2]], Y[:, [0, 2]], average=average)
        assert dn.AUC(average=average)(Y, T) == pytest.approx(want, rel=1e-14)
    with pytest.warns(UserWarning, match="Only one class is present"):  # (scikit-learn's: NaN for all)
        assert math.isnan(metrics.roc_auc_score(T, Y, average="macro"))
    assert math.isnan(dn.AUC()(Y[:, 1], T[:, 1]))
    assert math.isnan(dn.AUC()(Y, np.zeros_like(T)))
    assert math.isnan(dn.AUC()(Y, T, np.r_[1.0, np.zeros(39)]))  # one sample weighs: no pair
    assert dn.AUC(average="micro")(Y, T) == pytest.approx(metrics.roc_auc_score(T.ravel(), Y.ravel()),
                                                          rel=1e-14)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_of_classes_is_scikit_learn_s_one_vs_rest_of_the_probabilities(average, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    from scipy.special import softmax

    r = np.random.default_rng(15)
    Z, labels = r.standard_normal((80, 4)), r.integers(0, 4, 80)
    w = r.random(80) if weighted else None
    P = softmax(Z, axis=1)
    want = metrics.roc_auc_score(labels, P, multi_class="ovr", average=average, sample_weight=w)
    for kind, outputs in (("logits", Z), ("log-probabilities", np.log(P)), ("probabilities", P)):
        assert dn.AUC(average, classes=kind)(outputs, labels, w) == pytest.approx(want, rel=1e-14)
    assert dn.AUC(average, classes="logits")(Z, np.eye(4)[labels] * 0.7 + 0.05, w) == pytest.approx(
        want, rel=1e-14)  # rows of class probabilities: the class of their largest entry
    # two classes: scikit-learn's binary area of the second class's probability, whatever average
    binary = metrics.roc_auc_score(labels % 2, P[:, 1] / (P[:, 0] + P[:, 1]), sample_weight=w)
    assert dn.AUC(average, classes="logits")(Z[:, :2], labels % 2, w) == pytest.approx(binary, rel=1e-14)
    # probabilities are ranked as they are: their softmax would rank otherwise
    assert dn.AUC(average, classes="probabilities")(P, labels, w) != dn.AUC(average, classes="logits")(
        P, labels, w)


def test_auc_of_classes_leaves_out_a_class_no_sample_is_and_the_ignored_label():
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(16)
    P, labels = r.dirichlet(np.ones(3), 60), r.integers(0, 2, 60)  # class 2 never a target

    def areas(P, labels):  # of classes 0 and 1, each against the rest
        return np.mean([metrics.roc_auc_score(labels == k, P[:, k]) for k in (0, 1)])

    assert dn.AUC(classes="probabilities")(P, labels) == pytest.approx(areas(P, labels), rel=1e-14)
    ignored = np.where(r.random(60) < 0.3, 2, labels)
    kept = ignored != 2
    assert dn.AUC(classes="probabilities", ignore_index=2)(P, ignored) == pytest.approx(
        areas(P[kept], labels[kept]), rel=1e-14)
    assert math.isnan(dn.AUC(classes="logits")(P, np.zeros(60, int)))  # one class: no pair


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_auc_of_a_batch_of_ignored_labels_alone_is_nan_and_added_adds_nothing(average):
    """A batch whose every label is ignored raised IndexError (an area of no sample)."""
    r = np.random.default_rng(15)
    Y, labels = r.standard_normal((12, 3)), r.integers(0, 3, 12)
    metric = dn.AUC(average=average, classes="logits", ignore_index=-100)
    assert math.isnan(metric(Y[:4], np.full(4, -100)))
    metric.update(Y[:4], np.full(4, -100))
    assert math.isnan(metric.result())
    metric.update(Y[4:], labels[4:])
    assert metric.result() == dn.AUC(average=average, classes="logits")(Y[4:], labels[4:])


def test_auc_by_name_in_fit_scores_a_classifier_s_classes():
    """``"auc"`` with ``CrossEntropyLoss``: each class's area of the outputs' softmax (it
    was refused); with a regression loss on one-hot rows, of the outputs as they are."""
    X, labels = blobs()
    model = classifier()
    history = model.fit(X[:90], labels[:90], loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(0.01), epochs=2,
                        metrics=["auc"], validation_data=(X[90:], labels[90:]))
    want = dn.AUC(classes="logits")(model.predict(X[90:]), labels[90:])
    assert history["val_auc"][-1] == pytest.approx(want, rel=1e-14)
    assert 0.5 < want <= 1
    one_hot = np.eye(3)[labels]
    scores = model.evaluate(X, one_hot, loss=dn.MSELoss(), metrics=["auc"])["auc"]
    assert scores == pytest.approx(dn.AUC(classes="probabilities")(model.predict(X), labels), rel=1e-14)
    ignoring = model.evaluate(X, labels, loss=dn.CrossEntropyLoss(ignore_index=2), metrics=["auc"])["auc"]
    kept = labels != 2
    assert ignoring == pytest.approx(dn.AUC(classes="logits")(model.predict(X)[kept], labels[kept]),
                                     rel=1e-14)


@pytest.mark.parametrize("make, error, match", [
    (lambda: dn.AUC(classes="probability"), ValueError,
     r"AUC: classes must be None \(yes-or-no labels\) or what the outputs are, one of \('logits', "),
    (lambda: dn.AUC(ignore_index=0), ValueError, "ignore_index=0 names a class label, but without classes"),
    (lambda: dn.AUC(ignore_index=np.int64(0)), ValueError, "AUC: ignore_index=0 names a class label"),
])
def test_auc_refuses_what_it_cannot_mean(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_auc_of_classes_checks_the_outputs_and_labels_as_accuracy_does():
    auc = dn.AUC(classes="logits")
    with pytest.raises(ValueError, match=r"AUC: y_pred has shape \(4, 1\): one score per sample"):
        auc(np.zeros((4, 1)), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"AUC: class label 3 in y_true is outside \[0, 3\)"):
        auc(np.zeros((4, 3)), np.array([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="AUC: class labels y_true must be integers"):
        auc(np.zeros((4, 3)), np.array([0.0, 1.0, 2.0, 1.0]))


def test_auc_in_fit_scores_each_epoch_s_outputs_alone():
    """One batch an epoch: the training area is that of the outputs before the epoch's
    step, the validation area that of the predictions after it; each epoch afresh."""
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(14)
    X = r.standard_normal((90, 4))
    y = (X @ np.array([1.0, -1.0, 0.5, 0.0]) + r.standard_normal(90) > 0).astype(float)[:, None]
    model = dn.Sequential(dn.Dense(4, 8), dn.Tanh(), dn.Dense(8, 1), seed=0)
    seen = []

    class Predict(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(model.predict(X[60:]))

    before = model.predict(X[:60])
    history = model.fit(X[:60], y[:60], loss=dn.BCEWithLogitsLoss(), optimizer=dn.Adam(0.05), epochs=4,
                        batch_size=60, metrics=["auc"], validation_data=(X[60:], y[60:]),
                        callbacks=[Predict()])
    assert history["auc"][0] == pytest.approx(metrics.roc_auc_score(y[:60, 0], before[:, 0]), rel=1e-14)
    want = [metrics.roc_auc_score(y[60:, 0], outputs[:, 0]) for outputs in seen]
    assert_allclose(history["val_auc"], want, rtol=1e-14)
    assert len(set(history["auc"])) > 1


@pytest.mark.parametrize("name, make, multioutput", [
    ("mean_absolute_error", dn.MeanAbsoluteError, "uniform_average"),
    ("mean_squared_error", dn.MeanSquaredError, "uniform_average"),
    ("r2_score", dn.R2Score, "uniform_average"),
])
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_are_scikit_learn_s(name, make, multioutput, outputs, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(3)
    T = r.standard_normal((40, outputs)) * [1.0, 10.0, 0.1][:outputs]
    Y = T + r.standard_normal((40, outputs))
    w = r.uniform(0, 2, 40) if weighted else None
    want = getattr(metrics, name)(T, Y, sample_weight=w, multioutput=multioutput)
    assert make()(Y, T, w) == pytest.approx(want, rel=1e-13)


def test_rmse_is_the_root_of_the_mean_over_every_output():
    r = np.random.default_rng(4)
    Y, T = r.standard_normal((30, 3)), r.standard_normal((30, 3))
    rmse = dn.MeanSquaredError(squared=False)
    assert rmse.name == "rmse"
    assert rmse(Y, T) == pytest.approx(math.sqrt(np.mean((Y - T) ** 2)), rel=1e-15)


def test_a_batch_of_zero_weights_adds_nothing():
    Y, T = targets_for(dn.R2Score())
    for make in (dn.R2Score, dn.MeanAbsoluteError, dn.Accuracy):
        Y_, T_ = targets_for(make())
        metric = make()
        metric.update(Y_[:10], T_[:10], np.zeros(10))
        metric.update(Y_[10:], T_[10:])
        assert metric.result() == pytest.approx(make()(Y_[10:], T_[10:]), rel=1e-14)


@pytest.mark.parametrize("make", [dn.F1Score, dn.Precision, dn.Recall])
@pytest.mark.parametrize("threshold", [None, 0.0])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_scores_of_counts_of_no_weight_are_nan_as_every_metric_s(make, threshold, average):
    """They were 0, where every other metric of samples of no weight (and scikit-learn's
    scores, which refuse such weights) has no value."""
    Y, labels = np.eye(3)[[0, 1, 2, 1]], np.array([0, 1, 1, 2])
    T = labels if threshold is None else np.eye(3)[labels]
    metric = make(threshold=threshold, average=average)
    assert math.isnan(metric(Y, T, np.zeros(4)))
    assert math.isnan(dn.Accuracy(threshold=threshold)(Y, T, np.zeros(4)))
    metric.update(Y[:2], T[:2], np.zeros(2))
    metric.update(Y[2:], T[2:], np.ones(2))
    assert metric.result() == make(threshold=threshold, average=average)(Y, T, np.r_[0.0, 0.0, 1.0, 1.0])


def test_r2_of_one_sample_is_forced_finite_and_of_no_weight_nan():
    assert dn.R2Score()(np.array([1.0]), np.array([1.0])) == 1.0  # targets all equal, predicted
    assert dn.R2Score()(np.array([2.0]), np.array([1.0])) == 0.0
    assert math.isnan(dn.R2Score()(np.array([2.0, 1.0]), np.array([1.0, 3.0]), np.zeros(2)))


def test_rmse_by_name_is_the_root_of_mse_by_name():
    r = np.random.default_rng(12)
    X, y = r.standard_normal((30, 2)), r.standard_normal((30, 3))
    got = dn.Sequential(dn.Dense(2, 3), seed=0).evaluate(X, y, metrics=["mse", "rmse"])
    assert got["rmse"] == pytest.approx(math.sqrt(got["mse"]), rel=1e-15)
    assert got["mse"] == pytest.approx(got["loss"], rel=1e-15)  # MSELoss's value, to rounding


def test_r2_of_constant_targets_is_scikit_learn_s_forced_finite_score():
    metrics = pytest.importorskip("sklearn.metrics")
    T = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])
    for Y in (T.copy(), T + [[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]]):
        assert dn.R2Score()(Y, T) == pytest.approx(metrics.r2_score(T, Y), rel=1e-15)


def test_r2_finds_targets_all_equal_whatever_their_value():
    """Three targets of 0.1, whose mean rounds off 0.1 (``r2_score`` gives -1.7e31 for the
    first, dividing by that rounding): forced finite, 0, and 1 where predicted exactly."""
    T = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    assert np.mean(T[:, 0]) != 0.1
    assert dn.R2Score()(T + [[0.0, 0.0], [0.0, 0.0], [0.1, 0.0]], T) == 0.5  # (0 and 1, averaged)
    assert dn.R2Score()(T.copy(), T) == 1.0
    metric = dn.R2Score()
    for row in range(3):  # (added up over batches of one row)
        metric.update(T[row:row + 1] + [[0.0, 1.0]], T[row:row + 1])
    assert metric.result() == pytest.approx((1.0 + (1 - 3 / 2)) / 2, rel=1e-15)


def test_r2_added_up_keeps_its_precision_beside_a_large_offset():
    """Means and squared deviations are combined pairwise: sums of y and y^2 would lose
    every digit of a spread of 1 beside an offset of 1e9."""
    metrics = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(5)
    T = 1e9 + r.standard_normal((1000, 1))
    Y = T + 0.5 * r.standard_normal((1000, 1))
    metric = dn.R2Score()
    for start in range(0, 1000, 7):
        metric.update(Y[start:start + 7], T[start:start + 7])
    assert metric.result() == pytest.approx(metrics.r2_score(T, Y), rel=1e-13)


# -- the protocol: added up over batches, called alone, reset ------------------------------------


EVERY = [
    lambda: dn.Accuracy(),
    lambda: dn.Accuracy(top_k=2),
    lambda: dn.Accuracy(ignore_index=3),
    lambda: dn.Accuracy(threshold=0.0),
    lambda: dn.MeanAbsoluteError(),
    lambda: dn.MeanSquaredError(),
    lambda: dn.MeanSquaredError(squared=False),
    lambda: dn.R2Score(),
    lambda: dn.F1Score(),
    lambda: dn.F1Score(average="weighted", ignore_index=3),
    lambda: dn.F1Score(threshold=0.0, average="micro"),
    lambda: dn.Precision(),
    lambda: dn.Precision(threshold=0.0, average="weighted"),
    lambda: dn.Recall(average="micro", ignore_index=3),
    lambda: dn.Recall(threshold=0.0),
    lambda: dn.AUC(),
    lambda: dn.AUC(average="micro"),
    lambda: dn.AUC(average="weighted", name="area"),
    lambda: dn.AUC(classes="logits"),
    lambda: dn.AUC(average="micro", classes="probabilities"),
    lambda: dn.AUC(average="weighted", classes="log-probabilities", ignore_index=3),
]


def targets_for(metric, n=50, seed=6):
    r = np.random.default_rng(seed)
    Y = r.standard_normal((n, 4))
    if isinstance(metric, (dn.Accuracy, dn.ClassCounts)) and metric.threshold is None or (
            isinstance(metric, dn.AUC) and metric.classes is not None):
        return Y, r.integers(0, 4, n)
    if isinstance(metric, (dn.Accuracy, dn.ClassCounts, dn.AUC)):
        return Y, (r.random((n, 4)) > 0.5).astype(float)
    return Y, r.standard_normal((n, 4))


@pytest.mark.parametrize("make", EVERY)
@pytest.mark.parametrize("weighted", [False, True])
def test_batches_added_up_give_the_metric_of_all_at_once(make, weighted):
    metric = make()
    Y, T = targets_for(metric)
    w = np.random.default_rng(7).uniform(0, 2, len(Y)) if weighted else None
    whole = metric(Y, T, w)
    for start, stop in [(0, 1), (1, 17), (17, 18), (18, 50)]:
        metric.update(Y[start:stop], T[start:stop], None if w is None else w[start:stop])
    assert metric.result() == pytest.approx(whole, rel=1e-13)
    assert metric(Y[:5], T[:5]) == make()(Y[:5], T[:5])  # a call alone leaves what was added
    assert metric.result() == pytest.approx(whole, rel=1e-13)
    metric.reset()
    assert math.isnan(metric.result())
    metric.update(Y, T, w)
    assert metric.result() == pytest.approx(whole, rel=1e-13)


@pytest.mark.parametrize("make", EVERY)
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_batches_added_up_do_not_depend_on_the_scale_of_the_weights(make, scale):
    """R2Score's batches were combined by the product of their weight sums: of weights
    of 1e-300 it underflowed to 0 (the spread between the batches' means lost), of
    1e300 it overflowed (inf, every output then scored 1)."""
    metric = make()
    Y, T = targets_for(metric)
    Y = Y + np.arange(len(Y))[:, None] / 10  # (batches of other means: the spread between them counts)
    w = np.random.default_rng(7).uniform(0.5, 2, len(Y))
    whole = make()(Y, T, w)
    for start, stop in [(0, 1), (1, 17), (17, 18), (18, 50)]:
        metric.update(Y[start:stop], T[start:stop], w[start:stop] * scale)
    assert metric.result() == pytest.approx(whole, rel=1e-12)


@pytest.mark.parametrize("make", EVERY)
def test_unit_weights_change_nothing_and_a_weight_k_counts_k_times(make):
    metric = make()
    Y, T = targets_for(metric, n=12)
    assert metric(Y, T, np.ones(12)) == pytest.approx(metric(Y, T), rel=1e-14)
    assert metric(Y, T, np.full(12, 7.0)) == pytest.approx(metric(Y, T), rel=1e-14)
    twice = np.r_[2.0, np.ones(11)]
    assert metric(Y, T, twice) == pytest.approx(metric(np.r_[Y[:1], Y], np.r_[T[:1], T]), rel=1e-13)


@pytest.mark.parametrize("make", EVERY)
def test_a_copy_a_pickle_and_a_repr(make):
    metric = make()
    Y, T = targets_for(metric)
    metric.update(Y, T)
    for other in (copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))):
        assert other.result() == metric.result()
        other.update(Y, T)
        assert other.result() == pytest.approx(metric.result())
    assert eval(repr(metric), {**vars(dn)}).name == metric.name


def test_float32_outputs_are_scored_as_float64_ones_to_float32_rounding():
    Y, T = targets_for(dn.MeanSquaredError())
    for make in (dn.MeanSquaredError, dn.MeanAbsoluteError, dn.R2Score):
        assert make()(Y.astype(np.float32), T) == pytest.approx(make()(Y, T), rel=1e-6)


def test_a_name_of_its_own():
    metric = dn.Accuracy(top_k=3, name="top3")
    assert metric.name == "top3"
    assert repr(metric) == "Accuracy(top_k=3, name='top3')"
    assert repr(dn.R2Score()) == "R2Score()"
    assert repr(dn.MeanSquaredError(squared=False)) == "MeanSquaredError(squared=False)"
    assert repr(dn.Accuracy(threshold=0.0, ignore_index=-1)) == "Accuracy(threshold=0.0, ignore_index=-1)"
    assert (repr(dn.Accuracy()), repr(dn.Accuracy(top_k=2))) == ("Accuracy()", "Accuracy(top_k=2)")
    assert repr(dn.F1Score(threshold=0.5, average="micro")) == "F1Score(threshold=0.5, average='micro')"
    assert repr(dn.Precision(ignore_index=0)) == "Precision(ignore_index=0)"
    assert repr(dn.Recall(name="r")) == "Recall(name='r')"
    assert dn.Recall().name == "recall"
    assert repr(dn.MeanSquaredError(name="loss2")) == "MeanSquaredError(name='loss2')"


@pytest.mark.parametrize("call, error, match", [
    (lambda: dn.Accuracy()(np.zeros((3, 2)), np.array([0.0, 1.0, 1.0])), TypeError,
     r"class labels y_true must be integers, got dtype float64 \(they are whole numbers: "
     r"y_true.astype\(int\); for class probabilities pass an \(n_samples, 2\) array\)$"),
    (lambda: dn.F1Score()(np.zeros((3, 2)), np.array(["no", "yes", "no"])), TypeError,
     r"F1Score: class labels y_true must be integers, got dtype <U3 \(labels of another kind: number them"),
    (lambda: dn.Accuracy()(np.zeros((3, 2)), np.array([0, 2, 1])), ValueError,
     r"class label 2 in y_true is outside \[0, 2\)"),
    (lambda: dn.Accuracy()(np.zeros((3, 1)), np.array([0, 1, 1])), ValueError,
     "one score per sample, but without a threshold each column is a class"),
    (lambda: dn.Accuracy()(np.zeros(3), np.array([0, 1, 1])), ValueError, "pass threshold"),
    (lambda: dn.Accuracy()(np.zeros((3, 2)), np.zeros((3, 3))), ValueError,
     r"y_true has shape \(3, 3\); it must be class labels \(3,\) or rows"),
    (lambda: dn.Accuracy(threshold=0.5)(np.zeros((3, 1)), np.zeros(3)), ValueError,
     r"y_true has shape \(3,\) but y_pred has shape \(3, 1\)"),
    (lambda: dn.Accuracy()(np.zeros((3, 2, 1)), np.zeros(3, int)), ValueError,
     r"y_pred must be \(n_samples, n_outputs\) or \(n_samples,\), got shape \(3, 2, 1\)"),
    (lambda: dn.Accuracy()(np.full((3, 2), np.nan), np.zeros(3, int)), ValueError, "y_pred"),
    (lambda: dn.MeanAbsoluteError()(np.zeros((3, 2)), np.zeros(3)), ValueError, "must match exactly"),
    (lambda: dn.MeanAbsoluteError()(np.zeros(3), np.zeros(3), np.ones(2)), ValueError,
     r"sample_weight must be 1-D with one weight per sample, shape \(3,\)"),
    (lambda: dn.R2Score()(np.zeros(3), np.zeros(3), -np.ones(3)), ValueError, "sample_weight must be >= 0"),
    (lambda: dn.Accuracy(threshold=0.5, top_k=2), ValueError, "leave top_k 1 with a threshold"),
    (lambda: dn.Accuracy(top_k=0), ValueError, "Accuracy top_k must be an integer >= 1"),
    (lambda: dn.Accuracy(threshold=float("nan")), ValueError, "invalid threshold nan"),
    (lambda: dn.Accuracy(threshold="0.5"), TypeError, "threshold must be a real number"),
    (lambda: dn.Accuracy(ignore_index=1.5), TypeError, "ignore_index must be an integer or None"),
    (lambda: dn.MeanSquaredError(squared=1), TypeError, "squared must be True or False"),
    (lambda: dn.R2Score(name=""), TypeError, "name must be a non-empty string"),
    (lambda: dn.F1Score(average="binary"), ValueError, "F1Score: average must be one of"),
    (lambda: dn.Precision(average="samples"), ValueError, "Precision: average must be one of"),
    (lambda: dn.AUC(average="samples"), ValueError, "AUC: average must be one of"),
    (lambda: dn.Recall()(np.zeros((3, 2)), np.array([0.0, 1.0, 1.0])), TypeError,
     "class labels y_true must be integers"),
    (lambda: dn.F1Score(top_k=2), TypeError, "top_k"),
    (lambda: dn.F1Score()(np.zeros((3, 2)), np.array([0, 2, 1])), ValueError,  # (each names itself)
     r"^F1Score: class label 2 in y_true is outside \[0, 2\)"),
    (lambda: dn.Recall(threshold=0.5)(np.zeros((3, 1)), np.zeros(3)), ValueError,
     r"^Recall: y_true has shape \(3,\) but y_pred has shape \(3, 1\)"),
    (lambda: dn.Precision()(np.zeros((3, 2, 1)), np.zeros(3, int)), ValueError,
     r"^Precision: y_pred must be"),
    (lambda: dn.F1Score()(np.zeros((3, 1)), np.array([0, 1, 1])), ValueError, "pass threshold"),
])
def test_bad_input_is_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ignore_index_takes_any_label_an_index_can_hold():
    smallest = -sys.maxsize - 1
    assert dn.Accuracy(ignore_index=smallest).ignore_index == smallest
    assert dn.Accuracy(ignore_index=sys.maxsize).ignore_index == sys.maxsize
    with pytest.raises(ValueError, match="ignore_index must be an integer or None"):
        dn.Accuracy(ignore_index=smallest - 1)


def test_a_metric_without_totals_says_what_it_must_define():
    class Half(dn.Metric):
        pass

    with pytest.raises(TypeError, match="Half does not define totals"):
        Half()(np.zeros(2), np.zeros(2))


def test_a_metric_of_its_own_in_fit():
    """A subclass defines its totals and value; fit records it by name."""

    class WorstError(dn.Metric):
        NAME = "worst"

        def totals(self, y_pred, y_true, weight):
            return np.array([np.abs(y_pred - y_true).max()])

        def combine(self, a, b):
            return np.maximum(a, b)

        def value(self, totals):
            return float(totals[0])

    X, y = dn.tutorial.X, dn.tutorial.y
    model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), dn.Sigmoid(), seed=0)
    history = model.fit(X, y, epochs=3, batch_size=1, shuffle=False, metrics=[WorstError()],
                        validation_data=(X, y))
    assert history["val_worst"][-1] == np.abs(model.predict(X) - y).max()
    assert 0 < history["worst"][0] < 1


class Giving(dn.Metric):
    """A metric of one's own whose value is ``given``, whatever it scores."""

    NAME = "giving"

    def __init__(self, given):
        super().__init__()
        self.given = given

    def totals(self, y_pred, y_true, weight):
        return np.ones(1)

    def value(self, totals):
        return self.given


@pytest.mark.parametrize("given, want", [(np.float32(0.25), 0.25), (np.array(0.5), 0.5), (2, 2.0),
                                         (np.int64(3), 3.0)])
def test_a_metric_of_its_own_may_give_any_real_number(given, want):
    X, y = dn.tutorial.X, dn.tutorial.y
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    assert model.fit(X, y, epochs=2, metrics=[Giving(given)])["giving"].tolist() == [want, want]
    measured = model.evaluate(X, y, metrics=[Giving(given)])["giving"]
    assert type(measured) is float
    assert measured == want


@pytest.mark.parametrize("given", ["high", None, np.ones(2), 1 + 2j])
def test_a_metric_of_its_own_giving_no_real_number_is_named(given):
    """fit recorded None as NaN, evaluate returned it as it was, and a string failed
    NumPy's conversion without naming the metric: each is a TypeError that names it."""
    X, y = dn.tutorial.X, dn.tutorial.y
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    match = r"metric 'giving' \(Giving\) gave .* as its result, not a real number"
    with pytest.raises(TypeError, match=match):
        model.fit(X, y, epochs=2, metrics=[Giving(given)])
    with pytest.raises(TypeError, match=match):
        model.evaluate(X, y, metrics=[Giving(given)])


class Wrong(dn.Metric):
    """A share of wrong answers whose ``totals`` and ``combine`` are replaced by ``totals``
    and ``combine`` if given: a metric of one's own with a mistake in it."""

    NAME = "wrong"

    def __init__(self, totals=None, combine=None):
        super().__init__()
        self.given_totals, self.given_combine = totals, combine

    def totals(self, y_pred, y_true, weight):
        counts = np.array([(y_pred.argmax(1) != y_true.reshape(-1)).sum(), len(y_true)], np.float64)
        return counts if self.given_totals is None else self.given_totals(counts)

    def combine(self, a, b):
        return np.add(a, b, out=a) if self.given_combine is None else self.given_combine(a, b)

    def value(self, totals):
        return totals[0] / totals[1]

    def check(self, y_pred, y_true):
        return np.asarray(y_pred, np.float64), np.asarray(y_true).reshape(-1, 1)


def test_a_metric_of_its_own_adds_its_batches():
    """Three batches of 2, 2 and 3 rows with 1, 0 and 2 wrong answers: 3 of 7."""
    metric = Wrong(combine=lambda a, b: a + b)  # (a new array: as good as written into a)
    for outputs, labels in [([0, 1], [0, 0]), ([0, 0], [0, 0]), ([1, 1, 0], [0, 0, 0])]:
        metric.update(np.eye(2)[outputs], np.array(labels))
    assert metric.result() == 3 / 7


def in_place_without_return(a, b):
    a += b  # (and no return: the running totals would be None)


@pytest.mark.parametrize("totals, combine, error, match", [
    (lambda counts: None, None, TypeError, r"totals\(\) returned None, not an array of numbers"),
    (lambda counts: "2 of 7", None, TypeError, r"totals\(\) returned '2 of 7', not an array of numbers"),
    (lambda counts: [counts[0], [counts[1]]], None, TypeError, r"totals\(\) returned \[.*\], not an array "),
    (lambda counts: np.resize(counts, int(counts[1])), None, ValueError,
     r"totals\(\) returned shape \(\d+,\), but the totals so far have shape \(\d+,\): a metric's totals "),
    (None, in_place_without_return, TypeError,
     r"combine\(\) returned None, not the totals of both \(write them into a and return it\)"),
    (None, lambda a, b: np.concatenate([a, b]), ValueError, r"combine\(\) returned shape \(4,\), but the "),
], ids=["none", "str", "ragged", "another-shape", "combine-in-place-without-return", "combine-another-shape"])
def test_a_metric_of_its_own_whose_totals_do_not_add_up_is_named(totals, combine, error, match):
    """A batch's totals that are no array of numbers, or not of the shape the running totals
    have, and a ``combine`` that returns something else (None: the next batch would start the
    totals again, and the result count the last batches alone) are refused naming the metric,
    standalone and in ``fit``."""
    metric = Wrong(totals, combine)
    match = r"^metric 'wrong' \(Wrong\): " + match
    with pytest.raises(error, match=match):
        for outputs, labels in [([0, 1], [0, 0]), ([1, 1, 0], [0, 0, 0])]:
            metric.update(np.eye(2)[outputs], np.array(labels))
    X = np.random.default_rng(0).standard_normal((1030, 2))  # (fit adds batches, up to 512 rows at once)
    labels = (X[:, 0] > 0).astype(np.int64)
    with pytest.raises(error, match=match):
        dn.Sequential(dn.Dense(2, 2), seed=0).fit(X, labels, loss=dn.CrossEntropyLoss(), batch_size=103,
                                                  metrics=[Wrong(totals, combine)])


# -- in fit and evaluate --------------------------------------------------------------------------


def blobs(n=120, seed=0):
    r = np.random.default_rng(seed)
    labels = r.integers(0, 3, n)
    X = r.standard_normal((n, 5)) + 1.5 * np.eye(3, 5)[labels]
    return X, labels


def classifier(seed=0, *extra):
    return dn.Sequential(dn.Dense(5, 16), dn.ReLU(), *extra, dn.Dense(16, 3), seed=seed)


@pytest.mark.parametrize("weighted", [False, True])
def test_training_metrics_are_the_batches_outputs_before_each_update(weighted):
    """The epoch's accuracy is the mean, weighted by rows (and sample weights), of each
    batch's accuracy on the outputs its step computed: a hand-written loop's."""
    X, labels = blobs()
    w = np.random.default_rng(1).uniform(0.5, 2, len(X)) if weighted else None
    model, loss = classifier(), dn.CrossEntropyLoss()
    by_hand, adam_fit, adam_hand = copy.deepcopy(model), dn.Adam(0.01), dn.Adam(0.01)
    history = model.fit(X, labels, optimizer=adam_fit, loss=loss, epochs=2, batch_size=32, shuffle=False,
                        metrics=["accuracy", dn.Accuracy(top_k=2)], sample_weight=w)
    relative = None if w is None else w / w.mean()
    for epoch in range(2):
        right = [dn.Accuracy(), dn.Accuracy(top_k=2)]
        for start in range(0, len(X), 32):
            rows = slice(start, start + 32)
            Y = by_hand.forward(X[rows])
            batch_w = None if relative is None else relative[rows]
            for metric in right:
                metric.update(Y, labels[rows], batch_w)
            loss.forward(Y, labels[rows], batch_w)
            by_hand.backward(loss.backward(), input_grad=False)
            adam_hand.step(by_hand.params, by_hand.grads)
        assert history["accuracy"][epoch] == pytest.approx(right[0].result(), rel=1e-14)
        assert history["top2_accuracy"][epoch] == pytest.approx(right[1].result(), rel=1e-14)
    assert_array_equal(model.params, by_hand.params)


@pytest.mark.parametrize("batch_size", [1, 7, 100, 600, 1234])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_row_trained_on_is_scored_once_whatever_the_batches(batch_size, shuffle, weighted):
    """At a rate too small to move the weights, an epoch's training metrics are those of
    the rows it trained on: the kept outputs (``KEPT_ROWS`` at a time) cover every batch
    once, the last short one included, in the shuffled order with its targets and weights."""
    r = np.random.default_rng(10)
    X, labels = r.standard_normal((1234, 5)), r.integers(0, 3, 1234)
    w = r.uniform(0, 2, 1234) if weighted else None
    model = dn.Sequential(dn.Dense(5, 3), seed=0)
    model[0].b[...] = 0.5  # (from 0, the tiniest step would move a bias)
    before = model.params.copy()
    history = model.fit(X, np.eye(3)[labels], optimizer=dn.SGD(5e-324), epochs=2, batch_size=batch_size,
                        shuffle=shuffle, sample_weight=w, metrics=["accuracy", "mae", "r2"])
    assert_array_equal(model.params, before)
    want = model.evaluate(X, np.eye(3)[labels], sample_weight=w, metrics=["accuracy", "mae", "r2"])
    for name in ("accuracy", "mae", "r2"):
        assert_allclose(history[name], want[name], rtol=1e-12)
    cut = model.fit(X, np.eye(3)[labels], optimizer=dn.SGD(5e-324), batch_size=batch_size, shuffle=False,
                    drop_last=True, metrics=["accuracy"])
    rows = 1234 - 1234 % batch_size
    assert cut["accuracy"][0] == dn.Accuracy()(model.predict(X[:rows]), labels[:rows])


@pytest.mark.parametrize("optimizer", [lambda: dn.SGD(0.1), lambda: dn.SGD(0.05, momentum=0.9),
                                       lambda: dn.Adam(0.01), lambda: dn.LBFGS()])
def test_metrics_change_nothing_in_the_training(optimizer):
    X, labels = blobs()
    dropout = () if optimizer().full_batch else (0.2,)
    plain, measured = (classifier(0, dn.BatchNorm1d(16), *map(dn.Dropout, dropout)) for _ in range(2))
    kwargs = dict(loss=dn.CrossEntropyLoss(), epochs=4, batch_size=16, validation_data=blobs(40, 1))
    a = plain.fit(X, labels, optimizer=optimizer(), **kwargs)
    b = measured.fit(X, labels, optimizer=optimizer(), metrics=["accuracy"], **kwargs)
    assert_array_equal(a.loss, b.loss)
    assert_array_equal(a.val_loss, b.val_loss)
    assert all(np.array_equal(x, y) for x, y in zip(snapshot(plain), snapshot(measured)))
    assert plain.rng.bit_generator.state == measured.rng.bit_generator.state


def test_validation_metrics_are_evaluate_s_after_each_epoch():
    X, labels = blobs()
    X_val, y_val = blobs(50, 2)
    w_val = np.random.default_rng(3).uniform(0, 2, 50)
    seen = []

    class Evaluate(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.evaluate(X_val, y_val, dn.CrossEntropyLoss(), w_val,
                                            metrics=["accuracy", dn.Accuracy(top_k=2, name="m")]))

    history = classifier(0, dn.Dropout(0.3)).fit(
        X, labels, optimizer=dn.Adam(0.01), loss=dn.CrossEntropyLoss(), epochs=3,
        validation_data=(X_val, y_val, w_val), metrics=["accuracy", dn.Accuracy(top_k=2, name="m")],
        callbacks=[Evaluate()])
    assert list(history.logs()) == ["loss", "accuracy", "m", "val_loss", "val_accuracy", "val_m"]
    assert_array_equal(history.val_loss, [s["loss"] for s in seen])
    assert_array_equal(history["val_accuracy"], [s["accuracy"] for s in seen])
    assert_array_equal(history["val_m"], [s["m"] for s in seen])
    assert len(set(history["val_accuracy"])) > 1


def test_evaluate_with_metrics_is_a_dict_of_the_same_predictions():
    metrics = pytest.importorskip("sklearn.metrics")
    X, labels = blobs()
    model = classifier()
    model.fit(X, labels, optimizer=dn.Adam(0.01), loss=dn.CrossEntropyLoss(), epochs=5)
    loss = dn.CrossEntropyLoss()
    got = model.evaluate(X, labels, loss, metrics=["accuracy", dn.Accuracy(top_k=2)])
    assert list(got) == ["loss", "accuracy", "top2_accuracy"]
    assert got["loss"] == model.evaluate(X, labels, loss)
    Y = model.predict(X)
    assert got["accuracy"] == metrics.accuracy_score(labels, Y.argmax(1))
    assert got["top2_accuracy"] == metrics.top_k_accuracy_score(labels, Y, k=2)


def test_a_metric_given_to_fit_is_copied_never_changed():
    X, labels = blobs()
    mine = dn.Accuracy()
    mine.update(np.eye(3), np.arange(3))
    classifier().fit(X, labels, loss=dn.CrossEntropyLoss(), epochs=2, metrics=[mine],
                     validation_data=(X, labels))
    classifier().evaluate(X, labels, dn.CrossEntropyLoss(), metrics=[mine])
    assert mine.result() == 1.0


@pytest.mark.parametrize("loss, outputs, targets, want", [
    (dn.CrossEntropyLoss(), 3, "labels", dn.Accuracy()),
    (dn.CrossEntropyLoss(ignore_index=-1), 3, "labels", dn.Accuracy(ignore_index=-1)),
    (dn.BCEWithLogitsLoss(), 3, "multilabel", dn.Accuracy(threshold=0.0)),
    (dn.BCELoss(), 1, "binary", dn.Accuracy(threshold=0.5)),
    (dn.MSELoss(), 1, "binary", dn.Accuracy(threshold=0.5)),
    (dn.MSELoss(), 3, "onehot", dn.Accuracy()),
    (dn.HuberLoss(), 3, "onehot", dn.Accuracy()),
])
def test_accuracy_by_name_is_what_the_loss_s_outputs_mean(loss, outputs, targets, want):
    r = np.random.default_rng(8)
    X = r.standard_normal((40, 5))
    labels = r.integers(0, 3, 40)
    y = {"labels": labels, "multilabel": (r.random((40, 3)) > 0.5).astype(float),
         "binary": (labels > 0).astype(float), "onehot": np.eye(3)[labels]}[targets]
    last = (dn.Sigmoid(),) if isinstance(loss, dn.BCELoss) else ()
    model = dn.Sequential(dn.Dense(5, outputs), *last, seed=0)
    got = model.evaluate(X, y, loss, metrics=["accuracy"])["accuracy"]
    target = loss.target(y, outputs, np.float64)
    assert repr(loss.accuracy(outputs)) == repr(want)
    assert got == want(model.predict(X), target)
    # the same outputs and targets, by F1, precision and recall
    counted = model.evaluate(X, y, loss, metrics=["f1", "precision", "recall"])
    for name, make in (("f1", dn.F1Score), ("precision", dn.Precision), ("recall", dn.Recall)):
        metric = make.like(want)
        assert type(metric) is make
        assert repr(metric) == repr(want).replace("Accuracy", make.__name__)
        assert counted[name] == metric(model.predict(X), target)


def test_the_tutorial_s_network_classifies_its_four_people():
    model = dn.tutorial.network(dn.tutorial.initial_params(0))
    history = model.fit(dn.tutorial.X, dn.tutorial.y, epochs=1000, batch_size=1, shuffle=False,
                        metrics=["accuracy"])
    assert history["accuracy"][-1] == 1.0
    assert history["accuracy"][0] < 1.0


@pytest.mark.parametrize("name", ["accuracy", "auc", "f1", "precision", "recall"])
def test_poisson_has_no_accuracy(name):
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    with pytest.raises(ValueError, match=rf"fit: metric '{name}': PoissonNLLLoss predicts log-rates of co"):
        model.fit(np.ones((4, 2)), np.ones(4), loss=dn.PoissonNLLLoss(), metrics=[name])
    assert model.evaluate(np.ones((4, 2)), np.ones(4), dn.PoissonNLLLoss(), metrics=["mae"])["mae"] >= 0


def test_ignored_labels_are_left_out_of_fit_s_accuracy():
    X, labels = blobs()
    ignored = labels.copy()
    ignored[::4] = -1
    loss = dn.CrossEntropyLoss(ignore_index=-1)
    model = classifier()
    history = model.fit(X, ignored, loss=loss, epochs=1, batch_size=len(X), metrics=["accuracy"],
                        optimizer=dn.SGD(1e-12))
    kept = ignored != -1
    assert history["accuracy"][0] == pytest.approx(np.mean(model.predict(X).argmax(1)[kept] == labels[kept]),
                                                   rel=1e-15)


def test_a_full_batch_optimiser_s_metrics_are_its_iterates():
    X, labels = blobs()
    model = classifier()
    seen = []

    class Evaluate(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.model.evaluate(X, labels, dn.CrossEntropyLoss(), metrics=["accuracy"]), logs))

    model.fit(X, labels, optimizer=dn.LBFGS(), loss=dn.CrossEntropyLoss(), epochs=15, metrics=["accuracy"],
              callbacks=[Evaluate()])
    for evaluated, logs in seen:
        assert logs["loss"] == pytest.approx(evaluated["loss"], rel=1e-12)
        assert logs["accuracy"] == evaluated["accuracy"]
    assert len({logs["accuracy"] for _, logs in seen}) > 2


def test_a_full_batch_iterate_is_scored_even_when_its_optimiser_last_looked_elsewhere():
    """An optimiser may evaluate other points after its iterate (a line search): the metrics
    are still the iterate's."""

    X, labels = blobs()
    seen = []

    class Evaluate(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["accuracy"], self.model.evaluate(X, labels, dn.CrossEntropyLoss(),
                                                                metrics=["accuracy"])["accuracy"]))

    classifier().fit(X, labels, optimizer=LookAround(0.5), loss=dn.CrossEntropyLoss(), epochs=6,
                     metrics=["accuracy"], callbacks=[Evaluate()])
    assert [logged for logged, _ in seen] == [evaluated for _, evaluated in seen]
    assert len({logged for logged, _ in seen}) > 1


def test_sparse_rows_and_float32_models_are_scored_alike():
    sparse = pytest.importorskip("scipy.sparse")
    X, labels = blobs()
    kwargs = dict(loss=dn.CrossEntropyLoss(), epochs=2, batch_size=16, shuffle=False, metrics=["accuracy"])
    dense = classifier().fit(X, labels, optimizer=dn.Adam(0.01), **kwargs)
    rows = classifier().fit(sparse.csr_array(X), labels, optimizer=dn.Adam(0.01), **kwargs)
    assert_allclose(rows["accuracy"], dense["accuracy"], atol=1 / len(X) + 1e-12)
    single = dn.Sequential(dn.Dense(5, 16), dn.ReLU(), dn.Dense(16, 3), seed=0, dtype=np.float32)
    assert 0 < single.fit(X, labels, optimizer=dn.Adam(0.01), **kwargs)["accuracy"][-1] <= 1


@pytest.mark.parametrize("metrics, error, match", [
    ("accuracy", TypeError, "metrics must be a list of metrics"),
    (["acc"], ValueError, r"unknown metric 'acc'; the names are \['accuracy', 'auc', 'f1', 'mae', 'mse', "
                          r"'precision', 'r2', 'recall', 'rmse'\]"),
    ([dn.AUC()], ValueError, r"fit: metric AUC\(\) cannot score the targets CrossEntropyLoss\(\) takes"),
    ([len], TypeError, "a metric must be a name such as 'accuracy' or a densenet Metric"),
    (["accuracy", dn.Accuracy()], ValueError, "metric name 'accuracy' is named twice"),
    ([dn.MeanSquaredError(name="loss")], ValueError, "metric name 'loss' is a name fit records for itself"),
    ([dn.MeanSquaredError(name="val_mse")], ValueError, "metric name 'val_mse' is a name fit records"),
    (["mae"], ValueError, r"fit: metric MeanAbsoluteError\(\) cannot score the targets CrossEntropyLoss\(\) "
                          r"takes \(shape \(120,\), dtype int"),
    ([dn.Accuracy(threshold=0.0)], ValueError, "cannot score the targets"),
])
def test_bad_metrics_are_refused_before_any_change(metrics, error, match):
    X, labels = blobs()
    model = classifier()
    before = snapshot(model), model.rng.bit_generator.state
    with pytest.raises(error, match=match):
        model.fit(X, labels, loss=dn.CrossEntropyLoss(), metrics=metrics, epochs=2)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], snapshot(model)))
    assert before[1] == model.rng.bit_generator.state
    with pytest.raises(error, match=match.replace("fit:", "evaluate:")):
        model.evaluate(X, labels, dn.CrossEntropyLoss(), metrics=metrics)


class CodedError(ValueError):
    """An exception of another library's kind: its constructor takes more than a message."""

    def __init__(self, code, text):
        super().__init__(f"error {code}: {text}")


class Picky(dn.MeanSquaredError):
    """A metric of one's own whose check refuses every target with a ``CodedError``."""

    def check(self, y_pred, y_true):
        raise CodedError(7, "no targets for me")


def test_a_metric_s_own_error_is_named_even_when_its_type_takes_more_than_a_message():
    """Not a TypeError about the error's constructor, raised while naming it: the refusal,
    named, as the ``ValueError`` the metric's error is."""
    X, labels = blobs()
    model = classifier()
    refused = r"fit: metric Picky\(\) cannot score the targets .*: error 7: no targets for me"
    with pytest.raises(ValueError, match=refused):
        model.fit(X, labels, loss=dn.CrossEntropyLoss(), metrics=[Picky()], epochs=2)


def test_an_ignore_index_the_metric_does_not_know_is_refused_in_the_validation_labels():
    X, labels = blobs()
    val = labels.copy()
    val[0] = -1
    with pytest.raises(ValueError, match=r"cannot score the targets .*class label -1 in y_true is outside"):
        classifier().fit(X, labels, loss=dn.CrossEntropyLoss(ignore_index=-1), metrics=[dn.Accuracy()],
                         validation_data=(X, val))


def test_history_by_name():
    X, labels = blobs()
    history = classifier().fit(X, labels, loss=dn.CrossEntropyLoss(), epochs=2, metrics=["accuracy"])
    assert history["accuracy"] is history.metrics["accuracy"]
    assert history["loss"] is history.loss
    with pytest.raises(KeyError, match=r"History has no 'val_accuracy'; it recorded \['loss', 'accuracy'\]"):
        history["val_accuracy"]


# -- monitors ---------------------------------------------------------------------------------------


def test_fit_tells_the_callbacks_which_names_are_better_higher():
    X, labels = blobs()
    seen = {}

    class Look(dn.Callback):
        def on_train_begin(self, logs=None):
            seen.update(self.params)

    onehot = np.eye(3)[labels]
    classifier().fit(X, onehot, metrics=["accuracy", "mse", "r2", "f1", "mae", "precision", "recall",
                                         dn.AUC(name="area")],
                     validation_data=(X, onehot), callbacks=[Look()])
    names = ("accuracy", "mse", "r2", "f1", "mae", "precision", "recall", "area")
    assert seen["metrics"] == ("loss", *names, "val_loss", *(f"val_{name}" for name in names))
    better = {"accuracy", "r2", "f1", "precision", "recall", "area"}
    assert set(seen["greater_is_better"]) == better | {f"val_{name}" for name in better}


@pytest.mark.parametrize("mode", ["auto", "max"])
def test_early_stopping_on_accuracy_keeps_the_most_accurate_weights(mode):
    X, labels = blobs(200)
    Xv, yv = blobs(60, 5)
    model = classifier()
    kept = []

    class Keep(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            kept.append((logs["val_accuracy"], self.model.params.copy()))

    stop = dn.EarlyStopping(monitor="val_accuracy", patience=3, mode=mode)
    history = model.fit(X, labels, optimizer=dn.SGD(0.5), loss=dn.CrossEntropyLoss(), epochs=300,
                        metrics=["accuracy"], validation_data=(Xv, yv), callbacks=[Keep(), stop])
    best = int(np.argmax(history["val_accuracy"]))  # the first of the highest
    assert history.stopped_early
    assert stop.best_epoch == best
    assert stop.best == max(history["val_accuracy"])
    assert history.epochs == best + 4
    assert_array_equal(model.params, kept[best][1])


def test_early_stopping_in_min_mode_on_an_error():
    stop = dn.EarlyStopping(monitor="val_mae", patience=1, mode="auto")
    stop.set_params({"metrics": ("loss", "mae", "val_loss", "val_mae"), "greater_is_better": ()})
    stop.model = dn.Sequential(dn.Dense(1, 1), seed=0)
    stop.on_train_begin()
    assert stop.best == math.inf
    assert not stop.on_epoch_end(0, {"val_mae": 0.5})
    assert stop.on_epoch_end(1, {"val_mae": 0.6})
    maximise = dn.EarlyStopping(monitor="val_mae", patience=1, mode="max")
    maximise.set_params(stop.params)
    maximise.model = stop.model
    maximise.on_train_begin()
    assert maximise.best == -math.inf
    assert not maximise.on_epoch_end(0, {"val_mae": 0.5})
    assert not maximise.on_epoch_end(1, {"val_mae": 0.6})
    by_a_tenth = dn.EarlyStopping(monitor="val_mae", patience=1, mode="max", min_delta=0.1)
    by_a_tenth.set_params(stop.params)
    by_a_tenth.model = stop.model
    by_a_tenth.on_train_begin()
    assert not by_a_tenth.on_epoch_end(0, {"val_mae": 0.5})
    assert by_a_tenth.on_epoch_end(1, {"val_mae": 0.55})
    assert by_a_tenth.best == 0.5  # not by more than 0.1


def test_early_stopping_restores_nothing_when_no_epoch_improved():
    """A metric that is NaN every epoch (every validation label ignored) is never an
    improvement: the weights stay as trained, none is restored."""
    stop = dn.EarlyStopping(monitor="val_accuracy", patience=2)
    stop.set_params({"metrics": ("loss", "val_loss", "val_accuracy"), "greater_is_better": ("val_accuracy",)})
    stop.model = dn.Sequential(dn.Dense(2, 2), seed=0)
    trained = stop.model.params.copy()
    stop.on_train_begin()
    assert not stop.on_epoch_end(0, {"val_accuracy": math.nan})
    assert stop.on_epoch_end(1, {"val_accuracy": math.nan})
    assert stop.best_epoch == -1
    stop.on_train_end()
    assert_array_equal(stop.model.params, trained)


def test_a_monitor_fit_does_not_record_is_refused_before_any_step():
    X, labels = blobs()
    model = classifier()
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"EarlyStopping monitors 'val_accuracy', but fit records only "
                                         r"\['loss', 'accuracy'\]; pass validation_data"):
        model.fit(X, labels, loss=dn.CrossEntropyLoss(), metrics=["accuracy"],
                  callbacks=[dn.EarlyStopping(monitor="val_accuracy")])
    with pytest.raises(ValueError, match=r"monitors 'accuracy', but fit records only \['loss'\]; pass the "
                                         r"metric to fit\(metrics=\[\.\.\.\]\)"):
        model.fit(X, labels, loss=dn.CrossEntropyLoss(), callbacks=[dn.EarlyStopping(monitor="accuracy")])
    assert_array_equal(model.params, before)


def test_a_checkpoint_keeps_the_most_accurate_model_and_names_files_by_metrics(tmp_path):
    X, labels = blobs(200)
    Xv, yv = blobs(60, 5)
    model = classifier()
    best = dn.ModelCheckpoint(tmp_path / "best.npz", monitor="val_accuracy", save_best_only=True)
    named = dn.ModelCheckpoint(tmp_path / "run-{epoch:02d}-{val_accuracy:.3f}.npz", every=5)
    history = model.fit(X, labels, optimizer=dn.SGD(0.5), loss=dn.CrossEntropyLoss(), epochs=20,
                        metrics=["accuracy"], validation_data=(Xv, yv), callbacks=[best, named])
    top = int(np.argmax(history["val_accuracy"]))
    assert best.best == history["val_accuracy"][top]
    assert best.best_epoch == top + 1
    assert dn.load(tmp_path / "best.npz").evaluate(Xv, yv, dn.CrossEntropyLoss(),
                                                   metrics=["accuracy"])["accuracy"] == best.best
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["best.npz"] + [f"run-{e:02d}-{history['val_accuracy'][e - 1]:.3f}.npz" for e in (5, 10, 15, 20)])
    lowest = dn.ModelCheckpoint(tmp_path / "low.npz", monitor="val_accuracy", save_best_only=True, mode="min")
    history = model.fit(X, labels, optimizer=dn.SGD(0.5), loss=dn.CrossEntropyLoss(), epochs=5,
                        metrics=["accuracy"], validation_data=(Xv, yv), callbacks=[lowest])
    assert lowest.best == min(history["val_accuracy"])


def test_a_plateau_schedule_in_max_mode_works_outside_fit_too():
    """Called by hand (as its docstring's example), a mode given is the mode from the start."""
    sgd = dn.SGD(1.0)
    plateau = dn.ReduceLROnPlateau(sgd, monitor="accuracy", mode="max", factor=0.5, patience=0)
    assert (plateau.sense, plateau.best) == ("max", -math.inf)
    for epoch, accuracy in enumerate([0.5, 0.6, 0.55]):
        plateau.on_epoch_end(epoch, {"accuracy": accuracy})
    assert sgd.lr == 0.5
    assert plateau.best == 0.6


def test_a_plateau_schedule_on_accuracy_cuts_the_rate_when_it_stops_rising():
    sgd = dn.SGD(1.0)
    plateau = dn.ReduceLROnPlateau(sgd, monitor="val_accuracy", factor=0.5, patience=0, threshold=0.0)
    plateau.set_params({"metrics": ("loss", "val_loss", "val_accuracy"),
                        "greater_is_better": ("val_accuracy",)})
    plateau.on_train_begin()
    assert plateau.sense == "max"
    assert plateau.best == -math.inf
    for epoch, accuracy in enumerate([0.5, 0.6, 0.6, 0.7, 0.65]):
        plateau.on_epoch_end(epoch, {"val_accuracy": accuracy})
    assert sgd.lr == 0.25
    assert plateau.best == 0.7
    state = plateau.state_dict()
    again = dn.ReduceLROnPlateau(dn.SGD(1.0), monitor="val_accuracy", mode="max")
    again.load_state_dict(state)
    assert again.best == 0.7
    fresh = dn.ReduceLROnPlateau(dn.SGD(1.0), monitor="val_accuracy", mode="max")
    fresh.load_state_dict(dn.ReduceLROnPlateau(dn.SGD(1.0), monitor="loss").state_dict())  # inf: none seen
    fresh.set_params(plateau.params)
    fresh.on_train_begin()
    assert fresh.best == -math.inf


@pytest.mark.parametrize("top_k", [3, 4])
def test_a_top_k_that_takes_in_every_class_is_warned_of(top_k):
    """Every label is then among the top k: every sample is right (scikit-learn warns too)."""
    scores, labels = np.array([[0.1, 0.5, 0.4], [0.9, 0.0, 0.1]]), np.array([0, 2])
    with pytest.warns(UserWarning, match=rf"Accuracy: top_k={top_k} with 3 classes: every label is among the "
                                         rf"top {top_k}, and every sample right"):
        assert dn.Accuracy(top_k=top_k)(scores, labels) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dn.Accuracy(top_k=2)(scores, labels) == 0.5


@pytest.mark.parametrize("metric, target", [
    (dn.Accuracy(), np.array([0, 1, 1])), (dn.Accuracy(), np.eye(2)[[0, 1, 1]]),
    (dn.Accuracy(threshold=0.5), np.ones((3, 2))), (dn.MeanAbsoluteError(), np.zeros((3, 2))),
    (dn.MeanSquaredError(), np.zeros((3, 2))), (dn.R2Score(), np.arange(6.0).reshape(3, 2)),
    (dn.AUC(), np.eye(2)[[0, 1, 1]]), (dn.F1Score(), np.array([0, 1, 1])),
    (dn.Precision(), np.array([0, 1, 1])), (dn.Recall(), np.array([0, 1, 1])),
], ids=lambda x: type(x).__name__ if isinstance(x, dn.Metric) else str(np.ndim(x)))
def test_a_metric_names_itself_when_it_refuses_non_finite_arrays(metric, target):
    name = type(metric).__name__
    y_pred = np.linspace(0.1, 0.9, 6).reshape(3, 2)
    metric(y_pred, target)
    with pytest.raises(ValueError, match=rf"^{name}: y_pred holds 1 non-finite value"):
        metric(np.where(y_pred > 0.8, np.nan, y_pred), target)
    if target.ndim == 2:
        with pytest.raises(ValueError, match=rf"^{name}: y_true holds 1 non-finite value"):
            metric(y_pred, np.where(y_pred > 0.8, np.inf, target))


#: the regression metrics by name, each made, and what it gives of finite outputs whose
#: squared errors overflow float64: its arithmetic's value
OVERFLOWING = {"mse": (dn.MeanSquaredError, math.inf),
               "rmse": (lambda: dn.MeanSquaredError(squared=False), math.inf),
               "mae": (dn.MeanAbsoluteError, 1e200), "r2": (dn.R2Score, -math.inf)}


@pytest.mark.parametrize("name", OVERFLOWING)
def test_a_metric_too_large_for_float64_is_its_arithmetic_without_a_warning(name):
    """Finite outputs of 1e200 whose squared errors overflow: the metric's value as fit
    computes it (under its ``errstate``), from ``evaluate``, ``update`` and a call alike
    (warnings are errors here), as a loss's is (tests/test_losses.py)."""
    y_pred, y_true = np.full((4, 1), 1e200), np.array([[0.0], [1.0], [2.0], [3.0]])
    make, expected = OVERFLOWING[name]
    metric = make()
    assert metric(y_pred, y_true) == expected
    metric.update(y_pred, y_true)
    assert metric.result() == expected
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    model.params[...] = 0.0
    model[0].b[...] = 1e200
    assert model.evaluate(np.zeros((4, 1)), y_true, metrics=[name])[name] == expected


@pytest.mark.parametrize("given, dtype", [(np.ones((2, 1), np.float32), np.float32),
                                          (np.ones((2, 1), np.float64), np.float64),
                                          (np.ones((2, 1), np.int64), np.float64), ([[1], [0]], np.float64)])
def test_a_metric_takes_outputs_as_floats_and_keeps_float32(given, dtype):
    from densenet.metric import outputs

    assert outputs(given, "Metric").dtype == dtype
