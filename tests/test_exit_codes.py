"""Every row of the exit code table, produced by a real failing server or a bad input.

Bad input is rejected before any network I/O: the server counts no connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest
from conftest import LoopbackServer, LoopThread, Recorder, invoke
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "http://127.0.0.1:1/", "x"], "the scheme must be ws:// or wss://"),
        (["send", "ws://", "x"], "no host"),
        (["send", "URL", "x", "--dial-timeout", "5 parsecs"], "invalid --dial-timeout '5 parsecs'"),
        (["send", "URL", "x", "--read-timeout", "-1s"], "must not be negative"),
        (
            ["send", "URL", "x", "--read-limit", "200MiB"],
            "invalid --read-limit '200MiB': must be at most 128 MiB",
        ),
        (["send", "URL", "x", "--read-limit", "12 bananas"], "invalid --read-limit '12 bananas'"),
        (
            ["send", "URL", "x", "--channel-capacity", "0"],
            "invalid --channel-capacity '0': must be from 1 to",
        ),
        (["send", "URL", "x", "--compression", "zip"], "compression"),
        (
            ["send", "URL", "x", "--compression-threshold", "101MiB"],
            "invalid --compression-threshold '101MiB': must be at most 100 MiB",
        ),
        (["send", "URL", "x", "-H", "NoColon"], "expected 'Name: value'"),
        (["send", "URL", "x", "-H", "Bad Name: v"], "token characters"),
        (["send", "URL", "x", "-H", "Host: evil"], "taken from the URL"),
        (["send", "URL", "x", "--close-code", "999"], "from 1000 to 4999"),
        (["send", "URL", "x", "--close-code", "1006"], "may not be sent"),
        (["send", "URL", "x", "--close-reason", "r" * 124], "at most 123"),
        (["send", "URL", "--file", "/nonexistent/file"], "cannot read /nonexistent/file"),
        (["send", "URL", "x", "--wait", "-1"], "--wait"),
        (["listen", "URL", "--count", "0"], "--count"),
        (["send", "URL", "x", "--no-such-option"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    echo_server: LoopbackServer, args: list[str], message: str
) -> None:
    args = [echo_server.url if arg == "URL" else arg for arg in args]
    result = invoke(args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert echo_server.recorder.connections == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_connection_refused_exits_4() -> None:
    port = _free_port()
    result = invoke(["send", f"ws://127.0.0.1:{port}/", "x"])
    assert result.exit_code == 4
    assert (
        result.stderr
        == f"wsctl: error: cannot connect to ws://127.0.0.1:{port}/: connection refused\n"
    )


def test_handshake_rejected_exits_4_with_the_http_status(
    make_server: Callable[..., LoopbackServer],
) -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(403, "members only\n")

    server = make_server(process_request=forbid)
    result = invoke(["send", server.url, "x"])
    assert result.exit_code == 4
    assert "rejected the WebSocket upgrade: HTTP 403 Forbidden" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def silent_listener() -> Iterator[tuple[str, list[int]]]:
    """A TCP server that accepts and never says a word (no handshake answer)."""
    accepted: list[int] = []
    loop = LoopThread()
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writers.append(writer)

    async def start() -> asyncio.Server:
        return await asyncio.start_server(on_connect, "127.0.0.1", 0)

    server: asyncio.Server = loop.call(start())
    port = server.sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/", accepted

    async def stop() -> None:
        for writer in writers:
            writer.close()
        server.close()

    loop.call(stop())
    loop.stop()


def test_server_that_never_answers_the_handshake_times_out_with_exit_5(
    silent_listener: tuple[str, list[int]],
) -> None:
    url, accepted = silent_listener
    result = invoke(["send", url, "x", "--dial-timeout", "200ms"])
    assert result.exit_code == 5
    assert (
        result.stderr
        == f"wsctl: error: timed out after 200ms connecting to {url} (--dial-timeout)\n"
    )
    assert accepted == [1]


@pytest.mark.parametrize(
    ("code", "reason"), [(1011, "server bug"), (4000, "custom"), (1008, ""), (1013, "busy")]
)
def test_server_close_code_other_than_1000_exits_6(
    make_server: Callable[..., LoopbackServer], code: int, reason: str
) -> None:
    async def close_with(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.close(code, reason)

    server = make_server(close_with)
    result = invoke(["listen", server.url])
    assert result.exit_code == 6
    assert f"server closed the connection with {code}" in result.stderr
    assert reason in result.stderr


def test_going_away_is_a_normal_close(make_server: Callable[..., LoopbackServer]) -> None:
    async def going_away(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.close(1001, "restart")

    server = make_server(going_away)
    assert invoke(["listen", server.url]).exit_code == 0


def test_dropped_tcp_connection_is_1006_and_exits_6(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def drop(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("last words")
        connection.transport.abort()

    server = make_server(drop)
    result = invoke(["listen", server.url])
    assert result.exit_code == 6
    assert result.lines == ["last words"]
    assert "without a Close frame (1006)" in result.stderr


def test_message_over_the_read_limit_closes_1009_and_exits_6(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def send_two_mib(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("small")
        await connection.send(b"\x00" * (2 * 1024 * 1024))
        await connection.wait_closed()

    server = make_server(send_two_mib)
    result = invoke(["listen", server.url, "--read-limit", "1MiB"])
    assert result.exit_code == 6
    assert result.lines == ["small"]
    assert result.stderr == (
        "wsctl: error: a message exceeded the read limit of 1 MiB; closed with 1009 "
        "(message too big) — raise it with --read-limit\n"
    )
    server.wait_closed()
    assert server.recorder.close_codes == [1009]


def test_default_read_limit_accepts_two_mib(make_server: Callable[..., LoopbackServer]) -> None:
    async def send_two_mib(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("x" * (2 * 1024 * 1024))
        await connection.close()

    server = make_server(send_two_mib)
    result = invoke(["listen", server.url, "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["x" * (2 * 1024 * 1024)]


def test_server_that_stops_reading_trips_the_write_timeout(
    stalled_server: LoopbackServer,
) -> None:
    big = ("y" * 1_000_000 + "\n") * 64  # far more than the socket buffers hold
    result = invoke(["send", stalled_server.url, "--write-timeout", "200ms"], input=big)
    assert result.exit_code == 5
    assert "could not send within 200ms (--write-timeout)" in result.stderr
