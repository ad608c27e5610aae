"""SGD with momentum, Adam, AdamW and RMSprop: arguments, state, resuming, one model each."""

from __future__ import annotations

import copy
import inspect
import pickle
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet.optimizer import FLUSH_EVERY

from .conftest import mlp, rewrite_saved, saved_config, snapshot

STATEFUL = {
    "momentum": lambda: dn.SGD(0.1, momentum=0.9),
    "nesterov": lambda: dn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: dn.Adam(0.01),
    "adamw": lambda: dn.AdamW(0.01),
    "amsgrad": lambda: dn.Adam(0.01, weight_decay=1e-3, amsgrad=True),
    "adamw_amsgrad": lambda: dn.AdamW(0.01, amsgrad=True),
    "rmsprop": lambda: dn.RMSprop(0.01, weight_decay=1e-3),
    "radam": lambda: dn.RAdam(0.01, betas=(0.9, 0.9), weight_decay=1e-3),
    "nadam": lambda: dn.NAdam(0.01, weight_decay=1e-3, momentum_decay=0.1),
    "nadam_decoupled": lambda: dn.NAdam(0.01, weight_decay=1e-3, decoupled_weight_decay=True),
    "adamax": lambda: dn.Adamax(0.01, weight_decay=1e-3),
    "adagrad": lambda: dn.Adagrad(0.05, lr_decay=0.01, weight_decay=1e-3, initial_accumulator_value=0.1),
    "rmsprop_centered": lambda: dn.RMSprop(0.01, momentum=0.9, centered=True),
}


ADAM_CHANGES = [("betas", (0.5, 0.75)), ("eps", 1e-2), ("weight_decay", 0.3)]


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 3))
    return X, rng.uniform(size=(30, 2))


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "RAdam", "NAdam", "Adamax"])
def test_the_defaults_are_pytorch_s(name):
    """Every argument is one of PyTorch's, with its default, but ``decay_mask`` and
    ``lr_scale`` (which PyTorch's parameter groups do: test_torch.py and test_lr_scale.py
    check that they agree)."""
    torch = pytest.importorskip("torch")
    ours, theirs = (inspect.signature(getattr(module, name)).parameters for module in (dn, torch.optim))
    groups = ("decay_mask", "lr_scale")
    for group in groups:
        assert ours[group].default is None
        assert ours[group].kind is inspect.Parameter.KEYWORD_ONLY
    ours = {p: v for p, v in ours.items() if p not in groups}
    assert set(ours) <= set(theirs)
    assert {p: ours[p].default for p in ours} == {p: theirs[p].default for p in ours}


def test_the_plateau_schedule_s_defaults_are_pytorch_s():
    torch = pytest.importorskip("torch")
    ours = inspect.signature(dn.ReduceLROnPlateau).parameters
    theirs = inspect.signature(torch.optim.lr_scheduler.ReduceLROnPlateau).parameters
    shared = set(ours) & set(theirs)
    assert shared == set(ours) - {"monitor"}  # which loss: PyTorch's step is given it
    # mode: "auto" is PyTorch's "min" for a loss (the monitor's default) and "max" for a metric
    # whose greater_is_better (accuracy), which PyTorch cannot know from the number it is given
    assert ours["mode"].default == "auto"
    assert theirs["mode"].default == "min"
    shared -= {"mode"}
    assert {p: ours[p].default for p in shared} == {p: theirs[p].default for p in shared}


@pytest.mark.parametrize("make, error, message", [
    (lambda: dn.SGD(0.1, momentum=-0.5), ValueError,
     r"SGD: invalid momentum -0\.5; it must lie in \[0, inf\)"),
    (lambda: dn.SGD(0.1, momentum="0.9"), TypeError, "SGD: momentum must be a real number, got str"),
    (lambda: dn.SGD(0.1, nesterov=True), ValueError, "Nesterov momentum needs a momentum > 0"),
    (lambda: dn.SGD(0.1, weight_decay=float("nan")), ValueError, "invalid weight_decay nan"),
    (lambda: dn.Adam(betas=(0.9, 1.0)), ValueError, r"Adam: invalid beta2 1\.0; it must lie in \[0, 1\)"),
    (lambda: dn.Adam(betas=(-0.1, 0.9)), ValueError, r"Adam: invalid beta1 -0\.1"),
    (lambda: dn.Adam(betas=0.9), TypeError, r"betas must be a pair \(b1, b2\), got 0\.9"),
    (lambda: dn.Adam(eps=0.0), ValueError, r"Adam: invalid eps 0\.0; it must lie in \(0, inf\)"),
    (lambda: dn.AdamW(lr=-1.0), ValueError, "AdamW: invalid learning rate -1.0"),
    (lambda: dn.AdamW(weight_decay=-1e-2), ValueError, "AdamW: invalid weight_decay -0.01"),
    (lambda: dn.AdamW(amsgrad=None), TypeError, "AdamW: amsgrad must be True or False, got None"),
    (lambda: dn.RMSprop(alpha=1.0), ValueError, r"RMSprop: invalid alpha 1\.0; it must lie in \[0, 1\)"),
    (lambda: dn.RMSprop(eps=0), ValueError, r"RMSprop: invalid eps 0; it must lie in \(0, inf\)"),
    (lambda: dn.RMSprop(momentum=-0.1), ValueError, r"RMSprop: invalid momentum -0\.1"),
    (lambda: dn.RMSprop(lr=-0.01), ValueError,
     r"RMSprop: invalid learning rate -0\.01; it must be finite and >= 0"),
    (lambda: dn.RMSprop(centered=1), TypeError, "RMSprop: centered must be True or False"),
    (lambda: dn.Adagrad(lr_decay=-1), ValueError, r"Adagrad: invalid lr_decay -1; it must lie in \[0, inf\)"),
    (lambda: dn.Adagrad(initial_accumulator_value=-0.5), ValueError,
     r"Adagrad: invalid initial_accumulator_value -0\.5"),
    (lambda: dn.Adagrad(eps=0.0), ValueError, r"Adagrad: invalid eps 0\.0; it must lie in \(0, inf\)"),
    (lambda: dn.Adagrad(weight_decay="0"), TypeError, "Adagrad: weight_decay must be a real number"),
    (lambda: dn.RAdam(betas=(0.9, 1.0)), ValueError, r"RAdam: invalid beta2 1\.0; it must lie in \[0, 1\)"),
    (lambda: dn.RAdam(decoupled_weight_decay="no"), TypeError,
     "RAdam: decoupled_weight_decay must be True or False"),
    (lambda: dn.NAdam(momentum_decay=-1e-3), ValueError, r"NAdam: invalid momentum_decay -0\.001"),
    (lambda: dn.NAdam(eps=0.0), ValueError, r"NAdam: invalid eps 0\.0; it must lie in \(0, inf\)"),
    (lambda: dn.RAdam(eps=0.0), ValueError, r"RAdam: invalid eps 0\.0; it must lie in \(0, inf\)"),
    (lambda: dn.Adamax(eps=0), ValueError, r"Adamax: invalid eps 0; it must lie in \(0, inf\)"),
    (lambda: dn.Adamax(betas=[0.9]), TypeError, r"Adamax: betas must be a pair \(b1, b2\), got \[0\.9\]"),
    (lambda: dn.Adam(betas=np.array([[0.9, 0.999]])), TypeError, r"Adam: betas must be a pair \(b1, b2\)"),
    (lambda: dn.Adam(betas=np.array([0.9, 0.99, 0.999])), TypeError, r"Adam: betas must be a pair"),
    (lambda: dn.Adamax(lr=float("inf")), ValueError, "Adamax: invalid learning rate inf"),
])
def test_bad_hyperparameters_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"])
def test_betas_may_be_a_numpy_pair(name):
    # (a 1-D array of two, as a search's grid may hold them, was refused as "not a pair")
    given = getattr(dn, name)(betas=np.array([0.8, 0.99], np.float32))
    assert given.betas == (float(np.float32(0.8)), float(np.float32(0.99)))
    assert all(type(b) is float for b in given.betas)


@pytest.mark.parametrize("make, name, value, error, message", [
    (lambda: dn.Adam(0.01), "betas", (1.5, 0.9), ValueError, r"Adam: invalid beta1 1\.5"),
    (lambda: dn.Adam(0.01), "betas", 0.9, TypeError, r"betas must be a pair"),
    (lambda: dn.Adam(0.01), "eps", 0.0, ValueError, r"Adam: invalid eps 0\.0"),
    (lambda: dn.AdamW(0.01), "weight_decay", -1.0, ValueError, r"AdamW: invalid weight_decay -1\.0"),
    (lambda: dn.LBFGS(), "history_size", 0, ValueError, "LBFGS history_size must be"),
    (lambda: dn.LBFGS(), "tolerance_grad", -1.0, ValueError, "LBFGS: invalid tolerance_grad"),
    (lambda: dn.SGD(0.1, momentum=0.9), "momentum", -0.5, ValueError, r"SGD: invalid momentum -0\.5"),
    (lambda: dn.SGD(0.1), "weight_decay", float("inf"), ValueError, "SGD: invalid weight_decay inf"),
    (lambda: dn.SGD(0.1, momentum=0.9), "nesterov", "yes", TypeError, "SGD: nesterov must be True or False"),
    (lambda: dn.SGD(0.1), "fold", 0, TypeError, "SGD: fold must be True or False"),
    (lambda: dn.RMSprop(), "alpha", -0.5, ValueError, r"RMSprop: invalid alpha -0\.5"),
    (lambda: dn.RMSprop(), "weight_decay", float("nan"), ValueError, "RMSprop: invalid weight_decay nan"),
])
def test_a_hyperparameter_set_later_is_checked_as_in_the_constructor(make, name, value, error, message):
    """A value set after construction gets the constructor's checks (each was taken
    silently before), and a refused one changes nothing."""
    optimizer = make()
    model = mlp((3, 4, 2), seed=0)
    X, y = data()
    if not optimizer.full_batch:
        model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=10)
    state, before = optimizer.state_dict(), getattr(optimizer, name)
    with pytest.raises(error, match=message):
        setattr(optimizer, name, value)
    assert getattr(optimizer, name) == before
    assert_array_equal(optimizer.state_dict().get("exp_avg", 0), state.get("exp_avg", 0))


@pytest.mark.parametrize("name, changes", [
    ("adam", ADAM_CHANGES), ("adamw", ADAM_CHANGES),
    ("adam", [*ADAM_CHANGES, ("amsgrad", True), ("betas", (0.9, 0.5)), ("amsgrad", False)]),
    ("amsgrad", [("amsgrad", False), ("betas", (0.5, 0.9)), ("amsgrad", True)]),
    ("radam", [*ADAM_CHANGES, ("decoupled_weight_decay", True)]),
    ("nadam", [*ADAM_CHANGES, ("momentum_decay", 0.5), ("decoupled_weight_decay", True)]),
    ("adamax", ADAM_CHANGES),
    ("adagrad", [("lr_decay", 0.5), ("eps", 1e-2), ("weight_decay", 0.0), ("initial_accumulator_value", 3.0),
                 ("weight_decay", 0.3)]),
    ("rmsprop_centered", [("alpha", 0.5), ("eps", 1e-2), ("weight_decay", 0.3), ("momentum", 0.0),
                          ("centered", False), ("momentum", 0.9), ("centered", True)]),
])
def test_settings_changed_between_steps_take_effect_at_once(name, changes):
    """Adam's and RMSprop's settings may change between steps (a schedule may set them):
    each step uses the values it finds, as a new optimiser with the same state would (a
    running mean or momentum buffer switched on starts at 0, as a new optimiser's)."""
    params, grads = np.linspace(-1, 1, 7), np.linspace(2, -1, 7)
    changed, changed_params = STATEFUL[name](), params.copy()
    changed.step(changed_params, grads)
    changed.step(changed_params, grads)
    for key, value in changes:
        setattr(changed, key, value)
        fresh = type(changed)(**{p: getattr(changed, p) for p in inspect.signature(type(changed)).parameters})
        fresh_params = changed_params.copy()
        fresh.load_state_dict(changed.state_dict())
        changed.step(changed_params, grads)
        fresh.step(fresh_params, grads)
        assert_array_equal(changed_params, fresh_params)
    assert all(getattr(changed, key) == value for key, value in dict(changes).items())


def test_momentum_or_weight_decay_set_between_steps_steps_like_a_new_sgd_with_them():
    """Set on an SGD that has stepped (a momentum set later failed at the next step with a
    ``KeyError``; a weight decay set later overwrote the gradient): the next steps are
    those of an SGD made with them, whose momentum buffer starts empty."""
    params, grads = np.linspace(-1, 1, 7), np.linspace(2, -1, 7)
    changed, changed_params = dn.SGD(0.1), params.copy()
    changed.step(changed_params, grads)
    fresh_params = changed_params.copy()
    changed.momentum, changed.weight_decay, changed.nesterov = 0.9, 0.01, True
    fresh = dn.SGD(0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    kept_grads = grads.copy()
    for _ in range(3):
        changed.step(changed_params, grads)
        fresh.step(fresh_params, grads)
    assert_array_equal(changed_params, fresh_params)
    assert_array_equal(grads, kept_grads)
    assert_array_equal(changed.state_dict()["momentum_buffer"], fresh.state_dict()["momentum_buffer"])
    changed.momentum = 0.0  # Nesterov without momentum: refused at the next step, nothing changed
    with pytest.raises(ValueError, match="Nesterov momentum needs a momentum > 0"):
        changed.step(changed_params, grads)
    assert_array_equal(changed_params, fresh_params)


#: each optimiser with an eps, and an eps it adds to a denominator as 0 in float32 (Adam, AdamW
#: and NAdam add eps sqrt(1 - b2**t): 1e-44 is 3e-46 at the first step, below float32's least)
TINY_EPS = [(dn.Adam, 1e-44), (dn.AdamW, 1e-44), (dn.NAdam, 1e-44), (dn.RAdam, 1e-50), (dn.Adamax, 1e-50),
            (dn.Adagrad, 1e-50), (dn.RMSprop, 1e-50), (lambda eps: dn.Adam(amsgrad=True, eps=eps), 1e-44)]
#: how each adds it, as the error says
ADDED = {"Adam": r" as a step adds it \(times 0.0316\)", "AdamW": r" as a step adds it \(times 0.0316\)",
         "NAdam": r" as a step adds it \(times 0.0316\)"}


@pytest.mark.parametrize("make, eps", TINY_EPS)
def test_an_eps_that_is_zero_in_the_parameters_dtype_is_refused_before_any_change(make, eps):
    """A parameter whose gradient is 0 would step by 0 / 0: the fit diverged at its first
    batch, with an error that blamed the learning rate."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4))
    X[:, 3] = 0.0  # (its weights' gradients are 0)
    y = rng.integers(0, 2, 32)
    model = dn.Sequential(dn.Dense(4, 8), dn.ReLU(), dn.Dense(8, 2), dtype=np.float32, seed=0)
    before = snapshot(model)
    optimizer = make(eps=eps)
    name = type(optimizer).__name__
    added = ADDED.get(name, "")
    begun = []

    class Begun(dn.Callback):
        def on_train_begin(self, logs=None):
            begun.append(True)

    with pytest.raises(ValueError, match=rf"^{name}: eps={eps!r} is 0 in float32 \(the parameters' dtype\)"
                                         rf"{added}: a parameter whose gradient is 0 would step by 0 / 0"):
        model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, callbacks=[Begun()])
    assert not begun  # (refused before the fit began)
    params, grads = model.params.copy(), np.ones_like(model.params)
    with pytest.raises(ValueError, match="is 0 in float32"):
        optimizer.step(params, grads)
    assert_array_equal(params, model.params)
    assert_array_equal(snapshot(model)[0], before[0])
    assert optimizer.steps == 0
    assert not optimizer.state_dict().get("state")
    # float64 holds it, and float32 a larger one
    dn.Sequential(dn.Dense(4, 8), dn.ReLU(), dn.Dense(8, 2), seed=0).fit(
        X, y, loss=dn.CrossEntropyLoss(), optimizer=make(eps=eps), epochs=1)
    history = model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=make(eps=1e-8), epochs=1)
    assert np.isfinite(history.loss[-1])


@pytest.mark.parametrize("make, eps", TINY_EPS)
def test_an_eps_set_between_steps_by_hand_is_checked_at_the_next_step(make, eps):
    """A step checks its arrays once, not at every call: a setting changed since (an ``eps``
    that is 0 in the parameters' dtype, set in a loop written by hand) is checked again."""
    params, grads = np.ones(4, np.float32), np.array([0.5, 0.0, -1.0, 0.0], np.float32)
    optimizer = make(eps=1e-8)
    optimizer.step(params, grads)
    optimizer.eps = eps
    before = params.copy()
    with pytest.raises(ValueError, match=rf"^{type(optimizer).__name__}: eps={eps!r} is 0 in float32"):
        optimizer.step(params, grads)
    assert_array_equal(params, before)
    assert optimizer.steps == 1


@pytest.mark.parametrize("make, eps", TINY_EPS)
def test_an_eps_that_float64_holds_is_checked_again_for_float32_arrays(make, eps):
    """``check_shift`` looks again when the dtype changes, not only the settings."""
    optimizer = make(eps=eps)
    optimizer.step(np.ones(4), np.array([0.5, 0.0, -1.0, 0.0]))
    params = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=rf"^{type(optimizer).__name__}: eps={eps!r} is 0 in float32"):
        optimizer.step(params, np.array([0.5, 0.0, -1.0, 0.0], np.float32))
    assert_array_equal(params, np.ones(4, np.float32))


def test_a_second_beta_set_between_steps_is_checked_at_the_next_step():
    """Adam adds ``eps sqrt(1 - b2)`` at least: a ``b2`` of ``1 - 2**-53`` makes an ``eps``
    of 1e-38 add 1e-46, which is 0 in float32 (a first beta set at every step, as a one-cycle
    schedule sets it, leaves that check as it was)."""
    params, grads = np.ones(4, np.float32), np.array([0.5, 0.0, -1.0, 0.0], np.float32)
    adam = dn.Adam(eps=1e-38)
    adam.step(params, grads)
    adam.betas = (0.85, 0.999)
    adam.step(params, grads)
    adam.betas = (0.85, 1 - 2**-53)
    before = params.copy()
    with pytest.raises(ValueError, match=r"^Adam: eps=1e-38 is 0 in float32"):
        adam.step(params, grads)
    assert_array_equal(params, before)


def test_adam_step_written_out_by_hand():
    params, grads = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -4.0])
    adam = dn.Adam(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.5)
    m, v = np.zeros(3), np.zeros(3)
    want = params.copy()
    for t in (1, 2):
        g = grads + 0.5 * want
        m = m + 0.2 * (g - m)
        v = 0.9 * v + 0.1 * g * g
        want = want - 0.1 / (1 - 0.8 ** t) * m / (np.sqrt(v) / np.sqrt(1 - 0.9 ** t) + 1e-3)
        adam.step(params, grads)
    assert_allclose(params, want, rtol=1e-15)
    state = adam.state_dict()
    assert state["steps"] == 2
    assert_allclose(state["exp_avg"], m, rtol=1e-15)
    assert_allclose(state["exp_avg_sq"], v, rtol=1e-15)


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.7, False), (0.0, True), (0.7, True)])
def test_rmsprop_step_written_out_by_hand(momentum, centered):
    params, grads = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -4.0])
    rmsprop = dn.RMSprop(lr=0.1, alpha=0.8, eps=1e-3, weight_decay=0.5, momentum=momentum, centered=centered)
    v, a, b = np.zeros(3), np.zeros(3), np.zeros(3)
    want = params.copy()
    for _ in range(3):
        g = grads + 0.5 * want
        v = 0.8 * v + 0.2 * g * g
        a = 0.8 * a + 0.2 * g
        d = g / (np.sqrt(v - a * a if centered else v) + 1e-3)
        b = momentum * b + d
        want = want - 0.1 * (b if momentum else d)
        rmsprop.step(params, grads)
    assert_allclose(params, want, rtol=1e-14)  # (BLAS axpy rounds -0.0393 = 1 - 1.0393 its own way)
    state = rmsprop.state_dict()
    assert state["steps"] == 3
    assert set(state) == {"steps", "square_avg"} | ({"momentum_buffer"} if momentum else set()) | (
        {"grad_avg"} if centered else set())
    assert_allclose(state["square_avg"], v, rtol=1e-15)
    if centered:
        assert_allclose(state["grad_avg"], a, rtol=1e-15)


@pytest.mark.parametrize("kind", [dn.Adam, dn.AdamW])
def test_amsgrad_step_written_out_by_hand(kind):
    """AMSGrad divides by the root of the largest second moment so far (not bias-corrected
    again: PyTorch's rule); the gradients shrink, so that maximum is not the latest moment."""
    params = np.array([1.0, -2.0, 0.5])
    adam = kind(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.05, amsgrad=True)
    m, v, top = np.zeros(3), np.zeros(3), np.zeros(3)
    want = params.copy()
    for t, scale in enumerate((4.0, 1.0, 0.25), start=1):
        grads = scale * np.array([0.5, 0.25, -4.0])
        g = grads if kind is dn.AdamW else grads + 0.05 * want
        if kind is dn.AdamW:
            want = want * (1 - 0.1 * 0.05)
        m = m + 0.2 * (g - m)
        v = 0.9 * v + 0.1 * g * g
        top = np.maximum(top, v)
        want = want - 0.1 / (1 - 0.8 ** t) * m / (np.sqrt(top) / np.sqrt(1 - 0.9 ** t) + 1e-3)
        adam.step(params, grads)
    assert (top > v).all()
    assert_allclose(params, want, rtol=1e-15)
    state = adam.state_dict()
    assert set(state) == {"steps", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert_allclose(state["max_exp_avg_sq"], top, rtol=1e-15)
    assert_allclose(state["exp_avg_sq"], v, rtol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_adagrad_step_written_out_by_hand(weight_decay):
    params, grads = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -4.0])
    adagrad = dn.Adagrad(lr=0.1, lr_decay=0.25, weight_decay=weight_decay, initial_accumulator_value=0.3,
                         eps=1e-3)
    total = np.full(3, 0.3)
    want = params.copy()
    for t in (1, 2, 3):
        g = grads + weight_decay * want
        total = total + g * g
        want = want - 0.1 / (1 + (t - 1) * 0.25) * g / (np.sqrt(total) + 1e-3)
        adagrad.step(params, grads)
    assert_allclose(params, want, rtol=1e-15)
    state = adagrad.state_dict()
    assert set(state) == {"steps", "sum"}
    assert state["steps"] == 3
    assert_allclose(state["sum"], total, rtol=1e-15)


def test_adagrad_s_sums_start_afresh_at_the_initial_value():
    """A state without the sums (``{"steps": 0}``) puts them back where a new optimiser's
    start, not at 0."""
    params, grads = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    adagrad = dn.Adagrad(lr=0.1, initial_accumulator_value=2.0)
    adagrad.step(params, grads)
    adagrad.load_state_dict({"steps": 0})
    assert_array_equal(adagrad.state_dict()["sum"], [2.0, 2.0])


@pytest.mark.parametrize("b2, rectified_from", [(0.9, 6), (0.999, 6), (0.5, None)])
def test_radam_step_written_out_by_hand(b2, rectified_from):
    """As SGD with momentum while ``v`` has averaged too few gradients (``r_t <= 5``:
    always for ``b2 = 0.5``), then as Adam with the rectified rate."""
    params, grads = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -4.0])
    radam = dn.RAdam(lr=0.1, betas=(0.8, b2), eps=1e-3, weight_decay=0.5)
    m, v, rho = np.zeros(3), np.zeros(3), 2 / (1 - b2) - 1
    want, rectified = params.copy(), []
    for t in range(1, 9):
        g = grads + 0.5 * want
        m = 0.8 * m + 0.2 * g
        v = b2 * v + (1 - b2) * g * g
        rho_t = rho - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            rectified.append(t)
            q = np.sqrt((rho_t - 4) * (rho_t - 2) * rho / ((rho - 4) * (rho - 2) * rho_t))
            want = want - 0.1 * q / (1 - 0.8 ** t) * m * np.sqrt(1 - b2 ** t) / (np.sqrt(v) + 1e-3)
        else:
            want = want - 0.1 / (1 - 0.8 ** t) * m
        radam.step(params, grads)
        assert_allclose(params, want, rtol=1e-14)
    assert rectified[:1] == ([rectified_from] if rectified_from else [])


def test_nadam_step_written_out_by_hand():
    params, grads = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -4.0])
    nadam = dn.NAdam(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.5, momentum_decay=0.2)
    m, v, product = np.zeros(3), np.zeros(3), 1.0
    want = params.copy()
    for t in (1, 2, 3):
        g = grads + 0.5 * want
        mu, mu_next = (0.8 * (1 - 0.5 * 0.96 ** (k * 0.2)) for k in (t, t + 1))
        product *= mu
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        d = np.sqrt(v / (1 - 0.9 ** t)) + 1e-3
        want = want - 0.1 * (1 - mu) / (1 - product) * g / d - 0.1 * mu_next / (1 - product * mu_next) * m / d
        nadam.step(params, grads)
    assert_allclose(params, want, rtol=1e-14)
    state = nadam.state_dict()
    assert set(state) == {"steps", "mu_product", "exp_avg", "exp_avg_sq"}
    assert state["mu_product"] == pytest.approx(product, rel=1e-15)
    assert nadam.mu_product == state["mu_product"]


def test_adamax_step_written_out_by_hand():
    params = np.array([1.0, -2.0, 0.5])
    adamax = dn.Adamax(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.5)
    m, u = np.zeros(3), np.zeros(3)
    want = params.copy()
    for t, scale in enumerate((1.0, 4.0, 0.01), start=1):  # u keeps the largest, decayed
        grads = scale * np.array([0.5, 0.25, -4.0])
        g = grads + 0.5 * want
        m = 0.8 * m + 0.2 * g
        u = np.maximum(0.9 * u, np.abs(g) + 1e-3)
        want = want - 0.1 / (1 - 0.8 ** t) * m / u
        adamax.step(params, grads)
    assert_allclose(params, want, rtol=1e-15)
    state = adamax.state_dict()
    assert set(state) == {"steps", "exp_avg", "exp_inf"}
    assert_allclose(state["exp_inf"], u, rtol=1e-15)


def test_a_scalar_state_is_checked_and_starts_afresh_when_missing():
    """NAdam's running product is state: refused by name if it is no finite number (the
    optimiser unchanged), and back at 1 (a new optimiser's) in a state without it."""
    params, grads = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    nadam = dn.NAdam(lr=0.1)
    nadam.step(params, grads)
    kept = nadam.state_dict()
    for bad, error in ((float("nan"), ValueError), ("0.5", TypeError), (None, TypeError)):
        with pytest.raises(error, match="NAdam: .*mu_product"):
            nadam.load_state_dict({**kept, "mu_product": bad})
        assert nadam.mu_product == kept["mu_product"] < 1
        assert nadam.steps == 1
    with pytest.raises(ValueError, match=r"NAdam has no state \['mu'\]; its state is \['steps', 'mu_prod"):
        nadam.load_state_dict({**kept, "mu": 0.5})
    nadam.load_state_dict({"steps": 0})
    assert nadam.mu_product == 1.0


def test_adamw_decouples_the_weight_decay():
    params, grads = np.array([2.0]), np.array([0.0])
    dn.AdamW(lr=0.1, weight_decay=0.5).step(params, grads)
    assert params[0] == 2.0 * (1 - 0.1 * 0.5)  # zero gradient: only the decay moves it


@pytest.mark.parametrize("name", list(STATEFUL))
def test_a_run_resumed_from_state_dict_is_bit_identical(name):
    X, y = data()
    straight, opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    straight.fit(X, y, optimizer=opt, epochs=4, batch_size=7, seed=0)
    first, first_opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    rng = np.random.default_rng(0)
    first.fit(X, y, optimizer=first_opt, epochs=2, batch_size=7, seed=rng)
    resumed, resumed_opt = first.clone(), STATEFUL[name]()
    resumed_opt.load_state_dict(first_opt.state_dict())
    resumed.fit(X, y, optimizer=resumed_opt, epochs=2, batch_size=7, seed=rng)
    assert resumed_opt.steps == opt.steps == 4 * 5
    assert_array_equal(resumed.params, straight.params)


@pytest.mark.parametrize("name", list(STATEFUL))
def test_a_state_without_vectors_starts_the_optimiser_afresh(name):
    """What ``state_dict`` gives before the first step (``{"steps": 0}``): loaded into a
    new optimiser or one that has stepped, the next steps are a fresh optimiser's."""
    X, y = data()
    fresh, fresh_opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    fresh.fit(X, y, optimizer=fresh_opt, epochs=2, batch_size=7, seed=0)
    new, new_opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    new_opt.load_state_dict({"steps": 0})  # no moments yet: nothing to zero
    new.fit(X, y, optimizer=new_opt, epochs=2, batch_size=7, seed=0)
    assert_array_equal(new.params, fresh.params)
    used, used_opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    used.fit(X, y, optimizer=used_opt, epochs=1, batch_size=7, seed=1)
    used.params[...] = mlp((3, 8, 2), seed=1).params
    used_opt.load_state_dict({"steps": 0})  # its moments are forgotten
    used.fit(X, y, optimizer=used_opt, epochs=2, batch_size=7, seed=0)
    assert_array_equal(used.params, fresh.params)


@pytest.mark.parametrize("name", list(STATEFUL))
def test_a_pickled_optimizer_carries_its_state_to_a_copied_model(name):
    X, y = data()
    model, opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    model.fit(X, y, optimizer=opt, epochs=2, batch_size=7, seed=0)
    twin, twin_opt = copy.deepcopy(model), pickle.loads(pickle.dumps(opt))
    model.fit(X, y, optimizer=opt, epochs=2, batch_size=7, seed=1)
    twin.fit(X, y, optimizer=twin_opt, epochs=2, batch_size=7, seed=1)
    assert_array_equal(twin.params, model.params)


@pytest.mark.parametrize("name", list(STATEFUL))
def test_an_optimizer_from_joblibs_read_only_memory_maps_trains_on(name, tmp_path):
    """joblib hands large arrays to its workers as read-only memory maps (an estimator's
    optimiser with its state, sent to ``partial_fit`` in a worker): the state vectors come
    back as writeable arrays of the optimiser's own, and training goes on as the original's."""
    joblib = pytest.importorskip("joblib")
    X, y = data()
    model, opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    model.fit(X, y, optimizer=opt, epochs=2, batch_size=7, seed=0)
    joblib.dump((model, opt), tmp_path / "fit.joblib")
    twin, twin_opt = joblib.load(tmp_path / "fit.joblib", mmap_mode="r")
    model.fit(X, y, optimizer=opt, epochs=2, batch_size=7, seed=1)
    twin.fit(X, y, optimizer=twin_opt, epochs=2, batch_size=7, seed=1)
    assert_array_equal(twin.params, model.params)
    for key, value in twin_opt.state_dict().items():
        assert_array_equal(value, opt.state_dict()[key])


@pytest.mark.parametrize("name", list(STATEFUL))
def test_a_float64_state_goes_on_in_float32_for_a_float32_model(name):
    """A state saved from a float64 model, loaded for its float32 clone, becomes the
    model's dtype (on a model large enough for momentum to be folded into its products),
    as if it had been converted before loading."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 64)), rng.uniform(size=(64, 10))
    model, opt = mlp((64, 512, 10), seed=1), STATEFUL[name]()
    model.fit(X, y, optimizer=opt, epochs=2, batch_size=16, seed=0)
    state = opt.state_dict()
    runs = []
    vectors = [k for k, v in state.items() if isinstance(v, np.ndarray)]  # (not the step count, or NAdam's
    assert vectors                                                       # running product)
    for given in (state, {k: state[k].astype(np.float32) if k in vectors else state[k] for k in state}):
        twin, twin_opt = model.clone(np.float32), STATEFUL[name]()
        twin_opt.load_state_dict(given)
        twin.fit(X, y, optimizer=twin_opt, epochs=2, batch_size=16, seed=1)
        assert {twin_opt.state_dict()[k].dtype for k in vectors} == {np.dtype(np.float32)}
        runs.append(twin.params)
    assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("name", list(STATEFUL))
def test_one_optimizer_with_state_serves_one_model(name):
    X, y = data()
    a, b = mlp((3, 4, 2), seed=0), mlp((3, 4, 2), seed=1)
    opt = STATEFUL[name]()
    a.fit(X, y, optimizer=opt, epochs=1)
    before = snapshot(b)
    with pytest.raises(ValueError, match="keeps state for one model's parameters"):
        b.fit(X, y, optimizer=opt, epochs=1)
    assert_array_equal(b.params, before[0])
    assert_array_equal(b.grads, before[1])
    c = mlp((3, 5, 2))
    unbound = copy.deepcopy(opt)  # bound to no model, with the state of a's 26 parameters
    with pytest.raises(ValueError, match=r"its state is for 26 parameters, but the model has 32"):
        c.fit(X, y, optimizer=unbound)


def test_plain_sgd_serves_any_arrays():
    """Without state there is nothing to mix up: one SGD may step two models."""
    X, y = data()
    sgd = dn.SGD(0.2)
    a, b = mlp((3, 4, 2), seed=0), mlp((3, 4, 2), seed=0)
    twin_a, twin_b = a.clone(), b.clone()
    for _ in range(2):
        a.fit(X, y, optimizer=sgd, epochs=1, shuffle=False)
        b.fit(X, y, optimizer=sgd, epochs=1, shuffle=False)
        twin_a.fit(X, y, optimizer=dn.SGD(0.2), epochs=1, shuffle=False)
        twin_b.fit(X, y, optimizer=dn.SGD(0.2), epochs=1, shuffle=False)
    assert_array_equal(a.params, twin_a.params)
    assert_array_equal(b.params, twin_b.params)


def test_load_state_dict_checks_what_it_is_given():
    opt = dn.Adam()
    for odd in (None, [("steps", 1)], "steps"):  # (None was "'NoneType' object is not iterable")
        with pytest.raises(TypeError, match=r"^Adam: a state must be a mapping of names to values \(a "
                                            r"state_dict\(\)\), got "):
            opt.load_state_dict(odd)
    with pytest.raises(ValueError, match=r"Adam has no state \['momentum_buffer'\]"):
        opt.load_state_dict({"momentum_buffer": np.zeros(3)})
    with pytest.raises(ValueError, match="Adam: steps must be an integer >= 0, got -1"):
        opt.load_state_dict({"steps": -1})
    with pytest.raises(TypeError, match="Adam: steps must be an integer >= 0, got 1.5"):
        opt.load_state_dict({"steps": 1.5})
    with pytest.raises(ValueError, match="1-D float arrays of one size"):
        opt.load_state_dict({"steps": 1, "exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(4)})
    model = mlp((3, 4, 2))
    opt.step(model.params, model.grads)
    with pytest.raises(ValueError, match="the state is for 5 parameters, but its model has 26"):
        opt.load_state_dict({"steps": 1, "exp_avg": np.zeros(5), "exp_avg_sq": np.zeros(5)})
    assert opt.steps == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(STATEFUL))
def test_steps_allocate_nothing_for_every_optimizer(name, dtype):
    from densenet.plan import TrainStep

    from .test_memory import SMALLEST_ARRAY, traced_peak

    rng = np.random.default_rng(0)
    model = mlp((64, 128, 10), dtype=dtype)
    loss = dn.MSELoss()
    X, y = model.check_data(rng.standard_normal((32, 64)), rng.uniform(size=(32, 10)), loss)
    step = TrainStep(model, loss, STATEFUL[name](), 32, y)
    step.X[...], step.y[...] = X, y
    for _ in range(3):
        step()  # warm-up: the state and work vectors are allocated here

    def steps_and_a_flush():  # every run flushes the state once (the first run, untraced,
        for _ in range(FLUSH_EVERY):  # makes the flush's scratch: traced_peak)
            step()

    peak, _ = traced_peak(steps_and_a_flush)
    assert peak < SMALLEST_ARRAY  # no array: Python's bookkeeping alone


@pytest.mark.parametrize("make, vectors", [
    (lambda: dn.Adam(0.01), 3),                       # m, v and one work vector
    (lambda: dn.AdamW(0.01, weight_decay=0.1), 3),    # its decay shrinks params in place
    (lambda: dn.Adam(0.01, weight_decay=0.1), 4),     # and grads + wd * params
    (lambda: dn.Adam(0.01, amsgrad=True), 4),         # and the largest v so far
])
def test_adam_keeps_three_vectors_beside_the_parameters_four_with_l2(make, vectors):
    params, grads = np.zeros(1 << 16), np.full(1 << 16, 0.5)
    optimizer = make()
    tracemalloc.start()
    try:
        optimizer.step(params, grads)  # the first step allocates what the optimiser keeps
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert vectors * params.nbytes <= kept < (vectors + 0.5) * params.nbytes  # 512 KiB each


def test_schedules_check_their_arguments():
    with pytest.raises(TypeError, match="StepLR: optimizer must be a densenet Optimizer, got float"):
        dn.StepLR(0.1, step_size=2)
    with pytest.raises(ValueError, match="StepLR step_size must be an integer >= 1, got 0"):
        dn.StepLR(dn.SGD(0.1), step_size=0)
    for gamma in (-0.5, np.inf, np.nan):  # a rate below 0, or of no number, after the first step
        for schedule in (lambda gamma: dn.StepLR(dn.SGD(0.1), step_size=2, gamma=gamma),
                         lambda gamma: dn.MultiStepLR(dn.SGD(0.1), milestones=[2], gamma=gamma),
                         lambda gamma: dn.ExponentialLR(dn.SGD(0.1), gamma=gamma)):
            with pytest.raises(ValueError, match=rf"LR: invalid gamma {gamma!r}; it must lie in \[0, inf\)"):
                schedule(gamma)
    with pytest.raises(ValueError, match=r"CosineLR: invalid min_lr 0\.5; it must lie in \[0, 0\.1\]"):
        dn.CosineLR(dn.SGD(0.1), epochs=3, min_lr=0.5)


@pytest.mark.parametrize("name", list(STATEFUL))
def test_saved_with_its_optimizer_training_resumes_bit_identically(name, tmp_path):
    X, y = data()
    straight, opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    schedule = dn.StepLR(opt, step_size=1, gamma=0.5)  # the saved rate is the scheduled one
    straight.fit(X, y, optimizer=opt, epochs=4, batch_size=7, callbacks=[schedule])
    first, first_opt = mlp((3, 8, 2), seed=1), STATEFUL[name]()
    first.fit(X, y, optimizer=first_opt, epochs=2, batch_size=7,
              callbacks=[dn.StepLR(first_opt, step_size=1, gamma=0.5)])
    first.save(tmp_path / "run.npz", optimizer=first_opt)
    resumed_opt = STATEFUL[name]()
    resumed = dn.load(tmp_path / "run.npz", optimizer=resumed_opt)
    assert resumed_opt.lr == first_opt.lr
    assert resumed_opt.steps == first_opt.steps
    schedule = dn.StepLR(resumed_opt, step_size=1, gamma=0.5)  # rates from the restored one on
    resumed.fit(X, y, optimizer=resumed_opt, epochs=2, batch_size=7, callbacks=[schedule])
    assert_array_equal(resumed.params, straight.params)


def test_loading_an_optimizer_state_checks_the_file_and_the_kind(tmp_path):
    model, adam = mlp((3, 4, 2)), dn.Adam()
    X, y = data()
    model.fit(X, y, optimizer=adam)
    model.save(tmp_path / "plain.npz")
    model.save(tmp_path / "adam.npz", optimizer=adam)
    with pytest.raises(ValueError, match=r"holds no optimiser state \(save it with "
                                         r"model\.save\(path, optimizer\)\)"):
        dn.load(tmp_path / "plain.npz", optimizer=dn.Adam())
    sgd = dn.SGD(0.1, momentum=0.9)
    with pytest.raises(ValueError, match="holds the state of 'Adam', not of SGD"):
        dn.load(tmp_path / "adam.npz", optimizer=sgd)
    assert sgd.steps == 0
    assert sgd.state_dict() == {"steps": 0}
    with np.load(tmp_path / "adam.npz") as saved:
        assert sorted(saved.files) == ["config", "format", "optimizer.exp_avg", "optimizer.exp_avg_sq",
                                       "params", "version"]
    assert_array_equal(dn.load(tmp_path / "adam.npz").params, model.params)  # the model alone loads too


@pytest.mark.parametrize("change, told", [
    ({"optimizer.exp_avg": np.zeros(3)}, "exp_avg"),
    ({"lr": -1.0}, "learning rate"),
    ({"steps": -2}, "steps"),
    # numbers no number type holds (the file's JSON can say them; float() raised OverflowError)
    ({"lr": 10**400}, r"invalid learning rate 1000.*\.\.\.; it must be finite"),
    ({"steps": 2**63}, r"steps must be an integer >= 0 of at most 2\*\*63 - 1 \(NumPy's int64\)"),
])
def test_an_invalid_optimizer_state_is_named_and_leaves_the_optimizer_as_it_was(tmp_path, change, told):
    model, adam = mlp((3, 4, 2)), dn.Adam()
    X, y = data()
    model.fit(X, y, optimizer=adam)
    path = tmp_path / "adam.npz"
    model.save(path, optimizer=adam)
    config, vectors = saved_config(path), {}
    for name, value in change.items():
        if name.startswith("optimizer."):
            vectors[name] = value
        else:
            config["optimizer"][name] = value
    rewrite_saved(path, config=config, **vectors)
    fresh = dn.Adam(0.01)
    with pytest.raises(ValueError, match=f"adam\\.npz' holds an invalid optimiser state: .*{told}"):
        dn.load(path, optimizer=fresh)
    assert fresh.lr == 0.01
    assert fresh.state_dict() == {"steps": 0}


def test_a_refused_schedule_state_puts_the_optimizer_back_as_it_was(tmp_path):
    """The optimiser's state goes in before the schedules': one of theirs refused, the
    optimiser is as it was, fresh (no state vectors) or part-way through a training."""
    model, adam = mlp((3, 4, 2)), dn.Adam()
    X, y = data()
    callbacks = [dn.StepLR(adam, step_size=1, gamma=0.5), dn.EarlyStopping(monitor="loss", patience=3)]
    model.fit(X, y, optimizer=adam, epochs=2, callbacks=callbacks)
    path = tmp_path / "run.npz"
    model.save(path, optimizer=adam, schedules=callbacks)
    config = saved_config(path)
    config["schedules"][1]["state"]["wait"] = -1
    rewrite_saved(path, config=config)
    fresh, trained = dn.Adam(0.01), dn.Adam(0.02)
    mlp((3, 4, 2), seed=5).fit(X, y, optimizer=trained, epochs=1)
    before = trained.state_dict()
    for optimizer, state in ((fresh, {"steps": 0}), (trained, before)):
        schedules = [dn.StepLR(optimizer, step_size=1, gamma=0.5), dn.EarlyStopping(monitor="loss")]
        lr = optimizer.lr
        with pytest.raises(ValueError, match="holds an invalid schedule state: EarlyStopping"):
            dn.load(path, optimizer=optimizer, schedules=schedules)
        assert optimizer.lr == lr
        now = optimizer.state_dict()
        assert sorted(now) == sorted(state)
        for name, value in state.items():
            assert_array_equal(now[name], value)


class Capped(dn.Adam):
    """An Adam whose rate may not pass its ``cap`` (a setter of one's own, stricter than the file's check)."""

    def __init__(self, lr, cap):
        self.cap = cap
        super().__init__(lr)

    @dn.Adam.lr.setter
    def lr(self, value):
        if value > self.cap:
            raise ValueError(f"Capped: lr {value} is above its cap {self.cap}")
        dn.Adam.lr.fset(self, value)


def test_a_rate_the_optimizer_refuses_leaves_it_as_it_was_and_a_wrong_kind_is_named(tmp_path):
    model, capped = mlp((3, 4, 2)), Capped(0.5, cap=1.0)
    X, y = data()
    model.fit(X, y, optimizer=capped, epochs=2)
    model.save(tmp_path / "run.npz", optimizer=capped)
    strict = Capped(0.01, cap=0.1)
    with pytest.raises(ValueError, match="invalid optimiser state: Capped: lr 0.5 is above its cap 0.1"):
        dn.load(tmp_path / "run.npz", optimizer=strict)
    assert strict.lr == 0.01
    assert strict.state_dict() == {"steps": 0}
    resumed = Capped(0.01, cap=1.0)
    dn.load(tmp_path / "run.npz", optimizer=resumed)
    assert resumed.lr == 0.5
    assert resumed.steps == capped.steps
    with pytest.raises(TypeError, match="load: optimizer must be a densenet Optimizer, got float"):
        dn.load(tmp_path / "run.npz", optimizer=0.1)


@pytest.mark.parametrize("name", list(STATEFUL))
def test_strided_vectors_step_like_contiguous_ones(name):
    """Arrays BLAS axpy cannot take (strided) go through NumPy ufuncs: the same steps."""
    rng = np.random.default_rng(3)
    wide, grads = rng.standard_normal(20), rng.standard_normal((5, 10))
    strided, contiguous = wide[::2], wide[::2].copy()
    a, b = STATEFUL[name](), STATEFUL[name]()
    for g in grads:
        a.step(strided, g)
        b.step(contiguous, g.copy())
    assert_allclose(strided, contiguous, rtol=1e-14, atol=1e-15)


def test_an_sgd_pickled_with_its_settings_as_plain_attributes_comes_back_with_them():
    """Before the settings were checked properties, a pickled SGD held them (and its
    STATE) as plain attributes; unpickled now, it has the same settings and state."""
    buffer = np.arange(3.0)
    old = {"_lr": 0.1, "steps": 4, "_state": {"momentum_buffer": buffer.copy()}, "_model": None,
           "momentum": 0.9, "weight_decay": 0.0, "nesterov": True, "fold": False,
           "STATE": ("momentum_buffer",)}
    sgd = dn.SGD.__new__(dn.SGD)
    sgd.__setstate__(old)
    assert (sgd.lr, sgd.momentum, sgd.weight_decay, sgd.nesterov, sgd.fold) == (0.1, 0.9, 0.0, True, False)
    assert sgd.STATE == ("momentum_buffer",)
    assert sgd.steps == 4
    assert_array_equal(sgd.state_dict()["momentum_buffer"], buffer)
    params = np.zeros(3)
    sgd.step(params, np.ones(3))
    assert_allclose(params, -0.1 * (1 + 0.9 * (0.9 * buffer + 1)))  # Nesterov, from the buffer
    older = dn.SGD.__new__(dn.SGD)  # pickled before fold existed: it folds
    older.__setstate__({key: value for key, value in old.items() if key != "fold"})
    assert older.fold is True


@pytest.mark.parametrize("make", [lambda o: dn.StepLR(o, step_size=1, gamma=0.5),
                                  lambda o: dn.CosineLR(o, 3),
                                  lambda o: dn.ReduceLROnPlateau(o, "loss", patience=0, threshold=10.0,
                                                                 threshold_mode="abs")])
def test_a_schedule_of_another_optimizer_than_fit_s_is_refused_before_training(make):
    """A schedule made for one optimiser and passed to a fit that trains with another set
    a learning rate nobody used: the fit now refuses it before any change."""
    X, y = data()
    model, scheduled, trained = mlp((3, 4, 2), seed=0), dn.SGD(0.1), dn.SGD(0.1)
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"schedules the learning rate of SGD\(lr=0\.1\) .*but fit trains "
                                         r"with another optimiser"):
        model.fit(X, y, optimizer=trained, epochs=3, callbacks=[make(scheduled)])
    assert_array_equal(model.params, before)
    assert scheduled.lr == trained.lr == 0.1
    assert trained.steps == 0
    schedule = make(scheduled)
    model.fit(X, y, optimizer=scheduled, epochs=3, callbacks=[schedule])  # its own: fine
    assert scheduled.lr < 0.1
    assert schedule.params["optimizer"] is scheduled
    assert schedule.params["epochs"] == 3


@pytest.mark.parametrize("settings", [
    dict(),
    dict(factor=0.5, patience=0),
    dict(factor=0.2, patience=2, threshold=0.05, threshold_mode="abs"),
    dict(factor=0.5, patience=1, cooldown=2, min_lr=0.02),
    dict(factor=0.9, patience=1, eps=0.005),  # drops under eps are not made: from lr 0.05 on
    dict(factor=0.5, patience=1, threshold=2.0),  # nothing is better than inf * (1 - 2): from the first epoch
    dict(factor=0.5, patience=2, threshold=0.0),  # a tie is no improvement
    dict(factor=0.5, patience=2, threshold=0.0, threshold_mode="abs"),
    dict(factor=0.5, patience=0, eps=0.0125),  # 0.025 -> 0.0125 drops by exactly eps: not made
])
def test_reduce_on_plateau_sets_the_rates_of_pytorch_s_scheduler(settings):
    """The same losses, epoch by epoch, give the rates of ``torch.optim.lr_scheduler.ReduceLROnPlateau``
    (mode "min"): improvements, plateaus, ties, cooldowns and the floor."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    losses = np.concatenate([np.linspace(1.0, 0.5, 5), np.full(6, 0.5), 0.5 - 0.01 * rng.random(30),
                             [0.3, 0.3, 0.29999, 0.2], 0.2 + rng.random(25)])
    sgd = dn.SGD(0.1)
    ours = dn.ReduceLROnPlateau(sgd, monitor="loss", **settings)
    plateau_follows_pytorch_s(torch, ours, sgd, "min", losses, settings)


@pytest.mark.parametrize("settings", [dict(factor=0.0, patience=1),
                                      dict(factor=0.0, patience=0, min_lr=0.02)])
def test_reduce_on_plateau_with_factor_0_drops_to_its_floor_as_pytorch_s_does(settings):
    torch = pytest.importorskip("torch")
    sgd = dn.SGD(0.1)
    ours = dn.ReduceLROnPlateau(sgd, monitor="loss", **settings)
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **settings)
    rates, want = [], []
    for epoch, value in enumerate([1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]):
        ours.on_epoch_end(epoch, {"loss": value})
        theirs.step(value)
        rates.append(sgd.lr)
        want.append(theirs_opt.param_groups[0]["lr"])
    assert rates == want
    assert rates[0] == 0.1
    assert rates[-1] == settings.get("min_lr", 0.0)
    assert (ours.best, ours.num_bad_epochs) == (theirs.best, theirs.num_bad_epochs)


def plateau_follows_pytorch_s(torch, ours, sgd, mode, values, settings):
    """Feed ``values`` to ``ours`` (stepping ``sgd``, rate 0.1) and to PyTorch's scheduler in
    ``mode`` with ``settings``: the same rates after every epoch, the same best and counts."""
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, mode=mode, **settings)
    rates, want = [], []
    for epoch, value in enumerate(values):
        ours.on_epoch_end(epoch, {ours.monitor: float(value)})
        theirs.step(float(value))
        rates.append(sgd.lr)
        want.append(theirs_opt.param_groups[0]["lr"])
    assert len(set(want)) > 2  # the rate did drop, more than once
    assert rates == want
    assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter) == (theirs.best, theirs.num_bad_epochs,
                                                                       theirs.cooldown_counter)


@pytest.mark.parametrize("settings", [
    dict(factor=0.5, patience=0),
    dict(factor=0.2, patience=2, threshold=0.05, threshold_mode="abs"),
    dict(factor=0.5, patience=1, cooldown=2, min_lr=0.02),
    dict(factor=0.5, patience=2, threshold=0.0),  # a tie is no improvement
    dict(factor=0.5, patience=2, threshold=0.0, threshold_mode="abs"),
    dict(factor=0.5, patience=1, threshold=0.01),
])
def test_reduce_on_plateau_in_max_mode_sets_the_rates_of_pytorch_s_scheduler(settings):
    """A value that should rise (an accuracy), mode "max" given or "auto" for a metric whose
    ``greater_is_better``: the rates of PyTorch's scheduler in mode "max"."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    accuracies = np.concatenate([np.linspace(0.2, 0.8, 5), np.full(4, 0.8), 0.8 + 0.01 * rng.random(30),
                                 [0.9, 0.9, 0.90001, 0.95], 0.95 - 0.5 * rng.random(20)])
    for mode in ("max", "auto"):
        sgd = dn.SGD(0.1)
        ours = dn.ReduceLROnPlateau(sgd, monitor="val_accuracy", mode=mode, **settings)
        ours.set_params({"metrics": ("loss", "val_loss", "val_accuracy"),
                         "greater_is_better": ("val_accuracy",)})
        ours.on_train_begin()
        plateau_follows_pytorch_s(torch, ours, sgd, "max", accuracies, settings)


def test_reduce_on_plateau_in_fit_watches_the_validation_loss_across_fits():
    X, y = data()
    model, adam = mlp((3, 4, 2)), dn.Adam(0.05)
    plateau = dn.ReduceLROnPlateau(adam, patience=0, threshold=10.0, threshold_mode="abs")
    seen = []

    class Spy(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["val_loss"], adam.lr))

    for _ in range(2):  # one schedule over two fits: its best and counts carry on
        model.fit(X[:20], y[:20], optimizer=adam, epochs=3, validation_data=(X[20:], y[20:]),
                  callbacks=[Spy(), plateau])
    assert plateau.best == seen[0][0]  # the first epoch's loss: none since improves on it by 10
    # the rate each epoch trained with: cut by 10 after every epoch from the second on
    assert_allclose([rate for _, rate in seen], 0.05 * 0.1 ** np.array([0, 0, 1, 2, 3, 4]), rtol=1e-15)
    assert adam.lr == pytest.approx(0.05 * 0.1 ** 5, rel=1e-15)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau monitors 'val_loss', but fit records only "
                                         r"\['loss'\]"):
        model.fit(X, y, optimizer=adam, epochs=1, callbacks=[plateau])


def test_reduce_on_plateau_rounds_a_rate_to_zero_as_pytorch_does():
    """A drop from the smallest float is a drop to 0 (PyTorch's ``old - new > eps``), once."""
    sgd = dn.SGD(5e-324)
    plateau = dn.ReduceLROnPlateau(sgd, monitor="loss", patience=0, eps=0.0)
    rates = []
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 1.0]):
        plateau.on_epoch_end(epoch, {"loss": loss})
        rates.append(sgd.lr)
    assert rates == [5e-324, 0.0, 0.0, 0.0]
    assert plateau.num_bad_epochs == 0


def test_reduce_on_plateau_checks_its_arguments():
    sgd = dn.SGD(0.1)
    for settings, error, message in [
        (dict(monitor=""), TypeError, "ReduceLROnPlateau: monitor must be the name of what fit records"),
        (dict(mode="maximum"), ValueError, "ReduceLROnPlateau: mode must be 'auto', 'min' or 'max', got"),
        (dict(factor=1.0), ValueError, r"ReduceLROnPlateau: invalid factor 1\.0; it must lie in \[0, 1\)"),
        (dict(factor=-0.5), ValueError, r"invalid factor -0\.5"),
        (dict(patience=-1), ValueError, "ReduceLROnPlateau patience must be an integer >= 0, got -1"),
        (dict(patience=1.5), TypeError, "ReduceLROnPlateau patience must be an integer >= 0, got 1.5"),
        (dict(cooldown=-1), ValueError, "ReduceLROnPlateau cooldown must be an integer >= 0, got -1"),
        (dict(threshold=-0.1), ValueError, r"invalid threshold -0\.1; it must lie in \[0, inf\)"),
        (dict(threshold_mode="rel."), ValueError, "threshold_mode must be 'rel' or 'abs', got 'rel.'"),
        (dict(min_lr=float("nan")), ValueError, "invalid min_lr nan"),
        (dict(eps=-1.0), ValueError, r"invalid eps -1\.0"),
    ]:
        with pytest.raises(error, match=message):
            dn.ReduceLROnPlateau(sgd, **settings)
    with pytest.raises(TypeError, match="ReduceLROnPlateau: optimizer must be a densenet Optimizer, got "):
        dn.ReduceLROnPlateau(0.1)


STEPPING = {"sgd": lambda: dn.SGD(0.1), **STATEFUL}


def read_only(array):
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("name", STEPPING)
@pytest.mark.parametrize("arrays, error, message", [
    pytest.param(lambda p, g: (p, np.zeros(3)), ValueError,
                 r"grads has shape \(3,\), but params has shape \(26,\)", id="sizes"),
    pytest.param(lambda p, g: (p, g[:, None]), ValueError,
                 r"grads has shape \(26, 1\), but params has shape \(26,\)", id="shapes"),
    pytest.param(lambda p, g: (p.tolist(), g), TypeError, "params must be a NumPy array of floats, got list",
                 id="list"),
    pytest.param(lambda p, g: (p, g.tolist()), TypeError, "grads must be a NumPy array of floats, got list",
                 id="grads-list"),
    pytest.param(lambda p, g: (p.astype(np.int64), g), TypeError,
                 "params must be a NumPy array of floats, got int64", id="integers"),
    pytest.param(lambda p, g: (p, g > 0), TypeError, "grads must be a NumPy array of floats, got bool",
                 id="booleans"),
    pytest.param(lambda p, g: (read_only(p.copy()), g), TypeError, "params is read-only", id="read-only"),
])
def test_a_step_on_arrays_it_cannot_update_is_refused_and_changes_nothing(name, arrays, error, message):
    """A hand-written step given arrays of two sizes, lists, integers or a read-only vector
    beside one of the model's, after steps on the model's two: an error naming the
    optimiser, with the optimiser (its state, its count of steps) and the arrays as they
    were; its next step on the model's arrays is the one it would have taken."""
    model, (X, Y), loss = mlp((3, 4, 2)), data(), dn.MSELoss()
    optimizer = STEPPING[name]()
    for _ in range(2):  # a state to keep
        loss.forward(model.forward(X), Y)
        model.backward(loss.backward())
        optimizer.step(model.params, model.grads)
    before, twin = copy.deepcopy(optimizer.state_dict()), copy.deepcopy(optimizer)
    params, grads = arrays(model.params, model.grads)
    given = [np.array(a, copy=True) for a in (params, grads, model.params, model.grads)]
    with pytest.raises(error, match=rf"^{type(optimizer).__name__}\.step: {message}"):
        optimizer.step(params, grads)
    after = optimizer.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert_array_equal(after[key], value)
    for array, copied in zip((params, grads, model.params, model.grads), given):
        assert_array_equal(array, copied)
    mirror = model.params.copy()
    optimizer.step(model.params, model.grads)
    twin.step(mirror, model.grads)
    assert_array_equal(model.params, mirror)


def subnormal(vector):
    return (vector != 0) & (np.abs(vector) < np.finfo(vector.dtype).tiny)


def stuck_state(optimizer, params, grads):
    """``optimizer``'s state after a step, with the state of a third of the parameters (those
    whose gradient is 0) at four of the smallest subnormal numbers, where ``0.9 x`` and
    ``0.999 x`` round back to ``x``: the state of a dead unit's weights."""
    optimizer.step(params.copy(), grads)
    state = optimizer.state_dict()
    dead = grads == 0
    for name in optimizer.STATE:
        state[name][dead] = 4 * np.finfo(params.dtype).smallest_subnormal
    return state


@pytest.mark.parametrize("steps", [FLUSH_EVERY - 1, FLUSH_EVERY, FLUSH_EVERY + 1, 3 * FLUSH_EVERY])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(STATEFUL))
def test_every_flush_every_steps_the_states_subnormal_numbers_become_zero(name, dtype, steps, monkeypatch):
    """A step that finds ``steps`` a multiple of ``FLUSH_EVERY`` first sets the
    state's subnormal numbers to 0 and changes nothing else: its state is the unflushed
    step's with those numbers at 0, and its parameters are within a subnormal number of the
    unflushed step's (the same where they are not 0: here the biases start at 0); any other
    step is the unflushed one, bit for bit."""
    rng = np.random.default_rng(1)
    params = mlp((3, 4, 2), dtype=dtype).params
    grads = rng.standard_normal(params.size).astype(dtype)
    grads[::3] = 0
    state = stuck_state(STATEFUL[name](), params, grads)
    state["steps"] = steps
    results = []
    for flushing in (False, True):
        with monkeypatch.context() as patch:
            if not flushing:
                patch.setattr(dn.Optimizer, "before_step", lambda self: None)
            optimizer, stepped = STATEFUL[name](), params.copy()
            optimizer.step(stepped, grads)  # (its model, and its work vectors made)
            optimizer.load_state_dict(state)
            optimizer.step(stepped, grads)
            results.append((stepped, optimizer.state_dict()))
    (unflushed, before), (flushed, after) = results
    flushes = steps % FLUSH_EVERY == 0
    if flushes:
        assert np.abs(flushed - unflushed).max() < np.finfo(dtype).tiny
        assert_array_equal(flushed[params != 0], unflushed[params != 0])
    else:
        assert_array_equal(flushed, unflushed)
    assert any(subnormal(before[vector]).any() for vector in STATEFUL[name]().STATE)  # (stuck there)
    for vector in STATEFUL[name]().STATE:
        expected = np.where(subnormal(before[vector]), 0, before[vector]) if flushes else before[vector]
        assert_array_equal(after[vector], expected)
        assert after[vector].dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_folded_momentum_step_flushes_its_buffer_too(dtype, monkeypatch):
    """Where ``fit`` folds heavy-ball SGD into its backward pass, the buffer is flushed
    at the same steps: a first layer's row whose input is always 0 gets no gradient, and
    its stuck buffer becomes 0 at the step after the 64th, not before."""
    from densenet.plan import TrainStep

    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((16, 64)).astype(dtype), rng.uniform(size=(16, 4)).astype(dtype)
    X[:, 0] = 0  # (the first row of the first weights gets no gradient)
    model = dn.Sequential(dn.Dense(64, 512), dn.Sigmoid(), dn.Dense(512, 4), dn.Sigmoid(), dtype=dtype,
                          seed=0)
    start = model.params.copy()
    model.params[...] = np.arange(model.params.size)
    row = model[0].W[0].astype(np.int64)  # (where that row lies in params)
    results = []
    for flushing in (False, True):
        with monkeypatch.context() as patch:
            if not flushing:
                patch.setattr(dn.Optimizer, "before_step", lambda self: None)
            model.params[...] = start
            optimizer = dn.SGD(0.1, momentum=0.9)
            assert TrainStep(model, dn.MSELoss(), optimizer, 8, y).folded
            model.fit(X[:8], y[:8], optimizer=optimizer, batch_size=8, shuffle=False)  # (its state made)
            state = optimizer.state_dict()
            state["momentum_buffer"][row] = 4 * np.finfo(dtype).smallest_subnormal
            state["steps"] = FLUSH_EVERY - 1
            optimizer.load_state_dict(state)
            buffers = []
            for _ in range(2):  # the 64th step, then one that flushes first
                model.fit(X, y, optimizer=optimizer, batch_size=16, shuffle=False)
                buffers.append(optimizer.state_dict()["momentum_buffer"])
            results.append(buffers)
    (unflushed_64, unflushed_65), (flushed_64, flushed_65) = results
    assert subnormal(unflushed_65[row]).all()  # (stuck there)
    assert_array_equal(flushed_64, unflushed_64)
    assert_array_equal(flushed_65[row], 0)
    assert not subnormal(flushed_65).any()


def edge_numbers(dtype):
    """Numbers a flush leaves (zeros of either sign, the smallest normal numbers, the
    largest, infinities, NaN) and the subnormal numbers it sets to 0, of ``dtype``."""
    info = np.finfo(dtype)
    tiny, least, zero, one = info.tiny, info.smallest_subnormal, dtype(0), dtype(1)
    below, above = np.nextafter(tiny, zero), np.nextafter(tiny, one)  # (NumPy 1: in the dtype if asked)
    kept = np.array([0.0, -0.0, tiny, -tiny, above, 1.0, -info.max, np.inf, -np.inf, np.nan], dtype)
    flushed = np.array([least, -least, 4 * least, below, -below, tiny / 2], dtype)
    assert np.all((flushed != 0) & (np.abs(flushed) < tiny))
    return kept, flushed


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_flush_sets_exactly_the_subnormal_numbers_to_zero(dtype):
    """Every subnormal number becomes 0, in every slice of a vector longer than
    ``FLUSH_SLICE`` (after a shorter one of its dtype) and in a vector of another dtype
    flushed with them; every other number (zeros of either sign, the smallest normal numbers,
    infinities, NaN) is left as it was, bit for bit; a flush made for the vectors runs again
    on what they hold then."""
    from densenet.subnormal import FLUSH_SLICE, SubnormalFlush

    rng = np.random.default_rng(3)
    other = np.float32 if dtype == np.float64 else np.float64
    first = rng.choice(np.concatenate(edge_numbers(dtype)), FLUSH_SLICE + 7)
    second = rng.choice(np.concatenate(edge_numbers(other)), 5)
    vectors = (first[:9].copy(), first, second)
    flush = SubnormalFlush(vectors)
    for _ in range(2):  # (the second time on what the vectors hold then)
        expected = [np.where((v != 0) & (np.abs(v) < np.finfo(v.dtype).tiny), v.dtype.type(0), v)
                    for v in vectors]
        assert all(subnormal(v).any() for v in vectors)
        flush()
        for vector, wanted in zip(vectors, expected):
            assert_array_equal(vector.view(f"u{vector.itemsize}"), wanted.view(f"u{vector.itemsize}"))
        assert flush.made_for(vectors)
        assert not flush.made_for((vectors[0], first.copy(), second))
        for vector in vectors:
            vector[::3] = edge_numbers(vector.dtype.type)[1][vector.size % 6]


def test_a_flush_leaves_floats_of_other_sizes_alone():
    """``np.longdouble`` (which an optimiser steps, though no model holds it) has no
    unsigned integer of its size to be read as: its vectors are left as they are."""
    from densenet.subnormal import SubnormalFlush

    vector = np.full(3, np.finfo(np.longdouble).smallest_subnormal)
    if vector.dtype.itemsize in (2, 4, 8):
        pytest.skip("np.longdouble is a double here")
    before = vector.copy()
    SubnormalFlush((vector,))()
    assert_array_equal(vector, before)


#: the optimisers whose state holds the squares of the gradients (or their running sum)
SQUARING = ["adam", "adamw", "amsgrad", "rmsprop", "rmsprop_centered", "radam", "nadam", "adagrad"]


def overflowing_squares(dtype):
    """Data whose third batch of 8 (of one huge target) gives gradients whose squares
    overflow ``dtype`` (beyond 1.8e19 in float32, 1.3e154 in float64), at a finite loss."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) * 10
    target = 1e19 if dtype == np.float32 else 1e154
    y = (X @ [1.0, 2.0, 3.0])[:, None]
    y[20] = target
    model = dn.Sequential(dn.Dense(3, 8), dn.ReLU(), dn.Dense(8, 1), seed=0, dtype=dtype)
    return model, X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", SQUARING)
def test_a_gradient_whose_square_overflows_the_state_is_a_divergence_at_that_batch(name, dtype):
    """An inf in such a state makes every later step of its parameters 0 (a gradient over
    an infinite root): the fit went on at a finite loss, those parameters stopped for good.
    It is a divergence at the batch that made it, named by the vector, and the model and
    optimiser keep what the batches before it made."""
    model, X, y = overflowing_squares(dtype)
    twin, optimizer, again = model.clone(), STATEFUL[name](), STATEFUL[name]()
    with pytest.raises(dn.DivergenceError, match=r"epoch 0, batch 2: the optimiser's state \(\w+'s \w+\) "
                                                 r"became non-finite .*max_grad_norm") as caught:
        model.fit(X, y, optimizer=optimizer, epochs=3, batch_size=8, shuffle=False)
    vector = caught.value.optimizer_state
    assert vector in optimizer.STATE
    assert pickle.loads(pickle.dumps(caught.value)).optimizer_state == vector
    assert caught.value.state is None
    assert not caught.value.at_start
    twin.fit(X[:16], y[:16], optimizer=again, epochs=1, batch_size=8, shuffle=False)
    assert_array_equal(model.params, twin.params)
    mine, theirs = optimizer.state_dict(), again.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert_array_equal(mine[key], theirs[key])
    clipped = model.clone()  # (what the message advises)
    clipped.fit(X, y, optimizer=STATEFUL[name](), epochs=3, batch_size=8, shuffle=False, max_grad_norm=1.0)
    assert np.isfinite(clipped.params).all()


@pytest.mark.parametrize("name", SQUARING)
def test_a_state_that_is_not_finite_is_named_by_its_vector(name):
    optimizer = STATEFUL[name]()
    assert optimizer.non_finite_state() is None  # (no state before a step)
    model, (X, y) = mlp([3, 4, 2]), data()
    model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=10)
    assert optimizer.non_finite_state() is None
    vectors = optimizer.state_dict()
    last = optimizer.STATE[-1]
    vectors[last][3] = np.inf
    optimizer.load_state_dict(vectors)
    assert optimizer.non_finite_state() == last
    vectors[last][3] = np.nan
    optimizer.load_state_dict(vectors)
    assert optimizer.non_finite_state() == last



class Breaking(dn.Optimizer):
    """Plain descent whose step number ``at`` writes NaN into its state and, with
    ``weights``, into a weight too; its state starts at ``initial``."""

    STATE = ("velocity",)

    def __init__(self, at=None, weights=False, initial=0.0):
        super().__init__(0.1)
        self.at, self.weights, self.initial = at, weights, initial

    def initial_state(self, name):
        return self.initial

    def step(self, params, grads):
        self.check_arrays(params, grads)
        velocity = self.state(params)["velocity"]
        params -= self.lr * grads
        if self.steps == self.at:
            velocity[0] = np.nan
            if self.weights:
                params[0] = np.nan
        self.steps += 1


def test_a_step_that_makes_the_weights_and_the_state_non_finite_is_laid_to_the_weights():
    model, (X, y) = mlp([3, 4, 2]), data()
    with pytest.raises(dn.DivergenceError, match=r"epoch 1, batch 2: the loss or the weights became "
                                                 r"non-finite .*smaller learning rate") as caught:
        model.fit(X, y, optimizer=Breaking(at=5, weights=True), epochs=3, batch_size=10, shuffle=False)
    assert caught.value.optimizer_state is None
    with pytest.raises(dn.DivergenceError, match=r"epoch 1, batch 2: the optimiser's state \(Breaking's "
                                                 r"velocity\) became non-finite") as caught:
        mlp([3, 4, 2]).fit(X, y, optimizer=Breaking(at=5), epochs=3, batch_size=10, shuffle=False)
    assert caught.value.optimizer_state == "velocity"


def test_a_step_that_makes_the_running_statistics_and_the_state_non_finite_is_laid_to_the_statistics():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)) * 1e160, rng.normal(size=(32, 1))
    model = dn.Sequential(dn.Dense(3, 4), dn.BatchNorm1d(4), dn.Tanh(), dn.Dense(4, 1), seed=0)
    with pytest.raises(dn.DivergenceError, match=r"epoch 0, batch 0: the running statistics of "
                                                 r"BatchNorm1d\(num_features=4\)") as caught:
        model.fit(X, y, optimizer=Breaking(at=0), epochs=2, batch_size=16, shuffle=False)
    assert caught.value.optimizer_state is None


def test_a_state_vector_that_starts_non_finite_is_not_asked_about():
    """(A running minimum starts at inf, say.)"""
    model, (X, y) = mlp([3, 4, 2]), data()
    optimizer = Breaking(initial=np.inf)
    model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=10)
    assert optimizer.steps == 6
    assert optimizer.non_finite_state() is None


@pytest.mark.parametrize("name", list(STATEFUL))
def test_settings_hold_the_rate_and_every_hyperparameter_given(name):
    optimizer = STATEFUL[name]()
    settings = optimizer.settings()
    given = set(inspect.signature(type(optimizer)).parameters)  # the learning rate among them
    assert given | {"decay_mask", "lr_scale"} <= set(settings)
    assert settings["lr"] == optimizer.lr


@pytest.mark.parametrize("name", list(STATEFUL))
def test_set_settings_puts_back_those_changed_and_counts_them_alone(name):
    """As a diverging epoch's replay sets each step's: a setting left as it was is not set
    again, so that nothing is planned anew for it."""
    optimizer = STATEFUL[name]()
    taken = optimizer.settings()
    version, plans = optimizer.settings_version, optimizer.plans_version
    optimizer.set_settings(taken)
    assert (optimizer.settings_version, optimizer.plans_version) == (version, plans)
    optimizer.lr = 0.5
    optimizer.weight_decay = 0.25
    optimizer.set_settings(taken)
    assert optimizer.settings() == taken
    assert optimizer.settings_version == version + 2  # weight_decay set, then set back


def test_setting_values_are_the_settings_values_for_old_pickles_and_properties_of_one_s_own():
    """``setting_values`` reads the attributes behind the settings where it can: an optimiser
    pickled before a setting existed lacks one (the property gives its default), and a
    subclass's own property may keep its value elsewhere (and its name's attribute may hold
    something else)."""
    state = dn.SGD(0.1, momentum=0.9).__getstate__()
    del state["_fold"]  # (as pickled before fold existed: it folds)
    old = dn.SGD.__new__(dn.SGD)
    old.__setstate__(state)
    assert old.setting_values() == tuple(old.settings().values())
    assert old.settings()["fold"] is True

    class Warm(dn.SGD):
        _warmth = "not the setting"

        @property
        def warmth(self):
            return self._kept_warmth

        @warmth.setter
        def warmth(self, value):
            self._kept_warmth = float(value)

    warm = Warm(0.1)
    warm.warmth = 3
    assert warm.setting_values() == tuple(warm.settings().values())
    assert warm.settings()["warmth"] == 3.0


def test_a_momentum_set_to_0_and_back_starts_its_buffer_afresh():
    """As documented (``Optimizer.state``): a setting that takes a vector out of ``STATE``
    drops it, and a state_dict() then holds none. SGD's step without momentum reads no
    state, so the old buffer was kept, and taken up again when the momentum came back,
    where a state_dict() saved in between (or a fit's snapshot of an epoch) started afresh."""
    sgd = dn.SGD(0.1, momentum=0.9)
    params, grads = np.ones(4), np.arange(4.0)
    for _ in range(3):
        sgd.step(params, grads)
    sgd.momentum = 0.0
    assert "momentum_buffer" not in sgd.state_dict()
    sgd.step(params, grads)
    sgd.momentum = 0.9
    sgd.step(params, grads)
    assert_array_equal(sgd.state_dict()["momentum_buffer"], grads)  # 0.9 * 0 + grads


def test_an_sgd_whose_momentum_was_set_to_0_holds_no_state_and_takes_another_model():
    """As ``Optimizer.state`` leaves an optimiser with no state: tied to no model."""
    sgd = dn.SGD(0.1, momentum=0.9)
    sgd.step(np.ones(3), np.ones(3))
    sgd.momentum = 0.0
    other, grads = np.ones(5), np.arange(5.0)
    sgd.step(other, grads)
    sgd.momentum = 0.9
    sgd.step(other, grads)
    assert_array_equal(sgd.state_dict()["momentum_buffer"], grads)


@pytest.mark.parametrize("setting, off, on", [("centered", False, True), ("momentum", 0.0, 0.9)])
def test_an_rmsprop_vector_switched_off_and_on_between_two_steps_starts_afresh(setting, off, on):
    """As documented: the vector is dropped when the setting takes it away (RMSprop's step
    asks its state at every call, but none came between), and starts afresh: as in an
    optimiser given the state of the first step without it."""
    name = "grad_avg" if setting == "centered" else "momentum_buffer"
    rmsprop = dn.RMSprop(0.01, **{setting: on})
    params, grads = np.ones(3), np.arange(3.0)
    rmsprop.step(params, grads)
    first = {key: value for key, value in rmsprop.state_dict().items() if key != name}
    setattr(rmsprop, setting, off)
    setattr(rmsprop, setting, on)
    rmsprop.step(params, grads)
    twin, twin_params = dn.RMSprop(0.01, **{setting: on}), np.ones(3)
    twin.step(twin_params, grads)
    twin.load_state_dict(first)  # (the vector it lacks starts afresh)
    twin.step(twin_params, grads)
    assert_array_equal(rmsprop.state_dict()[name], twin.state_dict()[name])
