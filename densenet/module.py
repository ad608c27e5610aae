"""The ``Module`` protocol: what every layer and activation tells the rest of densenet.

A module is a function of a batch, with or without parameters. The planner,
``Sequential``, save/load, ``gradcheck`` and ``summary`` learn what they need
from it through these, never through its class or its private attributes:

==========================  ===============================================================
``param_shapes()``          its parameter blocks by shape (``Dense``: one ``(in + 1, out)``
                            block ``[W; b]``); the model lays them out in its flat vector
``param_views(blocks)``     the named views users see (``{"W": ..., "b": ...}``); gradients
                            get the same names with a ``d`` in front (``dW``, ``db``);
                            setting one (``self.W = values``) writes into the view
``decayed_params``          the names of the views weight decay is for by default: weights
                            that multiply the input (``Dense``: ``("W",)``), not biases,
                            scales or slopes (``Sequential.decay_mask()``)
``state_shapes()``          blocks of state that the training passes update and that are
                            not parameters (``BatchNorm1d``'s running mean and variance);
                            the model lays them out in its flat ``state`` vector
``state_views(blocks)``     their named views (``{"running_mean": ..., ...}``)
``input_width``             the number of input features it requires, or None (any)
``output_width(width)``     the number of output features for ``width`` input features
``wants_ones_column``       whether its passes can use ``[X, 1]`` in place of ``X``
``takes_sparse_input``      whether its passes, first in a model, can read a batch of SciPy
                            sparse rows as they are (``Buffers.sparse``)
``folds_descent``           whether its planned backward pass can accumulate its gradients
                            into another vector itself (``Buffers.descent``)
``in_place``                whether its passes can write ``Y`` over ``X`` and ``dX`` over
                            ``dY`` (elementwise activations)
``reads_output``            whether its backward pass reads its own output ``Y`` (if not,
                            an in-place module after it may write over it)
``takes_negated_input(n)``  whether a module before it writing minus its output saves a
                            pass on an input of ``n`` elements (``Sigmoid``'s ``exp(-x)``;
                            ``Dense`` then writes ``-(X @ W + b)`` through gemm's ``alpha``)
``random``                  whether its training passes draw random numbers
                            (``Buffers.rng``: ``Dropout``'s masks); a plan for inference
                            gives it no generator, and it passes its input through
``batch_statistics``        whether its training passes compute statistics over the rows
                            of the batch (``BatchNorm1d``): a training batch then needs
                            at least two rows (``Buffers.training``)
``settable``                the names of its settings that may be set between steps, as
                            by a callback (``Dropout``: ``("p",)``): ``fit`` records them
                            for the replay of a diverging epoch
``outputs``                 what its outputs are, where a loss may be meant for other ones:
                            ``"logits"`` (``Dense``: real numbers, scores),
                            ``"probabilities"`` (``Sigmoid``, ``Softmax``) or
                            ``"log-probabilities"`` (``LogSoftmax``), ``"inputs"``: of
                            its inputs' kind (``Dropout``); None: not said
                            (``fit`` compares the last module's with ``Loss.takes``)
``config()``                its constructor arguments (JSON values): ``type(m)(**config)``
                            rebuilds it; used by save/load and ``repr``
``reset_parameters(rng)``   draws fresh parameters (and sets any state to its start)
``plan(buffers)``           its forward and backward passes as NumPy calls on the arrays
                            the planner allocated (``densenet.chain``)
==========================  ===============================================================

``forward`` and ``backward`` derive from ``plan``. A module may instead define
``forward(X) -> Y`` and ``backward(dY) -> dX`` itself (caching what backward
needs): the default ``plan`` then wraps them, at the cost of a copy per pass.

Every subclass is registered by name when its class is defined, so a saved
model can name it and ``load`` can find it (in the process that defines it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    OUTPUT_KINDS,
    as_matrix,
    as_numeric,
    copy_result,
    described,
    result_shape,
    reworded,
    shown,
)
from .backend import underflow_ignored
from .chain import Buffers, Passes, check_overrides, plan_chain
from .kept import KeepsPlans

_TYPES: dict[str, type[Module]] = {}

#: A standalone module keeps its plans for this many batch shapes.
KEPT_PLANS = 4


def type_name(cls: type) -> str:
    """The name a module class is saved under: ``"Dense"`` for densenet's own,
    ``"package.module.ClassName"`` for any other."""
    if cls.__module__ == "densenet" or cls.__module__.startswith("densenet."):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def module_type(name: str) -> type[Module]:
    """The Module class registered under ``name`` (see ``type_name``)."""
    try:
        return _TYPES[name]
    except KeyError:
        raise ValueError(
            f"unknown module type {name!r}: only Module classes defined in this process can be "
            "rebuilt; import the code that defines it first"
        ) from None


def split(flat: NDArray[Any], shapes: Sequence[tuple[int, ...]]) -> tuple[NDArray[Any], ...]:
    """Consecutive views of the 1-D ``flat``, shaped as ``shapes``."""
    blocks, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        blocks.append(flat[start:start + size].reshape(shape))
        start += size
    return tuple(blocks)


class Module(KeepsPlans):
    """Base class of every layer and activation: see the module docstring for the protocol.

    A module with parameters holds them as views into flat vectors: its own
    zeros until a ``Sequential`` binds it to a slice of the model's ``params``
    and ``grads``. Copies (``copy.deepcopy``, pickle) rebuild the views.
    """

    #: Whether the passes can use ``[X, 1]`` (see ``Buffers.X1``).
    wants_ones_column: ClassVar[bool] = False

    #: Whether ``plan`` reads SciPy sparse rows from ``Buffers.sparse`` when the planner
    #: gives it them (as the first module of a plan on sparse input); a module that does
    #: not gets them dense.
    takes_sparse_input: ClassVar[bool] = False

    #: Whether ``plan`` honours ``Buffers.descent`` (folded descent: gradients
    #: accumulated into another vector); a module with parameters that does not
    #: keeps every plan unfolded.
    folds_descent: ClassVar[bool] = False

    #: Whether ``plan`` works when the planner gives it ``Y is X`` and ``dX is dY``
    #: (see ``Buffers``): true of an elementwise module whose backward pass reads
    #: only ``Y`` and ``dY``, and which reads each element of ``dY`` before it
    #: writes that element of ``dX``.
    in_place: ClassVar[bool] = False

    #: Whether the backward pass reads the module's own output ``Y``; a module
    #: whose does not (``Dense``) lets an ``in_place`` module after it write over it.
    reads_output: ClassVar[bool] = True

    #: Whether the training passes draw random numbers (from ``Buffers.rng``); the
    #: loss a training step computes is then not a deterministic function of the
    #: parameters (``fit`` refuses a full-batch optimiser for such a model).
    random: ClassVar[bool] = False

    #: Whether the training passes compute statistics over the rows of the batch
    #: (``BatchNorm1d``): a row's output then depends on the other rows, and a
    #: training batch needs at least two (``fit`` checks its batches for it).
    batch_statistics: ClassVar[bool] = False

    #: What the outputs are, where a loss may be meant for other ones: ``"logits"`` (real
    #: numbers, scores), ``"probabilities"``, ``"log-probabilities"`` or ``"inputs"`` (of
    #: the kind of its inputs: ``Dropout``); None (the default): not said. ``fit`` warns
    #: when a model's last module gives outputs its loss is not meant for (``Loss.takes``).
    outputs: ClassVar[str | None] = None

    #: The names of the parameter views (``param_views``) that weight decay is for by
    #: default: weights that multiply the input (``Dense``'s ``W``), not biases,
    #: normalisation scales and shifts or slopes (``Sequential.decay_mask``).
    decayed_params: ClassVar[tuple[str, ...]] = ()

    #: The names of the settings (public attributes) that may be set between training
    #: steps, as by a callback (``Dropout``'s ``p``): a diverging epoch's replay, which
    #: finds the bad step, takes each step with the values it ran with. Their values are
    #: kept as they are and compared with ``==``: numbers, strings, None or tuples of
    #: them, not arrays (changed in place, one would be recorded as unchanged).
    settable: ClassVar[tuple[str, ...]] = ()

    _flat: tuple[NDArray[Any], NDArray[Any], NDArray[Any]] | None = None
    _view_names: tuple[str, ...] = ()
    _in_model: bool = False

    if TYPE_CHECKING:  # for type checkers only: ``model[0].W`` is a view ``bind`` set by name
        def __getattr__(self, name: str) -> NDArray[Any]: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_overrides(cls, Module)
        check_outputs(cls.outputs, f"{cls.__name__}.outputs")
        check_settable(cls.settable, f"{cls.__name__}.settable")
        _TYPES[type_name(cls)] = cls

    # -- what a module declares ------------------------------------------------

    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shapes of the parameter blocks, in their order in the flat vector."""
        return ()

    def param_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        """Named views of ``blocks`` (shaped as ``param_shapes()``), for users."""
        return {}

    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shapes of the state blocks, in their order in the model's ``state`` vector:
        values the training passes update that are not parameters (none by default)."""
        return ()

    def state_views(self, blocks: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
        """Named views of the state ``blocks`` (shaped as ``state_shapes()``), for users."""
        return {}

    @property
    def input_width(self) -> int | None:
        """The number of input features this module requires, or None for any."""
        return None

    def output_width(self, width: int) -> int:
        """The number of output features for ``width`` input features."""
        return width

    def takes_negated_input(self, size: int) -> bool:
        """Whether ``plan`` saves a pass when the module before it writes minus its output
        (``Buffers.negated_input``) for an input of ``size`` elements (``Sigmoid``:
        ``exp(-x)``); False (the default) and the planner never asks for it."""
        return False

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON values) that rebuild this module."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """A new module of this class from ``config()``'s output."""
        return cls(**config)

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Draw fresh parameters from ``rng`` and set any state to its start (nothing to
        do without either)."""

    def plan(self, buffers: Buffers) -> Passes:
        """The forward and backward passes on ``buffers`` (see ``densenet.chain``).

        This default wraps a ``forward`` and ``backward`` the subclass defines. Below a
        block whose declarations it inherits (``Dense``'s ``takes_sparse_input`` and
        ``folds_descent``, ``Sigmoid``'s ``takes_negated_input``), it honours them: its
        ``forward`` gets its input as it is, dense, and its gradients reach the descent.
        """
        self.check_defined()
        forward, b = self.forward, buffers

        def given() -> NDArray[Any]:
            if b.sparse is not None:
                return b.sparse.rows.toarray()
            return np.negative(b.X) if b.negated_input else b.X

        def run_forward() -> None:
            Y = forward(given())
            # (anything NumPy reads as an array of the shape goes)
            if result_shape(Y, self, "forward") != b.Y.shape:
                if not isinstance(Y, np.ndarray):
                    raise ValueError(f"{self!r}.forward returned {described(Y)}, not an array of shape "
                                     f"{b.Y.shape}")
                raise ValueError(f"{self!r}.forward returned shape {Y.shape}, expected {b.Y.shape}")
            copy_result(b.Y, Y, self, "forward")

        if not self._defines("backward"):
            return Passes([run_forward], None)
        backward = self.backward
        # folded descent: grads = alpha * gradient + beta * grads, from the gradients its own
        # backward writes (the module's gradient views, made once for the plan)
        descent = b.descent
        descended = (() if descent is None
                     else tuple(descent.accumulation(g, t) for g, t in zip(self.blocks()[1], b.grads)))

        def run_backward() -> None:
            dX = backward(b.dY)
            if b.dX is not None:
                if result_shape(dX, self, "backward") != b.dX.shape:  # (copyto would broadcast a column)
                    raise ValueError(f"{self!r}.backward returned shape {np.shape(dX)}, "
                                     f"expected {b.dX.shape}")
                copy_result(b.dX, dX, self, "backward")
            for accumulate in descended:
                accumulate()

        return Passes([run_forward], [run_backward])

    def to_onnx(self, graph: Any, x: str) -> str:
        """Write this module's part of an ONNX graph (``densenet.onnx.Graph``): nodes
        that compute its output from the tensor named ``x``; returns the output's name.
        ``x`` is ``graph.input`` for the model's first module, where ``predict`` may use
        ``forward_scaled`` (``LayerNorm`` writes that arithmetic there)."""
        raise NotImplementedError

    def forward_scaled(self, X: NDArray[Any], exponents: NDArray[np.integer[Any]]) -> NDArray[Any] | None:
        """The output for the input ``X * 2**exponents`` (``|X| <= 1``; ``exponents`` a
        column, a power of two >= 0 for each row), computed so that sums of huge inputs do
        not overflow where the module can (``Dense`` does); ``Sequential`` uses it for
        inputs near the float range. This default returns None: the module has no better
        way than its own passes on ``X * 2**exponents``, which the model then runs, in
        the model's mode."""
        return None

    def check_defined(self) -> None:
        """Raise ``TypeError`` unless the module defines ``plan()`` or ``forward()``."""
        if not (self._defines("plan") or self._defines("forward")):
            raise TypeError(f"{self!r} ({type_name(type(self))}) defines neither plan() nor forward() "
                            "and backward(): a Module must define one or the other")

    def _defines(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(Module, name)

    # -- parameters --------------------------------------------------------------

    @property
    def n_params(self) -> int:
        """The number of parameters."""
        return sum(math.prod(shape) for shape in self.param_shapes())

    @property
    def in_model(self) -> bool:
        """True once a ``Sequential`` owns this module (a module belongs to one model)."""
        return self._in_model

    @property
    def n_state(self) -> int:
        """The number of state values (``state_shapes()``)."""
        return sum(math.prod(shape) for shape in self.state_shapes())

    def bind(self, params: NDArray[Any] | None = None, grads: NDArray[Any] | None = None,
             state: NDArray[Any] | None = None) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Make the parameters and gradients views into the 1-D ``params`` and ``grads``,
        and the state views into ``state`` (fresh float64 zeros when not given: a module
        on its own; ``state`` zeros of the parameters' dtype); returns the three vectors."""
        size, state_size = self.n_params, self.n_state
        if params is None and grads is None:
            try:
                params, grads = np.zeros(size), np.zeros(size)
            except (ValueError, MemoryError) as error:  # (NumPy's words, naming no module)
                raise reworded(error, f"{self!r}: cannot hold its {size:,} parameters: {error}") from None
        elif params is None or grads is None:
            raise TypeError(f"{self!r}.bind: give both params and grads, or neither")
        if state is None:
            state = np.zeros(state_size, params.dtype)
        if params.shape != (size,) or grads.shape != (size,) or state.shape != (state_size,):
            raise ValueError(f"{self!r} has {size} parameters and {state_size} state values; cannot bind "
                             f"it to vectors of shapes {params.shape}, {grads.shape} and {state.shape}")
        shapes = self.param_shapes()
        views = self._views("param_views", params, shapes)
        views.update({f"d{name}": view for name, view in self._views("param_views", grads, shapes).items()})
        views.update(self._views("state_views", state, self.state_shapes()))
        for name, view in views.items():  # (``__setattr__`` copies into the views once they exist)
            super().__setattr__(name, view)
        if self._flat is not None:
            self._plans = None  # they hold the old views
        self._flat, self._view_names = (params, grads, state), tuple(views)
        return self._flat

    def _views(self, method: str, flat: NDArray[Any], shapes: Sequence[tuple[int, ...]]) -> dict[str, Any]:
        """``param_views`` or ``state_views`` (``method``) of ``flat``'s blocks, unless they are
        not a dict of names to views of them: ``TypeError``/``ValueError`` naming the module
        (a copy would be a parameter the model's vector never reaches)."""
        views = getattr(self, method)(split(flat, shapes))
        if not isinstance(views, dict):
            raise TypeError(f"{self!r}.{method}() must return a dict of names to views of the blocks it "
                            f"is given, got {described(views)}")
        for name, view in views.items():
            if not isinstance(name, str):
                raise TypeError(f"{self!r}.{method}() names a view {shown(name)}, not a string")
            if not (isinstance(view, np.ndarray) and np.may_share_memory(view, flat)):
                raise ValueError(f"{self!r}.{method}()[{name!r}] is not a view of the blocks it is given: a "
                                 "copy, which the model's vector would never reach (slice or reshape the "
                                 "block, as Dense's W = block[:-1])")
        return views

    def __setattr__(self, name: str, value: Any) -> None:
        """``module.W = values`` (a parameter, gradient or state view's name) copies ``values``
        into the view, which stays a view of the model's vectors: rebinding the name
        would leave the model computing with weights nobody sees. ``values`` must have
        the view's shape, or be a scalar, and be real numbers, finite in the view's dtype
        but for a gradient's (what a backward of one's own writes: fit's divergence
        handling answers those)."""
        if name not in self._view_names:
            super().__setattr__(name, value)
            return
        view = getattr(self, name)
        # (an empty view takes nothing: NumPy's assignment, of an empty array or a scalar)
        gradient = self._flat is not None and np.may_share_memory(view, self._flat[1])
        array = as_numeric(value, f"{self!r}.{name}", view.dtype, finite=not gradient) if view.size else \
            np.asarray(value)
        if array.shape not in ((), view.shape):
            raise ValueError(f"{self!r}.{name} has shape {view.shape}; cannot set it to an array of "
                             f"shape {array.shape} (it is a view into the model's flat vector: its "
                             "values are replaced, in place)")
        view[...] = array

    def attach(self, params: NDArray[Any], grads: NDArray[Any], state: NDArray[Any]) -> None:
        """Bind to a model's slices for good (``Sequential`` calls this once)."""
        if self._in_model:
            raise ValueError(f"{self!r} already belongs to a model")
        self.bind(params, grads, state)
        self._in_model = True

    def detach(self, params: NDArray[Any], grads: NDArray[Any], state: NDArray[Any]) -> None:
        """Undo ``attach`` for a model that could not be made: bind to the vectors held
        before (``flat_params``, ``flat_grads``, ``flat_state``), belonging to no model."""
        self._in_model = False
        self.bind(params, grads, state)

    def blocks(self) -> tuple[tuple[NDArray[Any], ...], tuple[NDArray[Any], ...]]:
        """The parameter blocks and the gradient blocks, shaped as ``param_shapes()``."""
        params, grads = self.flat_params, self.flat_grads
        shapes = self.param_shapes()
        return split(params, shapes), split(grads, shapes)

    @property
    def flat_params(self) -> NDArray[Any]:
        """Every parameter of this module, one 1-D view (a slice of ``model.params``)."""
        return (self._flat or self.bind())[0]

    @property
    def flat_grads(self) -> NDArray[Any]:
        """Every gradient of this module, one 1-D view laid out like ``flat_params``."""
        return (self._flat or self.bind())[1]

    @property
    def flat_state(self) -> NDArray[Any]:
        """Every state value of this module, one 1-D view (a slice of ``model.state``)."""
        return (self._flat or self.bind())[2]

    def state_blocks(self) -> tuple[NDArray[Any], ...]:
        """The state blocks, shaped as ``state_shapes()``."""
        return split(self.flat_state, self.state_shapes())

    # -- the module on its own -----------------------------------------------------

    @property
    def rng(self) -> np.random.Generator:
        """The generator a ``random`` module draws from when used on its own
        (``module.forward``): fresh entropy until set, ``module.rng =
        np.random.default_rng(0)``. Inside a ``Sequential`` it draws from the model's."""
        rng = self.__dict__.get("_rng")
        if rng is None:
            rng = self._rng = np.random.default_rng()
        return rng

    @rng.setter
    def rng(self, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{self!r}.rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self._rng = rng
        self._plans = None  # they hold the generator they were made with

    def check_input(self, X: ArrayLike, name: str = "X") -> NDArray[Any]:
        """``X`` as a 2-D float array this module accepts: its parameters' dtype, else
        X's own float32/float64 (float64 for anything else); the width checked. The
        errors name the module (on its own, it is what the user called)."""
        dtype = self.flat_params.dtype if self.n_params else _float_dtype_of(X)
        try:
            X = as_matrix(X, name, dtype)
        except (TypeError, ValueError) as error:  # (named when refused only: a repr costs a call's 4%)
            raise reworded(error, f"{self!r}: {error}") from None
        width = self.input_width
        if width is not None and X.shape[1] != width:
            raise ValueError(f"{name} has {X.shape[1]} features (shape {X.shape}), but {self!r} "
                             f"expects {width} features as input")
        return X

    @underflow_ignored
    def forward(self, X: ArrayLike) -> NDArray[Any]:
        """The output for a batch ``X``, as a new array; the input is validated. A module
        on its own runs its training passes (``Buffers.training``)."""
        X = self.check_input(X)
        key = (X.shape[0], X.shape[1], X.dtype)
        plans = self._kept(KEPT_PLANS)
        plan = plans.borrow(key) or plan_chain([self], X.shape[0], X.shape[1], X.dtype, input_grad=True,
                                               training=True, rng=self.rng if self.random else None)
        plan.X[...] = X
        Y = plan.run_forward().copy()
        plans.hold(key, plan)  # for this thread's backward
        return Y

    @underflow_ignored
    def backward(self, dY: ArrayLike) -> NDArray[Any]:
        """Given dL/dY for the last ``forward`` in this Python thread, write the parameter
        gradients (overwriting them) and return dL/dX as a new array."""
        held = self._held()
        plan = None if held is None else held[1]
        if plan is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        try:
            dY = as_numeric(dY, "dY", plan.dY.dtype)
        except (TypeError, ValueError) as error:
            raise reworded(error, f"{self!r}.backward: {error}") from None
        if dY.shape != plan.dY.shape:
            raise ValueError(f"{self!r}.backward: dY has shape {dY.shape}, but the last forward "
                             f"output has shape {plan.Y.shape}")
        plan.dY[...] = dY
        return plan.run_backward().copy()

    def __call__(self, X: ArrayLike) -> NDArray[Any]:
        return self.forward(X)

    # -- copies and text -------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in (*self._view_names, "_view_names", "_plans", "_in_model"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if isinstance(getattr(type(self), key, None), property):
                key = "_" + key  # pickled before it became a property
            super().__setattr__(key, value)
        if self._flat is not None:
            # writeable arrays of its own: joblib may hand over read-only memory maps (and a
            # module pickled before there was state has no state vector: bind makes one)
            self.bind(*(np.require(a, requirements=("C", "W", "O")) for a in self._flat))

    def __copy__(self) -> Module:
        raise TypeError(f"copy.copy({self!r}): a shallow copy would share its parameters; "
                        "use copy.deepcopy")

    def __repr__(self) -> str:
        config = self.config()
        if not isinstance(config, dict):  # a broken config() must not break the errors that name it
            return f"{type(self).__name__}(...)"
        args = ", ".join(f"{key}={value!r}" for key, value in config.items())
        return f"{type(self).__name__}({args})"


def param_arrays(module: Module) -> list[tuple[str, NDArray[Any]]]:
    """A module's parameter views with their names, then all its parameters as one flat
    vector, ``"parameters"`` (for a module that names none): what a message names a value by."""
    return [*module.param_views(module.blocks()[0]).items(), ("parameters", module.flat_params)]


def state_arrays(module: Module) -> list[tuple[str, NDArray[Any]]]:
    """``param_arrays`` for the state: its named views, then ``"state"``, the flat vector."""
    return [*module.state_views(module.state_blocks()).items(), ("state", module.flat_state)]


def check_outputs(kind: object, what: str) -> None:
    """``ValueError`` naming ``what`` unless ``kind`` is what ``Module.outputs`` may be: None
    or one of the kinds of outputs ``fit`` knows, or ``"inputs"``."""
    kinds = (*OUTPUT_KINDS, "inputs")
    if not (kind is None or (isinstance(kind, str) and kind in kinds)):
        raise ValueError(f"{what} must be None or one of {', '.join(map(repr, kinds))}; got {shown(kind)}")


def check_settable(names: object, what: str) -> None:
    """``TypeError`` naming ``what`` unless ``names`` is what ``Module.settable`` may be: a
    tuple of attribute names (a lone string would be read letter by letter)."""
    if not (isinstance(names, tuple) and all(isinstance(n, str) and n.isidentifier() for n in names)):
        raise TypeError(f"{what} must be a tuple of attribute names (('p',), not 'p'); got {shown(names)}")


def describe(module: Module) -> dict[str, Any]:
    """``{"type": ..., **config}``, checked to rebuild the module: JSON values
    only, and ``from_config`` gives a module with the same config and parameter
    shapes. Raises ``TypeError`` naming the module otherwise."""
    cls = type(module)
    config = module.config()
    what = f"{module!r} ({type_name(cls)})"
    if not isinstance(config, dict) or "type" in config:
        raise TypeError(f"{what}: config() must return a dict of constructor arguments without "
                        f"a 'type' key, got {config!r}")
    try:
        text = json.dumps(config)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what}: config() must hold JSON values only: {error}") from None
    try:
        rebuilt = cls.from_config(json.loads(text))
    except Exception as error:
        raise TypeError(f"{what} cannot be rebuilt from its config {config!r}: {error}; "
                        "define config() to return its constructor arguments") from None
    if (type(rebuilt) is not cls or json.dumps(rebuilt.config()) != text
            or rebuilt.param_shapes() != module.param_shapes()):
        raise TypeError(f"{what} is not rebuilt by its config {config!r} (from_config gave "
                        f"{rebuilt!r}); define config() to return its constructor arguments")
    if module_type(type_name(cls)) is not cls:
        raise TypeError(f"{what}: another class has since been registered under the same name")
    return {"type": type_name(cls), **config}


def build(spec: dict[str, Any]) -> Module:
    """The module ``describe`` described (a new module; parameters not set)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValueError(f"a module description must be a dict with a 'type' name, got {spec!r}")
    config = {key: value for key, value in spec.items() if key != "type"}
    return module_type(spec["type"]).from_config(config)


def _float_dtype_of(X: ArrayLike) -> np.dtype[Any]:
    dtype = getattr(X, "dtype", None)
    return np.dtype(dtype if dtype in (np.float32, np.float64) else np.float64)
