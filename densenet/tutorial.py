"""The tutorial's data, its 2-2-1 network and its nine named parameters.

The tutorial guesses sex (female 1, male 0) from weight and height, shifted by
135 lb and 66 in. Its network has two sigmoid hidden neurons and one sigmoid
output, with parameters named::

    h1 = f(w1*x1 + w2*x2 + b1)
    h2 = f(w3*x1 + w4*x2 + b2)
    o1 = f(w5*h1 + w6*h2 + b3)

In densenet's convention (``X @ W + b``) that is ``Dense(2, 2)`` with
``W = [[w1, w3], [w2, w4]]``, ``b = [b1, b2]``, then ``Dense(2, 1)`` with
``W = [[w5], [w6]]``, ``b = [b3]``, each followed by a ``Sigmoid``.

>>> model = network(dict(w1=0, w2=1, w3=0, w4=1, w5=0, w6=1, b1=0, b2=0, b3=0))
>>> float(model.predict([[2.0, 3.0]])[0, 0])
0.7216325609518421
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import DTypeLike

from .callbacks import Callback
from .dense import Dense
from .init import Seed, as_generator
from .model import Sequential
from .sigmoid import Sigmoid

#: The parameter names, in the tutorial's order (also the order of its random start).
NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")

#: Alice, Bob, Charlie, Diana.
PEOPLE = ("Alice", "Bob", "Charlie", "Diana")

#: Weight - 135 lb and height - 66 in, one row per person: ``(4, 2)``.
X = np.array([[-2.0, -1.0], [25.0, 6.0], [17.0, 4.0], [-15.0, -6.0]])

#: Female 1, male 0: ``(4, 1)``.
y = np.array([[1.0], [0.0], [0.0], [1.0]])

#: The two people the tutorial classifies after training: name -> (x1, x2).
NEW_PEOPLE = {"Emily": (-7.0, -3.0), "Frank": (20.0, 2.0)}

# Where each name sits in Sequential.params: Dense(2, 2) stores [W; b] row by
# row as w1 w3 / w2 w4 / b1 b2, then Dense(2, 1) as w5 / w6 / b3.
_FLAT_ORDER = ("w1", "w3", "w2", "w4", "b1", "b2", "w5", "w6", "b3")


def _as_values(params: Mapping[str, float] | Sequence[float]) -> dict[str, float]:
    if isinstance(params, Mapping):
        missing = [n for n in NAMES if n not in params]
        extra = [k for k in params if k not in NAMES]
        if missing or extra:
            raise ValueError(f"tutorial parameters: missing {missing}, unknown {extra}; need {NAMES}")
        return {n: float(params[n]) for n in NAMES}
    values = list(params)
    if len(values) != len(NAMES):
        raise ValueError(f"tutorial parameters: need 9 values in the order {NAMES}, got {len(values)}")
    return {n: float(v) for n, v in zip(NAMES, values)}


def network(
    params: Mapping[str, float] | Sequence[float], *, dtype: DTypeLike = np.float64
) -> Sequential:
    """The tutorial's 2-2-1 sigmoid network with the given nine parameters.

    Args:
        params: a mapping with keys ``w1``..``w6``, ``b1``..``b3``, or nine
            values in that order.
        dtype: the model's dtype.
    """
    values = _as_values(params)
    model = Sequential(Dense(2, 2, init="normal"), Sigmoid(), Dense(2, 1, init="normal"), Sigmoid(),
                       dtype=dtype, seed=0)
    model.params[...] = [values[n] for n in _FLAT_ORDER]
    return model


def named_params(model: Sequential) -> dict[str, float]:
    """The nine named parameters of a 2-2-1 model, as Python floats, in ``NAMES`` order."""
    if model.params.size != len(NAMES) or model.in_features != 2 or model.out_features != 1:
        raise ValueError(f"named_params needs the tutorial's 2-2-1 network, got {model!r}")
    flat = dict(zip(_FLAT_ORDER, model.params.tolist()))
    return {n: flat[n] for n in NAMES}


def initial_params(seed: Seed = None) -> dict[str, float]:
    """The tutorial's random start: nine standard normals, drawn in ``NAMES`` order from
    ``seed`` as a model takes it (``densenet.init.as_generator``)."""
    return dict(zip(NAMES, as_generator(seed).standard_normal(len(NAMES)).tolist()))


class EveryTenEpochs(Callback):
    """Record the MSE over all four people every 10 epochs (0, 10, ...), as the
    tutorial reports it and ``reference.ScalarNetwork.train`` returns it."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch % 10 == 0:
            self.losses.append(self.model.evaluate(X, y))
