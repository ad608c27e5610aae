"""What the project states it runs on: the lowest versions CI runs the suite on are those
``pyproject.toml`` allows (``.ci/lowest.txt``), and the Pythons its classifiers name (CI runs
the oldest and the newest) are those ``requires-python`` admits."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lower_bounds() -> dict[str, str]:
    """Each runtime dependency's lower bound, ``{"numpy": "1.24"}``, from ``pyproject.toml``'s
    ``dependencies`` line (read as text: Python 3.10 has no ``tomllib``)."""
    text = (ROOT / "pyproject.toml").read_text()
    line = re.search(r"^dependencies = \[(.*)\]$", text, re.MULTILINE)
    assert line is not None, "pyproject.toml has no one-line dependencies list"
    requirements = re.findall(r'"([^"]+)"', line.group(1))
    bounds = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", r).groups() for r in requirements)
    assert len(bounds) == len(requirements), f"a dependency without a plain lower bound: {requirements}"
    return bounds


def pins() -> dict[str, str]:
    lines = (ROOT / ".ci" / "lowest.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))


def test_ci_runs_the_suite_on_the_lowest_versions_pyproject_allows():
    bounds, pinned = lower_bounds(), pins()
    assert set(bounds) == set(pinned) == {"numpy", "scipy", "threadpoolctl"}
    for name, bound in bounds.items():
        # the bound's own release, patched: 1.24 -> 1.24.4
        release = bound.split(".")
        assert pinned[name].split(".")[:len(release)] == release, (name, bound, pinned[name])
    assert "-c .ci/lowest.txt" in (ROOT / ".ci" / "run").read_text()


def test_the_classifiers_name_the_pythons_requires_python_admits():
    """CI runs the suite on the oldest and newest Python of the classifiers (``.ci/run``):
    the oldest is the lowest that ``requires-python`` admits, and none is left out between."""
    text = (ROOT / "pyproject.toml").read_text()
    lowest = re.search(r'^requires-python = ">=3\.(\d+)"$', text, re.MULTILINE)
    assert lowest is not None, "requires-python is not a plain lower bound"
    named = sorted(int(minor) for minor in re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', text))
    assert named == list(range(int(lowest.group(1)), named[-1] + 1)), named
    assert "Python :: 3\\.[0-9]*" in (ROOT / ".ci" / "run").read_text()
