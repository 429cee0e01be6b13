"""A deadline for one regex search, which no asyncio timeout can enforce.

A pattern with catastrophic backtracking (``(a+)+$`` against ``aaaa…b``) runs for ages in C
code that never returns to the event loop, so the step's ``asyncio.timeout`` never fires and
even SIGTERM waits.  ``re`` does check for signals while it matches, though: an interval timer
(SIGALRM) whose handler raises stops the search.  Only on POSIX and in the main thread;
elsewhere the search runs unguarded.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

#: Seconds a ``--expect`` or ``--reply`` regex may take on one message (a sane one takes
#: milliseconds on the largest message; ``run`` steps use their own deadline instead).
MATCH_LIMIT = 2.0


class RegexTooSlow(Exception):
    """A search ran past its deadline."""


_armed = False


def _expired(signum: int, frame: FrameType | None) -> None:
    if _armed:  # a late SIGALRM after the block ended must not raise anywhere else
        raise RegexTooSlow


@contextlib.contextmanager
def regex_deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`RegexTooSlow` if the block (a regex search) runs longer than ``seconds``."""
    global _armed
    main = threading.current_thread() is threading.main_thread()
    if not main or not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expired)
    started = time.monotonic()
    outer, interval = 0.0, 0.0
    _armed = True
    try:
        # Whoever else uses the one real-time timer (pytest-timeout does) gets it back below.
        outer, interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
        yield
    finally:
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = outer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), interval)
