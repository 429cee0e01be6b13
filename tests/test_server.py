"""The embedded server (``wsctl.server``): each endpoint exercised by a real client on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trustme
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from wsctl.errors import ConnectionFailed, InvalidInput
from wsctl.server import (
    DEFAULT_SYMBOLS,
    ENDPOINTS,
    ConnectionEvent,
    EmbeddedServer,
    PriceFeed,
    Received,
)
from wsctl.settings import Compression

#: One factor scales every wait in this file; a slow machine sets WSCTL_TEST_TIMEOUT_SCALE.
TIMEOUT = 5.0 * float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))
#: Fast ticks keep the price tests short; the values are counted, never timed.
TICK = 0.02


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body with a deadline, so that a bug fails instead of hanging."""

    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await test()

    asyncio.run(bounded())


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await ws.recv())


async def http_get(url: str) -> tuple[int, str, str]:
    """GET ``url`` with a real HTTP client: (status, content type, body)."""

    def get() -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                return response.status, response.headers["Content-Type"], response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read().decode()

    return await asyncio.to_thread(get)


# -- /echo ----------------------------------------------------------------------------------


def test_echo_returns_text_as_text_and_binary_as_binary() -> None:
    received: list[Received] = []

    async def body() -> None:
        async with (
            EmbeddedServer(port=0, on_receive=received.append) as server,
            connect(server.url("/echo")) as ws,
        ):
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xff\x10")
            assert await ws.recv() == b"\x00\xff\x10"
            # decode=False shows the frame type itself: a text frame stays text.
            await ws.send("text")
            assert await ws.recv(decode=False) == b"text"

    run(body)
    assert [(r.path, r.type, r.data) for r in received] == [
        ("/echo", "text", "héllo"),
        ("/echo", "binary", b"\x00\xff\x10"),
        ("/echo", "text", "text"),
    ]
    assert all(r.peer.startswith("127.0.0.1:") for r in received)


def test_echo_accepts_a_large_message() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/echo"), max_size=None) as ws,
        ):
            payload = os.urandom(3 * 1024 * 1024)
            await ws.send(payload)
            assert await ws.recv() == payload

    run(body)


# -- /chat ----------------------------------------------------------------------------------


def test_chat_broadcasts_between_two_clients_with_join_and_leave() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/chat?name=alice")) as alice,
        ):
            assert await recv_json(alice) == {"type": "join", "user": "alice", "online": 1}
            async with connect(server.url("/chat")) as guest:
                joined = {"type": "join", "user": "guest-1", "online": 2}
                assert await recv_json(alice) == joined
                assert await recv_json(guest) == joined

                await guest.send("hi alice")
                said = {"type": "message", "user": "guest-1", "text": "hi alice"}
                assert await recv_json(alice) == said
                assert await recv_json(guest) == said  # the sender gets it too

                await alice.send(b"\x01\x02")
                assert await alice.recv() == b"\x01\x02"  # binary relayed unchanged
                assert await guest.recv() == b"\x01\x02"
            assert await recv_json(alice) == {"type": "leave", "user": "guest-1", "online": 1}

    run(body)


def test_chat_names_are_unique_and_sanitised() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/chat?name=bob")) as first,
        ):
            assert (await recv_json(first))["user"] == "bob"
            async with connect(server.url("/chat?name=bob")) as second:
                assert (await recv_json(second))["user"] == "bob-2"
                async with connect(server.url("/chat?name=%1b%5B31m")) as third:
                    assert (await recv_json(third))["user"] == "guest-1"

    run(body)


# -- /prices --------------------------------------------------------------------------------


def test_prices_stream_default_symbols_before_any_subscribe() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0, tick=TICK) as server,
            connect(server.url("/prices")) as ws,
        ):
            ticks = [await recv_json(ws) for _ in range(2 * len(DEFAULT_SYMBOLS))]
        assert {tick["symbol"] for tick in ticks} == set(DEFAULT_SYMBOLS)
        assert all(set(tick) == {"symbol", "value"} for tick in ticks)
        assert all(isinstance(tick["value"], float) and tick["value"] > 0 for tick in ticks)

    run(body)


def test_prices_after_subscribe_only_the_subscribed_symbols() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0, tick=TICK) as server,
            connect(server.url("/prices")) as ws,
        ):
            await ws.send(json.dumps({"action": "subscribe", "symbols": ["sol-usd", "XRP"]}))
            # Ticks of the default symbols may precede the acknowledgement, never follow it.
            while (message := await recv_json(ws)).get("type") != "subscribed":
                assert message["symbol"] in DEFAULT_SYMBOLS
            assert message == {"type": "subscribed", "symbols": ["SOL-USD", "XRP"]}
            ticks = [await recv_json(ws) for _ in range(6)]
            assert {tick["symbol"] for tick in ticks} == {"SOL-USD", "XRP"}
            assert all(tick["value"] > 0 for tick in ticks)

            await ws.send('{"action":"unsubscribe","symbols":["XRP"]}')
            while (message := await recv_json(ws)).get("type") != "subscribed":
                pass
            assert message["symbols"] == ["SOL-USD"]
            assert {(await recv_json(ws))["symbol"] for _ in range(3)} == {"SOL-USD"}

    run(body)


def test_prices_bad_request_gets_an_error_and_the_stream_goes_on() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0, tick=TICK) as server,
            connect(server.url("/prices")) as ws,
        ):
            await ws.send("subscribe me")
            while (message := await recv_json(ws)).get("type") is None:
                pass
            assert message["type"] == "error"
            assert "not JSON" in message["message"]
            assert (await recv_json(ws))["symbol"] in DEFAULT_SYMBOLS

    run(body)


@pytest.mark.parametrize(
    ("request_", "reply"),
    [
        ('{"action":"subscribe","symbols":["btc-usd","BTC-USD"]}', ["BTC-USD"]),
        ('{"action":"subscribe","symbols":[]}', []),
        ('{"action":"unsubscribe","symbols":["ETH-USD"]}', ["BTC-USD"]),
        ('{"action":"unsubscribe","symbols":["NOPE"]}', ["BTC-USD", "ETH-USD"]),
    ],
)
def test_price_feed_actions(request_: str, reply: list[str]) -> None:
    feed = PriceFeed(DEFAULT_SYMBOLS, seed=1)
    assert feed.handle(request_) == {"type": "subscribed", "symbols": reply}
    assert feed.symbols == reply


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (b"{}", "not binary"),
        ("[1, 2]", "expected {"),
        ('{"action":"buy","symbols":["BTC-USD"]}', "expected {"),
        ('{"action":"subscribe","symbols":"BTC-USD"}', "list of strings"),
        ('{"action":"subscribe","symbols":["BTC USD"]}', "invalid symbol"),
        ('{"action":"subscribe","symbols":["\\u001b[2J"]}', "invalid symbol"),
        (json.dumps({"action": "subscribe", "symbols": [f"S{i}" for i in range(21)]}), "at most"),
    ],
)
def test_price_feed_rejects_bad_requests_and_keeps_its_symbols(
    request_: str | bytes, error: str
) -> None:
    feed = PriceFeed(DEFAULT_SYMBOLS, seed=1)
    reply = feed.handle(request_)
    assert reply["type"] == "error"
    assert error in reply["message"]
    assert feed.symbols == list(DEFAULT_SYMBOLS)


def test_price_feed_values_walk_from_a_base_price() -> None:
    feed = PriceFeed([], seed=7)
    values = [feed.next("BTC-USD") for _ in range(50)]
    assert all(50_000 < value < 80_000 for value in values)
    assert len(set(values)) > 1
    # An unknown symbol starts from the same made-up price on every run.
    assert abs(PriceFeed([], seed=1).next("ZZZ") - PriceFeed([], seed=2).next("ZZZ")) < 5


# -- / and unknown paths --------------------------------------------------------------------


def test_root_over_http_is_a_plain_text_description() -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0) as server:
            http_url = server.url("/").replace("ws://", "http://")
            status, content_type, text = await http_get(http_url)
            assert status == 200
            assert content_type.startswith("text/plain")
            for path in ENDPOINTS:
                assert server.url(path) in text
            assert text == server.description()

    run(body)


def test_root_over_websocket_sends_the_description_then_closes_normally() -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0) as server,
            connect(server.url("/")) as ws,
        ):
            assert await ws.recv() == server.description()
            await ws.wait_closed()
            assert ws.close_code == 1000

    run(body)


def test_unknown_path_is_http_404() -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0) as server:
            with pytest.raises(InvalidStatus) as info:
                async with connect(server.url("/nope")):
                    pass
            assert info.value.response.status_code == 404
            status, _type, text = await http_get(server.url("/nope").replace("ws://", "http://"))
            assert status == 404
            assert "/echo" in text

    run(body)


# -- lifecycle and options ------------------------------------------------------------------


def test_close_closes_every_client_with_1001() -> None:
    async def body() -> None:
        server = EmbeddedServer(port=0, tick=TICK)
        await server.start()
        clients = [
            await connect(server.url(path)) for path in ("/echo", "/chat", "/prices", "/chat")
        ]
        await server.close()
        for ws in clients:
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
        await server.close()  # idempotent

    run(body)


def test_connection_events_report_opens_and_closes_with_their_codes() -> None:
    events: list[ConnectionEvent] = []

    async def body() -> None:
        async with EmbeddedServer(port=0, on_connection=events.append) as server:
            async with connect(server.url("/echo")) as ws:
                await ws.send("x")
                await ws.recv()
            async with connect(server.url("/")) as ws:
                await ws.wait_closed()
            ws = await connect(server.url("/chat"))
        await ws.wait_closed()

    run(body)
    # One connection per path; across paths the order of server-side events is not promised.
    by_path = {path: [(e.kind, e.code) for e in events if e.path == path] for path in ENDPOINTS}
    assert by_path == {
        **{path: [] for path in ENDPOINTS},
        "/echo": [("open", None), ("close", 1000)],
        "/": [("open", None), ("close", 1000)],
        "/chat": [("open", None), ("close", 1001)],
    }
    assert len({e.peer for e in events}) == 3


def test_port_zero_picks_a_free_loopback_port() -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0) as server:
            assert server.port > 0
            assert server.addresses == [("127.0.0.1", server.port)]
            assert server.is_loopback
            assert server.base_url == f"ws://127.0.0.1:{server.port}/"

    run(body)


def test_a_host_name_is_kept_in_the_url() -> None:
    async def body() -> None:
        async with EmbeddedServer("localhost", 0) as server:
            assert server.url("/echo") == f"ws://localhost:{server.port}/echo"
            assert server.is_loopback
            async with connect(server.url("/echo")) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"

    run(body)


def test_a_busy_port_is_a_clear_error() -> None:
    async def body() -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            with pytest.raises(ConnectionFailed, match=f"cannot listen on 127.0.0.1:{port}"):
                await EmbeddedServer(port=port).start()

    run(body)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "invalid port"),
        ({"tick": 0}, "invalid tick"),
        ({"compression": "gzip"}, "invalid compression"),
        ({"subprotocols": ["a b"]}, "invalid subprotocol"),
        ({"tls_key": "key.pem"}, "needs a TLS certificate"),
        ({"tls_cert": "/nonexistent/cert.pem"}, "cannot load the TLS certificate"),
    ],
)
def test_bad_options_are_rejected_before_binding(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        EmbeddedServer(**kwargs)


def test_subprotocols_are_negotiated() -> None:
    async def body() -> None:
        async with EmbeddedServer(port=0, subprotocols=["chat.v1", "chat.v2"]) as server:
            url = server.url("/echo")
            async with connect(url, subprotocols=["chat.v2", "chat.v1"]) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "chat.v2"  # the client's preference wins
            async with connect(url) as ws:
                assert ws.subprotocol is None  # offering nothing is fine
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, subprotocols=["mqtt"]):  # type: ignore[list-item]
                    pass
            assert info.value.response.status_code == 400
            assert b"chat.v1, chat.v2" in info.value.response.body

    run(body)


@pytest.mark.parametrize(
    ("mode", "extension"),
    [
        (Compression.DISABLED, None),
        ("context-takeover", "permessage-deflate; server_max_window_bits=12"),
        (
            "no-context",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
    ],
)
def test_compression_modes(mode: Compression | str, extension: str | None) -> None:
    async def body() -> None:
        async with (
            EmbeddedServer(port=0, compression=mode) as server,
            connect(server.url("/echo"), compression="deflate") as ws,
        ):
            assert ws.response is not None
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
            if extension is None:
                assert negotiated is None
            else:
                assert negotiated is not None and negotiated.startswith(extension)
            await ws.send("squeeze " * 100)
            assert await ws.recv() == "squeeze " * 100

    run(body)


def test_tls_serves_wss(tmp_path: Any) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.cert_chain_pems[0].write_to_path(cert_file)
    certificate.private_key_pem.write_to_path(key_file)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def body() -> None:
        async with EmbeddedServer(port=0, tls_cert=cert_file, tls_key=key_file) as server:
            assert server.base_url.startswith("wss://127.0.0.1:")
            async with connect(server.url("/echo"), ssl=client_context) as ws:
                await ws.send("secret")
                assert await ws.recv() == "secret"

    run(body)
