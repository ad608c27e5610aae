"""Dropout: its masks, training and inference modes, copies, files, and PyTorch's autograd."""

from __future__ import annotations

import copy
import io
import pickle
from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import COPIES, copied, diverge_beside_a_recording_copy


def model_with_dropout(dtype=np.float64, p=0.5, seed=0):
    return dn.Sequential(dn.Dense(5, 16), dn.ReLU(), dn.Dropout(p), dn.Dense(16, 16), dn.Tanh(),
                         dn.Dropout(p / 2), dn.Dense(16, 3), dtype=dtype, seed=seed)


def without_dropout(model):
    """The same network with its Dropout modules left out, and the same parameters."""
    twin = dn.Sequential(*(copy.deepcopy(m) for m in model if not m.random), dtype=model.dtype, seed=0)
    twin.params[...] = model.params
    return twin


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.standard_normal((n, 3))


def masks(model, rng_state, n):
    """The masks a training pass of ``model`` on ``n`` rows draws from a generator in
    ``rng_state``: each a ``(n, width)`` draw of uniforms, kept where below ``1 - p``."""
    rng = copy.deepcopy(model.rng)
    rng.bit_generator.state = rng_state
    found, width = [], model.in_features
    for module in model:
        width = module.output_width(width)
        if module.random:
            keep = rng.random((n, width), dtype=model.dtype) < 1 - module.p
            found.append(keep / (1 - module.p))
    return found


# -- the masks --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_training_keeps_each_element_with_probability_1_minus_p_scaled(p, dtype):
    layer = dn.Dropout(p)
    layer.rng = np.random.default_rng(0)
    X = np.random.default_rng(1).uniform(1.0, 2.0, (400, 100)).astype(dtype)
    Y = layer.forward(X)
    kept = Y != 0
    assert Y.dtype == dtype
    # 40,000 draws: the kept fraction within 5 standard deviations of 1 - p
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / X.size)
    assert_array_equal(Y[kept], X[kept] * dtype(1 / (1 - p)))  # exactly X / (1 - p), as PyTorch scales
    dY = np.random.default_rng(2).standard_normal(X.shape).astype(dtype)
    dX = layer.backward(dY)
    assert_array_equal(dX, np.where(kept, dY * dtype(1 / (1 - p)), 0))  # the same mask


def test_each_training_pass_draws_a_new_mask_and_the_generator_decides_it():
    X = np.ones((8, 50))
    layer = dn.Dropout(0.5)
    layer.rng = np.random.default_rng(7)
    first, second = layer.forward(X), layer.forward(X)
    assert (first != second).any()
    again = dn.Dropout(0.5)
    again.rng = np.random.default_rng(7)
    assert_array_equal(again.forward(X), first)


def test_a_generator_set_later_replaces_the_one_the_plans_were_made_with():
    X = np.ones((8, 50))
    layer = dn.Dropout(0.5)
    layer.forward(X)  # planned with a generator of fresh entropy
    layer.rng = np.random.default_rng(3)
    fresh = dn.Dropout(0.5)
    fresh.rng = np.random.default_rng(3)
    assert_array_equal(layer.forward(X), fresh.forward(X))


def test_by_default_half_is_dropped_as_in_pytorch():
    layer = dn.Dropout()
    assert layer.p == 0.5
    assert repr(layer) == "Dropout(p=0.5)"


def test_p_0_is_the_identity_and_p_1_zeroes_everything_in_training():
    X = np.random.default_rng(0).standard_normal((6, 7))
    assert_array_equal(dn.Dropout(0.0).forward(X), X)
    with np.errstate(all="raise"):
        zeroed = dn.Dropout(1.0)
        assert_array_equal(zeroed.forward(X), np.zeros_like(X))
        assert_array_equal(zeroed.backward(np.ones_like(X)), np.zeros_like(X))


def test_setting_p_changes_the_plans_already_made():
    model = model_with_dropout()
    X, _ = data()
    model.forward(X)  # plans made with p = 0.5 and 0.25
    for module in model:
        if module.random:
            module.p = 0.0
    assert_array_equal(model.forward(X), without_dropout(model).forward(X))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), float("inf")])
def test_p_outside_0_to_1_is_refused_by_value(p):
    with pytest.raises(ValueError, match=r"Dropout: invalid p .*; it must lie in \[0, 1\]"):
        dn.Dropout(p)
    layer = dn.Dropout(0.3)
    with pytest.raises(ValueError):
        layer.p = p
    assert layer.p == 0.3


@pytest.mark.parametrize("p", ["0.5", None, True, [0.5]])
def test_p_that_is_no_number_is_refused_by_type(p):
    with pytest.raises(TypeError, match=r"Dropout: p must be a real number"):
        dn.Dropout(p)


def test_a_module_generator_must_be_a_generator():
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator"):
        dn.Dropout().rng = 0


# -- training and inference -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inference_is_the_network_without_dropout_bit_for_bit(dtype):
    model = model_with_dropout(dtype)
    twin = without_dropout(model)
    X, _ = data()
    assert model.training
    assert_array_equal(model.predict(X), twin.predict(X))
    assert_array_equal(model.predict(X), model.predict(X))
    assert model.eval() is model
    assert not model.training
    assert_array_equal(model.forward(X), twin.forward(X))
    dY = np.cos(model.forward(X))
    assert_array_equal(model.backward(dY), twin.backward(dY))
    assert_array_equal(model.grads, twin.grads)
    y = np.sin(X[:, :3])
    assert model.train() is model
    assert model.training
    assert model.evaluate(X, y) == twin.evaluate(X, y) == model.evaluate(X, y)


def test_training_mode_forward_drops_and_eval_mode_does_not():
    model = model_with_dropout()
    X, _ = data()
    assert (model.forward(X) != model.forward(X)).any()
    model.eval()
    assert_array_equal(model.forward(X), model.forward(X))


def test_mode_must_be_a_boolean():
    model = model_with_dropout()
    with pytest.raises(TypeError, match=r"mode must be True or False"):
        model.train("eval")
    assert model.training


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_training_pass_is_the_network_times_masks_drawn_from_the_model_generator(dtype):
    model = model_with_dropout(dtype)
    X, _ = data()
    X = X.astype(dtype)
    state = model.rng.bit_generator.state
    Y = model.forward(X)
    first, second = masks(model, state, len(X))
    twin = without_dropout(model)
    A = np.maximum(X @ twin[0].W + twin[0].b, 0) * first
    B = np.tanh(A @ twin[2].W + twin[2].b) * second
    tol = 1e-12 if dtype == np.float64 else 1e-4
    assert_allclose(Y, B @ twin[4].W + twin[4].b, rtol=tol, atol=tol)


def test_values_and_gradients_equal_pytorch_autograd_with_the_same_masks():
    torch = pytest.importorskip("torch")
    model = model_with_dropout()
    X, y = data()
    state = model.rng.bit_generator.state
    loss = dn.MSELoss()
    value = loss.forward(model.forward(X), y)
    dX = model.backward(loss.backward())
    first, second = (torch.from_numpy(m) for m in masks(model, state, len(X)))
    twin = without_dropout(model)
    weights = [torch.tensor(a, requires_grad=True) for m in twin if m.n_params for a in (m.W, m.b)]
    W1, b1, W2, b2, W3, b3 = weights
    Xt = torch.tensor(X, requires_grad=True)
    out = (torch.tanh((torch.relu(Xt @ W1 + b1) * first) @ W2 + b2) * second) @ W3 + b3
    expected = torch.nn.functional.mse_loss(out, torch.from_numpy(y))
    expected.backward()
    assert abs(value - expected.item()) <= 1e-10 * abs(expected.item())
    assert_allclose(dX, Xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    grads = {name: grad for m in model if m.n_params for name, grad in (("W", m.dW), ("b", m.db))}
    assert grads  # the model wrote its gradients (below: each layer's, against autograd's)
    layers = [m for m in model if m.n_params]
    for layer, (W, b) in zip(layers, zip(weights[::2], weights[1::2])):
        assert_allclose(layer.dW, W.grad.numpy(), rtol=1e-10, atol=1e-14)
        assert_allclose(layer.db, b.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_a_fit_trains_with_dropout_and_validates_without():
    model = model_with_dropout(p=0.3)
    X, y = data(64)
    twin = without_dropout(model)
    history = model.fit(X, y, optimizer=dn.Adam(1e-2), epochs=30, batch_size=16, seed=0,
                        validation_data=(X, y))
    assert history.loss[-1] < history.loss[0]
    assert history.val_loss[-1] == model.evaluate(X, y)  # validation infers: no masks
    # the masks changed what was learnt: the same fit without them ends elsewhere
    twin.fit(X, y, optimizer=dn.Adam(1e-2), epochs=30, batch_size=16, seed=0)
    assert not np.array_equal(model.params, twin.params)


def test_fit_trains_with_dropout_in_either_mode_and_keeps_the_mode():
    X, y = data()
    trained = model_with_dropout()
    evaluated = copy.deepcopy(trained).eval()
    for model in (trained, evaluated):
        model.fit(X, y, optimizer=dn.SGD(0.05), epochs=2, batch_size=8)
    assert_array_equal(evaluated.params, trained.params)
    assert not evaluated.training
    assert trained.training


def test_dropout_regularises_a_wide_network_on_few_samples():
    """The point of it: 40 noisy samples, a 1-256-256-1 network; trained the same way, the
    network with dropout ends nearer the noiseless function on new inputs (in seeds 0-3 of
    the data, 0.25-0.70 of the error without it)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (40, 1))
    y = np.sin(X) + rng.normal(0, 0.3, X.shape)
    X_new = np.linspace(-3, 3, 200)[:, None]
    errors = {}
    for p in (0.0, 0.5):
        model = dn.Sequential(dn.Dense(1, 256), dn.ReLU(), dn.Dropout(p), dn.Dense(256, 256), dn.ReLU(),
                              dn.Dropout(p), dn.Dense(256, 1), seed=1)
        model.fit(X, y, optimizer=dn.Adam(3e-3), epochs=1500, batch_size=40, seed=0)
        errors[p] = model.evaluate(X_new, np.sin(X_new))
        if p == 0.0:
            assert model.evaluate(X, y) < 0.04  # without: it fits the noise (variance 0.09)
    assert errors[0.5] < 0.8 * errors[0.0]


# -- copies, files, the ecosystem ----------------------------------------------------------------

@pytest.mark.parametrize("how", COPIES)
def test_a_copy_draws_the_same_masks_and_trains_alike(how, tmp_path):
    model = model_with_dropout()
    X, y = data()
    model.fit(X, y, optimizer=dn.SGD(0.05), epochs=2, batch_size=8)
    twin = copied(model, how, tmp_path)
    assert_array_equal(twin.forward(X), model.forward(X))
    model.fit(X, y, optimizer=dn.SGD(0.05), epochs=3, batch_size=8)
    twin.fit(X, y, optimizer=dn.SGD(0.05), epochs=3, batch_size=8)
    assert_array_equal(twin.params, model.params)


def test_copies_keep_the_mode_and_a_loaded_model_starts_in_training_mode():
    model = model_with_dropout().eval()
    assert not copy.deepcopy(model).training
    assert not pickle.loads(pickle.dumps(model)).training
    assert not model.clone(dtype=np.float32).training
    buffer = io.BytesIO()
    model.save(buffer)
    assert dn.load(io.BytesIO(buffer.getvalue())).training  # the mode is not a saved setting


def test_training_resumed_from_a_file_is_training_never_stopped():
    X, y = data(40)
    whole = model_with_dropout(seed=3)
    adam = dn.Adam(1e-2)
    whole.fit(X, y, optimizer=adam, epochs=4, batch_size=8)
    halves = model_with_dropout(seed=3)
    first = dn.Adam(1e-2)
    halves.fit(X, y, optimizer=first, epochs=2, batch_size=8)
    buffer = io.BytesIO()
    halves.save(buffer, optimizer=first)
    second = dn.Adam(1e-2)
    resumed = dn.load(io.BytesIO(buffer.getvalue()), optimizer=second)
    resumed.fit(X, y, optimizer=second, epochs=2, batch_size=8)
    assert_array_equal(resumed.params, whole.params)


def test_the_onnx_export_infers():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from densenet.onnx import export

    model = model_with_dropout()
    proto = export(model)
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node].count("Identity") == 3  # two Dropouts and the output
    X, _ = data()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    twin = ort.InferenceSession(export(without_dropout(model)).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    assert_array_equal(session.run(None, {"X": X})[0], twin.run(None, {"X": X})[0])


# -- what needs a fixed objective -----------------------------------------------------------------

def test_lbfgs_is_refused_and_the_model_left_as_it_was():
    model = model_with_dropout()
    params, state = model.params.copy(), model.rng.bit_generator.state
    X, y = data()
    with pytest.raises(ValueError, match=r"LBFGS.*Dropout\(p=0.5\) at index 2 draws random numbers"):
        model.fit(X, y, optimizer=dn.LBFGS())
    assert_array_equal(model.params, params)
    assert model.rng.bit_generator.state == state
    without_dropout(model).fit(X, y, optimizer=dn.LBFGS(), epochs=2)  # the same network without: fine


def test_gradcheck_checks_the_gradient_for_one_mask_and_leaves_the_model():
    model = model_with_dropout()
    X, y = data(6)
    state = model.rng.bit_generator.state
    assert dn.gradcheck(model, X, y).ok
    assert model.rng.bit_generator.state == state


def test_gradcheck_finds_a_dropout_whose_backward_forgets_the_scale():
    class Unscaled(dn.Dropout):
        """Keeps dY where the element was kept, without the 1 / (1 - p)."""

        def plan(self, buffers):
            passes = super().plan(buffers)
            if buffers.rng is None or buffers.dX is None:
                return passes
            scale = 1.0 - self.p
            return dn.Passes(passes.forward, [*passes.backward, lambda: np.multiply(buffers.dX, scale,
                                                                                     buffers.dX)])

    model = dn.Sequential(dn.Dense(5, 8), dn.Tanh(), Unscaled(0.5), dn.Dense(8, 3), seed=0)
    X, y = data(6)
    report = dn.gradcheck(model, X, y, raise_exception=False)
    assert not report.ok


def test_a_diverging_fit_with_dropout_blames_the_step_that_diverged():
    """The replay that finds the bad step draws the epoch's masks again: the model ends
    with the weights from before that step, as a copy recording every step shows."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.standard_normal((64, 3))
    y[40:] *= 1e200  # the sixth batch makes the loss overflow
    model = model_with_dropout(p=0.2, seed=4)
    bad, after = diverge_beside_a_recording_copy(model, X, y, optimizer=dn.SGD(2.0), epochs=1, batch_size=8,
                                                 shuffle=False)
    assert bad >= 1
    assert_array_equal(model.params, after[bad - 1][0])


def test_a_model_pickled_before_there_were_modes_loads_in_training_mode():
    model = model_with_dropout().eval()
    state = copy.deepcopy(model.__getstate__())  # its own modules, as unpickling gives
    del state["training"]  # what a pickle made before modes holds
    old = dn.Sequential.__new__(dn.Sequential)
    old.__setstate__(state)
    assert old.training
    X, _ = data()
    assert (old.forward(X) != old.forward(X)).any()


class RandomSpy(dn.Module):
    """The identity, declared random: records whether each plan trains and has a generator."""

    random = True

    def __init__(self):
        self.given = []

    def plan(self, b):
        self.given.append((b.training, b.rng is not None))
        return dn.Passes([partial(np.copyto, b.Y, b.X)],
                         [] if b.dX is None else [partial(np.copyto, b.dX, b.dY)])


def test_a_random_module_gets_a_generator_for_training_plans_only():
    spy = RandomSpy()
    model = dn.Sequential(dn.Dense(3, 4), spy, dn.Dense(4, 1), seed=0)
    X, y = np.ones((8, 3)), np.ones((8, 1))
    model.fit(X, y, epochs=1, batch_size=8)
    assert spy.given == [(True, True)]
    model.predict(X)
    assert spy.given[1:] == [(False, False)]


class RandomDenseSpy(dn.Dense):
    """A Dense layer declared random (as a noisy layer of one's own is): records whether
    each plan trains it and gives it a generator."""

    random = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.given = []

    def plan(self, b):
        self.given.append((b.training, b.rng is not None))
        return super().plan(b)


def test_a_frozen_random_module_runs_its_inference_passes_without_a_generator():
    spy = RandomDenseSpy(3, 4)
    model = dn.Sequential(spy, dn.Tanh(), dn.Dense(4, 1), seed=0)
    X, y = np.ones((8, 3)), np.ones((8, 1))
    model.fit(X, y, epochs=1, batch_size=8)
    model.freeze(0)
    model.fit(X, y, epochs=1, batch_size=8)
    assert spy.given == [(True, True), (False, False)]
