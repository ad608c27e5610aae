"""Checks for user data, run once at the model's boundary (never inside the step loop)."""

from __future__ import annotations

import inspect
import math
import numbers
import operator
import os
import warnings
from collections.abc import Iterable
from typing import Any, SupportsIndex, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .backend import abs_sum, all_finite, magnitude_at_most

_NUMERIC_KINDS = "biuf"
#: the largest count taken (of epochs, steps, features...): NumPy's largest int64
_LARGEST_COUNT = int(np.iinfo(np.int64).max)
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def as_numeric(data: ArrayLike, name: str, dtype: DTypeLike, finite: bool = True) -> NDArray[Any]:
    """``data`` as an array of ``dtype``; copies only when the dtype differs.

    Raises ``TypeError`` for data that is not real numbers (strings, objects,
    complex) and ``ValueError`` for ragged data, empty data or (unless not ``finite``)
    NaN/inf, a value beyond ``dtype``'s range included.
    """
    array = _converted(data, name, dtype)
    if finite:
        _require_finite(array, name, dtype)
    return array


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """A warning (``UserWarning`` by default) at the first line outside densenet: the
    user's own line, whatever path through the package reached it (``fit``, ``lr_find``
    or an estimator's fit)."""
    frame = inspect.currentframe()
    level, frame = 2, frame.f_back if frame is not None else None  # (stacklevel 2: the line calling this)
    while frame is not None and frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)


def reworded(error: Exception, message: str) -> Exception:
    """``error`` made again with ``message`` (its text with the caller's name in front): of
    its own type, or, if that type takes more than a message (another library's), of the
    first type it derives from that takes one (``ValueError``, ``TypeError``...), so that
    naming it does not raise a ``TypeError`` of its own."""
    kinds = type(error).__mro__
    for kind in kinds[:kinds.index(Exception)]:
        try:
            return cast(Exception, kind(message))
        except TypeError:
            continue
    return Exception(message)


def is_sparse(data: object) -> bool:
    """Whether ``data`` is a SciPy sparse matrix or array (duck-typed: SciPy's sparse
    package is imported only by those who pass one)."""
    return not isinstance(data, np.ndarray) and type(data).__module__.startswith("scipy.sparse")


def is_table(data: object) -> bool:
    """Whether ``data`` is a pandas DataFrame or Series (duck-typed: pandas is never
    imported)."""
    return hasattr(data, "isna") and hasattr(data, "to_numpy")


def as_array(data: ArrayLike, name: str) -> NDArray[Any]:
    """``np.asarray(data)``, refusing what it would misread: ragged rows, a masked array's
    masked values (missing values, as pandas' NA are; NumPy's array holds whatever lies
    under the mask) and a pandas table's missing values (NumPy's array holds NaN or
    pandas' NA objects there: class labels that read as floats or objects)."""
    if is_table(data):
        refuse_missing(data, name)
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} is not a rectangular array of numbers: {error}") from None
    if isinstance(data, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(data)  # type: ignore[no-untyped-call, unused-ignore]  # (NumPy 1's stubs)
        if (masked := np.argwhere(mask)).size:
            raise ValueError(f"{name} is a masked array with {len(masked)} masked value(s), the first at "
                             f"index {tuple(int(i) for i in masked[0])}; fill them ({name}.filled(value)) or "
                             "drop them")
    return array


def _converted(data: ArrayLike, name: str, dtype: DTypeLike, cast: bool = True) -> NDArray[Any]:
    """``as_numeric`` without the check for NaN/inf (and, without ``cast``, in its own dtype)."""
    if is_sparse(data):  # (NumPy would make it a 0-d object array)
        shape = getattr(data, "shape", "?")
        raise TypeError(f"{name} is a SciPy sparse {type(data).__name__} of shape {shape}; densenet takes "
                        f"dense arrays here: pass {name}.toarray()")
    array = _from_table(data, name) if is_table(data) else as_array(data, name)  # (tables: NA by column)
    if array.dtype.kind not in _NUMERIC_KINDS:
        kind = "complex numbers" if array.dtype.kind == "c" else f"dtype {array.dtype}"
        raise TypeError(f"{name} must hold real numbers, got {kind}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if cast and array.dtype != dtype:
        array = _cast(array, dtype)
    return array


def _cast(array: NDArray[Any], dtype: DTypeLike, out: NDArray[Any] | None = None) -> NDArray[Any]:
    """``array`` in ``dtype`` (into ``out``, if given): an overflowing cast is reported by the
    checks as inf; one that underflows is 0 or subnormal (``backend.underflow_ignored``)."""
    with np.errstate(over="ignore", under="ignore"):
        if out is None:  # (in rows' order: the batches are rows, a shuffled fit's gathered rows)
            return array.astype(dtype, order="C")
        np.copyto(out, array, casting="unsafe")
        return out


def _require_finite(array: NDArray[Any], name: str, dtype: DTypeLike) -> None:
    if not all_finite(array):
        _refuse_non_finite(name, dtype, [(0, array)])


def _refuse_non_finite(name: str, dtype: DTypeLike, parts: Iterable[tuple[int, NDArray[Any]]]) -> None:
    """``ValueError`` naming the first of the values of an array's ``parts`` (each of them
    its first row's index and rows, converted on its own) that are not finite in ``dtype``,
    and how many there are."""
    count, first = 0, None
    for start, part in parts:
        bad = np.argwhere(~np.isfinite(part if part.dtype == dtype else _cast(part, dtype)))
        if first is None and len(bad):
            first = tuple(int(i) + (start if axis == 0 else 0) for axis, i in enumerate(bad[0]))
        count += len(bad)
    if first is not None:
        raise ValueError(f"{name} holds {count} non-finite value(s) (NaN or inf) as {np.dtype(dtype).name}, "
                         f"the first at index {first}")


def _from_table(table: Any, name: str) -> NDArray[Any]:
    """A pandas DataFrame or Series as a NumPy array; a ``ValueError`` naming the columns
    with missing values (NA; NaN in a column of floats) or an integer no float holds, a
    ``TypeError`` naming those that hold no numbers (text, even "1.5", which pandas would
    parse and NumPy's arrays of text do not), and those of dates or durations (which pandas
    gives as nanoseconds). Columns that all hold numbers (NumPy's dtypes, or pandas'
    nullable ``Int64``, ``Float32``, ``boolean``...) come in the dtype they have in common: a
    table of one dtype as its own block, not copied (uint8 images stay uint8, which
    ``predict`` converts a batch at a time, where float64 would be 8 times their bytes); any
    other table (columns of objects or categories that are numbers) as floats.
    (Duck-typed: pandas is never imported.)"""
    columns = list(table.dtypes.items()) if hasattr(table, "columns") else [(table.name, table.dtype)]
    times = [label for label, dtype in columns if getattr(dtype, "kind", None) in ("m", "M")]
    if times:
        raise TypeError(f"{name} must hold real numbers, got dates or durations in column(s) {times}; "
                        "convert them to numbers first")
    numeric = [_numeric(dtype) for _, dtype in columns]
    if numeric and all(dtype is not None for dtype in numeric):
        common = np.result_type(*cast(list[np.dtype[Any]], numeric))
        try:
            array = table.to_numpy(dtype=common)
        except (TypeError, ValueError):  # (NA in a nullable column)
            pass
        else:
            if common.kind != "f" or all_finite(array):
                return array
    refuse_missing(table, name)
    others = [(index, label, dtype) for index, ((label, dtype), kind) in enumerate(zip(columns, numeric))
              if kind is None]
    unread: dict[str, dict[Any, str]] = {}  # (what keeps a column from being read: its label and dtype)
    for index, label, dtype in others:  # (text first: pandas would parse "1.5")
        if _holds_text(_column(table, index)):
            unread.setdefault("not numbers", {})[label] = str(dtype)
    if not unread:
        try:
            return table.to_numpy(dtype=np.float64)
        except (TypeError, ValueError, OverflowError):  # (which columns, and why: below)
            for index, label, dtype in others:
                why = _unread(_column(table, index))
                if why is not None:
                    unread.setdefault(why, {})[label] = str(dtype)
    unnamed = table.ndim == 1 and table.name is None
    if "beyond" in unread and "not numbers" not in unread:
        where = "" if unnamed else f" in column(s) {list(unread['beyond'])}"
        raise ValueError(f"{name} holds an integer beyond float64's range{where}")
    if unnamed:
        raise TypeError(f"{name} must hold real numbers, got dtype {table.dtype}")
    refused = unread.get("not numbers") or {label: str(dtype) for _, label, dtype in others}
    raise TypeError(f"{name} must hold real numbers, got column(s) {list(refused)} of dtype "
                    f"{', '.join(sorted(set(refused.values())))}")


def _column(table: Any, index: int) -> NDArray[Any]:
    """The values of a pandas table's column ``index`` (a Series: its own) as a NumPy
    array (a categorical column: its categories' values)."""
    return np.asarray((table.iloc[:, index] if table.ndim == 2 else table).to_numpy())


def _holds_text(values: NDArray[Any]) -> bool:
    """Whether a column's values hold text (str or bytes), which pandas' conversion to
    floats would parse. (Their types are gathered by ``map``, not tested one by one in
    Python: a 100,000-row column of objects in 2 ms, not 8.)"""
    if values.dtype.kind in "SUT":
        return True
    return values.dtype.kind == "O" and any(issubclass(kind, (str, bytes)) for kind in set(map(type, values)))


def _unread(values: NDArray[Any]) -> str | None:
    """What keeps a column of no numeric dtype (objects, categories) from being read as
    floats: ``"beyond"`` (an integer no float holds), ``"not numbers"``, or None."""
    try:
        values.astype(np.float64)
    except OverflowError:
        return "beyond"
    except (TypeError, ValueError):
        return "not numbers"
    return None


def refuse_missing(table: Any, name: str) -> None:
    """A ``ValueError`` naming the columns of a pandas table (named ``name``) that hold
    missing values (NA; NaN in a column of floats), or for a Series of no column the
    first of its rows that does, if any does."""
    missing = table.isna()
    if hasattr(table, "columns"):
        holes = [label for label in table.columns if bool(missing[label].any())]
    else:
        holes = [table.name] if bool(missing.any()) else []
        if holes and table.name is None:  # (a Series of no column: its rows named)
            rows = np.flatnonzero(missing.to_numpy())
            raise ValueError(f"{name} has {len(rows)} missing value(s) (NA), the first at index {rows[0]}; "
                             "fill or drop them first")
    if holes:
        raise ValueError(f"{name} has missing values (NA) in column(s) {holes}; fill or drop them first")


def _numeric(dtype: Any) -> np.dtype[Any] | None:
    """The NumPy dtype of a pandas column's ``dtype`` (a nullable one's ``numpy_dtype``) if
    it holds real numbers, else None."""
    dtype = getattr(dtype, "numpy_dtype", dtype)
    return dtype if isinstance(dtype, np.dtype) and dtype.kind in _NUMERIC_KINDS else None


def as_matrix(data: ArrayLike, name: str, dtype: DTypeLike) -> NDArray[Any]:
    """``data`` as a 2-D ``(n_samples, n_features)`` array of ``dtype``."""
    return _two_d(as_numeric(data, name, dtype), name)


def as_bounded_matrix(data: ArrayLike, name: str, dtype: DTypeLike,
                      bound: float, whole: bool = True) -> tuple[NDArray[Any], bool]:
    """``as_matrix(data, name, dtype)``, and whether every ``|x|`` is at most ``bound``:
    both from one read pass (``backend.abs_sum``) when the data are small, as they
    nearly always are; the exact checks only when that sum is not.

    Without ``whole``, an array of another dtype is not converted: it comes back 2-D, as
    it is and unchecked (False for the bound), and ``cast_rows`` converts and checks it a
    slice at a time (a pass over it in batches then never holds a whole copy)."""
    array = _converted(data, name, dtype, cast=whole)
    if array.dtype != dtype:
        return _two_d(array, name), False
    total = abs_sum(array)
    bounded = total is not None and total <= bound  # so finite too
    if not bounded:
        _require_finite(array, name, dtype)
    return _two_d(array, name), bounded or magnitude_at_most(array, bound)


def cast_rows(array: NDArray[Any], start: int, stop: int, name: str, dtype: DTypeLike, bound: float,
              out: NDArray[Any]) -> tuple[NDArray[Any], bool]:
    """Rows ``start:stop`` of ``array`` (``as_bounded_matrix``'s, not converted) converted
    into ``out`` (of ``dtype``, at least as many rows, in any layout: a plan's input) and
    checked as ``as_bounded_matrix`` checks a whole array, a value that is not finite named
    by its index in ``array``; and whether every ``|x|`` of them is at most ``bound``.

    Integers of a type whose every value is within ``bound`` (uint8 pixels) need no check;
    where ``out`` is not one block (which ``abs_sum`` does not take) floats are checked as
    they are: those whose magnitudes sum to ``bound`` at most are so once converted too
    (``bound`` is a value of ``dtype``: rounding does not carry one past it)."""
    rows = array[start:stop]
    part = _cast(rows, dtype, out[:len(rows)])
    if _within(rows.dtype, bound):
        return part, True
    total = abs_sum(part)
    if total is None:
        total = abs_sum(rows)
    if total is not None and total <= bound:
        return part, True
    if not all_finite(part):
        size = len(out)  # (the rows before passed: the first and the count are in those after)
        _refuse_non_finite(name, dtype, ((i, array[i:i + size]) for i in range(start, len(array), size)))
    return part, magnitude_at_most(part, bound)


def _within(dtype: np.dtype[Any], bound: float) -> bool:
    """Whether every value of ``dtype`` is finite and at most ``bound`` in magnitude: bool,
    and the integers whose range is within it."""
    if dtype.kind not in "biu":
        return False
    info = np.iinfo(np.uint8 if dtype.kind == "b" else dtype)  # (False and True: within uint8's)
    return max(-int(info.min), int(info.max)) <= bound


def as_sparse_rows(data: Any, name: str, dtype: DTypeLike, bound: float) -> tuple[Any, bool]:
    """A SciPy sparse ``data`` as a 2-D CSR matrix of ``dtype`` (rows are what a step takes:
    a copy only if the format or dtype differs), checked as ``as_bounded_matrix`` checks dense
    data (the stored values only: the others are zeros); and whether every ``|x|`` is at
    most ``bound``."""
    if len(data.shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {len(data.shape)}-D shape "
                         f"{data.shape}")
    if data.dtype.kind not in _NUMERIC_KINDS:
        kind = "complex numbers" if data.dtype.kind == "c" else f"dtype {data.dtype}"
        raise TypeError(f"{name} must hold real numbers, got {kind}")
    if 0 in data.shape:
        raise ValueError(f"{name} is empty (shape {data.shape})")
    rows = data.tocsr()
    if rows.dtype != dtype:  # (as as_numeric's cast)
        with np.errstate(over="ignore", under="ignore"):
            rows = rows.astype(dtype)
    values = rows.data
    if not all_finite(values):
        bad = np.flatnonzero(~np.isfinite(values))
        first = (int(np.searchsorted(rows.indptr, bad[0], side="right")) - 1, int(rows.indices[bad[0]]))
        raise ValueError(f"{name} holds {len(bad)} non-finite value(s) (NaN or inf) as "
                         f"{np.dtype(dtype).name}, the first at index {first}")
    return rows, magnitude_at_most(values, bound)


def _two_d(array: NDArray[Any], name: str) -> NDArray[Any]:
    if array.ndim != 2:
        hint = (
            "; use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample"
            if array.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got {array.ndim}-D shape {array.shape}{hint}"
        )
    return array


def not_integer_labels(array: NDArray[Any], name: str, owner: str, classes: int | None) -> TypeError:
    """The error for class labels ``array`` (named ``name``) of a dtype other than integers,
    with the way to integers where there is one (whole numbers, labels of another kind) and,
    where class probabilities are targets too (``classes`` not None), their shape."""
    whole = _whole(array)
    hints = [f"they are whole numbers: {name}.astype(int)"] if whole else []
    if array.dtype.kind == "f" and (nan := np.flatnonzero(np.isnan(array))).size:
        hints.append(f"{len(nan)} NaN, the first at index {nan[0]}: missing labels? fill or drop them")
    if whole is None:
        hints.append(f"labels of another kind: number them, np.unique({name}, return_inverse=True)[1], "
                     "or use densenet.sklearn.DenseNetClassifier, which takes any")
    if classes is not None:
        hints.append(f"for class probabilities pass an (n_samples, {classes}) array")
    hint = f" ({'; '.join(hints)})" if hints else ""
    return TypeError(f"{owner}: class labels {name} must be integers, got dtype {array.dtype}{hint}")


def first_outside(labels: NDArray[Any], classes: int, ignore_index: int | None) -> int | None:
    """The first of the integer ``labels`` outside ``[0, classes)`` that is not
    ``ignore_index`` (None: every label counts), or None when there is none."""
    outside = (labels < 0) | (labels >= classes)
    if ignore_index is not None:
        outside &= labels != ignore_index
    return int(labels[np.argmax(outside)]) if outside.any() else None


def _whole(array: NDArray[Any]) -> bool | None:
    """Whether ``array`` (labels of a dtype other than integers) holds whole numbers alone
    (booleans, or finite numbers without a fraction, objects included); None if it does
    not hold numbers (strings, objects that are not numbers)."""
    if array.dtype.kind == "b":
        return True
    if array.dtype.kind not in "fO":  # (strings that read as numbers are still strings)
        return None
    try:
        values = array.astype(np.float64)
    except (TypeError, ValueError):
        return None
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def positive_int(value: object, what: str, expected: str = "an integer >= 1", low: int = 1) -> int:
    """``value`` as an int >= ``low`` (1); ``TypeError`` for non-integers (bools included),
    ``ValueError`` below ``low`` or beyond NumPy's int64 (no count is that large, and a
    Python int beyond float's range raises ``OverflowError`` where a rate is computed from
    it), both saying ``{what} must be {expected}``."""
    # operator.index raising is the integer test: ``isinstance(value, SupportsIndex)``, a
    # runtime protocol check, takes about 7 us, and every fit checks two integers.
    if isinstance(value, bool):
        raise TypeError(f"{what} must be {expected}, got {shown(value)}")
    try:
        n = operator.index(cast(SupportsIndex, value))
    except TypeError:
        raise TypeError(f"{what} must be {expected}, got {shown(value)}") from None
    if n < low:
        raise ValueError(f"{what} must be {expected}, got {shown(n)}")
    if n > _LARGEST_COUNT:
        raise ValueError(f"{what} must be {expected} of at most 2**63 - 1 (NumPy's int64), got {shown(n)}")
    return n


def redefined_before(cls: type, names: tuple[str, ...], method: str) -> tuple[str, type] | None:
    """The first of ``names`` that ``cls`` redefines where it comes before the class whose
    ``method`` it inherits (in its method resolution order, mixins included), and that class;
    None if there is none: a subclass whose own code ``method`` would not know of."""
    order = cls.__mro__
    owner = next(k for k in order if method in vars(k))
    for name in names:
        if order.index(next(k for k in order if name in vars(k))) < order.index(owner):
            return name, owner
    return None


def own_method(obj: object, name: str, base: type) -> bool:
    """Whether ``obj``'s method ``name`` is not ``base``'s: its class redefines it, or one is
    set on the object (``callback.on_batch_end = function``)."""
    return getattr(getattr(obj, name), "__func__", None) is not getattr(base, name)


def shown(value: object, width: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``width`` characters (ending in "..."); a NumPy
    number as its value (``1.5``, where NumPy 2's repr is ``np.float64(1.5)``)."""
    try:
        text = str(value) if isinstance(value, (np.number, np.bool_)) else repr(value)
    except ValueError:  # (an int of more digits than Python converts to text: 4,300)
        text = f"an integer of {cast(int, value).bit_length()} bits"
    return text if len(text) <= width else text[: width - 3] + "..."


def kind_given(value: object, with_repr: bool = False) -> str:
    """What ``value``, given where an instance is taken, is, for a message: its type's name
    (and, ``with_repr``, its ``repr``), or for a class given in place of an instance
    (``optimizer=dn.SGD``), the class and the fix."""
    if isinstance(value, type):
        return f"the class {value.__name__}: pass an instance, {value.__name__}(...)"
    return f"{type(value).__name__} {value!r}" if with_repr else type(value).__name__


def not_a_list(value: object, name: str, kind: type) -> str:
    """What ``value``, given for the argument ``name`` that takes a list of ``kind``
    instances, is, for a message: one of them alone, or a class, with the fix; else its type
    and ``repr``."""
    if isinstance(value, kind):
        return f"one {type(value).__name__}: pass it in a list, {name}=[...]"
    if isinstance(value, type):
        return f"the class {value.__name__}: pass an instance in a list, {name}=[{value.__name__}(...)]"
    return f"{type(value).__name__} {value!r}"


def described(value: object) -> str:
    """What ``value`` is, for a message: a number, string or None as ``shown``, an array by
    its shape, anything else by its type (``a list``, ``a tuple``)."""
    if value is None or isinstance(value, (str, numbers.Number)):
        return shown(value)
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def result_shape(result: Any, owner: object, method: str) -> tuple[int, ...]:
    """The shape of what ``owner``'s ``method`` (a module's or loss's own ``forward`` or
    ``backward``) returned, as NumPy reads it; a ``ValueError`` naming the method where
    NumPy cannot read it as an array (rows of different lengths), in place of NumPy's
    words on inhomogeneous shapes."""
    try:
        return np.shape(result)
    except ValueError:
        raise ValueError(f"{owner!r}.{method} returned {described(result)} that is not an array: its rows "
                         "differ in length") from None


def copy_result(out: NDArray[Any], result: Any, owner: object, method: str) -> None:
    """Copy what ``owner``'s ``method`` returned, of ``out``'s shape, into ``out``:
    booleans, integers and floats are numbers there; anything else (complex numbers,
    strings, objects) is refused by a ``TypeError`` naming the method, in place of NumPy's
    words on casting."""
    try:
        np.copyto(out, result)
    except TypeError:
        kind = np.asarray(result).dtype
        raise TypeError(f"{owner!r}.{method} returned an array of {kind}, not of real numbers: its result "
                        f"is written into the pass's {out.dtype} array") from None


#: What a model's outputs may be (``Module.outputs``) and a loss may be meant for (``Loss.takes``).
OUTPUT_KINDS = ("logits", "probabilities", "log-probabilities")


def real_number(value: object) -> float | None:
    """``value`` as a float if it is a real number of Python's or NumPy's (a 0-d array of
    one too), else None: what a user's own loss or metric returned, checked."""
    if isinstance(value, numbers.Real) or (isinstance(value, np.ndarray) and value.shape == ()
                                           and value.dtype.kind in "biuf"):
        return as_float(value)
    return None


def as_float(value: Any) -> float:
    """``float(value)``; a Python int beyond float's range, whose ``float`` raises
    ``OverflowError``, as inf of its sign, which no check of a finite setting takes."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def count(value: object, what: str) -> int:
    """``value`` as an int >= 0 (``positive_int``'s checks and messages)."""
    return positive_int(value, what, "an integer >= 0", low=0)


def learning_rate(lr: object, owner: str) -> float:
    """``lr`` as a float that is finite and >= 0 (0 moves nothing, as in PyTorch);
    ``TypeError`` for non-numbers (bools included), ``ValueError`` otherwise, both naming
    ``owner``."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: learning rate must be a real number, got {type(lr).__name__}")
    rate = as_float(lr)
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"{owner}: invalid learning rate {shown(lr)}; it must be finite and >= 0")
    return rate + 0.0  # (-0.0 is 0.0)


def unit_interval(values: NDArray[Any], name: str, owner: str) -> NDArray[Any]:
    """``values`` unchanged if every one lies in [0, 1]; else ``ValueError`` naming
    ``owner``, ``name``, how many do not and the first."""
    return _refuse(values, (values < 0) | (values > 1), "lie in [0, 1]", name, owner)


def non_negative(values: NDArray[Any], name: str, owner: str) -> NDArray[Any]:
    """``values`` unchanged if none is negative; else ``ValueError`` as ``unit_interval``'s."""
    return _refuse(values, values < 0, "be >= 0", name, owner)


def weight_vector(values: ArrayLike, name: str, owner: str, what: str) -> NDArray[Any]:
    """``values`` as a read-only float64 copy, checked: 1-D, not empty, finite, >= 0 (a
    loss's weights: ``what`` says of what, for the error)."""
    array = as_numeric(values, f"{owner}: {name}", np.float64)
    if array.ndim != 1 or not array.size:
        raise ValueError(f"{owner}: {name} must be {what}, got shape {array.shape}")
    array = non_negative(array.copy(), name, owner)
    array.flags.writeable = False
    return array


def _refuse(values: NDArray[Any], outside: NDArray[Any], rule: str, name: str, owner: str) -> NDArray[Any]:
    if outside.any():
        first = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"{owner}: {name} must {rule}; {int(outside.sum())} value(s) do not, "
                         f"the first {float(values[first])!r} at index {first}")
    return values


def one_of(value: object, options: Iterable[object]) -> bool:
    """Whether ``value`` is one of ``options`` (names, or None): a string equal to one, or
    the option itself. Anything else is none of them, where ``value in options`` would
    compare an array elementwise (NumPy's "truth value of an array ... is ambiguous") or
    fail to hash a list or a dict."""
    return any(value is option or (isinstance(value, str) and value == option) for option in options)


def flag(value: object, owner: str, name: str) -> bool:
    """``value``, which must be True or False (NumPy's too), as a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def finite_in(dtype: np.dtype[Any], value: float, owner: str, name: str, *,
              whose: str = "the model's") -> None:
    """``ValueError`` if ``value`` (a setting a block holds as a number of ``whose`` dtype) is
    beyond ``dtype``'s range (1e39 in float32), where NumPy's cast would warn of an overflow
    and give inf."""
    largest = float(np.finfo(dtype).max)
    if abs(value) > largest:
        kind = np.dtype(dtype)
        raise ValueError(f"{owner}: {name}={value!r} is beyond {kind}'s range ({whose} dtype); its size "
                         f"must be at most {largest:.4g} (np.finfo({kind}).max)")


def nonzero_in(dtype: np.dtype[Any], value: float, owner: str, name: str, why: str, *,
               factor: float = 1.0, whose: str = "the model's") -> None:
    """``ValueError`` if the positive ``value`` (an ``eps``), times the ``factor`` it is
    used with, is 0 in ``dtype`` (``whose`` dtype: 1e-50 in float32): ``why`` says what
    would then be divided by 0; or, itself, beyond its range (``finite_in``: a factor is at
    most 1, and Adam's ``sqrt(1 - b2**t)`` tends to 1 as the steps go on)."""
    finite_in(dtype, value, owner, name, whose=whose)
    if np.array(value * factor, dtype) == 0:  # (an array made from a number: its cast reports no underflow)
        used = "" if factor == 1.0 else f" as a step adds it (times {factor:.3g})"
        raise ValueError(f"{owner}: {name}={value!r} is 0 in {dtype} ({whose} dtype){used}: {why}; use "
                         f"{name} >= {np.finfo(dtype).tiny:.3g} (np.finfo({dtype}).tiny)")


def hyperparameter(value: object, owner: str, name: str, *, low: float = 0.0,
                   high: float = math.inf, high_open: bool = False, low_open: bool = False) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high`` (closed unless
    ``*_open``, or infinite); ``TypeError`` for non-numbers, ``ValueError`` outside, naming
    ``owner``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {shown(value)}")
    v = as_float(value)
    ok = (math.isfinite(v) and (v > low if low_open else v >= low)
          and (v < high if high_open else v <= high))
    if not ok:
        # (an infinite end is open: the value is finite)
        opened, closed = low_open or math.isinf(low), not high_open and math.isfinite(high)
        interval = f"{'(' if opened else '['}{low:g}, {high:g}{']' if closed else ')'}"
        raise ValueError(f"{owner}: invalid {name} {shown(value)}; it must lie in {interval}")
    return v


def sample_weights(weights: ArrayLike, n: int, dtype: DTypeLike, name: str = "sample_weight",
                   some: bool = True) -> NDArray[Any]:
    """``weights`` as a 1-D array of ``n`` finite values >= 0 in ``dtype``, whose sum is
    finite in float64, not all 0 unless ``some`` is False (a weighted mean divides by their
    sum: one of inf made every weight 0, and the loss 0)."""
    array = as_numeric(weights, name, dtype)
    if array.shape != (n,):
        raise ValueError(f"{name} must be 1-D with one weight per sample, shape ({n},), "
                         f"got shape {array.shape}")
    if (array < 0).any():
        first = int(np.argmax(array < 0))
        raise ValueError(f"{name} must be >= 0; {int((array < 0).sum())} weight(s) are not, "
                         f"the first {float(array[first])!r} at index {first}")
    with np.errstate(over="ignore"):
        total = np.sum(array, dtype=np.float64)
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to more than a float64 holds (its largest weight is "
                         f"{float(array.max())!r}): only the weights' ratios count; divide them by "
                         "their largest")
    if some and not array.any():
        raise ValueError(f"{name} is all zeros: a weighted mean needs some weight")
    return array
