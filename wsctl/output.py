"""Renderers: received messages to stdout (plain or NDJSON), status lines to stderr.

Renderers never touch sockets; the core never prints.  Text from the network is untrusted:
on a terminal its control characters are escaped before they are written.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import BinaryIO, Literal

from wsctl.core import HandshakeEvent, Message
from wsctl.environment import Environment
from wsctl.errors import OutputClosed
from wsctl.escape import escape_control as escape_control  # re-exported for renderers
from wsctl.escape import escape_json_text
from wsctl.redact import redact_header, redact_url
from wsctl.settings import TYPE_BINARY, TYPE_TEXT, close_code_name

BinaryFormat = Literal["base64", "hex", "raw"]


def hex_dump(data: bytes) -> str:
    """An ``xxd``-style dump: offset, 16 bytes in hex, and their printable ASCII."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text_part = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  {text_part}")
    return "\n".join(lines) if lines else "(empty)"


def _utc_timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


#: Bytes that a JSON string must escape (with ``ensure_ascii=False``, as wsctl writes it).
_JSON_ESCAPED = bytes(range(0x20)) + b'"\\'


#: Longest time received output waits in the buffer before it is written out.
FLUSH_INTERVAL = 0.002
#: Buffered output is written out at once when it reaches this size.
BUFFER_SIZE = 64 * 1024


class MessageWriter:
    """Writes received messages to stdout: one line each, or NDJSON with ``json_lines``.

    Given the running ``loop``, output is buffered and flushed at most ``FLUSH_INTERVAL``
    after the first unflushed write: a stream of 100,000 messages costs a few hundred system
    calls instead of one per message, while a reader still sees each message within a couple of
    milliseconds.  (Flushing on every loop iteration cost one ``write(2)`` per message, since
    receiving each message is one iteration.)  Without a loop, every message is flushed at once.
    """

    def __init__(
        self,
        env: Environment,
        *,
        binary_format: BinaryFormat | None = None,
        json_lines: bool = False,
        timestamps: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._out: BinaryIO = env.stdout
        self._escape = env.stdout_isatty
        self.binary_format: BinaryFormat = binary_format or (
            "hex" if env.stdout_isatty else "base64"
        )
        self.json_lines = json_lines
        self.timestamps = timestamps
        self._loop = loop
        self._flush_pending = False
        self._reader_gone = False
        self._buffer = bytearray()
        self.count = 0

    def message(self, message: Message) -> None:
        """Render one received message."""
        self.count += 1
        if self.json_lines:
            record: dict[str, object] = {"type": message.type}
            if isinstance(message.data, bytes):
                record["data"] = base64.b64encode(message.data).decode("ascii")
            else:
                record["data"] = message.data
            self.event(record)
            return
        data = message.data
        if isinstance(data, str):
            if self._escape:
                data = escape_control(data)
            self._write(data.encode("utf-8", "surrogateescape") + b"\n")
        elif self.binary_format == "raw":
            self._write(data)
        elif self.binary_format == "hex":
            self._write(hex_dump(data).encode("ascii") + b"\n")
        else:
            self._write(base64.b64encode(data) + b"\n")

    def messages(self, batch: list[tuple[bool, bytes]]) -> None:
        """Render a batch of received messages: ``(is_text, payload)`` pairs, text payloads
        valid UTF-8 (as :meth:`wsctl.core.Client.recv_batch` returns them).

        The same output as :meth:`message` for each, with the per-message work cut to the
        bone for the common cases, plain text to a file or pipe and NDJSON: a batch of text
        messages is written with one ``join``.
        """
        self.count += len(batch)
        payloads = [data for is_text, data in batch if is_text]
        every_text = len(payloads) == len(batch)
        if self.json_lines and not self._escape:  # a terminal: message() escapes each record
            self._json_batch(batch, payloads if every_text else None)
        elif self._escape or self.binary_format != "base64":
            for is_text, data in batch:  # a terminal, or binary shown as hex or raw
                self.count -= 1  # message() counts it again
                self.message(
                    Message(TYPE_TEXT, data.decode()) if is_text else Message(TYPE_BINARY, data)
                )
            return
        elif every_text:
            self._buffer += b"\n".join(payloads)
            self._buffer += b"\n"
        else:
            buffer = self._buffer
            for is_text, data in batch:
                buffer += data if is_text else base64.b64encode(data)
                buffer += b"\n"
        self._written()

    def _json_batch(self, batch: list[tuple[bool, bytes]], texts: list[bytes] | None) -> None:
        """NDJSON records for a batch, byte for byte what :meth:`event` writes through
        ``json.dumps(record, ensure_ascii=False)``.  ``texts``: the payloads, when every
        message is text."""
        head = b"{"
        if self.timestamps:  # one reading per batch: its messages arrived together
            head = b'{"time": "' + _utc_timestamp().encode("ascii") + b'", '
        text_head = head + b'"type": "text", "data": '
        buffer = self._buffer
        # Valid UTF-8 needs JSON escapes only for '"', '\\' and control characters (bytes
        # of multi-byte sequences are all >= 0x80): without them a payload is its own JSON
        # string, quotes aside, and the whole batch is one join.
        joined = b"".join(texts) if texts else b""
        # translate() deleting those bytes is several times faster than a regex search.
        if texts and len(joined.translate(None, _JSON_ESCAPED)) == len(joined):
            buffer += text_head + b'"'
            buffer += (b'"}\n' + text_head + b'"').join(texts)
            buffer += b'"}\n'
            return
        from json.encoder import encode_basestring  # the encoder json.dumps uses here

        binary_head = head + b'"type": "binary", "data": "'
        for is_text, data in batch:
            if is_text:
                buffer += text_head
                buffer += encode_basestring(data.decode()).encode("utf-8")
                buffer += b"}\n"
            else:
                buffer += binary_head
                buffer += base64.b64encode(data)
                buffer += b'"}\n'

    def event(self, record: dict[str, object]) -> None:
        """Write one NDJSON record (a message or, with ``--events``, a connection event)."""
        import json  # here: plain output, the usual case, never needs it

        if self.timestamps:
            record = {"time": _utc_timestamp(), **record}
        text = json.dumps(record, ensure_ascii=False)
        if self._escape:  # a terminal: no raw C1 controls or bidi overrides (a pipe keeps them)
            text = escape_json_text(text)
        self._write(text.encode("utf-8") + b"\n")

    def _write(self, data: bytes) -> None:
        # Our own buffer: with PYTHONUNBUFFERED (or -u) stdout's binary layer is a raw file,
        # and writing to it directly would cost one system call per message.
        self._buffer += data
        self._written()

    def _written(self) -> None:
        """Data was added to the buffer: flush now when it is full, or soon."""
        if self._loop is None or len(self._buffer) >= BUFFER_SIZE:
            self.flush()
        elif self._reader_gone:
            raise OutputClosed
        elif not self._flush_pending:
            self._flush_pending = True
            self._loop.call_later(FLUSH_INTERVAL, self._flush_later)

    def _flush_later(self) -> None:
        if self._flush_pending:  # not flushed since (an explicit flush() clears it)
            try:
                self.flush()
            except OutputClosed:
                # Nobody awaits this callback: tell the session through its next write.
                self._reader_gone = True

    def flush(self) -> None:
        """Push buffered output to the reader."""
        self._flush_pending = False
        data, self._buffer = self._buffer, bytearray()
        try:
            view = memoryview(data)
            while view:
                written = self._out.write(view)
                # A raw file may write part of it (a signal, a full pipe); None: would block.
                view = view[written if written is not None else 0 :]
            self._out.flush()
        except BrokenPipeError:
            raise OutputClosed from None
        except ValueError:  # closed during shutdown
            pass


class StatusWriter:
    """One-line status and diagnostics on stderr; ``quiet`` keeps all but errors away."""

    def __init__(self, env: Environment, *, verbose: bool = False, quiet: bool = False) -> None:
        self._err = env.stderr
        self._escape = True
        self.verbose = verbose and not quiet
        self.quiet = quiet

    def info(self, text: str) -> None:
        """A status line, shown unless ``--quiet``."""
        if not self.quiet:
            self._line(text)

    def detail(self, text: str) -> None:
        """A diagnostic line, shown only with ``--verbose``."""
        if self.verbose:
            self._line(text)

    def warning(self, text: str) -> None:
        """A warning, shown even with ``--quiet``."""
        self._line(f"warning: {text}")

    def _line(self, text: str) -> None:
        try:
            self._err.write(f"wsctl: {escape_control(text)}\n".encode("utf-8", "replace"))
            self._err.flush()
        except (OSError, ValueError):
            pass

    def closed(self, code: int | None, reason: str, *, by_server: bool) -> None:
        """Report how the connection ended, with the peer's code and reason."""
        who = "server" if by_server else "client"
        shown = f"{code} ({close_code_name(code)})" if code is not None else "no close code"
        self.info(f"{who} closed the connection: {shown}" + (f": {reason}" if reason else ""))

    def handshake(self, event: HandshakeEvent) -> None:
        """Show a handshake step with ``--verbose``; secrets are redacted."""
        if event.kind == "retry":  # every attempt is reported, verbose or not
            of = f" of {event.attempts}" if event.attempts else ""
            self.info(f"{event.message}; retry {event.attempt}{of} in {event.delay:.1f}s")
            return
        if not self.verbose:
            return
        if event.kind == "note":
            self._line(event.message)
        elif event.kind == "redirect":
            self._line(f"redirected to {redact_url(event.url)}")
        elif event.kind == "request" and event.request is not None:
            self._line(f"> GET {redact_url(event.request.path)} HTTP/1.1")
            for name, value in event.request.headers.raw_items():
                self._line(f"> {name}: {redact_header(name, value)}")
        elif event.response is not None:
            response = event.response
            self._line(f"< HTTP/1.1 {response.status_code} {response.reason_phrase}")
            for name, value in response.headers.raw_items():
                self._line(f"< {name}: {redact_header(name, value)}")
