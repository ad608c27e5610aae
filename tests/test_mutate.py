"""tools/mutate.py, the mutation-testing script: it makes the mutants it says it makes,
one change each, and leaves wording (docstrings, messages, annotations) alone."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import mutate  # noqa: E402

SOURCE = '''
"""A docstring: 1 < 2 is never mutated."""
from functools import partial

import numpy as np


def f(a: int = 3, b: float = 0.5) -> int:
    """Nor is this: a + b."""
    if a < b and not a == 0:
        raise ValueError(f"a={a + 1}")
    out[...] = a  # type: ignore[index]  # (a comment kept)
    total += (a *
              b)
    np.copyto(out, a)
    passes = [partial(np.add, a, b), partial(np.multiply, a, b)]
    return a - b is None


def __repr__(self):
    return 1 + 2
'''


def test_every_operator_applies_where_it_should_and_nowhere_else():
    operators = sorted(m.operator for m in mutate.mutants_of("x.py", SOURCE))
    assert operators == sorted([
        "negate-condition", "and->or", "Lt->LtE", "drop-not", "Eq->NotEq", "change-number",
        "drop-assignment", "drop-assignment", "Mult->Div", "drop-call", "np.add->np.subtract",
        "np.multiply->np.divide", "drop-planned-call-0", "drop-planned-call-1", "Sub->Add", "Is->IsNot",
        "change-number", "change-number",  # the defaults 3 and 0.5
    ])


def test_each_mutant_changes_one_thing_in_the_text_as_written():
    original = SOURCE.splitlines()
    for mutant in mutate.mutants_of("x.py", SOURCE):
        mutated = mutate.mutated_source(SOURCE, mutant).splitlines()
        changed = [(a, b) for a, b in zip(original, mutated) if a != b]
        assert len(mutated) == len(original), mutant.key  # every line where it was
        assert 1 <= len(changed) <= 2, mutant.key
        assert len(changed) == 1 or mutant.line == 13, mutant.key
        assert ast.dump(ast.parse("\n".join(mutated))) != ast.dump(ast.parse(SOURCE)), mutant.key
        if mutant.line != 12:
            assert "    out[...] = a  # type: ignore[index]  # (a comment kept)" in mutated, mutant.key
    by_operator = {m.operator: m for m in mutate.mutants_of("x.py", SOURCE)}
    assert "a <= b" in mutate.mutated_source(SOURCE, by_operator["Lt->LtE"])
    assert "passes = [partial(np.multiply, a, b)]" in mutate.mutated_source(
        SOURCE, by_operator["drop-planned-call-0"])
    assert "np.copyto" not in mutate.mutated_source(SOURCE, by_operator["drop-call"])
    assert "    if a < b and (a == 0):\n" in mutate.mutated_source(SOURCE, by_operator["drop-not"])
    assert "    if (not (a < b and (not a == 0))):\n" in mutate.mutated_source(
        SOURCE, by_operator["negate-condition"])
    assert "    total += ((a / b\n))\n" in mutate.mutated_source(SOURCE, by_operator["Mult->Div"])


def test_the_core_files_exist_and_have_their_tests():
    root = Path(mutate.ROOT)
    for name in mutate.CORE:
        assert (root / "densenet" / name).is_file(), name
    for name in mutate.OWN_TESTS:
        assert (root / "densenet" / name).is_file(), name
        for path in mutate.own_tests(name):
            assert (root / path).is_file(), path


def test_every_listed_equivalent_mutant_exists():
    """A key in EQUIVALENT names a mutant of today's source: when code moves, the list
    must move with it, or a real survivor could hide behind a stale line number."""
    root = Path(mutate.ROOT)
    keys = {m.key for name in {*mutate.CORE, *mutate.OWN_TESTS}
            for m in mutate.mutants_of(name, (root / "densenet" / name).read_text())}
    assert set(mutate.EQUIVALENT) <= keys, sorted(set(mutate.EQUIVALENT) - keys)


def test_no_equivalent_mutant_is_listed_twice():
    """A dict literal keeps the last of two equal keys: a renumbering that moves one key
    onto another's line would silently lose one reason (and leave its mutant unlisted)."""
    tree = ast.parse(Path(mutate.__file__).read_text())
    listed = next(node.value for node in tree.body if isinstance(node, ast.AnnAssign)
                  and getattr(node.target, "id", None) == "EQUIVALENT")
    keys = [key.value for key in listed.keys]
    assert len(keys) == len(set(keys)), sorted({key for key in keys if keys.count(key) > 1})
