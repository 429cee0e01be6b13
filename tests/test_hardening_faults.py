"""Faults a hostile or misconfigured server can cause, each answered with one line.

Hostile servers here speak raw TCP (asyncio streams) in the servers' thread; TLS servers use
certificates made by trustme at test time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trustme
from conftest import (
    TIMEOUT,
    LoopbackServer,
    LoopThread,
    Recorder,
    invoke,
    wsctl_command,
)
from websockets.asyncio.server import ServerConnection, serve

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
def raw_server(server_loop: LoopThread) -> Iterator[Callable[[RawHandler], int]]:
    """Start raw TCP servers with ``raw_server(handler)`` → port; all stop with the test, and
    ``handler``s still running are cancelled then (so endless streams end too)."""
    servers: list[asyncio.Server] = []

    def start(handler: RawHandler) -> int:
        async def quietly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await handler(reader, writer)

        async def open_server() -> asyncio.Server:
            return await asyncio.start_server(quietly, "127.0.0.1", 0)

        server: asyncio.Server = server_loop.call(open_server())
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    server_loop.call(_cancel_handlers(servers))


async def _cancel_handlers(servers: list[asyncio.Server]) -> None:
    for server in servers:
        server.close()
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is not current:
            task.cancel()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


# -- 8: no traceback on any path ------------------------------------------------------------


def test_proxy_that_closes_without_answering_prints_one_line(
    raw_server: Callable[[RawHandler], int],
) -> None:
    """Both ends of the proxy's stream see its EOF: the second used to print a traceback
    ('Exception in callback ... EOFError: stream ended') from a loop callback."""
    accepted = threading.Event()

    async def accept_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    port = raw_server(accept_and_close)
    result = subprocess.run(
        wsctl_command("send", "ws://127.0.0.2:9/", "X", "--proxy", f"http://127.0.0.1:{port}"),
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert accepted.is_set()
    assert result.returncode == 4
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wsctl: error: cannot connect to ws://127.0.0.2:9/ through proxy")


# -- 9: the response head is capped, whatever the timeouts ----------------------------------


async def header_lines_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    number = 0
    while True:  # until the client hangs up (or the test stops the server)
        writer.write(b"X-Flood-%d: yes\r\n" % number)
        number += 1
        await writer.drain()


async def one_endless_header_line(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nX-Big: ")
    chunk = b"a" * 65536
    for _ in range(800):  # 50 MiB, if the client read it all
        writer.write(chunk)
        await writer.drain()


@pytest.mark.parametrize("handler", [header_lines_forever, one_endless_header_line])
def test_response_head_is_capped_without_a_dial_timeout(
    raw_server: Callable[[RawHandler], int], handler: RawHandler
) -> None:
    port = raw_server(handler)
    result = invoke(["send", f"ws://127.0.0.1:{port}/", "x", "--dial-timeout", "0"])
    assert result.exit_code == 4
    assert result.stderr == (
        f"wsctl: error: cannot connect to ws://127.0.0.1:{port}/: response headers too large "
        "(over 128 lines, or a line over 8 KiB)\n"
    )


# -- 10: TLS and plain text mixed up --------------------------------------------------------


@pytest.fixture
def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    return context


async def _wait_closed(connection: ServerConnection) -> None:
    await connection.wait_closed()


def test_wss_to_a_plain_server_says_it_does_not_speak_tls(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server()
    url = f"wss://127.0.0.1:{server.port}/"
    result = invoke(["send", url, "x"])
    assert result.exit_code == 4
    assert result.stderr == (
        f"wsctl: error: cannot connect to {url}: TLS handshake failed: the server at "
        f"127.0.0.1:{server.port} does not speak TLS — did you mean ws://?\n"
    )


def test_ws_to_a_tls_server_suggests_wss(
    server_loop: LoopThread, tls_context: ssl.SSLContext
) -> None:
    async def start() -> tuple[object, int]:
        server = await serve(_wait_closed, "127.0.0.1", 0, ssl=tls_context)
        return server, server.sockets[0].getsockname()[1]

    server, port = server_loop.call(start())
    try:
        result = invoke(["send", f"ws://127.0.0.1:{port}/", "x"])
    finally:
        server.close()  # type: ignore[attr-defined]
    assert result.exit_code == 4
    assert result.stderr.endswith("— if it speaks TLS, did you mean wss://?\n")
    assert result.stderr.count("\n") == 1


def test_ws_to_a_server_answering_tls_bytes_suggests_wss(
    raw_server: Callable[[RawHandler], int],
) -> None:
    async def tls_alert(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"\x15\x03\x01\x00\x02\x02\x46")  # a TLS alert record: protocol_version
        await writer.drain()
        writer.close()

    port = raw_server(tls_alert)
    result = invoke(["send", f"ws://127.0.0.1:{port}/", "x"])
    assert result.exit_code == 4
    assert result.stderr == (
        f"wsctl: error: cannot connect to ws://127.0.0.1:{port}/: got TLS bytes from "
        f"127.0.0.1:{port} instead of an HTTP response — did you mean wss://?\n"
    )


# -- 14: an HTTP/1.0 server ---------------------------------------------------------------


def test_http_1_0_answer_is_named(raw_server: Callable[[RawHandler], int]) -> None:
    async def http_1_0(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html></html>")
        await writer.drain()
        writer.close()

    port = raw_server(http_1_0)
    result = invoke(["send", f"ws://127.0.0.1:{port}/", "x"])
    assert result.exit_code == 4
    assert result.stderr == (
        f"wsctl: error: cannot connect to ws://127.0.0.1:{port}/: the server answered "
        "HTTP/1.0 200 (not a WebSocket endpoint)\n"
    )


# -- 12: listen --events always ends with one close record ---------------------------------


async def _chatter(connection: ServerConnection, recorder: Recorder) -> None:
    for number in range(5):
        await connection.send(f"m{number}")
    await connection.wait_closed()


def test_listen_count_ends_with_a_client_close_record(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(_chatter)
    result = invoke(["listen", server.url, "-n", "2", "--json", "--events"])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.lines]
    assert [record["type"] for record in records] == ["open", "text", "text", "close"]
    assert records[-1] == {"type": "close", "by": "client", "code": 1000, "reason": ""}


def test_listen_read_timeout_ends_with_a_close_record(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def silent(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.wait_closed()

    server = make_server(silent)
    result = invoke(["listen", server.url, "--json", "--events", "--read-timeout", "50ms"])
    assert result.exit_code == 5
    records = [json.loads(line) for line in result.lines]
    assert [record["type"] for record in records] == ["open", "close"]
    assert records[-1]["by"] == "client" and records[-1]["code"] == 1000


def test_listen_server_close_record(make_server: Callable[..., LoopbackServer]) -> None:
    async def bye(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.close(1000, "bye")

    server = make_server(bye)
    result = invoke(["listen", server.url, "--json", "--events"])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.lines]
    assert records == [
        records[0],
        {"type": "close", "by": "server", "code": 1000, "reason": "bye"},
    ]


# -- 13: reports ----------------------------------------------------------------------------


def test_reports_peer_booleans_and_check_failed_kind(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    server = make_server()
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = invoke(
        [
            "send", server.url, "hello", "--expect", "never", "--timeout", "100ms",
            "--report", str(report), "--report", f"junit:{junit}",
        ]
    )  # fmt: skip
    assert result.exit_code == 7
    data = json.loads(report.read_text())
    assert data["connection"]["peer"] == f"127.0.0.1:{server.port}"
    assert data["error"]["kind"] == "CHECK_FAILED"
    xml = junit.read_text()
    assert '<property name="ok" value="false" />' in xml
    assert 'value="False"' not in xml


def test_junit_ok_is_true_after_success(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    server = make_server()
    junit = tmp_path / "ok.xml"
    result = invoke(["send", server.url, "hi", "--report", f"junit:{junit}"])
    assert result.exit_code == 0
    assert '<property name="ok" value="true" />' in junit.read_text()


# -- 15: send on a terminal says it is reading it --------------------------------------------


def test_send_on_a_terminal_prints_one_hint(make_server: Callable[..., LoopbackServer]) -> None:
    import pexpect

    server = make_server()
    child = pexpect.spawn(
        wsctl_command()[0], [*wsctl_command()[1:], "send", server.url], timeout=TIMEOUT
    )
    try:
        child.expect_exact(
            "wsctl: reading messages from the terminal, one per line; Ctrl-D to send and finish"
        )
        child.sendline("hello")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert server.recorder.messages == ["hello"]
    transcript = (child.before or b"").decode()
    assert "reading messages" not in transcript  # said once


# -- 14: one style for errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["send", "ws://127.0.0.1:9/", "x", "--read-limit", "999GiB"],
            "wsctl: error: invalid --read-limit '999GiB': must be at most 128 MiB "
            "(see 'wsctl send --help')",
        ),
        (
            ["listen", "ws://127.0.0.1:9/", "--read-timeout", "soon"],
            "wsctl: error: invalid --read-timeout 'soon': expected milliseconds, or a Go "
            'duration such as "250ms", "5s", "1m30s" (see \'wsctl listen --help\')',
        ),
        (
            ["send", "ws://127.0.0.1:9/", "x", "--close-code", "1006"],
            "wsctl: error: invalid --close-code '1006' (abnormal closure): it may not be sent "
            "in a Close frame (see 'wsctl send --help')",
        ),
        (
            ["send", "ws://127.0.0.1:9/", "x", "-H", "NoColon"],
            "wsctl: error: invalid --header 'NoColon': expected 'Name: value' "
            "(see 'wsctl send --help')",
        ),
        (
            ["sned", "ws://127.0.0.1:9/", "x"],
            "wsctl: error: no such command 'sned'; did you mean 'send'? (see 'wsctl --help')",
        ),
    ],
)
def test_errors_name_the_option_and_echo_the_input(args: list[str], line: str) -> None:
    result = invoke(args)
    assert result.exit_code == 2
    assert result.stderr == line + "\n"


def test_api_size_limits_are_in_human_units() -> None:
    import wsctl
    from wsctl.errors import InvalidInput

    with pytest.raises(
        InvalidInput, match=r"^invalid read limit 999 GiB: must be at most 128 MiB$"
    ):
        wsctl.ConnectOptions.create(read_limit="999GiB")


def test_listen_reconnect_count_ends_with_a_close_record(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(_chatter)
    result = invoke(["listen", server.url, "--reconnect", "-n", "3", "--json", "--events"])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.lines]
    assert [record["type"] for record in records] == ["open", "text", "text", "text", "close"]
    assert records[-1] == {"type": "close", "by": "client", "code": 1000, "reason": ""}
