"""The one place where a connecting command's event loop runs: signals and stray errors.

Ctrl-C (SIGINT), SIGTERM and SIGHUP all cancel the running session, so it closes its
connection and its reports are written before the process exits.  SIGINT keeps asyncio's own
handling (the session ends with ``KeyboardInterrupt``, exit 130, Close 1000); SIGTERM and
SIGHUP — what CI timeouts, cancelled jobs and closed terminals send — close with 1001 (going
away) and end in :class:`~wsctl.errors.Terminated` (exit 143 / 129).  A second such signal
kills the process at once, as the default action would have.

Errors that escape into the loop's callbacks (a transport callback failing after its
connection is already being reported as failed, for instance) never print a traceback; they
are logged only with ``--traceback``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from wsctl.errors import Terminated

T = TypeVar("T")

#: Signals that end a run the way Ctrl-C does, but with Close 1001 (going away).
TERMINATING_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

#: After SIGTERM/SIGHUP, the longest wait for the server's answer to our Close (seconds).
TERMINATING_CLOSE_WAIT = 1.0

#: Set by the CLI with ``--traceback``: stray loop errors are then printed in full.
show_tracebacks = False

_received: signal.Signals | None = None


def terminating() -> bool:
    """True once SIGTERM or SIGHUP asked this process to end (connections close with 1001)."""
    return _received is not None


def run(
    session: Coroutine[Any, Any, T],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run ``session`` in a fresh event loop and return its result.

    Raises ``KeyboardInterrupt`` after Ctrl-C and :class:`Terminated` after SIGTERM/SIGHUP,
    once the session has finished cleaning up.
    """
    global _received
    _received = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        loop = runner.get_loop()
        loop.set_exception_handler(_stray_error)
        try:
            result = runner.run(_guarded(session))
        except BaseException:
            if _received is None:
                raise
            # Whatever the cancelled session ended with, the signal is why the run ended.
            raise Terminated(_received) from None
    if _received is not None:
        raise Terminated(_received)
    return result


async def _guarded(session: Coroutine[Any, Any, T]) -> T:
    """Await ``session`` with the terminating signals cancelling it."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    installed: list[signal.Signals] = []

    def terminate(signum: signal.Signals) -> None:
        global _received
        if _received is None:
            _received = signum
        # The next one gets the default action: a stuck close can always be killed.
        loop.remove_signal_handler(signum)
        task.cancel()

    for signum in TERMINATING_SIGNALS:
        # Not on Windows, nor outside the main thread; a SIG_IGN'd signal stays ignored.
        if signal.getsignal(signum) is not signal.SIG_DFL:
            continue
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, terminate, signum)
            installed.append(signum)
    try:
        return await session
    finally:
        for signum in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)


def _stray_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Errors no task awaited: the run's own error is reported by the error boundary, so these
    are noise by default (one stream's EOF seen by two callbacks, say)."""
    if show_tracebacks:
        loop.default_exception_handler(context)
        return
    exception = context.get("exception")
    if exception is not None and not isinstance(exception, Exception):
        # KeyboardInterrupt/SystemExit inside a callback: let the loop's default decide.
        loop.default_exception_handler(context)
