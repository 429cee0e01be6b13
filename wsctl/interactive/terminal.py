"""Printing above a running prompt without ever giving the terminal back to line mode.

prompt_toolkit's ``patch_stdout`` prints through ``run_in_terminal``, which switches the tty to
cooked mode for each write.  A key pressed in that instant is echoed by the tty over the
screen, and Ctrl-C becomes SIGINT instead of a key press: under a stream of messages this
happens.  :class:`AbovePrompt` does the same erase / write / redraw in the event loop while the
tty stays in raw mode, and coalesces writes so that a flood of messages costs one redraw per
batch rather than one per message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.output import Output

#: Writes within this many seconds share one erase/redraw of the prompt (about one frame).
BATCH_DELAY = 0.015


class AbovePrompt:
    """A text stream whose writes appear above the prompt of the running application.

    With no application running, writes go straight to the terminal (still batched within one
    event-loop step).  Safe to write from other threads: flushing always happens in ``loop``.
    """

    encoding = "utf-8"
    errors = "replace"

    def __init__(
        self,
        output: Output,
        loop: asyncio.AbstractEventLoop,
        application: Callable[[], Application[Any] | None],
    ) -> None:
        self._output = output
        self._loop = loop
        self._application = application
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._scheduled = False

    def write(self, text: str) -> int:
        """Queue ``text``; it is printed at the next flush (within ``BATCH_DELAY``)."""
        with self._lock:
            self._pending.append(text)
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self._loop.call_soon_threadsafe(self._loop.call_later, BATCH_DELAY, self.drain)
        return len(text)

    def flush(self) -> None:
        """Writers (rich, print) flush after each write; the batch is flushed on its own."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._output.fileno()

    def drain(self) -> None:
        """Print everything queued now, above the prompt if one is running.

        Must be called from the event loop's thread.
        """
        with self._lock:
            text = "".join(self._pending)
            self._pending.clear()
            self._scheduled = False
        if not text:
            return
        app = self._application()
        output = self._output
        if app is None or not app.is_running or app.is_done:
            output.write_raw(text)
            output.flush()
            return
        # What run_in_terminal does, minus the switch to cooked mode: take the prompt off the
        # screen, print, and let the application draw it again below what was printed.
        app.renderer.erase()
        output.enable_autowrap()
        output.write_raw(text)
        output.flush()
        app.renderer.request_absolute_cursor_position()
        app.invalidate()
