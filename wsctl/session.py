"""Pieces shared by the non-interactive commands: running a session and collecting replies.

``run`` owns the event loop (see :mod:`wsctl.runner`); Ctrl-C, SIGTERM and SIGHUP cancel the
session, which closes its connection with a Close frame before the process exits.
``Receiver`` prints incoming messages while the command goes on sending, and knows when the
replies have stopped coming.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from wsctl.core import Client
from wsctl.errors import WebSocketError
from wsctl.output import MessageWriter, StatusWriter


def run(session: Coroutine[Any, Any, int]) -> int:
    """Run ``session`` in a fresh event loop and return its exit code."""
    from wsctl import runner

    return runner.run(session)


async def close_quietly(client: Client, code: int = 1000, reason: str = "") -> None:
    """Close ``client`` if it is still open, within its close timeout; never raises.

    After SIGTERM/SIGHUP the close is always 1001 (going away): the process is ending.
    """
    if client.closed:
        return
    from wsctl.runner import TERMINATING_CLOSE_WAIT, terminating

    # A little over the connection's own limit, which drops the connection when it passes.
    limit = client.options.close_timeout + 1.0
    if terminating():
        code, reason = 1001, "going away"
        # Whoever sent SIGTERM may follow with SIGKILL soon (`timeout -k 2`, CI runners): a
        # server slow to answer the Close must not cost the reports written after this.
        limit = min(limit, TERMINATING_CLOSE_WAIT)
    try:
        async with asyncio.timeout(limit):
            await client.close(code, reason)
    except (WebSocketError, TimeoutError, OSError):
        pass


class Receiver:
    """Reads every message of ``client`` into ``writer`` in a background task."""

    def __init__(self, client: Client, writer: MessageWriter, limit: int | None = None) -> None:
        self.client = client
        self.writer = writer
        self.limit = limit
        self.count = 0
        self._activity = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name="wsctl-receiver")

    async def _run(self) -> None:
        recv = self.client.recv
        write = self.writer.message
        activity = self._activity
        limit = self.limit
        writer = self.writer
        while (message := await recv()) is not None:
            write(message)
            # The writer's count, not ours: a message answered by --reply is protocol noise
            # and must not count as one of the --wait N replies.
            self.count = writer.count
            activity.set()
            if limit is not None and self.count >= limit:
                return

    def touch(self) -> None:
        """Count something sent as activity, so the idle timer starts after the last send."""
        self._activity.set()

    async def wait(self, *, replies: int | None, idle: float) -> None:
        """Return once ``replies`` messages arrived, ``idle`` seconds passed without one, or
        the connection ended — whichever comes first.  ``idle == 0`` returns at once."""
        while not self.task.done():
            if replies is not None and self.count >= replies:
                return
            if idle == 0:
                return
            self._activity.clear()
            activity = asyncio.ensure_future(self._activity.wait())
            try:
                done, _ = await asyncio.wait(
                    {self.task, activity}, timeout=idle, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                activity.cancel()
            if not done:
                return

    async def stop(self) -> None:
        """Wait for the reader to end (after a close) and re-raise what ended it."""
        try:
            await self.task
        finally:
            self.writer.flush()

    def discard(self) -> None:
        """Cancel the reader when the session is ending for another reason."""
        if not self.task.done():
            self.task.cancel()
        elif not self.task.cancelled():
            self.task.exception()  # retrieved: the session already reports its own error


async def print_messages(
    client: Client,
    writer: MessageWriter,
    status: StatusWriter,
    *,
    count: int | None = None,
) -> bool:
    """Write each message of ``client`` until it closes, or until the writer has written
    ``count`` in all (across reconnections too) — then close with 1000 and return True.

    Abnormal closes raise; every message written before them stays counted by the writer.
    """
    # Whole batches: one await for every message that has arrived, not one per message.
    receive = client.recv_batch
    write = writer.messages
    while (batch := await receive()) is not None:
        if count is not None and writer.count + len(batch) >= count:
            # The count may be reached within this batch: one message at a time, since a
            # writer may not count every message (those a --reply answers are not printed).
            for item in batch:
                write([item])
                if writer.count >= count:
                    await client.close()
                    writer.flush()
                    status.detail(f"received {count} messages; closed with 1000")
                    return True
            continue
        write(batch)
    writer.flush()
    return False


def report_close(
    client: Client, writer: MessageWriter, status: StatusWriter, *, events: bool
) -> None:
    """Say how the server closed: a ``close`` NDJSON event (with ``events``) and a status line."""
    if events:
        writer.event(close_record(client))
        writer.flush()
    status.closed(client.close_code, client.close_reason, by_server=True)


def close_record(
    client: Client, code: int | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The ``close`` NDJSON event: who closed, with which code and reason (``code`` and
    ``reason``, when given, are those of the error that ended the connection)."""
    return {
        "type": "close",
        "by": client.closed_by or "client",
        "code": client.close_code if code is None else code,
        "reason": client.close_reason if reason is None else reason,
    }
