"""ONNX export, run in onnxruntime."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn

from .conftest import ACTIVATIONS as ALL
from .conftest import assert_within_rounding, error_bound

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from densenet.onnx import Graph, export  # noqa: E402

RUNS = {np.float32: ALL, np.float64: ALL}


def run(proto, X):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_onnxruntime_gives_what_predict_gives(seed, dtype):
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(1, 12, 6)]
    modules: list[dn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        modules.append(dn.Dense(n_in, n_out, init="he_normal"))
        if rng.random() < 0.8:  # sometimes Dense follows Dense directly
            modules.append(RUNS[dtype][(seed + i) % len(RUNS[dtype])]())
    model = dn.Sequential(*modules, dtype=dtype, seed=seed)
    model.params[...] += rng.normal(0, 0.1, model.params.size).astype(dtype)
    proto = export(model)
    onnx.checker.check_model(proto, full_check=True)
    for rows in (1, 9):  # the batch dimension is dynamic
        X = rng.standard_normal((rows, widths[0])).astype(dtype)
        Y = run(proto, X)
        assert Y.dtype == dtype
        assert Y.shape == (rows, widths[-1])
        # onnxruntime's products sum in another order than OpenBLAS's: the two agree
        # within the rounding the arithmetic allows (tests/conftest.py, error_bound)
        assert_within_rounding(Y, model.predict(X), error_bound(model, X))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["classifier", "binary", "multilabel", "regressor", "two-outputs",
                                  "poisson"])
def test_a_fitted_estimator_exports_what_it_predicts(kind, dtype):
    """A classifier's graph gives predict_proba (the softmax of its logits, or each label's
    sigmoid), a regressor's predict (its outputs, or their exp for the Poisson loss), in
    rows of the network's outputs: (N, 1) where predict gives (N,)."""
    pytest.importorskip("sklearn")
    from densenet.sklearn import DenseNetClassifier, DenseNetRegressor

    from .conftest import short_fits

    X = np.random.default_rng(0).standard_normal((60, 2)).astype(dtype)
    labels = (X[:, 0] > 0) + (X[:, 1] > 0)  # three classes
    targets = {"classifier": labels, "binary": labels == 1, "multilabel": np.c_[labels == 0, X[:, 0] > 0] * 1,
               "regressor": X[:, 0] - X[:, 1], "two-outputs": X, "poisson": np.exp(X[:, 0] / 2)}[kind]
    params = dict(hidden_layer_sizes=(8,), max_iter=20, dtype=dtype, random_state=0)
    estimator = (DenseNetRegressor(**params, loss="poisson" if kind == "poisson" else "squared_error")
                 if kind in ("regressor", "two-outputs", "poisson") else DenseNetClassifier(**params))
    with short_fits():
        estimator.fit(X, targets)
    proto = export(estimator)
    Y = run(proto, X)
    heads = proto.graph.node[len(export(estimator.model_).graph.node) - 1:-1]  # (after the network's)
    assert [node.name for node in heads] == [f"estimator/{node.output[0]}" for node in heads]
    assert bool(heads) == (kind not in ("regressor", "two-outputs"))  # (their predictions: the outputs)
    classifier = isinstance(estimator, DenseNetClassifier)
    expected = estimator.predict_proba(X) if classifier else estimator.predict(X)
    assert Y.dtype == dtype
    assert Y.shape == (60, estimator.model_.out_features)
    assert_allclose(Y, expected.reshape(Y.shape), rtol=1e-5 if dtype == "float32" else 1e-12,
                    atol=1e-6 if dtype == "float32" else 1e-14)


def test_an_estimator_not_fitted_or_not_densenet_s_is_named():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier

    from densenet.sklearn import DenseNetClassifier

    from .conftest import short_fits

    with short_fits():
        theirs = MLPClassifier(max_iter=2).fit(np.eye(3), [0, 1, 2])
    for estimator in (DenseNetClassifier(), DenseNetClassifier(solver="lbfgs"), theirs):
        named = rf"export: {type(estimator).__name__} is not a fitted densenet.sklearn estimator \("
        with pytest.raises(TypeError, match=named + r"DenseNetClassifier or DenseNetRegressor, after fit\)"):
            export(estimator)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_exported_sigmoid_keeps_its_accuracy_in_the_tails(dtype):
    """onnxruntime's own Sigmoid operator gives 0 from x = -20 (float32) or -38 (float64)
    on, where the value is 2e-9 or 3e-17, and is 2x off at -17 (float32): the export's
    sigmoid stays within a few ulp of the exact value wherever that is a normal number,
    as ``predict``'s does."""
    from scipy.special import expit

    model = dn.Sequential(dn.Dense(1, 1), dn.Sigmoid(), dtype=dtype, seed=0)
    model[0].W, model[0].b = 1.0, 0.0
    edge = -np.log(np.finfo(dtype).tiny)  # beyond it the exact value is subnormal
    X = np.linspace(-edge, edge, 4001).astype(dtype)[:, None]
    truth = expit(X.astype(np.float64))  # float64 expit: within 1 ulp of exact
    bound = 3 * np.spacing(truth.astype(dtype))
    for Y in (model.predict(X), run(export(model), X)):
        worst = np.argmax(np.abs(Y - truth) / bound)
        assert np.all(np.abs(Y - truth) <= bound), (X[worst], Y[worst], truth[worst])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_is_onnx_s_log_softmax_over_the_last_axis(dtype):
    model = dn.Sequential(dn.Dense(3, 5), dn.Tanh(), dn.Dense(5, 4), dn.LogSoftmax(), seed=0, dtype=dtype)
    model.params[...] *= 20  # (log-probabilities far below 0 too)
    proto = export(model)
    assert [(n.op_type, [a.i for a in n.attribute]) for n in proto.graph.node][-2] == ("LogSoftmax", [-1])
    X = np.random.default_rng(1).standard_normal((9, 3)).astype(dtype)
    assert_within_rounding(run(proto, X), model.predict(X), error_bound(model, X))


def test_the_graph_has_named_dynamic_input_and_output_and_is_written_to_a_file(tmp_path):
    model = dn.Sequential(dn.Dense(4, 3), dn.Tanh(), dn.Dense(3, 2), dn.Softmax(), seed=0)
    proto = export(model, tmp_path / "model.onnx")
    (x,), (y,) = proto.graph.input, proto.graph.output
    assert x.name == "X"
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["N", 4]
    assert y.name == "Y"
    assert [d.dim_param or d.dim_value for d in y.type.tensor_type.shape.dim] == ["N", 2]
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Tanh", "Gemm", "Softmax", "Identity"]
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]  # the documented default
    loaded = onnx.load(tmp_path / "model.onnx")
    X = np.random.default_rng(0).standard_normal((5, 4))
    assert_allclose(run(loaded, X), model.predict(X), rtol=1e-12)


def test_the_export_writes_to_a_binary_file_object_what_it_writes_to_a_file(tmp_path):
    model = dn.Sequential(dn.Dense(4, 3), dn.ReLU(), dn.Dense(3, 2), seed=0)
    buffer = io.BytesIO()
    proto = export(model, buffer)
    export(model, tmp_path / "model.onnx")
    assert buffer.getvalue() == (tmp_path / "model.onnx").read_bytes() == proto.SerializeToString()
    X = np.random.default_rng(0).standard_normal((5, 4))
    assert_allclose(run(onnx.load(io.BytesIO(buffer.getvalue())), X), model.predict(X), rtol=1e-12)
    with open(tmp_path / "text.onnx", "w") as f, pytest.raises(TypeError, match="export: .*text mode"):
        export(model, f)


def test_a_failed_export_keeps_the_earlier_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The export writes as ``save`` does: a temporary file moved over the name."""
    path = tmp_path / "model.onnx"
    export(dn.Sequential(dn.Dense(4, 1), seed=0), path)
    before = path.read_bytes()

    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        export(dn.Sequential(dn.Dense(4, 2), seed=1), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.onnx"]
    with pytest.raises(FileNotFoundError, match="export: cannot write .*the folder .*missing"):
        export(dn.Sequential(dn.Dense(4, 1), seed=0), tmp_path / "missing" / "model.onnx")
    with pytest.raises(IsADirectoryError, match="export: .* is a folder; give a file name .*model.onnx"):
        export(dn.Sequential(dn.Dense(4, 1), seed=0), tmp_path)


def test_a_module_without_an_onnx_form_is_named():
    class Double(dn.Module):
        def forward(self, X):
            return 2 * X

    model = dn.Sequential(dn.Dense(2, 2), Double(), seed=0)
    with pytest.raises(TypeError, match=r"export: Double\(\) at index 1 cannot be exported to ONNX"):
        export(model)
    with pytest.raises(TypeError, match=r"export: model must be a densenet Sequential, got Dense Dense"):
        export(dn.Dense(2, 2))


class Doubled(dn.Module):
    """``2 X``, exported by ``write(graph, x)``."""

    write = staticmethod(lambda graph, x: graph.node("Mul", [x, graph.constant(np.array(2.0))]))

    def forward(self, X):
        return 2 * X

    def to_onnx(self, graph, x):
        return type(self).write(graph, x)


def test_a_module_s_own_onnx_form_exports_with_its_nodes_named_after_it():
    X = np.random.default_rng(0).standard_normal((5, 2))
    model = dn.Sequential(dn.Dense(2, 3), Doubled(), dn.Dense(3, 1), seed=0)
    proto = export(model)
    assert_allclose(run(proto, X), model.predict(X), rtol=1e-12)
    names = [node.name for node in proto.graph.node[:3]]
    assert names == ["Dense_0/gemm_3", "Doubled_1/mul_5", "Dense_2/gemm_8"]


def test_a_graph_s_nodes_are_named_after_their_writer():
    graph = Graph(onnx, np.dtype(np.float64))
    assert graph.node("Neg", ["X"]) == "neg_1"
    assert graph.nodes[-1].name == "graph/neg_1"
    graph.writer = "Doubled_3"
    assert graph.node("Neg", ["neg_1"]) == "neg_2"
    assert graph.nodes[-1].name == "Doubled_3/neg_2"
    assert graph.tensors == {"X", "neg_1", "neg_2"}


@pytest.mark.parametrize("write, match", [
    (lambda graph, x: None, r"to_onnx\(graph, x\) returned None, not the name of a tensor of the graph"),
    (lambda graph, x: "nowhere", r"to_onnx\(graph, x\) returned 'nowhere', not the name of a tensor"),
    (lambda graph, x: graph.node, r"to_onnx\(graph, x\) returned a method, not the name"),
])
def test_a_module_whose_onnx_form_returns_no_tensor_of_the_graph_is_named(write, match):
    """A forgotten ``return`` failed in onnx (``bad argument type for built-in operation``),
    an unknown name in its checker (``Nodes in a graph must be topologically sorted``),
    naming no module."""
    class Odd(Doubled):
        pass

    Odd.write = staticmethod(write)
    for model in (dn.Sequential(dn.Dense(2, 3), Odd(), dn.Dense(3, 1)), dn.Sequential(dn.Dense(2, 3), Odd())):
        with pytest.raises(TypeError, match=r"^export: Odd\(\) at index 1: " + match):
            export(model)


def test_onnx_s_refusal_of_a_module_s_node_names_the_module():
    class Misspelt(Doubled):
        write = staticmethod(lambda graph, x: graph.node("Mull", [x, graph.constant(np.array(2.0))]))

    with pytest.raises(Exception, match=r"Mull(.|\n)*Misspelt_1/mull_"):
        export(dn.Sequential(dn.Dense(2, 3), Misspelt(), dn.Dense(3, 1)))


@pytest.mark.parametrize("make, constant", [(lambda: dn.Softplus(beta=1e39), "beta"),
                                             (lambda: dn.LayerNorm(3, eps=1e39), "eps")])
def test_a_constant_beyond_the_range_of_the_model_s_dtype_is_refused(tmp_path, make, constant):
    """A setting the float32 model itself refuses when it runs (``test_errors.py``) was
    written as inf, with a warning of the cast; float64 holds it."""
    model = dn.Sequential(dn.Dense(2, 3), make(), dtype=np.float32, seed=0)
    path = tmp_path / "m.onnx"
    name = type(model[1]).__name__
    with np.errstate(all="raise"), pytest.raises(ValueError, match=rf"^export: {name}_1's constant "
                                                                     rf"'{constant}' "
                                                                     r"holds 1e\+39, beyond float32's range "
                                                                     r"\(the model's dtype\)$"):
        export(model, path)
    assert not path.exists()
    assert export(dn.Sequential(dn.Dense(2, 3), make(), seed=0)) is not None


def batchnorm_model(dtype, eps, running_var):
    """Dense(2, 3) then a BatchNorm1d of ``eps`` with the running statistics given (in eval mode)."""
    model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3, eps=eps), dtype=dtype, seed=0)
    norm = model[1]
    norm.running_mean[...] = [0.5, -1.0, 2.0]
    norm.running_var[...] = running_var
    norm.gamma[...], norm.beta[...] = [1.5, -0.5, 2.0], [0.1, 0.2, -0.3]
    return model.eval()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps, running_var", [(1e-3, [1e-4, 3e-3, 2e-4]), (1e-5, [2e-6, 1.0, 0.0]),
                                              (0.1, [1e-8, 0.5, 3.0]), (1e-30, [0.0, 1e-25, 4.0])])
def test_a_batchnorm_exports_its_eps_in_the_model_s_dtype(dtype, eps, running_var):
    """BatchNormalization's epsilon is a float attribute, a float32 whatever the model's
    dtype: 1e-3 in it is 1.0000000474974513e-3, which moved a float64 model's outputs by up
    to 2e-8 of themselves where its variances are small (millions of times the rounding),
    and 1e-30 was written as 0, dividing a feature of variance 0 by 0. The graph holds
    ``running_var + eps`` as the model adds them, and an epsilon of 0."""
    model = batchnorm_model(dtype, eps, running_var)
    X = np.random.default_rng(0).standard_normal((9, 2)).astype(dtype)
    proto = export(model)
    norms = [node for node in proto.graph.node if node.op_type == "BatchNormalization"]
    assert len(norms) == 1
    assert onnx.helper.get_node_attr_value(norms[0], "epsilon") == 0.0
    Y, P = run(proto, X), model.predict(X)
    assert np.isfinite(P).all()
    assert_within_rounding(Y, P, error_bound(model, X))


@pytest.mark.parametrize("eps, match", [
    (1e39, r"eps=1e\+39\): eps=1e\+39 is beyond float32's range \(the model's dtype\)"),
    (1e-50, r"eps=1e-50\): eps=1e-50 is 0 in float32 \(the model's dtype\): a feature of one value")])
def test_a_batchnorm_eps_the_model_s_dtype_cannot_hold_is_refused(eps, match):
    """An eps the float32 model refuses when it runs (1e39: inf in float32; 1e-50: 0) is
    refused by name; a float64 model holds it, and its graph gives what it predicts."""
    model = batchnorm_model(np.float32, eps, 1.0)
    with np.errstate(all="raise"), pytest.raises(ValueError, match=r"^export: BatchNorm1d\(num_features=3, "
                                                                     + match):
        export(model)
    with pytest.raises(ValueError, match=match):  # (what its passes say)
        model.predict(np.zeros((1, 2), np.float32))
    model = batchnorm_model(np.float64, eps, 1.0)
    X = np.random.default_rng(0).standard_normal((4, 2))
    assert_within_rounding(run(export(model), X), model.predict(X), error_bound(model, X))


@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("dtype, peak, subnormal", [(np.float32, 1e20, 1e-40), (np.float32, 3e38, 1e-40),
                                                    (np.float64, 1e160, 1e-310), (np.float64, 1e300, 1e-310)])
@pytest.mark.parametrize("subnormal_eps", [False, True])
def test_an_exported_layernorm_normalises_huge_rows_as_predict_does(dtype, peak, subnormal, subnormal_eps,
                                                                     opset):
    """A first LayerNorm's squares of rows beyond 1.8e19 (float32) or 1e154 (float64)
    overflowed in the graph, which gave 0 for every feature where predict normalises them
    (each row scaled by a power of two, ``eps`` with it). The graph scales each row the same
    way (its largest magnitude's power of two; the row max is a ReduceMax, whose axes are an
    attribute before opset 18 and an input from it); rows within [-1, 1] and the rows
    beside huge ones are computed as before, with an ``eps`` below the smallest normal
    number too. A LayerNorm after the first module sees its inputs as they are, as in predict."""
    eps = subnormal if subnormal_eps else 1e-5
    model = dn.Sequential(dn.LayerNorm(4, eps=eps), dn.Dense(4, 3), dn.LayerNorm(3, elementwise_affine=False),
                          dtype=dtype, seed=0)
    model[0].gamma[...], model[0].beta[...] = [1.5, -0.5, 2.0, 1.0], [0.1, 0.2, -0.3, 0.0]
    rng = np.random.default_rng(0)
    rows = rng.uniform(-1, 1, (6, 4))
    rows[3] = 0.0  # a row of one value: 0 / sqrt(eps), with eps scaled as its variance
    rows[5] = [0.0, np.sqrt(eps), -np.sqrt(eps), 0.0]  # a variance beside eps
    powers = np.array([0, 3, np.frexp(peak)[1] - 1, np.frexp(peak)[1] - 1, -2, 0])[:, None]
    X = np.ldexp(rows, powers).astype(dtype)
    proto = export(model, opset=opset)
    scaling = [node.name.split("/")[0] for node in proto.graph.node if node.op_type == "ReduceMax"]
    assert scaling == ["LayerNorm_0"]
    Y, P = run(proto, X), model.predict(X)
    assert np.isfinite(P).all()
    # both compute the model on each row scaled to within [-1, 1]: the rounding of that
    assert_within_rounding(Y, P, error_bound(model, np.ldexp(X.astype(np.float64), -np.maximum(powers, 0))))
    assert np.abs(Y[2]).max() > 0.1  # (was 0)


def test_a_subclass_whose_passes_are_its_own_but_whose_onnx_form_is_its_parent_s_is_named():
    """A subclass of ``Sigmoid`` with a plan of its own (a hard sigmoid) inherits Sigmoid's
    ``to_onnx``: the file would compute a sigmoid. Refused, where a subclass that
    redefines ``to_onnx`` too, or only what the graph does not see, exports."""

    class Hard(dn.Sigmoid):
        def plan(self, buffers):
            return dn.Module.plan(self, buffers)

        def forward(self, X):
            return np.clip(0.25 * X + 0.5, 0.0, 1.0)

    model = dn.Sequential(dn.Dense(2, 2), Hard(), seed=0)
    with pytest.raises(TypeError, match=r"^export: Hard\(\) at index 1 redefines plan\(\) but inherits "
                                        r"Sigmoid's to_onnx\(\), which would write Sigmoid's function: "
                                        r"define to_onnx\(graph, x\) too$"):
        export(model)

    class Exported(Hard):
        def to_onnx(self, graph, x):
            return dn.Module.to_onnx(self, graph, x)

    with pytest.raises(TypeError, match=r"Exported\(\) at index 1 cannot be exported to ONNX"):
        export(dn.Sequential(dn.Dense(2, 2), Exported(), seed=0))

    class Named(dn.Sigmoid):  # (its repr alone is its own: the passes are Sigmoid's)
        def __repr__(self):
            return "Named()"

    X = np.random.default_rng(0).standard_normal((5, 2))
    named = dn.Sequential(dn.Dense(2, 2), Named(), seed=0)
    assert_allclose(run(export(named), X), named.predict(X), rtol=1e-12)


@pytest.mark.parametrize("opset, error", [(12, ValueError), (1, ValueError), (10_000, ValueError),
                                          (17.0, TypeError), ("17", TypeError), (True, TypeError)])
def test_an_opset_outside_what_the_export_and_onnx_know_is_refused(opset, error):
    """Below 13 Softmax is not over one axis; above onnx's newest the graph names an opset
    no runtime has (onnxruntime refuses it, as it refuses opset 1's Gemm)."""
    model = dn.Sequential(dn.Dense(2, 2), dn.Softmax(), seed=0)
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(error, match=rf"export: opset must be an integer from 13 to {newest}"):
        export(model, opset=opset)


def test_an_opset_is_shown_by_its_value():
    model = dn.Sequential(dn.Dense(2, 2), seed=0)
    with pytest.raises(ValueError, match=r"\), got 12$"):  # (NumPy 2's repr: np.int64(12))
        export(model, opset=np.int64(12))
    assert export(model, opset=np.int64(17)).opset_import[0].version == 17


@pytest.mark.parametrize("opset, ir_version", [(13, 7), (17, 8)])
def test_the_file_is_of_the_oldest_ir_version_its_opset_allows(opset, ir_version):
    """ONNX's versioning table: opset 13 came with IR version 7, opsets 14-18 with 8.
    onnx writes its newest IR by default (14 in onnx 1.23), which a runtime that runs
    the opset may not load (onnxruntime 1.23 loads up to 11)."""
    model = dn.Sequential(dn.Dense(2, 2), dn.Softmax(), seed=0)
    assert export(model, opset=opset).ir_version == ir_version


def mixed_model_and_inputs():
    model = dn.Sequential(dn.Dense(3, 4), dn.Sigmoid(), dn.Dense(4, 2), dn.Softmax(), seed=0)
    return model, np.random.default_rng(0).standard_normal((5, 3))


@pytest.mark.parametrize("opset", [13, 17])
def test_the_oldest_and_the_default_opset_run(opset):
    model, X = mixed_model_and_inputs()
    assert_allclose(run(export(model, opset=opset), X), model.predict(X), rtol=1e-12)


def run_where_the_runtime_knows(proto, X, opset):
    """``run``, or skip the test where the installed onnxruntime does not run ``opset``
    (onnx 1.23's opset 28, IR 14, against onnxruntime 1.23's IR 11 on Python 3.10)."""
    try:
        return run(proto, X)
    except Exception as error:  # onnxruntime's own Fail, which it does not export
        if "Unsupported model IR version" not in str(error):
            raise
        pytest.skip(f"onnxruntime {ort.__version__} does not run opset {opset} (onnx {onnx.__version__}): "
                    f"{str(error).splitlines()[0][-60:]}")


def every_module_model(dtype):
    """A first LayerNorm, a BatchNorm1d of trained statistics, then each activation between
    Dense layers, ending in a Softmax: every module kind that infers (Dropout is an Identity)."""
    modules: list[dn.Module] = [dn.LayerNorm(3), dn.Dense(3, 5, init="he_normal"), dn.BatchNorm1d(5)]
    for make in ALL:
        if make not in (dn.Softmax, dn.LogSoftmax):
            modules += [make(), dn.Dense(5, 5, init="he_normal")]
    model = dn.Sequential(*modules, dn.LogSoftmax(), dn.Dense(5, 2), dn.Softmax(), dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    model.params[...] += rng.normal(0, 0.1, model.params.size).astype(dtype)
    model[2].running_mean[...], model[2].running_var[...] = rng.normal(0, 1, 5), rng.uniform(0.1, 2, 5)
    return model


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opset", range(13, onnx.defs.onnx_opset_version() + 1))
def test_every_module_exports_at_every_opset_the_runtime_runs(opset, dtype):
    """Each operator set from 13 to onnx's newest: the graph is checked against its
    definitions, and where the installed onnxruntime runs it, gives what predict gives."""
    model = every_module_model(dtype)
    X = np.random.default_rng(0).standard_normal((7, 3)).astype(dtype)
    Y = run_where_the_runtime_knows(export(model, opset=opset), X, opset)
    assert_within_rounding(Y, model.predict(X), error_bound(model.eval(), X))


def test_the_newest_opset_runs_where_the_runtime_knows_it():
    """onnx's newest opset may be newer than what the installed onnxruntime runs (onnx
    1.23's opset 28, IR 14, against onnxruntime 1.23's IR 11 on Python 3.10): then the
    export is still checked against that opset's definitions, and running it is skipped."""
    model, X = mixed_model_and_inputs()
    newest = onnx.defs.onnx_opset_version()
    Y = run_where_the_runtime_knows(export(model, opset=newest), X, newest)
    assert_allclose(Y, model.predict(X), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gelu_exports_by_erf_in_float32_and_by_densenet_s_own_passes_in_float64(dtype):
    """onnxruntime has no float64 ``Erf``: a float64 GELU is exported as the passes of
    ``densenet.normal``, within a few ulp of the exact value for ``|x| < 5`` and within
    ``(8 + x**2 / 2) eps`` of it down to where it underflows, as ``predict``'s."""
    mp = pytest.importorskip("mpmath")
    model = dn.Sequential(dn.Dense(1, 1), dn.GELU(), dtype=dtype, seed=0)
    model[0].W, model[0].b = 1.0, 0.0
    proto = export(model)
    assert ("Erf" in [n.op_type for n in proto.graph.node]) == (dtype == np.float32)
    X = np.linspace(-38, 10, 2401).astype(dtype)[:, None]
    Y = run(proto, X)
    with mp.workdps(40):
        exact = np.array([float(mp.mpf(float(x)) * mp.ncdf(mp.mpf(float(x)))) for x in X[:, 0]])[:, None]
    eps, x = np.finfo(dtype).eps, X.astype(np.float64)
    normal = np.abs(exact) > np.finfo(dtype).tiny / eps
    if dtype == np.float64:
        assert np.all(np.abs(Y - exact)[normal] <= ((8 + x ** 2 / 2) * eps * np.abs(exact))[normal])
    else:  # (Erf's 1 + erf cancels below zero: a few eps |x|, as PyTorch's)
        assert np.all(np.abs(Y - exact) <= 4 * eps * np.abs(x) + 8 * eps * np.abs(exact))
    assert_within_rounding(Y, model.predict(X), error_bound(model, X))


@pytest.mark.parametrize("make", [lambda: dn.ELU(), lambda: dn.ELU(alpha=0.3), lambda: dn.SELU()],
                         ids=["elu", "elu-0.3", "selu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_exported_exponential_units_keep_their_accuracy_near_zero(dtype, make):
    """ONNX has no ``Expm1``, and ``Exp(x) - 1`` loses every digit near 0 (ELU(-1e-8) was 0 in
    float32, and 10% off at -1.2e-16 in float64): the export's ``expm1(x) = 2 t / (1 - t)``,
    ``t = tanh(x / 2)``, stays within a few ulp of the exact value (float64's ``expm1``) from
    1e-30 (float32: where ``x / 2`` is far from subnormal) to where it is -alpha, as
    ``predict``'s does."""
    from scipy.special import expm1

    from densenet.selu import ALPHA, SCALE

    module = make()
    model = dn.Sequential(dn.Dense(1, 1), module, dtype=dtype, seed=0)
    model[0].W, model[0].b = 1.0, 0.0
    low = 1e-30 if dtype == np.float32 else 1e-300
    X = np.concatenate([-np.logspace(np.log10(low), 3, 3000), np.logspace(-3, 3, 100)]).astype(dtype)[:, None]
    x = X.astype(np.float64)
    alpha, scale = (module.alpha, 1.0) if isinstance(module, dn.ELU) else (ALPHA, SCALE)
    truth = scale * np.where(x > 0, x, alpha * expm1(np.minimum(x, 0)))
    bound = 6 * np.spacing(np.abs(truth).astype(dtype)).astype(np.float64)
    for Y in (model.predict(X), run(export(model), X)):
        worst = np.argmax(np.abs(Y - truth) / bound)
        assert np.all(np.abs(Y - truth) <= bound), (X[worst], Y[worst], truth[worst])


@pytest.mark.parametrize("make", [lambda: dn.Softplus(), lambda: dn.Softplus(beta=2.0, threshold=5.0)],
                         ids=["default", "beta-2"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_exported_softplus_keeps_its_accuracy_in_its_far_tail(dtype, make):
    """ONNX has no ``Log1p``, and ``Log(1 + e)`` rounds ``e`` below an ulp of 1 away (the
    output was 0 from x = -37 in float64, where it is 1e-16): the export's
    ``log1p(e) = Log(u) - ((u - 1) - e) / u``, ``u = 1 + e`` (the rounding of ``u`` taken back),
    stays within a few ulp of the exact value wherever that is a normal number, as
    ``predict``'s."""
    from scipy.special import log1p

    module = make()
    model = dn.Sequential(dn.Dense(1, 1), module, dtype=dtype, seed=0)
    model[0].W, model[0].b = 1.0, 0.0
    low = np.log(np.finfo(dtype).tiny) / module.beta  # (below it the exact value is subnormal)
    X = np.linspace(low, 2 * module.threshold / module.beta, 4001).astype(dtype)[:, None]
    x = X.astype(np.float64)
    scaled = module.beta * x
    soft = log1p(np.exp(np.minimum(scaled, module.threshold))) / module.beta
    truth = np.where(scaled > module.threshold, x, soft)
    bound = 4 * np.spacing(truth.astype(dtype)).astype(np.float64)
    for Y in (model.predict(X), run(export(model), X)):
        worst = np.argmax(np.abs(Y - truth) / bound)
        assert np.all(np.abs(Y - truth) <= bound), (X[worst], Y[worst], truth[worst])
