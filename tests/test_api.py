"""The Python API mirrors the module spec: connect, send, ping, channel, close, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

import wsctl


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await body()

    asyncio.run(bounded())


def test_text_binary_ping_and_channel(echo_server: LoopbackServer) -> None:
    async def body() -> None:
        async with wsctl.connect(echo_server.url, read_timeout="5s", dial_timeout=2000) as client:
            await client.send("Hello, Server!")
            await client.send(b"\x00\x01", wsctl.BINARY)
            await client.send("as bytes", wsctl.BINARY)
            rtt = await client.ping()
            assert rtt >= 0
            received = []
            async for message in client.channel():
                received.append(message)
                if len(received) == 3:
                    break
        assert received == [
            wsctl.Message(wsctl.TYPE_TEXT, "Hello, Server!"),
            wsctl.Message(wsctl.TYPE_BINARY, b"\x00\x01"),
            wsctl.Message(wsctl.TYPE_BINARY, b"as bytes"),
        ]

    run(body)
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1000]


def test_close_with_code_and_reason(echo_server: LoopbackServer) -> None:
    async def body() -> None:
        client = await wsctl.connect(echo_server.url)
        await client.close(wsctl.CLOSE_CODES.INTERNAL_ERROR, "Processing failed")
        assert client.closed and client.closed_by_us
        assert await client.recv() is None

    run(body)
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1011]
    assert echo_server.recorder.close_reasons == ["Processing failed"]


def test_iteration_ends_on_normal_close_and_raises_on_abnormal(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def close_4000(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("one")
        await connection.close(4000, "bye")

    async def close_1000(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("one")
        await connection.close()

    normal, abnormal = make_server(close_1000), make_server(close_4000)

    async def body() -> None:
        async with wsctl.connect(normal.url) as client:
            assert [m.data async for m in client] == ["one"]
            assert client.close_code == 1000
        async with wsctl.connect(abnormal.url) as client:
            seen = []
            with pytest.raises(wsctl.ConnectionClosedAbnormally) as caught:
                async for message in client:
                    seen.append(message.data)
            assert seen == ["one"]
            assert (caught.value.code, caught.value.reason) == (4000, "bye")
            assert caught.value.retryable is False

    run(body)


def test_errors_have_kind_and_retryable() -> None:
    async def body() -> None:
        with pytest.raises(wsctl.ConnectionFailed) as refused:
            await wsctl.connect("ws://127.0.0.1:9/")
        assert refused.value.kind is wsctl.Kind.INTERNAL and refused.value.retryable
        with pytest.raises(wsctl.InvalidInput) as invalid:
            await wsctl.connect("http://example.com/")
        assert invalid.value.kind is wsctl.Kind.INVALID and not invalid.value.retryable
        with pytest.raises(wsctl.InvalidInput):
            await wsctl.connect("ws://127.0.0.1:9/", channel_capacity=0)

    run(body)


def test_send_validates_type_and_utf8(echo_server: LoopbackServer) -> None:
    async def body() -> None:
        async with wsctl.connect(echo_server.url) as client:
            with pytest.raises(wsctl.InvalidInput):
                await client.send(b"\xff", wsctl.TEXT)
            with pytest.raises(wsctl.InvalidInput):
                await client.send("x", 3)
            with pytest.raises(wsctl.InvalidInput):
                await client.close(1005)

    run(body)


def test_constants_match_the_spec() -> None:
    assert (wsctl.TEXT, wsctl.BINARY) == (1, 2)
    assert wsctl.TYPE_PING == "ping" and wsctl.TYPE_PONG == "pong" and wsctl.TYPE_CLOSE == "close"
    assert [int(mode) for mode in wsctl.COMPRESSION] == [0, 1, 2]
    assert wsctl.COMPRESSION.CONTEXT_TAKEOVER == 1
    assert wsctl.CLOSE_CODES.NORMAL == 1000 and wsctl.CLOSE_CODES.TRY_AGAIN_LATER == 1013


def test_close_completes_while_unread_messages_fill_the_receive_buffer(
    make_server: Callable[..., LoopbackServer],
) -> None:
    """A full receive buffer pauses reading, which would hide the server's Close frame.

    With the close timeout made an hour, only discarding the unread messages lets close()
    finish before the test's deadline.
    """

    async def flood(connection: ServerConnection, recorder: Recorder) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await connection.send("z" * 65536)

    server = make_server(flood)

    async def body() -> None:
        client = await wsctl.connect(server.url, channel_capacity=1, close_timeout="1h")
        assert (await client.recv()) is not None
        # There is no event for "reading paused": poll the transport, within the deadline.
        transport = client._connection.transport
        while transport.is_reading():
            await asyncio.sleep(0.005)
        await client.close()

    run(body)
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_too_many_redirects_names_the_limit_and_the_last_hop() -> None:
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    async def body() -> None:
        hops = 0

        def redirect(connection: ServerConnection, request: Any) -> Response:
            nonlocal hops
            hops += 1
            location = f"/hop{hops}?token=s3cr3t"
            return Response(302, "Found", Headers([("Location", location)]), b"")

        async with serve(lambda ws: None, "127.0.0.1", 0, process_request=redirect) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(wsctl.ConnectionFailed) as caught:
                await wsctl.connect(f"ws://127.0.0.1:{port}/", max_redirects=2)
        message = str(caught.value)
        assert "too many redirects (more than 2;" in message
        assert "/hop3" in message and "s3cr3t" not in message
        assert hops == 3  # the third redirect is not followed
        assert caught.value.retryable is False

    run(body)
