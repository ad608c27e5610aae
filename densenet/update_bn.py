"""``update_bn``: a model's running statistics estimated afresh from data, for its weights as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from ._validation import cast_rows, positive_int
from .model import Sequential, as_model
from .training import non_finite_state

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@runtime_checkable
class RunningStatistics(Protocol):
    """What ``update_bn`` asks of a module with batch statistics (``BatchNorm1d``'s)."""

    momentum: float | None

    def reset_running_stats(self) -> None: ...


def update_bn(model: Sequential, X: ArrayLike | Any, batch_size: int = 32) -> Sequential:
    """Estimate the running statistics of ``model``'s batch normalisation afresh: each
    ``BatchNorm1d`` that is not frozen (each module whose training passes compute
    statistics over the rows, ``Module.batch_statistics``) starts again from its
    ``reset_running_stats`` and ends with the plain average of the statistics of ``X``'s
    batches of ``batch_size`` rows, in order, under the model's parameters as they are;
    returns the model.

    A weight average (``WeightAveraging``) carries the average of the statistics its steps
    ran with; stochastic weight averaging's recipe estimates them afresh for the averaged
    weights instead, and so may a fine-tuned model, or one meeting data from elsewhere.
    This is ``torch.optim.swa_utils.update_bn``, done the same way: the ``k``-th batch
    weighs ``1 / k``, through training-mode passes, so that a ``Dropout`` drops as it does
    in training. Only the running statistics change (and ``num_batches_tracked``, the
    count of a module made with ``momentum=None``: the number of batches), written at the
    end: the passes run on a copy of the model (``clone``: its parameters and gradients
    once more in memory while they run, with the passes' work arrays, which the model does
    not keep after), so its modules' ``momentum``, its mode, its generator and what its
    last ``forward`` holds for a ``backward`` are never touched (a hand-written step's
    ``backward`` after ``update_bn`` is that of the step's batch, and another thread's
    passes meanwhile run as they would without it). ``X`` may be a SciPy sparse matrix.

    ``ValueError`` before anything changes for an ``X`` the model does not take or a
    ``batch_size`` that leaves a batch of one row (the statistics of one row have no
    variance), and one naming the module and statistic, the model as it was, where the
    statistics come out non-finite (values before the module whose variance overflows the
    dtype, or weights that are not finite: as ``fit`` refuses them); a pass that fails on
    the way leaves the model as it was.

    Example:
        >>> import numpy as np, densenet as dn
        >>> model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3), dn.ReLU(), dn.Dense(3, 1), seed=0)
        >>> X = np.random.default_rng(0).standard_normal((64, 2))
        >>> hidden = X @ model[0].W + model[0].b
        >>> _ = dn.update_bn(model, X, batch_size=64)   # one batch: its own statistics
        >>> bool(np.allclose(model[1].running_mean, hidden.mean(axis=0)))
        True
        >>> bool(np.allclose(model[1].running_var, hidden.var(axis=0, ddof=1)))
        True
    """
    model = as_model(model, "update_bn")
    batch_size = positive_int(batch_size, "update_bn: batch_size")
    rows = model.check_input(X, whole=False)  # (data of another dtype: converted a batch at a time)
    norms: list[int] = []
    for i, module in enumerate(model):
        if module.batch_statistics and i not in model.frozen:
            if not isinstance(module, RunningStatistics):
                raise TypeError(f"update_bn: {module!r} at index {i} computes statistics over the rows but "
                                "keeps no running ones to estimate (reset_running_stats and momentum)")
            norms.append(i)
    if not norms:
        return model
    n = rows.shape[0]  # (>= 1: check_input refuses an empty X)
    full = min(batch_size, n)
    if min(full, n % full or full) < 2:
        index, rows_of = norms[0], f"{n} row{'s' * (n > 1)}"
        raise ValueError(f"update_bn: {model[index]!r} at index {index} computes statistics over the rows of "
                         f"each batch and needs at least 2, but batch_size={batch_size} on {rows_of} makes a "
                         "batch of 1; choose another batch_size")
    # The passes run on a copy whose statistics are written back at the end: meanwhile the
    # model keeps its mode, momenta and generator, and what its last forward holds for a backward.
    work = model.clone().train()
    chosen = [cast(RunningStatistics, work[i]) for i in norms]
    for norm in chosen:
        norm.reset_running_stats()
    largest = float(np.finfo(model.dtype).max)
    # (dense rows of another dtype; sparse ones come converted)
    converted = np.empty((full, rows.shape[1]), model.dtype) if rows.dtype != model.dtype else None
    for k, start in enumerate(range(0, n, full), 1):
        for norm in chosen:
            norm.momentum = 1.0 / k  # the running average: (1 - 1/k) running + batch / k
        batch = rows[start:start + full]
        if converted is not None:  # (checked finite here, to name a value by its row in X)
            batch = cast_rows(rows, start, start + full, "X", model.dtype, largest, converted)[0]
        work.forward(batch)
    for i, norm in zip(norms, chosen):  # (the copy's modules named as the model's)
        norm.momentum = cast(RunningStatistics, model[i]).momentum
    broken = non_finite_state(work)
    if broken is not None:  # (as fit refuses them: every prediction after would be a constant)
        raise ValueError(f"update_bn: the running statistics of {broken} came out non-finite (NaN or inf): "
                         "X's values before that module are too large for its statistics in the model's "
                         "dtype (a variance overflows float32 near 1.8e19, float64 near 1.3e154), or are "
                         "not finite (the weights before it); the model keeps its own. Scale the inputs "
                         "(standardise them)")
    model.state[...] = work.state
    return model
