"""The model file format: one ``.npz`` file, no pickle.

``Sequential.save`` and ``densenet.load`` describe a model and rebuild it;
this file only writes and reads the description, safely. A file holds four
plain arrays:

- ``format``: the string ``"densenet"``;
- ``version``: the format version, an integer (this module writes ``FORMAT_VERSION``);
- ``config``: JSON text with the architecture (each module's type and
  ``config()``), the dtype, the model's random-generator state and the
  densenet version that wrote it;
- ``params``: the flat parameter vector, in the model's dtype;
- any further flat vectors the model saves beside it (an optimiser's state,
  under names starting with ``optimizer.``; the arrays of the ``i``-th of
  ``save``'s ``schedules``, a ``WeightAveraging``'s average or an ``EarlyStopping``'s
  best weights, under ``schedules.i.``).

``write`` writes atomically: to a temporary file in the same folder, flushed and
fsync'ed, then moved over ``path`` with ``os.replace``. A failure part-way
leaves any earlier file at ``path`` intact and no temporary file behind.
``read`` uses ``allow_pickle=False``: a file can hold nothing but numbers and text.

``write_file`` does the writing for any file densenet writes (the ONNX export's
too). In place of a path, ``write`` and ``read`` take a binary file object
(``open(name, "wb")``, an ``io.BytesIO``, a network stream): ``write`` builds the
whole archive in memory and hands it to the object's ``write`` in one call, so a
failure before that writes nothing; the object is left open, at the end of what was
written. ``read`` reads the object to its end (no ``seek`` needed).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from .version import __version__

FORMAT = "densenet"
FORMAT_VERSION = 1

#: Where a model is written or read: a file name, or a binary file object.
File: TypeAlias = "str | os.PathLike[str] | IO[bytes]"


def _stream(file: object, caller: str, method: str, mode: str) -> Any:
    """``file``, checked to be a binary file object with ``method`` (``"write"`` or
    ``"read"``): a ``TypeError`` naming ``caller`` otherwise."""
    if isinstance(file, io.TextIOBase):
        raise TypeError(f"{caller}: the file {describe(file)} is open in text mode; open it with {mode!r}")
    if not callable(getattr(file, method, None)):
        raise TypeError(f"{caller}: expected a file name or a binary file object, got {type(file).__name__}")
    return file


def describe(file: object) -> str:
    """How messages name ``file``: its path, or the file object's name or repr."""
    if isinstance(file, (str, os.PathLike)):
        return repr(os.fspath(file))
    return repr(getattr(file, "name", file))


def write(file: File, config: dict[str, Any], params: NDArray[Any],
          extra: dict[str, NDArray[Any]] | None = None) -> None:
    """Write ``config`` (JSON values), the flat ``params`` and the ``extra`` arrays
    to the ``.npz`` file ``file`` (the name is used as given), or to a binary file
    object, as ``write_file`` does.
    """
    arrays: dict[str, Any] = {  # (not NDArray[Any]: NumPy's stubs would take a key for savez's allow_pickle)
        "format": np.array(FORMAT),
        "version": np.array(FORMAT_VERSION),
        "config": np.array(json.dumps({**config, "densenet_version": __version__})),
        "params": params,
    }
    for name, array in (extra or {}).items():
        if name in arrays:
            raise ValueError(f"save: {name!r} is a reserved entry name")
        arrays[name] = array
    write_file(file, lambda f: np.savez(f, **arrays))


_HELD = ("a file holds numbers, strings, None, lists and dicts of them (string keys), and arrays of "
         "numbers at the top level")


def split_state(state: object, owner: str) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """A callback's ``state_dict()`` as a file holds it: its JSON values (NumPy's numbers
    as Python's, tuples as lists: ``load`` gives back equal values) and, apart, its
    arrays of numbers at the top level. ``TypeError`` naming ``owner`` (the state's
    owner) and the place of what a file could not give back equal."""
    if not isinstance(state, Mapping):
        raise TypeError(f"the state of {owner} is a {type(state).__name__}, not a dict (state_dict() must "
                        "return one)")
    _string_keys(state, owner, "")
    arrays = {name: value for name, value in state.items() if isinstance(value, np.ndarray)}
    for name, array in arrays.items():
        if array.dtype.kind not in "biufc":
            raise TypeError(f"the state of {owner} holds an array of Python objects at [{name!r}]; {_HELD}")
    return {name: _json_value(value, owner, f"[{name!r}]") for name, value in state.items()
            if name not in arrays}, arrays


def _json_value(value: object, owner: str, place: str) -> Any:
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(item, owner, f"{place}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        _string_keys(value, owner, place)
        return {key: _json_value(item, owner, f"{place}[{key!r}]") for key, item in value.items()}
    raise TypeError(f"the state of {owner} holds a value of type {type(value).__name__} at {place}; {_HELD}")


def _string_keys(mapping: Mapping[Any, Any], owner: str, place: str) -> None:
    for key in mapping:
        if not isinstance(key, str):
            raise TypeError(f"the state of {owner} holds the key {key!r} ({type(key).__name__}) at "
                            f"{place or 'the top level'}; a file's keys are strings")


def write_file(file: File, fill: Callable[[IO[bytes]], object], caller: str = "save",
               example: str = "model.npz") -> None:
    """Run ``fill(f)`` to write a file's bytes into ``f``, for ``file``: a name or a
    binary file object (``caller`` names the function in messages, ``example`` is the
    file name they suggest).

    To a name the write is atomic: ``fill`` writes a temporary file in the same folder,
    which is flushed, fsync'ed and moved over ``file``; either the new file is complete
    there, or an exception propagates and whatever was at ``file`` before is untouched.
    A file object gets the whole file in one ``write`` call (continued if it writes only
    part), or nothing: ``fill`` writes into memory first.
    """
    if not isinstance(file, (str, os.PathLike)):
        stream = _stream(file, caller, "write", "wb")
        buffer = io.BytesIO()
        fill(buffer)
        _write_all(stream, buffer.getvalue(), caller)
        return
    path = os.fspath(file)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{caller}: {path!r} is a folder; give a file name (such as "
                                f"{os.path.join(path, example)!r})")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{caller}: cannot write {path!r}: the folder {folder!r} does not exist")
    existed = os.path.exists(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp's 0600 would make the saved file private
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if not isinstance(error, OSError) or error.filename is not None:
            raise
        # a write's own error (a full disk: "[Errno 28] No space left on device") names
        # no file; the same kind and errno, saying which and that nothing was lost
        before = "the file there before is untouched" if existed else "no file was there before"
        named = type(error)(f"{caller}: could not write {path!r}: {error.strerror or error}; {before}")
        named.errno = error.errno
        raise named from error
    _fsync_folder(folder)


def try_writing_in(folder: str, path: str, caller: str) -> None:
    """Make and remove a temporary file in ``folder``, as ``write_file`` does to write
    ``path``: an ``OSError`` of the same kind, naming ``caller``, where it can not (a
    read-only or special file system, no permission), before any work whose result
    would then be lost."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as error:
        raise type(error)(f"{caller}: cannot write files in the folder {folder!r} "
                          f"({error.strerror or error})") from None
    os.close(fd)
    os.unlink(tmp)


def _write_all(stream: Any, data: bytes, caller: str) -> None:
    """``stream.write(data)``, continued where an unbuffered file wrote only part of it (it
    returns the count; buffered files and ``BytesIO`` write all; a writer that returns
    None, not a count, is taken to have written all). A write of nothing is an error,
    not an endless loop."""
    while data:
        written = stream.write(data)
        if not isinstance(written, int):
            return
        if written <= 0:
            raise OSError(f"{caller}: the file object took none of the {len(data)} bytes left to write")
        data = data[written:]


def _file_mode(path: str) -> int:
    """The mode of the file being replaced, else what ``open`` would give a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: str) -> None:
    """Make the rename durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _source(file: File, where: str) -> IO[bytes]:
    """``file`` to read from: the named file, opened, or the bytes a file object
    reads to its end."""
    if isinstance(file, (str, os.PathLike)):
        if not os.path.exists(file):
            raise FileNotFoundError(f"load: no such file: {where}")
        try:
            return open(file, "rb")
        except OSError as error:
            raise ValueError(f"load: {where} is not a readable densenet .npz file: {error}") from None
    contents = _stream(file, "load", "read", "rb").read()
    if not isinstance(contents, (bytes, bytearray, memoryview)):
        raise TypeError(f"load: {where}.read() gave {type(contents).__name__}, not bytes; open the "
                        f"file with 'rb'")
    at = 0 if contents else _position(file)
    if at:  # (no bytes, from a file object saved to and not rewound: say so)
        raise ValueError(f"load: {where} is not a readable densenet .npz file: it gave no bytes, read "
                         f"from where it stands (byte {at}); after writing to it, seek(0) first")
    return io.BytesIO(contents)


def _position(file: object) -> int:
    """Where a file object stands (``tell()``), or 0 where it cannot say (a pipe, a stream)."""
    try:
        return int(file.tell())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, TypeError):  # (no tell; unseekable; closed; not a number)
        return 0


def _check_archive(f: IO[bytes], where: str) -> None:
    """Raise unless ``f`` begins as a zip archive (an .npz file) does; ``f`` is left at
    its start. (NumPy reads any file that is neither an archive nor an array as a pickle,
    and its error then advises loading it unsafely, which a model file never needs.)"""
    head = f.read(8)
    f.seek(0)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # (an archive's first entry, or its end)
        return
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"load: {where} is not a readable densenet .npz file: it holds a single array "
                         "(an .npy file), not an .npz archive")
    begins = f"its first bytes are {head!r}" if head else "it is empty"
    raise ValueError(f"load: {where} is not a readable densenet .npz file: not a zip archive ({begins})")


#: What reading a corrupted archive raises (RuntimeError: an entry flagged encrypted, or of a
#: compression method zipfile lacks; zlib.error: deflated data that is not)
_UNREADABLE = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, RuntimeError, zlib.error)

#: A zip archive's end of central directory record: signature, disk numbers, entries on
#: this disk and in all, the directory's size and offset, the comment's length.
_END_RECORD = struct.Struct("<4s4H2IH")


def _check_directory(archive: zipfile.ZipFile, f: IO[bytes]) -> None:
    """``ValueError`` unless ``archive`` (read from ``f``) lists every entry its end record
    counts, none with a comment (``write`` writes none): a comment length corrupted makes
    the entries after it that entry's comment, and zipfile reads the archive without them."""
    entries = archive.infolist()
    for entry in entries:
        if entry.comment:
            raise ValueError(f"entry {entry.filename!r} has a comment of {len(entry.comment)} bytes "
                             "(densenet writes none): its directory is corrupted")
    f.seek(-_END_RECORD.size, os.SEEK_END)  # (the end record's place, with nothing after it)
    fields = _END_RECORD.unpack(f.read(_END_RECORD.size))
    counted = fields[4]
    if archive.comment or fields[0] != b"PK\x05\x06":
        raise ValueError("the archive has a comment or other bytes after its end record (densenet writes "
                         "none)")
    if counted not in (len(entries), 0xFFFF):  # (0xFFFF: counted in a ZIP64 record instead)
        raise ValueError(f"its end record counts {counted} entries, its directory lists {len(entries)}")


def _array(name: str, value: Any) -> NDArray[Any]:
    """``value``, NumPy's reading of entry ``name``, if it is an array: NumPy gives an entry
    without an array's header as its raw bytes."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"entry {name!r} is not an array ({len(value)} bytes)")
    return value


def read(file: File) -> tuple[dict[str, Any], NDArray[Any], dict[str, NDArray[Any]]]:
    """The ``config``, ``params`` and ``extra`` arrays that ``write`` wrote to ``file``
    (a file name, or a binary file object, read to its end).

    Raises:
        FileNotFoundError: no file at ``file``.
        TypeError: ``file`` is neither a name nor a binary file object.
        ValueError: the file is truncated or corrupted (a checksum; an entry that is no
            array; a directory that lists other entries than its end record counts, or holds
            comments, which ``write`` never writes), is not a densenet model file, has
            another format version, or its entries are malformed.
    """
    where = describe(file)
    with _source(file, where) as f:
        _check_archive(f, where)
        try:
            data = np.load(f, allow_pickle=False)
            with data:
                _check_directory(data.zip, f)
                arrays = {key: _array(key, data[key]) for key in data.files}
        except _UNREADABLE as error:
            raise ValueError(
                f"load: {where} is not a readable densenet .npz file (truncated, corrupted "
                f"or holding pickled objects): {error}"
            ) from None
    if arrays.get("format", np.array("")).tolist() != FORMAT:
        raise ValueError(f"load: {where} is not a densenet model file (no 'format' entry 'densenet')")
    try:
        version = int(arrays["version"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"load: {where} has no valid format version") from None
    if version != FORMAT_VERSION:
        raise ValueError(
            f"load: {where} has format version {version}; this densenet ({__version__}) "
            f"reads version {FORMAT_VERSION}"
        )
    try:
        config = json.loads(str(arrays["config"]))
        params = arrays["params"]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"load: {where} has an invalid model description: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"load: {where} has an invalid model description: not a JSON object")
    extra = {name: array for name, array in arrays.items()
             if name not in ("format", "version", "config", "params")}
    return config, params, extra
