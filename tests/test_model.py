"""Sequential: the container, the flat buffers, forward and backward."""

from __future__ import annotations

import copy
import io
import pickle
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import analytic_grads, mlp, numerical_grads, snapshot


def test_container_protocol_and_repr():
    layers = [dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1)]
    model = dn.Sequential(*layers, seed=0)
    assert len(model) == 3
    assert list(model) == layers
    assert model[2] is layers[2]
    assert model[-1] is layers[2]
    assert model.layers == tuple(layers)
    assert model[1:] == tuple(layers[1:])
    assert model[1:][1] is layers[2]  # its own modules, not a copy
    assert model.in_features == 2
    assert model.out_features == 1
    assert repr(model).splitlines() == [
        "Sequential(",
        "  (0): Dense(in_features=2, out_features=3)",
        "  (1): Sigmoid()",
        "  (2): Dense(in_features=3, out_features=1)",
        ")  # dtype=float64, params=13",
    ]


def test_parameters_are_views_into_one_flat_buffer():
    model = mlp((3, 4, 2))
    assert model.params.ndim == 1
    assert model.params.shape == model.grads.shape
    assert model.params.size == (3 + 1) * 4 + (4 + 1) * 2
    for layer in (model[0], model[2]):
        for view in (layer.W, layer.b):
            assert np.shares_memory(view, model.params)
        for view in (layer.dW, layer.db):
            assert np.shares_memory(view, model.grads)
    model[2].b[...] = 7.0
    assert_array_equal(model.params[-2:], [7.0, 7.0])
    model.params[:12] = np.arange(12)
    assert_array_equal(model[0].W, np.arange(12).reshape(3, 4))


def test_seed_gives_identical_models_and_generators_are_accepted():
    a, b = mlp((2, 5, 1), seed=3), mlp((2, 5, 1), seed=3)
    assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, mlp((2, 5, 1), seed=4).params)
    c = mlp((2, 5, 1), seed=np.random.default_rng(3))
    assert_array_equal(a.params, c.params)


def test_layers_that_do_not_chain_are_rejected():
    with pytest.raises(ValueError, match=r"Dense\(in_features=4, out_features=1\) at index 2 expects 4 "
                                         r"input features, but Dense\(in_features=2, out_features=3\) "
                                         r"at index 0 gives 3"):
        dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(4, 1))


@pytest.mark.parametrize("bad, error, message", [
    ([], ValueError, "Sequential needs at least one module"),
    (["dense"], TypeError, "Sequential: module 0 must be a densenet Module instance, got str"),
    ([dn.Dense], TypeError, r"Sequential: module 0 must be a densenet Module instance, got the class Dense: "
                            r"pass an instance, Dense\(\.\.\.\)$"),
    ([dn.Sigmoid()], ValueError, "Sequential needs a module that fixes the input width"),
    ([[dn.Dense(2, 2), dn.Sigmoid()]], TypeError,
     r"module 0 must be a densenet Module instance, got a list of modules: pass them as arguments, "
     r"Sequential\(\*modules\)"),
    ([(dn.Dense(2, 2),)], TypeError, r"got a tuple of modules: pass them as arguments"),
    ([[dn.Dense(2, 2), "x"]], TypeError, r"got list$"),
])
def test_bad_module_lists_are_rejected(bad, error, message):
    with pytest.raises(error, match=message):
        dn.Sequential(*bad)


def test_a_module_belongs_to_one_model():
    layer = dn.Dense(2, 2)
    dn.Sequential(layer)
    with pytest.raises(ValueError, match="already belongs to a model"):
        dn.Sequential(layer)
    act = dn.Sigmoid()
    with pytest.raises(ValueError, match="already belongs"):
        dn.Sequential(dn.Dense(2, 2), act, act)


def test_a_copied_module_is_drawn_afresh_and_its_trained_values_assigned_after():
    """What the error above advises: a deep copy of a trained model's module goes into a new
    model, which draws its parameters from its seed (as for any module); the trained values
    go in by assignment, into the new model's own vector."""
    old = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    old.params[...] = np.arange(old.params.size)
    with pytest.raises(ValueError, match=r"draws its parameters from its seed: to carry trained ones, "
                                         r"assign them after, new\[i\]\.W = old\[j\]\.W"):
        dn.Sequential(old[0], dn.Dense(3, 2))
    new = dn.Sequential(copy.deepcopy(old[0]), dn.Dense(3, 2), seed=5)
    assert_array_equal(new.params, dn.Sequential(dn.Dense(2, 3), dn.Dense(3, 2), seed=5).params)
    new[0].W, new[0].b = old[0].W, old[0].b
    assert_array_equal(new[0].W, old[0].W)
    assert_array_equal(new[0].b, old[0].b)
    assert np.shares_memory(new[0].W, new.params)
    assert not np.shares_memory(new[0].W, old.params)


@pytest.mark.parametrize("dtype, error",
                         [(np.int64, ValueError), (np.float16, ValueError), ("nonsense", TypeError)])
def test_only_float32_and_float64(dtype, error):
    with pytest.raises(error, match="float32 or float64"):
        dn.Sequential(dn.Dense(2, 2), dtype=dtype)


@pytest.mark.parametrize("dtype", [">f8", "<f4", np.dtype(np.float64).newbyteorder()])
def test_a_float_dtype_in_the_other_byte_order_is_refused_as_that_not_as_its_name(dtype):
    """A big-endian float64 was refused as "must be float32 or float64, got float64"."""
    dt = np.dtype(dtype)
    if dt.isnative:
        dt = dt.newbyteorder()
    match = rf"^dtype must be float32 or float64 in this machine's byte order, got '{dt.str}' \({dt.name} in "
    with pytest.raises(ValueError, match=match + r"the other byte order\)$"):
        dn.Sequential(dn.Dense(2, 2), dtype=dt)


def test_forward_and_predict_return_new_arrays():
    model = mlp((2, 3, 1))
    X = np.random.default_rng(0).standard_normal((4, 2))
    a = model.forward(X)
    b = model.predict(X + 1)
    assert not np.shares_memory(a, b)
    assert_allclose(a, model(X), rtol=0)
    assert_allclose(model.predict(X), a, rtol=0)


@pytest.mark.parametrize("sizes", [(2, 2, 1), (3, 8, 5, 2), (4, 16, 16, 16, 3)])
def test_gradients_match_central_differences(sizes):
    model = mlp(sizes, seed=1, init="normal")
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, sizes[0])), rng.uniform(size=(6, sizes[-1]))
    assert_allclose(analytic_grads(model, X, y), numerical_grads(model, X, y), rtol=1e-5, atol=1e-10)


def test_input_gradient_matches_central_differences():
    model = mlp((3, 5, 2), seed=1)
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((4, 3)), rng.uniform(size=(4, 2))
    loss, eps = dn.MSELoss(), 1e-6
    loss.forward(model.forward(X), y)
    dX = model.backward(loss.backward())
    numeric = np.empty_like(X)
    for idx in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss.forward(model.forward(up), y) - loss.forward(model.forward(down), y)) / (2 * eps)
    assert_allclose(dX, numeric, rtol=1e-6, atol=1e-12)


def test_batch_gradient_is_the_mean_of_per_sample_gradients():
    model = mlp((3, 6, 2), seed=5)
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((7, 3)), rng.uniform(size=(7, 2))
    batch = analytic_grads(model, X, y)
    per_sample = [analytic_grads(model, X[i:i + 1], y[i:i + 1]) for i in range(7)]
    assert_allclose(batch, np.mean(per_sample, axis=0), rtol=1e-12, atol=1e-15)


def test_backward_overwrites_gradients():
    model = mlp((2, 3, 1))
    X, y = np.ones((2, 2)), np.zeros((2, 1))
    first = analytic_grads(model, X, y)
    assert_array_equal(analytic_grads(model, X, y), first)


def test_float32_model_stays_float32():
    model = mlp((2, 4, 1), dtype=np.float32)
    X, y = np.random.default_rng(0).standard_normal((8, 2)), np.ones((8, 1))
    assert model.params.dtype == model.grads.dtype == np.float32
    assert model.predict(X).dtype == np.float32
    model.fit(X, y, epochs=3, batch_size=3)
    assert model.params.dtype == model.grads.dtype == np.float32
    assert model[0].W.dtype == np.float32
    assert np.shares_memory(model[0].W, model.params)


def test_views_stay_views_after_training():
    model = mlp((2, 4, 1))
    model.fit(dn.tutorial.X, dn.tutorial.y, epochs=5, batch_size=2)
    for layer in (model[0], model[2]):
        assert np.shares_memory(layer.W, model.params)
        assert np.shares_memory(layer.b, model.params)
        assert np.shares_memory(layer.dW, model.grads)
        assert np.shares_memory(layer.db, model.grads)


@pytest.mark.parametrize("X, error, message", [
    (np.ones((4, 3)), ValueError, r"X has 3 features \(shape \(4, 3\)\), but Dense\(in_features=2, "
                                  r"out_features=3\) at index 0 expects 2"),
    (np.ones(2), ValueError, r"X must be 2-D .* got 1-D shape \(2,\); use X.reshape"),
    (np.ones((1, 2, 2)), ValueError, "got 3-D"),
    (5.0, ValueError, "got 0-D"),
    (np.ones((0, 2)), ValueError, "empty"),
    ([["a", "b"]], TypeError, "X must hold real numbers, got dtype <U1"),
    (np.ones((2, 2), complex), TypeError, "X must hold real numbers, got complex numbers"),
    ([[1.0, None]], TypeError, "real numbers"),
    ([[1.0, 2.0], [3.0]], ValueError, "rectangular"),
    ([[1.0, np.nan]], ValueError, r"non-finite .* index \(0, 1\)"),
    ([[np.inf, 1.0]], ValueError, "non-finite"),
])
def test_bad_input_is_rejected_and_the_model_is_unchanged(X, error, message):
    model = mlp((2, 3, 1))
    model.fit(np.ones((2, 2)), np.ones((2, 1)), epochs=1)
    before = snapshot(model)
    with pytest.raises(error, match=message):
        model.predict(X)
    assert_array_equal(model.params, before[0])
    assert_array_equal(model.grads, before[1])


def test_legitimate_inputs_are_accepted():
    model = mlp((2, 3, 1))
    X = np.arange(12.0).reshape(6, 2)
    want = model.predict(X)
    readonly = X.copy()
    readonly.flags.writeable = False
    wide = np.zeros((6, 4))
    wide[:, ::2] = X
    for same in (X.tolist(), X.astype(np.int64), readonly, wide[:, ::2], np.asfortranarray(X)):
        assert_allclose(model.predict(same), want, rtol=1e-15)
    assert_allclose(model.predict(X.astype(np.float32)), want, rtol=1e-6)


def test_backward_checks_its_gradient_shape():
    model = mlp((2, 3, 1))
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((1, 1)))
    model.forward(np.ones((4, 2)))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"dY has shape \(4,\), but the last forward output "
                                         r"has shape \(4, 1\)"):
        model.backward(np.ones(4))
    assert_array_equal(model.grads, before[1])


def test_matches_pytorch_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for sizes in [(2, 2, 1), (5, 7, 3), (3, 16, 8, 2)]:
        model = mlp(sizes, seed=int(rng.integers(1000)))
        X, y = rng.standard_normal((9, sizes[0])), rng.uniform(size=(9, sizes[-1]))
        ours = analytic_grads(model, X, y)

        tensors = []
        out = torch.tensor(X, requires_grad=True)
        x_in = out
        for layer in (m for m in model if isinstance(m, dn.Dense)):
            W = torch.tensor(layer.W.copy(), requires_grad=True)
            b = torch.tensor(layer.b.copy(), requires_grad=True)
            tensors += [W, b]
            out = torch.sigmoid(out @ W + b)
        value = torch.nn.functional.mse_loss(out, torch.tensor(y))
        value.backward()
        theirs = np.concatenate([torch.cat([W.grad, b.grad[None]]).numpy().ravel()
                                 for W, b in zip(tensors[::2], tensors[1::2])])
        assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
        loss = dn.MSELoss()
        assert_allclose(loss.forward(model.forward(X), y), value.item(), rtol=1e-13)
        assert_allclose(model.backward(loss.backward()), x_in.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_summary_lists_layers_shapes_and_parameter_counts():
    model = dn.Sequential(dn.Dense(4, 8), dn.Sigmoid(), dn.Dense(8, 3), dn.Sigmoid(), dtype=np.float32)
    lines = model.summary().splitlines()
    assert lines[0].split() == ["#", "layer", "output", "params"]
    assert lines[1].split()[-3:] == ["(N,", "8)", "40"]
    assert lines[3].split()[-3:] == ["(N,", "3)", "27"]
    assert lines[-1] == "total: 67 parameters, float32, 268 bytes"


def test_predict_works_in_bounded_batches():
    model = mlp((3, 8, 2), seed=0)
    X = np.random.default_rng(0).standard_normal((1000, 3))
    whole = model.predict(X)
    for batch_size in (1, 7, 256, 999, 5000):
        assert_allclose(model.predict(X, batch_size=batch_size), whole, rtol=1e-13, atol=1e-15)
    assert_allclose(model.predict(X[:5]), model.forward(X[:5]), rtol=0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        model.predict(X, batch_size=0)


def test_the_flat_buffers_cannot_be_rebound():
    model = mlp((2, 3, 1))
    with pytest.raises(AttributeError, match=r"params cannot be rebound .* model\.params\[\.\.\.\] = values"):
        model.params = np.zeros_like(model.params)
    with pytest.raises(AttributeError, match=r"grads cannot be rebound .* model\.grads\[\.\.\.\] = values"):
        model.grads = np.zeros_like(model.grads)
    model.params[...] = 1.0
    assert np.all(model[0].W == 1.0)


def test_training_plans_skip_the_input_gradient_and_everything_before_the_first_layer():
    """fit never needs dL/dX: its plans leave out the first Dense's dX product (one call),
    and the backward pass of a parameterless module before it."""
    model = dn.Sequential(dn.Sigmoid(), dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), seed=0)
    training, full = model.plan(4), model.plan(4, input_grad=True)
    assert training.dX is None
    assert full.dX.shape == (4, 2)
    sigmoid_backward = 3  # (1 - Y), times Y, times dY
    assert len(full.backward) == len(training.backward)
    assert not training.input_backward
    assert len(full.input_backward) == 1 + sigmoid_backward  # run only when dL/dX is asked for


def test_backward_without_the_input_gradient_writes_the_same_gradients():
    # two modules without parameters before the first Dense: their dX calls are kept in order
    model = dn.Sequential(dn.Sigmoid(), dn.Tanh(), dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    X, dY = np.random.default_rng(0).standard_normal((5, 2)), np.linspace(-1, 1, 5)[:, None]
    model.forward(X)
    dX = model.backward(dY)
    grads = model.grads.copy()
    h, numeric = 1e-6, np.zeros_like(X)  # dX against central differences of sum(Y * dY)
    for index in np.ndindex(*X.shape):
        E = np.zeros_like(X)
        E[index] = h
        numeric[index] = np.sum((model.predict(X + E) - model.predict(X - E)) * dY) / (2 * h)
    np.testing.assert_allclose(dX, numeric, rtol=1e-6, atol=1e-9)
    model.grads[...] = np.nan
    model.forward(X)
    assert model.backward(dY, input_grad=False) is None
    np.testing.assert_array_equal(model.grads, grads)
    model.forward(X)
    np.testing.assert_array_equal(model.backward(dY), dX)  # and it is computed when asked again


def test_a_models_dtype_and_widths_cannot_be_rebound():
    """They describe the flat vectors and the plans; rebinding one broke every later call
    (``clone(dtype=...)`` gives a model in another dtype)."""
    model = dn.Sequential(dn.Dense(3, 2), dn.Sigmoid(), dn.Dense(2, 1), seed=0)
    for name, value in (("dtype", np.float32), ("in_features", 5), ("out_features", 2)):
        with pytest.raises(AttributeError):
            setattr(model, name, value)
    assert (model.dtype, model.in_features, model.out_features) == (np.float64, 3, 1)
    assert model.predict(np.zeros((2, 3))).dtype == np.float64


def _loss_case(name, rng, n):
    """A 3-to-3 model ending as ``name``'s loss wants its outputs, the loss, and ``n`` rows of
    inputs and targets."""
    ends = {"bce": (dn.Sigmoid(),), "nll": (dn.LogSoftmax(),)}.get(name, ())
    model = dn.Sequential(dn.Dense(3, 5), dn.Tanh(), dn.Dense(5, 3), *ends, seed=0)
    loss = {"mse": dn.MSELoss(), "l1": dn.L1Loss(), "huber": dn.HuberLoss(0.5),
            "smooth_l1": dn.SmoothL1Loss(0.5), "poisson": dn.PoissonNLLLoss(), "bce": dn.BCELoss(),
            "bce_with_logits": dn.BCEWithLogitsLoss(), "cross_entropy": dn.CrossEntropyLoss(),
            "nll": dn.NLLLoss()}[name]
    X = rng.standard_normal((n, 3))
    if name in ("cross_entropy", "nll"):
        y = rng.integers(0, 3, n)
    elif name == "poisson":
        y = rng.poisson(2.0, (n, 3)).astype(float)
    else:
        y = rng.uniform(size=(n, 3))
    return model, loss, X, y


@pytest.mark.parametrize("rows", [8, 5])  # the evaluated data as many rows as the batch, or not
@pytest.mark.parametrize("name", ["mse", "l1", "huber", "smooth_l1", "poisson", "bce", "bce_with_logits",
                                  "cross_entropy", "nll"])
def test_evaluate_between_a_forward_and_its_backward_changes_neither_backward(name, rows):
    """A hand-written step that evaluates other data with its loss before the backward pass
    (to log it, say) gets the gradients of its own batch."""
    rng = np.random.default_rng(3)
    model, loss, X, y = _loss_case(name, rng, 8)
    _, _, X_val, y_val = _loss_case(name, rng, rows)
    value = loss.forward(model.forward(X), model.check_data(X, y, loss)[1])
    dY = loss.backward()
    model.backward(dY)
    grads = model.grads.copy()

    assert loss.forward(model.forward(X), model.check_data(X, y, loss)[1]) == value
    validation = model.evaluate(X_val, y_val, loss)
    assert validation != value
    assert_array_equal(loss.backward(), dY)
    model.backward(loss.backward())
    assert_array_equal(model.grads, grads)
    assert model.evaluate(X_val, y_val, loss) == validation


_BETWEEN = {  # what a hand-written step may do with its model between forward and backward
    "predict": lambda m, X, y: m.predict(X),
    "evaluate": lambda m, X, y: m.evaluate(X, y, metrics=["mae"]),
    "update_bn": lambda m, X, y: dn.update_bn(m, X, batch_size=8),
    "gradcheck": lambda m, X, y: dn.gradcheck(m, X[:2], y[:2], raise_exception=False),
    "lr_find": lambda m, X, y: dn.lr_find(m, X, y, steps=3, batch_size=8),
    "clone": lambda m, X, y: m.clone(np.float32),
    "pickle": lambda m, X, y: pickle.loads(pickle.dumps(m)),
    "save": lambda m, X, y: m.save(io.BytesIO()),
    "another thread's forward": lambda m, X, y: _in_a_thread(lambda: m.forward(X)),
}


def _in_a_thread(call):
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()


@pytest.mark.parametrize("rows", [16, 8])  # the other data as many rows as the batch, or not
@pytest.mark.parametrize("between", list(_BETWEEN))
def test_what_runs_between_a_forward_and_its_backward_leaves_the_backward_alone(between, rows):
    """``backward`` is that of the thread's last ``forward``, bit for bit, in a network with
    every kind of state a pass holds (batch statistics, a dropout mask, a layer's norms)."""
    rng = np.random.default_rng(5)
    X, dY, other = rng.standard_normal((16, 4)), rng.standard_normal((16, 1)), rng.standard_normal((rows, 4))

    def network():
        return dn.Sequential(dn.Dense(4, 8), dn.BatchNorm1d(8), dn.ReLU(), dn.Dropout(0.3), dn.Dense(8, 6),
                             dn.LayerNorm(6), dn.GELU(), dn.Dense(6, 1), seed=0)

    plain, around = network(), network()
    plain.forward(X)
    dX = plain.backward(dY)
    around.forward(X)
    _BETWEEN[between](around, other, rng.standard_normal((rows, 1)))
    assert_array_equal(around.backward(dY), dX)
    assert_array_equal(around.grads, plain.grads)
