"""``dn.update_bn``: a model's running statistics estimated afresh from data, as PyTorch's
``torch.optim.swa_utils.update_bn``, the model otherwise as it was."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse

import densenet as dn

from .test_batchnorm import HUGE, randomised
from .torch_twin import torch_twin


def network(momenta=(0.1, None), dropout=False, last=()):
    """Dense, BatchNorm1d, ReLU, [Dropout], Dense, BatchNorm1d, Dense, [last]: random statistics."""
    first, second = momenta
    modules = [dn.Dense(4, 8), dn.BatchNorm1d(8, momentum=first), dn.ReLU()]
    modules += [dn.Dropout(0.3)] if dropout else []
    modules += [dn.Dense(8, 6), dn.BatchNorm1d(6, momentum=second), dn.Dense(6, 1), *last]
    return randomised(dn.Sequential(*modules, seed=0))


def data(n=50, seed=2):
    return np.random.default_rng(seed).standard_normal((n, 4)) * 3 + 1


def norms(model):
    return [m for m in model if isinstance(m, dn.BatchNorm1d)]


def momenta(model):
    return [m.momentum for m in norms(model)]


def test_the_statistics_are_the_plain_average_of_the_batches():
    """A BatchNorm1d first: the running mean the mean of the batches' means, the running
    variance the mean of their unbiased variances (50 rows by 16: batches 16, 16, 16, 2)."""
    X = data()
    model = randomised(dn.Sequential(dn.BatchNorm1d(4), dn.Dense(4, 1), seed=0))
    batches = [X[i:i + 16] for i in range(0, 50, 16)]
    assert dn.update_bn(model, X, batch_size=16) is model
    assert_allclose(model[0].running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-13)
    assert_allclose(model[0].running_var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0),
                    rtol=1e-13)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("momenta", [(0.1, None), (0.5, 0.2)])
def test_update_bn_is_pytorch_s(momenta, training):
    """Both kinds of module (made with a momentum, counting with None), through the layers
    before them, to 1e-12; momenta, counts and the model's mode as PyTorch leaves them."""
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import update_bn

    X = data()
    model = network(momenta).train(training)
    twin = torch_twin(model)
    dn.update_bn(model, X, batch_size=16)
    update_bn([torch.tensor(X[i:i + 16]) for i in range(0, 50, 16)], twin)
    ours, theirs = norms(model), [m for m in twin if isinstance(m, torch.nn.BatchNorm1d)]
    for norm, twin_norm, momentum in zip(ours, theirs, momenta):
        assert_allclose(norm.running_mean, twin_norm.running_mean.numpy(), rtol=1e-12, atol=1e-12)
        assert_allclose(norm.running_var, twin_norm.running_var.numpy(), rtol=1e-12, atol=1e-12)
        assert norm.momentum == momentum == twin_norm.momentum
        if momentum is None:
            assert norm.num_batches_tracked == twin_norm.num_batches_tracked.item() == 4
    assert model.training is training


def test_only_the_running_statistics_change():
    """A Dropout drops in the passes (as in PyTorch's), but the generator is put back."""
    X = data()
    model = network(dropout=True).eval()
    params, rng = model.params.copy(), model.rng.bit_generator.state
    dn.update_bn(model, X, batch_size=25)
    assert_array_equal(model.params, params)
    assert model.rng.bit_generator.state == rng
    assert not model.training
    assert momenta(model) == [0.1, None]


def test_a_frozen_module_keeps_its_statistics():
    """A frozen BatchNorm1d infers (``Sequential.freeze``): its statistics stay as they are."""
    X = data()
    model = network().freeze(slice(0, 2))
    kept = model[1].running_mean.copy(), model[1].running_var.copy()
    before = model[4].running_mean.copy()
    dn.update_bn(model, X)
    assert_array_equal(model[1].running_mean, kept[0])
    assert_array_equal(model[1].running_var, kept[1])
    assert not np.array_equal(model[4].running_mean, before)


def test_sparse_rows_give_the_statistics_of_the_rows_dense():
    X = data()
    X[X < 1] = 0.0
    dense, on_sparse = network(), network()
    dn.update_bn(dense, X, batch_size=16)
    dn.update_bn(on_sparse, sparse.csr_matrix(X), batch_size=16)
    assert_allclose(on_sparse.state, dense.state, rtol=1e-12, atol=1e-12)


def test_a_model_without_running_statistics_is_left_alone():
    model = dn.Sequential(dn.Dense(4, 3), dn.Tanh(), dn.Dense(3, 1), seed=0)
    params = model.params.copy()
    assert dn.update_bn(model, data()) is model
    assert_array_equal(model.params, params)


def unchanged(model, call, error, match):
    """``call()`` raises ``error`` and leaves the model's statistics, momenta, mode and
    generator as they were."""
    state, rng = model.state.copy(), model.rng.bit_generator.state
    before = momenta(model)
    with pytest.raises(error, match=match):
        call()
    assert_array_equal(model.state, state)
    assert momenta(model) == before
    assert model.rng.bit_generator.state == rng
    assert model.training


@pytest.mark.parametrize(("n", "batch_size"), [(49, 16), (1, 32), (10, 1)])
def test_a_batch_of_one_row_is_refused_before_anything_changes(n, batch_size):
    model = network()
    unchanged(model, lambda: dn.update_bn(model, data(n), batch_size=batch_size), ValueError,
              r"update_bn: BatchNorm1d\(num_features=8\) at index 1 .* on \d+ rows? makes a batch of 1")


def test_bad_input_is_refused_and_the_model_is_as_it_was():
    model = network(dropout=True)
    unchanged(model, lambda: dn.update_bn(model, np.ones((20, 5))), ValueError, "5")
    bad = data(40)
    bad[37, 2] = np.nan  # (X is checked whole before the first batch runs)
    unchanged(model, lambda: dn.update_bn(model, bad, batch_size=16), ValueError, "NaN|finite")
    unchanged(model, lambda: dn.update_bn(model, data(), batch_size=0), ValueError, "batch_size")
    unchanged(model, lambda: dn.update_bn(model, data(), batch_size=2.5), TypeError, "batch_size")
    unchanged(model, lambda: dn.update_bn(model, np.ones((0, 4))), ValueError, "empty")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_that_come_out_non_finite_are_refused_by_name_and_not_written(dtype):
    """Values before a BatchNorm1d whose variance overflows the dtype (rows of 1e20 in
    float32, 1e160 in float64) make its running variance inf, and every prediction after it
    a constant; as ``fit`` refuses such statistics (``DivergenceError.state``), ``update_bn``
    names the module and statistic, and the model keeps its own."""
    model = network().clone(dtype)
    unchanged(model, lambda: dn.update_bn(model, data() * HUGE[dtype]), ValueError,
              r"update_bn: the running statistics of BatchNorm1d\(num_features=8\) at index 1 \(its "
              r"running_var\) came out non-finite .* Scale the inputs")
    model[0].W[0, 0] = np.nan  # weights gone NaN: the statistics after them
    unchanged(model, lambda: dn.update_bn(model, data()), ValueError,
              r"BatchNorm1d\(num_features=8\) at index 1 \(its running_mean\) came out non-finite")
    model[0].W[0, 0] = 1.0  # the model is fine again: estimated
    dn.update_bn(model, data())
    assert np.isfinite(model.state).all()


class Centred(dn.Module):
    """Each batch's columns centred (statistics over the rows), with no running ones."""

    batch_statistics = True

    def plan(self, b):
        def forward():
            np.subtract(b.X, b.X.mean(axis=0), out=b.Y)

        return dn.Passes([forward], [] if b.dX is None else [lambda: np.copyto(b.dX, b.dY)])


def test_a_module_with_batch_statistics_but_no_running_ones_is_named():
    model = dn.Sequential(dn.Dense(4, 3), Centred(), dn.BatchNorm1d(3), seed=0)
    unchanged(model, lambda: dn.update_bn(model, data()), TypeError, r"update_bn: Centred\(\) at index 1")


def test_the_default_batch_size_is_32():
    X = data()  # 50 rows: batches of 32 and 18
    default, chosen = network(), network()
    dn.update_bn(default, X)
    dn.update_bn(chosen, X, batch_size=32)
    assert_array_equal(default.state, chosen.state)
    assert default[4].num_batches_tracked == 2


class Watch(dn.Module):
    """The identity, calling ``see()`` in each training pass (a function: copies share it)."""

    def __init__(self, see):
        super().__init__()
        self.see = see

    def plan(self, b):
        def forward():
            np.copyto(b.Y, b.X)
            self.see()

        return dn.Passes([forward], [] if b.dX is None else [lambda: np.copyto(b.dX, b.dY)])


def test_a_pass_that_fails_on_the_way_leaves_everything_as_it_was():
    """Ctrl-C in the third batch's pass: the two before it had their statistics averaged."""
    passes = []

    def interrupt():
        passes.append(1)
        if len(passes) == 3:
            raise KeyboardInterrupt

    model = network(dropout=True, last=[Watch(interrupt)])
    unchanged(model, lambda: dn.update_bn(model, data(), batch_size=16), KeyboardInterrupt, None)
    assert len(passes) == 3


def test_the_model_is_as_it_was_until_the_statistics_are_written():
    """Another thread's ``forward`` or ``fit`` meanwhile meets the model's own mode and
    momenta: the passes run on a copy, whose statistics are written back at the end."""
    seen = []
    model = network(dropout=True, last=[Watch(lambda: seen.append((model.training, momenta(model))))]).eval()
    dn.update_bn(model, data(), batch_size=16)
    assert seen == [(False, [0.1, None])] * 4


@pytest.mark.parametrize("rows", [16, 12])
@pytest.mark.parametrize("dropout", [False, True])
def test_a_backward_after_it_is_the_last_forward_s(dropout, rows):
    """``update_bn`` between a hand-written step's ``forward`` and ``backward`` leaves the
    backward pass that of the step's batch, bit for bit (PyTorch's raises an in-place
    modification error there): its last batch of the step's size, or of another."""
    X, step = data(48), data(rows, seed=3)
    dY = np.random.default_rng(4).standard_normal((rows, 1))
    plain, around = network(dropout=dropout), network(dropout=dropout)
    plain.forward(step)
    dX = plain.backward(dY)
    around.forward(step)
    dn.update_bn(around, X, batch_size=16)
    assert_array_equal(around.backward(dY), dX)
    assert_array_equal(around.grads, plain.grads)
