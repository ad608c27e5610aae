"""``AlphaDropout``: dropout that keeps a self-normalising network's mean and variance."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from .chain import Buffers, Call, Passes
from .dropout import Dropout

#: ``SELU``'s scale times its alpha: the value a dropped SELU unit takes, negated.
ALPHA = 1.7580993408473766


class AlphaDropout(Dropout):
    r"""Dropout for ``SELU`` networks: in training each element is set, with probability
    ``p``, to SELU's lowest value ``-ALPHA`` (``ALPHA = 1.7581``) instead of 0, and the
    result scaled and shifted so that inputs of mean 0 and variance 1 keep them:
    ``Y = a (X * M + (-ALPHA) (1 - M)) + ALPHA a p``, ``M`` drawn afresh at every forward
    pass, its elements 1 with probability ``1 - p`` and 0 otherwise, and
    ``a = 1 / sqrt((1 - p) (1 + p ALPHA**2))``. At inference the identity. PyTorch's
    ``torch.nn.AlphaDropout`` (whose masks come from its own generator); ``p = 1`` gives 0,
    as there.

    Args:
        p: the probability of dropping an element, from 0 to 1 (default 0.5). It may be
            changed between steps (``dropout.p = 0.1``; the SELU papers' 0.05 to 0.1).

    As ``Dropout``: the masks come from the model's ``rng`` (copies and saved models draw
    the same ones), the backward pass multiplies ``dY`` by ``a M``, ``fit`` refuses
    ``LBFGS`` for a model with one, ``gradcheck`` checks the gradient for one mask, and
    ``predict``, ``evaluate`` and ``forward`` after ``model.eval()`` run the identity.
    Put it after a ``SELU`` (with ``init="lecun_normal"`` Dense layers): after another
    activation the values it sets are not that activation's lowest.

    Shape:
        - Input: ``(N, features)``
        - Output: ``(N, features)``

    Example:
        >>> import numpy as np
        >>> import densenet as dn
        >>> model = dn.Sequential(dn.Dense(100, 100, init="lecun_normal"), dn.SELU(), dn.AlphaDropout(0.2),
        ...                       seed=0)
        >>> Y = model.forward(np.random.default_rng(0).standard_normal((1000, 100)))
        >>> bool(abs(Y.mean()) < 0.01), bool(abs(Y.std() - 1) < 0.01)   # SELU's mean 0, variance 1 kept
        (True, True)
    """

    # (Dropout's flags, p, configuration, ONNX identity and inference passes)
    n_constants = 4

    def constants(self, p: float) -> tuple[float, ...]:
        """1 - p, ``a``, ``ALPHA a`` and ``ALPHA a (p - 1)`` (the value of a dropped element)."""
        a = 0.0 if p == 1.0 else 1.0 / math.sqrt((1.0 - p) * (1.0 + p * ALPHA**2))
        return 1.0 - p, a, ALPHA * a, ALPHA * a * (p - 1.0)

    def dropping(self, buffers: Buffers, rng: np.random.Generator) -> Passes:
        X, Y, dY, dX = buffers.X, buffers.Y, buffers.dY, buffers.dX
        keep, scale, lift, dropped = self._constants[Y.dtype]
        uniform, mask, shift = np.zeros_like(Y), np.zeros_like(Y), np.zeros_like(Y)
        kept = np.zeros(Y.shape, bool)
        # M kept with probability 1 - p (its 0 and 1 copied out of the booleans: see Dropout);
        # the shift ALPHA a M + ALPHA a (p - 1): a dropped element's value, or a kept one's
        # ALPHA a p; then Y = X a M + shift
        forward: list[Call] = [partial(rng.random, dtype=Y.dtype, out=uniform),
                               partial(np.less, uniform, keep, kept), partial(np.copyto, mask, kept),
                               partial(np.multiply, mask, lift, shift),
                               partial(np.add, shift, dropped, shift),
                               partial(np.multiply, mask, scale, mask), partial(np.multiply, X, mask, Y),
                               partial(np.add, Y, shift, Y)]
        return Passes(forward, [] if dX is None else [partial(np.multiply, dY, mask, dX)])
