"""The ``Optimizer`` protocol: in-place updates of a model's flat vectors.

An optimiser sees a model as two flat vectors, ``params`` and ``grads``: one
step is one vector operation whatever the architecture. Nothing else in
densenet knows which optimiser it is; what it needs goes through:

- ``step(params, grads)``: update ``params`` in place from ``grads``;
- ``lr``: the learning rate, which a schedule may change between steps;
- ``full_batch``: True for an optimiser that minimises the whole objective
  itself (``minimize``) rather than stepping batch by batch, with no learning
  rate to set (``LBFGS``: the schedules refuse one);
- ``plain_descent``: True when a step is exactly ``params -= lr * s * grads``
  (``s`` its ``lr_scale``, 1 without one), so that a planned training step may
  apply it inside its backward pass (``densenet.plan.TrainStep``, where each
  module's parameters share one ``s``) and only ``count_step()``;
- ``heavy_ball(params)``: ``(momentum, buffer)`` when a step is exactly
  ``buffer = momentum * buffer + grads + wd * params`` (without the first term at
  the first step; ``wd`` the weight decay, as ``add_decay`` adds it: ``decays``)
  then ``params -= lr * s * buffer``: a planned step may then accumulate the
  gradient into ``buffer`` inside its backward pass, add the decay and update
  ``params`` itself, and only call ``before_step()`` before and ``count_step()`` after;
- ``settings()`` / ``set_settings(settings)``: the learning rate and every ``setting``
  by name, as they are and put back: a callback may change them between steps, and
  ``fit`` keeps those each step of an epoch ran with (``setting_values()``), so that the
  replay of a diverging epoch takes each step as it was taken;
- ``state_dict()`` / ``load_state_dict(state)``: the optimiser's memory
  (momentum, moment estimates: flat vectors beside ``params``; a step count
  and any running numbers), copied out and put back, so that ``fit`` can
  undo a diverging epoch and a saved run can resume exactly;
- ``non_finite_state()``: the name of a state vector that is no longer finite, or
  None: ``fit`` asks it after each epoch, and undoes the epoch up to the step that
  made it so (a divergence);
- ``before_step()``: every step with state calls it before it reads the state (and
  a plan that folds a ``heavy_ball`` step, before each): every ``FLUSH_EVERY`` steps
  it sets the state's subnormal numbers to zero (below).

Subnormal numbers are flushed because the decaying state of a parameter whose gradient
has become 0 (the weights of a ReLU unit that died during training) does not decay to 0:
``0.9 * m`` rounds back to ``m`` once ``m`` is a few of the smallest subnormal numbers,
so momenta and moment estimates stick there, and every later step multiplies them, which
x86 processors do in microcode, some hundred times slower than a normal multiplication.
After 40 epochs of a ReLU network on scikit-learn's digits (64-256-256-10, batch 32,
float32) a tenth of Adam's first moments were stuck so, and Adam's update took 5.5x the
time of the same update with them at 0, SGD's momentum update 8.7x, and the last epochs of
60 took 2.0-2.5x the time of the same epochs flushed (``benchmarks/NOTES.md``). A flush
writes no normal number (``densenet.subnormal``), and moves a parameter by less than the
smallest normal number times the learning rate (over ``eps``, for Adam's kin): in those
trainings not one weight came out otherwise. Which steps flush depends on the step count
alone, so a resumed run flushes where an uninterrupted one does.

Hyperparameters are ``setting`` properties, checked whenever they are set, as in the
constructor: a schedule or callback may change them between steps (``fit`` plans its
steps anew when one changes what they are built on; ``plans_version`` tells it).

Every optimiser here has a weight decay ``weight_decay`` (0: none) and a ``decay_mask``
(None: every parameter decays; else a boolean vector, one entry a parameter, True where
the parameter decays, as ``Sequential.decay_mask()`` makes for the weight matrices
alone); a step applies them through ``add_decay`` (the L2 penalty's gradient joins the
gradient) or ``shrink`` (decoupled: the parameters shrink), which the base class gives.
Every optimiser here that steps has an ``lr_scale`` too (None: every parameter steps at
``lr``; else a vector of numbers >= 0, one entry a parameter, its share of ``lr``, as
``Sequential.lr_scales`` makes per module): a step multiplies its update by it
(``scale_step``) and ``shrink`` shrinks each parameter at its own rate, so that each
parameter moves as under PyTorch's parameter groups with ``lr = lr * scale``. The base
class refuses one (a step that did not apply it would ignore it): an optimiser that does
declares ``lr_scale = setting("lr_scale", scale_vector)``.

An optimiser with state keeps it for one model's parameters: the array it
first steps (or the first one after ``load_state_dict`` or unpickling) is its
model, and stepping another array with that state is an error, not a silent mix.
A step first asks ``check_arrays(params, grads)`` (once for a pair of arrays), so that
arrays it cannot update (of two shapes, not floats, ``params`` read-only) are refused
with the optimiser's name before anything changes; so is an ``eps`` that the parameters'
dtype holds as 0, for an optimiser that adds one to a denominator (``denominator_eps``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import described, hyperparameter, learning_rate, nonzero_in, positive_int
from .backend import all_finite
from .subnormal import SubnormalFlush

#: Every this many steps an optimiser's ``before_step`` sets the subnormal numbers of its
#: state vectors to zero (the module docstring).
FLUSH_EVERY = 64

#: ``objective(w) -> (loss, gradient)`` for a float64 parameter vector ``w``.
Objective = Callable[[NDArray[Any]], tuple[float, NDArray[Any]]]

def _vector(value: object) -> NDArray[Any] | None:
    """A copy of ``value`` as an array, or None where NumPy cannot read it as one (rows of
    different lengths)."""
    try:
        return np.array(value, copy=True)
    except ValueError:
        return None


def _described(value: object, array: NDArray[Any] | None) -> str:
    """What a vector setting was given, for a message: ``array`` (``value`` read by
    ``_vector``) by its dtype and shape."""
    if array is None:
        return f"{described(value)} whose rows differ in length"
    return f"a {array.dtype.name} array of shape {array.shape}"


def boolean_vector(value: object, owner: str, name: str) -> NDArray[np.bool_] | None:
    """``value`` as a read-only copy of a 1-D boolean array, or None (a ``setting`` check);
    its size is checked against the parameters at the first step (``Optimizer.decays``)."""
    if value is None:
        return None
    mask = _vector(value)
    if mask is None or mask.dtype != np.bool_ or mask.ndim != 1:
        raise TypeError(f"{owner}: {name} must be None or a 1-D boolean array, one entry a parameter "
                        f"(model.decay_mask()), got {_described(value, mask)}")
    mask.flags.writeable = False
    return mask


def scale_vector(value: object, owner: str, name: str) -> NDArray[np.float64] | None:
    """``value`` as a read-only float64 copy of a 1-D array of numbers, each finite and >= 0,
    or None (a ``setting`` check); its size is checked against the parameters at the first
    step (``Optimizer.prepare``)."""
    if value is None:
        return None
    vector = _vector(value)
    if vector is None or vector.dtype.kind not in "iuf" or vector.ndim != 1:
        boolean = vector is not None and vector.dtype.kind == "b"
        hint = " (a boolean array: decay_mask takes those)" if boolean else ""
        raise TypeError(f"{owner}: {name} must be None or a 1-D array of numbers, one entry a parameter "
                        f"(model.lr_scales(...)), got {_described(value, vector)}{hint}")
    vector = vector.astype(np.float64)
    bad = np.flatnonzero(~(np.isfinite(vector) & (vector >= 0)))
    if bad.size:
        raise ValueError(f"{owner}: {name} must be finite and >= 0 everywhere, got {vector[bad[0]]} at "
                         f"index {bad[0]} ({bad.size} such entries)")
    vector.flags.writeable = False
    return vector


def no_scale(value: object, owner: str, name: str) -> None:
    """Refuse an ``lr_scale`` (the base class's ``setting`` check): a step that does not
    scale its update (``Optimizer.scale_step``) would ignore it."""
    if value is not None:
        raise TypeError(f"{owner} does not apply an {name}: its step would ignore it (an optimiser whose "
                        "step scales its update by scale_step declares lr_scale = setting('lr_scale', "
                        "scale_vector))")


class _PerParameter:
    """An optimiser's vectors for one parameter array and the settings they are made of
    (``decay_mask``, ``weight_decay``, ``lr_scale``; not the others, which a schedule may
    set at every step): ``decays``, each parameter's weight decay in the parameters' dtype (None without a
    ``decay_mask``); ``scale``, ``lr_scale`` in the parameters' dtype (None without one);
    ``shrinkage``, each parameter's ``scale * wd`` in float64 (None unless a weight decay
    meets a mask or a scale); and ``shrink``'s ``factors`` for the rate ``rate`` (made by its
    first call)."""

    def __init__(self, optimizer: Optimizer, params: NDArray[Any]) -> None:
        mask, wd, scale = optimizer.decay_mask, optimizer.weight_decay, optimizer.lr_scale
        self.params, self.made_of = params, (mask, wd, scale)
        self.decays: NDArray[Any] | None = np.empty_like(params) if mask is not None and wd else None
        self.scale = None if scale is None else scale.astype(params.dtype)
        self.shrinkage: NDArray[np.float64] | None = (
            np.empty(params.shape) if (mask is not None or scale is not None) and wd else None)
        self.factors: NDArray[Any] | None = None
        self.work: NDArray[np.float64] | None = None
        self.rate: float | None = None
        self.refill(wd)

    def refill(self, wd: float) -> None:
        """Fill the vectors with the weight decay ``wd``, in place: a decay set between
        steps allocates nothing. (``wd`` is not 0 where they exist: a decay set to 0 or
        from 0 makes them anew, ``made_for``.)"""
        mask, _, scale = self.made_of
        self.made_of = (mask, wd, scale)
        for vector in (self.decays, self.shrinkage):  # wd where the mask is True (or everywhere), 0
            if vector is not None:  # elsewhere: a cast, then a product (a mixed product would buffer)
                np.copyto(vector, True if mask is None else mask)
                np.multiply(vector, wd, out=vector)
        if self.shrinkage is not None and scale is not None:
            np.multiply(self.shrinkage, scale, out=self.shrinkage)
        self.rate = None  # (``shrink_factors`` makes its factors again)

    def made_for(self, optimizer: Optimizer, params: NDArray[Any]) -> bool:
        """Whether these are the vectors for ``params`` and the optimiser's settings now, or
        for another weight decay that ``refill`` makes them for (the vectors by identity: a
        setting keeps a read-only copy, replaced when set)."""
        mask, wd, scale = self.made_of
        return (params is self.params and optimizer.decay_mask is mask and optimizer.lr_scale is scale
                and bool(optimizer.weight_decay) == bool(wd))

    def shrink_factors(self, lr: float) -> NDArray[Any]:
        """``1 - lr * scale * wd`` for each parameter, in the parameters' dtype (computed in
        float64, as PyTorch computes a group's factor), made again only when ``lr`` changes."""
        assert self.shrinkage is not None
        if self.factors is None:
            self.factors = np.empty_like(self.params)
            self.work = self.factors if self.factors.dtype == np.float64 else np.empty(self.params.shape)
        if self.rate != lr:
            assert self.work is not None
            np.multiply(self.shrinkage, lr, out=self.work)
            np.subtract(1.0, self.work, out=self.work)
            if self.work is not self.factors:
                np.copyto(self.factors, self.work)
            self.rate = lr
        return self.factors


#: the properties that keep their value in the attribute of their name with a "_" before it
#: (each ``setting``, and ``Optimizer.lr``), which ``_settable`` may read without them
_STORED_AS_PRIVATE: set[property] = set()


def setting(name: str, check: Callable[[Any, str, str], Any], default: Any = None,
            plans: Callable[[Any], Any] | None = None, holds: Callable[[Any], Any] | None = None) -> property:
    """An optimiser's hyperparameter ``name`` as a property, checked whenever it is set
    (the constructor's setting included) by ``check(value, owner, name)``, which returns
    the value kept (``_validation.hyperparameter`` is one) in ``_name``. Setting it counts
    in ``settings_version`` (the optimiser's own step reads its settings again), and in
    ``plans_version`` when ``plans(value)`` changes with it: what of the value ``fit``'s
    planned steps are built on (the value itself when None; ``bool`` for a momentum whose
    being 0 alone shapes them; ``unplanned`` for one they never depend on). A schedule
    that sets a momentum at every step then plans nothing. A change of plans, or of
    ``holds(value)`` (what of the value decides the state vectors held, ``STATE``, for a
    setting whose plans do not: RMSprop's momentum), drops the vectors the value takes out
    of ``STATE`` (``drop_unused_state``), so that they start afresh if they come back.
    ``default`` answers for an optimiser pickled before the setting existed
    (``Optimizer.__setstate__`` renames one pickled as a plain attribute)."""
    private = "_" + name

    def get(self: Any) -> Any:
        return getattr(self, private, default)

    def set_(self: Any, value: Any) -> None:
        before = getattr(self, private, default)
        kept = check(value, type(self).__name__, name)
        setattr(self, private, kept)
        self.settings_version += 1
        if plans is None or plans(kept) != plans(before):
            self.plans_version += 1
            self.drop_unused_state()
        elif holds is not None and holds(kept) != holds(before):
            self.drop_unused_state()

    made = property(get, set_, doc=f"The {name} (checked whenever it is set).")
    _STORED_AS_PRIVATE.add(made)
    return made


def unplanned(value: Any) -> None:
    """``setting``'s ``plans`` for a value no planned step is built on: the optimiser's
    own step reads it (Adam's betas), or the steps read it at every call."""
    return None


_Getter = Callable[[Any], tuple[Any, ...]]

#: ``_settable``'s answers, by class
_SETTABLE: dict[type, tuple[tuple[str, ...], _Getter, _Getter]] = {}


def _settable(kind: type) -> tuple[tuple[str, ...], _Getter, _Getter]:
    """The names of the properties that can be set of optimiser class ``kind`` (``lr`` and
    its settings, ``setting``; the base classes' first), a getter of their values, and one
    that reads the attributes that hold them where all are ``_STORED_AS_PRIVATE`` (a quarter
    of the time: no property's function called), else the same."""
    found = _SETTABLE.get(kind)
    if found is None:
        settable = {name: value for klass in reversed(kind.__mro__) for name, value in vars(klass).items()
                    if isinstance(value, property) and value.fset is not None}
        names = tuple(settable)
        public = operator.attrgetter(*names)
        fast = (operator.attrgetter(*("_" + name for name in names))
                if all(value in _STORED_AS_PRIVATE for value in settable.values()) else public)
        found = _SETTABLE[kind] = names, public, fast
    return found


class Optimizer:
    """Base class of the optimisers: see the module docstring for the protocol.

    Args:
        lr: the learning rate, finite and >= 0 (checked whenever it is set; 0 moves
            nothing).

    A subclass with state lists its flat vectors in ``STATE`` and gets them from
    ``state(params)`` in its step (allocated on the first, each at
    ``initial_state(name)``); the base class then gives ``state_dict``,
    ``load_state_dict``, pickling and the one-model check.
    """

    #: The names of the state vectors (each a flat vector shaped like ``params``).
    STATE: tuple[str, ...] = ()

    #: The names of the state's numbers besides ``steps`` (float attributes of the
    #: optimiser, each set to ``initial_state(name)`` when it is made): ``state_dict``
    #: holds them too.
    SCALARS: tuple[str, ...] = ()

    #: How many times a setting (a hyperparameter other than ``lr``, see ``setting``) was
    #: set: the optimiser's own step reads its settings again when it changes.
    settings_version: int = 0

    #: How many times a setting changed what ``fit``'s planned steps are built on
    #: (``setting``'s ``plans``): ``fit`` plans its steps anew when it changes during training.
    plans_version: int = 0

    #: A full-batch optimiser (``LBFGS``) runs its own iterations on the whole data
    #: set through ``minimize(objective, params, iterations, callback)``; ``fit``
    #: asks this, never which optimiser it is.
    full_batch: bool = False

    #: ``snapshot``'s spare; not pickled (a copy of the state for fit's next epoch), so an
    #: unpickled optimiser, like a new one, starts from this default
    _spare: dict[str, Any] | None = None

    #: the names of the vectors ``_state`` holds for ``_model`` (``STATE`` when it was made)
    _names: tuple[str, ...] = ()

    #: the per-parameter vectors (weight decays, learning-rate scales) for the parameters
    #: last stepped and the settings then; not pickled
    _per: _PerParameter | None = None

    # a planned step reads the decay as it is when it runs: only its being 0 shapes the plans
    weight_decay = setting("weight_decay", hyperparameter, default=0.0, plans=bool)
    decay_mask = setting("decay_mask", boolean_vector)
    # an optimiser whose step applies one says so (``setting("lr_scale", scale_vector)``)
    lr_scale = setting("lr_scale", no_scale)

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.steps = 0
        self._state: dict[str, NDArray[Any]] = {}
        self._model: NDArray[Any] | None = None
        for name in self.SCALARS:  # (a step may read them at once, and fit's snapshot save them)
            setattr(self, name, float(self.initial_state(name)))

    @property
    def lr(self) -> float:
        """The learning rate; may be changed between steps (checked when set)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = learning_rate(value, type(self).__name__)

    def settings(self) -> dict[str, Any]:
        """The learning rate and every setting (``setting``: each property that can be set),
        by name: what a callback may change between steps."""
        names, values, _ = _settable(type(self))
        return dict(zip(names, values(self)))

    def setting_values(self) -> tuple[Any, ...]:
        """The values of ``settings()``, in its order: a fifth of its cost, for a record
        made at every step (``fit`` keeps the settings each step ran with)."""
        _, values, fast = _settable(type(self))
        try:
            return fast(self)
        except AttributeError:  # pickled before a setting existed: the property gives its default
            return values(self)

    def set_settings(self, settings: Mapping[str, Any]) -> None:
        """Put back what ``settings()`` returned: each value that is not the one held now is
        set again (checked, and counted in ``settings_version`` and ``plans_version`` as any
        setting is); the others are left alone."""
        for name, value in settings.items():
            if getattr(self, name) is not value:
                setattr(self, name, value)

    def step(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        """Update ``params`` in place from ``grads`` (same shape and dtype)."""
        raise TypeError(f"{type(self).__name__} does not define step(params, grads): an Optimizer must")

    #: the arrays ``check_arrays`` last passed, and ``settings_version`` then; not pickled
    _checked: tuple[NDArray[Any], NDArray[Any], int] | None = None

    #: the dtype and ``denominator_eps()`` that ``check_shift`` last passed
    _shift_checked: tuple[np.dtype[Any], tuple[float, float]] | None = None

    #: the flush of the state vectors (made for them at the first); not pickled
    _flush: SubnormalFlush | None = None

    def before_step(self) -> None:
        """What a step with state does before it reads the state: where ``steps`` is a
        multiple of ``FLUSH_EVERY``, set the subnormal numbers of the state vectors to zero
        (the module docstring says why), allocating nothing after the first time."""
        if self.steps % FLUSH_EVERY or not self._state:
            return
        vectors = tuple(self._state.values())
        flush = self._flush
        if flush is None or not flush.made_for(vectors):
            flush = self._flush = SubnormalFlush(vectors)
        flush()

    def check_arrays(self, params: NDArray[Any], grads: NDArray[Any]) -> None:
        """``TypeError`` or ``ValueError`` naming the optimiser unless a step can update
        ``params`` from ``grads``: NumPy arrays of floats of one shape, ``params`` writeable.
        A step calls it before it changes anything; it looks once at a pair of arrays (a
        model passes the same two at every step), and after a setting has changed asks
        ``check_shift`` again (an ``eps`` set between steps), not the arrays."""
        checked = self._checked
        if checked is not None and params is checked[0] and grads is checked[1]:
            if checked[2] != self.settings_version:  # (the arrays checked: a setting changed since)
                self.check_shift(params.dtype)
                self._checked = params, grads, self.settings_version
            return
        owner = f"{type(self).__name__}.step"
        for name, array in (("params", params), ("grads", grads)):
            if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
                got = array.dtype.name if isinstance(array, np.ndarray) else type(array).__name__
                raise TypeError(f"{owner}: {name} must be a NumPy array of floats, got {got}")
        if grads.shape != params.shape:
            raise ValueError(f"{owner}: grads has shape {grads.shape}, but params has shape {params.shape}")
        if not params.flags.writeable:
            raise TypeError(f"{owner}: params is read-only (a step updates it in place)")
        self.check_shift(params.dtype)
        self._checked = params, grads, self.settings_version

    def denominator_eps(self) -> tuple[float, float] | None:
        """``(eps, factor)``: a step adds at least ``eps * factor`` to a denominator (Adam's
        ``eps sqrt(1 - b2**t)``), or None (by default: no step divides). ``check_shift``
        asks it."""
        return None

    def check_shift(self, dtype: np.dtype[Any]) -> None:
        """``ValueError`` if ``denominator_eps``'s least shift is 0 in ``dtype``, the parameters': a
        parameter whose gradient is 0 would then step by 0 / 0 (``eps=1e-50`` for a float32
        model; a fit diverged at its first batch, with an error that blamed the learning
        rate). ``prepare`` and ``check_arrays`` ask it, before anything changes; it looks
        again only when the least shift or the dtype has changed (a one-cycle schedule sets
        Adam's first beta at every step, not the second)."""
        given = self.denominator_eps()
        if given is None or (dtype, given) == self._shift_checked:
            return
        nonzero_in(dtype, given[0], type(self).__name__, "eps",
                   "a parameter whose gradient is 0 would step by 0 / 0", factor=given[1],
                   whose="the parameters'")
        self._shift_checked = dtype, given

    def minimize(self, objective: Objective, params: NDArray[Any], iterations: int,
                 callback: Callable[[NDArray[Any], float], None] | None = None) -> Any:
        """A full-batch optimiser's own iterations (``full_batch``): minimise
        ``objective`` from ``params`` (in place) for at most ``iterations`` iterations,
        calling ``callback(w, loss)`` after each (it may raise ``StopIteration`` to stop);
        returns a result whose ``fun`` is the final loss. An optimiser that steps has none."""
        raise TypeError(f"{type(self).__name__} steps batch by batch (full_batch is False): it has no "
                        "minimize(objective, params, iterations, callback)")

    @property
    def plain_descent(self) -> bool:
        """True when ``step`` is exactly ``params -= lr * s * grads`` (``s`` the
        ``lr_scale``, 1 without one) and changes nothing else but ``steps``: a planned
        step may then apply it itself and call ``count_step``."""
        return False

    def heavy_ball(self, params: NDArray[Any]) -> tuple[float, NDArray[Any]] | None:
        """``(momentum, buffer)`` when ``step`` is exactly ``buffer = momentum * buffer +
        grads + wd * params`` (without ``momentum * buffer`` when ``steps`` is 0; ``wd``
        each parameter's weight decay, ``decays(params)``, as ``add_decay`` adds it: none
        at 0), then ``params -= lr * s * buffer`` (``s`` the ``lr_scale``, 1 without one),
        after ``before_step``, and changes nothing else but ``steps``; ``buffer`` is the
        optimiser's own state vector for ``params``. A planned step may then do that
        itself, calling ``before_step`` first and ``count_step`` after. None (the default)
        otherwise."""
        return None

    def count_step(self) -> None:
        """Count a step that a plan applied in this optimiser's place (``plain_descent``)."""
        self.steps += 1

    def prepare(self, params: NDArray[Any]) -> None:
        """Get ready to step ``params``: ``fit`` calls this before training, so that an
        optimiser that cannot (its state is another model's, its ``decay_mask`` or
        ``lr_scale`` another size) fails before any change."""
        self.check_shift(params.dtype)  # (first: the state is made in the parameters' dtype)
        self.state(params)
        self.check_sizes(params)

    # -- per-parameter settings: weight decay, learning-rate scale ---------------------

    def decays(self, params: NDArray[Any]) -> float | NDArray[Any]:
        """Each parameter's weight decay for a step of ``params``: ``weight_decay`` itself
        without a ``decay_mask``; with one, a vector in ``params``' dtype, ``weight_decay``
        where the mask is True and 0 elsewhere (made once for the arrays and settings).
        ``ValueError`` if the mask is not one entry a parameter."""
        if self.decay_mask is None or not self.weight_decay:
            return self.weight_decay
        decays = self._per_parameter(params).decays
        assert decays is not None
        return decays

    def add_decay(self, params: NDArray[Any], grads: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = grads + wd params``, each parameter with its own ``wd`` (``decays``): the
        gradient of the L2 penalty ``wd/2 |params|^2`` joins the loss's. ``out`` is a vector
        of its own (neither ``params`` nor ``grads``)."""
        np.multiply(params, self.decays(params), out=out)
        np.add(out, grads, out=out)

    def shrink(self, params: NDArray[Any], lr: float,
               by: Callable[[NDArray[Any], float], None] | None = None) -> None:
        """``params *= 1 - lr scale wd``, each parameter with its own ``wd`` (``decays``) and
        ``scale`` (``lr_scale``; 1 without one): the decoupled weight decay (AdamW's). A
        parameter the mask spares is left as it is. ``by(params, f)``, if given, multiplies
        by one number ``f`` in place (a library's threaded pass) where NumPy's would."""
        if not self.weight_decay:
            return
        if self.decay_mask is None and self.lr_scale is None:
            factor = 1.0 - lr * self.weight_decay
            if by is None:
                np.multiply(params, factor, out=params)
            else:
                by(params, factor)
            return
        np.multiply(params, self._per_parameter(params).shrink_factors(lr), out=params)

    def scale_step(self, params: NDArray[Any], update: NDArray[Any],
                   out: NDArray[Any] | None = None) -> NDArray[Any]:
        """``update * lr_scale`` (each parameter's share of the learning rate) into ``out``
        (``update`` itself by default), for a step of ``params``; returns the vector to step
        by: ``update``, unchanged, without an ``lr_scale``."""
        if self.lr_scale is None:
            return update
        target, scale = update if out is None else out, self._per_parameter(params).scale
        assert scale is not None
        np.multiply(update, scale, out=target)
        return target

    def per_parameter_repr(self) -> str:
        """``", decay_mask=<k of n>"`` (how many parameters decay, of how many) and
        ``", lr_scale=<lo to hi>"`` (the smallest and largest scale) for a repr; ``""``
        without either."""
        mask, scale, text = self.decay_mask, self.lr_scale, ""
        if mask is not None:
            text += f", decay_mask=<{int(mask.sum())} of {mask.size}>"
        if scale is not None:
            text += f", lr_scale=<{scale.min():g} to {scale.max():g}>" if scale.size else ", lr_scale=<>"
        return text

    def check_sizes(self, params: NDArray[Any]) -> None:
        """``ValueError`` if a ``decay_mask`` or an ``lr_scale`` is not one entry a parameter."""
        for name, maker in (("decay_mask", "decay_mask()"), ("lr_scale", "lr_scales(...)")):
            vector = getattr(self, name)
            if vector is not None and vector.shape != params.shape:
                raise ValueError(f"{type(self).__name__}: {name} has {vector.size} entries, but the model "
                                 f"trains {params.size} parameters (model.{maker} makes one for a model, "
                                 "after any freeze)")

    def _per_parameter(self, params: NDArray[Any]) -> _PerParameter:
        """The per-parameter vectors for ``params`` and the current settings (made anew if
        they are not)."""
        kept = self._per
        if kept is None or not kept.made_for(self, params):
            self.check_sizes(params)
            kept = self._per = _PerParameter(self, params)
        elif kept.made_of[1] != self.weight_decay:  # (set between steps: nothing allocated)
            kept.refill(self.weight_decay)
        return kept

    # -- state ----------------------------------------------------------------------

    def initial_state(self, name: str) -> float:
        """The value every element of the state vector ``name`` starts at: 0 (an
        optimiser whose state starts elsewhere says so here)."""
        return 0.0

    def state(self, params: NDArray[Any]) -> dict[str, NDArray[Any]]:
        """The state vectors for ``params`` (allocated on the first step, and when a setting
        adds one, at ``initial_state``); raises ``ValueError`` if the state belongs to
        another model's parameters. A vector a setting took out of ``STATE`` is dropped:
        switched on again, it starts afresh, as a new optimiser's would."""
        names = self.STATE
        if params is not self._model or names != self._names:  # (a setting may add or drop one)
            for name in self._state.keys() - set(names):
                del self._state[name]
            if self._model is not None and params is not self._model:
                raise ValueError(
                    f"{type(self).__name__} keeps state for one model's parameters and was given "
                    "another array: use one optimiser per model (copy.deepcopy(optimizer) for another), "
                    "and a new one after freezing or unfreezing a model's modules")
            for name in names:
                kept = self._state.get(name)
                if kept is None:
                    self._state[name] = np.full_like(params, self.initial_state(name))
                elif kept.shape != params.shape:
                    raise ValueError(f"{type(self).__name__}: its state is for {kept.size} parameters, "
                                     f"but the model has {params.size}")
                else:
                    self._state[name] = kept.astype(params.dtype, copy=False)
            self._model, self._names = (params if names else None), names
        return self._state

    def drop_unused_state(self) -> None:
        """Drop the state vectors that ``STATE`` no longer names (a setting took them out),
        as ``state`` does at the next step that asks it: SGD's step without momentum asks
        none, and kept the buffer to take up again when the momentum came back, where a
        ``state_dict()`` taken in between holds none."""
        vectors = getattr(self, "_state", None)  # (none yet while the constructor sets them)
        if not vectors:
            return
        names = self.STATE
        for name in vectors.keys() - set(names):
            del vectors[name]
        if not names:
            self._model = None  # (as ``state`` leaves an optimiser with no state: tied to no model)
        self._names = tuple(name for name in self._names if name in names)

    def non_finite_state(self) -> str | None:
        """The name of the first of its state vectors that holds a value that is not finite
        (NaN or inf), or None (no state yet included). ``fit`` asks it after each epoch: an
        inf in a running mean of squared gradients, say, makes every later step of its
        parameters 0, silently. A vector that starts at a value that is not finite
        (``initial_state``) is not asked about."""
        for name in self.STATE:
            vector = self._state.get(name)
            if vector is not None and math.isfinite(self.initial_state(name)) and not all_finite(vector):
                return name
        return None

    def state_dict(self, out: dict[str, Any] | None = None) -> dict[str, Any]:
        """A copy of the optimiser's state: ``steps``, its ``SCALARS`` and its state vectors.
        Given ``out`` (an earlier result), its arrays are reused: nothing is allocated."""
        result: dict[str, Any] = {} if out is None else out
        result["steps"] = self.steps
        for name in self.SCALARS:
            result[name] = float(getattr(self, name))
        held = 1 + len(self.SCALARS)
        for name in self.STATE:
            if name not in self._state:
                result.pop(name, None)
                continue
            held += 1
            if name in result and result[name].shape == self._state[name].shape:
                result[name][...] = self._state[name]
            else:
                result[name] = self._state[name].copy()
        if len(result) > held:  # ``out``'s vector that a setting has since taken out of STATE
            for name in result.keys() - {"steps", *self.SCALARS, *self.STATE}:
                del result[name]
        return result

    def snapshot(self) -> dict[str, Any]:
        """``state_dict()`` into a spare the optimiser keeps and reuses: ``fit`` takes one at
        every epoch, so that a diverging epoch can be undone without allocating. The same
        dict comes back each time (``load_state_dict`` takes it back)."""
        self._spare = self.state_dict(out=self._spare)
        return self._spare

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a state that ``state_dict`` returned (or a saved file held); checked
        whole before anything changes. A vector the state lacks starts afresh: an optimiser
        that has not stepped a model then has none (``state_dict()`` gives back the state
        given), one that has keeps it, set to its ``initial_state``, for the plans that hold it."""
        if not isinstance(state, Mapping):
            raise TypeError(f"{type(self).__name__}: a state must be a mapping of names to values (a "
                            f"state_dict()), got {described(state)}")
        unknown = set(state) - {"steps", *self.SCALARS, *self.STATE}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no state {sorted(unknown)}; "
                             f"its state is {['steps', *self.SCALARS, *self.STATE]}")
        if "steps" not in state:
            raise ValueError(f"{type(self).__name__}: the state has no 'steps' "
                             "(state_dict() always holds it)")
        steps = positive_int(state["steps"], f"{type(self).__name__}: steps", "an integer >= 0", low=0)
        scalars = {name: hyperparameter(state[name], type(self).__name__, name, low=-math.inf)
                   if name in state else self.initial_state(name) for name in self.SCALARS}
        vectors = {name: np.asarray(state[name]) for name in self.STATE if name in state}
        sizes = {v.shape for v in vectors.values()}
        if any(v.ndim != 1 or v.dtype.kind != "f" for v in vectors.values()) or len(sizes) > 1:
            raise ValueError(f"{type(self).__name__}: state vectors must be 1-D float arrays of one size, "
                             f"got {[(n, v.dtype.name, v.shape) for n, v in vectors.items()]}")
        if self._model is not None and vectors and sizes != {self._model.shape}:
            raise ValueError(f"{type(self).__name__}: the state is for {next(iter(vectors.values())).size} "
                             f"parameters, but its model has {self._model.size}")
        for name, vector in vectors.items():
            if self._model is not None and name in self._state:
                self._state[name][...] = vector
            else:
                self._state[name] = np.array(vector)
        for name in set(self.STATE) - set(vectors):  # no state yet: it starts afresh, as none (the
            if self._model is None:  # vectors of one that steps a model are kept, for its plans)
                self._state.pop(name, None)
            elif name in self._state:
                self._state[name][...] = self.initial_state(name)
        for name, value in scalars.items():
            setattr(self, name, value)
        self.steps = int(steps)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # the state follows the optimiser to its next model
        state.pop("_spare", None)  # a copy of the state, for fit's next epoch only
        state.pop("_per", None)  # (made for the model's arrays)
        state.pop("_checked", None)
        state.pop("_flush", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if isinstance(getattr(type(self), key, None), property):
                key = "_" + key  # pickled before it became a checked setting
            # one attribute at a time: updating __dict__ itself would leave every attribute
            # read of this object slower (about 25 ns each on CPython 3.11), steps included
            object.__setattr__(self, key, value)
        # the state vectors as writeable arrays of its own: joblib hands large arrays to its
        # workers as read-only memory maps of a file
        self._state = {name: np.require(vector, requirements=("C", "W", "O"))
                       for name, vector in state.get("_state", {}).items()}
        for name in ("decay_mask", "lr_scale"):  # (a copied array is writeable again)
            vector = getattr(self, name, None)
            if vector is not None:
                vector.flags.writeable = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


_STORED_AS_PRIVATE.add(vars(Optimizer)["lr"])
