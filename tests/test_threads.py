"""The thread policy: small plans on one BLAS thread, large ones on the configured count."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import densenet as dn
from densenet import backend

from .conftest import mlp


def blas_threads_now() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


class Watch(dn.Callback):
    """Records the BLAS thread counts while fit runs."""

    def __init__(self):
        self.seen = set()

    def on_epoch_end(self, epoch, logs=None):
        self.seen |= blas_threads_now()


@pytest.fixture
def two_threads():
    """BLAS set to 2 threads before the test, whatever earlier tests left: a count
    that is not put back then shows as 1, not as what was there before."""
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads_now() == {2}
        yield


@pytest.fixture
def sense_always(monkeypatch):
    """Look at the machine's load on every plan (not once a second), so that a patched
    ``busy_cpus`` is seen at once."""
    monkeypatch.setattr(backend, "SENSE_EVERY", 0.0)


def test_the_policy_by_the_largest_product(monkeypatch, sense_always):
    monkeypatch.setattr(backend, "busy_cpus", lambda: 0)  # an idle machine
    assert backend.thread_count(1000) is None  # BLAS runs it on one thread anyway: no limit, no cost
    assert backend.thread_count(2 ** 18 - 1) is None and backend.thread_count(2 ** 18) == 1
    assert backend.thread_count(2 ** 20) == 1 and backend.thread_count(backend.PARALLEL_MIN_PRODUCT - 1) == 1
    assert backend.thread_count(2 ** 26) is None  # BLAS's default
    with dn.threads(2):
        assert dn.get_num_threads() == 2
        assert backend.thread_count(2 ** 20) == 1 and backend.thread_count(2 ** 26) == 2
    assert dn.get_num_threads() is None


@pytest.mark.parametrize("busy", [1, 2, 5])
def test_a_large_plan_takes_no_more_threads_than_the_busy_machine_leaves(monkeypatch, sense_always, busy):
    monkeypatch.setattr(backend, "busy_cpus", lambda: busy)
    monkeypatch.setattr(backend, "_cpus", lambda: 4)
    with dn.threads(4):
        assert backend.thread_count(2 ** 26) == max(1, 4 - busy)
        assert backend.thread_count(2 ** 20) == 1
    with dn.threads(2):
        assert backend.thread_count(2 ** 26) == min(2, max(1, 4 - busy))


def test_the_load_is_looked_at_once_a_second(monkeypatch):
    looks = []
    monkeypatch.setattr(backend, "busy_cpus", lambda: looks.append(1) or 0)
    backend.set_num_threads(None)  # forgets the last look
    for _ in range(5):
        backend.thread_count(2 ** 26)
    assert len(looks) == 1
    monkeypatch.setattr(backend, "SENSE_EVERY", 0.0)
    backend.thread_count(2 ** 26)
    assert len(looks) == 2


def test_the_load_is_looked_at_again_from_exactly_sense_every_seconds_on(monkeypatch):
    looks, now = [], [1000.0]
    monkeypatch.setattr(backend, "busy_cpus", lambda: looks.append(now[0]) or 0)
    monkeypatch.setattr(backend.time, "monotonic", lambda: now[0])
    backend.set_num_threads(None)
    backend.thread_count(2 ** 26)
    now[0] += backend.SENSE_EVERY / 2
    backend.thread_count(2 ** 26)
    assert looks == [1000.0]
    now[0] = 1000.0 + backend.SENSE_EVERY
    backend.thread_count(2 ** 26)
    assert looks == [1000.0, 1000.0 + backend.SENSE_EVERY]


def test_busy_cpus_is_0_where_the_kernel_does_not_say(monkeypatch):
    def refused(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(backend.os, "listdir", refused)
    assert backend.busy_cpus() == 0


def test_cpus_falls_back_to_the_count_and_to_1_where_affinity_is_unknown(monkeypatch):
    monkeypatch.delattr(backend.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(backend.os, "cpu_count", lambda: 3)
    assert backend._cpus() == 3
    monkeypatch.setattr(backend.os, "cpu_count", lambda: None)
    assert backend._cpus() == 1


def test_busy_from_counts_the_running_tasks_that_are_not_ours():
    loadavg = b"2.10 1.50 0.80 5/250 12345\n"
    ours = [b"101 (python3) R 1 101 0", b"102 (odd) R name) S 1 101", b"103 (worker) S 101", b"104 (w) R 101"]
    assert backend.busy_from(loadavg, ours) == 3  # 5 running, 2 of them ours (101 and 104)
    assert backend.busy_from(loadavg, []) == 5
    assert backend.busy_from(b"0.1 0.1 0.1 1/90 7", ours) == 0  # never negative
    assert backend.busy_from(b"", ours) == 0 and backend.busy_from(b"a b c x/y z", ours) == 0


def test_busy_cpus_sees_a_busy_neighbour():
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("the kernel does not count running tasks here")
    code = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass"
    neighbour = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.3)
        assert max(backend.busy_cpus() for _ in range(20)) >= 1
    finally:
        neighbour.kill()
        neighbour.wait()


def test_fit_and_predict_run_a_medium_plan_on_one_thread_and_restore_the_count(two_threads):
    before = blas_threads_now()
    model = mlp((64, 256, 10), seed=0)
    assert backend.thread_count(model.largest_product(32)) == 1
    X, y = np.random.default_rng(0).standard_normal((64, 64)), np.full((64, 10), 0.5)
    watch = Watch()
    model.fit(X, y, epochs=2, batch_size=32, callbacks=[watch])
    assert watch.seen == {1}
    assert blas_threads_now() == before
    model.predict(X)
    assert blas_threads_now() == before


def test_a_large_plan_uses_the_configured_count():
    model = mlp((512, 512, 10), seed=0)
    X, y = np.random.default_rng(0).standard_normal((256, 512)), np.full((256, 10), 0.5)
    assert model.largest_product(256) >= backend.PARALLEL_MIN_PRODUCT
    with dn.threads(1):
        watch = Watch()
        model.fit(X, y, epochs=1, batch_size=256, callbacks=[watch])
        assert watch.seen == {1}


def test_the_count_is_put_back_when_fit_fails(two_threads):
    before = blas_threads_now()
    model = mlp((64, 256, 10), seed=0)

    class Boom(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            assert blas_threads_now() == {1}
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(np.zeros((64, 64)), np.zeros((64, 10)), batch_size=32, callbacks=[Boom()])
    assert blas_threads_now() == before


def test_threads_limits_blas_for_any_code_in_the_block_and_puts_it_back(two_threads):
    before = blas_threads_now()
    with dn.threads(1):
        assert blas_threads_now() == {1}
        model = mlp((3, 4, 1))
        model.forward(np.ones((5, 3)))  # a hand-written pass runs on one thread too
        assert blas_threads_now() == {1}
    assert blas_threads_now() == before and dn.get_num_threads() is None
    dn.set_num_threads(1)
    try:
        assert blas_threads_now() == {1}
    finally:
        dn.set_num_threads(None)
    assert blas_threads_now() == before


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads: n must be an integer >= 1 or None"):
            dn.set_num_threads(bad)
    assert dn.get_num_threads() is None
