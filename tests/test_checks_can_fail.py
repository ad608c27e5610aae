"""Every check in the tests (and every comparison in the package) is used: none is an
expression statement whose result is dropped. ``assert_array_equal(a, b) and
assert_array_equal(c, d)`` runs the first check only (it returns None), and ``x == y`` on a
line of its own checks nothing. And every assertion makes one check: of ``assert a and b``'s
two, a failure would not say which failed."""

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


def chained_assertions(source: str) -> list[int]:
    """The lines of ``source``'s assertions of an ``and`` (``assert a and b``)."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.BoolOp)
            and isinstance(node.test.op, ast.And)]


def test_a_chained_assertion_is_found():
    source = "assert a\nassert a and b, 'why'\nassert a or b\nassert (a and b) == c\nassert not (a and b)\n"
    assert chained_assertions(source) == [2]


def test_no_assertion_chains_two_checks():
    files = [path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))]
    found = {str(path.relative_to(ROOT)): chained_assertions(path.read_text()) for path in files}
    assert {name: lines for name, lines in found.items() if lines} == {}, "one assert per check"
