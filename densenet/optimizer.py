"""The ``Optimizer`` protocol: in-place updates of a model's flat vectors.

An optimiser sees a model as two flat vectors, ``params`` and ``grads``: one
step is one vector operation whatever the architecture. Nothing else in
densenet knows which optimiser it is; what it needs goes through:

- ``step(params, grads)``: update ``params`` in place from ``grads``;
- ``lr``: the learning rate, which a schedule may change between steps;
- ``state_dict()`` / ``load_state_dict(state)``: the optimiser's memory
  (momentum, moment estimates: flat vectors beside ``params``), copied out and
  put back, so that ``fit`` can undo a diverging epoch and a saved run can resume.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from ._validation import learning_rate


class Optimizer:
    """Base class of the optimisers: see the module docstring for the protocol.

    Args:
        lr: the learning rate, finite and > 0 (checked whenever it is set).
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    @property
    def lr(self) -> float:
        """The learning rate; may be changed between steps (checked when set)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = learning_rate(value, type(self).__name__)

    def step(self, params: NDArray, grads: NDArray) -> None:
        """Update ``params`` in place from ``grads`` (same shape and dtype)."""
        raise TypeError(f"{type(self).__name__} does not define step(params, grads): an Optimizer must")

    def state_dict(self) -> dict[str, Any]:
        """A copy of the optimiser's state (flat vectors and counters); ``{}`` when it has none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a state that ``state_dict`` returned."""
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got {sorted(state)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"
