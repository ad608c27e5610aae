"""The package's layering: imports point down only, each file imports alone,
no file reads another object's private attributes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "densenet"

#: Every file of the package, bottom layer first; a file may import only files of
#: lower layers (``__init__`` is the top; ``tutorial`` and ``reference`` stand aside).
LAYERS = [
    ("backend", {"backend"}),
    ("base", {"_validation", "init"}),
    ("plans", {"chain", "kept"}),
    ("module protocol", {"module"}),
    ("modules", {"dense", "sigmoid", "relu", "tanh", "softmax"}),
    ("loss protocol", {"loss"}),
    ("losses", {"mse", "cross_entropy", "bce", "bce_with_logits"}),
    ("optimizer protocol", {"optimizer"}),
    ("optimizers", {"sgd", "adam"}),
    ("optimizer variants", {"adamw", "lbfgs"}),
    ("training step", {"plan"}),
    ("callbacks", {"callbacks"}),
    ("schedules", {"schedules"}),
    ("training loop", {"training"}),
    ("file format", {"io"}),
    ("model", {"model"}),
    ("edges", {"gradcheck", "plot", "onnx", "datasets", "sklearn"}),
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
def test_no_file_reads_another_objects_private_attributes(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    reads = [ast.unparse(node) for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr.startswith("_")
             and not node.attr.startswith("__")
             and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))]
    assert not reads


def test_each_file_imports_alone_in_a_fresh_interpreter():
    """Import order must not matter: every file imports first, on its own."""
    runs = {name: subprocess.Popen([sys.executable, "-c", f"import densenet.{name}"],
                                   stderr=subprocess.PIPE, text=True)
            for name in FILES}
    failed = {name: run.communicate(timeout=120)[1] for name, run in runs.items()}
    assert {name: err for name, err in failed.items() if runs[name].returncode} == {}


def test_the_core_never_imports_the_tutorial_or_the_reference():
    for name in FILES:
        if RANK[name] < RANK["tutorial"]:
            assert not imports(PACKAGE / f"{name}.py") & {"tutorial", "reference"}
