"""The one connection core: connect, send, ping, receive, close — on ``websockets.asyncio``.

Every subcommand and the Python API go through :func:`connect` and :class:`Client`.  The core
never prints: it returns values, raises :mod:`wsctl.errors` exceptions, and reports handshake
details to an optional observer callback that renderers turn into text.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidProxyStatus,
    InvalidStatus,
    InvalidURI,
    ProxyError,
    SecurityError,
)
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

from wsctl.durations import format_duration
from wsctl.errors import (
    ConnectionClosedAbnormally,
    ConnectionFailed,
    InvalidInput,
    Timeout,
    WebSocketError,
)
from wsctl.framing import text_frames
from wsctl.receive import FastConnection
from wsctl.redact import redact_text, redact_url
from wsctl.settings import (
    BINARY,
    DEFAULT_CLOSE_TIMEOUT,
    TEXT,
    TYPE_BINARY,
    TYPE_TEXT,
    ConnectOptions,
    close_code_name,
    parse_close_code,
    validate_close_reason,
    validate_url,
)
from wsctl.sizes import format_size
from wsctl.upgrade import BadResponse, GuardedConnection
from wsctl.urls import show_url, url_problem

if TYPE_CHECKING:
    from wsctl.policy import PolicySet

_T = TypeVar("_T")

#: The default of ``close_timeout``: how long closing waits for the server's Close frame.
CLOSE_TIMEOUT = DEFAULT_CLOSE_TIMEOUT


class Message(NamedTuple):
    """A received message: ``type`` is ``"text"`` (``data`` is str) or ``"binary"`` (bytes).

    A named tuple rather than a frozen dataclass: one is made per message received, and a
    tuple is several times cheaper to build.
    """

    type: str
    data: str | bytes


class HandshakeEvent(NamedTuple):
    """What the observer passed to :func:`connect` is told about each handshake attempt.

    ``kind`` is ``"request"`` (sent), ``"response"`` (received) or ``"redirect"`` (``url`` is the
    next hop); ``"note"`` is a detail for verbose output in ``message`` (the proxy in use, the
    negotiated compression); ``"retry"`` says that the attempt failed with ``message`` and that
    retry ``attempt`` of ``attempts`` (0: no limit) follows in ``delay`` seconds.
    """

    kind: Literal["request", "response", "redirect", "note", "retry"]
    url: str
    request: Request | None = None
    response: Response | None = None
    message: str = ""
    attempt: int = 0
    attempts: int = 0
    delay: float = 0.0


Observer = Callable[[HandshakeEvent], None]


class Client:
    """An open WebSocket connection (the spec's ``Client``)."""

    def __init__(self, connection: FastConnection, url: str, options: ConnectOptions) -> None:
        self._connection = connection
        self.url = url
        self.options = options
        self._closed_by_us = False
        self._receiving = False
        self._read_timeout = options.read_timeout
        self._write_timeout = options.write_timeout

    # -- handshake results ---------------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, if any."""
        return self._connection.subprotocol

    @property
    def extensions(self) -> list[str]:
        """The negotiated extensions as the server wrote them (``permessage-deflate; ...``)."""
        response = self._connection.response
        return response.headers.get_all("Sec-WebSocket-Extensions") if response else []

    @property
    def compression(self) -> str | None:
        """The negotiated permessage-deflate parameters in words; ``None`` when not in use."""
        if self.options.compression == 0:
            return None
        from wsctl.compression import negotiated

        extension = negotiated(self._connection.protocol.extensions)
        return extension.describe() if extension is not None else None

    @property
    def request_headers(self) -> Headers:
        """Headers of the upgrade request that succeeded."""
        return self._connection.request.headers if self._connection.request else Headers()

    @property
    def response_headers(self) -> Headers:
        """Headers of the server's ``101 Switching Protocols`` response."""
        return self._connection.response.headers if self._connection.response else Headers()

    @property
    def tls_info(self) -> dict[str, Any] | None:
        """The TLS session of a ``wss://`` connection; ``None`` for ``ws://``.

        Keys: ``version`` (``"TLSv1.3"``), ``cipher``, ``bits`` and ``peer_certificate`` (as
        :meth:`ssl.SSLSocket.getpeercert` gives it; ``None`` when it was not verified).
        """
        ssl_object = self._connection.transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        cipher = ssl_object.cipher()
        return {
            "version": ssl_object.version(),
            "cipher": cipher[0] if cipher else None,
            "bits": cipher[2] if cipher else None,
            "peer_certificate": ssl_object.getpeercert() or None,
        }

    # -- sending -------------------------------------------------------------------------

    async def send(self, data: str | bytes, type: int | None = None) -> None:
        """Send one message: ``TEXT`` (1) or ``BINARY`` (2); by default str is text, bytes binary.

        Raises :class:`Timeout` after ``write_timeout`` and a closure error when the connection
        is closed.
        """
        if type is None:
            type = TEXT if isinstance(data, str) else BINARY
        if type == TEXT:
            if isinstance(data, bytes):
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput(
                        "a text message must be valid UTF-8; send it as binary instead"
                    ) from None
                message: str | bytes = data
                text = True
            else:
                message, text = data, True
        elif type == BINARY:
            message, text = (data.encode("utf-8") if isinstance(data, str) else data), False
        else:
            raise InvalidInput(f"invalid message type {type!r}: expected TEXT (1) or BINARY (2)")
        await self._send(message, text)

    async def send_utf8(self, messages: Sequence[bytes]) -> None:
        """Send each item — bytes already known to be valid UTF-8 — as a text message.

        The frames of the whole batch go out in one write: websockets' own ``send()`` writes
        each frame with a system call of its own, which is what limits piping lines through
        ``wsctl send``.  ``write_timeout`` bounds the batch.
        """
        await self._guarded(self._write_batch(messages))

    async def _write_batch(self, messages: Sequence[bytes]) -> None:
        connection = self._connection
        # send_context() checks that the connection is open, and on exit writes whatever the
        # protocol still holds and waits for the write buffer to drain (backpressure).
        async with connection.send_context():
            protocol = connection.protocol
            if protocol.extensions or protocol.expect_continuation_frame:
                for message in messages:  # compressed frames: websockets' encoder
                    protocol.send_text(message)
                # Only frames are pending here: the connection was open on entry and nothing
                # has awaited since, so no close (its end-of-stream marker is an empty chunk).
                connection.transport.write(b"".join(protocol.data_to_send()))
            else:
                connection.transport.write(text_frames(messages))

    async def _send(self, message: str | bytes, text: bool) -> None:
        await self._guarded(self._connection.send(message, text=text))

    async def _guarded(self, sending: Awaitable[None]) -> None:
        """Await ``sending`` within the write timeout, turning failures into wsctl errors."""
        try:
            if self._write_timeout is None:
                await sending
            else:
                async with asyncio.timeout(self._write_timeout):
                    await sending
        except TimeoutError:
            self._connection.transport.abort()
            raise Timeout(
                f"could not send within {format_duration(self._write_timeout or 0)} "
                "(--write-timeout): the server is not reading"
            ) from None
        except ConnectionClosed as exc:
            raise self._send_error(exc) from None

    async def ping(self, payload: str | bytes = b"", timeout: float | None = None) -> float:
        """Send a Ping and return the round-trip time in seconds when its Pong arrives.

        ``timeout`` (seconds) bounds the wait for the Pong; :class:`Timeout` when it passes.
        """
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if len(data) > 125:
            raise InvalidInput(f"ping payload is {len(data)} bytes; at most 125 fit")
        try:
            waiter = await self._connection.ping(data or None)
            if timeout is None:
                return await waiter
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            raise Timeout(f"no pong within {format_duration(timeout or 0)}") from None
        except ConnectionClosed as exc:
            raise self._send_error(exc) from None

    # -- receiving -----------------------------------------------------------------------

    async def recv(self) -> Message | None:
        """Wait for the next message; ``None`` once the connection has closed normally.

        Raises :class:`ConnectionClosedAbnormally` after an abnormal closure and
        :class:`Timeout` when no message arrives within ``read_timeout``.
        """
        data = await self._receive(self._connection.recv())
        if data is None:
            return None
        if isinstance(data, str):
            return Message(TYPE_TEXT, data)
        return Message(TYPE_BINARY, data)

    async def recv_batch(self) -> list[tuple[bool, bytes]] | None:
        """Every message that has arrived, waiting for at least one; ``None`` once the
        connection has closed normally.  Errors and ``read_timeout`` as for :meth:`recv`.

        Each message is an ``(is_text, payload)`` pair; text payloads are valid UTF-8, still
        encoded.  One await per batch instead of per message: for consumers that write
        messages out as fast as they come (``wsctl listen``).
        """
        return await self._receive(self._connection.recv_batch())

    async def _receive(self, receiving: Awaitable[_T]) -> _T | None:
        """Await ``receiving`` within the read timeout, turning closures into wsctl errors."""
        self._receiving = True
        try:
            if self._read_timeout is None:
                return await receiving
            async with asyncio.timeout(self._read_timeout):
                return await receiving
        except TimeoutError:
            raise Timeout(
                f"no message within {format_duration(self._read_timeout or 0)} (--read-timeout)"
            ) from None
        except ConnectionClosed as exc:
            error = self._closed_error(exc)
            if error is None:
                return None
            raise error from None
        finally:
            self._receiving = False

    async def __aiter__(self) -> AsyncIterator[Message]:
        while (message := await self.recv()) is not None:
            yield message

    def channel(self) -> AsyncIterator[Message]:
        """The spec's ``client:channel()``: an async iterator of received messages."""
        return self.__aiter__()

    # -- closing -------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` (1000–4999) and ``reason`` (≤ 123 bytes), waiting for the reply."""
        code = parse_close_code(code)
        validate_close_reason(reason)
        if self._connection.close_code is None:
            self._closed_by_us = True
        # Unread messages hold the receive buffer full, and a full buffer pauses reading: the
        # server's Close frame would never be read.  When nobody is receiving, discard them.
        drain = None if self._receiving else asyncio.create_task(self._discard_messages())
        try:
            await self._connection.close(code, reason)
        finally:
            if drain is not None:
                drain.cancel()

    async def _discard_messages(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self._connection.recv()

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or closing)."""
        return self._connection.close_code is not None or self._closed_by_us

    @property
    def closed_by_us(self) -> bool:
        """True when this side started the closing handshake."""
        return self._closed_by_us

    @property
    def remote_address(self) -> Any:
        """The TCP peer: ``(host, port, ...)`` of the server (or of the proxy in between)."""
        return self._connection.remote_address

    @property
    def closed_by(self) -> str | None:
        """``"client"`` or ``"server"``: the side that sent the first Close frame, or that
        dropped the connection without one (``None`` while open)."""
        protocol = self._connection.protocol
        if self._closed_by_us:
            return "client"
        if protocol.close_sent is not None and not protocol.close_rcvd_then_sent:
            return "client"  # a read limit or a keep-alive failure closed it from this side
        if protocol.close_rcvd is not None or self._connection.close_code is not None:
            return "server"  # its Close frame, or it dropped the TCP connection
        return None

    @property
    def close_code(self) -> int | None:
        """The close code the server sent (1006 when the connection dropped without one)."""
        rcvd = self._connection.protocol.close_rcvd
        if rcvd is not None:
            return rcvd.code
        return self._connection.close_code

    @property
    def close_reason(self) -> str:
        """The close reason the server sent, if any."""
        rcvd = self._connection.protocol.close_rcvd
        return rcvd.reason if rcvd is not None else ""

    async def wait_closed(self) -> None:
        """Wait until the TCP connection has ended."""
        await self._connection.wait_closed()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection.close_code is None:
            await self.close()

    def _send_error(self, exc: ConnectionClosed) -> WebSocketError:
        """Sending on a closed connection is an error even after a normal close."""
        error = self._closed_error(exc)
        if error is not None:
            return error
        code = self.close_code
        return ConnectionClosedAbnormally(
            f"cannot send: the connection is already closed ({code} {close_code_name(code)})",
            code=code or 1006,
        )

    def _closed_error(self, exc: ConnectionClosed) -> WebSocketError | None:
        """Turn a closure into ``None`` (normal) or the error describing it."""
        rcvd, sent = exc.rcvd, exc.sent
        if self._closed_by_us and sent is not None:
            return None  # the user asked for this close, whatever the code
        if sent is not None and sent.code == 1009 and not exc.rcvd_then_sent:
            limit = format_size(self.options.effective_read_limit)
            return ConnectionClosedAbnormally(
                f"a message exceeded the read limit of {limit}; closed with 1009 "
                "(message too big) — raise it with --read-limit",
                code=1009,
                reason=sent.reason,
            )
        if rcvd is None:
            if sent is not None and sent.code == 1011 and "keepalive" in sent.reason:
                return ConnectionClosedAbnormally(
                    "no pong to a keep-alive ping in time; closed with 1011", code=1011
                )
            if sent is not None and sent.code not in (1000, 1001):
                return ConnectionClosedAbnormally(
                    f"closed with {sent.code} ({close_code_name(sent.code)}): {sent.reason}",
                    code=sent.code,
                    reason=sent.reason,
                )
            return ConnectionClosedAbnormally(
                "connection lost: the server closed the TCP connection without a Close frame "
                "(1006)",
                code=1006,
            )
        if rcvd.code in (1000, 1001):
            return None
        reason = f": {rcvd.reason}" if rcvd.reason else ""
        return ConnectionClosedAbnormally(
            f"server closed the connection with {rcvd.code} ({close_code_name(rcvd.code)}){reason}",
            code=rcvd.code,
            reason=rcvd.reason,
        )


# -- connecting --------------------------------------------------------------------------


class _Connection(GuardedConnection, FastConnection):
    """websockets' client connection with a bounded upgrade response (GuardedConnection)
    and the fast receive path for simple frames (FastConnection)."""


class _ObservedConnection(_Connection):
    """A ClientConnection that reports its handshake to the observer, even when it fails."""

    observer: Observer | None = None

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            observer = self.observer
            if observer is not None:
                url = str(getattr(self.protocol, "uri", ""))
                request = getattr(self, "request", None)
                if request is not None:
                    observer(HandshakeEvent("request", url, request=request))
                response = getattr(self, "response", None)
                if response is not None:
                    observer(HandshakeEvent("response", url, response=response))


class _PolicyCheckedConnect(ws_connect):
    """websockets' connect(), with every redirect hop checked against the policy first."""

    def __init__(
        self,
        uri: str,
        *,
        check_url: Callable[[str], None],
        max_redirects: int,
        observer: Observer | None,
        transport: _Transport | None = None,
        location_trusted: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(uri, **kwargs)
        self._check_url = check_url
        self._redirects_left = max_redirects
        self._max_redirects = max_redirects
        self._location_trusted = location_trusted
        self._observer = observer
        self._transport = transport
        #: The proxy of the last hop tried, to name it in errors.
        self.proxy_choice: Any = None

    async def open_tcp_connection(self) -> ClientConnection:
        transport = self._transport
        if transport is None:
            return await super().open_tcp_connection()
        # Decided per hop: a redirect may change the scheme (TLS or not) or the host (NO_PROXY).
        choice = transport.proxy_for(self.uri)
        self.proxy_choice = choice
        policies = transport.policies
        if choice is not None and policies is not None:
            policies.check_proxy(choice.url, self.uri)  # a proxy is a connection too
        self.proxy = choice.url if choice is not None else None
        if choice is not None and self._observer is not None:
            self._observer(HandshakeEvent("note", self.uri, message=f"proxy {choice.describe()}"))
        kwargs = self.create_connection_kwargs
        for key in ("ssl", "server_hostname", "proxy_ssl"):
            kwargs.pop(key, None)
        if self.ws_uri.secure:
            if transport.ssl_context is not None:
                kwargs["ssl"] = transport.ssl_context
            if transport.server_name is not None:
                kwargs["server_hostname"] = transport.server_name
        if choice is not None and choice.scheme == "https" and transport.proxy_ssl_context:
            kwargs["proxy_ssl"] = transport.proxy_ssl_context
        if policies is not None and policies.checks_addresses:
            from wsctl.dialing import open_checked

            def note(message: str) -> None:
                if self._observer is not None:
                    self._observer(HandshakeEvent("note", self.uri, message=message))

            # Resolve once, check every address, connect to exactly those (DNS rebinding).
            return await open_checked(self, choice, policies, transport.options.resolver, note)
        return await super().open_tcp_connection()

    def process_redirect(self, exc: Exception) -> Exception | str:
        invalid = self._invalid_location(exc)
        if invalid is not None:
            return invalid
        headers = self.additional_headers
        result = super().process_redirect(exc)
        if isinstance(result, Exception):
            return result
        if self._redirects_left <= 0:
            return ConnectionFailed(
                f"too many redirects (more than {self._max_redirects}; the last to "
                f"{redact_url(result)})",
                retryable=False,
            )
        self.additional_headers, dropped = self._headers_for(result, headers)
        self._redirects_left -= 1
        try:
            validate_url(result)
            self._check_url(result)
        except WebSocketError as error:
            return error
        if self._observer is not None:
            self._observer(HandshakeEvent("redirect", result))
            if dropped:
                message = (
                    f"another origin: not sending {', '.join(dropped)} "
                    "(--location-trusted sends them)"
                )
                self._observer(HandshakeEvent("note", result, message=message))
        return result

    def _invalid_location(self, exc: Exception) -> Exception | None:
        """The error for a redirect whose Location is not a usable URL, naming that Location
        (redacted) rather than the URL that was redirected."""
        if not (isinstance(exc, InvalidStatus) and 300 <= exc.response.status_code < 400):
            return None
        location = exc.response.headers.get("Location")
        if location is None:
            return None
        try:
            problem = url_problem(urllib.parse.urljoin(self.uri, location))
        except ValueError:  # urllib refuses some malformed authorities ("[::1")
            problem = url_problem(location) or "it is not a valid URL"
        if problem is None:
            return None
        return ConnectionFailed(
            f"{redact_url(self.uri)} redirected to an invalid URL {show_url(location)}: {problem}",
            retryable=False,
        )

    def _headers_for(self, target: str, headers: Any) -> tuple[Any, list[str]]:
        """The headers to send to ``target``, and the names of those left behind: on a hop to
        another origin (scheme, host or port differs), every header the user added (-H,
        --auth, --bearer-env), unless ``--location-trusted``.

        Origin stays (it describes the client, not the user), as does User-Agent (not passed
        here); websockets alone would drop only Authorization and Cookie.
        """
        new = parse_uri(target)
        old = self.ws_uri
        if (old.secure, old.host, old.port) == (new.secure, new.host, new.port) or not headers:
            return self.additional_headers, []
        if self._location_trusted:
            return headers, []
        items = list(Headers(headers).raw_items())
        kept = [(name, value) for name, value in items if name.lower() == "origin"]
        names = dict.fromkeys(name for name, _ in items if name.lower() != "origin")
        return kept or None, list(names)


def _allow(url: str) -> None:
    """The check when no policy is in force: every URL is allowed."""


def _load_policies(options: ConnectOptions) -> PolicySet | None:
    """The :class:`wsctl.policy.PolicySet` in force now (``options.policy`` if given);
    ``None`` when no policy file exists anywhere, the usual case, which then skips importing
    the policy engine at all."""
    if options.policy is not None:
        given: PolicySet = options.policy
        return given
    from wsctl.policy_files import any_policy_present

    if not any_policy_present(options.policy_file):
        return None
    from wsctl import policy as policy_module

    return policy_module.discover(options.policy_file)


class _Transport(NamedTuple):
    """TLS contexts and the proxy rule, prepared (files read, values checked) before any I/O."""

    options: ConnectOptions
    ssl_context: ssl.SSLContext | None = None
    proxy_ssl_context: ssl.SSLContext | None = None
    server_name: str | None = None
    #: The :class:`wsctl.policy.PolicySet` that checks proxies and addresses on each hop.
    policies: PolicySet | None = None

    def proxy_for(self, url: str) -> Any:
        """The :class:`wsctl.proxy.ProxyChoice` for ``url``, or ``None`` to connect directly."""
        import os

        from wsctl.proxy import choose_proxy, require_socks_support

        choice = choose_proxy(
            url, explicit=self.options.proxy, disabled=self.options.no_proxy, environ=os.environ
        )
        if choice is not None and choice.is_socks:
            require_socks_support(choice)
        return choice


def _prepare_transport(
    url: str, options: ConnectOptions, policies: PolicySet | None = None
) -> _Transport:
    """Load TLS files and choose the proxy for ``url`` now, so bad ones fail before any I/O."""
    ssl_context = proxy_ssl_context = None
    if (
        options.ssl_context is not None
        or options.insecure
        or options.cacert is not None
        or options.capath is not None
        or options.cert is not None
    ):
        from wsctl import tls

        ssl_context = tls.build_context(options)
        proxy_ssl_context = tls.build_context(options, client_certificate=False)
    transport = _Transport(
        options, ssl_context, proxy_ssl_context, options.tls_server_name, policies
    )
    transport.proxy_for(url)  # raises InvalidInput for a bad proxy variable or missing SOCKS
    return transport


def _check_one_authorization(url: str, options: ConnectOptions) -> None:
    """Credentials in the URL become an Authorization header: refuse a second one (the server
    would see two, and which one it uses is anyone's guess)."""
    if parse_uri(url).user_info is None:
        return
    if (
        options.auth is not None
        or options.bearer_token is not None
        or any(name.lower() == "authorization" for name, _ in options.headers)
    ):
        raise InvalidInput(
            "give credentials either in the URL (user:password@) or with "
            "--auth/--bearer-env/-H Authorization, not both"
        )


def _identity_headers(options: ConnectOptions) -> list[tuple[str, str]]:
    """Authorization from ``--auth`` or ``--bearer-env``: like every header the user adds, it
    stays with the first origin on a redirect (see ``_PolicyCheckedConnect._headers_for``)."""
    if options.auth is not None:
        from websockets.headers import build_authorization_basic

        return [("Authorization", build_authorization_basic(*options.auth))]
    if options.bearer_token is not None:
        return [("Authorization", f"Bearer {options.bearer_token}")]
    return []


def _websockets_kwargs(options: ConnectOptions, observer: Observer | None) -> dict[str, Any]:
    headers = [(name, value) for name, value in options.headers if name.lower() != "user-agent"]
    user_agents = [value for name, value in options.headers if name.lower() == "user-agent"]
    connection_class = (
        type("ObservedConnection", (_ObservedConnection,), {"observer": staticmethod(observer)})
        if observer is not None
        else _Connection
    )
    kwargs: dict[str, Any] = {
        "subprotocols": list(options.subprotocols) or None,
        "open_timeout": options.dial_timeout,
        "max_size": options.effective_read_limit,
        "max_queue": options.channel_capacity,
        "ping_interval": options.ping_interval,
        "ping_timeout": options.ping_timeout or options.ping_interval,
        "close_timeout": options.close_timeout,
        "compression": None,
        "proxy": None,
        "create_connection": connection_class,
    }
    if user_agents:
        kwargs["user_agent_header"] = user_agents[-1]
    headers.extend(_identity_headers(options))
    kwargs["additional_headers"] = headers or None
    if options.user_agent is not None:
        kwargs["user_agent_header"] = options.user_agent or None  # "": no User-Agent at all
    if options.origin is not None:
        kwargs["origin"] = options.origin
    if options.compression:
        from wsctl.compression import client_extensions

        kwargs["extensions"] = client_extensions(options.compression, options.compression_threshold)
    return kwargs


def _connect_error(
    url: str, exc: BaseException, options: ConnectOptions, proxy: Any = None
) -> WebSocketError:
    """Explain why connecting failed, in one line (``proxy``: the ProxyChoice in use)."""
    if isinstance(exc, WebSocketError):
        return exc
    url = redact_url(url)  # error lines end up in CI logs: no tokens from the query string
    if isinstance(exc, BadResponse):  # too large, or not HTTP/1.1 (or nothing at all)
        return ConnectionFailed(f"cannot connect to {url}: {exc}", retryable=exc.retryable)
    special = _tls_or_proxy_error(url, exc, options, proxy)
    if special is not None:
        return special
    if proxy is not None and isinstance(exc, OSError | TimeoutError):
        error = _connect_error(url, exc, options)
        error.message += f" (through proxy {proxy.describe()})"
        return error
    if isinstance(exc, TimeoutError):
        limit = format_duration(options.dial_timeout or 0)
        return Timeout(f"timed out after {limit} connecting to {url} (--dial-timeout)")
    if isinstance(exc, InvalidStatus):
        response = exc.response
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        status = response.status_code
        retryable = status in (408, 429) or status >= 500
        return ConnectionFailed(
            f"{url} rejected the WebSocket upgrade: HTTP {status}{reason}",
            retryable=retryable,
            status=status,
            body=bytes(response.body or b""),
        )
    if isinstance(exc, InvalidURI):
        return InvalidInput(f"invalid URL {url!r}: {exc.msg}")
    if isinstance(exc, SecurityError):
        return ConnectionFailed(f"cannot connect to {url}: {exc}", retryable=False)
    if isinstance(exc, InvalidHandshake):
        return ConnectionFailed(f"WebSocket handshake with {url} failed: {exc}")
    if isinstance(exc, ssl.SSLError):
        return ConnectionFailed(f"cannot connect to {url}: TLS error: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        return ConnectionFailed(f"cannot connect to {url}: cannot resolve host: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionFailed(f"cannot connect to {url}: connection refused")
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc) or type(exc).__name__
        return ConnectionFailed(f"cannot connect to {url}: {detail}")
    if isinstance(exc, EOFError | ConnectionClosed):
        return ConnectionFailed(f"cannot connect to {url}: the server closed the connection")
    raise exc


def _tls_or_proxy_error(
    url: str, exc: BaseException, options: ConnectOptions, proxy: Any
) -> WebSocketError | None:
    """Certificate failures that explain themselves, and failures of the proxy itself."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        from wsctl.tls import explain_certificate_error

        host = options.tls_server_name or urllib.parse.urlsplit(url).hostname or ""
        return ConnectionFailed(
            f"cannot connect to {url}: TLS certificate verification failed: "
            f"{explain_certificate_error(exc, host)}",
            retryable=False,
        )
    address = _address(url) if url.startswith("wss:") and proxy is None else ""
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, ssl.SSLError):
            from wsctl.tls import explain_tls_error

            explained = explain_tls_error(error, address)
            if explained is not None:
                return ConnectionFailed(f"cannot connect to {url}: {explained}", retryable=False)
    if address and isinstance(exc, ConnectionResetError):
        # A plain-text server reading a ClientHello as HTTP drops the connection at once.
        from wsctl.tls import not_tls

        return ConnectionFailed(f"cannot connect to {url}: {not_tls(address)}", retryable=False)
    if (
        isinstance(exc, InvalidMessage)
        and isinstance(exc.__cause__, EOFError)
        and url.startswith("wss:")
        and options.cert is None
    ):
        # A server that wants a client certificate ends a TLS 1.3 connection with an alert
        # that Python's asyncio reports as a bare EOF; say what it most likely means.
        return ConnectionFailed(
            f"cannot connect to {url}: the server closed the connection after the TLS "
            "handshake without answering; if it requires a client certificate, give one "
            "with --cert FILE [--key FILE]"
        )
    if not isinstance(exc, ProxyError) or proxy is None:
        return None
    shown = proxy.describe()
    if isinstance(exc, InvalidProxyStatus):
        status = exc.response.status_code
        reason = f" {exc.response.reason_phrase}" if exc.response.reason_phrase else ""
        if status == 407:
            return ConnectionFailed(
                f"proxy {shown} requires authentication (HTTP 407): put the credentials in "
                "the proxy URL, scheme://user:password@host:port",
                retryable=False,
                status=status,
            )
        return ConnectionFailed(
            f"proxy {shown} refused the tunnel to {url}: HTTP {status}{reason}",
            retryable=status in (408, 429) or status >= 500,
            status=status,
        )
    cause = exc.__cause__
    detail = str(cause) if cause is not None else str(exc)
    denied = any(word in detail.lower() for word in ("auth", "password", "not allowed"))
    return ConnectionFailed(
        f"cannot connect to {url} through proxy {shown}: {detail}", retryable=not denied
    )


def _address(url: str) -> str:
    """``host:port`` of a ws:// or wss:// URL, as error messages name a server."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port or (443 if parts.scheme == 'wss' else 80)}"


async def open_client(
    url: str,
    options: ConnectOptions | None = None,
    *,
    observer: Observer | None = None,
) -> Client:
    """Check the policy, then open a connection to ``url``; see :func:`connect`.

    With ``options.retries``, retryable failures are tried again after a backoff; the
    observer hears of each retry as a ``"retry"`` event.
    """
    options = options or ConnectOptions()
    validate_url(url)
    _check_one_authorization(url, options)
    policies = _load_policies(options)
    check_url: Callable[[str], None] = policies.check_connect if policies is not None else _allow
    check_url(url)
    transport = _prepare_transport(url, options, policies)

    async def attempt() -> Client:
        return await _open_once(url, options, check_url, transport, observer)

    if options.retries == 0:
        return await attempt()
    from wsctl.retry import RetryNotice, retrying

    def notify(notice: RetryNotice) -> None:
        if observer is not None:
            observer(
                HandshakeEvent(
                    "retry",
                    url,
                    message=str(notice.error),
                    attempt=notice.retry,
                    attempts=notice.retries or 0,
                    delay=notice.delay,
                )
            )

    return await retrying(
        attempt,
        retries=options.retries,
        delay=options.retry_delay,
        max_delay=options.retry_max_delay,
        notify=notify,
    )


async def _open_once(
    url: str,
    options: ConnectOptions,
    check_url: Callable[[str], None],
    transport: _Transport,
    observer: Observer | None,
) -> Client:
    """One connection attempt, redirects included."""
    connector = _PolicyCheckedConnect(
        url,
        check_url=check_url,
        max_redirects=options.max_redirects,
        location_trusted=options.location_trusted,
        observer=observer,
        transport=transport,
        **_websockets_kwargs(options, observer),
    )
    try:
        connection = await connector
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc, InvalidHandshake | ValueError) else None
        error = _connect_error(
            connector.uri,  # the hop that failed: after a redirect, not the URL first asked
            cause if isinstance(cause, WebSocketError) else exc,
            options,
            connector.proxy_choice,
        )
        # Library messages may quote a URL (a redirect target, a proxy): never its secrets.
        error.message = redact_text(error.message)
        raise error from None
    assert isinstance(connection, FastConnection)  # the create_connection class we passed
    client = Client(connection, connector.uri, options)
    if options.compression and observer is not None:
        described = client.compression or (
            "the server declined permessage-deflate; messages are sent uncompressed"
        )
        observer(HandshakeEvent("note", client.url, message=f"compression: {described}"))
    return client


class connect:
    """Open a WebSocket connection: ``client = await connect(url, ...)`` or ``async with``.

    ``options`` is a :class:`ConnectOptions`; or pass the spec's options as keywords
    (``headers``, ``protocols``, ``dial_timeout``, ``read_timeout``, ``write_timeout``,
    ``compression``, ``compression_threshold``, ``read_limit``, ``channel_capacity``), with
    durations as milliseconds or Go strings and sizes as bytes or ``"16MiB"``; and wsctl's
    own: ``auth=(user, password)``, ``bearer_token``, ``origin``, ``user_agent``, ``proxy``,
    ``no_proxy``, ``cacert``, ``capath``, ``cert``, ``key``, ``key_password``, ``insecure``,
    ``tls_server_name``, ``ssl_context``, ``retries``, ``retry_delay``, ``retry_max_delay``,
    ``location_trusted`` (keep the headers you added on a redirect to another origin),
    ``policy`` (a :class:`wsctl.policy.PolicySet`), ``resolver`` (``async (host, port) ->
    [ip, ...]``, used by address rules).

    Raises :class:`~wsctl.errors.PermissionDenied` (policy), :class:`InvalidInput`,
    :class:`ConnectionFailed` or :class:`Timeout`.
    """

    def __init__(
        self,
        url: str,
        options: ConnectOptions | None = None,
        *,
        observer: Observer | None = None,
        **spec_options: Any,
    ) -> None:
        if options is not None and spec_options:
            raise InvalidInput("pass either a ConnectOptions or keyword options, not both")
        self._url = url
        self._options = options or ConnectOptions.create(**spec_options)
        self._observer = observer
        self._client: Client | None = None

    def __await__(self) -> Generator[Any, None, Client]:
        return open_client(self._url, self._options, observer=self._observer).__await__()

    async def __aenter__(self) -> Client:
        self._client = await self
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._client is not None
        await self._client.__aexit__(exc_type, exc, tb)
