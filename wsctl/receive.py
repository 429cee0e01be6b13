"""The receive path: bytes off the socket into whole messages, with little work per message.

websockets parses every frame with a generator-based Sans-I/O parser, builds a ``Frame`` for it
and hands each message to ``recv()`` through its Assembler, several coroutines deep.  For a
stream of 100,000s of small messages a second that machinery is most of what ``wsctl listen``
costs.  :class:`FastConnection` keeps websockets for everything except the common case:

* A **simple frame** — text or binary, FIN set, no RSV bits, not masked, within ``max_size`` —
  that arrives while the connection is OPEN, with no extension negotiated and no fragmented
  message in progress, is cut from the byte stream here and queued as a whole message.
* **Every other frame** (Ping, Pong, Close, fragments, anything malformed or too big) is fed to
  websockets' own parser byte for byte, which validates it, answers it and fails the
  connection exactly as it always does.  Frames are split at their boundaries, so websockets'
  parser always stands at a frame boundary when it is given a new frame.  Once the connection
  leaves the OPEN state every byte goes to websockets.

The handshake response itself goes to websockets alone: bytes after its end (a server may
send frames in the same segment as its ``101``) start the frame stream.

:class:`MessageQueue` replaces websockets' Assembler: it holds whole messages (fragments are
joined as websockets' frames arrive), pauses reading above its high-water mark and resumes below
the low one, and validates UTF-8 when a message is taken — where the Assembler does, so an
invalid text message fails the connection with 1007 at the same point.  Besides the Assembler's
``get()``, it offers :meth:`MessageQueue.get_batch`: every message that has arrived, in one
await, for consumers that write them out in bulk (``wsctl listen``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.messages import MAX_FRAGMENTS
from websockets.exceptions import ConcurrencyError, TooManyFragments
from websockets.frames import BINARY, TEXT, CloseCode, Frame
from websockets.protocol import OPEN

#: One queued message: ``(True, payload)`` for text, ``(False, payload)`` for binary, or
#: ``(None, exception)`` for a message that failed to assemble (raised when it is taken).
Item = tuple[Any, Any]

#: Frame header bytes: FIN + opcode text / binary, and no RSV bits.
_SIMPLE_TEXT = 0x81
_SIMPLE_BINARY = 0x82


class MessageQueue:
    """Whole received messages in arrival order, with flow control on the transport.

    Drop-in for websockets' Assembler (``put``, ``get``, ``get_iter``, ``close``), plus
    :meth:`get_batch`.  ``high``/``low`` are water marks in messages (``None``: no limit).
    """

    def __init__(
        self,
        high: int | None,
        low: int | None,
        pause: Callable[[], Any],
        resume: Callable[[], Any],
    ) -> None:
        if high is not None and low is None:
            low = high // 4
        if high is None and low is not None:
            high = low * 4
        self.high, self.low = high, low
        self.pause, self.resume = pause, resume
        self.paused = False
        self.items: collections.deque[Item] = collections.deque()
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._getting = False
        # The fragments of the message websockets is handing over frame by frame.
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._too_many = False

    # -- producer side -------------------------------------------------------------------

    def put(self, frame: Frame) -> None:
        """Add a data frame parsed by websockets (the Assembler's interface)."""
        if self.closed:
            raise EOFError("stream of frames ended")
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY:
            if frame.fin:
                self.items.append((opcode is TEXT, bytes(frame.data)))
                self.added()
                return
            self._fragments = [bytes(frame.data)]
            self._fragment_text = opcode is TEXT
            self._too_many = False
            return
        # A continuation: websockets' parser has checked that a message is in progress.
        if not self._too_many:
            if len(self._fragments) >= MAX_FRAGMENTS:  # the Assembler's limit, same count
                self._too_many = True
                self._fragments = []
                self.items.append((None, TooManyFragments(MAX_FRAGMENTS)))
                self.added()
            else:
                self._fragments.append(bytes(frame.data))
        if frame.fin:
            if not self._too_many:
                self.items.append((self._fragment_text, b"".join(self._fragments)))
                self.added()
            self._fragments = []
            self._too_many = False

    def added(self) -> None:
        """Messages were appended to ``items``: wake the consumer, pause reading when full."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        high = self.high
        if high is not None and len(self.items) > high and not self.paused:
            self.paused = True
            self.pause()

    def close(self) -> None:
        """End the stream: once the queued messages are taken, getters raise EOFError."""
        if self.closed:
            return
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- consumer side -------------------------------------------------------------------

    async def _wait(self) -> None:
        """Wait until a message is queued or the stream ends; EOFError when it has ended."""
        if self._getting:
            raise ConcurrencyError("get() or get_batch() is already running")
        while not self.items:
            if self.closed:
                raise EOFError("stream of frames ended")
            self._getting = True
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._getting = False

    def _maybe_resume(self) -> None:
        low = self.low
        if low is not None and self.paused and len(self.items) <= low:
            self.paused = False
            self.resume()

    async def get(self, decode: bool | None = None) -> str | bytes:
        """The next message: str for text, bytes for binary (``decode`` overrides that)."""
        await self._wait()
        kind, data = self.items.popleft()
        self._maybe_resume()
        if kind is None:
            raise data
        if decode is None:
            decode = kind
        if decode:
            return data.decode()  # type: ignore[no-any-return]
        return data  # type: ignore[no-any-return]

    async def get_iter(self, decode: bool | None = None) -> AsyncIterator[str | bytes]:
        """The next message in one piece (websockets' ``recv_streaming`` interface)."""
        yield await self.get(decode)

    async def get_batch(self) -> list[tuple[bool, bytes]]:
        """Every queued message (waiting for one): ``(is_text, payload)`` pairs.

        Text payloads are checked to be valid UTF-8.  The batch stops before a message that
        fails — invalid UTF-8 or too many fragments — and the next call raises its error.
        """
        await self._wait()
        items = self.items
        batch = list(items)
        items.clear()
        for index, (kind, data) in enumerate(batch):
            if kind is None or (kind and not data.isascii() and not _valid_utf8(data)):
                items.extend(batch[index:])
                del batch[index:]
                if not batch:
                    kind, data = items.popleft()
                    if kind is None:
                        raise data
                    data.decode()  # raises UnicodeDecodeError, with its position
                break
        self._maybe_resume()
        return batch


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


class FastConnection(ClientConnection):
    """A websockets ClientConnection whose simple frames skip websockets' frame parser."""

    recv_messages: MessageQueue  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_handshake = True
        self._head_tail = b""  # the last bytes of the response seen, to find its end
        self._fast = False
        # Bytes received at a frame boundary that do not make a whole frame yet.
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._need = 0  # bytes that must be in _parts before parsing is worth trying
        self._passthrough = 0  # bytes of the current frame still to be fed to websockets

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.recv_messages = MessageQueue(
            self.max_queue_high,
            self.max_queue_low,
            pause=self.transport.pause_reading,
            resume=self.transport.resume_reading,
        )

    async def recv_batch(self) -> list[tuple[bool, bytes]]:
        """Every message received so far (waiting for one); see :meth:`MessageQueue.get_batch`.

        Raises ConnectionClosed like ``recv()``, after failing the connection with 1007
        (invalid UTF-8) or 1009 (too many fragments) as ``recv()`` does.
        """
        try:
            return await self.recv_messages.get_batch()
        except EOFError:
            pass
        except TooManyFragments as exc:
            self.set_connection_exc(exc)
            async with self.send_context():
                self.protocol.fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
        except UnicodeDecodeError as exc:
            self.set_connection_exc(exc)
            async with self.send_context():
                self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        await asyncio.shield(self.connection_lost_waiter)
        raise self.close_exc

    # -- the byte stream -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._fast:
            if self.protocol.state is not OPEN:
                self._leave_fast_path(data)
                return
            if self._parts:
                self._parts.append(data)
                self._parts_size += len(data)
                if self._parts_size < self._need:
                    return
                data = b"".join(self._parts)
                self._parts = []
                self._parts_size = 0
            self._frames(data)
        elif self._in_handshake:
            self._handshake_data(data)
        else:
            super().data_received(data)

    def eof_received(self) -> None:
        if self._parts:  # a partial frame: websockets reports the truncation its own way
            pending, self._parts = b"".join(self._parts), []
            self._fast = False
            super().data_received(pending)
        super().eof_received()

    def _leave_fast_path(self, data: bytes) -> None:
        """Hand everything from here on to websockets (it stands at a frame boundary)."""
        self._fast = False
        pending = b"".join(self._parts) + data
        self._parts = []
        if pending:
            super().data_received(pending)

    def _handshake_data(self, data: bytes) -> None:
        """Give websockets the HTTP response alone; frames after it start the fast path."""
        seen = self._head_tail + data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self._head_tail = seen[-3:]
            super().data_received(data)
            return
        end += 4 - len(self._head_tail)  # the end of the response, as an index into data
        self._in_handshake = False
        super().data_received(data[:end])
        # Only a completed handshake (101) without extensions (compressed frames need
        # websockets' decoder) takes the fast path; a redirect's body and the rest go on as
        # they always did.
        self._fast = (
            self.response is not None
            and self.protocol.state is OPEN
            and not self.protocol.extensions
        )
        if end < len(data):
            self.data_received(data[end:])

    def _frames(self, data: bytes) -> None:
        """Split ``data`` (starting at a frame boundary, or inside a frame being passed
        through) into simple frames, queued here, and others, fed to websockets."""
        protocol = self.protocol
        limit = protocol.max_message_size
        if limit is None:
            limit = 1 << 64
        items = self.recv_messages.items
        append = items.append
        queued = len(items)
        # websockets' own state can change only while it is fed a frame: re-read it then.
        fragmented = protocol.current_size is not None
        size = len(data)
        pos = 0
        while pos < size:
            if self._passthrough:
                end = min(size, pos + self._passthrough)
                self._passthrough -= end - pos
                self._feed_websockets(data[pos:end])
                pos = end
                if protocol.state is not OPEN:  # a Close arrived or the frame failed
                    self._fast = False
                    if pos < size:
                        super().data_received(data[pos:])
                    break
                fragmented = protocol.current_size is not None
                continue
            if size - pos < 2:
                self._need = 2
                break
            head = data[pos]
            length = data[pos + 1]
            # The common case first: a short simple frame (a length byte under 126 also means
            # no mask bit).
            if length < 126 and (head == 0x81 or head == 0x82) and not fragmented:
                end = pos + 2 + length
                if length > limit:
                    self._passthrough = 2 + length
                    continue
                if end > size:
                    self._need = 2 + length
                    break
                append((head == 0x81, data[pos + 2 : end]))
                pos = end
                continue
            masked = length & 0x80
            length &= 0x7F
            header = 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if masked:
                header += 4
            if size - pos < header:
                self._need = header
                break
            if header > 2:
                length = int.from_bytes(data[pos + 2 : pos + (4 if length == 126 else 10)], "big")
            total = header + length
            if (
                head in (_SIMPLE_TEXT, _SIMPLE_BINARY)
                and not masked
                and length <= limit
                and not fragmented
            ):
                if size - pos < total:
                    self._need = total
                    break
                append((head == _SIMPLE_TEXT, data[pos + header : pos + total]))
                pos += total
            else:
                self._passthrough = total
        if pos < size and self._fast:
            self._parts = [data[pos:]]
            self._parts_size = size - pos
        if len(items) != queued:
            self.recv_messages.added()

    def _feed_websockets(self, chunk: bytes) -> None:
        """One frame's bytes (or part of them) to websockets' parser."""
        super().data_received(chunk)
