"""``WeightAveraging``: the weights (and running statistics) averaged over a fit's steps,
as PyTorch's ``AveragedModel`` updated after every step, put in the model at the end."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal, assert_array_max_ulp

import densenet as dn

from .conftest import allocation_peak


def network(seed=0, dtype=np.float64):
    """Dense layers with a BatchNorm1d between them (parameters and running statistics;
    after the activation, so that the first layer's bias counts)."""
    return dn.Sequential(dn.Dense(3, 8), dn.Tanh(), dn.BatchNorm1d(8), dn.Dense(8, 4), seed=seed, dtype=dtype)


def data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.integers(0, 4, n)


def fitted(model, callbacks=(), optimizer=None, epochs=25, **kwargs):
    X, y = data()
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.Adam(0.01) if optimizer is None else optimizer,
              epochs=epochs, batch_size=16, shuffle=False, callbacks=list(callbacks), **kwargs)
    return model


class _AfterEachStep:
    """Stands in for a scheduler in ``torch_fit``: ``step()`` after each optimiser step
    updates PyTorch's averaged model, from the step ``first`` on (0-based)."""

    def __init__(self, averaged, net, first=0):
        self.averaged, self.net, self.first, self.steps = averaged, net, first, 0

    def step(self):
        if self.steps >= self.first:
            self.averaged.update_parameters(self.net)
        self.steps += 1


@pytest.mark.parametrize("decay, start", [(0.9, 0), (None, 2), (0.0, 0)], ids=["ema", "swa", "last"])
def test_the_average_equals_pytorch_s_averaged_model(decay, start):
    """100 Adam steps; PyTorch's ``AveragedModel`` (``use_buffers=True``) updated after each
    step from epoch ``start`` on: the averaged parameters and running statistics to 1e-10."""
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from .torch_twin import torch_fit, torch_flat_params, torch_flat_state, torch_twin

    model = network()
    net = torch_twin(model)
    averaging = dn.WeightAveraging(decay, start=start)
    fitted(model, [averaging])
    kind = {} if decay is None else {"multi_avg_fn": get_ema_multi_avg_fn(decay)}
    theirs = AveragedModel(net, use_buffers=True, **kind)
    torch_fit(net, torch.optim.Adam(net.parameters(), lr=0.01), *data(), epochs=25, batch_size=16,
              loss=torch.nn.CrossEntropyLoss(), scheduler=_AfterEachStep(theirs, net, first=4 * start))
    assert averaging.count == 4 * (25 - start)
    assert_allclose(model.params, torch_flat_params(theirs.module), rtol=1e-10, atol=1e-12)
    assert_allclose(model.state, torch_flat_state(theirs.module), rtol=1e-10, atol=1e-12)
    # the average, not the last weights (but for a decay of 0, whose average is the last)
    assert np.allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-12) == (decay == 0.0)


def test_without_apply_the_model_ends_as_trained_and_the_average_is_kept():
    trained = fitted(network())
    averaging = dn.WeightAveraging(0.9, apply=False)
    model = fitted(network(), [averaging])
    assert_array_equal(model.params, trained.params)
    assert_array_equal(model.state, trained.state)
    applied = fitted(network(), [dn.WeightAveraging(0.9)])
    assert_array_equal(applied.params, averaging.average_params)
    assert_array_equal(applied.state, averaging.average_state)


def test_a_decay_of_zero_averages_to_the_last_weights():
    trained = fitted(network())
    averaged = fitted(network(), [dn.WeightAveraging(0.0)])
    assert_array_equal(averaged.params, trained.params)
    assert_array_equal(averaged.state, trained.state)


def test_the_plain_mean_is_the_mean_of_the_weights_after_each_step():
    seen = []

    class Record(dn.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(self.model.params.copy())

    averaging = dn.WeightAveraging(None, start=1)
    fitted(network(), [Record(), averaging], epochs=3)
    assert averaging.count == 8
    assert_allclose(averaging.average_params, np.mean(seen[4:], axis=0), rtol=1e-12, atol=1e-15)


def test_before_a_fit_there_is_no_average():
    averaging = dn.WeightAveraging()
    assert averaging.count == 0
    assert averaging.average_params is None
    assert averaging.average_state is None


def test_each_fit_starts_a_new_average():
    averaging = dn.WeightAveraging(0.5)
    model = fitted(network(), [averaging], epochs=2)
    first = averaging.average_params.copy()
    fitted(model, [averaging], epochs=1)
    assert averaging.count == 4
    assert not np.array_equal(averaging.average_params, first)
    late = dn.WeightAveraging(0.5, start=5)
    trained = fitted(network(), epochs=3)
    model = fitted(network(), [late], epochs=3)
    assert late.count == 0
    assert late.average_params is None
    assert_array_equal(model.params, trained.params)


def test_frozen_modules_stay_as_they_were():
    model = network().freeze(0, 2)
    before = model.params[:model[0].n_params + model[2].n_params].copy()
    fitted(model, [dn.WeightAveraging(0.9)], epochs=3)
    assert_array_equal(model.params[:before.size], before)


def test_float32_models_are_averaged_in_float32():
    averaging = dn.WeightAveraging(0.9)
    narrow = fitted(network(dtype=np.float32), [averaging], epochs=3)
    wide = fitted(network(), [dn.WeightAveraging(0.9)], epochs=3)
    assert averaging.average_params.dtype == np.float32 == narrow.params.dtype
    assert_allclose(narrow.params, wide.params, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("decay", [0.999, 0.9999, 0.99999, None])
def test_a_float32_average_of_equal_weights_is_those_weights(decay):
    """The decay and 1 - decay, each rounded to float32 apart, did not add up to 1, so the
    average of weights that no longer moved drifted to (1 - decay) / (1 - decay) rounded
    apart of them: after 100,000 steps 1.3e-5 off at 0.999, 1.6e-4 at 0.9999, 1.3e-3 at
    0.99999, and the plain mean 7.8e-4. Now 1 - decay is taken in float32 from the decay
    float32 holds."""
    model = dn.Sequential(dn.Dense(3, 16), dn.Tanh(), dn.Dense(16, 1), seed=0, dtype=np.float32)
    model.params[...] = np.random.default_rng(1).uniform(0.5, 2.0, model.params.size)
    averaging = dn.WeightAveraging(decay, apply=False)
    X, y = data()
    model.fit(X, y[:, None], optimizer=dn.SGD(0.0), epochs=1, batch_size=64, callbacks=[averaging])
    for _ in range(20000):  # (more steps of the weights as they are)
        averaging.on_batch_end(1)
    assert averaging.count == 20001
    assert_array_max_ulp(averaging.average_params, model.params, maxulp=1)


def test_it_goes_in_after_early_stopping_s_best_weights():
    X, y = data()
    stop = dn.EarlyStopping(monitor="loss", patience=2)
    averaging = dn.WeightAveraging(0.9)
    model = fitted(network(), [averaging, stop], epochs=5)
    assert_array_equal(model.params, averaging.average_params)


def test_a_diverging_fit_leaves_the_model_as_it_would_without_it():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((64, 3)), rng.standard_normal((64, 4))
    ends = []
    for callbacks in ([], [dn.WeightAveraging(0.9)]):
        model = network()
        with pytest.raises(dn.DivergenceError, match="epoch 1, batch 3"):  # (after seven steps)
            model.fit(X, Y, optimizer=dn.SGD(3.0), epochs=5, batch_size=16, shuffle=False,
                      callbacks=callbacks)
        ends.append((model.params.copy(), model.state.copy()))
    assert_array_equal(ends[0][0], ends[1][0])
    assert_array_equal(ends[0][1], ends[1][1])


def test_a_step_s_averaging_allocates_nothing():
    averaging = dn.WeightAveraging(0.9)
    model = fitted(network(), [averaging], epochs=1)
    averaging.set_model(model)
    assert allocation_peak(lambda: averaging.on_batch_end(0)) < 1024


def test_the_averaging_survives_a_pickle_and_a_copy():
    averaging = dn.WeightAveraging(None, start=1)
    model = fitted(network(), [averaging], epochs=3)
    for other in (copy.deepcopy(averaging), pickle.loads(pickle.dumps(averaging))):
        assert repr(other) == "WeightAveraging(decay=None, start=1)"
        assert other.count == 8
        assert_array_equal(other.average_params, model.params)
        fitted(network(), [other], epochs=3)
        assert_array_equal(other.average_params, model.params)



class _Interrupt(dn.Callback):
    """A Ctrl-C at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("decay, start", [(0.9, 0), (None, 2), (None, 5)], ids=["ema", "swa", "swa-later"])
@pytest.mark.parametrize("checkpoint_first", [True, False], ids=["checkpoint-first", "averaging-first"])
def test_a_fit_resumed_from_its_checkpoint_goes_on_with_its_average(tmp_path, decay, start, checkpoint_first):
    """The average (and the epochs counted towards ``start``) saved beside the optimiser's
    state: a run stopped after 3 of 7 epochs and resumed from its file ends as the whole
    run, bit for bit, whichever callback comes first."""
    averaging = dn.WeightAveraging(decay, start=start)
    whole = fitted(network(), [averaging], epochs=7)
    stopping, adam = dn.WeightAveraging(decay, start=start), dn.Adam(0.01)
    checkpoint = dn.ModelCheckpoint(tmp_path / "run.npz", monitor="loss", schedules=[stopping])
    listed = [checkpoint, stopping] if checkpoint_first else [stopping, checkpoint]
    with pytest.raises(KeyboardInterrupt):
        fitted(network(), [*listed, _Interrupt(3)], optimizer=adam, epochs=7)
    adam, again = dn.Adam(0.01), dn.WeightAveraging(decay, start=start)
    resumed = dn.load(tmp_path / "run.npz", optimizer=adam, schedules=[again])
    assert again.count == 4 * max(0, 3 - start)
    assert checkpoint.epoch == 3
    fitted(resumed, [again], optimizer=adam, epochs=4)
    assert again.count == averaging.count == 4 * (7 - start)
    assert_array_equal(again.average_params, averaging.average_params)
    assert_array_equal(resumed.params, whole.params)
    assert_array_equal(resumed.state, whole.state)


def test_a_resumed_average_from_joblibs_read_only_memory_maps_goes_on(tmp_path):
    """An average loaded to be resumed, then handed to a joblib worker (whose large arrays
    arrive as read-only memory maps), goes on there as it would here."""
    joblib = pytest.importorskip("joblib")
    averaging = dn.WeightAveraging(0.5)
    model = fitted(network(), [averaging], epochs=2)
    resumed = dn.WeightAveraging(0.5)
    resumed.load_state_dict(averaging.state_dict())
    joblib.dump(resumed, tmp_path / "averaging.joblib")
    mapped = joblib.load(tmp_path / "averaging.joblib", mmap_mode="r")
    fitted(model.clone(), [resumed], epochs=1)
    fitted(model.clone(), [mapped], epochs=1)
    assert mapped.count == resumed.count == 12
    assert_array_equal(mapped.average_params, resumed.average_params)
    assert_array_equal(mapped.average_state, resumed.average_state)


def test_a_loaded_average_serves_one_fit_and_the_next_starts_anew():
    averaging = dn.WeightAveraging(0.5)
    model = fitted(network(), [averaging], epochs=2)
    again = dn.WeightAveraging(0.5)
    again.load_state_dict(averaging.state_dict())
    assert again.count == 8
    assert again.average_params is not averaging.average_params
    assert_array_equal(again.average_params, averaging.average_params)
    fitted(model.clone(), [again], epochs=1)
    assert again.count == 12
    fitted(model.clone(), [again], epochs=1)
    assert again.count == 4


def test_a_loaded_state_is_the_callback_s_own_and_one_of_no_steps_drops_an_average():
    averaging = dn.WeightAveraging(0.5)
    fitted(network(), [averaging], epochs=1)
    state = averaging.state_dict()
    again = dn.WeightAveraging(0.5)
    again.load_state_dict(state)
    state["average_params"][0] += 1.0
    assert again.average_params[0] == averaging.average_params[0]
    again.load_state_dict({"count": 0, "epochs": 2})
    assert again.average_params is None
    assert again.state_dict() == {"count": 0, "epochs": 2}


def test_a_callback_pickled_before_averages_were_resumed_starts_each_fit_anew():
    averaging = dn.WeightAveraging(0.5)
    model = fitted(network(), [averaging], epochs=1)
    old = averaging.__dict__.copy()
    del old["_epochs"]  # (what such a pickle holds: no epochs counted, nothing loaded)
    old.pop("_resumed", None)
    old["_epoch"] = 1
    unpickled = dn.WeightAveraging.__new__(dn.WeightAveraging)
    unpickled.__dict__.update(old)
    assert unpickled.state_dict()["epochs"] == 0
    fitted(model, [unpickled], epochs=1)
    assert unpickled.count == 4


def test_a_file_whose_schedule_state_is_not_one_is_refused_by_name(tmp_path):
    from densenet import io

    model = network()
    config = {**model.config(), "schedules": [{"type": "WeightAveraging", "state": None}]}
    io.write(tmp_path / "bad.npz", config, model.params,
             {"state": model.state, "schedules.0.average_params": model.params})
    with pytest.raises(ValueError, match=r"invalid schedule state: WeightAveraging: a state must hold"):
        dn.load(tmp_path / "bad.npz", schedules=[dn.WeightAveraging()])


def test_a_loaded_average_waits_for_a_fit_that_trains(tmp_path):
    """A fit refused before its first step (here another callback's ``on_train_begin``)
    leaves the loaded average for the next one."""
    averaging = dn.WeightAveraging(0.5)
    model = fitted(network(), [averaging], epochs=2)
    again = dn.WeightAveraging(0.5)
    again.load_state_dict(averaging.state_dict())
    with pytest.raises(FileNotFoundError):
        fitted(model, [again, dn.ModelCheckpoint(tmp_path / "missing" / "run.npz", monitor="loss")], epochs=1)
    fitted(model, [again], epochs=1)
    assert again.count == 12


def test_the_state_holds_the_average_and_what_was_counted():
    averaging = dn.WeightAveraging(None, start=1)
    assert averaging.state_dict() == {"count": 0, "epochs": 0}
    model = fitted(network(), [averaging], epochs=3)
    state = averaging.state_dict()
    assert sorted(state) == ["average_params", "average_state", "count", "epochs"]
    assert state["count"] == 8
    assert state["epochs"] == 3
    assert_array_equal(state["average_params"], model.params)
    assert_array_equal(state["average_state"], model.state)
    state["average_params"][0] += 1.0  # (a copy: the callback's average is its own)
    assert averaging.average_params[0] == model.params[0]


def test_a_loaded_average_of_another_model_is_refused_before_any_step():
    averaging = dn.WeightAveraging(0.9)
    fitted(network(), [averaging], epochs=1)
    other = dn.Sequential(dn.Dense(3, 4), seed=0)
    again = dn.WeightAveraging(0.9)
    again.load_state_dict(averaging.state_dict())
    before = other.params.copy()
    refused = (r"WeightAveraging: the average given by load_state_dict holds 84 float64 parameters and 16 "
               r"state values, not this model's 16 and 0")
    with pytest.raises(ValueError, match=refused):
        fitted(other, [again], epochs=1)
    assert_array_equal(other.params, before)
    narrow = network(dtype=np.float32)
    with pytest.raises(ValueError, match=r"84 float64 parameters .* not this model's 84 and 16 float32"):
        fitted(narrow, [again], epochs=1)
    fitted(network(), [again], epochs=1)  # (kept for a fit it fits)
    assert again.count == 8


@pytest.mark.parametrize("state, error, match", [
    ({"count": 1, "epochs": 1}, ValueError, r"a state of 1 steps averaged needs average_params and"),
    ({"count": 0}, ValueError, r"a state must hold count, epochs"),
    ({"count": -1, "epochs": 0}, ValueError, r"WeightAveraging count must be an integer >= 0, got -1"),
    ({"count": 0, "epochs": 1.5}, TypeError, r"WeightAveraging epochs must be an integer >= 0, got 1.5"),
    ({"count": 1, "epochs": 1, "average_params": np.zeros((2, 2)), "average_state": np.zeros(0)},
     ValueError, r"average_params must be a 1-D vector of floats, got float64 \(2, 2\)"),
    ({"count": 1, "epochs": 1, "average_params": np.zeros(3), "average_state": np.zeros(1, np.float32)},
     ValueError, r"average_state must be a 1-D float64 vector, got float32 \(1,\)"),
    ({"count": 1, "epochs": 1, "average_params": np.zeros(3, int), "average_state": np.zeros(0, int)},
     ValueError, r"average_params must be a 1-D vector of floats, got int64 \(3,\)"),
    ({"count": 0, "epochs": 0, "average_params": np.zeros(3), "average_state": np.zeros(0)},
     ValueError, r"a state of no steps averaged holds no average"),
    ([1, 2], ValueError, r"a state must hold"),
])
def test_a_bad_state_is_refused_and_changes_nothing(state, error, match):
    averaging = dn.WeightAveraging(0.9)
    fitted(network(), [averaging], epochs=1)
    kept = averaging.state_dict()
    with pytest.raises(error, match=match):
        averaging.load_state_dict(state)
    assert averaging.count == kept["count"] == 4
    assert_array_equal(averaging.average_params, kept["average_params"])


def test_a_file_saved_before_any_step_was_averaged_resumes_the_epoch_count(tmp_path):
    averaging = dn.WeightAveraging(0.9, start=3)
    model, adam = network(), dn.Adam(0.01)
    fitted(model, [averaging], optimizer=adam, epochs=2)
    model.save(tmp_path / "early.npz", optimizer=adam, schedules=[averaging])
    again = dn.WeightAveraging(0.9, start=3)
    dn.load(tmp_path / "early.npz", schedules=[again])
    assert again.state_dict() == {"count": 0, "epochs": 2}
    fitted(network(), [again], epochs=2)
    assert again.count == 4  # (the fourth epoch is the first averaged)

def test_lbfgs_is_refused_before_any_change():
    model = network(seed=1)
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"WeightAveraging averages the weights after each step; LBFGS"):
        fitted(model, [dn.WeightAveraging()], optimizer=dn.LBFGS())
    assert_array_equal(model.params, before)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(decay=1.0), ValueError, r"WeightAveraging: invalid decay 1.0; it must lie in \[0, 1\)"),
    (dict(decay=-0.1), ValueError, r"invalid decay -0.1"),
    (dict(decay=float("nan")), ValueError, r"invalid decay nan"),
    (dict(decay="0.9"), TypeError, r"decay must be a real number"),
    (dict(start=-1), ValueError, r"start must be an epoch, an integer >= 0, got -1"),
    (dict(start=1.5), TypeError, r"start must be an epoch, an integer >= 0, got 1.5"),
    (dict(start=True), TypeError, r"got True"),
    (dict(apply="yes"), TypeError, r"apply"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        dn.WeightAveraging(**kwargs)


def test_repr():
    assert repr(dn.WeightAveraging()) == "WeightAveraging(decay=0.999)"
    assert (repr(dn.WeightAveraging(0.9, start=3, apply=False))
            == "WeightAveraging(decay=0.9, start=3, apply=False)")
