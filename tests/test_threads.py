"""The thread policy: small plans on one BLAS thread, large ones on the configured count."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import densenet as dn
from densenet import thread_policy as policy

from .conftest import mlp


def blas_threads_now() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def granted(n: int) -> set[int]:
    """The counts BLAS's libraries take when asked for ``n`` threads: ``{n}``, but for more
    than the cores, MKL as an older threadpoolctl sets it (3.1) takes as many as the cores."""
    with threadpool_limits(limits=n, user_api="blas"):
        return blas_threads_now()


class Watch(dn.Callback):
    """Records the BLAS thread counts while fit runs."""

    def __init__(self):
        self.seen = set()

    def on_epoch_end(self, epoch, logs=None):
        self.seen |= blas_threads_now()


@pytest.fixture(autouse=True)
def own_look_at_the_load(monkeypatch):
    """Each test starts with no look at the load taken and leaves none behind: a look
    taken on a test's fake clock (at 1000 s, say) would otherwise be taken for a fresh
    one by the next tests wherever the machine has been up for less than that, since
    the real clock is then behind it."""
    monkeypatch.setattr(policy, "_sensed", None)


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
    monkeypatch.setattr(policy, "SENSE_EVERY", 0.0)


def test_the_policy_by_the_largest_product(monkeypatch, sense_always):
    monkeypatch.setattr(policy, "busy_cpus", lambda: 0)  # an idle machine
    assert policy.thread_count(1000) is None  # BLAS runs it on one thread anyway: no limit, no cost
    assert policy.thread_count(2 ** 18 - 1) is None
    assert policy.thread_count(2 ** 18) == 1
    assert policy.thread_count(2 ** 20) == 1
    assert policy.thread_count(policy.PARALLEL_MIN_PRODUCT - 1) == 1
    assert policy.thread_count(2 ** 26) is None  # BLAS's default
    assert policy.thread_count(policy.PARALLEL_MIN_PRODUCT) is None  # from the bound on, a large plan
    with dn.threads(2):
        assert dn.get_num_threads() == 2
        assert policy.thread_count(2 ** 20) == 1
        assert policy.thread_count(2 ** 26) == 2
        assert policy.thread_count(policy.PARALLEL_MIN_PRODUCT - 1) == 1
        assert policy.thread_count(policy.PARALLEL_MIN_PRODUCT) == 2
    assert dn.get_num_threads() is None


@pytest.mark.parametrize("busy", [1, 2, 5])
def test_a_large_plan_takes_no_more_threads_than_the_busy_machine_leaves(monkeypatch, sense_always, busy):
    monkeypatch.setattr(policy, "busy_cpus", lambda: busy)
    monkeypatch.setattr(policy, "_cpus", lambda: 4)
    with threadpool_limits(limits=4, user_api="blas"):  # BLAS's own count, densenet's unset
        assert policy.thread_count(2 ** 26) == max(1, 4 - busy)
        assert policy.thread_count(2 ** 20) == 1
    with threadpool_limits(limits=2, user_api="blas"):
        assert policy.thread_count(2 ** 26) == (None if busy <= 2 else 1)  # None: BLAS's own 2


@pytest.mark.parametrize("busy", [0, 1, 5])
def test_a_count_set_is_the_count_large_plans_run_on_whatever_the_load(monkeypatch, sense_always, busy):
    """OpenBLAS sums a product of a large inner size (784 here) in another order on one
    thread than on two: a count that followed the load would make a fit's weights depend
    on what else the machine runs. A count set is the one large plans run on, untimed."""
    monkeypatch.setattr(policy, "busy_cpus", lambda: busy)
    monkeypatch.setattr(policy, "_cpus", lambda: 4)
    large = policy.PARALLEL_MIN_PRODUCT
    for count in (3, 8):  # more than the CPUs too: as set
        with dn.threads(count):
            assert policy.thread_count(2 ** 26) == count
            assert policy.trial_count(2 ** 26, count) is None
            assert policy.thread_choice(large, count, None) is None
            assert policy.thread_count(2 ** 20) == 1
            assert policy.thread_count(1000) is None  # the size rule


def test_a_fit_on_a_count_set_trains_the_same_weights_on_a_busy_machine(two_threads, monkeypatch,
                                                                          sense_always):
    X, y = np.random.default_rng(0).standard_normal((256, 784)), np.random.default_rng(1).random((256, 10))

    def trained(busy):
        monkeypatch.setattr(policy, "busy_cpus", lambda: busy)
        model = mlp((784, 512, 10), seed=0)
        watch, loss, optimizer = Watch(), dn.MSELoss(), dn.SGD(1.0)
        with dn.threads(2):
            model.fit(X, y, epochs=4, batch_size=128, loss=loss, optimizer=optimizer, callbacks=[watch],
                      seed=0)
            assert model.train_step(loss, optimizer, 128, y).thread_choice is None
        assert watch.seen == {2}
        return model.params

    assert np.array_equal(trained(busy=0), trained(busy=5))


def test_the_load_is_looked_at_once_a_second(monkeypatch):
    looks = []
    monkeypatch.setattr(policy, "busy_cpus", lambda: looks.append(1) or 0)
    policy.set_num_threads(None)  # forgets the last look
    for _ in range(5):
        policy.thread_count(2 ** 26)
    assert len(looks) == 1
    monkeypatch.setattr(policy, "SENSE_EVERY", 0.0)
    policy.thread_count(2 ** 26)
    assert len(looks) == 2


def test_the_load_is_looked_at_again_from_exactly_sense_every_seconds_on(monkeypatch):
    looks, now = [], [1000.0]
    monkeypatch.setattr(policy, "busy_cpus", lambda: looks.append(now[0]) or 0)
    monkeypatch.setattr(policy.time, "monotonic", lambda: now[0])
    policy.set_num_threads(None)
    policy.thread_count(2 ** 26)
    now[0] += policy.SENSE_EVERY / 2
    policy.thread_count(2 ** 26)
    assert looks == [1000.0]
    now[0] = 1000.0 + policy.SENSE_EVERY
    policy.thread_count(2 ** 26)
    assert looks == [1000.0, 1000.0 + policy.SENSE_EVERY]


def test_busy_cpus_is_0_where_the_kernel_does_not_say(monkeypatch):
    def refused(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(policy.os, "listdir", refused)
    assert policy.busy_cpus() == 0


def test_cpus_falls_back_to_the_count_and_to_1_where_affinity_is_unknown(monkeypatch, tmp_path):
    monkeypatch.delattr(policy.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(policy, "CGROUP_CPU_MAX", str(tmp_path / "none"))  # and no quota stated
    monkeypatch.setattr(policy, "CGROUP_V1_CPU", (str(tmp_path / "none"), str(tmp_path / "none")))
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 3)
    assert policy._cpus() == 3
    monkeypatch.setattr(policy.os, "cpu_count", lambda: None)
    assert policy._cpus() == 1


@pytest.mark.parametrize("text, quota", [
    ("max 100000\n", None), ("200000 100000\n", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5),
    ("-1\n 100000\n", None), ("0 100000", None), ("100000 0", None), ("", None), ("max", None),
    ("1 100000", 1e-5), ("3 1", 3.0),  # any positive quota and period count
])
def test_a_control_group_s_cpu_quota_is_read_as_cpus(text, quota):
    assert policy.quota_from(text) == quota


@pytest.mark.parametrize("v2, v1, cpus", [
    ("200000 100000", None, 2),  # cgroup v2: a container limited to 2 CPUs
    ("150000 100000", None, 2),  # 1.5 CPUs: 2 threads share them
    ("20000 100000", None, 1),
    ("max 100000", None, 64),  # no quota: the CPUs it may run on
    ("6400000 100000", None, 64),  # a quota above them changes nothing
    (None, ("300000", "100000"), 3),  # cgroup v1
    (None, ("-1", "100000"), 64),
    (None, None, 64),  # neither stated
])
def test_the_cpus_counted_are_those_the_quota_allows(monkeypatch, tmp_path, v2, v1, cpus):
    # this process's affinity (pid 0), 64 CPUs
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: set(range(64 if pid == 0 else 1)),
                        raising=False)
    files = {"cpu.max": v2, "quota": v1 and v1[0], "period": v1 and v1[1]}
    for name, text in files.items():
        if text is not None:
            (tmp_path / name).write_text(text + "\n")
    monkeypatch.setattr(policy, "CGROUP_CPU_MAX", str(tmp_path / "cpu.max"))
    monkeypatch.setattr(policy, "CGROUP_V1_CPU", (str(tmp_path / "quota"), str(tmp_path / "period")))
    assert policy._cpus() == cpus


def test_a_large_plan_in_a_container_takes_no_more_threads_than_its_quota(monkeypatch, tmp_path,
                                                                          sense_always):
    """64 CPUs to run on and BLAS configured for 8 threads, but a quota of 2 CPUs: 2 threads."""
    monkeypatch.setattr(policy, "busy_cpus", lambda: 0)
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    (tmp_path / "cpu.max").write_text("200000 100000\n")
    monkeypatch.setattr(policy, "CGROUP_CPU_MAX", str(tmp_path / "cpu.max"))
    with threadpool_limits(limits=8, user_api="blas"):
        assert policy.thread_count(2 ** 26) == 2
    with dn.threads(8):
        assert policy.thread_count(2 ** 26) == 8  # a count set is used as set


class FakeOpenBlas:
    def __init__(self, version, filepath, architecture=None):
        self.version, self.filepath = version, filepath
        if architecture is not None:  # (threadpoolctl's other libraries' controllers have none)
            self.architecture = architecture


def test_generic_kernels_are_the_libraries_openblas_runs_as_on_a_prescott(monkeypatch):
    libraries = [FakeOpenBlas("0.3.21", "/venv/numpy.libs/libopenblas64_p-r0-15028c96.3.21.so", "Prescott"),
                 FakeOpenBlas("0.3.31", "/venv/scipy.libs/libscipy_openblas-6cdc3b4a.so", "SkylakeX"),
                 FakeOpenBlas("2026.2", "/venv/lib/libmkl_rt.so.2")]
    monkeypatch.setattr(policy, "_blas_libraries", lambda: libraries)
    assert policy.generic_kernels() == ["OpenBLAS 0.3.21 (numpy.libs)"]
    libraries[1].architecture = "Prescott"
    assert policy.generic_kernels() == ["OpenBLAS 0.3.21 (numpy.libs)", "OpenBLAS 0.3.31 (scipy.libs)"]


def test_generic_kernels_reads_the_libraries_loaded():
    """Each library threadpoolctl finds says which kernels it runs (OpenBLAS's
    ``architecture``): the names listed are of the libraries loaded."""
    generic = [info for info in threadpool_info() if info.get("architecture") == "Prescott"]
    assert policy.generic_kernels() == [
        f"OpenBLAS {info['version']} ({os.path.basename(os.path.dirname(info['filepath']))})"
        for info in generic]


@pytest.mark.parametrize("wide", [True, False], ids=["avx512", "avx2"])
def test_held_back_kernels_are_openblas_s_avx2_kernels_on_a_processor_with_avx512(monkeypatch, wide):
    """OpenBLAS's Haswell and Zen kernels (AVX2) are named where NumPy runs its AVX-512 loops:
    there ``OPENBLAS_CORETYPE=Haswell`` (or an OpenBLAS that does not know the processor)
    holds the products back; SkylakeX, generic (``generic_kernels``) and other libraries never."""
    libraries = [FakeOpenBlas("0.3.31", "/venv/numpy.libs/libscipy_openblas64_-32a4b2a6.so", "Haswell"),
                 FakeOpenBlas("0.3.30", "/venv/scipy.libs/libscipy_openblas-6cdc3b4a.so", "Zen"),
                 FakeOpenBlas("0.3.21", "/venv/other.libs/libopenblas.so", "Prescott"),
                 FakeOpenBlas("0.3.31", "/venv/torch/lib/libopenblas.so", "SkylakeX"),
                 FakeOpenBlas("2026.2", "/venv/lib/libmkl_rt.so.2")]
    monkeypatch.setattr(policy, "_blas_libraries", lambda: libraries)
    monkeypatch.setattr(policy, "wide_simd_loop", lambda ufunc, dtype: wide)
    expected = ["OpenBLAS 0.3.31 (numpy.libs)", "OpenBLAS 0.3.30 (scipy.libs)"] if wide else []
    assert policy.held_back_kernels() == expected


def test_held_back_kernels_reads_the_libraries_loaded_and_numpy_s_loops():
    from densenet.numpy_loops import wide_simd_loop

    held = [info for info in threadpool_info() if info.get("architecture") in ("Haswell", "Zen")]
    names = [f"OpenBLAS {info['version']} ({os.path.basename(os.path.dirname(info['filepath']))})"
             for info in held]
    assert policy.held_back_kernels() == (names if wide_simd_loop(np.exp, np.float32) else [])


def test_busy_from_counts_the_running_tasks_that_are_not_ours():
    loadavg = b"2.10 1.50 0.80 5/250 12345\n"
    ours = [b"101 (python3) R 1 101 0", b"102 (odd) R name) S 1 101", b"103 (worker) S 101", b"104 (w) R 101"]
    assert policy.busy_from(loadavg, ours) == 3  # 5 running, 2 of them ours (101 and 104)
    assert policy.busy_from(loadavg, []) == 5
    assert policy.busy_from(b"0.1 0.1 0.1 1/90 7", ours) == 0  # never negative
    assert policy.busy_from(b"", ours) == 0
    assert policy.busy_from(b"a b c x/y z", ours) == 0


def test_busy_cpus_leaves_out_this_processs_own_running_threads(monkeypatch):
    if not os.path.exists("/proc/self/task"):
        pytest.skip("the kernel does not list a process's threads here")
    seen, busy_from = [], policy.busy_from
    monkeypatch.setattr(policy, "busy_from", lambda loadavg, stats: seen.append(stats) or 0)
    policy.busy_cpus()
    (stats,) = seen
    assert len(stats) == len(os.listdir("/proc/self/task"))
    # the calling thread is running while it reads its own stat: one running task is ours
    assert busy_from(b"0.0 0.0 0.0 1/90 7", stats) == 0


def test_busy_cpus_sees_a_busy_neighbour():
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("the kernel does not count running tasks here")
    code = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass"
    neighbour = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.3)
        assert max(policy.busy_cpus() for _ in range(20)) >= 1
    finally:
        neighbour.kill()
        neighbour.wait()


def test_fit_and_predict_run_a_medium_plan_on_one_thread_and_restore_the_count(two_threads):
    before = blas_threads_now()
    model = mlp((64, 256, 10), seed=0)
    assert policy.thread_count(model.largest_product(32)) == 1
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
    assert model.largest_product(256) >= policy.PARALLEL_MIN_PRODUCT
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
    assert blas_threads_now() == before
    assert dn.get_num_threads() is None
    dn.set_num_threads(1)
    try:
        assert blas_threads_now() == {1}
    finally:
        dn.set_num_threads(None)
    assert blas_threads_now() == before


def test_none_puts_back_the_counts_blas_had_when_densenet_last_set_one():
    """Not those of the process's first ``set_num_threads``: other code may set BLAS's
    count between (threadpoolctl's ``threadpool_limits``, a test runner's worker)."""
    with threadpool_limits(limits=2, user_api="blas"):
        dn.set_num_threads(1)
        dn.set_num_threads(None)
        assert blas_threads_now() == {2}
        with threadpool_limits(limits=1, user_api="blas"):
            dn.set_num_threads(2)
            dn.set_num_threads(3)
            assert blas_threads_now() == granted(3)
            dn.set_num_threads(None)
            assert blas_threads_now() == {1}
            dn.set_num_threads(None)  # densenet set none since: nothing to put back
            assert blas_threads_now() == {1}
            assert dn.get_num_threads() is None


def test_threads_puts_back_the_counts_blas_had_when_the_block_began():
    three = granted(3)
    with threadpool_limits(limits=2, user_api="blas"):
        with dn.threads(1), threadpool_limits(limits=3, user_api="blas"):
            with dn.threads(2):
                assert blas_threads_now() == {2}
                assert dn.get_num_threads() == 2
            assert blas_threads_now() == three
            assert dn.get_num_threads() == 1
            with dn.threads(None):
                assert dn.get_num_threads() is None
            assert blas_threads_now() == three
            assert dn.get_num_threads() == 1
        assert blas_threads_now() == {2}
        assert dn.get_num_threads() is None
        with pytest.raises(KeyboardInterrupt), dn.threads(1):
            raise KeyboardInterrupt
        assert blas_threads_now() == {2}
        assert dn.get_num_threads() is None


class FakeBlas:
    """A BLAS library as threadpoolctl shows it, recording the counts set."""

    def __init__(self, count=2):
        self.count, self.set = count, []

    def get_num_threads(self):
        return self.count

    def set_num_threads(self, count):
        self.count = count
        self.set.append(count)


def test_set_num_threads_checks_its_argument():
    for bad, error in ((0, ValueError), (-1, ValueError), (2**31, ValueError),
                       (1.5, TypeError), (2.0, TypeError), (True, TypeError), ("2", TypeError)):
        with pytest.raises(error, match="n must be an integer from 1 to 2147483647 or None"):
            dn.set_num_threads(bad)
        with pytest.raises(error, match="n must be an integer from 1 to 2147483647 or None"), dn.threads(bad):
            pass
    assert dn.get_num_threads() is None
    dn.set_num_threads(np.int64(1))  # (NumPy's integers too, as Python ints)
    try:
        assert dn.get_num_threads() == 1
        assert type(dn.get_num_threads()) is int
    finally:
        dn.set_num_threads(None)
    assert dn.get_num_threads() is None


def test_the_blas_libraries_are_looked_for_again_after_each_choice_of_the_products_library(
        monkeypatch, through):
    """The policy finds the BLAS libraries loaded once, and again after each
    ``backend.use_gemm_library`` (the same library chosen again included): one loaded since
    (MKL, by a ``densenet.cblas.Cblas`` made directly) is then set too. Fake libraries, as
    threadpoolctl would find them."""
    import threadpoolctl

    first, later = FakeBlas(), FakeBlas()
    first.user_api = later.user_api = "blas"
    loaded = [first]
    monkeypatch.setattr(threadpoolctl, "ThreadpoolController",
                        lambda: type("Found", (), {"lib_controllers": list(loaded)})())
    through(None)
    with dn.threads(1):
        pass
    loaded.append(later)
    with dn.threads(1):  # (found once: the library loaded since is not looked for on every call)
        pass
    assert (first.set, later.set) == ([1, 2, 1, 2], [])
    through(None)  # (SciPy's BLAS again: no other library, but a choice)
    with dn.threads(1):
        pass
    assert (first.set, later.set) == ([1, 2, 1, 2, 1, 2], [1, 2])


def test_the_largest_count_a_c_int_holds_is_set(monkeypatch):
    """2**31 - 1, the largest count each library's C ``int`` holds, is set as it is (on fake
    libraries: a real one would start that many threads); ``None`` puts back what they had."""
    libs = [FakeBlas(), FakeBlas(3)]
    monkeypatch.setattr(policy, "_blas_libraries", lambda: libs)
    dn.set_num_threads(2**31 - 1)
    try:
        assert [lib.set for lib in libs] == [[2**31 - 1], [2**31 - 1]]
        assert dn.get_num_threads() == 2**31 - 1
    finally:
        dn.set_num_threads(None)
    assert [lib.count for lib in libs] == [2, 3]
    assert dn.get_num_threads() is None


@pytest.fixture
def fake_machine(monkeypatch):
    """Two fake BLAS libraries on 2 threads, and a clock that only a fake step moves:
    a step takes ``cost[count]`` seconds on the count BLAS runs on."""
    libs = [FakeBlas(), FakeBlas()]
    clock = {"now": 100.0}
    monkeypatch.setattr(policy, "_blas_libraries", lambda: libs)
    monkeypatch.setattr(policy.time, "perf_counter", lambda: clock["now"])
    monkeypatch.setattr(policy.time, "monotonic", lambda: clock["now"])

    def make_step(cost):
        ran = []

        def step():
            count = libs[0].count
            assert libs[1].count == count  # both libraries on the same count
            ran.append(count)
            clock["now"] += cost[count]
            return 0.5

        step.ran = ran
        return step

    return libs, clock, make_step


TRIAL = 4 * policy.TRIAL_STEPS  # steps of a trial: (untimed, timed) on each count, per round


@pytest.mark.parametrize("one, chosen", [(1.0, 1), (1.94, 2), (2.0, 2), (3.0, 2)])
def test_a_trial_times_both_counts_and_keeps_the_faster(fake_machine, one, chosen):
    libs, _, make_step = fake_machine
    step = make_step({2: 2.0, 1: one})
    fresh = policy.ThreadChoice(2)
    assert fresh.best == 2  # before its first trial, the policy's count
    with fresh as choice:
        values = [choice(step) for _ in range(TRIAL)]
        assert step.ran == [2, 2, 1, 1] * policy.TRIAL_STEPS
        assert values == [0.5] * TRIAL  # trial steps are ordinary steps
        assert choice.best == chosen  # one thread only when clearly faster (TRIAL_MARGIN)
        for _ in range(5):
            choice(step)
        assert step.ran[TRIAL:] == [chosen] * 5
    assert [lib.count for lib in libs] == [2, 2]  # put back when the block ends
    for lib in libs:
        lib.set.clear()
    with choice:  # the next fit, before the next trial is due
        choice(step)
    assert step.ran[-1] == chosen
    assert [lib.set for lib in libs] == ([[], []] if chosen == 2 else [[1, 2], [1, 2]])


def test_one_thread_is_chosen_at_exactly_the_margin(fake_machine, monkeypatch):
    _, _, make_step = fake_machine
    monkeypatch.setattr(policy, "TRIAL_MARGIN", 0.75)  # times exact in binary
    step = make_step({2: 2.0, 1: 1.5})
    with policy.ThreadChoice(2) as choice:
        for _ in range(TRIAL):
            choice(step)
    assert choice.best == 1


def test_the_first_step_after_a_switch_is_not_timed(fake_machine):
    """Switching counts costs the next step (threads woken or parked, caches cold): a
    trial that timed those steps would hold it against whichever count it switched to."""
    libs, clock, make_step = fake_machine
    inner = make_step({2: 1.0, 1: 0.5})
    last = []

    def step():
        if last and last[-1] != libs[0].count:
            clock["now"] += 2.0 if libs[0].count == 1 else 0.2  # the switch
        last.append(libs[0].count)
        return inner()

    with policy.ThreadChoice(2) as choice:
        for _ in range(TRIAL):
            choice(step)
    assert choice.best == 1


def test_a_new_trial_starts_trial_every_seconds_after_the_last(fake_machine):
    libs, clock, make_step = fake_machine
    cost = {2: 1.0, 1: 0.5}
    step = make_step(cost)
    with policy.ThreadChoice(2) as choice:
        for _ in range(TRIAL):
            choice(step)
        ended = clock["now"]
        assert choice.best == 1
        cost[1] = policy.TRIAL_EVERY / 4  # one thread now the slow one; four steps take TRIAL_EVERY
        while clock["now"] < ended + policy.TRIAL_EVERY:
            choice(step)
        assert step.ran[TRIAL:] == [1] * 4  # no trial before TRIAL_EVERY seconds, one from exactly then
        before = len(step.ran)
        for _ in range(TRIAL):
            choice(step)
        assert step.ran[before:] == [2, 2, 1, 1] * policy.TRIAL_STEPS
        assert choice.best == 2


def test_steps_of_another_batch_size_are_not_timed_and_keep_the_count(fake_machine):
    libs, _, make_step = fake_machine
    step, last = make_step({2: 1.0, 1: 0.5}), make_step({2: 50.0, 1: 50.0})
    with policy.ThreadChoice(2) as choice:
        choice(step)  # the trial's first step: on 2 threads
        choice(last, timed=False)
        assert last.ran == [2]
        for _ in range(TRIAL - 1):
            choice(step)
            choice(last, timed=False)
        assert choice.best == 1  # the last batches' 50 s did not count
        assert step.ran == [2, 2, 1, 1] * policy.TRIAL_STEPS


def test_the_choice_is_made_only_between_two_counts_and_kept_for_the_next_fit(fake_machine, monkeypatch):
    libs, _, _ = fake_machine
    monkeypatch.setattr(policy, "_sensed", None)  # BLAS's count not looked up yet
    large = policy.PARALLEL_MIN_PRODUCT
    assert policy.thread_choice(large - 1, 2, None) is None  # a plan the policy runs on one thread
    assert policy.thread_choice(large, 1, None) is None  # one thread set or left free
    first = policy.thread_choice(large, 2, None)
    assert first.count == 2
    assert policy.thread_choice(large, 2, first) is first
    assert policy.thread_choice(large, 3, first).count == 3  # another count: a new trial
    for lib in libs:
        lib.count = 4
    assert policy.thread_choice(large, None, first).count == 4  # no limit set: BLAS's own count
    monkeypatch.setattr(policy, "SERIAL_BELOW", math.inf)
    assert policy.thread_choice(large, 2, None) is None  # the policy switched off


def test_a_fit_on_a_large_plan_chooses_its_count_and_puts_blas_back(two_threads, idle_two_cpus, sense_always):
    before = blas_threads_now()
    model = mlp((512, 512, 10), seed=0)
    X, y = np.random.default_rng(0).standard_normal((512, 512)), np.full((512, 10), 0.5)
    assert policy.thread_count(model.largest_product(256)) is None  # BLAS's own count: 2
    watch, loss, optimizer = Watch(), dn.MSELoss(), dn.SGD(0.1)
    history = model.fit(X, y, epochs=8, batch_size=256, loss=loss, optimizer=optimizer, callbacks=[watch])
    assert len(history.loss) == 8
    assert history.loss[-1] < history.loss[0]
    choice = model.train_step(loss, optimizer, 256, y).thread_choice
    assert choice is not None
    assert choice.count == 2
    assert choice.best in (1, 2)
    assert watch.seen <= {1, 2}
    assert blas_threads_now() == before

    class Boom(dn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, batch_size=256, callbacks=[Boom()])
    assert blas_threads_now() == before


def test_fit_times_its_full_batches_only(two_threads, idle_two_cpus, monkeypatch, sense_always):
    """The last, smaller batch of an epoch is another plan: timing it beside full
    batches would hold its shorter steps against whichever count it ran on."""
    calls = []
    run = policy.ThreadChoice.__call__

    def spy(self, step, timed=True):
        calls.append((step.n, timed))
        return run(self, step, timed)

    monkeypatch.setattr(policy.ThreadChoice, "__call__", spy)
    model = mlp((512, 512, 10), seed=0)
    X, y = np.random.default_rng(0).standard_normal((640, 512)), np.full((640, 10), 0.5)
    model.fit(X, y, epochs=2, batch_size=256)
    assert calls == [(256, True), (256, True), (128, False)] * 2


# -- fits in other Python threads (a threaded server, Dask's workers) --------------------

def in_a_thread(function):
    """What ``function()`` returns when called in a new Python thread (or raises there)."""
    import threading

    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as error:  # re-raised in the caller
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_the_policy_sets_no_count_in_other_python_threads(monkeypatch, sense_always):
    libs = [FakeBlas(), FakeBlas()]
    monkeypatch.setattr(policy, "_blas_libraries", lambda: libs)
    monkeypatch.setattr(policy, "busy_cpus", lambda: 0)
    medium, large = policy.PARALLEL_MIN_PRODUCT // 2, 4 * policy.PARALLEL_MIN_PRODUCT
    assert (policy.thread_count(medium), policy.trial_count(large, None)) == (1, 2)  # the main thread
    assert in_a_thread(lambda: (policy.thread_count(medium), policy.thread_count(large),
                                policy.trial_count(large, None), policy.trial_count(large, 2))) == (
        None, None, None, None)
    model = mlp((64, 256, 10), seed=0)
    assert policy.thread_count(model.largest_product(32)) == 1
    history = in_a_thread(lambda: model.fit(np.zeros((64, 64)), np.zeros((64, 10)), batch_size=32))
    in_a_thread(lambda: model.predict(np.zeros((64, 64))))
    assert len(history.loss) == 1
    assert [lib.set for lib in libs] == [[], []]


TWO_FITS = """
import json, threading
import numpy as np
import densenet as dn
from threadpoolctl import threadpool_info

def counts():
    return sorted(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")

before = counts()
both_inside, first_done, seen = threading.Barrier(2, timeout=60), threading.Event(), {}

class Meet(dn.Callback):
    def __init__(self, name):
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        both_inside.wait()
        if self.name == "second":
            first_done.wait(60)
            seen["second"] = counts()

def fit(name):
    model = dn.Sequential(dn.Dense(64, 256), dn.Sigmoid(), dn.Dense(256, 10), seed=0)
    model.fit(np.zeros((32, 64)), np.zeros((32, 10)), batch_size=32, callbacks=[Meet(name)])
    if name == "first":
        first_done.set()

threads = [threading.Thread(target=fit, args=(name,)) for name in ("first", "second")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(60)
print(json.dumps({"before": before, "second": seen.get("second"), "after": counts()}))
"""


def test_fits_in_two_python_threads_leave_blas_as_it_was():
    """The first fit ends while the second is inside its epoch. When each set one thread
    for its medium plan and put back what it found, BLAS stayed on one thread for good
    in two runs of three (from worker threads OpenBLAS may ignore a count); in other
    threads than the main one the policy now leaves BLAS alone. In a fresh process,
    whose main thread never set a count."""
    import json

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cpus < 2:
        pytest.skip("one CPU: OpenBLAS starts one thread whatever OPENBLAS_NUM_THREADS asks")

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    env.pop("DENSENET_BLAS", None)  # (NumPy's and SciPy's BLAS: no third library loaded during the fits)
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", TWO_FITS], capture_output=True, text=True, env=env,
                                timeout=120, check=True)
        assert json.loads(result.stdout) == {"before": [2, 2], "second": [2, 2], "after": [2, 2]}


def test_a_diverging_epoch_s_replay_runs_each_step_on_the_count_it_ran_on(two_threads, monkeypatch):
    """A fit whose steps alternate between two threads and one (a trial at every step): its
    products of inner size 784 sum in another order on one thread than on two, so a replay
    on one count made other steps than the fit's. Each replayed step's loss is compared
    with the fit's: the replay took them for another way, and put back the epoch's start."""
    monkeypatch.setattr(policy, "busy_cpus", lambda: 0)
    monkeypatch.setattr(policy, "TRIAL_EVERY", 0.0)  # (a trial at every step: 2, 2, 1, 1, 2, ...)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((448, 784))  # (7 batches: each epoch's steps begin elsewhere in the trials)
    y = np.tanh(X[:, :1])

    class Grow(dn.Callback):
        def __init__(self, optimizer, grow):
            self.optimizer, self.grow, self.weights, self.counts = optimizer, grow, [], []

        def on_batch_end(self, batch, logs=None):
            self.weights.append(self.model.params.copy())
            self.counts.append(blas_threads_now())
            self.optimizer.lr *= self.grow

    both = 0  # the fits whose diverging epoch ran steps on either count before its bad one
    for lr, grow in ((1e-3, 1.05), (1e-3, 1.1), (1e-2, 1.1), (1e-2, 1.2)):
        model = dn.Sequential(dn.Dense(784, 64), dn.ReLU(), dn.Dense(64, 1), seed=0)
        assert model.largest_product(64) >= policy.PARALLEL_MIN_PRODUCT
        optimizer = dn.SGD(lr)
        seen = Grow(optimizer, grow)
        with pytest.raises(dn.DivergenceError) as caught:
            model.fit(X, y, optimizer=optimizer, epochs=60, batch_size=64, callbacks=[seen])
        error = caught.value
        first = error.epoch * 7
        assert not error.epoch_start
        if error.batch:
            np.testing.assert_array_equal(model.params, seen.weights[first + error.batch - 1])
        both += {1} in seen.counts[first:] and {2} in seen.counts[first:]
    assert both
