"""The checks of data at the boundary: one read pass, no temporary, the exact answers."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densenet as dn
from densenet import backend

DTYPES = [np.float64, np.float32]
SIZES = [1, backend.BLAS_SMALL, backend.BLAS_SMALL + 1, 3 * backend.BLAS_SMALL + 5]


class ExactChecksRefused(np.ndarray):
    """An array whose exact checks (``max``, ``min``, ``np.isfinite``) fail the test:
    what the fast paths must not need."""

    def max(self, *args, **kwargs):
        raise AssertionError("the exact max/min check was taken")

    min = max

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.isfinite:
            raise AssertionError("the exact isfinite check was taken")
        inputs = tuple(np.asarray(x) if isinstance(x, ExactChecksRefused) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_abs_sum_is_the_sum_of_magnitudes_and_bounds_every_one(size, dtype, order):
    rng = np.random.default_rng(size)
    scales = 10.0 ** rng.integers(-3, 4, (size, 3))
    v = np.asarray(rng.standard_normal((size, 3)) * scales, dtype, order=order)
    assert v.flags.f_contiguous if order == "F" else v.flags.c_contiguous
    total = backend.abs_sum(v)
    exact = np.abs(v.astype(np.float64)).sum()
    # float32 slices are summed in float32 by BLAS: relative error under v.size * eps
    assert_allclose(total, exact, rtol=v.size * np.finfo(dtype).eps)
    assert total >= np.abs(v).max()


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_abs_sum_of_nothing_is_zero(dtype):
    """(BLAS's asum refuses an empty vector; a chunk of sparse rows may store no value.)"""
    assert backend.abs_sum(np.zeros((0, 3), dtype)) == 0.0
    assert backend.magnitude_at_most(np.zeros(0, dtype), 0.0)


def test_abs_sum_is_none_for_what_blas_cannot_read_in_one_block():
    assert backend.abs_sum(np.arange(10)) is None  # integers
    assert backend.abs_sum(np.ones((4, 6))[:, ::2]) is None  # strided


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, backend.BLAS_SMALL, -1])
def test_all_finite_finds_a_non_finite_element_in_any_slice(bad, where, dtype):
    v = np.ones(3 * backend.BLAS_SMALL + 5, dtype)
    assert backend.all_finite(v)
    v[where] = bad
    assert not backend.all_finite(v)
    assert not backend.all_finite(np.stack([v, v], axis=1).T)  # Fortran order: still one block
    assert not backend.all_finite(np.repeat(v, 2)[::2])  # strided: the exact check


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_finite_when_only_the_sum_of_magnitudes_overflows(dtype):
    big = np.full(16, np.finfo(dtype).max / 2, dtype)
    assert backend.abs_sum(big) == np.inf
    assert backend.all_finite(big)


def test_magnitude_at_most_is_exact_where_only_the_sum_passes_the_bound():
    v = np.full(100, 3.0)
    assert backend.abs_sum(v) > 10.0
    assert backend.magnitude_at_most(v, 3.0)
    assert backend.magnitude_at_most(v, 10.0)
    assert not backend.magnitude_at_most(v, 2.5)
    v[-1] = -4.0
    assert not backend.magnitude_at_most(v, 3.5)
    assert backend.magnitude_at_most(v, 4.0)  # exactly at minus the bound
    assert not backend.magnitude_at_most(np.array([1.0, np.nan]), 10.0)


def test_ordinary_data_takes_the_fast_paths_only():
    v = np.linspace(-1.0, 1.0, 3 * backend.BLAS_SMALL).view(ExactChecksRefused)
    assert backend.all_finite(v)
    assert backend.magnitude_at_most(v, 1e5)  # the sum of magnitudes, about 12,300, is under it
    assert backend.magnitude_at_most(np.array([1.0, -2.0]).view(ExactChecksRefused), 3.0)  # sum == bound
    with pytest.raises(AssertionError, match="exact"):  # the spy works
        backend.magnitude_at_most(v, 0.5)


def test_a_forward_on_large_data_makes_no_temporary_the_size_of_its_input():
    """Checking ``X`` (finite, not huge) reads it once; ``np.isfinite(X).all()`` would
    allocate ``X.size`` bytes."""
    model = dn.Sequential(dn.Dense(64, 1), seed=0)
    X = np.random.default_rng(0).standard_normal((4096, 64))
    model.forward(X)  # the plan is made once
    tracemalloc.start()
    try:
        model.forward(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.size // 4, peak


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("size", SIZES)
def test_sum_of_squares_reads_the_array_as_it_is_when_called(size, dtype):
    v = np.zeros((size, 1), dtype)
    squares = backend.sum_of_squares(v)
    assert squares() == 0.0
    values = np.arange(1, size + 1) % 7 - 3
    v[:, 0] = values
    exact = float(np.sum(values.astype(np.float64) ** 2))
    # BLAS dot for float32/float64 (float32: each addition may round, relative eps each);
    # integers take np.vdot, exact
    rtol = {np.float32: size * np.finfo(np.float32).eps, np.int64: 0.0}.get(dtype, 1e-15)
    assert isinstance(squares(), float)
    assert_allclose(squares(), exact, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_axpy_chunks_take_contiguous_vectors_only(dtype):
    y, x = np.zeros(3 * backend.BLAS_SMALL + 5, dtype), np.arange(3 * backend.BLAS_SMALL + 5, dtype=dtype)
    chunks = backend.axpy_chunks(y, x)
    assert chunks is not None
    axpy, pieces = chunks
    for x_part, y_part in pieces:
        axpy(x_part, y_part, a=2.0)
    assert_allclose(y, 2 * x, rtol=0)
    assert backend.axpy_chunks(y.reshape(1, -1), x.reshape(1, -1)) is None  # not 1-D
    assert backend.axpy_chunks(y[::2], x[::2]) is None  # strided
    assert backend.axpy_chunks(y, x.astype(np.float16)) is None  # another dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_as_bounded_matrix_says_whether_every_magnitude_is_within_the_bound(dtype):
    from densenet._validation import as_bounded_matrix, as_matrix

    X = np.linspace(-1.0, 1.0, 64, dtype=dtype).reshape(16, 4)
    checked, bounded = as_bounded_matrix(X.view(ExactChecksRefused), "X", np.dtype(dtype), 100.0)
    assert bounded
    assert np.array_equal(checked, X)  # the sum of magnitudes (32) decided it
    assert as_bounded_matrix(X, "X", np.dtype(dtype), 1.0)[1]  # the sum is not: max and min are
    assert not as_bounded_matrix(X, "X", np.dtype(dtype), 0.99)[1]
    for view in (X, X[:, ::2]):  # one block, and strided (no sum of magnitudes)
        huge = view.copy() if view is X else view
        huge[3, 1] = -1e30 if dtype == np.float64 else -1e20
        assert not as_bounded_matrix(huge, "X", np.dtype(dtype), 2.0 ** 63)[1]
        huge[3, 1] = 0.5
        assert as_bounded_matrix(huge, "X", np.dtype(dtype), 2.0 ** 63)[1]
    for bad in ([[1.0, np.nan]], [np.inf, 1.0], [["a"]], np.zeros((0, 2))):  # as_matrix's errors,
        with pytest.raises((ValueError, TypeError)) as caught:  # in its order (NaN before 1-D)
            as_matrix(bad, "X", np.dtype(dtype))
        with pytest.raises(type(caught.value), match=re.escape(str(caught.value))):
            as_bounded_matrix(bad, "X", np.dtype(dtype), 1e3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cast_rows_converts_a_slice_and_says_whether_it_is_within_the_bound(dtype):
    """Data of another dtype, a slice of rows at a time (``predict``'s): converted into the
    array given, and checked by the sum of magnitudes where it decides, as ``as_bounded_matrix``."""
    from densenet._validation import cast_rows

    X = np.arange(-32, 32).reshape(16, 4)
    out = np.empty((8, 4), dtype)
    part, bounded = cast_rows(X, 8, 16, "X", np.dtype(dtype), 1000.0, out.view(ExactChecksRefused))
    assert bounded
    assert np.array_equal(part, X[8:])
    assert part.dtype == dtype  # the sum (528) decided it
    assert np.shares_memory(part, out)
    assert np.array_equal(cast_rows(X, 12, 20, "X", np.dtype(dtype), 1000.0, out)[0], X[12:])  # the last 4
    assert cast_rows(X, 0, 8, "X", np.dtype(dtype), 32.0, out)[1]  # the sum is not: max and min are
    assert not cast_rows(X, 0, 8, "X", np.dtype(dtype), 31.0, out)[1]


def counted_reads(monkeypatch) -> list:
    """The shapes of the arrays ``backend.abs_sum`` reads from now on (the checks' read
    pass, wherever it is called from), in order."""
    reads, original = [], backend.abs_sum

    def counted(v):
        reads.append(v.shape)
        return original(v)

    monkeypatch.setattr(backend, "abs_sum", counted)
    monkeypatch.setattr("densenet._validation.abs_sum", counted)
    return reads


@pytest.mark.parametrize("call", ["forward", "predict in one batch", "predict in batches", "evaluate"])
def test_a_forward_or_prediction_reads_its_input_once_to_check_it(call, monkeypatch):
    """The finiteness check and the huge-input check (``Sequential._run``) share one
    read pass of ``X``: ``backend.abs_sum`` is called on it once, not once per check
    (nor once per batch of a prediction or an evaluation)."""
    model = dn.Sequential(dn.Dense(64, 8), dn.Sigmoid(), dn.Dense(8, 1), seed=0)
    X = np.random.default_rng(0).standard_normal((600, 64))
    y = np.zeros((len(X), 1))
    run = {"forward": model.forward, "predict in one batch": model.predict,
           "predict in batches": lambda X: model.predict(X, batch_size=256),
           "evaluate": lambda X: model.evaluate(X, y)}[call]
    expected = run(X)
    reads = counted_reads(monkeypatch)
    assert_allclose(run(X), expected, rtol=0)
    assert reads.count(X.shape) == 1, reads
    assert call == "evaluate" or len(reads) == 1, reads  # (evaluate and its loss check y too)


@pytest.mark.parametrize("source", [np.uint8, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integers_of_a_type_within_the_bound_are_not_read_to_check_them(source, dtype, monkeypatch):
    """Every value of these types is finite and within the magnitude the planned passes take
    (2**63 in float32: int64's -2**63 too): ``predict`` converts them and runs, unread."""
    model = dn.Sequential(dn.Dense(64, 8), dn.Sigmoid(), dn.Dense(8, 1), seed=0, dtype=dtype)
    X = np.random.default_rng(0).integers(0, 2, (600, 64)).astype(source)
    X[5, 3] = np.iinfo(source).min if source is not np.bool_ else True
    expected = model.predict(X.astype(dtype), batch_size=256)
    reads = counted_reads(monkeypatch)  # (bounding them otherwise reads them: magnitude_at_most)
    assert_allclose(model.predict(X, batch_size=256), expected, rtol=0)
    assert reads == []


def test_data_of_another_dtype_is_read_once_a_batch_to_check_it(monkeypatch):
    """Converted a batch at a time (``_validation.cast_rows``), each batch is read once by
    the checks, as data of the model's dtype is read once whole."""
    model = dn.Sequential(dn.Dense(64, 8), dn.Sigmoid(), dn.Dense(8, 1), seed=0)
    X = np.random.default_rng(0).standard_normal((600, 64)).astype(np.float32)
    expected = model.predict(X.astype(np.float64), batch_size=256)
    reads = counted_reads(monkeypatch)
    assert_allclose(model.predict(X, batch_size=256), expected, rtol=0)
    assert reads == [(256, 64), (256, 64), (88, 64)]
