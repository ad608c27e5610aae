"""Another BLAS library's matrix products, through its C interface (``DENSENET_BLAS``).

NumPy and SciPy from PyPI carry OpenBLAS. On an Intel processor Intel's MKL
(PyPI's ``mkl`` wheel, ``pip install "densenet[mkl]"``) multiplies the large
matrices of a training step faster: the eight products of a 784-512-512-10 batch-256
step took about 0.82x OpenBLAS's time on 2 threads, in float64 and float32, as fast as
PyTorch's own MKL (``benchmarks/NOTES.md``). Setting the environment variable
``DENSENET_BLAS`` to ``mkl``, or to the path of any shared library with the CBLAS
functions ``cblas_[ds]gemm``, ``cblas_[ds]ger`` and ``cblas_[ds]gemv``, has
``densenet.backend`` run through that library every product it would give SciPy's
``gemm``, every rank-1 update and the column sums that OpenBLAS would thread: one
thread pool in a step, that library's. Level-1 calls and small products stay on
NumPy's and SciPy's OpenBLAS, on the calling thread.

A library that also has MKL's vector math (``v?Mul``, ``v?Sqrt``, ``v?Div``,
``v?LinearFrac``, ``v?Abs``, ``v?CdfNorm``, ``v?Exp``, ``v?Expm1``, ``v?Log1p``, ``v?Tanh``) and
CBLAS's ``?axpby``, ``?axpy`` and ``?scal`` runs the adaptive optimisers' passes over their flat
vectors too (``Cblas.vector_math``; ``densenet.vector_ops``), GELU's normal distribution function
(``densenet.normal``) and the activations' ``exp``, ``expm1``, ``log1p`` and ``tanh`` of large
arrays (``densenet.backend.library_call``), on its threads: NumPy's ufuncs and SciPy's ``ndtr``
run on the calling thread only, and without AVX-512 NumPy's float64 ``exp``, ``expm1``, ``log1p``
and ``tanh`` are scalar loops.

A call is planned once (``Cblas.gemm``, ``Cblas.ger``, ``Cblas.column_sums``): the
arrays' addresses, strides and transposes are read then, and the call holds the arrays,
so that their memory lives as long as it does. ctypes lets other Python threads run
during the call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

#: The environment variable naming the library: ``mkl``, or a path.
ENV = "DENSENET_BLAS"

#: CBLAS's constants for row-major arrays and (not) transposed operands.
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

#: What a symbol may be called in a library: plain, or with SciPy's OpenBLAS's prefix.
PREFIXES = ("", "scipy_")

#: ``VectorMath``'s functions, by name, and their symbols (``{}``: ``d`` or ``s``): CBLAS's and
#: MKL's vector math (VML).
FUNCTIONS = {"axpby": "cblas_{}axpby", "axpy": "cblas_{}axpy", "scal": "cblas_{}scal", "mul": "v{}Mul",
             "sqrt": "v{}Sqrt", "div": "v{}Div", "linear_frac": "v{}LinearFrac", "abs": "v{}Abs",
             "cdf_norm": "v{}CdfNorm", "exp": "v{}Exp", "expm1": "v{}Expm1", "log1p": "v{}Log1p",
             "tanh": "v{}Tanh"}

#: The functions of one vector in, one out, that ``VectorMath.planned`` plans.
ELEMENTWISE = ("exp", "expm1", "log1p", "tanh")


def locate(name: str) -> str:
    """The file of the library ``name`` names: ``mkl`` (the ``mkl`` wheel's ``libmkl_rt``
    in this environment, else one the system's loader finds), or a path as it is."""
    if name.lower() != "mkl":
        return name
    for folder in (os.path.join(sys.prefix, "lib"), os.path.join(sys.prefix, "Library", "bin")):
        found = sorted(path for pattern in ("libmkl_rt.*", "mkl_rt*.dll")
                       for path in glob.glob(os.path.join(folder, pattern)))
        if found:
            return found[0]
    system = ctypes.util.find_library("mkl_rt")
    if system is None:
        raise OSError(f"{ENV}=mkl: no libmkl_rt in {sys.prefix} or on the system's library path "
                      "(pip install 'densenet[mkl]' installs it)")
    return system


class Cblas:
    """A library's CBLAS ``gemm``, ``ger`` and ``gemv`` (``d`` and ``s``), called through ctypes.

    Args:
        name: ``mkl``, or the path of a shared library (``locate``).

    ``OSError`` naming ``DENSENET_BLAS`` when the library cannot be loaded or lacks
    one of the six functions (under either name of ``PREFIXES``). MKL's single runtime
    library is asked for its 32-bit integer interface (``MKL_Set_Interface_Layer``),
    the one these calls use.
    """

    def __init__(self, name: str) -> None:
        self.path = locate(name)
        try:
            library = ctypes.CDLL(self.path)
        except OSError as error:
            raise OSError(f"{ENV}={name!r}: cannot load {self.path!r}: {error}") from None
        _lp64(library, name)
        self._routines = {dtype: _Routines(real, *(_function(library, f"cblas_{letter}{routine}", name)
                                                   for routine in ("gemm", "ger", "gemv")))
                          for dtype, real, letter in ((np.dtype(np.float64), ctypes.c_double, "d"),
                                                      (np.dtype(np.float32), ctypes.c_float, "s"))}

        self._vector_math = {dtype: _vector_math(library, real, letter)
                             for dtype, real, letter in ((np.dtype(np.float64), ctypes.c_double, "d"),
                                                         (np.dtype(np.float32), ctypes.c_float, "s"))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def vector_math(self, dtype: np.dtype[Any]) -> VectorMath | None:
        """The library's passes over whole vectors of ``dtype``; None if it lacks one of
        their functions (every CBLAS library but MKL) or ``dtype`` is not float32/float64."""
        return self._vector_math.get(np.dtype(dtype))

    def gemm(self, A: NDArray[Any], B: NDArray[Any], C: NDArray[Any],
             beta: float = 0.0) -> Callable[..., None] | None:
        """A call ``run(alpha, beta=beta)`` setting ``C = alpha * A @ B + beta * C`` in
        place, as ``densenet.backend.product``'s; None unless the three are 2-D arrays of
        one float dtype, ``C`` C-ordered and writeable, ``A`` and ``B`` C- or F-ordered."""
        routines = self._output(C, A, B)
        if routines is None or not A.ndim == B.ndim == C.ndim == 2:
            return None
        a, b = _operand(A), _operand(B)
        (m, k), n = A.shape, B.shape[1]
        if a is None or b is None or B.shape[0] != k or C.shape != (m, n):
            return None
        (trans_a, lda), (trans_b, ldb) = a, b
        pa, pb, pc = _addresses(A, B, C)
        return _Call(routines.gemm, routines.real, (A, B, C), (ROW_MAJOR, trans_a, trans_b, m, n, k),
                     (pa, lda, pb, ldb), (pc, max(1, n)), beta)

    def ger(self, column: NDArray[Any], row: NDArray[Any], C: NDArray[Any]) -> Callable[[float], None] | None:
        """A call ``run(alpha)`` adding ``alpha`` times the outer product of ``column``
        ``(m,)`` and ``row`` ``(n,)`` to ``C`` ``(m, n)`` in place (BLAS's rank-1 update);
        None unless ``C`` is C-ordered and writeable, the vectors contiguous, one float dtype."""
        routines = self._output(C, column, row)
        if routines is None or not (column.ndim == row.ndim == 1 and C.shape == (column.size, row.size)
                                     and column.flags.c_contiguous and row.flags.c_contiguous):
            return None
        m, n = C.shape
        px, py, pc = _addresses(column, row, C)
        return _Call(routines.ger, routines.real, (column, row, C), (ROW_MAJOR, m, n),
                     (px, 1, py, 1, pc, max(1, n)))

    def column_sums(self, A: NDArray[Any], out: NDArray[Any],
                    beta: float = 0.0) -> Callable[..., None] | None:
        """A call ``run(alpha, beta=beta)`` setting ``out = alpha * A.sum(axis=0) + beta * out``
        in place (``A.T @ ones``: BLAS's ``gemv``), as ``densenet.backend.column_sums``'s;
        None unless ``A`` is C-ordered and 2-D, ``out`` a contiguous writeable vector of its
        float dtype with a value for each column."""
        routines = self._output(out, A)
        if routines is None or not (A.ndim == 2 and A.flags.c_contiguous and out.ndim == 1
                                     and out.shape == (A.shape[1],)):
            return None
        rows, columns = A.shape
        ones = np.ones(rows, A.dtype)
        pa, pones, pout = _addresses(A, ones, out)
        return _Call(routines.gemv, routines.real, (A, ones, out), (ROW_MAJOR, TRANS, rows, columns),
                     (pa, max(1, columns), pones, 1), (pout, 1), beta)

    def _output(self, out: NDArray[Any], *operands: NDArray[Any]) -> _Routines | None:
        """The routines of ``out``'s dtype, if it is a C-ordered writeable array of a float
        dtype the operands share; else None."""
        routines = self._routines.get(out.dtype)
        if routines is None or any(operand.dtype != out.dtype for operand in operands) or not (
                out.flags.c_contiguous and out.flags.writeable):
            return None
        return routines


class VectorMath:
    """A library's passes over whole vectors of one float dtype, on its threads: CBLAS's
    ``axpby``, ``axpy`` and ``scal`` and MKL's vector math (VML, in its default
    high-accuracy mode), for the optimisers' updates, VML's normal distribution
    function ``normal_cdf``, for GELU, and its ``exp``, ``expm1``, ``log1p`` and ``tanh``, for
    the activations (``planned``: a call on fixed vectors, made once).

    The results agree with NumPy's to rounding, not to the bit: ``square``, ``scale``,
    ``absolute`` and float64 ``ratios`` are NumPy's; VML's square root and quotient (and so
    float32 ``ratios``) are within an ulp of the rounded ones (about 0.7% and 0.1-0.3% of
    the values differ), and ``axpy`` and ``axpby`` may fuse their multiply-adds otherwise
    than OpenBLAS's. ``normal_cdf`` is within an ulp of the exact value, relative in the lower
    tail down to the subnormals, and so are ``exp``, ``expm1``, ``log1p`` and ``tanh`` (0.73 ulp
    at most measured, where NumPy's own were up to 1.1 in float64 and 2.3 in float32), with
    NumPy's limits (``exp``'s overflow to inf, without a warning). Each value is computed alone,
    so that the results are the same on any number of threads (MKL 2026.2: one or two, at any
    alignment).

    The library reads and writes raw memory: a call runs there only if its outputs are
    writeable and every vector is a contiguous 1-D array of the dtype, all of one size
    (``takes``); any other (a user's ``optimizer.step`` with float32 gradients beside
    float64 parameters, say) goes to NumPy's ufunc instead, as ``densenet.vector_ops.Ufuncs``
    would run it. Each call reads the arrays' addresses anew; it takes a microsecond or two
    more than a ufunc's, worth it on long vectors alone.
    """

    __slots__ = ("_abs", "_axpby", "_axpy", "_cdf_norm", "_div", "_exp", "_expm1", "_linear_frac", "_log1p",
                 "_mul", "_scal", "_sqrt", "_tanh", "dtype", "real")

    def __init__(self, real: type, functions: dict[str, Any]) -> None:
        """``functions``: the library's, by the names of ``FUNCTIONS`` (``axpby``: its ``?axpby``)."""
        self.real = real
        self.dtype = np.dtype(np.float64 if real is ctypes.c_double else np.float32)
        f = functions
        self._axpby, self._axpy, self._scal, self._mul = f["axpby"], f["axpy"], f["scal"], f["mul"]
        self._sqrt, self._div, self._linear_frac, self._abs = f["sqrt"], f["div"], f["linear_frac"], f["abs"]
        self._cdf_norm, self._exp, self._expm1 = f["cdf_norm"], f["exp"], f["expm1"]
        self._log1p, self._tanh = f["log1p"], f["tanh"]

    def takes(self, outputs: tuple[NDArray[Any], ...], *inputs: NDArray[Any]) -> bool:
        """Whether a pass writing ``outputs`` from ``inputs`` can run in the library."""
        size = outputs[0].size
        for array in (*outputs, *inputs):
            if not (array.dtype == self.dtype and array.ndim == 1 and array.size == size
                    and array.flags.c_contiguous):
                return False
        return all(output.flags.writeable for output in outputs)

    def axpby(self, a: float, x: NDArray[Any], b: float, y: NDArray[Any]) -> None:
        """``y = a x + b y`` in place."""
        if not self.takes((y,), x):
            np.multiply(y, b, out=y)
            np.add(y, np.multiply(x, a), out=y)
            return
        self._axpby(y.size, self.real(a), _address(x), 1, self.real(b), _address(y), 1)

    def axpy(self, a: float, x: NDArray[Any], y: NDArray[Any]) -> None:
        """``y += a x`` in place."""
        if not self.takes((y,), x):
            np.add(y, np.multiply(x, a), out=y)
            return
        self._axpy(y.size, self.real(a), _address(x), 1, _address(y), 1)

    def scale(self, x: NDArray[Any], b: float) -> None:
        """``x *= b`` in place."""
        if not self.takes((x,)):
            np.multiply(x, b, out=x)
            return
        self._scal(x.size, self.real(b), _address(x), 1)

    def square(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = x * x``."""
        if not self.takes((out,), x):
            np.multiply(x, x, out=out)
            return
        self._mul(x.size, _address(x), _address(x), _address(out))

    def sqrt(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = sqrt(x)``."""
        if not self.takes((out,), x):
            np.sqrt(x, out=out)
            return
        self._sqrt(x.size, _address(x), _address(out))

    def absolute(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = |x|``."""
        if not self.takes((out,), x):
            np.abs(x, out=out)
            return
        self._abs(x.size, _address(x), _address(out))

    def divide(self, x: NDArray[Any], d: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = x / d``."""
        if not self.takes((out,), x, d):
            np.divide(x, d, out=out)
            return
        self._div(x.size, _address(x), _address(d), _address(out))

    def ratios(self, d: NDArray[Any], shift: float, *pairs: tuple[NDArray[Any], NDArray[Any]]) -> None:
        """``out = x / (d + shift)`` for each pair ``(x, out)``; ``d`` may be overwritten
        (an ``out`` that is ``d`` comes last).

        In float64 one pass a pair, VML's ``(1 x + 0) / (1 d + shift)`` (no ``0 * d`` term:
        an infinite ``d`` gives 0, as in NumPy). In float32 that function gave NaN for an
        infinite ``d`` and flushed quotients below 2**-126 to zero (MKL 2026.2): there
        ``d += shift`` is NumPy's pass, then a quotient a pair."""
        if not self.takes((d, *(out for _, out in pairs)), *(x for x, _ in pairs)):
            np.add(d, shift, out=d)
            for x, out in pairs:
                np.divide(x, d, out=out)
            return
        if self.real is ctypes.c_double:
            one, zero, added = self.real(1.0), self.real(0.0), self.real(shift)
            for x, out in pairs:
                self._linear_frac(x.size, _address(x), _address(d), one, zero, one, added, _address(out))
            return
        np.add(d, shift, out=d)
        for x, out in pairs:
            self._div(x.size, _address(x), _address(d), _address(out))

    def normal_cdf(self, x: NDArray[Any], out: NDArray[Any]) -> None:
        """``out = Phi(x)``, the standard normal distribution function (SciPy's ``ndtr``)."""
        if not self.takes((out,), x):
            ndtr(x, out=out)
            return
        self._cdf_norm(x.size, _address(x), _address(out))

    def planned(self, name: str, x: NDArray[Any], out: NDArray[Any]) -> Callable[[], None] | None:
        """A call writing ``out = f(x)`` for ``f`` the function ``name``: ``exp``, ``expm1``
        (``exp(x) - 1``, exact near 0), ``log1p`` (``log(1 + x)``, exact near 0) or ``tanh``;
        ``out`` may be ``x``. The vectors' addresses are read now (the call holds the vectors,
        so that the addresses stay theirs: nothing is allocated per call); None unless the
        library takes the vectors (``takes``). ``ValueError`` for another name (the other
        functions take other arguments)."""
        if name not in ELEMENTWISE:
            raise ValueError(f"VectorMath.planned: no function {name!r}; one of {', '.join(ELEMENTWISE)}")
        if not self.takes((out,), x):
            return None
        return _Elementwise(name, getattr(self, "_" + name), x, out)


def _address(x: NDArray[Any]) -> ctypes.c_void_p:
    return ctypes.c_void_p(x.ctypes.data)


def _vector_math(library: ctypes.CDLL, real: type, letter: str) -> VectorMath | None:
    """``library``'s ``VectorMath`` for one dtype (``letter``: ``d`` or ``s``), or None
    if it lacks one of the functions."""
    functions = {}
    for name, symbol in FUNCTIONS.items():
        function = getattr(library, symbol.format(letter), None)
        if function is None:
            return None
        function.restype = None
        functions[name] = function
    return VectorMath(real, functions)


class _Elementwise:
    """One planned call ``f(n, x, out)`` of a vector math function, named ``name``
    (``VectorMath.planned``); it holds the vectors, so that the addresses stay theirs."""

    __slots__ = ("arguments", "function", "name", "vectors")

    def __init__(self, name: str, function: Any, x: NDArray[Any], out: NDArray[Any]) -> None:
        self.name, self.function, self.vectors = name, function, (x, out)
        self.arguments = (x.size, *_addresses(x, out))

    def __call__(self) -> None:
        self.function(*self.arguments)

    def __repr__(self) -> str:
        return f"<the library's {self.name} of {self.arguments[0]} values>"


class _Routines(NamedTuple):
    """A dtype's C type and its three functions in a library."""

    real: type
    gemm: Any
    ger: Any
    gemv: Any


def _addresses(*arrays: NDArray[Any]) -> list[ctypes.c_void_p]:
    return [ctypes.c_void_p(array.ctypes.data) for array in arrays]


class _Call:
    """One planned BLAS call, run as ``run(alpha, beta=beta)`` (``run(alpha)`` for one
    without ``beta``): the function's arguments before ``alpha`` (``head``), between
    ``alpha`` and ``beta`` (``operands``: the inputs' addresses, strides and leading
    dimensions; a function without ``beta`` ends there) and after ``beta`` (``output``).
    It holds the arrays, so that the addresses stay theirs.

    The function is called without declared argument types (ctypes then checks
    nothing, and takes a quarter of the time): integers go as C ints, the addresses
    as ``c_void_p``, ``alpha`` and ``beta`` as the dtype's C type (``real``).
    """

    __slots__ = ("arrays", "beta", "function", "head", "operands", "output", "real")

    def __init__(self, function: Any, real: type, arrays: tuple[NDArray[Any], ...], head: tuple[int, ...],
                 operands: tuple[Any, ...], output: tuple[Any, ...] | None = None, beta: float = 0.0) -> None:
        self.function, self.real, self.arrays, self.head = function, real, arrays, head
        self.operands, self.output, self.beta = operands, output, beta

    def __call__(self, alpha: float, beta: float | None = None) -> None:
        real = self.real
        if self.output is None:
            self.function(*self.head, real(alpha), *self.operands)
        else:
            self.function(*self.head, real(alpha), *self.operands, real(self.beta if beta is None else beta),
                          *self.output)


def _operand(M: NDArray[Any]) -> tuple[int, int] | None:
    """How a row-major CBLAS reads ``M`` without a copy: (transpose, leading dimension),
    or None if it cannot."""
    rows, columns = M.shape
    if M.flags.c_contiguous:
        return NO_TRANS, max(1, columns)
    if M.flags.f_contiguous:  # (the transpose of a C-ordered array, of 2 rows or more: one row is C-ordered)
        return TRANS, rows
    return None


def _function(library: ctypes.CDLL, name: str, given: str) -> Any:
    """``library``'s function ``name`` (under a name of ``PREFIXES``), returning nothing."""
    for prefix in PREFIXES:
        function = getattr(library, prefix + name, None)
        if function is not None:
            function.restype = None
            return function
    raise OSError(f"{ENV}={given!r}: the library has no {name} (a CBLAS library is needed)")


def _lp64(library: ctypes.CDLL, given: str) -> None:
    """Ask MKL's single runtime library for 32-bit integers (a library without that
    switch is taken to have them)."""
    switch = getattr(library, "MKL_Set_Interface_Layer", None)
    if switch is not None:
        switch.restype, switch.argtypes = ctypes.c_int, [ctypes.c_int]
        if switch(0) != 0:  # (0: LP64; another answer: a layer was chosen before)
            raise OSError(f"{ENV}={given!r}: MKL runs with 64-bit integers here (MKL_INTERFACE_LAYER); "
                          "densenet's calls pass 32-bit ones")
