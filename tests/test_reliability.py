"""Behaviour users meet rarely but must be able to trust."""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import pickle
import re
import stat
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet import backend, plan

from .conftest import NaNOnce, mlp


def linear(w=0.0, b=0.0):
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    model.params[...] = [w, b]
    return model


def test_a_weight_overflowing_mid_epoch_with_a_finite_loss_is_divergence_at_that_batch():
    # batch 0 is ordinary; at batch 1 the loss is 1e308 (finite) but its gradient,
    # -2e308, overflows: the weights would become -inf
    X = np.array([[1.0], [1e154], [2.0]])
    y = np.array([[0.5], [1e154], [0.0]])
    model = linear()
    with pytest.raises(dn.DivergenceError, match="epoch 0, batch 1") as caught:
        model.fit(X, y, optimizer=dn.SGD(0.1), epochs=3, batch_size=1, shuffle=False)
    assert caught.value.epoch == 0
    assert caught.value.batch == 1
    twin = linear()  # the one good step, by hand
    loss = dn.MSELoss()
    loss.forward(twin.forward(X[:1]), y[:1])
    twin.backward(loss.backward())
    dn.SGD(0.1).step(twin.params, twin.grads)
    assert_array_equal(model.params, twin.params)


def test_huge_but_finite_weights_are_not_divergence():
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    model[0].W[...] = [[1e308], [-1e308]]
    X = np.zeros((4, 2))  # the huge weights meet zeros: predictions are the bias
    history = model.fit(X, np.ones((4, 1)), epochs=3, batch_size=2)
    assert history.epochs == 3
    assert_array_equal(model[0].W, [[1e308], [-1e308]])
    assert np.isfinite(model.params).all()
    assert abs(model[0].b[0] - 1) < abs(0 - 1)


@pytest.mark.parametrize("big", [2.0 ** 63 * 1.5, 1e20, 1e30, 1e37, 3.4e38])
def test_huge_float32_inputs_around_the_rescue_threshold_give_the_float64_answer(big):
    """Above 2**63 the first layer's sums could overflow float32: inputs are rescaled.
    x c - x c with c a power of two is exactly 0, though x c overflows float32 (inf - inf
    would be NaN); the rest of the network must see just the bias."""
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), dtype=np.float32, seed=0)
    c = 2.0 ** int(np.ceil(np.log2(4 * 3.4e38 / big)))  # big * c overflows float32
    model[0].W[...] = [[c, 1.0, 0.5], [-c, 1.0, -0.5]]
    X = np.array([[big, big], [big / 2, big / 2]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = model.predict(X)
    reference = model.clone(dtype=np.float64).predict(X.astype(np.float64))  # no overflow in float64
    assert np.isfinite(Y).all()
    assert_allclose(Y, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("big", [2.0 ** 511 * 1.5, 1e200, 1e300, 1.7e308])
def test_huge_float64_inputs_above_the_rescue_threshold_give_the_exact_answer(big):
    """Above 2**511 float64 inputs are rescaled. x c - x c is exactly 0 though x c
    overflows (inf - inf would be NaN), x + x is 2x (inf for 1.7e308, and tanh(inf) = 1):
    the hidden layer is exactly tanh of [b0, 2x + b1, b2]."""
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    c = 2.0 ** int(np.ceil(1026 - np.log2(big)))  # big * c >= 4 * 2**1024: it overflows float64
    model[0].W[...] = [[c, 1.0, 0.5], [-c, 1.0, -0.5]]
    model[0].b[...] = [0.25, -0.5, 0.75]
    X = np.array([[big, big], [big / 2, big / 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = model.predict(X)
    hidden = np.tanh([0.25, 1e300, 0.75])  # tanh(2x - 0.5) is 1 for any x here
    assert_allclose(Y, np.tile(hidden @ model[2].W + model[2].b, (2, 1)), rtol=1e-15)


@pytest.mark.parametrize("source, big", [(np.float64, 1e30), (np.float64, 2.0 ** 63 * 1.5),
                                         (np.float64, 1e39), (np.uint64, 2 ** 64 - 2 ** 40),
                                         (np.int64, -2 ** 63)])
def test_huge_inputs_of_another_dtype_give_the_converted_inputs_answer(source, big):
    """Rows of another dtype are converted into the input of the plan that runs them and
    checked there, or as they are (``cast_rows``): those past the rescue threshold once
    converted (1e39 is inf in float32: refused) are rescued as the converted rows are,
    whichever batch they are in, and the integers of a type within it (int64's -2**63) run
    on the plan."""
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), dtype=np.float32, seed=0)
    model[0].W[...] = [[2.0 ** 100, 1.0, 0.5], [-2.0 ** 100, 1.0, -0.5]]  # big * 2**100 overflows float32
    X = np.array([[1, 2], [big, big], [3, 4], [big, big], [5, 6]], dtype=source)
    with np.errstate(over="ignore"):
        converted = X.astype(np.float32)
    if not np.isfinite(converted).all():
        with pytest.raises(ValueError, match=r"^X holds 4 non-finite value\(s\) .* as float32, the first at "
                                             r"index \(1, 0\)$"):
            model.predict(X, batch_size=2)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for batch_size in (2, 5):
            Y = model.predict(X, batch_size=batch_size)
            assert_array_equal(Y, model.predict(converted, batch_size=batch_size))
            # Rows past the threshold are rescued: the scaled rows' sums cannot overflow. Rows
            # within it (int64's) run on the plan, whose sum -2**163 + 2**163 overflows with
            # these weights: -inf where BLAS fuses each multiply-add, NaN where it rounds each
            # product first (NumPy 1.24's OpenBLAS 0.3.21 on a processor it does not know runs
            # its generic kernels); either way the converted rows' answer, as asserted above.
            if np.abs(converted).max() > 2.0 ** 63:
                assert np.isfinite(Y).all()


@pytest.mark.parametrize("dtype, big", [(np.float32, 1e30), (np.float64, 1e300)])
def test_evaluate_rescues_huge_inputs_as_predict_does(dtype, big):
    """``evaluate`` checks each batch of ``X`` for huge values as ``predict`` does (its
    input check is not the one that bounds them): the loss is that of the predictions."""
    model = dn.Sequential(dn.Dense(2, 3), dn.Tanh(), dn.Dense(3, 1), dtype=dtype, seed=0)
    c = 2.0 ** int(np.ceil(2 + np.log2(float(np.finfo(dtype).max)) - np.log2(big)))  # big * c overflows
    model[0].W[...] = [[c, 1.0, 0.5], [-c, 1.0, -0.5]]
    X = np.array([[big, big], [big / 2, big / 2], [1.0, 2.0]], dtype=dtype)
    y = np.array([[0.5], [0.25], [0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = model.evaluate(X, y)
    assert np.isfinite(value)
    assert value == dn.MSELoss().forward(model.predict(X), y)


def test_callbacks_reused_across_fits_start_afresh():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(-1, 1, (40, 1)), rng.uniform(size=(40, 1))
    stop = dn.EarlyStopping(monitor="loss", patience=2, min_delta=1.0)  # stops after 2 epochs
    model = mlp((1, 4, 1), seed=0)
    first = model.fit(X, y, epochs=50, callbacks=[stop])
    assert first.epochs == 3
    assert stop.stopped_epoch == 2
    model.params[...] += 5.0  # a much worse start: a stale best would stop at once
    second = model.fit(X, y, epochs=50, callbacks=[stop])
    assert second.epochs == 3
    assert stop.best_epoch == 0
    assert stop.best == second.loss[0]


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events, sizes = [], []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd):
        info = os.fstat(fd)
        events.append(("fsync", "folder" if stat.S_ISDIR(info.st_mode) else "file"))
        sizes.append(info.st_size)  # what the kernel holds when it is asked to make it durable
        real_fsync(fd)

    def spy_replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    mlp((2, 2, 1)).save(tmp_path / "m.npz")
    assert events == [("fsync", "file"), ("replace", "m.npz"), ("fsync", "folder")]
    assert sizes[0] == os.path.getsize(tmp_path / "m.npz")  # every byte written out before the fsync


# -- what the mutation run (tools/mutate.py) found unguarded ----------------------------

def test_early_stopping_counts_an_equal_value_as_no_improvement():
    stopper = dn.EarlyStopping(monitor="loss", patience=2, restore_best_weights=False)
    stopper.set_model(mlp((1, 1)))
    stopper.set_params({"metrics": ("loss",)})
    stopper.on_train_begin({})
    assert [stopper.on_epoch_end(epoch, {"loss": 1.0}) for epoch in range(3)] == [False, False, True]
    assert stopper.best_epoch == 0
    assert stopper.stopped_epoch == 2


def test_the_progress_bar_shows_the_mean_of_the_epochs_batch_losses():
    """The running loss is the mean of this epoch's batch losses, exactly: it starts from
    zero at each epoch and at each fit."""
    pytest.importorskip("tqdm")
    from densenet.callbacks import Progress

    class Terminal:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

        def isatty(self):
            return True

    for _ in range(2):  # the same bar over two fits
        stream = Terminal()
        progress = Progress(stream=stream)
        progress.set_params({"epochs": 2, "steps": 2, "metrics": ("loss",), "blas_threads": None})
        progress.on_train_begin({})
        for epoch, losses in enumerate([(1.0, 3.0), (10.0, 30.0)]):
            for batch, value in enumerate(losses):
                progress.on_batch_end(batch, {"loss": value})
            progress.on_epoch_end(epoch, {"loss": float(np.mean(losses))})
        progress.on_train_end({})
        shown = re.findall(r"epoch (\d) running loss ([0-9.]+)\]", stream.text)
        assert [(int(e), float(v)) for e, v in shown] == [(1, 1.0), (1, 2.0), (2, 10.0), (2, 20.0)]


def test_a_dense_layer_feeding_a_dense_layer_at_batch_size_one():
    """At batch size 1 the first layer writes into the second's ones-column input (a strided
    array), through a copy the planner adds."""
    model = dn.Sequential(dn.Dense(2, 3), dn.Dense(3, 1), seed=0)
    first, second = model.layers
    x = np.array([[0.5, -2.0]])
    want = (x @ first.W + first.b) @ second.W + second.b
    assert_allclose(model.predict(x), want, rtol=1e-14)
    assert_allclose(model.forward(x), want, rtol=1e-14)


def test_dense_plans_into_a_strided_output_with_a_ones_column():
    """The planner may hand a module any output view (``Buffers.Y`` may be strided): with
    a ones column at 3 rows and Y a column slice, Dense still writes every row."""
    from densenet.chain import Buffers

    layer = dn.Sequential(dn.Dense(2, 3), seed=0).layers[0]
    X1 = np.ones((3, 3))
    X1[:, :-1] = [[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]]
    out = np.zeros((3, 5))
    Y = out[:, 1:4]
    (block,), (gblock,) = layer.blocks()
    passes = layer.plan(Buffers(X=X1[:, :-1], X1=X1, Y=Y, dY=np.zeros((3, 3)), dX=None,
                                params=(block,), grads=(gblock,)))
    for call in passes.forward:
        call()
    assert_allclose(Y, X1[:, :-1] @ layer.W + layer.b, rtol=1e-15)
    assert not out[:, [0, 4]].any()


def test_plans_are_frozen():
    from dataclasses import FrozenInstanceError

    from densenet.chain import Buffers, Passes

    model = mlp((2, 2, 1))
    plan = model.plan(4)
    loss_plan = dn.MSELoss().plan(plan.Y, np.zeros((4, 1)), plan.dY)
    for frozen in (plan, loss_plan, Passes([], [])):
        with pytest.raises(FrozenInstanceError):
            frozen.forward = ()
    buffers = Buffers(X=plan.X, X1=None, Y=plan.Y, dY=plan.dY, dX=None, params=(), grads=())
    with pytest.raises(FrozenInstanceError):
        buffers.Y = plan.X


def test_at_batch_size_one_every_dense_folds_its_bias_into_its_product():
    """One call per Dense forward at one row (``[x, 1] @ [W; b]``), the last layer too."""
    model = dn.Sequential(dn.Dense(3, 4), dn.Sigmoid(), dn.Dense(4, 2), seed=0)
    sigmoid_calls = len(dn.Sigmoid().plan(_buffers(1, 4)).forward)
    assert len(model.plan(1).forward) == 1 + sigmoid_calls + 1
    assert len(model.plan(5).forward) > len(model.plan(1).forward)  # separate bias rows from 2 rows


def _buffers(n, width):
    from densenet.chain import Buffers

    X, Y = np.zeros((n, width)), np.zeros((n, width))
    return Buffers(X=X, X1=None, Y=Y, dY=np.zeros((n, width)), dX=np.zeros((n, width)), params=(), grads=())


def test_save_leaves_the_process_umask_alone(tmp_path):
    before = os.umask(0o027)
    try:
        mlp((2, 1)).save(tmp_path / "new.npz")
        assert os.umask(0o027) == 0o027
        assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640
    finally:
        os.umask(before)


def test_the_labels_hint_is_given_for_one_dimensional_integer_targets_only():
    model = mlp((2, 3))
    with pytest.raises(ValueError, match="for integer class labels use CrossEntropyLoss"):
        model.fit(np.zeros((4, 2)), np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError) as error:
        model.fit(np.zeros((4, 2)), np.zeros((4, 2), dtype=int))
    assert "CrossEntropyLoss" not in str(error.value)
    with pytest.raises(ValueError) as error:
        model.fit(np.zeros((4, 2)), np.full(4, 0.5))
    assert "CrossEntropyLoss" not in str(error.value)


def test_a_new_model_is_not_stopping():
    assert mlp((2, 1)).stop_training is False


def test_the_target_shape_error_names_the_one_output_form():
    model = mlp((2, 1))
    with pytest.raises(ValueError, match=r"or \(n_samples,\)"):
        model.fit(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError) as error:
        mlp((2, 2)).fit(np.zeros((3, 2)), np.zeros((3, 3)))
    assert "(n_samples,)" not in str(error.value)


def retained_bytes(work) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["model", "loss", "module", "model.plan", "predict"])
def test_plan_caches_keep_a_bounded_number_of_plans(kind):
    """Each distinct batch size gets a plan; only the last few are kept, so memory does not
    grow with the number of batch sizes seen. Batches of 1100-1129 rows: plans of nearly
    one size (each 16-wide sigmoid above backend.IN_PLACE_MIN_SIZE elements, so every
    plan shares its buffers alike), so what is kept is about KEPT_PLANS plans' worth, and
    after a forward the one the thread holds for backward (``densenet.kept``)."""
    from densenet import loss as loss_file
    from densenet import model as model_file
    from densenet import module as module_file

    rng = np.random.default_rng(0)
    model, loss, sigmoid = mlp((8, 16, 4)), dn.MSELoss(), dn.Sigmoid()
    batches = [rng.standard_normal((n, 8)) for n in range(1100, 1130)]
    assert backend.IN_PLACE_MIN_SIZE < 1100 * 16
    run, kept = {  # (a forward's plan is held, the rest kept: one more)
        "model": (lambda X: model.forward(X), model_file.KEPT_PLANS + 1),
        "loss": (lambda X: loss.forward(X[:, :4], X[:, 4:]), loss_file.KEPT_PLANS + 1),
        "module": (lambda X: sigmoid.forward(X), module_file.KEPT_PLANS + 1),
        "model.plan": (lambda X: model.plan(len(X)), model_file.KEPT_PLANS),
        "predict": (lambda X: model.predict(X), model_file.KEPT_PLANS),
    }[kind]

    def through(count):
        def work():
            for X in batches[:count]:
                run(X)
        return work

    one = retained_bytes(through(1))  # one plan (the result of the last call is freed)
    many = retained_bytes(through(len(batches)))
    assert (kept - 0.5) * one < many < (kept + 0.5) * one


def test_a_forward_on_rescued_huge_inputs_cannot_be_backpropagated():
    model = mlp((2, 3, 1))
    model.forward(np.array([[1e300, -1e300]]))
    with pytest.raises(RuntimeError, match="rescaled"):
        model.backward(np.ones((1, 1)))


def test_reset_parameters_clears_the_gradients():
    model = mlp((2, 3, 1))
    model.fit(np.ones((4, 2)), np.full((4, 1), 0.3), epochs=1)
    assert model.grads.any()
    model.reset_parameters(1)
    assert not model.grads.any()


def test_a_modules_gradient_view_binds_the_module_on_first_use():
    class Scale(dn.Module):
        def param_shapes(self):
            return ((1,),)

        def forward(self, X):
            return X * self.flat_params[0]

    module = Scale()
    assert module.flat_grads.shape == (1,)
    assert module.flat_params.shape == (1,)


def test_state_dict_into_an_earlier_result_reuses_its_arrays():
    model = mlp((2, 3, 1))
    adam = dn.Adam()
    adam.step(model.params, model.grads)
    out = adam.state_dict()
    arrays = {name: id(value) for name, value in out.items() if isinstance(value, np.ndarray)}
    adam.step(model.params, model.grads)
    again = adam.state_dict(out)
    assert again is out
    assert {name: id(out[name]) for name in arrays} == arrays
    assert out["steps"] == 2


def test_an_optimizer_state_without_steps_is_refused():
    with pytest.raises(ValueError, match="the state has no 'steps'"):
        dn.Adam().load_state_dict({"exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(3)})


def test_step_lr_decays_by_a_tenth_by_default_as_pytorchs():
    sgd = dn.SGD(1.0)
    schedule = dn.StepLR(sgd, step_size=1)
    schedule.set_model(mlp((1, 1)))
    schedule.on_epoch_end(0, {"loss": 1.0})
    assert sgd.lr == pytest.approx(0.1, rel=1e-15)


def test_history_logs_hold_the_validation_loss():
    X, y = np.ones((4, 2)), np.full((4, 1), 0.3)
    history = mlp((2, 1)).fit(X, y, epochs=2, validation_data=(X, y))
    assert set(history.logs()) == {"loss", "val_loss"}
    assert_array_equal(history.logs()["val_loss"], history.val_loss)


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_lbfgs_gradient_over_chunks_is_the_full_batch_gradient(chunks):
    """batch_size splits L-BFGS's objective into chunks; with two chunks as with three,
    the gradient is the full batch's."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.uniform(size=(12, 2))
    whole, split = mlp((3, 4, 2)), mlp((3, 4, 2))
    whole.fit(X, y, optimizer=dn.LBFGS(), epochs=3, batch_size=12)
    split.fit(X, y, optimizer=dn.LBFGS(), epochs=3, batch_size=12 // chunks)
    assert_allclose(split.params, whole.params, rtol=1e-9, atol=1e-12)


def test_early_stopping_starts_each_fit_with_no_best():
    stopper = dn.EarlyStopping(monitor="loss", patience=1)
    stopper.set_model(mlp((1, 1)))
    stopper.set_params({"metrics": ("loss",)})
    stopper.on_train_begin({})
    stopper.on_epoch_end(0, {"loss": 0.5})
    stopper.on_train_begin({})
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (np.inf, -1, None)


def test_verbose_prints_every_third_epoch_of_61_and_the_last(capsys):
    mlp((1, 1)).fit(np.ones((2, 1)), np.full((2, 1), 0.3), epochs=61, verbose=True)
    epochs = [int(line.split()[1].split("/")[0]) for line in capsys.readouterr().err.splitlines()[1:]]
    assert epochs == [1, *range(3, 61, 3), 61]


def test_the_mse_of_a_large_batch():
    """Above BLAS_SMALL elements the squared sum is added up slice by slice: same value."""
    from densenet.backend import BLAS_SMALL

    rng = np.random.default_rng(0)
    P, T = rng.uniform(size=(1000, 10)), rng.uniform(size=(1000, 10))
    assert P.size > BLAS_SMALL
    assert dn.MSELoss().forward(P, T) == pytest.approx(np.mean((P - T) ** 2), rel=1e-13)
    small = slice(0, 100)
    assert dn.MSELoss().forward(P[small], T[small]) == pytest.approx(np.mean((P[small] - T[small]) ** 2),
                                                                     rel=1e-13)


class NaNBeyondTwo(dn.Module):
    """y = w x, with NaN outputs once |w| > 2 (a model that breaks mid-training)."""

    input_width = 1

    def param_shapes(self):
        return ((1,),)

    def output_width(self, width):
        return width

    def forward(self, X):
        self.X, w = X, self.flat_params[0]
        return X * w if abs(w) <= 2 else X * np.nan

    def backward(self, dY):
        self.flat_grads[0] = np.sum(dY * self.X)
        return dY * self.flat_params[0]


def test_lbfgs_diverging_after_an_iteration_keeps_that_iterate():
    model = dn.Sequential(NaNBeyondTwo(), seed=0)
    model.params[...] = 0.5
    seen = []

    class Spy(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(self.model.params[0]))

    with pytest.raises(dn.DivergenceError, match="epoch 1") as caught:
        model.fit(np.ones((4, 1)), np.full((4, 1), 3.0), optimizer=dn.LBFGS(), epochs=20, callbacks=[Spy()])
    assert len(seen) == 1
    assert caught.value.history.epochs == 1
    assert model.params[0] == seen[0]
    assert abs(seen[0]) <= 2


def test_a_fresh_history_is_empty_and_fit_trains_one_epoch_by_default():
    from densenet.training import fit

    assert dn.History().epochs == 0
    assert dn.History().stopped_early is False
    assert mlp((1, 1)).fit(np.ones((2, 1)), np.full((2, 1), 0.3)).epochs == 1
    assert fit(mlp((1, 1)), np.ones((2, 1)), np.full((2, 1), 0.3)).epochs == 1


def test_training_fit_has_the_defaults_of_sequential_fit():
    from densenet.training import fit

    def defaults(function, skip):
        return {name: p.default for name, p in inspect.signature(function).parameters.items()
                if name not in skip}

    assert defaults(fit, {"model"}) == defaults(dn.Sequential.fit, {"self"})
    X, y = np.random.default_rng(0).uniform(size=(40, 2)), np.full((40, 1), 0.5)
    model, twin = mlp((2, 3, 1), seed=0), mlp((2, 3, 1), seed=0)
    assert_array_equal(fit(model, X, y, epochs=2).loss, twin.fit(X, y, epochs=2).loss)
    assert_array_equal(model.params, twin.params)


class OneGoodIteration(dn.Optimizer):
    """A full-batch optimiser that takes one good iteration and then diverges: it leaves NaN
    in the parameters (``ending`` "nan"), or reports a non-finite iterate, which fit refuses
    (``StopIteration``), and returns the best point it saw, finite ("best")."""

    full_batch = True

    def __init__(self, ending):
        super().__init__(lr=1.0)
        self.ending = ending

    def minimize(self, objective, params, iterations, callback=None):
        from scipy.optimize import OptimizeResult

        w = params.astype(np.float64) * 0.5
        value, _ = objective(w)
        callback(w, value)  # one good iteration
        if self.ending == "nan":
            params[...] = np.nan
            return OptimizeResult(x=params.copy(), fun=np.nan)
        with contextlib.suppress(StopIteration):  # (fit refuses the iterate)
            callback(np.full_like(w, np.inf), np.inf)
        params[...] = w  # its best point, finite
        return OptimizeResult(x=w, fun=value)


@pytest.mark.parametrize("ending", ["nan", "best"])
def test_a_full_batch_optimizer_that_diverges_is_undone_to_its_last_finite_iterate(ending):
    """Whatever a full-batch optimiser leaves in the parameters, a divergence puts back the
    last iterate with a finite loss; and the divergence is the iterate's, told by fit itself,
    not read off the optimiser's result (which may be its best point, finite)."""
    model = mlp((2, 1))
    start = model.params.copy()
    with pytest.raises(dn.DivergenceError, match="epoch 1"):
        model.fit(np.ones((4, 2)), np.full((4, 1), 0.3), optimizer=OneGoodIteration(ending), epochs=5)
    assert_array_equal(model.params, start * 0.5)


def test_callbacks_of_a_full_batch_fit_see_each_iterate_not_the_last_point_tried():
    """An optimiser may evaluate trial points (a line search) after the iterate it
    reports: fit puts the reported iterate into the model before the callbacks run."""

    class Searching(dn.Optimizer):
        full_batch = True

        def __init__(self):
            super().__init__(lr=1.0)
            self.iterates, self.values = [], []

        def minimize(self, objective, params, iterations, callback=None):
            from scipy.optimize import OptimizeResult

            w = params.astype(np.float64)
            for _ in range(iterations):
                _, grad = objective(w)
                w = w - 0.1 * grad
                value, _ = objective(w)
                objective(w + 1.0)  # a trial point evaluated after the iterate, rejected
                self.iterates.append(w)
                self.values.append(value)
                callback(w, value)
            params[...] = w
            return OptimizeResult(x=w, fun=self.values[-1])

    seen = []

    class Spy(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.params.copy())

    model, optimizer = mlp((2, 1)), Searching()
    X, y = np.random.default_rng(0).uniform(size=(8, 2)), np.full((8, 1), 0.3)
    history = model.fit(X, y, optimizer=optimizer, epochs=3, callbacks=[Spy()])
    assert len(seen) == 3
    for params, iterate in zip(seen, optimizer.iterates):
        assert_array_equal(params, iterate)
    assert_array_equal(history.loss, optimizer.values)
    assert_array_equal(model.params, optimizer.iterates[-1])


@pytest.mark.parametrize("stop_at, early", [(2, True), (3, False)])
def test_stopped_early_only_when_epochs_were_left(stop_at, early):
    class Stop(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            return epoch == stop_at

    history = mlp((1, 1)).fit(np.ones((2, 1)), np.full((2, 1), 0.3), epochs=4, callbacks=[Stop()])
    assert history.epochs == stop_at + 1
    assert history.stopped_early is early


def test_an_upper_bound_that_is_closed_admits_its_value():
    sgd = dn.SGD(0.1)
    assert dn.CosineLR(sgd, epochs=4, min_lr=0.1).min_lr == 0.1  # min_lr may equal the base rate
    with pytest.raises(ValueError, match="min_lr"):
        dn.CosineLR(sgd, epochs=4, min_lr=0.2)


def test_binding_takes_both_vectors_or_neither():
    layer = dn.Dense(2, 1)
    with pytest.raises(TypeError, match="both"):
        layer.bind(np.zeros(3))
    layer.bind()
    assert layer.flat_params.shape == layer.flat_grads.shape == (3,)
    wrong = r"has 3 parameters and 0 state values; cannot bind it to vectors"
    for params, grads in [(np.zeros(3), np.zeros(4)), (np.zeros(4), np.zeros(3))]:  # either one wrong
        with pytest.raises(ValueError, match=wrong):
            layer.bind(params, grads)
    with pytest.raises(ValueError, match=wrong):
        layer.bind(np.zeros(3), np.zeros(3), np.zeros(1))  # a state vector of the wrong size


def test_an_unpickled_optimizer_takes_a_state_of_another_size():
    """After unpickling the state is no model's yet: a state for a model of another size
    replaces it instead of being forced into the old arrays."""
    import pickle

    adam = dn.Adam()
    model = mlp((3, 4, 2))
    adam.step(model.params, model.grads)
    copy_ = pickle.loads(pickle.dumps(adam))
    copy_.load_state_dict({"steps": 1, "exp_avg": np.ones(5), "exp_avg_sq": np.ones(5)})
    small = dn.Sequential(dn.Dense(4, 1), seed=0)
    copy_.step(small.params, small.grads)
    assert copy_.steps == 2


def test_a_clone_in_another_dtype_keeps_the_random_generator_state():
    model = mlp((2, 3, 1), seed=5)
    model.rng.standard_normal(3)  # moved on from its seed
    twin = model.clone(np.float32)
    assert twin.dtype == np.float32
    assert_array_equal(twin.rng.standard_normal(4), model.rng.standard_normal(4))


def test_the_steps_callbacks_are_told_of():
    """params["steps"]: batches per epoch (fit's default batch size is 32), 1 for L-BFGS."""
    from densenet.training import fit

    class Params(dn.Callback):
        def on_train_begin(self, logs=None):
            self.steps = self.params["steps"]

    X, y = np.zeros((65, 2)), np.full((65, 1), 0.3)
    for train, kwargs, steps in ((fit, {}, 3), (None, {}, 3), (None, {"optimizer": dn.LBFGS()}, 1)):
        seen = Params()
        model = mlp((2, 1))
        if train is None:
            model.fit(X, y, callbacks=[seen], **kwargs)
        else:
            train(model, X, y, callbacks=[seen], **kwargs)
        assert seen.steps == steps


@pytest.mark.parametrize("normalised", [False, True])
def test_a_divergence_the_replay_does_not_meet_again_keeps_the_epochs_start(normalised):
    """A loss that is NaN once only (not deterministic): the epoch fails, its replay does
    not; the model (its running statistics too) and the optimiser are put back to the
    epoch's start, and the batch named is the one whose loss the fit found NaN (the
    epoch's last was, whatever the batch: the replay ran on past the fit's last step)."""
    from densenet.loss import LossPlan

    class OnceNaN(dn.MSELoss):
        calls = 0

        def plan(self, y_pred, y_true, grad):
            planned = super().plan(y_pred, y_true, grad)

            def value():
                self.calls += 1
                return math.nan if self.calls == 7 else planned.value()

            return LossPlan(planned.forward, value, planned.backward)

    X, y = np.linspace(-1, 1, 8).reshape(4, 2), np.full((4, 1), 0.25)
    modules = (dn.Dense(2, 3), dn.BatchNorm1d(3), dn.Dense(3, 1)) if normalised else (dn.Dense(2, 1),)
    model = dn.Sequential(*modules, seed=0)
    batch_size = 2 if normalised else 1  # (a BatchNorm1d trains on two rows or more)
    optimizer = dn.SGD(0.1, momentum=0.9)
    model.fit(X, y, optimizer=optimizer, loss=OnceNaN(), epochs=1, batch_size=batch_size, shuffle=False)
    start, state, running = model.params.copy(), optimizer.state_dict(), model.state.copy()
    loss = OnceNaN()
    # its 7th value is a batch's of the next fit's first epoch (the third of one-row
    # batches, the second of two-row ones); the replay then finds none
    loss.calls = 5 if normalised else 4
    with pytest.raises(dn.DivergenceError, match=f"epoch 0, batch {1 if normalised else 2}") as caught:
        model.fit(X, y, optimizer=optimizer, loss=loss, epochs=2, batch_size=batch_size, shuffle=False)
    assert caught.value.epoch_start
    assert_array_equal(model.params, start)
    assert_array_equal(model.state, running)
    assert optimizer.steps == state["steps"]
    assert_array_equal(optimizer.state_dict()["momentum_buffer"], state["momentum_buffer"])


def test_weights_made_non_finite_once_in_an_epoch_s_last_step_keep_the_epoch_s_start():
    """A module whose backward pass gives NaN once, in an epoch's last step: the weights are
    NaN at the epoch's end, every loss finite. The replay of the epoch meets no bad step:
    the model goes back to the epoch's start, and the epoch's last batch is named."""

    class Ends(dn.Callback):
        def __init__(self):
            self.weights = []

        def on_epoch_end(self, epoch, logs=None):
            self.weights.append(self.model.params.copy())

    X, y = np.linspace(-1, 1, 8).reshape(4, 2), np.full((4, 1), 0.25)
    model = dn.Sequential(dn.Dense(2, 3), NaNOnce(at=4 + 4), dn.Dense(3, 1), seed=0)  # (epoch 1's last step)
    ends = Ends()
    with pytest.raises(dn.DivergenceError, match="epoch 1, batch 3") as caught:
        model.fit(X, y, optimizer=dn.SGD(0.1), epochs=3, batch_size=1, shuffle=False, callbacks=[ends])
    assert caught.value.epoch_start
    assert len(ends.weights) == 1
    assert_array_equal(model.params, ends.weights[0])


def overflowing(seed=0):
    """A ReLU network whose outputs for the rows of ``HUGE_ROWS`` are +inf (finite weights,
    finite inputs: the products overflow), and ordinary outputs for small rows."""
    model = dn.Sequential(dn.Dense(2, 4), dn.ReLU(), dn.Dense(4, 2), seed=seed)
    model.params[...] = np.abs(model.params) * 1e6
    return model


HUGE_ROWS = np.full((3, 2), 1e300)


@pytest.mark.parametrize("loss, target, expected", [
    (dn.MSELoss(), np.zeros((3, 2)), math.inf),
    (dn.L1Loss(), np.zeros((3, 2)), math.inf),
    (dn.HuberLoss(), np.zeros((3, 2)), math.inf),
    (dn.CrossEntropyLoss(), np.array([0, 1, 0]), math.nan),  # inf - inf in the log-softmax
])
def test_evaluate_of_outputs_that_overflow_is_the_loss_s_arithmetic_not_an_error(loss, target, expected):
    """The model's outputs are its own, not input to refuse: where they overflow, ``evaluate``
    gives the loss that their arithmetic makes (inf or NaN, as PyTorch's losses give), as it
    does for finite outputs whose loss overflows; no warning; the model unchanged."""
    model = overflowing()
    outputs = model.predict(HUGE_ROWS)
    assert np.isinf(outputs).all()
    before = model.params.copy()
    finite = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    loss.forward(finite, target)
    gradient = loss.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = model.evaluate(HUGE_ROWS, target, loss)
        both = model.evaluate(HUGE_ROWS, target, loss, metrics=["accuracy"])
    assert value == expected or (math.isnan(expected) and math.isnan(value))
    assert both["loss"] == value or (math.isnan(value) and math.isnan(both["loss"]))
    assert math.isfinite(both["accuracy"])  # (infinite outputs have classes: what argmax makes of them)
    assert_array_equal(model.params, before)
    assert_array_equal(loss.backward(), gradient)  # still the gradient of this thread's last forward
    with pytest.raises(ValueError, match=rf"^{type(loss).__name__}: y_pred holds 6 non-finite value"):
        loss.forward(outputs, target)


def test_evaluate_of_a_model_with_nan_parameters_is_nan():
    model = mlp((2, 3, 1), seed=0)
    model.params[0] = np.nan
    X, y = np.ones((4, 2)), np.zeros((4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(model.evaluate(X, y))
        assert math.isnan(model.evaluate(X, y, sample_weight=[1.0, 2.0, 0.0, 1.0]))
        assert math.isnan(model.evaluate(X, y, dn.BCELoss()))  # NaN lies nowhere: not refused
    assert math.isnan(model.params[0])


def test_a_validation_set_whose_outputs_overflow_is_an_infinite_val_loss():
    """Training goes on (its own loss is finite): the validation loss is inf, each epoch."""
    model = overflowing()
    X = np.random.default_rng(0).uniform(-1e-3, 1e-3, (8, 2))
    history = model.fit(X, np.zeros((8, 2)), optimizer=dn.SGD(1e-9), epochs=2,
                        validation_data=(HUGE_ROWS, np.zeros((3, 2))))
    assert np.isfinite(history.loss).all()
    assert (history.val_loss == math.inf).all()


def half_nan(outputs):
    """A network whose outputs are NaN for the huge rows (+inf hidden units, one weighed
    positive and one negative in each output: inf - inf) and finite for small ones."""
    model = dn.Sequential(dn.Dense(2, 2), dn.ReLU(), dn.Dense(2, outputs), seed=0)
    model[0].W = np.full((2, 2), 1e6)
    model[2].W = np.vstack([np.linspace(1.0, 2.0, outputs), -np.linspace(2.0, 1.0, outputs)])
    return model


NAN_ROWS = np.array([[0.5, -0.2], [1e303, 1e303], [-0.3, 0.9], [0.1, 0.4]])


@pytest.mark.parametrize("loss, outputs, target, metrics", [
    (dn.BCEWithLogitsLoss(), 1, np.array([[0.0], [1.0], [1.0], [0.0]]),
     ["auc", "accuracy", "f1", "precision", "recall"]),
    (dn.CrossEntropyLoss(), 3, np.array([0, 1, 2, 1]), ["accuracy", "f1", "precision", "recall"]),
    (dn.MSELoss(), 2, np.arange(8.0).reshape(4, 2), ["mae", "mse", "rmse", "r2"]),
])
def test_the_metrics_of_outputs_holding_nan_are_nan(loss, outputs, target, metrics):
    """A NaN output has no class, rank or error: every metric of outputs that hold one is
    NaN, as their loss is (AUC ranked NaN scores where NumPy sorts them and accuracy took a
    NaN logit for a class, giving numbers that looked like a model's), whether one row's
    outputs are NaN or every row's; the same rows without it give finite metrics."""
    model = half_nan(outputs)
    small = np.where(NAN_ROWS > 1.0, 0.7, NAN_ROWS)
    assert np.isnan(model.predict(NAN_ROWS)[1]).all()
    assert np.isfinite(model.predict(small)).all()
    objects = [dn.Accuracy(name="mine")] if loss.__class__ is dn.CrossEntropyLoss else []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = model.evaluate(NAN_ROWS, target, loss, metrics=metrics + objects)
        assert set(results) == {"loss", *metrics, *(m.name for m in objects)}
        assert all(math.isnan(value) for value in results.values()), results
        model.params[0] = np.nan  # every row's outputs
        every = model.evaluate(small, target, loss, metrics=metrics)
        assert all(math.isnan(value) for value in every.values()), every
        model.params[0] = 1e6
        clean = model.evaluate(small, target, loss, metrics=metrics)
    assert all(math.isfinite(value) for value in clean.values()), clean
    assert all(math.isnan(m.result()) for m in objects)  # (the caller's metric is left as it was)


def test_a_validation_set_with_nan_outputs_records_nan_metrics_and_training_goes_on():
    model = half_nan(3)
    X = np.random.default_rng(0).uniform(-1.0, 1.0, (12, 2))
    y = np.arange(12) % 3
    history = model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=dn.SGD(1e-15), epochs=2,
                        validation_data=(NAN_ROWS, np.array([0, 1, 2, 1])), metrics=["accuracy"])
    assert np.isfinite(history.loss).all()
    assert np.isfinite(history.metrics["accuracy"]).all()
    assert np.isnan(history.val_loss).all()
    assert np.isnan(history.metrics["val_accuracy"]).all()


def test_evaluate_still_refuses_outputs_outside_what_the_loss_takes():
    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    model.params[...] = [3.0, 3.0, 0.0]
    with pytest.raises(ValueError, match=r"BCELoss: the model's outputs must lie in \[0, 1\]; 3 value"):
        model.evaluate(np.ones((3, 2)), np.ones((3, 1)), dn.BCELoss())
    model.params[...] = [np.inf, 0.0, 0.0]  # +inf lies outside too
    with pytest.raises(ValueError, match=r"BCELoss: the model's outputs must lie in \[0, 1\]"):
        model.evaluate(np.ones((3, 2)), np.ones((3, 1)), dn.BCELoss())


class Trajectory(dn.Callback):
    """After each step (and the callbacks before this one): the weights, the model's
    state, the optimiser's state and learning rate, and ``watched``'s setting."""

    def __init__(self, optimizer: dn.Optimizer, watched: tuple[object, str] | None = None):
        self.optimizer, self.watched = optimizer, watched
        self.weights: list[np.ndarray] = []
        self.model_states: list[np.ndarray] = []
        self.states: list[dict] = []
        self.rates: list[float] = []
        self.settings: list[object] = []

    def on_batch_end(self, batch, logs=None):
        self.weights.append(self.model.params.copy())
        self.model_states.append(self.model.state.copy())
        self.states.append(self.optimizer.state_dict())
        self.rates.append(self.optimizer.lr)
        if self.watched is not None:
            self.settings.append(getattr(*self.watched))


def diverging(optimizer: dn.Optimizer, *callbacks: dn.Callback, epochs: int = 10,
              model: dn.Sequential | None = None, watched: tuple[object, str] | None = None):
    """A fit of a small network (``model``, or 3-16-1 tanh) that diverges mid-epoch,
    driven by ``callbacks`` (which raise the rate): the model, the ``Trajectory`` the
    fit's steps made, and its ``DivergenceError``."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(64, 3))
    y = np.tanh(X @ np.array([[1.0], [-2.0], [0.5]]))
    if model is None:
        model = dn.Sequential(dn.Dense(3, 16), dn.Tanh(), dn.Dense(16, 1), seed=2)
    seen = Trajectory(optimizer, watched)
    with pytest.raises(dn.DivergenceError) as caught:
        model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=8, callbacks=[*callbacks, seen])
    return model, seen, caught.value


def assert_before_the_bad_step(model: dn.Sequential, optimizer: dn.Optimizer, seen: Trajectory, bad: int):
    """The weights and the optimiser's state are those the fit's steps left before step
    ``bad`` (counted over the fit). A vector the state lacks is one at its initial value:
    where the bad step is the first after the momentum came back, its buffer not made yet,
    the replay, which puts back the state taken before that step, holds one at its initial
    0, as ``load_state_dict`` makes a vector the state lacks, and the next step is the same."""
    assert_array_equal(model.params, seen.weights[bad - 1])
    assert_array_equal(model.state, seen.model_states[bad - 1])
    state, expected = optimizer.state_dict(), seen.states[bad - 1]
    assert state["steps"] == expected["steps"]
    for name in (set(state) | set(expected)) - {"steps"}:
        initial = optimizer.initial_state(name)
        assert np.all(state.get(name, initial) == expected.get(name, initial)), name


SCHEDULED = {  # (an optimiser, the one-cycle schedule's peak rate, whose steps diverge mid-epoch)
    "sgd": (lambda: dn.SGD(0.1), {"max_lr": 40.0, "cycle_momentum": False}),
    "sgd, momentum cycled": (lambda: dn.SGD(0.1, momentum=0.9), {"max_lr": 40.0}),
    "sgd, momentum cycled, later": (lambda: dn.SGD(0.1, momentum=0.9), {"max_lr": 20.0}),
}


@pytest.mark.parametrize("name", list(SCHEDULED))
def test_a_diverging_epoch_s_replay_takes_each_step_s_settings(name):
    """A schedule that sets the rate (and momentum) at each batch: the replay that finds the
    bad step must take each step with the settings it ran with, not the last ones. It took
    them all at the last (the rate of the step that diverged) and left weights that no step
    of the fit had made, or found no bad step and blamed the epoch's last batch."""
    make, cycle = SCHEDULED[name]
    optimizer = make()
    model, seen, error = diverging(optimizer, dn.OneCycleLR(optimizer, total_steps=80, **cycle))
    bad = error.epoch * 8 + error.batch
    assert error.batch > 0
    assert bad == len(seen.weights)  # the step whose loss the fit saw was NaN
    assert_before_the_bad_step(model, optimizer, seen, bad)
    assert sorted(optimizer.state_dict()) == sorted(seen.states[bad - 1])
    assert optimizer.lr == seen.rates[bad - 1]  # the rate the bad step ran with


class MomentumOnAndOff(dn.Callback):
    """Sets the momentum to 0.9 after batch 3 of each epoch and to 0 after batch 6, and
    the learning rate up by ``grow`` at each batch: the epochs then diverge."""

    def __init__(self, optimizer: dn.Optimizer, grow: float):
        self.optimizer, self.grow = optimizer, grow

    def on_batch_end(self, batch, logs=None):
        if batch in (3, 6):
            self.optimizer.momentum = 0.9 if batch == 3 else 0.0
        self.optimizer.lr *= self.grow


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
@pytest.mark.parametrize("grow", [1.05, 1.2, 1.3])
def test_a_diverging_epoch_s_replay_follows_a_momentum_switched_off_and_on(grow, fold, monkeypatch):
    """A momentum set to 0 drops its buffer (as documented); SGD's step without momentum
    kept it, and took it up again when the momentum came back, where the replay, from the
    epoch's snapshot (which holds no buffer while the momentum is 0), started afresh: it
    left other weights and state, or blamed another step."""
    monkeypatch.setattr(plan, "FOLD_MIN_BLOCK", 0 if fold else 10**9)  # (the net is small)
    optimizer = dn.SGD(0.1, fold=fold)
    model, seen, error = diverging(optimizer, MomentumOnAndOff(optimizer, grow), epochs=30)
    bad = error.epoch * 8 + error.batch
    assert bad == len(seen.weights)  # the step whose loss the fit saw was NaN
    assert_before_the_bad_step(model, optimizer, seen, bad)


class MomentumToggled(dn.Callback):
    """Switches the momentum between 0 and 0.9 every ``every`` steps, counted across the
    epochs (so that epochs begin with either), and the learning rate up by 1.3 at each."""

    def __init__(self, optimizer: dn.Optimizer, every: int):
        self.optimizer, self.every, self.steps = optimizer, every, 0

    def on_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every == 0:
            self.optimizer.momentum = 0.0 if self.optimizer.momentum else 0.9
        self.optimizer.lr *= 1.3


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
@pytest.mark.parametrize("every", [3, 5, 7])
def test_a_divergence_in_an_epoch_whose_momentum_was_switched_is_a_divergence_error(every, fold, monkeypatch):
    """The epoch's snapshot of the optimiser's state is put back under the settings it was
    taken with (a buffer, and no momentum now, was a ``ValueError`` of load_state_dict);
    and a snapshot taken while the momentum is 0 holds no buffer, though the spare dict it
    is copied into held one from an earlier epoch (a ``ValueError`` too). Folded, the replay
    plans its steps anew where a momentum comes or goes."""
    monkeypatch.setattr(plan, "FOLD_MIN_BLOCK", 0 if fold else 10**9)  # (the net is small)
    optimizer = dn.SGD(0.05, fold=fold)
    model, seen, error = diverging(optimizer, MomentumToggled(optimizer, every), epochs=40)
    assert_before_the_bad_step(model, optimizer, seen, error.epoch * 8 + error.batch)


class Scheduled(dn.Callback):
    """Sets ``module``'s setting ``name`` after each step to the next of ``values`` (in
    turn, counted across the epochs), and the learning rate up by 1.3 after every other
    (the steps between change the module's setting alone)."""

    def __init__(self, optimizer: dn.Optimizer, module: dn.Module, name: str, values: tuple):
        self.optimizer, self.module, self.name, self.values, self.steps = optimizer, module, name, values, 0

    def on_batch_end(self, batch, logs=None):
        self.steps += 1
        setattr(self.module, self.name, self.values[self.steps % len(self.values)])
        if self.steps % 2:
            self.optimizer.lr *= 1.3


MODULE_SETTINGS = {  # (the module, its setting, the values a callback sets in turn)
    "Dropout.p": (lambda: dn.Dropout(0.2), "p", (0.1, 0.3, 0.2, 0.0)),
    "AlphaDropout.p": (lambda: dn.AlphaDropout(0.2), "p", (0.1, 0.3, 0.2, 0.0)),
    "BatchNorm1d.momentum": (lambda: dn.BatchNorm1d(16), "momentum", (0.05, 0.3, 0.6)),
    "BatchNorm1d.eps": (lambda: dn.BatchNorm1d(16), "eps", (1e-5, 0.1, 1.0)),
}


@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("name", list(MODULE_SETTINGS))
def test_a_diverging_epoch_s_replay_takes_each_step_s_module_settings(name, seed):
    """A callback that sets a module's setting at each batch (a dropout schedule): the
    replay must take each step with the value it ran with. It took them all with the
    last, drew other masks' scales or running statistics, and left weights (or running
    statistics) that no step of the fit had made."""
    make, setting, values = MODULE_SETTINGS[name]
    module = make()
    model = dn.Sequential(dn.Dense(3, 16), module, dn.Tanh(), dn.Dense(16, 1), seed=seed)
    optimizer = dn.SGD(0.05)
    model, seen, error = diverging(optimizer, Scheduled(optimizer, module, setting, values), epochs=60,
                                   model=model, watched=(module, setting))
    bad = error.epoch * 8 + error.batch
    assert not error.epoch_start
    assert_before_the_bad_step(model, optimizer, seen, bad)
    assert getattr(module, setting) == seen.settings[bad - 1]  # the value the bad step ran with
    assert optimizer.lr == seen.rates[bad - 1]


class Shrink(dn.Callback):
    """Scales the weights by 0.999 after each step (a constraint of one's own), and the
    learning rate up by 1.15."""

    def __init__(self, optimizer: dn.Optimizer):
        self.optimizer = optimizer

    def on_batch_end(self, batch, logs=None):
        self.model.params[...] *= 0.999
        self.optimizer.lr *= 1.15


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_replay_that_cannot_follow_the_fit_puts_back_the_epoch_s_start_and_says_so(momentum):
    """A callback that changes the weights between steps: the replay, which runs no
    callbacks, cannot make the fit's steps again. It found a bad step on a way of its own
    and left weights no step of the fit had made; now its first loss that is not the
    fit's stops it, the model goes back to the epoch's start, and the error says so and
    names the batch whose loss the fit found non-finite."""
    optimizer = dn.SGD(0.05, momentum=momentum)
    model, seen, error = diverging(optimizer, Shrink(optimizer), epochs=60)
    assert error.epoch_start
    assert f"from the start of epoch {error.epoch}: the replay" in str(error)
    start = error.epoch * 8 - 1  # (the step before the epoch's first, and its callbacks)
    assert_array_equal(model.params, seen.weights[start])
    assert optimizer.state_dict()["steps"] == seen.states[start]["steps"]
    assert optimizer.lr == seen.rates[start]
    assert error.epoch * 8 + error.batch in (len(seen.weights), len(seen.weights) - 1)
    assert pickle.loads(pickle.dumps(error)).epoch_start


def test_a_snapshot_taken_while_the_momentum_is_0_holds_no_buffer():
    sgd = dn.SGD(0.1, momentum=0.9)
    sgd.step(np.ones(3), np.ones(3))
    assert "momentum_buffer" in sgd.snapshot()
    sgd.momentum = 0.0
    snapshot = sgd.snapshot()  # (the same dict, reused)
    assert sorted(snapshot) == ["steps"]
    sgd.load_state_dict(snapshot)


def test_a_run_resumed_from_a_state_saved_while_the_momentum_is_0_ends_as_the_whole_run():
    """As a checkpoint saved at the end of an epoch (the momentum 0 there) and resumed."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(64, 3))
    y = np.tanh(X @ np.array([[1.0], [-2.0], [0.5]]))

    class Save(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.state, self.params = self.params["optimizer"].state_dict(), self.model.params.copy()

    def fit(model, optimizer, epochs, *callbacks):
        model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=8, shuffle=False,
                  callbacks=[MomentumOnAndOff(optimizer, 1.0), *callbacks])

    whole, whole_sgd = dn.Sequential(dn.Dense(3, 16), dn.Tanh(), dn.Dense(16, 1), seed=2), dn.SGD(0.1)
    saved = Save()
    fit(whole, whole_sgd, 2, saved)
    resumed, resumed_sgd = dn.Sequential(dn.Dense(3, 16), dn.Tanh(), dn.Dense(16, 1), seed=2), dn.SGD(0.1)
    resumed.params[...] = saved.params
    resumed_sgd.load_state_dict(saved.state)
    fit(resumed, resumed_sgd, 1)
    assert_array_equal(resumed.params, whole.params)
