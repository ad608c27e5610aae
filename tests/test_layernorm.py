"""LayerNorm: what it computes, row by row at any batch size, its arguments, copies, the
ONNX export, and PyTorch's autograd and training loop."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import COPIES, copied, forward_into_a_strided_output
from .torch_twin import assert_mse_gradients_equal_pytorch, torch_fit, torch_flat_params, torch_twin

#: (elementwise_affine, bias): the three shapes of its parameters
KINDS = [(True, True), (True, False), (False, True)]


def normalised(affine=True, bias=True, dtype=np.float64, seed=0):
    """Two LayerNorms among Dense layers, with random scales and shifts (not their starts)."""
    model = dn.Sequential(dn.Dense(5, 16), dn.LayerNorm(16, elementwise_affine=affine, bias=bias), dn.Tanh(),
                          dn.Dense(16, 8), dn.LayerNorm(8, eps=1e-3), dn.ReLU(), dn.Dense(8, 3), dtype=dtype,
                          seed=seed)
    rng = np.random.default_rng(seed + 1)
    for module in (model[1], model[4]):
        for name in ("gamma", "beta"):
            if name in named(module):
                setattr(module, name, rng.uniform(0.5, 2.0, module.normalized_shape) * rng.choice([-1, 1]))
    return model


def named(module):
    """The module's parameters by name (its views into its blocks)."""
    return module.param_views(module.blocks()[0])


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal((n, 5)) + 1, rng.standard_normal((n, 3))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine, bias", KINDS)
def test_each_row_is_normalised_by_its_own_statistics(affine, bias, dtype):
    norm = dn.LayerNorm(4, eps=1e-3, elementwise_affine=affine, bias=bias)
    model = dn.Sequential(norm, dtype=dtype, seed=0)
    gamma, beta = np.array([1.0, -2.0, 0.5, 3.0]), np.array([0.1, 0.0, -1.0, 2.0])
    if affine:
        norm.gamma = gamma
    if affine and bias:
        norm.beta = beta
    X = (np.random.default_rng(0).standard_normal((6, 4)) * [1, 2, 3, 4] + [0, 1, -1, 5]).astype(dtype)
    wide = X.astype(np.float64)
    mean, var = wide.mean(axis=1, keepdims=True), wide.var(axis=1, keepdims=True)
    expected = ((X - mean) / np.sqrt(var + 1e-3) * (gamma if affine else 1.0)
                + (beta if affine and bias else 0.0))
    tol = 1e-13 if dtype == np.float64 else 2e-6
    for Y in (model.forward(X), model.predict(X), np.vstack([model.predict(row[None]) for row in X])):
        assert Y.dtype == dtype
        assert_allclose(Y, expected, rtol=tol, atol=tol)


def equal_values_model(dtype, affine=True, bias=True, eps=1e-5):
    """A LayerNorm of 7 features with scales and shifts that are not their starts."""
    model = dn.Sequential(dn.LayerNorm(7, eps=eps, elementwise_affine=affine, bias=bias), dtype=dtype, seed=0)
    for name, values in (("gamma", [1.5, -0.5, 2.0, 0.75, -3.0, 1.0, 0.5]),
                         ("beta", [0.25, -1.0, 0.5, 0.0, 2.0, -0.5, 1.0])):
        if name in named(model[0]):
            setattr(model[0], name, values)
    return model


@pytest.mark.parametrize("affine, bias", KINDS)
@pytest.mark.parametrize("dtype, value", [(np.float32, 1e5), (np.float32, 1e8), (np.float32, 255.0),
                                          (np.float64, 0.1), (np.float64, 1e15 + 0.5)])
def test_a_row_of_equal_values_normalises_to_beta_exactly(dtype, value, affine, bias):
    """The row's mean was summed and scaled with rounding, so a row of equal values was
    centred to rounding noise, which dividing by the root of a small variance then
    magnified: a float32 row of 1e5 normalised to -0.93 and one of 255 (a white pixel) to
    0.0048, where PyTorch's output is beta, its variance 0. Its gradient is that of a
    variance of 0, ``dX = (G - mean(G)) / sqrt(eps)`` (``G = dY gamma``), and it adds
    nothing to ``dgamma``."""
    model = equal_values_model(dtype, affine, bias)
    norm = model[0]
    gamma, beta = named(norm).get("gamma", np.ones(7)), named(norm).get("beta", np.zeros(7))
    rng = np.random.default_rng(4)
    X = np.array([np.full(7, value), value + rng.standard_normal(7) * value / 100], dtype)
    G = rng.standard_normal((2, 7)).astype(dtype)
    for Y in (model.forward(X), model.predict(X), model.predict(X[:1])):
        assert_array_equal(Y[0], beta.astype(dtype))
    model.train().forward(X[:1])
    dX = model.backward(G[:1])
    inv = 1 / np.sqrt(np.float64(dtype(1e-5)))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    expected = inv * (G[0] * gamma - (G[0] * gamma).mean())
    assert_allclose(dX[0], expected, rtol=tol, atol=tol * np.abs(expected).max())
    if affine:
        assert not norm.dgamma.any()


@pytest.mark.parametrize("affine, bias", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_layernorm_of_one_feature_passes_back_no_gradient(dtype, affine, bias):
    """Over one feature each row is a row of equal values: the output is beta whatever the
    input, so the input gradient is 0 and the layers before it learn nothing. It was
    computed as ``dY * (r gamma) - r * (dY gamma)``, which round apart: times ``r =
    1/sqrt(eps)`` (316), 6.9e-5 in float32 for inputs of 10, which trained the layers
    before it on noise."""
    model = dn.Sequential(dn.Dense(3, 1), dn.LayerNorm(1, elementwise_affine=affine, bias=bias),
                          dn.Dense(1, 2), dtype=dtype, seed=0)
    rng = np.random.default_rng(6)
    for name in ("gamma", "beta"):
        if name in named(model[1]):
            setattr(model[1], name, rng.uniform(0.5, 2.0, 1))
    X = (10 * rng.standard_normal((16, 3))).astype(dtype)
    model.train().forward(X)
    dX = model.backward(rng.standard_normal((16, 2)).astype(dtype))
    assert not dX.any()
    assert not model[0].dW.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_far_from_zero_keep_their_spread_s_digits(dtype):
    """Rows of spread 1 offset by up to 1e4: the rounding of the mean was 1e4 times the
    dtype's precision, which the normalisation carries into every output (4.4e-3 off in
    float32); each row shifted by its first value, the outputs are within a few units of
    the last place of a long-double reference."""
    rng = np.random.default_rng(5)
    for size in (3, 16, 300):
        for offset in (1e2, -1e3, 1e4):
            X = (rng.standard_normal((8, size)) + offset).astype(dtype)
            exact = X.astype(np.longdouble)
            centred = exact - exact.mean(axis=1, keepdims=True)
            var = (centred * centred).mean(axis=1, keepdims=True)
            exact = centred / np.sqrt(var + np.longdouble(dtype(1e-5)))
            Y = dn.Sequential(dn.LayerNorm(size), dtype=dtype, seed=0).predict(X)
            assert_allclose(Y, exact.astype(np.float64), rtol=0,
                            atol=8 * np.finfo(dtype).eps * float(np.abs(exact).max()))


@pytest.mark.parametrize("affine, bias", KINDS)
def test_its_parameters_are_pytorch_s(affine, bias):
    torch = pytest.importorskip("torch")
    norm = dn.LayerNorm(6, elementwise_affine=affine, bias=bias)
    theirs = torch.nn.LayerNorm(6, elementwise_affine=affine, bias=bias)
    ours = named(norm)
    assert list(ours) == [name for name, kept in (("gamma", theirs.weight), ("beta", theirs.bias))
                          if kept is not None]
    for name, value in ours.items():
        assert_array_equal(value, {"gamma": theirs.weight, "beta": theirs.bias}[name].detach().numpy())
    assert norm.n_params == sum(p.numel() for p in theirs.parameters())
    assert repr(dn.LayerNorm(6)) == "LayerNorm(normalized_shape=6)"
    assert repr(dn.LayerNorm(6, eps=1e-3, bias=False)) == ("LayerNorm(normalized_shape=6, eps=0.001, "
                                                           "bias=False)")


@pytest.mark.parametrize("affine, bias", KINDS)
def test_values_and_gradients_equal_pytorch_autograd(affine, bias):
    pytest.importorskip("torch")
    model = normalised(affine, bias)
    assert_mse_gradients_equal_pytorch(model, torch_twin(model), *data())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_fit_follows_pytorch_s_training_loop(optimizer):
    torch = pytest.importorskip("torch")
    model = normalised(seed=2)
    net = torch_twin(model)
    X, y = data(64)
    ours, theirs = {"sgd": (dn.SGD(0.1), torch.optim.SGD(net.parameters(), lr=0.1)),
                    "adam": (dn.Adam(1e-2), torch.optim.Adam(net.parameters(), lr=1e-2))}[optimizer]
    model.fit(X, y, optimizer=ours, epochs=4, batch_size=16, shuffle=False)
    torch_fit(net, theirs, X, y, 4, 16)
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("affine, bias", KINDS)
def test_gradcheck_passes(affine, bias):
    model = normalised(affine, bias)
    X, y = data(7)
    assert dn.gradcheck(model, X, y).ok


def test_it_trains_at_batch_size_one():
    """No batch statistics: a batch of one row is normalised by that row, as any other."""
    model = normalised(seed=3)
    X, y = data(16)
    before = dn.MSELoss().forward(model.predict(X), y)
    model.fit(X, y, optimizer=dn.SGD(0.05), epochs=5, batch_size=1)
    assert dn.MSELoss().forward(model.predict(X), y) < 0.5 * before


def test_reset_parameters_starts_the_scales_and_shifts_again():
    model = normalised()
    model.reset_parameters(5)
    assert_array_equal(model[1].gamma, np.ones(16))
    assert_array_equal(model[1].beta, np.zeros(16))
    assert_array_equal(model[4].gamma, np.ones(8))


@pytest.mark.parametrize("how", COPIES)
def test_a_copy_keeps_its_arguments_and_trains_alike(how, tmp_path):
    model = normalised(affine=True, bias=False)
    twin = copied(model, how, tmp_path)
    assert [repr(m) for m in twin] == [repr(m) for m in model]
    X, y = data()
    for m in (model, twin):
        m.fit(X, y, optimizer=dn.Adam(1e-2), epochs=2, batch_size=8, seed=0)
    assert_array_equal(twin.params, model.params)
    assert np.shares_memory(twin[1].gamma, twin.params)


@pytest.mark.parametrize("name, value, error", [
    ("normalized_shape", 0, ValueError), ("normalized_shape", 2.5, TypeError),
    ("eps", 0.0, ValueError), ("eps", float("nan"), ValueError), ("eps", "1e-5", TypeError),
    ("elementwise_affine", 1, TypeError), ("bias", "yes", TypeError),
])
def test_bad_arguments_are_refused_by_name(name, value, error):
    arguments = {"normalized_shape": 4, name: value}
    with pytest.raises(error, match=name):
        dn.LayerNorm(**arguments)


def test_widths_must_match():
    with pytest.raises(ValueError, match=r"LayerNorm\(normalized_shape=4\)"):
        dn.Sequential(dn.Dense(3, 5), dn.LayerNorm(4))


@pytest.mark.parametrize("affine, bias", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_onnx_export_gives_what_predict_gives(dtype, affine, bias):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from densenet.onnx import export

    model = normalised(affine, bias, dtype)
    X = data()[0].astype(dtype)
    proto = export(model)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (Y,) = session.run(None, {"X": X})
    tol = 1e-12 if dtype == np.float64 else 1e-5  # (about 100 ulps of the outputs)
    assert_allclose(Y, model.predict(X), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, values", [(np.float32, [255.0, 1e5, 1e30]),
                                           (np.float64, [0.1, 1e15 + 0.5, 1e300])])
def test_the_onnx_export_normalises_a_row_of_equal_values_to_beta_exactly(dtype, values):
    """As the passes (a first LayerNorm's huge rows scaled first): each row less its first
    value, then centred."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from densenet.onnx import export

    model = equal_values_model(dtype)
    X = np.array([np.full(7, value) for value in values], dtype)
    session = ort.InferenceSession(export(model).SerializeToString(), providers=["CPUExecutionProvider"])
    (Y,) = session.run(None, {"X": X})
    assert_array_equal(Y, np.tile(model[0].beta, (len(values), 1)))
    assert_array_equal(model.predict(X), Y)


@pytest.mark.parametrize("affine, bias", KINDS)
@pytest.mark.parametrize("dtype, bigs", [(np.float64, [1e155, 1e300, 1.7e308]),
                                         (np.float32, [2e19, 1e30, 3e38])])
def test_a_first_layernorm_normalises_huge_rows(dtype, bigs, affine, bias):
    """Rows beyond the rescue threshold (2**511, 2**63 in float32) reach a first LayerNorm
    scaled, each by its own power of two (``forward_scaled``), with ``eps`` scaled alike:
    their squares overflowed, and the rows came out as 0 (or NaN beside the largest float)
    where their normalised values are those of the row divided by its size. A constant
    row comes out as it does at a scale that does not overflow (where ``eps`` is nothing
    beside the rounding of its mean: a row of 2**300, or 2**61 in float32), and the rows
    beside them as they do alone."""
    model = dn.Sequential(dn.LayerNorm(3, elementwise_affine=affine, bias=bias), dtype=dtype, seed=0)
    norm = model[0]
    for name, values in (("gamma", [1.5, -0.5, 2.0]), ("beta", [0.25, -1.0, 0.5])):
        if hasattr(norm, name):
            setattr(norm, name, values)
    gamma, beta = getattr(norm, "gamma", 1.0), getattr(norm, "beta", 0.0)
    pattern = np.array([1.0, 0.5, -1.0])
    ordinary = np.array([[3.0, -1.0, 0.5], [1e-30, 0.0, 2e-30]], dtype)
    for big in bigs:
        X = np.vstack([np.array([big * pattern, [big, big, big]], dtype), ordinary])
        Y = model.predict(X)
        centred = pattern - pattern.mean()
        exact = centred / np.sqrt((centred ** 2).mean()) * gamma + beta  # (eps / big**2 is nothing)
        assert_allclose(Y[0], exact, rtol=8 * np.finfo(dtype).eps)
        moderate = np.ldexp(X[1], (301 if dtype == np.float64 else 62) - int(np.frexp(big)[1]))
        assert_array_equal(Y[1], model.predict(moderate[None])[0])
        assert_array_equal(Y[2:], model.predict(ordinary))


@pytest.mark.parametrize("dtype, eps, big", [(np.float32, 1e-40, 1e30), (np.float64, 1e-310, 1e300)])
def test_rows_beside_a_huge_one_keep_their_bits_with_a_subnormal_eps(dtype, eps, big):
    """An ``eps`` below the smallest normal number is taken as it is by the passes; the
    rescaled rows' ``eps * 4**-k`` is at least that normal number where it would be 0, and a
    row of power 0 (within [-1, 1]) keeps ``eps``: the rows beside a huge one are as alone
    (they got the smallest normal number instead: a row of a tiny spread another value)."""
    model = dn.Sequential(dn.LayerNorm(3, eps=eps), dtype=dtype, seed=0)
    spread = np.sqrt(eps)  # (a variance beside eps, and below the smallest normal number)
    ordinary = np.array([[0.0, spread, -spread], [0.5, 0.25, -1.0]], dtype)
    Y = model.predict(np.vstack([np.array([[big, -big, 0.5 * big]], dtype), ordinary]))
    assert_array_equal(Y[1:], model.predict(ordinary))


def test_it_plans_into_a_strided_output():
    """The planner may hand a module any output view (``Buffers.Y`` may be strided, as the
    next module's ``[X, 1]``): every row is written, nothing beside it."""
    norm = dn.LayerNorm(3)
    norm.gamma, norm.beta = [1.0, 2.0, 3.0], [0.5, 0.0, -0.5]
    X = np.array([[1.0, 2.0, 3.0], [3.0, -1.0, 0.0], [0.0, 0.5, 2.0], [2.0, 2.0, 4.0]])
    out, _ = forward_into_a_strided_output(norm, X)
    assert_allclose(out[:, 1:4], norm.forward(X), rtol=1e-15)
    assert not out[:, [0, 4]].any()
