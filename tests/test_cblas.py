"""Large products through another BLAS library's CBLAS ``gemm`` (``densenet.cblas``,
``DENSENET_BLAS``).

Every machine has one CBLAS library at hand: the OpenBLAS that SciPy's wheels carry,
whose ``gemm`` SciPy's wrappers call too. Through it, a product and a whole training
must be bit-identical to SciPy's; MKL (``pip install "densenet[mkl]"``), where it is
installed, is checked against NumPy to rounding.
"""

from __future__ import annotations

import ctypes.util
import gc
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg.blas
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import ndtr
from threadpoolctl import ThreadpoolController

import densenet as dn
from densenet import backend, cblas
from densenet.cblas import Cblas

from .conftest import mkl_or_skip
from .test_vector_ops import assert_elementwise_passes_are_numpys

DTYPES = [np.float64, np.float32]


def scipy_openblas() -> str:
    """The file of the BLAS SciPy's wrappers call, if it is an OpenBLAS with 32-bit integers."""
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and "64" not in os.path.basename(lib.filepath):
            return lib.filepath
    pytest.skip("no OpenBLAS with 32-bit integers is loaded (SciPy built against another BLAS)")


@pytest.fixture(autouse=True)
def scipys_blas(through):
    """Each test starts on SciPy's BLAS whatever ``DENSENET_BLAS`` says (it compares with it),
    and chooses the library it runs through."""
    through(None)


@pytest.fixture
def openblas():
    return Cblas(scipy_openblas())


def scipy_gemm(alpha, A, B, beta, C):
    """``alpha * A @ B + beta * C`` (a new array) as ``backend.product`` computes it on
    SciPy's wrappers of the same BLAS, each operand read in place (transposed or not)."""
    assert backend.gemm_library() is None
    out = C.copy()
    backend.product(A, B, out, beta)(alpha)
    return out


def operands(rng, shape, dtype):
    """A C-ordered array of ``shape`` and an F-ordered one (the transpose of a C-ordered one)."""
    M = rng.standard_normal(shape).astype(dtype)
    return [np.ascontiguousarray(M), np.asfortranarray(M)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 5, 3), (1, 4, 6), (6, 4, 1), (5, 1, 4), (40, 33, 17)])
def test_gemm_is_scipys_to_the_bit_for_every_layout(openblas, dtype, shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    for A in operands(rng, (m, k), dtype):
        for B in operands(rng, (k, n), dtype):
            before = rng.standard_normal((m, n)).astype(dtype)
            for alpha, beta in [(1.0, 0.0), (-0.25, 1.0), (0.5, -2.0)]:
                C = before.copy()
                memory = C.__array_interface__["data"][0]
                openblas.gemm(A, B, C, beta)(alpha)
                assert C.__array_interface__["data"][0] == memory
                assert_array_equal(C, scipy_gemm(alpha, A, B, beta, before))


def test_a_call_takes_another_beta_and_alpha_each_time(openblas):
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    C = np.ones((4, 5))
    run = openblas.gemm(A, B, C)  # beta 0 unless the call says otherwise
    run(2.0, beta=1.0)
    assert_array_equal(C, scipy_gemm(2.0, A, B, 1.0, np.ones((4, 5))))
    run(1.0)
    assert_array_equal(C, scipy_gemm(1.0, A, B, 0.0, np.full((4, 5), np.nan)))  # (C not read)


def test_a_call_keeps_the_arrays_whose_addresses_it_holds(openblas):
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    expected = A @ B
    run = openblas.gemm(A.copy(), B.copy(), np.zeros((300, 100)))
    garbage = [np.full((300, 200), np.nan) for _ in range(20)]  # would land where freed copies were
    gc.collect()
    run(1.0)
    assert_allclose(run.arrays[2], expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(garbage[-1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_rank_one_updates_and_column_sums_are_scipys_to_the_bit(openblas, dtype):
    rng = np.random.default_rng(5)
    column, row = rng.standard_normal(300).astype(dtype), rng.standard_normal(70).astype(dtype)
    before = rng.standard_normal((300, 70)).astype(dtype)
    C, expected = before.copy(), before.copy()
    openblas.ger(column, row, C)(-0.5)
    backend.add_outer(column, row, expected, -0.5)()  # (SciPy's ger: 21,000 outputs)
    assert_array_equal(C, expected)
    A, out = rng.standard_normal((300, 70)).astype(dtype), np.ones(70, dtype)
    sums, expected = openblas.column_sums(A, out, beta=1.0), np.ones(70, dtype)
    sums(2.0)
    backend.column_sums(A, expected, beta=1.0)(2.0)
    assert_array_equal(out, expected)
    sums(1.0, beta=0.0)
    backend.column_sums(A, expected)(1.0)
    assert_array_equal(out, expected)
    out[...] = np.nan
    openblas.column_sums(A, out)(1.0)  # (beta 0 unless the call says otherwise: out not read)
    assert_array_equal(out, expected)
    single, expected = np.empty(1, dtype), np.empty(1, dtype)  # (one column)
    openblas.column_sums(A[:, :1].copy(), single)(1.0)
    backend.column_sums(A[:, :1].copy(), expected)(1.0)
    assert_array_equal(single, expected)
    narrow, expected = np.ones((300, 1), dtype), np.ones((300, 1), dtype)  # (one column: n = 1)
    openblas.ger(column, row[:1], narrow)(2.0)
    ger = scipy.linalg.blas.dger if dtype == np.float64 else scipy.linalg.blas.sger
    ger(2.0, row[:1], column, a=expected.T, overwrite_a=True)  # (as backend's rank-1 update calls it)
    assert_array_equal(narrow, expected)


@pytest.mark.parametrize("case", ["mixed dtypes", "strided vector", "2-D vector", "wrong output shape",
                                  "read-only output"])
def test_ger_and_column_sums_decline_what_they_cannot_run_in_place(openblas, case):
    column, row, C = np.ones(4), np.ones(5), np.zeros((4, 5))
    A, out = np.ones((4, 5)), np.zeros(5)
    if case == "mixed dtypes":
        row, A = row.astype(np.float32), A.astype(np.float32)
    elif case == "strided vector":
        column, out = np.ones(8)[::2], np.zeros(10)[::2]
    elif case == "2-D vector":
        column, out = np.ones((4, 1)), np.zeros((1, 5))
    elif case == "wrong output shape":
        C, out = np.zeros((5, 4)), np.zeros(4)
    else:
        C.flags.writeable = out.flags.writeable = False
    assert openblas.ger(column, row, C) is None
    assert openblas.column_sums(A, out) is None


@pytest.mark.parametrize("case", ["mixed dtypes", "int", "strided operand", "strided output",
                                  "F-ordered output", "read-only output", "1-D operand", "inner sizes differ",
                                  "wrong output shape"])
def test_gemm_declines_what_it_cannot_run_without_a_copy(openblas, case):
    A, B, C = np.ones((4, 6)), np.ones((6, 5)), np.zeros((4, 5))
    if case == "mixed dtypes":
        B = B.astype(np.float32)
    elif case == "int":
        A, B, C = A.astype(int), B.astype(int), C.astype(int)
    elif case == "strided operand":
        A = np.ones((4, 12))[:, ::2]
    elif case == "strided output":
        C = np.zeros((4, 10))[:, ::2]
    elif case == "F-ordered output":
        C = np.zeros((5, 4)).T
    elif case == "read-only output":
        C.flags.writeable = False
    elif case == "1-D operand":
        A = np.ones(6)
    elif case == "inner sizes differ":
        B = np.ones((5, 5))
    else:
        C = np.zeros((4, 6))
    assert openblas.gemm(A, B, C) is None


def test_a_library_that_does_not_load_is_named_with_the_variable(tmp_path):
    missing = str(tmp_path / "libnothing.so")
    with pytest.raises(OSError, match=f"DENSENET_BLAS='{missing}': cannot load"):
        Cblas(missing)


def test_a_library_without_cblas_is_refused():
    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no C maths library found to stand for a library without CBLAS")
    with pytest.raises(OSError, match="has no cblas_dgemm"):
        Cblas(libm)


def test_numpys_openblas_with_64_bit_integers_is_refused():
    paths = [lib.filepath for lib in ThreadpoolController().lib_controllers
             if lib.internal_api == "openblas" and "64_" in os.path.basename(lib.filepath)]
    if not paths:
        pytest.skip("NumPy's BLAS here is not OpenBLAS with 64-bit integers")
    with pytest.raises(OSError, match="has no cblas_dgemm"):  # (its names end in 64_)
        Cblas(paths[0])


class FakeLibrary:
    """A loaded library as ctypes shows it: MKL's interface switch answering ``layer``."""

    def __init__(self, layer):
        self.asked = []

        def switch(value):
            self.asked.append(value)
            return layer

        self.MKL_Set_Interface_Layer = switch
        for name in ("dgemm", "sgemm", "dger", "sger", "dgemv", "sgemv"):
            setattr(self, f"cblas_{name}", lambda *args: None)


@pytest.mark.parametrize("layer, refused", [(0, False), (1, True)])
def test_mkl_is_asked_for_32_bit_integers(monkeypatch, layer, refused):
    library = FakeLibrary(layer)
    monkeypatch.setattr(cblas.ctypes, "CDLL", lambda path: library)
    if refused:
        with pytest.raises(OSError, match="64-bit integers"):
            Cblas("/fake/libmkl_rt.so")
    else:
        Cblas("/fake/libmkl_rt.so")
    assert library.asked == [0]


def test_mkl_is_found_in_the_environment_or_on_the_systems_path(monkeypatch, tmp_path):
    monkeypatch.setattr(cblas.sys, "prefix", str(tmp_path))
    monkeypatch.setattr(cblas.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(OSError, match=r"DENSENET_BLAS=mkl: no libmkl_rt .*pip install 'densenet\[mkl\]'"):
        cblas.locate("MKL")
    monkeypatch.setattr(cblas.ctypes.util, "find_library", lambda name: f"lib{name}.so.2")
    assert cblas.locate("mkl") == "libmkl_rt.so.2"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libmkl_rt.so.3").touch()
    assert cblas.locate("mkl") == str(tmp_path / "lib" / "libmkl_rt.so.3")
    assert cblas.locate("/some/libblis.so") == "/some/libblis.so"


def counted(monkeypatch):
    """The calls the library planned: each ``gemm``'s multiply-adds, each ``ger``'s and
    ``column_sums``' elements, by routine."""
    planned = {"gemm": [], "ger": [], "column_sums": []}
    gemm, ger, column_sums = Cblas.gemm, Cblas.ger, Cblas.column_sums

    def counted_gemm(self, A, B, C, beta=0.0):
        planned["gemm"].append(A.shape[0] * A.shape[1] * B.shape[1])
        return gemm(self, A, B, C, beta)

    def counted_ger(self, column, row, C):
        planned["ger"].append(C.size)
        return ger(self, column, row, C)

    def counted_column_sums(self, A, out, beta=0.0):
        planned["column_sums"].append(A.size)
        return column_sums(self, A, out, beta)

    monkeypatch.setattr(Cblas, "gemm", counted_gemm)
    monkeypatch.setattr(Cblas, "ger", counted_ger)
    monkeypatch.setattr(Cblas, "column_sums", counted_column_sums)
    return planned


def training(dtype, optimizer, sizes=(64, 256, 256, 10), n=512, batch_size=128, epochs=2):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    model = dn.Sequential(dn.Dense(sizes[0], sizes[1]), dn.ReLU(), dn.Dense(sizes[1], sizes[2]), dn.Sigmoid(),
                          dn.Dense(sizes[2], sizes[3]), dtype=dtype, seed=0)
    history = model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
                        batch_size=batch_size, seed=0)
    return model, history, model.predict(X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", [lambda: dn.SGD(0.1), lambda: dn.SGD(0.1, momentum=0.9),
                                       lambda: dn.Adam()], ids=["folded SGD", "momentum", "Adam"])
def test_training_through_scipys_openblas_by_cblas_is_bit_identical(monkeypatch, through, dtype, optimizer):
    expected = training(dtype, optimizer())
    through(scipy_openblas())
    planned = counted(monkeypatch)
    model, history, predicted = training(dtype, optimizer())
    assert planned["gemm"]
    assert min(planned["gemm"]) >= backend.GEMM_MIN_PRODUCT  # (the large ones only)
    assert planned["column_sums"]
    assert min(planned["column_sums"]) > backend.BLAS_SMALL  # (the bias gradients)
    assert_array_equal(model.params, expected[0].params)
    assert_array_equal(history["loss"], expected[1]["loss"])
    assert_array_equal(predicted, expected[2])


def test_small_products_stay_on_scipys_blas(monkeypatch, through):
    through(scipy_openblas())
    planned = counted(monkeypatch)
    model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), dn.Sigmoid(), seed=0)
    model.fit(dn.tutorial.X, dn.tutorial.y, epochs=3, batch_size=1, shuffle=False)
    model.predict(np.ones((4096, 2)))
    model.fit(np.ones((4096, 2)), np.ones((4096, 1)), epochs=1, batch_size=4096)  # (column sums of 8,192)
    assert planned == {"gemm": [], "ger": [], "column_sums": []}


def test_the_library_takes_products_from_gemm_min_product_multiply_adds(monkeypatch, through):
    through(scipy_openblas())
    planned = counted(monkeypatch)
    side = round(backend.GEMM_MIN_PRODUCT ** (1 / 3))  # (64: 64 x 64 by 64 x 64 is 2**18)
    assert side ** 3 == backend.GEMM_MIN_PRODUCT
    ones = np.ones((side, side))
    assert backend.product(ones, ones, np.empty((side, side))) is not None
    assert backend.product(ones[:-1], ones, np.empty((side - 1, side))) is not None  # (SciPy's)
    assert planned["gemm"] == [backend.GEMM_MIN_PRODUCT]
    backend.column_sums(np.ones((2, backend.BLAS_SMALL // 2 + 1)), np.empty(backend.BLAS_SMALL // 2 + 1))
    backend.column_sums(np.ones((2, backend.BLAS_SMALL // 2)), np.empty(backend.BLAS_SMALL // 2))
    assert planned["column_sums"] == [backend.BLAS_SMALL + 2]


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalisation_and_batch_one_steps_through_the_library_are_bit_identical(monkeypatch, through, dtype):
    """BatchNorm1d's and LayerNorm's shifts and a batch-1 step's weight gradients are rank-1
    updates: on the library too, so that OpenBLAS's threads do not wake beside its."""
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((256, 300)).astype(dtype), rng.standard_normal((256, 200)).astype(dtype)

    def train():
        normalised = dn.Sequential(dn.Dense(300, 200), dn.BatchNorm1d(200), dn.ReLU(), dn.Dense(200, 200),
                                   dn.LayerNorm(200), dtype=dtype, seed=0)
        normalised.fit(X, y, optimizer=dn.Adam(), epochs=1, batch_size=128, shuffle=False)  # (25,600 outputs)
        plain = dn.Sequential(dn.Dense(300, 200), dn.ReLU(), dn.Dense(200, 200), dtype=dtype, seed=0)
        plain.fit(X[:4], y[:4], optimizer=dn.SGD(0.01), epochs=1, batch_size=1, shuffle=False)
        return normalised.params, normalised.state, plain.params

    expected = train()
    through(scipy_openblas())
    planned = counted(monkeypatch)
    trained = train()
    assert len(planned["ger"]) >= 5
    assert min(planned["ger"]) >= backend.RANK_ONE_MIN_SIZE
    for array, before in zip(trained, expected):
        assert_array_equal(array, before)


def test_a_library_that_fails_to_load_leaves_the_one_in_use(through):
    path = scipy_openblas()
    first = through(path)
    with pytest.raises(OSError):
        backend.use_gemm_library("/nowhere/libblas.so")
    assert backend.gemm_library() is first
    assert through(None) is None
    assert backend.gemm_library() is None


def test_a_verbose_fit_says_where_its_large_products_run(through, capsys):
    path = scipy_openblas()
    model = dn.Sequential(dn.Dense(512, 512), seed=0)
    model.fit(np.ones((64, 512)), np.zeros((64, 512)), epochs=1, verbose=True)
    assert "DENSENET_BLAS" not in capsys.readouterr().err
    through(path)
    model.fit(np.ones((64, 512)), np.zeros((64, 512)), epochs=1, verbose=True)
    assert f"; large products on {path} (DENSENET_BLAS)" in capsys.readouterr().err


def run_python(code, value):
    env = {**os.environ, cblas.ENV: value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_environment_variable_chooses_the_library_at_the_first_product():
    path = scipy_openblas()
    code = ("import numpy as np, densenet as dn\nfrom densenet import backend\n"
            "model = dn.Sequential(dn.Dense(512, 512), seed=0)\n"
            "model.fit(np.ones((64, 512)), np.zeros((64, 512)), epochs=1)\n"
            "print(backend.gemm_library() is backend.gemm_library(), backend.gemm_library().path)")
    done = run_python(code, path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", path]  # (read and loaded once)
    failed = run_python(code, "/nowhere/libblas.so")
    assert failed.returncode != 0
    assert "OSError: DENSENET_BLAS='/nowhere/libblas.so': cannot load" in failed.stderr


def test_the_thread_policy_loads_the_library_before_it_looks_for_blas_libraries():
    mkl_or_skip()
    code = ("import densenet as dn\nfrom threadpoolctl import ThreadpoolController\n"
            "dn.set_num_threads(1)  # (before any product is planned)\n"
            "mkl = ThreadpoolController().select(internal_api='mkl').lib_controllers\n"
            "print([lib.num_threads for lib in mkl])")
    done = run_python(code, "mkl")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1]"


@pytest.mark.parametrize("dtype", DTYPES)
def test_mkl_products_and_training_agree_with_numpy(through, dtype):
    library = through(mkl_or_skip())
    rng = np.random.default_rng(4)
    for A in operands(rng, (70, 90), dtype):
        for B in operands(rng, (90, 50), dtype):
            C = np.ones((70, 50), dtype)
            library.gemm(A, B, C, 1.0)(-0.5)
            tolerance = 1e-12 if dtype == np.float64 else 2e-5
            assert_allclose(C, 1.0 - 0.5 * (A.astype(np.float64) @ B), rtol=tolerance, atol=tolerance)
    with dn.threads(1):  # the thread policy sets its threads too
        mkl = ThreadpoolController().select(internal_api="mkl").lib_controllers
        assert [lib.num_threads for lib in mkl] == [1]
    trained = training(dtype, dn.Adam(), epochs=1)
    through(None)
    expected = training(dtype, dn.Adam(), epochs=1)
    assert_allclose(trained[0].params, expected[0].params, rtol=1e-6 if dtype == np.float64 else 1e-2,
                    atol=1e-9 if dtype == np.float64 else 1e-4)


# -- the moment optimisers' passes on MKL's vector math ---------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_mkls_vector_math_agrees_with_numpy(dtype):
    math = Cblas(mkl_or_skip()).vector_math(dtype)
    assert math is not None
    rng = np.random.default_rng(8)
    n = 100_003  # (long enough for MKL to thread it, and not a multiple of a vector's lanes)
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    d = (np.abs(rng.standard_normal(n)) * 10.0 ** rng.integers(-8, 8, n)).astype(dtype)
    d[:3] = 0.0, np.inf, 1.0
    ulp = np.finfo(dtype).eps
    out = np.empty_like(x)
    math.square(x, out)
    assert_array_equal(out, x * x)
    math.sqrt(d, out)
    assert_allclose(out, np.sqrt(d), rtol=ulp, atol=0)
    math.absolute(x, out)
    assert_array_equal(out, np.abs(x))
    math.divide(x, d, out)
    with np.errstate(divide="ignore"):
        assert_allclose(out, x / d, rtol=ulp, atol=0)
    assert out[1] == 0.0
    assert np.isinf(out[0])  # (x / inf and x / 0)
    d[3:6] = 1e30, 3e38, 1e300 if dtype == np.float64 else 3e38  # (quotients below 2**-126)
    expected, twice = x / (d + dtype(1e-3)), x * 2 / (d + dtype(1e-3))
    shifted = d.copy()
    math.ratios(shifted, 1e-3, (x * 2, out), (x, shifted))
    assert_allclose(shifted, expected, rtol=ulp, atol=0)
    assert_allclose(out, twice, rtol=ulp, atol=0)
    assert shifted[1] == 0.0
    assert out[1] == 0.0  # (an infinite denominator: 0, not NaN)
    assert_array_equal(shifted[3:6], expected[3:6])
    if dtype == np.float64:
        assert_array_equal(shifted, expected)
    z = y.copy()
    math.scale(z, 0.9)
    assert_array_equal(z, y * dtype(0.9))
    z = y.copy()
    math.axpy(-0.3, x, z)
    assert_allclose(z, y - dtype(0.3) * x, rtol=0, atol=4 * ulp)
    z = y.copy()
    math.axpby(0.25, x, 0.75, z)
    assert_allclose(z, dtype(0.75) * y + dtype(0.25) * x, rtol=0, atol=4 * ulp)
    math.normal_cdf(x, out)  # (ndtr's error: 12 ulp apart in float64; to 50 digits: test_normal.py)
    assert_allclose(out, ndtr(x), rtol=16 * ulp, atol=0)


def test_vector_math_is_for_long_contiguous_vectors_on_a_library_with_it(through):
    smallest = np.zeros(backend.VECTOR_MATH_MIN_BYTES // 8)
    assert backend.gemm_library() is None
    assert backend.vector_math(smallest) is None  # (SciPy's BLAS: NumPy's)
    through(scipy_openblas())
    assert backend.vector_math(smallest) is None  # (OpenBLAS has no vector math)
    library = through(mkl_or_skip())
    assert backend.vector_math(smallest) is library.vector_math(np.float64) is not None
    assert backend.vector_math(np.zeros(smallest.size, np.float32)) is None  # (half the bytes)
    assert backend.vector_math(np.zeros(2 * smallest.size, np.float32)) is library.vector_math(np.float32)
    assert backend.vector_math(smallest[:-1]) is None
    assert backend.vector_math(np.zeros(2 * smallest.size)[::2]) is None
    assert backend.vector_math(np.zeros((2, smallest.size))) is None
    assert backend.vector_math(np.zeros(smallest.size, np.int64)) is None


def test_the_library_takes_only_vectors_it_can_read_as_they_are():
    math = Cblas(mkl_or_skip()).vector_math(np.float64)
    vector = np.zeros(10)
    assert math.takes((vector,), np.ones(10))
    read_only = np.zeros(10)
    read_only.flags.writeable = False
    assert math.takes((vector,), read_only)  # (an input need not be writeable)
    for other in (np.ones(10, np.float32), np.ones(20)[::2], np.ones(9), np.ones((10, 1)), read_only):
        assert not math.takes((vector,), other) or other is read_only
        assert not math.takes((other,), vector)


@pytest.mark.parametrize("kind", ["float32", "strided"])
def test_every_pass_on_vectors_the_library_cannot_take_is_numpys(kind):
    math = Cblas(mkl_or_skip()).vector_math(np.float64)
    rng = np.random.default_rng(10)
    n = 1000
    x, y, d = rng.standard_normal(n), rng.standard_normal(n), np.abs(rng.standard_normal(n)) + 0.5
    base = rng.standard_normal(2 * n)  # (a float32 copy, or every other value of it: strided)
    if kind == "float32":
        other, positive = base[:n].astype(np.float32), np.abs(base[:n]).astype(np.float32)
    else:
        other, positive = base[::2], np.abs(base)[::2]
    z = y.copy()
    math.axpby(0.25, other, 0.75, z)
    assert_allclose(z, 0.75 * y + 0.25 * other, rtol=1e-15, atol=1e-15)
    z = y.copy()
    math.axpy(-0.5, other, z)
    assert_allclose(z, y - 0.5 * other, rtol=1e-15, atol=1e-15)
    scaled = other.copy() if kind == "float32" else rng.standard_normal(2 * n)[::2]
    before = scaled.copy()
    math.scale(scaled, 0.9)
    assert_array_equal(scaled, before * scaled.dtype.type(0.9))
    assert_elementwise_passes_are_numpys(math, other, positive, d, x)
    out = np.full(n, np.nan)
    math.normal_cdf(other, out)
    assert_array_equal(out, ndtr(other))


@pytest.mark.parametrize("kind", ["float32", "strided"])
def test_a_step_with_vectors_the_library_cannot_take_runs_as_numpys(through, kind):
    """A user's ``step`` on MKL with gradients of another dtype or strides (read in place by
    the library, they would be read wrongly, or crash the process) takes NumPy's passes."""
    n = 2 * backend.VECTOR_MATH_MIN_BYTES // 8
    rng = np.random.default_rng(9)
    start, given = rng.standard_normal(n), rng.standard_normal(2 * n)
    grads = given[:n].astype(np.float32) if kind == "float32" else given[::2]

    def steps():
        params, optimizer = start.copy(), dn.NAdam(0.01, weight_decay=0.1, decoupled_weight_decay=True)
        for _ in range(3):
            optimizer.step(params, grads)
        return params

    expected = steps()
    through(mkl_or_skip())
    assert backend.vector_math(start) is not None
    assert_allclose(steps(), expected, rtol=1e-14, atol=1e-15)


def calls_per_step(axpby=0, axpy=1, scale=0, square=0, sqrt=1, ratios=1, absolute=0, divide=0):
    return {"axpby": axpby, "axpy": axpy, "scale": scale, "square": square, "sqrt": sqrt, "ratios": ratios,
            "absolute": absolute, "divide": divide}


#: Each adaptive optimiser, with each kind of weight decay (coupled: ``g = grads + wd params``;
#: decoupled: the parameters shrink), and the calls to the library's passes in one of its
#: steps: every pass over the vectors but AMSGrad's maximum, Adamax's ``+ eps`` and
#: maximum, a centred RMSprop's difference and the decay's NumPy passes.
ADAPTIVE_OPTIMIZERS = {
    "adam": (lambda model: dn.Adam(1e-3), calls_per_step(axpby=2, square=1)),
    "adam_decays": (lambda model: dn.Adam(1e-3, weight_decay=1e-2), calls_per_step(axpby=2, square=1)),
    "amsgrad": (lambda model: dn.Adam(1e-3, amsgrad=True), calls_per_step(axpby=2, square=1)),
    "adamw": (lambda model: dn.AdamW(1e-3), calls_per_step(axpby=2, square=1, scale=1)),
    "adamw_masked": (lambda model: dn.AdamW(1e-3, decay_mask=model.decay_mask()),
                     calls_per_step(axpby=2, square=1)),  # (the masked shrink: factors, by NumPy)
    "nadam": (lambda model: dn.NAdam(1e-3, weight_decay=1e-2), calls_per_step(axpby=2, square=1, axpy=2)),
    "nadam_decoupled": (lambda model: dn.NAdam(1e-3, weight_decay=1e-2, decoupled_weight_decay=True),
                        calls_per_step(axpby=2, square=1, axpy=2, scale=1)),
    "radam": (lambda model: dn.RAdam(1e-3),  # (its first 5 steps: by the first estimate alone)
              calls_per_step(axpby=2, square=1, sqrt=0.5, ratios=0.5)),
    "adamax": (lambda model: dn.Adamax(1e-3, weight_decay=1e-2),
               calls_per_step(axpby=1, scale=1, sqrt=0, ratios=0, absolute=1, divide=1)),
    "rmsprop": (lambda model: dn.RMSprop(1e-4), calls_per_step(axpby=1, square=1)),
    "rmsprop_centered": (lambda model: dn.RMSprop(1e-4, weight_decay=1e-2, momentum=0.5, centered=True),
                         calls_per_step(axpby=3, square=2)),
    "adagrad": (lambda model: dn.Adagrad(1e-2, weight_decay=1e-2, lr_decay=0.01),
                calls_per_step(axpy=2, square=1)),
}


def optimizer_state_names(state):
    names = [key for key, value in state.items() if isinstance(value, np.ndarray)]
    assert names  # (an estimate at least)
    return names


def vector_math_calls(monkeypatch):
    """Counts of the calls to ``VectorMath``'s passes, by name."""
    calls = dict.fromkeys(calls_per_step(), 0)
    for name in calls:
        method = getattr(cblas.VectorMath, name)

        def counted(self, *args, name=name, method=method):
            calls[name] += 1
            return method(self, *args)

        monkeypatch.setattr(cblas.VectorMath, name, counted)
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ADAPTIVE_OPTIMIZERS))
def test_adaptive_optimisers_on_mkls_vector_math_train_as_on_numpy(monkeypatch, through, dtype, name):
    """Ten steps of 64-256-256-10 (84,998 parameters, past ``VECTOR_MATH_MIN_BYTES`` in both
    dtypes here) on MKL with its vector math: the update's passes went to the library, and
    the same ten gradients stepped by NumPy's passes instead (MKL's products alone) give the
    same parameters and state to a rounding of each array's scale a step.

    The gradients are replayed rather than computed again: a second training's gradients
    follow its own parameters, and normalised steps of tiny gradients (Adagrad's, RMSprop's)
    magnify a last-bit difference there past any bound on the passes themselves (seen: 3.0e-6
    of the scale in float32 on an AMD EPYC, whose MKL's square roots and quotients are within
    1 ulp, not correctly rounded)."""
    monkeypatch.setattr(backend, "VECTOR_MATH_MIN_BYTES", 2 ** 16)
    model = dn.Sequential(dn.Dense(64, 256), dn.ReLU(), dn.Dense(256, 256), dn.Sigmoid(),
                          dn.Dense(256, 10), dtype=dtype, seed=0)
    start = model.params.copy()
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((640, 64)).astype(dtype), rng.integers(0, 10, 640)
    optimizer = ADAPTIVE_OPTIMIZERS[name][0](model)
    seen, step = [], optimizer.step

    def recorded(params, grads):
        seen.append(grads.copy())
        step(params, grads)

    monkeypatch.setattr(optimizer, "step", recorded)
    through(mkl_or_skip())
    calls = vector_math_calls(monkeypatch)
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, batch_size=64, shuffle=False)
    assert calls == {key: 10 * count for key, count in ADAPTIVE_OPTIMIZERS[name][1].items()}
    assert len(seen) == 10

    def replay():
        params, replaying = start.copy(), ADAPTIVE_OPTIMIZERS[name][0](model)
        for grads in seen:
            replaying.step(params, grads)
        return params, replaying.state_dict()

    on_vector_math = replay()
    assert_array_equal(on_vector_math[0], model.params)  # (the replay is the training's steps)
    before = dict(calls)
    monkeypatch.setattr(backend, "VECTOR_MATH_MIN_BYTES", 2 ** 40)
    on_numpy = replay()
    assert calls == before
    assert on_vector_math[1]["steps"] == on_numpy[1]["steps"] == 10
    # a rounding of the scale a step at most (seen: up to 3.3 in ten steps, on an AMD EPYC)
    tolerance = len(seen) * np.finfo(dtype).eps
    for key in ["params", *optimizer_state_names(on_numpy[1])]:
        actual, expected = (on_vector_math[0], on_numpy[0]) if key == "params" else (
            on_vector_math[1][key], on_numpy[1][key])
        assert np.abs(actual - expected).max() <= tolerance * np.abs(expected).max(), key


# -- the activations' exp, expm1, log1p and tanh on MKL's vector math ---------------------------

TRANSCENDENTALS = {"exp": np.exp, "expm1": np.expm1, "log1p": np.log1p, "tanh": np.tanh}


def transcendental_inputs(name, dtype, rng, n=30_011):
    """Inputs across each function's range, with its limits: overflow and underflow, zeros,
    tiny values (where ``expm1`` and ``log1p`` must keep their relative accuracy)."""
    big = np.log(np.finfo(dtype).max)
    tiny = np.log10(np.finfo(dtype).smallest_normal)
    if name == "exp":
        x = np.concatenate([rng.uniform(-1.05 * big, big, n), rng.normal(0, 1e-3, 100),
                            [1.01 * big, -1000.0]])
    elif name == "expm1":
        x = -np.concatenate([np.abs(rng.normal(0, 5, n)), 10.0 ** rng.uniform(tiny, 2, 100), [1000.0]])
    elif name == "log1p":
        x = np.concatenate([np.abs(rng.normal(0, 5, n)), 10.0 ** rng.uniform(tiny, 30, 100)])
    else:
        x = np.concatenate([rng.normal(0, 4, n), 10.0 ** rng.uniform(tiny, 0, 100), [-1000.0, 1000.0]])
    return np.concatenate([x, [0.0, -0.0]]).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(TRANSCENDENTALS))
def test_mkls_exp_expm1_log1p_and_tanh_are_within_an_ulp_of_the_exact_values(name, dtype):
    """VML's functions (high-accuracy mode): within an ulp of values in extended precision
    (measured: at most 0.73, NumPy's own up to 2.3), NumPy's limits at both ends (``exp``'s
    overflow ``inf`` without a warning), the same at another alignment and on one thread."""
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("no extended precision here for the exact values")
    math = Cblas(mkl_or_skip()).vector_math(dtype)
    x = transcendental_inputs(name, dtype, np.random.default_rng(11))
    ufunc = TRANSCENDENTALS[name]
    out = np.full_like(x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        math.planned(name, x, out)()
    with np.errstate(over="ignore"):  # (exp's overflow to inf, in the reference and NumPy's)
        exact = ufunc(x.astype(np.longdouble))
        rounded = exact.astype(dtype)
        expected = ufunc(x)
    finite = np.isfinite(rounded)
    spacing = np.maximum(np.abs(np.spacing(rounded[finite])), np.finfo(dtype).smallest_subnormal)
    assert np.max(np.abs(out[finite] - exact[finite]) / spacing) <= 1.0
    assert_array_equal(out[~finite], expected[~finite])
    assert_array_equal(np.signbit(out[x == 0]), np.signbit(expected[x == 0]))
    again = np.full(x.size - 1, np.nan, dtype)
    math.planned(name, x[1:].copy(), again)()  # (another alignment: each value computed alone)
    assert_array_equal(again, out[1:])
    with dn.threads(1):
        alone = np.full_like(x, np.nan)
        math.planned(name, x, alone)()
    assert_array_equal(alone, out)
    in_place = x.copy()
    math.planned(name, in_place, in_place)()
    assert_array_equal(in_place, out)


def test_the_library_plans_its_functions_only_on_vectors_it_can_read_as_they_are():
    math = Cblas(mkl_or_skip()).vector_math(np.float64)
    x = np.abs(np.random.default_rng(12).standard_normal(2001))
    for name in TRANSCENDENTALS:
        assert math.planned(name, x, np.zeros_like(x)) is not None
        refused = [(x.astype(np.float32), np.zeros(x.size, np.float32)), (x[::2], np.zeros(1001)),
                   (x[:-1], np.zeros(x.size)), (x, np.zeros((x.size, 1))), (x, np.zeros(2 * x.size)[::2])]
        for given, out in refused:
            assert math.planned(name, given, out) is None  # (never read or written past a vector)
        read_only = np.zeros_like(x)
        read_only.flags.writeable = False
        assert math.planned(name, x, read_only) is None


def test_library_calls_start_at_their_thresholds_on_arrays_the_library_can_read(through, monkeypatch):
    """``backend.library_call``: the library's call for the pairs of ``TRANSCENDENTAL_MIN_SIZE``
    from their sizes on, C-ordered arrays of one dtype and shape (any shape); None for the
    other pairs, below the sizes, on strided or Fortran-ordered arrays, without a library with
    vector math, and where NumPy's loop is an AVX-512 one."""
    through(None)
    assert backend.library_call(np.exp, np.zeros(10 ** 5), np.zeros(10 ** 5)) is None  # (SciPy's BLAS)
    through(scipy_openblas())
    assert backend.library_call(np.exp, np.zeros(10 ** 5), np.zeros(10 ** 5)) is None  # (no vector math)
    library = through(mkl_or_skip())
    monkeypatch.setattr(backend, "wide_simd_loop", lambda ufunc, dtype: False)
    pairs = backend.TRANSCENDENTAL_MIN_SIZE
    for (name, dtype), least in pairs.items():
        ufunc = TRANSCENDENTALS[name]
        X, out = np.ones((least // 8, 8), dtype), np.zeros((least // 8, 8), dtype)
        call = backend.library_call(ufunc, X, out)
        assert call.name == name
        assert call.vectors[1].base is out  # (a flat view of it)
        assert library.vector_math(dtype) is not None
        call()
        assert_allclose(out, ufunc(X), rtol=np.finfo(dtype).eps, atol=0)
        assert backend.library_call(ufunc, X.ravel()[1:], out.ravel()[1:]) is None
        assert backend.library_call(ufunc, X, X) is not None  # (in place)
        assert backend.library_call(ufunc, np.asfortranarray(X), out) is None
        assert backend.library_call(ufunc, X, np.zeros((least // 4, 8), dtype)[::2]) is None
        assert backend.library_call(ufunc, X.astype(np.float16), out) is None
        assert backend.library_call(ufunc, X, out.reshape(8, -1)) is None
    for name, dtype in [("tanh", np.float32), ("expm1", np.float32), ("log1p", np.float32)]:
        assert (name, np.dtype(dtype)) not in pairs  # (NumPy's, or elementary's passes: faster)
        big = np.ones(10 ** 6, dtype)
        assert backend.library_call(TRANSCENDENTALS[name], big, big) is None
    monkeypatch.setattr(backend, "wide_simd_loop", lambda ufunc, dtype: True)
    assert backend.library_call(np.exp, np.ones(10 ** 5), np.ones(10 ** 5)) is None


def library_functions_called(monkeypatch):
    """Counts of the calls to ``VectorMath``'s functions of the activations planned, by name."""
    calls = dict.fromkeys(TRANSCENDENTALS, 0)
    planned = cblas.VectorMath.planned

    def counted(self, name, x, out):
        call = planned(self, name, x, out)
        calls[name] += call is not None
        return call

    monkeypatch.setattr(cblas.VectorMath, "planned", counted)
    return calls


#: Per activation, which of the library's functions its passes plan (forward and backward) at
#: 65,536 elements here, float64 then float32 (where NumPy's loops are not AVX-512 ones).
ACTIVATION_CALLS = {
    dn.Sigmoid: ({"exp": 1}, {"exp": 1}), dn.SiLU: ({"exp": 1}, {"exp": 1}),
    dn.Tanh: ({"tanh": 1}, {}), dn.ELU: ({"expm1": 1, "exp": 1}, {"exp": 1}),
    dn.SELU: ({"expm1": 1, "exp": 1}, {"exp": 1}), dn.Softplus: ({"exp": 1, "log1p": 1}, {"exp": 1}),
    dn.GELU: ({"exp": 1}, {"exp": 1}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATION_CALLS), ids=lambda a: a.__name__)
def test_activations_on_the_librarys_vector_math_agree_with_numpys(monkeypatch, through, activation, dtype):
    """An activation's forward and backward passes on a large batch with MKL's vector math:
    the library's calls where ``library_call`` gives them, values within a few ulp of the
    same passes by NumPy, and no warning for inputs far out on either side."""
    mkl = mkl_or_skip()
    monkeypatch.setattr(backend, "wide_simd_loop", lambda ufunc, dtype: False)  # (as without AVX-512)
    rng = np.random.default_rng(13)
    X = (rng.standard_normal((64, 1024)) * 6).astype(dtype)
    X[0, :4] = -1000.0, 1000.0, -80.0, 80.0
    dY = rng.standard_normal(X.shape).astype(dtype)

    def passes():
        module = activation()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Y = module.forward(X).copy()
            return Y, module.backward(dY).copy()

    expected = passes()
    through(mkl)
    calls = library_functions_called(monkeypatch)
    Y, dX = passes()
    wanted = ACTIVATION_CALLS[activation][DTYPES.index(dtype)]
    assert {name: count for name, count in calls.items() if count} == wanted
    eps = np.finfo(dtype).eps
    for got, want in [(Y, expected[0]), (dX, expected[1])]:
        assert np.isfinite(got).all()
        assert_allclose(got, want, rtol=8 * eps, atol=8 * eps * np.max(np.abs(want)))
    assert_array_equal(Y[0, :2], expected[0][0, :2])  # (the limits: exactly NumPy's)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_fit_with_exponential_units_on_the_librarys_vector_math_follows_numpys(monkeypatch, through, dtype):
    """ELU, tanh and softplus layers 512 wide at batch 128 (65,536 elements): a training
    through MKL (products and the activations' functions) ends where NumPy's does to rounding."""
    mkl = mkl_or_skip()
    monkeypatch.setattr(backend, "wide_simd_loop", lambda ufunc, dtype: False)
    rng = np.random.default_rng(14)
    X, y = rng.standard_normal((512, 32)).astype(dtype), rng.standard_normal((512, 4)).astype(dtype)

    def trained():
        model = dn.Sequential(dn.Dense(32, 512), dn.ELU(), dn.Dense(512, 512), dn.Tanh(), dn.Dense(512, 512),
                              dn.Softplus(), dn.Dense(512, 4), dtype=dtype, seed=0)
        model.fit(X, y, optimizer=dn.SGD(0.01, momentum=0.9), epochs=2, batch_size=128, shuffle=False)
        return model.params

    expected = trained()
    through(mkl)
    calls = library_functions_called(monkeypatch)
    got = trained()
    assert calls["exp"] > 0
    assert dtype == np.float32 or min(calls.values()) > 0
    assert_allclose(got, expected, rtol=1e-10 if dtype == np.float64 else 1e-4,
                    atol=1e-12 if dtype == np.float64 else 1e-5)


def test_a_planned_function_holds_its_vectors_and_reads_them_where_they_were():
    math = Cblas(mkl_or_skip()).vector_math(np.float64)
    x = np.linspace(-3, 3, 5000)
    call = math.planned("tanh", x, x)
    assert repr(call) == "<the library's tanh of 5000 values>"
    expected = np.tanh(x)
    del x
    gc.collect()
    call()  # (in place, on the vector the call keeps alive)
    assert np.max(np.abs(call.vectors[1] - expected)) <= np.finfo(np.float64).eps
    assert math.planned("exp", np.ones(10), np.ones(11)) is None
    for other in ("mul", "sqrt", "cdf_norm", "log"):
        with pytest.raises(ValueError, match=f"no function '{other}'; one of exp, expm1, log1p, tanh"):
            math.planned(other, np.ones(10), np.ones(10))
    assert math.planned("exp", np.ones(20)[::2], np.ones(10)) is None
    assert math.planned("exp", np.ones(10, np.float32), np.ones(10)) is None
