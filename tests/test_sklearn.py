"""The scikit-learn estimators: scikit-learn's own checks, pipelines, searches, joblib."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import estimator_checks_generator  # noqa: E402

from densenet.sklearn import DenseNetClassifier, DenseNetRegressor  # noqa: E402

#: Most fits here are short on purpose; the tests of the warning ask for it themselves.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: Checks that cannot apply, with the reason (none is skipped silently).
EXPECTED_FAILURES: dict[str, str] = {}

#: scikit-learn's checks of each estimator, as a list: ``parametrize_with_checks`` gives
#: pytest a generator up to scikit-learn 1.7 (the last release for Python 3.10), which
#: pytest 9 deprecates, an error under the suite's warning filters
CHECKS = [pair for estimator in (DenseNetClassifier(max_iter=100), DenseNetRegressor(max_iter=100))
          for pair in estimator_checks_generator(estimator, expected_failed_checks=EXPECTED_FAILURES,
                                                 mark="xfail")]


def check_id(value):
    """``DenseNetClassifier`` and ``check_fit2d_1sample`` rather than ``estimator0``, ``check0``."""
    function = getattr(value, "func", value)
    return getattr(function, "__name__", type(value).__name__)


@pytest.mark.parametrize("estimator, check", CHECKS, ids=check_id)
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
    assert clf.classes_.tolist() == ["blue", "green", "red"]
    assert clf.n_features_in_ == 2
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert isinstance(clf.model_, dn.Sequential)
    assert clf.model_.out_features == 3
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


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
    assert clf.n_iter_ < 500
    assert clf.score(X, y) > 0.95


def test_partial_fit_trains_one_epoch_at_a_time():
    X, y = blobs()
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for _ in range(20):
        clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    assert clf.n_iter_ == 1
    assert len(clf.loss_curve_) == 20
    assert clf.classes_.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="X has 3 features, but DenseNetClassifier is expecting 2"):
        clf.partial_fit(np.ones((4, 3)), y[:4])
    reg = DenseNetRegressor(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        reg.partial_fit(X, X[:, :1] * 2)
    assert reg.predict(X).shape == (len(X), 1)
    assert len(reg.loss_curve_) == 3


def test_the_regressor_answers_in_the_shape_of_its_targets():
    X, _ = blobs()
    one = DenseNetRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, X[:, 0])
    two = DenseNetRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, X)
    assert one.predict(X).shape == (len(X),)
    assert two.predict(X).shape == X.shape


def test_float32_estimators_train_in_float32():
    X, y = blobs()
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=20, dtype="float32", random_state=0).fit(X, y)
    assert clf.model_.dtype == np.float32
    assert clf.model_.params.dtype == np.float32


def test_pipelines_cross_validation_and_a_grid_search_in_worker_processes():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs(150)
    net = DenseNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=60, random_state=0)
    pipe = make_pipeline(StandardScaler(), net)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.9
    search = GridSearchCV(pipe, {"densenetclassifier__hidden_layer_sizes": [(4,), (8,)],
                                 "densenetclassifier__alpha": [0.0, 1e-3]}, cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_score_ > 0.9
    # the worker processes' results are what the same fits give here (bit-identical models)
    best = search.best_estimator_
    again = clone(pipe).set_params(**search.best_params_).fit(X, y)
    assert_array_equal(best[-1].model_.params, again[-1].model_.params)


def _partial_fit(estimator, X, y):
    return estimator.partial_fit(X, y)


def test_fitted_estimators_go_on_training_in_worker_processes():
    """joblib sends a worker an estimator's large arrays (its optimiser's state among them)
    as read-only memory maps; ``partial_fit`` there goes on as it would here."""
    joblib = pytest.importorskip("joblib")
    X, y = blobs(150)
    nets = [DenseNetClassifier(hidden_layer_sizes=(8,), solver=solver, momentum=0.9, max_iter=5,
                               random_state=seed).fit(X, y) for seed, solver in ((0, "adam"), (1, "sgd"))]
    # (max_nbytes=1: every array goes by a memory map, not those over 1 MB alone)
    back = joblib.Parallel(n_jobs=2, max_nbytes=1)(joblib.delayed(_partial_fit)(net, X, y) for net in nets)
    for net, trained in zip(nets, back):
        net.partial_fit(X, y)
        assert_array_equal(trained.model_.params, net.model_.params)


def _fitted_wide(seed, X, y):
    return DenseNetClassifier(hidden_layer_sizes=(256,), max_iter=3, random_state=seed).fit(X, y)


def test_worker_processes_train_the_models_of_the_same_thread_count_here():
    """A product of inner size 400 (the inputs) is summed in another order on one BLAS
    thread than on two (OpenBLAS), so the README's way to the workers' models here:
    their one thread each, and one here."""
    import densenet as dn

    joblib = pytest.importorskip("joblib")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 400)), rng.integers(0, 3, 300)
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        there = joblib.Parallel(n_jobs=2)(joblib.delayed(_fitted_wide)(seed, X, y) for seed in (0, 1))
    with dn.threads(1):
        here = [_fitted_wide(seed, X, y) for seed in (0, 1)]
    for a, b in zip(there, here):
        assert_array_equal(a.model_.params, b.model_.params)


@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_the_shared_parameters_default_to_scikit_learn_s_mlp(ours, theirs):
    import sklearn.neural_network

    import densenet.sklearn

    mine = getattr(densenet.sklearn, ours)().get_params()
    reference = getattr(sklearn.neural_network, theirs)().get_params()
    shared = set(mine) & set(reference)
    # every parameter but the dtype (and the classifier's class_weight, which the MLP lacks) is the MLP's
    assert shared == set(mine) - {"dtype", "class_weight"}
    assert {name: mine[name] for name in shared} == {name: reference[name] for name in shared}


@pytest.mark.parametrize("solver, kind, settings", [  # (alpha 0.003 over one batch of 40 rows)
    ("adam", "Adam", dict(lr=0.02, weight_decay=0.003 / 40, betas=(0.9, 0.999))),
    ("sgd", "SGD", dict(lr=0.02, weight_decay=0.003 / 40, momentum=0.9, nesterov=True)),
    # the MLP's tol and max_fun
    ("lbfgs", "LBFGS", dict(tolerance_grad=1e-4, max_eval=15000, weight_decay=0.003 / 40)),
])
def test_the_solver_is_the_optimiser(solver, kind, settings):
    X, y = blobs(40)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), solver=solver, learning_rate_init=0.02, alpha=0.003,
                             max_iter=2, random_state=0).fit(X, y)
    assert type(clf.optimizer_).__name__ == kind
    assert {name: getattr(clf.optimizer_, name) for name in settings} == settings
    # alpha decays the weights (coefs_, views into the parameters), not the biases, as the MLP's
    clf.model_.params[...] = 1.0
    for W in clf.coefs_:
        W[...] = 0.0
    np.testing.assert_array_equal(clf.optimizer_.decay_mask, clf.model_.params == 0.0)


@pytest.mark.parametrize("activation, init", [("relu", "he_normal"), ("logistic", "glorot_uniform"),
                                              ("tanh", "glorot_uniform"), ("identity", "glorot_uniform")])
def test_the_weights_start_as_the_activation_wants(activation, init):
    """He-normal weights for ReLU (standard deviation sqrt(2 / fan_in)), Glorot-uniform
    ones for the others (within sqrt(6 / (fan_in + fan_out))): read after one step of
    a learning rate too small to move them."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 50)), rng.integers(0, 2, 20)
    clf = DenseNetClassifier(hidden_layer_sizes=(200,), activation=activation, solver="sgd",
                             learning_rate_init=1e-12, batch_size=20, max_iter=1, random_state=0).fit(X, y)
    W = clf.model_[0].W
    he_std, glorot_limit = np.sqrt(2 / 50), np.sqrt(6 / 250)
    if init == "he_normal":
        assert abs(W.std() / he_std - 1) < 0.05
        assert np.abs(W).max() > 2 * glorot_limit  # normal tails
    else:
        assert np.abs(W).max() <= glorot_limit
        assert abs(W.std() / (glorot_limit / np.sqrt(3)) - 1) < 0.05


def test_the_smallest_network_and_training_are_allowed():
    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(1,), max_iter=1, random_state=0).fit(X, y)
    assert clf.n_iter_ == 1
    assert clf.model_[0].out_features == 1


@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_partial_fit_is_there_for_the_stochastic_solvers_alone(ours, theirs):
    """As the MLPClassifier's: L-BFGS minimises the whole objective, there is no epoch of it
    to take, and what asks ``hasattr(estimator, "partial_fit")`` (incremental wrappers)
    learns so. (scikit-learn 1.9's MLPRegressor means to, but its check is never called.)"""
    import sklearn.neural_network

    import densenet.sklearn

    compared = [getattr(sklearn.neural_network, theirs)] if theirs == "MLPClassifier" else []
    for estimator in (getattr(densenet.sklearn, ours), *compared):
        assert not hasattr(estimator(solver="lbfgs"), "partial_fit")
        assert hasattr(estimator(solver="sgd"), "partial_fit")
        assert hasattr(estimator(), "partial_fit")
        lbfgs = estimator(solver="lbfgs")
        with pytest.raises(AttributeError, match="partial_fit"):
            getattr(lbfgs, "partial_fit")  # noqa: B009 (the attribute's own lookup is what is tested)
        assert callable(lbfgs.set_params(solver="adam").partial_fit)


@pytest.mark.parametrize("estimator", [DenseNetClassifier, DenseNetRegressor])
def test_partial_fit_trains_on_every_row_even_with_early_stopping(estimator):
    X, y = blobs(40)
    extra = {"classes": [0, 1, 2]} if estimator is DenseNetClassifier else {}
    models = []
    for early_stopping in (False, True):
        est = estimator(hidden_layer_sizes=(4,), early_stopping=early_stopping, random_state=0)
        models.append(est.partial_fit(X, y, **extra).model_.params)
    assert_array_equal(models[0], models[1])


@pytest.mark.parametrize("estimator", [DenseNetClassifier, DenseNetRegressor])
def test_lbfgs_trains_on_every_row_even_with_early_stopping(estimator):
    """L-BFGS stops by its own tolerances and watches no validation score, so early
    stopping is nothing to it, as to the MLP's: no rows held out (they were, and left
    unused), nothing watched, and ``best_loss_`` the lowest of its ``loss_curve_``."""
    X, y = blobs(40)
    fits = [estimator(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, early_stopping=early_stopping,
                      random_state=0).fit(X, y) for early_stopping in (False, True)]
    assert_array_equal(fits[0].model_.params, fits[1].model_.params)
    for fitted in fits:
        assert fitted.t_ == fitted.n_iter_ * len(X)
        assert fitted.validation_scores_ is None
        assert fitted.best_validation_score_ is None
        assert fitted.best_loss_ == min(fitted.loss_curve_)


@pytest.mark.parametrize("n, held_out", [(3, False), (4, True)])
def test_early_stopping_holds_out_rows_from_four_samples_on(n, held_out):
    X, y = blobs(40)
    X, y = X[:n], y[:n]
    curves = [DenseNetClassifier(hidden_layer_sizes=(4,), early_stopping=early_stopping, max_iter=3,
                                 random_state=0).fit(X, y).loss_curve_ for early_stopping in (False, True)]
    assert (curves[0][0] != curves[1][0]) == held_out  # the first epoch's loss: over n or n - 1 rows


def fit_both(ours, theirs, X, y, **params):
    """Our estimator and scikit-learn's MLP fitted with the same parameters."""
    import warnings

    import sklearn.neural_network
    from sklearn.exceptions import ConvergenceWarning

    import densenet.sklearn

    mine = getattr(densenet.sklearn, ours)(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short fits, on purpose
        return mine, getattr(sklearn.neural_network, theirs)(**params).fit(X, y)


@pytest.mark.parametrize("solver, learning_rate, early_stopping", [
    ("adam", "constant", False), ("sgd", "constant", False), ("sgd", "adaptive", False),
    ("adam", "constant", True), ("sgd", "adaptive", True),
])
def test_training_stops_after_the_epochs_the_mlp_stops_after(solver, learning_rate, early_stopping):
    """No epoch improves by tol = 1e9: as scikit-learn's MLP, the fit stops after the first
    and n_iter_no_change + 1 more; with the "adaptive" rate it divides the rate by 5 instead,
    until the rate is at most 1e-6 (25 epochs from 1e-3)."""
    X, y = blobs(40)
    mine, reference = fit_both("DenseNetClassifier", "MLPClassifier", X, y, hidden_layer_sizes=(4,),
                               solver=solver, learning_rate=learning_rate, early_stopping=early_stopping,
                               tol=1e9, n_iter_no_change=3, max_iter=50, random_state=0)
    assert mine.n_iter_ == reference.n_iter_ == (25 if learning_rate == "adaptive" else 5)
    if solver == "sgd":  # (the MLP's Adam reports its bias-corrected step size there)
        assert mine.optimizer_.lr == pytest.approx(reference._optimizer.learning_rate, rel=1e-12)
    if early_stopping:
        assert len(mine.validation_scores_) == mine.n_iter_
        assert mine.best_validation_score_ == max(mine.validation_scores_)
    else:
        assert mine.validation_scores_ is None
        assert mine.best_validation_score_ is None


def test_a_validation_score_equal_to_the_best_plus_tol_counts_as_improving_as_the_mlp_s():
    """scikit-learn's MLP counts an epoch as not improving when its validation score is below
    the best plus ``tol``: with ``tol=0`` and a score that stays the same (a rate too small to
    move an accuracy), no epoch counts, and both fits run every epoch."""
    X, y = blobs(40)
    mine, reference = fit_both("DenseNetClassifier", "MLPClassifier", X, y, hidden_layer_sizes=(4,),
                               solver="sgd", learning_rate_init=1e-12, early_stopping=True, tol=0.0,
                               n_iter_no_change=2, max_iter=8, random_state=0)
    assert len(set(mine.validation_scores_)) == 1
    assert mine.n_iter_ == reference.n_iter_ == 8


@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_a_training_loss_equal_to_the_best_less_tol_counts_as_improving_as_the_mlp_s(ours, theirs):
    """The MLP counts an epoch as not improving when its loss is above the best less ``tol``:
    with ``tol=0`` and a loss that stays the same to the last bit (a rate too small to move
    a weight), no epoch counts, and both fits run every epoch."""
    X, y = blobs(40)
    if ours == "DenseNetRegressor":
        y = X @ np.array([1.0, -2.0])
    mine, reference = fit_both(ours, theirs, X, y, hidden_layer_sizes=(4,), solver="sgd", momentum=0.0,
                               learning_rate_init=1e-300, shuffle=False, batch_size=40, tol=0.0,
                               n_iter_no_change=2, max_iter=8, random_state=0)
    assert len(set(mine.loss_curve_)) == 1
    assert mine.n_iter_ == reference.n_iter_ == 8


def _convergence_warnings(fit):
    """The ``ConvergenceWarning`` messages ``fit()`` gives (any other warning an error)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        warnings.simplefilter("always", ConvergenceWarning)
        fit()
    return [str(warning.message) for warning in caught]


@pytest.mark.parametrize("settings, warns", [
    (dict(solver="adam", max_iter=5, tol=0.0), True),  # the epochs run out
    (dict(solver="sgd", max_iter=5, tol=0.0, early_stopping=True), True),
    (dict(solver="sgd", max_iter=50, tol=1e9, n_iter_no_change=3), False),  # stops after 5
    (dict(solver="sgd", max_iter=5, tol=1e9, n_iter_no_change=3), False),  # stops at the last epoch
    (dict(solver="lbfgs", max_iter=5), True),  # the iterations run out
    (dict(solver="lbfgs", max_fun=5), True),  # the evaluations run out
    (dict(solver="lbfgs", max_iter=5000, tol=1e-2), False),  # converges
], ids=["adam", "early-stopping", "stopped", "stopped-at-max-iter", "lbfgs-max-iter", "lbfgs-max-fun",
        "lbfgs-converged"])
@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_a_fit_that_ends_before_it_converges_warns_as_the_mlp_s(ours, theirs, settings, warns):
    """A ConvergenceWarning when max_iter (or L-BFGS's max_fun) ran out before the stopping
    rule or the tolerance was met: what scikit-learn users filter, search over or act on."""
    import sklearn.neural_network

    import densenet.sklearn

    X, y = blobs(40)
    params = dict(hidden_layer_sizes=(4,), random_state=0, **settings)
    mine = _convergence_warnings(lambda: getattr(densenet.sklearn, ours)(**params).fit(X, y))
    reference = _convergence_warnings(lambda: getattr(sklearn.neural_network, theirs)(**params).fit(X, y))
    assert len(mine) == len(reference) == int(warns)
    if warns:
        assert mine[0].startswith(f"{ours}: ")
        limit = "max_fun=5" if "max_fun" in settings else f"max_iter={settings['max_iter']}"
        assert limit in mine[0]
        watched = ("L-BFGS" if settings["solver"] == "lbfgs" else
                   "validation score" if settings.get("early_stopping") else "training loss")
        assert watched in mine[0]


def test_a_warm_start_after_a_fit_the_rule_stopped_warns_when_it_runs_out():
    """The stopping rule's verdict is the last fit's: a warm start that runs its max_iter
    epochs out after a fit the rule stopped warns, as scikit-learn's MLP does."""
    import sklearn.neural_network

    X, y = blobs(40)
    counts = []
    for make in (DenseNetRegressor, sklearn.neural_network.MLPRegressor):
        reg = make(hidden_layer_sizes=(4,), tol=1e3, n_iter_no_change=1, max_iter=50, random_state=0)
        stopped = _convergence_warnings(lambda reg=reg: reg.fit(X, y))  # no epoch improves by 1e3
        reg.set_params(warm_start=True, tol=0.0, max_iter=2, n_iter_no_change=10)
        counts.append((len(stopped), len(_convergence_warnings(lambda reg=reg: reg.fit(X, y)))))
    assert counts[0] == counts[1] == (0, 1)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_the_convergence_warning_points_at_the_caller_s_line(solver):
    from sklearn.exceptions import ConvergenceWarning

    X, y = blobs(40)
    with pytest.warns(ConvergenceWarning) as caught:
        DenseNetClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0).fit(X, y)
    assert [warning.filename for warning in caught] == [__file__]


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_lbfgs_converged_before_its_first_iteration_reports_the_loss_at_the_start(ours, theirs, warm_start):
    """A tolerance the start already meets: L-BFGS takes no iteration (``n_iter_`` 0, as the
    MLP's), the weights stay, no warning, and ``loss_`` is the training loss at them (an empty
    fit has no last epoch to take it from; a warm start's last one was of other data)."""
    import sklearn.neural_network

    import densenet.sklearn

    X, y = blobs(40)
    if ours == "DenseNetRegressor":
        y = X @ np.array([1.0, -2.0])
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    estimator = getattr(densenet.sklearn, ours)(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
    if warm_start:  # trained on other rows first
        estimator.set_params(warm_start=True, max_iter=20)
        _convergence_warnings(lambda: estimator.fit(X[::-1] * 2.0, y[::-1]))
    params = estimator.set_params(tol=1e9).get_params()
    before = None if not warm_start else estimator.model_.params.copy()
    curve = [] if not warm_start else list(estimator.loss_curve_)
    assert _convergence_warnings(lambda: estimator.fit(X, y, sample_weight=w)) == []
    assert _convergence_warnings(
        lambda: getattr(sklearn.neural_network, theirs)(**mlp_params(params)).fit(X, y)) == []

    assert estimator.n_iter_ == 0
    assert estimator.loss_curve_ == curve
    if before is not None:
        assert_array_equal(estimator.model_.params, before)
    targets = np.searchsorted(estimator.classes_, y) if ours == "DenseNetClassifier" else y.reshape(-1, 1)
    expected = estimator.model_.evaluate(X, targets, loss=estimator.loss_function_, sample_weight=w)
    assert isinstance(estimator.loss_, float)
    assert estimator.loss_ == pytest.approx(expected, rel=1e-12)


def mlp_params(params):
    """Of an estimator's ``params``, those a fresh scikit-learn MLP takes (not ``dtype``,
    ``class_weight``, ``loss``, ``warm_start``)."""
    return {name: value for name, value in params.items()
            if name not in ("dtype", "class_weight", "loss", "warm_start")}


@pytest.mark.parametrize("warm_start", [False, True])
def test_a_fit_that_diverges_counts_the_epochs_it_completed(warm_start):
    """SGD above its stable rate: the loss grows each epoch until float32 overflows, and
    ``DivergenceError`` ends the fit after dozens of epochs. The network holds them (and
    the steps before the bad one, as ``Sequential.fit`` keeps them): ``n_iter_``,
    ``loss_curve_``, ``loss_`` and ``t_`` count them too (after a warm start's earlier
    fits), as ``best_loss_`` does."""
    import densenet as dn

    X, y = blobs(20)
    y = X @ np.array([1.0, -1.0])
    regressor = DenseNetRegressor(hidden_layer_sizes=(), solver="sgd", momentum=0.0, batch_size=20,
                                  tol=0.0, n_iter_no_change=np.inf, dtype="float32", random_state=0)
    before = []
    if warm_start:  # a stable fit first
        regressor.set_params(warm_start=True, learning_rate_init=0.1, max_iter=3).fit(X, y)
        before = list(regressor.loss_curve_)
    regressor.set_params(learning_rate_init=2.0, max_iter=500)
    with pytest.raises(dn.DivergenceError) as caught:
        regressor.fit(X, y)
    completed = caught.value.history.loss.tolist()
    assert len(completed) == caught.value.epoch > 10
    assert regressor.n_iter_ == len(completed)
    assert regressor.loss_curve_ == before + completed
    assert regressor.loss_ == completed[-1]
    assert regressor.t_ == len(before + completed) * len(X)
    assert regressor.best_loss_ == min(before + completed)


def test_a_warm_start_and_partial_fit_count_and_warn_as_the_mlp_s():
    """Each fit counts its own epochs (n_iter_; loss_curve_ and t_ go on over the fits) and
    warns when they reach max_iter; partial_fit runs one epoch, and never warns."""
    from functools import partial

    import sklearn.neural_network

    import densenet.sklearn

    X, y = blobs(40)
    params = dict(hidden_layer_sizes=(4,), random_state=0, tol=0.0, max_iter=3, warm_start=True)
    for module, name in ((densenet.sklearn, "DenseNetClassifier"), (sklearn.neural_network, "MLPClassifier")):
        estimator = getattr(module, name)(**params)
        for fits in (1, 2):
            assert len(_convergence_warnings(partial(estimator.fit, X, y))) == 1, name
            assert (estimator.n_iter_, len(estimator.loss_curve_), estimator.t_) == (3, 3 * fits, 120 * fits)
        assert not _convergence_warnings(partial(estimator.partial_fit, X, y)), name
        assert (estimator.n_iter_, len(estimator.loss_curve_), estimator.t_) == (1, 7, 280), name


def test_training_that_stops_keeps_the_last_epoch_s_weights():
    X, y = blobs(40)
    params = dict(hidden_layer_sizes=(4,), learning_rate_init=0.01, random_state=0)
    stopped = DenseNetClassifier(tol=1e9, n_iter_no_change=3, max_iter=50, **params).fit(X, y)
    five = DenseNetClassifier(tol=0.0, max_iter=5, **params).fit(X, y)
    assert stopped.n_iter_ == five.n_iter_ == 5
    assert_array_equal(stopped.model_.params, five.model_.params)


def test_early_stopping_ends_with_the_weights_of_the_best_validation_score():
    """The same fit cut off at the best epoch ends with the same weights (its own best
    is that epoch too); a later epoch scored lower, so the weights went back."""
    X, y = blobs(120)
    X = X + np.random.default_rng(0).normal(0, 1.0, X.shape)  # overlapping classes: the scores go down too
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.5, early_stopping=True,
                  validation_fraction=0.3, tol=1e9, n_iter_no_change=6, random_state=0)
    full = DenseNetClassifier(max_iter=50, **params).fit(X, y)
    best = int(np.argmax(full.validation_scores_))
    assert best < full.n_iter_ - 1
    assert full.validation_scores_[-1] < full.best_validation_score_
    cut = DenseNetClassifier(max_iter=best + 1, **params).fit(X, y)
    assert cut.best_validation_score_ == full.best_validation_score_
    assert_array_equal(full.model_.params, cut.model_.params)


def test_early_stopping_keeps_the_first_of_the_epochs_that_tie_for_the_best_score():
    """An epoch that only ties the best validation score does not replace its weights (the
    MLP's ``>``): the fit ends as the same fit cut off at the first best epoch."""
    X, y = blobs(120)
    params = dict(hidden_layer_sizes=(8,), batch_size=4, learning_rate_init=0.01, early_stopping=True,
                  validation_fraction=0.3, n_iter_no_change=3, random_state=0)
    full = DenseNetClassifier(max_iter=50, **params).fit(X, y)
    best = int(np.argmax(full.validation_scores_))  # (the first of them)
    assert full.validation_scores_.count(full.best_validation_score_) > 1
    assert best < full.n_iter_ - 1
    with pytest.warns(Warning):  # (max_iter reached)
        cut = DenseNetClassifier(max_iter=best + 1, **params).fit(X, y)
    assert_array_equal(full.model_.params, cut.model_.params)


def test_the_invscaling_rate_is_the_mlp_s():
    """``learning_rate_init / (t_ + 1) ** power_t`` after each epoch, t_ the rows seen."""
    X, y = blobs(40)
    mine, reference = fit_both("DenseNetClassifier", "MLPClassifier", X, y, hidden_layer_sizes=(4,),
                               solver="sgd", learning_rate="invscaling", power_t=0.3, learning_rate_init=0.2,
                               max_iter=3, tol=0.0, random_state=0)
    assert mine.t_ == reference.t_ == 120
    assert mine.optimizer_.lr == pytest.approx(reference._optimizer.learning_rate, rel=1e-12)
    assert mine.optimizer_.lr == pytest.approx(0.2 / 121 ** 0.3, rel=1e-12)


@pytest.mark.parametrize("n, batch_size, steps", [(401, "auto", 3), (150, "auto", 1), (7, 1, 7), (7, 100, 1)])
def test_batches_of_200_rows_at_most_by_default(n, batch_size, steps):
    X, y = blobs(n)
    clf = DenseNetClassifier(hidden_layer_sizes=(2,), batch_size=batch_size, max_iter=1, random_state=0)
    assert clf.fit(X, y).optimizer_.steps == steps


@pytest.mark.parametrize("estimator, y, fraction, stratified", [
    (DenseNetClassifier, [0, 1] * 10, 0.2, True),
    (DenseNetClassifier, [0, 0, 1, 1, 2, 2, 2, 2, 2, 2], 0.3, True),  # two members are enough
    (DenseNetClassifier, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0.3, False),  # one is not
    (DenseNetClassifier, [0, 0, 1, 1, 2, 2, 2, 2, 2, 2], 0.2, False),  # 2 held out: no room for 3 classes
    (DenseNetClassifier, [0, 0, 1, 1, 2, 2, 2, 2, 2, 2], 0.8, False),  # 2 left to train on: none either
    (DenseNetRegressor, [0.0, 1.0] * 10, 0.2, False),  # a regressor's targets are not classes
    # multilabel rows are not classes (as the MLP: each of these 16 is alone, which
    # train_test_split refused; and four of five each split, which was stratified)
    (DenseNetClassifier, [[int(bit) for bit in f"{i:04b}"] for i in range(16)], 0.25, False),
    (DenseNetClassifier, [[0, 1], [1, 0], [1, 1], [0, 0]] * 5, 0.2, False),
])
def test_the_validation_split_is_stratified_when_every_class_can_be(monkeypatch, estimator, y, fraction,
                                                                    stratified):
    from sklearn.model_selection import train_test_split

    import densenet.sklearn

    calls = []

    def split(*arrays, stratify=None, **kwargs):
        calls.append(stratify)
        return train_test_split(*arrays, stratify=stratify, **kwargs)

    monkeypatch.setattr(densenet.sklearn, "train_test_split", split)
    y = np.array(y)
    X = np.random.default_rng(0).standard_normal((len(y), 2))
    estimator(hidden_layer_sizes=(2,), early_stopping=True, validation_fraction=fraction, max_iter=2,
              random_state=0).fit(X, y)
    assert len(calls) == 1
    assert (calls[0] is not None) == stratified


def test_early_stopping_without_a_validation_set_watches_nothing():
    """``partial_fit`` holds no rows out, nor does ``fit`` on under 4 rows: no epoch then counts
    as one that did not improve, so the "adaptive" rate is never lowered and ``fit`` runs
    ``max_iter`` epochs, however large ``tol``."""
    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                             early_stopping=True, n_iter_no_change=1, learning_rate_init=0.1, tol=1e9,
                             random_state=0)
    for _ in range(5):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.optimizer_.lr == 0.1
    assert clf.best_loss_ is None
    reg = DenseNetRegressor(hidden_layer_sizes=(4,), early_stopping=True, n_iter_no_change=1, max_iter=6,
                            tol=1e9, random_state=0)
    reg.fit(X[:3], X[:3, 0])
    assert reg.n_iter_ == 6
    assert reg.validation_scores_ == []


def test_class_probabilities_for_any_finite_logits():
    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(2,), max_iter=1, random_state=0).fit(X, y)
    clf.model_[-1].W[...] = 0.0
    clf.model_[-1].b[...] = [1000.0, -1000.0, 0.0]  # logits whose exp overflows
    assert_array_equal(clf.predict_proba(X[:2]), [[1.0, 0.0, 0.0]] * 2)


def test_log_probabilities_are_the_logs_of_the_probabilities_and_finite_where_they_underflow():
    """``predict_log_proba`` as the MLP has it, computed from the logits: where a
    probability underflows to 0 its log is still the finite log-softmax (or log-sigmoid)."""
    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-12)
    clf.model_[-1].W[...] = 0.0
    clf.model_[-1].b[...] = [1000.0, -1000.0, 0.0]
    assert_array_equal(clf.predict_log_proba(X[:2]), [[0.0, -2000.0, -1000.0]] * 2)

    X, Y = multilabel(60, 3)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, Y)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-12)
    clf.model_[-1].W[...] = 0.0
    clf.model_[-1].b[...] = [1000.0, -1000.0, 0.0]
    assert_array_equal(clf.predict_log_proba(X[:2]), [[0.0, -1000.0, -np.log(2.0)]] * 2)


def test_partial_fit_keeps_the_classes_it_was_given():
    X, y = blobs()
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # class 2 is not in the first batch
    clf.partial_fit(X[y == 2], y[y == 2])  # nor any class but 2 in the second
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.model_.out_features == 3
    clf.fit(X[y < 2], y[y < 2])  # a new fit learns its classes from y
    assert clf.classes_.tolist() == [0, 1]
    assert clf.model_.out_features == 2


@pytest.mark.parametrize("classes", [[0, 1], [0, 1, 2, 3], ["0", "1", "2"]])
def test_partial_fit_refuses_classes_other_than_the_fitted_ones_and_keeps_the_model(classes):
    """``classes`` on a later call must be the fitted network's (as in scikit-learn's
    incremental estimators), after ``partial_fit`` or ``fit``: other classes are refused
    by name, and the estimator is left as it was."""
    import pickle

    X, y = blobs()
    online = DenseNetClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    fitted = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    for clf in (online, fitted):
        before = pickle.dumps(clf)
        with pytest.raises(ValueError, match=r"partial_fit: classes=\[.*\] are not the fitted network's "
                                             r"classes_ \[0, 1, 2\]"):
            clf.partial_fit(X[y < 2], y[y < 2], classes=classes)
        assert pickle.dumps(clf) == before
        clf.partial_fit(X[y < 2], y[y < 2], classes=[2, 1, 0, 1])  # the same classes, in any order
        assert clf.classes_.tolist() == [0, 1, 2]


def test_partial_fit_of_a_multilabel_network_refuses_other_label_indices():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=40, n_classes=3, random_state=0)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, Y, classes=[0, 1, 2])
    before = clf.model_.params.copy()
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] are not the fitted network's classes_ \[0, 1, 2"):
        clf.partial_fit(X, Y, classes=[0, 1])
    assert_array_equal(clf.model_.params, before)
    clf.partial_fit(X, Y, classes=[0, 1, 2])
    assert len(clf.loss_curve_) == 2


@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_no_hidden_layer_and_a_stopping_rule_turned_off_are_taken_as_by_the_mlp(ours, theirs):
    """hidden_layer_sizes=(): the inputs straight to the outputs (a linear or logistic
    model, a baseline in a search over architectures); n_iter_no_change=inf: the stopping
    rule never stops, every one of max_iter's epochs runs."""
    import densenet as dn
    import densenet.sklearn

    X, y = blobs(60)
    if ours == "DenseNetRegressor":
        y = X @ np.array([1.0, -2.0])
    for params in (dict(hidden_layer_sizes=()), dict(hidden_layer_sizes=[])):
        mine, reference = fit_both(ours, theirs, X, y, max_iter=300, tol=0.0, n_iter_no_change=np.inf,
                                   learning_rate_init=0.05, random_state=0, **params)
        assert len(mine.model_) == 1
        assert isinstance(mine.model_[0], dn.Dense)
        assert mine.n_layers_ == reference.n_layers_ == 2
        assert [W.shape for W in mine.coefs_] == [W.shape for W in reference.coefs_]
        assert mine.n_iter_ == reference.n_iter_ == 300
        assert mine.score(X, y) > 0.95
        assert reference.score(X, y) > 0.95


def test_a_fitted_estimator_given_where_a_model_goes_is_pointed_to_its_model():
    import densenet as dn

    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    wrong = "model must be a densenet Sequential, got DenseNetClassifier "
    with pytest.raises(TypeError, match=rf"gradcheck: {wrong}.*; a fitted estimator's network is its model_: "
                                        r"pass estimator.model_"):
        dn.gradcheck(clf, X, y)
    with pytest.raises(TypeError, match=rf"lr_find: {wrong}[^;]*$"):  # (not fitted: no network to point to)
        dn.lr_find(DenseNetClassifier(), X, y)


@pytest.mark.parametrize("verbose, prints", [(False, False), (0, False), (np.bool_(True), True), (2, True)])
def test_verbose_is_a_flag_or_a_level_as_the_mlp_s(verbose, prints, capsys):
    X, y = blobs(30)
    DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=verbose, random_state=0).fit(X, y)
    assert ("epoch 2/2" in capsys.readouterr().err) == prints  # (progress goes to stderr)


@pytest.mark.parametrize("params, message", [
    (dict(activation="softplus"), "activation must be one of"),
    (dict(solver="rmsprop"), "solver must be one of"),
    # (an array, a list or a dict, compared elementwise or hashed: NumPy's "truth value of an
    # array ... is ambiguous", or "unhashable type: 'list'", before)
    (dict(activation=np.array(["relu", "tanh"])), "activation must be one of"),
    (dict(activation=[]), "activation must be one of"),
    (dict(solver={}), "solver must be one of"),
    (dict(learning_rate=np.array(["constant", "adaptive"])), "learning_rate must be one of"),
    (dict(n_iter_no_change=np.array([1.0, 2.0])), r"n_iter_no_change must be an integer >= 1 or inf"),
    (dict(warm_start=np.array([True, False])), "DenseNetClassifier: warm_start must be True or False, got "),
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes must be positive integers"),
    (dict(max_iter=0), "max_iter must be an integer >= 1"),
    (dict(max_iter=True), "DenseNetClassifier: max_iter must be an integer >= 1, got True"),
    # (int(max_iter) ran before the checks: OverflowError, or NumPy's words for nan)
    (dict(max_iter=float("inf")), "DenseNetClassifier: max_iter must be an integer >= 1, got inf"),
    (dict(max_iter=float("nan")), "DenseNetClassifier: max_iter must be an integer >= 1, got nan"),
    (dict(max_iter=2.5), "max_iter must be an integer >= 1, got 2.5"),
    (dict(max_iter=10**400), r"max_iter must be an integer >= 1 of at most 2\*\*63 - 1 \(NumPy's int64\)"),
    (dict(alpha=10**400), r"DenseNetClassifier: invalid alpha 1000.*\.\.\.; it must lie in \[0, inf\)"),
    (dict(early_stopping=True, validation_fraction=0.0), r"validation_fraction must be in \(0, 1\), got 0.0"),
    (dict(early_stopping=True, validation_fraction=np.float32(0)), r"must be in \(0, 1\), got 0.0$"),
    (dict(learning_rate_init=0.0),
     r"DenseNetClassifier: invalid learning_rate_init 0.0; it must lie in \(0, inf\)"),
    (dict(alpha=-1.0), r"DenseNetClassifier: invalid alpha -1.0; it must lie in \[0, inf\)"),
    (dict(tol=float("nan")), "DenseNetClassifier: invalid tol nan"),
    (dict(n_iter_no_change=0), r"n_iter_no_change must be an integer >= 1 or inf \(never stop\), got 0"),
    (dict(batch_size=0), "batch_size must be 'auto' or an integer >= 1, got 0"),
    (dict(batch_size="x"), "batch_size must be 'auto' or an integer >= 1, got 'x'"),
    (dict(batch_size=2.0), "batch_size must be 'auto' or an integer >= 1, got 2.0"),
    (dict(momentum=1.5), r"DenseNetClassifier: invalid momentum 1.5; it must lie in \[0, 1\]"),
    (dict(beta_1=1.0), r"DenseNetClassifier: invalid beta_1 1.0; it must lie in \[0, 1\)"),
    (dict(beta_2=-0.1), r"DenseNetClassifier: invalid beta_2 -0.1; it must lie in \[0, 1\)"),
    (dict(epsilon=0.0), r"DenseNetClassifier: invalid epsilon 0.0; it must lie in \(0, inf\)"),
    (dict(learning_rate="optimal"), "learning_rate must be one of"),
    (dict(power_t=-0.5), r"DenseNetClassifier: invalid power_t -0.5; it must lie in \[0, inf\)"),
    (dict(max_fun=0), "max_fun must be an integer >= 1, got 0"),
    (dict(n_iter_no_change=2.5), r"n_iter_no_change must be an integer >= 1 or inf \(never stop\), got 2.5"),
    (dict(shuffle="no"), "DenseNetClassifier: shuffle must be True or False, got 'no'"),
    (dict(nesterovs_momentum=None), "DenseNetClassifier: nesterovs_momentum must be True or False, got None"),
    (dict(early_stopping=1), "DenseNetClassifier: early_stopping must be True or False, got 1"),
    (dict(warm_start="yes"), "DenseNetClassifier: warm_start must be True or False, got 'yes'"),
    (dict(validation_fraction=1.5), r"invalid validation_fraction 1.5; it must lie in \[0, 1\)"),
    (dict(validation_fraction=float("nan")), "DenseNetClassifier: invalid validation_fraction nan"),
    (dict(verbose="x"), "DenseNetClassifier: verbose must be True, False or an integer >= 0, got 'x'"),
    (dict(verbose=-1), "DenseNetClassifier: verbose must be True, False or an integer >= 0, got -1"),
    (dict(verbose=np.int64(-1)), "verbose must be True, False or an integer >= 0, got -1$"),
])
def test_bad_parameters_are_named_at_fit_and_nothing_is_fitted(params, message):
    X, y = blobs(30)
    clf = DenseNetClassifier(**params)  # scikit-learn's rule: constructors only store
    with pytest.raises((ValueError, TypeError), match=message):
        clf.fit(X, y)
    with pytest.raises((ValueError, TypeError), match=message):  # before the data (scikit-learn's order)
        clf.fit(np.full_like(X, np.nan), y)
    assert vars(clf).keys() == clf.get_params().keys()  # no attribute set (not n_features_in_ either)
    with pytest.raises((ValueError, TypeError), match=message):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert vars(clf).keys() == clf.get_params().keys()
    reg = DenseNetRegressor(**params)  # which checks its own loss and then the same
    named = message.replace("DenseNetClassifier", "DenseNetRegressor")
    with pytest.raises((ValueError, TypeError), match=named):
        reg.fit(X, y.astype(float))
    assert vars(reg).keys() == reg.get_params().keys()


def _wider(X):
    return np.hstack([X, X[:, :2]])


_REFUSED_DATA = {  # calls refused by checks that come after the data's, on X of the blobs' width
    "weights of another length": lambda est, X, y: est.fit(_wider(X), y, sample_weight=np.ones(3)),
    "labels of no order": lambda est, X, y: est.fit(_wider(X), np.array([None, "a"] * (len(y) // 2))),
    "targets of another length": lambda est, X, y: est.fit(_wider(X), y[:-1]),
    "a label outside classes_": lambda est, X, y: est.partial_fit(X, np.where(y == 0, 7, y)),
    "a label outside a first partial_fit's classes": lambda est, X, y: est.partial_fit(_wider(X), y,
                                                                                        classes=[0, 1]),
}


@pytest.mark.parametrize("refused", list(_REFUSED_DATA))
def test_a_refused_fit_leaves_the_estimator_exactly_as_it_was(refused):
    """Nothing changes before every check has passed: not ``n_features_in_`` (which
    scikit-learn's own data check sets first: the network then refused its own data as of
    the wrong width), nor a first ``partial_fit``'s ``classes_``."""
    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with pytest.warns(Warning):  # (max_iter reached)
        clf.fit(X, y)
    before, params, predicted = dict(vars(clf)), clf.model_.params.copy(), clf.predict(X)
    fresh = DenseNetClassifier(**clf.get_params())
    with pytest.raises((ValueError, TypeError)):
        _REFUSED_DATA[refused](clf, X, y)
    assert vars(clf).keys() == before.keys()
    assert all(vars(clf)[name] is before[name] for name in before)
    assert_array_equal(clf.model_.params, params)
    assert_array_equal(clf.predict(X), predicted)
    with pytest.raises((ValueError, TypeError)):
        _REFUSED_DATA[refused](fresh, X, y)
    assert vars(fresh).keys() == fresh.get_params().keys()


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("ours, theirs", [("DenseNetClassifier", "MLPClassifier"),
                                           ("DenseNetRegressor", "MLPRegressor")])
def test_the_fitted_attributes_named_as_in_scikit_learn_s_mlp_mean_the_same(ours, theirs, early_stopping):
    """``loss_`` is the last epoch's training loss (a number, not the loss function),
    ``best_loss_`` the lowest (None with early stopping), ``coefs_`` and ``intercepts_``
    each layer's weights and biases, ``t_`` the training rows seen: the MLP's types,
    shapes and counts on the same data (three classes: a binary MLP has one output unit)."""
    import warnings

    import sklearn.neural_network
    from sklearn.exceptions import ConvergenceWarning

    import densenet.sklearn

    X, y = blobs(60)
    if ours == "DenseNetRegressor":
        y = X @ np.array([1.0, -2.0])
    params = dict(hidden_layer_sizes=(5, 4), max_iter=3, tol=0.0, batch_size=16,
                  early_stopping=early_stopping, validation_fraction=0.25, random_state=0)
    mine = getattr(densenet.sklearn, ours)(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # three epochs, on purpose
        reference = getattr(sklearn.neural_network, theirs)(**params).fit(X, y)

    for fitted in (mine, reference):
        assert isinstance(fitted.loss_, float)
        assert fitted.loss_ == fitted.loss_curve_[-1]
        assert fitted.best_loss_ == (None if early_stopping else min(fitted.loss_curve_))
    assert [W.shape for W in mine.coefs_] == [W.shape for W in reference.coefs_]
    assert [b.shape for b in mine.intercepts_] == [b.shape for b in reference.intercepts_]
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(mine, name) == getattr(reference, name), name
    # the model's own parameters: what a user writes there is what the model computes with
    assert all(np.shares_memory(array, mine.model_.params) for array in [*mine.coefs_, *mine.intercepts_])
    assert_array_equal(mine.coefs_[-1], mine.model_[-1].W)
    assert_array_equal(mine.intercepts_[0], mine.model_[0].b)


@pytest.mark.parametrize("solver, params, settings", [
    ("sgd", dict(momentum=0.5, nesterovs_momentum=False), dict(momentum=0.5, nesterov=False)),
    ("sgd", dict(momentum=0.0), dict(momentum=0.0, nesterov=False)),  # the MLP allows Nesterov with none
    ("adam", dict(beta_1=0.8, beta_2=0.99, epsilon=1e-6), dict(betas=(0.8, 0.99), eps=1e-6)),
])
def test_the_mlp_s_optimiser_parameters_set_the_optimiser(solver, params, settings):
    X, y = blobs(40)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=1, random_state=0, **params)
    optimizer = clf.fit(X, y).optimizer_
    assert {name: getattr(optimizer, name) for name in settings} == settings


@pytest.mark.parametrize("estimator", [DenseNetClassifier, DenseNetRegressor])
def test_warm_start_trains_on_from_the_last_fit_s_weights(estimator):
    """A learning rate too small to move the weights: a warm fit ends where the last fit
    ended, a cold one where the last fit began (the same random_state, the same start)."""
    X, y = blobs(40)
    if estimator is DenseNetRegressor:
        y = X[:, 0] - X[:, 1]
    params = dict(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0, learning_rate_init=1e-12, max_iter=2,
                  tol=0.0, random_state=0)
    start = estimator(**params).fit(X, y).model_.params.copy()  # where every fit from random_state begins
    for warm in (True, False):
        first = estimator(**params, warm_start=warm).set_params(learning_rate_init=0.05, max_iter=3,
                                                                 solver="adam").fit(X, y)
        after_first = first.model_.params.copy()
        first.set_params(**params).fit(X, y)
        np.testing.assert_allclose(first.model_.params, after_first if warm else start, rtol=0, atol=1e-9)
        assert first.n_iter_ == 2
        assert len(first.loss_curve_) == (5 if warm else 2)  # (as the MLP's)
        assert first.t_ == len(first.loss_curve_) * len(X)
    assert not np.allclose(after_first, start)


@pytest.mark.parametrize("change, message", [
    (dict(hidden_layer_sizes=(5,)), r"hidden_layer_sizes \(5,\)"),
    (dict(activation="tanh"), "activation 'tanh'"),
    (dict(dtype="float32"), "dtype 'float32'"),
])
def test_warm_start_and_partial_fit_refuse_another_network_and_keep_the_fitted_one(change, message):
    X, y = blobs(40)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
    params, n_iter = clf.model_.params.copy(), clf.n_iter_
    clf.set_params(**change)
    with pytest.raises(ValueError, match=f"warm_start: {message}"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=f"partial_fit: {message}"):
        clf.partial_fit(X, y)
    assert_array_equal(clf.model_.params, params)
    assert clf.n_iter_ == n_iter


def test_warm_start_refuses_other_classes_or_features():
    X, y = blobs(40)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"warm_start.*classes \[0, 1, 2\].*\[0, 1\]"):
        clf.fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.fit(np.hstack([X, X[:, :1]]), y)
    assert clf.n_iter_ == 2


@pytest.mark.parametrize("columns", [1, 3])
@pytest.mark.parametrize("mode", ["warm_start", "partial_fit"])
def test_the_regressor_refuses_targets_of_other_outputs_and_keeps_everything(mode, columns):
    """A network of two outputs given y of one or three columns: refused by name before its
    optimiser is set for the call (its weight decay was set for the refused call's rows, and
    after a warm start a fresh optimiser took the fitted one's place)."""
    import pickle

    X, _ = blobs(40)
    Y = np.column_stack([X[:, 0], X[:, 0] - X[:, 1]])
    reg = DenseNetRegressor(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0).fit(X, Y)
    before = pickle.dumps(reg)
    other = np.tile(X[:, :1], columns)
    with pytest.raises(ValueError, match=rf"^DenseNetRegressor: {mode}: the fitted network has 2 outputs, "
                                         rf"but y has {columns} column"):
        reg.partial_fit(X[:10], other[:10]) if mode == "partial_fit" else reg.fit(X, other)
    assert pickle.dumps(reg) == before


def test_unit_sample_weights_fit_exactly_as_none():
    X, y = blobs()
    for make in (lambda: DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                 lambda: DenseNetRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)):
        target = y if isinstance(make(), DenseNetClassifier) else X[:, 0]
        plain, weighted = make().fit(X, target), make().fit(X, target, sample_weight=np.ones(len(X)))
        assert_array_equal(weighted.model_.params, plain.model_.params)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the MLP's, at max_iter
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sample_weights_settle_conflicting_targets_as_the_mlp_s_do(kind):
    """The same points twice, with targets 0 and 1 weighted 3 : 1: both estimators (and
    scikit-learn's MLP) learn the weighted answer, probability or value 0.25 of target 1;
    unweighted, 0.5."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X, _ = blobs(60)
    X2 = np.vstack([X, X])
    y2 = np.r_[np.zeros(60, int), np.ones(60, int)]
    w = np.r_[np.full(60, 3.0), np.ones(60)]
    # (1,000 epochs: after 300 the regressors' answers were still 0.03 from it at some points,
    # for some seeds; it is the weighted mean they converge to that is tested)
    settings = dict(hidden_layer_sizes=(8,), learning_rate_init=0.03, max_iter=1000, tol=0.0,
                    n_iter_no_change=1000, random_state=0)
    if kind == "classifier":
        ours, theirs = DenseNetClassifier(**settings), MLPClassifier(**settings)
        answer = lambda est: est.predict_proba(X)[:, 1]  # noqa: E731
    else:
        ours, theirs = DenseNetRegressor(**settings), MLPRegressor(**settings)
        answer = lambda est: est.predict(X)  # noqa: E731
    for estimator in (ours, theirs):
        estimator.fit(X2, y2, sample_weight=w)
        np.testing.assert_allclose(answer(estimator), 0.25, atol=0.03)
    np.testing.assert_allclose(answer(ours.fit(X2, y2)), 0.5, atol=0.03)


def test_partial_fit_with_integer_weights_is_partial_fit_on_repeated_rows():
    """One epoch of one batch (fewer than 200 rows): a weight of k is the row k times."""
    X, y = blobs(40)
    counts = np.random.default_rng(0).integers(0, 3, len(X))
    repeated = np.repeat(np.arange(len(X)), counts)
    settings = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    for make, target in ((DenseNetClassifier, y), (DenseNetRegressor, X[:, 0])):
        extra = {"classes": [0, 1, 2]} if make is DenseNetClassifier else {}
        weighted, copies = make(**settings), make(**settings)
        for _ in range(3):
            weighted.partial_fit(X, target, sample_weight=counts, **extra)
            copies.partial_fit(X[repeated], target[repeated], **extra)
        np.testing.assert_allclose(weighted.model_.params, copies.model_.params, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(weighted.loss_curve_, copies.loss_curve_, rtol=1e-10)


def test_early_stopping_scores_the_held_out_rows_with_their_weights():
    """Half the rows are noise weighted 0: the validation score (R^2) weighs them out too,
    so it is near 1 and training runs on; scored unweighted it would be near 0."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 1))
    y = X[:, 0] ** 2
    noisy = np.arange(400) % 2 == 1
    y[noisy] = rng.normal(0, 10, noisy.sum())
    reg = DenseNetRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, early_stopping=True,
                            max_iter=200, random_state=0).fit(X, y, sample_weight=(~noisy).astype(float))
    assert reg.best_validation_score_ > 0.9
    assert reg.score(X[~noisy], y[~noisy]) > 0.9
    assert reg.score(X, y, sample_weight=(~noisy).astype(float)) == reg.score(X[~noisy], y[~noisy])


def test_held_out_rows_that_all_weigh_nothing_are_scored_unweighted():
    """Weights 0 on all but six rows: the held-out tenth weighs 0, where a weighted score
    would divide by 0; it is scored as if unweighted, and training goes on."""
    X, y = blobs(100)
    w = np.zeros(100)
    w[:6] = 1.0
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=5, random_state=0)
    clf.fit(X[np.r_[6:100, 0:6]], y[np.r_[6:100, 0:6]], sample_weight=w[np.r_[6:100, 0:6]])
    assert len(clf.validation_scores_) == clf.n_iter_ > 0
    assert all(0.0 <= score <= 1.0 for score in clf.validation_scores_)


# -- multilabel targets ------------------------------------------------------------------

def multilabel(n=200, labels=4, seed=0):
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=n, n_features=6, n_classes=labels, random_state=seed)
    return (X - X.mean(axis=0)) / X.std(axis=0), Y


def test_a_multilabel_target_gets_one_logistic_output_per_label_as_in_the_mlp():
    """An indicator matrix ``(n_samples, n_labels)`` of 0 and 1: each label is a yes or no
    of its own, a sigmoid output trained by binary cross-entropy on its logit; ``predict``
    answers in indicator form (probability above 0.5), ``score`` is the subset accuracy."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score
    from sklearn.neural_network import MLPClassifier

    import densenet as dn

    X, Y = multilabel()
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0)
    clf = DenseNetClassifier(**params).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(**params).fit(X, Y)
    for name in ("n_outputs_", "out_activation_", "n_layers_"):
        assert getattr(clf, name) == getattr(mlp, name), name
    assert_array_equal(clf.classes_, mlp.classes_)
    assert isinstance(clf.loss_function_, dn.BCEWithLogitsLoss)
    proba, predicted = clf.predict_proba(X), clf.predict(X)
    assert proba.shape == Y.shape
    assert predicted.shape == Y.shape
    assert predicted.dtype == mlp.predict(X).dtype
    assert_array_equal(predicted, (proba > 0.5).astype(int))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # not a softmax over the labels
    assert clf.score(X, Y) == accuracy_score(Y, predicted)
    _, counts = np.unique(Y, axis=0, return_counts=True)  # guessing the most common set of labels
    assert clf.score(X, Y) > 3 * counts.max() / len(Y)
    assert clf.score(X, Y) >= mlp.score(X, Y) - 0.05
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 2


def test_multilabel_training_is_the_binary_cross_entropy_of_the_logits():
    """Full-batch L-BFGS reports its objective: ``loss_`` is BCE-with-logits of the model's
    outputs on the labels, weighted as every loss is (``sum(w l) / sum(w)``)."""
    import densenet as dn

    X, Y = multilabel(60, 3)
    w = np.random.default_rng(0).uniform(0.0, 2.0, len(X))
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)
    clf.fit(X, Y, sample_weight=w)
    value = dn.BCEWithLogitsLoss().forward(clf.model_.predict(X), Y.astype(float), sample_weight=w)
    assert clf.loss_ == pytest.approx(value / w.mean(), rel=1e-12)
    assert clf.loss_ < clf.loss_curve_[0] / 2


def test_multiclass_multioutput_targets_are_refused_by_name_and_nothing_is_fitted():
    X, Y = multilabel(40, 3)
    clf = DenseNetClassifier(max_iter=5)
    with pytest.raises(ValueError, match=r"DenseNetClassifier: y of shape \(40, 3\) holds values other "
                                         r"than 0 and 1: .*multilabel"):
        clf.fit(X, Y * 2)
    assert not hasattr(clf, "model_")
    assert not hasattr(clf, "classes_")


def test_warm_start_and_partial_fit_keep_a_multilabel_network_s_labels():
    X, Y = multilabel(80, 3)
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0).fit(X, Y)
    before = clf.model_.params.copy()
    with pytest.raises(ValueError, match=r"warm_start: the fitted network's 3 labels are not y's 4"):
        clf.fit(*multilabel(80, 4))
    with pytest.raises(ValueError, match=r"warm_start: the fitted network's labels \[0, 1, 2\] are not y's"):
        clf.fit(X, Y[:, 0])
    assert_array_equal(clf.model_.params, before)
    clf.fit(X, Y)  # the same labels: trains on
    assert not np.array_equal(clf.model_.params, before)

    online = DenseNetClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match=r"classes must be the label indices \[0, 1, 2\] for a multilabel y"):
        online.partial_fit(X, Y, classes=[0, 1])
    assert not hasattr(online, "model_")
    online.partial_fit(X[:40], Y[:40], classes=[0, 1, 2]).partial_fit(X[40:], Y[40:])
    assert len(online.loss_curve_) == 2
    assert online.classes_.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"partial_fit: the fitted network's labels \[0, 1, 2\] are not y's"):
        online.partial_fit(X, Y[:, 0])


def test_early_stopping_on_a_multilabel_target_watches_the_subset_accuracy():
    from sklearn.metrics import accuracy_score

    X, Y = multilabel(200, 3)
    clf = DenseNetClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, early_stopping=True,
                             validation_fraction=0.25, max_iter=30, tol=0.0, random_state=0).fit(X, Y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    right = np.array(clf.validation_scores_) * 50  # a share of the 50 held-out rows
    np.testing.assert_allclose(right, np.round(right), atol=1e-9)
    assert clf.score(X, Y) == accuracy_score(Y, clf.predict(X))


def test_a_multilabel_best_validation_score_is_the_subset_accuracy_of_predict_on_the_held_out_rows():
    """Early stopping ends with the weights of its best epoch, so ``predict`` then scores the
    held-out rows ``best_validation_score_``: whichever 30 of the 120 rows they were, at least
    as many of them are right as there are right rows less the 90 trained on. (Three labels a
    line apart, a third of the rows without any: a score blind to yes would stay near 1/3.)"""
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 2))
    X = X[np.all(np.abs(X) > 0.3, axis=1) & (np.abs(X.sum(axis=1)) > 0.3)][:120]
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X.sum(axis=1) > 0]).astype(np.int64)
    clf = DenseNetClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.05, early_stopping=True,
                             validation_fraction=0.25, max_iter=60, n_iter_no_change=60,
                             random_state=0)
    clf.fit(X, Y)
    right = round(accuracy_score(Y, clf.predict(X)) * 120)
    assert right >= 110  # (trained well enough for the bound below to tell)
    assert clf.best_validation_score_ >= (right - 90) / 30
    assert clf.best_validation_score_ == max(clf.validation_scores_)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_alpha_shrinks_the_weights_with_every_solver(solver):
    """``alpha`` regularises whichever solver trains: a large one leaves smaller weights (60
    on 60 rows, one batch: a weight decay of 1)."""
    X, y = blobs(60)
    norms = [np.linalg.norm(DenseNetClassifier(hidden_layer_sizes=(8,), solver=solver, alpha=alpha,
                                               learning_rate_init=0.05, max_iter=100,
                                               random_state=0).fit(X, y).model_.params)
             for alpha in (0.0, 60.0)]
    assert norms[1] < norms[0] / 2


@pytest.mark.parametrize("kind", ["classifier", "multilabel", "regressor", "regressor 2", "poisson 2"])
@pytest.mark.parametrize("batch_size, momentum", [(20, 0.0), (60, 0.0), (16, 0.0), (16, 0.9), (1, 0.0)])
def test_alpha_decays_as_the_mlp_s(kind, batch_size, momentum):
    """The same start, SGD, batches in order: ten epochs with ``alpha`` end where the MLP's
    do (its penalty ``alpha/2 |W|^2`` divided by the batch's rows: by 12 for an epoch's last
    batch of the 60 rows in batches of 16, where the others are divided by 16). The
    MLP's loss is a mean over the rows of a sum over the outputs, and its squared error half
    of it: ours, a mean over both, steps at the rate that makes the steps the same."""
    ours, theirs = fitted_alike(kind, 10, learning_rate_init=0.1 if batch_size > 1 else 0.01, alpha=0.5,
                                batch_size=batch_size, momentum=momentum, tol=0.0, n_iter_no_change=1000)
    assert ours.n_iter_ == theirs.n_iter_ == 10
    for mine, its in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_]):
        np.testing.assert_allclose(mine, its, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("momentum, nesterov", [(0.9, False), (0.9, True), (0.0, False)],
                         ids=["momentum", "nesterov", "none"])
@pytest.mark.parametrize("learning_rate, stopping", [
    ("invscaling", {"tol": 0.0, "n_iter_no_change": 1000}), ("adaptive", {"tol": 0.5, "n_iter_no_change": 1}),
], ids=["invscaling", "adaptive"])
def test_momentum_carries_over_a_change_of_rate_as_the_mlp_s(kind, momentum, nesterov, learning_rate,
                                                             stopping):
    """The MLP's velocity is a sum of steps, each gradient times the rate of its own step,
    where SGD's momentum buffer sums gradients that the rate multiplies at each step: when
    the rate changes between epochs ("invscaling", or "adaptive" dividing it by 5) the
    velocity carries on the steps taken at the old rate. The same start and ten epochs end
    where the MLP's do (before, 31% to 76% of the weights' norm apart); without momentum too."""
    ours, theirs = fitted_alike(kind, 10, learning_rate_init=0.1, batch_size=20, momentum=momentum,
                                nesterovs_momentum=nesterov, learning_rate=learning_rate, **stopping)
    assert ours.n_iter_ == theirs.n_iter_ == 10
    assert ours.optimizer_.lr < ours.learning_rate_init / 10  # (the rate did change)
    for mine, its in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_]):
        np.testing.assert_allclose(mine, its, rtol=1e-10, atol=1e-12)


def fitted_alike(kind, epochs, learning_rate_init, **settings):
    """Our estimator and scikit-learn's MLP of ``kind`` ("classifier", "multilabel",
    "regressor", "regressor 3", "poisson 2": the number of targets last) on the same data,
    from the same start (the MLP's weights set to ours after an epoch each, both stopping
    rules begun afresh), then fitted on for at most ``epochs`` epochs of unshuffled SGD
    (without momentum unless ``settings`` give one) at rates that make the steps the same
    (``learning_rate_init`` the MLP's: ours times the number of labels, or ``n_targets / 2``,
    ``n_targets`` for Poisson)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X, y = blobs(60)
    settings = {"hidden_layer_sizes": (8,), "solver": "sgd", "momentum": 0.0, "shuffle": False, "max_iter": 1,
                "warm_start": True, "random_state": 0, "learning_rate_init": learning_rate_init, **settings}
    if kind == "classifier":
        ours, theirs = DenseNetClassifier(**settings).fit(X, y), MLPClassifier(**settings)
    elif kind == "multilabel":
        y = np.c_[y == 0, y == 1, X[:, 0] > 0].astype(int)
        ours = DenseNetClassifier(**{**settings, "learning_rate_init": 3 * learning_rate_init}).fit(X, y)
        theirs = MLPClassifier(**settings)
    else:
        outputs = int(kind[-1]) if kind[-1].isdigit() else 1
        y = np.exp(np.c_[X[:, 0] * X[:, 1], np.sin(X[:, 0]), X[:, 1]][:, :outputs] / 2)
        y = y.ravel() if outputs == 1 else y
        poisson = kind.startswith("poisson")
        rate = learning_rate_init * outputs / (1 if poisson else 2)
        ours = DenseNetRegressor(**{**settings, "learning_rate_init": rate},
                                 loss="poisson" if poisson else "squared_error").fit(X, y)
        theirs = MLPRegressor(**settings, loss="poisson" if poisson else "squared_error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)  # (an epoch, for its arrays: the start is ours, below)
        for mine, its in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_]):
            its[...] = mine
        theirs.best_loss_, theirs._no_improvement_count = np.inf, 0  # (counted from other weights)
        ours.best_loss_ = np.inf
        ours.max_iter = theirs.max_iter = epochs
        ours.fit(X, y)
        theirs.fit(X, y)
    return ours, theirs


@pytest.mark.parametrize("kind", ["classifier", "multilabel", "regressor", "regressor 3", "poisson 2"])
def test_tol_weighs_against_the_loss_as_the_mlp_reports_it(kind):
    """The stopping rule counts the epochs whose loss does not fall by ``tol`` below the
    best, the MLP's loss: ours is twice its squared error (a mean where it reports half of
    one, however many outputs), its Poisson deviance and multilabel log-loss over the
    outputs (sums over them there). The same start and steps: the same epoch stops both."""
    ours, theirs = fitted_alike(kind, 300, learning_rate_init=0.02, batch_size=20, tol=2e-3,
                                n_iter_no_change=2)
    assert 5 < theirs.n_iter_ < 300
    assert ours.n_iter_ == theirs.n_iter_
    for mine, its in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_]):
        np.testing.assert_allclose(mine, its, rtol=1e-10, atol=1e-12)


def test_training_rows_of_no_weight_are_refused_by_name_whatever_alpha():
    """The one weighted row held out for early stopping (row 6, for this seed): the rows
    left weigh nothing, which fit refuses by name (no division by their mean weight first)."""
    X = np.random.default_rng(0).standard_normal((10, 2))
    w = np.zeros(10)
    w[6] = 1.0
    estimator = DenseNetRegressor(max_iter=2, early_stopping=True, random_state=0, hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="sample_weight is all zeros"):
        estimator.fit(X, X[:, 0], sample_weight=w)
    estimator.early_stopping = False  # (every row trained on: the decay over their mean weight)
    estimator.fit(X, X[:, 0], sample_weight=w)
    assert estimator.optimizer_.weight_decay == pytest.approx(2 * 1e-4 / (10 * (1 / 10)))


# -- the regressor's loss ------------------------------------------------------------------

def counts(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, rng.poisson(np.exp(X @ np.array([0.6, -0.4, 0.3]) + 0.5)).astype(float)


def test_a_poisson_regressor_predicts_rates_as_the_mlp_s_does():
    """``loss="poisson"``, as the MLP's: the network's output is a log-rate, trained by
    the Poisson negative log-likelihood, and ``predict`` answers ``exp`` of it."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import mean_poisson_deviance
    from sklearn.neural_network import MLPRegressor

    import densenet as dn

    X, y = counts()
    params = dict(loss="poisson", hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=200,
                  random_state=0)
    reg = DenseNetRegressor(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(**params).fit(X, y)
    assert reg.out_activation_ == mlp.out_activation_ == "exp"
    assert isinstance(reg.loss_function_, dn.PoissonNLLLoss)
    assert_array_equal(reg.predict(X), np.exp(reg.model_.predict(X)).ravel())
    deviance = mean_poisson_deviance(y, reg.predict(X))
    assert deviance <= 1.1 * mean_poisson_deviance(y, mlp.predict(X))
    squared = DenseNetRegressor(**{**params, "loss": "squared_error"}).fit(X, y)
    assert squared.out_activation_ == "identity"
    assert squared.get_params()["loss"] == "squared_error"
    residuals = ((y - reg.predict(X)) ** 2).sum()
    assert reg.score(X, y) == pytest.approx(1 - residuals / ((y - y.mean()) ** 2).sum())


def test_early_stopping_of_a_poisson_regressor_scores_its_rates():
    X, y = counts(200)
    reg = DenseNetRegressor(loss="poisson", hidden_layer_sizes=(8,), learning_rate_init=0.01,
                            early_stopping=True, max_iter=40, tol=0.0, random_state=0).fit(X, y)
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ > 0.5


def test_the_regressor_s_loss_and_its_targets_are_checked_before_anything_is_built():
    X, y = counts(40)
    with pytest.raises(ValueError, match=r"loss must be one of \['squared_error', 'poisson'\], got 'huber'"):
        DenseNetRegressor(loss="huber").fit(X, y)
    reg = DenseNetRegressor(loss="poisson", max_iter=5)
    with pytest.raises(ValueError, match=r"DenseNetRegressor with loss='poisson': y must be >= 0; 1 value"):
        reg.fit(X, np.where(np.arange(40) == 3, -1.0, y))
    assert not hasattr(reg, "model_")
    reg.set_params(warm_start=True).fit(X, y)
    before = reg.model_.params.copy()
    with pytest.raises(ValueError, match=r"warm_start: loss 'squared_error' is not the fitted network's "
                                         r"'poisson'"):
        reg.set_params(loss="squared_error").fit(X, y)
    assert_array_equal(reg.model_.params, before)


def test_a_new_fit_on_class_labels_after_a_multilabel_one_is_a_multiclass_network_again():
    X, Y = multilabel(60, 3)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, Y)
    clf.fit(X, Y.argmax(axis=1))
    assert not clf.multilabel_
    assert clf.out_activation_ == "softmax"
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    assert clf.predict(X).shape == (60,)


def test_a_label_at_probability_one_half_is_not_predicted_as_in_the_mlp():
    """The MLP's threshold: a label is predicted where its probability is above 0.5."""
    X, Y = multilabel(20, 3)
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, Y)
    clf.model_[-1].W[...] = 0.0
    clf.model_[-1].b[...] = [0.0, 1e-9, -1e-9]
    assert_array_equal(clf.predict(X[:2]), [[0, 1, 0]] * 2)


def test_the_classifier_declares_multilabel_support_as_the_mlp_does():
    from sklearn.neural_network import MLPClassifier

    ours, theirs = DenseNetClassifier().__sklearn_tags__(), MLPClassifier().__sklearn_tags__()
    assert ours.classifier_tags.multi_label is theirs.classifier_tags.multi_label is True


def imbalanced(seed=0):
    """Two overlapping classes, one nine times the other."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-0.5, 1.0, (270, 2)), rng.normal(0.5, 1.0, (30, 2))])
    return X, np.repeat(["common", "rare"], [270, 30])


def test_class_weight_is_scikit_learn_s_sample_weights_and_balanced_finds_the_rare_class():
    from sklearn.utils.class_weight import compute_sample_weight

    X, y = imbalanced()
    settings = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=60, random_state=0)
    for class_weight in ("balanced", {"rare": 5.0}):
        weighted = DenseNetClassifier(class_weight=class_weight, **settings).fit(X, y)
        as_samples = DenseNetClassifier(**settings).fit(X, y,
                                                        sample_weight=compute_sample_weight(class_weight, y))
        assert_array_equal(weighted.model_.params, as_samples.model_.params)
    s = np.random.default_rng(1).uniform(0.5, 2.0, len(y))  # times sample_weight
    both = DenseNetClassifier(class_weight={"rare": 5.0}, **settings).fit(X, y, sample_weight=s)
    product = DenseNetClassifier(**settings).fit(X, y,
                                                 sample_weight=s * compute_sample_weight({"rare": 5.0}, y))
    assert_array_equal(both.model_.params, product.model_.params)
    plain = DenseNetClassifier(**settings).fit(X, y)
    balanced = DenseNetClassifier(class_weight="balanced", **settings).fit(X, y)
    rare = y == "rare"
    assert np.mean(balanced.predict(X[rare]) == "rare") > np.mean(plain.predict(X[rare]) == "rare") + 0.2


def test_partial_fit_takes_a_class_weight_dict_but_not_balanced():
    X, y = imbalanced()
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), class_weight={"rare": 3.0}, random_state=0)
    twin = DenseNetClassifier(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=["common", "rare"])
        twin.partial_fit(X, y, classes=["common", "rare"], sample_weight=np.where(y == "rare", 3.0, 1.0))
    assert_array_equal(clf.model_.params, twin.model_.params)
    before = clf.model_.params.copy()
    with pytest.raises(ValueError, match="class_weight 'balanced' is not supported by partial_fit"):
        clf.set_params(class_weight="balanced").partial_fit(X, y)
    assert_array_equal(clf.model_.params, before)


@pytest.mark.parametrize("class_weight, message", [
    ("bogus", "class_weight must be None, 'balanced' or a dict"),
    ({"rare": -1.0}, r"class_weight\['rare'\]"),
    ({"rare": float("nan")}, r"class_weight\['rare'\]"),
    ({"rare": 2.0, "other": 1.0}, r"class_weight names labels \['other'\] that are not classes"),
])
def test_a_bad_class_weight_is_refused_by_name(class_weight, message):
    X, y = imbalanced()
    with pytest.raises(ValueError, match=message):
        DenseNetClassifier(class_weight=class_weight, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="class_weight weighs the classes of a multiclass y"):
        indicators = np.eye(2, dtype=int)[(y == "rare") * 1]
        DenseNetClassifier(class_weight="balanced", max_iter=2).fit(X, indicators)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_weights_times_class_weights_beyond_float_are_named(dtype):
    """Each sample's weight is its sample_weight times its class's weight: a product beyond
    the float range (each of the two finite) was NumPy's overflow warning, then refused as
    a class_weight holding non-finite values."""
    X, y = imbalanced()
    big = 1e300 if dtype == "float64" else 1e30
    clf = DenseNetClassifier(class_weight={"rare": big}, max_iter=2, dtype=dtype)
    with pytest.raises(ValueError, match=r"^sample_weight times class_weight holds \d+ non-finite value"):
        clf.fit(X, y, sample_weight=np.full(len(X), big))  # (the suite's warnings are errors)
    assert not hasattr(clf, "model_")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_penalty_over_weights_so_small_it_is_beyond_float_is_named(solver):
    """The MLP's penalty is alpha/2 |W|^2 over the sum of a batch's sample weights: over
    weights of 5e-324 it is inf, which the optimiser refused by its own name."""
    X, y = imbalanced()
    clf = DenseNetClassifier(max_iter=2, solver=solver)
    with pytest.raises(ValueError, match=r"^DenseNetClassifier: alpha=0\.0001 over a batch's sample weights "
                                         r"\(their mean 5e-324, the MLP's penalty\) is beyond float's range"):
        clf.fit(X, y, sample_weight=np.full(len(X), 5e-324))
    assert not hasattr(clf, "model_")


def test_a_multilabel_validation_score_takes_a_probability_of_one_half_as_no():
    """Early stopping scores a label as ``predict`` does: yes only above 0.5. Outputs of
    ~1e-300 (zero weights, a rate of 1e-300) are probabilities of 0.5 exactly, so every
    label is predicted no, and the score is the share of validation rows with no label:
    at most 4 of the 20 when 4 of the 40 rows have none."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = np.ones((40, 2), dtype=np.int64)
    Y[rng.permutation(40)[:4]] = 0  # four rows without a label
    clf = DenseNetClassifier(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.5,
                             max_iter=1, warm_start=True, learning_rate_init=1e-300, solver="sgd",
                             momentum=0.0, random_state=0)
    with pytest.warns(Warning):  # (one epoch does not converge)
        clf.fit(X, Y)
    clf.model_.params[...] = 0.0
    with pytest.warns(Warning):
        clf.fit(X, Y)
    assert_array_equal(clf.predict_proba(X), 0.5)
    assert not clf.predict(X).any()
    assert clf.validation_scores_[-1] <= 0.2


def test_the_regressor_s_own_loss_is_checked_before_the_shared_parameters():
    X, y = counts(40)
    with pytest.raises(ValueError, match=r"^loss must be one of"):
        DenseNetRegressor(loss="huber", activation="softsign").fit(X, y)
    with pytest.raises(ValueError, match=r"^loss must be one of"):
        DenseNetRegressor(loss=np.array(["poisson", "squared_error"])).fit(X, y)
    with pytest.raises(ValueError, match=r"^loss must be one of"):
        DenseNetRegressor(loss="huber", warm_start=np.array([True, False])).fit(X, y)
    with pytest.raises(ValueError, match=r"^activation must be one of"):
        DenseNetRegressor(activation="softsign").fit(X, y)


@pytest.mark.parametrize("inf", [math.inf, np.float64(np.inf), np.float32(np.inf)], ids=repr)
def test_n_iter_no_change_of_inf_in_any_float_type_turns_the_stopping_rule_off(inf):
    X, y = blobs(30)
    clf = DenseNetClassifier(hidden_layer_sizes=(3,), max_iter=12, tol=0.0, n_iter_no_change=inf,
                             random_state=0)
    assert clf.fit(X, y).n_iter_ == 12


def test_a_classifier_pickled_before_multilabel_targets_predicts_its_classes():
    """One pickled by a version without ``multilabel_`` lacks the attribute: the class's
    default says its targets were classes, as they were then."""
    import pickle

    X, y = blobs()
    clf = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    old = pickle.loads(pickle.dumps(clf))
    del old.__dict__["multilabel_"]
    assert_array_equal(old.predict(X), clf.predict(X))
    assert old.predict(X).ndim == 1
    assert set(old.predict(X)) <= set(clf.classes_)
