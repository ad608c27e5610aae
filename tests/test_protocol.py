"""The protocols: a new module, loss or optimiser is one class; bad ones fail loudly."""

from __future__ import annotations

import contextlib
import copy
import warnings
from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

import densenet as dn

from .conftest import mlp, snapshot


class Softplus(dn.Module):
    """``Y = log(1 + exp(X))``; its slope is the sigmoid: the README's example."""

    def plan(self, b):
        forward = [partial(np.logaddexp, 0.0, b.X, b.Y)]
        if b.dX is None:
            return dn.Passes(forward, [])
        slope = np.zeros_like(b.dX)
        return dn.Passes(forward, [partial(expit, b.X, slope), partial(np.multiply, slope, b.dY, b.dX)])


class ForwardBackwardSigmoid(dn.Module):
    """A sigmoid written the generic way: forward and backward, no plan."""

    def forward(self, X):
        self.Y = expit(X)
        return self.Y

    def backward(self, dY):
        return ((1 - self.Y) * self.Y) * dY


def regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, np.sin(X[:, :1]) + 0.5 * X[:, 1:]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_custom_activation_trains_saves_loads_and_passes_gradcheck(tmp_path, dtype):
    X, y = regression()
    model = dn.Sequential(dn.Dense(2, 16), Softplus(), dn.Dense(16, 1), dtype=dtype, seed=0)
    history = model.fit(X, y, optimizer=dn.SGD(0.05), epochs=200, batch_size=8, seed=0)
    assert history.loss[-1] < history.loss[0] / 10
    model.save(tmp_path / "softplus.npz")
    loaded = dn.load(tmp_path / "softplus.npz")
    assert type(loaded[1]) is Softplus
    assert loaded.dtype == dtype
    assert_array_equal(loaded.predict(X), model.predict(X))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "gradcheck: the model is float32", UserWarning)
        assert dn.gradcheck(model, X[:6], y[:6]).ok


@pytest.mark.parametrize("batch_size", [1, 5])
def test_the_generic_path_trains_exactly_like_the_planned_one(batch_size):
    X, y = regression(23)
    planned = dn.Sequential(dn.Dense(2, 4), dn.Sigmoid(), dn.Dense(4, 1), seed=3)
    generic = dn.Sequential(dn.Dense(2, 4), ForwardBackwardSigmoid(), dn.Dense(4, 1), seed=3)
    for model in (planned, generic):
        model.fit(X, y, optimizer=dn.SGD(0.3), epochs=3, batch_size=batch_size, seed=1)
    assert_array_equal(generic.params, planned.params)
    assert dn.gradcheck(generic, X[:4], y[:4]).ok


def test_a_forward_only_module_predicts_but_cannot_train():
    class Double(dn.Module):
        def forward(self, X):
            return 2 * X

    model = dn.Sequential(dn.Dense(2, 3), Double(), seed=0)
    X, y = regression(6)
    assert_allclose(model.predict(X), 2 * (X @ model[0].W + model[0].b), rtol=1e-15)
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"Double\(\) at index 1 has no backward pass"):
        model.fit(X, np.zeros((6, 3)))
    model.forward(X)
    with pytest.raises(TypeError, match="has no backward pass"):
        model.backward(np.ones((6, 3)))
    assert_array_equal(model.params, before[0])
    assert_array_equal(model.grads, before[1])


class ForwardBackwardMSE(dn.Loss):
    """The mean squared error written the generic way: forward and backward, no plan."""

    def forward(self, y_pred, y_true):
        self.difference = y_pred - y_true
        return np.mean(self.difference ** 2)

    def backward(self):
        return 2.0 / self.difference.size * self.difference


@pytest.mark.parametrize("batch_size", [1, 5])
def test_a_loss_written_as_forward_and_backward_trains_as_the_planned_one(batch_size):
    """A loss that defines ``forward`` and ``backward`` (caching what backward needs) is
    wrapped in a plan, as a module's are: it trains, evaluates and passes gradcheck as
    ``MSELoss`` does (the same sums, in another order: to the last few bits)."""
    X, y = regression(23)
    planned, generic = mlp((2, 4, 1), seed=3), mlp((2, 4, 1), seed=3)
    histories = [model.fit(X, y, loss=loss, optimizer=dn.Adam(0.05), epochs=4, batch_size=batch_size,
                           seed=1, validation_data=(X[:5], y[:5]))
                 for model, loss in ((planned, dn.MSELoss()), (generic, ForwardBackwardMSE()))]
    assert_allclose(generic.params, planned.params, rtol=1e-12, atol=1e-14)
    assert_allclose(histories[1].loss, histories[0].loss, rtol=1e-12)
    assert_allclose(histories[1].val_loss, histories[0].val_loss, rtol=1e-12)
    assert_allclose(generic.evaluate(X, y, loss=ForwardBackwardMSE()),
                    planned.evaluate(X, y, loss=dn.MSELoss()), rtol=1e-12)
    assert dn.gradcheck(generic, X[:4], y[:4], loss=ForwardBackwardMSE()).ok
    assert_allclose(ForwardBackwardMSE()(X[:, :1], y), dn.MSELoss()(X[:, :1], y), rtol=1e-12)  # (a call)
    with pytest.raises(TypeError, match=r"ForwardBackwardMSE\(\) cannot weight its samples"):
        generic.fit(X, y, loss=ForwardBackwardMSE(), sample_weight=np.ones(len(X)))


@pytest.mark.parametrize("given", [None, "x", np.ones(2), np.ones(1), 1j])
def test_a_loss_whose_forward_gives_no_real_number_is_refused_by_name(given):
    """Each failed in float() with Python's or NumPy's words (``only 0-dimensional arrays
    can be converted``), naming nothing, before any update."""
    class Odd(ForwardBackwardMSE):
        def forward(self, y_pred, y_true):
            super().forward(y_pred, y_true)
            return given

    model, (X, y) = mlp((2, 3, 1)), regression(6)
    before = snapshot(model)
    match = r"Odd\(\)\.forward returned .*, not a real number"
    with pytest.raises(TypeError, match=match):
        model.fit(X, y, loss=Odd())
    with pytest.raises(TypeError, match=match):
        model.evaluate(X, y, loss=Odd())
    assert_array_equal(model.params, before[0])


def test_a_loss_s_forward_may_give_numpy_s_numbers():
    class Single(ForwardBackwardMSE):
        def forward(self, y_pred, y_true):
            return np.float32(super().forward(y_pred, y_true))

    model, (X, y) = mlp((2, 3, 1)), regression(6)
    value = model.evaluate(X, y, loss=Single())
    assert type(value) is float
    assert value == float(np.float32(model.evaluate(X, y)))


class HeavyBall(dn.Optimizer):
    """Momentum written by the optimiser protocol: a state vector from ``state(params)``."""

    STATE = ("velocity",)

    def __init__(self, lr=0.1, momentum=0.9):
        super().__init__(lr)
        self.momentum = momentum

    def step(self, params, grads):
        self.check_arrays(params, grads)
        velocity = self.state(params)["velocity"]  # (zeros at first: the first step is grads)
        velocity *= self.momentum
        velocity += grads
        params -= self.lr * velocity
        self.steps += 1


class Damped(dn.Optimizer):
    """Steps whose size shrinks by ``damping`` each step, a number of its state (``SCALARS``)
    starting at ``initial_state``: the step never sets it before reading it."""

    SCALARS = ("size",)

    def initial_state(self, name):
        return 1.0 if name == "size" else 0.0

    def step(self, params, grads):
        self.check_arrays(params, grads)
        params -= self.lr * self.size * grads
        self.size *= 0.5
        self.steps += 1


def test_an_optimiser_s_numbers_start_at_their_initial_state_and_are_saved(tmp_path):
    """``SCALARS`` are numbers each starting at ``initial_state(name)``: a step may read one
    at once, and ``fit``'s snapshot before the first step may save it (it was an
    ``AttributeError`` unless the optimiser's own ``__init__`` set it)."""
    X, y = regression(40)
    damped = Damped(0.1)
    assert damped.size == 1.0
    assert damped.state_dict() == {"steps": 0, "size": 1.0}
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    model.fit(X, y, optimizer=damped, epochs=1, batch_size=10)
    assert (damped.steps, damped.size) == (4, 1.0 / 16)
    model.save(tmp_path / "damped.npz", optimizer=damped)
    resumed = Damped(0.1)
    dn.load(tmp_path / "damped.npz", optimizer=resumed)
    assert (resumed.steps, resumed.size) == (4, 1.0 / 16)


def test_an_optimiser_of_one_s_own_with_state_trains_saves_and_resumes(tmp_path):
    """What the README's protocol promises such an optimiser: it steps as SGD's momentum
    does, its state is saved with the model and put back so that the rest of a training
    ends bit-identical to one that never stopped, and a copy carries its state."""
    X, y = regression(40)
    ours, sgd = mlp((2, 5, 1), seed=2), mlp((2, 5, 1), seed=2)
    ours.fit(X, y, optimizer=HeavyBall(0.5, 0.9), epochs=3, batch_size=8, seed=0)
    sgd.fit(X, y, optimizer=dn.SGD(0.5, momentum=0.9), epochs=3, batch_size=8, seed=0)
    assert_allclose(ours.params, sgd.params, rtol=1e-12, atol=1e-15)

    whole, first = mlp((2, 5, 1), seed=3), mlp((2, 5, 1), seed=3)
    steady = HeavyBall()
    whole.fit(X, y, optimizer=steady, epochs=4, batch_size=8, seed=0, shuffle=False)
    stopped = HeavyBall()
    first.fit(X, y, optimizer=stopped, epochs=2, batch_size=8, seed=0, shuffle=False)
    first.save(tmp_path / "half.npz", optimizer=stopped)
    resumed = HeavyBall()
    second = dn.load(tmp_path / "half.npz", optimizer=resumed)
    assert resumed.steps == stopped.steps == 10
    assert_array_equal(resumed.state_dict()["velocity"], stopped.state_dict()["velocity"])
    twin = copy.deepcopy((second, resumed))
    for model, optimizer in ((second, resumed), twin):
        model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=8, seed=0, shuffle=False)
        assert_array_equal(model.params, whole.params)
        assert optimizer.steps == steady.steps == 20


def test_a_loss_that_defines_nothing_or_a_gradient_of_another_shape_is_refused_by_name():
    class Nothing(dn.Loss):
        pass

    class ForwardOnly(dn.Loss):
        def forward(self, y_pred, y_true):
            return 0.0

    class Column(ForwardBackwardMSE):
        def backward(self):
            return super().backward()[:, :1]

    model, X = mlp((2, 3, 2)), regression(6)[0]
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"Nothing\(\) defines neither plan\(\) nor forward\(\) and "
                                        r"backward\(\): a Loss must define one or the other"):
        model.fit(X, np.zeros((6, 2)), loss=Nothing())
    with pytest.raises(TypeError, match=r"ForwardOnly\(\) defines neither plan\(\) nor forward\(\) and "):
        model.fit(X, np.zeros((6, 2)), loss=ForwardOnly())
    with pytest.raises(ValueError, match=r"Column\(\)\.backward returned shape \(6, 1\), expected \(6, 2\)"):
        model.fit(X, np.zeros((6, 2)), loss=Column(), batch_size=6)
    assert_array_equal(model.params, before[0])


def declaring(**declarations):
    """A pass-through module of a class of its own with ``declarations`` as attributes."""
    class Declared(dn.Module):
        def forward(self, X):
            return X.copy()

        def backward(self, dY):
            return dY.copy()

    for name, value in declarations.items():
        setattr(Declared, name, value)
    return Declared()


@pytest.mark.parametrize("declarations, error, match", [
    ({"output_width": lambda self, width: 2.0}, TypeError,
     r"output_width\(2\) of Declared\(\) at index 1 must be an integer >= 1, got 2\.0"),
    ({"output_width": lambda self, width: None}, TypeError, r"output_width\(2\) .* got None"),
    ({"output_width": lambda self, width: 0}, ValueError, r"output_width\(2\) .* got 0"),
    ({"output_width": lambda self, width: -1}, ValueError, r"output_width\(2\) .* got -1"),
    ({"input_width": property(lambda self: "2")}, TypeError,
     r"input_width of Declared\(\) at index 1 must be None or an integer >= 1, got '2'"),
    ({"input_width": property(lambda self: 0)}, ValueError, r"input_width of .* got 0"),
    ({"param_shapes": lambda self: ((-2, 2),)}, ValueError,
     r"a dimension in param_shapes\(\) \(\(-2, 2\),\) of Declared\(\) at index 1 must be an integer "
     r">= 0, got -2"),
    ({"param_shapes": lambda self: ((2.5,),)}, TypeError, r"a dimension in param_shapes\(\) .* got 2\.5"),
    ({"param_shapes": lambda self: (2, 2)}, TypeError,
     r"param_shapes\(\) of Declared\(\) at index 1 must be a tuple of shapes \(tuples of integers\), "
     r"got \(2, 2\)"),
    ({"state_shapes": lambda self: ((3, -1),)}, ValueError, r"a dimension in state_shapes\(\) .* got -1"),
    ({"state_shapes": lambda self: None}, TypeError, r"state_shapes\(\) of .* got None"),
])
def test_a_module_s_declarations_that_are_not_widths_or_shapes_are_refused_by_name(declarations, error,
                                                                                   match):
    """Each failed with NumPy's or Python's words (``negative dimensions are not allowed``),
    a negative block in the name of the Dense before it, or a string width as a mismatch
    of ``2`` with ``2``: a module of one's own is named, with its index, when the model
    is made."""
    with pytest.raises(error, match="Sequential: " + match):
        dn.Sequential(dn.Dense(3, 2), declaring(**declarations), dn.Dense(2, 1))


def test_a_module_may_declare_numpy_s_integers():
    model = dn.Sequential(declaring(input_width=property(lambda self: np.int32(3))), dn.Dense(3, 2),
                          declaring(output_width=lambda self, width: np.int64(width)), seed=0)
    assert model.predict(np.ones((4, 3))).shape == (4, 2)
    assert type(model.in_features) is int
    assert type(model.out_features) is int


def test_a_module_that_defines_nothing_is_refused_not_recursed():
    class Nothing(dn.Module):
        pass

    with pytest.raises(TypeError, match=r"Nothing\(\) .* defines neither plan\(\) nor forward\(\)"):
        dn.Sequential(dn.Dense(2, 2), Nothing())
    with pytest.raises(TypeError, match="defines neither plan"):
        Nothing().forward(np.ones((2, 2)))


def test_a_forward_returning_the_wrong_shape_is_an_error():
    class Collapse(dn.Module):
        def forward(self, X):
            return X.sum(axis=0, keepdims=True)

    model = dn.Sequential(dn.Dense(2, 2), Collapse(), seed=0)
    with pytest.raises(ValueError, match=r"Collapse\(\)\.forward returned shape \(1, 2\), expected \(5, 2\)"):
        model.predict(np.ones((5, 2)))


def test_a_backward_returning_the_wrong_shape_is_an_error_and_trains_nothing():
    """A gradient of another shape would broadcast into the input gradient (a column
    into two) and train on a wrong gradient without a word: it is refused by name, in
    ``fit`` before the first update and in a backward pass by hand."""
    class Column(dn.Module):
        def forward(self, X):
            return X.copy()

        def backward(self, dY):
            return dY[:, :1]

    model = dn.Sequential(dn.Dense(2, 2), Column(), dn.Dense(2, 1), seed=0)
    X, y = regression(6)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"Column\(\)\.backward returned shape \(6, 1\), expected \(6, 2\)"):
        model.fit(X, y, batch_size=6)
    assert_array_equal(model.params, before[0])
    model.forward(X)
    with pytest.raises(ValueError, match=r"Column\(\)\.backward returned shape \(6, 1\), expected \(6, 2\)"):
        model.backward(np.ones((6, 1)))


def test_modules_of_another_model_are_refused_and_that_model_is_unchanged():
    owner = mlp((2, 3, 1), seed=0)
    X = np.ones((4, 2))
    before, prediction = owner.params.copy(), owner.predict(X)
    with pytest.raises(ValueError, match=r"Dense\(in_features=2, out_features=3\) at index 0 already "
                                         r"belongs to a model"):
        dn.Sequential(owner[0], dn.Sigmoid(), seed=5)
    assert_array_equal(owner.params, before)
    assert_array_equal(owner.predict(X), prediction)
    assert np.shares_memory(owner[0].W, owner.params)


@pytest.mark.parametrize("thing, message", [
    ("dense", "module 0 must be a densenet Module instance, got str"),
    (dn.Dense, "got the class Dense"),
])
def test_non_modules_are_refused(thing, message):
    with pytest.raises(TypeError, match=message):
        dn.Sequential(thing)


@pytest.mark.parametrize("kwargs, message", [
    (dict(optimizer=0.1), r"optimizer must be a densenet Optimizer .* got float 0\.1"),
    (dict(optimizer=dn.MSELoss()), "optimizer must be a densenet Optimizer .* got MSELoss"),
    (dict(loss="mse"), "loss must be a densenet Loss .* got str 'mse'"),
    (dict(loss=dn.SGD(0.1)), "loss must be a densenet Loss .* got SGD"),
])
def test_fit_refuses_losses_and_optimizers_of_the_wrong_kind(kwargs, message):
    model = mlp((2, 3, 1))
    X, y = regression(6)
    before = snapshot(model)
    state = model.rng.bit_generator.state
    with pytest.raises(TypeError, match=message):
        model.fit(X, y, **kwargs)
    assert_array_equal(model.params, before[0])
    assert_array_equal(model.grads, before[1])
    assert model.rng.bit_generator.state == state
    with pytest.raises(TypeError, match="loss must be a densenet Loss"):
        model.evaluate(X, y, loss="mse")
    with pytest.raises(TypeError, match="loss must be a densenet Loss"):
        dn.gradcheck(model, X, y, loss=len)


def test_a_loss_decides_which_targets_fit_accepts():
    class LabelLoss(dn.MSELoss):
        """Integer labels (N,), compared with the first output: a loss with its own targets."""

        def target(self, y, n_outputs, dtype, name="y"):
            labels = np.asarray(y)
            if labels.ndim != 1 or labels.dtype.kind not in "iu":
                raise ValueError(f"{name} must be integer labels (n_samples,), got {labels.shape}")
            return np.repeat(labels.astype(dtype)[:, None], n_outputs, axis=1)

    model = mlp((2, 3, 2))
    X = np.ones((4, 2))
    history = model.fit(X, np.array([0, 1, 1, 0]), loss=LabelLoss(), epochs=2)
    assert history.loss.shape == (2,)
    with pytest.raises(ValueError, match="must be integer labels"):
        model.fit(X, np.ones((4, 2)), loss=LabelLoss())


@pytest.mark.parametrize("base", [dn.MSELoss, dn.NLLLoss], ids=["regression", "class-labels"])
def test_a_loss_decides_which_outputs_it_computes_on(base):
    """``pred_values``: checked by ``forward`` and ``evaluate``, and named by ``fit`` as the
    cause when training stops on a non-finite loss over outputs the loss refuses."""
    class NonPositive(base):
        def pred_values(self, values, name):
            if np.any(values > 0):
                raise ValueError(f"NonPositive: {name} must be <= 0")
            return values

        def plan(self, y_pred, y_true, grad):  # the parent's, NaN where an output is positive
            planned = super().plan(y_pred, y_true, grad)
            return planned.__class__(planned.forward, lambda: planned.value() if np.all(y_pred <= 0)
                                     else float("nan"), planned.backward, planned.rows, planned.share)

    labels = np.array([0, 1, 1, 0])
    y = labels if base is dn.NLLLoss else np.zeros((4, 2))
    with pytest.raises(ValueError, match="NonPositive: y_pred must be <= 0"):
        NonPositive().forward(np.ones((4, 2)), y)
    assert NonPositive().forward(-np.ones((4, 2)), y) == pytest.approx(1.0)
    model = dn.Sequential(dn.Dense(2, 2), seed=0)
    model[0].b[...] = 5.0
    warned = (pytest.warns(UserWarning, match="is meant for log-probabilities") if base is dn.NLLLoss
              else contextlib.nullcontext())  # (NLLLoss's: a Dense layer's outputs are logits)
    with pytest.raises(dn.DivergenceError, match=r"on outputs it does not take \(NonPositive: the model's "
                                                 r"outputs must be <= 0\)"), warned:
        model.fit(np.zeros((4, 2)), y, loss=NonPositive(), epochs=1)


def test_a_custom_optimizer_is_one_class():
    class SignDescent(dn.Optimizer):
        def step(self, params, grads):
            params -= self.lr * np.sign(grads)

    X, y = regression()
    model = mlp((2, 4, 1), seed=0)
    start = model.params.copy()
    model.fit(X[:1], y[:1], optimizer=SignDescent(0.01), epochs=1, batch_size=1)
    grads = model.grads.copy()  # the gradient at the start, written by the one step
    assert_allclose(model.params, start - 0.01 * np.sign(grads), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="SignDescent: invalid learning rate"):
        SignDescent(-1.0)


def test_divergence_rolls_the_optimizer_state_back_with_the_weights():
    X = np.array([[1.0], [3.0], [2.0]])
    y = np.array([[0.0], [1.0], [0.5]])

    def run():
        return dn.Sequential(dn.Dense(1, 1), seed=0), dn.SGD(lr=3.0, momentum=0.9)

    model, sgd = run()
    with pytest.raises(dn.DivergenceError) as caught:
        model.fit(X, y, optimizer=sgd, epochs=1000, batch_size=1, shuffle=False)
    error = caught.value
    assert error.batch > 0
    assert error.epoch > 0  # in the middle of an epoch, after some epochs
    assert sgd.steps == 3 * error.epoch + error.batch  # the steps before the bad one
    twin, twin_sgd = run()  # the same steps, taken by hand
    twin.fit(X, y, optimizer=twin_sgd, epochs=error.epoch, batch_size=1, shuffle=False)
    loss = dn.MSELoss()
    for i in range(error.batch):
        loss.forward(twin.forward(X[i:i + 1]), y[i:i + 1])
        twin.backward(loss.backward())
        twin_sgd.step(twin.params, twin.grads)
    assert_array_equal(model.params, twin.params)
    assert_array_equal(sgd.state_dict()["momentum_buffer"], twin_sgd.state_dict()["momentum_buffer"])


def test_a_standalone_dense_checks_what_it_is_fed():
    layer = dn.Dense(2, 1)
    layer.W[...] = [[1.0], [2.0]]
    layer.b[...] = 10.0
    with pytest.raises(ValueError, match=r"X has 3 features \(shape \(1, 3\)\), but Dense\(in_features=2, "
                                         r"out_features=1\) expects 2 features as input"):
        layer.forward([[1.0, 2.0, 5.0]])
    with pytest.raises(ValueError, match=r"^Dense\(in_features=2, out_features=1\): X must be 2-D"):
        layer.forward([1.0, 2.0])
    with pytest.raises(TypeError, match=r"^Dense\(in_features=2, out_features=1\): X must hold real numbers"):
        layer.forward([["a", "b"]])
    assert_array_equal(layer.forward([[1.0, 2.0]]), [[15.0]])
    assert layer.forward(np.ones((1, 2), np.float32)).dtype == np.float64  # the layer's dtype
    with pytest.raises(ValueError, match=r"dY has shape \(2, 1\), but the last forward output "
                                         r"has shape \(1, 1\)"):
        layer.backward(np.ones((2, 1)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        dn.Dense(2, 1).backward(np.ones((1, 1)))


def test_a_standalone_dense_put_in_a_model_computes_with_the_models_weights():
    """The plans a layer made on its own hold views of its own parameters; once a model
    takes the layer (its weights become slices of the model's vector), the layer on its
    own computes with those."""
    layer = dn.Dense(2, 1)
    X = np.array([[1.0, 2.0]])
    layer.forward(X)  # a standalone plan, on the layer's own vector
    model = dn.Sequential(layer, seed=0)
    model.params[...] = [1.0, 2.0, 10.0]  # W = [[1], [2]], b = [10]
    assert_array_equal(layer.forward(X), [[15.0]])
    layer.backward(np.ones((1, 1)))
    assert_array_equal(model.grads, [1.0, 2.0, 1.0])  # and writes the model's gradients


def test_a_standalone_activation_keeps_the_input_dtype_and_checks_its_input():
    act = dn.Sigmoid()
    assert act.forward(np.zeros((2, 3), np.float32)).dtype == np.float32
    assert act.forward([[0, 1]]).dtype == np.float64
    with pytest.raises(ValueError, match="non-finite"):
        act.forward([[np.nan, 0.0]])


def test_modules_before_the_first_trainable_one_need_no_backward_in_fit():
    """Training never backpropagates into the input: a forward-only module there is fine."""

    class Standardise(dn.Module):
        def forward(self, X):
            return (X - 1.0) / 2.0

    X, y = regression(12)
    model = dn.Sequential(Standardise(), dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), seed=0)
    twin = dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), seed=0)
    for batch_size in (1, 5):
        model.fit(X, y, epochs=2, batch_size=batch_size, shuffle=False)
        twin.fit((X - 1.0) / 2.0, y, epochs=2, batch_size=batch_size, shuffle=False)
    assert_array_equal(model.params, twin.params)
    model.forward(X)
    with pytest.raises(TypeError, match=r"Standardise\(\) at index 0 has no backward pass"):
        model.backward(np.ones((12, 1)))  # dL/dX would need it


class OnesSpy(dn.Module):
    """The identity, wanting a ones column: records whether each plan gave it one."""

    wants_ones_column = True

    def __init__(self):
        self.given = []

    def plan(self, b):
        self.given.append(b.X1 is not None)
        if b.X1 is not None:
            assert_array_equal(b.X1[:, -1], 1.0)
        return dn.Passes([partial(np.copyto, b.Y, b.X)], [partial(np.copyto, b.dX, b.dY)])


@pytest.mark.parametrize("before", [(), (dn.Sigmoid(),), (dn.Dense(2, 2), dn.Sigmoid(), dn.Sigmoid())],
                         ids=["first", "after an activation", "after two activations"])
def test_a_module_gets_its_ones_column_wherever_it_sits_and_only_at_batch_1(before):
    spy = OnesSpy()
    model = dn.Sequential(*before, spy, dn.Dense(2, 1), seed=0)
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    for rows in (X[:1], X):
        model.forward(rows)
    assert spy.given == [True, False]


def test_a_module_that_does_not_ask_for_a_ones_column_never_gets_one():
    class Spy(OnesSpy):
        wants_ones_column = False

    class Undeclared(dn.Module):  # the protocol's default
        def __init__(self):
            self.given = []

        plan = OnesSpy.plan

    for spy in (Spy(), Undeclared()):
        model = dn.Sequential(dn.Dense(2, 2), spy, dn.Dense(2, 1), seed=0)
        model.forward(np.array([[0.5, -1.0]]))  # batch 1, where a module that asks gets one
        assert spy.given == [False]


class Scale(dn.Module):
    """y = a * x with one learnable scalar ``a``, set in ``reset_parameters`` by
    assigning the attribute (not into it), as hand-written modules often do."""

    def param_shapes(self):
        return ((1,),)

    def param_views(self, blocks):
        return {"a": blocks[0]}

    @property
    def input_width(self):
        return 1

    def reset_parameters(self, rng):
        self.a = np.array([3.0])

    def forward(self, X):
        self._X = X
        return X * self.a[0]

    def backward(self, dY):
        self.da[...] = np.sum(dY * self._X)
        return dY * self.a[0]


def test_assigning_a_parameter_attribute_writes_into_the_models_vector():
    """``layer.W = values`` must not rebind ``W`` to an array the model never reads (its
    passes read ``model.params``): the values are copied into the view, which stays."""
    model = dn.Sequential(dn.Dense(3, 2), dn.Sigmoid(), dn.Dense(2, 1), seed=0)
    X = np.random.default_rng(0).standard_normal((4, 3))
    W, b, dW = model[0].W, model[0].b, model[0].dW
    values = np.arange(6.0).reshape(3, 2) / 10
    model[0].W = values
    model[0].b = 0.5  # a scalar fills the view
    model[0].dW = 0
    assert model[0].W is W
    assert model[0].b is b
    assert model[0].dW is dW
    assert_array_equal(W, values)
    assert (b == 0.5).all()
    assert (dW == 0).all()
    twin = dn.Sequential(dn.Dense(3, 2), dn.Sigmoid(), dn.Dense(2, 1), seed=0)
    twin[0].W[...], twin[0].b[...] = values, 0.5
    assert_array_equal(model.params, twin.params)
    assert_array_equal(model.predict(X), twin.predict(X))


def test_a_parameter_attribute_assigned_a_wrong_shape_is_refused_and_nothing_changes():
    model = dn.Sequential(dn.Dense(3, 2), seed=0)
    before = model.params.copy()
    for name, value in (("W", np.zeros(2)), ("W", np.zeros((2, 3))), ("b", np.zeros((3, 2))),
                        ("db", [1.0, 2.0, 3.0])):
        with pytest.raises(ValueError, match=rf"Dense\(in_features=3, out_features=2\)\.{name} has shape "
                                             rf"\({getattr(model[0], name).shape[0]}"):
            setattr(model[0], name, value)
    assert_array_equal(model.params, before)
    assert np.shares_memory(model[0].W, model.params)
    layer = dn.Dense(2, 2)  # on its own: the same
    with pytest.raises(ValueError, match="has shape"):
        layer.W = np.ones((3, 3))
    layer.W = np.eye(2)
    assert_array_equal(layer.forward(np.array([[1.0, 2.0]])), [[1.0, 2.0]])


def test_a_module_that_assigns_its_parameter_attributes_trains_in_a_model(tmp_path):
    model = dn.Sequential(Scale(), seed=0)
    assert_array_equal(model.params, [3.0])  # reset_parameters' assignment reached the model
    X = np.linspace(-1, 1, 8).reshape(8, 1)
    model.fit(X, 2 * X, optimizer=dn.SGD(0.2), epochs=60, batch_size=8)
    assert abs(model[0].a[0] - 2.0) < 1e-3
    assert np.shares_memory(model[0].a, model.params)
    copy_ = copy.deepcopy(model)
    copy_[0].a = [5.0]
    assert copy_.params[0] == 5.0
    assert model.params[0] != 5.0


def test_modules_of_one_name_from_two_packages_load_as_their_own_class(tmp_path):
    """A custom module is saved as ``package.module.ClassName`` (densenet's own by their
    name alone), so two packages' ``Scale`` classes each come back as themselves."""

    def scale_class(package, factor):
        def plan(self, b):
            return dn.Passes([partial(np.multiply, b.X, factor, b.Y)], [])

        return type("Scale", (dn.Module,), {"__module__": package, "plan": plan})

    first, second = scale_class("one.layers", 2.0), scale_class("two.layers", 3.0)
    X = np.ones((1, 2))
    for cls, factor in ((first, 2.0), (second, 3.0)):
        model = dn.Sequential(dn.Dense(2, 2), cls(), seed=0)
        model.save(tmp_path / "scaled.npz")
        loaded = dn.load(tmp_path / "scaled.npz")
        assert type(loaded[1]) is cls
        assert_array_equal(loaded.predict(X), factor * model[0].forward(X))
    assert [module["type"] for module in loaded.config()["modules"]] == ["Dense", "two.layers.Scale"]


class Doubling(dn.Module):
    """Its input twice, side by side: twice the width, which it does not declare."""

    def forward(self, X):
        return np.concatenate([X, X], axis=1)

    def backward(self, dY):
        half = dY.shape[1] // 2
        return dY[:, :half] + dY[:, half:]


def test_a_module_that_changes_the_width_without_saying_so_is_told_how():
    told = (r"^Sequential: Dense\(in_features=6, out_features=1\) at index 2 expects 6 input features, but "
            r"Dense\(in_features=2, out_features=3\) at index 0 gives 3, which the modules between keep \(a "
            r"module that changes the width says so in output_width\(width\)\)$")
    with pytest.raises(ValueError, match=told):
        dn.Sequential(dn.Dense(2, 3), Doubling(), dn.Dense(6, 1))

    class Declared(Doubling):
        def output_width(self, width):
            return 2 * width

    model = dn.Sequential(dn.Dense(2, 3), Declared(), dn.Dense(6, 1), seed=0)
    assert model.forward(np.ones((4, 2))).shape == (4, 1)
    with pytest.raises(ValueError, match=r"at index 0 gives 3$"):  # (no module between: nothing to say)
        dn.Sequential(dn.Dense(2, 3), dn.Dense(6, 1))


# -- a subclass of a built-in block whose plan would ignore its forward or backward ---------------


def test_overriding_forward_or_backward_below_an_inherited_plan_is_refused_when_the_class_is_made():
    """A model and ``fit`` run a module's ``plan``; a subclass of ``Sigmoid`` that redefines
    ``forward`` had its own ``forward`` on its own and Sigmoid's in every model (and a
    subclass of ``MSELoss`` its value alone standalone, MSE's in ``fit``)."""
    told = (r"^Hard redefines forward\(\) but inherits Sigmoid's plan\(\), which models and fit run in "
            r"its place: define plan\(\) too, or subclass dn\.Module and define forward\(\) and "
            r"backward\(\) alone$")
    with pytest.raises(TypeError, match=told):
        class Hard(dn.Sigmoid):
            def forward(self, X):
                return np.clip(0.25 * X + 0.5, 0.0, 1.0)

    with pytest.raises(TypeError, match=r"^Sloped redefines backward\(\) but inherits ReLU's plan\(\)"):
        class Sloped(dn.ReLU):
            def backward(self, dY):
                return dY

    class Logging:
        def forward(self, X):
            return X

    with pytest.raises(TypeError, match=r"^Logged redefines forward\(\) but inherits Tanh's plan\(\)"):
        class Logged(Logging, dn.Tanh):  # (a mixin's forward comes first too)
            pass

    told = (r"^Doubled redefines forward\(\) but inherits MSELoss's plan\(\), which models and fit run "
            r"in its place: define plan\(\) too, or subclass dn\.Loss and define forward\(\) and "
            r"backward\(\) alone$")
    with pytest.raises(TypeError, match=told):
        class Doubled(dn.MSELoss):
            def forward(self, y_pred, y_true, sample_weight=None):
                return 2 * super().forward(y_pred, y_true, sample_weight)


def test_a_subclass_may_redefine_its_passes_with_its_plan_or_below_a_plan_of_its_own():
    class Planned(dn.Sigmoid):  # (its plan is its own: what models run)
        def plan(self, buffers):
            return super().plan(buffers)

        def forward(self, X):
            return super().forward(X)

    class Scaled(dn.Module):  # the simpler way, subclassed
        def forward(self, X):
            return 2.0 * X

        def backward(self, dY):
            return 2.0 * dY

    class Tripled(Scaled):
        def forward(self, X):
            return 3.0 * X

        def backward(self, dY):
            return 3.0 * dY

    model = dn.Sequential(dn.Dense(2, 2), Planned(), Tripled(), seed=0)
    X = np.array([[1.0, -2.0]])
    assert_allclose(model.forward(X), 3.0 / (1.0 + np.exp(-(X @ model[0].W + model[0].b))), rtol=1e-15)


@pytest.mark.parametrize("base", [dn.Module, dn.Loss, dn.Sequential])
def test_a_class_keyword_no_base_takes_is_refused_as_python_refuses_it(base):
    with pytest.raises(TypeError, match="takes no keyword arguments"):
        type("Flavoured", (base,), {}, flavour="mint")


def test_the_simpler_way_below_a_block_that_takes_negated_input_gets_its_input_as_it_is():
    """A subclass of ``Sigmoid`` that plans the simpler way (``Module.plan`` over its own
    ``forward`` and ``backward``) inherits ``takes_negated_input``: at 2,048 elements and
    more the ``Dense`` before it writes minus its output, which its ``forward`` was given."""

    class Hard(dn.Sigmoid):
        def plan(self, buffers):
            return dn.Module.plan(self, buffers)

        def forward(self, X):
            self.X = np.asarray(X).copy()
            return np.clip(0.25 * X + 0.5, 0.0, 1.0)

        def backward(self, dY):
            return 0.25 * dY * (np.abs(self.X) < 2)

    for n in (4, 64):
        model = dn.Sequential(dn.Dense(64, 64), Hard(), seed=0)
        X = np.random.default_rng(0).standard_normal((n, 64))
        Z = X @ model[0].W + model[0].b
        assert_allclose(model.forward(X), np.clip(0.25 * Z + 0.5, 0.0, 1.0), rtol=1e-14, atol=1e-15)
        dY = np.ones((n, 64))
        assert_allclose(model.backward(dY), (0.25 * dY * (np.abs(Z) < 2)) @ model[0].W.T, rtol=1e-12)


class PlainDense(dn.Dense):
    """``Dense`` planned the simpler way: its parameters and declarations, its own passes."""

    plan = dn.Module.plan

    def forward(self, X):
        self.X = np.array(X, dtype=self.W.dtype)
        return self.X @ self.W + self.b

    def backward(self, dY):
        self.dW, self.db = self.X.T @ dY, dY.sum(axis=0)
        return dY @ self.W.T


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_simpler_way_below_dense_trains_where_sgd_folds_as_dense_does(momentum):
    """It inherits ``folds_descent``: where ``fit`` folds SGD into the products, its gradients
    reach the descent (they were left in ``grads``, and the weights never moved)."""
    from densenet.backend import GEMM_MIN_PRODUCT

    width = int(np.sqrt(GEMM_MIN_PRODUCT / 64)) + 8
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((128, width)), rng.standard_normal((128, width))
    ours = dn.Sequential(PlainDense(width, width), dn.Tanh(), PlainDense(width, width), seed=0)
    theirs = dn.Sequential(dn.Dense(width, width), dn.Tanh(), dn.Dense(width, width), seed=0)
    assert ours.train_step(dn.MSELoss(), dn.SGD(0.01, momentum=momentum), 64, y).folded
    before = ours.params.copy()
    for model in (ours, theirs):
        model.fit(X, y, optimizer=dn.SGD(0.01, momentum=momentum), epochs=2, batch_size=64, shuffle=False)
    assert not np.array_equal(ours.params, before)
    assert_allclose(ours.params, theirs.params, rtol=1e-10, atol=1e-12)


def test_the_simpler_way_below_dense_gets_sparse_rows_dense():
    from scipy import sparse

    X = sparse.random(20, 5, density=0.3, format="csr", random_state=0)
    model = dn.Sequential(PlainDense(5, 3), seed=0)
    assert_allclose(model.predict(X), X.toarray() @ model[0].W + model[0].b, rtol=1e-14)


# -- what a module's or loss's own plan returns ----------------------------------------------------


class Copy(dn.Module):
    """A pass-through module whose plan returns ``passes(b)``."""

    passes = staticmethod(lambda b: dn.Passes([partial(np.copyto, b.Y, b.X)],
                                              [partial(np.copyto, b.dX, b.dY)]))

    def plan(self, b):
        return type(self).passes(b)


@pytest.mark.parametrize("passes, match", [
    (lambda b: ([partial(np.copyto, b.Y, b.X)], [partial(np.copyto, b.dX, b.dY)]),
     r"Odd\(\)\.plan\(\) returned a tuple, not densenet\.Passes"),
    (lambda b: None, r"Odd\(\)\.plan\(\) returned None, not densenet\.Passes"),
    (lambda b: dn.Passes([np.copyto(b.Y, b.X)], []),
     r"Odd\(\)\.plan\(\): Passes\.forward\[0\] is None, not a call: .*partial\(np\.add, a, b, out\)"),
    (lambda b: dn.Passes([partial(np.copyto, b.Y, b.X)], [partial(np.copyto, b.dX, b.dY), 2]),
     r"Odd\(\)\.plan\(\): Passes\.backward\[1\] is 2, not a call"),
    (lambda b: dn.Passes([partial(np.copyto, b.Y, b.X)], [], input_grad="x"),
     r"Odd\(\)\.plan\(\): Passes\.input_grad\[0\] is 'x', not a call"),
    (lambda b: dn.Passes(partial(np.copyto, b.Y, b.X), []),
     r"Odd\(\)\.plan\(\): Passes\.forward must be a sequence of calls, got functools\.partial"),
])
def test_a_module_s_plan_that_gives_no_passes_of_calls_is_refused_by_name(passes, match):
    """Each failed unnamed (``'tuple' object has no attribute 'negated'``, ``'NoneType'
    object is not callable`` at the first pass), before any update: now refused by the
    module's name where it is planned, the model unchanged."""
    class Odd(Copy):
        pass

    Odd.passes = staticmethod(passes)
    model, (X, y) = dn.Sequential(dn.Dense(2, 3), Odd(), dn.Dense(3, 1), seed=0), regression(6)
    before = snapshot(model)
    with pytest.raises(TypeError, match=match):
        model.fit(X, y)
    with pytest.raises(TypeError, match=match):
        model.predict(X)
    assert_array_equal(model.params, before[0])


def test_a_module_s_passes_may_be_any_iterable_of_calls():
    """A generator, a tuple or a list: each is read once, when planned."""
    class Generated(dn.Module):
        def plan(self, b):
            return dn.Passes((call for call in [partial(np.copyto, b.Y, b.X)]),
                             (call for call in [partial(np.copyto, b.dX, b.dY)]))

    X, y = regression(6)
    models = [dn.Sequential(dn.Dense(2, 3), module, dn.Dense(3, 1), seed=0)
              for module in (Generated(), Copy())]
    for model in models:
        model.fit(X, y, epochs=3, batch_size=2, seed=0)
    assert_array_equal(models[0].params, models[1].params)
    assert not np.array_equal(models[0].params, mlp((2, 3, 1)).params)


class Scaled(dn.Module):
    """``Y = s X`` with one parameter ``s``, whose ``param_views`` is ``views(blocks)``."""

    views = staticmethod(lambda blocks: {"s": blocks[0]})

    def param_shapes(self):
        return ((1,),)

    def param_views(self, blocks):
        return type(self).views(blocks)

    def reset_parameters(self, rng):
        self.s = 1.5

    def forward(self, X):
        self.X = X
        return self.s * X

    def backward(self, dY):
        self.ds = np.array([np.sum(dY * self.X)])
        return self.s * dY


@pytest.mark.parametrize("views, error, match", [
    (lambda blocks: [blocks[0]], TypeError,
     r"Odd\(\)\.param_views\(\) must return a dict of names to views of the blocks it is given, got a list"),
    (lambda blocks: {"s": blocks[0].copy()}, ValueError,
     r"Odd\(\)\.param_views\(\)\['s'\] is not a view of the blocks it is given: a copy, which the model's "
     r"vector would never reach"),
    (lambda blocks: {"s": blocks[0].tolist()}, ValueError, r"\['s'\] is not a view of the blocks"),
    (lambda blocks: {1: blocks[0]}, TypeError, r"Odd\(\)\.param_views\(\) names a view 1, not a string"),
])
def test_parameter_views_that_are_not_views_are_refused_by_name(views, error, match):
    """A copy trained nothing without a word (the optimiser moved the model's vector, the
    module computed with its copy); a list failed in ``dict.update``: each is refused when
    the module is bound, in a model or on its own, by the module's name."""
    class Odd(Scaled):
        pass

    Odd.views = staticmethod(views)
    with pytest.raises(error, match=match):
        dn.Sequential(dn.Dense(2, 3), Odd(), dn.Dense(3, 1), seed=0)
    with pytest.raises(error, match=match):
        Odd().bind()


def test_a_module_with_parameter_views_trains_them():
    X, y = regression(12)
    model = dn.Sequential(dn.Dense(2, 3), Scaled(), dn.Dense(3, 1), seed=0)
    assert model[1].s[0] == 1.5
    model.fit(X, y, optimizer=dn.SGD(0.1), epochs=3, batch_size=4, seed=0)
    assert model[1].s[0] != 1.5
    assert model[1].s[0] == model.params[model[0].n_params]


@pytest.mark.parametrize("declared, error, match", [
    ({"outputs": "probability"}, ValueError,
     r"Odd\.outputs must be None or one of 'logits', 'probabilities', 'log-probabilities', 'inputs'; "
     r"got 'probability'"),
    ({"outputs": ("logits",)}, ValueError, r"Odd\.outputs must be None or one of .*; got \('logits',\)"),
])
def test_a_module_s_outputs_must_be_a_kind_fit_knows(declared, error, match):
    """A misspelt kind was never compared with a loss's, and the warning it stands for was
    never given: refused when the class is made."""
    with pytest.raises(error, match=match):
        type("Odd", (Copy,), declared)


@pytest.mark.parametrize("settable", ["p", ["p"], ("p", 1), ("not a name",)])
def test_a_module_s_settable_must_be_a_tuple_of_attribute_names(settable):
    """A lone string would be read letter by letter when a fit records the settings."""
    with pytest.raises(TypeError, match=r"^Odd\.settable must be a tuple of attribute names \(\('p',\), not "
                                        r"'p'\); got "):
        type("Odd", (Copy,), {"settable": settable})


def test_a_setting_a_module_declares_settable_is_replayed_as_it_ran():
    """A module of one's own whose ``scale`` a callback sets after each step: a diverging
    epoch's replay takes each step with the scale it ran with."""
    class Scale(dn.Module):
        settable = ("scale",)

        def __init__(self):
            self.scale = 1.0

        def forward(self, X):
            return X * self.scale

        def backward(self, dY):
            return dY * self.scale

    class Rescale(dn.Callback):
        def __init__(self, module, optimizer):
            self.module, self.optimizer, self.weights, self.scales = module, optimizer, [], []

        def on_batch_end(self, batch, logs=None):
            self.module.scale = 1.0 + 0.25 * (len(self.weights) % 3)
            self.optimizer.lr *= 1.2
            self.weights.append(self.model.params.copy())
            self.scales.append(self.module.scale)

    X, y = regression(64)
    scale, optimizer = Scale(), dn.SGD(0.01)
    model = dn.Sequential(dn.Dense(2, 8), scale, dn.ReLU(), dn.Dense(8, 1), seed=0)
    seen = Rescale(scale, optimizer)
    with pytest.raises(dn.DivergenceError) as caught:
        model.fit(X, y, optimizer=optimizer, epochs=100, batch_size=8, shuffle=False, callbacks=[seen])
    error = caught.value
    bad = error.epoch * 8 + error.batch
    assert not error.epoch_start
    assert error.batch
    assert np.array_equal(model.params, seen.weights[bad - 1])
    assert scale.scale == seen.scales[bad - 1]


def test_a_module_s_outputs_set_on_the_object_must_be_a_kind_fit_knows_too():
    """A module whose kind of outputs depends on its arguments sets ``outputs`` on the object:
    a kind ``fit`` knows is taken, another refused when the model is made."""
    class Chosen(Copy):
        def __init__(self, outputs):
            self.outputs = outputs

    with pytest.raises(ValueError, match=r"^Sequential: outputs of Chosen\(\) at index 1 must be None or "
                                         r"one of .*; got 'probability'$"):
        dn.Sequential(dn.Dense(2, 2), Chosen("probability"))
    X, y = regression(6)
    meant = (r"CrossEntropyLoss\(\) is meant for logits or log-probabilities, but the model ends in "
             r"Chosen\(\), whose outputs are probabilities")
    with pytest.warns(UserWarning, match=meant):
        dn.Sequential(dn.Dense(2, 2), Chosen("probabilities"), seed=0).fit(
            X, (y[:, 0] > 0).astype(int), loss=dn.CrossEntropyLoss(), epochs=1)


@pytest.mark.parametrize("takes, error, match", [
    ("probabilities", TypeError,
     r"Odd\.takes must be None or a tuple of kinds of outputs, such as \('probabilities',\); got "
     r"'probabilities'"),
    (("probabilty",), ValueError,
     r"Odd\.takes names 'probabilty', not one of 'logits', 'probabilities', 'log-probabilities'"),
    (("logits", None), ValueError, r"Odd\.takes names None, not one of"),
    ((), ValueError, r"Odd\.takes is empty: None says a loss takes any real numbers"),
])
def test_a_loss_s_takes_must_name_kinds_fit_knows(takes, error, match):
    """A string was read letter by letter (``meant for p or r or o or b...``) and a
    misspelt kind warned of every model: refused when the class is made."""
    with pytest.raises(error, match=match):
        type("Odd", (dn.MSELoss,), {"takes": takes})


def test_a_loss_s_takes_may_be_a_list_and_is_then_kept_as_a_tuple():
    Listed = type("Listed", (dn.MSELoss,), {"takes": ["probabilities"]})
    assert Listed.takes == ("probabilities",)
    X, y = regression(6)
    model = dn.Sequential(dn.Dense(2, 1), dn.Sigmoid(), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, (y > 0).astype(float), loss=Listed(), epochs=1)
    with pytest.warns(UserWarning, match=r"Listed\(\) is meant for probabilities"):
        dn.Sequential(dn.Dense(2, 1), seed=0).fit(X, y, loss=Listed(), epochs=1)


class PlannedMSE(dn.Loss):
    """The mean squared error with a plan whose ``value`` and ``rows`` are given."""

    value = staticmethod(lambda square: float(square.mean()))
    rows = staticmethod(lambda square: lambda out: np.mean(square, axis=1, out=out))

    def plan(self, y_pred, y_true, grad):
        difference, square = np.zeros_like(y_pred), np.zeros_like(y_pred)
        forward = [partial(np.subtract, y_pred, y_true, difference),
                   partial(np.multiply, difference, difference, square)]
        backward = [partial(np.multiply, difference, 2.0 / difference.size, grad)]
        kind = type(self)
        return dn.loss.LossPlan(forward, partial(kind.value, square), backward, kind.rows(square))


def test_a_planned_loss_of_one_s_own_trains_and_weighs_as_mse_does():
    X, y = regression(12)
    weight = np.linspace(0.5, 2.0, 12)
    models = [mlp((2, 3, 1), seed=1) for _ in range(2)]
    for model, loss in zip(models, (dn.MSELoss(), PlannedMSE())):
        model.fit(X, y, loss=loss, epochs=3, batch_size=4, seed=0, sample_weight=weight)
    assert_allclose(models[1].params, models[0].params, rtol=1e-13)
    assert PlannedMSE()(X[:, :1], y, np.ones(12)) == pytest.approx(dn.MSELoss()(X[:, :1], y), rel=1e-15)


@pytest.mark.parametrize("value", [
    lambda square: square.mean(axis=0), lambda square: "0.5", lambda square: None, lambda square: 1j,
])
def test_a_planned_loss_whose_value_is_no_real_number_is_refused_by_name(value):
    """Each failed unnamed in fit (``only 0-dimensional arrays can be converted``, ``must be
    real number, not str``), and ``evaluate`` and ``forward`` returned the array: refused by
    the loss's name, in ``fit`` before the first update."""
    class Odd(PlannedMSE):
        pass

    Odd.value = staticmethod(value)
    model, (X, y) = mlp((2, 3, 1)), regression(6)
    before = snapshot(model)
    match = r"Odd\(\)\.plan\(\)'s value\(\) gave .*, not a real number"
    with pytest.raises(TypeError, match=match):
        model.fit(X, y, loss=Odd(), epochs=2)
    with pytest.raises(TypeError, match=match):
        model.fit(X, y, loss=Odd(), epochs=2, optimizer=dn.LBFGS())
    with pytest.raises(TypeError, match=match):
        model.evaluate(X, y, loss=Odd())
    with pytest.raises(TypeError, match=match):
        Odd()(X[:, :1], y)
    with pytest.raises(TypeError, match=match):
        dn.gradcheck(model, X, y, loss=Odd())
    assert_array_equal(model.params, before[0])


def test_a_planned_loss_whose_rows_return_what_they_should_write_is_refused_by_name():
    """``rows(out)`` that returned each sample's loss rather than writing it left the
    weighted losses zero: the fit trained on nothing and reported a loss of 0."""
    class Returning(PlannedMSE):
        rows = staticmethod(lambda square: lambda out: square.mean(axis=1))

    model, (X, y) = mlp((2, 3, 1)), regression(6)
    before = snapshot(model)
    match = (r"Returning\(\)\.plan\(\)'s rows\(out\) returned an array .*: it must write each sample's loss "
             r"into out")
    with pytest.raises(TypeError, match=match):
        model.fit(X, y, loss=Returning(), sample_weight=np.ones(6))
    with pytest.raises(TypeError, match=match):
        model.evaluate(X, y, loss=Returning(), sample_weight=np.ones(6))
    assert_array_equal(model.params, before[0])
    # (one that returns ``out`` itself, as NumPy's functions with ``out=`` do, writes it)
    # (to rounding, as above: NumPy 1's sums round this mean otherwise than MSELoss's by 1 ulp)
    assert model.evaluate(X, y, loss=PlannedMSE(), sample_weight=np.ones(6)) == pytest.approx(
        model.evaluate(X, y), rel=1e-15)


@pytest.mark.parametrize("plan, match", [
    (lambda y_pred, y_true, grad: ([], lambda: 0.0, []), r"Odd\(\)\.plan\(\) returned a tuple, not "
                                                         r"densenet\.loss\.LossPlan"),
    (lambda y_pred, y_true, grad: None, r"Odd\(\)\.plan\(\) returned None, not densenet\.loss\.LossPlan"),
])
def test_a_loss_s_plan_that_gives_no_loss_plan_is_refused_by_name(plan, match):
    class Odd(dn.Loss):
        pass

    Odd.plan = staticmethod(plan)
    model, (X, y) = mlp((2, 3, 1)), regression(6)
    before = snapshot(model)
    for call in (partial(model.fit, X, y, loss=Odd()), partial(model.evaluate, X, y, loss=Odd()),
                 partial(model.fit, X, y, loss=Odd(), sample_weight=np.ones(6)),
                 partial(Odd(), X[:, :1], y), partial(dn.gradcheck, model, X, y, loss=Odd())):
        with pytest.raises(TypeError, match=match):
            call()
    assert_array_equal(model.params, before[0])


@pytest.mark.parametrize("given, shown", [(None, "None"), ("x", "'x'"), ([[1.0]] * 5, "a list")])
def test_a_forward_returning_no_array_says_what_it_returned(given, shown):
    class Odd(dn.Module):
        def forward(self, X):
            return given

    model = dn.Sequential(dn.Dense(2, 2), Odd(), seed=0)
    match = rf"Odd\(\)\.forward returned {shown}, not an array of shape \(5, 2\)"
    with pytest.raises(ValueError, match=match):
        model.predict(np.ones((5, 2)))


def ragged(array):
    """``array``'s rows as lists, the last cut to one value."""
    return [list(row) for row in array[:-1]] + [[1.0]]


@pytest.mark.parametrize("broken, error, words", [
    (lambda A: A.astype(complex), TypeError, "an array of complex128, not of real numbers"),
    (lambda A: A.astype(str), TypeError, r"an array of <U\d+, not of real numbers"),
    (lambda A: A.astype(object), TypeError, "an array of object, not of real numbers"),
    (ragged, ValueError, "a list that is not an array: its rows differ in length")])
@pytest.mark.parametrize("method", ["forward", "backward"])
def test_a_module_s_result_that_is_no_array_of_real_numbers_is_refused_by_name_and_trains_nothing(
        method, broken, error, words):
    """NumPy's own words, "Cannot cast array data from dtype('complex128') to
    dtype('float64')" or "setting an array element with a sequence. The requested array
    has an inhomogeneous shape", named neither the module nor the method; integers and
    booleans are real numbers, and go."""
    class Odd(dn.Module):
        def forward(self, X):
            return broken(X) if method == "forward" else X.copy()

        def backward(self, dY):
            return broken(dY) if method == "backward" else dY.copy()

    model, (X, y) = dn.Sequential(dn.Dense(2, 3), Odd(), dn.Dense(3, 1), seed=0), regression(6)
    before = snapshot(model)
    match = rf"^Odd\(\)\.{method} returned {words}"
    with pytest.raises(error, match=match):
        model.fit(X, y, batch_size=3)
    assert_array_equal(model.params, before[0])
    if method == "forward":
        with pytest.raises(error, match=match):
            model.predict(X)
    else:
        model.forward(X)
        with pytest.raises(error, match=match):
            model.backward(np.ones((6, 1)))


@pytest.mark.parametrize("kind", [bool, np.int64, np.float16])
def test_a_module_s_result_of_integers_or_booleans_is_taken_as_its_numbers(kind):
    class Rounded(dn.Module):
        def forward(self, X):
            return (X > 0).astype(kind)

        def backward(self, dY):
            return np.round(dY).astype(kind)

    model, X = dn.Sequential(dn.Dense(2, 3), Rounded(), dn.Dense(3, 1), seed=0), regression(6)[0]
    hidden = (X @ model[0].W + model[0].b > 0).astype(kind)
    assert_array_equal(model.predict(X), hidden @ model[2].W + model[2].b)
    model.forward(X)
    assert_array_equal(model.backward(np.full((6, 1), 2.0)),
                       np.round(2.0 * np.tile(model[2].W.T, (6, 1))).astype(kind) @ model[0].W.T)


@pytest.mark.parametrize("broken, error, words", [
    (lambda A: A.astype(complex), TypeError, "an array of complex128, not of real numbers"),
    (ragged, ValueError, "a list that is not an array: its rows differ in length")])
def test_a_loss_s_gradient_that_is_no_array_of_real_numbers_is_refused_by_name_and_trains_nothing(
        broken, error, words):
    class Odd(ForwardBackwardMSE):
        def backward(self):
            return broken(super().backward())

    model, (X, y) = mlp((2, 3, 2)), regression(6)
    y = np.hstack([y, y])
    before = snapshot(model)
    with pytest.raises(error, match=rf"^Odd\(\)\.backward returned {words}"):
        model.fit(X, y, loss=Odd(), batch_size=6)
    assert_array_equal(model.params, before[0])


def test_a_sequential_subclass_whose_init_does_not_call_sequential_s_is_told_so():
    """``class Net(dn.Sequential)`` whose ``__init__`` sets its own attributes and forgets
    ``super().__init__(...)`` failed at its first use with ``'Net' object has no attribute
    '_sgd'`` (or ``'dtype'``), words about densenet's insides."""
    class Net(dn.Sequential):
        def __init__(self):
            self.hidden = 8

    net = Net()
    X, y = regression(4)
    for use in (repr, partial(Net.fit, X=X, y=y), partial(Net.predict, X=X), lambda net: net.params):
        with pytest.raises(AttributeError, match=r"^Net has no \w+: its __init__ did not call "
                                                 r"super\(\)\.__init__\(\*modules\), Sequential's"):
            use(net)
    assert net.hidden == 8
    assert not hasattr(net, "width")
    model = mlp((2, 3, 1))
    with pytest.raises(AttributeError, match=r"^'Sequential' object has no attribute 'width'$"):
        _ = model.width
    assert copy.deepcopy(model).params.size == model.params.size


@pytest.mark.parametrize("name, value, error, match", [
    ("W", "x", TypeError, r"\.W must hold real numbers, got dtype <U1"),
    ("W", None, TypeError, r"\.W must hold real numbers, got dtype object"),
    ("b", 1 + 1j, TypeError, r"\.b must hold real numbers, got complex numbers"),
    ("W", 10**400, TypeError, r"\.W must hold real numbers, got dtype object"),
    ("W", np.nan, ValueError, r"\.W holds 1 non-finite value\(s\) \(NaN or inf\) as float32, the first at"),
    ("b", [1.0, np.inf], ValueError, r"\.b holds 1 non-finite value\(s\) .* the first at index \(1,\)"),
    ("W", 1e39, ValueError, r"\.W holds 1 non-finite value\(s\) \(NaN or inf\) as float32"),  # (cast: inf)
    ("dW", "x", TypeError, r"\.dW must hold real numbers"),
    ("running_mean", -np.inf, ValueError, r"BatchNorm1d\(num_features=2\)\.running_mean holds 1 non-finite"),
])
def test_a_view_attribute_takes_real_finite_numbers_and_names_what_it_does_not(name, value, error, match):
    """``layer.W = values`` went to NumPy's assignment: a string, None or an int beyond float's
    range raised NumPy's (or Python's ``OverflowError``) naming no module, a complex number
    lost its imaginary part with a warning, and a value beyond float32's range was written
    as inf with one."""
    model = dn.Sequential(dn.Dense(3, 2), dn.BatchNorm1d(2), dtype=np.float32, seed=0)
    before = model.params.copy(), model.grads.copy(), model.state.copy()
    module = model[1] if name == "running_mean" else model[0]
    with np.errstate(all="raise"), pytest.raises(error, match=match):
        setattr(module, name, value)
    assert_array_equal(model.params, before[0])
    assert_array_equal(model.grads, before[1])
    assert_array_equal(model.state, before[2])


def test_a_gradient_attribute_may_be_set_to_what_training_handles():
    """A gradient view takes non-finite values: a module of one's own may write its gradient
    so in its backward, and fit's divergence handling (not the assignment) answers them."""
    model = dn.Sequential(dn.Dense(3, 2), seed=0)
    model[0].dW = np.nan
    assert np.isnan(model[0].dW).all()
    model[0].db = [np.inf, 1.0]
    assert_array_equal(model[0].db, [np.inf, 1.0])


@pytest.mark.parametrize("make, name, value", [
    (lambda: dn.BatchNorm1d(4), "num_features", 5),
    (lambda: dn.LayerNorm(4), "normalized_shape", 3),
    (lambda: dn.PReLU(4), "num_parameters", 1),
])
def test_the_sizes_that_shape_a_module_s_parameters_are_fixed(make, name, value):
    """As ``Dense``'s ``in_features``: set after the module was made, such a size gave NumPy's
    errors at the next pass (a reshape, a product's dimensions), or, for ``PReLU``, a model
    that ran with one slope of its four."""
    model = dn.Sequential(dn.Dense(4, 4), make(), dn.Dense(4, 1), seed=0)
    X = np.random.default_rng(0).standard_normal((8, 4))
    before = model.predict(X)
    with pytest.raises(AttributeError):
        setattr(model[1], name, value)
    assert getattr(model[1], name) == 4
    assert_array_equal(model.predict(X), before)
