"""Application protocols spoken by the embedded server: graphql-transport-ws, a Socket.IO-style
heartbeat, and JSON-RPC 2.0 (``/graphql``, ``/heartbeat`` and ``/jsonrpc`` of ``wsctl serve``).

Each is small, but keeps the rules that make the real thing hard to drive from a plain client:
``/graphql`` closes with 4401 a ``subscribe`` sent before ``connection_ack``; ``/heartbeat``
drops a client that does not answer its ``2`` with ``3`` in time.  The pure parts
(:func:`parse_graphql`, :func:`jsonrpc_reply`, :func:`endpoint_settings`) have no I/O; the
session classes run one connection each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wsctl.durations import format_duration, parse_duration
from wsctl.errors import InvalidInput

__all__ = [
    "GRAPHQL_SUBPROTOCOL",
    "GREETINGS",
    "JSONRPC_METHODS",
    "GraphQLOperation",
    "GraphQLSession",
    "GraphQLSettings",
    "HeartbeatSession",
    "HeartbeatSettings",
    "endpoint_settings",
    "jsonrpc_reply",
    "parse_graphql",
]

#: The subprotocol of https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md.
GRAPHQL_SUBPROTOCOL = "graphql-transport-ws"
#: What ``subscription { greetings }`` streams (graphql-ws's own example).
GREETINGS: tuple[str, ...] = ("Hi", "Bonjour", "Hola", "Ciao", "Zdravo")
#: Below this, a query-string interval would turn the server into a flood.
MIN_INTERVAL = 0.01

#: Called with every message an endpoint receives (the server's ``on_receive`` plumbing).
Receive = Callable[[str | bytes], None]


# -- query-string settings ------------------------------------------------------------------


@dataclass(frozen=True)
class HeartbeatSettings:
    """``/heartbeat?interval=…&timeout=…&tick=…``: ping period, pong deadline, tick period."""

    interval: float = 1.0
    timeout: float = 1.0
    tick: float = 1.0


@dataclass(frozen=True)
class GraphQLSettings:
    """``/graphql?interval=…&init_timeout=…``: pause between greetings, connection_init deadline."""

    interval: float = 0.1
    init_timeout: float = 10.0


def endpoint_settings(
    path: str, query: Mapping[str, list[str]], tick: float
) -> HeartbeatSettings | GraphQLSettings | None:
    """The settings an endpoint reads from its query string (``None`` for other endpoints).

    Durations are as on the command line (``200ms``, ``1s``, or milliseconds).  A bad value
    raises :class:`~wsctl.errors.InvalidInput`, which the server turns into HTTP 400 before the
    upgrade.  ``tick`` is the server's ``--tick``, the default tick of ``/heartbeat``.
    """
    if path == "/heartbeat":
        return HeartbeatSettings(
            interval=_duration(query, "interval", 1.0),
            timeout=_duration(query, "timeout", 1.0),
            tick=_duration(query, "tick", tick),
        )
    if path == "/graphql":
        return GraphQLSettings(
            interval=_duration(query, "interval", GraphQLSettings.interval),
            init_timeout=_duration(query, "init_timeout", GraphQLSettings.init_timeout),
        )
    return None


def _duration(query: Mapping[str, list[str]], key: str, default: float) -> float:
    values = query.get(key)
    if not values:
        return default
    seconds = parse_duration(values[-1], name=key)
    if seconds < MIN_INTERVAL:
        raise InvalidInput(f"invalid {key} {values[-1]!r}: must be at least 10ms")
    return seconds


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _reason(text: str) -> str:
    # A close reason is at most 123 bytes of UTF-8.
    encoded = text.encode()
    if len(encoded) <= 123:
        return text
    return encoded[:120].decode(errors="ignore") + "..."


# -- graphql-transport-ws -------------------------------------------------------------------


@dataclass(frozen=True)
class GraphQLOperation:
    """A parsed operation of the tiny schema: its kind and the root fields it selects."""

    kind: str
    """``"query"``, ``"mutation"`` or ``"subscription"``."""
    name: str | None
    fields: tuple[str, ...]


_COMMENT = re.compile(r"#[^\n\r]*")
_NAME = r"[_A-Za-z][_0-9A-Za-z]*"
_OPERATION = re.compile(
    rf"(?:(?P<kind>query|mutation|subscription)(?![_0-9A-Za-z])\s*(?P<name>{_NAME})?\s*"
    rf"(?:\([^()]*\))?\s*)?\{{(?P<fields>[^{{}}]*)\}}"
)
_SCHEMA: dict[str, dict[str, str]] = {
    "query": {"hello": "world", "__typename": "Query"},
    "subscription": {"greetings": "", "__typename": "Subscription"},
}


def parse_graphql(document: str) -> GraphQLOperation | str:
    """Parse one operation of the tiny schema, or return the GraphQL error message.

    The schema is ``type Query { hello: String }`` (``"world"``) and ``type Subscription {
    greetings: String }`` (:data:`GREETINGS`); a selection is flat (no nested fields).  Messages
    follow graphql-js's wording, so that checks written against this server read like the real
    thing.
    """
    text = _COMMENT.sub("", document).strip().replace(",", " ")
    match = _OPERATION.fullmatch(text)
    if match is None:
        return (
            "Syntax Error: this server understands one flat operation, such as "
            "'query { hello }' or 'subscription { greetings }'"
        )
    kind = match.group("kind") or "query"
    fields = tuple(match.group("fields").split())
    if not fields:
        return 'Syntax Error: Expected Name, found "}".'
    for field in fields:
        if not re.fullmatch(_NAME, field):
            return f'Syntax Error: Unexpected "{field}".'
    if kind == "mutation":
        return "Schema is not configured to execute mutation operation."
    type_name = "Query" if kind == "query" else "Subscription"
    for field in fields:
        if field not in _SCHEMA[kind]:
            return f'Cannot query field "{field}" on type "{type_name}".'
    name = match.group("name")
    if kind == "subscription" and len(fields) > 1:
        subject = f'Subscription "{name}"' if name else "Anonymous Subscription"
        return f"{subject} must select only one top level field."
    return GraphQLOperation(kind, name, fields)


class _Violation(Exception):
    """A client broke graphql-transport-ws: close the connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = _reason(reason)


class GraphQLSession:
    """One ``/graphql`` connection speaking graphql-transport-ws.

    ``connection_init`` is acknowledged with ``connection_ack``; ``ping`` is answered with
    ``pong`` (carrying the ping's payload); ``subscribe`` runs an operation of the tiny schema
    (one ``next`` then ``complete`` for a query; one ``next`` per greeting, ``interval`` apart,
    then ``complete`` for ``subscription { greetings }``; an ``error`` for an invalid one);
    ``complete`` from the client stops an operation.  Violations close the connection as the
    protocol says: 4400 (invalid message), 4401 (``subscribe`` before ``connection_ack``),
    4408 (no ``connection_init`` within ``init_timeout``), 4409 (operation id in use), 4429
    (a second ``connection_init``).
    """

    def __init__(
        self, connection: ServerConnection, receive: Receive, settings: GraphQLSettings
    ) -> None:
        """Prepare the session; :meth:`run` serves it."""
        self.connection = connection
        self.receive = receive
        self.settings = settings
        self.acknowledged = False
        self.operations: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Serve the connection until it closes."""
        deadline = asyncio.create_task(self._init_deadline())
        try:
            async for message in self.connection:
                self.receive(message)
                try:
                    await self._handle(message)
                except _Violation as violation:
                    await self.connection.close(violation.code, violation.reason)
                    return
        finally:
            for task in [deadline, *self.operations.values()]:
                task.cancel()
            for task in [deadline, *self.operations.values()]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _init_deadline(self) -> None:
        await asyncio.sleep(self.settings.init_timeout)
        if not self.acknowledged:
            await self.connection.close(4408, "Connection initialisation timeout")

    async def _handle(self, raw: str | bytes) -> None:
        message = _graphql_message(raw)
        kind = message["type"]
        if kind == "connection_init":
            if self.acknowledged:
                raise _Violation(4429, "Too many initialisation requests")
            self.acknowledged = True
            await self.connection.send(_json({"type": "connection_ack"}))
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if message.get("payload") is not None:
                pong["payload"] = message["payload"]
            await self.connection.send(_json(pong))
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            if not self.acknowledged:
                raise _Violation(4401, "Unauthorized")
            operation_id = message["id"]
            if operation_id in self.operations:
                raise _Violation(4409, f"Subscriber for {operation_id} already exists")
            task = asyncio.create_task(self._operate(operation_id, message["payload"]["query"]))
            self.operations[operation_id] = task
        elif kind == "complete":
            # Stopping an unknown or finished operation is allowed and does nothing.
            running = self.operations.pop(message["id"], None)
            if running is not None:
                running.cancel()
        else:
            raise _Violation(4400, f"Unexpected message of type {kind} received")

    async def _operate(self, operation_id: str, document: str) -> None:
        try:
            operation = parse_graphql(document)
            send = self.connection.send
            if isinstance(operation, str):
                errors = [{"message": operation}]
                await send(_json({"id": operation_id, "type": "error", "payload": errors}))
                return
            if operation.kind == "query":
                data = {field: _SCHEMA["query"][field] for field in operation.fields}
                await send(_json({"id": operation_id, "type": "next", "payload": {"data": data}}))
            else:
                for index, greeting in enumerate(GREETINGS):
                    if index:
                        await asyncio.sleep(self.settings.interval)
                    field = operation.fields[0]
                    value = greeting if field == "greetings" else "Subscription"
                    payload = {"data": {field: value}}
                    await send(_json({"id": operation_id, "type": "next", "payload": payload}))
            await send(_json({"id": operation_id, "type": "complete"}))
        except ConnectionClosed:
            pass
        finally:
            # A client may complete this id and reuse it at once: forget only this task.
            if self.operations.get(operation_id) is asyncio.current_task():
                del self.operations[operation_id]


def _graphql_message(raw: str | bytes) -> dict[str, Any]:
    """Validate one client message as graphql-ws does, raising a 4400 violation."""
    if isinstance(raw, bytes):
        raise _Violation(4400, "Invalid message received: expected JSON text, got binary")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: [[[[… too deep
        raise _Violation(4400, f"Invalid message received: not JSON ({exc})") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise _Violation(4400, 'Invalid message received: expected an object with a "type"')
    kind = message["type"]
    payload = message.get("payload")
    if kind in ("connection_init", "ping", "pong") and not isinstance(payload, dict | None):
        raise _Violation(4400, f'Invalid message received: "{kind}" payload must be an object')
    if kind in ("subscribe", "complete"):
        operation_id = message.get("id")
        if not isinstance(operation_id, str) or not operation_id:
            raise _Violation(4400, f'Invalid message received: "{kind}" needs a string "id"')
    if kind == "subscribe" and not (
        isinstance(payload, dict) and isinstance(payload.get("query"), str)
    ):
        raise _Violation(4400, 'Invalid message received: "subscribe" needs payload.query')
    return message


# -- Socket.IO-style heartbeat --------------------------------------------------------------


class HeartbeatSession:
    """One ``/heartbeat`` connection: Engine.IO's open packet, pings, ticks, and the drop.

    Sends ``0{"sid":…,"upgrades":[],"pingInterval":MS,"pingTimeout":MS,"maxPayload":…}``, then
    every ``interval`` a ping ``2``; a client that does not answer ``3`` within ``timeout`` is
    closed with 1008 (policy violation) and a reason saying so.  Between pings it sends
    ``42["tick",N]`` every ``tick``.  A client's ``40`` (connect to the namespace) is answered
    with ``40{"sid":…}``, its own ping ``2`` with ``3``, and ``41`` ends the session (1000).
    """

    def __init__(
        self, connection: ServerConnection, receive: Receive, settings: HeartbeatSettings
    ) -> None:
        """Prepare the session; :meth:`run` serves it."""
        self.connection = connection
        self.receive = receive
        self.settings = settings
        self.pong = asyncio.Event()

    async def run(self) -> None:
        """Serve the connection until it closes or the client misses a ping."""
        settings = self.settings
        await self.connection.send(
            "0"
            + _json(
                {
                    "sid": secrets.token_urlsafe(15),
                    "upgrades": [],
                    "pingInterval": round(settings.interval * 1000),
                    "pingTimeout": round(settings.timeout * 1000),
                    "maxPayload": 1_000_000,
                }
            )
        )
        tasks = [asyncio.create_task(self._pinger()), asyncio.create_task(self._ticker())]
        try:
            async for message in self.connection:
                self.receive(message)
                if message == "3":
                    self.pong.set()
                elif message == "2":
                    await self.connection.send("3")
                elif message == "40" or (isinstance(message, str) and message.startswith("40{")):
                    await self.connection.send("40" + _json({"sid": secrets.token_urlsafe(15)}))
                elif message == "41":
                    await self.connection.close(1000, "client disconnected")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _pinger(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self.settings.interval)
                self.pong.clear()
                await self.connection.send("2")
                try:
                    async with asyncio.timeout(self.settings.timeout):
                        await self.pong.wait()
                except TimeoutError:
                    limit = format_duration(self.settings.timeout)
                    await self.connection.close(1008, f'ping timeout: no "3" within {limit}')
                    return

    async def _ticker(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            count = 0
            while True:
                await asyncio.sleep(self.settings.tick)
                count += 1
                await self.connection.send(f'42["tick",{count}]')


# -- JSON-RPC 2.0 ---------------------------------------------------------------------------


class _InvalidParams(Exception):
    pass


def _number(value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _InvalidParams(f"{name} must be a number")
    return value


def _two_numbers(params: Any, names: tuple[str, str]) -> tuple[int | float, int | float]:
    if isinstance(params, list) and len(params) == 2:
        first, second = params
    elif isinstance(params, dict) and set(params) == set(names):
        first, second = params[names[0]], params[names[1]]
    else:
        raise _InvalidParams(f"expected [{names[0]}, {names[1]}] or {{{names[0]}, {names[1]}}}")
    return _number(first, names[0]), _number(second, names[1])


def _echo(params: Any) -> Any:
    return params


def _add(params: Any) -> int | float:
    a, b = _two_numbers(params, ("a", "b"))
    return _finite(a + b)


def _subtract(params: Any) -> int | float:
    minuend, subtrahend = _two_numbers(params, ("minuend", "subtrahend"))
    return _finite(minuend - subtrahend)


def _finite(result: int | float) -> int | float:
    """``1e308 + 1e308`` is infinite, which JSON cannot say (``Infinity`` is not JSON)."""
    if isinstance(result, float) and not math.isfinite(result):
        raise _InvalidParams("the result is too large for a JSON number")
    return result


#: Method name → implementation taking the request's ``params`` (``None`` when absent).
JSONRPC_METHODS: dict[str, Callable[[Any], Any]] = {
    "echo": _echo,
    "add": _add,
    "subtract": _subtract,
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def jsonrpc_reply(message: str | bytes) -> str | None:
    """The JSON-RPC 2.0 response to one WebSocket message, or ``None`` when none is due.

    Methods: ``echo`` (returns its params), ``add`` (``[a, b]`` or ``{"a", "b"}``) and
    ``subtract`` (``[minuend, subtrahend]`` or named).  Batches get an array; notifications
    (no ``"id"``) get nothing, even when they fail.  Errors use the spec's codes: -32700 parse
    error, -32600 invalid request, -32601 method not found, -32602 invalid params.
    """
    if isinstance(message, bytes):
        return _json(_error(None, -32700, "Parse error", "send JSON text, not binary"))
    try:
        request = json.loads(message, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: [[[[… too deep
        return _json(_error(None, -32700, "Parse error", str(exc)))
    if isinstance(request, list):
        if not request:
            return _json(_error(None, -32600, "Invalid Request", "empty batch"))
        replies = [reply for reply in map(_answer, request) if reply is not None]
        return _json(replies) if replies else None
    reply = _answer(request)
    return _json(reply) if reply is not None else None


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _answer(request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return _error(None, -32600, "Invalid Request", "expected an object")
    request_id = request.get("id")
    if not _valid_id(request_id):
        return _error(None, -32600, "Invalid Request", '"id" must be a string, number or null')
    method = request.get("method")
    params = request.get("params")
    if request.get("jsonrpc") != "2.0":
        return _error(request_id, -32600, "Invalid Request", '"jsonrpc" must be "2.0"')
    if not isinstance(method, str):
        return _error(request_id, -32600, "Invalid Request", '"method" must be a string')
    if "params" in request and not isinstance(params, list | dict):
        return _error(request_id, -32600, "Invalid Request", '"params" must be an array or object')
    implementation = JSONRPC_METHODS.get(method)
    if implementation is None:
        known = ", ".join(JSONRPC_METHODS)
        reply = _error(request_id, -32601, "Method not found", f"methods: {known}")
    else:
        try:
            reply = {"jsonrpc": "2.0", "result": implementation(params), "id": request_id}
        except _InvalidParams as exc:
            reply = _error(request_id, -32602, "Invalid params", str(exc))
    return reply if "id" in request else None  # a notification gets no answer


def _error(request_id: Any, code: int, message: str, data: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "error": {"code": code, "message": message, "data": data},
        "id": request_id,
    }
