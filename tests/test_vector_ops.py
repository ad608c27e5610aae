"""The passes of an optimiser's step over its flat vectors (``densenet.vector_ops``): NumPy's
``Ufuncs`` compute what their NumPy expressions do, to the bit, and ``vector_ops`` chooses a
library's vector math only where ``backend.vector_math`` offers one."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densenet import backend, cblas
from densenet.vector_ops import Ufuncs, vector_ops


def assert_elementwise_passes_are_numpys(ops, x, positive, d, y):
    """``ops``' square, square root, absolute value and quotients of these vectors are
    NumPy's expressions of them, to the bit (written into vectors of ``d``'s dtype)."""
    out = np.empty(x.shape, d.dtype)
    ops.square(x, out)
    assert_array_equal(out, x * x)
    ops.sqrt(positive, out)
    assert_array_equal(out, np.sqrt(positive))
    ops.absolute(x, out)
    assert_array_equal(out, np.abs(x))
    ops.divide(x, d, out)
    assert_array_equal(out, x / d)
    shift = d.dtype.type(1e-3)
    shifted = d.copy()
    ops.ratios(shifted, 1e-3, (x, out), (y, shifted))
    assert_array_equal(out, x / (d + shift))
    assert_array_equal(shifted, y / (d + shift))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [5, 3 * backend.BLAS_SMALL + 7])  # (one BLAS slice; several)
def test_ufuncs_compute_their_numpy_expressions(dtype, n):
    rng = np.random.default_rng(0)
    x, y, d = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    d = np.abs(d)
    ufuncs = Ufuncs()
    z = y.copy()
    ufuncs.axpby(0.25, x, 0.75, z)
    expected = y * dtype(0.75)
    expected += dtype(0.25) * x
    assert_array_equal(z, expected)
    for a in (0.5, -2.0):  # (a pair's planned call takes each coefficient)
        before = z.copy()
        ufuncs.axpy(a, x, z)
        assert_array_equal(z, before + dtype(a) * x)
    assert_elementwise_passes_are_numpys(ufuncs, x, d, d, y)
    z = y.copy()
    ufuncs.scale(z, 0.9)
    assert_array_equal(z, y * dtype(0.9))


def test_ufuncs_axpy_takes_vectors_blas_cannot():
    ufuncs = Ufuncs()
    x, y = np.arange(10.0)[::2], np.ones(10)[::2]  # (strided: two ufunc passes instead)
    ufuncs.axpy(3.0, x, y)
    ufuncs.axpy(1.0, x, y)
    assert_array_equal(y, 1.0 + 4.0 * np.arange(10.0)[::2])


def test_vector_ops_are_numpys_but_on_long_vectors_of_a_library_with_vector_math():
    before = backend.gemm_library()
    long = np.zeros(backend.VECTOR_MATH_MIN_BYTES // 8)
    try:
        backend.use_gemm_library(None)
        assert isinstance(vector_ops(long), Ufuncs)
        try:
            library = backend.use_gemm_library("mkl")
        except OSError:
            pytest.skip("MKL is not installed (pip install 'densenet[mkl]')")
        assert isinstance(vector_ops(np.zeros(8)), Ufuncs)
        assert isinstance(vector_ops(long), cblas.VectorMath)
        assert vector_ops(long) is library.vector_math(np.float64)
    finally:
        backend.use_gemm_library(None if before is None else before.path)
