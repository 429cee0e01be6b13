"""``wsctl serve`` as a real process: the URL on stdout, --print, signals and exit codes."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import connect

from wsctl.cli import run as run_cli
from wsctl.server import ENDPOINTS

#: One factor scales every wait in this file; a slow machine sets WSCTL_TEST_TIMEOUT_SCALE.
TIMEOUT = 10.0 * float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))
URL = re.compile(r"ws://127\.0\.0\.1:(\d+)/")


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body with a deadline, so that a bug fails instead of hanging."""

    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await test()

    asyncio.run(bounded())


class Serve:
    """A running ``python -m wsctl serve`` and the URL it printed."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    async def stdout_line(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.readline()).decode()

    async def finish(self, signum: int) -> tuple[int, str, str]:
        """Send ``signum``, wait for the exit: (exit code, rest of stdout, stderr)."""
        self.process.send_signal(signum)
        stdout, stderr = await self.process.communicate()
        assert self.process.returncode is not None
        return self.process.returncode, stdout.decode(), stderr.decode()


@asynccontextmanager
async def serve(*args: str) -> AsyncIterator[Serve]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsctl",
        "serve",
        "--port",
        "0",
        *args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = (await process.stdout.readline()).decode()
        assert URL.fullmatch(first.rstrip("\n")), f"first stdout line: {first!r}"
        yield Serve(process, first.rstrip("\n"))
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


def test_port_zero_prints_a_working_url_and_sigterm_exits_0() -> None:
    async def body() -> None:
        async with serve() as server:
            async with connect(server.url + "echo") as ws:
                await ws.send("ping?")
                assert await ws.recv() == "ping?"
            code, stdout, stderr = await server.finish(signal.SIGTERM)
        assert code == 0
        assert stdout == ""  # nothing but the URL without --print
        assert f"listening on {server.url}" in stderr
        for path in ENDPOINTS:
            assert server.url + path.lstrip("/") in stderr

    run(body)


def test_sigint_closes_every_client_with_1001_and_exits_130() -> None:
    async def body() -> None:
        async with serve("--tick", "10ms") as server:
            echo = await connect(server.url + "echo")
            prices = await connect(server.url + "prices")
            await prices.recv()  # streaming
            server.process.send_signal(signal.SIGINT)
            for ws in (echo, prices):
                await ws.wait_closed()
                assert ws.close_code == 1001
            code, _stdout, stderr = await server.finish(signal.SIGINT)
        assert code == 130
        assert "closing every client with 1001" in stderr

    run(body)


def test_a_second_sigint_drops_a_client_that_never_answers_the_close() -> None:
    async def body() -> None:
        async with serve() as server:
            # A raw client: completes the upgrade, then never answers the Close frame.
            host_port = server.url.removeprefix("ws://").rstrip("/")
            host, port = host_port.split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                f"GET /echo HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert await reader.readline() == b"HTTP/1.1 101 Switching Protocols\r\n"
            stderr = server.process.stderr
            assert stderr is not None

            async def stderr_line_with(text: str) -> None:
                while text.encode() not in (line := await stderr.readline()):
                    assert line, f"stderr ended before {text!r}"

            server.process.send_signal(signal.SIGINT)
            await stderr_line_with("shutting down")
            server.process.send_signal(signal.SIGINT)
            await stderr_line_with("dropping 1 connection")
            assert await server.process.wait() == 130
            await reader.read()  # the TCP connection ends
            writer.close()

    run(body)


def test_print_writes_each_received_message_to_stdout() -> None:
    async def body() -> None:
        async with serve("--print", "-v") as server:
            async with connect(server.url + "echo") as ws:
                await ws.send("first line")
                await ws.recv()
                assert await server.stdout_line() == "first line\n"
                await ws.send(b"\x00\x01binary")
                await ws.recv()
                # stdout is a pipe: binary is base64, one line, like `wsctl listen`.
                line = await server.stdout_line()
                assert base64.b64decode(line) == b"\x00\x01binary"
                await ws.send("\x1b[2Jesc")
                await ws.recv()
                assert await server.stdout_line() == "\x1b[2Jesc\n"  # a pipe gets it verbatim
            code, _stdout, stderr = await server.finish(signal.SIGTERM)
        assert code == 0
        assert re.search(r"127\.0\.0\.1:\d+ connected to /echo", stderr)
        assert re.search(r"127\.0\.0\.1:\d+ left /echo \(1000\)", stderr)

    run(body)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tick", "0"], "invalid tick"),
        (["--tick", "soon"], "invalid --tick 'soon'"),
        (["--port", "70000"], "70000"),
        (["--compression", "gzip"], "gzip"),
        (["--tls-key", __file__], "needs a TLS certificate"),
        (["--subprotocol", "a b"], "invalid subprotocol"),
    ],
)
def test_bad_options_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["serve", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # rejected before anything was bound or announced


def test_a_busy_port_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run_cli(["serve", "--port", str(port)]) == 4
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_importing_serve_loads_neither_rich_nor_prompt_toolkit() -> None:
    code = (
        "import sys, wsctl.commands.serve\n"
        "loaded = sorted(m for m in ('rich', 'prompt_toolkit') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert result.stdout == "\n"
