"""Saving and loading models: one ``.npz`` file, no pickle.

A file holds four plain arrays:

- ``format``: the string ``"densenet"``;
- ``version``: the format version, an integer (this module writes ``FORMAT_VERSION``);
- ``config``: JSON text with the architecture (each module's type and
  arguments), the dtype and the model's random-generator state;
- ``params``: the flat parameter vector, in the model's dtype.

``save`` writes atomically: to a temporary file in the same folder, flushed and
fsync'ed, then moved over ``path`` with ``os.replace``. A failure part-way
leaves any earlier file at ``path`` intact and no temporary file behind.
``load`` reads with ``allow_pickle=False`` and rebuilds a model whose
predictions are bit-identical to the saved one's.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .layers import Dense, Module, Sigmoid

if TYPE_CHECKING:
    from .model import Sequential

FORMAT = "densenet"
FORMAT_VERSION = 1
MODULES: dict[str, type[Module]] = {"Dense": Dense, "Sigmoid": Sigmoid}


def _module_config(module: Module) -> dict[str, Any]:
    name = type(module).__name__
    if MODULES.get(name) is not type(module):
        raise TypeError(f"save: cannot save module {module!r}: {name} is not a densenet module type")
    if isinstance(module, Dense):
        return {"type": name, "in_features": module.in_features,
                "out_features": module.out_features, "init": module.init}
    return {"type": name}


def _rng_state(rng: np.random.Generator) -> dict[str, Any] | None:
    """The generator's state when it is JSON text (PCG64, NumPy's default), else None."""
    state = rng.bit_generator.state
    return state if state.get("bit_generator") == "PCG64" else None


def save(model: Sequential, path: str | os.PathLike) -> None:
    """Write ``model`` to the ``.npz`` file ``path`` (the name is used as given).

    The write is atomic: either the new file is complete at ``path``, or an
    exception propagates and whatever was at ``path`` before is untouched.
    """
    path = os.fspath(path)
    config = {
        "modules": [_module_config(m) for m in model],
        "dtype": model.dtype.name,
        "rng_state": _rng_state(model._rng),
        "densenet_version": __version__,
    }
    arrays = {
        "format": np.array(FORMAT),
        "version": np.array(FORMAT_VERSION),
        "config": np.array(json.dumps(config)),
        "params": model.params,
    }
    folder = os.path.dirname(os.path.abspath(path))
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


def load(path: str | os.PathLike) -> Sequential:
    """Rebuild the model saved at ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated or corrupted, is not a densenet model
            file, has another format version, or describes an invalid model.
    """
    from .model import Sequential

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
        modules = [_build_module(spec) for spec in config["modules"]]
        dtype = np.dtype(config["dtype"])
        params = arrays["params"]
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"load: {path!r} has an invalid model description: {error}") from None
    if params.dtype != dtype or params.ndim != 1:
        raise ValueError(
            f"load: {path!r} stores params as {params.dtype} {params.shape}, "
            f"expected a 1-D {dtype} vector"
        )
    try:
        model = Sequential(*modules, dtype=dtype, seed=0)
    except (TypeError, ValueError) as error:
        raise ValueError(f"load: {path!r} describes an invalid model: {error}") from None
    if params.size != model.params.size:
        raise ValueError(
            f"load: {path!r} stores {params.size} parameters, but its architecture has "
            f"{model.params.size}"
        )
    model.params[...] = params
    state = config.get("rng_state")
    if state is not None:
        try:
            model._rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"load: {path!r} has an invalid random-generator state") from None
    return model


def clone(model: Sequential, dtype: np.dtype | type | None = None) -> Sequential:
    """A new model with ``model``'s architecture and parameters (cast to ``dtype``)."""
    from .model import Sequential

    modules = [_build_module(_module_config(m)) for m in model]
    twin = Sequential(*modules, dtype=model.dtype if dtype is None else dtype, seed=0)
    twin.params[...] = model.params
    return twin


def _build_module(spec: dict[str, Any]) -> Module:
    kind = MODULES.get(spec["type"])
    if kind is None:
        raise ValueError(f"unknown module type {spec['type']!r}")
    args = {key: value for key, value in spec.items() if key != "type"}
    if kind is Dense:
        return Dense(args.pop("in_features"), args.pop("out_features"), **args)
    return kind(**args)
