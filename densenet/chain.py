"""Planning a chain of modules for one batch size.

At small batch sizes a pass costs what its Python and NumPy calls cost, not
what its arithmetic costs: a 2-2-1 network at batch size 1 does a few dozen
flops per step and spends microseconds on call overhead. So nothing runs
``module.forward`` per step. The planner allocates every array a pass needs
once, for one batch size, and asks each module (``Module.plan``) for its
forward and backward passes as NumPy calls bound to those arrays
(``functools.partial`` objects taking no arguments). Running a pass is then
a loop over calls: nothing is allocated and nothing is validated.

Who allocates what: the planner allocates each module's output ``Y``, the
gradient ``dY`` that flows into it, and its input gradient ``dX``, which is
the previous module's ``dY``. A module that asks for a ones column
(``wants_ones_column``) gets, at the batch sizes where it pays
(``backend.ones_column``), an input ``X1 = [X, 1]`` whose last column the
planner made ones and nothing ever writes; the previous module writes into
``X1[:, :-1]`` and never knows.

A training step can ask for a plan with *folded descent*: each module with
parameters then accumulates its gradient into blocks of another flat vector,
``target = alpha * gradient + beta * target`` with the step's ``alpha`` and
``beta`` (a ``Descent`` of its own, so that each module may step at its own
rate), instead of writing it into ``grads``. For plain gradient
descent the target is the parameters themselves (``alpha = -lr``, ``beta = 1``:
for ``Dense``, the product ``X.T @ dY`` lands on ``W`` in one BLAS call); for
momentum it is the momentum buffer (``alpha = 1``, ``beta = momentum``), from
which the step then updates the parameters. Either saves passes over every
parameter. Such a plan exists only if every module with parameters says it can
(``folds_descent``); ``grads`` are then not written.

A module can be frozen (``Sequential.freeze``): its parameters are not trained. The
planner gives it an inference plan (``Buffers.training`` False: a frozen ``BatchNorm1d``
normalises by its running statistics), no descent, and gradient blocks of the plan's own
(``Buffers.frozen``), which it may leave unwritten; the backward pass of a training plan
starts at the first module whose parameters train.

A plan can take its input as SciPy sparse rows (``sparse``): if the first module
multiplies them itself (``takes_sparse_input``: ``Dense``, at what the nonzeros
cost), it reads each batch's CSR matrix from ``Plan.sparse``; otherwise ``feed``
makes the batch dense in ``X``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import backend
from ._validation import described, redefined_before

if TYPE_CHECKING:
    from .module import Module

Call = Callable[[], object]


def check_overrides(cls: type, base: type) -> None:
    """``TypeError`` if ``cls`` redefines ``forward`` or ``backward`` where they come before
    the ``plan`` it inherits from a class other than ``base`` (whose default ``plan`` wraps
    them): models and ``fit`` run that plan, which would ignore them (a subclass of
    ``Sigmoid`` with a ``forward`` of its own). Called when such a class is made."""
    redefined = redefined_before(cls, ("forward", "backward"), "plan")
    if redefined is not None and redefined[1] is not base:
        name, planner = redefined
        raise TypeError(f"{cls.__name__} redefines {name}() but inherits {planner.__name__}'s plan(), "
                        "which models and fit run in its place: define plan() too, or subclass "
                        f"dn.{base.__name__} and define forward() and backward() alone")


def checked_passes(passes: object, module: object) -> Passes:
    """``passes``, what ``module.plan`` returned, with its calls read into tuples (once: a
    generator's too), unless it is not ``Passes`` of calls: ``TypeError`` naming the module."""
    if not isinstance(passes, Passes):
        raise TypeError(f"{module!r}.plan() returned {described(passes)}, not densenet.Passes")
    backward = None if passes.backward is None else _calls(passes.backward, "backward", module)
    return replace(passes, forward=_calls(passes.forward, "forward", module), backward=backward,
                   input_grad=_calls(passes.input_grad, "input_grad", module))


def _calls(given: object, name: str, module: object) -> tuple[Call, ...]:
    """``given``, the ``Passes`` field ``name`` of ``module``'s plan, as a tuple of calls."""
    if not isinstance(given, Iterable):
        kind = type(given)
        raise TypeError(f"{module!r}.plan(): Passes.{name} must be a sequence of calls, got "
                        f"{kind.__module__}.{kind.__qualname__}")
    calls = tuple(given)
    for j, call in enumerate(calls):
        if not callable(call):
            raise TypeError(f"{module!r}.plan(): Passes.{name}[{j}] is {described(call)}, not a call: each "
                            "is a call to make at every pass, partial(np.add, a, b, out), not its result")
    return calls


class Descent:
    """The coefficients with which a plan with folded descent accumulates each
    gradient into its target, ``target = alpha * gradient + beta * target``; read at
    every backward call (a schedule may change the learning rate between steps): set
    them before running it. Until then (``alpha = 0``, ``beta = 1``) a backward pass
    leaves its target as it was."""

    __slots__ = ("alpha", "beta")

    def __init__(self) -> None:
        self.alpha, self.beta = 0.0, 1.0

    def accumulation(self, gradient: NDArray[Any], target: NDArray[Any]) -> Call:
        """The call that accumulates ``gradient`` into ``target`` with the coefficients
        as they are when it runs: ``target = alpha * gradient + beta * target`` (through a
        spare array of its own), for a module whose backward pass writes a gradient first
        (into an array of its own, not ``target``, which may be the parameters it reads)."""
        spare = np.zeros(gradient.shape, gradient.dtype)

        def accumulate() -> None:
            np.multiply(target, self.beta, target)
            np.multiply(gradient, self.alpha, spare)
            np.add(target, spare, target)

        return accumulate


class SparseBatch:
    """The input of a plan whose first module takes SciPy sparse rows: ``rows``, the
    batch as a CSR matrix of the plan's dtype, set (``Plan.feed``) before each forward
    pass and read by the module's calls when they run (the backward pass's too)."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: Any = None


@dataclass(frozen=True)
class Buffers:
    """The arrays one module's passes work on, for one batch size of ``n`` rows.

    Attributes:
        X: the input, ``(n, in)``; read, never written, except by an ``in_place``
            module, which the planner may give ``Y is X`` and ``dX is dY``.
        X1: ``[X, 1]``, ``(n, in + 1)``, when the module wants a ones column and
            the planner gave it one at this batch size; else None. ``X`` is then
            ``X1[:, :-1]``.
        Y: the output to write, ``(n, out)``; may be a strided view.
        dY: dL/dY, ``(n, out)``, filled before the backward pass runs.
        dX: dL/dX to write, ``(n, in)``, or None when nobody needs it.
        params, grads: the module's parameter and gradient blocks, shaped as
            its ``param_shapes()``; write gradients into ``grads`` (overwrite).
        descent: None, or (folded descent, for a module that ``folds_descent``)
            the ``Descent`` with which the backward pass accumulates each gradient
            into ``grads``: ``grads = descent.alpha * gradient + descent.beta *
            grads``, the coefficients read at every call. ``grads`` may then be
            the parameters themselves (plain descent): compute ``dX`` first.
        negate_output: the next module takes minus its input at no cost where it
            saves it a pass (``Module.takes_negated_input``): write ``-Y`` instead
            of ``Y`` if that costs nothing either, and say so (``Passes.negated``).
            (The gradients are unchanged: ``dY`` is still dL/dY.)
        negated_input: ``X`` holds minus the module's input (the module before
            wrote it so, as this module said it could take).
        training: whether the plan is for training (``fit``, and ``forward`` on a model
            in training mode) or for inference (``predict``, ``evaluate``, a model in
            eval mode): a ``Dropout`` passes its input through at inference, and a
            ``BatchNorm1d`` normalises by its running statistics instead of the batch's.
        rng: in a plan for training, the generator a ``random`` module draws from
            (``Dropout``'s masks: the model's ``rng``, so that a copy trains alike);
            None in a plan for inference.
        state: the module's state blocks, shaped as its ``state_shapes()``.
        sparse: for the first module of a plan on sparse rows, if it takes them
            (``Module.takes_sparse_input``), where its calls find each batch's rows;
            ``X`` is then a read-only array of zeros that takes no memory. Else None.
        frozen: the module is frozen (``Sequential.freeze``): its parameters are not
            trained, so its backward pass need only write ``dX``; ``grads`` are then
            blocks of the plan's own that nothing reads (a pass may skip writing them).
            A frozen module's plan is for inference (``training`` is False).
        at_scale: make the choices the module makes by its arrays' size as for a large
            batch, whatever ``n`` (``Dense``: its products on gemm, which can write ``-Y``):
            ``gradcheck`` checks a large batch's passes on a few rows so.
    """

    X: NDArray[Any]
    X1: NDArray[Any] | None
    Y: NDArray[Any]
    dY: NDArray[Any]
    dX: NDArray[Any] | None
    params: tuple[NDArray[Any], ...]
    grads: tuple[NDArray[Any], ...]
    descent: Descent | None = None
    negate_output: bool = False
    negated_input: bool = False
    training: bool = False
    rng: np.random.Generator | None = None
    state: tuple[NDArray[Any], ...] = ()
    sparse: SparseBatch | None = None
    frozen: bool = False
    at_scale: bool = False

    def gradients(self) -> tuple[tuple[NDArray[Any], ...], list[Call]]:
        """Where a backward pass writes its parameter gradients, and the calls it ends with
        (after dX, which may read the parameters): ``grads`` and none; with folded descent,
        vectors of the plan's own and their accumulation into ``grads``
        (``Descent.accumulation``)."""
        if self.descent is None:
            return self.grads, []
        own = tuple(np.zeros(g.shape, g.dtype) for g in self.grads)
        return own, [self.descent.accumulation(g, target) for g, target in zip(own, self.grads)]


@dataclass(frozen=True)
class Passes:
    """A module's planned passes: calls that compute ``Y`` from ``X`` (forward),
    and the parameter gradients and ``dX`` from ``dY`` (backward; None for a
    module that cannot backpropagate). A module with parameters may put the calls
    that only write ``dX`` in ``input_grad`` (run after ``backward``): a chain's
    first such module then skips them where its caller does not ask for dL/dX.
    ``negated``: the forward calls write ``-Y`` (asked by ``Buffers.negate_output``)."""

    forward: Sequence[Call]
    backward: Sequence[Call] | None
    input_grad: Sequence[Call] = ()
    negated: bool = False


@dataclass(frozen=True)
class Plan:
    """A chain's forward and backward passes for one batch size.

    Fill ``X`` (or ``feed`` it), run ``run_forward()`` (the output is ``Y``), fill ``dY``, run
    ``run_backward()``: the parameter gradients are written, and dL/dX into
    ``dX`` if the plan was made with ``input_grad`` (``input_backward``: the calls
    that only serve dL/dX, which ``run_backward(input_grad=False)`` skips).
    ``no_backward`` says why there is no backward pass (a module that defines
    none), or is None. ``descent`` is, when the backward pass accumulates the
    gradients into another vector (folded descent; ``grads`` are not written), each
    module's ``Descent`` (None for a module whose parameters do not train), else
    None. ``sparse`` is where the first module reads SciPy sparse rows, in a plan that
    takes them as they are (``X`` is then read-only), or None.
    """

    X: NDArray[Any]
    Y: NDArray[Any]
    dY: NDArray[Any]
    dX: NDArray[Any] | None
    forward: tuple[Call, ...]
    backward: tuple[Call, ...]
    no_backward: str | None = None
    input_backward: tuple[Call, ...] = ()
    descent: tuple[Descent | None, ...] | None = None
    sparse: SparseBatch | None = None

    def feed(self, batch: Any) -> None:
        """Make ``batch`` (``X``'s shape and dtype; dense, or SciPy CSR rows) the input of
        the next forward pass: sparse rows as they are where the plan takes them, else
        copied (made dense) into ``X``."""
        if self.sparse is not None:
            self.sparse.rows = batch
        elif isinstance(batch, np.ndarray):
            self.X[...] = batch
        elif self.X.flags.c_contiguous:
            batch.toarray(out=self.X)
        else:  # (``X`` inside ``[X, 1]``, which SciPy cannot write into)
            self.X[...] = batch.toarray()

    def run_forward(self) -> NDArray[Any]:
        for call in self.forward:
            call()
        return self.Y

    def check_backward(self) -> None:
        """Raise ``TypeError`` if the chain has no backward pass."""
        if self.no_backward is not None:
            raise TypeError(self.no_backward)

    def run_backward(self, input_grad: bool = True) -> NDArray[Any] | None:
        """The backward pass; returns ``dX``, or None without ``input_grad``."""
        self.check_backward()
        for call in self.backward:
            call()
        if not input_grad:
            return None
        for call in self.input_backward:
            call()
        return self.dX


#: The size of each array an ``at_scale`` plan makes its choices by (``plan_chain``).
AT_SCALE_SIZE = 2 ** 31


def plan_chain(modules: Sequence[Module], n: int, width: int, dtype: np.dtype[Any],
               input_grad: bool, descent: Sequence[tuple[NDArray[Any], ...]] | None = None,
               training: bool = False, rng: np.random.Generator | None = None, sparse: bool = False,
               frozen: Sequence[bool] = (), at_scale: bool = False) -> Plan:
    """Plan ``modules`` applied in order to batches of ``n`` rows of ``width`` features.

    ``training`` makes a plan for training (``Buffers.training``), whose ``random``
    modules draw from ``rng`` (required then if one does); otherwise the plan is for
    inference.

    Without ``input_grad`` the backward pass starts at the first module with
    parameters and skips its dL/dX: training never needs it. ``descent``, one entry
    per module shaped as its parameter blocks, asks for folded descent into those
    blocks, which the plan does if every module with parameters can
    (``Plan.descent`` says whether it does). ``sparse``: the batches come as SciPy
    CSR rows (``Plan.feed``), which the first module reads as they are if it can
    (``Plan.sparse``). ``frozen``, one flag per module (none frozen if empty), marks the
    modules whose parameters are not trained (``Buffers.frozen``): they run their inference
    passes, write no gradients the plan's caller sees and take no descent, and the
    backward pass starts at the first module with parameters that is not frozen.
    ``at_scale`` makes the choices the planner makes by the arrays' size as for a large
    batch (``AT_SCALE_SIZE`` elements an array), whatever ``n``: no ones column, modules in
    place wherever they may be, inputs negated wherever a module takes them so; and asks
    the modules to make theirs so (``Buffers.at_scale``): ``gradcheck`` checks these passes too.
    """
    if training and rng is None and any(m.random for m in modules):
        raise TypeError("plan_chain: a plan for training a random module needs a generator (rng)")
    ones = backend.ones_column(n) and not at_scale
    stiff = tuple(frozen) or (False,) * len(modules)
    trained = [bool(m.n_params) and not stiff[i] for i, m in enumerate(modules)]
    folds = descent is not None and all(m.folds_descent for i, m in enumerate(modules) if trained[i])
    folded = tuple(Descent() if trained[i] else None for i in range(len(modules))) if folds else None

    def size(cols: int) -> int:  # an array's size, for the planner's choices by size
        return max(n * cols, AT_SCALE_SIZE) if at_scale else n * cols

    def gets_ones(consumer: Module | None) -> bool:
        return ones and consumer is not None and consumer.wants_ones_column

    def output_for(consumer: Module | None, cols: int) -> tuple[NDArray[Any], NDArray[Any] | None]:
        if gets_ones(consumer):
            X1 = np.ones((n, cols + 1), dtype)
            return X1[:, :-1], X1
        return np.zeros((n, cols), dtype), None

    count = len(modules)
    trains = next((i for i in range(count) if trained[i]), count)  # the first whose parameters train
    first = 0 if input_grad else trains
    rows = SparseBatch() if sparse and modules[0].takes_sparse_input else None
    inputs = [(np.broadcast_to(np.zeros((), dtype), (n, width)), None) if rows is not None
              else output_for(modules[0], width)]
    widths = [width]
    shared: list[bool] = []  # module i writes its output over its input, and dX over dY
    for i, module in enumerate(modules):
        widths.append(module.output_width(widths[-1]))
        consumer = modules[i + 1] if i + 1 < count else None
        shared.append(i > 0 and module.in_place and not modules[i - 1].reads_output
                      and widths[-1] == widths[-2] and backend.in_place(size(widths[-1]))
                      and inputs[i][1] is None and not gets_ones(consumer))
        inputs.append(inputs[i] if shared[i] else output_for(consumer, widths[-1]))
    grads = [np.zeros((n, widths[-1]), dtype)]  # dL/d(input of module i), built from the last: dL/dY
    for i in range(count - 1, -1, -1):
        grads.insert(0, grads[0] if shared[i] else np.zeros((n, widths[i]), dtype))

    # with input_grad, the calls that serve only dL/dX (those of the modules before the
    # first with parameters, and its own ``input_grad`` calls) go to input_backward
    forward: list[Call] = []
    backward: list[Call] = []
    input_backward: list[Call] = []
    no_backward = None
    negated = False  # the module's input holds minus its values (the module before wrote them so)
    for i, module in enumerate(modules):
        params, param_grads = module.blocks()
        if stiff[i] and module.n_params:  # (untouched pages of np.empty take no memory)
            param_grads = tuple(np.empty(shape, dtype) for shape in module.param_shapes())
        elif folded is not None and module.n_params:
            param_grads = descent[i]  # type: ignore[index]  # (folded implies descent)
        consumer = modules[i + 1] if i + 1 < count else None
        negate = consumer is not None and consumer.takes_negated_input(size(widths[i + 1]))
        buffers = Buffers(X=inputs[i][0], X1=inputs[i][1], Y=inputs[i + 1][0], dY=grads[i + 1],
                          dX=grads[i] if input_grad or i > first else None,
                          params=params, grads=param_grads, descent=None if folded is None else folded[i],
                          negate_output=negate, negated_input=negated, training=training and not stiff[i],
                          rng=rng if training and not stiff[i] else None, state=module.state_blocks(),
                          sparse=rows if i == 0 else None, frozen=stiff[i], at_scale=at_scale)
        passes = checked_passes(module.plan(buffers), module)
        negated = passes.negated and buffers.negate_output
        forward += passes.forward
        if i < first:
            continue
        if passes.backward is None:
            no_backward = (f"{module!r} at index {i} has no backward pass: it cannot be trained or "
                           "backpropagated through (define backward() or plan())")
        elif i < trains:
            input_backward[:0] = [*passes.backward, *passes.input_grad]
        elif i == trains:
            backward[:0] = passes.backward
            input_backward[:0] = passes.input_grad
        else:
            backward[:0] = [*passes.backward, *passes.input_grad]
    return Plan(inputs[0][0], inputs[-1][0], grads[-1], grads[0] if input_grad else None,
                tuple(forward), tuple(backward), no_backward, tuple(input_backward), folded, rows)
