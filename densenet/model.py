"""``Sequential``: modules in a chain, over one flat parameter vector.

The model is where the core comes together: it lays its modules' parameter
blocks out in one flat vector (``Module.param_shapes``, ``Module.attach``),
plans its passes (``densenet.chain``), trains through ``densenet.training``
and saves through ``densenet.io`` (``densenet.loading`` reads the file back).
It asks its modules, never inspects them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import init as _init
from . import io
from ._validation import (
    as_bounded_matrix,
    as_sparse_rows,
    cast_rows,
    count,
    flag,
    hyperparameter,
    is_sparse,
    kind_given,
    positive_int,
    sample_weights,
    shown,
)
from .backend import all_finite, magnitude_at_most, underflow_ignored
from .callbacks import Callback, checked_schedules
from .chain import Plan, plan_chain
from .init import Seed
from .kept import Kept
from .loss import Loss, relative
from .metric import Metric, reported
from .metric_names import MetricLike, check_targets, resolved
from .module import Module, check_outputs, describe, param_arrays, split, state_arrays
from .mse import MSELoss
from .optimizer import Optimizer
from .plan import TrainStep
from .sgd import SGD
from .thread_policy import blas_threads, thread_count
from .training import History, fit

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: ``predict`` works through its input this many rows at a time.
PREDICT_BATCH = 4096

#: ... and through a SciPy sparse input as many rows as make at most this many values
#: dense (``PREDICT_BATCH`` at most): 32 MiB of float64.
SPARSE_CHUNK = 2 ** 22

#: The model keeps its planned passes for this many (batch size, input gradient) pairs.
KEPT_PLANS = 6

#: The model keeps this many training steps (a fit uses two: full batches and the last).
KEPT_STEPS = 4

#: Inputs above these magnitudes (2**511 and 2**63, the square roots of the
#: largest floats) go through ``Sequential._rescaled``, whose sums cannot overflow.
_HUGE = {np.dtype(np.float64): 2.0 ** 511, np.dtype(np.float32): 2.0 ** 63}


def model_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """``dtype`` as a NumPy dtype, which must be float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _DTYPES:
        if dt.newbyteorder() in _DTYPES:  # (a big-endian float64 is named float64 too)
            raise ValueError(f"dtype must be float32 or float64 in this machine's byte order, got {dt.str!r} "
                             f"({dt.name} in the other byte order)")
        raise ValueError(f"dtype must be float32 or float64, got {dt.name}")
    return dt


#: The attributes ``Sequential``'s own code sets (``__setstate__`` rebuilds them): a copy
#: or pickle carries every other one, a subclass's (``self.hidden = ...`` in its ``__init__``).
OWN_ATTRIBUTES = frozenset({
    "_draws", "_dtype", "_frozen", "_grads", "_in_features", "_largest_block", "_lent", "_modules", "_mse",
    "_out_features", "_params", "_plans", "_rng", "_sgd", "_snapshot", "_span", "_state", "_steps", "_stiff",
    "_trainable", "_training", "stop_training"})


class Sequential:
    r"""Modules applied in order, with all parameters in one flat vector.

    Args:
        *modules: the layers and activations, in order (``Dense``, ``Sigmoid``, ...),
            each a ``densenet.Module`` that belongs to no other model. The model draws
            every parameter from ``seed``: a module's values before (a copy of a trained
            model's module) do not carry over; assign them after (``model[i].W = W``).
        dtype: ``numpy.float64`` (default) or ``numpy.float32``, for every
            parameter, gradient and activation of the model.
        seed: an int >= 0, a ``numpy.random.SeedSequence``, a ``numpy.random.Generator``
            or bit generator, or None (fresh entropy: ``densenet.init.Seed``); it
            initialises the parameters and is the default for shuffling in ``fit``.

    Shape:
        - Input: ``(N, in_features)``, fixed by the first module that fixes a width
        - Output: ``(N, out_features)``

    Attributes:
        params: every parameter, one flat 1-D array. Each module's parameter
            blocks (``Dense``: ``[W; b]``) are contiguous slices, in module
            order; its ``W`` and ``b`` are views into this array.
        grads: the gradients, same size, dtype and layout; ``dW`` and ``db``
            are views into it.
        state: what the training passes update besides the parameters (the
            running statistics of ``BatchNorm1d``), one flat vector of views too.
        stop_training: a callback sets it True to end ``fit`` after the epoch.
        training: whether ``forward`` runs the training passes (the default) or,
            after ``eval()``, the inference passes; they differ where a module
            is ``random`` (``Dropout``) or computes batch statistics (``BatchNorm1d``).

    ``forward`` (also ``model(X)``) and ``predict`` validate ``X`` once and
    return a new array; ``backward`` writes ``grads`` (overwriting them) and
    returns dL/dX. ``fit`` always trains and ``predict`` and ``evaluate`` always
    infer, whatever the mode. ``fit`` runs planned steps (``densenet.plan``) that give
    bit-identical results without allocating. ``copy.deepcopy``, pickle and
    joblib give an independent model that trains exactly like the original.

    Example:
        >>> import numpy as np
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), dn.Sigmoid(), seed=0)
        >>> model.params.shape, model[0].W.shape, model[2].b.shape
        ((9,), (2, 2), (1,))
        >>> np.shares_memory(model[0].W, model.params)
        True
        >>> model.predict(np.zeros((3, 2))).shape
        (3, 1)
    """

    def __init__(
        self,
        *modules: Module,
        dtype: DTypeLike = np.float64,
        seed: Seed = None,
    ) -> None:
        _check_modules(modules)
        self._dtype = model_dtype(dtype)
        self._in_features, self._out_features = _widths(modules)
        self._rng = _init.as_generator(seed)
        self._modules = tuple(modules)
        self._training = True
        sizes = [m.n_params for m in modules]
        self._params = np.zeros(sum(sizes), self.dtype)
        self._grads = np.zeros(sum(sizes), self.dtype)
        self._state = np.zeros(sum(m.n_state for m in modules), self.dtype)
        self._frozen: tuple[int, ...] = ()  # the frozen modules' indices, in order
        held = [(m.flat_params, m.flat_grads, m.flat_state) for m in modules]
        try:
            self._attach()
            self.reset_parameters(self._rng)
        except BaseException:  # (a module's draw or views refused: the modules are theirs again)
            for module, vectors in zip(modules, held):
                module.detach(*vectors)
            raise

    def _attach(self) -> None:
        """Bind every module to its slices of ``params``, ``grads`` and ``state``."""
        start = at = 0
        for module in self._modules:
            stop, to = start + module.n_params, at + module.n_state
            module.attach(self._params[start:stop], self._grads[start:stop], self._state[at:to])
            start, at = stop, to
        self._replan()

    def _replan(self) -> None:
        """Forget every plan and step (made for the modules' arrays and what is frozen), and
        make the views of the trainable parameters."""
        self._stiff = tuple(i in self._frozen for i in range(len(self._modules)))
        start = stop = at = 0
        for i, module in enumerate(self._modules):
            at += module.n_params
            if module.n_params and not self._stiff[i]:
                start, stop = (at - module.n_params if stop == 0 else start), at
        self._span = start, stop
        whole = (start, stop) == (0, self._params.size)
        self._trainable = ((self._params, self._grads) if whole
                           else (self._params[start:stop], self._grads[start:stop]))
        # ``plan``'s plans, by its arguments
        self._plans: dict[tuple[int, bool, int, bool, bool], tuple[NDArray[Any] | None, Plan]] = {}
        self._steps: dict[tuple[Any, ...], tuple[Loss, Optimizer | None, TrainStep]] = {}
        # the plans of forward and predict, lent to one call at a time, and what each
        # Python thread's last forward ran (for its backward)
        self._lent = Kept(KEPT_PLANS)
        self._snapshot: NDArray[Any] | None = None
        self._mse: MSELoss | None = None  # the default loss of fit and evaluate
        self._sgd: SGD | None = None  # the default optimiser of fit
        self.stop_training = False
        blocks = [math.prod(shape) for module in self._modules for shape in module.param_shapes()]
        self._largest_block = max(blocks, default=0)
        self._draws = any(m.random for m in self._modules)  # from ``rng``, in training passes

    @property
    def params(self) -> NDArray[Any]:
        """Every parameter, one flat vector; the layers' ``W`` and ``b`` are views into it.

        Write into it (``model.params[...] = values``); it cannot be rebound,
        which would silently detach the layers' views.
        """
        return self._params

    @params.setter
    def params(self, values: object) -> None:
        raise AttributeError("Sequential.params cannot be rebound (the layers' W and b are views into "
                             "it); assign into it: model.params[...] = values")

    @property
    def grads(self) -> NDArray[Any]:
        """Every gradient, one flat vector laid out like ``params``."""
        return self._grads

    @grads.setter
    def grads(self, values: object) -> None:
        raise AttributeError("Sequential.grads cannot be rebound (the layers' dW and db are views into "
                             "it); assign into it: model.grads[...] = values")

    @property
    def state(self) -> NDArray[Any]:
        """Every state value (``Module.state_shapes``: ``BatchNorm1d``'s running mean and
        variance), one flat vector of the model's dtype, laid out in module order; the
        modules' views (``running_mean``, ...) are into it. The training passes update it;
        it is saved, copied and pickled with the parameters."""
        return self._state

    @state.setter
    def state(self, values: object) -> None:
        raise AttributeError("Sequential.state cannot be rebound (the modules' running statistics are "
                             "views into it); assign into it: model.state[...] = values")

    def side_state(self) -> tuple[dict[str, Any] | None, NDArray[Any]]:
        """What a training pass changes besides the parameters, for ``set_side_state``: the
        generator's state if a module draws from it (``Module.random``), and a copy of ``state``.
        (``fit`` puts it back with the weights when it undoes an epoch; ``gradcheck`` before
        each evaluation of the loss.)"""
        # (nothing to copy for most models: fit asks once an epoch, 1,000 times in the tutorial's)
        return ((dict(self._rng.bit_generator.state) if self._draws else None),
                self._state.copy() if self._state.size else self._state)

    def set_side_state(self, saved: tuple[dict[str, Any] | None, NDArray[Any]]) -> None:
        """Put back what ``side_state`` returned."""
        draws, state = saved
        if draws is not None:
            self._rng.bit_generator.state = draws
        self._state[...] = state

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of every parameter, gradient and output (``clone(dtype=...)`` gives a
        copy in another)."""
        return self._dtype

    @property
    def in_features(self) -> int:
        """The number of features a batch must have (fixed by the first module that fixes one)."""
        return self._in_features

    @property
    def out_features(self) -> int:
        """The number of output features."""
        return self._out_features

    @property
    def rng(self) -> np.random.Generator:
        """The model's random generator: ``fit`` shuffles with it when given no seed, and a
        ``Dropout`` draws its masks from it in training passes."""
        return self._rng

    @property
    def training(self) -> bool:
        """Whether ``forward`` runs the training passes (``train()``, the default) or the
        inference passes (``eval()``)."""
        return self._training

    def train(self, mode: bool = True) -> Sequential:
        """Set training mode (``mode=True``) or inference mode (False) for ``forward`` and
        ``backward``; returns the model. ``fit``, ``predict`` and ``evaluate`` do not depend on it."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"Sequential.train: mode must be True or False, got {mode!r}")
        self._training = bool(mode)
        return self

    def eval(self) -> Sequential:
        """Set inference mode (``train(False)``): ``forward`` then runs the passes ``predict``
        runs (``Dropout`` passes its input through); returns the model."""
        return self.train(False)

    def reset_parameters(self, seed: Seed = None) -> None:
        """Draw every parameter afresh, layer by layer, each with its own initialiser; the
        modules' state starts again too (``BatchNorm1d``'s running statistics)."""
        rng = _init.as_generator(seed)
        for module in self._modules:
            module.reset_parameters(rng)
        self.grads[...] = 0

    # -- the container ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules)

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Module, ...]: ...

    def __getitem__(self, index: int | slice) -> Module | tuple[Module, ...]:
        """The module at ``index``, or a tuple of modules for a slice: the model's own,
        whose views are into its buffers (not a new model, as in PyTorch: a module belongs
        to one model's flat vectors)."""
        return self._modules[index]

    @property
    def layers(self) -> tuple[Module, ...]:
        """The modules, in order."""
        return self._modules

    # -- freezing ----------------------------------------------------------------

    def freeze(self, *layers: int | slice) -> Sequential:
        """Freeze the modules at ``layers`` (indices or slices, at least one: ``slice(None)``
        for every module), so that training leaves their parameters and state as they are;
        returns the model.

        A frozen module is a fixed function of its input: ``fit`` (any optimiser) and a
        hand-written loop stepping ``trainable_params`` never change its parameters, its
        parameter gradients are not computed (its part of ``grads`` is not written), and it
        runs its inference passes (a frozen ``BatchNorm1d`` normalises by its running
        statistics and does not update them, as Keras's; in PyTorch that takes
        ``requires_grad_(False)`` and ``eval()``). Gradients still flow through it to the
        modules before it. Modules without parameters or state (activations, ``Dropout``)
        are not affected.

        The optimiser steps ``trainable_params``, one slice of ``params``: the modules with
        parameters that train must be consecutive (freeze a network's first layers to
        fine-tune its last ones, or its last to train its first). ``ValueError``, the model
        unchanged, for a freeze that leaves a frozen module between two that train, and for
        an index out of range. Changing what is frozen changes the vector an optimiser
        steps: an optimiser with state (momentum, Adam's moments) from before cannot go on
        with it; give ``fit`` a new one. For the same reason a callback may not freeze or
        unfreeze during ``fit`` (a ``RuntimeError`` before the next step): unfreezing by
        stages is a fit per stage.

        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(4, 8), dn.Tanh(), dn.Dense(8, 3), seed=0)
        >>> model.freeze(0).frozen
        (0,)
        >>> model.trainable_params.size, model.params.size   # the last layer's [W; b]
        (27, 67)
        >>> model.unfreeze().frozen
        ()
        """
        if not layers:  # (``freeze(*chosen)`` of an empty list must not freeze everything)
            raise TypeError("freeze: name the modules to freeze (indices or slices; slice(None) for all)")
        return self._set_frozen(self._chosen("freeze", layers).union(self._frozen))

    def unfreeze(self, *layers: int | slice) -> Sequential:
        """Let the modules at ``layers`` (indices or slices; none: every module) train again
        (``freeze``); returns the model. The same rule holds: ``ValueError`` if a frozen
        module would be left between two that train."""
        return self._set_frozen(frozenset(self._frozen) - self._chosen("unfreeze", layers))

    @property
    def frozen(self) -> tuple[int, ...]:
        """The indices of the frozen modules (``freeze``), in order."""
        return self._frozen

    @property
    def trainable_params(self) -> NDArray[Any]:
        """The parameters training steps: ``params`` itself unless modules are frozen, else
        the slice of it (a view) that holds the parameters of the modules that train; an
        optimiser's state and ``decay_mask`` are laid out like it. A hand-written loop on a
        model with frozen modules steps ``optimizer.step(model.trainable_params,
        model.trainable_grads)``."""
        return self._trainable[0]

    @property
    def trainable_grads(self) -> NDArray[Any]:
        """The gradients of ``trainable_params``: the matching slice of ``grads``."""
        return self._trainable[1]

    def _chosen(self, verb: str, layers: tuple[int | slice, ...]) -> frozenset[int]:
        """The indices of the modules with parameters or state at ``layers`` (all if none)."""
        count = len(self._modules)
        picked: set[int] = set(range(count)) if not layers else set()
        for layer in layers:
            if isinstance(layer, slice):
                taken = range(*layer.indices(count))
                if not taken:  # (what a mistyped bound gives: an index would be refused)
                    raise ValueError(f"{verb}: {layer!r} takes no module; the model has {count} "
                                     f"(indices -{count} to {count - 1})")
                picked.update(taken)
            elif isinstance(layer, (int, np.integer)) and not isinstance(layer, (bool, np.bool_)):
                if not -count <= layer < count:
                    raise ValueError(f"{verb}: no module at index {layer}; the model has {count} "
                                     f"(indices -{count} to {count - 1})")
                picked.add(int(layer) % count)
            else:
                raise TypeError(f"{verb}: layers must be module indices (ints) or slices, "
                                f"got {type(layer).__name__} {layer!r}")
        return frozenset(i for i in picked if self._modules[i].n_params or self._modules[i].n_state)

    def _set_frozen(self, frozen: frozenset[int]) -> Sequential:
        """Make ``frozen`` the frozen modules, if the ones that train stay consecutive."""
        if tuple(sorted(frozen)) == self._frozen:
            return self
        trains = [i for i, m in enumerate(self._modules) if m.n_params and i not in frozen]
        between = [i for i in frozen if self._modules[i].n_params and trains and trains[0] < i < trains[-1]]
        if between:
            i = min(between)
            raise ValueError(
                f"Sequential: {self._modules[i]!r} at index {i} would be frozen between modules that train "
                f"({trains[0]} and {trains[-1]}): the optimiser steps one slice of the parameters, so the "
                "modules with parameters that train must be consecutive")
        self._frozen = tuple(sorted(frozen))
        self._replan()
        return self

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            if getattr(cls, name) is not getattr(Sequential, name):  # (a mixin's too)
                raise TypeError(f"{cls.__name__} redefines {name}(), which fit, predict and evaluate do not "
                                "call (they run the modules' plans): a Sequential is its modules in order; "
                                "write a module of your own (dn.Module) for another computation")

    if not TYPE_CHECKING:  # (a type checker would take any attribute of a model for one)
        def __getattr__(self, name: str) -> Any:
            """Called for a name not found (a property's too, whose getter found none): without
            the modules, ``Sequential.__init__`` never ran (a subclass's ``__init__`` that does
            not call it)."""
            if "_modules" not in vars(self) and not name.startswith("__"):
                raise AttributeError(f"{type(self).__name__} has no {name}: its __init__ did not call "
                                     "super().__init__(*modules), Sequential's, which makes the model")
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        lines = [f"  ({i}): {m!r}" for i, m in enumerate(self._modules)]
        tail = f"dtype={self.dtype.name}, params={self.params.size}"
        if self._frozen:
            tail += f", frozen={self.frozen}"
        return f"{type(self).__name__}(\n" + "\n".join(lines) + f"\n)  # {tail}"

    def decay_mask(self) -> NDArray[np.bool_]:
        """A boolean vector, one entry a parameter the optimiser steps (``trainable_params``:
        ``params`` unless modules are frozen), True at the weights weight decay is usually
        kept for: each module's ``decayed_params`` (``Dense``'s ``W``), not biases,
        normalisation scales and shifts or PReLU slopes. Give it to an optimiser as
        ``decay_mask`` (PyTorch's two parameter groups, with and without decay); a new array
        each call, which may be changed before.

        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), seed=0)
        >>> model.decay_mask().astype(int)
        array([1, 1, 1, 1, 0, 0, 1, 1, 0])
        >>> dn.AdamW(weight_decay=0.01, decay_mask=model.decay_mask())
        AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, decay_mask=<6 of 9>)
        """
        mask = np.zeros(self.params.size, bool)
        start = 0
        for module in self._modules:
            views = module.param_views(split(mask[start:start + module.n_params], module.param_shapes()))
            for name in module.decayed_params:
                if name not in views:
                    raise ValueError(f"{type(module).__name__}: decayed_params names {name!r}, which is not "
                                     f"one of its parameters {sorted(views)}")
                views[name][...] = True
            start += module.n_params
        return mask[slice(*self._span)].copy() if self._frozen else mask

    def lr_scales(self, scale: float, *layers: int | slice, default: float = 1.0) -> NDArray[np.float64]:
        """A float64 vector, one entry a parameter the optimiser steps (laid out like
        ``trainable_params``), ``scale`` at the parameters of the modules at ``layers``
        (indices or slices, at least one) and ``default`` at the others. Give it to an
        optimiser as ``lr_scale``: those modules then train at ``scale`` times its learning
        rate (PyTorch's parameter groups with an ``lr`` of their own), and a schedule that
        sets ``lr`` keeps the ratio. Vectors of several calls multiply (``*``) into one with
        a scale per module. A new array each call.

        ``ValueError`` for a scale that is not finite and >= 0, an index out of range, or a
        frozen module (its parameters are not stepped).

        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), seed=0)
        >>> model.lr_scales(0.1, 0)
        array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 1. , 1. , 1. ])
        >>> dn.Adam(1e-3, lr_scale=model.lr_scales(0.1, 0))
        Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0, lr_scale=<0.1 to 1>)
        """
        if not layers:  # (``lr_scales(s, *chosen)`` of an empty list must not scale everything)
            raise TypeError("lr_scales: name the modules to scale (indices or slices; slice(None) for all)")
        scale, default = (hyperparameter(value, "Sequential.lr_scales", name)
                          for name, value in (("scale", scale), ("default", default)))
        chosen = self._chosen("lr_scales", layers)
        frozen = sorted(i for i in chosen.intersection(self._frozen) if self._modules[i].n_params)
        if frozen:
            raise ValueError(f"lr_scales: module {frozen[0]} ({self._modules[frozen[0]]!r}) is frozen: the "
                             "optimiser does not step its parameters")
        vector = np.full(self.params.size, default)
        start = 0
        for i, module in enumerate(self._modules):
            if i in chosen:
                vector[start:start + module.n_params] = scale
            start += module.n_params
        return vector[slice(*self._span)].copy() if self._frozen else vector

    def summary(self) -> str:
        """A table of the layers, their output shapes and parameter counts.

        >>> import densenet as dn
        >>> print(dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), seed=0).summary())
        #  layer                                 output  params
        0  Dense(in_features=2, out_features=3)  (N, 3)       9
        1  Sigmoid()                             (N, 3)       0
        2  Dense(in_features=3, out_features=1)  (N, 1)       4
        total: 13 parameters, float64, 104 bytes
        """
        rows, width = [], self.in_features
        for i, module in enumerate(self._modules):
            width = module.output_width(width)
            name = repr(module) + ("  (frozen)" if i in self._frozen else "")
            rows.append((str(i), name, f"(N, {width})", str(module.n_params)))
        head = ("#", "layer", "output", "params")
        widths = [max(len(r[k]) for r in [head, *rows]) for k in range(4)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
            for r in [head, *rows]
        ]
        trainable = f" ({self.trainable_params.size} trainable)" if self._frozen else ""
        total = (f"total: {self.params.size} parameters{trainable}, {self.dtype.name}, "
                 f"{self.params.nbytes} bytes")
        lines.append(total + (f"; {self.state.size} state values (not trained)" if self.state.size else ""))
        return "\n".join(lines)

    # -- checks at the boundary -------------------------------------------------

    def check_input(self, X: ArrayLike, name: str = "X", whole: bool = True) -> Any:
        """``X`` validated and converted to the model's dtype (a copy only if needed); a
        SciPy sparse ``X`` as a CSR matrix, which ``fit``, ``predict`` and ``evaluate`` feed
        a batch of rows at a time to the first module (``Plan.feed``: as they are to a
        ``Dense``, made dense for any other). ``whole=False`` leaves a dense ``X`` of another
        dtype in its own, its values unchecked, for a pass that converts and checks it a
        batch at a time (``_validation.cast_rows``) and so never holds a whole copy."""
        return self._checked(X, name, flag(whole, "check_input", "whole"))[0]

    def _checked(self, X: ArrayLike, name: str = "X", whole: bool = True) -> tuple[Any, bool]:
        """``check_input``'s ``X``, and whether no ``|x|`` is above what the planned passes
        take (``_run``), from the same read pass. Without ``whole``, a dense ``X`` of another
        dtype is left in its own, its values unchecked: ``_predict`` converts and checks
        it a batch at a time (``as_bounded_matrix``)."""
        rows: Any
        if is_sparse(X):
            rows, bounded = as_sparse_rows(X, name, self.dtype, _HUGE[self.dtype])
        else:
            rows, bounded = as_bounded_matrix(X, name, self.dtype, _HUGE[self.dtype], whole)
        if rows.shape[1] != self.in_features:
            index, first = next((i, m) for i, m in enumerate(self._modules) if m.input_width is not None)
            raise ValueError(
                f"{name} has {rows.shape[1]} features (shape {rows.shape}), but {first!r} "
                f"at index {index} expects {self.in_features} features as input"
            )
        return rows, bounded

    def check_data(self, X: ArrayLike, y: ArrayLike, loss: Loss | None = None,
                   names: tuple[str, str] = ("X", "y")) -> tuple[Any, NDArray[Any]]:
        """``X`` and ``y`` validated for this model and ``loss`` (default ``MSELoss``):
        ``X`` by ``check_input``, ``y`` by ``loss.target``, the same number of rows."""
        return self._checked_data(X, y, loss, names)[:2]

    def _checked_data(self, X: ArrayLike, y: ArrayLike, loss: Loss | None = None,
                      names: tuple[str, str] = ("X", "y"),
                      whole: bool = True) -> tuple[Any, NDArray[Any], bool]:
        """``check_data``'s ``X`` and ``y``, and ``_checked``'s bound of ``X``."""
        x_name, y_name = names
        rows, bounded = self._checked(X, x_name, whole)
        y = (MSELoss() if loss is None else loss).target(y, self.out_features, self.dtype, y_name)
        if y.shape[0] != rows.shape[0]:
            raise ValueError(
                f"{x_name} and {y_name} have different numbers of samples: "
                f"{x_name} {rows.shape}, {y_name} {y.shape}"
            )
        return rows, y, bounded

    # -- forward and backward --------------------------------------------------

    def plan(self, n: int, input_grad: bool = False, descent: NDArray[Any] | None = None,
             sparse: bool = False, at_scale: bool = False) -> Plan:
        """The planned training passes for batches of ``n`` rows (``densenet.chain``), kept
        for reuse (whatever the mode: ``random`` modules draw from ``rng``).

        ``input_grad`` plans dL/dX too (what ``backward`` returns); training does
        without. ``descent``, a flat vector laid out like ``trainable_params`` (that
        itself, or an optimiser's momentum buffer), asks for folded descent into it
        (``Plan.descent``). Frozen modules (``freeze``) run their inference passes.
        ``sparse``: batches come as SciPy CSR rows (``Plan.feed``). ``at_scale`` plans the
        passes of a large batch on ``n`` rows (``plan_chain``'s: what ``gradcheck`` checks too).
        A fit uses at most two batch sizes (full and last); a few plans are kept.
        (``forward`` and ``predict`` run plans of their own, lent to one call at a
        time: ``densenet.kept``.)
        """
        key = (n, input_grad, id(descent), sparse, at_scale)
        kept = self._plans.get(key)
        if kept is None or kept[0] is not descent:  # (a kept target cannot lend its id to another)
            if len(self._plans) >= KEPT_PLANS:
                self._plans.pop(next(iter(self._plans)), None)
            blocks = None if descent is None else self._blocks_of(descent)
            kept = self._plans[key] = (descent, plan_chain(self._modules, n, self.in_features, self.dtype,
                                                           input_grad, blocks, training=True, rng=self._rng,
                                                           sparse=sparse, frozen=self._stiff,
                                                           at_scale=at_scale))
        return kept[1]

    def train_step(self, loss: Loss, optimizer: Optimizer | None, n: int, target: NDArray[Any],
                   weighted: bool = False, sparse: bool = False,
                   max_grad_norm: float | None = None) -> TrainStep:
        """The planned training step (``densenet.plan.TrainStep``) for ``loss``,
        ``optimizer`` and batches of ``n`` rows with targets like ``target``, kept for
        reuse: a fit called again with the same loss and optimiser (a fit per epoch,
        ``partial_fit``) builds nothing. A step is rebuilt when what it was built from
        changes (``TrainStep.key``). ``weighted`` plans sample weights (``step.w``);
        ``sparse``, batches of SciPy CSR rows (``step.feed``); ``max_grad_norm``, the
        gradient's norm clipped to it before each update."""
        key = TrainStep.key(self, loss, optimizer, n, target, weighted, sparse, max_grad_norm)
        kept = self._steps.get(key)
        if kept is None:  # (a kept step holds its loss and optimiser: their ids stay theirs)
            if len(self._steps) >= KEPT_STEPS:
                self._steps.pop(next(iter(self._steps)), None)
            kept = self._steps[key] = (loss, optimizer, TrainStep(self, loss, optimizer, n, target, weighted,
                                                                  sparse, max_grad_norm))
        return kept[2]

    def _blocks_of(self, flat: NDArray[Any]) -> list[tuple[NDArray[Any], ...]]:
        """Views of ``flat`` (laid out like ``trainable_params``) shaped as the blocks of
        each module that trains (none for a frozen one)."""
        like = self.trainable_params
        if flat.shape != like.shape or flat.dtype != self.dtype:
            raise ValueError(f"a vector to fold descent into must be shaped like trainable_params "
                             f"{like.shape} {self.dtype}, got {flat.shape} {flat.dtype}")
        blocks, start = [], 0
        for module, stiff in zip(self._modules, self._stiff):
            size = 0 if stiff else module.n_params
            blocks.append(split(flat[start:start + size], module.param_shapes()) if size else ())
            start += size
        return blocks

    def forward(self, X: ArrayLike) -> NDArray[Any]:
        """The model's output for a batch ``X`` ``(N, in_features)``, as a new array.

        Runs the same planned NumPy calls as ``fit`` (kept per batch size), so a
        hand-written training loop over ``forward``/``backward`` gives bit-identical
        weights; the Python thread holds the plan for its ``backward`` (``densenet.kept``:
        a model may run in several threads at once). In training mode (``train()``, the
        default) a ``Dropout`` drops and a ``BatchNorm1d`` normalises by the batch's
        statistics (updating its running ones); after ``eval()`` they infer, as in ``predict``.
        """
        batch, bounded = self._checked(X)
        training, n, sparse = self._training, batch.shape[0], not isinstance(batch, np.ndarray)
        key = (n, True, training, sparse)
        plan = self._lent.borrow(key) or plan_chain(self._modules, n, self.in_features, self.dtype,
                                                    input_grad=True, training=training, rng=self._rng,
                                                    sparse=sparse, frozen=self._stiff)
        Y, rescued = self._run(plan, batch, bounded, training)
        self._lent.hold(key, plan)
        if rescued:  # computed without the plan: nothing to backpropagate
            self._lent.hold(None, None)
        return Y.copy()

    __call__ = forward

    def predict(self, X: ArrayLike, batch_size: int | None = None) -> NDArray[Any]:
        """The model's output for ``X`` ``(N, in_features)``: ``(N, out_features)``, a new array.

        Computed ``batch_size`` rows at a time (default ``PREDICT_BATCH``; for a SciPy
        sparse ``X``, unless the first module takes sparse rows as they are, as many rows
        as make ``SPARSE_CHUNK`` values dense), so the memory it takes does not grow with
        N; rows are independent, so the result is the same as one batch to rounding.
        """
        rows, bounded = self._checked(X, whole=False)
        size = self._chunk(rows) if batch_size is None else positive_int(batch_size, "batch_size")
        return self._predict(rows, size, bounded)

    def _chunk(self, X: Any) -> int:
        """``predict``'s rows at a time for a checked ``X`` (see ``predict``)."""
        if isinstance(X, np.ndarray) or self._modules[0].takes_sparse_input:
            return PREDICT_BATCH
        return min(PREDICT_BATCH, max(1, SPARSE_CHUNK // self.in_features))

    def _predict(self, X: Any, batch_size: int, bounded: bool) -> NDArray[Any]:
        """The output for a checked ``X`` (dense, or SciPy CSR rows), ``batch_size`` rows at
        a time; ``bounded``: no ``|x|`` is above what the planned passes take (else ``_run``
        checks each batch). A dense ``X`` of another dtype (``_checked`` without ``whole``)
        is converted and checked a batch at a time, into the plan's input."""
        n = X.shape[0]
        size = min(n, batch_size)
        Y = np.empty((n, self.out_features), self.dtype)
        with blas_threads(thread_count(self.largest_product(size))):
            for start in range(0, n, size):
                self._output(X, start, Y[start:start + size], bounded)
        return Y

    def _output(self, X: Any, start: int, out: NDArray[Any], bounded: bool) -> NDArray[Any]:
        """The output for the rows of ``X`` (dense, or SciPy CSR rows) from ``start`` on, as
        many as ``out`` has, computed on a plan lent for the call (``densenet.kept``) and
        copied into ``out`` before the plan is given back; returns ``out``. Dense rows of
        another dtype are converted and checked into the plan's input (``cast_rows``),
        which they then are."""
        n, sparse = len(out), not isinstance(X, np.ndarray)  # (checked: else CSR rows)
        key = (n, False, sparse)
        plan = self._lent.take(key) or plan_chain(self._modules, n, self.in_features, self.dtype,
                                                  input_grad=False, sparse=sparse)
        try:
            if X.dtype != self.dtype:  # (dense rows: sparse ones come converted)
                bounded = cast_rows(X, start, start + n, "X", self.dtype, _HUGE[self.dtype], plan.X)[1]
                X = plan.X
            elif n != X.shape[0]:  # (all of X, the common case, as it is)
                X = X[start:start + n]
            out[...] = self._run(plan, X, bounded, False)[0]
        finally:
            self._lent.give(key, plan)
        return out

    def largest_product(self, n: int) -> int:
        """The multiply-adds of the largest matrix product a pass over ``n`` rows makes:
        ``n`` times the largest parameter block (the thread policy's measure)."""
        return n * self._largest_block

    @overload
    def backward(self, dY: ArrayLike, input_grad: Literal[True] = True) -> NDArray[Any]: ...

    @overload
    def backward(self, dY: ArrayLike, input_grad: Literal[False]) -> None: ...

    @overload
    def backward(self, dY: ArrayLike, input_grad: bool) -> NDArray[Any] | None: ...

    def backward(self, dY: ArrayLike, input_grad: bool = True) -> NDArray[Any] | None:
        """Backpropagate dL/dY of the last ``forward``: write ``grads`` and return dL/dX.

        ``dY`` must have exactly the shape of the last output. A training loop that
        does not need dL/dX passes ``input_grad=False`` (None is returned): the first
        layer's ``dY @ W.T`` product, as large as its forward product, is skipped.
        """
        input_grad = flag(input_grad, "Sequential.backward", "input_grad")
        held = self._lent.held
        plan = None if held is None else held[1]
        if plan is None:
            raise RuntimeError("Sequential.backward called before forward (or after a forward "
                               "on inputs so large that they were rescaled, or since a freeze or unfreeze)")
        with np.errstate(under="ignore"):  # (backend.underflow_ignored)
            dY = np.asarray(dY, dtype=self.dtype)
            if dY.shape != plan.Y.shape:
                raise ValueError(
                    f"backward: dY has shape {dY.shape}, but the last forward output "
                    f"has shape {plan.Y.shape}"
                )
            plan.dY[...] = dY
            dX = plan.run_backward(bool(input_grad))
        return None if dX is None else dX.copy()

    def _run(self, plan: Plan, X: Any, bounded: bool, training: bool) -> tuple[NDArray[Any], bool]:
        """Run ``plan``'s forward pass on ``X`` (dense, or SciPy CSR rows), or ``_rescaled``
        for huge inputs (``bounded``: ``X`` is known not to hold any) for ``training`` (the
        plan's). ``X`` may be the plan's input itself, filled already."""
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # (backend.underflow_ignored)
            if not bounded:
                values = X if isinstance(X, np.ndarray) else X.data  # (sparse rows: those stored)
                if not magnitude_at_most(values, _HUGE[self.dtype]):
                    return self._rescaled(X if values is X else X.toarray(), training), True
            if X is not plan.X:
                plan.feed(X)
            return plan.run_forward(), False

    def _rescaled(self, X: NDArray[Any], training: bool) -> NDArray[Any]:
        """The output for inputs so large that the first module's sums could overflow.

        With ``X = 2**k * Xs``, ``|Xs| <= 1``, ``k`` a column of powers of two, one
        for each row (its largest magnitude's, or 0 for a row within [-1, 1]: a power
        for the whole batch would make the small values of the other rows subnormal or
        0), the first module computes its output from ``Xs`` and ``k``
        (``Module.forward_scaled``): a ``Dense`` gives ``2**k * (Xs @ W) + b``, exact as
        far as it is representable and otherwise a signed infinity, which a following
        sigmoid makes 0 or 1; a ``LayerNorm`` normalises ``Xs`` with ``eps`` scaled as
        the variance is. A module without such a way (``forward_scaled`` returns None)
        runs its passes on ``X`` with the others.
        """
        k = np.maximum(np.frexp(np.abs(X).max(axis=1, keepdims=True))[1], 0)
        Z = self._modules[0].forward_scaled(np.ldexp(X, -k), k)
        rest = self._modules if Z is None else self._modules[1:]
        Z = X if Z is None else Z
        if not rest:
            return Z
        plan = plan_chain(rest, len(Z), Z.shape[1], self.dtype, input_grad=False, training=training,
                          rng=self._rng, frozen=self._stiff[len(self._modules) - len(rest):])
        plan.X[...] = Z
        return plan.run_forward()

    def snapshot_buffer(self) -> NDArray[Any]:
        """A spare array shaped like ``params``, owned by the model and reused:
        ``fit`` copies the weights into it at each epoch, so that a diverging
        epoch can be undone without allocating."""
        if self._snapshot is None:
            self._snapshot = np.empty_like(self.params)
        return self._snapshot

    # -- training ----------------------------------------------------------------

    @underflow_ignored
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        optimizer: Optimizer | None = None,
        loss: Loss | None = None,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: Seed = None,
        validation_data: tuple[ArrayLike, ...] | None = None,
        callbacks: Sequence[Callback] | None = (),
        verbose: bool = False,
        sample_weight: ArrayLike | None = None,
        drop_last: bool = False,
        max_grad_norm: float | None = None,
        metrics: Sequence[MetricLike] | None = (),
        validation_split: float = 0.0,
    ) -> History:
        """Train on ``(X, y)`` by mini-batch gradient descent; returns a ``History``.

        See ``densenet.training.fit`` for every argument.
        """
        return fit(
            self, X, y, optimizer=self._default_optimizer() if optimizer is None else optimizer,
            loss=self._default_loss() if loss is None else loss, epochs=epochs,
            batch_size=batch_size, shuffle=shuffle, seed=seed,
            validation_data=validation_data, callbacks=callbacks, verbose=verbose,
            sample_weight=sample_weight, drop_last=drop_last, max_grad_norm=max_grad_norm, metrics=metrics,
            validation_split=validation_split,
        )

    @overload
    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: Loss | None = None,
                 sample_weight: ArrayLike | None = None, metrics: None = None) -> float: ...

    @overload
    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: Loss | None = None,
                 sample_weight: ArrayLike | None = None, *,
                 metrics: Sequence[MetricLike]) -> dict[str, float]: ...

    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: Loss | None = None,
                 sample_weight: ArrayLike | None = None,
                 metrics: Sequence[MetricLike] | None = None) -> float | dict[str, float]:
        """The loss (default ``MSELoss``) of the model's predictions for ``X`` against ``y``;
        with ``sample_weight`` ``(N,)`` (>= 0, not all 0), the weighted mean of the samples'
        losses, ``sum(w l) / sum(w)``. With ``metrics`` (names or ``Metric`` objects, as
        ``fit`` takes them), a dict of ``"loss"`` and each metric by name, of the same
        predictions and weights. Computed as ``predict`` computes, ``PREDICT_BATCH`` rows at
        a time, the loss and metrics too: the loss is the chunks' losses each counted by
        what it is a mean over (its rows, or for ``CrossEntropyLoss`` on labels with class
        weights or ``ignore_index`` its labels' weights' sum), as ``fit``'s epoch loss counts
        its batches, and of up to ``PREDICT_BATCH`` rows the loss's own value for the
        outputs; the memory it takes grows with neither the rows nor the outputs.

        Predictions that are not finite (NaN parameters, products that overflow) are the
        model's, not bad input: their loss is NaN or inf, as the loss's arithmetic makes it
        (``Loss.of_outputs``), and so is ``fit``'s validation loss; each metric of outputs
        holding a NaN is NaN (a NaN output has no class, rank or error), of infinite ones
        what its arithmetic makes. ``X`` and ``y`` are checked as ``fit`` checks them."""
        loss = self._default_loss() if loss is None else loss
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a densenet Loss (such as dn.MSELoss()), "
                            f"got {kind_given(loss, with_repr=True)}")
        measured = None if metrics is None else resolved(metrics, loss, self.out_features, "evaluate")
        rows, target, bounded = self._checked_data(X, y, loss, whole=False)
        w = (None if sample_weight is None
             else relative(sample_weights(sample_weight, rows.shape[0], np.float64), self.dtype))
        if measured is not None:
            check_targets(measured, target, self.out_features, self.dtype, loss, "evaluate")
        value, nan = self._evaluated(rows, target, w, loss, measured or (), bounded)
        if measured is None:
            return value
        results = {"loss": value}
        for metric in measured:  # (a NaN output has no class, rank or error)
            results[metric.name] = math.nan if nan else reported(metric)
        return results

    def _evaluated(self, X: Any, target: NDArray[Any], w: NDArray[Any] | None, loss: Loss,
                   metrics: Sequence[Metric], bounded: bool) -> tuple[float, bool]:
        """``evaluate``'s loss of checked data, and whether an output was NaN, computed as
        ``predict``'s outputs are, a chunk of rows at a time into one array: the loss of
        each chunk (``Loss.of_outputs``) counted by its share, as ``fit``'s epoch loss
        counts its batches, and the ``metrics`` given each chunk (until an output is NaN).
        Neither the outputs nor the loss's plans grow with the data (a loss of all the
        outputs at once, of 1M rows of 10 classes, held 352 MiB in its kept plan)."""
        n = X.shape[0]
        size = min(n, self._chunk(X))
        out = np.empty((size, self.out_features), self.dtype)
        total = shares = 0.0
        nan = False
        with blas_threads(thread_count(self.largest_product(size))):
            for start in range(0, n, size):
                rows = slice(start, start + size)
                y, w_rows = target[rows], None if w is None else w[rows]
                Y = self._output(X, start, out[:len(y)], bounded)
                value, share = loss.of_outputs(Y, y, w_rows)
                total += value * share
                shares += share
                nan = nan or _measured(metrics, Y, y, w_rows)
        # one chunk: the loss's own value (v * s / s may round away from v); where nothing
        # counts (every label ignored), each chunk's value is that of nothing
        return (value if size == n or not shares else total / shares), nan

    def _default_loss(self) -> MSELoss:
        """The ``MSELoss`` of ``fit`` and ``evaluate`` called without one, kept: a loss
        keeps its plans and the model its training steps, so the next call builds nothing."""
        if self._mse is None:
            self._mse = MSELoss()
        return self._mse

    def _default_optimizer(self) -> SGD:
        """The ``SGD(lr=0.1)`` of ``fit`` called without an optimiser, kept for the same
        reason (plain SGD has no state but its step count, which nothing outside reads)."""
        if self._sgd is None:
            self._sgd = SGD(0.1)
        return self._sgd

    # -- copies ----------------------------------------------------------------------

    @underflow_ignored
    def clone(self, dtype: DTypeLike | None = None) -> Sequential:
        """An independent copy: same modules, parameters, state and random-generator state
        (in ``dtype``, if given: ``ValueError`` naming a finite value beyond its range, whose
        copy would be inf). ``copy.deepcopy(model)`` is ``model.clone()``."""
        if dtype is None or model_dtype(dtype) == self.dtype:
            return copy.deepcopy(self)
        twin = Sequential(*(copy.deepcopy(m) for m in self._modules), dtype=dtype, seed=0)
        with np.errstate(over="ignore"):  # (a value beyond the dtype's range is refused below)
            twin.params[...] = self.params
            twin.state[...] = self.state
        if not (all_finite(twin.params) and all_finite(twin.state)):
            _check_held(self, twin)
        twin.rng.bit_generator.state = self._rng.bit_generator.state
        if self._frozen:
            twin.freeze(*self._frozen)
        twin.__class__ = type(self)  # (a subclass's, with its own attributes, its modules the twin's)
        memo = {id(module): copied for module, copied in zip(self._modules, twin)}
        twin.__dict__.update(copy.deepcopy(self._attributes(), memo))
        return twin.train(self._training)

    def __getstate__(self) -> dict[str, Any]:
        # The modules carry their own parameter slices; the flat buffers, and the
        # plans and views into them, are rebuilt by __setstate__.
        return {"modules": self._modules, "dtype": self.dtype, "rng": self._rng,
                "widths": (self.in_features, self.out_features), "training": self._training,
                "frozen": self.frozen,
                "attributes": self._attributes()}

    def _attributes(self) -> dict[str, Any]:
        """A subclass's own attributes: those ``OWN_ATTRIBUTES`` does not name."""
        return {k: v for k, v in vars(self).items() if k not in OWN_ATTRIBUTES}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._modules, self._dtype, self._rng = state["modules"], state["dtype"], state["rng"]
        self._in_features, self._out_features = state["widths"]
        self._training = state.get("training", True)  # (pickled before there were modes)
        self._frozen = tuple(state.get("frozen", ()))  # (or before modules could be frozen)
        empty = np.zeros(0, self.dtype)
        self._params = np.concatenate([empty, *(m.flat_params for m in self._modules)], dtype=self.dtype)
        self._grads = np.concatenate([empty, *(m.flat_grads for m in self._modules)], dtype=self.dtype)
        self._state = np.concatenate([empty, *(m.flat_state for m in self._modules)], dtype=self.dtype)
        self._attach()
        self.__dict__.update(state.get("attributes", {}))  # (a subclass's own)

    def __copy__(self) -> Sequential:
        raise TypeError("copy.copy(model): a shallow copy would share the parameters and the "
                        "modules of the original; use model.clone() or copy.deepcopy(model)")

    # -- persistence -----------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The model's description (JSON values): its modules' ``config()``, the
        dtype, the random-generator state and the frozen modules' indices. Raises
        ``TypeError`` for a module that its config cannot rebuild."""
        modules = []
        for i, module in enumerate(self._modules):
            try:
                modules.append(describe(module))
            except TypeError as error:
                raise TypeError(f"cannot save module {module!r} at index {i}: {error}") from None
        return {"modules": modules, "dtype": self.dtype.name, "rng_state": _rng_state(self._rng),
                "frozen": list(self.frozen)}

    def save(self, path: io.File, optimizer: Optimizer | None = None,
             schedules: Sequence[Any] | None = ()) -> None:
        """Write the model to one ``.npz`` file, atomically (see ``densenet.io``);
        ``densenet.load(path)`` rebuilds it. The name is used as given. ``path`` may
        also be a binary file object (``open(name, "wb")``, ``io.BytesIO()``): it gets
        the whole file in one ``write``, or nothing, and is left open.

        The modules' ``state`` (running statistics) is saved with the parameters.
        With ``optimizer``, its state (``state_dict``: step count, momentum or
        moment vectors) and learning rate are saved too, so that
        ``densenet.load(path, optimizer=...)`` resumes training exactly. With
        ``schedules`` (learning-rate schedules, ``WeightAveraging``, ``EarlyStopping``,
        ``ModelCheckpoint``: callbacks with a ``state_dict``), each one's place (its
        numbers, and its arrays beside ``params``) is saved too, for ``load``'s ``schedules``;
        a state a file could not give back equal (``io.split_state``) is refused, ``TypeError``
        naming the callback and the place, before anything is written.
        """
        try:
            config = self.config()
        except TypeError as error:
            raise TypeError(f"save: {error}") from None
        extra = {"state": self.state} if self.state.size else {}
        schedules = checked_schedules("save", schedules)
        if schedules:
            config["schedules"] = []
            for i, schedule in enumerate(schedules):
                try:  # (JSON values; the arrays, WeightAveraging's average, beside params)
                    numbers, arrays = io.split_state(schedule.state_dict(), f"schedules[{i}], "
                                                     f"{type(schedule).__name__},")
                except TypeError as error:
                    raise TypeError(f"save: {error}") from None
                extra.update({f"schedules.{i}.{name}": array for name, array in arrays.items()})
                config["schedules"].append({"type": type(schedule).__name__, "state": numbers})
        if optimizer is not None:
            if not isinstance(optimizer, Optimizer):
                raise TypeError(f"save: optimizer must be a densenet Optimizer, got {kind_given(optimizer)}")
            state = optimizer.state_dict()
            config["optimizer"] = {"type": type(optimizer).__name__, "lr": optimizer.lr}
            for name, vector in state.items():
                if not isinstance(vector, np.ndarray):  # the step count and the numbers: JSON
                    config["optimizer"][name] = vector
                    continue
                if vector.shape != self.trainable_params.shape:
                    raise ValueError(f"save: {optimizer!r} holds state for {vector.size} parameters, "
                                     f"not this model's {self.trainable_params.size} it trains")
                extra[f"optimizer.{name}"] = vector
        io.write(path, config, self.params, extra)


def as_model(model: object, owner: str) -> Sequential:
    """``model`` if it is a ``Sequential``, else ``TypeError`` naming ``owner`` (a function
    that takes a model: ``gradcheck``, ``lr_find``, ``update_bn``, ``onnx.export``)."""
    if not isinstance(model, Sequential):
        fitted = isinstance(getattr(model, "model_", None), Sequential)  # (densenet.sklearn's estimators)
        hint = "; a fitted estimator's network is its model_: pass estimator.model_" if fitted else ""
        raise TypeError(f"{owner}: model must be a densenet Sequential, got {type(model).__name__} "
                        f"{shown(model)}{hint}")
    return model


def _measured(metrics: Sequence[Metric], Y: NDArray[Any], y: NDArray[Any], w: NDArray[Any] | None) -> bool:
    """Give ``metrics`` a chunk of outputs ``Y`` with its targets and weights, unless an
    output is NaN (which has no class, rank or error: ``evaluate``'s metrics are then NaN
    and no chunk is given them); returns whether one is."""
    if not metrics:
        return False
    if not all_finite(Y) and np.isnan(Y).any():
        return True
    for metric in metrics:
        metric.add(Y, y, w)
    return False


def _check_held(model: Sequential, twin: Sequential) -> None:
    """``ValueError`` naming the first parameter or state value of ``model`` that is finite
    but beyond the range of ``twin``'s dtype, where its copy (``clone``'s) became inf: a
    model whose weights are inf would fail its first step as a divergence."""
    kind = twin.dtype
    for i, (mine, copied) in enumerate(zip(model, twin)):
        arrays = (param_arrays(module) + state_arrays(module) for module in (mine, copied))
        for (name, values), (_, copies) in zip(*arrays):
            lost = np.argwhere(np.isfinite(values) & ~np.isfinite(copies))
            if len(lost):
                at = tuple(int(k) for k in lost[0])
                raise ValueError(f"clone(dtype={kind}): {name}[{', '.join(map(str, at))}] of {mine!r} "
                                 f"(module {i}) is {float(values[at]):g}, beyond {kind}'s range (its size "
                                 f"must be at most {float(np.finfo(kind).max):.4g}, np.finfo({kind}).max): "
                                 "its copy would be inf; scale it down first")


def _rng_state(rng: np.random.Generator) -> dict[str, Any] | None:
    """The generator's state when it is JSON text (PCG64, NumPy's default), else None."""
    state = dict(rng.bit_generator.state)
    return state if state.get("bit_generator") == "PCG64" else None


def _check_modules(modules: Sequence[object]) -> None:
    """Raise unless ``modules`` are Modules that can run and belong to no model yet."""
    if not modules:
        raise ValueError("Sequential needs at least one module")
    for i, module in enumerate(modules):
        if not isinstance(module, Module):
            kind = kind_given(module)
            if isinstance(module, (list, tuple)) and module and all(isinstance(m, Module) for m in module):
                kind = f"a {kind} of modules: pass them as arguments, Sequential(*modules)"
            raise TypeError(f"Sequential: module {i} must be a densenet Module instance, got {kind}")
        module.check_defined()
        _check_declarations(module, i)
        if module.in_model or any(m is module for m in modules[:i]):
            raise ValueError(
                f"Sequential: {module!r} at index {i} already belongs to a model; every model needs "
                "its own module objects (copy.deepcopy(module) gives one; the new model draws its "
                "parameters from its seed: to carry trained ones, assign them after, new[i].W = old[j].W)"
            )


def _check_declarations(module: Module, i: int) -> None:
    """Raise, naming ``module`` and its index ``i``, unless its ``param_shapes()`` and
    ``state_shapes()`` are shapes (tuples of integers >= 0), its ``input_width`` is None
    or an integer >= 1 and its ``outputs`` a kind ``fit`` knows, or None (a module of one's
    own; ``_widths`` checks ``output_width``)."""
    # (the messages, whose reprs cost microseconds, are made for a refusal only)
    for name, shapes in (("param_shapes", module.param_shapes()), ("state_shapes", module.state_shapes())):
        if not (isinstance(shapes, (tuple, list))
                and all(isinstance(shape, (tuple, list)) for shape in shapes)):
            raise TypeError(f"Sequential: {name}() of {module!r} at index {i} must be a tuple of shapes "
                            f"(tuples of integers), got {shapes!r}")
        for shape in shapes:
            for n in shape:
                if type(n) is not int or n < 0:
                    count(n, f"Sequential: a dimension in {name}() {shapes!r} of {module!r} at index {i}")
    width = module.input_width
    if width is not None and (type(width) is not int or width < 1):
        positive_int(width, f"Sequential: input_width of {module!r} at index {i}", "None or an integer >= 1")
    if module.outputs is not type(module).outputs:  # (set on the object: the class's is checked when made)
        check_outputs(module.outputs, f"Sequential: outputs of {module!r} at index {i}")


def _widths(modules: Sequence[Module]) -> tuple[int, int]:
    """The model's input and output widths; raises if the modules' widths do not chain."""
    n_in: int | None = None
    fixed: tuple[int, int, Module] | None = None  # the width so far, and where it was last set
    for i, module in enumerate(modules):
        wanted = module.input_width
        if wanted is not None:
            wanted = int(wanted)  # (an integer: ``_check_declarations``)
            if fixed is None:
                n_in = wanted
            elif wanted != fixed[0]:
                width, j, before = fixed
                kept = (", which the modules between keep (a module that changes the width says so in "
                        "output_width(width))") if i > j + 1 else ""
                raise ValueError(
                    f"Sequential: {module!r} at index {i} expects {wanted} input "
                    f"features, but {before!r} at index {j} gives {width}{kept}"
                )
            fixed = (wanted, i, module)
        if fixed is not None:
            out = module.output_width(fixed[0])
            if type(out) is not int or out < 1:
                out = positive_int(out, f"Sequential: output_width({fixed[0]}) of {module!r} at index {i}")
            if out != fixed[0]:
                fixed = (out, i, module)
    if n_in is None or fixed is None:
        raise ValueError("Sequential needs a module that fixes the input width (such as a Dense layer)")
    return n_in, fixed[0]
