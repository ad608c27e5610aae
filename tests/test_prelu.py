"""PReLU: its learned slopes (one for all features or one each), their gradient, its
arguments and copies, the ONNX export, and PyTorch's autograd and training loop."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn

from .conftest import COPIES, copied, forward_into_a_strided_output
from .torch_twin import assert_mse_gradients_equal_pytorch, torch_fit, torch_flat_params, torch_twin


def network(shared=False, dtype=np.float64, seed=0):
    """Two PReLUs among Dense layers, their slopes random: negative, above 1, between."""
    model = dn.Sequential(dn.Dense(4, 6), dn.PReLU(1 if shared else 6), dn.Dense(6, 5), dn.PReLU(5, init=0.1),
                          dn.Dense(5, 2), dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for module in (model[1], model[3]):
        module.a = rng.uniform(-1.5, 1.5, module.num_parameters)
    return model


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return 2 * rng.standard_normal((n, 4)), rng.standard_normal((n, 2))


@pytest.mark.parametrize("shared", [True, False])
def test_values_slopes_and_their_gradient(shared):
    act = dn.PReLU(1 if shared else 3)
    a = np.array([0.5]) if shared else np.array([0.5, -2.0, 1.5])
    act.a = a
    X = np.array([[-2.0, 0.0, 3.0], [1.0, -1.0, -0.0], [-4.0, 2.0, -3.0]])
    dY = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    assert_array_equal(act.forward(X), np.where(X > 0, X, a * X))
    # at 0 the slope below, as PyTorch's
    assert_array_equal(act.backward(dY), np.where(X > 0, dY, a * dY))
    below = dY * np.minimum(X, 0)
    assert_array_equal(act.da, [below.sum()] if shared else below.sum(axis=0))


@pytest.mark.parametrize("shared", [True, False])
def test_values_and_gradients_equal_pytorch_autograd(shared):
    pytest.importorskip("torch")
    model = network(shared)
    assert_mse_gradients_equal_pytorch(model, torch_twin(model), *data())


def test_a_fit_follows_pytorch_s_training_loop():
    torch = pytest.importorskip("torch")
    model = network(seed=2)
    net = torch_twin(model)
    X, y = data(48)
    model.fit(X, y, optimizer=dn.Adam(1e-2), epochs=4, batch_size=12, shuffle=False)
    torch_fit(net, torch.optim.Adam(net.parameters(), lr=1e-2), X, y, 4, 12)
    assert_allclose(model.params, torch_flat_params(net), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("shared", [True, False])
def test_gradcheck_passes(shared):
    model = network(shared)
    X, y = data(7)
    X[np.abs(X) < 1e-3] = 0.5
    assert dn.gradcheck(model, X, y).ok


def test_the_defaults_and_reset_are_pytorch_s():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.PReLU()
    act = dn.PReLU()
    assert act.num_parameters == theirs.num_parameters == 1
    assert_array_equal(act.a, theirs.weight.detach().numpy())
    model = dn.Sequential(dn.Dense(2, 3), dn.PReLU(3, init=-0.5), seed=0)
    model[1].a = [1.0, 2.0, 3.0]
    model.reset_parameters(1)
    assert_array_equal(model[1].a, [-0.5] * 3)
    assert repr(act) == "PReLU()"
    assert repr(model[1]) == "PReLU(num_parameters=3, init=-0.5)"


@pytest.mark.parametrize("how", COPIES)
def test_a_copy_keeps_its_slopes_and_trains_alike(how, tmp_path):
    model = network()
    twin = copied(model, how, tmp_path)
    assert_array_equal(twin[1].a, model[1].a)
    assert twin[3].init == 0.1
    X, y = data()
    for m in (model, twin):
        m.fit(X, y, optimizer=dn.SGD(0.05, momentum=0.9), epochs=2, batch_size=8, seed=0)
    assert_array_equal(twin.params, model.params)
    assert np.shares_memory(twin[1].a, twin.params)


@pytest.mark.parametrize("arguments, error, message", [
    ({"num_parameters": 0}, ValueError, "num_parameters"),
    ({"num_parameters": 2.0}, TypeError, "num_parameters"),
    ({"init": float("nan")}, ValueError, "PReLU: invalid init nan"),
    ({"init": float("inf")}, ValueError, "PReLU: invalid init inf"), ({"init": "0.25"}, TypeError, "init"),
])
def test_bad_arguments_are_refused_by_name(arguments, error, message):
    with pytest.raises(error, match=message):
        dn.PReLU(**arguments)


def test_one_slope_each_needs_the_features_it_has_slopes_for():
    with pytest.raises(ValueError, match=r"PReLU\(num_parameters=4\)"):
        dn.Sequential(dn.Dense(3, 5), dn.PReLU(4))
    with pytest.raises(ValueError, match=r"X has 5 features \(shape \(2, 5\)\), but "
                                         r"PReLU\(num_parameters=4\)"):
        dn.PReLU(4).forward(np.zeros((2, 5)))
    assert dn.PReLU().forward(np.ones((2, 7))).shape == (2, 7)  # one slope: any width


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_onnx_export_gives_what_predict_gives(dtype, shared):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from densenet.onnx import export

    model = network(shared, dtype)
    X = data()[0].astype(dtype)
    proto = export(model)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (Y,) = session.run(None, {"X": X})
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(Y, model.predict(X), rtol=tol, atol=tol)


def test_it_plans_into_a_strided_output():
    act = dn.PReLU(3)
    act.a = [0.5, -1.0, 2.0]
    X = np.array([[1.0, -2.0, 3.0], [-3.0, -1.0, 0.0], [0.0, 0.5, -2.0]])
    out, _ = forward_into_a_strided_output(act, X)
    assert_array_equal(out[:, 1:4], act.forward(X))
    assert not out[:, [0, 4]].any()
