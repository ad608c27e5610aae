"""Benchmarks run two ways.

- ``pytest benchmarks/ --benchmark-only``: timed by pytest-benchmark, grouped.
- plain ``pytest`` (the test suite, CI): each benchmark runs once, untimed,
  and its assertions check that the two sides did the same work.
"""

from __future__ import annotations

import pytest

#: the checks of the benchmarks' shared workloads explain their failures as a test's do
pytest.register_assert_rewrite("workloads")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    timed = config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False)
    if not timed:
        config.option.benchmark_disable = True
