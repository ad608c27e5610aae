"""Copies of a model (deepcopy, pickle, joblib, clone) are whole models: they train
exactly like the original, and apart from it."""

from __future__ import annotations

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densenet as dn


def model_of_every_module(dtype):
    """Every module type; Dense followed by an activation and by Dense (both ones-column
    paths at batch size 1)."""
    return dn.Sequential(dn.Dense(3, 5), dn.Sigmoid(), dn.Dense(5, 4), dn.ReLU(), dn.Dense(4, 4), dn.Tanh(),
                         dn.Dense(4, 4), dn.Dense(4, 2), dn.Softmax(), dtype=dtype, seed=0)


def model_with_state(dtype):
    """Running statistics in the model's state vector and a generator for masks (a training
    batch of a BatchNorm1d needs two rows: the fits of such a model take batches of 5)."""
    return dn.Sequential(dn.Dense(3, 5), dn.BatchNorm1d(5), dn.Sigmoid(), dn.Dropout(0.2), dn.Dense(5, 2),
                         dtype=dtype, seed=0)


MODELS = {"every kind of layer": model_of_every_module, "with state": model_with_state}


def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((13, 3)), rng.uniform(size=(13, 2))


def by_pickle(model):
    return pickle.loads(pickle.dumps(model))


def by_joblib(model, tmp_path=None):
    joblib = pytest.importorskip("joblib")
    import io

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


COPIES = {"deepcopy": copy.deepcopy, "pickle": by_pickle, "joblib": by_joblib,
          "clone": lambda m: m.clone()}


def assert_views_into(model):
    """Every parameter, gradient and state view of every module (its blocks and the named
    attributes users see: ``W``, ``dW``, ``running_mean``...) lies in the model's own buffers."""
    for module in model:
        params, grads = module.blocks()
        state = module.state_blocks()
        for views, vector in ((params, model.params), (grads, model.grads), (state, model.state)):
            for view in views:
                assert np.shares_memory(view, vector)
        for name in module.param_views(params):
            assert np.shares_memory(getattr(module, name), model.params)
            assert np.shares_memory(getattr(module, "d" + name), model.grads)
        for name in module.state_views(state):
            assert np.shares_memory(getattr(module, name), model.state)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("how", list(COPIES))
def test_a_copy_trains_bit_identically_to_the_original_and_apart_from_it(how, dtype):
    X, y = data()
    model = model_of_every_module(dtype)
    model.fit(X, y, epochs=1, batch_size=4)  # plans, a snapshot buffer and a generator state
    model.forward(X[:2])
    twin = COPIES[how](model)

    assert twin is not model
    assert twin.dtype == model.dtype
    assert_views_into(twin)
    assert not np.shares_memory(twin.params, model.params)
    assert not np.shares_memory(twin.grads, model.grads)
    assert_array_equal(twin.params, model.params)
    assert repr(twin) == repr(model)

    before = model.params.copy()
    for batch_size in (1, 4):
        twin.fit(X, y, optimizer=dn.SGD(0.5), epochs=2, batch_size=batch_size)
    assert_array_equal(model.params, before)  # training the copy leaves the original alone
    assert not np.array_equal(twin.params, before)  # and the copy did train
    for batch_size in (1, 4):
        model.fit(X, y, optimizer=dn.SGD(0.5), epochs=2, batch_size=batch_size)
    assert_array_equal(twin.params, model.params)
    assert_array_equal(twin.predict(X), model.predict(X))
    assert twin.rng.bit_generator.state == model.rng.bit_generator.state


@pytest.mark.parametrize("how", list(COPIES))
def test_a_trained_copy_saves_and_reloads_what_it_predicts(how, tmp_path):
    X, y = data()
    twin = COPIES[how](model_of_every_module(np.float64))
    twin.fit(X, y, epochs=3, batch_size=2)
    twin.save(tmp_path / "twin.npz")
    assert_array_equal(dn.load(tmp_path / "twin.npz").predict(X), twin.predict(X))


@pytest.mark.parametrize("kind", MODELS)
def test_joblib_memory_maps_become_writeable_parameters(kind, tmp_path):
    """joblib hands large arrays to workers as read-only memory maps."""
    joblib = pytest.importorskip("joblib")
    X, y = data()
    model = MODELS[kind](np.float64)
    model.fit(X, y, epochs=1, batch_size=5)  # the state moves off its start
    joblib.dump(model, tmp_path / "m.joblib")
    twin = joblib.load(tmp_path / "m.joblib", mmap_mode="r")
    for vector in (twin.params, twin.state):
        assert vector.flags.writeable
        assert vector.flags.owndata
    twin.fit(X, y, epochs=2, batch_size=5, seed=0)
    model.fit(X, y, epochs=2, batch_size=5, seed=0)
    assert_array_equal(twin.params, model.params)
    assert_array_equal(twin.state, model.state)


def _train_in_a_worker(model, X, y):
    model.fit(X, y, epochs=3, batch_size=5, seed=0)
    return model


@pytest.mark.parametrize("kind", MODELS)
def test_models_trained_in_joblib_worker_processes_come_back_trained(kind):
    joblib = pytest.importorskip("joblib")
    X, y = data()
    models = [MODELS[kind](np.float64) for _ in range(2)]
    back = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_train_in_a_worker)(m, X, y) for m in models)
    for model, trained in zip(models, back):
        _train_in_a_worker(model, X, y)
        assert_array_equal(trained.params, model.params)
        assert_array_equal(trained.state, model.state)
        assert_views_into(trained)


def test_clone_to_another_dtype_keeps_the_values_and_the_generator():
    model = model_of_every_module(np.float32)
    twin = model.clone(dtype=np.float64)
    assert twin.dtype == np.float64
    assert twin.params.dtype == np.float64
    assert_array_equal(twin.params, model.params.astype(np.float64))
    assert twin.rng.bit_generator.state == model.rng.bit_generator.state
    assert_views_into(twin)


@pytest.mark.parametrize("module, name, value", [(0, "W", 1e39), (0, "b", -4e38), (1, "running_var", 1e300)])
def test_a_clone_into_a_dtype_that_cannot_hold_a_value_is_refused_by_name(module, name, value):
    model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3), dn.Tanh(), dn.Dense(3, 1),
                          dtype=np.float64, seed=0)
    getattr(model[module], name).flat[1] = value
    kept = model.params.copy(), model.state.copy()
    match = (rf"clone\(dtype=float32\): {name}\[.*\] of .*\(module {module}\) is {re.escape(f'{value:g}')}, "
             "beyond float32's range")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (refused, not warned of: its copy would be inf)
        with pytest.raises(ValueError, match=match):
            model.clone(np.float32)
    assert_array_equal(model.params, kept[0])
    assert_array_equal(model.state, kept[1])


class Unnamed(dn.Module):
    """``Y = X + c``, its one parameter ``c`` in no named view."""

    def param_shapes(self):
        return ((1,),)

    def forward(self, X):
        return X + self.flat_params[0]

    def backward(self, dY):
        self.flat_grads[0] = dY.sum()
        return dY


def test_a_value_of_a_module_that_names_no_views_is_refused_by_its_place():
    model = dn.Sequential(dn.Dense(2, 1), Unnamed(), dtype=np.float64, seed=0)
    model[1].flat_params[0] = 1e40
    with pytest.raises(ValueError, match=r"clone\(dtype=float32\): parameters\[0\] of Unnamed\(\) \(mod"):
        model.clone(np.float32)


def test_a_clone_keeps_the_largest_value_its_dtype_holds_and_what_was_not_finite():
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), dtype=np.float64, seed=0)
    largest = float(np.finfo(np.float32).max)
    model[0].W[0, 0], model[0].W[0, 1], model[2].b[0] = -largest, largest * (1 + 2.0**-25), np.nan
    twin = model.clone(np.float32)
    assert_array_equal(twin.params, model.params.astype(np.float32))
    assert twin[0].W[0, 1] == largest  # (rounded to it: within half a unit of the largest)
    assert np.isnan(twin[2].b[0])


def test_a_shallow_copy_is_refused():
    model = model_of_every_module(np.float64)
    with pytest.raises(TypeError, match=r"copy\.copy\(model\): a shallow copy would share"):
        copy.copy(model)
    with pytest.raises(TypeError, match="a shallow copy would share its parameters"):
        copy.copy(model[0])


def test_a_module_copied_out_of_a_model_is_its_own_and_can_join_another():
    model = model_of_every_module(np.float64)
    layer = copy.deepcopy(model[0])
    assert not layer.in_model
    assert not np.shares_memory(layer.W, model.params)
    assert_array_equal(layer.W, model[0].W)
    X = np.random.default_rng(0).standard_normal((4, 3))
    assert_array_equal(layer.forward(X), model[0].forward(X))
    layer.W[...] = 0  # the original is untouched
    assert model[0].W.any()
    other = dn.Sequential(layer, dn.Sigmoid(), seed=1)
    assert np.shares_memory(other[0].W, other.params)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_standalone_modules_copy_with_their_parameters(how):
    layer = dn.Dense(2, 3)
    layer.reset_parameters(np.random.default_rng(0))
    X = np.ones((4, 2))
    layer.forward(X)
    twin = COPIES[how](layer)
    assert_array_equal(twin.forward(X), layer.forward(X))
    twin.backward(np.ones((4, 3)))
    assert np.shares_memory(twin.dW, twin.flat_grads)
    assert twin.dW.any()
    assert not layer.dW.any()  # the original's gradients untouched


def test_optimizers_and_losses_copy_without_their_caches():
    model = model_of_every_module(np.float64)
    sgd, loss = dn.SGD(0.3), dn.MSELoss()
    X, y = data()
    model.fit(X, y, optimizer=sgd, loss=loss, epochs=1)
    for thing in (sgd, loss):
        assert len(pickle.dumps(thing)) < 400  # no arrays of the model travel with them
    twin_sgd = pickle.loads(pickle.dumps(sgd))
    twin = model.clone()
    twin.fit(X, y, optimizer=twin_sgd, epochs=1, seed=0)
    model.fit(X, y, optimizer=sgd, epochs=1, seed=0)
    assert_array_equal(twin.params, model.params)


def test_a_pickled_optimiser_carries_its_state_once():
    """Its state vectors travel with it; the spare copy ``fit`` keeps to undo a diverging
    epoch (``Optimizer.snapshot``) does not (nor does it in a deep copy: the same path)."""
    model = dn.Sequential(dn.Dense(3, 100), dn.Tanh(), dn.Dense(100, 2), seed=0)  # 602 parameters
    adam = dn.Adam()
    X, y = data()
    model.fit(X, y, optimizer=adam, epochs=2)
    state = sum(v.nbytes for k, v in adam.state_dict().items() if k != "steps")  # 9,632 bytes
    assert state <= len(pickle.dumps(adam)) < state + 2_000


def test_a_model_pickled_before_there_was_state_unpickles_and_trains():
    """Modules pickled before the state vector existed hold their params and grads alone:
    they unpickle with an empty state and train as before."""
    model = dn.Sequential(dn.Dense(3, 4), dn.Tanh(), dn.Dense(4, 2), seed=0)
    state = copy.deepcopy(model.__getstate__())
    modules = []
    for module in state["modules"]:
        old = module.__getstate__()
        old["_flat"] = old["_flat"][:2]  # what such a pickle holds: (params, grads)
        modules.append(type(module).__new__(type(module)))
        modules[-1].__setstate__(old)
    state["modules"] = tuple(modules)
    older = dn.Sequential.__new__(dn.Sequential)
    older.__setstate__(state)
    assert older.state.shape == (0,)
    X, y = np.ones((4, 3)), np.zeros((4, 2))
    model.fit(X, y, epochs=2)
    older.fit(X, y, epochs=2)
    assert_array_equal(older.params, model.params)


@pytest.mark.parametrize("make, size", [(lambda: dn.BatchNorm1d(4), "num_features"),
                                         (lambda: dn.LayerNorm(4), "normalized_shape"),
                                         (lambda: dn.PReLU(4), "num_parameters")])
def test_a_module_pickled_when_its_size_was_a_plain_attribute_unpickles_with_it(make, size):
    """Such a pickle holds ``num_features`` where the module now keeps ``_num_features``
    behind a read-only property: it unpickles to the same module."""
    model = dn.Sequential(dn.Dense(3, 4), make(), seed=0)
    old = model[1].__getstate__()
    old[size] = old.pop(f"_{size}")  # what such a pickle holds
    module = type(model[1]).__new__(type(model[1]))
    module.__setstate__(old)
    assert getattr(module, size) == 4
    assert f"_{size}" in vars(module)
    assert size not in vars(module)
    X = np.random.default_rng(0).standard_normal((5, 3))
    twin = dn.Sequential(dn.Dense(3, 4), module, seed=0)
    twin.params[...] = model.params
    assert_array_equal(twin.predict(X), model.predict(X))


def diverging_fit(refused=False):
    """Fit until ``DivergenceError``: weights that overflow (``refused``: a loss given
    outputs it does not take, the loss's ``ValueError`` the error's cause)."""
    if refused:
        model = dn.Sequential(dn.Dense(2, 1), seed=0)
        model[0].b[...] = 5.0  # outputs outside BCELoss's [0, 1]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "fit: BCELoss.. is meant for probabilities")
            return model.fit(np.zeros((4, 2)), np.ones((4, 1)), loss=dn.BCELoss(), epochs=1)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    return model.fit([[1.0], [3.0], [2.0]], [[0.0], [1.0], [0.5]], optimizer=dn.SGD(lr=3.0, momentum=0.9),
              epochs=1000, batch_size=1, shuffle=False)


def raised(work, *args):
    with pytest.raises(Exception) as caught:
        work(*args)
    return caught.value


@pytest.mark.parametrize("refused", [False, True], ids=["overflow", "refused outputs"])
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_divergence_error_copies_and_pickles_whole(how, refused):
    """A fit in a worker process that diverges sends its error back pickled: the copy is
    the same error, with the same message, place, history and cause."""
    error = raised(diverging_fit, refused)
    assert isinstance(error, dn.DivergenceError)
    assert error.epoch > 0 if not refused else "outputs it does not take" in str(error)
    error.fold = 3  # (what a caller adds travels too: attributes, add_note's notes)
    twin = copy.deepcopy(error) if how == "deepcopy" else pickle.loads(pickle.dumps(error))
    assert type(twin) is dn.DivergenceError
    assert str(twin) == str(error)
    assert (twin.epoch, twin.batch) == (error.epoch, error.batch)
    assert_array_equal(twin.history.loss, error.history.loss)
    assert twin.history.epochs == error.history.epochs
    assert twin.fold == 3
    if refused:
        assert type(twin.__cause__) is ValueError
        assert str(twin.__cause__) == str(error.__cause__)
    else:
        assert twin.__cause__ is None


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_gradcheck_error_copies_and_pickles_whole(how):
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    report = dn.gradcheck(model, dn.tutorial.X, dn.tutorial.y)
    error = dn.GradcheckError(report)
    twin = copy.deepcopy(error) if how == "deepcopy" else pickle.loads(pickle.dumps(error))
    assert type(twin) is dn.GradcheckError
    assert str(twin) == str(error)
    assert [c.name for c in twin.report.checks] == [c.name for c in report.checks]
    for ours, theirs in zip(twin.report.checks, report.checks):
        assert_array_equal(ours.analytic, theirs.analytic)
        assert_array_equal(ours.numeric, theirs.numeric)


def test_a_fit_that_diverges_in_a_joblib_worker_raises_its_divergence_error():
    """Not a broken process pool: the parent gets the worker's error, place and history."""
    joblib = pytest.importorskip("joblib")
    expected = raised(diverging_fit)
    with pytest.raises(dn.DivergenceError) as caught:
        joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(diverging_fit)() for _ in range(2))
    assert str(caught.value) == str(expected)
    assert (caught.value.epoch, caught.value.batch) == (expected.epoch, expected.batch)
    assert_array_equal(caught.value.history.loss, expected.history.loss)


class Net(dn.Sequential):
    """A model made as a subclass, PyTorch's way: its own attributes, one of them a module."""

    def __init__(self, hidden=4, seed=0):
        super().__init__(dn.Dense(2, hidden), dn.ReLU(), dn.Dense(hidden, 1), seed=seed)
        self.hidden, self._note, self.head = hidden, "mine", self[2]


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "clone", "clone-float32"])
def test_a_subclass_s_copy_keeps_its_class_and_its_own_attributes(how):
    """Its attributes were dropped from copies and pickles (``__getstate__`` kept the model's
    own alone): ``copy.deepcopy(net).hidden`` raised ``AttributeError``."""
    net = Net(hidden=5)
    twin = {"deepcopy": copy.deepcopy, "pickle": lambda m: pickle.loads(pickle.dumps(m)),
            "clone": lambda m: m.clone(), "clone-float32": lambda m: m.clone(np.float32)}[how](net)
    assert type(twin) is Net
    assert (twin.hidden, twin._note) == (5, "mine")
    assert twin.head is twin[2]
    assert twin.head is not net.head
    assert repr(twin).startswith("Net(\n")
    assert_array_equal(twin.params, net.params.astype(twin.dtype))


def test_a_model_holds_no_attribute_a_copy_would_take_for_a_subclass_s():
    """A copy carries every attribute but those ``Sequential`` makes itself (rebuilt by
    ``__setstate__``): one it sets and that list does not name would be copied, its arrays
    and plans with it."""
    from densenet.model import OWN_ATTRIBUTES

    X, y = np.ones((4, 2)), np.ones((4, 1))
    model = dn.Sequential(dn.Dense(2, 3), dn.Dropout(0.1), dn.Dense(3, 1), seed=0)
    model.fit(X, y, epochs=2, batch_size=2, validation_data=(X, y), metrics=["mae"])
    model.predict(X), model.evaluate(X, y), model.forward(X), model.backward(np.ones((4, 1)))
    model.freeze(0).eval().train()
    assert set(vars(model)) <= OWN_ATTRIBUTES
    assert set(vars(copy.deepcopy(model))) <= OWN_ATTRIBUTES


def test_a_subclass_that_redefines_the_passes_is_refused_when_it_is_made():
    """``fit``, ``predict`` and ``evaluate`` run the modules' plans, not ``forward``: a
    subclass's own ``forward`` (a skip connection, PyTorch's way) was used when called and
    ignored by the rest."""
    for name in ("forward", "backward"):
        with pytest.raises(TypeError, match=rf"^Skip redefines {name}\(\), which fit, predict and evaluate "
                                            r"do not call \(they run the modules' plans\)"):
            type("Skip", (dn.Sequential,), {name: lambda self, X: X})
        with pytest.raises(TypeError, match=rf"^Skip redefines {name}\(\)"):
            type("Skip", (type("Mixin", (), {name: lambda self, X: X}), dn.Sequential), {})
