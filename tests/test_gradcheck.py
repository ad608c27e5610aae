"""densenet.gradcheck."""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

import densenet as dn
from densenet.chain import Passes
from densenet.gradcheck import Check, GradcheckReport

from .conftest import ACTIVATIONS as ALL
from .conftest import mlp


def batch(sizes, n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])), rng.uniform(size=(n, sizes[-1]))


@pytest.mark.parametrize("sizes", [(2, 2, 1), (3, 7, 4, 2)])
def test_correct_gradients_pass_with_a_per_layer_report(sizes):
    model = mlp(sizes, seed=1)
    report = dn.gradcheck(model, *batch(sizes))
    assert report.ok
    assert bool(report)
    names = [c.name for c in report.checks]
    assert names[:2] == ["0: Dense.W", "0: Dense.b"]
    assert names[-1] == "input X"
    assert len(names) == 2 * (len(sizes) - 1) + 1
    assert all(c.max_abs_error < 1e-8 for c in report.checks)
    assert "max abs err" in str(report)


def test_sample_weights_weigh_the_checked_loss():
    """A weight per row (5 rows of 3 features): a model whose weighted loss is checked."""
    model = mlp((3, 4, 2), seed=1)
    X, y = batch((3, 4, 2))
    assert dn.gradcheck(model, X, y, sample_weight=[1.0, 0.0, 2.0, 0.5, 1.0]).ok
    with pytest.raises(ValueError, match="sample_weight"):
        dn.gradcheck(model, X, y, sample_weight=[1.0, 2.0, 3.0])  # one weight per feature: not per row


def test_a_wrong_backward_is_caught_and_located():
    class BrokenSigmoid(dn.Sigmoid):
        def plan(self, buffers):
            passes = super().plan(buffers)
            dX = buffers.dX  # 10% too steep:
            return Passes(passes.forward, [*passes.backward, lambda: np.multiply(dX, 1.1, out=dX)])

    model = dn.Sequential(dn.Dense(3, 4), dn.Sigmoid(), dn.Dense(4, 2), BrokenSigmoid(), seed=0)
    X, y = batch((3, 4, 2))
    with pytest.raises(dn.GradcheckError, match="gradcheck failed") as caught:
        dn.gradcheck(model, X, y)
    report = caught.value.report
    assert not report.ok
    assert all(not c.ok for c in report.checks)  # the error enters at the output
    report = dn.gradcheck(model, X, y, raise_exception=False)
    assert not report.ok
    assert "NO" in str(report)


class Softplus(dn.Module):
    """The README's softplus, whose backward pass reads its input ``X``."""

    def plan(self, b):
        forward = [partial(np.logaddexp, 0.0, b.X, b.Y)]
        if b.dX is None:
            return Passes(forward, [])
        slope = np.zeros_like(b.dX)
        return Passes(forward, [partial(expit, b.X, slope), partial(np.multiply, slope, b.dY, b.dX)])


class InPlaceSoftplus(Softplus):
    in_place = True  # (wrongly: in place, its output is written over the X its backward reads)


class NegatedSoftplus(Softplus):
    def takes_negated_input(self, size):
        return size >= 4096  # (wrongly: its passes never read b.negated_input)


@pytest.mark.parametrize("declaring", [InPlaceSoftplus, NegatedSoftplus])
def test_passes_a_large_batch_runs_are_checked_too(declaring):
    """A module that declares ``in_place`` or ``takes_negated_input`` and does not honour it
    backpropagates wrong gradients from 16,384 or 4,096 elements on (a batch of 256 of this
    64-wide layer), where the planner takes it at its word; a batch of a few rows, whose
    passes never do, passed. The passes of a large batch are checked too, and named so."""
    sizes = (8, 64, 1)
    X, y = batch(sizes, n=256)

    def gradients(module, n):
        model = dn.Sequential(dn.Dense(8, 64), module, dn.Dense(64, 1), seed=0)
        model.backward(model.forward(X[:n]) - y[:n])
        return model.grads

    assert np.array_equal(gradients(declaring(), 4), gradients(Softplus(), 4))
    assert not np.allclose(gradients(declaring(), 256), gradients(Softplus(), 256), rtol=0.01)
    model = dn.Sequential(dn.Dense(8, 64), declaring(), dn.Dense(64, 1), seed=0)
    with pytest.raises(dn.GradcheckError, match=r"0: Dense\.W \(large batches' passes\) .* NO"):
        dn.gradcheck(model, X[:4], y[:4])
    report = dn.gradcheck(model, X[:4], y[:4], raise_exception=False)
    names = [check.name for check in report.checks if not check.ok]
    assert "0: Dense.W (large batches' passes)" in names
    assert "input X (large batches' passes)" in names
    assert all(name.endswith(" (large batches' passes)") for name in names)
    plain = dn.gradcheck(dn.Sequential(dn.Dense(8, 64), Softplus(), dn.Dense(64, 1), seed=0), X[:4], y[:4])
    assert [check.name for check in plain.checks] == [check.name for check in report.checks[:5]]
    assert len(plain.checks) == 5


class Scaling(dn.Module):
    """``Y = s X``, one factor a feature, that folds descent (``Buffers.descent``) as a
    module of one's own may: ``order`` says when its backward pass writes dX."""

    folds_descent = True
    order = "dX first"

    def __init__(self, width):
        self.width = width

    def config(self):
        return {"width": self.width}

    def param_shapes(self):
        return ((self.width,),)

    def param_views(self, blocks):
        return {"s": blocks[0]}

    def reset_parameters(self, rng):
        self.s = rng.uniform(0.5, 1.5, self.width)

    def plan(self, b):
        (s,), (target,), descent = b.params, b.grads, b.descent
        gradient = np.zeros_like(s)

        def gradients():
            np.sum(b.dY * b.X, axis=0, out=gradient)
            if descent is None or self.order == "ignores descent":
                target[...] = gradient
            else:
                target[...] = descent.alpha * gradient + descent.beta * target

        input_grad = [] if b.dX is None else [partial(np.multiply, b.dY, s, b.dX)]
        late = self.order == "dX after its update"
        return Passes([partial(np.multiply, b.X, s, b.Y)],
                      [gradients, *input_grad] if late else [*input_grad, gradients])


@pytest.mark.parametrize("order, failing", [
    ("dX first", []),
    ("ignores descent", ["1: Odd.s (folded descent)"]),
    ("dX after its update", ["0: Dense.W (folded descent)", "0: Dense.b (folded descent)",
                             "input X (folded descent)"]),
])
def test_the_passes_that_fold_plain_sgd_into_the_products_are_checked_too(order, failing):
    """A module that declares ``folds_descent`` and writes its gradient over its target wrote
    it over its parameters where ``fit`` folds plain SGD (products of 2**18 multiply-adds:
    a batch of 256 here), and one that writes dX after its update computed it with the
    updated factors; on a few rows both passed."""
    class Odd(Scaling):
        pass

    Odd.order = order
    X, y = batch((20, 64, 1), n=256)
    model = dn.Sequential(dn.Dense(20, 64), Odd(64), dn.Sigmoid(), dn.Dense(64, 1), seed=0)
    report = dn.gradcheck(model, X[:4], y[:4], raise_exception=False)
    assert [check.name for check in report.checks if not check.ok] == failing
    assert len(report.checks) == (12 if failing else 6)  # (three modules' five blocks and X, twice)
    before = model[1].s.copy()
    model.fit(X, y, optimizer=dn.SGD(0.1), epochs=1, batch_size=256)
    assert (np.abs(model[1].s - before).max() > 0.5) == (order == "ignores descent")


@pytest.mark.parametrize("activation", ALL)
def test_the_built_in_blocks_large_batches_passes_give_their_gradients_to_rounding(activation):
    """Products on gemm, in place, negated inputs, no ones column: the gradients of a small
    batch's passes to rounding (so that ``gradcheck`` reports no rows more)."""
    model = dn.Sequential(dn.Dense(3, 5), activation(), dn.Dense(5, 5), activation(), dn.Dense(5, 2), seed=0)
    for n in (1, 4):
        X, y = batch((3, 5, 2), n=n)
        gradients = []
        for at_scale in (False, True):
            plan = model.plan(n, input_grad=True, at_scale=at_scale)
            plan.X[...] = X
            plan.run_forward()
            plan.dY[...] = plan.Y - y
            dX = plan.run_backward().copy()
            gradients.append(np.concatenate([model.grads, dX.ravel()]))
        assert_allclose(gradients[1], gradients[0], rtol=1e-13, atol=1e-15)


def test_a_model_with_dropout_is_checked_for_one_draw_of_its_masks():
    """Each evaluation of the loss draws the masks the first one drew (the model's
    generator set back each time): otherwise the differences see another network."""
    model = dn.Sequential(dn.Dense(3, 6), dn.Tanh(), dn.Dropout(0.5), dn.Dense(6, 2), seed=0)
    X, y = batch([3, 6, 2])
    assert dn.gradcheck(model, X, y).ok


def test_the_model_is_left_exactly_as_it_was():
    model = mlp((3, 4, 2), seed=2)
    X, y = batch((3, 4, 2))
    model.fit(X, y, epochs=1, batch_size=2)
    params, grads = model.params.copy(), model.grads.copy()
    dn.gradcheck(model, X, y)
    assert_array_equal(model.params, params)
    assert_array_equal(model.grads, grads)


def test_float32_models_are_checked_in_float64_with_a_warning():
    model = mlp((3, 4, 2), dtype=np.float32)
    params = model.params.copy()
    with pytest.warns(UserWarning, match="float32; checking a float64 copy"):
        assert dn.gradcheck(model, *batch((3, 4, 2))).ok
    assert model.params.dtype == np.float32
    assert_array_equal(model.params, params)


def test_bad_data_is_rejected():
    with pytest.raises(ValueError, match="X has 2 features"):
        dn.gradcheck(mlp((3, 4, 2)), np.ones((2, 2)), np.ones((2, 2)))


def test_bad_data_for_a_float32_model_is_rejected_before_anything_is_copied_or_warned():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be raised instead of the ValueError
        with pytest.raises(ValueError, match="X has 2 features"):
            dn.gradcheck(mlp((3, 4, 2), dtype=np.float32), np.ones((2, 2)), np.ones((2, 2)))


def test_the_float32_warning_points_at_the_caller():
    with pytest.warns(UserWarning, match="checking a float64 copy") as caught:
        dn.gradcheck(mlp((3, 4, 2), dtype=np.float32), *batch((3, 4, 2)))
    assert caught[0].filename == __file__


def test_a_check_s_errors_and_verdict():
    """The verdict is PyTorch's rule, |analytic - numeric| <= atol + rtol |numeric| (equality
    passes); the relative error is over |numeric| (over the smallest normal float where it is 0)."""
    check = Check("w", np.array([1.5, -2.0, 1e-300]), np.array([1.0, -2.5, 0.0]), atol=0.25, rtol=0.25)
    assert check.max_abs_error == 0.5
    assert check.max_rel_error == 1e-300 / np.finfo(float).tiny
    assert check.ok  # 0.5 <= 0.25 + 0.25 * 1.0 and 0.5 <= 0.25 + 0.25 * 2.5, 1e-300 <= 0.25
    assert not Check("w", np.array([1.5]), np.array([1.0]), atol=0.25, rtol=0.2499).ok
    report = GradcheckReport((check,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.atol = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.checks = ()


def test_the_defaults_are_pytorch_s():
    torch = pytest.importorskip("torch")
    ours, theirs = (inspect.signature(f).parameters for f in (dn.gradcheck, torch.autograd.gradcheck))
    assert {name: ours[name].default for name in ("eps", "atol", "rtol", "raise_exception")} == {
        name: theirs[name].default for name in ("eps", "atol", "rtol", "raise_exception")}
