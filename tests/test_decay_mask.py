"""Weight decay on some parameters only: ``Sequential.decay_mask()`` and every optimiser's
``decay_mask``, against PyTorch's parameter groups (weights with decay, the rest without)."""

from __future__ import annotations

import copy
import pickle
import re
import tracemalloc
from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import snapshot

#: each optimiser with weight decay (coupled, or decoupled where it has that), by
#: densenet's constructor and PyTorch's
DECAYING = {
    "sgd": (partial(dn.SGD, 0.05, weight_decay=0.1), "SGD", dict(lr=0.05, weight_decay=0.1)),
    "momentum": (partial(dn.SGD, 0.05, momentum=0.9, weight_decay=0.1), "SGD",
                 dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    "nesterov": (partial(dn.SGD, 0.05, momentum=0.9, nesterov=True, weight_decay=0.1), "SGD",
                 dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "adam": (partial(dn.Adam, 0.01, weight_decay=0.1), "Adam", dict(lr=0.01, weight_decay=0.1)),
    "adamw": (partial(dn.AdamW, 0.01, weight_decay=0.5), "AdamW", dict(lr=0.01, weight_decay=0.5)),
    "adamw_amsgrad": (partial(dn.AdamW, 0.01, weight_decay=0.5, amsgrad=True), "AdamW",
                      dict(lr=0.01, weight_decay=0.5, amsgrad=True)),
    "nadam": (partial(dn.NAdam, 0.01, weight_decay=0.1), "NAdam", dict(lr=0.01, weight_decay=0.1)),
    "nadam_decoupled": (partial(dn.NAdam, 0.01, weight_decay=0.5, decoupled_weight_decay=True), "NAdam",
                        dict(lr=0.01, weight_decay=0.5, decoupled_weight_decay=True)),
    "radam_decoupled": (partial(dn.RAdam, 0.01, weight_decay=0.5, decoupled_weight_decay=True), "RAdam",
                        dict(lr=0.01, weight_decay=0.5, decoupled_weight_decay=True)),
    "adamax": (partial(dn.Adamax, 0.01, weight_decay=0.1), "Adamax", dict(lr=0.01, weight_decay=0.1)),
    "adagrad": (partial(dn.Adagrad, 0.05, weight_decay=0.1), "Adagrad", dict(lr=0.05, weight_decay=0.1)),
    "rmsprop": (partial(dn.RMSprop, 0.005, weight_decay=0.1, momentum=0.5), "RMSprop",
                dict(lr=0.005, weight_decay=0.1, momentum=0.5)),
}


def network(seed=0, dtype=np.float64):
    """Dense layers (weights and biases) with a LayerNorm and a PReLU (scales, shifts and
    slopes, which a decay mask spares) between them."""
    return dn.Sequential(dn.Dense(3, 8), dn.LayerNorm(8), dn.PReLU(8), dn.Dense(8, 6), dn.Tanh(),
                         dn.Dense(6, 4), seed=seed, dtype=dtype)


def data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.integers(0, 4, n)


def unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(snapshot(model), before))


def steps(model, optimizer, count=6, seed=1):
    """``count`` hand-written steps on random batches; the parameters after each."""
    X, y = data(seed)
    loss, seen = dn.CrossEntropyLoss(), []
    for i in range(count):
        rows = slice(8 * i % 64, 8 * i % 64 + 8)
        loss.forward(model.forward(X[rows]), y[rows])
        model.backward(loss.backward())
        optimizer.step(model.params, model.grads)
        seen.append(model.params.copy())
    return np.array(seen)


# -- the mask ------------------------------------------------------------------------


def test_the_mask_marks_the_dense_weights_alone():
    model = network()
    mask = model.decay_mask()
    assert mask.dtype == np.bool_
    assert mask.shape == model.params.shape
    marked = np.zeros_like(model.params)
    marked[mask] = 1.0
    ones = copy.deepcopy(model)
    ones.params[...] = marked  # (its layers' views: 1 where the mask is True)
    dense = [ones[i] for i in (0, 3, 5)]
    assert all((layer.W == 1).all() and (layer.b == 0).all() for layer in dense)
    assert (ones[1].gamma == 0).all()
    assert (ones[1].beta == 0).all()
    assert (ones[2].a == 0).all()
    assert mask.sum() == 3 * 8 + 8 * 6 + 6 * 4


def test_each_call_gives_a_new_mask():
    model = network()
    first = model.decay_mask()
    first[:] = False
    assert model.decay_mask().sum() == 3 * 8 + 8 * 6 + 6 * 4


def test_a_module_naming_no_parameter_of_its_own_is_refused():
    class Odd(dn.Dense):
        decayed_params = ("W", "kernel")

    with pytest.raises(ValueError, match=r"Odd: decayed_params names 'kernel', which is not one of its "
                                         r"parameters \['W', 'b'\]"):
        dn.Sequential(Odd(2, 2), seed=0).decay_mask()


def test_a_model_without_weights_has_an_all_false_mask():
    model = dn.Sequential(dn.BatchNorm1d(3), dn.PReLU(3), dn.Sigmoid(), seed=0)
    assert model.decay_mask().shape == model.params.shape
    assert not model.decay_mask().any()


# -- against PyTorch's parameter groups ---------------------------------------------------


@pytest.mark.parametrize("name", list(DECAYING))
def test_trajectories_equal_pytorch_s_with_a_group_without_decay(name):
    """100 steps of ``fit`` with ``decay_mask=model.decay_mask()`` against PyTorch's
    optimiser over two groups: the Linear weights with the decay, biases, LayerNorm's
    scale and shift and PReLU's slopes without."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network()
    net = torch_twin(model)
    X, y = data()
    ours, kind, settings = DECAYING[name]
    optimizer = ours(decay_mask=model.decay_mask())
    weights = [p for p in net.parameters() if p.ndim == 2]
    others = [p for p in net.parameters() if p.ndim < 2]
    theirs = getattr(torch.optim, kind)([{"params": weights}, {"params": others, "weight_decay": 0.0}],
                                         **settings)
    history = model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=25, batch_size=16,
                        shuffle=False)
    torch_fit(net, theirs, X, y, epochs=25, batch_size=16, loss=torch.nn.CrossEntropyLoss())
    assert optimizer.steps == 100
    assert history.loss[-1] < history.loss[0]
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(DECAYING))
def test_the_mask_changes_the_trajectory(name):
    """A mask that spares the biases is not the same as no mask (the test above could
    otherwise pass with the mask ignored, if the biases' decay made no difference)."""
    masked = steps(network(), DECAYING[name][0](decay_mask=network().decay_mask()))
    unmasked = steps(network(), DECAYING[name][0]())
    spared = ~network().decay_mask()
    assert np.abs(masked[-1] - unmasked[-1])[spared].max() > 1e-6


# -- what a mask of all True or all False means ----------------------------------------


@pytest.mark.parametrize("name", list(DECAYING))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_all_true_mask_steps_as_no_mask_and_an_all_false_one_as_no_decay(name, dtype):
    make = DECAYING[name][0]
    size = network().params.size
    plain = steps(network(dtype=dtype), make())
    assert_array_equal(steps(network(dtype=dtype), make(decay_mask=np.ones(size, bool))), plain)
    none = steps(network(dtype=dtype), make(decay_mask=np.zeros(size, bool)))
    without = make()
    without.weight_decay = 0.0
    assert_array_equal(none, steps(network(dtype=dtype), without))
    assert none.dtype == dtype


def test_lbfgs_penalises_the_masked_parameters_alone():
    """At L-BFGS's minimum the gradient of the loss plus ``wd/2 |w|^2`` over the masked
    parameters vanishes; that of the loss plus the penalty over all does not."""
    X, y = data(n=40)
    model = dn.Sequential(dn.Dense(3, 5), dn.Tanh(), dn.Dense(5, 4), seed=0)
    mask, wd = model.decay_mask(), 0.5
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.LBFGS(weight_decay=wd, decay_mask=mask),
              epochs=500)
    loss = dn.CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    assert np.abs(model.grads + wd * mask * model.params).max() < 1e-5
    assert np.abs(model.grads + wd * model.params).max() > 1e-2


def test_lbfgs_with_an_all_true_mask_goes_as_without_one():
    X, y = data(n=40)
    ends = []
    for mask in (None, np.ones(44, bool)):
        model = dn.Sequential(dn.Dense(3, 5), dn.Tanh(), dn.Dense(5, 4), seed=0)
        history = model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.LBFGS(weight_decay=0.1,
                            decay_mask=mask), epochs=30)
        ends.append((model.params, history.loss))
    assert_array_equal(ends[0][0], ends[1][0])
    assert_array_equal(ends[0][1], ends[1][1])


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["momentum", "adamw", "nadam", "rmsprop", "adagrad"])
def test_a_mask_set_between_steps_takes_effect_at_once(name):
    """Three masked steps, then a mask of all False: the next steps are those of the same
    optimiser whose weight decay was set to 0 instead (the mask's vectors made again)."""
    make, mask = DECAYING[name][0], network().decay_mask()
    spared, undecayed, kept = (make(decay_mask=mask) for _ in range(3))
    models = network(), network(), network()
    for model, optimizer in zip(models, (spared, undecayed, kept)):
        steps(model, optimizer, 3)
    spared.decay_mask = np.zeros_like(mask)
    undecayed.weight_decay = 0.0
    after = [steps(model, optimizer, 3) for model, optimizer in zip(models, (spared, undecayed, kept))]
    assert_array_equal(after[0], after[1])
    assert np.abs(after[0] - after[2]).max() > 1e-6


@pytest.mark.parametrize("name", list(DECAYING))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_decay_set_between_steps_steps_as_one_made_with_it(name, dtype):
    """Three masked steps with learning-rate scales, then another weight decay: the next
    steps are those of an optimiser made with it that takes the first's state (its vectors
    of decays made afresh), bit for bit."""
    make, model = DECAYING[name][0], network(dtype=dtype)
    settings = {"decay_mask": model.decay_mask(), "lr_scale": model.lr_scales(0.5, 0)}
    changed, first = (make(**settings) for _ in range(2))
    models = network(dtype=dtype), network(dtype=dtype)
    for each, optimizer in zip(models, (changed, first)):
        steps(each, optimizer, 3)
    changed.weight_decay = 0.25
    fresh = make(**settings)
    fresh.weight_decay = 0.25
    fresh.load_state_dict(first.state_dict())
    after = [steps(each, optimizer, 3) for each, optimizer in zip(models, (changed, fresh))]
    assert_array_equal(after[0], after[1])


def test_a_decay_set_to_another_plans_nothing_and_to_or_from_0_plans_again():
    """A planned step reads the decay as it is when it runs: only whether it is 0 shapes
    the plans (plain gradient descent folds into the backward pass without one)."""
    sgd = dn.SGD(0.1, weight_decay=0.1)
    plans = sgd.plans_version
    sgd.weight_decay = 0.2
    assert sgd.plans_version == plans
    sgd.weight_decay = 0.0
    assert sgd.plans_version == plans + 1
    sgd.weight_decay = 0.3
    assert sgd.plans_version == plans + 2


def test_a_mask_set_in_a_callback_reaches_fit_s_planned_steps():
    """``fit`` plans its SGD steps once; setting the mask counts as a setting changed."""
    X, y = data()

    class Spare(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                sgd.decay_mask = model.decay_mask()

    runs = []
    for callbacks in ([Spare()], []):
        model = network()
        sgd = dn.SGD(0.05, momentum=0.9, weight_decay=0.1)
        model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=sgd, epochs=3, batch_size=16, shuffle=False,
                  callbacks=callbacks)
        runs.append(model.params.copy())
    model = network()
    sgd = dn.SGD(0.05, momentum=0.9, weight_decay=0.1)
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=sgd, epochs=2, batch_size=16, shuffle=False)
    sgd.decay_mask = model.decay_mask()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=sgd, epochs=1, batch_size=16, shuffle=False)
    assert_array_equal(runs[0], model.params)
    assert np.abs(runs[0] - runs[1]).max() > 0


def test_the_mask_is_the_optimiser_s_own_read_only_copy():
    model = network()
    mask = model.decay_mask()
    adamw = dn.AdamW(0.01, weight_decay=0.5, decay_mask=mask)
    mask[:] = True
    assert adamw.decay_mask.sum() == model.decay_mask().sum()
    with pytest.raises(ValueError, match="read-only"):
        adamw.decay_mask[0] = False
    assert adamw.decay_mask is not mask


def test_the_repr_counts_the_decaying_parameters():
    mask = network().decay_mask()
    assert repr(dn.SGD(0.1, weight_decay=0.1, decay_mask=mask)) == (
        f"SGD(lr=0.1, weight_decay=0.1, decay_mask=<96 of {mask.size}>)")
    assert repr(dn.LBFGS(weight_decay=0.1, decay_mask=mask)).endswith(f"decay_mask=<96 of {mask.size}>)")
    for make, *_ in DECAYING.values():
        assert f", decay_mask=<96 of {mask.size}>" in repr(make(decay_mask=mask))
        assert "decay_mask" not in repr(make())


# -- bad masks ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad, shown", [
    (np.ones(5), "a float64 array of shape (5,)"),
    (np.ones((2, 3), bool), "a bool array of shape (2, 3)"),
    ([0, 1], "a int64 array of shape (2,)"),
    (True, "a bool array of shape ()"),
    ([[True, False], [True]], "a list whose rows differ in length"),
])
def test_a_mask_that_is_not_a_boolean_vector_is_refused(bad, shown):
    message = f"AdamW: decay_mask must be None or a 1-D boolean array, one entry a parameter " \
              f"(model.decay_mask()), got {shown}"
    with pytest.raises(TypeError, match=re.escape(message)):
        dn.AdamW(decay_mask=bad)
    sgd = dn.SGD(0.1, decay_mask=[True, False])
    with pytest.raises(TypeError, match="SGD: decay_mask must be None or a 1-D boolean array"):
        sgd.decay_mask = bad
    assert_array_equal(sgd.decay_mask, [True, False])


@pytest.mark.parametrize("name", list(DECAYING))
def test_a_mask_of_another_size_is_refused_before_any_change(name):
    model = network()
    optimizer = DECAYING[name][0](decay_mask=np.ones(model.params.size - 1, bool))
    before = snapshot(model)
    X, y = data()
    size = model.params.size
    with pytest.raises(ValueError, match=rf"decay_mask has {size - 1} entries, but the model trains {size} "
                                         r"parameters \(model.decay_mask\(\) makes one for a model, "
                                         r"after any freeze\)"):
        model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=1)
    assert unchanged(model, before)
    assert optimizer.steps == 0
    loss = dn.CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    params = model.params.copy()
    with pytest.raises(ValueError, match=f"decay_mask has {size - 1} entries"):
        optimizer.step(model.params, model.grads)
    assert_array_equal(model.params, params)
    assert optimizer.steps == 0


def test_fit_refuses_a_mask_of_another_size_even_without_decay_yet():
    """A schedule could set the weight decay later: the mask is checked when training begins."""
    model = network()
    sgd = dn.SGD(0.1, decay_mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="SGD: decay_mask has 3 entries"):
        model.fit(*data(), loss=dn.CrossEntropyLoss(), optimizer=sgd, epochs=1)


def test_lbfgs_refuses_a_mask_of_another_size_before_any_change():
    model = network()
    before = snapshot(model)
    with pytest.raises(ValueError, match="LBFGS: decay_mask has 2 entries"):
        model.fit(*data(), loss=dn.CrossEntropyLoss(), optimizer=dn.LBFGS(weight_decay=0.1,
                  decay_mask=[True, False]), epochs=3)
    assert unchanged(model, before)


# -- copies, pickles, memory --------------------------------------------------------------


@pytest.mark.parametrize("name", ["momentum", "adamw", "rmsprop"])
def test_a_copied_or_pickled_optimiser_keeps_its_mask(name):
    optimizer = DECAYING[name][0](decay_mask=network().decay_mask())
    want = steps(network(), copy.deepcopy(optimizer))
    steps(network(), optimizer, 2)  # (an optimiser that stepped another model, pickled: afresh)
    for twin in (copy.deepcopy(DECAYING[name][0](decay_mask=network().decay_mask())),
                 pickle.loads(pickle.dumps(DECAYING[name][0](decay_mask=network().decay_mask())))):
        assert_array_equal(steps(network(), twin), want)
    again = pickle.loads(pickle.dumps(optimizer))
    assert_array_equal(again.decay_mask, network().decay_mask())


def test_an_optimiser_of_one_s_own_has_no_decay_until_it_sets_one():
    class Plain(dn.Optimizer):
        def step(self, params, grads):
            g = np.empty_like(grads)
            self.add_decay(params, grads, g)
            params -= self.lr * g

    plain = Plain(0.5)
    assert plain.weight_decay == 0.0
    assert plain.decay_mask is None
    assert plain.decays(np.ones(3)) == 0.0
    params, grads = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    plain.step(params, grads)
    assert_array_equal(params, [0.75, 2.5])
    plain.weight_decay, plain.decay_mask = 1.0, [True, False]
    plain.step(params, np.array([0.5, -1.0]))
    assert_array_equal(params, [0.75 - 0.5 * (0.5 + 0.75), 3.0])


def test_an_optimiser_of_one_s_own_shrinks_by_its_decoupled_decay():
    """``shrink(params, lr)`` (no ``by``): nothing without a decay, every parameter times
    ``1 - lr wd`` with one, a masked one spared; the same bits as AdamW's own shrinking."""
    class Decoupled(dn.Optimizer):
        def step(self, params, grads):
            self.shrink(params, self.lr)
            params -= self.lr * grads

    start, grads = np.array([1.0, -2.0, 3.0]), np.array([0.5, -1.0, 0.25])
    own = Decoupled(0.1)
    params = start.copy()
    own.step(params, grads)
    assert_array_equal(params, start - 0.1 * grads)
    own.weight_decay = 0.5
    params = start.copy()
    own.step(params, grads)
    assert_array_equal(params, start * (1.0 - 0.1 * 0.5) - 0.1 * grads)
    own.decay_mask = [True, False, True]
    params = start.copy()
    own.step(params, grads)
    factor = 1.0 - 0.1 * 0.5
    assert_array_equal(params, start * [factor, 1.0, factor] - 0.1 * grads)
    model = dn.Sequential(dn.Dense(40, 30), seed=0)
    adamw, mine = dn.AdamW(0.01, weight_decay=0.3), Decoupled(0.01)
    mine.weight_decay = 0.3
    shrunk = model.params.copy()
    mine.shrink(shrunk, 0.01)
    adamw.shrink(model.params, 0.01, by=lambda params, factor: np.multiply(params, factor, out=params))
    assert_array_equal(shrunk, model.params)


def test_a_pickled_optimiser_carries_its_state_not_its_decay_vectors():
    model = dn.Sequential(dn.Dense(200, 200), seed=0)
    adamw = dn.AdamW(0.01, decay_mask=model.decay_mask())
    model.grads[...] = 1.0
    adamw.step(model.params, model.grads)
    state = 2 * model.params.nbytes  # the two moments
    assert state < len(pickle.dumps(adamw)) < state + model.params.nbytes / 2  # (the mask: a byte each)


def test_an_optimiser_pickled_before_masks_existed_has_none():
    sgd = dn.SGD(0.1, weight_decay=0.1)
    state = sgd.__dict__.copy()
    del state["_decay_mask"]
    old = dn.SGD.__new__(dn.SGD)
    old.__setstate__(state)
    assert old.decay_mask is None
    assert repr(old) == "SGD(lr=0.1, weight_decay=0.1)"


@pytest.mark.parametrize("name", ["momentum", "adamw", "nadam_decoupled", "rmsprop", "adagrad"])
def test_a_decay_set_at_every_step_of_a_fit_allocates_nothing(name):
    """A callback setting another weight decay after every batch (the scikit-learn
    estimators set one for an epoch's smaller last batch): the masked decays are written
    again in place, and nothing is planned again."""
    model = dn.Sequential(dn.Dense(60, 100), dn.Tanh(), dn.Dense(100, 4), seed=0)
    optimizer = DECAYING[name][0](decay_mask=model.decay_mask())
    X, y = np.random.default_rng(0).standard_normal((64, 60)), np.arange(64) % 4
    loss = dn.CrossEntropyLoss()

    class Decays(dn.Callback):
        def on_batch_end(self, batch, logs=None):
            optimizer.weight_decay = 0.1 + 0.01 * (batch % 3)

    def fit():
        model.fit(X, y, optimizer=optimizer, loss=loss, epochs=2, batch_size=8, callbacks=[Decays()])

    fit()
    tracemalloc.start()
    fit()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < model.params.nbytes / 4


@pytest.mark.parametrize("name", ["momentum", "adamw", "nadam_decoupled", "rmsprop", "adagrad"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_steps_allocate_nothing(name, dtype):
    model = dn.Sequential(dn.Dense(300, 300), seed=0, dtype=dtype)
    optimizer = DECAYING[name][0](decay_mask=model.decay_mask())
    model.grads[...] = np.random.default_rng(0).standard_normal(model.grads.size)
    for lr in (0.01, 0.02):  # (a new rate: AdamW's factors are written again, in place)
        optimizer.lr = lr
        optimizer.step(model.params, model.grads)
        tracemalloc.start()
        for _ in range(3):
            optimizer.step(model.params, model.grads)
        optimizer.lr = lr / 2
        optimizer.step(model.params, model.grads)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < model.params.nbytes / 10
