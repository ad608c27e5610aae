"""Ctrl-C during ``fit``'s steps: raised after the step it comes in, never inside one.

A step changes the weights, the optimiser's state and the running statistics in several
calls (a folded descent updates each layer inside the backward pass). A ``KeyboardInterrupt``
raised between two of them would leave the model half stepped: some layers updated and not
others, an optimiser's step count ahead of its moments. ``StepInterrupts`` takes SIGINT for
the length of a fit and, while one of its steps runs, only notes it; the
``KeyboardInterrupt`` comes after that step and its batch's callbacks, so that the model,
the optimiser and the schedules hold whole steps. While a diverging epoch is replayed to find
its bad step, it comes after the replay, whose ``DivergenceError`` goes before it (the weights
back where the error says). Elsewhere (validation, ``on_epoch_end``) and at a second Ctrl-C it
comes at once, as Python's own handler raises it (``fit`` then puts back the epoch's start if
it stopped a step, as for any error raised inside one).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from signal import SIGINT, default_int_handler
from types import CodeType, FrameType, TracebackType
from typing import Any

try:  # CPython's C functions, which ``signal``'s own wrap: those convert a handler to and from
    # its enums, 2.5-4 us a call, a fit's 4-row epoch taking 60 us (these take 0.1-0.4 us)
    from _signal import getsignal, signal  # type: ignore[import-not-found]
except ImportError:  # (another interpreter)
    from signal import getsignal, signal


class _Raise:
    """The callback a noted Ctrl-C adds to the batch's callbacks: it raises there, after
    the others, so that the steps' loop pays for no test of its own."""

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        raise KeyboardInterrupt


class StepInterrupts:
    """A context for a fit's epochs: a Ctrl-C that comes while a frame runs one of
    ``steps`` (the code of the epoch's loop of steps, and of its replay) is noted, and raised
    by a callback appended to ``on_batch`` (the list that loop calls after each step); one
    that comes elsewhere, or a second one, at once. One still noted when the context ends
    (it came after the last batch's callbacks, or in the replay) is raised then, unless
    another error is on its way.

    SIGINT is taken only where it can be and is Python's: in the main thread, from
    ``signal.default_int_handler``. A handler of the user's own, or a fit in another
    thread (which Ctrl-C does not interrupt), is left as it is."""

    def __init__(self, on_batch: list[Any], steps: Collection[CodeType]) -> None:
        self.on_batch, self.steps = on_batch, steps
        self.noted = False
        self._previous: Any = None

    def __enter__(self) -> StepInterrupts:
        if (threading.current_thread() is threading.main_thread()
                and getsignal(SIGINT) is default_int_handler):
            self._previous = signal(SIGINT, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._previous is not None:
            signal(SIGINT, self._previous)
        if self.noted and kind is None:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.noted or not _running(frame, self.steps):
            raise KeyboardInterrupt
        self.noted = True
        self.on_batch.append(_Raise())


def _running(frame: FrameType | None, codes: Collection[CodeType]) -> bool:
    """Whether ``frame`` or one of its callers runs one of ``codes``."""
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False
