"""``/graphql``, ``/heartbeat`` and ``/jsonrpc`` of the embedded server, driven by real clients."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from wsctl.server import EmbeddedServer, Received
from wsctl.server_protocols import GREETINGS, GraphQLOperation, jsonrpc_reply, parse_graphql

TIMEOUT = 5.0 * float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))
GQL = [Subprotocol("graphql-transport-ws")]
FLAT_ONLY = (
    "Syntax Error: this server understands one flat operation,"
    " such as 'query { hello }' or 'subscription { greetings }'"
)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body with a deadline, so that a bug fails instead of hanging."""

    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await test()

    asyncio.run(bounded())


async def send_json(ws: ClientConnection, value: Any) -> None:
    await ws.send(json.dumps(value))


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await ws.recv())


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; fail if anything but the close arrives."""
    with pytest.raises(ConnectionClosed):
        message = await ws.recv()
        pytest.fail(f"unexpected message before the close: {message!r}")
    return ws.close_code, ws.close_reason


# -- /graphql -------------------------------------------------------------------------------


def test_graphql_conversation_init_ack_subscribe_next_complete() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/graphql?interval=10ms"), subprotocols=GQL) as ws,
        ):
            assert ws.subprotocol == "graphql-transport-ws"
            await send_json(ws, {"type": "ping", "payload": {"n": 1}})
            assert await recv_json(ws) == {"type": "pong", "payload": {"n": 1}}
            await send_json(ws, {"type": "connection_init", "payload": {"token": "t"}})
            assert await recv_json(ws) == {"type": "connection_ack"}
            query = "subscription Greet { greetings }"
            await send_json(ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
            for greeting in GREETINGS:
                assert await recv_json(ws) == {
                    "id": "1",
                    "type": "next",
                    "payload": {"data": {"greetings": greeting}},
                }
            assert await recv_json(ws) == {"id": "1", "type": "complete"}
            await send_json(ws, {"id": "2", "type": "subscribe", "payload": {"query": "{ hello }"}})
            assert await recv_json(ws) == {
                "id": "2",
                "type": "next",
                "payload": {"data": {"hello": "world"}},
            }
            assert await recv_json(ws) == {"id": "2", "type": "complete"}

    run(body)


def test_graphql_subscribe_before_connection_ack_closes_4401() -> None:
    received: list[Received] = []

    async def body() -> None:
        async with (
            EmbeddedServer(port=0, on_receive=received.append) as server,
            connect(server.url("/graphql"), subprotocols=GQL) as ws,
        ):
            query = "subscription { greetings }"
            await send_json(ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
            assert await closed_with(ws) == (4401, "Unauthorized")

    run(body)
    assert [r.path for r in received] == ["/graphql"]


@pytest.mark.parametrize(
    ("messages", "code", "reason"),
    [
        (['{"type":"connection_init"}', '{"type":"connection_init"}'], 4429, "Too many"),
        (["not json"], 4400, "not JSON"),
        ([b"\x00"], 4400, "binary"),
        (['{"id":"1"}'], 4400, 'with a "type"'),
        (['{"type":"connection_init"}', '{"type":"next","id":"1","payload":{}}'], 4400, "next"),
        (['{"type":"connection_init"}', '{"type":"subscribe","id":"1"}'], 4400, "payload.query"),
        (
            ['{"type":"connection_init"}', '{"type":"subscribe","payload":{"query":"{hello}"}}'],
            4400,
            '"id"',
        ),
        (['{"type":"connection_init","payload":3}'], 4400, "must be an object"),
        (["[" * 100_000 + "]" * 100_000], 4400, "not JSON"),  # too deep: not a 1011 crash
    ],
)
def test_graphql_protocol_violations_close_the_connection(
    messages: list[str | bytes], code: int, reason: str
) -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/graphql"), subprotocols=GQL) as ws,
        ):
            for message in messages:
                await ws.send(message)
            with pytest.raises(ConnectionClosed):
                while True:  # an ack may come first
                    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            assert ws.close_code == code
            assert reason in (ws.close_reason or "")

    run(body)


def test_graphql_duplicate_operation_id_closes_4409_and_complete_frees_the_id() -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0) as server:
            # Greetings 5 s apart: the first subscription is still running for the whole test.
            url = server.url("/graphql?interval=5s")
            subscribe = {
                "id": "a",
                "type": "subscribe",
                "payload": {"query": "subscription{greetings}"},
            }
            async with connect(url, subprotocols=GQL) as ws:
                await send_json(ws, {"type": "connection_init"})
                await recv_json(ws)
                await send_json(ws, subscribe)
                assert (await recv_json(ws))["payload"] == {"data": {"greetings": "Hi"}}
                await send_json(ws, {"id": "a", "type": "complete"})
                await send_json(ws, subscribe)  # the id is free again: no 4409
                assert await recv_json(ws) == {
                    "id": "a",
                    "type": "next",
                    "payload": {"data": {"greetings": "Hi"}},
                }
                await send_json(ws, subscribe)  # while "a" runs
                assert await closed_with(ws) == (4409, "Subscriber for a already exists")

    run(body)


def test_graphql_invalid_operation_gets_an_error_message_and_the_session_goes_on() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/graphql"), subprotocols=GQL) as ws,
        ):
            await send_json(ws, {"type": "connection_init"})
            await recv_json(ws)
            bad = {"query": "subscription { hello }"}
            await send_json(ws, {"id": "1", "type": "subscribe", "payload": bad})
            assert await recv_json(ws) == {
                "id": "1",
                "type": "error",
                "payload": [{"message": 'Cannot query field "hello" on type "Subscription".'}],
            }
            await send_json(ws, {"type": "ping"})
            assert await recv_json(ws) == {"type": "pong"}

    run(body)


def test_graphql_without_connection_init_closes_4408_at_the_deadline() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/graphql?init_timeout=50ms"), subprotocols=GQL) as ws,
        ):
            assert await closed_with(ws) == (4408, "Connection initialisation timeout")

    run(body)


def test_graphql_subprotocol_negotiation() -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0) as server:
            # Offering nothing is served (handy for a quick `wsctl connect`) ...
            async with connect(server.url("/graphql")) as ws:
                assert ws.subprotocol is None
                await send_json(ws, {"type": "ping"})
                assert await recv_json(ws) == {"type": "pong"}
            # ... offering only the legacy protocol is refused before the upgrade.
            with pytest.raises(InvalidStatus) as info:
                async with connect(
                    server.url("/graphql"), subprotocols=[Subprotocol("graphql-ws")]
                ):
                    pass
            assert info.value.response.status_code == 400
            assert b"graphql-transport-ws" in info.value.response.body
            # Other endpoints keep accepting any offer without choosing one.
            async with connect(server.url("/echo"), subprotocols=GQL) as ws:
                assert ws.subprotocol is None

    run(body)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ hello }", GraphQLOperation("query", None, ("hello",))),
        ("query Q { hello, __typename }", GraphQLOperation("query", "Q", ("hello", "__typename"))),
        ("query($x: Int) { hello }", GraphQLOperation("query", None, ("hello",))),
        (
            "# a comment\nsubscription S {\n  greetings\n}",
            GraphQLOperation("subscription", "S", ("greetings",)),
        ),
        ("{ nope }", 'Cannot query field "nope" on type "Query".'),
        ("query { greetings }", 'Cannot query field "greetings" on type "Query".'),
        (
            "subscription { greetings __typename }",
            "Anonymous Subscription must select only one top level field.",
        ),
        ("mutation { hello }", "Schema is not configured to execute mutation operation."),
        ("{ }", 'Syntax Error: Expected Name, found "}".'),
        (
            "{ hello { nested } }",
            FLAT_ONLY,
        ),
        (
            "queryX { hello }",
            FLAT_ONLY,
        ),
        ("{ 1x }", 'Syntax Error: Unexpected "1x".'),
    ],
)
def test_parse_graphql(document: str, expected: GraphQLOperation | str) -> None:
    assert parse_graphql(document) == expected


# -- /heartbeat -----------------------------------------------------------------------------


def test_heartbeat_client_that_answers_stays_connected_and_gets_ticks() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/heartbeat?interval=30ms&timeout=2s&tick=10ms")) as ws,
        ):
            opening = await ws.recv()
            assert isinstance(opening, str) and opening.startswith("0{")
            handshake = json.loads(opening[1:])
            assert handshake["pingInterval"] == 30
            assert handshake["pingTimeout"] == 2000
            assert handshake["upgrades"] == [] and handshake["sid"]
            pings, ticks = 0, []
            while pings < 5:
                message = await ws.recv()
                if message == "2":
                    pings += 1
                    await ws.send("3")
                else:
                    assert isinstance(message, str) and message.startswith("42")
                    event, number = json.loads(message[2:])
                    assert event == "tick"
                    ticks.append(number)
            assert ticks == list(range(1, len(ticks) + 1))
            assert ws.close_code is None  # answered every ping: still connected

    run(body)


def test_heartbeat_client_that_does_not_answer_is_dropped_with_1008() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/heartbeat?interval=20ms&timeout=50ms&tick=1h")) as ws,
        ):
            assert str(await ws.recv()).startswith("0{")
            assert await ws.recv() == "2"
            assert await closed_with(ws) == (1008, 'ping timeout: no "3" within 50ms')

    run(body)


def test_heartbeat_namespace_connect_client_ping_and_disconnect() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/heartbeat?interval=1h&tick=1h")) as ws,
        ):
            assert str(await ws.recv()).startswith("0{")
            await ws.send("40")
            answer = await ws.recv()
            assert isinstance(answer, str) and answer.startswith("40{")
            assert json.loads(answer[2:])["sid"]
            await ws.send("2")
            assert await ws.recv() == "3"
            await ws.send("41")
            assert await closed_with(ws) == (1000, "client disconnected")

    run(body)


@pytest.mark.parametrize(
    "query",
    [
        "/heartbeat?interval=soon",
        "/heartbeat?timeout=1ms",
        "/heartbeat?tick=-1s",
        "/graphql?interval=x",
    ],
)
def test_bad_query_settings_are_http_400(query: str) -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0) as server:
            with pytest.raises(InvalidStatus) as info:
                async with connect(server.url(query)):
                    pass
            assert info.value.response.status_code == 400
            assert info.value.response.body.startswith(b"400 bad request: invalid ")

    run(body)


# -- /jsonrpc -------------------------------------------------------------------------------


def test_jsonrpc_endpoint_answers_requests_and_not_notifications() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/jsonrpc")) as ws,
        ):
            await ws.send('{"jsonrpc":"2.0","method":"add","params":[1,2]}')  # notification
            await ws.send('{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}')
            assert await ws.recv() == '{"jsonrpc":"2.0","result":19,"id":1}'
            await ws.send("{oops")
            reply = await recv_json(ws)
            assert reply["error"]["code"] == -32700 and reply["id"] is None

    run(body)


_ERR = {"jsonrpc": "2.0", "id": None}


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        (
            '{"jsonrpc":"2.0","method":"echo","params":["hi"],"id":"x"}',
            {"jsonrpc": "2.0", "result": ["hi"], "id": "x"},
        ),
        ('{"jsonrpc":"2.0","method":"echo","id":1}', {"jsonrpc": "2.0", "result": None, "id": 1}),
        (
            '{"jsonrpc":"2.0","method":"add","params":{"a":1,"b":2.5},"id":2}',
            {"jsonrpc": "2.0", "result": 3.5, "id": 2},
        ),
        (
            '{"jsonrpc":"2.0","method":"subtract","params":{"subtrahend":23,"minuend":42},"id":3}',
            {"jsonrpc": "2.0", "result": 19, "id": 3},
        ),
        ('{"jsonrpc":"2.0","method":"nope","id":4}', -32601),
        ('{"jsonrpc":"2.0","method":"add","params":[1],"id":5}', -32602),
        ('{"jsonrpc":"2.0","method":"add","params":[true,1],"id":6}', -32602),
        ('{"jsonrpc":"2.0","method":"add","params":"12","id":7}', -32600),
        ('{"jsonrpc":"1.0","method":"echo","id":8}', -32600),
        ('{"jsonrpc":"2.0","method":1,"id":9}', -32600),
        ('{"jsonrpc":"2.0","method":"echo","id":[1]}', -32600),
        ("[]", -32600),
        (
            "[1]",
            [
                {
                    "jsonrpc": "2.0",
                    "error": {
                        "code": -32600,
                        "message": "Invalid Request",
                        "data": "expected an object",
                    },
                    "id": None,
                }
            ],
        ),
        ('{"jsonrpc":"2.0","method":"echo","params":[NaN],"id":1}', -32700),
        ('{"jsonrpc":"2.0","method"', -32700),
        ("[" * 100_000 + "]" * 100_000, -32700),  # too deep for json: not a 1011 crash
        ('{"jsonrpc":"2.0","method":"add","params":[1e308,1e308],"id":10}', -32602),  # Infinity
        ('{"jsonrpc":"2.0","method":"nope"}', None),
        ('[{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"nope"}]', None),
        (
            '[{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"1"},{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"subtract","params":[1,2],"id":"2"}]',
            [
                {"jsonrpc": "2.0", "result": 3, "id": "1"},
                {"jsonrpc": "2.0", "result": -1, "id": "2"},
            ],
        ),
    ],
)
def test_jsonrpc_reply(request_text: str, expected: Any) -> None:
    reply = jsonrpc_reply(request_text)
    if expected is None:
        assert reply is None
    elif isinstance(expected, int):
        assert reply is not None
        answer = json.loads(reply)
        assert answer["error"]["code"] == expected
        assert answer["error"]["message"]
    else:
        assert reply is not None
        assert json.loads(reply) == expected


def test_jsonrpc_binary_is_a_parse_error() -> None:
    reply = jsonrpc_reply(b"{}")
    assert reply is not None
    assert json.loads(reply)["error"]["code"] == -32700
