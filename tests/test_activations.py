"""The activations: values, stability, gradients, and PyTorch's autograd."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import ACTIVATIONS, COPIES, copied


def finite_extremes(dtype, rows=3):
    big = np.finfo(dtype).max
    row = np.array([-big, -1e4, -745.0, -1.0, 0.0, 1.0, 745.0, 1e4, big], dtype=dtype)
    return np.tile(row, (rows, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_stable_for_every_finite_input(kind, dtype):
    X = finite_extremes(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        act = kind()
        if act.n_params:  # (PReLU's slope: a module with parameters computes in their dtype)
            dn.Sequential(dn.Dense(X.shape[1], X.shape[1]), act, dtype=dtype)
        Y = act.forward(X)
        dX = act.backward(np.ones_like(X))
    assert Y.dtype == dtype
    assert dX.dtype == dtype
    # SELU scales its positive side by 1.0507: beyond the float range its value is inf
    limit = np.finfo(dtype).max / (1.0507009873554804934193349852946 if kind is dn.SELU else 1.0)
    overflows = np.greater(X, limit)
    if kind is dn.LogSoftmax:  # a log-probability below the float range is -inf
        with np.errstate(over="ignore"):
            overflows = np.isinf(X - X.max(axis=1, keepdims=True))
    assert_array_equal(np.isfinite(Y), ~overflows)
    assert np.isfinite(dX).all()


def test_relu_values_and_gradient_at_zero():
    act = dn.ReLU()
    assert_array_equal(act.forward([[-2.0, -0.0, 0.0, 3.0]]), [[0.0, 0.0, 0.0, 3.0]])
    assert_array_equal(act.backward([[5.0, 5.0, 5.0, 5.0]]), [[0.0, 0.0, 0.0, 5.0]])


def test_leaky_relu_values_slope_and_gradient_at_zero():
    act = dn.LeakyReLU(0.2)
    assert_allclose(act.forward([[-2.0, -0.0, 0.0, 3.0]]), [[-0.4, 0.0, 0.0, 3.0]], rtol=1e-15)
    assert_allclose(act.backward([[5.0, 5.0, 5.0, 5.0]]), [[1.0, 1.0, 1.0, 5.0]], rtol=1e-15)
    assert dn.LeakyReLU().negative_slope == 0.01
    assert repr(dn.LeakyReLU()) == "LeakyReLU()"
    assert repr(act) == "LeakyReLU(negative_slope=0.2)"
    assert act.config() == {"negative_slope": 0.2}
    assert_array_equal(dn.LeakyReLU(0.0).forward([[-2.0, 3.0]]), dn.ReLU().forward([[-2.0, 3.0]]))


@pytest.mark.parametrize("slope, error", [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                          ("0.1", TypeError), (True, TypeError)])
def test_leaky_relu_refuses_a_slope_outside_0_1_by_name(slope, error):
    with pytest.raises(error, match="negative_slope"):
        dn.LeakyReLU(slope)


@pytest.mark.parametrize("rows", [1, 400])  # (Phi by ndtr, then by densenet.normal's passes)
def test_gelu_values_and_its_far_tail(rows):
    from math import erf, exp, pi, sqrt

    X = np.tile(np.linspace(-6, 6, 25), (rows, 1))
    act = dn.GELU()
    expected = np.array([[0.5 * x * (1 + erf(x / sqrt(2))) for x in X[0]]])
    assert_allclose(act.forward(X), np.tile(expected, (rows, 1)), rtol=1e-14, atol=1e-16)
    dY = np.random.default_rng(0).standard_normal(X.shape)
    slope = np.array([[0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x * x / 2) / sqrt(2 * pi) for x in X[0]]])
    assert_allclose(act.backward(dY), dY * slope, rtol=1e-13, atol=1e-16)
    # -10 * Phi(-10), Phi(-10) = 7.619853024160527e-24 (where 1 + erf(-10 / sqrt(2)) rounds to 0)
    tail = dn.GELU().forward(np.full((rows, 25), -10.0))
    assert_allclose(tail, -7.619853024160527e-23, rtol=1e-13, atol=0)
    # float32: within (4 + x**2 / 2) eps of the exact value for the input as rounded
    X32 = X.astype(np.float32)
    exact32 = np.array([[0.5 * x * (1 + erf(x / sqrt(2))) for x in X32[0].astype(float)]])
    assert_allclose(dn.GELU().forward(X32), np.tile(exact32, (rows, 1)), rtol=22 * np.finfo(np.float32).eps,
                    atol=0)


def test_selu_keeps_a_deep_network_s_activations_normalised():
    """SELU's point: 32 Dense layers of width 256 drawn with LeCun's variance (1 / fan_in)
    keep standard-normal inputs near mean 0 and variance 1 at every layer, where the same
    network with ReLU (whose variance halves at each layer at that scale) fades away."""
    X = np.random.default_rng(0).standard_normal((2048, 256))
    for kind, kept in ((dn.SELU, True), (dn.ReLU, False)):
        modules: list[dn.Module] = []
        for _ in range(32):
            modules += [dn.Dense(256, 256, init="lecun_normal"), kind()]
        model = dn.Sequential(*modules, seed=1)
        Z = X
        for i in range(0, len(model), 2):
            Z = model[i + 1].forward(model[i].forward(Z))
            if kept:
                assert abs(Z.mean()) < 0.1, (i // 2, Z.mean(), Z.var())
                assert 0.85 < Z.var() < 1.15, (i // 2, Z.mean(), Z.var())
        assert (Z.var() > 0.85) == kept, Z.var()


def test_selu_is_scaled_elu():
    X = np.linspace(-30, 30, 41).reshape(1, -1)
    dY = np.random.default_rng(1).standard_normal(X.shape)
    selu, elu = dn.SELU(), dn.ELU(1.6732632423543772848170429916717)
    scale = 1.0507009873554804934193349852946
    assert_allclose(selu.forward(X), scale * elu.forward(X), rtol=1e-15, atol=0)
    assert_allclose(selu.backward(dY), scale * elu.backward(dY), rtol=1e-15, atol=0)
    assert repr(selu) == "SELU()"
    assert selu.config() == {}


def test_silu_values_and_slope():
    from math import exp

    X = np.linspace(-40, 40, 33).reshape(1, -1)
    act = dn.SiLU()
    sigmoid = np.array([[1 / (1 + exp(-x)) for x in X[0]]])
    assert_allclose(act.forward(X), X * sigmoid, rtol=1e-15, atol=0)
    dY = np.random.default_rng(0).standard_normal(X.shape)
    assert_allclose(act.backward(dY), dY * sigmoid * (1 + X * (1 - sigmoid)), rtol=1e-14, atol=0)
    # far below zero: -0 and a zero slope, no NaN from -inf * 0
    assert_array_equal(dn.SiLU().forward(np.array([[-1e300, -800.0]])), [[-0.0, -0.0]])


@pytest.mark.parametrize("alpha", [0.5, 0.0, 1.0, 2.0])  # (0: ReLU; 1: its slope needs no [X > 0])
def test_elu_values_alpha_and_slope_at_zero(alpha):
    from math import expm1

    X = np.array([[-50.0, -1.0, -1e-12, -0.0, 0.0, 1e-12, 2.0]])
    act = dn.ELU(alpha)
    expected = [[alpha * expm1(x) if x <= 0 else x for x in X[0]]]
    assert_allclose(act.forward(X), expected, rtol=1e-15, atol=0)  # expm1: exact near 0
    # the slope alpha * exp(X) below zero and at it (PyTorch's), 1 above
    slope = [[alpha * np.exp(x) if x <= 0 else 1.0 for x in X[0]]]  # 1e-22 at -50
    assert_allclose(act.backward(np.full(X.shape, 3.0)), 3 * np.array(slope), rtol=1e-15, atol=0)
    assert act.config() == {"alpha": alpha}
    if alpha == 0.0:
        relu = dn.ReLU()
        assert_array_equal(act.forward(X), relu.forward(X))
        assert_array_equal(act.backward(np.full(X.shape, 3.0)), relu.backward(np.full(X.shape, 3.0)))


def test_elu_repr():
    assert dn.ELU().alpha == 1.0
    assert repr(dn.ELU()) == "ELU()"
    assert repr(dn.ELU(0.5)) == "ELU(alpha=0.5)"


@pytest.mark.parametrize("alpha, error", [(-0.1, ValueError), (float("inf"), ValueError),
                                          (float("nan"), ValueError), ("1", TypeError), (None, TypeError)])
def test_elu_refuses_a_negative_or_non_finite_alpha_by_name(alpha, error):
    with pytest.raises(error, match="ELU: .*alpha"):
        dn.ELU(alpha)


@pytest.mark.parametrize("make, theirs", [(lambda: dn.LeakyReLU(0.2), "LeakyReLU(0.2)"),
                                          (lambda: dn.ELU(0.3), "ELU(0.3)"),
                                          (lambda: dn.ELU(2.0), "ELU(2.0)"), (dn.SELU, "SELU()"),
                                          (dn.Softplus, "Softplus()"),
                                          (lambda: dn.Softplus(2.0, 5.0), "Softplus(2.0, 5.0)"),
                                          (dn.SiLU, "SiLU()"),
                                          (dn.GELU, "GELU()")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows", [2, 400])  # (GELU's Phi: ndtr, then densenet.normal's passes)
def test_activations_with_their_arguments_equal_pytorch(make, theirs, dtype, rows):
    """Values and dL/dX, on inputs from far below zero to far above it, zeros of both signs
    among them, against PyTorch's autograd: 1e-13 relative in float64, 1e-6 in float32.
    PyTorch's GELU is ``0.5 x (1 + erf(x / sqrt(2)))``, which cancels below zero: a few
    ``eps |x|`` off there (2.3 in float32 at ``x = -3``, where densenet's ``x Phi(x)`` is
    within 1e-7 of the exact value). SiLU's and GELU's slopes cross zero (at ``x = -1.278``
    and ``-0.752``), where their two terms (at most 1.1) cancel in either library's
    rounding: their dL/dX is compared within ``eps |dY|`` besides."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.standard_normal(23 * rows - 6) * 3, [-80.0, -20.0, -0.0, 0.0, 20.0, 80.0]])
    X = X.reshape(rows, -1)
    X, dY = X.astype(dtype), rng.standard_normal(X.shape).astype(dtype)
    x = torch.tensor(X, requires_grad=True)
    y = eval(f"torch.nn.{theirs}")(x)
    y.backward(torch.tensor(dY))
    act, rtol = make(), 1e-13 if dtype == np.float64 else 1e-6
    tiny, eps = np.finfo(dtype).tiny, np.finfo(dtype).eps
    cancels = 4 * eps * np.abs(X) if theirs == "GELU()" else 0.0  # (an array: checked by hand)
    crosses = eps * np.abs(dY) if theirs in ("SiLU()", "GELU()") else 0.0
    for ours, them, atol in ((act.forward(X), y.detach().numpy(), cancels),
                             (act.backward(dY), x.grad.numpy(), cancels * np.abs(dY) + crosses)):
        worst = np.max(np.abs(ours - them) / (atol + rtol * np.abs(them) + tiny))
        assert worst <= 1, f"{worst:.3g} x the tolerance"


@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 5.0), (0.5, 0.0)])
def test_softplus_is_the_input_beyond_its_threshold_and_smooth_below(beta, threshold):
    """Beyond ``beta X > threshold`` the output is X and the slope 1, exactly (PyTorch's
    output jumps there); below, ``log1p(exp(beta X)) / beta`` and ``sigmoid(beta X)``."""
    from math import exp, log1p

    edge = threshold / beta
    X = np.array([[-800.0, -30.0, -1.0, 0.0, 1.0, edge - 1e-9, edge, np.nextafter(edge, np.inf), edge + 1e-10,
                   edge + 3.0, 1e300]])
    act = dn.Softplus(beta, threshold)
    below = [beta * x <= threshold for x in X[0]]
    expected = [[log1p(exp(beta * x)) / beta if b else x for x, b in zip(X[0], below)]]  # (no exp(1e300))
    assert_allclose(act.forward(X), expected, rtol=1e-15, atol=0)
    slope = [[1 / (1 + exp(-beta * x)) if b and beta * x > -700 else (0.0 if b else 1.0)
              for x, b in zip(X[0], below)]]
    assert_allclose(act.backward(np.ones(X.shape)), slope, rtol=1e-15, atol=0)
    assert act.config() == {"beta": beta, "threshold": threshold}
    assert repr(act) == ("Softplus()" if (beta, threshold) == (1.0, 20.0) else
                         f"Softplus(beta={beta!r}, threshold={threshold!r})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 200])  # (log1p by NumPy, then by densenet.elementary's passes)
def test_softplus_with_a_threshold_beyond_the_float_range_of_exp_stays_finite(dtype, rows):
    """With a threshold past where ``exp`` overflows (89 in float32, 710 in float64) every
    output is within 2 ulp of the exact value, the slope within 2 ulp of its, and nothing
    overflows: the threshold stops where the softplus is its input to rounding."""
    import warnings

    from densenet.softplus import SATURATED

    edge = SATURATED[np.dtype(dtype)]
    x = np.array([-50.0, -1.0, 0.0, 1.0, edge - 1, edge, edge + 0.5, 100.0, 700.0, 1e4, 1e30])
    X = np.tile(x, (rows, 1)).astype(dtype)
    act = dn.Softplus(beta=1.0, threshold=1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y, slope = act.forward(X), act.backward(np.ones_like(X))
    exact = np.logaddexp(np.longdouble(0), X.astype(np.longdouble))
    sigmoid = 1 / (1 + np.exp(-X.astype(np.longdouble)))
    spacing = np.spacing(np.maximum(exact, np.finfo(dtype).tiny).astype(dtype))
    assert np.all(np.abs(Y - exact) <= 2 * spacing)
    assert np.all(np.abs(slope - sigmoid) <= 2 * np.spacing(sigmoid.astype(dtype)))
    assert np.all(Y[:, x > edge] == X[:, x > edge])
    assert np.all(slope[:, x > edge] == 1)


@pytest.mark.parametrize("arguments, error", [({"beta": 0.0}, ValueError), ({"beta": -1.0}, ValueError),
                                              ({"threshold": float("inf")}, ValueError),
                                              ({"beta": "1"}, TypeError)])
def test_softplus_refuses_bad_arguments_by_name(arguments, error):
    with pytest.raises(error, match="Softplus: .*(beta|threshold)"):
        dn.Softplus(**arguments)


def test_tanh_values():
    X = np.linspace(-5, 5, 11).reshape(1, -1)
    act = dn.Tanh()
    assert_allclose(act.forward(X), np.tanh(X), rtol=1e-15)
    dY = np.random.default_rng(0).standard_normal(X.shape)
    assert_allclose(act.backward(dY), dY * (1 - np.tanh(X) ** 2), rtol=1e-14)


def test_softmax_rows_are_probabilities_even_for_huge_logits():
    X = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0], [-1e300, -1e300, -1e300]])
    Y = dn.Softmax().forward(X)
    assert_allclose(Y.sum(axis=1), 1.0, rtol=1e-15)
    assert_allclose(Y[0], [1.0, 0.0, 0.0])
    assert_allclose(Y[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-15)
    assert_allclose(Y[2], [1 / 3] * 3, rtol=1e-15)


def test_softmax_refuses_a_1d_array():
    with pytest.raises(ValueError, match=r"^Softmax\(\): X must be 2-D \(n_samples, n_features\), got 1-D "
                                         r"shape \(3,\)"):
        dn.Softmax().forward(np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("kind", [*ACTIVATIONS, lambda: dn.Dense(2, 3), lambda: dn.LayerNorm(2)],
                         ids=[kind.__name__ for kind in ACTIVATIONS] + ["Dense", "LayerNorm"])
def test_a_module_on_its_own_names_itself_when_it_refuses_its_arrays(kind):
    """Called on its own, a module is what the user called: its errors name it."""
    module = kind()
    X = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(module))}: X holds 1 non-finite value"):
        module.forward(np.where(X > 0.9, np.nan, X))
    module.forward(X)
    name = re.escape(repr(module))
    with pytest.raises(ValueError, match=rf"^{name}\.backward: dY holds 1 non-finite value"):
        module.backward(np.where(X > 0.9, np.inf, X))
    with pytest.raises(TypeError, match=rf"^{re.escape(repr(module))}: X must hold real numbers"):
        module.forward([["a", "b"]])


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_backward_matches_central_differences(kind):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 5))
    X[np.abs(X) < 1e-3] = 0.5  # keep ReLU's kink away from the differences
    W = rng.standard_normal((4, 5))  # L = sum(W * f(X)): dL/dY = W
    act, eps = kind(), 1e-6
    act.forward(X)
    analytic = act.backward(W)
    numeric = np.empty_like(X)
    for idx in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (np.sum(W * kind().forward(up)) - np.sum(W * kind().forward(down))) / (2 * eps)
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_each_activation_passes_gradcheck_inside_a_model(kind):
    model = dn.Sequential(dn.Dense(3, 6), kind(), dn.Dense(6, 4), kind(), seed=0)
    rng = np.random.default_rng(2)
    assert dn.gradcheck(model, rng.standard_normal((5, 3)), rng.uniform(size=(5, 4))).ok


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_standalone_and_planned_passes_agree_at_batch_size_one(kind):
    """At batch size 1 the planner writes a module's output into [Y, 1] for a following Dense."""
    model = dn.Sequential(dn.Dense(3, 4), kind(), dn.Dense(4, 2), seed=0)
    X = np.random.default_rng(3).standard_normal((1, 3))
    by_hand = model[2].forward(model[1].forward(model[0].forward(X)))
    assert_allclose(model.forward(X), by_hand, rtol=1e-15)


@pytest.mark.parametrize("how", COPIES)
def test_activations_keep_their_arguments_in_copies_and_files(how, tmp_path):
    model = dn.Sequential(dn.Dense(3, 4), dn.LeakyReLU(0.2), dn.Dense(4, 4), dn.ELU(0.5), dn.Dense(4, 2),
                          seed=0)
    twin = copied(model, how, tmp_path)
    assert [repr(m) for m in twin] == [repr(m) for m in model]
    assert twin[1].negative_slope == 0.2
    assert twin[3].alpha == 0.5
    X = np.random.default_rng(5).standard_normal((6, 3)) * 3
    assert_array_equal(twin.predict(X), model.predict(X))



@pytest.mark.parametrize("rows", [3, 400])
@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_an_activation_first_in_a_model_gives_what_it_gives_alone(kind, rows):
    """The first module of a model writes no dL/dX, and plans without it: its output in
    ``predict`` and ``fit`` is still what the module computes on its own."""
    X = np.random.default_rng(2).standard_normal((rows, 23)) * 3
    model = dn.Sequential(kind(), dn.Dense(23, 2), seed=0)
    expected = model[1].forward(model[0].forward(X))
    assert_allclose(model.predict(X), expected, rtol=1e-12, atol=1e-14)
    step = model.clone()
    step.fit(X, np.zeros((rows, 2)), loss=dn.MSELoss(), optimizer=dn.SGD(0.1), epochs=1, batch_size=rows)
    dW = (model[1].W - step[1].W) / 0.1  # one step: the Dense gradient from the activation's output
    assert_allclose(dW, model[0].forward(X).T @ (2 * expected / expected.size), rtol=1e-10, atol=1e-13)
