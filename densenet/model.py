"""``Sequential``: modules in a chain, over one flat parameter vector."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import init as _init
from ._validation import as_matrix, positive_int
from .layers import Dense, Module
from .step import ModelPlan, plan_model

if TYPE_CHECKING:
    from os import PathLike

    from .losses import MSELoss
    from .optim import SGD
    from .training import Callback, History

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: ``predict`` works through its input this many rows at a time.
PREDICT_BATCH = 4096

#: Inputs above these magnitudes (2**511 and 2**63, the square roots of the
#: largest floats) go through ``Sequential._rescaled``, whose sums cannot overflow.
_HUGE = {np.dtype(np.float64): 2.0 ** 511, np.dtype(np.float32): 2.0 ** 63}


def model_dtype(dtype: DTypeLike) -> np.dtype:
    """``dtype`` as a NumPy dtype, which must be float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt.name}")
    return dt


class Sequential:
    r"""Modules applied in order, with all parameters in one flat vector.

    Args:
        *modules: the layers and activations, in order (``Dense``, ``Sigmoid``, ...).
        dtype: ``numpy.float64`` (default) or ``numpy.float32``, for every
            parameter, gradient and activation of the model.
        seed: an int, a ``numpy.random.Generator`` or None (fresh entropy); it
            initialises the parameters and is the default for shuffling in ``fit``.

    Shape:
        - Input: ``(N, in_features)`` of the first ``Dense``
        - Output: ``(N, out_features)`` of the last ``Dense``

    Attributes:
        params: every parameter, one flat 1-D array. Each ``Dense`` holds
            ``[W; b]`` as a contiguous block, in module order; its ``W`` and
            ``b`` are views into this array.
        grads: the gradients, same size, dtype and layout; ``dW`` and ``db``
            are views into it.

    ``forward`` (also ``model(X)``) and ``predict`` validate ``X`` once and
    return a new array; ``backward`` writes ``grads`` (overwriting them) and
    returns dL/dX. ``fit`` runs planned steps (``densenet.step``) that give
    bit-identical results without allocating.

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
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if not modules:
            raise ValueError("Sequential needs at least one module")
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: module {i} must be a densenet Module, got {type(module).__name__}"
                )
            if getattr(module, "_in_model", False) or any(m is module for m in modules[:i]):
                raise ValueError(
                    f"Sequential: {module!r} at index {i} already belongs to a model; "
                    "every model needs its own module objects"
                )
        self.dtype = model_dtype(dtype)
        self.in_features, self.out_features = _check_chain(modules)
        if self.in_features is None:
            raise ValueError("Sequential needs at least one Dense layer: it fixes the input width")
        self._modules = tuple(modules)
        self._rng = _init.as_generator(seed)

        size = sum(m.n_params for m in modules)
        self._params = np.zeros(size, self.dtype)
        self._grads = np.zeros(size, self.dtype)
        start = 0
        for module in modules:
            stop = start + module.n_params
            module.bind(self._params[start:stop], self._grads[start:stop])
            module._in_model = True
            start = stop
        self._trainable = [i for i, m in enumerate(modules) if m.n_params]
        self._last: ModelPlan | None = None
        self._plans: dict[int, ModelPlan] = {}
        self._snapshot: NDArray | None = None
        self.reset_parameters(self._rng)

    @property
    def params(self) -> NDArray:
        """Every parameter, one flat vector; the layers' ``W`` and ``b`` are views into it.

        Write into it (``model.params[...] = values``); it cannot be rebound,
        which would silently detach the layers' views.
        """
        return self._params

    @property
    def grads(self) -> NDArray:
        """Every gradient, one flat vector laid out like ``params``."""
        return self._grads

    def reset_parameters(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw every parameter afresh, layer by layer, each with its own initialiser."""
        rng = _init.as_generator(seed)
        for module in self._modules:
            module.reset_parameters(rng)
        self.grads[...] = 0

    # -- the container ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules)

    def __getitem__(self, index: int) -> Module:
        return self._modules[index]

    @property
    def layers(self) -> tuple[Module, ...]:
        """The modules, in order."""
        return self._modules

    def __repr__(self) -> str:
        lines = [f"  ({i}): {m!r}" for i, m in enumerate(self._modules)]
        tail = f"dtype={self.dtype.name}, params={self.params.size}"
        return "Sequential(\n" + "\n".join(lines) + f"\n)  # {tail}"

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
            width = getattr(module, "out_features", width)
            shape = f"(N, {width})" if width is not None else "(N, ?)"
            rows.append((str(i), repr(module), shape, str(module.n_params)))
        head = ("#", "layer", "output", "params")
        widths = [max(len(r[k]) for r in [head, *rows]) for k in range(4)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
            for r in [head, *rows]
        ]
        lines.append(f"total: {self.params.size} parameters, {self.dtype.name}, {self.params.nbytes} bytes")
        return "\n".join(lines)

    # -- forward and backward --------------------------------------------------

    def check_input(self, X: ArrayLike, name: str = "X") -> NDArray:
        """``X`` validated and converted to the model's dtype (a copy only if needed)."""
        X = as_matrix(X, name, self.dtype)
        if self.in_features is not None and X.shape[1] != self.in_features:
            first = self._modules[self._trainable[0]]
            raise ValueError(
                f"{name} has {X.shape[1]} features (shape {X.shape}), but {first!r} "
                f"at index {self._trainable[0]} expects {self.in_features} features as input"
            )
        return X

    def forward(self, X: ArrayLike) -> NDArray:
        """The model's output for a batch ``X`` ``(N, in_features)``, as a new array.

        Runs the same planned NumPy calls as ``fit`` (on fresh arrays), so a
        hand-written training loop over ``forward``/``backward`` gives bit-identical
        weights; the plan is kept for ``backward``.
        """
        X = self.check_input(X)
        plan = self._last = plan_model(self, len(X), input_grad=True)
        return self._run(plan, X)

    __call__ = forward

    def predict(self, X: ArrayLike, batch_size: int | None = None) -> NDArray:
        """The model's output for ``X`` ``(N, in_features)``: ``(N, out_features)``, a new array.

        Computed ``batch_size`` rows at a time (default ``PREDICT_BATCH``), so the
        memory it takes does not grow with N; rows are independent, so the result
        is the same as one batch to rounding.
        """
        X = self.check_input(X)
        size = PREDICT_BATCH if batch_size is None else positive_int(batch_size, "batch_size")
        return self._predict(X, size)

    def _predict(self, X: NDArray, batch_size: int = 0) -> NDArray:
        """``predict`` for validated ``X`` (also ``evaluate`` and validation in ``fit``)."""
        size = min(len(X), batch_size or PREDICT_BATCH)
        if size == len(X):
            return self._run(self._plan(size), X).copy()
        Y = np.empty((len(X), self.out_features), self.dtype)
        for start in range(0, len(X), size):
            rows = X[start:start + size]
            Y[start:start + len(rows)] = self._run(self._plan(len(rows)), rows)
        return Y

    def backward(self, dY: ArrayLike) -> NDArray:
        """Backpropagate dL/dY of the last ``forward``: write ``grads`` and return dL/dX.

        ``dY`` must have exactly the shape of the last output.
        """
        if self._last is None:
            raise RuntimeError("Sequential.backward called before forward")
        plan = self._last
        dY = np.asarray(dY, dtype=self.dtype)
        if dY.shape != plan.Y.shape:
            raise ValueError(
                f"backward: dY has shape {dY.shape}, but the last forward output "
                f"has shape {plan.Y.shape}"
            )
        plan.dY[...] = dY
        return plan.run_backward()

    def _forward(self, X: NDArray) -> NDArray:
        """The output for validated ``X`` in an array of a plan kept for that batch
        size, valid until the next call (``gradcheck``'s many small passes)."""
        return self._run(self._plan(len(X)), X)

    def _run(self, plan: ModelPlan, X: NDArray) -> NDArray:
        """Run ``plan``'s forward pass on ``X``, or ``_rescaled`` for huge inputs."""
        first = self._modules[0]
        with np.errstate(over="ignore", invalid="ignore"):
            if isinstance(first, Dense) and np.abs(X).max() > _HUGE[self.dtype]:
                return self._rescaled(first, X)
            plan.X[...] = X
            return plan.run_forward()

    def _rescaled(self, first: Dense, X: NDArray) -> NDArray:
        """The output for inputs so large that the first layer's sums could overflow.

        Finite inputs can make ``X @ W`` overflow, or hit ``inf - inf = nan``
        (float32 inputs near 3e38, say). With ``X = 2**k * Xs``, ``|Xs| <= 1``,
        ``2**k * (Xs @ W) + b`` is exact as far as it is representable and
        otherwise a signed infinity, which a following sigmoid makes 0 or 1.
        """
        k = int(np.frexp(np.abs(X).max())[1])
        Z = np.ldexp(np.dot(np.ldexp(X, -k), first.W), k) + first.b
        for module in self._modules[1:]:
            Z = module.forward(Z)
        return Z

    def _plan(self, n: int) -> ModelPlan:
        """The planned passes for batches of ``n`` (see ``densenet.step``), kept for reuse.

        A fit uses at most two batch sizes (full and last); a few are kept.
        """
        plan = self._plans.get(n)
        if plan is None:
            if len(self._plans) >= 4:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[n] = plan_model(self, n)
        return plan

    def _weights_snapshot(self) -> NDArray:
        """A spare array the size of ``params``, kept for reuse (fit's divergence guard)."""
        if self._snapshot is None:
            self._snapshot = np.empty_like(self.params)
        return self._snapshot

    # -- training ----------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        optimizer: SGD | None = None,
        loss: MSELoss | None = None,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | np.random.Generator | None = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: bool = False,
    ) -> History:
        """Train on ``(X, y)`` by mini-batch SGD; returns a ``History``.

        See ``densenet.training.fit`` for every argument.
        """
        from .training import fit

        return fit(
            self, X, y, optimizer=optimizer, loss=loss, epochs=epochs,
            batch_size=batch_size, shuffle=shuffle, seed=seed,
            validation_data=validation_data, callbacks=callbacks, verbose=verbose,
        )

    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: MSELoss | None = None) -> float:
        """The loss of the model's predictions for ``X`` against ``y``."""
        from .losses import MSELoss
        from .training import check_data

        X, y = check_data(self, X, y)
        return (loss or MSELoss()).forward(self._predict(X), y)

    # -- persistence -----------------------------------------------------------

    def save(self, path: str | PathLike) -> None:
        """Write the model to one ``.npz`` file, atomically; see ``densenet.io``."""
        from .io import save

        save(self, path)


def _check_chain(modules: Sequence[Module]) -> tuple[int | None, int | None]:
    """The model's input and output widths; raises if Dense sizes do not chain."""
    n_in: int | None = None
    previous: tuple[int, Dense] | None = None
    for i, module in enumerate(modules):
        if not isinstance(module, Dense):
            continue
        if previous is None:
            n_in = module.in_features
        elif module.in_features != previous[1].out_features:
            j, before = previous
            raise ValueError(
                f"Sequential: {module!r} at index {i} expects {module.in_features} input "
                f"features, but {before!r} at index {j} gives {before.out_features}"
            )
        previous = (i, module)
    return n_in, None if previous is None else previous[1].out_features
