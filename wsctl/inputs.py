"""Reading what is to be sent: stdin lines or whole files, read while the connection opens.

A daemon thread reads the stream in large chunks and hands them to the event loop through a
bounded queue, so lines typed or piped before the handshake completes are kept, a slow server
applies backpressure to the reader, and a terminal's blocking read never stalls the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

from wsctl.errors import InvalidInput

_CHUNK = 64 * 1024
_QUEUE_CHUNKS = 64


class StreamReader:
    """Reads a binary stream in a background thread; iterate ``chunks()`` in the loop."""

    def __init__(self, stream: BinaryIO, *, name: str = "stdin") -> None:
        self.name = name
        self._stream = stream
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(_QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._run, name=f"wsctl-read-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            # os.read on the descriptor: a daemon thread blocked inside a buffered reader would
            # hold its lock and abort the interpreter's shutdown.
            fd = self._stream.fileno()
            read: Callable[[int], bytes] = functools.partial(os.read, fd)
        except (AttributeError, OSError, ValueError):  # an in-memory stream (tests)
            read = getattr(self._stream, "read1", None) or self._stream.read
        try:
            while chunk := read(_CHUNK):
                self._put(chunk)
        except (OSError, ValueError) as exc:
            self._put(exc)
            return
        self._put(None)

    def _put(self, item: bytes | BaseException | None) -> None:
        """Hand ``item`` to the loop, waiting while the queue is full (backpressure)."""
        put = self._queue.put(item)
        try:
            future = asyncio.run_coroutine_threadsafe(put, self._loop)
        except RuntimeError:  # the loop has closed: the session is over
            put.close()
            return
        with contextlib.suppress(concurrent.futures.CancelledError, asyncio.CancelledError):
            future.result()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the stream's bytes in chunks until EOF."""
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise InvalidInput(f"cannot read {self.name}: {item}")
            yield item

    async def read_all(self) -> bytes:
        """The whole stream, for a single binary message."""
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)

    async def lines(self) -> AsyncIterator[list[bytes]]:
        """Yield batches of complete lines (without ``\\n`` or ``\\r\\n``), validated as UTF-8."""
        name = self.name
        async for batch in utf8_lines(
            self.chunks(),
            not_utf8=lambda line: (
                f"{name} line {line} is not valid UTF-8: text messages must be; "
                "use --binary to send bytes"
            ),
        ):
            yield batch


async def utf8_lines(
    chunks: AsyncIterator[bytes],
    *,
    not_utf8: Callable[[int], str],
    max_line: int | None = None,
    too_long: Callable[[int], str] | None = None,
) -> AsyncIterator[list[bytes]]:
    """Split ``chunks`` into batches of complete lines (without ``\\n`` or ``\\r\\n``),
    each batch checked to be UTF-8; a last line without a newline is yielded too.

    Validation runs once per chunk rather than once per line, which keeps piping 100,000 lines
    cheap.  :class:`InvalidInput` with ``not_utf8(N)`` names the first bad line N; with
    ``max_line``, an unfinished line longer than that is ``too_long(N)``.
    """
    pending = b""
    line_number = 0
    async for chunk in chunks:
        data = pending + chunk
        end = data.rfind(b"\n")
        if end < 0:
            if max_line is not None and too_long is not None and len(data) > max_line:
                raise InvalidInput(too_long(line_number + 1))
            pending = data
            continue
        pending = data[end + 1 :]
        lines = data[:end].split(b"\n")
        _check_utf8(data[:end], line_number, not_utf8)
        line_number += len(lines)
        yield [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if pending:
        _check_utf8(pending, line_number, not_utf8)
        yield [pending[:-1] if pending.endswith(b"\r") else pending]


def _check_utf8(data: bytes, first_line: int, not_utf8: Callable[[int], str]) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(not_utf8(first_line + data.count(b"\n", 0, exc.start) + 1)) from None
