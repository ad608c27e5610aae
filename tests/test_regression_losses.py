"""L1Loss, HuberLoss and SmoothL1Loss: their definitions, PyTorch's values and gradients,
their arguments, and what they are for: a fit that outliers do not pull away."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import mlp


def huber(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


#: name -> (the loss, its elementwise definition, its elementwise derivative, PyTorch's class and arguments)
LOSSES = {
    "l1": (dn.L1Loss(), np.abs, np.sign, "L1Loss()"),
    "huber": (dn.HuberLoss(), lambda d: huber(d, 1.0), lambda d: np.clip(d, -1.0, 1.0), "HuberLoss()"),
    "huber_0.3": (dn.HuberLoss(delta=0.3), lambda d: huber(d, 0.3), lambda d: np.clip(d, -0.3, 0.3),
                  "HuberLoss(delta=0.3)"),
    "huber_2.5": (dn.HuberLoss(2.5), lambda d: huber(d, 2.5), lambda d: np.clip(d, -2.5, 2.5),
                  "HuberLoss(delta=2.5)"),
    "smooth_l1": (dn.SmoothL1Loss(), lambda d: huber(d, 1.0), lambda d: np.clip(d, -1.0, 1.0),
                  "SmoothL1Loss()"),
    "smooth_l1_0.3": (dn.SmoothL1Loss(beta=0.3), lambda d: huber(d, 0.3) / 0.3,
                      lambda d: np.clip(d / 0.3, -1.0, 1.0), "SmoothL1Loss(beta=0.3)"),
    "smooth_l1_0": (dn.SmoothL1Loss(0.0), np.abs, np.sign, "SmoothL1Loss(beta=0.0)"),
}


def differences(rng, dtype=np.float64):
    """Predictions and targets whose differences span both sides of every edge, exact
    zeros and differences of exactly 0.3, 1 and 2.5 among them."""
    y_true = rng.standard_normal((8, 3))
    d = np.concatenate([rng.standard_normal(16) * 2, [0.0, -0.0, 0.3, -1.0, 2.5, 1e-9, -40.0, 40.0]])
    return (y_true + d.reshape(8, 3)).astype(dtype), y_true.astype(dtype)


@pytest.mark.parametrize("name", list(LOSSES))
def test_the_value_and_gradient_are_the_definition(name):
    loss, value, slope, _ = LOSSES[name]
    y_pred, y_true = differences(np.random.default_rng(0))
    d = y_pred - y_true
    assert_allclose(loss.forward(y_pred, y_true), np.mean(value(d)), rtol=1e-14)
    assert_allclose(loss.backward(), slope(d) / d.size, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(LOSSES))
def test_values_and_gradients_equal_pytorch(name, dtype):
    torch = pytest.importorskip("torch")
    loss, _, _, theirs = LOSSES[name]
    y_pred, y_true = differences(np.random.default_rng(1), dtype)
    p = torch.tensor(y_pred, requires_grad=True)
    value = eval(f"torch.nn.{theirs}")(p, torch.tensor(y_true))
    value.backward()
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    assert_allclose(loss.forward(y_pred, y_true), value.item(), rtol=rtol)
    assert_allclose(loss.backward(), p.grad.numpy(), rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_gradient_is_zero_where_the_prediction_is_exact_and_bounded_far_from_it(dtype):
    y_pred, y_true = np.array([[2.0, 1e6, -1e30]], dtype), np.array([[2.0, 0.0, 0.0]], dtype)
    for loss in (dn.L1Loss(), dn.HuberLoss(0.5), dn.SmoothL1Loss(0.5)):
        loss.forward(y_pred, y_true)
        grad = loss.backward()
        assert grad[0, 0] == 0
        assert grad.dtype == dtype
        assert_allclose(np.abs(grad[0, 1:]) * 3, 0.5 if isinstance(loss, dn.HuberLoss) else 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype, beta, error", [(np.float32, 1e3, 1e37), (np.float64, 1e10, 1e300),
                                               (np.float64, 5e-324, 1.0), (np.float32, 1e-45, 1.0)])
def test_smooth_l1_is_finite_wherever_its_value_is(dtype, beta, error):
    """Computed as beta times the Huber loss over beta, SmoothL1Loss overflowed where
    |d| beta does (inf for an error of 1e37 in float32 with beta 1e3, where PyTorch gives
    1e37), and a beta whose inverse is inf gave an infinite loss for an error of 1."""
    y_pred, y_true = np.array([[error, 0.0], [0.0, -error]], dtype), np.zeros((2, 2), dtype)
    loss = dn.SmoothL1Loss(beta=beta)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # (a subnormal beta underflows)
        value = loss.forward(y_pred, y_true)
        grad = loss.backward()
    want = 2 * (np.float64(dtype(error)) - beta / 2) / 4  # |d| >= beta: |d| - beta / 2, mean of 4
    assert value == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-15)
    assert_array_equal(grad, np.array([[0.25, 0.0], [0.0, -0.25]], dtype))


def test_a_smooth_l1_beta_that_float32_rounds_to_0_is_l1_loss():
    """Its inverse was inf: every loss inf, or NaN for an exact output."""
    y_pred = np.array([[2.0, 0.0], [-1e30, 3.0]], np.float32)
    y_true = np.array([[0.0, 0.0], [0.0, 1.0]], np.float32)
    smooth, l1 = dn.SmoothL1Loss(beta=1e-50), dn.L1Loss()
    assert smooth.forward(y_pred, y_true) == l1.forward(y_pred, y_true)
    assert_array_equal(smooth.backward(), l1.backward())


@pytest.mark.parametrize("make, message", [
    (lambda: dn.HuberLoss(0.0), r"HuberLoss: invalid delta 0\.0; it must lie in \(0, inf\)"),
    (lambda: dn.HuberLoss(-1), r"HuberLoss: invalid delta -1"),
    (lambda: dn.HuberLoss(float("inf")), r"HuberLoss: invalid delta inf"),
    (lambda: dn.HuberLoss(float("nan")), r"HuberLoss: invalid delta nan"),
    (lambda: dn.SmoothL1Loss(-0.1), r"SmoothL1Loss: invalid beta -0\.1; it must lie in \[0, inf\)"),
    (lambda: dn.SmoothL1Loss(float("nan")), r"SmoothL1Loss: invalid beta nan"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: dn.HuberLoss("1"), lambda: dn.SmoothL1Loss(None),
                                  lambda: dn.HuberLoss(True)])
def test_arguments_that_are_not_numbers_are_type_errors(make):
    with pytest.raises(TypeError, match="must be a real number"):
        make()


def test_reprs_show_what_differs_from_the_defaults():
    assert [repr(loss) for loss in (dn.L1Loss(), dn.HuberLoss(), dn.HuberLoss(0.5), dn.SmoothL1Loss(),
                                    dn.SmoothL1Loss(beta=0))] == [
        "L1Loss()", "HuberLoss()", "HuberLoss(delta=0.5)", "SmoothL1Loss()", "SmoothL1Loss(beta=0.0)"]
    assert dn.HuberLoss().delta == 1.0
    assert dn.SmoothL1Loss().beta == 1.0


def test_shapes_must_match_exactly():
    for loss in (dn.L1Loss(), dn.HuberLoss(), dn.SmoothL1Loss()):
        with pytest.raises(ValueError, match=rf"{type(loss).__name__}: y_pred has shape \(4, 1\) but "
                                             r"y_true has shape \(4,\)"):
            loss.forward(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("loss", [dn.L1Loss(), dn.HuberLoss(0.5), dn.SmoothL1Loss(0.5)],
                         ids=["l1", "huber", "smooth_l1"])
def test_outliers_do_not_pull_the_fit_away(loss):
    """A line with one target in ten pushed up by 100: least squares follows the outliers
    (its intercept rises by about 10), while the robust losses fit the other nine in ten."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (400, 1))
    y = 2.0 * x[:, 0] + 1.0 + rng.normal(0, 0.05, 400)
    y[::10] += 100.0

    def fitted(loss):
        model = dn.Sequential(dn.Dense(1, 1), seed=0)
        model.fit(x, y, loss=loss, optimizer=dn.Adam(0.05), epochs=150, batch_size=40, seed=0)
        return model[0].W[0, 0], model[0].b[0]

    w, b = fitted(loss)
    assert abs(w - 2.0) < 0.1, (w, b)
    assert abs(b - 1.0) < 0.1, (w, b)
    w_mse, b_mse = fitted(dn.MSELoss())
    assert b_mse > 8.0, (w_mse, b_mse)


def test_a_bad_target_leaves_the_model_as_it_was():
    model = mlp((2, 3, 1))
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"y has shape \(3, 2\), but the model's output is \(n_samples, 1\)"):
        model.fit(np.zeros((3, 2)), np.zeros((3, 2)), loss=dn.HuberLoss(), epochs=1)
    assert_array_equal(model.params, before)
