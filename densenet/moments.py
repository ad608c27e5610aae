"""``Moments``: the running moment estimates of Adam and its kin, updated in place.

Adam, RAdam, NAdam and Adamax keep a decaying mean of the gradient (``exp_avg``) and of
its square (``exp_avg_sq``; Adamax a decaying maximum of its magnitude) beside the
parameters, and differ in how they step from them. ``Moments`` holds one optimiser's
work vectors for one model's arrays and does the shared passes: the weight decay, and
``y = b y + (1 - b) x`` for each estimate, by BLAS axpy where the arrays allow it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import hyperparameter
from .backend import Chunks, axpy_chunks


def beta_pair(value: object, owner: str, name: str) -> tuple[float, float]:
    """``value`` as a pair of decay rates ``(b1, b2)``, each in [0, 1) (a ``setting`` check)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{owner}: {name} must be a pair (b1, b2), got {value!r}")
    b1, b2 = (hyperparameter(b, owner, f"beta{i + 1}", high=1.0, high_open=True) for i, b in enumerate(value))
    return b1, b2


class Moments:
    """Work vectors for one optimiser's ``params``, ``grads`` and estimates ``m`` and
    ``v``, and the passes its step shares with Adam's.

    ``coupled``: the weight decay joins the gradient (``g = grads + wd params``, in a
    vector of its own) rather than shrinking the parameters. ``tmp`` is scratch that a
    step may use between the passes here.
    """

    def __init__(self, params: NDArray[Any], grads: NDArray[Any], m: NDArray[Any], v: NDArray[Any],
                 coupled: bool) -> None:
        self.arrays, self.coupled = (params, grads, m, v), coupled
        self.tmp = np.empty_like(params)
        self.g = np.empty_like(params) if coupled else grads  # grads + wd params
        self.g_into_m = (self.g, m, axpy_chunks(m, self.g))
        self.tmp_into_v = (self.tmp, v, axpy_chunks(v, self.tmp))
        self.tmp_into_params = (self.tmp, params, axpy_chunks(params, self.tmp))

    def made_for(self, params: NDArray[Any], grads: NDArray[Any], m: NDArray[Any], v: NDArray[Any],
                 coupled: bool) -> bool:
        """Whether these are its arrays (by identity) and its kind of weight decay."""
        return coupled == self.coupled and all(a is b for a, b in zip(self.arrays, (params, grads, m, v)))

    def decay(self, weight_decay: float, lr: float) -> NDArray[Any]:
        """Apply the weight decay and return the gradient to step by: ``grads + wd params``
        when coupled, else ``grads`` after ``params *= 1 - lr wd`` (decoupled, AdamW's)."""
        params, grads = self.arrays[0], self.arrays[1]
        if not weight_decay:
            return grads
        if not self.coupled:
            np.multiply(params, 1.0 - lr * weight_decay, out=params)
            return grads
        np.multiply(params, weight_decay, out=self.g)
        np.add(self.g, grads, out=self.g)
        return self.g

    def first(self, b1: float) -> None:
        """``m = b1 m + (1 - b1) g``: two passes over three vectors, not four."""
        m = self.arrays[2]
        np.multiply(m, b1, out=m)
        self.axpy(self.g_into_m, 1.0 - b1)

    def second(self, b2: float) -> None:
        """``v = b2 v + (1 - b2) g g``."""
        v = self.arrays[3]
        np.multiply(self.g, self.g, out=self.tmp)
        np.multiply(v, b2, out=v)
        self.axpy(self.tmp_into_v, 1.0 - b2)

    def tmp_to_params(self, a: float) -> None:
        """``params += a tmp``."""
        self.axpy(self.tmp_into_params, a)

    def axpy(self, pair: tuple[NDArray[Any], NDArray[Any], Chunks | None], a: float) -> None:
        """``y += a x`` for a pair ``(x, y, chunks)``: chunked BLAS axpy where the arrays
        allow it (one pass), else two ufunc passes through ``tmp``."""
        x, y, chunks = pair
        if chunks is None:  # tmp is scratch until the next pass writes it
            np.multiply(x, a, out=self.tmp)
            np.add(y, self.tmp, out=y)
            return
        axpy, pieces = chunks
        for x_part, y_part in pieces:
            axpy(x_part, y_part, a=a)
