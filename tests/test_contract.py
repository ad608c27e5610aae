"""The public contract of DESIGN.md, name for name: these lines must keep working."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import densenet as dn

from .conftest import short_fits


def test_the_public_contract(tmp_path):
    model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), dn.Sigmoid())
    model32 = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dtype=np.float32, seed=0)
    assert model32.params.dtype == np.float32
    dn.Sequential(dn.Dense(2, 1), seed=np.random.default_rng(0))

    assert model.params.ndim == model.grads.ndim == 1
    assert model.params.size == model.grads.size
    assert model.params.dtype == model.grads.dtype
    for view, flat in ((model[0].W, model.params), (model[0].b, model.params),
                       (model[0].dW, model.grads), (model[0].db, model.grads)):
        assert np.shares_memory(view, flat)

    X, T = dn.tutorial.X, dn.tutorial.y
    Y = model.forward(X)
    np.testing.assert_array_equal(model(X), Y)
    loss = dn.MSELoss()
    value = loss.forward(Y, T)
    assert isinstance(value, float)
    dX = model.backward(loss.backward())
    assert dX.shape == X.shape
    before = model.params.copy()
    dn.SGD(lr=0.1).step(model.params, model.grads)
    assert not np.array_equal(before, model.params)

    history = model.fit(X, T, optimizer=dn.SGD(lr=0.1), loss=dn.MSELoss(),
                        epochs=1000, batch_size=1, shuffle=False)
    assert history.loss.shape == (1000,)
    model.fit(X, T.ravel(), epochs=1)  # y of shape (N,) for a one-output model
    P = model.predict(X)
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(dn.load(tmp_path / "m.npz").predict(X), P)

    assert dn.tutorial.X.shape == (4, 2)
    assert dn.tutorial.y.shape == (4, 1)
    start = dn.tutorial.initial_params(0)
    net = dn.tutorial.network(start)
    assert dn.tutorial.network(list(start.values())).params.tolist() == net.params.tolist()
    assert dn.tutorial.named_params(net) == start
    scalar = dn.reference.ScalarNetwork(start)
    assert isinstance(scalar.feedforward(X[0]), float)
    scalar.train(X, T, lr=0.1, epochs=1000)
    assert set(scalar.params()) == set(dn.tutorial.NAMES)


def test_the_round_two_contract(tmp_path):
    """DESIGN.md's "Round 2 adds", name for name."""
    import pytest

    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((12, 3)), rng.integers(0, 3, 12)
    for act in (dn.ReLU(), dn.Tanh(), dn.Softmax()):
        assert act.forward(X).shape == X.shape
    model = dn.Sequential(dn.Dense(3, 8, init="he_normal"), dn.ReLU(), dn.Dense(8, 3, init="he_uniform"),
                          seed=0)
    for loss, y in ((dn.CrossEntropyLoss(), labels), (dn.CrossEntropyLoss(), np.eye(3)[labels]),
                    (dn.BCEWithLogitsLoss(), np.eye(3)[labels])):
        assert np.isfinite(model.evaluate(X, y, loss))
    assert np.isfinite(dn.BCELoss().forward(np.full((2, 1), 0.5), np.ones((2, 1))))
    for optimizer in (dn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
                      dn.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
                      dn.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
                      dn.RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                                 centered=False),
                      dn.LBFGS()):
        twin = model.clone()
        twin.fit(X, labels, optimizer=optimizer, loss=dn.CrossEntropyLoss(), epochs=2)
    dn.set_num_threads(1)
    assert dn.get_num_threads() == 1
    dn.set_num_threads(None)
    with dn.threads(2):
        assert dn.get_num_threads() == 2
    pytest.importorskip("sklearn")
    from densenet.sklearn import DenseNetClassifier, DenseNetRegressor

    with short_fits():
        assert DenseNetClassifier(max_iter=5).fit(X, labels).predict(X).shape == (12,)
        assert DenseNetRegressor(max_iter=5).fit(X, X[:, 0]).predict(X).shape == (12,)
    pytest.importorskip("onnx")
    import densenet.onnx

    assert densenet.onnx.export(model, tmp_path / "m.onnx").graph.input[0].name == "X"
    from densenet.datasets import load_mnist

    with pytest.raises(FileNotFoundError, match="load_mnist"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("name", ["LeakyReLU", "PReLU", "ELU", "SELU", "SiLU", "GELU", "Softplus",
                                  "LayerNorm", "BatchNorm1d", "L1Loss", "HuberLoss", "SmoothL1Loss",
                                  "CrossEntropyLoss", "NLLLoss", "LogSoftmax", "AlphaDropout"])
def test_arguments_and_defaults_are_pytorch_s(name):
    """Every argument of the densenet class is one of PyTorch's class of the same name,
    with its default (``BatchNorm1d``'s ``affine`` included), but for the one default
    below: ``CrossEntropyLoss(ignore_index=None)`` and ``NLLLoss``'s, not -100, so that a
    loss ignoring nothing pays nothing for it per step, and a label of -100 is refused by name."""
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(dn, name)).parameters
    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    assert set(ours) <= set(theirs), set(ours) - set(theirs)
    ours_differ = {(loss, "ignore_index"): (None, -100) for loss in ("CrossEntropyLoss", "NLLLoss")}
    for p in ours:
        assert (ours[p].default, theirs[p].default) == ours_differ.get((name, p), (theirs[p].default,) * 2), p


def _arguments(sgd):
    """What each public class that needs arguments is made with (a new one fails the test
    below until it is listed)."""
    return {"BatchNorm1d": (4,), "Dense": (2, 3), "LayerNorm": (4,), "ModelCheckpoint": ("model.npz",),
            "CosineLR": (sgd, 5), "CosineRestartsLR": (sgd, 5), "ExponentialLR": (sgd, 0.9),
            "LinearLR": (sgd,), "MultiStepLR": (sgd, [2]), "OneCycleLR": (sgd, 1.0, 10),
            "ReduceLROnPlateau": (sgd,), "StepLR": (sgd, 2), "LRSchedule": (sgd,),
            "SequentialLR": (sgd, [dn.StepLR(sgd, 2)], []), "Optimizer": (0.1,)}


@pytest.mark.parametrize("name", sorted(
    name for name in dn.__all__ if inspect.isclass(getattr(dn, name))
    and issubclass(getattr(dn, name), (dn.Module, dn.Loss, dn.Optimizer, dn.Callback, dn.Metric))))
def test_a_subclass_is_shown_by_its_own_name(name):
    """Errors name an object by its ``repr``: a subclass's says the subclass, not its parent."""
    parent = getattr(dn, name)
    own = type(f"Own{name}", (parent,), {})
    sgd = dn.SGD(0.1)
    shown = repr(own(*_arguments(sgd).get(name, ())))
    assert f"Own{name}" in shown
    assert not shown.startswith(f"{name}(")
