"""save and load."""

from __future__ import annotations

import errno
import io
import json
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import densenet as dn

from .conftest import mlp, rewrite_saved, saved_config


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_exact(tmp_path, dtype):
    model = mlp((3, 7, 5, 2), dtype=dtype, seed=4)
    X = np.random.default_rng(0).standard_normal((10, 3))
    model.fit(X, np.ones((10, 2)), epochs=2, batch_size=3)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = dn.load(path)
    assert loaded.dtype == dtype
    assert loaded.params.dtype == dtype
    assert_array_equal(loaded.params, model.params)
    assert_array_equal(loaded.predict(X), model.predict(X))
    assert repr(loaded) == repr(model)
    assert [m.init for m in loaded if isinstance(m, dn.Dense)] == ["glorot_uniform"] * 3


def test_loaded_model_continues_training_like_the_original(tmp_path):
    X = np.random.default_rng(0).standard_normal((12, 3))
    y = np.random.default_rng(1).uniform(size=(12, 1))
    model = mlp((3, 4, 1), seed=2)
    model.fit(X, y, epochs=1, batch_size=4)
    model.save(tmp_path / "m.npz")
    loaded = dn.load(tmp_path / "m.npz")
    model.fit(X, y, epochs=2, batch_size=4)
    loaded.fit(X, y, epochs=2, batch_size=4)
    assert_array_equal(loaded.params, model.params)


def test_save_uses_the_path_as_given_and_str_paths_work(tmp_path):
    model = mlp((2, 2, 1))
    model.save(str(tmp_path / "weights"))
    assert os.listdir(tmp_path) == ["weights"]
    assert_array_equal(dn.load(str(tmp_path / "weights")).params, model.params)


def test_file_holds_plain_arrays_only(tmp_path):
    mlp((2, 2, 1)).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["config", "format", "params", "version"]
        config = json.loads(str(data["config"]))
    assert [m["type"] for m in config["modules"]] == ["Dense", "Sigmoid", "Dense", "Sigmoid"]


class Boom(Exception):
    pass


def test_failed_save_keeps_the_earlier_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = mlp((2, 3, 1), seed=1)
    old.save(path)
    before = path.read_bytes()

    real_savez = np.savez

    def failing_savez(file, **arrays):
        file.write(b"partial garbage")
        raise Boom("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(Boom):
        mlp((2, 3, 1), seed=2).save(path)
    monkeypatch.setattr(np, "savez", real_savez)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    assert_array_equal(dn.load(path).params, old.params)


def test_failed_fsync_keeps_the_earlier_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    mlp((2, 3, 1), seed=1).save(path)
    before = path.read_bytes()

    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        mlp((2, 3, 1), seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def full_disk(monkeypatch):
    """Make every densenet file write fail as a full disk fails it (``np.savez`` writing part
    of its bytes, then ``ENOSPC``), as ``OSError`` gives it: no file name."""
    def failing_savez(file, **arrays):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", failing_savez)


def test_a_full_disk_is_named_with_the_file_and_keeps_the_earlier_file(tmp_path, monkeypatch):
    """The bare "[Errno 28] No space left on device" named no file: in a fit writing
    checkpoints, which one, or whether the last good one was hurt, was left to guess."""
    path = tmp_path / "model.npz"
    old = mlp((2, 3, 1), seed=1)
    old.save(path)
    before = path.read_bytes()
    full_disk(monkeypatch)
    name = re.escape(repr(str(path)))
    with pytest.raises(OSError, match=rf"^save: could not write {name}: No space left on device; the file "
                                      r"there before is untouched$") as caught:
        mlp((2, 3, 1), seed=2).save(path)
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_checkpoint_on_a_full_disk_names_its_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    model, X = mlp((2, 3, 1), seed=1), rng.standard_normal((8, 2))
    y = X.sum(axis=1, keepdims=True)
    checkpoint = dn.ModelCheckpoint(tmp_path / "run-{epoch}.npz")
    full_disk(monkeypatch)
    name = repr(str(tmp_path / "run-1.npz"))
    with pytest.raises(OSError, match=rf"^save: could not write {re.escape(name)}: No space left on device; "
                                      r"no file was there before$") as caught:
        model.fit(X, y, epochs=2, callbacks=[checkpoint])
    assert caught.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        dn.load(tmp_path / "nothing.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    mlp((2, 3, 1)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable densenet .npz file"):
        dn.load(path)


@pytest.mark.parametrize("contents, begins", [(b"not a model file", "its first bytes are b'not a mo'"),
                                               (b"hello", "its first bytes are b'hello'"),
                                               (b"", "it is empty")])
def test_not_a_zip_file(tmp_path, contents, begins):
    """Named as what it is: NumPy would read any file that is neither an archive nor an
    array as a pickle, and its error advises loading it unsafely (``allow_pickle``,
    ``pickle.load``), which a model file never needs."""
    path = tmp_path / "m.npz"
    path.write_bytes(contents)
    with pytest.raises(ValueError, match=f"densenet .npz file: not a zip archive \\({begins}\\)$"):
        dn.load(path)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a densenet model file"):
        dn.load(path)


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, format=np.array("densenet"), version=np.array(1),
             config=np.array([{"modules": []}], dtype=object), params=np.ones(3))
    with pytest.raises(ValueError, match="pickled objects"):
        dn.load(path)


def _write(path, *, version=1, config=None, params=None, fmt="densenet"):
    config = config if config is not None else {
        "modules": [{"type": "Dense", "in_features": 2, "out_features": 1, "init": "glorot_uniform"}],
        "dtype": "float64",
    }
    params = params if params is not None else np.ones(3)
    with open(path, "wb") as f:
        np.savez(f, format=np.array(fmt), version=np.array(version),
                 config=np.array(json.dumps(config)), params=params)


def test_hand_written_file_loads(tmp_path):
    _write(tmp_path / "ok.npz")
    assert_array_equal(dn.load(tmp_path / "ok.npz").params, np.ones(3))


def test_wrong_format_version(tmp_path):
    _write(tmp_path / "v2.npz", version=2)
    with pytest.raises(ValueError, match="format version 2"):
        dn.load(tmp_path / "v2.npz")


@pytest.mark.parametrize("config, params, message", [
    ({"modules": [{"type": "Conv2d"}], "dtype": "float64"}, None, "unknown module type 'Conv2d'"),
    ({"modules": [{"type": "Dense", "in_features": 2, "out_features": 3},
                  {"type": "Dense", "in_features": 4, "out_features": 1}], "dtype": "float64"},
     np.ones(14), "expects 4 input features"),
    ({"dtype": "float64"}, None, "invalid model description"),
    ({"modules": [["Dense", 2, 1]], "dtype": "float64"}, None,
     r"invalid model description: a module description must be a dict with a 'type' name, got \['Dense'"),
    ({"modules": [{"in_features": 2, "out_features": 1}], "dtype": "float64"}, None,
     "a module description must be a dict with a 'type' name"),
    ({"modules": [{"type": "Dense", "in_features": 2, "out_features": 1}], "dtype": "float64"},
     np.ones(4), "stores 4 parameters, but its architecture has 3"),
    ({"modules": [{"type": "Dense", "in_features": 2, "out_features": 1}], "dtype": "float32"},
     np.ones(3), "expected a 1-D float32 vector"),
    ({"modules": [{"type": "Dense", "in_features": 2, "out_features": 1}], "dtype": "int8"},
     np.ones(3, np.int8), "float32 or float64"),
    ({"modules": [{"type": "Dense", "in_features": 0, "out_features": 1}], "dtype": "float64"},
     np.ones(3), "positive integer"),
])
def test_invalid_descriptions(tmp_path, config, params, message):
    _write(tmp_path / "bad.npz", config=config, params=params)
    with pytest.raises(ValueError, match=message):
        dn.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("entries, message", [
    ({"version": np.array("one")}, "has no valid format version"),
    ({"version": None}, "has no valid format version"),
    ({"config": np.array("{'modules': [")}, "has an invalid model description: Expecting property name"),
    ({"config": np.array("[1, 2]")}, "has an invalid model description: not a JSON object"),
    ({"params": None}, "has an invalid model description: 'params'"),
])
def test_malformed_entries_are_named(tmp_path, entries, message):
    path = tmp_path / "m.npz"
    mlp((2, 3, 1)).save(path)
    rewrite_saved(path, **entries)
    with pytest.raises(ValueError, match=message):
        dn.load(path)


@pytest.mark.parametrize("state", [{"bit_generator": "PCG64", "state": "none"}, {"bit_generator": "MT19937"},
                                   ["PCG64"], {"state": {"state": 1, "inc": -1}}, {"uinteger": 2 ** 70},
                                   {"uinteger": -1}, {"has_uint32": 1e308}, {"state": {"state": -1e308}}])
def test_an_invalid_random_generator_state_is_named(tmp_path, state):
    """A whole state of another kind, or one number of it out of its C type's range (NumPy
    raises ``OverflowError`` for those)."""
    path = tmp_path / "m.npz"
    mlp((2, 3, 1)).save(path)
    config = saved_config(path)
    assert config["rng_state"]["bit_generator"] == "PCG64"
    if isinstance(state, dict) and "bit_generator" not in state:  # one number changed
        saved = config["rng_state"]
        state = {**saved, **state, "state": {**saved["state"], **state.get("state", {})}}
    config["rng_state"] = state
    rewrite_saved(path, config=config)
    with pytest.raises(ValueError, match=r"m\.npz' has an invalid random-generator state$"):
        dn.load(path)


def test_a_folder_s_path_is_no_model_file(tmp_path):
    with pytest.raises(ValueError, match=r"is not a readable densenet \.npz file: .*[Ii]s a directory"):
        dn.load(tmp_path)


def test_corrupted_member(tmp_path):
    path = tmp_path / "m.npz"
    mlp((2, 3, 1)).save(path)
    data = bytearray(path.read_bytes())
    start = data.find(b"NUMPY", data.find(b"params.npy"))
    data[start + 20: start + 40] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"not a readable densenet \.npz file .*Bad CRC-32 for "
                                         r"file 'params\.npy'"):
        dn.load(path)


def central_entry(data, name):
    """Where the zip archive ``data``'s central directory entry for ``name`` begins."""
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + length] == name.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no entry {name}")


def saved_with_adam(path):
    model, adam = mlp((2, 3, 1)), dn.Adam(0.01)
    model.fit(np.ones((4, 2)), np.ones((4, 1)), optimizer=adam, epochs=2, batch_size=2)
    model.save(path, optimizer=adam)
    return bytearray(path.read_bytes())


def test_entries_hidden_by_a_corrupted_comment_length_are_refused_not_left_out(tmp_path):
    """A directory entry's comment length gone from 0 to 118 makes the entries after it its
    comment: zipfile and NumPy then read an archive without them (here Adam's second moments,
    which the optimiser would take as a fresh start). densenet writes no comments, and the
    end record counts the entries: refused, the optimiser as it was."""
    path = tmp_path / "m.npz"
    data = saved_with_adam(path)
    names = np.load(path).files
    assert names[-1] == "optimizer.exp_avg_sq"  # (the entry hidden)
    at = central_entry(data, names[-2] + ".npy")
    data[at + 32:at + 34] = (118).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    assert "optimizer.exp_avg_sq" not in np.load(path).files  # what a reader without the check sees
    resumed = dn.Adam(0.01)
    with pytest.raises(ValueError, match=r"not a readable densenet \.npz file .*corrupted.*: entry "
                                         r"'optimizer\.exp_avg\.npy' has a comment"):
        dn.load(path, optimizer=resumed)
    assert resumed.state_dict() == {"steps": 0}


def test_an_archive_whose_end_record_counts_more_entries_than_it_lists_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    data = saved_with_adam(path)
    end = data.rfind(b"PK\x05\x06")
    count = int.from_bytes(data[end + 10:end + 12], "little")
    data[end + 8:end + 12] = (count + 1).to_bytes(2, "little") * 2
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"corrupted.*: its end record counts {count + 1} entries, its "
                                         rf"directory lists {count}"):
        dn.load(path)


def test_an_end_record_that_leaves_its_count_to_a_zip64_record_is_taken(tmp_path):
    """0xFFFF entries: the count is in a ZIP64 record (archives of 65,535 entries or more),
    which zipfile reads; the directory is not held against it."""
    path = tmp_path / "m.npz"
    data = saved_with_adam(path)
    model = dn.load(path)
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = b"\xff\xff" * 2
    path.write_bytes(bytes(data))
    assert_array_equal(dn.load(path).params, model.params)


def test_an_archive_with_a_comment_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "m.npz"
    saved_with_adam(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"written elsewhere"
    with pytest.raises(ValueError, match=r"corrupted.*: the archive has a comment or other bytes after its "
                                         r"end record \(densenet writes none\)"):
        dn.load(path)


def test_bytes_after_the_archive_are_refused(tmp_path):
    """zipfile finds an end record with bytes after it by searching back for it; a file
    densenet wrote ends at its end record."""
    path = tmp_path / "m.npz"
    path.write_bytes(bytes(saved_with_adam(path)) + b"\x00" * 7)
    with pytest.raises(ValueError, match=r"corrupted.*: the archive has a comment or other bytes after"):
        dn.load(path)


def test_an_entry_emptied_in_the_directory_is_no_array(tmp_path):
    """Its sizes and checksum zeroed: an empty entry passes the checksum, and NumPy gives an
    entry without an array's header as raw bytes."""
    path = tmp_path / "m.npz"
    data = saved_with_adam(path)
    at = central_entry(data, "params.npy")
    data[at + 16:at + 28] = bytes(12)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupted.*: entry 'params' is not an array \(0 bytes\)"):
        dn.load(path)


@pytest.mark.parametrize("field, value, message", [
    (10, 99, "compression method is not supported"),  # the compression method
    (8, 1, "encrypted"),  # the flags: encrypted
])
def test_an_entry_of_an_unknown_method_or_encrypted_is_refused(tmp_path, field, value, message):
    path = tmp_path / "m.npz"
    data = saved_with_adam(path)
    at = central_entry(data, "params.npy")
    data[at + field:at + field + 2] = value.to_bytes(2, "little")
    local = np.load(path).zip.getinfo("params.npy").header_offset  # (the entry's own header, alike)
    data[local + field - 2:local + field] = value.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"not a readable densenet \.npz file .*{message}"):
        dn.load(path)


class Scaled(dn.Module):
    """A custom module with a constructor argument but no config(): it cannot be rebuilt."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, X):
        return X * self.factor


class Opaque(Scaled):
    def config(self):
        return {"factor": np.float64(self.factor).view(np.int64)}  # not a JSON value


class Narrowing(dn.Dense):
    def config(self):
        return {"in_features": self.in_features, "out_features": 1}  # rebuilds another layer


class Typed(Scaled):
    def config(self):
        return {"factor": self.factor, "type": "Scaled"}  # the key the file uses for the type


class Listed(Scaled):
    def config(self):
        return [self.factor]


class Configured(Scaled):
    def config(self):
        return {"factor": self.factor}


class Unbuilt(Configured):
    @classmethod
    def from_config(cls, config):
        return None  # (a forgotten return)


class Reparented(Configured):
    @classmethod
    def from_config(cls, config):
        return Configured(**config)  # the same config, another class: load would give it


@pytest.mark.parametrize("module, message", [
    (Scaled(2.0), r"cannot be rebuilt from its config \{\}"),
    (Unbuilt(2.0), r"not rebuilt by its config \{'factor': 2\.0\} \(from_config gave None\)"),
    (Reparented(2.0), r"not rebuilt by its config .* \(from_config gave Configured\(factor=2\.0\)\)"),
    (Opaque(2.0), "JSON values only"),
    (Narrowing(2, 2), "not rebuilt by its config"),
    (Typed(2.0), "a dict of constructor arguments without a 'type' key"),
    (Listed(2.0), "a dict of constructor arguments without a 'type' key"),
])
def test_modules_their_config_cannot_rebuild_are_refused(tmp_path, module, message):
    model = dn.Sequential(dn.Dense(2, 2), module)
    with pytest.raises(TypeError, match=rf"save: cannot save module .* at index 1: .*{message}"):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_a_custom_module_without_arguments_saves_and_loads(tmp_path):
    class Twice(dn.Module):
        def forward(self, X):
            return 2 * X

    model = dn.Sequential(dn.Dense(2, 2), Twice(), seed=0)
    model.save(tmp_path / "m.npz")
    loaded = dn.load(tmp_path / "m.npz")
    assert type(loaded[1]) is Twice
    assert_array_equal(loaded.predict(np.ones((3, 2))), model.predict(np.ones((3, 2))))


def test_plain_npy_file(tmp_path):
    path = tmp_path / "m.npz"
    with open(path, "wb") as f:
        np.save(f, np.ones(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        dn.load(path)


def test_saved_files_get_ordinary_permissions(tmp_path):
    import stat

    path = tmp_path / "m.npz"
    mlp((2, 2, 1)).save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    mlp((2, 2, 1)).save(path)  # replacing keeps the file's mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_save_to_a_folder_s_path_says_so_and_leaves_the_folder_as_it_was(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "kept.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match=r"save: .*models'? is a folder; give a file name"):
        mlp((2, 2, 1)).save(folder)
    assert sorted(os.listdir(tmp_path)) == ["models"]
    assert os.listdir(folder) == ["kept.txt"]


def test_save_into_a_missing_folder_names_the_path_and_the_folder(tmp_path):
    path = tmp_path / "missing" / "model.npz"
    with pytest.raises(FileNotFoundError, match=r"save: cannot write .*model\.npz'?: the folder .*missing'? "
                                                r"does not exist"):
        mlp((2, 2, 1)).save(path)
    assert os.listdir(tmp_path) == []


# -- binary file objects ----------------------------------------------------------------

def trained_with_adam(seed=2):
    X = np.random.default_rng(0).standard_normal((12, 3))
    y = np.random.default_rng(1).uniform(size=(12, 1))
    model, adam = mlp((3, 4, 1), seed=seed), dn.Adam(0.01)
    model.fit(X, y, optimizer=adam, epochs=2, batch_size=4)
    return model, adam, X, y


def test_a_model_saves_to_and_loads_from_an_in_memory_file():
    """A ``BytesIO`` (or any binary file object) in place of a path: the same bytes a file
    would hold, and training resumes exactly from them."""
    model, adam, X, y = trained_with_adam()
    buffer = io.BytesIO()
    model.save(buffer, optimizer=adam)
    buffer.seek(0)
    resumed = dn.Adam(0.01)
    loaded = dn.load(buffer, optimizer=resumed)
    assert_array_equal(loaded.params, model.params)
    model.fit(X, y, optimizer=adam, epochs=2, batch_size=4)
    loaded.fit(X, y, optimizer=resumed, epochs=2, batch_size=4)
    assert_array_equal(loaded.params, model.params)


def test_a_file_object_holds_the_bytes_a_path_would(tmp_path):
    model, adam, X, _ = trained_with_adam()
    with open(tmp_path / "opened.npz", "wb") as f:
        model.save(f, optimizer=adam)
        assert not f.closed  # the caller's file stays the caller's
    with open(tmp_path / "opened.npz", "rb") as f:
        from_file = dn.load(f)
    assert_array_equal(from_file.predict(X), model.predict(X))
    assert_array_equal(dn.load(tmp_path / "opened.npz").params, model.params)


def test_a_file_object_read_at_its_end_is_named_so():
    """Saved to, then loaded from without ``seek(0)``: the file object gives no bytes, and the
    error says why, not only that the file is empty."""
    model = mlp((2, 3, 1))
    buffer = io.BytesIO()
    model.save(buffer)
    with pytest.raises(ValueError, match=r"densenet .npz file: it gave no bytes, read from where it stands "
                                         rf"\(byte {buffer.tell()}\); after writing to it, seek\(0\) first$"):
        dn.load(buffer)
    buffer.seek(0)
    assert_array_equal(dn.load(buffer).params, model.params)


def test_an_empty_stream_is_named_so():
    """Without a position to name (a stream has no ``tell``, an empty file stands at 0), it is empty."""
    class Stream:
        def read(self, size=-1):
            return b""

    for empty in (Stream(), io.BytesIO()):
        with pytest.raises(ValueError, match=r"densenet .npz file: not a zip archive \(it is empty\)$"):
            dn.load(empty)


def test_a_stream_that_cannot_seek_loads():
    """Only ``read`` is needed: a pipe or a network stream has no ``seek``."""
    model, _, X, _ = trained_with_adam()
    buffer = io.BytesIO()
    model.save(buffer)

    class Stream:
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def read(self, size=-1):
            return self._data.read(size)

    assert_array_equal(dn.load(Stream(buffer.getvalue())).predict(X), model.predict(X))


@pytest.mark.parametrize("most", [1, 1000])
def test_a_raw_file_that_writes_part_of_the_bytes_gets_the_rest(most):
    """An unbuffered file's ``write`` may take only part (down to one byte) and return the count."""
    model, _, X, _ = trained_with_adam()

    class Raw:
        def __init__(self):
            self.data = bytearray()

        def write(self, b):
            self.data += b[:most]
            return min(len(b), most)

    raw = Raw()
    model.save(raw)
    assert len(raw.data) > 3000
    assert_array_equal(dn.load(io.BytesIO(raw.data)).predict(X), model.predict(X))


def test_a_writer_that_returns_no_count_takes_all_and_one_that_writes_nothing_is_an_error():
    model, _, X, _ = trained_with_adam()

    class Collects:
        def __init__(self):
            self.chunks = []

        def write(self, b):
            self.chunks.append(bytes(b))  # returns None

    collects = Collects()
    model.save(collects)
    assert len(collects.chunks) == 1
    assert_array_equal(dn.load(io.BytesIO(collects.chunks[0])).predict(X), model.predict(X))

    class Full:
        def write(self, b):
            return 0

    with pytest.raises(OSError, match=r"save: the file object took none of the \d+ bytes left to write"):
        model.save(Full())


def test_a_failed_save_writes_nothing_to_the_file_object(monkeypatch):
    """The archive is made whole before the first byte reaches the stream."""
    model, adam, _, _ = trained_with_adam()
    buffer = io.BytesIO(b"kept")
    buffer.seek(0, io.SEEK_END)
    with pytest.raises(ValueError, match="holds state for 21 parameters, not this model's 26"):
        mlp((3, 5, 1)).save(buffer, optimizer=adam)

    def savez_then_fail(file, **arrays):
        file.write(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(buffer)
    assert buffer.getvalue() == b"kept"


def test_text_files_and_other_objects_are_refused_by_name(tmp_path):
    model = mlp((3, 4, 1))
    with open(tmp_path / "text.npz", "w") as f, pytest.raises(TypeError, match="save: .*text mode.*'wb'"):
        model.save(f)
    model.save(tmp_path / "m.npz")
    with open(tmp_path / "m.npz") as f, pytest.raises(TypeError, match="load: .*text mode.*'rb'"):
        dn.load(f)
    with pytest.raises(TypeError, match="save: expected a file name or a binary file object, got int"):
        model.save(3)
    with pytest.raises(TypeError, match="load: expected a file name or a binary file object, got list"):
        dn.load([1, 2])

    class Text:
        def read(self):
            return "text"

    with pytest.raises(TypeError, match=r"load: <.*Text object .*>\.read\(\) gave str, not bytes"):
        dn.load(Text())


def test_bytes_that_are_no_model_file_are_named_after_the_stream():
    buffer = io.BytesIO(b"not a zip archive")
    with pytest.raises(ValueError, match="load: <_io.BytesIO object .*> is not a readable densenet .npz"):
        dn.load(buffer)
    with pytest.raises(ValueError, match="is not a readable densenet .npz file"):
        dn.load(io.BytesIO())


#: what a saved description may hold in place of any of its values: JSON of every kind, and
#: numbers beyond every range a value has (a C integer's, a float's, a count's)
ODD_VALUES = [None, True, False, -1, 0, 2, 3.5, 1e308, -1e308, float("nan"), float("inf"), 2 ** 70, -2 ** 63,
              10 ** 400, -10 ** 400,
              "", "x", "Dense", "float16", [], {}, [1, 2], [[1]], {"a": 1}, {"type": "Dense"}, [None]]


def _places(node, at=()):
    """Where each value of a JSON tree is: a tuple of keys and indices."""
    yield at
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _places(value, (*at, key))


def _schedules(optimizer):
    return [dn.StepLR(optimizer, 2), dn.EarlyStopping(patience=3)]


@pytest.fixture(scope="module")
def saved_everything():
    """A file of every kind of entry: modules with settings, parameters of their own and state,
    a frozen module, a random generator, an optimiser's state and two schedules' states."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 3, 32)
    model = dn.Sequential(dn.Dense(4, 8), dn.BatchNorm1d(8), dn.ReLU(), dn.Dropout(0.1), dn.Dense(8, 6),
                          dn.PReLU(), dn.LayerNorm(6), dn.Dense(6, 3), seed=0).freeze(0)
    adam = dn.Adam(0.01)
    schedules = _schedules(adam)
    model.fit(X, y, loss=dn.CrossEntropyLoss(), optimizer=adam, epochs=3, batch_size=8, callbacks=schedules,
              validation_data=(X, y))
    buffer = io.BytesIO()
    model.save(buffer, optimizer=adam, schedules=schedules)
    with np.load(io.BytesIO(buffer.getvalue())) as saved:
        arrays = {name: saved[name] for name in saved.files}
    return arrays, json.loads(str(arrays["config"])), X


@settings(deadline=None)
@given(data=st.data())
def test_any_value_of_a_saved_description_changed_is_loaded_or_refused_by_name(saved_everything, data):
    """One value anywhere in the description replaced (or left out): ``load`` gives a model
    that predicts, or a ``ValueError`` naming the file with the optimiser as it was, never
    another error (a random-generator state's number beyond its C type gave NumPy's
    ``OverflowError``)."""
    arrays, config, X = saved_everything
    config = json.loads(json.dumps(config))
    place = data.draw(st.sampled_from(list(_places(config))[1:]))
    *path, last = place
    parent = config
    for key in path:
        parent = parent[key]
    if data.draw(st.booleans()) or not isinstance(parent, dict):
        parent[last] = data.draw(st.sampled_from(ODD_VALUES))
    else:
        del parent[last]
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, "config": np.array(json.dumps(config))})
    adam = dn.Adam(0.01)
    before = adam.state_dict(), adam.lr
    try:
        model = dn.load(io.BytesIO(buffer.getvalue()), optimizer=adam, schedules=_schedules(adam))
    except ValueError as error:
        assert str(error).startswith("load: <_io.BytesIO object")
        assert adam.state_dict() == before[0]
        assert adam.lr == before[1]
    else:
        assert model.predict(X).shape == (32, 3)
