"""Data sets: MNIST from its four standard IDX files.

MNIST is 60,000 training and 10,000 test images of handwritten digits, 28 x 28
pixels of 0-255, in the IDX format: a 4-byte magic number (two zero bytes, a
type code, 0x08 for unsigned bytes, and the number of dimensions), each
dimension as a big-endian 32-bit integer, then the data. ``load_mnist`` reads
the files plain or gzipped, checks every header against the data, and can fetch
them from a public mirror, checking each against its SHA-256.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import tempfile
import urllib.request
import zlib
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._validation import flag

#: The four files, by role: (file name without ``.gz``, magic number, dimensions).
FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051, 3),
    "train_labels": ("train-labels-idx1-ubyte", 2049, 1),
    "test_images": ("t10k-images-idx3-ubyte", 2051, 3),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049, 1),
}

#: SHA-256 of the gzipped files as every public mirror serves them.
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Where ``download=True`` fetches them from, tried in order.
MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
           "https://ossci-datasets.s3.amazonaws.com/mnist/")


class MNIST(NamedTuple):
    """The four arrays, uint8: images ``(N, 28, 28)``, labels ``(N,)``."""

    train_images: NDArray[Any]
    train_labels: NDArray[Any]
    test_images: NDArray[Any]
    test_labels: NDArray[Any]


def read_idx(path: str | os.PathLike[str], magic: int | None = None, ndim: int | None = None) -> NDArray[Any]:
    """The unsigned-byte array in the IDX file ``path`` (gzipped if it ends in ``.gz``).

    Raises ``ValueError`` naming the file for a wrong magic number (or one other
    than ``magic``), another number of dimensions than ``ndim``, a truncated file,
    trailing bytes or a corrupt gzip stream.
    """
    path = os.fspath(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError; zlib's, a bad stream
        if isinstance(error, FileNotFoundError):
            raise
        kind = "gzip file" if path.endswith(".gz") else "file"
        raise ValueError(f"{path}: not a readable {kind}: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        first = data[:4].hex() or "none"
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (its first bytes: {first})")
    found_magic, dims = int.from_bytes(data[:4], "big"), data[3]
    if magic is not None and found_magic != magic:
        raise ValueError(f"{path}: magic number {found_magic}, expected {magic} for this file")
    if ndim is not None and dims != ndim:
        raise ValueError(f"{path}: {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    size = math.prod(shape)  # (exact: NumPy's int64 product wrapped, (2**31, 2**31, 4) to 0)
    if len(data) - header != size:
        state = "truncated" if len(data) - header < size else "longer than its header says"
        raise ValueError(f"{path}: {state}: the header gives shape {shape} ({size} bytes of data), "
                         f"the file holds {len(data) - header}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def load_mnist(directory: str | os.PathLike[str], download: bool = False) -> MNIST:
    """MNIST from ``directory``, which holds the four standard files, each plain or
    ``.gz``: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``.

    Args:
        directory: the folder of the files.
        download: fetch missing files (gzipped) from ``MIRRORS`` into ``directory``,
            each checked against ``SHA256`` before it is kept.

    Raises:
        FileNotFoundError: files are missing (and not downloaded): it lists them.
        ValueError: a file is corrupt, truncated or of the wrong kind, or images
            and labels do not match.
    """
    directory = os.fspath(directory)
    download = flag(download, "load_mnist", "download")
    paths: dict[str, str] = {}
    missing: list[str] = []
    for role, (name, _, _) in FILES.items():
        found = next((os.path.join(directory, n) for n in (name, name + ".gz")
                      if os.path.exists(os.path.join(directory, n))), None)
        if found is None and download:
            found = _download(name + ".gz", directory)
        if found is None:
            missing.append(name + ".gz")
        else:
            paths[role] = found
    if missing:
        raise FileNotFoundError(
            f"load_mnist: {os.path.abspath(directory)} lacks {', '.join(missing)} (plain or .gz); put "
            f"them there (from {MIRRORS[0]}) or pass download=True")
    arrays = {role: read_idx(paths[role], magic, ndim) for role, (_, magic, ndim) in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise ValueError(f"load_mnist: {len(images)} {split} images but {len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise ValueError(f"load_mnist: a {split} label is {labels.max()}; digits are 0-9")
    return MNIST(**arrays)


def _download(filename: str, directory: str) -> str:
    """Fetch ``filename`` from the first mirror that serves it with the right SHA-256;
    written atomically into ``directory``. Raises ``OSError`` when none does."""
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, filename)
    failures = []
    for mirror in MIRRORS:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".tmp")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as f, urllib.request.urlopen(mirror + filename, timeout=60) as response:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    f.write(chunk)
            if digest.hexdigest() != SHA256[filename]:
                failures.append(f"{mirror}: SHA-256 {digest.hexdigest()}, expected {SHA256[filename]}")
                continue
            os.replace(tmp, target)
            return target
        except OSError as error:
            failures.append(f"{mirror}: {error}")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    raise OSError(f"load_mnist: could not download {filename}: " + "; ".join(failures))
