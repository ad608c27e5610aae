"""load_mnist and read_idx, on small IDX files the tests write."""

from __future__ import annotations

import gzip
import hashlib
import os

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densenet import datasets


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def small_mnist(rng, n_train=60, n_test=10):
    return datasets.MNIST(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                          rng.integers(0, 10, n_train, dtype=np.uint8),
                          rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                          rng.integers(0, 10, n_test, dtype=np.uint8))


def write_mnist(folder, data, gzipped=(False, True, True, False)):
    """The four files, some gzipped (both kinds are read)."""
    for (role, (name, _, _)), zipped in zip(datasets.FILES.items(), gzipped):
        raw = idx_bytes(getattr(data, role))
        if zipped:
            with gzip.open(os.path.join(folder, name + ".gz"), "wb") as f:
                f.write(raw)
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(raw)


def test_reads_the_four_files_plain_or_gzipped(tmp_path):
    data = small_mnist(np.random.default_rng(0))
    write_mnist(tmp_path, data)
    loaded = datasets.load_mnist(tmp_path)
    for role in datasets.FILES:
        assert getattr(loaded, role).dtype == np.uint8
        assert_array_equal(getattr(loaded, role), getattr(data, role))


def test_missing_files_are_listed_with_where_to_put_them(tmp_path):
    wanted = (r"lacks train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz, t10k-images-idx3-ubyte\.gz, "
              r"t10k-labels-idx1-ubyte\.gz .*put them there .* or pass download=True")
    with pytest.raises(FileNotFoundError, match=wanted):
        datasets.load_mnist(tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-5],
     r"truncated: the header gives shape \(60, 28, 28\) \(47040 bytes of data\), the file holds 47035"),
    (lambda raw: raw + b"xx", "longer than its header says"),
    (lambda raw: bytes([0, 0, 0x08, 1]) + raw[4:], "magic number 2049, expected 2051"),
    (lambda raw: b"PK\x03\x04" + raw[4:], r"not an IDX file of unsigned bytes \(its first bytes: 504b0304\)"),
    (lambda raw: b"\x01" + raw[1:], r"not an IDX file of unsigned bytes \(its first bytes: 01000803\)"),
    (lambda raw: b"", r"not an IDX file of unsigned bytes \(its first bytes: none\)"),
    (lambda raw: raw[:6], "truncated header"),
    (lambda raw: raw[:4], r"truncated header \(4 bytes\)"),
])
def test_damaged_files_are_named(tmp_path, damage, message):
    data = small_mnist(np.random.default_rng(1))
    write_mnist(tmp_path, data, gzipped=(False,) * 4)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte: .*{message}"):
        datasets.load_mnist(tmp_path)


def test_a_corrupt_gzip_stream_is_named(tmp_path):
    write_mnist(tmp_path, small_mnist(np.random.default_rng(2)))
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2:] = b"\x00" * (len(raw) - len(raw) // 2)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: not a readable gzip file"):
        datasets.load_mnist(tmp_path)


def test_any_byte_of_a_gzip_file_changed_is_named_or_read_as_written(tmp_path):
    """Every byte of a small gzipped file flipped in turn: read as written (the bytes gzip
    reads past: its time, its flags' extras), or a ``ValueError`` naming the file; a bad
    deflate stream gave zlib's own ``error``, naming no file."""
    array = np.arange(240, dtype=np.uint8).reshape(2, 3, 40)
    raw = gzip.compress(idx_bytes(array), mtime=0)
    path = tmp_path / "images.gz"
    outcomes = set()
    for i in range(len(raw)):
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:])
        try:
            read = datasets.read_idx(path)
        except ValueError as error:
            assert str(error).startswith(f"{path}: ")
            outcomes.add("named")
        else:
            assert_array_equal(read, array)
            outcomes.add("read")
    assert outcomes == {"named", "read"}


def test_a_header_whose_size_no_int64_holds_is_truncated(tmp_path):
    """(2**31, 2**31, 4) is 2**64 bytes, which NumPy's int64 product wrapped to 0: a file of
    the header alone then reached a reshape, whose error named no file."""
    path = tmp_path / "images"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (2**31, 2**31, 4)))
    with pytest.raises(ValueError, match=r"images: truncated: the header gives shape \(2147483648, "
                                         r"2147483648, 4\) \(18446744073709551616 bytes of data\), the file "
                                         r"holds 0$"):
        datasets.read_idx(path)


def test_read_idx_checks_what_it_is_asked_to(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)))
    assert_array_equal(datasets.read_idx(path), np.arange(24).reshape(2, 3, 4))
    with pytest.raises(ValueError, match="images: 3 dimensions, expected 1"):
        datasets.read_idx(path, ndim=1)
    with pytest.raises(ValueError, match="images: magic number 2051, expected 2049"):
        datasets.read_idx(path, magic=2049)


def test_a_file_of_no_samples_reads_as_an_empty_array(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((0, 28, 28), np.uint8)))  # the header alone
    assert datasets.read_idx(path, 2051, 3).shape == (0, 28, 28)


def test_each_dimension_is_read_as_all_four_of_its_bytes(tmp_path):
    """A header giving (1, 2**24, 1) and no data is truncated: the middle dimension's top
    byte counts (read as three bytes, it would be 0 and the file an empty array)."""
    path = tmp_path / "images"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (1, 2 ** 24, 1)))
    with pytest.raises(ValueError, match=r"truncated: the header gives shape \(1, 16777216, 1\)"):
        datasets.read_idx(path)


@pytest.mark.parametrize("label", [10, 255])
def test_labels_are_digits(tmp_path, label):
    data = small_mnist(np.random.default_rng(5))
    data.train_labels[7] = label
    write_mnist(tmp_path, data)
    with pytest.raises(ValueError, match=f"a train label is {label}; digits are 0-9"):
        datasets.load_mnist(tmp_path)


def test_images_and_labels_must_match(tmp_path):
    data = small_mnist(np.random.default_rng(3))
    write_mnist(tmp_path, data._replace(test_labels=data.test_labels[:-1]))
    with pytest.raises(ValueError, match="10 test images but 9 labels"):
        datasets.load_mnist(tmp_path)


def test_download_fetches_checks_and_keeps_the_files(tmp_path, monkeypatch):
    """A local folder as the mirror (file:// URLs): the download path, without a network."""
    mirror, target = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    data = small_mnist(np.random.default_rng(4))
    write_mnist(mirror, data, gzipped=(True,) * 4)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    monkeypatch.setattr(datasets, "SHA256", sums)
    monkeypatch.setattr(datasets, "MIRRORS", ("file:///nonexistent/mirror/", mirror.as_uri() + "/"))
    loaded = datasets.load_mnist(target, download=True)
    assert_array_equal(loaded.train_images, data.train_images)
    assert sorted(os.listdir(target)) == sorted(sums)  # and no temporary files

    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(datasets, "SHA256", {**sums, "t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(OSError, match=r"could not download t10k-labels-idx1-ubyte\.gz: file:///nonexistent/"
                                      r"mirror/: .*; file://.*: SHA-256 [0-9a-f]{64}, expected 0000"):
        datasets.load_mnist(target, download=True)
    assert "t10k-labels-idx1-ubyte.gz" not in os.listdir(target)


def test_download_is_true_or_false(tmp_path):
    """(A string such as "no" is true: it would download.)"""
    with pytest.raises(TypeError, match="load_mnist: download must be True or False, got 'no'"):
        datasets.load_mnist(tmp_path, download="no")
