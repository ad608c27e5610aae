"""``densenet.elementary``: ``expm1`` and ``log1p`` by vectorised passes on large arrays
where NumPy's own loop is a scalar one, within a few ulp of the exact values, NumPy's own
calls on small arrays and where its loop is vectorised; the step ``[x > 0]``."""

import ctypes.util
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densenet as dn
from densenet import elementary, numpy_loops
from densenet.elementary import PASSES_MIN_SIZE, above_zero, expm1_nonpositive, log1p_nonnegative, simd_loop
from densenet.numpy_loops import library_exports, numpy1_features, numpy_loop, wide_simd_loop


@pytest.fixture(autouse=True)
def numpys_functions(through):
    """NumPy's functions and the passes, without a vector math library (where ``DENSENET_BLAS``
    names MKL, its functions take the large arrays: ``tests/test_cblas.py``)."""
    through(None)


@pytest.fixture
def scalar_loops(monkeypatch):
    """The passes taken for faster than NumPy's ``expm1`` and ``log1p``, as where those are
    scalar loops and ``exp``, ``tanh`` and ``log`` vectorised ones (a processor with AVX2 but
    not AVX-512): the passes are tested on every machine."""
    monkeypatch.setattr(elementary, "passes_pay", lambda ufunc, dtype: True)


@pytest.fixture
def simd_loops(monkeypatch):
    """NumPy's ``expm1`` and ``log1p`` taken for faster than the passes, as with AVX-512."""
    monkeypatch.setattr(elementary, "passes_pay", lambda ufunc, dtype: False)


def run(calls):
    for call in calls:
        call()


def ulps(values, truth, dtype):
    """|values - truth| in ulp of ``truth`` rounded to ``dtype`` (the smallest normal's
    spacing below it)."""
    truth = np.asarray(truth, np.longdouble)
    spacing = np.spacing(np.maximum(np.abs(truth).astype(dtype), np.finfo(dtype).tiny))
    return np.abs(values.astype(np.longdouble) - truth) / spacing.astype(np.longdouble)


def nonpositive(dtype, rng):
    """From the smallest subnormal to far below zero, both zeros, and a dense stretch near 0."""
    tiny = float(np.finfo(dtype).smallest_subnormal)
    edges = [0.0, -0.0, -tiny, -1e-30, -88.0, -104.0, -1e30, -np.finfo(dtype).max]
    spread = -np.exp(rng.uniform(np.log(tiny), np.log(200.0), 60_000))
    return np.concatenate([spread, -np.linspace(0, 3, 20_001), edges]).astype(dtype)


def test_expm1_passes_are_within_3_ulp_in_float32_and_leave_exp(scalar_loops):
    X = nonpositive(np.float32, np.random.default_rng(0))
    out = np.full_like(X, np.nan)
    calls, exp = expm1_nonpositive(X, out)
    run(calls)
    assert exp is not None
    assert len(calls) > 1
    assert_array_equal(exp, np.exp(X))
    worst = ulps(out, np.expm1(X.astype(np.longdouble)), np.float32).max()
    assert worst <= 3, f"{worst:.2f} ulp"
    assert_array_equal(np.signbit(out[-8:-6]), [False, True])  # expm1(0) = 0, expm1(-0) = -0
    assert out[-1] == -1.0
    assert out[-2] == -1.0
    run(calls)  # the same again: nothing is accumulated
    assert_array_equal(exp, np.exp(X))


@pytest.mark.parametrize("dtype, size", [(np.float64, 100_000), (np.float32, PASSES_MIN_SIZE - 1),
                                         (np.float64, PASSES_MIN_SIZE - 1)])
def test_expm1_is_numpy_s_own_in_float64_and_on_small_arrays(dtype, size, scalar_loops):
    X = -np.abs(np.random.default_rng(1).standard_normal(size)).astype(dtype)
    out = np.zeros_like(X)
    calls, exp = expm1_nonpositive(X, out)
    run(calls)
    assert exp is None
    assert len(calls) == 1
    assert_array_equal(out, np.expm1(X))


@pytest.mark.parametrize("dtype, bound", [(np.float64, 2), (np.float32, 4)])
def test_log1p_passes_are_within_a_few_ulp_and_leave_one_plus_u(dtype, bound, scalar_loops):
    """From the smallest subnormal to the largest finite number, 0 and a dense stretch near
    1, where ``1 + u`` rounds most; the exact values from long double's ``log1p``."""
    if np.finfo(np.longdouble).precision <= np.finfo(dtype).precision:
        pytest.skip("long double is no wider than double here: no exact values to compare with")
    rng = np.random.default_rng(2)
    info = np.finfo(dtype)
    spread = np.exp(rng.uniform(np.log(float(info.smallest_subnormal)), np.log(float(info.max)), 60_000))
    edges = [0.0, float(info.eps) / 2, float(info.eps), float(info.max)]
    U = np.concatenate([spread, np.linspace(0, 3, 20_001), edges])
    U = U.astype(dtype)
    out = np.full_like(U, np.nan)
    calls, w = log1p_nonnegative(U, out)
    with np.errstate(all="raise"):
        run(calls)
    assert w is not None
    assert len(calls) > 1
    assert_array_equal(w, U + dtype(1))
    worst = ulps(out, np.log1p(U.astype(np.longdouble)), dtype).max()
    assert worst <= bound, f"{worst:.2f} ulp"
    assert out[-4] == 0
    assert not np.signbit(out[-4])
    assert out[-3] == U[-3]  # log1p(u) = u as u -> 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log1p_is_numpy_s_own_on_small_arrays(dtype, scalar_loops):
    U = np.abs(np.random.default_rng(3).standard_normal(PASSES_MIN_SIZE - 1)).astype(dtype)
    out = np.zeros_like(U)
    calls, w = log1p_nonnegative(U, out)
    run(calls)
    assert w is None
    assert len(calls) == 1
    assert_array_equal(out, np.log1p(U))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_above_zero_is_one_above_zero_and_zero_elsewhere(dtype):
    """1 for the smallest subnormal up, 0 for both zeros and below, NaN for NaN; in place too,
    and with ``nonnegative`` from a rectifier's output."""
    info = np.finfo(dtype)
    tiny = info.smallest_subnormal
    X = np.array([[-info.max, -1.0, -tiny, -0.0, 0.0, tiny, 0.5, 1.0, 2.0, info.max, np.nan]], dtype)
    expected = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, np.nan]], dtype)
    out = np.full_like(X, 7.0)
    run(above_zero(X, out))
    assert_array_equal(out, expected)
    inplace = X.copy()
    run(above_zero(inplace, inplace))
    assert_array_equal(inplace, expected)
    rectified = np.maximum(X, 0)
    calls = above_zero(rectified, out, nonnegative=True)
    run(calls)
    assert_array_equal(out, expected)
    assert len(calls) == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_passes_start_at_passes_min_size(dtype, scalar_loops):
    X = -np.abs(np.random.default_rng(5).standard_normal(PASSES_MIN_SIZE)).astype(dtype)
    calls, exp = expm1_nonpositive(X, np.zeros_like(X))
    assert (exp is not None) == (dtype == np.float32)
    assert len(calls) == (5 if dtype == np.float32 else 1)
    calls, w = log1p_nonnegative(-X, np.zeros_like(X))
    assert w is not None
    assert len(calls) == 6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_where_numpy_s_loops_are_vectorised_its_own_calls_are_made_at_every_size(dtype, simd_loops):
    X = -np.abs(np.random.default_rng(6).standard_normal(4 * PASSES_MIN_SIZE)).astype(dtype)
    out = np.zeros_like(X)
    calls, exp = expm1_nonpositive(X, out)
    run(calls)
    assert exp is None
    assert len(calls) == 1
    assert_array_equal(out, np.expm1(X))
    calls, w = log1p_nonnegative(-X, out)
    run(calls)
    assert w is None
    assert len(calls) == 1
    assert_array_equal(out, np.log1p(-X))



#: The modules whose plans take what the passes leave besides their result (ELU's and SELU's
#: ``exp(min(X, 0))`` in float32, Softplus's ``1 + e``) for their backward pass: on a
#: processor with AVX-512 NumPy's loops are vectorised and the suite would not run them
#: otherwise. (dtype, module factory) pairs where the passes are taken.
THROUGH_THE_PASSES = [
    pytest.param(np.float32, lambda: dn.ELU(), id="ELU-float32"),
    pytest.param(np.float32, lambda: dn.ELU(alpha=0.5), id="ELU(alpha=0.5)-float32"),
    pytest.param(np.float32, lambda: dn.SELU(), id="SELU-float32"),
    pytest.param(np.float64, lambda: dn.Softplus(), id="Softplus-float64"),
    pytest.param(np.float32, lambda: dn.Softplus(), id="Softplus-float32"),
    pytest.param(np.float64, lambda: dn.Softplus(beta=2.0), id="Softplus(beta=2)-float64"),
    pytest.param(np.float32, lambda: dn.Softplus(beta=0.5, threshold=5.0), id="Softplus(beta=0.5)-float32"),
]


@pytest.mark.parametrize("dtype, make", THROUGH_THE_PASSES)
def test_modules_on_the_passes_compute_what_they_compute_on_numpy_s_calls(dtype, make, monkeypatch):
    """Outputs and input gradients of a 64 x 64 batch (values across 0 and Softplus's
    threshold) on the passes within a few ulp of the same module's on NumPy's ``expm1``
    and ``log1p``, and the plans on the passes do take them (more calls)."""
    rng = np.random.default_rng(7)
    X = (8 * rng.standard_normal((64, 64))).astype(dtype)
    dY = rng.uniform(0.5, 2.0, X.shape).astype(dtype)
    results, calls = {}, {}
    for scalar in (True, False):
        monkeypatch.setattr(elementary, "passes_pay", lambda ufunc, dtype, scalar=scalar: scalar)
        module = make()
        plan = module.plan(dn.Buffers(X=np.zeros_like(X), X1=None, Y=np.zeros_like(X), dY=np.zeros_like(X),
                                      dX=np.zeros_like(X), params=(), grads=()))
        calls[scalar] = len(plan.forward) + len(plan.backward)
        results[scalar] = module.forward(X), module.backward(dY)
    assert calls[True] > calls[False]
    for on_passes, on_numpy in zip(results[True], results[False]):
        assert ulps(on_passes, on_numpy, dtype).max() <= 4


def fake_dispatch(monkeypatch, current):
    """NumPy's dispatch report (``numpy.lib.introspect.opt_func_info``) made to name
    ``current`` as the loop of every function asked about (None: no loop named at all; a
    dict: each function's, by name)."""
    introspect = pytest.importorskip("numpy.lib.introspect")
    asked = []

    def opt_func_info(func_name=None, signature=None):
        asked.append((func_name, signature))
        name = func_name.strip("^$")
        loop = current.get(name) if isinstance(current, dict) else current
        if loop is None:
            return {}
        return {name: {"ff": {"current": loop, "available": f"{loop} baseline(X86_V2)"},
                       "dd": {"current": loop, "available": f"{loop} baseline(X86_V2)"}}}

    monkeypatch.setattr(introspect, "opt_func_info", opt_func_info)
    numpy_loop.cache_clear()
    return asked


@pytest.mark.parametrize(("current", "expected", "wide"), [
    ("X86_V4", True, True), ("AVX512_SKX", True, True), ("X86_V3", True, False),
    ("baseline(X86_V2)", False, False), (None, False, False)])
def test_simd_loop_reads_numpy_s_dispatch(monkeypatch, current, expected, wide):
    """A loop beyond NumPy's baseline is a vectorised one (for ``expm1`` and ``log1p`` its
    AVX-512 loops); its baseline loop, or none named, a scalar one. An AVX-512 loop is a
    wide one (``numpy_loops.wide_simd_loop``: NumPy's, not the vector math library's)."""
    asked = fake_dispatch(monkeypatch, current)
    try:
        assert simd_loop(np.expm1, np.dtype(np.float32)) is expected
        assert simd_loop(np.log1p, np.dtype(np.float64)) is expected
        assert asked == [("^expm1$", None), ("^log1p$", None)]
        simd_loop(np.expm1, np.dtype(np.float32))  # asked once per function and dtype
        assert wide_simd_loop(np.log1p, np.float64) is wide
        assert len(asked) == 2
    finally:
        numpy_loop.cache_clear()


BASELINE, AVX2, AVX512 = "baseline(X86_V2)", "X86_V3", "X86_V4"


@pytest.mark.parametrize(("own", "exp", "tanh", "expm1", "log1p"), [
    pytest.param(AVX512, AVX512, AVX512, False, False, id="AVX-512"),
    pytest.param(BASELINE, AVX2, AVX2, True, True, id="AVX2"),
    pytest.param(BASELINE, BASELINE, BASELINE, False, True, id="baseline"),
    pytest.param(BASELINE, BASELINE, AVX2, False, True, id="exp-baseline"),
    pytest.param(BASELINE, AVX2, BASELINE, False, True, id="tanh-baseline"),
    pytest.param(BASELINE, None, None, True, True, id="exp-and-tanh-unnamed"),
    pytest.param(None, None, None, True, True, id="none-named"),
])
def test_the_passes_pay_where_numpy_s_loop_is_scalar_and_theirs_are_not(monkeypatch, own, exp, tanh,
                                                                       expm1, log1p):
    """``log1p``'s passes where NumPy's ``log1p`` is its baseline loop (a scalar one on
    x86-64); ``expm1``'s only where its ``exp`` and ``tanh``, of which they are made, are not
    baseline loops too (those are scalar without AVX2). Where NumPy names none: the passes."""
    fake_dispatch(monkeypatch, dict(expm1=own, log1p=own, exp=exp, tanh=tanh, log=exp))
    try:
        for dtype in (np.float32, np.float64):
            assert elementary.passes_pay(np.expm1, np.dtype(dtype)) is expm1
            assert elementary.passes_pay(np.log1p, np.dtype(dtype)) is log1p
        X = np.zeros(PASSES_MIN_SIZE, np.float32)
        assert len(expm1_nonpositive(X, np.zeros_like(X))[0]) == (5 if expm1 else 1)
        assert len(log1p_nonnegative(X, np.zeros_like(X))[0]) == (6 if log1p else 1)
    finally:
        numpy_loop.cache_clear()


#: Run in a fresh interpreter: what ``simd_loop`` says of NumPy's ``expm1`` and ``log1p`` there,
#: and how many calls the plans of a 64 x 64 batch of a float32 ELU (``expm1``) and Softplus
#: (``log1p``) make.
REPORT_LOOPS = """
import json
import numpy as np
import densenet as dn
from densenet.elementary import simd_loop
X = np.zeros((64, 64), np.float32)
calls = {}
for module in (dn.ELU(), dn.Softplus()):
    plan = module.plan(dn.Buffers(X=X, X1=None, Y=X.copy(), dY=X.copy(), dX=X.copy(), params=(), grads=()))
    calls[type(module).__name__] = len(plan.forward) + len(plan.backward)
print(json.dumps({"loops": [simd_loop(f, np.dtype(t)) for f in (np.expm1, np.log1p)
                            for t in (np.float32, np.float64)], "calls": calls}))
"""


def held_report(variable, held):
    """``REPORT_LOOPS``'s report from a fresh interpreter with NumPy held by ``variable`` to
    ``held`` ("": its own loops), NumPy's own calls (no vector math library)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("NPY_") and key != "DENSENET_BLAS"}
    if held:
        env[variable] = held
    done = subprocess.run([sys.executable, "-c", REPORT_LOOPS], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def assert_the_plans_follow(own, avx2, baseline):
    """On NumPy's AVX-512 loops its own ``expm1`` and ``log1p``; held to AVX2 the passes of
    both; held to its baseline only ``log1p``'s (ELU as on its own loops, Softplus as on AVX2)."""
    assert own["loops"] == [True, True, True, True]
    assert avx2["loops"] == baseline["loops"] == [False, False, False, False]
    assert avx2["calls"]["ELU"] > own["calls"]["ELU"]
    assert avx2["calls"]["Softplus"] > own["calls"]["Softplus"]
    assert baseline["calls"]["ELU"] == own["calls"]["ELU"]
    assert baseline["calls"]["Softplus"] == avx2["calls"]["Softplus"]


def test_the_passes_follow_numpy_s_own_dispatch_when_it_is_held_to_fewer_features():
    """NumPy's real dispatch, not a stand-in. Held to its AVX2 loops (``NPY_ENABLE_CPU_FEATURES=
    X86_V3``, as on a processor without AVX-512) it runs its baseline ``expm1`` and ``log1p``,
    ``simd_loop`` says so and the plans take the passes; held to its baseline loops (``X86_V2``,
    as on one without AVX2), where its ``exp`` and ``tanh`` are scalar loops too, the passes
    for ``expm1`` would cost more than its call (ELU keeps NumPy's), those for ``log1p`` still
    less (Softplus takes them); on this processor's own AVX-512 loops neither. (NumPy 2.4 and
    newer on an x86-64 processor with AVX-512: NumPy names its targets so from 2.4 on; CI also
    runs the whole suite held to X86_V3, ``.ci/run``.)"""
    loop = numpy_loop(np.expm1, np.dtype(np.float32))
    if loop is None or "X86_V4" not in loop:
        pytest.skip(f"NumPy's expm1 here runs its {loop} loop, not X86_V4 (AVX-512 and NumPy 2.4 or newer)")
    assert_the_plans_follow(*(held_report("NPY_ENABLE_CPU_FEATURES", held)
                              for held in ("", "X86_V3", "X86_V2")))


@pytest.fixture
def numpy_1(monkeypatch):
    """NumPy 1 stood in for: no ``numpy.lib.introspect``; ``numpy_1(features, machine)``
    sets the processor features its record holds (``numpy_loops.numpy1_features``) and
    ``platform.machine()``."""
    import builtins

    real_import = builtins.__import__

    def without_introspect(name, *args, **kwargs):
        if name == "numpy.lib.introspect":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    def numpy_1(features, machine="x86_64"):
        monkeypatch.setattr(builtins, "__import__", without_introspect)
        monkeypatch.setattr(numpy_loops, "numpy1_features", lambda: features)
        monkeypatch.setattr(numpy_loops.platform, "machine", lambda: machine)
        numpy_loop.cache_clear()

    yield numpy_1
    monkeypatch.undo()
    numpy_loop.cache_clear()


AVX512_LINUX = dict(SVML=True, AVX512_SKX=True, AVX512F=True, AVX2=True, FMA3=True)


@pytest.mark.parametrize(("features", "machine", "loops", "expm1", "log1p"), [
    pytest.param(AVX512_LINUX, "x86_64", ("AVX512_SKX", "AVX512_SKX", "AVX512F", "AVX512_SKX"),
                 False, False, id="AVX-512-Linux"),
    pytest.param({**AVX512_LINUX, "SVML": False}, "AMD64", ("baseline", "baseline", "AVX512F", "AVX512_SKX"),
                 True, True, id="AVX-512-without-SVML"),
    pytest.param({**AVX512_LINUX, "AVX512_SKX": False, "AVX512F": False}, "x86_64",
                 ("baseline", "baseline", "AVX2", "AVX2"), True, True, id="AVX2"),
    pytest.param({**AVX512_LINUX, "AVX512_SKX": False, "AVX512F": False, "FMA3": False}, "x86_64",
                 ("baseline", "baseline", "baseline", "baseline"), False, True, id="AVX2-without-FMA3"),
    pytest.param({}, "x86_64", ("baseline", "baseline", "baseline", "baseline"), False, True, id="no-record"),
    pytest.param(AVX512_LINUX, "aarch64", (None, None, None, None), True, True, id="not-x86-64"),
])
def test_numpy_1_s_loops_are_inferred_from_the_processor_s_features(numpy_1, features, machine, loops,
                                                                    expm1, log1p):
    """NumPy 1 names no loops: ``numpy1_loop`` infers them (SVML's AVX-512 ``expm1`` and
    ``log1p`` where NumPy links SVML, its own AVX-512 and AVX2 float32 ``exp`` and ``tanh``);
    the passes then pay as on NumPy 2 (``passes_pay``). A function it does not list, or a
    processor other than an x86-64: None, and the passes."""
    numpy_1(features, machine)
    float32, float64 = np.dtype(np.float32), np.dtype(np.float64)
    assert (numpy_loop(np.expm1, float32), numpy_loop(np.log1p, float64), numpy_loop(np.exp, float32),
            numpy_loop(np.tanh, float32)) == loops
    assert numpy_loop(np.expm1, float64) == numpy_loop(np.expm1, float32)
    assert numpy_loop(np.log, float32) is numpy_loop(np.exp, float64) is numpy_loop(np.tanh, float64) is None
    assert wide_simd_loop(np.expm1, float64) is (loops[0] == "AVX512_SKX")
    assert elementary.passes_pay(np.expm1, float32) is expm1
    assert elementary.passes_pay(np.log1p, float32) is elementary.passes_pay(np.log1p, float64) is log1p


def test_numpy_1_s_record_of_the_processor_s_features():
    """What ``numpy1_features`` reads is NumPy 1's own record, and SVML's link where its
    module exports SVML's loops (as the x86-64 Linux wheels CI installs do); NumPy 2 keeps its
    record elsewhere and is never asked (it names its loops)."""
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        pytest.skip("NumPy 2 names its loops (numpy.lib.introspect)")
    from numpy.core._multiarray_umath import __cpu_features__

    wheel = sys.platform.startswith("linux") and platform.machine() == "x86_64"
    assert numpy1_features() == {**__cpu_features__, "SVML": wheel}


def test_a_library_s_exports_are_read_by_name():
    """``library_exports``, which tells whether NumPy 1 links SVML: the C maths library exports
    ``expm1`` and not SVML's loop; a path that is no library, or no path, exports nothing."""
    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no C maths library found by name here")
    assert library_exports(libm, "expm1") is True
    assert library_exports(libm, "__svml_expm1f16") is False
    assert library_exports(os.devnull, "expm1") is library_exports(None, "expm1") is False


#: The AVX-512 features NumPy 1 dispatches on, which ``NPY_DISABLE_CPU_FEATURES`` turns off.
NUMPY1_AVX512 = ("AVX512F", "AVX512CD", "AVX512_SKX", "AVX512_CLX", "AVX512_CNL", "AVX512_ICL")


def test_the_passes_follow_numpy_1_s_features_when_it_is_held_to_fewer():
    """NumPy 1's real dispatch, held by ``NPY_DISABLE_CPU_FEATURES``, the features read in fresh
    interpreters: on AVX-512 its ``expm1`` and ``log1p`` are SVML's (on Linux), and the plans
    take NumPy's calls; held to AVX2 they are scalar loops, the plans take the passes; held to
    neither, its float32 ``exp`` and ``tanh`` are scalar too, and only ``log1p``'s passes pay.
    (NumPy 1 on an x86-64 Linux processor with AVX-512: CI's run on the oldest releases.)"""
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        pytest.skip("NumPy 2 names its loops: the test above holds those")
    features = numpy1_features()
    if not (features.get("SVML") and features.get("AVX512_SKX")):
        pytest.skip("NumPy 1 here runs no SVML loops (an x86-64 Linux processor with AVX-512)")
    on = [name for name in NUMPY1_AVX512 if features.get(name)]
    assert_the_plans_follow(*(held_report("NPY_DISABLE_CPU_FEATURES", " ".join(held))
                              for held in ((), on, on + ["AVX2", "FMA3"])))


def test_simd_loop_on_this_machine_is_what_numpy_reports():
    introspect = pytest.importorskip("numpy.lib.introspect")
    for ufunc, dtype, key in [(np.expm1, np.float32, "ff"), (np.log1p, np.float64, "dd")]:
        report = introspect.opt_func_info(func_name=f"^{ufunc.__name__}$")[ufunc.__name__][key]
        assert simd_loop(ufunc, np.dtype(dtype)) is (not report["current"].startswith("baseline"))
