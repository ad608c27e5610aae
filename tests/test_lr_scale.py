"""Per-parameter learning rates (an optimiser's ``lr_scale``, made per module by
``Sequential.lr_scales``): each parameter steps at its share of the learning rate, as
under PyTorch's parameter groups with an ``lr`` of their own, for every optimiser that
steps, on every path (``fit``, a hand-written loop, frozen modules, float32)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet.plan import TrainStep

from .conftest import allocation_peak

#: each case: the optimiser's name (in densenet and in torch.optim) and settings both take
KINDS = {
    "sgd": ("SGD", dict(lr=0.05)),
    "momentum": ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-3)),
    "nesterov": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    "adam": ("Adam", dict(lr=0.01, weight_decay=1e-2)),
    "amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    "radam": ("RAdam", dict(lr=0.01, weight_decay=1e-2)),
    "radam_decoupled": ("RAdam", dict(lr=0.01, weight_decay=1e-2, decoupled_weight_decay=True)),
    "nadam": ("NAdam", dict(lr=0.01, weight_decay=1e-2)),
    "nadam_decoupled": ("NAdam", dict(lr=0.01, weight_decay=1e-2, decoupled_weight_decay=True)),
    "adamax": ("Adamax", dict(lr=0.01, weight_decay=1e-2)),
    "rmsprop": ("RMSprop", dict(lr=0.005)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.005, momentum=0.8, weight_decay=1e-2)),
    "rmsprop_centered": ("RMSprop", dict(lr=0.005, momentum=0.5, centered=True)),
    "adagrad": ("Adagrad", dict(lr=0.05, lr_decay=0.02, weight_decay=1e-2)),
}

#: each module's share of the learning rate in the cases below (the others: 1)
SHARES = {0: 0.1, 1: 0.1, 2: 0.1, 3: 0.5}


def optimiser(name, **kwargs):
    kind, settings = KINDS[name]
    return getattr(dn, kind)(**settings, **kwargs)


def network(seed=0, dtype=np.float64):
    """Dense layers with a LayerNorm and a PReLU between them (parameters of four kinds)."""
    return dn.Sequential(dn.Dense(3, 8), dn.LayerNorm(8), dn.PReLU(8), dn.Dense(8, 6), dn.Tanh(),
                         dn.Dense(6, 4), seed=seed, dtype=dtype)


def shares_of(model, values=SHARES):
    """``values`` (module index: scale) as one vector, by ``lr_scales``' products."""
    vector = np.ones(model.trainable_params.size)
    for i, scale in values.items():
        vector *= model.lr_scales(scale, i)
    return vector


def data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.integers(0, 4, n)


def fitted(model, optimizer, epochs=25, batch_size=16, **kwargs):
    X, y = data()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs, batch_size=batch_size,
              shuffle=False, **kwargs)
    return model


def torch_groups(net, lr, values=SHARES, skip=()):
    """PyTorch's parameter groups for ``values``: one a module, its ``lr`` scaled."""
    return [{"params": list(layer.parameters()), "lr": lr * values.get(i, 1.0)}
            for i, layer in enumerate(net) if i not in skip and list(layer.parameters())]


# -- against PyTorch's parameter groups -----------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_trajectories_equal_pytorch_s_parameter_groups(name):
    """100 steps of ``fit`` with a scale per module against PyTorch's optimiser with a
    parameter group per module, each with its ``lr`` times the scale."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network()
    net = torch_twin(model)
    kind, settings = KINDS[name]
    theirs = getattr(torch.optim, kind)(torch_groups(net, settings["lr"]), **settings)
    ours = optimiser(name, lr_scale=shares_of(model))
    fitted(model, ours)
    torch_fit(net, theirs, *data(), epochs=25, batch_size=16, loss=torch.nn.CrossEntropyLoss())
    assert ours.steps == 100
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["adamw", "momentum"])
def test_scales_with_a_decay_mask_and_frozen_modules_equal_pytorch_s(name):
    """A frozen first layer, the weights alone decayed and a scale per module: PyTorch's
    groups split by module and by decay."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network().freeze(0)
    net = torch_twin(model)
    for p in net[0].parameters():
        p.requires_grad_(False)
    kind, settings = KINDS[name]
    groups = []
    for group in torch_groups(net, settings["lr"], skip=(0,)):
        for p in group["params"]:  # (a Linear's weight is 2-D: the weights decay, nothing else)
            groups.append({"params": [p], "lr": group["lr"], "weight_decay": settings["weight_decay"]
                           if p.ndim == 2 else 0.0})
    theirs = getattr(torch.optim, kind)(groups, **settings)
    ours = optimiser(name, decay_mask=model.decay_mask(), lr_scale=shares_of(model, {1: 0.1, 2: 0.1, 3: 0.5}))
    fitted(model, ours)
    torch_fit(net, theirs, *data(), epochs=25, batch_size=16, loss=torch.nn.CrossEntropyLoss())
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


def test_a_schedule_keeps_the_ratios_as_pytorch_s_schedules_of_groups():
    """``StepLR`` sets ``lr``; each group's rate follows as PyTorch's scheduler moves every
    group's ``lr`` (one batch an epoch: PyTorch's scheduler steps once an epoch)."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network()
    net = torch_twin(model)
    theirs = torch.optim.Adam(torch_groups(net, 0.01), lr=0.01)
    ours = dn.Adam(0.01, lr_scale=shares_of(model))
    fitted(model, ours, epochs=30, batch_size=64, callbacks=[dn.StepLR(ours, step_size=10, gamma=0.5)])
    torch_fit(net, theirs, *data(), epochs=30, batch_size=64, loss=torch.nn.CrossEntropyLoss(),
              scheduler=torch.optim.lr_scheduler.StepLR(theirs, step_size=10, gamma=0.5))
    assert ours.lr == 0.01 * 0.5 ** 3
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


def test_a_one_cycle_schedule_keeps_the_ratios_as_pytorch_s_of_groups():
    """``OneCycleLR`` (rate and momentum each step) against PyTorch's with a ``max_lr`` per
    group: each group's cycle is its scale times the base one."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network()
    net = torch_twin(model)
    groups = torch_groups(net, 0.05)
    theirs = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    ours = dn.SGD(0.05, momentum=0.9, lr_scale=shares_of(model))
    fitted(model, ours, epochs=10, callbacks=[dn.OneCycleLR(ours, max_lr=0.05, total_steps=40)])
    cycle = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=[g["lr"] for g in groups], total_steps=40)
    torch_fit(net, theirs, *data(), epochs=10, batch_size=16, loss=torch.nn.CrossEntropyLoss(),
              scheduler=cycle)
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


# -- what a scale does ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_a_scale_of_one_everywhere_steps_exactly_as_none(name):
    plain = fitted(network(), optimiser(name))
    ones = network()
    fitted(ones, optimiser(name, lr_scale=ones.lr_scales(1.0, slice(None))))
    assert_array_equal(ones.params, plain.params)


@pytest.mark.parametrize("name", list(KINDS))
def test_a_scale_of_zero_leaves_a_module_as_it_was_and_trains_the_rest(name):
    model = network()
    before = [m.flat_params.copy() for m in model]
    fitted(model, optimiser(name, lr_scale=model.lr_scales(0.0, 3)), epochs=3)
    assert_array_equal(model[3].flat_params, before[3])
    for i in (0, 1, 2, 5):
        assert not np.array_equal(model[i].flat_params, before[i]), i


@pytest.mark.parametrize("name", list(KINDS))
def test_each_parameter_s_first_step_is_its_scale_times_the_unscaled_one(name):
    """Any vector, not only a scale per module: from the same state, each parameter moves
    its own scale times as far (the decoupled decays' shrinking included)."""
    rng = np.random.default_rng(1)
    params, grads = rng.standard_normal(50), rng.standard_normal(50)
    scale = rng.uniform(0.0, 3.0, 50)
    scale[:5] = 0.0
    moved = []
    for vector in (None, scale):
        p = params.copy()
        optimiser(name, lr_scale=vector).step(p, grads)
        moved.append(p - params)
    assert_allclose(moved[1], scale * moved[0], rtol=1e-12, atol=1e-15)
    assert (moved[1][:5] == 0.0).all()
    assert (moved[0] != 0.0).all()


@pytest.mark.parametrize("name", list(KINDS))
def test_one_scale_everywhere_is_that_much_smaller_a_learning_rate(name):
    kind, settings = KINDS[name]
    slower = fitted(network(), getattr(dn, kind)(**{**settings, "lr": settings["lr"] * 0.25}))
    scaled = network()
    fitted(scaled, optimiser(name, lr_scale=scaled.lr_scales(0.25, slice(None))))
    assert_allclose(scaled.params, slower.params, rtol=1e-10, atol=1e-12)


def wide(seed=0):
    """A network whose products are large enough for ``fit`` to fold SGD's update into them."""
    return dn.Sequential(dn.Dense(64, 256), dn.ReLU(), dn.Dense(256, 256), dn.ReLU(), dn.Dense(256, 10),
                         seed=seed)


def wide_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((256, 64)), rng.integers(0, 10, 256)


@pytest.mark.parametrize("shares", [{2: 0.0, 4: 0.3}, {0: 0.1, 2: 0.1}], ids=["each-its-own", "body-slower"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_plain_sgd_folds_a_scale_per_module_into_its_products(momentum, shares):
    """Where ``fit`` folds plain SGD (or heavy-ball momentum) into its gradient products,
    a scale per module folds with it, each module at its own rate: a module at scale 0
    stays exactly as it was, and the weights equal the unfolded step's to rounding."""
    X, y = wide_data()
    runs = {}
    for fold in (True, False):
        model = wide()
        before = [m.flat_params.copy() for m in model]
        sgd = dn.SGD(0.01, momentum=momentum, fold=fold, lr_scale=shares_of(model, shares))
        loss = dn.CrossEntropyLoss()
        assert TrainStep(model, loss, sgd, 128, model.check_data(X, y, loss)[1]).folded == fold
        model.fit(X, y, loss=loss, optimizer=sgd, epochs=3, batch_size=128, shuffle=False)
        for i in (0, 2, 4):
            assert np.array_equal(model[i].flat_params, before[i]) == (shares.get(i) == 0.0), i
        runs[fold] = model.params
    assert_allclose(runs[True], runs[False], rtol=1e-12, atol=1e-14)
    assert not np.array_equal(runs[True], wide().params)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_scales_that_differ_within_a_module_are_not_folded(momentum):
    X, y = wide_data()
    model, unfolded = wide(), wide()
    scale = np.linspace(0.0, 1.0, model.params.size)
    loss = dn.CrossEntropyLoss()
    sgd = dn.SGD(0.01, momentum=momentum, lr_scale=scale)
    assert not TrainStep(model, loss, sgd, 128, model.check_data(X, y, loss)[1]).folded
    model.fit(X, y, loss=loss, optimizer=sgd, epochs=2, batch_size=128, shuffle=False)
    unfolded.fit(X, y, loss=loss, optimizer=dn.SGD(0.01, momentum=momentum, fold=False, lr_scale=scale),
                 epochs=2, batch_size=128, shuffle=False)
    assert_array_equal(model.params, unfolded.params)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_module_with_one_parameter_steps_at_its_scale(momentum):
    """PReLU's one slope between two wide layers: its step is its scale times the unscaled
    one, folded or not."""
    X, y = wide_data()
    moved = []
    for scale in (None, 0.5):
        model = dn.Sequential(dn.Dense(64, 256), dn.PReLU(), dn.Dense(256, 10), seed=0)
        before = model[1].a.copy()
        vector = None if scale is None else model.lr_scales(scale, 1)
        sgd = dn.SGD(0.01, momentum=momentum, lr_scale=vector)
        model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=sgd, epochs=1, batch_size=256)
        moved.append(model[1].a - before)
    assert moved[0] != 0.0
    assert_allclose(moved[1], 0.5 * moved[0], rtol=1e-9)


def test_each_module_s_share_is_read_for_the_model_asked_about():
    """One vector, two models of its size split into modules differently: each gets the
    shares of its own modules (none where a module's parameters do not share one)."""
    from densenet.plan import module_shares

    first = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)  # 9 + 4 parameters
    other = dn.Sequential(dn.Dense(1, 4), dn.Tanh(), dn.Dense(4, 1), seed=0)  # 8 + 5
    sgd = dn.SGD(0.1, lr_scale=first.lr_scales(0.5, 0))
    assert module_shares(first, sgd) == ((9, 0.5), (4, 1.0))
    assert module_shares(other, sgd) is None
    assert module_shares(first, sgd) == ((9, 0.5), (4, 1.0))
    assert module_shares(other, dn.SGD(0.1)) == ((8, 1.0), (5, 1.0))


def test_new_scales_between_epochs_fold_anew():
    """A callback's new ``lr_scale`` rebuilds the folded step with the new rates."""
    X, y = wide_data()
    model = wide()
    sgd = dn.SGD(0.01, momentum=0.9)
    kept = {}

    class StopTheFirstLayer(dn.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 0:
                sgd.lr_scale = model.lr_scales(0.0, 0)
                kept["first"] = model[0].flat_params.copy()

    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=sgd, epochs=3, batch_size=128, shuffle=False,
              callbacks=[StopTheFirstLayer()])
    assert_array_equal(model[0].flat_params, kept["first"])


def test_a_hand_written_loop_with_scales_equals_fit():
    X, y = data()
    model = network().freeze(0)
    loss = dn.CrossEntropyLoss()
    adam = dn.Adam(0.01, lr_scale=model.lr_scales(0.2, 1, 2))
    for _ in range(3):
        for start in range(0, 64, 16):
            loss.forward(model.forward(X[start:start + 16]), y[start:start + 16])
            model.backward(loss.backward())
            adam.step(model.trainable_params, model.trainable_grads)
    reference = network().freeze(0)
    fitted(reference, dn.Adam(0.01, lr_scale=reference.lr_scales(0.2, 1, 2)), epochs=3)
    assert_allclose(model.params, reference.params, rtol=1e-12, atol=1e-15)


def test_float32_models_step_at_their_scales():
    X, y = data()
    wide, narrow = network(), network(dtype=np.float32)
    for model in (wide, narrow):
        fitted(model, dn.AdamW(0.01, weight_decay=0.1, lr_scale=shares_of(model)), epochs=3)
    assert narrow.params.dtype == np.float32
    assert_allclose(narrow.params, wide.params, rtol=1e-4, atol=1e-5)


def test_a_callback_may_change_the_scales_between_epochs():
    """A new ``lr_scale`` is a new setting: ``fit`` plans its steps anew and the next step
    takes it."""
    model = network()
    sgd = dn.SGD(0.05)
    kept = {}

    class StopTheFirstLayer(dn.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                sgd.lr_scale = model.lr_scales(0.0, 0)
                kept["first"] = model[0].flat_params.copy()

    fitted(model, sgd, epochs=4, callbacks=[StopTheFirstLayer()])
    assert_array_equal(model[0].flat_params, kept["first"])
    assert sgd.steps == 16


@pytest.mark.parametrize("name", ["adamw", "nesterov", "rmsprop_centered"])
def test_a_fit_resumed_from_a_file_with_the_same_scales_ends_as_the_whole_fit(tmp_path, name):
    """The scales are a setting, not saved: given again, a resumed run is bit-identical."""
    whole = network()
    fitted(whole, optimiser(name, lr_scale=shares_of(whole)), epochs=6)
    first = network()
    started = optimiser(name, lr_scale=shares_of(first))
    fitted(first, started, epochs=3)
    first.save(tmp_path / "run.npz", optimizer=started)
    again = optimiser(name, lr_scale=shares_of(first))
    resumed = dn.load(tmp_path / "run.npz", optimizer=again)
    fitted(resumed, again, epochs=3)
    assert_array_equal(resumed.params, whole.params)


@pytest.mark.parametrize("name", list(KINDS))
def test_a_step_with_scales_allocates_nothing(name):
    rng = np.random.default_rng(0)
    model = dn.Sequential(dn.Dense(64, 128), dn.ReLU(), dn.Dense(128, 10), seed=0)
    X, y = model.check_data(rng.standard_normal((256, 64)), rng.standard_normal((256, 10)), dn.MSELoss())
    step = TrainStep(model, dn.MSELoss(), optimiser(name, lr_scale=model.lr_scales(0.5, 0)), 256, y)
    step.X[...], step.y[...] = X, y
    assert allocation_peak(step) < 4096


def test_a_schedule_setting_the_rate_and_betas_every_step_allocates_nothing():
    """A setting the scales are not made of (betas, as ``OneCycleLR`` sets them) leaves the
    per-parameter vectors as they were: no vector is made again at each step."""
    rng = np.random.default_rng(0)
    model = dn.Sequential(dn.Dense(64, 128), dn.ReLU(), dn.Dense(128, 10), seed=0)
    X, y = model.check_data(rng.standard_normal((256, 64)), rng.standard_normal((256, 10)), dn.MSELoss())
    adamw = dn.AdamW(1e-3, weight_decay=0.1, decay_mask=model.decay_mask(), lr_scale=model.lr_scales(0.5, 0))
    step = TrainStep(model, dn.MSELoss(), adamw, 256, y)
    step.X[...], step.y[...] = X, y
    rates = iter(np.linspace(1e-3, 2e-3, 100))

    def scheduled():
        adamw.lr, adamw.betas = next(rates), (0.9, 0.999)
        step()

    assert allocation_peak(scheduled) < 4096


# -- the vector, copies, repr -----------------------------------------------------------------


def test_lr_scales_is_laid_out_like_the_parameters_that_train():
    model = network()
    vector = model.lr_scales(0.5, 3, default=2.0)
    assert vector.dtype == np.float64
    assert vector.shape == model.params.shape
    start = 0
    for i, module in enumerate(model):
        assert (vector[start:start + module.n_params] == (0.5 if i == 3 else 2.0)).all()
        start += module.n_params
    model.freeze(slice(0, 3))
    assert_array_equal(model.lr_scales(0.5, 3, default=2.0), vector[-model.trainable_params.size:])
    assert_array_equal(model.lr_scales(0.5, -1), np.r_[np.ones(model[3].n_params), np.full(28, 0.5)])
    assert model.lr_scales(0.5, 3) is not model.lr_scales(0.5, 3)


def test_copies_and_pickles_keep_the_scales():
    model = network()
    adam = dn.AdamW(0.01, lr_scale=shares_of(model), decay_mask=model.decay_mask())
    fitted(model, adam, epochs=1)
    for other in (copy.deepcopy(adam), pickle.loads(pickle.dumps(adam))):
        assert_array_equal(other.lr_scale, adam.lr_scale)
        assert_array_equal(other.decay_mask, adam.decay_mask)
        assert not other.lr_scale.flags.writeable
        assert not other.decay_mask.flags.writeable
        twin, original = copy.deepcopy(model), copy.deepcopy(model)
        fitted(twin, other, epochs=2)
        fitted(original, copy.deepcopy(adam), epochs=2)
        assert_array_equal(twin.params, original.params)


def test_the_optimiser_keeps_a_read_only_copy_and_its_repr_says_so():
    model = network()
    vector = model.lr_scales(0.1, 0)
    adam = dn.Adam(0.01, lr_scale=vector)
    vector[:] = 5.0
    assert adam.lr_scale.max() == 1.0
    assert adam.lr_scale.min() == 0.1
    with pytest.raises(ValueError):
        adam.lr_scale[0] = 1.0
    assert repr(adam).endswith(", lr_scale=<0.1 to 1>)")
    assert repr(dn.SGD(0.1, lr_scale=[0.5, 2])) == "SGD(lr=0.1, lr_scale=<0.5 to 2>)"
    version = adam.settings_version
    adam.lr_scale = None
    assert adam.settings_version == version + 1
    assert "lr_scale" not in repr(adam)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, error, match", [
    ([1.0, -0.5], ValueError, r"Adam: lr_scale must be finite and >= 0 everywhere, got -0.5 at index 1"),
    ([np.nan, 1.0], ValueError, r"got nan at index 0 \(1 such entries\)"),
    ([np.inf, np.inf], ValueError, r"got inf at index 0 \(2 such entries\)"),
    ([True, False], TypeError, r"a bool array of shape \(2,\) \(a boolean array: decay_mask takes those\)"),
    ([[1.0, 2.0]], TypeError, r"must be None or a 1-D array of numbers.*shape \(1, 2\)"),
    (["a", "b"], TypeError, r"a 1-D array of numbers"),
    (0.5, TypeError, r"shape \(\)"),
    ([[1.0, 2.0], [3.0]], TypeError, r"^Adam: lr_scale must be None or a 1-D array of numbers, one entry a "
                                     r"parameter \(model.lr_scales\(...\)\), got a list whose rows differ in "
                                     r"length$"),
])
def test_bad_scales_are_refused_and_the_setting_kept(bad, error, match):
    adam = dn.Adam(0.01, lr_scale=[1.0, 2.0])
    with pytest.raises(error, match=match):
        dn.Adam(0.01, lr_scale=bad)
    with pytest.raises(error, match=match):
        adam.lr_scale = bad
    assert_array_equal(adam.lr_scale, [1.0, 2.0])


@pytest.mark.parametrize("name", list(KINDS))
def test_a_vector_of_another_size_is_refused_before_any_change(name):
    model = network()
    before = model.params.copy()
    wrong = optimiser(name, lr_scale=np.ones(model.params.size - 1))
    with pytest.raises(ValueError, match=rf"{KINDS[name][0]}: lr_scale has {before.size - 1} entries, but "
                                         rf"the model trains {before.size} parameters"):
        fitted(model, wrong)
    assert_array_equal(model.params, before)
    assert wrong.steps == 0


def test_a_vector_from_before_a_freeze_is_refused():
    model = network()
    adam = dn.Adam(0.01, lr_scale=model.lr_scales(0.5, 3))
    model.freeze(0)
    with pytest.raises(ValueError, match=rf"lr_scale has {model.params.size} entries, but the model trains "
                                         rf"{model.trainable_params.size} .*after any freeze"):
        fitted(model, adam)


def test_lbfgs_has_no_learning_rate_to_scale():
    lbfgs = dn.LBFGS()
    with pytest.raises(TypeError, match=r"LBFGS: lr_scale must be None: its line searches choose"):
        lbfgs.lr_scale = np.ones(3)
    lbfgs.lr_scale = None
    assert lbfgs.lr_scale is None
    with pytest.raises(TypeError):
        dn.LBFGS(lr_scale=np.ones(3))  # type: ignore[call-arg]


def test_an_optimiser_whose_step_does_not_apply_a_scale_refuses_one():
    """A subclass that does not declare ``lr_scale`` (its step would ignore one) says so."""

    class Descent(dn.Optimizer):
        def step(self, params, grads):
            params -= self.lr * grads

    descent = Descent(0.1)
    with pytest.raises(TypeError, match=r"Descent does not apply an lr_scale: its step would ignore it"):
        descent.lr_scale = np.ones(3)
    assert descent.lr_scale is None


@pytest.mark.parametrize("call, error, match", [
    (lambda m: m.lr_scales(0.5), TypeError, r"lr_scales: name the modules to scale"),
    (lambda m: m.lr_scales(-0.5, 0), ValueError, r"Sequential.lr_scales: invalid scale -0.5"),
    (lambda m: m.lr_scales(0.5, 0, default=np.nan), ValueError, r"invalid default nan"),
    (lambda m: m.lr_scales(True, 0), TypeError, r"scale must be a real number, got bool"),
    (lambda m: m.lr_scales(0.5, 6), ValueError, r"lr_scales: no module at index 6; the model has 6"),
    (lambda m: m.lr_scales(0.5, "0"), TypeError, r"lr_scales: layers must be module indices"),
    (lambda m: m.lr_scales(0.5, slice(-1, 0)), ValueError,
     r"lr_scales: slice\(-1, 0, None\) takes no module"),
    (lambda m: m.freeze(0).lr_scales(0.5, slice(0, 2)), ValueError,
     r"lr_scales: module 0 \(Dense\(in_features=3, out_features=8\)\) is frozen"),
])
def test_bad_lr_scales_calls_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(network())
