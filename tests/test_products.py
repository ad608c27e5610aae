"""Large matrix products through SciPy's BLAS, and plain SGD folded into them.

Products of at least ``backend.GEMM_MIN_PRODUCT`` multiply-adds run as SciPy
``gemm``/``gemv`` calls (the bias in ``beta``); a planned training step with
plain SGD on such a model writes ``W -= lr * X.T @ dY`` as one call and leaves
``model.grads`` unwritten (``densenet.plan``). Both must agree with the NumPy
path to rounding.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet import backend, chain, plan
from densenet.plan import TrainStep

DTYPES = [np.float64, np.float32]

product = backend.product


def layouts(M: np.ndarray) -> list[np.ndarray]:
    """``M`` C-ordered and F-ordered."""
    return [np.ascontiguousarray(M), np.asfortranarray(M)]


def dot_bound(A: np.ndarray, B: np.ndarray, C: np.ndarray | None = None) -> np.ndarray:
    """The rounding bound of a float product ``A @ B (+ C)``: (k + 2) eps times the sum of
    the absolute terms, k the inner size (each term and each addition rounds once)."""
    eps = np.finfo(A.dtype).eps
    terms = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
    if C is not None:
        terms += np.abs(C)
    return (A.shape[1] + 2) * eps * terms


@pytest.mark.parametrize("dtype", DTYPES)
def test_product_is_alpha_a_b_plus_beta_c_in_place_for_every_layout(dtype):
    rng = np.random.default_rng(0)
    A64, B64, C64 = rng.standard_normal((7, 5)), rng.standard_normal((5, 3)), rng.standard_normal((7, 3))
    exact = -0.5 * A64.astype(dtype).astype(np.float64) @ B64.astype(dtype) + C64.astype(dtype)
    for A in layouts(A64.astype(dtype)):
        for B in layouts(B64.astype(dtype)):
            C = C64.astype(dtype)
            memory = C.__array_interface__["data"][0]
            backend.product(A, B, C, beta=1.0)(-0.5)
            assert C.__array_interface__["data"][0] == memory
            assert (np.abs(C - exact) <= dot_bound(A, B, C64) + np.finfo(dtype).eps).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_sums_is_alpha_sums_plus_beta_out(dtype):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((9, 4)).astype(dtype)
    out = np.ones(4, dtype)
    backend.column_sums(A, out, beta=1.0)(2.0)
    bound = 11 * np.finfo(dtype).eps * (2 * np.abs(A).sum(0) + 1)
    assert (np.abs(out - (1 + 2 * A.astype(np.float64).sum(0))) <= bound).all()
    backend.column_sums(A, out)(1.0)  # beta 0: the old values are gone
    assert (np.abs(out - A.astype(np.float64).sum(0)) <= bound).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 1.0), (2.0, 0.25), (0.5, 2.0)])
def test_an_outer_product_is_one_rank_1_update_with_gemm_s_alpha_and_beta(dtype, alpha, beta, monkeypatch,
                                                                          through):
    """Inner size 1 (a one-row weight gradient, LayerNorm's scale) from RANK_ONE_MIN_SIZE
    outputs: BLAS ger, not gemm, which OpenBLAS runs ten times slower into rows 4 KiB
    apart; at beta 0 what the output held is not read (NaN stays out), as with gemm; at
    alpha 1 each element is the exact rounded product."""
    through(None)  # (SciPy's ger, whatever DENSENET_BLAS says)
    called = []
    monkeypatch.setattr(backend, "_GER", {d: (lambda *a, f=f, **k: called.append(1) or f(*a, **k))
                                          for d, f in backend._GER.items()})
    rng = np.random.default_rng(3)
    shape = (128, backend.RANK_ONE_MIN_SIZE // 128)
    column, row = (rng.standard_normal((shape[0], 1)).astype(dtype),
                   rng.standard_normal((1, shape[1])).astype(dtype))
    C = np.full(shape, np.nan, dtype) if beta == 0.0 else rng.standard_normal(shape).astype(dtype)
    exact = alpha * (column.astype(np.float64) @ row) + (0.0 if beta == 0.0 else beta * C.astype(np.float64))
    memory = C.__array_interface__["data"][0]
    backend.product(column, row, C, beta=beta)(alpha)
    assert called == [1]
    assert C.__array_interface__["data"][0] == memory
    bound = 3 * np.finfo(dtype).eps * (np.abs(exact) + np.abs(alpha * column @ row))
    assert (np.abs(C - exact) <= bound).all()
    if (alpha, beta) == (1.0, 0.0):
        assert_array_equal(C, np.multiply(column, row))


def test_an_outer_product_below_rank_one_min_size_is_a_gemm(monkeypatch, through):
    """One output fewer: gemm, which costs a call less there (no zeroing); the same bits."""
    through(None)  # (SciPy's ger and gemm, whatever DENSENET_BLAS says)
    called = []
    monkeypatch.setattr(backend, "_GER", {d: (lambda *a, f=f, **k: called.append(1) or f(*a, **k))
                                          for d, f in backend._GER.items()})
    rng = np.random.default_rng(4)
    for rows, columns, through_ger in ((127, 129, 0), (128, 128, 1)):
        column, row = rng.standard_normal((rows, 1)), rng.standard_normal((1, columns))
        C = np.zeros((rows, columns))
        backend.product(column, row, C)(1.0)
        assert len(called) == through_ger
        assert rows * columns - backend.RANK_ONE_MIN_SIZE in (-1, 0)
        assert_array_equal(C, np.multiply(column, row))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, columns", [(3, 5), (128, 128)])  # gemm, and from RANK_ONE_MIN_SIZE ger
def test_add_outer_shifts_rows_or_features_with_the_bits_of_an_addition(dtype, rows, columns):
    """A per-feature shift (ones by a row) and a per-row one (a column by ones), in place,
    equal to NumPy's broadcasting addition and subtraction bit for bit."""
    rng = np.random.default_rng(5)
    out, feature, row = (rng.standard_normal((rows, columns)).astype(dtype),
                         rng.standard_normal(columns).astype(dtype), rng.standard_normal(rows).astype(dtype))
    expected = out + feature
    backend.add_outer(np.ones(rows, dtype), feature, out)()
    assert_array_equal(out, expected)
    expected = out - row[:, None]
    backend.add_outer(row, np.ones(columns, dtype), out, -1.0)()
    assert_array_equal(out, expected)
    assert backend.add_outer(row, np.ones(columns, dtype), np.zeros((columns, rows), dtype).T) is None


def test_product_refuses_what_it_cannot_write_in_place():
    A, B = np.ones((4, 3)), np.ones((3, 2))
    assert backend.product(A, B, np.zeros((4, 4))[:, :2]) is None  # a strided output
    assert backend.product(A, B, np.zeros((2, 4)).T) is None  # an F-ordered output
    assert backend.product(A, B, np.zeros((4, 2), np.float32)) is None  # mixed dtypes
    assert backend.product(np.ones((4, 6))[:, ::2], B, np.zeros((4, 2))) is None  # a strided operand
    assert backend.product(np.ones((4, 3))[:, :1], B[:1], np.zeros((4, 2))) is None  # a strided column
    column, row, big = np.ones((256, 1)), np.ones((1, 128)), np.zeros((256, 128))  # (a rank-1 update's size)
    assert backend.product(np.ones((256, 3))[:, :1], row, big) is None  # a strided column
    assert backend.product(column, np.ones((128, 2)).T[:1], big) is None  # a strided row
    assert backend.product(column, row, big) is not None
    readonly = np.zeros((4, 2))
    readonly.flags.writeable = False
    assert backend.product(A, B, readonly) is None
    assert backend.column_sums(A, np.zeros((4, 2))[:, 0]) is None
    assert backend.column_sums(A, np.zeros(3, np.float32)) is None


def spy_on_products(monkeypatch) -> list:
    """The argument tuples of every ``backend.product`` call from now on."""
    made = []

    def spy(*args, **kwargs):
        made.append(args)
        return product(*args, **kwargs)

    monkeypatch.setattr(backend, "product", spy)
    return made


def big_model(dtype=np.float64, seed=0):
    """64-512-4 sigmoid: at batch 8 its largest product is 8 * 65 * 512 = 266,240
    multiply-adds, just above GEMM_MIN_PRODUCT; the 512x4 layer is below it."""
    return dn.Sequential(dn.Dense(64, 512), dn.Sigmoid(), dn.Dense(512, 4), dn.Sigmoid(),
                         dtype=dtype, seed=seed)


def data(n=64, dtype=np.float64):
    rng = np.random.default_rng(2)
    return rng.standard_normal((n, 64)).astype(dtype), rng.uniform(size=(n, 4)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_large_dense_plan_agrees_with_the_numpy_path(dtype, monkeypatch):
    """Forward, dW, db and dX through SciPy's gemm against np.dot's, to the products' rounding."""
    X, _ = data(8, dtype)
    rng = np.random.default_rng(3)
    dY = rng.standard_normal((8, 512)).astype(dtype)
    bias = rng.standard_normal(512)
    made = spy_on_products(monkeypatch)
    results = {}
    for minimum in (0, np.inf):  # every product through gemm, then none
        monkeypatch.setattr(backend, "GEMM_MIN_PRODUCT", minimum)
        monkeypatch.setattr(backend, "GEMM_MIN_OUTPUT", minimum)
        layer = dn.Sequential(dn.Dense(64, 512), dtype=dtype, seed=0)
        layer[0].b[...] = bias
        Y = layer.forward(X)
        dX = layer.backward(dY)
        results[minimum] = Y, layer[0].dW.copy(), layer[0].db.copy(), dX
        assert len(made) == 3  # forward, dW and dX through gemm at 0; none added at inf
    W, b = layer[0].W, layer[0].b
    bounds = (dot_bound(X, W, b[None, :]), dot_bound(X.T, dY), dot_bound(np.ones((1, 8), dtype), dY)[0],
              dot_bound(dY, W.T))
    for gemm, numpy, bound in zip(results[0], results[np.inf], bounds):
        assert (np.abs(gemm.astype(np.float64) - numpy) <= 2 * bound).all()


def test_fit_folds_plain_sgd_into_the_products_and_leaves_grads_alone():
    X, y = data()
    model = big_model()
    model.grads[...] = 7.0
    optimizer = dn.SGD(0.05)
    step = TrainStep(model, dn.MSELoss(), optimizer, 8, y)
    assert step.folded
    assert step.written == (model.params,)
    model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False)
    assert (model.grads == 7.0).all()
    assert optimizer.steps == 2 * 64 // 8


@pytest.mark.parametrize("optimizer", [dn.SGD(0.05, momentum=0.9, nesterov=True),
                                       dn.SGD(0.05, weight_decay=1e-3), dn.Adam(1e-3),
                                       dn.SGD(0.05, fold=False), dn.SGD(0.05, momentum=0.9, fold=False)],
                         ids=repr)
def test_an_optimiser_with_more_than_plain_descent_or_momentum_is_not_folded(optimizer):
    X, y = data()
    model = big_model()
    model.grads[...] = 7.0
    assert not TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded
    model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=8, shuffle=False)
    assert np.isfinite(model.grads).all()
    assert not (model.grads == 7.0).any()  # the last gradient


def test_sgd_checks_fold():
    with pytest.raises(TypeError, match="fold must be True or False"):
        dn.SGD(0.1, fold=1)
    assert repr(dn.SGD(0.1, fold=False)) == "SGD(lr=0.1, fold=False)"
    assert repr(dn.SGD(0.1)) == "SGD(lr=0.1)"


def test_small_models_and_modules_that_cannot_fold_keep_the_optimisers_step():
    X, y = data()
    small = dn.Sequential(dn.Dense(64, 8), dn.Sigmoid(), dn.Dense(8, 4), seed=0)
    assert not TrainStep(small, dn.MSELoss(), dn.SGD(0.1), 8, y).folded  # 8 * 65 * 8 multiply-adds

    class Unfolding(dn.Dense):  # a module with parameters that does not honour Buffers.descent
        folds_descent = False

    model = dn.Sequential(Unfolding(64, 512), dn.Sigmoid(), dn.Dense(512, 4), seed=0)
    step = TrainStep(model, dn.MSELoss(), dn.SGD(0.1), 8, y)
    assert not step.folded
    assert step.written == (model.grads, model.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_folded_fit_follows_the_unfolded_one_to_rounding(dtype, monkeypatch):
    """Two epochs of 8 steps with a learning rate a schedule halves after the first. Folding
    changes each update by rounding only (lr * (X.T @ dY) is not rounded in between), and
    sixteen small steps of a smooth network amplify such differences little: 1e-12 (float64)
    and 1e-5 (float32) relative to the weights' scale are a thousand ulp of either."""
    X, y = data(dtype=dtype)
    weights = {}
    for minimum in (backend.GEMM_MIN_PRODUCT, np.inf):
        monkeypatch.setattr("densenet.plan.GEMM_MIN_PRODUCT", minimum)
        monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", minimum)  # (the product decides)
        model, optimizer = big_model(dtype), dn.SGD(0.5)
        assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded == (minimum != np.inf)
        model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False,
                  callbacks=[dn.StepLR(optimizer, step_size=1, gamma=0.5)])
        weights[minimum] = model.params.copy()
        assert optimizer.lr == 0.125  # halved after each epoch: the second ran at 0.25
    folded, unfolded = weights[backend.GEMM_MIN_PRODUCT], weights[np.inf]
    scale = np.abs(unfolded).max()
    assert np.abs(folded - unfolded).max() <= (1e-12 if dtype == np.float64 else 1e-5) * scale
    assert not np.array_equal(folded, big_model(dtype).params)  # it trained


def test_a_folded_batch_1_fit_follows_the_unfolded_one_to_rounding(monkeypatch):
    """At batch 1 the ones column makes ``[W; b]`` one block, updated by one folded product."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((6, 4096)) / 64, rng.uniform(size=(6, 64))
    weights = []
    for minimum in (backend.GEMM_MIN_PRODUCT, np.inf):
        monkeypatch.setattr("densenet.plan.GEMM_MIN_PRODUCT", minimum)
        monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", minimum)  # (the product decides)
        model = dn.Sequential(dn.Dense(4096, 64), dn.Sigmoid(), seed=0)  # 1 * 4097 * 64 multiply-adds
        assert TrainStep(model, dn.MSELoss(), dn.SGD(1.0), 1, y).folded == (minimum != np.inf)
        model.fit(X, y, optimizer=dn.SGD(1.0), epochs=2, batch_size=1, shuffle=False)
        weights.append(model.params.copy())
    assert np.abs(weights[0] - weights[1]).max() <= 1e-12 * np.abs(weights[1]).max()  # as above
    assert np.abs(weights[1][-64:]).max() > 0  # the biases trained (they start at 0)


def test_plain_sgd_is_folded_from_exactly_gemm_min_product_multiply_adds(monkeypatch):
    monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", np.inf)  # (the products alone decide)
    y = np.zeros((2, 512))
    model = dn.Sequential(dn.Dense(255, 512), seed=0)  # 2 rows * (255 + 1) * 512 = 2**18
    assert TrainStep(model, dn.MSELoss(), dn.SGD(0.1), 2, y).folded
    assert not TrainStep(model, dn.MSELoss(), dn.SGD(0.1), 1, y).folded


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_small_products_fold_where_the_modules_average_fold_min_block_parameters(momentum):
    """Below ``GEMM_MIN_PRODUCT`` multiply-adds a step folds where its modules that train
    hold ``FOLD_MIN_BLOCK`` parameters each on average (784-30-10 at batch 10, the
    MNIST-shaped epoch's network), not where there are many modules of few parameters."""
    def step(*sizes, n, frozen=()):
        model = dn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (dn.Dense(a, b), dn.Sigmoid())],
                              seed=0)
        if frozen:
            model.freeze(*frozen)
        assert model.largest_product(n) < backend.GEMM_MIN_PRODUCT
        return TrainStep(model, dn.MSELoss(), dn.SGD(0.1, momentum=momentum), n, np.zeros((n, sizes[-1])))

    assert plan.FOLD_MIN_BLOCK == 8192
    assert step(127, 64, n=1).folded
    assert not step(126, 64, n=1).folded  # 128 * 64 = 8,192 parameters
    assert step(784, 30, 10, n=10).folded  # 23,550 and 310: 11,930 a module
    assert step(32, 512, 10, n=1).folded  # 16,896 and 5,130: 11,013 a module
    assert not step(784, 20, 10, n=10).folded  # 15,700 and 210: 7,955 a module
    assert not step(2, *[48] * 8, 1, n=32).folded  # 16,657 in nine
    assert not step(32, 512, 10, n=1, frozen=(0,)).folded  # 5,130 in the one that trains
    assert not TrainStep(dn.Sequential(dn.Dense(784, 30), dn.Sigmoid(), dn.Dense(30, 10), seed=0),
                         dn.MSELoss(), dn.SGD(0.1), 10, np.zeros((10, 10)), max_grad_norm=1.0).folded


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 10])
def test_a_fit_folded_for_its_modules_sizes_follows_the_unfolded_one_to_rounding(dtype, batch_size,
                                                                                monkeypatch):
    """784-30-10 (the MNIST-shaped epoch's network) folds by its modules' sizes: to rounding,
    as a fit folded for its products (above)."""
    rng = np.random.default_rng(5)
    X, y = rng.uniform(0, 1, (40, 784)).astype(dtype), rng.uniform(size=(40, 10)).astype(dtype)
    weights = {}
    for minimum in (plan.FOLD_MIN_BLOCK, np.inf):
        monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", minimum)
        model = mnist_shaped(dtype)
        assert TrainStep(model, dn.MSELoss(), dn.SGD(3.0), batch_size, y).folded == (minimum != np.inf)
        model.fit(X, y, optimizer=dn.SGD(3.0), epochs=2, batch_size=batch_size, shuffle=False)
        assert model.grads.any() == (minimum == np.inf)  # (folded: never written)
        weights[minimum] = model.params.copy()
    folded, unfolded = weights.values()
    difference = np.abs(folded - unfolded).max()
    assert difference <= (1e-12 if dtype == np.float64 else 1e-5) * np.abs(unfolded).max()
    assert np.abs(folded - mnist_shaped(dtype).params).max() > 1e3 * difference  # it trained


def mnist_shaped(dtype):
    return dn.Sequential(dn.Dense(784, 30), dn.Sigmoid(), dn.Dense(30, 10), dn.Sigmoid(), dtype=dtype, seed=0)


def test_a_folded_step_overflowing_mid_epoch_is_divergence_at_that_batch():
    """Batch size 1 (the ones-column path, ``[W; b]`` updated as one block): batch 0 is
    ordinary, batch 1's gradient overflows while its loss stays finite. Folded, the gradient
    is never written: the weights going to inf is what shows it."""
    def model():
        return dn.Sequential(dn.Dense(4096, 64), seed=0)  # 1 * 4097 * 64 multiply-adds: folded

    X = np.zeros((3, 4096))
    X[:, 0] = [1.0, 1e154, 2.0]
    y = np.zeros((3, 64))
    y[1] = 1e154  # loss ~ 1e308 / 64, finite; dW = x * dy ~ 1e154 * 3e152 overflows
    diverging = model()
    assert TrainStep(diverging, dn.MSELoss(), dn.SGD(0.1), 1, y).folded
    with pytest.raises(dn.DivergenceError, match="epoch 0, batch 1"):
        diverging.fit(X, y, optimizer=dn.SGD(0.1), epochs=2, batch_size=1, shuffle=False)
    twin = model()  # the one good step, folded the same way
    twin.fit(X[:1], y[:1], optimizer=dn.SGD(0.1), epochs=1, batch_size=1)
    assert_array_equal(diverging.params, twin.params)
    assert np.isfinite(diverging.params).all()


@pytest.mark.parametrize(("rows", "through_gemm"), [(2, 3), (1, 1), (3, 3)])
def test_products_from_gemm_min_product_multiply_adds_go_through_scipy(rows, through_gemm, monkeypatch):
    """Dense(256, 512) at 2 rows makes exactly 2**18 multiply-adds per product: forward,
    dW and dX through gemm; at 1 row half as many, through np.dot but for the outer
    product ``[x, 1].T @ dy`` giving ``[dW; db]`` (many outputs: the next test)."""
    made = spy_on_products(monkeypatch)
    model = dn.Sequential(dn.Dense(256, 512), seed=0)
    model.forward(np.ones((rows, 256)))
    assert len(made) == through_gemm
    made.clear()
    small = dn.Sequential(dn.Dense(256, 511), seed=0)  # 2 * 256 * 511 < 2**18
    small.forward(np.ones((2, 256)))
    assert made == []


@pytest.mark.parametrize(("rows", "outputs", "through_gemm"), [(32, 64, 2), (31, 64, 0), (32, 63, 1)])
def test_forward_and_input_gradient_products_with_many_outputs_go_through_scipy(rows, outputs, through_gemm,
                                                                                monkeypatch):
    """Dense(64, outputs) far below GEMM_MIN_PRODUCT: its forward product (with the bias)
    and its dL/dX product through gemm from GEMM_MIN_OUTPUT = 2,048 outputs each (32 x 64),
    its dW product never; the gradients as np.dot's to rounding."""
    made = spy_on_products(monkeypatch)
    rng = np.random.default_rng(0)
    X, dY = rng.standard_normal((rows, 64)), rng.standard_normal((rows, outputs))
    model = dn.Sequential(dn.Dense(64, outputs), seed=0)
    model[0].b[...] = rng.standard_normal(outputs)
    Y, dX = model.forward(X), model.backward(dY)
    assert len(made) == through_gemm
    W, b = model[0].W, model[0].b
    assert_allclose(Y, X @ W + b, rtol=1e-13, atol=1e-13)
    assert_allclose(dX, dY @ W.T, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("inputs", "outputs", "through_gemm"), [(31, 64, 1), (30, 64, 0), (31, 63, 0)])
def test_the_outer_product_of_one_row_goes_through_scipy_from_many_outputs(inputs, outputs, through_gemm,
                                                                          monkeypatch):
    """At one row ``[dW; db] = [x, 1].T @ dy`` is an outer product of (inputs + 1) x outputs
    elements: through gemm from GEMM_MIN_OUTPUT = 2,048 (32 x 64; 0.5-0.6x np.dot's time
    from 16Ki), np.dot below it; the same gradients either way, exactly (one product each)."""
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((1, inputs)), rng.standard_normal((1, outputs))
    model = dn.Sequential(dn.Dense(inputs, outputs), seed=0)
    made = spy_on_products(monkeypatch)
    model.forward(x)
    model.backward(dy, input_grad=False)
    assert len(made) == through_gemm
    assert_array_equal(model[0].dW, x.T @ dy)
    assert_array_equal(model[0].db, dy[0])


def test_fit_folds_momentum_into_the_products_and_leaves_grads_alone():
    X, y = data()
    model = big_model()
    model.grads[...] = 7.0
    optimizer = dn.SGD(0.05, momentum=0.9)
    step = TrainStep(model, dn.MSELoss(), optimizer, 8, y)
    buffer = optimizer.state(model.params)["momentum_buffer"]
    assert step.folded
    assert step.written == (buffer, model.params)
    model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False)
    assert (model.grads == 7.0).all()
    assert optimizer.steps == 2 * 64 // 8
    assert np.abs(buffer).max() > 0


@pytest.mark.parametrize("batch_size", [8, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_folded_momentum_fit_follows_the_unfolded_one_to_rounding(dtype, batch_size, monkeypatch):
    """As plain SGD's (above): first step (the gradient alone), later ones (momentum times
    the buffer plus the gradient), a schedule halving lr, the batch-1 ones-column path;
    the weights and the momentum buffer both to rounding: ten times plain SGD's bounds, as
    momentum 0.9 adds up about 1 / (1 - 0.9) = 10 gradients into each update."""
    X, y = data(dtype=dtype)
    results = {}
    for minimum in (backend.GEMM_MIN_PRODUCT if batch_size > 1 else 0, np.inf):
        monkeypatch.setattr("densenet.plan.GEMM_MIN_PRODUCT", minimum)
        monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", minimum)  # (the product decides)
        model, optimizer = big_model(dtype), dn.SGD(0.2, momentum=0.9)
        assert TrainStep(model, dn.MSELoss(), optimizer, batch_size, y).folded == (minimum != np.inf)
        model.fit(X[:16], y[:16], optimizer=optimizer, epochs=2, batch_size=batch_size, shuffle=False,
                  callbacks=[dn.StepLR(optimizer, step_size=1, gamma=0.5)])
        results[minimum] = model.params.copy(), optimizer.state_dict()["momentum_buffer"]
    (folded, folded_buffer), (unfolded, unfolded_buffer) = results.values()
    tolerance = 1e-11 if dtype == np.float64 else 1e-4
    assert np.abs(folded - unfolded).max() <= tolerance * np.abs(unfolded).max()
    assert np.abs(folded_buffer - unfolded_buffer).max() <= tolerance * np.abs(unfolded_buffer).max()
    assert not np.array_equal(folded, big_model(dtype).params)  # it trained


def test_a_folded_momentum_fit_resumes_exactly(tmp_path):
    """Stopped after one epoch and resumed from the saved model and optimiser state, the
    folded fit gives the bits of one that never stopped."""
    X, y = data()
    whole, optimizer = big_model(), dn.SGD(0.2, momentum=0.9)
    whole.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False)
    first, first_optimizer = big_model(), dn.SGD(0.2, momentum=0.9)
    first.fit(X, y, optimizer=first_optimizer, epochs=1, batch_size=8, shuffle=False)
    first.save(tmp_path / "half.npz", optimizer=first_optimizer)
    resumed_optimizer = dn.SGD(0.2, momentum=0.9)
    resumed = dn.load(tmp_path / "half.npz", optimizer=resumed_optimizer)
    resumed.fit(X, y, optimizer=resumed_optimizer, epochs=1, batch_size=8, shuffle=False)
    assert_array_equal(resumed.params, whole.params)
    assert_array_equal(resumed_optimizer.state_dict()["momentum_buffer"],
                       optimizer.state_dict()["momentum_buffer"])


def test_folded_momentum_overflowing_mid_epoch_is_divergence_with_the_buffer_put_back():
    """As above with momentum: the overflowing gradient lands in the momentum buffer (and
    from it in the weights); both come back to where the good step left them."""
    def model():
        return dn.Sequential(dn.Dense(4096, 64), seed=0)

    X = np.zeros((3, 4096))
    X[:, 0] = [1.0, 1e154, 2.0]
    y = np.zeros((3, 64))
    y[1] = 1e154
    diverging, optimizer = model(), dn.SGD(0.1, momentum=0.9)
    assert TrainStep(diverging, dn.MSELoss(), optimizer, 1, y).folded
    with pytest.raises(dn.DivergenceError, match="epoch 0, batch 1"):
        diverging.fit(X, y, optimizer=optimizer, epochs=2, batch_size=1, shuffle=False)
    twin, twin_optimizer = model(), dn.SGD(0.1, momentum=0.9)
    twin.fit(X[:1], y[:1], optimizer=twin_optimizer, epochs=1, batch_size=1)
    assert_array_equal(diverging.params, twin.params)
    state, twin_state = optimizer.state_dict(), twin_optimizer.state_dict()
    assert state["steps"] == twin_state["steps"] == 1
    assert_array_equal(state["momentum_buffer"], twin_state["momentum_buffer"])
    assert np.abs(state["momentum_buffer"]).max() > 0


def test_folded_momentum_takes_the_gradient_alone_at_step_0_whatever_the_buffer_holds(monkeypatch):
    """SGD's first step sets the buffer to the gradient: a buffer loaded with steps 0 is
    replaced, not decayed, folded or not."""
    X, y = data()
    results = []
    for minimum in (backend.GEMM_MIN_PRODUCT, np.inf):
        monkeypatch.setattr("densenet.plan.GEMM_MIN_PRODUCT", minimum)
        monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", minimum)  # (the product decides)
        model, optimizer = big_model(), dn.SGD(0.2, momentum=0.9)
        optimizer.load_state_dict({"steps": 0, "momentum_buffer": np.full(model.params.size, 5.0)})
        model.fit(X[:8], y[:8], optimizer=optimizer, epochs=1, batch_size=8, shuffle=False)
        results.append(optimizer.state_dict()["momentum_buffer"])
    assert np.abs(results[0] - results[1]).max() <= 1e-12 * np.abs(results[1]).max()
    assert np.abs(results[1]).max() < 1.0  # the 5.0 are gone


def test_a_folded_plan_leaves_its_target_alone_until_its_coefficients_are_set():
    model = big_model()
    target = np.linspace(-1.0, 1.0, model.params.size)
    plan = model.plan(8, descent=target)
    assert plan.descent is not None
    plan.X[...] = 1.0
    plan.run_forward()
    plan.dY[...] = 1.0
    plan.run_backward(input_grad=False)
    assert_array_equal(target, np.linspace(-1.0, 1.0, model.params.size))
    for descent in plan.descent:  # now the gradients land on it (each trained module's own coefficients)
        if descent is not None:
            descent.alpha = 1.0
    plan.run_backward(input_grad=False)
    assert not np.array_equal(target, np.linspace(-1.0, 1.0, model.params.size))


def test_a_vector_to_fold_into_must_be_laid_out_like_params():
    model = big_model()
    for wrong in (np.zeros(3), model.params.astype(np.float32), np.zeros(model.params.size + 1)):
        with pytest.raises(ValueError, match="shaped like trainable_params"):
            model.plan(8, descent=wrong)


class NegatedSpy(dn.Module):
    """The identity, computed from minus its input when the planner gives it that
    (``Buffers.negated_input``): records what each of its plans was given."""

    in_place = True
    seen: list

    def takes_negated_input(self, size):
        return True

    def plan(self, buffers):
        self.seen.append(buffers.negated_input)
        X, Y = buffers.X, buffers.Y
        forward = [partial(np.negative, X, Y)] if buffers.negated_input else [partial(np.copyto, Y, X)]
        backward = [] if buffers.dX is None else [partial(np.copyto, buffers.dX, buffers.dY)]
        return chain.Passes(forward, backward)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_dense_writes_minus_its_output_for_a_consumer_that_takes_it_where_gemm_can(dtype):
    """``[X] @ W + b`` negated by gemm's ``alpha = -1`` over minus-b rows, where the Dense
    uses gemm (many outputs), so that a Sigmoid after it saves its negation pass; never
    at one row (a ones column and np.dot), nor for the model's input."""
    X = np.random.default_rng(0).standard_normal((64, 32)).astype(dtype)
    for rows, negated in ((64, [False, True]), (1, [False, False])):
        spy, first = NegatedSpy(), NegatedSpy()
        spy.seen, first.seen = [], []
        model = dn.Sequential(first, dn.Dense(32, 64), spy, dtype=dtype, seed=0)
        model[1].b[...] = np.linspace(-1, 1, 64)
        Y = model.predict(X[:rows])
        assert first.seen + spy.seen == negated
        tolerance = 50 * np.finfo(dtype).eps
        assert_allclose(Y, X[:rows].astype(np.float64) @ model[1].W + model[1].b, rtol=tolerance,
                        atol=tolerance)


#: networks whose sigmoids may take their input negated, and how many calls more their
#: plans make then: every neighbour of a sigmoid (a Dense, the input, another sigmoid,
#: other activations), where two Dense layers negate (-b rows: one call more each); and a
#: BatchNorm1d before a sigmoid (-scale and -beta: two calls more)
NEGATING = {
    "dense": (lambda: (dn.Sigmoid(), dn.Dense(2, 64), dn.Sigmoid(), dn.Sigmoid(), dn.Dense(64, 64), dn.ReLU(),
                       dn.Dense(64, 64), dn.Sigmoid(), dn.Dense(64, 64), dn.Tanh(), dn.Dense(64, 1),
                       dn.Sigmoid()), 2),
    "batchnorm": (lambda: (dn.Dense(2, 64), dn.BatchNorm1d(64), dn.Sigmoid(), dn.Dense(64, 1),
                           dn.Sigmoid()), 2),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("network", NEGATING)
def test_a_sigmoid_fed_minus_its_input_trains_bit_identically(network, dtype, monkeypatch):
    """-(X @ W + b) from gemm is exactly minus X @ W + b (the sign is exact in each term),
    and -(centred * scale + beta) is centred * -scale + -beta: a fit whose sigmoids take
    their input negated gives the bits of one whose do not."""
    X = np.random.default_rng(1).standard_normal((256, 2)).astype(dtype)
    y = (X[:, :1] * X[:, 1:] > 0).astype(dtype)
    modules, more = NEGATING[network]
    results = []
    for takes in (True, False):
        monkeypatch.setattr(dn.Sigmoid, "takes_negated_input", lambda self, size, takes=takes:
                            takes and size >= 2048)
        model = dn.Sequential(*modules(), dtype=dtype, seed=0)
        calls = len(model.plan(256).forward)
        model.fit(X, y, optimizer=dn.SGD(0.5), epochs=5, batch_size=256, shuffle=False)
        results.append((calls, model.params.copy(), model.state.copy(), model.predict(X)))
    assert results[0][0] == results[1][0] + more
    for negated, plain in zip(results[0][1:], results[1][1:]):
        assert_array_equal(negated, plain)


#: the modules with parameters other than ``Dense`` that fold descent (``BatchNorm1d``'s own
#: test is in test_batchnorm.py), made for 512 features
FOLDING = {"LayerNorm": lambda: dn.LayerNorm(512),
           "LayerNorm(bias=False)": lambda: dn.LayerNorm(512, bias=False),
           "PReLU": dn.PReLU, "PReLU(512)": lambda: dn.PReLU(512)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("block", FOLDING.values(), ids=FOLDING.keys())
def test_a_folded_fit_with_another_trained_module_follows_the_unfolded_one_to_rounding(
        block, momentum, dtype, monkeypatch):
    """A ``LayerNorm`` or ``PReLU`` among large products: the step folds plain (or heavy-ball)
    SGD into the backward pass, the module accumulating its gradients into what the descent
    updates (after its dL/dX, which reads its parameters), and the weights follow the
    unfolded fit's to rounding: at this rate the steps are smooth, and 1e-13 (float64) and
    2e-6 (float32) of the weights' scale are a few hundred and a few dozen ulp."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((64, 64)).astype(dtype), rng.uniform(size=(64, 4)).astype(dtype)
    results, moved = {}, {}
    for folds in (True, False):
        if not folds:
            monkeypatch.setattr("densenet.plan.GEMM_MIN_PRODUCT", np.inf)
            monkeypatch.setattr("densenet.plan.FOLD_MIN_BLOCK", np.inf)  # (the product decides)
        model = dn.Sequential(dn.Dense(64, 512), block(), dn.Sigmoid(), dn.Dense(512, 4), dtype=dtype, seed=0)
        model[1].flat_params[...] = np.random.default_rng(5).uniform(0.5, 1.5, model[1].n_params)
        optimizer = dn.SGD(0.02, momentum=momentum)
        assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded == folds
        start = model[1].flat_params.copy()
        model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False)
        results[folds], moved[folds] = model.params.copy(), np.abs(model[1].flat_params - start).max()
    scale, tol = np.abs(results[False]).max(), (1e-13 if dtype == np.float64 else 2e-6)
    assert np.abs(results[True] - results[False]).max() <= tol * scale
    assert moved[True] > 1e-4  # (the module's parameters trained: 2.6e-4 to 1.2)


def test_every_built_in_module_with_parameters_folds_descent():
    """A model folds only where each module with parameters does: one built-in block that
    did not would cost every model with it SGD's own pass over every parameter."""
    classes = [cls for cls in vars(dn).values() if isinstance(cls, type) and issubclass(cls, dn.Module)]
    trained = [cls for cls in classes if cls.param_shapes is not dn.Module.param_shapes]
    assert {cls.__name__ for cls in trained} >= {"Dense", "BatchNorm1d", "LayerNorm", "PReLU"}
    assert [cls.__name__ for cls in trained if not cls.folds_descent] == []


class DecayFrom(dn.Callback):
    """Sets the optimiser's weight decay after the first epoch."""

    def __init__(self, weight_decay):
        self.weight_decay = weight_decay

    def on_epoch_end(self, epoch, logs=None):
        self.params["optimizer"].weight_decay = self.weight_decay


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("how", ["every parameter", "decay_mask", "set after an epoch"])
def test_momentum_with_weight_decay_folds_and_follows_the_unfolded_fit_to_rounding(how, dtype):
    """Heavy-ball SGD with weight decay, the classic recipe: the gradient products land on
    the momentum buffer, then one pass adds the decay to it (``buffer += wd * params``, the
    masked parameters alone under a ``decay_mask``; the decay as it is at each step) before
    the update. The weights and the buffer follow the unfolded fit's to rounding (tolerances
    as above), and the decay acted (a fit without it ends elsewhere)."""
    X, y = data(dtype=dtype)
    results = {}
    for fold, wd in ((True, 0.05), (False, 0.05), (True, 0.0)):
        model = big_model(dtype)
        mask = model.decay_mask() if how == "decay_mask" else None
        late = how == "set after an epoch"
        optimizer = dn.SGD(0.5, momentum=0.9, weight_decay=0.0 if late else wd, decay_mask=mask, fold=fold)
        assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded == fold
        model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, shuffle=False,
                  callbacks=[DecayFrom(wd)] if late else [])
        results[fold, wd] = model.params.copy(), optimizer.state_dict()["momentum_buffer"]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for folded, unfolded in zip(results[True, 0.05], results[False, 0.05]):
        assert np.abs(folded - unfolded).max() <= tol * np.abs(unfolded).max()
    assert np.abs(results[True, 0.05][0] - results[True, 0.0][0]).max() > 1e-3  # (the decay's work)
