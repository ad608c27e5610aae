"""Property tests over random architectures, batches and dtypes (hypothesis)."""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import ACTIVATIONS, assert_within_rounding, error_bound

# The number of examples comes from the Hypothesis profile (tests/conftest.py): 200, the
# same 200 every run under CI, 2000 with HYPOTHESIS_PROFILE=thorough.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


#: the activations with a kink at 0 (ELU's default alpha 1 has none; SELU's slopes are 1.76 and 1.05)
KINKED = (dn.ReLU, dn.LeakyReLU, dn.PReLU, dn.SELU)

#: The rate of the few SGD steps some properties train for. These random networks (ReLU
#: chains with a linear output and N(0, 1) weights among them) can diverge within six
#: steps at 0.1 (found by Hypothesis: a float32 14-2-10-6-1 ReLU chain), and some at this
#: rate too (2000 examples found a 15-15-15-1-1 PReLU chain on N(0, 1) weights; with a
#: LogSoftmax between layers, whose outputs lie at or below -log C, 78 of 300 networks):
#: ``few_steps`` lets them.
TRAINING_RATE = 1e-3


def few_steps(model, X, y, **kwargs):
    """``model.fit`` for a property that is not about convergence: a fit that diverges
    (``DivergenceError``: divergence has its own tests) keeps the weights from before its
    bad step, and what is tested holds of them all the same."""
    with contextlib.suppress(dn.DivergenceError):
        model.fit(X, y, **kwargs)


#: The activations drawn after a layer of one output: not Softmax and LogSoftmax, whose
#: rows are then the constants 1 and 0 (normalisation after them filtered out so many
#: networks that 2,000 examples failed Hypothesis's health check).
ONE_FEATURE = [kind for kind in ACTIVATIONS if kind not in (dn.Softmax, dn.LogSoftmax)]


@st.composite
def networks(draw, dtypes=(np.float64, np.float32)):
    """A model of 1-4 Dense layers, widths 1-16, each followed by an activation
    (any of ``ACTIVATIONS``; of ``ONE_FEATURE`` after a layer of one output) except perhaps
    the last; a batch of 1-8 samples."""
    widths = draw(st.lists(st.integers(1, 16), min_size=2, max_size=5))
    dtype = draw(st.sampled_from(dtypes))
    modules: list[dn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        init = draw(st.sampled_from(["glorot_uniform", "he_normal", "normal"]))
        modules.append(dn.Dense(n_in, n_out, init=init))
        if i < len(widths) - 2 or draw(st.booleans()):
            modules.append(draw(st.sampled_from(ACTIVATIONS if n_out > 1 else ONE_FEATURE))())
    model = dn.Sequential(*modules, dtype=dtype, seed=draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    model.params[...] += rng.normal(0.0, 0.1, model.params.size)  # biases too: no exact zeros
    X = rng.standard_normal((n, widths[0]))
    y = rng.uniform(size=(n, widths[-1]))
    return model, X, y




@SETTINGS
@given(networks(dtypes=(np.float64,)))
def test_gradients_pass_gradcheck(case):
    model, X, y = case
    # ReLU has a kink at 0, where central differences (eps 1e-6) see a slope of 1/2:
    # the check is about the smooth parts, so inputs that close to a kink are skipped
    Z = X
    for module in model:
        if isinstance(module, KINKED):
            assume(np.all(np.abs(Z) > 1e-4))
        Z = module.forward(Z)
    # targets within 1 of the outputs: a central difference rounds by about eps64 |L| / 1e-6,
    # and LogSoftmax chains on N(0, 1) weights output log-probabilities of -300, whose loss
    # against targets in [0, 1] (1e5) made that 2e-5 (found by 2,000 examples), gradcheck's atol
    assert dn.gradcheck(model, X, Z + 2 * y - 1).ok


@SETTINGS
@given(networks(dtypes=(np.float64,)))
def test_batch_gradient_is_the_mean_of_per_sample_gradients(case):
    model, X, y = case
    loss = dn.MSELoss()

    def grads(xb, yb):
        loss.forward(model.forward(xb), yb)
        model.backward(loss.backward())
        return model.grads.copy()

    per_sample = [grads(X[i:i + 1], y[i:i + 1]) for i in range(len(X))]
    assert_allclose(grads(X, y), np.mean(per_sample, axis=0), rtol=1e-10, atol=1e-14)


@SETTINGS
@given(networks(), st.randoms(use_true_random=False))
def test_predictions_are_per_row_and_follow_row_order(case, random):
    model, X, _ = case
    Y = model.predict(X)
    bound = error_bound(model, model.check_input(X))  # the rounding of the arithmetic, see there
    for i in range(len(X)):
        assert_within_rounding(model.predict(X[i:i + 1]), Y[i:i + 1], bound[i:i + 1])
    order = list(range(len(X)))
    random.shuffle(order)
    assert_within_rounding(model.predict(X[order]), Y[order], bound[order])


@SETTINGS
@given(networks())
def test_save_load_round_trip_is_bit_exact(case):
    model, X, y = case
    few_steps(model, X, y, optimizer=dn.SGD(TRAINING_RATE), epochs=2, batch_size=3)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        model.save(path)
        loaded = dn.load(path)
    assert loaded.dtype == model.dtype
    assert_array_equal(loaded.params, model.params)
    assert_array_equal(loaded.predict(X), model.predict(X))


@SETTINGS
@given(networks(), st.sampled_from(["plain", "readonly", "strided", "list"]), st.booleans())
def test_fit_never_changes_the_callers_arrays(case, layout, shuffle):
    model, X, y = case
    if layout == "readonly":
        X.flags.writeable = y.flags.writeable = False
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    before = X.copy(), y.copy()
    data = (X.tolist(), y.tolist()) if layout == "list" else (X, y)
    few_steps(model, *data, optimizer=dn.SGD(TRAINING_RATE), epochs=2, batch_size=3, shuffle=shuffle, seed=0)
    assert_array_equal(X, before[0])
    assert_array_equal(y, before[1])
    assert np.all(np.isfinite(model.params))


LOSSES = ["mse", "cross_entropy_labels", "cross_entropy_probabilities", "bce", "bce_with_logits", "poisson",
          "l1", "huber", "smooth_l1", "nll"]


@SETTINGS
@given(networks(dtypes=(np.float64,)), st.sampled_from(LOSSES), st.integers(0, 2**32 - 1))
def test_every_loss_passes_gradcheck_on_every_network(case, name, seed):
    model, X, _ = case
    rng = np.random.default_rng(seed)
    n, width = len(X), model.out_features
    if name == "bce":  # probabilities: a sigmoid output
        model = dn.Sequential(*(copy.deepcopy(m) for m in model), dn.Sigmoid(), seed=0)
        loss, y = dn.BCELoss(), rng.uniform(size=(n, width))
    elif name == "mse":
        loss, y = dn.MSELoss(), rng.uniform(size=(n, width))
    elif name in ("l1", "huber", "smooth_l1"):  # targets apart from the outputs: L1 has a kink at 0
        loss = {"l1": dn.L1Loss(), "huber": dn.HuberLoss(0.5), "smooth_l1": dn.SmoothL1Loss(0.5)}[name]
        y = model.predict(X) + rng.choice([-1.0, 1.0], (n, width)) * rng.uniform(1e-3, 2.0, (n, width))
    elif name == "bce_with_logits":  # with weights of the yes targets, or without
        weights = rng.uniform(0.0, 5.0, width) if rng.random() < 0.5 else None
        loss, y = dn.BCEWithLogitsLoss(pos_weight=weights), rng.uniform(size=(n, width))
    elif name == "poisson":
        loss, y = dn.PoissonNLLLoss(), rng.poisson(2.0, (n, width)).astype(float)
        # log-rates within +-3: a rate of exp(17) makes the loss 1e7 and its finite
        # differences lose 1e-3 to rounding, where the gradient of the others is 1e-2
        model = copy.deepcopy(model)
        last = [m for m in model if isinstance(m, dn.Dense)][-1]  # what follows it keeps the scale
        shrink = min(1.0, 3.0 / max(np.abs(model.predict(X)).max(), 1e-300))
        last.W[...] *= shrink
        last.b[...] *= shrink
    elif name == "cross_entropy_labels":
        loss, y = dn.CrossEntropyLoss(), rng.integers(0, width, n)
    elif name == "nll":  # log-probabilities: a LogSoftmax output, and class weights or none
        model = dn.Sequential(*(copy.deepcopy(m) for m in model), dn.LogSoftmax(), seed=0)
        weights = rng.uniform(0.0, 5.0, width) if rng.random() < 0.5 else None
        loss, y = dn.NLLLoss(weight=weights), rng.integers(0, width, n)
    else:
        loss, y = dn.CrossEntropyLoss(), rng.dirichlet(np.ones(width), n)
    Z = X
    for module in model:
        if isinstance(module, KINKED):
            assume(np.all(np.abs(Z) > 1e-4))
        Z = module.forward(Z)
    if name == "bce":
        # BCE on probabilities takes log(p) and log(1 - p) of a rounded p = sigmoid(z): an
        # absolute rounding error of eps64 / 2 = 1.1e-16 in p moves log(1 - p) by 1.1e-16 / (1 - p),
        # and a central difference divides that by 2e-6, so near p = 1 - 1e-9 it is off by ~5e-2
        # (found: 5e-5 against gradcheck's atol 1e-5). Below min(p, 1 - p) = 1e-4 the difference
        # quotient itself is the error source (< 1e-6 from there up), not the gradient; BCE also
        # floors p (1 - p) at 1e-12 and its logs at -100, as PyTorch, where it is not smooth.
        assume(np.all(np.minimum(Z, 1 - Z) > 1e-4))
    assert dn.gradcheck(model, X, y, loss).ok


@st.composite
def networks_with_dropout(draw):
    """A ``networks()`` model of smooth activations (no ReLU kink for the differences to
    straddle) with ``Dropout`` modules of random ``p`` < 1 put at random places; the same
    network without them, its parameters the same; a batch, and targets near its outputs."""
    model, X, y = draw(networks(dtypes=(np.float64,)))
    assume(not any(isinstance(m, KINKED) for m in model))
    modules, plain = [], []
    for module in model:
        for place in (modules, plain):
            place.append(copy.deepcopy(module))
        if draw(st.booleans()):
            modules.append(dn.Dropout(draw(st.floats(0.0, 0.9))))
    with_dropout = dn.Sequential(*modules, seed=draw(st.integers(0, 2**32 - 1)))
    without = dn.Sequential(*plain, seed=0)
    with_dropout.params[...] = without.params[...] = model.params
    # targets within 1 of the outputs gradcheck differentiates (its masks: those the model's
    # generator draws next): against targets in [0, 1], outputs of 1000s (a Dropout(0.875)
    # scales by 8, after unbounded activations) made gradients of 1e4 whose differences' rounding
    # (found: 2e-5) exceeds gradcheck's atol 1e-5
    Z = copy.deepcopy(with_dropout).forward(X)
    y = Z + np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(-1.0, 1.0, Z.shape)
    return with_dropout, without, X, y


@SETTINGS
@given(networks_with_dropout())
def test_dropout_anywhere_passes_gradcheck_and_infers_as_the_network_without(case):
    model, without, X, y = case
    assert dn.gradcheck(model, X, y).ok
    assert_array_equal(model.predict(X), without.predict(X))
    twin = copy.deepcopy(model)
    assert_array_equal(twin.forward(X), model.forward(X))  # the same draws


@st.composite
def networks_with_normalisation(draw, kind="batch"):
    """A ``networks()`` model, its kinked activations made Tanh (no kink for the differences
    to straddle), with ``BatchNorm1d`` modules (``kind`` "batch": random ``eps``,
    ``momentum`` and running statistics) or ``LayerNorm`` ones (``kind`` "layer": random
    ``eps`` and parameters) after random modules; a batch of 2-9 rows in which every
    normalised feature (for LayerNorm, every normalised row) varies (one constant is
    normalised to 0 whatever its input: its gradient is all rounding); targets near the
    outputs."""
    model, X, _ = draw(networks(dtypes=(np.float64,)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = np.vstack([X, rng.standard_normal(X[:1].shape)])
    modules, width = [], model.in_features
    for module in model:
        modules.append(dn.Tanh() if isinstance(module, KINKED) else copy.deepcopy(module))
        width = module.output_width(width)
        if not draw(st.booleans()):
            continue
        if kind == "batch":
            modules.append(dn.BatchNorm1d(width, eps=draw(st.floats(1e-5, 1.0)),
                                          momentum=draw(st.floats(0.0, 1.0))))
        elif width > 1:  # (one feature is its own mean: always 0)
            modules.append(dn.LayerNorm(width, eps=draw(st.floats(1e-5, 1.0)),
                                        elementwise_affine=draw(st.booleans()), bias=draw(st.booleans())))
    with_norm = dn.Sequential(*modules, seed=0)
    with_norm.params[...] = draw(arrays(np.float64, with_norm.params.size, elements=st.floats(-2, 2)))
    with_norm.state[...] = draw(arrays(np.float64, with_norm.state.size, elements=st.floats(0.1, 2)))
    Z = X
    for module in copy.deepcopy(with_norm):
        if module.batch_statistics:
            assume(np.all(Z.std(axis=0) > 1e-3))
        if isinstance(module, dn.LayerNorm):
            # (a row's std of 0.006, over a Dense of one input, put the finite differences'
            # own error at 1.2e-3 of the slope: gradcheck could not tell it from a wrong one)
            assume(np.all(Z.std(axis=1) > 0.05))
        Z = module.forward(Z)
    # targets within 1 of the outputs: with weights up to 2 and unbounded activations (ELU,
    # SiLU, GELU) outputs reach 100s, and so would a loss against targets in [0, 1], whose
    # rounding (an ulp of 7e3 is 9e-13) is then 1e-5 of the finite differences' slopes
    y = Z + rng.uniform(-1.0, 1.0, Z.shape)
    return with_norm, X, y


@SETTINGS
@given(st.sampled_from(["batch", "layer"]).flatmap(networks_with_normalisation))
def test_normalisation_anywhere_passes_gradcheck_and_infers_row_by_row(case):
    model, X, y = case
    assert dn.gradcheck(model, X, y).ok
    predicted = model.predict(X)
    # a row alone and in a batch round differently in the Dense products, which a LayerNorm
    # divides by the row's std, and a Dense after it sums, cancelling to outputs near 0:
    # within the rounding the arithmetic allows (tests/conftest.py, error_bound)
    alone = np.vstack([model.predict(row[None]) for row in X])
    assert_within_rounding(alone, predicted, error_bound(model.clone().eval(), X))
    twin = copy.deepcopy(model)
    assert_array_equal(twin.forward(X), model.forward(X))
    assert_array_equal(twin.state, model.state)


@st.composite
def frozen_networks(draw):
    """A ``networks_with_normalisation`` model with a prefix or a suffix of its modules with
    parameters or state frozen, and at least one with parameters left to train; targets
    within 1 of the frozen model's outputs (a frozen BatchNorm1d normalises by its running
    statistics: the outputs move)."""
    model, X, _ = draw(st.sampled_from(["batch", "layer"]).flatmap(networks_with_normalisation))
    held = [i for i, m in enumerate(model) if m.n_params or m.n_state]
    suffix = draw(st.booleans())
    # the most that can be frozen from that end, leaving a module with parameters to train
    # (drawn within it, not filtered: with filtering, 2,000 examples failed the health check)
    trained = [k for k, i in enumerate(held) if model[i].n_params]
    most = len(held) - 1 - trained[0] if suffix else trained[-1]
    assume(most >= 1)
    count = draw(st.integers(1, most))
    frozen = held[-count:] if suffix else held[:count]
    model.freeze(*frozen)
    Z = copy.deepcopy(model).forward(X)  # (a training pass: a copy's running statistics move)
    y = Z + np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(-1.0, 1.0, Z.shape)
    return model, X, y


@SETTINGS
@given(frozen_networks())
def test_a_frozen_network_passes_gradcheck_and_trains_only_what_is_not_frozen(case):
    model, X, y = case
    assert dn.gradcheck(model, X, y).ok
    before = [(m.flat_params.copy(), m.flat_state.copy()) for m in model]
    few_steps(model, X, y, optimizer=dn.Adam(1e-2), epochs=2, batch_size=len(X))
    for i in model.frozen:
        assert_array_equal(model[i].flat_params, before[i][0])
        assert_array_equal(model[i].flat_state, before[i][1])
    assert np.all(np.isfinite(model.params))
