"""Every check in the tests (and every comparison in the package) is used: none is an
expression statement whose result is dropped. ``assert_array_equal(a, b) and
assert_array_equal(c, d)`` runs the first check only (it returns None), and ``x == y`` on a
line of its own checks nothing."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("densenet", "tests", "benchmarks", "examples", "tools")


def dropped_checks(source: str) -> list[int]:
    """The lines of ``source`` whose statement is a comparison or an ``and``/``or``
    whose value nothing uses."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Compare, ast.BoolOp))]


def test_a_dropped_check_is_found():
    source = ("def test_it(a, b):\n"
              "    assert_array_equal(a, b) and assert_array_equal(b, a)\n"
              "    a.shape == b.shape\n"
              "    assert a.shape == b.shape and a.size\n"
              "    ok = a == b or b == a\n")
    assert dropped_checks(source) == [2, 3]


def test_no_check_is_dropped():
    files = [path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 80  # (the folders were found)
    found = {str(path.relative_to(ROOT)): dropped_checks(path.read_text()) for path in files}
    assert {name: lines for name, lines in found.items() if lines} == {}
