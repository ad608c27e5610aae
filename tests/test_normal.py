"""``densenet.normal``: the normal distribution function by vectorised passes, against
50-digit values."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import ndtr

from densenet import normal
from densenet.cblas import Cblas

from .conftest import mkl_or_skip

mp = pytest.importorskip("mpmath")

#: where Phi(-|x|) underflows: beyond it both paths give 0 and 1
UNDERFLOW = {np.float64: 38.5, np.float32: 14.0}


def phi(x: np.ndarray, passes: bool) -> tuple[np.ndarray, np.ndarray]:
    """``Phi(x)`` and ``exp(-x**2 / 2)`` as ``normal.distribution``'s calls write them, by
    its passes (``x`` repeated up to the size where it takes them) or by ``ndtr`` (``x``
    in pieces smaller than that)."""
    least = normal.NORMAL_MIN_SIZE[x.dtype]
    pieces = [np.resize(x, max(least, x.size))] if passes else np.array_split(x, x.size // least + 1)
    results = []
    for X in pieces:
        cdf, gauss = np.full_like(X, np.nan), np.full_like(X, np.nan)
        for call in normal.distribution(X, cdf, gauss):
            call()
        results.append((cdf, gauss))
    return tuple(np.concatenate(parts)[:x.size] for parts in zip(*results))


def exact(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Phi(x)`` and ``exp(-x**2 / 2)`` from 50 digits."""
    with mp.workdps(50):
        values = [(mp.ncdf(mp.mpf(float(v))), mp.exp(-mp.mpf(float(v)) ** 2 / 2)) for v in x]
    return np.array([[float(a), float(b)] for a, b in values]).T


def grid(dtype):
    """Every ``|x|`` up to the underflow bound, both signs, zeros and subnormals."""
    tiny = np.finfo(dtype).tiny
    half = np.concatenate([np.linspace(0, 3, 601), np.linspace(3, UNDERFLOW[dtype], 1400), [tiny, tiny / 4]])
    return np.concatenate([-half, half, [-0.0]]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_phi_by_passes_is_within_a_few_ulp_of_the_exact_value(dtype):
    """The lower tail ``Phi(-|x|)`` within ``(4 + x**2 / 2) eps`` relative (the rounding of
    ``exp``'s argument), the upper half within 2 eps absolute, the density within
    ``(1 + x**2 / 2) eps``."""
    x = grid(dtype)
    cdf, gauss = phi(x, passes=True)
    (reference, density), eps = exact(x), np.finfo(dtype).eps
    x64 = x.astype(np.float64)
    bound = eps * (4 + x64 ** 2 / 2)
    lower = (x <= 0) & (reference > np.finfo(dtype).tiny)
    assert np.max(np.abs(cdf[lower] / reference[lower] - 1) / bound[lower]) <= 1
    assert np.max(np.abs(cdf[x > 0] - reference[x > 0])) <= 2 * eps
    normal_ = density > np.finfo(dtype).tiny
    assert np.max(np.abs(gauss[normal_] / density[normal_] - 1) / (eps * (1 + x64[normal_] ** 2 / 2))) <= 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_paths_agree_and_reach_0_and_1_without_warnings(dtype):
    big = np.finfo(dtype).max
    ends = np.array([-big, -1e30, -UNDERFLOW[dtype] - 1, UNDERFLOW[dtype] + 1, 1e30, big], dtype)
    x = np.concatenate([grid(dtype), ends])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (by_ndtr, _), (by_passes, _) = phi(x, passes=False), phi(x, passes=True)
    assert by_ndtr.dtype == by_passes.dtype == dtype
    assert_array_equal(by_passes[-6:], [0, 0, 0, 1, 1, 1])
    eps = np.finfo(dtype).eps
    small = np.abs(x) <= 5  # (beyond, both are only as close as exp's rounded argument)
    assert np.max(np.abs(by_passes[small] - by_ndtr[small]) / (eps * (8 * by_ndtr[small] + 2))) <= 1
    assert ((by_passes >= 0) & (by_passes <= 1)).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_phi_is_one_half_at_zero_and_on_its_side_of_it_nearby(dtype):
    """``h = Phi(-|x|)`` never rounds above 1/2, so ``1 - 2 h`` is never negative: Phi is at
    most 1/2 below zero and at least 1/2 above it, exactly 1/2 at both zeros."""
    near = np.geomspace(np.finfo(dtype).smallest_subnormal, 0.5, 20000)
    x = np.concatenate([-near[::-1], [-0.0, 0.0], near]).astype(dtype)
    cdf = phi(x, passes=True)[0]
    assert (cdf[x < 0] <= 0.5).all()
    assert (cdf[x > 0] >= 0.5).all()
    assert_array_equal(cdf[x == 0], 0.5)
    assert (np.diff(cdf) >= 0).all()  # (non-decreasing through zero)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_below_its_threshold_phi_is_scipys_ndtr_and_from_it_the_passes(through, dtype):
    through(None)  # (without a vector math library: with MKL's, Phi is its call, below)
    least = normal.NORMAL_MIN_SIZE[np.dtype(dtype)]
    for size, by_ndtr in ((101, True), (least - 1, True), (least, False)):
        x = np.linspace(-40, 40, size).astype(dtype)
        cdf = phi(x, passes=False)[0] if size < least else phi(x, passes=True)[0]
        assert np.array_equal(cdf, ndtr(x)) == by_ndtr, size


def test_the_coefficients_are_the_tools():
    """``TAIL`` is what ``tools/normal_coefficients.py`` writes, to the last bit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    try:
        import normal_coefficients
    finally:
        sys.path.pop(0)
    assert normal_coefficients.table() == normal.TAIL


# -- Phi by a library's vector math (MKL's, DENSENET_BLAS=mkl) -------------------------------


def library_phi(x: np.ndarray) -> np.ndarray:
    math = Cblas(mkl_or_skip()).vector_math(x.dtype)
    out = np.full_like(x, np.nan)
    math.normal_cdf(x, out)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_phi_by_the_vector_math_library_is_within_an_ulp_of_the_exact_value(dtype):
    """MKL's ``CdfNorm``: the lower tail within 1 ulp relative down to the smallest normal
    number and within a subnormal's spacing below it, the upper half within 1 ulp absolute;
    0 and 1 at the ends and for infinities, 1/2 at both zeros, non-decreasing, no warnings."""
    big, tiny, eps = np.finfo(dtype).max, np.finfo(dtype).tiny, np.finfo(dtype).eps
    x = np.concatenate([grid(dtype), np.array([-big, -1e30, 1e30, big, -np.inf, np.inf], dtype)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cdf = library_phi(x)
    assert_array_equal(cdf[-6:], [0, 0, 1, 1, 0, 1])
    x, cdf = x[:-6], cdf[:-6]
    reference = exact(x)[0]
    lower = (x <= 0) & (reference > tiny)
    assert np.max(np.abs(cdf[lower] / reference[lower] - 1)) <= eps
    below = (x <= 0) & (reference <= tiny)
    assert below.any()
    assert np.max(np.abs(cdf[below] - reference[below])) <= np.finfo(dtype).smallest_subnormal
    assert np.max(np.abs(cdf[x > 0] - reference[x > 0])) <= eps
    assert_array_equal(cdf[x == 0], 0.5)
    order = np.argsort(x, kind="stable")
    assert (np.diff(cdf[order]) >= 0).all()
    same = library_phi(x[1:].copy())  # (another alignment: each value computed alone)
    assert_array_equal(same, cdf[1:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_phi_is_the_librarys_call_from_its_threshold_on_c_ordered_arrays(through, dtype):
    """With a library's vector math ``distribution`` makes ``Phi`` its one call from
    ``LIBRARY_MIN_SIZE`` elements (whatever the shape), and on arrays it can read in place;
    the density is NumPy's passes but for its ``exp``, which may be the library's too
    (``backend.library_call``), within an ulp of NumPy's."""
    rng = np.random.default_rng(5)
    X = (rng.standard_normal(3 * normal.NORMAL_MIN_SIZE[np.dtype(dtype)]) * 4).astype(dtype)

    def written(X, cdf):
        gauss = np.full_like(X, np.nan)
        calls = normal.distribution(X, cdf, gauss)
        for call in calls:
            call()
        return calls, gauss

    library = through(mkl_or_skip()).vector_math(dtype)
    least = normal.LIBRARY_MIN_SIZE
    for shape in [(least,), (least // 4, 4), (X.size,), (X.size // 8, 8)]:
        x = X[:np.prod(shape)].reshape(shape)
        cdf = np.full_like(x, np.nan)
        calls, gauss = written(x, cdf)
        assert calls[0].func == library.normal_cdf
        assert_array_equal(cdf, library_phi(x.ravel()).reshape(shape))
        assert_allclose(gauss, np.exp(np.square(x) * dtype(-0.5)), rtol=np.finfo(dtype).eps, atol=0)
    x = X[:least - 1]
    calls, _ = written(x, np.full_like(x, np.nan))
    assert calls[0].func is ndtr  # (below the threshold)
    for x, cdf in [(X[::2], np.zeros(X.size // 2, dtype)), (X, np.zeros(2 * X.size, dtype)[::2])]:
        calls, _ = written(x, cdf)  # (strided: the passes)
        assert all(getattr(call, "func", None) != library.normal_cdf for call in calls)
        assert np.max(np.abs(cdf - ndtr(x))) <= 8 * np.finfo(dtype).eps
    through(None)
    x = X[:least]
    calls, _ = written(x, np.zeros_like(x))
    assert calls[0].func is ndtr  # (no library: ndtr, below NORMAL_MIN_SIZE)
