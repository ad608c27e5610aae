"""SciPy sparse data: fit, predict, evaluate and the estimators take it, densifying one batch
of rows at a time, and compute exactly what they compute on the same data dense."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse

import densenet as dn

KINDS = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "coo": sparse.coo_matrix,
         "csr_array": sparse.csr_array}


def data(n=50, features=30, density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = sparse.random(n, features, density=density, format="csr", random_state=seed,
                      data_rvs=rng.standard_normal).toarray()
    return X, rng.uniform(size=(n, 3)), rng.integers(0, 3, n)


def network(dtype=np.float64, features=30):
    return dn.Sequential(dn.Dense(features, 16), dn.ReLU(), dn.Dense(16, 3), dtype=dtype, seed=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
def test_fit_on_sparse_data_is_fit_on_the_same_data_dense(kind, dtype):
    X, y, _ = data()
    X, y = X.astype(dtype), y.astype(dtype)
    dense, sparse_model = network(dtype), network(dtype)
    w = np.random.default_rng(5).uniform(0, 2, len(X))  # (shuffled batches carry their rows' weights)
    dense.fit(X, y, optimizer=dn.Adam(0.01), epochs=3, batch_size=7, sample_weight=w)
    sparse_model.fit(KINDS[kind](X), y, optimizer=dn.Adam(0.01), epochs=3, batch_size=7, sample_weight=w)
    assert_array_equal(sparse_model.params, dense.params)
    assert_array_equal(sparse_model.predict(KINDS[kind](X)), dense.predict(X))
    assert sparse_model.evaluate(KINDS[kind](X), y) == dense.evaluate(X, y)
    assert_array_equal(sparse_model.forward(KINDS[kind](X[:5])), dense.forward(X[:5]))


def test_a_fit_on_sparse_data_validates_alike():
    X, y, _ = data()
    X_val, y_val, _ = data(20, seed=1)
    histories = [network().fit(inputs, y, epochs=2, batch_size=10, shuffle=False,
                               sample_weight=np.arange(50.0), validation_data=(val, y_val))
                 for inputs, val in ((X, X_val), (sparse.csr_matrix(X), sparse.csr_matrix(X_val)))]
    assert_array_equal(histories[1].loss, histories[0].loss)
    assert_array_equal(histories[1].val_loss, histories[0].val_loss)


def test_lbfgs_and_cross_entropy_on_sparse_data():
    X, _, labels = data()
    dense, sparse_model = network(), network()
    dense.fit(X, labels, optimizer=dn.LBFGS(), loss=dn.CrossEntropyLoss(), epochs=10, batch_size=20)
    sparse_model.fit(sparse.csr_matrix(X), labels, optimizer=dn.LBFGS(), loss=dn.CrossEntropyLoss(),
                     epochs=10, batch_size=20)
    assert_array_equal(sparse_model.params, dense.params)


def test_predict_densifies_a_bounded_number_of_values_at_a_time(monkeypatch):
    """A wide sparse X is never made dense whole: at most SPARSE_CHUNK values a chunk."""
    import densenet.model

    X, _, _ = data(40)
    model = network()
    seen = []
    run = densenet.model.Sequential._run

    def spy(self, plan, rows, bounded, training):
        seen.append(rows.shape)
        return run(self, plan, rows, bounded, training)

    monkeypatch.setattr(densenet.model.Sequential, "_run", spy)
    monkeypatch.setattr(densenet.model, "SPARSE_CHUNK", 300)  # 10 rows of 30 features
    assert_array_equal(model.predict(sparse.csr_matrix(X)), model.predict(X))
    assert seen[:4] == [(10, 30)] * 4 and seen[4] == (40, 30)  # the sparse chunks, then the dense X
    seen.clear()
    model.predict(sparse.csr_matrix(X), batch_size=8)  # a batch size given: it is the chunk
    assert seen == [(8, 30)] * 5
    seen.clear()
    monkeypatch.setattr(densenet.model, "SPARSE_CHUNK", 10)  # fewer values than a row has: one row
    model.predict(sparse.csr_matrix(X[:3]))
    assert seen == [(1, 30)] * 3


@pytest.mark.parametrize("bad, error, message", [
    (sparse.csr_matrix(np.array([[0.0, np.nan, 1.0], [2.0, 0.0, np.inf]])), ValueError,
     r"X holds 2 non-finite value\(s\) \(NaN or inf\) as float64, the first at index \(0, 1\)"),
    (sparse.csr_matrix((0, 3)), ValueError, r"X is empty \(shape \(0, 3\)\)"),
    (sparse.csr_matrix(np.array([[1 + 1j, 0, 0]])), TypeError, "X must hold real numbers, got complex"),
    (sparse.csr_matrix(np.ones((2, 4))), ValueError, r"X has 4 features \(shape \(2, 4\)\), but Dense"),
    (sparse.coo_array(np.ones(3)), ValueError, r"X must be 2-D \(n_samples, n_features\), got 1-D"),
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


def test_sparse_targets_are_refused_by_name():
    X, y, _ = data()
    with pytest.raises(TypeError, match="y is a SciPy sparse csr_matrix"):
        network().fit(X, sparse.csr_matrix(y))


def test_gradcheck_takes_sparse_inputs():
    X, y, _ = data(8)
    model = network()
    assert dn.gradcheck(model, sparse.csr_matrix(X), y).ok


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_the_estimators_take_sparse_data(estimator):
    pytest.importorskip("sklearn")
    from densenet.sklearn import DenseNetClassifier, DenseNetRegressor

    X, y, labels = data(80)
    kind = {"classifier": DenseNetClassifier, "regressor": DenseNetRegressor}[estimator]

    def make():  # (early stopping: a held-out split of the sparse rows, scored sparse)
        return kind(hidden_layer_sizes=(8,), max_iter=5, random_state=0, early_stopping=True)

    target = labels if estimator == "classifier" else y
    dense, on_sparse = make().fit(X, target), make().fit(sparse.csr_matrix(X), target)
    assert_array_equal(on_sparse.predict(sparse.csr_matrix(X)), dense.predict(X))
    assert on_sparse.score(sparse.csr_matrix(X), target) == dense.score(X, target)


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
    predictions = [pipe.fit(categories, labels).predict(categories) for pipe in pipes]
    assert_array_equal(predictions[0], predictions[1])
