"""SciPy sparse data: fit, predict, evaluate and the estimators take it.

A first ``Dense`` multiplies the sparse rows as they are (SciPy's products: the same sums
as on the rows made dense, in another order, so the results agree to rounding, and the
weight gradient touches only the rows of ``W`` a batch uses); any other first module gets
each batch made dense, and the model computes exactly what it computes on the same rows
dense, batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse

import densenet as dn
from densenet import backend
from densenet.chain import Plan

from .conftest import short_fits

KINDS = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "coo": sparse.coo_matrix,
         "csr_array": sparse.csr_array}
#: relative differences of sums taken in another order, after a few steps of training
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def data(n=50, features=30, density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = sparse.random(n, features, density=density, format="csr", random_state=seed,
                      data_rvs=rng.standard_normal).toarray()
    return X, rng.uniform(size=(n, 3)), rng.integers(0, 3, n)


def network(dtype=np.float64, features=30, first=()):
    return dn.Sequential(*first, dn.Dense(features, 16), dn.ReLU(), dn.Dense(16, 3), dtype=dtype, seed=0)


def close(actual, desired, dtype=np.float64):
    """Equal to rounding: within RTOL of the largest value (sums in another order differ
    by that much relative to their terms, not to a result that cancels)."""
    desired = np.asarray(desired)
    assert_allclose(actual, desired, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(desired).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
def test_fit_on_sparse_data_is_fit_on_the_same_data_dense(kind, dtype):
    X, y, _ = data()
    X, y = X.astype(dtype), y.astype(dtype)
    dense, sparse_model = network(dtype), network(dtype)
    w = np.random.default_rng(5).uniform(0, 2, len(X))  # (shuffled batches carry their rows' weights)
    dense.fit(X, y, optimizer=dn.Adam(0.01), epochs=3, batch_size=7, sample_weight=w)
    sparse_model.fit(KINDS[kind](X), y, optimizer=dn.Adam(0.01), epochs=3, batch_size=7, sample_weight=w)
    close(sparse_model.params, dense.params, dtype)
    close(sparse_model.predict(KINDS[kind](X)), dense.predict(X), dtype)
    assert sparse_model.evaluate(KINDS[kind](X), y) == pytest.approx(dense.evaluate(X, y), rel=RTOL[dtype])
    close(sparse_model.forward(KINDS[kind](X[:5])), dense.forward(X[:5]), dtype)


def test_a_fit_on_sparse_data_validates_alike():
    X, y, _ = data()
    X_val, y_val, _ = data(20, seed=1)
    histories = [network().fit(inputs, y, epochs=2, batch_size=10, shuffle=False,
                               sample_weight=np.arange(50.0), validation_data=(val, y_val))
                 for inputs, val in ((X, X_val), (sparse.csr_matrix(X), sparse.csr_matrix(X_val)))]
    close(histories[1].loss, histories[0].loss)
    close(histories[1].val_loss, histories[0].val_loss)


def test_lbfgs_and_cross_entropy_on_sparse_data():
    X, _, labels = data()
    dense, sparse_model = network(), network()
    dense.fit(X, labels, optimizer=dn.LBFGS(), loss=dn.CrossEntropyLoss(), epochs=10, batch_size=20)
    sparse_model.fit(sparse.csr_matrix(X), labels, optimizer=dn.LBFGS(), loss=dn.CrossEntropyLoss(),
                     epochs=10, batch_size=20)
    close(sparse_model.params, dense.params)
    assert sparse_model.params.tolist() != network().params.tolist()  # (it trained)


class DenseOnDenseRows(dn.Dense):
    """A Dense layer that declares it takes dense rows only, as a module of one's own may:
    the plan makes each sparse batch dense for it."""

    takes_sparse_input = False


@pytest.mark.parametrize("first, batch_size", [
    ((dn.Tanh(),), 10), ((dn.Dropout(0.3),), 10), ((dn.BatchNorm1d(30),), 10),
    ((DenseOnDenseRows(30, 30),), 10),
    ((DenseOnDenseRows(30, 30),), 1),  # (its input the X of [X, 1]: one row, which SciPy writes into)
], ids=lambda value: type(value[0]).__name__ if isinstance(value, tuple) else f"batch {value}")
def test_a_first_module_that_takes_dense_rows_computes_exactly_what_it_does_on_dense_data(first, batch_size):
    X, y, _ = data()
    dense, sparse_model = network(first=first), network(first=copy_of(first))
    dense.fit(X, y, optimizer=dn.Adam(0.01), epochs=3, batch_size=batch_size)
    sparse_model.fit(sparse.csr_matrix(X), y, optimizer=dn.Adam(0.01), epochs=3, batch_size=batch_size)
    assert_array_equal(sparse_model.params, dense.params)
    assert_array_equal(sparse_model.predict(sparse.csr_matrix(X)), dense.predict(X))
    assert_array_equal(sparse_model.forward(sparse.csr_matrix(X[:5])), dense.forward(X[:5]))


@pytest.mark.parametrize("layout", ["contiguous", "inside [X, 1]"])
def test_a_plan_feeds_sparse_rows_into_its_input_block_whatever_its_layout(layout):
    """``Plan.feed`` makes SciPy rows dense in ``X`` as it is laid out, a block of several
    rows inside ``[X, 1]`` included, which SciPy's ``toarray`` cannot write into."""
    rows = sparse.random(4, 3, density=0.5, format="csr", random_state=0) + sparse.eye(4, 3, format="csr")
    X1 = np.full((4, 4), np.nan)
    X = np.full((4, 3), np.nan) if layout == "contiguous" else X1[:, :-1]
    plan = Plan(X, np.empty((4, 1)), np.empty((4, 1)), None, (), ())
    plan.feed(rows.tocsr())
    assert_array_equal(X, rows.toarray())
    assert np.isnan(X1[:, -1]).all()


def copy_of(modules):
    return tuple(type(m)(**m.config()) for m in modules)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_backward_on_sparse_rows_equal_the_dense_passes(dtype):
    """The hand-written step: the output, every gradient and dL/dX, as on the rows made dense."""
    X, _, _ = data(12)
    X = X.astype(dtype)
    dY = np.random.default_rng(1).standard_normal((12, 3)).astype(dtype)
    dense, sparse_model = network(dtype), network(dtype)
    close(sparse_model.forward(sparse.csr_matrix(X)), dense.forward(X), dtype)
    close(sparse_model.backward(dY), dense.backward(dY), dtype)
    close(sparse_model.grads, dense.grads, dtype)
    sparse_model.grads[...] = np.nan  # written, not accumulated: the unused rows of dW too
    sparse_model.forward(sparse.csr_matrix(X))
    assert sparse_model.backward(dY, input_grad=False) is None
    close(sparse_model.grads, dense.grads, dtype)


def test_a_planned_pass_on_sparse_rows_computes_dX_only_when_asked_and_before_the_update():
    """A plan on sparse rows with dL/dX: ``run_backward(input_grad=False)`` leaves ``dX``
    unwritten; with folded descent onto the weights, ``dX`` is taken from the weights
    before the update."""
    X, _, _ = data(6)
    rows = sparse.csr_matrix(X)
    dY = np.random.default_rng(1).standard_normal((6, 3))
    model = network()
    plan = model.plan(6, input_grad=True, sparse=True)
    plan.dX[...] = np.nan
    plan.feed(rows)
    plan.run_forward()
    plan.dY[...] = np.random.default_rng(2).standard_normal(plan.dY.shape)
    assert plan.run_backward(input_grad=False) is None
    assert np.isnan(plan.dX).all()
    plan.run_backward()
    assert np.isfinite(plan.dX).all()

    lone = dn.Sequential(dn.Dense(30, 3), seed=0)
    start = lone.params.copy()
    plan = lone.plan(6, input_grad=True, descent=lone.params, sparse=True)
    (descent,) = plan.descent  # (the one module's)
    descent.alpha, descent.beta = -0.1, 1.0
    plan.feed(rows)
    plan.run_forward()
    plan.dY[...] = dY
    plan.run_backward()
    close(plan.dX, dY @ start[:-3].reshape(30, 3).T)
    close(lone[0].W, start[:-3].reshape(30, 3) - 0.1 * X.T @ dY)
    close(lone[0].b, start[-3:] - 0.1 * dY.sum(axis=0))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_folded_descent_on_sparse_rows_leaves_the_weights_of_unused_features_alone(momentum):
    """A step large enough to fold the SGD update into the gradient products (``densenet.plan``)
    updates only the rows of ``W`` whose features the data uses (momentum decays the rest
    of its buffer: nothing moves them either), and trains as on the dense rows."""
    rng = np.random.default_rng(0)
    X = sparse.random(64, 4000, density=0.002, format="csr", random_state=0, data_rvs=rng.standard_normal)
    y = rng.uniform(size=(64, 1))
    dense, sparse_model = (dn.Sequential(dn.Dense(4000, 8), dn.Sigmoid(), dn.Dense(8, 1), seed=0)
                           for _ in range(2))
    start = sparse_model[0].W.copy()
    sgd = dict(lr=0.5, momentum=momentum)
    step = sparse_model.train_step(dn.MSELoss(), dn.SGD(**sgd), 32, y, sparse=True)
    assert step.folded  # (else this test would not test the folded pass)
    dense.fit(X.toarray(), y, optimizer=dn.SGD(**sgd), epochs=5, batch_size=32)
    sparse_model.fit(X, y, optimizer=dn.SGD(**sgd), epochs=5, batch_size=32)
    close(sparse_model.params, dense.params)
    unused = np.setdiff1d(np.arange(4000), X.indices)
    assert 0 < len(unused) < 4000
    assert np.any(sparse_model[0].W[X.indices] != start[X.indices])
    assert_array_equal(sparse_model[0].W[unused], start[unused])


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.9])
def test_the_sparse_gradient_is_the_dense_formula(beta):
    """``out = alpha * rows.T @ dY + beta * out``, for rows in any CSR a batch can be:
    unsorted and repeated indices (summed), a row without nonzeros, or none at all."""
    rng = np.random.default_rng(0)
    rows = sparse.csr_matrix((np.array([1.5, -2.0, 0.5, 3.0, 0.25]), np.array([4, 1, 4, 6, 1]),
                              np.array([0, 3, 3, 5])), shape=(3, 8))
    assert not rows.has_canonical_format
    dY = rng.standard_normal((3, 2))
    start = rng.standard_normal((8, 2))
    out = start.copy()
    if beta == 0.0:
        out[...] = np.nan  # (written, not read)
    backend.sparse_gradient(rows, dY, out, -0.5, beta)
    expected = -0.5 * rows.toarray().T @ dY + (beta * start if beta else 0.0)
    assert_allclose(out, expected, rtol=1e-15, atol=1e-15)
    empty = sparse.csr_matrix((3, 8))
    out = start.copy()
    backend.sparse_gradient(empty, dY, out, -0.5, beta)
    assert_array_equal(out, beta * start)


def test_a_wide_sparse_input_is_never_made_dense():
    """Half a million features: a batch of 64 rows dense would take 256 MB and its products
    6.4e7 multiply-adds; on the sparse rows the fit and predict take what their nonzeros take."""
    rng = np.random.default_rng(0)
    features = 500_000
    rows, columns = np.repeat(np.arange(256), 10), rng.integers(0, features, 2560)  # 10 values a row
    X = sparse.csr_matrix((rng.standard_normal(2560), (rows, columns)), shape=(256, features))
    y = rng.integers(0, 2, 256)
    model = dn.Sequential(dn.Dense(features, 2), seed=0)
    history = model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(0.1), epochs=20, batch_size=64)
    assert history.loss[-1] < 0.5 * history.loss[0]  # (it learns the rows by heart)
    assert model.evaluate(X, y, loss=dn.CrossEntropyLoss()) < 0.5 * history.loss[0]
    plan = model.plan(64, sparse=True)
    assert plan.sparse is not None
    assert plan.X.strides == (0, 0)  # the input takes no memory


def test_predict_densifies_a_bounded_number_of_values_at_a_time(monkeypatch):
    """A wide sparse X is never made dense whole: at most SPARSE_CHUNK values a chunk for a
    first module that takes dense rows; a first Dense takes PREDICT_BATCH sparse rows."""
    import densenet.model

    X, _, _ = data(40)
    model = network(first=(dn.Tanh(),))
    seen = []
    run = densenet.model.Sequential._run

    def spy(self, plan, rows, bounded, training):
        seen.append((rows.shape, sparse.issparse(rows)))
        return run(self, plan, rows, bounded, training)

    monkeypatch.setattr(densenet.model.Sequential, "_run", spy)
    monkeypatch.setattr(densenet.model, "SPARSE_CHUNK", 300)  # 10 rows of 30 features
    # the dense rows in the same chunks: BLAS may round a row's sums differently with another
    # number of rows beside it (OpenBLAS's SkylakeX kernels on a Xeon with AMX: 10 against 40)
    assert_array_equal(model.predict(sparse.csr_matrix(X)), model.predict(X, batch_size=10))
    assert seen == [((10, 30), True)] * 4 + [((10, 30), False)] * 4  # the sparse chunks, then the dense
    seen.clear()
    model.predict(sparse.csr_matrix(X), batch_size=8)  # a batch size given: it is the chunk
    assert seen == [((8, 30), True)] * 5
    seen.clear()
    monkeypatch.setattr(densenet.model, "SPARSE_CHUNK", 10)  # fewer values than a row has: one row
    model.predict(sparse.csr_matrix(X[:3]))
    assert seen == [((1, 30), True)] * 3
    seen.clear()
    monkeypatch.setattr(densenet.model, "PREDICT_BATCH", 16)
    close(network().predict(sparse.csr_matrix(X)), network().predict(X))
    assert seen == [((16, 30), True)] * 2 + [((8, 30), True)] + [((16, 30), False)] * 2 + [((8, 30), False)]


#: where SciPy makes 1-D sparse arrays (an older one reads np.ones(3) as a row)
ONE_D_SPARSE = pytest.mark.skipif(sparse.coo_array(np.ones(3)).ndim != 1, reason="no 1-D sparse arrays")


@pytest.mark.parametrize("bad, error, message", [
    (sparse.csr_matrix(np.array([[0.0, np.nan, 1.0], [2.0, 0.0, np.inf]])), ValueError,
     r"X holds 2 non-finite value\(s\) \(NaN or inf\) as float64, the first at index \(0, 1\)"),
    (sparse.csr_matrix((0, 3)), ValueError, r"X is empty \(shape \(0, 3\)\)"),
    (sparse.csr_matrix(np.array([[1 + 1j, 0, 0]])), TypeError, "X must hold real numbers, got complex"),
    (sparse.csr_matrix(np.ones((2, 4))), ValueError, r"X has 4 features \(shape \(2, 4\)\), but Dense"),
    pytest.param(sparse.coo_array(np.ones(3)), ValueError, r"X must be 2-D \(n_samples, n_features\), "
                 "got 1-D", marks=ONE_D_SPARSE),
])
def test_bad_sparse_data_is_named_and_changes_nothing(bad, error, message):
    model = dn.Sequential(dn.Dense(3, 2), seed=0)
    before = model.params.copy()
    for call in (model.predict, lambda X: model.fit(X, np.zeros((X.shape[0], 2)))):
        with pytest.raises(error, match=message):
            call(bad)
    assert_array_equal(model.params, before)


def test_values_beyond_float32_are_refused_for_a_float32_model():
    X = sparse.csr_matrix(np.array([[0.0, 1e300, 0.0]]))
    with pytest.raises(ValueError, match=r"X holds 1 non-finite value\(s\) \(NaN or inf\) as float32, "
                                         r"the first at index \(0, 1\)"):
        dn.Sequential(dn.Dense(3, 1), dtype=np.float32, seed=0).predict(X)


def test_huge_sparse_values_take_the_rescaled_path_as_dense_ones_do():
    """Beyond 2**511 a first Dense's sums could overflow: the model rescales (``_run``).
    Here 0.9e308 - 0.9e308 + 0.9e308 - 0.9e308 is 0 exactly; BLAS's sum made it NaN (OpenBLAS,
    a 2 x 4 product)."""
    X = np.array([[1e308, -1e308, 1e308, -1e308], [0.0, 2.0, 0.0, 0.0]])
    model = dn.Sequential(dn.Dense(4, 1), dn.Sigmoid(), seed=0)
    model[0].W, model[0].b = 0.9, 0.5
    expected = 1 / (1 + np.exp(-0.5))
    assert model.predict(X)[0, 0] == pytest.approx(expected, rel=1e-15)
    assert_array_equal(model.predict(sparse.csr_matrix(X)), model.predict(X))


def test_rows_without_values_beside_huge_ones():
    """With a value beyond 2**511 in X, each chunk is checked on its own: one that stores no
    value at all is bounded (and is not the rescaled path's business)."""
    X = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1e308, 0.0, 0.0]])
    model = dn.Sequential(dn.Dense(3, 2), dn.Sigmoid(), seed=0)
    assert_array_equal(model.predict(sparse.csr_matrix(X), batch_size=1), model.predict(X, batch_size=1))
    assert model.predict(sparse.csr_matrix((2, 3))).shape == (2, 2)


def test_sparse_targets_are_refused_by_name():
    X, y, _ = data()
    with pytest.raises(TypeError, match="y is a SciPy sparse csr_matrix"):
        network().fit(X, sparse.csr_matrix(y))


def test_gradcheck_takes_sparse_inputs_and_checks_the_sparse_passes(monkeypatch):
    X, y, _ = data(8)
    model = network()
    report = dn.gradcheck(model, sparse.csr_matrix(X), y)
    assert report.ok
    assert report.checks[-1].name == "input X"
    assert report.checks[-1].analytic.shape == X.shape
    run = backend.sparse_gradient

    def doubled(rows, dY, out, alpha, beta):  # a wrong weight gradient on sparse rows only
        run(rows, dY, out, 2 * alpha, beta)

    one = dn.Sequential(dn.Dense(1, 2), dn.Tanh(), dn.Dense(2, 3), seed=0)  # (rows of one entry each)
    assert dn.gradcheck(one, sparse.csr_matrix(X[:, :1]), y).ok
    monkeypatch.setattr(backend, "sparse_gradient", doubled)
    assert not dn.gradcheck(model, sparse.csr_matrix(X), y, raise_exception=False).ok
    assert dn.gradcheck(model, X, y).ok


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_the_estimators_take_sparse_data(estimator):
    pytest.importorskip("sklearn")
    from densenet.sklearn import DenseNetClassifier, DenseNetRegressor

    X, y, labels = data(80)
    kind = {"classifier": DenseNetClassifier, "regressor": DenseNetRegressor}[estimator]

    def make():  # (early stopping: a held-out split of the sparse rows, scored sparse)
        return kind(hidden_layer_sizes=(8,), max_iter=5, random_state=0, early_stopping=True)

    target = labels if estimator == "classifier" else y
    with short_fits():
        dense, on_sparse = make().fit(X, target), make().fit(sparse.csr_matrix(X), target)
    if estimator == "classifier":  # (the same classes, from outputs equal to rounding)
        assert_array_equal(on_sparse.predict(sparse.csr_matrix(X)), dense.predict(X))
        close(on_sparse.predict_proba(sparse.csr_matrix(X)), dense.predict_proba(X))
    else:
        close(on_sparse.predict(sparse.csr_matrix(X)), dense.predict(X))
    assert on_sparse.score(sparse.csr_matrix(X), target) == pytest.approx(dense.score(X, target), rel=1e-12)


def test_a_pipeline_with_a_sparse_encoder_predicts_as_with_a_dense_one():
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from densenet.sklearn import DenseNetClassifier

    rng = np.random.default_rng(0)
    categories = rng.integers(0, 6, (120, 3))
    labels = (categories[:, 0] + categories[:, 1]) % 3
    pipes = [make_pipeline(OneHotEncoder(sparse_output=sparse_output),
                           DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0))
             for sparse_output in (True, False)]
    assert sparse.issparse(pipes[0][0].fit_transform(categories))
    with short_fits():
        predictions = [pipe.fit(categories, labels).predict(categories) for pipe in pipes]
    assert_array_equal(predictions[0], predictions[1])


def test_a_text_pipeline_trains_on_tfidf_rows():
    """``TfidfVectorizer`` gives CSR rows; the classifier learns which words mark a class,
    and the fitted pipeline survives a pickle."""
    pytest.importorskip("sklearn")
    import pickle

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from densenet.sklearn import DenseNetClassifier

    rng = np.random.default_rng(0)
    filler = ["the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "with"]
    marks = {"sport": ["match", "goal", "team", "score", "player", "coach"],
             "weather": ["rain", "cloud", "storm", "wind", "sunny", "forecast"]}
    texts, labels = [], []
    for _ in range(60):
        label = str(rng.choice(list(marks)))
        words = [*rng.choice(filler, 8), *rng.choice(marks[label], 2)]
        texts.append(" ".join(rng.permutation(words)))
        labels.append(label)
    pipe = make_pipeline(TfidfVectorizer(), DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=100,
                                                               learning_rate_init=0.01, random_state=0))
    assert sparse.issparse(pipe[0].fit_transform(texts))
    pipe.fit(texts, labels)
    assert pipe.score(texts, labels) == 1.0
    assert list(pipe.predict(["a storm and rain", "the team and the coach"])) == ["weather", "sport"]
    assert list(pickle.loads(pickle.dumps(pipe)).predict(texts)) == list(pipe.predict(texts))
