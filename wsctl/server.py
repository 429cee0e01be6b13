"""The embedded local server behind ``wsctl serve`` and ``wsctl demo``.

Built on :mod:`websockets.asyncio.server`.  Endpoints:

``/echo``
    Sends every message back with its type: text as text, binary as binary.
``/chat``
    Broadcasts every message to every connected client, the sender included.  Text messages
    become ``{"type":"message","user":"guest-1","text":"hi"}``; binary messages are relayed
    unchanged.  Joins and leaves are announced to everyone as
    ``{"type":"join","user":"guest-2","online":2}`` / ``{"type":"leave",…}``.  A client picks its
    name with ``?name=alice``; otherwise it is ``guest-N``.
``/prices``
    A JSON ticker: ``{"symbol":"BTC-USD","value":64210.5}`` for each subscribed symbol every
    ``tick`` seconds.  Streams :data:`DEFAULT_SYMBOLS` from the start, so a bare
    ``wsctl listen`` shows something; ``{"action":"subscribe","symbols":[…]}`` *replaces* the
    set and ``{"action":"unsubscribe","symbols":[…]}`` removes from it.  Every action is
    acknowledged with ``{"type":"subscribed","symbols":[…]}`` (the whole current set), after
    which only those symbols are sent; bad requests get ``{"type":"error","message":…}`` and
    the stream goes on.
``/graphql``
    graphql-transport-ws (subprotocol ``graphql-transport-ws``) with a tiny schema:
    ``query { hello }`` and ``subscription { greetings }``; ``subscribe`` before
    ``connection_ack`` closes with 4401.  ``?interval=`` spaces the greetings.
``/heartbeat``
    Socket.IO-style: an Engine.IO open packet, then a ping ``2`` every ``?interval=`` (1s) that
    must be answered with ``3`` within ``?timeout=`` (1s) or the client is closed with 1008;
    ``42["tick",N]`` every ``?tick=`` (the server's tick) in between.
``/jsonrpc``
    JSON-RPC 2.0 with ``echo``, ``add`` and ``subtract``.
``/``
    Describes the endpoints: an HTTP GET without an upgrade gets a ``text/plain`` page; a
    WebSocket connection gets the same text as one message, then a normal close (1000).

Any other path is rejected with HTTP 404 before the upgrade, a bad query-string setting with
HTTP 400.  The protocols themselves live in :mod:`wsctl.server_protocols`.

The server never prints: what it receives goes to the ``on_receive`` callback, and its logger
(``wsctl.server``) has a :class:`logging.NullHandler` so that nothing reaches stderr unless the
caller attaches a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from wsctl.errors import ConnectionFailed, InvalidInput
from wsctl.server_protocols import (
    GRAPHQL_SUBPROTOCOL,
    GraphQLSession,
    GraphQLSettings,
    HeartbeatSession,
    HeartbeatSettings,
    endpoint_settings,
    jsonrpc_reply,
)
from wsctl.settings import Compression, parse_compression

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SYMBOLS",
    "DEFAULT_TICK",
    "ENDPOINTS",
    "ConnectionCallback",
    "ConnectionEvent",
    "EmbeddedServer",
    "PriceFeed",
    "ReceiveCallback",
    "Received",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Seconds between two price ticks.
DEFAULT_TICK = 1.0
#: What ``/prices`` streams before the first subscribe (the module spec's example symbols).
DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC-USD", "ETH-USD")
#: The spec's default read limit; the server accepts messages up to this size.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_SYMBOLS = 20

#: Path → one-line description, in the order the description lists them.
ENDPOINTS: dict[str, str] = {
    "/echo": "echoes each message with its type (text or binary)",
    "/chat": "broadcast to every client, with join/leave notices (?name=NAME)",
    "/prices": 'JSON prices; send {"action":"subscribe","symbols":["SOL-USD"]}',
    "/graphql": "graphql-transport-ws: query { hello }, subscription { greetings }",
    "/heartbeat": 'Socket.IO-style pings "2": answer "3" within 1s or be dropped',
    "/jsonrpc": "JSON-RPC 2.0: echo, add, subtract",
    "/": "this description",
}

_SYMBOL = re.compile(r"[A-Z0-9]{1,12}(?:-[A-Z0-9]{1,12})?")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
# Only hosts that look like a host[:port] are reflected into the description.
_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")
_BASE_PRICES = {"BTC-USD": 65000.0, "ETH-USD": 3200.0, "SOL-USD": 150.0, "DOGE-USD": 0.15}

_logger = logging.getLogger("wsctl.server")
_logger.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Received:
    """One message the server received: where, from whom, and what."""

    path: str
    """The endpoint, such as ``"/echo"``."""
    peer: str
    """The client's address, ``"127.0.0.1:50312"`` or ``"[::1]:50312"``."""
    data: str | bytes
    """The message: :class:`str` for a text message, :class:`bytes` for a binary one."""

    @property
    def type(self) -> Literal["text", "binary"]:
        """``"text"`` or ``"binary"``, as in the module spec's message objects."""
        return "text" if isinstance(self.data, str) else "binary"


@dataclass(frozen=True)
class ConnectionEvent:
    """A client connected to an endpoint (``"open"``) or left it (``"close"``)."""

    kind: Literal["open", "close"]
    path: str
    peer: str
    code: int | None = None
    """For ``"close"``: the close code the client sent back (1006 when it just vanished)."""
    reason: str = ""


#: Called synchronously, in the event loop, for every message any endpoint receives.
ReceiveCallback = Callable[[Received], None]
#: Called synchronously, in the event loop, when a WebSocket connection opens or ends.
ConnectionCallback = Callable[[ConnectionEvent], None]


class EmbeddedServer:
    """The local WebSocket server with the endpoints of :data:`ENDPOINTS`.

    Use it as an async context manager::

        async with EmbeddedServer(port=0) as server:
            url = server.url("/echo")  # ws://127.0.0.1:PORT/echo
            ...
        # leaving the block closes every client with 1001 (going away)

    or call :meth:`start` and :meth:`close` yourself.  Invalid options (TLS files that cannot be
    loaded, a bad compression mode or subprotocol) raise :class:`~wsctl.errors.InvalidInput`
    from the constructor, before any socket is opened; an address that cannot be bound raises
    :class:`~wsctl.errors.ConnectionFailed` from :meth:`start`.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        tick: float = DEFAULT_TICK,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        subprotocols: Sequence[str] = (),
        compression: Compression | int | str = Compression.CONTEXT_TAKEOVER,
        on_receive: ReceiveCallback | None = None,
        on_connection: ConnectionCallback | None = None,
    ) -> None:
        """Configure the server; nothing is bound until :meth:`start`.

        ``port=0`` picks a free port (read it back from :attr:`port`).  ``tick`` is the price
        interval in seconds (and ``/heartbeat``'s default tick).  ``tls_cert`` (with
        ``tls_key``, unless the certificate file holds the key too) makes it a ``wss://``
        server.  ``subprotocols`` are accepted in the client's order of preference; a client
        that offers none is still accepted, one that offers only others is rejected with HTTP
        400 (``/graphql`` always accepts ``graphql-transport-ws``).  ``compression`` is the
        permessage-deflate mode accepted when a client offers it (``"disabled"``,
        ``"context-takeover"``, ``"no-context"`` or 0/1/2).  ``on_receive`` is told every
        message received and ``on_connection`` every connection opened and ended; the server
        itself never prints.
        """
        if not (0 <= port <= 65535):
            raise InvalidInput(f"invalid port {port}: expected 0-65535 (0 picks a free port)")
        if not tick > 0:
            raise InvalidInput(f"invalid tick {tick!r}: must be more than 0")
        if tls_key is not None and tls_cert is None:
            raise InvalidInput("a TLS key needs a TLS certificate (--tls-cert)")
        self.host = host
        self.requested_port = port
        self.tick = float(tick)
        self.compression = parse_compression(compression)
        self.subprotocols = tuple(_validated_subprotocol(name) for name in subprotocols)
        self.on_receive = on_receive
        self.on_connection = on_connection
        self._ssl = _ssl_context(tls_cert, tls_key) if tls_cert is not None else None
        self._server: Server | None = None
        self._chat: dict[ServerConnection, str] = {}
        self._guests = 0
        # Every connection with a running handler, for abort(); Server.connections lists only
        # the open ones, not those stuck in a closing handshake.
        self._connections: set[ServerConnection] = set()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        bind_host = await self._bind_host()
        try:
            self._server = await serve(
                self._handler,
                bind_host,
                self.requested_port,
                process_request=self._process_request,
                select_subprotocol=self._select_subprotocol,
                compression=None,  # extensions below say exactly which mode is accepted
                extensions=_deflate_extensions(self.compression),
                max_size=MAX_MESSAGE_SIZE,
                logger=_logger,
                ssl=self._ssl,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConnectionFailed(
                f"cannot listen on {_join_host_port(self.host, self.requested_port)}: "
                f"{reason.lower()}",
                retryable=False,
            ) from exc

    async def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop accepting connections, close every client with ``code`` and wait for them.

        Idempotent.  The default, 1001 (going away), is what a client sees on Ctrl-C.
        """
        if self._server is None:
            return
        self._server.close(close_connections=True, code=code, reason=reason)
        await self._server.wait_closed()

    def abort(self) -> int:
        """Drop every connection at once, without waiting for closing handshakes.

        For a second Ctrl-C while :meth:`close` waits for clients that never answer the Close
        frame.  Returns how many connections were dropped.
        """
        connections = list(self._connections)
        for connection in connections:
            connection.transport.abort()
        return len(connections)

    async def wait_closed(self) -> None:
        """Wait until the server has been closed (by :meth:`close`, possibly in another task)."""
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- addresses ------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``"wss"`` with TLS, else ``"ws"``."""
        return "wss" if self._ssl is not None else "ws"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (IP, port) pairs the server is bound to."""
        return [(sock.getsockname()[0], sock.getsockname()[1]) for sock in self._sockets()]

    @property
    def port(self) -> int:
        """The port the server listens on (the one picked by the system for ``port=0``)."""
        return self.addresses[0][1]

    @property
    def is_loopback(self) -> bool:
        """True when every bound address is a loopback address (unreachable from outside)."""
        return all(ipaddress.ip_address(ip).is_loopback for ip, _port in self.addresses)

    @property
    def base_url(self) -> str:
        """``ws://127.0.0.1:PORT/``: the URL of ``/``, usable from this machine."""
        return self.url("/")

    def url(self, path: str = "/") -> str:
        """The URL of an endpoint, e.g. ``server.url("/echo")``.

        A host name given to the constructor is kept (TLS certificates name it); a wildcard
        address (``0.0.0.0``, ``::``) becomes the matching loopback address, which is where
        this machine reaches it.
        """
        ip, port = self.addresses[0]
        host = self.host
        if _is_ip(host) or not host:
            address = ipaddress.ip_address(ip)
            if address.is_unspecified:
                address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
            host = str(address)
        return f"{self.scheme}://{_join_host_port(host, port)}{path}"

    def description(self, base: str | None = None) -> str:
        """The text served on ``/``: one line per endpoint with its URL (``base`` overrides
        ``scheme://host:port`` in the URLs)."""
        base = base if base is not None else self.url("")
        width = max(len(base + path) for path in ENDPOINTS)
        lines = ["wsctl embedded server. Endpoints:"]
        lines += [f"  {base + path:<{width}}  {text}" for path, text in ENDPOINTS.items()]
        lines.append(
            f"/prices streams {', '.join(DEFAULT_SYMBOLS)} every {self.tick:g}s"
            " until a subscribe replaces them."
        )
        return "\n".join(lines) + "\n"

    def _sockets(self) -> tuple[socket.socket, ...]:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return self._server.sockets

    async def _bind_host(self) -> str:
        # With port 0, a name resolving to several addresses ("localhost" → ::1 and 127.0.0.1)
        # would get a different free port on each, so bind its first address only.
        if self.requested_port != 0 or not self.host or _is_ip(self.host):
            return self.host
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self.host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot listen on {self.host}: {exc.strerror or exc}", retryable=False
            ) from exc
        return str(infos[0][4][0])

    # -- handshake ------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path not in ENDPOINTS:
            response = connection.respond(
                http.HTTPStatus.NOT_FOUND,
                f"404 not found: {path}\nendpoints: {', '.join(ENDPOINTS)}\n",
            )
            return response
        if path == "/" and not _is_upgrade(request.headers):
            return connection.respond(http.HTTPStatus.OK, self._description_for(request))
        try:
            endpoint_settings(path, parse_qs(urlsplit(request.path).query), self.tick)
        except InvalidInput as exc:
            return connection.respond(http.HTTPStatus.BAD_REQUEST, f"400 bad request: {exc}\n")
        return None

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # Lenient where websockets is strict: a client offering nothing is served without a
        # subprotocol, so that a plain `wsctl connect` still works against `serve -s chat`.
        accepted = self.subprotocols
        if connection.request is not None and urlsplit(connection.request.path).path == "/graphql":
            accepted += (GRAPHQL_SUBPROTOCOL,)
        if not offered or not accepted:
            return None
        for name in offered:
            if name in accepted:
                return name
        raise NegotiationError(
            "no accepted subprotocol; this server accepts " + ", ".join(accepted)
        )

    def _description_for(self, request: Request) -> str:
        host = request.headers.get("Host")
        if host is not None and _HOST_HEADER.fullmatch(host):
            return self.description(f"{self.scheme}://{host}")
        return self.description()

    # -- endpoints ------------------------------------------------------------------------

    async def _handler(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # the handshake succeeded
        target = urlsplit(connection.request.path)
        peer = _peer(connection)
        self._connections.add(connection)
        if self.on_connection is not None:
            self.on_connection(ConnectionEvent("open", target.path, peer))
        try:
            if target.path == "/echo":
                await self._echo(connection)
            elif target.path == "/chat":
                await self._chat_session(connection, parse_qs(target.query).get("name", [""])[0])
            elif target.path == "/prices":
                await self._prices(connection)
            elif target.path in ("/graphql", "/heartbeat", "/jsonrpc"):
                await self._protocol(connection, target.path, parse_qs(target.query))
            else:
                await connection.send(self._description_for(connection.request))
            # websockets would close after the handler returns anyway; closing here (1000)
            # lets the close event below carry the final close code.
            await connection.close()
        except ConnectionClosed:
            pass  # a client that vanishes without a close frame is routine, not a server error
        finally:
            self._connections.discard(connection)
            if self.on_connection is not None:
                code, reason = connection.close_code, connection.close_reason or ""
                self.on_connection(ConnectionEvent("close", target.path, peer, code, reason))

    def _received(self, connection: ServerConnection, path: str, data: str | bytes) -> None:
        if self.on_receive is not None:
            self.on_receive(Received(path, _peer(connection), data))

    async def _echo(self, connection: ServerConnection) -> None:
        async for message in connection:
            self._received(connection, "/echo", message)
            await connection.send(message)

    async def _protocol(
        self, connection: ServerConnection, path: str, query: dict[str, list[str]]
    ) -> None:
        def receive(message: str | bytes) -> None:
            self._received(connection, path, message)

        settings = endpoint_settings(path, query, self.tick)
        if isinstance(settings, GraphQLSettings):
            await GraphQLSession(connection, receive, settings).run()
        elif isinstance(settings, HeartbeatSettings):
            await HeartbeatSession(connection, receive, settings).run()
        else:
            async for message in connection:
                receive(message)
                reply = jsonrpc_reply(message)
                if reply is not None:
                    await connection.send(reply)

    async def _chat_session(self, connection: ServerConnection, wanted: str) -> None:
        user = self._chat_name(wanted)
        self._chat[connection] = user
        self._announce({"type": "join", "user": user, "online": len(self._chat)})
        try:
            async for message in connection:
                self._received(connection, "/chat", message)
                if isinstance(message, bytes):
                    broadcast(self._chat, message)
                else:
                    self._announce({"type": "message", "user": user, "text": message})
        finally:
            del self._chat[connection]
            self._announce({"type": "leave", "user": user, "online": len(self._chat)})

    def _chat_name(self, wanted: str) -> str:
        taken = set(self._chat.values())
        if not _NAME.fullmatch(wanted):
            self._guests += 1
            wanted = f"guest-{self._guests}"
        name, suffix = wanted, 1
        while name in taken:
            suffix += 1
            name = f"{wanted}-{suffix}"
        return name

    def _announce(self, notice: dict[str, Any]) -> None:
        # broadcast() writes without waiting, so one slow reader cannot stall the room.
        broadcast(self._chat, _json(notice))

    async def _prices(self, connection: ServerConnection) -> None:
        feed = PriceFeed(DEFAULT_SYMBOLS)
        wake = asyncio.Event()
        ticker = asyncio.create_task(self._tick(connection, feed, wake))
        try:
            async for message in connection:
                self._received(connection, "/prices", message)
                reply = feed.handle(message)
                await connection.send(_json(reply))
                wake.set()  # show the new symbols now rather than at the next tick
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick(
        self, connection: ServerConnection, feed: PriceFeed, wake: asyncio.Event
    ) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.tick):
                        await wake.wait()
                wake.clear()
                for symbol in list(feed.symbols):
                    # Checked again per send: a subscribe may land while a send waits to drain,
                    # and nothing outside the acknowledged set may follow the acknowledgement.
                    if symbol in feed.symbols:
                        await connection.send(_json({"symbol": symbol, "value": feed.next(symbol)}))


class PriceFeed:
    """The state of one ``/prices`` connection: its symbols and their random walks (pure)."""

    def __init__(self, symbols: Iterable[str], seed: int | None = None) -> None:
        """Start with ``symbols``; ``seed`` makes the walk reproducible."""
        self.symbols: list[str] = list(symbols)
        self._values: dict[str, float] = {}
        self._random = random.Random(seed)

    def handle(self, message: str | bytes) -> dict[str, Any]:
        """Apply a subscribe/unsubscribe request and return the reply to send."""
        if isinstance(message, bytes):
            return _error("send a JSON text message, not binary")
        try:
            request = json.loads(message)
        except (ValueError, RecursionError):
            return _error('not JSON: expected {"action":"subscribe","symbols":["BTC-USD"]}')
        if not isinstance(request, dict) or request.get("action") not in (
            "subscribe",
            "unsubscribe",
        ):
            return _error('expected {"action":"subscribe"|"unsubscribe","symbols":[…]}')
        symbols = request.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            return _error('"symbols" must be a list of strings such as "BTC-USD"')
        wanted = [symbol.strip().upper() for symbol in symbols]
        bad = [symbol for symbol in wanted if not _SYMBOL.fullmatch(symbol)]
        if bad:
            return _error(f"invalid symbol {bad[0]!r}: expected letters/digits like BTC-USD")
        if request["action"] == "subscribe":
            chosen = list(dict.fromkeys(wanted))
        else:
            chosen = [symbol for symbol in self.symbols if symbol not in wanted]
        if len(chosen) > MAX_SYMBOLS:
            return _error(f"too many symbols: at most {MAX_SYMBOLS}")
        self.symbols = chosen
        return {"type": "subscribed", "symbols": list(self.symbols)}

    def next(self, symbol: str) -> float:
        """The next price of ``symbol``: a small random step from the previous one."""
        value = self._values.get(symbol)
        if value is None:
            value = _BASE_PRICES.get(symbol, _made_up_price(symbol))
        value *= 1 + self._random.gauss(0, 0.001)
        self._values[symbol] = value
        return round(value, 2) if value >= 1 else round(value, 6)


def _made_up_price(symbol: str) -> float:
    # Stable across runs (unlike hash()), so an unknown symbol always starts near one value.
    return 10.0 + zlib.crc32(symbol.encode()) % 990


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _is_upgrade(headers: Headers) -> bool:
    return any(
        token.strip().lower() == "websocket"
        for value in headers.get_all("Upgrade")
        for token in value.split(",")
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return _join_host_port(str(address[0]), int(address[1]))
    return str(address)


def _validated_subprotocol(name: str) -> str:
    if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
        raise InvalidInput(f"invalid subprotocol {name!r}: only RFC 7230 token characters")
    return name


def _ssl_context(cert: str | Path, key: str | Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        what = f"{cert}" + (f" / {key}" if key is not None else "")
        raise InvalidInput(f"cannot load the TLS certificate and key ({what}): {exc}") from exc
    return context


def _deflate_extensions(mode: Compression) -> list[ServerExtensionFactory]:
    if mode is Compression.DISABLED:
        return []
    no_context = mode is Compression.NO_CONTEXT
    # The window and memory settings are websockets' defaults for compression="deflate".
    return [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=no_context,
            client_no_context_takeover=no_context,
            server_max_window_bits=12,
            client_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
    ]
