"""The examples run and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                            capture_output=True, text=True, check=True, timeout=120)
    return result.stdout


def test_tutorial_example_trains_and_classifies():
    out = run("tutorial.py", "--seed", "3")
    lines = out.splitlines()
    table = [line for line in lines if line[:5].strip().isdigit()]
    assert [int(line.split()[0]) for line in table] == list(range(0, 1000, 100))
    first, last = float(table[0].split()[1]), float(table[-1].split()[-1])
    assert last < first / 10
    assert any(line.split()[:1] == ["Emily"] and line.endswith("-> F") for line in lines)
    assert any(line.split()[:1] == ["Frank"] and line.endswith("-> M") for line in lines)
