"""``Kept``: what a model, loss or module built for a key (a plan and its arrays), kept
for reuse by each Python thread."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

#: Held while an owner makes its ``Kept`` on first use, so that two threads using it for
#: the first time at once make one.
MAKING = threading.Lock()


class Kept(threading.local):
    """Up to ``size`` items kept by key (``items``, filled by ``put``), the oldest dropped
    first, and the one a caller used last (``last``: what ``backward`` runs on after
    ``forward``); each Python thread has its own (a ``threading.local``: its attributes
    are the thread's).

    A plan's calls write into arrays allocated with the plan, so two threads running one
    plan at once write into each other's activations: two threads each calling
    ``predict`` 300 times on one 64-256-256-10 model got 17 wrong outputs in 600. Each
    thread keeps its own plans instead (a threaded server's predictions, inference beside
    a training loop); what a thread kept is freed when it ends. Not pickled: the owner
    makes a new one.
    """

    def __init__(self, size: int) -> None:  # (run again in each thread that uses it)
        self.size = size
        self.items: dict[Hashable, Any] = {}
        self.last: Any = None

    def put(self, key: Hashable, item: Any) -> Any:
        """Keep ``item`` for ``key`` in this thread, dropping the thread's oldest item
        when ``size`` are kept already; returns ``item``."""
        items = self.items
        if key not in items and len(items) >= self.size:
            items.pop(next(iter(items)))
        items[key] = item
        return item
