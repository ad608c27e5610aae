"""The package's layering: imports point down only, each file imports alone,
no file reads another object's private attributes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "densenet"

#: Every file of the package, bottom layer first; a file may import only files of
#: lower layers (``__init__`` is the top; ``tutorial`` and ``reference`` stand aside).
LAYERS = [
    ("another BLAS", {"cblas"}),
    ("NumPy's loops", {"numpy_loops"}),
    ("backend", {"backend"}),
    ("the thread policy", {"thread_policy"}),
    ("the activations' elementary functions", {"elementary"}),
    ("the normal distribution", {"normal"}),
    ("an optimiser's passes", {"vector_ops", "subnormal"}),
    ("base", {"_validation", "init", "version"}),
    ("file format", {"io"}),  # (writing and reading files safely: what the model and a checkpoint use)
    ("gradient clipping", {"clipping"}),
    ("plans", {"chain", "kept"}),
    ("module protocol", {"module"}),
    ("modules", {"dense", "sigmoid", "relu", "leaky_relu", "prelu", "elu", "tanh", "gelu", "silu", "softplus",
                 "softmax", "dropout", "batchnorm", "layernorm"}),
    ("module variants", {"selu", "log_softmax", "alpha_dropout"}),
    ("metric protocol", {"metric"}),
    ("metrics", {"accuracy", "absolute_error", "squared_error", "r2"}),
    ("metric bases", {"counts"}),
    ("metric variants", {"f1", "precision", "recall", "auc"}),  # (Accuracy's checks of classes)
    ("loss protocol", {"loss"}),
    ("loss bases", {"class_loss"}),
    ("losses", {"mse", "l1", "huber", "cross_entropy", "nll", "bce", "bce_with_logits", "poisson"}),
    ("loss variants", {"smooth_l1"}),
    ("metric names", {"metric_names"}),
    ("optimizer protocol", {"optimizer"}),
    ("optimizer base", {"moments"}),
    ("optimizers", {"sgd", "adam", "rmsprop", "adagrad", "radam", "nadam", "adamax"}),
    ("optimizer variants", {"adamw", "lbfgs"}),
    ("training step", {"plan"}),
    ("callbacks", {"callbacks"}),
    ("schedules", {"schedules"}),
    ("checkpoints", {"checkpoint"}),
    ("weight averaging", {"averaging"}),
    ("a Ctrl-C in the steps", {"interrupt"}),
    ("training loop", {"training"}),
    ("model", {"model"}),
    ("loading a model file", {"loading"}),
    ("edges", {"gradcheck", "plot", "onnx", "datasets", "sklearn", "lr_find", "update_bn"}),
    ("aside", {"tutorial", "reference"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
FILES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imports(path: Path) -> set[str]:
    """The package files ``path`` imports, lazy imports included, ``TYPE_CHECKING`` ones not."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for branch in ast.walk(tree)
               if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
               for node in ast.walk(branch)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("densenet."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("densenet.")}
    return found & set(FILES)


def test_every_file_has_a_layer():
    assert set(FILES) == set(RANK)


@pytest.mark.parametrize("name", FILES)
def test_imports_point_down(name):
    upward = {other for other in imports(PACKAGE / f"{name}.py") if RANK[other] >= RANK[name]}
    assert not upward, f"{name} imports {sorted(upward)}, which are not below it"


@pytest.mark.parametrize("name", FILES)
def test_no_file_imports_from_the_package_s_init(name):
    """``__init__`` is the top layer: a name it defines or gathers (``from . import
    __version__``, ``from densenet import Dense``) is imported from the file that defines it."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = [ast.unparse(node) for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and (
                 (node.level == 1 and node.module is None and any(a.name not in FILES for a in node.names))
                 or (node.level == 0 and node.module == "densenet"))
             or isinstance(node, ast.Import) and any(a.name == "densenet" for a in node.names)]
    assert not found


@pytest.mark.parametrize("name", FILES)
def test_no_file_reads_another_objects_private_attributes(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    reads = [ast.unparse(node) for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr.startswith("_")
             and not node.attr.startswith("__")
             and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))]
    assert not reads


#: Run as ``python -c IMPORT_EACH package_dir name ...`` (on Linux): imports
#: ``densenet.<name>`` for each name in a child forked from this fresh interpreter, which
#: has loaded NumPy and SciPy but nothing of densenet (an interpreter per file spent 0.6 s
#: each on those two); prints the names whose import failed, after their tracebacks. The
#: package itself is a bare one without its ``__init__`` (which imports every core file in
#: its own order), so that a file loads only what it imports, in the order it imports it.
IMPORT_EACH = """
import importlib, os, sys, traceback, types
import numpy, scipy.linalg, scipy.optimize, scipy.special
failed = []
for name in sys.argv[2:]:
    pid = os.fork()
    if pid == 0:
        try:
            bare = types.ModuleType("densenet")
            bare.__path__ = [sys.argv[1]]
            sys.modules["densenet"] = bare
            importlib.import_module("densenet." + name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1]:
        failed.append(name)
print(failed)
"""


def import_each(names: list[str]) -> tuple[list[str], str]:
    """(the names whose ``import densenet.<name>`` failed, the tracebacks), each import
    the first of densenet in its interpreter (on Linux, without the package's ``__init__``)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # no BLAS threads: fork a one-thread process
    if sys.platform.startswith("linux"):  # macOS's system libraries are not fork-safe
        run = subprocess.run([sys.executable, "-c", IMPORT_EACH, str(PACKAGE), *names], capture_output=True,
                             text=True, timeout=300, env=env, check=True)
        return ast.literal_eval(run.stdout.strip().splitlines()[-1]), run.stderr
    runs = {name: subprocess.run([sys.executable, "-c", f"import densenet.{name}"], capture_output=True,
                                 text=True, timeout=120, env=env) for name in names}
    return [name for name, run in runs.items() if run.returncode], "".join(r.stderr for r in runs.values())


@pytest.mark.parametrize("part", [0, 1], ids=["even", "odd"])
def test_each_file_imports_alone_in_a_fresh_interpreter(part):
    """Import order must not matter: every file imports first, on its own (the files in
    two halves, which the test workers share)."""
    failed, tracebacks = import_each(FILES[part::2])
    assert failed == [], tracebacks


def test_a_file_that_fails_to_import_is_reported():
    failed, tracebacks = import_each(["backend", "no_such_file", "model"])
    assert failed == ["no_such_file"]
    assert "ModuleNotFoundError" in tracebacks


def test_the_core_never_imports_the_tutorial_or_the_reference():
    for name in FILES:
        if RANK[name] < RANK["tutorial"]:
            assert not imports(PACKAGE / f"{name}.py") & {"tutorial", "reference"}


def test_importing_densenet_loads_no_optional_library_and_not_scipy_optimize():
    """``import densenet`` loads NumPy, ``scipy.linalg`` (BLAS) and ``scipy.special``;
    what only some calls need is imported by them: the extras' libraries, and
    ``scipy.optimize`` (L-BFGS), which alone took a third of the import's time."""
    run = subprocess.run([sys.executable, "-c", "import sys, densenet; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, timeout=120, check=True)
    loaded = set(run.stdout.split())
    lazy = {"scipy.optimize", "sklearn", "torch", "matplotlib", "tqdm", "onnx", "onnxruntime",
            "threadpoolctl", "joblib", "dask", "hypothesis"}
    assert {"numpy", "scipy.linalg", "scipy.special"} <= loaded
    assert lazy & loaded == set()
