"""Every number of the tutorial (TUTORIAL.md), computed through densenet's own modules."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn

TOL = dict(rtol=1e-12, atol=0)
N_STARTS = 12


def test_section1_one_neuron():
    neuron = dn.Sequential(dn.Dense(2, 1), dn.Sigmoid())
    neuron[0].W[...] = [[0.0], [1.0]]
    neuron[0].b[...] = 4.0
    X = np.array([[2.0, 3.0]])
    assert_allclose(neuron[0].forward(X), [[7.0]], **TOL)
    assert_allclose(neuron.forward(X), [[0.9990889488055994]], **TOL)


def test_section2_network_forward():
    model = dn.tutorial.network([0, 1, 0, 1, 0, 1, 0, 0, 0])
    X = np.array([[2.0, 3.0]])
    h = model[1].forward(model[0].forward(X))
    assert_allclose(h, [[0.9525741268224334, 0.9525741268224334]], **TOL)
    assert_allclose(model.forward(X), [[0.7216325609518421]], **TOL)


def test_section3_named_parameters_layout():
    values = dict(w1=1.0, w2=2.0, w3=3.0, w4=4.0, w5=5.0, w6=6.0, b1=7.0, b2=8.0, b3=9.0)
    model = dn.tutorial.network(values)
    assert_allclose(model[0].W, [[1.0, 3.0], [2.0, 4.0]])
    assert_allclose(model[0].b, [7.0, 8.0])
    assert_allclose(model[2].W, [[5.0], [6.0]])
    assert_allclose(model[2].b, [9.0])
    assert dn.tutorial.named_params(model) == values
    assert dn.tutorial.named_params(dn.tutorial.network(list(values.values()))) == values


def test_section4_data():
    assert dn.tutorial.X.shape == (4, 2)
    assert dn.tutorial.y.shape == (4, 1)
    raw = np.array([[133, 65], [160, 72], [152, 70], [120, 60]], dtype=float)
    assert_allclose(dn.tutorial.X, raw - [135, 66])
    assert dn.tutorial.y.ravel().tolist() == [1.0, 0.0, 0.0, 1.0]
    new = {"Emily": (128, 63), "Frank": (155, 68)}  # section 8's weights and heights, shifted as X
    assert {name: tuple(np.subtract(raw, (135, 66))) for name, raw in new.items()} == dn.tutorial.NEW_PEOPLE


def test_section5_loss():
    loss = dn.MSELoss()
    assert loss.forward(np.zeros((4, 1)), dn.tutorial.y) == 0.5


def test_section6_backpropagation_worked_example():
    model = dn.tutorial.network([1, 1, 1, 1, 1, 1, 0, 0, 0])
    X, y = np.array([[-2.0, -1.0]]), np.array([[1.0]])
    loss = dn.MSELoss()

    h = model[1].forward(model[0].forward(X))
    assert_allclose(h, [[0.04742587317756678] * 2], **TOL)
    y_pred = model.forward(X)
    assert_allclose(y_pred, [[0.5236951740839997]], **TOL)

    loss.forward(y_pred, y)
    dL_dypred = loss.backward()
    assert_allclose(dL_dypred, [[-0.9526096518320006]], **TOL)

    # dy_pred/dh1: a unit gradient at the output, back through Sigmoid and Dense(2, 1)
    model[3].forward(model[2].forward(h))
    dypred_dh = model[2].backward(model[3].backward(np.ones((1, 1))))
    assert_allclose(dypred_dh[0, 0], 0.24943853872512894, **TOL)

    # dh1/dw1: a unit gradient at h1, back through Sigmoid and Dense(2, 2)
    model[0].backward(model[1].backward(np.array([[1.0, 0.0]])))
    assert_allclose(model[0].dW[0, 0], -0.09035331946182427, **TOL)

    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    dL_dw1 = model[0].dW[0, 0]
    assert_allclose(dL_dw1, 0.02146953526581111, **TOL)
    assert dL_dw1 > 0

    w1 = model[0].W[0, 0]
    dn.SGD(lr=0.1).step(model.params, model.grads)
    assert model[0].W[0, 0] < w1


def _max_rel_diff(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[k] - b[k]) / abs(b[k]) for k in a)


@pytest.mark.parametrize("seed", range(N_STARTS))
def test_section7_training_follows_scalar_version(seed):
    start = dn.tutorial.initial_params(seed)
    model = dn.tutorial.network(start)
    model.fit(dn.tutorial.X, dn.tutorial.y, optimizer=dn.SGD(lr=0.1), loss=dn.MSELoss(),
              epochs=1000, batch_size=1, shuffle=False)
    scalar = dn.reference.ScalarNetwork(start)
    losses = scalar.train(dn.tutorial.X, dn.tutorial.y, lr=0.1, epochs=1000)

    got, want = dn.tutorial.named_params(model), scalar.params()
    assert _max_rel_diff(got, want) <= 1e-12
    assert losses[-1] < losses[0]
    # section 8: both new people classified right
    emily, frank = model.predict([dn.tutorial.NEW_PEOPLE["Emily"], dn.tutorial.NEW_PEOPLE["Frank"]])
    assert emily[0] > 0.5
    assert frank[0] < 0.5
    assert float(scalar.feedforward(np.array(dn.tutorial.NEW_PEOPLE["Emily"]))) > 0.5


def test_section7_first_steps_follow_scalar_version(tutorial_start):
    model = dn.tutorial.network(tutorial_start)
    loss, sgd = dn.MSELoss(), dn.SGD(lr=0.1)
    scalar = dn.reference.ScalarNetwork(tutorial_start)
    for i in range(8):
        x, t = dn.tutorial.X[i % 4: i % 4 + 1], dn.tutorial.y[i % 4: i % 4 + 1]
        loss.forward(model.forward(x), t)
        model.backward(loss.backward())
        sgd.step(model.params, model.grads)
        scalar.train(x, t, lr=0.1, epochs=1)
        assert _max_rel_diff(dn.tutorial.named_params(model), scalar.params()) <= 1e-12


def test_section7_reported_losses_match_scalar_version(tutorial_start):
    """The MSE over all four samples every 10 epochs, as the tutorial reports it."""

    model, record = dn.tutorial.network(tutorial_start), dn.tutorial.EveryTenEpochs()
    model.fit(dn.tutorial.X, dn.tutorial.y, epochs=1000, batch_size=1, shuffle=False,
              callbacks=[record])
    scalar = dn.reference.ScalarNetwork(tutorial_start)
    want = scalar.train(dn.tutorial.X, dn.tutorial.y)
    assert len(record.losses) == len(want) == 100
    assert_allclose(record.losses, want, rtol=1e-10)
    assert want[-1] < 0.01


def test_initial_params_are_standard_normals_in_tutorial_order():
    start = dn.tutorial.initial_params(7)
    assert list(start) == list(dn.tutorial.NAMES)
    assert list(start.values()) == np.random.default_rng(7).standard_normal(9).tolist()


def test_initial_params_take_the_seeds_a_model_takes_and_refuse_the_others_by_name():
    """A negative seed went to NumPy, whose ``expected non-negative integer`` named no seed."""
    sequence = np.random.SeedSequence(7)
    assert dn.tutorial.initial_params(sequence) == dn.tutorial.initial_params(np.random.SeedSequence(7))
    assert dn.tutorial.initial_params(np.int64(7)) == dn.tutorial.initial_params(7)
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, .* got -1$"):
        dn.tutorial.initial_params(-1)
    with pytest.raises(TypeError, match=r"^seed must be .* got RandomState; a RandomState is NumPy's legacy"):
        dn.tutorial.initial_params(np.random.RandomState(0))
    with pytest.raises(TypeError, match=r"^seed must be .* got float"):
        dn.tutorial.initial_params(1.5)


@pytest.mark.parametrize("bad", [[1.0] * 8, dict(w1=1.0)])
def test_network_rejects_wrong_parameter_sets(bad):
    with pytest.raises(ValueError, match="w1"):
        dn.tutorial.network(bad)
