"""``Kept``: what a model, loss or module built for a key (a plan and its arrays), kept
for reuse by each Python thread."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

#: Held while an owner makes its ``Kept`` on first use, so that two threads using it for
#: the first time at once make one.
MAKING = threading.Lock()


class Kept:
    """Up to ``size`` items kept by key, the oldest dropped first, and the one a caller
    used last (``last``: what ``backward`` runs on after ``forward``); each Python thread
    has its own.

    A plan's calls write into arrays allocated with the plan, so two threads running one
    plan at once write into each other's activations: two threads each calling
    ``predict`` 300 times on one 64-256-256-10 model got 17 wrong outputs in 600. Each
    thread keeps its own plans instead (a threaded server's predictions, inference beside
    a training loop); what a thread kept is freed when it ends. Not pickled: the owner
    makes a new one.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._local = threading.local()

    def _items(self) -> dict[Hashable, Any]:
        items = getattr(self._local, "items", None)
        if items is None:
            items = self._local.items = {}
        return items

    def get(self, key: Hashable) -> Any:
        """This thread's item for ``key``, or None."""
        return self._items().get(key)

    def put(self, key: Hashable, item: Any) -> Any:
        """Keep ``item`` for ``key`` in this thread, dropping the thread's oldest item
        when ``size`` are kept already; returns ``item``."""
        items = self._items()
        if key not in items and len(items) >= self.size:
            items.pop(next(iter(items)))
        items[key] = item
        return item

    @property
    def last(self) -> Any:
        """What this thread's last ``forward`` used (None before one)."""
        return getattr(self._local, "last", None)

    @last.setter
    def last(self, item: Any) -> None:
        self._local.last = item
