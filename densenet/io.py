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
  under names starting with ``optimizer.``).

``write`` writes atomically: to a temporary file in the same folder, flushed and
fsync'ed, then moved over ``path`` with ``os.replace``. A failure part-way
leaves any earlier file at ``path`` intact and no temporary file behind.
``read`` uses ``allow_pickle=False``: a file can hold nothing but numbers and text.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import zipfile
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import __version__

FORMAT = "densenet"
FORMAT_VERSION = 1


def write(path: str | os.PathLike[str], config: dict[str, Any], params: NDArray[Any],
          extra: dict[str, NDArray[Any]] | None = None) -> None:
    """Write ``config`` (JSON values), the flat ``params`` and the ``extra`` arrays
    to the ``.npz`` file ``path`` (the name is used as given).

    The write is atomic: either the new file is complete at ``path``, or an
    exception propagates and whatever was at ``path`` before is untouched.
    """
    path = os.fspath(path)
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
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: {os.fspath(path)!r} is a folder; give a file name (such as "
                                f"{os.path.join(path, 'model.npz')!r})")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: cannot write {path!r}: the folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp's 0600 would make the saved file private
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


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


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], NDArray[Any], dict[str, NDArray[Any]]]:
    """The ``config``, ``params`` and ``extra`` arrays that ``write`` wrote to ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated or corrupted, is not a densenet model
            file, has another format version, or its entries are malformed.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    try:
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive")
            with data:
                arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"load: {path!r} is not a readable densenet .npz file (truncated, corrupted "
            f"or holding pickled objects): {error}"
        ) from None
    if arrays.get("format", np.array("")).tolist() != FORMAT:
        raise ValueError(f"load: {path!r} is not a densenet model file (no 'format' entry 'densenet')")
    try:
        version = int(arrays["version"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"load: {path!r} has no valid format version") from None
    if version != FORMAT_VERSION:
        raise ValueError(
            f"load: {path!r} has format version {version}; this densenet ({__version__}) "
            f"reads version {FORMAT_VERSION}"
        )
    try:
        config = json.loads(str(arrays["config"]))
        params = arrays["params"]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"load: {path!r} has an invalid model description: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"load: {path!r} has an invalid model description: not a JSON object")
    extra = {name: array for name, array in arrays.items()
             if name not in ("format", "version", "config", "params")}
    return config, params, extra
