"""Weight initialisers, chosen by name.

Each initialiser fills a Dense layer's ``W`` (shape ``(fan_in, fan_out)``) and
``b`` (shape ``(fan_out,)``) in place from an explicit ``numpy.random.Generator``.

======================  ==========================================  ============
name                    W drawn from                                b
======================  ==========================================  ============
``"normal"``            N(0, 1), the tutorial's start               N(0, 1)
``"glorot_uniform"``    U(-a, a), a = sqrt(6 / (fan_in + fan_out))  0
``"glorot_normal"``     N(0, 2 / (fan_in + fan_out))                0
``"he_uniform"``        U(-a, a), a = sqrt(6 / fan_in)              0
``"he_normal"``         N(0, 2 / fan_in)                            0
``"lecun_uniform"``     U(-a, a), a = sqrt(3 / fan_in)              0
``"lecun_normal"``      N(0, 1 / fan_in)                            0
======================  ==========================================  ============

Glorot (Xavier) is the default: it keeps the variance of activations and
gradients roughly constant across sigmoid and tanh layers. He suits ReLU;
LeCun, SELU (whose self-normalisation assumes it).
``"xavier_uniform"`` and ``"xavier_normal"`` are accepted as aliases.

>>> import numpy as np
>>> W, b = np.empty((3, 2)), np.empty(2)
>>> initialise("glorot_uniform", W, b, np.random.default_rng(0))
>>> bool(np.all(np.abs(W) <= np.sqrt(6 / 5))), b.tolist()
(True, [0.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

Initialiser = Callable[[NDArray[Any], NDArray[Any], np.random.Generator], None]


def normal(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """Every weight and bias from a standard normal, as the tutorial starts."""
    W[...] = rng.standard_normal(W.shape)
    b[...] = rng.standard_normal(b.shape)


def glorot_uniform(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """W ~ U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); b = 0."""
    a = np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
    W[...] = rng.uniform(-a, a, W.shape)
    b[...] = 0


def glorot_normal(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """W ~ N(0, 2 / (fan_in + fan_out)); b = 0."""
    W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / (W.shape[0] + W.shape[1]))
    b[...] = 0


def he_uniform(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """W ~ U(-a, a) with a = sqrt(6 / fan_in); b = 0."""
    a = np.sqrt(6.0 / W.shape[0])
    W[...] = rng.uniform(-a, a, W.shape)
    b[...] = 0


def he_normal(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """W ~ N(0, 2 / fan_in); b = 0."""
    W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / W.shape[0])
    b[...] = 0


def lecun_uniform(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """W ~ U(-a, a) with a = sqrt(3 / fan_in); b = 0."""
    a = np.sqrt(3.0 / W.shape[0])
    W[...] = rng.uniform(-a, a, W.shape)
    b[...] = 0


def lecun_normal(W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """W ~ N(0, 1 / fan_in); b = 0."""
    W[...] = rng.standard_normal(W.shape) * np.sqrt(1.0 / W.shape[0])
    b[...] = 0


INITIALISERS: dict[str, Initialiser] = {
    "normal": normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
}

DEFAULT = "glorot_uniform"


def get(name: str) -> Initialiser:
    """Look an initialiser up by name; unknown names raise ``ValueError``."""
    if not isinstance(name, str):
        raise TypeError(f"init must be a name (str), got {type(name).__name__}")
    try:
        return INITIALISERS[name]
    except KeyError:
        known = ", ".join(sorted(INITIALISERS))
        raise ValueError(f"unknown initialiser {name!r}; known: {known}") from None


def initialise(name: str, W: NDArray[Any], b: NDArray[Any], rng: np.random.Generator) -> None:
    """Fill ``W`` and ``b`` in place with the initialiser called ``name``."""
    get(name)(W, b, rng)


#: What a ``seed`` argument takes: an integer >= 0 or a ``numpy.random.SeedSequence`` (the
#: children of ``SeedSequence.spawn`` give parallel work independent streams), a
#: ``numpy.random.Generator`` or bit generator (drawn from as it is), or None (fresh entropy).
Seed: TypeAlias = (int | np.integer[Any] | np.random.SeedSequence | np.random.BitGenerator
                   | np.random.Generator | None)

_SEEDS = "an integer >= 0, a numpy.random.SeedSequence, Generator or bit generator, or None"


def as_generator(seed: Seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a ``Seed``: a Generator is used as it is, and one
    made on a bit generator draws from it."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(seed)
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be {_SEEDS}, got {seed}")
        return np.random.default_rng(seed)
    hint = "; a RandomState is NumPy's legacy generator: give its seed" if isinstance(
        seed, np.random.RandomState) else ""
    raise TypeError(f"seed must be {_SEEDS}, got {type(seed).__name__}{hint}")
