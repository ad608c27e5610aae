"""``Dropout``: random elements zeroed in training, the identity at inference."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, cast

import numpy as np

from ._validation import hyperparameter
from .chain import Buffers, Call, Passes
from .module import Module


class Dropout(Module):
    r"""In training, each element zeroed with probability ``p`` and the others scaled
    by ``1 / (1 - p)``: ``Y = X * M``, ``M`` drawn afresh at every forward pass, its
    elements ``1 / (1 - p)`` with probability ``1 - p`` and 0 otherwise. At inference
    the identity. PyTorch's ``torch.nn.Dropout`` (whose masks come from its own
    generator).

    Args:
        p: the probability of zeroing an element, from 0 to 1 (default 0.5); 1 zeroes
            every element. It may be changed between steps (``dropout.p = 0.2``).

    Training passes are those of ``fit`` and of ``forward``/``backward`` on a model in
    training mode (``Sequential.train()``, the default); ``predict``, ``evaluate``
    (and so a fit's validation loss) and ``forward`` after ``model.eval()`` run the
    inference passes. The scaling keeps each element's expected value, so inference
    needs no rescaling. The masks are drawn from the model's ``rng``, so a copy of
    the model (``clone``, pickle) or a saved and loaded one draws the same masks; the
    backward pass multiplies ``dY`` by the same mask. A loss with dropout is a random
    function of the parameters: ``fit`` refuses ``LBFGS`` for such a model, and
    ``gradcheck`` checks the gradient for one mask.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(3, 100), dn.Dropout(0.5), seed=0)
        >>> X = np.ones((1, 3))
        >>> kept = model.forward(X) != 0                # training mode: about half kept
        >>> bool(0.3 < kept.mean() < 0.7)
        True
        >>> bool((model.eval().forward(X) == model.predict(X)).all())  # inference: Dense alone
        True
    """

    in_place = True
    reads_output = False
    random = True
    outputs = "inputs"  # (scaled in training, the identity at inference: a loss takes them as its inputs)
    settable = ("p",)

    _p: float
    #: how many 0-d constants of each float dtype the passes read (``constants``)
    n_constants: ClassVar[int] = 2

    def __init__(self, p: float = 0.5) -> None:
        # the constants as 0-d arrays of each float dtype that the planned passes read at
        # each call: setting p changes every plan
        self._constants = {np.dtype(t): tuple(np.zeros((), t) for _ in range(self.n_constants))
                           for t in (np.float32, np.float64)}
        self.p = p

    @property
    def p(self) -> float:
        """The probability of dropping an element, from 0 to 1."""
        return self._p

    @p.setter
    def p(self, p: float) -> None:
        p = hyperparameter(p, type(self).__name__, "p", high=1.0)
        self._p = p
        values = self.constants(p)
        for arrays in self._constants.values():
            for array, value in zip(arrays, values):
                array[...] = value

    def constants(self, p: float) -> tuple[float, ...]:
        """The numbers the training passes read for ``p``: the threshold 1 - p and the scale."""
        return 1.0 - p, 0.0 if p == 1.0 else 1.0 / (1.0 - p)

    def config(self) -> dict[str, Any]:
        return {"p": self.p}

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.node("Identity", [x])  # an exported model infers

    def plan(self, buffers: Buffers) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        if not buffers.training:  # inference: the identity
            return Passes([] if Y is X else [partial(np.copyto, Y, X)],
                          [] if dX is None or dX is dY else [partial(np.copyto, dX, dY)])
        return self.dropping(buffers, cast(np.random.Generator, buffers.rng))  # (``plan_chain`` gives one)

    def dropping(self, buffers: Buffers, rng: np.random.Generator) -> Passes:
        """The training passes, masks drawn from ``rng`` (a variant overrides them)."""
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        keep, scale = self._constants[Y.dtype]
        uniform, kept, mask = np.zeros_like(Y), np.zeros(Y.shape, bool), np.zeros_like(Y)
        # kept with probability 1 - p; the mask's 0 and 1 copied out of the booleans (a
        # multiplication of booleans by the scale would take an iterator buffer per call)
        forward: list[Call] = [partial(rng.random, dtype=Y.dtype, out=uniform),
                               partial(np.less, uniform, keep, kept), partial(np.copyto, mask, kept),
                               partial(np.multiply, mask, scale, mask), partial(np.multiply, X, mask, Y)]
        return Passes(forward, [] if dX is None else [partial(np.multiply, dY, mask, dX)])
