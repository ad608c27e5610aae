"""MSELoss."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn


def test_mse_is_the_mean_over_all_elements():
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert_allclose(dn.MSELoss().forward(p, t), np.mean((p - t) ** 2), rtol=1e-14)


def test_mse_gradient_is_2_diff_over_size():
    rng = np.random.default_rng(1)
    p, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss = dn.MSELoss()
    loss.forward(p, t)
    assert_allclose(loss.backward(), 2 * (p - t) / p.size, rtol=1e-14)


def test_mse_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    p, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    loss, eps = dn.MSELoss(), 1e-6
    loss.forward(p, t)
    analytic = loss.backward().copy()
    numeric = np.empty_like(p)
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss.forward(up, t) - loss.forward(down, t)) / (2 * eps)
    assert_allclose(analytic, numeric, rtol=1e-7)


@pytest.mark.parametrize("p_shape, t_shape",
                         [((4, 1), (4,)), ((4,), (4, 1)), ((4, 2), (4, 1)), ((3, 1), (4, 1))])
def test_mse_never_broadcasts(p_shape, t_shape):
    with pytest.raises(ValueError, match=r"MSELoss: y_pred has shape .* but y_true has shape"):
        dn.MSELoss().forward(np.zeros(p_shape), np.zeros(t_shape))


def test_mse_rejects_empty_input():
    with pytest.raises(ValueError, match="empty"):
        dn.MSELoss().forward(np.zeros((0, 1)), np.zeros((0, 1)))


def test_mse_keeps_float32():
    p, t = np.ones((2, 1), np.float32), np.zeros((2, 1), np.float32)
    loss = dn.MSELoss()
    assert loss.forward(p, t) == 1.0
    assert loss.backward().dtype == np.float32


LOSSES_ON_THEIR_OWN = [
    (dn.MSELoss(), np.zeros((3, 2))), (dn.L1Loss(), np.zeros((3, 2))), (dn.HuberLoss(), np.zeros((3, 2))),
    (dn.SmoothL1Loss(), np.zeros((3, 2))), (dn.PoissonNLLLoss(), np.ones((3, 2))),
    (dn.BCEWithLogitsLoss(), np.ones((3, 2))), (dn.CrossEntropyLoss(), np.array([0, 1, 1])),
    (dn.NLLLoss(), np.array([0, 1, 1])),
]


@pytest.mark.parametrize("loss, target", LOSSES_ON_THEIR_OWN, ids=lambda x: type(x).__name__)
def test_a_loss_on_its_own_names_itself_when_it_refuses_non_finite_arrays(loss, target):
    """``loss.forward`` is what the user called: its refusals name the loss."""
    name = type(loss).__name__
    y_pred = np.linspace(-1.0, -0.1, 6).reshape(3, 2)
    loss.forward(y_pred, target)
    with pytest.raises(ValueError, match=rf"^{name}: y_pred holds 1 non-finite value"):
        loss.forward(np.where(y_pred < -0.9, np.nan, y_pred), target)
    if target.ndim == 2:
        with pytest.raises(ValueError, match=rf"^{name}: y_true holds 1 non-finite value"):
            loss.forward(y_pred, np.where(y_pred < -0.9, np.inf, target))
    with pytest.raises(TypeError, match=rf"^{name}: y_pred must hold real numbers"):
        loss.forward(np.full((3, 2), "a"), target)


#: each loss with a prediction it fits perfectly (a loss of 0) and that prediction's target
PERFECT = {
    "MSELoss": (dn.MSELoss(), [[0.5, 2.0]], [[0.5, 2.0]]),
    "L1Loss": (dn.L1Loss(), [[0.5, 2.0]], [[0.5, 2.0]]),
    "HuberLoss": (dn.HuberLoss(), [[0.5, 2.0]], [[0.5, 2.0]]),
    "SmoothL1Loss": (dn.SmoothL1Loss(), [[0.5, 2.0]], [[0.5, 2.0]]),
    "BCELoss": (dn.BCELoss(), [[1.0, 0.0]], [[1.0, 0.0]]),
    "BCEWithLogitsLoss": (dn.BCEWithLogitsLoss(), [[800.0, -800.0]], [[1.0, 0.0]]),
    "CrossEntropyLoss-labels": (dn.CrossEntropyLoss(), [[800.0, 0.0]], [0]),
    "CrossEntropyLoss-probabilities": (dn.CrossEntropyLoss(), [[800.0, 0.0]], [[1.0, 0.0]]),
    "NLLLoss": (dn.NLLLoss(), [[0.0, -800.0]], [0]),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", PERFECT)
def test_a_perfect_prediction_loses_plus_zero(case, weighted):
    """Not -0.0 (a negated sum of zeros), which a validation loss would print as -0.000."""
    loss, y_pred, y_true = PERFECT[case]
    y_pred, y_true = np.array(y_pred), np.array(y_true)
    weight = [2.0] if weighted else None
    for value in (loss.forward(y_pred, y_true, weight), loss.evaluate(y_pred, y_true, weight)):
        assert value == 0.0
        assert not np.signbit(value)
    model = dn.Sequential(dn.Dense(2, 2), seed=0)
    model.params[...] = 0.0
    model[0].b[...] = y_pred[0]
    value = model.evaluate(np.zeros((1, 2)), y_true, loss, sample_weight=weight)
    assert value == 0.0
    assert not np.signbit(value)


@pytest.mark.parametrize("loss", [dn.L1Loss(), dn.HuberLoss(), dn.SmoothL1Loss(), dn.MSELoss()],
                         ids=lambda x: type(x).__name__)
def test_a_loss_too_large_for_the_dtype_is_inf_without_a_warning(loss):
    """Finite predictions whose mean loss overflows float32 (each term does not): inf, as in
    ``fit``'s steps, from the loss on its own and from ``evaluate`` (warnings are errors here)."""
    y_pred, y_true = np.full((4, 1), 3e38, np.float32), np.zeros((4, 1), np.float32)
    assert loss.forward(y_pred, y_true) == np.inf
    assert loss.evaluate(y_pred, y_true) == np.inf
    model = dn.Sequential(dn.Dense(1, 1), dtype=np.float32, seed=0)
    model.params[...] = 0.0
    model[0].b[...] = 3e38
    assert model.evaluate(np.zeros((4, 1)), y_true, loss) == np.inf


@pytest.mark.parametrize("loss, y_true", [(dn.MSELoss(), np.full((3, 2), 0.25)),
                                          (dn.CrossEntropyLoss(), np.array([0, 1, 1])),
                                          (dn.BCEWithLogitsLoss(), np.full((3, 2), 0.25))],
                         ids=lambda x: type(x).__name__)
def test_a_loss_evaluated_between_forward_and_backward_leaves_forward_s_gradient(loss, y_true):
    """``loss.evaluate`` (a validation loss logged in a hand-written step) gives its own
    value and leaves ``backward`` the gradient of the last ``forward``."""
    y_pred = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    value = loss.forward(y_pred, y_true)
    alone = loss.backward()
    other = loss.forward(-y_pred, y_true)
    assert loss.forward(y_pred, y_true) == value
    assert loss.evaluate(-y_pred, y_true) == other
    assert_array_equal(loss.backward(), alone)


def test_a_loss_s_backward_before_any_forward_says_so():
    """And ``evaluate`` alone (which holds no plan for ``backward``) leaves none to run."""
    for loss in (dn.MSELoss(), dn.CrossEntropyLoss()):
        with pytest.raises(RuntimeError, match=r"\)\.backward called before forward$"):
            loss.backward()
    loss = dn.MSELoss()
    loss.evaluate(np.zeros((2, 1)), np.ones((2, 1)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        loss.backward()
