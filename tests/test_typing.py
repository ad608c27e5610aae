"""densenet's type hints, as a user's type checker sees them (mypy and pyright: the ``test`` extra).

The package ships a ``py.typed`` marker (PEP 561), so mypy and pyright read its
inline hints in users' code: the package must check clean, and typical user code
(the public contract of DESIGN.md) must check with the types it means, strict, in both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import densenet as dn

ROOT = Path(__file__).resolve().parent.parent

#: Code as users write it; ``assert_type`` states the type each call must have.
USER_CODE = """
import io
from typing import Any

import numpy as np
from numpy.typing import NDArray
from typing_extensions import assert_type

import densenet as dn
from densenet.onnx import export
from densenet.sklearn import DenseNetClassifier

X, y = np.zeros((4, 2)), np.zeros((4, 1))
model = dn.Sequential(dn.Dense(2, 2), dn.Sigmoid(), dn.Dense(2, 1), dn.Sigmoid(), dtype=np.float64, seed=0)
history = model.fit(X, y, optimizer=dn.SGD(lr=0.1), loss=dn.MSELoss(), epochs=3, batch_size=1,
                    shuffle=False, callbacks=[dn.EarlyStopping(monitor="loss", patience=2)])
assert_type(history, dn.History)
assert_type(history.loss, NDArray[Any])
assert_type(model.predict([[-7, -3], [20, 2]]), NDArray[Any])
assert_type(model.evaluate(X, y), float)
assert_type(model.evaluate(X, y, metrics=["accuracy", dn.R2Score()]), dict[str, float])
measured = model.fit(X, y, metrics=["mae", dn.Accuracy(threshold=0.5)], validation_data=(X, y),
                     callbacks=[dn.EarlyStopping(monitor="val_accuracy", mode="max")])
assert_type(measured["val_accuracy"], NDArray[Any])
f1 = dn.F1Score(average="micro")
f1.update(np.eye(2), np.array([0, 1]))
assert_type(f1.result(), float)

loss = dn.MSELoss()
assert_type(loss.forward(model.forward(X), y), float)
assert_type(model.backward(loss.backward()), NDArray[Any])
assert_type(model.backward(loss.backward(), input_grad=False), None)
dn.SGD(lr=0.1).step(model.params, model.grads)

layer = dn.Dense(2, 3, init="he_normal")
assert_type(layer.W, NDArray[Any])
assert_type(layer.db, NDArray[Any])
layer.W = np.ones((2, 3))
assert_type(model[0].W, NDArray[Any])
assert_type(model[0], dn.Module)
assert_type(model[1:], tuple[dn.Module, ...])
assert_type([m.n_params for m in model], list[int])

optimizer = dn.Adam(lr=1e-3, betas=(0.9, 0.999))
optimizer.lr = 0.01
model.fit(X, y, optimizer=optimizer, loss=dn.BCELoss(), callbacks=[dn.CosineLR(optimizer, epochs=10)])
model.save("model.npz", optimizer)
assert_type(dn.load("model.npz", optimizer), dn.Sequential)
buffer = io.BytesIO()
model.save(buffer)
with open("model.npz", "rb") as f:
    assert_type(dn.load(f), dn.Sequential)
assert_type(model.clone(dtype=np.float32), dn.Sequential)
assert_type(dn.gradcheck(model, X, y).ok, bool)
with dn.threads(1):
    dn.set_num_threads(None)
assert_type(dn.get_num_threads(), int | None)

class Halt(dn.Callback):
    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> bool | None:
        self.model.stop_training = logs is not None and logs["loss"] < 0.1
        return None

start = dn.tutorial.initial_params(seed=0)
assert_type(dn.tutorial.network(start), dn.Sequential)
assert_type(dn.reference.ScalarNetwork(start).feedforward(np.array([2.0, 3.0])), float)
assert_type(dn.reference.ScalarNetwork(start).train(dn.tutorial.X, dn.tutorial.y, lr=0.1, epochs=10),
            list[float])
export(model, "model.onnx")
classifier = DenseNetClassifier(hidden_layer_sizes=(8,), solver="adam").fit(X, y.ravel())
assert_type(classifier, DenseNetClassifier)
assert_type(classifier.partial_fit(X, y.ravel()), DenseNetClassifier)
assert_type(classifier.predict_proba(X), NDArray[Any])
"""


#: As a user's project would check it: strict on its own code; densenet's modules found
#: on ``mypy_path`` (as an installed copy is found in site-packages) and, like an installed
#: package, not reported on
USER_CONFIG = """
[mypy]
strict = True
python_version = 3.10
mypy_path = {root}

[mypy-densenet.*]
ignore_errors = True

[mypy-scipy.*,sklearn.*,tqdm.*,threadpoolctl.*,onnxruntime.*,joblib.*]
ignore_missing_imports = True
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module's runs: numpy's stubs are read once (about 8 s)."""
    return tmp_path_factory.mktemp("mypy_cache")


def mypy(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def check_user_code(code: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "mypy.ini").write_text(USER_CONFIG.format(root=ROOT))
    (cwd / "user.py").write_text(textwrap.dedent(code))
    return mypy("--config-file", "mypy.ini", "user.py", cwd=cwd, cache=cache)


def test_the_package_type_checks(tmp_path: Path, cache: Path) -> None:
    config = str(ROOT / "pyproject.toml")
    result = mypy("--config-file", config, str(ROOT / "densenet"), cwd=tmp_path, cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_user_code_has_the_types_it_means(tmp_path: Path, cache: Path) -> None:
    result = check_user_code(USER_CODE, tmp_path, cache)
    assert result.returncode == 0, result.stdout + result.stderr


#: The examples as user code, less strict in their own modules: their Keras-style callbacks are left
#: unannotated. Dask's own modules are not followed (about 300 of them, and not densenet's types).
#: Every run shares USER_CONFIG's global options (and the package's, pyproject's): mypy reuses its
#: cached analysis of NumPy's stubs only between runs with the same global options.
EXAMPLES_CONFIG = USER_CONFIG + """
[mypy-dask_search,digits,finetune,imbalanced,mnist,scaling,tutorial]
disallow_untyped_defs = False
disallow_untyped_calls = False

[mypy-dask.*,distributed.*]
follow_imports = skip
"""


def test_the_examples_type_check(tmp_path: Path, cache: Path) -> None:
    examples = sorted((ROOT / "examples").glob("*.py"))
    assert EXAMPLES_CONFIG.count(",".join(path.stem for path in examples)) == 1, "an example is not listed"
    (tmp_path / "mypy.ini").write_text(EXAMPLES_CONFIG.format(root=ROOT))
    result = mypy("--config-file", "mypy.ini", *map(str, examples), cwd=tmp_path, cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_type_in_user_code_is_reported(tmp_path: Path, cache: Path) -> None:
    result = check_user_code("""
        import densenet as dn
        dn.Dense(2, 2).forward([[1.0, 2.0]]).no_such_attribute
        dn.SGD(lr="fast")
        """, tmp_path, cache)
    assert 'has no attribute "no_such_attribute"' in result.stdout
    assert 'Argument "lr" to "SGD" has incompatible type "str"; expected "float"' in result.stdout


#: Pyright in strict mode, as a user's project (or an editor's Pylance) would run it: for the
#: Python it runs on (NumPy 2.5's types, for Python 3.12 on, are partly unknown to a check
#: for 3.10, which has no ``collections.abc.Buffer``).
PYRIGHT_CONFIG = """{{"typeCheckingMode": "strict", "pythonVersion": "{version}", "extraPaths": ["{root}"],
    "reportMissingTypeStubs": false}}"""


def pyright(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("pyright")  # the PyPI wrapper, with Node.js from the nodejs extra
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (cwd / "pyrightconfig.json").write_text(PYRIGHT_CONFIG.format(root=ROOT, version=version))
    (cwd / "user.py").write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, "-m", "pyright", "--pythonpath", sys.executable, "user.py"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_user_code_passes_pyright_strict(tmp_path: Path) -> None:
    # every array in a signature has its type arguments (NDArray[Any]): a bare NDArray is
    # "partially unknown" to pyright, an error at each use in strict mode
    result = pyright(USER_CODE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout


def test_pyright_reports_a_wrong_type_in_user_code(tmp_path: Path) -> None:
    result = pyright("""
        import densenet as dn
        dn.SGD(lr="fast")
        """, tmp_path)
    assert result.returncode == 1
    assert 'Argument of type "Literal[\'fast\']" cannot be assigned to parameter "lr" of type "float"' \
        in result.stdout


def test_the_wheel_ships_the_py_typed_marker_under_the_package_s_version(tmp_path: Path) -> None:
    # built from a copy (no build/ folder in the repository), offline: the test extra
    # has the build backend (a new environment's own setuptools may be too old, or none)
    source = tmp_path / "source"
    shutil.copytree(ROOT / "densenet", source / "densenet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("densenet-*.whl")
    assert "densenet/py.typed" in zipfile.ZipFile(wheel).namelist()
    assert wheel.name.startswith(f"densenet-{dn.__version__}-")  # pyproject.toml reads densenet/version.py
