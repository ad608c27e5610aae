"""The scikit-learn estimators: scikit-learn's own checks, pipelines, searches, joblib."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from densenet.sklearn import DenseNetClassifier, DenseNetRegressor  # noqa: E402

#: Checks that cannot apply, with the reason (none is skipped silently).
EXPECTED_FAILURES: dict[str, str] = {}


def expected_failures(estimator):
    return EXPECTED_FAILURES


@parametrize_with_checks([DenseNetClassifier(max_iter=100), DenseNetRegressor(max_iter=100)],
                         expected_failed_checks=expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def blobs(n=120, seed=0):
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n, centers=[(-3, 0), (3, 0), (0, 4)], random_state=seed)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def test_the_classifier_learns_and_reports_what_it_did():
    import densenet as dn

    X, y = blobs()
    labels = np.array(["red", "green", "blue"])[y]  # any labels: they are encoded
    clf = DenseNetClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    clf.fit(X, labels)
    assert clf.score(X, labels) > 0.95
    assert clf.classes_.tolist() == ["blue", "green", "red"] and clf.n_features_in_ == 2
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert isinstance(clf.model_, dn.Sequential) and clf.model_.out_features == 3
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_the_same_random_state_gives_bit_identical_results():
    X, y = blobs()
    a = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=3).fit(X, y)
    b = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=3).fit(X, y)
    c = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=4).fit(X, y)
    assert_array_equal(a.model_.params, b.model_.params)
    assert not np.array_equal(a.model_.params, c.model_.params)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "identity"])
def test_every_solver_and_activation_fits(solver, activation):
    X, y = blobs(90)
    clf = DenseNetClassifier(hidden_layer_sizes=(12,), activation=activation, solver=solver,
                             learning_rate_init=0.01, max_iter=150, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9


def test_early_stopping_holds_out_a_stratified_validation_set():
    X, y = blobs(200)
    clf = DenseNetClassifier(hidden_layer_sizes=(16,), early_stopping=True, validation_fraction=0.2,
                             n_iter_no_change=3, learning_rate_init=0.05, max_iter=500, random_state=0)
    clf.fit(X, y)
    assert clf.n_iter_ < 500 and clf.score(X, y) > 0.95


def test_partial_fit_trains_one_epoch_at_a_time():
    X, y = blobs()
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for _ in range(20):
        clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    assert clf.n_iter_ == 20 and clf.classes_.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="X has 3 features, but DenseNetClassifier is expecting 2"):
        clf.partial_fit(np.ones((4, 3)), y[:4])
    reg = DenseNetRegressor(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        reg.partial_fit(X, X[:, :1] * 2)
    assert reg.predict(X).shape == (len(X), 1) and reg.n_iter_ == 3


def test_the_regressor_answers_in_the_shape_of_its_targets():
    X, _ = blobs()
    one = DenseNetRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, X[:, 0])
    two = DenseNetRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, X)
    assert one.predict(X).shape == (len(X),) and two.predict(X).shape == X.shape


def test_float32_estimators_train_in_float32():
    X, y = blobs()
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=20, dtype="float32", random_state=0).fit(X, y)
    assert clf.model_.dtype == np.float32 and clf.model_.params.dtype == np.float32


def test_pipelines_cross_validation_and_a_grid_search_in_worker_processes():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs(150)
    net = DenseNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=60, random_state=0)
    pipe = make_pipeline(StandardScaler(), net)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9
    search = GridSearchCV(pipe, {"densenetclassifier__hidden_layer_sizes": [(4,), (8,)],
                                 "densenetclassifier__alpha": [0.0, 1e-3]}, cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_score_ > 0.9
    # the worker processes' results are what the same fits give here (bit-identical models)
    best = search.best_estimator_
    again = clone(pipe).set_params(**search.best_params_).fit(X, y)
    assert_array_equal(best[-1].model_.params, again[-1].model_.params)


@pytest.mark.parametrize("params, message", [
    (dict(activation="softplus"), "activation must be one of"),
    (dict(solver="rmsprop"), "solver must be one of"),
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes must be positive integers"),
    (dict(max_iter=0), "max_iter must be an integer >= 1"),
    (dict(early_stopping=True, validation_fraction=1.5), "validation_fraction must be in"),
])
def test_bad_parameters_are_named_at_fit(params, message):
    X, y = blobs(30)
    clf = DenseNetClassifier(**params)  # scikit-learn's rule: constructors only store
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
