"""What every test run shares: under pytest-xdist, each worker's thread pools sized to its
share of the CPUs, and the tests spread by work stealing.

Two workers on two CPUs, each with OpenBLAS's and PyTorch's pools of two threads, put
four or more spinning threads on two CPUs, and a test that took 0.3 s alone took 4.9 s
(``tests/test_memory.py``'s, PyTorch's trajectories in ``tests/test_freeze.py`` 0.2 s
and 4.7 s): the whole suite took 269 s of ``pytest -n auto`` so on a 2-CPU machine, and
151 s with one thread a worker. A test that needs a count sets it
(``tests/test_threads.py``); ``-n 0`` or no ``-n`` keeps the libraries' own defaults.
"""

from __future__ import annotations

import os
import sys

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``-n`` without ``--dist`` spreads the tests by work stealing: xdist's default hands
    each worker its share at the start, and a worker whose share held the long tests (the
    examples' trainings, 5-23 s each) ran on while the other had finished (by each test's
    start and end, on 2 CPUs: one worker idle for the last 15.6 s of 221 s; 0.0 s and 1.0 s
    in two runs by stealing; wall times moved more with the host's load, 212-258 s)."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", None) == "no":
        option.dist = "worksteal"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers is None:  # not an xdist worker
        return
    from threadpoolctl import threadpool_limits

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n = max(1, cpus // int(workers))
    # the processes the tests start (examples, fresh interpreters) and PyTorch, when it loads
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(n)
    threadpool_limits(limits=n)  # the pools this process has loaded already
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
