"""Elementwise modules planned in place: output over input, dL/dX over dL/dY, same results."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densenet as dn
from densenet import backend

from .conftest import snapshot


class InPlaceSpy(dn.Module):
    """The identity, declared in place: records what each plan gave it."""

    in_place = True

    def __init__(self):
        self.given = []

    def plan(self, b):
        self.given.append((b.X is b.Y, b.dX is b.dY))
        return dn.Passes([partial(np.copyto, b.Y, b.X)],
                         [] if b.dX is None else [partial(np.copyto, b.dX, b.dY)])


class Identity(dn.Module):
    """The identity with the protocol's defaults (not in place, reads its output)."""

    def plan(self, b):
        return dn.Passes([partial(np.copyto, b.Y, b.X)],
                         [] if b.dX is None else [partial(np.copyto, b.dX, b.dY)])


def test_the_threshold_is_the_backends():
    assert backend.in_place(backend.IN_PLACE_MIN_SIZE)
    assert not backend.in_place(backend.IN_PLACE_MIN_SIZE - 1)


@pytest.mark.parametrize("rows, shared", [(4, True), (3, False), (1, False)],
                         ids=["from the threshold", "below it", "batch 1 (a ones column next)"])
def test_an_in_place_module_after_a_dense_shares_its_buffers_from_the_threshold(rows, shared, monkeypatch):
    monkeypatch.setattr(backend, "IN_PLACE_MIN_SIZE", 8)  # 4 rows x 2 features
    spy = InPlaceSpy()
    model = dn.Sequential(dn.Dense(3, 2), spy, dn.Dense(2, 1), seed=0)
    model.forward(np.ones((rows, 3)))
    assert spy.given == [(shared, shared)]


@pytest.mark.parametrize("before", [(), (dn.Dense(3, 2), dn.Sigmoid()), (dn.Dense(3, 2), Identity())],
                         ids=["first module", "after an output its module reads", "after a custom module"])
def test_an_in_place_module_never_writes_over_what_another_reads(before, monkeypatch):
    """The model's input (the first module's X) and an output that its own module's backward
    reads (Sigmoid's Y; a custom module's, by default) stay apart."""
    monkeypatch.setattr(backend, "IN_PLACE_MIN_SIZE", 0)
    spy = InPlaceSpy()
    model = dn.Sequential(*before, spy, dn.Dense(3 if not before else 2, 1), seed=0)
    model.forward(np.ones((4, 3)))
    assert spy.given == [(False, False)]


class Widening(InPlaceSpy):
    """Declared in place, but one feature wider than its input: it cannot be."""

    def output_width(self, width):
        return width + 1

    def plan(self, b):
        self.given.append((b.X is b.Y, b.dX is b.dY))
        return dn.Passes([partial(np.copyto, b.Y[:, :-1], b.X)], [partial(np.copyto, b.dX, b.dY[:, :-1])])


def test_a_module_that_changes_the_width_never_shares_its_buffers(monkeypatch):
    monkeypatch.setattr(backend, "IN_PLACE_MIN_SIZE", 0)
    spy = Widening()
    model = dn.Sequential(dn.Dense(3, 2), spy, dn.Dense(3, 1), seed=0)
    model.forward(np.ones((4, 3)))
    assert spy.given == [(False, False)]


def test_a_module_keeps_its_buffers_apart_by_default():
    assert not dn.Module.in_place
    assert dn.Module.reads_output
    assert not dn.Dense.reads_output
    assert not dn.Dense.in_place
    assert dn.Sigmoid.in_place
    assert dn.ReLU.in_place
    assert dn.Tanh.in_place
    assert dn.Dropout.in_place
    assert dn.LeakyReLU.in_place
    assert dn.GELU.in_place
    assert not dn.GELU.reads_output
    assert dn.ELU.in_place
    assert dn.SELU.in_place
    assert not dn.SiLU.in_place
    assert not dn.SiLU.reads_output
    assert not dn.PReLU.in_place
    assert not dn.PReLU.reads_output  # (any slope: X's sign is not Y's)
    assert not dn.LayerNorm.reads_output
    assert not dn.LayerNorm.in_place  # (as BatchNorm1d)
    assert not dn.Softplus.reads_output
    assert not dn.Softplus.in_place
    assert not dn.Dropout.reads_output  # its backward pass reads its mask, not its output
    assert dn.AlphaDropout.in_place
    assert not dn.AlphaDropout.reads_output  # (as Dropout)
    assert not dn.Softmax.in_place  # its backward reads dY after writing dX
    # it reads the normalised input it keeps, not its output: an activation after it may
    # write over that; and it is no elementwise module
    assert not dn.BatchNorm1d.reads_output
    assert not dn.BatchNorm1d.in_place


ARCHITECTURES = {
    "sigmoid": lambda: (dn.Dense(6, 5), dn.Sigmoid(), dn.Dense(5, 5), dn.Sigmoid(), dn.Dense(5, 2),
                        dn.Sigmoid()),
    "relu-tanh": lambda: (dn.Dense(6, 5), dn.ReLU(), dn.Dense(5, 5), dn.Tanh(), dn.Dense(5, 3), dn.Softmax()),
    "dropout": lambda: (dn.Dense(6, 5), dn.Dropout(0.3), dn.Dense(5, 5), dn.ReLU(), dn.Dropout(0.5),
                        dn.Dense(5, 2), dn.Dropout(0.2), dn.Sigmoid()),
    "batchnorm": lambda: (dn.Dense(6, 5), dn.BatchNorm1d(5), dn.ReLU(), dn.Dense(5, 5), dn.BatchNorm1d(5),
                          dn.Sigmoid(), dn.Dense(5, 2), dn.BatchNorm1d(2), dn.Tanh()),
    "leaky-elu-silu-gelu": lambda: (dn.Dense(6, 5), dn.LeakyReLU(0.1), dn.Dense(5, 5), dn.ELU(0.5), dn.SiLU(),
                                    dn.Dense(5, 5), dn.GELU(), dn.ELU(), dn.Dense(5, 4), dn.SELU(),
                                    dn.Dense(4, 2)),
    "selu-alpha-dropout": lambda: (dn.Dense(6, 5, init="lecun_normal"), dn.SELU(), dn.AlphaDropout(0.2),
                                   dn.Dense(5, 5, init="lecun_normal"), dn.SELU(), dn.AlphaDropout(0.5),
                                   dn.Dense(5, 2)),
    "two in a row": lambda: (dn.Dense(6, 5), dn.Sigmoid(), dn.Tanh(), dn.Dense(5, 5), dn.ReLU(), dn.Sigmoid(),
                             dn.Dense(5, 2)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_in_place_plans_compute_the_same_bits(name, dtype, monkeypatch):
    """Forward, dL/dX, the gradients and 8 fitted steps with every elementwise module in
    place and with none: the same passes on other buffers, so bit for bit the same."""
    rng = np.random.default_rng(0)
    X, targets = rng.standard_normal((16, 6)).astype(dtype), rng.uniform(size=(16, 3)).astype(dtype)
    results = {}
    for minimum in (0, np.inf):
        monkeypatch.setattr(backend, "IN_PLACE_MIN_SIZE", minimum)
        model = dn.Sequential(*ARCHITECTURES[name](), dtype=dtype, seed=1)
        Y = model.forward(X)
        dX = model.backward(np.cos(Y))
        grads = model.grads.copy()
        model.fit(X, targets[:, :Y.shape[1]], optimizer=dn.SGD(0.5), epochs=2, batch_size=4, shuffle=False)
        results[minimum] = Y, dX, grads, snapshot(model)
    for shared, apart in zip(results[0], results[np.inf]):
        assert_array_equal(shared, apart)
