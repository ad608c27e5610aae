"""The schedules' rates against PyTorch's schedulers: StepLR, MultiStepLR, ExponentialLR,
LinearLR and CosineLR by the epoch, OneCycleLR by the batch (its momenta too, and whole
trainings); their states. ``test_optimizers`` has ReduceLROnPlateau's and the older checks."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .torch_twin import float64_default, torch_fit, torch_flat_params, torch_twin


def data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.uniform(size=(n, 2))


def mlp(seed=0):
    return dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.Dense(8, 2), seed=seed)


class Rates(dn.Callback):
    """The rate (and momentum) each step trained with, read before it."""

    def __init__(self, optimizer):
        self.optimizer, self.rates, self.momenta = optimizer, [], []

    def on_train_begin(self, logs=None):
        self._read()

    def on_batch_end(self, batch, logs=None):
        self._read()

    def _read(self):
        self.rates.append(self.optimizer.lr)
        betas = getattr(self.optimizer, "betas", None)
        self.momenta.append(betas[0] if betas is not None else getattr(self.optimizer, "momentum", None))


EPOCH_SCHEDULES = {
    "step": (lambda o: dn.StepLR(o, step_size=3, gamma=0.5), lambda t, o: t.StepLR(o, 3, 0.5)),
    "cosine": (lambda o: dn.CosineLR(o, epochs=8, min_lr=1e-3),
               lambda t, o: t.CosineAnnealingLR(o, T_max=8, eta_min=1e-3)),
    "exponential": (lambda o: dn.ExponentialLR(o, gamma=0.7),
                    lambda t, o: t.ExponentialLR(o, gamma=0.7)),
    "multistep": (lambda o: dn.MultiStepLR(o, milestones=[5, 2, 5], gamma=0.5),
                  lambda t, o: t.MultiStepLR(o, milestones=[5, 2, 5], gamma=0.5)),
    "multistep-from-0": (lambda o: dn.MultiStepLR(o, milestones=(0, 3)),
                         lambda t, o: t.MultiStepLR(o, milestones=[0, 3])),
    "warm-up": (lambda o: dn.LinearLR(o, start_factor=0.25, total_iters=4),
                lambda t, o: t.LinearLR(o, start_factor=0.25, total_iters=4)),
    "linear-defaults": (lambda o: dn.LinearLR(o), lambda t, o: t.LinearLR(o)),
    "linear-decay": (lambda o: dn.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=6),
                     lambda t, o: t.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=6)),
    "step-to-0": (lambda o: dn.StepLR(o, step_size=3, gamma=0.0), lambda t, o: t.StepLR(o, 3, 0.0)),
    "multistep-to-0": (lambda o: dn.MultiStepLR(o, milestones=[2, 7], gamma=0.0),
                       lambda t, o: t.MultiStepLR(o, milestones=[2, 7], gamma=0.0)),
    "exponential-to-0": (lambda o: dn.ExponentialLR(o, gamma=0.0),
                         lambda t, o: t.ExponentialLR(o, gamma=0.0)),
    "linear-decay-to-0": (lambda o: dn.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=6),
                          lambda t, o: t.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=6)),
    "cosine-through-0": (lambda o: dn.CosineLR(o, epochs=4), lambda t, o: t.CosineAnnealingLR(o, T_max=4)),
    "restarts": (lambda o: dn.CosineRestartsLR(o, epochs=3, min_lr=1e-3),
                 lambda t, o: t.CosineAnnealingWarmRestarts(o, T_0=3, eta_min=1e-3)),
    "restarts-growing": (lambda o: dn.CosineRestartsLR(o, epochs=2, mult=2),
                         lambda t, o: t.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2)),
    "warm-up-then-cosine": (
        lambda o: dn.SequentialLR(o, [dn.LinearLR(o, start_factor=0.1, total_iters=3),
                                      dn.CosineLR(o, epochs=7, min_lr=1e-3)], milestones=[3]),
        lambda t, o: t.SequentialLR(o, [t.LinearLR(o, start_factor=0.1, total_iters=3),
                                        t.CosineAnnealingLR(o, T_max=7, eta_min=1e-3)], milestones=[3])),
    "the-second-set-its-rate-when-made": (  # (a milestone at 0: the sequence puts the first's back)
        lambda o: dn.SequentialLR(o, [dn.StepLR(o, 2, 0.5), dn.MultiStepLR(o, [0, 2], 0.5)], [3]),
        lambda t, o: t.SequentialLR(o, [t.StepLR(o, 2, 0.5), t.MultiStepLR(o, [0, 2], 0.5)], [3])),
    "three-in-turn": (
        lambda o: dn.SequentialLR(o, [dn.ExponentialLR(o, 0.8), dn.StepLR(o, 2, 0.5),
                                      dn.LinearLR(o, 1.0, end_factor=0.2, total_iters=4)], [2, 5]),
        lambda t, o: t.SequentialLR(o, [t.ExponentialLR(o, 0.8), t.StepLR(o, 2, 0.5),
                                        t.LinearLR(o, 1.0, end_factor=0.2, total_iters=4)], [2, 5])),
}


@pytest.mark.parametrize("name", list(EPOCH_SCHEDULES))
def test_epoch_schedules_set_the_rates_of_pytorch_s_schedulers_across_fits(name):
    torch = pytest.importorskip("torch")
    ours_of, theirs_of = EPOCH_SCHEDULES[name]
    X, y = data()
    model, adam = mlp(), dn.Adam(0.1)
    theirs_opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ours, theirs = ours_of(adam), theirs_of(torch.optim.lr_scheduler, theirs_opt)
    assert adam.lr == pytest.approx(theirs_opt.param_groups[0]["lr"], rel=1e-15)  # set when made
    rates = []

    class Spy(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(adam.lr)  # the rate this epoch trained with

    want = []
    for _ in range(2):  # one schedule over two fits
        model.fit(X, y, optimizer=adam, epochs=5, callbacks=[Spy(), ours])
        for _ in range(5):
            want.append(theirs_opt.param_groups[0]["lr"])
            theirs_opt.step()
            theirs.step()
    assert_allclose(rates, want, rtol=1e-14)
    assert ours.epoch == 10
    assert len(set(rates)) > 1


@pytest.mark.parametrize("settings", [
    dict(total_steps=40),
    dict(epochs=4, steps_per_epoch=10, anneal_strategy="linear"),
    dict(total_steps=40, three_phase=True, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
    dict(total_steps=40, base_momentum=0.5, max_momentum=0.9, pct_start=0.0),
    dict(total_steps=7, pct_start=0.5),
    dict(total_steps=12, pct_start=1.0),
    dict(total_steps=1),
    dict(total_steps=40, cycle_momentum=False),
])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_one_cycle_sets_the_rates_and_momenta_of_pytorch_s_scheduler(settings, optimizer):
    torch = pytest.importorskip("torch")
    ours_opt = {"sgd": dn.SGD(0.1), "adam": dn.Adam(0.1), "rmsprop": dn.RMSprop(0.1)}[optimizer]
    param = torch.nn.Parameter(torch.zeros(1))
    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[optimizer]
    theirs_opt = kind([param], lr=0.1)
    ours = dn.OneCycleLR(ours_opt, max_lr=0.5, **settings)
    theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, max_lr=0.5, **settings)
    key = "betas" if optimizer == "adam" else "momentum"
    for step in range(ours.total_steps):
        group = theirs_opt.param_groups[0]
        momentum = group[key][0] if key == "betas" else group[key]
        assert ours.values(step) == (group["lr"], momentum if settings.get("cycle_momentum", True)
                                     else ours.values(step)[1])
        assert ours_opt.lr == group["lr"]  # set for each step, to the last bit
        ours_momentum = ours_opt.betas[0] if key == "betas" else ours_opt.momentum
        assert ours_momentum == momentum
        theirs_opt.step()
        if step < ours.total_steps - 1:  # (PyTorch's scheduler computes one more rate, after the end)
            theirs.step()
        ours.on_batch_end(step)
    assert ours.step == ours.total_steps


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam", "sgd-folded", "rmsprop", "radam", "nadam",
                                       "adamax"])
def test_a_fit_with_one_cycle_follows_pytorch_s_training_loop(optimizer):
    """Plain SGD gets a momentum from the cycle, as in PyTorch; every step's rate and
    momentum are taken by the step after them, folded into the backward pass too (a
    64-wide input makes the products large enough)."""
    torch = pytest.importorskip("torch")
    X, y = data(40)
    model, max_lr = mlp(seed=3), 0.3
    if optimizer == "sgd-folded":
        X, optimizer, max_lr = np.random.default_rng(1).standard_normal((40, 64)), "sgd", 0.01
        model = dn.Sequential(dn.Dense(64, 1024), dn.Tanh(), dn.Dense(1024, 2), seed=3)
        assert model.train_step(dn.MSELoss(), dn.SGD(0.1, momentum=0.5), 8, y).folded
    net = torch_twin(model)
    ours_opt, theirs_opt = {
        "sgd": (dn.SGD(0.1), torch.optim.SGD(net.parameters(), lr=0.1)),
        "nesterov": (dn.SGD(0.1, momentum=0.9, nesterov=True),
                     torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)),
        "adam": (dn.Adam(0.1), torch.optim.Adam(net.parameters(), lr=0.1)),
        "rmsprop": (dn.RMSprop(0.01), torch.optim.RMSprop(net.parameters(), lr=0.01)),
        "radam": (dn.RAdam(0.1), torch.optim.RAdam(net.parameters(), lr=0.1)),
        "nadam": (dn.NAdam(0.1), torch.optim.NAdam(net.parameters(), lr=0.1)),
        "adamax": (dn.Adamax(0.1), torch.optim.Adamax(net.parameters(), lr=0.1)),
    }[optimizer]
    ours = dn.OneCycleLR(ours_opt, max_lr=max_lr, epochs=6, steps_per_epoch=5)
    theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, max_lr=max_lr, epochs=6, steps_per_epoch=5)
    rates = Rates(ours_opt)
    model.fit(X, y, optimizer=ours_opt, epochs=6, batch_size=8, shuffle=False, callbacks=[ours, rates])
    with float64_default():
        torch_fit(net, theirs_opt, X, y, 6, 8, scheduler=theirs)
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-13)
    assert len(set(rates.rates)) > 20
    assert len(set(rates.momenta)) > 20


def test_the_first_fit_sets_the_cycle_and_a_fit_past_its_end_is_refused_before_any_step():
    X, y = data()
    whole, split = mlp(), mlp()
    whole_opt, split_opt = dn.SGD(0.1, momentum=0.9), dn.SGD(0.1, momentum=0.9)
    whole.fit(X, y, optimizer=whole_opt, epochs=6, batch_size=10,
              callbacks=[dn.OneCycleLR(whole_opt, max_lr=0.5, total_steps=18)])
    cycle = dn.OneCycleLR(split_opt, max_lr=0.5)
    assert cycle.total_steps is None
    assert split_opt.lr == pytest.approx(0.02)
    assert split_opt.momentum == 0.95
    split.fit(X, y, optimizer=split_opt, epochs=6, batch_size=10, callbacks=[cycle])
    assert cycle.total_steps == cycle.step == 18
    assert_array_equal(split.params, whole.params)  # one cycle of 18 steps either way
    assert split_opt.lr == cycle.values(17)[0]  # the last step's, kept
    before = split.params.copy(), split_opt.lr, split_opt.steps
    with pytest.raises(ValueError, match=r"OneCycleLR: the cycle has 0 of its 18 steps left, but fit would "
                                         r"take 3 \(1 epochs of 3 batches\)"):
        split.fit(X, y, optimizer=split_opt, epochs=1, batch_size=10, callbacks=[cycle])
    assert_array_equal(split.params, before[0])
    assert (split_opt.lr, split_opt.steps) == before[1:]


def test_a_cycle_of_more_steps_than_an_int64_holds_is_refused_before_any_step():
    """The first fit sets the cycle's length (its epochs times its batches): one that the
    file it is saved in could not give back is refused before a step."""
    X, y = data()
    model, sgd = mlp(), dn.SGD(0.1, momentum=0.9)
    cycle = dn.OneCycleLR(sgd, max_lr=0.5)
    before = model.params.copy(), sgd.lr
    with pytest.raises(ValueError, match=r"^OneCycleLR: the cycle's steps \(fit's epochs times batches\) "
                                         r"must be an integer >= 1 of at most 2\*\*63 - 1"):
        model.fit(X, y, optimizer=sgd, epochs=2**62, batch_size=10, callbacks=[cycle])
    assert_array_equal(model.params, before[0])
    assert (sgd.lr, cycle.total_steps) == (before[1], None)


def test_a_cycle_split_over_two_fits_is_one_cycle():
    X, y = data()
    whole, split = mlp(), mlp()
    whole_opt, split_opt = dn.Adam(0.1), dn.Adam(0.1)
    whole.fit(X, y, optimizer=whole_opt, epochs=6, batch_size=10,
              callbacks=[dn.OneCycleLR(whole_opt, max_lr=0.05, total_steps=18)])
    cycle = dn.OneCycleLR(split_opt, max_lr=0.05, total_steps=18)
    for _ in range(2):
        split.fit(X, y, optimizer=split_opt, epochs=3, batch_size=10, callbacks=[cycle])
    assert_array_equal(split.params, whole.params)


@pytest.mark.parametrize("arguments, error, match", [
    (dict(max_lr=0.0), ValueError, r"invalid max_lr 0\.0"),
    (dict(max_lr=1.0, pct_start=1.5), ValueError, "pct_start"),
    (dict(max_lr=1.0, anneal_strategy="exp"), ValueError, "anneal_strategy must be 'cos' or 'linear'"),
    (dict(max_lr=1.0, epochs=3), ValueError, "or both epochs and steps_per_epoch"),
    (dict(max_lr=1.0, steps_per_epoch=3), ValueError, "or both epochs and steps_per_epoch"),
    (dict(max_lr=1.0, total_steps=0), ValueError, "total_steps must be an integer >= 1"),
    (dict(max_lr=1.0, total_steps=2.5), TypeError, "total_steps must be an integer"),
    # (a count no int64 holds: 10**400 gave an OverflowError where the phases are placed)
    (dict(max_lr=1.0, total_steps=10**400), ValueError, r"total_steps must be an integer >= 1 of at most"),
    (dict(max_lr=1.0, epochs=2**62, steps_per_epoch=2), ValueError,
     r"^OneCycleLR: epochs times steps_per_epoch must be an integer >= 1 of at most 2\*\*63 - 1 \(NumPy's "
     r"int64\), got 9223372036854775808$"),
    (dict(max_lr=1.0, max_momentum=1.0), ValueError, "max_momentum"),
    (dict(max_lr=1.0, base_momentum=-0.1), ValueError, "base_momentum"),
    (dict(max_lr=1.0, div_factor=0), ValueError, "div_factor"),
    (dict(max_lr=1.0, final_div_factor=-1.0), ValueError, "final_div_factor"),
    (dict(max_lr=1.0, final_div_factor=0.0), ValueError, r"final_div_factor 0\.0; it must lie in \(0"),
    (dict(max_lr=1.0, three_phase="no"), TypeError, "three_phase"),
    # (a first or last rate beyond float's range was the optimiser's inf, or NaN in the fall)
    (dict(max_lr=1e300, div_factor=1e-300), ValueError,
     r"^OneCycleLR: the first rate, max_lr / div_factor = 1e\+300 / 1e-300, is beyond float's range$"),
    (dict(max_lr=1e300, div_factor=1.0, final_div_factor=1e-300), ValueError,
     r"^OneCycleLR: the last rate, max_lr / div_factor / final_div_factor = 1e\+300 / 1\.0 / 1e-300, is "
     r"beyond float's range$"),
    (dict(max_lr=1.0, total_steps=10, pct_start=0.1), ValueError,
     r"pct_start=0\.1 of 10 steps leaves a phase of the cycle without steps"),
    (dict(max_lr=1.0, total_steps=5, pct_start=0.2, three_phase=True), ValueError, "without steps"),
])
def test_one_cycle_refuses_bad_arguments_by_name_and_leaves_the_optimiser(arguments, error, match):
    sgd = dn.SGD(0.1)
    with pytest.raises(error, match=match):
        dn.OneCycleLR(sgd, **arguments)
    assert (sgd.lr, sgd.momentum) == (0.1, 0.0)


def test_one_cycle_needs_a_momentum_to_cycle_batches_and_room():
    class Plain(dn.Optimizer):
        def step(self, params, grads):
            params -= self.lr * grads

    plain = Plain(0.1)
    with pytest.raises(ValueError, match="cycle_momentum needs an optimiser with a momentum or betas"):
        dn.OneCycleLR(plain, max_lr=1.0)
    dn.OneCycleLR(plain, max_lr=1.0, cycle_momentum=False)
    assert plain.lr == pytest.approx(0.04)
    X, y = data()
    model = mlp()
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"OneCycleLR sets the learning rate of LBFGS\(.*\), which has none"):
        dn.OneCycleLR(dn.LBFGS(), 1.0, cycle_momentum=False)  # (test_lbfgs: every schedule)
    sgd = dn.SGD(0.1)
    with pytest.raises(ValueError, match=r"pct_start=0\.1 of 10 steps leaves a phase"):  # 1 epoch, 10 batches
        model.fit(X, y, optimizer=sgd, epochs=1, batch_size=3,
                  callbacks=[dn.OneCycleLR(sgd, 1.0, pct_start=0.1)])
    assert_array_equal(model.params, before)


@pytest.mark.parametrize("ours, theirs", [
    ("MultiStepLR", "MultiStepLR"), ("ExponentialLR", "ExponentialLR"), ("LinearLR", "LinearLR"),
    ("OneCycleLR", "OneCycleLR"),
])
def test_the_schedules_arguments_and_defaults_are_pytorch_s(ours, theirs):
    torch = pytest.importorskip("torch")
    mine = inspect.signature(getattr(dn, ours)).parameters
    pytorch_s = inspect.signature(getattr(torch.optim.lr_scheduler, theirs)).parameters
    assert set(mine) <= set(pytorch_s)
    assert set(pytorch_s) - set(mine) <= {"last_epoch", "verbose"}
    assert {p: mine[p].default for p in mine} == {p: pytorch_s[p].default for p in mine}


@pytest.mark.parametrize("arguments, error, match", [
    (dict(milestones=3), TypeError, "milestones must be a list of epochs"),
    (dict(milestones=[2, -1]), ValueError, "MultiStepLR milestone"),
    (dict(milestones=[2.5]), TypeError, "MultiStepLR milestone"),
    (dict(milestones=[2], gamma=-0.1), ValueError, "MultiStepLR: invalid gamma"),
])
def test_multistep_refuses_bad_arguments_by_name(arguments, error, match):
    with pytest.raises(error, match=match):
        dn.MultiStepLR(dn.SGD(0.1), **arguments)


@pytest.mark.parametrize("arguments, match", [
    (dict(start_factor=0.0), "start_factor"), (dict(start_factor=1.5), "start_factor"),
    (dict(end_factor=-0.1), "end_factor"), (dict(end_factor=1.1), "end_factor"),
    (dict(total_iters=0), "total_iters"),
])
def test_linear_refuses_bad_arguments_by_name_and_leaves_the_rate(arguments, match):
    sgd = dn.SGD(0.1)
    with pytest.raises(ValueError, match=match):
        dn.LinearLR(sgd, **arguments)
    assert sgd.lr == 0.1


@pytest.mark.parametrize("schedules, milestones, error, match", [
    (lambda o: [], [], ValueError, "at least one schedule"),
    (lambda o: [dn.StepLR(o, 2), dn.ReduceLROnPlateau(o)], [2], TypeError, "schedule 1 must be an epoch"),
    (lambda o: [dn.OneCycleLR(o, 1.0)], [], TypeError, r"schedule 0 must be an epoch .*got OneCycleLR"),
    (lambda o: [dn.StepLR(o, 2), dn.StepLR(dn.SGD(0.1), 2)], [2], ValueError,
     "schedule 1, StepLR, was made for another optimiser"),
    (lambda o: [dn.StepLR(o, 2), dn.StepLR(o, 2)], [], ValueError, r"one fewer than the 2 schedules, got"),
    (lambda o: [dn.StepLR(o, 2)] * 3, [4, 2], ValueError, "milestones must be increasing"),
    (lambda o: [dn.StepLR(o, 2)] * 3, [2, 2], ValueError, "milestones must be increasing"),
    (lambda o: [dn.StepLR(o, 2)] * 2, [0], ValueError, "SequentialLR milestone must be an integer >= 1"),
])
def test_sequential_refuses_bad_arguments_by_name_and_leaves_the_rate(schedules, milestones, error, match):
    sgd = dn.SGD(0.1, momentum=0.5)
    made = schedules(sgd)
    lr, momentum = sgd.lr, sgd.momentum
    with pytest.raises(error, match=match):
        dn.SequentialLR(sgd, made, milestones)
    assert (sgd.lr, sgd.momentum) == (lr, momentum)


def test_sequential_gives_every_schedule_the_first_one_s_base_rate():
    sgd = dn.SGD(1.0)
    warm_up = dn.LinearLR(sgd, start_factor=0.1, total_iters=2)
    decay = dn.StepLR(sgd, step_size=1, gamma=0.5)
    assert decay.base_lr == 0.1  # (made after the warm-up lowered the rate)
    both = dn.SequentialLR(sgd, [warm_up, decay], milestones=[2])
    assert both.base_lr == decay.base_lr == 1.0
    assert sgd.lr == 0.1
    assert [both.rate(e) for e in range(5)] == [0.1, 0.55, 1.0, 0.5, 0.25]
    other = dn.SGD(0.2)  # made with another rate, then put at epoch 3 of the one above
    again = dn.SequentialLR(other, [dn.LinearLR(other, 0.1, total_iters=2), dn.StepLR(other, 1, 0.5)], [2])
    again.load_state_dict(both.state_dict() | {"epoch": 3})
    assert [again.rate(e) for e in range(5)] == [both.rate(e) for e in range(5)]
    assert other.lr == 0.5


@pytest.mark.parametrize("arguments, error, match", [
    (dict(epochs=0), ValueError, "CosineRestartsLR epochs must be an integer >= 1"),
    (dict(epochs=2.5), TypeError, "CosineRestartsLR epochs"),
    (dict(epochs=2, mult=0), ValueError, "CosineRestartsLR mult must be an integer >= 1"),
    (dict(epochs=2, min_lr=0.5), ValueError, r"CosineRestartsLR: invalid min_lr 0\.5; it must lie in \[0, "),
])
def test_restarts_refuse_bad_arguments_by_name(arguments, error, match):
    with pytest.raises(error, match=match):
        dn.CosineRestartsLR(dn.SGD(0.1), **arguments)


@pytest.mark.parametrize("mult", [1, 2, 3])
def test_restarts_find_an_epoch_s_place_in_its_period_at_once(mult):
    """The rate of epoch ``e`` counted its way through the periods before it, one turn a
    period: with periods of one length, ``e / epochs`` turns twice an epoch (a fit's
    1000th epoch of periods of 5 took 400 of them); a run resumed at epoch 7 * 10**17 never
    set its rate. Now periods of one length take a remainder, growing ones as many turns
    as periods, a logarithm of the epoch (each in a thread here, bounded in time, so that
    the counting one fails rather than hangs)."""
    import threading

    sgd = dn.SGD(1.0)
    restarts = dn.CosineRestartsLR(sgd, epochs=7, mult=mult, min_lr=0.1)
    start = 7 * (mult ** 30 - 1) // (mult - 1) if mult > 1 else 7 * 10 ** 17  # a period begins there
    answers = {}

    def find():
        try:
            answers["far"] = [restarts.rate(start + e) for e in (0, 3)]
            restarts.load_state_dict({"epoch": start + 3, "base_lr": 1.0})
            answers["loaded"] = sgd.lr
        except Exception as error:  # (raised below, in the test's own thread)
            answers["error"] = error

    found = threading.Thread(target=find, daemon=True)
    found.start()
    found.join(timeout=60)
    if "error" in answers:
        raise answers["error"]
    assert "loaded" in answers
    period = 7 * mult ** (30 if mult > 1 else 0)
    assert answers["far"] == [1.0, 0.1 + (1.0 - 0.1) * ((1 + math.cos(math.pi * (3 / period))) / 2)]
    assert answers["loaded"] == answers["far"][1]


def test_a_linear_decay_to_0_ends_at_a_rate_of_0():
    sgd = dn.SGD(1.0)
    decay = dn.LinearLR(sgd, start_factor=1.0, end_factor=0.0, total_iters=2)
    rates = []
    for epoch in range(4):
        decay.on_epoch_end(epoch)
        rates.append(sgd.lr)
    assert rates == [0.5, 0.0, 0.0, 0.0]


OPTIMIZERS = {
    "plain-sgd": (lambda: dn.SGD(0.1), lambda t, p: t.optim.SGD(p, 0.1)),  # (folded into the products)
    "sgd": (lambda: dn.SGD(0.1, momentum=0.9, weight_decay=0.01),
            lambda t, p: t.optim.SGD(p, 0.1, momentum=0.9, weight_decay=0.01)),
    "adam": (lambda: dn.Adam(0.05), lambda t, p: t.optim.Adam(p, 0.05)),
    "adamw": (lambda: dn.AdamW(0.05, weight_decay=0.1),
              lambda t, p: t.optim.AdamW(p, 0.05, weight_decay=0.1)),
    "rmsprop": (lambda: dn.RMSprop(0.01, momentum=0.5), lambda t, p: t.optim.RMSprop(p, 0.01, momentum=0.5)),
    "nadam": (lambda: dn.NAdam(0.01), lambda t, p: t.optim.NAdam(p, 0.01)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_epochs_at_a_rate_of_0_leave_the_parameters_and_follow_pytorch(name):
    torch = pytest.importorskip("torch")
    ours_of, theirs_of = OPTIMIZERS[name]
    X, y = data()
    model = mlp()
    net = torch_twin(model)
    optimizer = ours_of()
    schedule = dn.CosineLR(optimizer, epochs=3)  # epoch 3 at 0, then up again
    params = []

    class Spy(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            params.append(model.params.copy())

    model.fit(X, y, optimizer=optimizer, epochs=6, batch_size=len(X), shuffle=False,
              callbacks=[schedule, Spy()])
    assert_array_equal(params[3], params[2])  # the step at 0 moved nothing
    assert not np.array_equal(params[4], params[3])
    assert not np.array_equal(params[2], params[1])
    with float64_default():
        theirs = theirs_of(torch, net.parameters())
    torch_fit(net, theirs, X, y, epochs=6, batch_size=len(X),
              scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=3))
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("make", [lambda o: dn.CosineLR(o, 4), lambda o: dn.CosineLR(o, 4, min_lr=1e300),
                                  lambda o: dn.CosineRestartsLR(o, 2, mult=2)])
def test_the_cosine_schedules_take_any_finite_base_rate(make):
    """``(base - min) * (1 + cos)`` overflowed for a base rate above half the largest float,
    and the schedule refused a rate it never reaches (``overflows a float``): the factor in
    [0, 1] is taken first."""
    largest = float(np.finfo(np.float64).max)
    schedule = make(dn.SGD(largest))
    rates = [schedule.rate(epoch) for epoch in range(10)]
    assert rates[0] == largest
    assert all(schedule.min_lr <= rate <= largest for rate in rates)
    assert len(set(rates)) > 3


def _plateau(optimizer):
    return dn.ReduceLROnPlateau(optimizer, monitor="loss")


def _cycle(optimizer):
    return dn.OneCycleLR(optimizer, max_lr=1.0, total_steps=10, pct_start=0.5)


@pytest.mark.parametrize("make, state, error, match", [
    (lambda o: dn.StepLR(o, 2), {"epoch": 3}, ValueError, r"StepLR: a state must hold epoch, base_lr"),
    (lambda o: dn.StepLR(o, 2), [3, 0.1], ValueError, "must hold epoch, base_lr"),
    (lambda o: dn.StepLR(o, 2), {"epoch": -1, "base_lr": 0.1}, ValueError, "StepLR epoch must be"),
    (lambda o: dn.LinearLR(o), {"epoch": 1, "base_lr": -0.1}, ValueError, "LinearLR: invalid learning rate"),
    (_plateau, {"best": float("nan"), "num_bad_epochs": 0, "cooldown_counter": 0}, ValueError, "best"),
    (_plateau, {"best": 1.0, "num_bad_epochs": 1.5, "cooldown_counter": 0}, TypeError, "num_bad_epochs"),
    (_plateau, {"best": 1.0, "num_bad_epochs": 0, "cooldown_counter": -2}, ValueError, "cooldown_counter"),
    (_cycle, {"step": 5, "total_steps": None}, ValueError, "a state of 5 steps needs the cycle's total"),
    (_cycle, {"step": 11, "total_steps": 10}, ValueError, "a state of 11 steps is past the cycle's 10"),
    (_cycle, {"step": 0, "total_steps": 2}, ValueError, "leaves a phase of the cycle without steps"),
    (_cycle, {"step": 0, "total_steps": 0}, ValueError, "total_steps must be an integer >= 1"),
    # numbers no number type holds (float() raised OverflowError; a count beyond int64 gave one later)
    (lambda o: dn.StepLR(o, 2), {"epoch": 1, "base_lr": 10**400}, ValueError, "invalid learning rate 1000"),
    (lambda o: dn.StepLR(o, 2), {"epoch": 2**63, "base_lr": 0.1}, ValueError, r"of at most 2\*\*63 - 1"),
    (_plateau, {"best": 10**400, "num_bad_epochs": 0, "cooldown_counter": 0}, ValueError, "invalid best 10"),
    (_plateau, {"best": -10**400, "num_bad_epochs": 0, "cooldown_counter": 0}, ValueError, "invalid best -1"),
    (_cycle, {"step": 0, "total_steps": 10**400}, ValueError, r"total_steps must be an integer >= 1 of at "),
    (lambda o: dn.ExponentialLR(o, gamma=2.0), {"epoch": 1100, "base_lr": 0.1}, ValueError,
     "ExponentialLR: its learning rate for epoch 1100 overflows a float"),
])
def test_a_bad_state_is_refused_by_name_and_changes_nothing(make, state, error, match):
    sgd = dn.SGD(0.1)
    schedule = make(sgd)
    schedule.on_epoch_end(0, {"loss": 1.0})
    before = schedule.state_dict(), sgd.lr, sgd.momentum
    with pytest.raises(error, match=match):
        schedule.load_state_dict(state)
    assert (schedule.state_dict(), sgd.lr, sgd.momentum) == before


@pytest.mark.parametrize("make, epochs", [
    (lambda o: dn.StepLR(o, 2, gamma=0.5), 3), (lambda o: dn.CosineLR(o, 8), 3), (_plateau, 3),
    (lambda o: dn.CosineRestartsLR(o, 2, mult=2), 3),
    (_plateau, 0),  # (its best is inf, in the file too)
    (_cycle, 3), (lambda o: dn.OneCycleLR(o, max_lr=1.0), 0),  # (no fit yet: no total_steps)
    (lambda o: dn.SequentialLR(o, [dn.LinearLR(o, 0.5, total_iters=2), dn.StepLR(o, 1, 0.5)], [2]), 3),
])
def test_a_state_goes_through_a_file_and_sets_the_rate_of_its_place(make, epochs, tmp_path):
    sgd = dn.SGD(0.1)
    schedule = make(sgd)
    for epoch in range(epochs):
        schedule.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
        schedule.on_batch_end(0)
    model = mlp()
    model.save(tmp_path / "run.npz", optimizer=sgd, schedules=[schedule])
    again = dn.SGD(0.1)
    fresh = make(again)
    dn.load(tmp_path / "run.npz", schedules=[fresh])  # (the optimiser's own state not asked for)
    assert fresh.state_dict() == schedule.state_dict()
    assert (again.lr, again.momentum) == (sgd.lr, sgd.momentum)


def test_a_finished_cycle_loads_and_leaves_the_last_steps_rate():
    sgd = dn.SGD(0.1)
    cycle = _cycle(sgd)
    for step in range(cycle.total_steps):
        cycle.on_batch_end(step)
    assert cycle.step == 10
    assert (sgd.lr, sgd.momentum) == cycle.values(9)
    again = dn.SGD(0.1)
    fresh = _cycle(again)
    again.lr, again.momentum = sgd.lr, sgd.momentum  # (what loading the optimiser's state does)
    fresh.load_state_dict(cycle.state_dict())
    assert fresh.step == 10
    assert (again.lr, again.momentum) == cycle.values(9)


@pytest.mark.parametrize("make, base, epoch", [
    (lambda o: dn.ExponentialLR(o, gamma=2.0), 1e-300, 1023),  # then 2.0 ** 1024: past a float
    (lambda o: dn.StepLR(o, 1, gamma=1e10), 1e300, 0),  # then 1e300 * 1e10: inf
    (lambda o: dn.MultiStepLR(o, [1, 2], gamma=1e200), 1e-300, 1),  # then 1e200 ** 2: past a float
])
def test_a_rate_that_overflows_is_refused_by_name_and_leaves_the_schedule_where_it_was(make, base, epoch):
    """A gamma above 1 grows the rate without bound: the epoch whose rate is past a float's
    range is refused, naming the schedule, with the schedule and the optimiser's rate those
    of the epoch before; in a fit too."""
    sgd = dn.SGD(base)
    schedule = make(sgd)
    schedule.load_state_dict({"epoch": epoch, "base_lr": base})
    before = schedule.state_dict(), sgd.lr
    assert 0 < sgd.lr < math.inf
    name = type(schedule).__name__
    with pytest.raises(ValueError, match=rf"^{name}: its learning rate for epoch {epoch + 1} overflows a "):
        schedule.on_epoch_end(epoch)
    assert (schedule.state_dict(), sgd.lr) == before
    model = mlp()
    with pytest.raises(ValueError, match=rf"^{name}: its learning rate for epoch {epoch + 1} overflows"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), optimizer=sgd, epochs=3, callbacks=[schedule])
    assert (schedule.state_dict(), sgd.lr) == before


CHAINED = {
    "warm-up": (lambda o: dn.LinearLR(o, start_factor=0.25, total_iters=8),
                lambda t, o: t.LinearLR(o, start_factor=0.25, total_iters=8)),
    "step": (lambda o: dn.StepLR(o, step_size=3, gamma=0.5), lambda t, o: t.StepLR(o, 3, 0.5)),
    "multistep": (lambda o: dn.MultiStepLR(o, milestones=[4, 9], gamma=0.3),
                  lambda t, o: t.MultiStepLR(o, milestones=[4, 9], gamma=0.3)),
    "exponential": (lambda o: dn.ExponentialLR(o, gamma=0.9), lambda t, o: t.ExponentialLR(o, gamma=0.9)),
    "cosine": (lambda o: dn.CosineLR(o, epochs=30), lambda t, o: t.CosineAnnealingLR(o, T_max=30)),
}


@pytest.mark.parametrize("name", list(CHAINED))
@pytest.mark.parametrize("plateau_first", [False, True])
def test_an_epoch_schedule_beside_a_plateau_one_chains_as_pytorch_s_schedulers_do(name, plateau_first):
    """An epoch schedule and a ``ReduceLROnPlateau`` on one optimiser: each drop the plateau
    makes holds on, the schedule multiplying the rate it finds by ``rate(e + 1) / rate(e)``,
    as PyTorch's schedulers stepped one after the other do (in either order)."""
    torch = pytest.importorskip("torch")
    losses = [1.0, 0.9, 0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7,
              0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4]
    sgd = dn.SGD(lr=0.1)
    schedule = CHAINED[name][0](sgd)
    plateau = dn.ReduceLROnPlateau(sgd, monitor="loss", factor=0.5, patience=0)
    callbacks = [plateau, schedule] if plateau_first else [schedule, plateau]
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    theirs = CHAINED[name][1](torch.optim.lr_scheduler, theirs_opt)
    theirs_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, factor=0.5, patience=0)
    rates, want = [sgd.lr], [theirs_opt.param_groups[0]["lr"]]
    for epoch, loss in enumerate(losses):
        for callback in callbacks:
            callback.on_epoch_end(epoch, {"loss": loss})
        theirs_opt.step()
        theirs.step()
        theirs_plateau.step(loss)
        rates.append(sgd.lr)
        want.append(theirs_opt.param_groups[0]["lr"])
    assert_allclose(rates, want, rtol=1e-14, atol=0)
    own = [schedule.rate(epoch) for epoch in range(len(rates))]
    assert rates[-1] < own[-1] / 8  # (three drops or more, all kept)


@pytest.mark.parametrize("ours, theirs", [
    (lambda o: [dn.LinearLR(o, 0.25, 1.0, 4), dn.StepLR(o, 3, 0.5)],
     lambda t, o: [t.LinearLR(o, 0.25, 1.0, 4), t.StepLR(o, 3, 0.5)]),
    (lambda o: [dn.LinearLR(o, 0.25, 1.0, 4), dn.ExponentialLR(o, 0.9)],
     lambda t, o: [t.LinearLR(o, 0.25, 1.0, 4), t.ExponentialLR(o, 0.9)]),
    (lambda o: [dn.StepLR(o, 3, 0.5), dn.MultiStepLR(o, [2, 5], 0.1)],
     lambda t, o: [t.StepLR(o, 3, 0.5), t.MultiStepLR(o, [2, 5], 0.1)]),
], ids=["warm-up-and-step", "warm-up-and-exponential", "step-and-multistep"])
def test_two_epoch_schedules_on_one_optimiser_chain_as_pytorch_s_do(ours, theirs):
    """Two epoch schedules given to ``fit`` for one optimiser: the rate is the product of
    their factors (the warm-up warms what the decay decays), as PyTorch's schedulers stepped
    one after the other give, where the last one's closed form used to win."""
    torch = pytest.importorskip("torch")
    X, T = data()
    sgd = dn.SGD(lr=0.1)
    schedules, rates = ours(sgd), Rates(sgd)
    mlp().fit(X, T, optimizer=sgd, epochs=12, batch_size=30, callbacks=[*schedules, rates])
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    stepped = theirs(torch.optim.lr_scheduler, theirs_opt)
    want = []
    for _ in range(12):
        want.append(theirs_opt.param_groups[0]["lr"])
        theirs_opt.step()
        for scheduler in stepped:
            scheduler.step()
    assert_allclose(rates.rates[1:], want, rtol=1e-15, atol=0)


def test_a_rate_set_by_hand_is_carried_on_by_the_schedule_s_ratios_but_not_from_a_rate_of_0():
    sgd = dn.SGD(lr=1.0)
    cosine = dn.CosineLR(sgd, epochs=2)  # 1, 0.5, 0, 0.5, 1...
    cosine.on_epoch_end(0)
    sgd.lr = 0.2  # (by hand, at epoch 1: rate(1) is 0.5)
    cosine.on_epoch_end(1)
    assert sgd.lr == 0.2 * (cosine.rate(2) / cosine.rate(1))
    sgd.lr = 0.3  # at epoch 2, where rate(2) is 0: no ratio from there, rate(3) it is
    cosine.on_epoch_end(2)
    assert sgd.lr == cosine.rate(3)


def test_a_chained_rate_that_overflows_is_refused_by_name_and_leaves_the_schedule_where_it_was():
    sgd = dn.SGD(lr=1.0)
    grow = dn.ExponentialLR(sgd, gamma=1e10)
    sgd.lr = 1e300
    with pytest.raises(ValueError, match=r"^ExponentialLR: its learning rate for epoch 1, the optimiser's "
                                         r"1e\+300 times rate\(1\) / rate\(0\) = 10000000000.0 / 1.0, "
                                         "overflows"):
        grow.on_epoch_end(0)
    assert (grow.epoch, sgd.lr) == (0, 1e300)


class WarmUp(dn.LRSchedule):
    """A schedule of one's own, as a user writes it: ``rate`` alone, no ``set_rate`` when made."""

    def __init__(self, optimizer, epochs, give=None):
        super().__init__(optimizer)
        self.epochs, self.give = epochs, give

    def rate(self, epoch):
        if self.give is not None and epoch >= self.give[0]:
            return self.give[1]
        return self.base_lr * min(1.0, (epoch + 1) / self.epochs)


def test_a_schedule_of_one_s_own_sets_its_rate_from_the_first_epoch_of_every_fit():
    """``fit`` trains each epoch at ``rate(epoch)``, the first included, for a schedule that
    defines ``rate`` alone (its first rate is not the base rate), over two fits and through a
    state loaded by another one; a rate set by hand after that is trained at, then carried on."""
    X, T = data()
    sgd = dn.SGD(lr=0.4)
    warm_up = WarmUp(sgd, epochs=4)
    rates = Rates(sgd)
    model = mlp()
    model.fit(X, T, optimizer=sgd, epochs=2, batch_size=10, callbacks=[warm_up, rates])
    model.fit(X, T, optimizer=sgd, epochs=3, batch_size=10, callbacks=[warm_up, rates])
    expected = [0.4 * min(1.0, (e + 1) / 4) for e in range(5)]
    assert rates.rates == [expected[0]] * 4 + [expected[1]] * 3 + [expected[2]] * 4 + [expected[3]] * 3 * 2
    other = dn.SGD(lr=0.4)
    resumed = WarmUp(other, epochs=4)
    resumed.load_state_dict({"epoch": 1, "base_lr": 0.4})
    assert other.lr == expected[1]
    other.lr = 1.0  # (set by hand since: kept, and carried on by the schedule's ratio)
    seen = Rates(other)
    mlp().fit(X, T, optimizer=other, epochs=1, batch_size=30, callbacks=[resumed, seen])
    assert seen.rates == [1.0, 1.0]
    assert other.lr == 1.0 * (expected[2] / expected[1])


@pytest.mark.parametrize("give, error, match", [
    ("0.1", TypeError, r"rate\(E\) gave '0.1', not a real number"),
    (None, TypeError, r"rate\(E\) gave None, not a real number"),
    (np.array([0.1]), TypeError, r"rate\(E\) gave array\(\[0.1\]\), not a real number"),
    (-0.1, ValueError, r"its learning rate for epoch E is -0.1; a rate must be finite and >= 0"),
    (math.nan, ValueError, r"its learning rate for epoch E is nan; a rate must be finite and >= 0"),
    (math.inf, ValueError, r"its learning rate for epoch E overflows a float \(base rate 0.5\)"),
    (10 ** 400, ValueError, r"its learning rate for epoch E overflows a float \(base rate 0.5\)"),
], ids=["str", "none", "array", "negative", "nan", "inf", "int-past-a-float"])
@pytest.mark.parametrize("first", [0, 1])
def test_a_rate_of_one_s_own_that_is_not_a_rate_is_refused_by_the_schedule_s_name(give, error, match, first):
    """A schedule's ``rate`` that gives no learning rate is refused naming the schedule and the
    epoch: from the first epoch, before any step; later, after the epoch before it, with the
    schedule and the optimiser's rate those of that epoch."""
    X, T = data()
    sgd = dn.SGD(lr=0.5)
    warm_up = WarmUp(sgd, epochs=2, give=(first, give))
    model = mlp()
    before = model.params.copy()
    with pytest.raises(error, match="^WarmUp: " + match.replace("E", str(first))):
        model.fit(X, T, optimizer=sgd, epochs=3, batch_size=10, callbacks=[warm_up])
    assert warm_up.epoch == 0
    assert sgd.lr == (0.5 if first == 0 else 0.25)
    assert (model.params == before).all() == (first == 0)


def test_each_schedule_shows_its_settings_that_are_not_the_defaults():
    """(They showed as ``<densenet.schedules.StepLR object at 0x...>``, in a checkpoint's repr too.)"""
    sgd, momentum = dn.SGD(lr=1.0), dn.SGD(lr=1.0, momentum=0.9)
    warm_up, decay = dn.LinearLR(sgd, start_factor=0.25, total_iters=3), dn.CosineLR(sgd, epochs=4)
    shown = {
        dn.StepLR(sgd, 5): "StepLR(step_size=5)",
        dn.StepLR(sgd, 5, gamma=0.5): "StepLR(step_size=5, gamma=0.5)",
        dn.MultiStepLR(sgd, [3, 1]): "MultiStepLR(milestones=(1, 3))",
        dn.ExponentialLR(sgd, np.float32(0.5)): "ExponentialLR(gamma=0.5)",
        warm_up: "LinearLR(start_factor=0.25, total_iters=3)",
        dn.CosineRestartsLR(sgd, 4, mult=2, min_lr=0.125): "CosineRestartsLR(epochs=4, mult=2, min_lr=0.125)",
        dn.SequentialLR(sgd, [warm_up, decay], [3]):
            "SequentialLR(schedules=(LinearLR(start_factor=0.25, total_iters=3), CosineLR(epochs=4)), "
            "milestones=(3,))",
        dn.ReduceLROnPlateau(sgd, monitor="loss", patience=3, mode="max"):
            "ReduceLROnPlateau(monitor='loss', patience=3, mode='max')",
        dn.OneCycleLR(momentum, max_lr=0.5, epochs=2, steps_per_epoch=5, three_phase=True):
            "OneCycleLR(max_lr=0.5, total_steps=10, three_phase=True)",
    }
    for schedule, text in shown.items():
        assert repr(schedule) == text


def test_a_callback_of_ones_own_shows_the_arguments_it_keeps_by_name():
    class Keeps(dn.Callback):
        def __init__(self, path, every=1, *args, limit=None, **options):
            self.path, self.every, self.kept_limit, self.args = path, every, limit, args

    class Bare(dn.Callback):
        pass

    class Array(dn.Callback):
        def __init__(self, weights=None):
            self.weights = np.ones(3)

    assert repr(Keeps("run.npz", every=2, limit=3)) == "Keeps(path='run.npz', every=2)"
    assert repr(Keeps("run.npz")) == "Keeps(path='run.npz')"
    assert repr(Bare()) == "Bare()"
    assert repr(Array()) == "Array(weights=array([1., 1., 1.]))"  # (an array's == is no bool)
    # (defaults given again: equal to them, not the same objects)
    assert repr(dn.EarlyStopping()) == repr(dn.EarlyStopping(min_delta=0, patience=np.int64(5))) \
        == "EarlyStopping()"
    assert repr(dn.StepLR(dn.SGD(0.1), 2, gamma=np.float64(0.1))) == "StepLR(step_size=2)"
    assert repr(dn.EarlyStopping(monitor="val_accuracy", patience=3, min_delta=0.01, mode="max",
                                 restore_best_weights=False)) == \
        ("EarlyStopping(monitor='val_accuracy', patience=3, min_delta=0.01, restore_best_weights=False, "
         "mode='max')")
