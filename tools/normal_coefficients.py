"""Write the coefficients of ``densenet.normal.TAIL``.

    python tools/normal_coefficients.py

For each dtype, ``q(s) = erfcx(|x| / sqrt(2)) / 2`` with ``s = (|x| - k) / (|x| + k)``
is interpolated by a polynomial of the given degree at the Chebyshev points of ``s``'s
range (``|x|`` from 0 to where ``Phi(-|x|)`` underflows), in 50-digit arithmetic
(mpmath); the coefficients, highest power first, are then rounded to the dtype. The
degree and ``k`` were chosen by the error of the whole computation in the dtype's
arithmetic against 50-digit values: degree 20 with ``k = 5`` (float64) and 9 with
``k = 4`` (float32) are the lowest degrees at which that error stops falling (it is then
the rounding of ``exp``'s argument beyond ``|x| = 5``).
"""

from __future__ import annotations

import numpy as np

#: dtype: (degree, k, the largest |x| fitted)
FITS = {np.dtype(np.float64): (20, 5.0, 38.5), np.dtype(np.float32): (9, 4.0, 14.0)}


def coefficients(degree: int, k: float, bound: float) -> list[float]:
    """``q``'s interpolating polynomial in ``s`` on ``|x|`` in ``[0, bound]``, highest power
    first, as Python floats (rounded from 50 digits)."""
    import mpmath as mp

    with mp.workdps(50):
        k_, b = mp.mpf(k), mp.mpf(bound)
        high = (b - k_) / (b + k_)  # s at the bound (s = -1 at 0)
        middle, radius = (high - 1) / 2, (high + 1) / 2
        angles = [mp.pi * (j + mp.mpf(1) / 2) / (degree + 1) for j in range(degree + 1)]
        nodes = [middle + radius * mp.cos(angle) for angle in angles]
        values = []
        for s in nodes:
            z = k_ * (1 + s) / (1 - s) / mp.sqrt(2)
            values.append(mp.erfc(z) * mp.exp(z * z) / 2)
        vandermonde = mp.matrix([[s**j for j in range(degree + 1)] for s in nodes])
        solution = mp.lu_solve(vandermonde, mp.matrix(values))
        return [float(solution[j]) for j in range(degree, -1, -1)]


def table() -> dict[np.dtype, tuple[float, tuple[float, ...]]]:
    """``TAIL`` as ``densenet.normal`` holds it: per dtype, ``k`` and the coefficients
    rounded to the dtype."""
    return {dtype: (k, tuple(float(dtype.type(c)) for c in coefficients(degree, k, bound)))
            for dtype, (degree, k, bound) in FITS.items()}


if __name__ == "__main__":
    for dtype, (k, values) in table().items():
        print(f"np.dtype(np.{dtype.name}): ({k!r}, (")
        for start in range(0, len(values), 4):
            print("    " + ", ".join(repr(v) for v in values[start:start + 4]) + ",")
        print(")),")
