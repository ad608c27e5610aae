"""AlphaDropout: dropout for SELU networks (dropped elements at SELU's lowest value, then
scaled and shifted to keep mean 0 and variance 1), the identity at inference."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet.alpha_dropout import ALPHA


def constants(p):
    """(a, the value of a dropped element, the shift of a kept one)."""
    a = 1 / np.sqrt((1 - p) * (1 + p * ALPHA**2))
    return a, ALPHA * a * (p - 1), ALPHA * a * p


def dropping(p, dtype=np.float64, n=400, width=50, seed=0):
    model = dn.Sequential(dn.Dense(width, width), dn.AlphaDropout(p), seed=seed, dtype=dtype)
    X = np.random.default_rng(seed).standard_normal((n, width)).astype(dtype)
    return model, X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [0.05, 0.5, 0.8])
def test_training_drops_each_element_with_probability_p_to_its_value_and_shifts_the_others(p, dtype):
    model, X = dropping(p, dtype)
    H = model[0].forward(X)
    Y = model.forward(X)
    a, low, shift = constants(p)
    dropped = np.equal(Y, np.asarray(low, dtype))
    assert abs(dropped.mean() - p) < 0.02
    assert Y.dtype == dtype
    assert_allclose(Y[~dropped], a * H[~dropped] + shift, rtol=1e-6 if dtype == np.float32 else 1e-14,
                    atol=1e-6 if dtype == np.float32 else 1e-14)


def test_its_constants_are_pytorch_s():
    """PyTorch's masks come from its own generator: its output's dropped value and kept
    elements' scale and shift, read off one of its passes, are ours."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.randn(4000, dtype=torch.float64)
    for p in (0.1, 0.5):
        y = torch.nn.functional.alpha_dropout(x, p, True).numpy()
        a, low, shift = constants(p)
        dropped = y == low
        assert abs(dropped.mean() - p) < 0.03
        assert_allclose(y[~dropped], a * x.numpy()[~dropped] + shift, rtol=1e-15, atol=1e-15)
    model, X = dropping(0.5)
    Y = model.forward(X)
    assert set(np.unique(Y[Y < -0.5])) >= {constants(0.5)[1]}  # (our dropped value among our outputs)


def test_selu_s_mean_and_variance_are_kept():
    model = dn.Sequential(dn.Dense(200, 200, init="lecun_normal"), dn.SELU(), dn.AlphaDropout(0.1), seed=1)
    X = np.random.default_rng(1).standard_normal((2000, 200))
    Y, H = model.forward(X), model.eval().forward(X)
    assert abs(Y.mean() - H.mean()) < 0.01
    assert abs(Y.std() - H.std()) < 0.01
    assert abs(Y.mean()) < 0.02
    assert abs(Y.std() - 1) < 0.02


def test_the_gradient_is_a_on_the_kept_elements_and_0_on_the_dropped():
    model, X = dropping(0.3, n=50)
    Y = model.forward(X)
    dX = model.backward(np.ones_like(Y))
    a, low, _ = constants(0.3)
    assert_allclose(dX, np.where(np.equal(Y, low), 0.0, a) @ model[0].W.T, rtol=1e-13, atol=1e-13)


def test_a_model_with_it_passes_gradcheck_for_one_mask_and_is_refused_by_lbfgs():
    rng = np.random.default_rng(2)
    model = dn.Sequential(dn.Dense(4, 6, init="lecun_normal"), dn.SELU(), dn.AlphaDropout(0.2),
                          dn.Dense(6, 2), seed=0)
    assert dn.gradcheck(model, rng.standard_normal((5, 4)), rng.uniform(size=(5, 2))).ok
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"AlphaDropout\(p=0.2\) at index 2 draws random numbers"):
        model.fit(rng.standard_normal((8, 4)), rng.uniform(size=(8, 2)), optimizer=dn.LBFGS())
    assert_array_equal(model.params, before)


def test_p_0_is_the_identity_and_p_1_zeroes_everything_as_pytorch():
    model, X = dropping(0.0, n=20)
    H = model[0].forward(X)
    assert_array_equal(model.forward(X), H)
    model[1].p = 1.0  # (a plan made already takes the new p)
    assert_array_equal(model.forward(X), 0.0)
    assert_array_equal(model.backward(np.ones_like(H)), 0.0)


@pytest.mark.parametrize("n", [3, 400])  # (small arrays on buffers of their own, large ones in place)
def test_inference_is_the_network_without_it_bit_for_bit(n):
    model, X = dropping(0.5, n=n)
    bare = dn.Sequential(copy.deepcopy(model[0]), seed=0)
    assert_array_equal(model.predict(X), bare.predict(X))
    assert_array_equal(model.eval().forward(X), bare.eval().forward(X))
    dY = np.cos(X)  # (dL/dX through the identity: the Dense alone's)
    assert_array_equal(model.backward(dY), bare.backward(dY))


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                      ("0.5", TypeError), (True, TypeError)])
def test_a_bad_p_is_refused_by_name(p, error):
    with pytest.raises(error, match="AlphaDropout.*p"):
        dn.AlphaDropout(p)


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "save"])
def test_a_copy_keeps_p_and_draws_the_same_masks(how, tmp_path):
    model, X = dropping(0.3, n=10)
    if how == "save":
        model.save(tmp_path / "m.npz")
        twin = dn.load(tmp_path / "m.npz")
    else:
        twin = copy.deepcopy(model) if how == "deepcopy" else pickle.loads(pickle.dumps(model))
    assert repr(twin[1]) == "AlphaDropout(p=0.3)"
    assert_array_equal(twin.forward(X), model.forward(X))


def test_the_onnx_export_infers():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from densenet.onnx import export

    model, X = dropping(0.5, n=6)
    proto = export(model)
    assert [n.op_type for n in proto.graph.node][-2:] == ["Identity", "Identity"]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert_allclose(session.run(None, {"X": X})[0], model.predict(X), rtol=1e-12, atol=1e-12)
