"""ONNX export: a trained model as an ``onnx.ModelProto``, to serve with onnxruntime.

Needs the ``onnx`` extra (``pip install 'densenet[onnx]'``: onnx and onnxruntime),
imported only when ``export`` is called. Each module writes its own part of the
graph (``Module.to_onnx``) through a small builder, so the exporter never looks
inside a module and the modules never import onnx.

>>> import numpy as np, densenet as dn
>>> model = dn.Sequential(dn.Dense(2, 3), dn.ReLU(), dn.Dense(3, 2), dn.Softmax(), seed=0)
>>> proto = export(model)                                          # doctest: +SKIP
>>> import onnxruntime                                             # doctest: +SKIP
>>> session = onnxruntime.InferenceSession(proto.SerializeToString())  # doctest: +SKIP
>>> session.run(None, {"X": np.ones((4, 2))})[0].shape             # doctest: +SKIP
(4, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import described, redefined_before, shown
from .io import File, write_file
from .model import Sequential, as_model
from .module import Module
from .sigmoid import Sigmoid
from .softmax import Softmax

#: What a fitted estimator's predictions are of its network's outputs, by its
#: ``out_activation_`` (the MLP's names): ``predict_proba``'s softmax or each label's
#: sigmoid, ``predict``'s outputs or their exp (``loss="poisson"``).
_HEADS: dict[object, Callable[[Graph, str], str]] = {
    "softmax": Softmax().to_onnx, "logistic": Sigmoid().to_onnx,
    "identity": lambda graph, x: x, "exp": lambda graph, x: graph.node("Exp", [x]),
}

#: The ONNX operator set the graphs are written for by default.
OPSET = 17

#: The oldest operator set ``export`` writes: Softmax over one axis needs 13 (before it,
#: opset 7 to 12 flatten the other axes; onnxruntime runs no Gemm older than 7).
OPSET_MIN = 13


class Graph:
    """What a module writes its part of the graph with (``Module.to_onnx``)."""

    def __init__(self, onnx: Any, dtype: np.dtype[Any], opset: int = OPSET) -> None:
        self._onnx, self.dtype, self.opset = onnx, dtype, opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        #: the name of the graph's input, what the first module writes its part on
        self.input = "X"
        #: the names of the graph's tensors so far: its input, constants and nodes' outputs
        self.tensors = {self.input}
        #: what the nodes written now are named after (the module writing them: ``"Dense_0"``)
        self.writer = "graph"

    def _name(self, hint: str) -> str:
        self._count += 1
        name = f"{hint}_{self._count}"
        self.tensors.add(name)
        return name

    def constant(self, array: NDArray[Any], hint: str = "c") -> str:
        """A constant input (a copy of ``array``, in the model's dtype); returns its name."""
        name = self._name(hint)
        with np.errstate(over="ignore"):  # (a number beyond the dtype's range is refused below)
            values = np.ascontiguousarray(array, dtype=self.dtype)
        given = np.asarray(array).reshape(values.shape)  # (ascontiguousarray makes a 0-d array 1-d)
        lost = ~np.isfinite(values) & np.isfinite(given)
        if lost.any():
            raise ValueError(f"export: {self.writer}'s constant {hint!r} holds {given[lost][0].item()!r}, "
                             f"beyond {self.dtype}'s range (the model's dtype)")
        self.initializers.append(self._onnx.numpy_helper.from_array(values, name))
        return name

    def row_max(self, x: str) -> str:
        """The largest value of each row of the 2-d ``x``, a column (``ReduceMax`` over axis
        1, kept: its axes an attribute before opset 18, an input from it)."""
        if self.opset < 18:
            return self.node("ReduceMax", [x], axes=[1], keepdims=1)
        axes = self._name("axes")
        self.initializers.append(self._onnx.numpy_helper.from_array(np.array([1], np.int64), axes))
        return self.node("ReduceMax", [x, axes], keepdims=1)

    def first_column(self, x: str) -> str:
        """The first value of each row of the 2-d ``x``, a column (``Slice``, its bounds
        int64 inputs)."""
        bounds = []
        for hint in ("start", "end", "axis"):
            bounds.append(self._name(hint))
            value = np.array([0 if hint == "start" else 1], np.int64)
            self.initializers.append(self._onnx.numpy_helper.from_array(value, bounds[-1]))
        return self.node("Slice", [x, *bounds])

    def node(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """An operator node on ``inputs``; returns the name of its output. The node is named
        after its writer and output (``Dense_0/gemm_1``), as onnx's errors show it."""
        output = self._name(op_type.lower())
        self.nodes.append(self._onnx.helper.make_node(op_type, inputs, [output],
                                                      name=f"{self.writer}/{output}", **attributes))
        return output


def export(model: Sequential, path: File | None = None, *, opset: int = OPSET) -> Any:
    """``model`` as an ONNX graph: input ``X`` ``(N, in_features)``, output ``Y``
    ``(N, out_features)``, N dynamic, in the model's dtype (float32 or float64).

    Args:
        model: the model; its modules must define ``to_onnx`` (every densenet module does).
            Or a fitted ``densenet.sklearn`` estimator: its network, then what its
            predictions make of the network's outputs (by its ``out_activation_``): a
            classifier's ``predict_proba`` (their softmax, or each label's sigmoid), a
            regressor's ``predict`` (the outputs, or their ``exp`` for ``loss="poisson"``),
            in rows of the outputs (``(N, 1)`` where ``predict`` gives ``(N,)``).
        path: where to write the ``.onnx`` file, if given: a name (written atomically, as
            ``Sequential.save`` writes) or a binary file object (``io.BytesIO()``).
        opset: the ONNX operator set version, from ``OPSET_MIN`` (13) to the newest the
            installed onnx knows.

    Returns:
        The ``onnx.ModelProto``, checked with ``onnx.checker.check_model(full_check=True)``,
        of the oldest IR version its opset allows (8 for opset 17), so that older runtimes
        load it.

    Raises:
        ImportError: onnx is not installed.
        TypeError: a module cannot be exported (it names the module); ``opset`` is not an integer;
            an estimator is not a fitted densenet one.
        ValueError: ``opset`` is outside what the export and onnx know.
        OSError: the file cannot be written (a missing folder is named); an earlier
            file at ``path`` is left as it was.
    """
    try:
        import onnx
    except ImportError:
        raise ImportError("densenet.onnx needs onnx: pip install 'densenet[onnx]'") from None
    newest = onnx.defs.onnx_opset_version()
    integer = isinstance(opset, (int, np.integer)) and not isinstance(opset, bool)
    if not (integer and OPSET_MIN <= opset <= newest):
        raise (ValueError if integer else TypeError)(
            f"export: opset must be an integer from {OPSET_MIN} to {newest} (the newest this onnx "
            f"{onnx.__version__} knows), got {shown(opset)}")
    head = None
    if not isinstance(model, Sequential) and hasattr(model, "get_params"):  # a scikit-learn estimator
        network, head = getattr(model, "model_", None), _HEADS.get(getattr(model, "out_activation_", None))
        if not isinstance(network, Sequential) or head is None:
            raise TypeError(f"export: {type(model).__name__} is not a fitted densenet.sklearn estimator "
                            "(DenseNetClassifier or DenseNetRegressor, after fit)")
        model = network
    model = as_model(model, "export")
    graph = Graph(onnx, model.dtype, opset)
    name = graph.input
    for i, module in enumerate(model):
        redefined = redefined_before(type(module), ("plan", "forward", "backward"), "to_onnx")
        if redefined is not None and redefined[1] is not Module:  # (Module's: "cannot be exported")
            written = redefined[1].__name__
            raise TypeError(f"export: {module!r} at index {i} redefines {redefined[0]}() but inherits "
                            f"{written}'s to_onnx(), which would write {written}'s function: define "
                            "to_onnx(graph, x) too")
        graph.writer = f"{type(module).__name__}_{i}"
        try:
            name = module.to_onnx(graph, name)
        except NotImplementedError:
            raise TypeError(f"export: {module!r} at index {i} cannot be exported to ONNX "
                            "(it defines no to_onnx(graph, x))") from None
        if not (isinstance(name, str) and name in graph.tensors):
            raise TypeError(f"export: {module!r} at index {i}: to_onnx(graph, x) returned "
                            f"{described(name)}, not the name of a tensor of the graph (the output's, as "
                            "graph.node() returns it)")
    graph.writer = "estimator"  # (what its predictions make of the outputs)
    if head is not None:
        name = head(graph, name)
    elem = onnx.helper.np_dtype_to_tensor_dtype(model.dtype)
    graph.nodes.append(onnx.helper.make_node("Identity", [name], ["Y"]))
    opsets = [onnx.helper.make_opsetid("", opset)]
    # the oldest IR version the opset allows, not the installed onnx's newest: a runtime
    # that runs the opset loads the file (onnxruntime 1.23, the last for Python 3.10,
    # refuses onnx 1.23's default IR 14 for an opset-17 graph, which needs IR 8)
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(
            graph.nodes, "densenet",
            [onnx.helper.make_tensor_value_info(graph.input, elem, ["N", model.in_features])],
            [onnx.helper.make_tensor_value_info("Y", elem, ["N", model.out_features])],
            graph.initializers),
        opset_imports=opsets, ir_version=onnx.helper.find_min_ir_version_for(opsets),
        producer_name="densenet")
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        data = proto.SerializeToString()
        write_file(path, lambda f: f.write(data), "export", "model.onnx")
    return proto
