"""The server's answer to the WebSocket upgrade: bounded in size, and explained when it is
not an HTTP/1.1 response at all.

websockets already caps the response head (``MAX_NUM_HEADERS`` lines, ``MAX_LINE_LENGTH``
bytes a line), but after a parse error it waits for the server to close the TCP connection:
a hostile server that keeps sending header lines then holds the client until the dial timeout
— forever with ``--dial-timeout 0``.  :class:`GuardedConnection` drops the connection as soon
as the response is known to be bad, and remembers its first bytes so the error can say what
the server spoke instead (TLS, HTTP/1.0, something else).
"""

from __future__ import annotations

from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidMessage,
    StatusLineTooLong,
    TooManyHeaders,
)
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS

from wsctl.sizes import format_size

#: How many leading bytes of the response are kept to tell what the server spoke.
_HEAD_BYTES = 16

_UNSUPPORTED = "unsupported protocol; expected HTTP/1.1: "


class BadResponse(Exception):
    """The upgrade response was not one wsctl can use; ``str()`` says why, in one phrase.

    ``retryable``: only a server that hung up without a word may answer the next time.
    """

    def __init__(self, phrase: str, *, retryable: bool = False) -> None:
        super().__init__(phrase)
        self.retryable = retryable


class GuardedConnection(ClientConnection):
    """A ClientConnection that ends a failed handshake at once and explains odd responses."""

    _head: bytes = b""

    def data_received(self, data: bytes) -> None:
        """Feed the protocol; abort as soon as the response head is known to be invalid."""
        if len(self._head) < _HEAD_BYTES and self.response is None:
            self._head += bytes(data[: _HEAD_BYTES - len(self._head)])
        super().data_received(data)
        if self.protocol.handshake_exc is not None and not self.response_rcvd.done():
            # websockets would wait for the server to close; a flooding server never does.
            self.transport.abort()

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """websockets' handshake, with its parse errors turned into :class:`BadResponse`."""
        try:
            await super().handshake(*args, **kwargs)
        except InvalidHandshake as exc:
            wsuri = self.protocol.uri
            host = f"[{wsuri.host}]" if ":" in wsuri.host else wsuri.host
            phrase = explain(exc, self._head, address=f"{host}:{wsuri.port}", tls=wsuri.secure)
            if phrase is None:
                raise
            silent = not self._head and isinstance(exc.__cause__, EOFError)
            raise BadResponse(phrase, retryable=silent) from exc


def explain(exc: InvalidHandshake, head: bytes, *, address: str, tls: bool) -> str | None:
    """A phrase for a response that is too large or not HTTP/1.1; ``None`` for the others.

    ``head`` is the start of what the server sent; ``tls``: the URL was ``wss://``.
    """
    cause = exc.__cause__
    if isinstance(exc, StatusLineTooLong) or isinstance(cause, TooManyHeaders | HeaderLineTooLong):
        return (
            f"response headers too large (over {MAX_NUM_HEADERS} lines, or a line over "
            f"{format_size(MAX_LINE_LENGTH)})"
        )
    if not isinstance(exc, InvalidMessage):
        return None
    if isinstance(cause, ValueError) and str(cause).startswith(_UNSUPPORTED):
        status_line = str(cause)[len(_UNSUPPORTED) :].split()
        answered = " ".join(status_line[:2]) or "something else"
        return f"the server answered {answered} (not a WebSocket endpoint)"
    if not tls and _looks_like_tls(head):
        return f"got TLS bytes from {address} instead of an HTTP response — did you mean wss://?"
    if head and not head.startswith(b"HTTP/"):
        return f"got non-HTTP bytes from {address} instead of an HTTP response — " + (
            "is it a WebSocket server?" if tls else "did you mean wss://?"
        )
    if not tls and not head and isinstance(cause, EOFError):
        # A TLS server reading an HTTP request closes without a word (Python's, OpenSSL's).
        return (
            f"the server at {address} closed the connection without answering the upgrade "
            "— if it speaks TLS, did you mean wss://?"
        )
    return None


def _looks_like_tls(head: bytes) -> bool:
    """A TLS record: content type 20-23 (alert, handshake...), then major version 3."""
    return len(head) >= 2 and 20 <= head[0] <= 23 and head[1] == 3
