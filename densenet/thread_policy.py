"""The thread policy: how many threads BLAS (NumPy's, SciPy's and
``backend.gemm_library``'s) runs a plan's matrix products on (``thread_count``,
``blas_threads``), and the counts users set (``set_num_threads``, ``threads``). The BLAS
libraries it sets are those threadpoolctl finds in the process, which also tell which of
them run OpenBLAS's generic kernels (``generic_kernels``), or its AVX2 kernels on a processor
with AVX-512 (``held_back_kernels``), for ``fit``'s verbose report.

OpenBLAS threads a product as soon as it is a few hundred thousand
multiply-adds. On an idle machine (2 cores) a second thread pays from about
2**21 multiply-adds in the plan's largest product: one-epoch fits ran
0.94-0.99x as fast on two threads as on one at 0.1-1 Mi (2-64-64-1 batch 32,
64-256-256-10 batch 16, 784-30-10 batch 10), 1.14-1.29x at 2-3 Mi and
1.4-1.65x from 6 Mi up. But beside busy processes a thread that shares its
core stalls every product it takes part in: with two busy-loop processes, a
digits-shaped 64-256-256-10 batch-16 epoch took 2.7-15.5x its idle time on
BLAS's own two threads. So a plan whose largest product is under
``PARALLEL_MIN_PRODUCT`` runs on one thread, and a larger one on BLAS's own
count cut to the CPUs other processes leave free (``busy_cpus``, looked at
once a second at most): beside two busy processes a 784-512-512-10 epoch then
takes 2.3-2.7x its idle time instead of 3.9-13x. The CPUs counted are those
the process may run on, or fewer where its control group's quota allows fewer
(``cpu_quota``: a container's CPU limit). A count set with ``set_num_threads``
is the one large plans run on, as set: OpenBLAS sums a product of inner size
over 384 (float64; 448 in float32, SkylakeX kernels) in another order on one
thread than on two, and a 784-512-512-10 float32 fit of 20 epochs ended with
weights up to 5e-3 apart on the two counts. The policy sets counts from the
main Python thread only (``on_main_thread``).

``ThreadChoice``: what the load the kernel reports does not show (a virtual
machine's host giving its CPUs to other guests, two virtual CPUs far apart in
the host's caches) a fit finds out by timing its own steps on both counts
(where no count is set).
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from .backend import gemm_library, gemm_library_choices
from .numpy_loops import wide_simd_loop

__all__ = ["AVX2_KERNELS", "CGROUP_CPU_MAX", "CGROUP_V1_CPU", "PARALLEL_MIN_PRODUCT", "SENSE_EVERY",
           "SERIAL_BELOW", "TRIAL_EVERY", "TRIAL_MARGIN", "TRIAL_STEPS", "ThreadChoice", "blas_threads",
           "busy_cpus", "busy_from", "cpu_quota", "generic_kernels", "get_num_threads", "held_back_by",
           "held_back_kernels", "on_main_thread", "quota_from", "set_num_threads", "thread_choice",
           "thread_count", "threads", "trial_count"]


#: A plan whose largest matrix product has fewer multiply-adds than this runs on one
#: BLAS thread; from it up, on as many as are configured and free (see the module
#: docstring for the measurements).
PARALLEL_MIN_PRODUCT = 2 ** 21

#: Products below this many multiply-adds OpenBLAS runs on one thread by itself:
#: no limit is set for them, so tiny plans (the tutorial's) pay nothing. (Set it to
#: ``math.inf`` and no plan is ever limited or timed: the policy is off.)
SERIAL_BELOW = 2 ** 18

#: Seconds for which one look at the machine's load (``busy_cpus``) is reused.
SENSE_EVERY = 1.0

_num_threads: int | None = None
_libraries: tuple[int, list[Any]] | None = None  # (gemm_library_choices then, the BLAS libraries found)
_original: list[int] | None = None  # the counts BLAS had when set_num_threads took over (None: it has not)
_sensed: tuple[float, int, int] | None = None  # (when, free CPUs, BLAS's own count)


def set_num_threads(n: int | None) -> None:
    """Run BLAS (NumPy's and SciPy's) on ``n`` threads from now on; ``None`` puts back the
    counts it had before (before the first call with a number since the last ``None``:
    other code may set counts between). ``fit``, ``predict`` and ``evaluate`` still run
    small plans on one thread (``thread_count``) and large ones on ``n``, whatever the load
    and the steps' timings: OpenBLAS sums a product of a large inner size in another order
    on one thread than on two, so a count that followed the load would make the weights a
    fit trains depend on what else the machine runs. Unset (``None``), large plans run on
    BLAS's own count cut to the CPUs left free, and ``fit`` one thread while its steps time
    faster on one (``ThreadChoice``). Call it from the main Python thread: the count is the
    whole process's, and OpenBLAS may ignore one set from another thread
    (``on_main_thread``)."""
    global _num_threads, _original, _sensed
    integer = isinstance(n, (int, np.integer)) and not isinstance(n, bool)
    if n is not None and not (integer and 1 <= n <= 2**31 - 1):
        raise (ValueError if integer else TypeError)(
            f"set_num_threads: n must be an integer from 1 to 2147483647 or None, got {n!r}")
    n = None if n is None else int(n)  # (a C int for each library)
    libraries = _blas_libraries()
    if n is None:
        for lib, count in zip(libraries, _original or []):
            lib.set_num_threads(count)
        _original = None
    else:
        if _original is None:
            _original = [lib.get_num_threads() for lib in libraries]
        for lib in libraries:
            lib.set_num_threads(n)
    _num_threads = n
    _sensed = None  # the next plan looks at the load afresh


def get_num_threads() -> int | None:
    """What ``set_num_threads`` set (``None``: BLAS's own default)."""
    return _num_threads


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """``set_num_threads(n)`` for a ``with`` block (any code in it, a hand-written
    training loop too), then what it was: the counts BLAS had when the block began, and
    ``get_num_threads``'s answer.

    Example:
        >>> import densenet as dn
        >>> before = dn.get_num_threads()
        >>> with dn.threads(1):   # small products: one BLAS thread, whatever the machine
        ...     dn.get_num_threads()
        1
        >>> dn.get_num_threads() == before
        True
    """
    global _num_threads, _original, _sensed
    saved = _num_threads, _original, [lib.get_num_threads() for lib in _blas_libraries()]
    set_num_threads(n)
    try:
        yield
    finally:
        _num_threads, _original, counts = saved
        for lib, count in zip(_blas_libraries(), counts):
            lib.set_num_threads(count)
        _sensed = None


def thread_count(largest_product: int) -> int | None:
    """The BLAS threads a plan whose largest product has ``largest_product``
    multiply-adds runs on: 1 below ``PARALLEL_MIN_PRODUCT``; else the count
    ``set_num_threads`` set, as set (the weights a fit trains then do not depend on the
    load), or where none is, BLAS's own count cut to the CPUs (``cpu_quota``'s, if
    fewer) other processes leave free right now (``busy_cpus``), at least 1. ``None``
    means no limit is set (BLAS decides): below ``SERIAL_BELOW``, and in every
    Python thread but the main one (``on_main_thread``)."""
    if largest_product < SERIAL_BELOW or not on_main_thread():
        return None
    if largest_product < PARALLEL_MIN_PRODUCT:
        return 1
    if _num_threads is not None:
        return _num_threads
    global _sensed
    now = time.monotonic()
    if _sensed is None or now - _sensed[0] >= SENSE_EVERY:
        _sensed = (now, _cpus() - busy_cpus(), max(lib.get_num_threads() for lib in _blas_libraries()))
    _, free, blas_count = _sensed
    return max(1, free) if free < blas_count else None



def on_main_thread() -> bool:
    """Whether this is the main Python thread, the one from which the thread policy sets
    BLAS's counts.

    OpenBLAS (0.3.30 and 0.3.31 here) keeps one count per library for the whole
    process, and from other threads a set count may not take: once the main thread has
    set one, counts set from other threads were ignored (a gemm in a worker thread ran
    on two threads after the worker set one), and of two worker threads, the second's
    putting back two threads was ignored after the first had set one. Two fits in two
    threads, each putting back the count it found, left BLAS on one thread for the rest
    of the process in two runs of three. So fits and predictions in other threads (a
    threaded server, Dask's workers, joblib's threading backend) run on the counts BLAS
    has, which the main thread sets (``set_num_threads``; one thread per worker is the
    usual choice for a pool of threads)."""
    return threading.current_thread() is threading.main_thread()


def busy_cpus() -> int:
    """How many CPUs other work keeps busy right now: the tasks the kernel counts as
    running (``/proc/loadavg``'s fourth field) less this process's own running threads
    (OpenBLAS's workers keep running a while after a product). 0 where the kernel does
    not say (not Linux). The counts are of one instant: a busy-loop neighbour is always
    counted, a burst may be missed. About 60 us; asked only for plans large enough to
    be threaded."""
    try:
        with open("/proc/loadavg", "rb") as file:
            loadavg = file.read()
        stats = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat", "rb") as file:
                stats.append(file.read())
    except OSError:
        return 0
    return busy_from(loadavg, stats)


def busy_from(loadavg: bytes, task_stats: list[bytes]) -> int:
    """``busy_cpus`` from the text of ``/proc/loadavg`` and of this process's
    ``/proc/self/task/*/stat`` files (state ``R``: running); 0 if they do not parse."""
    try:
        running = int(loadavg.split()[3].split(b"/")[0])
    except (ValueError, IndexError):
        return 0
    # a stat is "pid (name) state ...", and the name may hold spaces and parentheses
    own = sum(stat[stat.rindex(b")") + 2:].startswith(b"R") for stat in task_stats if b")" in stat)
    return max(0, running - own)


#: Where the kernel states the CPU quota of this process's control group, as a container
#: sees its own: cgroup v2's ``cpu.max``, else cgroup v1's quota and period files.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_CPU = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _cpus() -> int:
    """The CPUs this process may use: those it may run on, or fewer where its control
    group's quota allows fewer (a container limited to 2 CPUs on a 64-CPU machine sees
    64 in its affinity, and OpenBLAS starts 64 threads there by default)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


def cpu_quota() -> float | None:
    """The CPUs' worth of time this process's control group may use (its quota over its
    period: 1.5 for 150 ms in every 100 ms), or None where it has no quota or none is
    stated (not Linux, no cgroup files)."""
    try:
        with open(CGROUP_CPU_MAX) as file:
            return quota_from(file.read())
    except OSError:
        pass
    try:
        with open(CGROUP_V1_CPU[0]) as quota, open(CGROUP_V1_CPU[1]) as period:
            return quota_from(f"{quota.read()} {period.read()}")
    except OSError:
        return None


def quota_from(text: str) -> float | None:
    """``cpu_quota`` from ``"quota period"`` (cgroup v2's ``cpu.max``; v1's two files
    joined): None for no quota (``max``, or v1's -1) or text that does not parse."""
    try:
        quota, period = (int(field) for field in text.split()[:2])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def blas_threads(count: int | None) -> AbstractContextManager[None]:
    """A ``with`` block running on ``count`` BLAS threads (``thread_count``'s answer),
    NumPy's and SciPy's alike; the counts are put back after it (about 4 us). ``None``:
    nothing is set."""
    return nullcontext() if count is None else _limited(count)


def generic_kernels() -> list[str]:
    """The BLAS libraries loaded (NumPy's, SciPy's) that run OpenBLAS's generic kernels,
    each as ``"OpenBLAS 0.3.21 (numpy.libs)"``: those OpenBLAS chooses on a processor it
    does not know, the one it reports as ``Prescott`` (an x86-64 of 2004, with neither
    AVX2 nor FMA). NumPy 1's OpenBLAS (0.3.21-0.3.23) and SciPy 1.11-1.12's (0.3.21) run
    them on Intel's Xeons of 2023 (family 6, model 207), where the 784-512-512-10 step
    took 4.5x its time on the kernels ``OPENBLAS_CORETYPE=SkylakeX`` chooses (README,
    "Which kernels OpenBLAS runs")."""
    return _running({"Prescott"})


#: OpenBLAS's kernels for x86-64 processors with AVX2 and FMA but no AVX-512 (its ``architecture``)
AVX2_KERNELS = frozenset({"Haswell", "Zen"})


def held_back_kernels() -> list[str]:
    """The BLAS libraries loaded that run OpenBLAS's AVX2 kernels (``AVX2_KERNELS``) on a
    processor with AVX-512 (where NumPy's dispatch runs its AVX-512 loops), named as
    ``generic_kernels`` names them: ``OPENBLAS_CORETYPE=Haswell`` in the environment chooses
    them there, or an OpenBLAS that does not know the processor's AVX-512. On an AMD EPYC of
    the Zen 5 kind the 784-512-512-10 step took 1.4-1.6x its time on the kernels OpenBLAS
    chose without it, ``SkylakeX`` (README, "Which kernels OpenBLAS runs")."""
    return _running(AVX2_KERNELS) if wide_simd_loop(np.exp, np.dtype(np.float32)) else []


def held_back_by() -> str:
    """What chose OpenBLAS's kernels below the processor's (``held_back_kernels``), and what to do."""
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        return f"OPENBLAS_CORETYPE={coretype} chose them: unset it before Python starts"
    return ("this OpenBLAS does not know the processor: set OPENBLAS_CORETYPE=SkylakeX before Python starts, "
            "or install a newer NumPy and SciPy")


def _running(kernels: frozenset[str] | set[str]) -> list[str]:
    """The BLAS libraries loaded whose OpenBLAS runs one of ``kernels``, each as
    ``"OpenBLAS 0.3.21 (numpy.libs)"``."""
    return [f"OpenBLAS {lib.version} ({os.path.basename(os.path.dirname(lib.filepath))})"
            for lib in _blas_libraries() if getattr(lib, "architecture", None) in kernels]


def _blas_libraries() -> list[Any]:
    """NumPy's and SciPy's BLAS (and ``gemm_library``'s, loaded first), found through
    threadpoolctl once, and again after each choice of ``backend.use_gemm_library``."""
    global _libraries
    choices = gemm_library_choices()
    if _libraries is None or _libraries[0] != choices:
        from threadpoolctl import ThreadpoolController

        gemm_library()  # (DENSENET_BLAS's library loaded, so that threadpoolctl finds it)
        found = ThreadpoolController().lib_controllers
        _libraries = choices, [lib for lib in found if lib.user_api == "blas"]
    return _libraries[1]


@contextmanager
def _limited(n: int) -> Iterator[None]:
    libraries = _blas_libraries()
    saved = [lib.get_num_threads() for lib in libraries]
    for lib in libraries:
        lib.set_num_threads(n)
    try:
        yield
    finally:
        for lib, count in zip(libraries, saved):
            lib.set_num_threads(count)


#: A trial of ``ThreadChoice`` times this many steps on each count, each after an
#: untimed step on that count (the first step after a switch pays for the switch).
TRIAL_STEPS = 3

#: Seconds for which a ``ThreadChoice`` keeps its choice before it times the counts again.
TRIAL_EVERY = 10.0

#: One thread is chosen when its steps took at most this fraction of the time the
#: other count's did: where both are about as fast, the thread policy's count stays.
TRIAL_MARGIN = 0.95


class ThreadChoice:
    """Runs a planned training step on ``count`` BLAS threads or on one, whichever the
    step's own timings favoured in the last trial.

    The thread policy sees the load the kernel reports (``busy_cpus``), not all
    of it: on a virtual machine the host may give the CPUs to other guests, or
    place the two virtual CPUs far apart in its caches. On this project's 2-CPU
    machine, with nothing else running in it, one epoch of 2-64-64-1 at batch
    1024 took 1.37x (1.34-1.38) as long on two threads as on one, and 0.77x
    (0.66-1.01) half an hour later; 64-256-256-10 at batch 128, 0.66x (0.64-0.70)
    and then 1.17x (0.72-1.19). So a fit whose plan may run on several threads times its
    steps: a trial runs them alternately on ``count`` threads and on one
    (``TRIAL_STEPS`` timed steps each, every one after an untimed step on the same
    count), and the next ``TRIAL_EVERY`` seconds of steps run on one thread if its
    median step took at most ``TRIAL_MARGIN`` of the other's, else on ``count``.
    Trial steps are ordinary training steps. Steps of another batch size (a
    fit's last, smaller batch) run on the current count, untimed.

    Use it as a context (``with choice:``) around the steps of one fit, entered
    with BLAS on ``count`` threads: it puts back the counts it changed when the
    block ends (and changes none while ``count`` is the faster).
    """

    def __init__(self, count: int) -> None:
        self.count = count
        #: the count steps run on between trials
        self.best = count
        self._trial: list[tuple[int, bool]] = []  # (count, timed) of the trial's steps to come
        self._times: dict[int, list[float]] = {}
        self._due = -math.inf  # when the next trial starts (time.monotonic)
        self._current = count  # what BLAS runs on now
        self._saved: list[int] | None = None  # BLAS's counts before this block changed them

    def __enter__(self) -> ThreadChoice:
        self._current, self._saved = self.count, None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._saved is not None:
            for lib, count in zip(_blas_libraries(), self._saved):
                lib.set_num_threads(count)

    def __call__(self, step: Callable[[], float], timed: bool = True) -> float:
        """Run ``step`` (a full batch if ``timed``, else untimed) on the chosen count,
        or as the next step of a trial; returns what it returns."""
        if not timed:  # on whatever count the last step ran
            return step()
        if not self._trial:
            if time.monotonic() < self._due:
                self._use(self.best)
                return step()
            self._trial = [(n, t) for _ in range(TRIAL_STEPS) for n in (self.count, 1) for t in (False, True)]
            self._times = {self.count: [], 1: []}
        count, keep = self._trial.pop(0)
        self._use(count)
        start = time.perf_counter()
        value = step()
        if keep:
            self._times[count].append(time.perf_counter() - start)
        if not self._trial:
            one, many = (statistics.median(self._times[n]) for n in (1, self.count))
            self.best = 1 if one <= TRIAL_MARGIN * many else self.count
            self._due = time.monotonic() + TRIAL_EVERY
        return value

    @property
    def current(self) -> int:
        """The count BLAS runs on now: the last step's."""
        return self._current

    def run_on(self, step: Callable[[], float], count: int) -> float:
        """Run ``step`` on ``count`` threads, untimed (again, as a step that ran on them:
        a product of a large inner size sums in another order on one thread than on two)."""
        self._use(count)
        return step()

    def _use(self, count: int) -> None:
        if count != self._current:
            libraries = _blas_libraries()
            if self._saved is None:
                self._saved = [lib.get_num_threads() for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(count)
            self._current = count


def trial_count(largest_product: int, count: int | None) -> int | None:
    """The count a fit times against one thread (``ThreadChoice``) when its plan's
    largest product has ``largest_product`` multiply-adds and the thread policy runs it
    on ``count`` threads (``thread_count``'s answer); None where only one count is in
    question (a plan under ``PARALLEL_MIN_PRODUCT``, one thread, a count set with
    ``set_num_threads``, or a fit in another Python thread than the main one:
    ``on_main_thread``)."""
    if (largest_product < PARALLEL_MIN_PRODUCT or largest_product < SERIAL_BELOW or not on_main_thread()
            or _num_threads is not None):
        return None
    if count is None:  # no limit set: BLAS's own count, as thread_count has just looked it up
        count = _sensed[2] if _sensed is not None else max(lib.get_num_threads() for lib in _blas_libraries())
    return count if count > 1 else None


def thread_choice(largest_product: int, count: int | None, kept: ThreadChoice | None) -> ThreadChoice | None:
    """The ``ThreadChoice`` for such a fit (see ``trial_count``): ``kept`` (a previous
    fit's) if it chose between the same counts, a new one otherwise, or None."""
    count = trial_count(largest_product, count)
    if count is None:
        return None
    return kept if kept is not None and kept.count == count else ThreadChoice(count)
