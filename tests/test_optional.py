"""Without an optional library, what needs it says which extra installs it: the package's
optional modules raise an ``ImportError`` naming the extra, the examples exit with a line
naming theirs (before any training)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: case -> (the top-level modules made missing, code run with them missing)
CASES = {
    "sklearn": (["sklearn"], "import densenet.sklearn"),
    "sklearn too old": ([], "import densenet.sklearn"),  # (a scikit-learn 1.5.2 first on the path)
    "onnx": (["onnx"], "import io, densenet as dn; "
                       "dn.onnx.export(dn.Sequential(dn.Dense(2, 1)), io.BytesIO())"),
    "plot": (["matplotlib"], "import densenet as dn, densenet.plot as p; "
                             "p.loss_curve(dn.Sequential(dn.Dense(2, 1)).fit([[0, 1]], [[1]], epochs=1))"),
    "examples/digits.py": (["sklearn"], ""),
    "examples/finetune.py": (["sklearn"], ""),
    "examples/imbalanced.py": (["sklearn"], ""),
    "examples/dask_search.py": (["dask", "distributed"], ""),
    "examples/tutorial.py --plot loss.png": (["matplotlib"], ""),
}

#: Runs each case in turn in one interpreter, with a finder that refuses the case's modules
#: (none of them is imported before), and prints what each raised as JSON.
DRIVER = r"""
import contextlib, importlib.abc, io, json, runpy, sys

class Missing(importlib.abc.MetaPathFinder):
    names = set()

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
cases, old_sklearn, results = json.loads(sys.argv[1]), sys.argv[2], {}
for case, (missing, code) in cases.items():
    Missing.names = set(missing)
    path = sys.path[:]
    if case == "sklearn too old":
        sys.path.insert(0, old_sklearn)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if code:
                exec(code, {})
            else:
                script, *args = case.split()
                sys.argv = [script, *args]
                runpy.run_path(script, run_name="__main__")
        results[case] = ["nothing", out.getvalue()]
    except SystemExit as error:
        results[case] = ["SystemExit", str(error.code) + "|" + out.getvalue()]
    except Exception as error:
        results[case] = [type(error).__name__, str(error)]
    finally:
        sys.path[:] = path
        for name in [name for name in sys.modules if name.startswith(("sklearn", "densenet.sklearn"))]:
            del sys.modules[name]  # (what a failed import left)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def raised(tmp_path_factory) -> dict[str, list[str]]:
    old = tmp_path_factory.mktemp("old")
    (old / "sklearn").mkdir()
    (old / "sklearn" / "__init__.py").write_text('__version__ = "1.5.2"\n')
    run = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(CASES), str(old)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.parametrize(("case", "library"), [("sklearn", "scikit-learn"), ("onnx", "onnx"),
                                               ("plot", "matplotlib")])
def test_an_optional_module_names_its_extra(raised, case, library):
    assert raised[case] == ["ImportError", f"densenet.{case} needs {library}: pip install 'densenet[{case}]'"]


def test_a_scikit_learn_too_old_for_the_estimators_is_named_with_its_version(raised):
    kind, message = raised["sklearn too old"]
    assert kind == "ImportError"
    assert "scikit-learn 1.5.2 (it needs 1.6 or newer: pip install 'densenet[sklearn]')" in message


@pytest.mark.parametrize(("case", "line"), [
    ("examples/digits.py", "this example needs scikit-learn: pip install -e '.[examples]'"),
    ("examples/finetune.py", "this example needs scikit-learn: pip install -e '.[examples]'"),
    ("examples/imbalanced.py", "this example needs scikit-learn: pip install -e '.[examples]'"),
    ("examples/dask_search.py", "this example needs dask[distributed] and scikit-learn: "
                                "pip install -e '.[distributed]'"),
])
def test_an_example_names_its_extra_before_it_trains(raised, case, line):
    kind, message = raised[case]
    assert kind == "SystemExit"
    assert message == f"{line}|"  # and it printed nothing before


def test_the_tutorial_asked_for_a_plot_says_so_before_it_trains(raised):
    kind, message = raised["examples/tutorial.py --plot loss.png"]
    assert kind == "SystemExit"
    code, printed = message.split("|", 1)
    assert code == "2"  # argparse's usage error
    assert printed.startswith("usage: tutorial.py")
    assert printed.rstrip().endswith("error: --plot needs matplotlib: pip install -e '.[plot]'")
