"""Which of NumPy's vector loops its dispatch runs here, for the functions whose loops decide
how densenet computes an activation: ``densenet.elementary``'s passes or NumPy's call
(``numpy_loop``), a vector math library's call or NumPy's (``wide_simd_loop``, for
``backend.library_call``). NumPy 2 reports its loops (``numpy.lib.introspect``); for NumPy 1,
which does not, ``numpy1_loop`` infers them from the processor features it records.
"""

from __future__ import annotations

import ctypes
import platform
from functools import cache
from typing import Any

import numpy as np

__all__ = ["NUMPY1_LOOPS", "library_exports", "numpy1_features", "numpy1_loop", "numpy_loop",
           "wide_simd_loop"]


@cache
def numpy_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> str | None:
    """The loop NumPy's dispatch chose for ``ufunc`` on ``dtype`` (in and out) here: the
    target ``numpy.lib.introspect.opt_func_info`` names (``"baseline(X86_V2)"``,
    ``"X86_V3"``, ``"X86_V4"``...; NumPy 2) or, NumPy 1 reporting none, what ``numpy1_loop``
    infers; None where neither names one."""
    try:
        from numpy.lib.introspect import opt_func_info  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return numpy1_loop(ufunc, dtype)
    loops = opt_func_info(func_name=f"^{ufunc.__name__}$").get(ufunc.__name__, {})
    loop = loops.get(dtype.char * (ufunc.nin + ufunc.nout))
    return None if loop is None else str(loop["current"])


#: NumPy 1's loops beyond its baseline (SSE3 on x86-64) for the functions whose loops the
#: activations' plans ask about, which NumPy 1 cannot report (``opt_func_info`` is NumPy 2's):
#: (function, dtype character) -> its loops, widest first, each named by the features it needs
#: (``numpy1_features``). Its ``expm1`` and ``log1p`` are SVML's AVX-512 loops where it links
#: SVML (its x86-64 Linux builds); its float32 ``exp`` and ``tanh`` its own AVX-512 and AVX2 loops. NumPy
#: 1.24 and 1.26, a 256 x 512 array here, microseconds (best of 7 rounds of 20), on AVX-512, held
#: to AVX2 (``NPY_DISABLE_CPU_FEATURES``) and to neither: float32 ``expm1`` 45-66, 1,360, 1,360;
#: ``log1p`` 92-102, 1,750-1,780, 1,770-2,380; ``exp`` 66-81, 137-168, 529-535; ``tanh`` 55-74,
#: 270-400, 2,120-2,310; float64 ``expm1`` 191-196, 1,410-1,930; ``log1p`` 143-218, 1,720-2,450.
NUMPY1_LOOPS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("exp", "f"): (("AVX512F",), ("AVX2", "FMA3")), ("tanh", "f"): (("AVX512_SKX",), ("AVX2", "FMA3")),
    **{(name, char): (("AVX512_SKX", "SVML"),) for name in ("expm1", "log1p") for char in "fd"}}


def numpy1_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> str | None:
    """What NumPy 1 runs for ``ufunc`` on ``dtype`` here, named as NumPy 2 names its loops (the
    first feature a loop needs, or ``"baseline"``), by ``NUMPY1_LOOPS``; None for a function
    not there or a processor other than an x86-64."""
    loops = NUMPY1_LOOPS.get((ufunc.__name__, dtype.char))
    if loops is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    features = numpy1_features()
    return next((needs[0] for needs in loops if all(features.get(need) for need in needs)), "baseline")


@cache
def numpy1_features() -> dict[str, bool]:
    """The processor features NumPy 1's dispatch runs loops of here (its ``__cpu_features__``,
    less those ``NPY_DISABLE_CPU_FEATURES`` names), and ``"SVML"``: whether it links SVML's
    loops (its module exports them, as its x86-64 Linux builds do). Empty where NumPy keeps no
    such record."""
    try:
        from numpy.core import _multiarray_umath  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return {}
    features, path = getattr(_multiarray_umath, "__cpu_features__", None), _multiarray_umath.__file__
    if features is None:
        return {}
    return {**features, "SVML": library_exports(path, "__svml_expm1f16")}


def library_exports(path: str | None, symbol: str) -> bool:
    """Whether the shared library at ``path`` (loaded, or loadable) exports ``symbol``; False
    for no path (a module's ``__file__`` may be None)."""
    if path is None:
        return False
    try:
        return hasattr(ctypes.CDLL(path), symbol)
    except OSError:
        return False


def wide_simd_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> bool:
    """Whether NumPy's loop for ``ufunc`` on ``dtype`` here is an AVX-512 one (``numpy_loop``)."""
    loop = numpy_loop(ufunc, np.dtype(dtype))
    return loop is not None and ("X86_V4" in loop or "AVX512" in loop)
