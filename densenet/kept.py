"""``Kept``: what a model, loss or module built for a key (a plan and its arrays), lent to
one caller at a time and kept for reuse."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

#: Held while an owner makes its ``Kept`` on first use, so that two threads using it for
#: the first time at once make one.
_MAKING = threading.Lock()


class Kept:
    """Items built for a key, lent to one caller at a time: ``take`` one (or build it),
    use it, ``give`` it back; up to ``size`` given back are kept, the least recently
    used key's dropped first. Each Python thread may also ``hold`` one item for later
    (what ``backward`` runs on after ``forward``), which no other caller gets meanwhile.

    A plan's calls write into arrays allocated with the plan, so two threads running one
    plan at once write into each other's activations: two threads each calling
    ``predict`` 300 times on one 64-256-256-10 model got 17 wrong outputs in 600 when
    they shared their plans. Lent plans never run in two threads at once; concurrent
    calls build more, and what is kept afterwards is bounded as for one thread (one
    4096-row prediction plan of 784-512-512-10 holds about 100 MiB). An item a thread
    holds when it ends is freed with it. Not pickled: the owner makes a new one.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: dict[Hashable, list[Any]] = {}  # least recently given key first
        self._count = 0  # items in _free
        self._lock = threading.Lock()
        self._local = threading.local()

    def take(self, key: Hashable) -> Any:
        """A kept item for ``key``, now the caller's alone; None if none is free."""
        with self._lock:
            items = self._free.get(key)
            if not items:
                return None
            self._count -= 1
            item = items.pop()
            if not items:
                del self._free[key]
            return item

    def give(self, key: Hashable, item: Any) -> None:
        """Keep ``item`` for the next caller of ``key``, dropping the least recently used
        items beyond ``size``."""
        with self._lock:
            items = self._free.pop(key, None)
            if items is None:
                items = []
            items.append(item)
            self._free[key] = items
            self._count += 1
            while self._count > self.size:
                oldest = next(iter(self._free))
                dropped = self._free[oldest]
                dropped.pop(0)
                if not dropped:
                    del self._free[oldest]
                self._count -= 1

    @property
    def held(self) -> tuple[Hashable, Any] | None:
        """``(key, item)`` this thread holds, or None."""
        return getattr(self._local, "held", None)

    def hold(self, key: Hashable, item: Any) -> None:
        """Make ``item`` (for ``key``; None: nothing) the one this thread holds, and give
        back the one it held before."""
        before = self.held
        self._local.held = None if item is None else (key, item)
        if before is not None and before[1] is not item:
            self.give(*before)

    def borrow(self, key: Hashable) -> Any:
        """The item this thread holds if it is for ``key``, else one ``take`` lends
        (None if none is free): what a ``forward`` runs on before it holds it."""
        held = self.held
        return held[1] if held is not None and held[0] == key else self.take(key)


class KeepsPlans:
    """A base for what lends plans to its own ``forward`` (a loss, a module on its own):
    ``_plans`` is its ``Kept``, made on first use by ``_kept`` (once, even when two threads
    use it first at once) and set to None again when its plans must go; not pickled."""

    _plans: Kept | None = None

    def _kept(self, size: int) -> Kept:
        """``_plans``, made to keep ``size`` plans if there is none yet."""
        if self._plans is None:
            with _MAKING:
                if self._plans is None:
                    self._plans = Kept(size)
        return self._plans

    def _held(self) -> tuple[Hashable, Any] | None:
        """``(key, plan)`` this thread's last ``forward`` holds, or None."""
        return None if self._plans is None else self._plans.held
