"""Gradient clipping by the global norm: PyTorch's ``torch.nn.utils.clip_grad_norm_`` on
densenet's one flat gradient vector.

``clip_grad_norm(model.grads, max_norm)`` scales the whole gradient by
``max_norm / (norm + 1e-6)`` when its 2-norm exceeds ``max_norm``, and leaves it as it
is otherwise; ``fit(..., max_grad_norm=...)`` does the same between each step's backward
pass and its update. One norm over every parameter, as PyTorch's over all the
parameters given to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .backend import sum_of_squares, underflow_ignored

__all__ = ["EPSILON", "clip_grad_norm", "clipper", "norm_bound"]

#: Added to the norm before dividing, as PyTorch does: a gradient whose norm is just above
#: the bound ends just below it.
EPSILON = 1e-6


def norm_bound(value: object, owner: str, name: str = "max_norm") -> float:
    """``value`` (named ``name``) as the largest gradient norm: a finite number > 0."""
    return hyperparameter(value, owner, name, low_open=True)


@underflow_ignored
def clip_grad_norm(grads: NDArray[Any], max_norm: float) -> float:
    """Scale ``grads`` in place by ``max_norm / (norm + 1e-6)`` when its 2-norm ``norm``
    exceeds ``max_norm`` (finite, > 0); returns ``norm``, the norm before clipping.

    For a hand-written loop, between ``model.backward`` and the optimiser's step::

        model.backward(loss.backward())
        dn.clip_grad_norm(model.grads, 1.0)
        optimizer.step(model.params, model.grads)

    As with PyTorch's ``clip_grad_norm_``, a gradient with a non-finite element is scaled
    by NaN: its norm is returned, and the step after it diverges visibly.
    """
    if not (isinstance(grads, np.ndarray) and grads.dtype in (np.float32, np.float64)
            and grads.flags.c_contiguous and grads.flags.writeable):
        got = (type(grads).__name__ if not isinstance(grads, np.ndarray)
               else f"{grads.dtype} array" if grads.dtype not in (np.float32, np.float64)
               else f"non-contiguous {grads.dtype} array" if not grads.flags.c_contiguous
               else f"read-only {grads.dtype} array")
        raise TypeError(f"clip_grad_norm: grads must be a writeable, contiguous float32 or float64 array "
                        f"(such as model.grads), got {got}")
    return clipper(grads, norm_bound(max_norm, "clip_grad_norm"))()


def clipper(grads: NDArray[Any], max_norm: float) -> Callable[[], float]:
    """A call that clips ``grads`` (contiguous) to ``max_norm`` as it is then, and returns
    the norm before clipping: one BLAS ``dot`` pass, and one pass more when it clips."""
    return partial(_clip, grads, sum_of_squares(grads), max_norm)


def _clip(grads: NDArray[Any], squares: Callable[[], float], max_norm: float) -> float:
    norm = math.sqrt(squares())
    coefficient = max_norm / (norm + EPSILON)
    if not coefficient >= 1.0:  # (NaN too: a non-finite gradient scaled by NaN, as PyTorch's)
        np.multiply(grads, coefficient, out=grads)
    return norm
