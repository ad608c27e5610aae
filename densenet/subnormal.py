"""``SubnormalFlush``: setting the subnormal numbers of some vectors to 0, in place.

An optimiser's decaying state gets stuck at subnormal numbers where a parameter's gradient
has become 0, and every multiplication of one takes a microcode assist on x86 (``Optimizer``
flushes its state every ``FLUSH_EVERY`` steps: ``densenet.optimizer`` says why); this file
only finds and zeroes them, a slice at a time, allocating nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FLUSH_SLICE", "SubnormalFlush"]

#: A flush goes over a vector in slices of this many numbers, through scratch of that
#: size (144 KiB for float64, within a core's L2), so that it allocates nothing of the
#: model's size.
FLUSH_SLICE = 16384

#: The unsigned integers a flush reads IEEE floats of each size as.
_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


class SubnormalFlush:
    """Sets the subnormal numbers of some vectors (an optimiser's state) to 0, in place,
    leaving every other number as it is (zeros keep their sign): a slice of ``FLUSH_SLICE``
    numbers at a time, through scratch of that size. Its passes read a slice's magnitudes
    as unsigned integers ``u``, so that one comparison, ``u - 1 < bits(tiny) - 1`` (0 wraps
    around), finds the subnormal numbers and not the zeros, and write 0 only where one is
    (NumPy's masked write costs 2-6x a pass). Its views of the vectors are made once: a
    flush allocates nothing. A vector of floats of another size (``np.longdouble``) is
    left as it is."""

    def __init__(self, vectors: tuple[NDArray[Any], ...]) -> None:
        self.vectors = vectors
        # (a slice, its magnitudes as floats and as unsigned integers, its mask, 1 and the bits
        # of the dtype's smallest normal number less 1 as such integers): calls made from these
        # in a loop (partial objects with keywords would allocate 80 B a call, and NumPy 1 a
        # Python int's conversion 1 KiB)
        self.slices: list[tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[np.bool_], Any, Any]] = []
        scratch: dict[np.dtype[Any], tuple[NDArray[Any], NDArray[np.bool_]]] = {}
        for vector in vectors:
            bits = _BITS.get(vector.dtype.itemsize)
            if bits is None:
                continue
            if vector.dtype not in scratch:  # (as long as the longest slice of that dtype)
                size = min(FLUSH_SLICE, max(v.size for v in vectors if v.dtype == vector.dtype))
                scratch[vector.dtype] = (np.empty(size, vector.dtype), np.empty(size, np.bool_))
            magnitudes, mask = scratch[vector.dtype]
            one = bits(1)
            limit = np.array(np.finfo(vector.dtype).tiny, vector.dtype).view(bits) - one
            for start in range(0, vector.size, FLUSH_SLICE):
                part = vector[start:start + FLUSH_SLICE]
                floats, small = magnitudes[:part.size], mask[:part.size]
                self.slices.append((part, floats, floats.view(bits), small, one, limit))

    def made_for(self, vectors: tuple[NDArray[Any], ...]) -> bool:
        """Whether it was made for these vectors (by identity)."""
        return len(vectors) == len(self.vectors) and all(a is b for a, b in zip(vectors, self.vectors))

    def __call__(self) -> None:
        for part, floats, ints, small, one, limit in self.slices:
            np.absolute(part, out=floats)
            np.subtract(ints, one, out=ints)
            np.less(ints, limit, out=small)
            if np.count_nonzero(small):  # (ndarray.any allocates 0.9 KiB a call)
                np.copyto(part, 0, where=small)
