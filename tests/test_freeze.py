"""Frozen modules (``Sequential.freeze``): training leaves their parameters and state as
they are, whatever the optimiser and path, and matches PyTorch's ``requires_grad_(False)``."""

from __future__ import annotations

import copy
import io
import json
import pickle
from functools import partial

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet.backend import GEMM_MIN_PRODUCT
from densenet.plan import TrainStep

from .conftest import allocation_peak, diverge_beside_a_recording_copy

OPTIMISERS = {
    "sgd": partial(dn.SGD, 0.05),
    "momentum": partial(dn.SGD, 0.05, momentum=0.9),
    "nesterov": partial(dn.SGD, 0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": partial(dn.Adam, 0.01),
    "adamw": partial(dn.AdamW, 0.01, weight_decay=0.1),
    "rmsprop": partial(dn.RMSprop, 0.005, momentum=0.5),
    "adagrad": partial(dn.Adagrad, 0.05),
    "lbfgs": partial(dn.LBFGS),
}


def network(seed=0, dtype=np.float64):
    """Dense layers with a LayerNorm and a PReLU between them (parameters of four kinds)."""
    return dn.Sequential(dn.Dense(3, 8), dn.LayerNorm(8), dn.PReLU(8), dn.Dense(8, 6), dn.Tanh(),
                         dn.Dense(6, 4), seed=seed, dtype=dtype)


def data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.integers(0, 4, n)


def blocks(model):
    """Each module's parameters, a copy."""
    return [m.flat_params.copy() for m in model]


def fitted(model, optimizer, epochs=5, **kwargs):
    X, y = data()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs, batch_size=16,
              shuffle=False, **kwargs)
    return model


# -- what freezing does ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPTIMISERS))
@pytest.mark.parametrize("frozen", [(0, 1, 2), (5,), (3, 5), (0,)])
def test_fit_leaves_the_frozen_modules_as_they_were_and_trains_the_rest(name, frozen):
    model = network().freeze(*frozen)
    before = blocks(model)
    fitted(model, OPTIMISERS[name]())
    after = blocks(model)
    for i, module in enumerate(model):
        if not module.n_params:
            continue
        if i in frozen:
            assert_array_equal(after[i], before[i])
        else:
            assert np.abs(after[i] - before[i]).max() > 1e-4, i


def test_frozen_lists_the_modules_with_parameters_or_state():
    model = dn.Sequential(dn.Dense(3, 4), dn.Dropout(0.5), dn.BatchNorm1d(4, affine=False), dn.ReLU(),
                          dn.Dense(4, 2), seed=0)
    assert model.frozen == ()
    assert model.freeze(slice(0, 4)).frozen == (0, 2)  # (Dropout and ReLU have neither)
    assert model.unfreeze(0).frozen == (2,)
    assert model.freeze(-1).frozen == (2, 4)
    assert model.unfreeze().frozen == ()
    assert model.freeze(slice(None)).frozen == (0, 2, 4)
    with pytest.raises(TypeError, match=r"freeze: name the modules to freeze \(indices or slices; "
                                        r"slice\(None\) for all\)"):
        model.unfreeze().freeze(*[])
    assert model.frozen == ()


def test_trainable_params_are_a_view_of_the_modules_that_train():
    model = network()
    assert model.trainable_params is model.params
    assert model.trainable_grads is model.grads
    model.freeze(0, 1, 2)
    start = sum(model[i].n_params for i in range(3))
    assert model.trainable_params.size == model.params.size - start
    assert np.shares_memory(model.trainable_params, model[3].W)
    assert np.shares_memory(model.trainable_grads, model[5].db)
    assert not np.shares_memory(model.trainable_params, model[2].a)
    model.trainable_params[0] = 42.0
    assert model.params[start] == 42.0
    model.unfreeze()
    assert model.trainable_params is model.params


def test_the_gradients_of_frozen_modules_are_not_written():
    model = network().freeze(0, 1, 2)
    model.grads[...] = 7.0
    fitted(model, dn.Adam(0.01))
    frozen = sum(model[i].n_params for i in range(3))
    assert (model.grads[:frozen] == 7.0).all()
    assert (model.grads[frozen:] != 7.0).all()
    X, y = data()
    loss = dn.CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward(), input_grad=True)
    assert (model.grads[:frozen] == 7.0).all()


def test_gradients_flow_through_frozen_modules_unchanged():
    """A frozen module's input gradient is the one it would pass on unfrozen (a module
    without batch statistics runs the same passes frozen)."""
    X, y = data()
    grads = []
    for frozen in ((), (3, 5), (0, 1, 2)):
        model = network().freeze(*frozen) if frozen else network()
        loss = dn.CrossEntropyLoss()
        loss.forward(model.forward(X), y)
        dX = model.backward(loss.backward())
        grads.append((dX, model.trainable_grads.copy(), model.trainable_params.size))
    assert_array_equal(grads[1][0], grads[0][0])
    assert_array_equal(grads[2][0], grads[0][0])
    size = grads[0][2]
    assert_array_equal(grads[1][1], grads[0][1][:grads[1][2]])  # the first modules' gradients
    assert_array_equal(grads[2][1], grads[0][1][size - grads[2][2]:])  # the last modules'


def test_a_hand_written_loop_stepping_trainable_params_equals_fit():
    X, y = data()
    model, twin = network().freeze(5), network().freeze(5)
    adam, adam_twin = dn.Adam(0.01), dn.Adam(0.01)
    fitted(model, adam, epochs=2)
    loss = dn.CrossEntropyLoss()
    for _ in range(2):
        for start in range(0, 64, 16):
            loss.forward(twin.forward(X[start:start + 16]), y[start:start + 16])
            twin.backward(loss.backward(), input_grad=False)
            adam_twin.step(twin.trainable_params, twin.trainable_grads)
    assert_array_equal(twin.params, model.params)


def test_freeze_then_unfreeze_trains_as_never_frozen():
    plain = fitted(network(), dn.Adam(0.01))
    thawed = network().freeze(0, 1, 2)
    thawed.plan(16)  # a plan kept while frozen
    thawed.train_step(dn.CrossEntropyLoss(), dn.SGD(0.1), 16, np.zeros(16, np.int64))
    thawed.unfreeze()
    fitted(thawed, dn.Adam(0.01))
    assert_array_equal(thawed.params, plain.params)


def test_backward_after_a_freeze_needs_a_new_forward():
    model = network()
    X, y = data()
    model.forward(X)
    model.freeze(0)
    with pytest.raises(RuntimeError, match="or since a freeze or unfreeze"):
        model.backward(np.ones((64, 4)))
    model.forward(X)
    model.unfreeze(0)
    with pytest.raises(RuntimeError, match="or since a freeze or unfreeze"):
        model.backward(np.ones((64, 4)))
    model.forward(X)
    model.unfreeze(0)  # (nothing changes: the plan held stays)
    assert model.backward(np.ones((64, 4))).shape == X.shape


@pytest.mark.parametrize("when", ["on_batch_end", "on_epoch_end"])
@pytest.mark.parametrize("name", ["sgd", "adam", "lbfgs"])
def test_a_callback_that_freezes_during_fit_is_refused_before_the_next_step(when, name):
    """Gradual unfreezing takes a fit per stage: the steps and the optimiser's state are
    for what trained when the fit began."""
    model = network().freeze(0, 1, 2)
    seen = []

    class Thaw(dn.Callback):
        def thaw(self):
            seen.append(self.model.params.copy())
            self.model.unfreeze()

    class EachBatch(Thaw):
        def on_batch_end(self, batch, logs=None):
            self.thaw()

    class EachEpoch(Thaw):
        def on_epoch_end(self, epoch, logs=None):
            self.thaw()

    callback = EachBatch() if when == "on_batch_end" else EachEpoch()
    if name == "lbfgs" and when == "on_batch_end":
        pytest.skip("L-BFGS has no batches")
    with pytest.raises(RuntimeError, match=r"fit: modules were frozen or unfrozen during training "
                                           r"\(frozen \(0, 1, 2\), now \(\)\)"):
        fitted(model, OPTIMISERS[name](), callbacks=[callback])
    assert len(seen) == 1
    assert_array_equal(model.params, seen[0])  # (no step after the callback)


def test_freezing_after_a_fit_replans_its_steps():
    """The model keeps its planned steps between fits; a freeze must not reuse them."""
    model = network()
    sgd = dn.SGD(0.05)
    fitted(model, sgd, epochs=1)
    model.freeze(3, 4, 5)
    before = blocks(model)
    fitted(model, sgd, epochs=1)
    assert_array_equal(blocks(model)[5], before[5])
    assert not np.array_equal(blocks(model)[0], before[0])


# -- against PyTorch's requires_grad_(False) ------------------------------------------------


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"])
@pytest.mark.parametrize("frozen", [(0, 1, 2), (3, 5)])
def test_trajectories_equal_pytorch_s_with_frozen_parameters(name, frozen):
    """100 steps of ``fit`` against PyTorch's optimiser over the parameters that train (the
    others ``requires_grad_(False)``)."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network().freeze(*frozen)
    net = torch_twin(model)
    for i in frozen:
        for p in net[i].parameters():
            p.requires_grad_(False)
    kinds = {"momentum": ("SGD", dict(lr=0.05, momentum=0.9)),
             "nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
             "adam": ("Adam", dict(lr=0.01)), "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
             "rmsprop": ("RMSprop", dict(lr=0.005, momentum=0.5)), "adagrad": ("Adagrad", dict(lr=0.05))}
    kind, settings = kinds[name]
    theirs = getattr(torch.optim, kind)([p for p in net.parameters() if p.requires_grad], **settings)
    optimizer = OPTIMISERS[name]()
    fitted(model, optimizer, epochs=25)
    torch_fit(net, theirs, *data(), epochs=25, batch_size=16, loss=torch.nn.CrossEntropyLoss())
    assert optimizer.steps == 100
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


def test_a_frozen_batchnorm_normalises_as_pytorch_s_in_eval_mode():
    """A frozen BatchNorm1d uses and keeps its running statistics: PyTorch's with
    ``requires_grad_(False)`` and ``eval()``."""
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_flat_state, torch_twin

    model = dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.ReLU(), dn.Dense(8, 4), seed=0)
    fitted(model, dn.SGD(0.05), epochs=2)  # running statistics of their own
    model.freeze(0, 1)
    state = model.state.copy()
    net = torch_twin(model)
    for p in [*net[0].parameters(), *net[1].parameters()]:
        p.requires_grad_(False)
    net[1].eval()
    theirs = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.01)
    fitted(model, dn.Adam(0.01), epochs=10)
    torch_fit(net, theirs, *data(), epochs=10, batch_size=16, loss=torch.nn.CrossEntropyLoss())
    assert_array_equal(model.state, state)
    assert_allclose(model.state, torch_flat_state(net), rtol=1e-12)
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


def test_a_frozen_batchnorm_trains_on_batches_of_one():
    model = dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.ReLU(), dn.Dense(8, 4), seed=0)
    X, y = data(n=8)
    with pytest.raises(ValueError, match="needs at least 2"):
        model.fit(X, y, loss=dn.CrossEntropyLoss(), batch_size=1)
    model.freeze(0, 1)
    before = model.params.copy()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), batch_size=1)
    frozen = model[0].n_params + model[1].n_params
    assert_array_equal(model.params[:frozen], before[:frozen])
    assert not np.array_equal(model.params, before)


def test_a_frozen_batchnorm_keeps_its_statistics_on_huge_inputs():
    """Inputs so large that the first layer's sums are rescaled (``Sequential._rescaled``)
    still meet a frozen BatchNorm1d in inference mode."""
    model = dn.Sequential(dn.Dense(3, 4), dn.BatchNorm1d(4), dn.Tanh(), seed=0)
    fitted_state = model.state.copy()
    X = np.full((5, 3), 1e300)
    model.forward(X)
    assert not np.array_equal(model.state, fitted_state)  # (training mode: the batch's statistics)
    model.state[...] = fitted_state
    model.freeze(1)
    model.forward(X)
    assert_array_equal(model.state, fitted_state)


@pytest.mark.parametrize("frozen", [(0, 1), (3,)])
def test_a_diverging_fit_undoes_its_steps_and_leaves_the_frozen_modules(frozen):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 3)), rng.standard_normal((64, 2))
    y[40:] *= 1e200  # the sixth batch makes the loss overflow
    model = dn.Sequential(dn.Dense(3, 8), dn.BatchNorm1d(8), dn.Tanh(), dn.Dense(8, 2), seed=0)
    model.freeze(*frozen)
    before = blocks(model), model.state.copy()
    bad, after = diverge_beside_a_recording_copy(model, X, y, optimizer=dn.SGD(0.5), epochs=1,
                                                 batch_size=8, shuffle=False)
    assert bad == 5
    assert_array_equal(model.params, after[bad - 1][0])
    assert_array_equal(model.state, after[bad - 1][1])
    for i in frozen:
        assert_array_equal(blocks(model)[i], before[0][i])
    if 1 in frozen:
        assert_array_equal(model.state, before[1])


def test_clipping_takes_the_norm_of_the_gradients_that_train():
    torch = pytest.importorskip("torch")
    from .torch_twin import torch_fit, torch_flat_params, torch_twin

    model = network().freeze(0, 1, 2)
    net = torch_twin(model)
    for i in (0, 1, 2):
        for p in net[i].parameters():
            p.requires_grad_(False)
    theirs = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.5)
    fitted(model, dn.SGD(0.5), epochs=5, max_grad_norm=0.05)
    torch_fit(net, theirs, *data(), epochs=5, batch_size=16, max_norm=0.05, loss=torch.nn.CrossEntropyLoss())
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12)


# -- the paths a step can take ----------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("frozen", [(0,), (2,)])
def test_folded_descent_leaves_frozen_modules_alone(momentum, frozen):
    """Steps large enough to fold the update into the backward pass (plain descent and
    momentum) give a hand-written loop's weights to rounding, the frozen ones exactly."""
    width = int(np.sqrt(GEMM_MIN_PRODUCT / 64)) + 8
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((128, width)), rng.standard_normal((128, width))
    def make():
        return dn.Sequential(dn.Dense(width, width), dn.Tanh(), dn.Dense(width, width), seed=0)

    model, twin = make().freeze(*frozen), make().freeze(*frozen)
    sgd = dn.SGD(0.01, momentum=momentum)
    step = model.train_step(dn.MSELoss(), sgd, 64, y)
    assert step.folded
    before = model.params.copy()
    model.fit(X, y, optimizer=sgd, epochs=2, batch_size=64, shuffle=False)
    by_hand, loss = dn.SGD(0.01, momentum=momentum), dn.MSELoss()
    for _ in range(2):
        for start in (0, 64):
            loss.forward(twin.forward(X[start:start + 64]), y[start:start + 64])
            twin.backward(loss.backward(), input_grad=False)
            by_hand.step(twin.trainable_params, twin.trainable_grads)
    held = model[frozen[0]].flat_params
    assert_array_equal(held, before[:held.size] if frozen == (0,) else before[-held.size:])
    assert_allclose(model.params, twin.params, rtol=1e-12, atol=1e-14)
    assert np.abs(model.params - before).max() > 1e-5


def test_sparse_rows_into_a_frozen_first_layer():
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(64, 20, density=0.2, format="csr", random_state=0)
    y = rng.standard_normal((64, 2))
    def make():
        return dn.Sequential(dn.Dense(20, 8), dn.Tanh(), dn.Dense(8, 2), seed=0)

    sparse, dense = make().freeze(0), make().freeze(0)
    before = sparse.params.copy()
    sparse.fit(X, y, optimizer=dn.Adam(0.01), epochs=3, batch_size=16, shuffle=False)
    dense.fit(X.toarray(), y, optimizer=dn.Adam(0.01), epochs=3, batch_size=16, shuffle=False)
    assert_array_equal(sparse[0].flat_params, before[:sparse[0].n_params])
    assert_allclose(sparse.params, dense.params, rtol=1e-12, atol=1e-14)


def test_lbfgs_minimises_over_the_parameters_that_train():
    X, y = data(n=40)
    model = dn.Sequential(dn.Dense(3, 5), dn.Tanh(), dn.Dense(5, 4), seed=0).freeze(2)
    before = model.params.copy()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.LBFGS(), epochs=300)
    assert_array_equal(model[2].flat_params, before[-model[2].n_params:])
    loss = dn.CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    assert np.abs(model.trainable_grads).max() < 1e-5


def test_a_frozen_step_allocates_nothing():
    rng = np.random.default_rng(0)
    model = dn.Sequential(dn.Dense(64, 128), dn.BatchNorm1d(128), dn.ReLU(), dn.Dense(128, 10),
                          seed=0).freeze(0, 1)
    X, y = model.check_data(rng.standard_normal((256, 64)), rng.standard_normal((256, 10)), dn.MSELoss())
    step = TrainStep(model, dn.MSELoss(), dn.Adam(), 256, y)
    step.X[...], step.y[...] = X, y
    assert allocation_peak(step) < 4096


def test_gradcheck_checks_the_modules_that_train():
    model = network().freeze(0, 1, 2)
    X, y = data(n=8)
    report = dn.gradcheck(model, X, y, dn.CrossEntropyLoss())
    assert report.ok
    assert [c.name for c in report.checks] == ["3: Dense.W", "3: Dense.b", "5: Dense.W", "5: Dense.b",
                                               "input X"]


# -- optimisers and masks ----------------------------------------------------------------


def test_the_decay_mask_is_laid_out_like_trainable_params():
    model = network()
    whole = model.decay_mask()
    model.freeze(0, 1, 2)
    start = sum(model[i].n_params for i in range(3))
    assert_array_equal(model.decay_mask(), whole[start:])
    adamw = dn.AdamW(0.01, weight_decay=0.5, decay_mask=model.decay_mask())
    fitted(model, adamw)
    with pytest.raises(ValueError, match=r"decay_mask has 138 entries, but the model trains 82 parameters"):
        fitted(network().freeze(0, 1, 2), dn.AdamW(0.01, decay_mask=whole))


def test_an_optimiser_with_state_from_before_a_freeze_is_refused():
    model = network()
    adam = dn.Adam(0.01)
    fitted(model, adam, epochs=1)
    model.freeze(0, 1, 2)
    before = model.params.copy()
    with pytest.raises(ValueError, match="Adam keeps state for one model's parameters"):
        fitted(model, adam, epochs=1)
    assert_array_equal(model.params, before)
    sgd = dn.SGD(0.05)  # no state: it steps whatever it is given
    fitted(model, sgd, epochs=1)
    model.unfreeze()
    fitted(model, sgd, epochs=1)


# -- bad calls -------------------------------------------------------------------------


def test_a_frozen_module_between_two_that_train_is_refused():
    model = network().freeze(0)
    for bad in ((3,), (slice(3, 4),)):
        with pytest.raises(ValueError, match=r"Dense\(in_features=8, out_features=6\) at index 3 would be "
                                             r"frozen between modules that train \(1 and 5\)"):
            model.freeze(*bad)
    assert model.frozen == (0,)
    model.freeze(1, 2, 3)  # a prefix: fine
    with pytest.raises(ValueError, match=r"index 3 would be frozen between modules that train \(0 and 5\)"):
        model.unfreeze(0, 1, 2)
    assert model.frozen == (0, 1, 2, 3)
    fitted(model, dn.Adam(0.01), epochs=1)  # the plans still work


@pytest.mark.parametrize("bad,error,match", [
    (6, ValueError, r"freeze: no module at index 6; the model has 6 \(indices -6 to 5\)"),
    (-7, ValueError, "no module at index -7"),
    (1.0, TypeError, "layers must be module indices"),
    (True, TypeError, "layers must be module indices"),
    ("0", TypeError, "layers must be module indices"),
    # (a slice past the end is empty in Python: here it names no module, as an index would)
    (slice(6, 9), ValueError,
     r"freeze: slice\(6, 9, None\) takes no module; the model has 6 \(indices -6 to 5\)"),
    (slice(3, 3), ValueError, r"freeze: slice\(3, 3, None\) takes no module"),
])
def test_bad_indices_are_refused(bad, error, match):
    model = network().freeze(5)
    with pytest.raises(error, match=match):
        model.freeze(0, bad)
    assert model.frozen == (5,)


def test_fit_refuses_a_model_with_nothing_to_train():
    model = network().freeze(slice(None))
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"every module with parameters is frozen \(modules \(0, 1, 2, 3, 5"):
        fitted(model, dn.Adam(0.01))
    assert_array_equal(model.params, before)


# -- copies and files --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "clone"])
def test_copies_stay_frozen_and_train_like_the_original(how):
    model = network().freeze(3, 4, 5)  # (the Tanh between has nothing to freeze)
    copies = {"deepcopy": copy.deepcopy, "pickle": lambda m: pickle.loads(pickle.dumps(m)),
              "clone": lambda m: m.clone()}
    twin = copies[how](model)
    assert twin.frozen == (3, 5)
    assert_array_equal(fitted(twin, dn.Adam(0.01)).params, fitted(model, dn.Adam(0.01)).params)


def test_a_float32_clone_stays_frozen():
    twin = network().freeze(0).clone(dtype=np.float32)
    assert twin.frozen == (0,)
    assert twin.trainable_params.dtype == np.float32
    before = twin[0].flat_params.copy()
    fitted(twin, dn.Adam(0.01))
    assert_array_equal(twin[0].flat_params, before)


def test_a_saved_model_resumes_frozen_exactly():
    model = network().freeze(0, 1, 2)
    adam = dn.Adam(0.01)
    fitted(model, adam, epochs=2)
    buffer = io.BytesIO()
    model.save(buffer, optimizer=adam)
    resumed = dn.Adam(0.01)
    loaded = dn.load(io.BytesIO(buffer.getvalue()), optimizer=resumed)
    assert loaded.frozen == (0, 1, 2)
    assert_array_equal(fitted(loaded, resumed).params, fitted(model, adam).params)


def test_a_file_with_a_bad_list_of_frozen_modules_is_refused():
    model = network()
    for frozen in ([3], [0, 9], "0", [0.5], 5, None):
        config = {**model.config(), "frozen": frozen}
        buffer = io.BytesIO()
        dn.io.write(buffer, config, model.params, {})
        with pytest.raises(ValueError, match="invalid list of frozen modules"):
            dn.load(io.BytesIO(buffer.getvalue()))


def test_a_file_saved_before_freezing_existed_loads_unfrozen():
    model = network()
    config = model.config()
    del config["frozen"]
    buffer = io.BytesIO()
    dn.io.write(buffer, config, model.params, {})
    assert dn.load(io.BytesIO(buffer.getvalue())).frozen == ()
    assert json.loads(json.dumps(network().freeze(0).config()))["frozen"] == [0]


def test_summary_and_repr_show_what_is_frozen():
    model = dn.Sequential(dn.Dense(4, 8), dn.Tanh(), dn.Dense(8, 3), seed=0).freeze(0)
    lines = model.summary().splitlines()
    assert lines[1].split("  (frozen)")[0].endswith("Dense(in_features=4, out_features=8)")
    assert "(frozen)" not in lines[3]
    assert lines[-1] == "total: 67 parameters (27 trainable), float64, 536 bytes"
    assert repr(model).endswith("# dtype=float64, params=67, frozen=(0,)")
    assert "frozen" not in repr(model.unfreeze())
