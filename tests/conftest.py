"""Shared fixtures: real WebSocket servers on 127.0.0.1 port 0, run in a background thread.

The CLI under test runs its own event loop (``asyncio.run``) in the test's thread, so servers
live in a thread of their own with their own loop.  Everything they observe (messages, close
codes, accepted connections) is recorded for the test to assert on.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

#: One factor scales every wait in the tests; a slow machine sets WSCTL_TEST_TIMEOUT_SCALE.
SCALE = float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))
TIMEOUT = 10.0 * SCALE

Handler = Callable[[ServerConnection, "Recorder"], Awaitable[None]]


@dataclass
class Recorder:
    """What a test server saw, filled from the server thread."""

    messages: list[str | bytes] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    close_reasons: list[str] = field(default_factory=list)
    connections: int = 0
    closed: threading.Event = field(default_factory=threading.Event)


class LoopThread:
    """An event loop in a daemon thread; ``call(coro)`` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coroutine: Awaitable[Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(TIMEOUT)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)


class LoopbackServer:
    """A websockets server on 127.0.0.1:0 running ``handler`` for each connection."""

    def __init__(self, loop: LoopThread, handler: Handler, **serve_kwargs: Any) -> None:
        self.recorder = Recorder()
        self._loop = loop
        recorder = self.recorder

        async def wrapped(connection: ServerConnection) -> None:
            recorder.connections += 1
            try:
                await handler(connection, recorder)
            finally:
                await connection.wait_closed()
                recorder.close_codes.append(
                    connection.protocol.close_rcvd.code if connection.protocol.close_rcvd else None
                )
                recorder.close_reasons.append(
                    connection.protocol.close_rcvd.reason if connection.protocol.close_rcvd else ""
                )
                recorder.closed.set()

        async def start() -> Any:
            return await serve(wrapped, "127.0.0.1", 0, **serve_kwargs)

        self._server = loop.call(start())
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/"
        self.port = port

    def wait_closed(self) -> None:
        """Block until a connection has ended (the client's Close frame is recorded)."""
        assert self.recorder.closed.wait(TIMEOUT), "the client never closed the connection"

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._loop.call(stop())


async def echo(connection: ServerConnection, recorder: Recorder) -> None:
    """Echo every message with its type (the reply is written from the handler's loop)."""
    async for message in connection:
        recorder.messages.append(message)
        await connection.send(message)


async def record_only(connection: ServerConnection, recorder: Recorder) -> None:
    """Record every message; answer nothing."""
    async for message in connection:
        recorder.messages.append(message)


@pytest.fixture
def server_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture
def make_server(server_loop: LoopThread) -> Iterator[Callable[..., LoopbackServer]]:
    """Start servers with ``make_server(handler, **serve_kwargs)``; all are closed afterwards."""
    servers: list[LoopbackServer] = []

    def factory(handler: Handler = echo, **kwargs: Any) -> LoopbackServer:
        server = LoopbackServer(server_loop, handler, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


@pytest.fixture
def stalled_server(make_server: Callable[..., LoopbackServer]) -> Iterator[LoopbackServer]:
    """A server that stops reading right after the handshake (it never answers a ping and
    its socket buffers fill up) until the test ends, then drops the connection."""
    test_done = threading.Event()

    async def stop_reading(connection: ServerConnection, recorder: Recorder) -> None:
        connection.transport.pause_reading()
        await asyncio.get_running_loop().run_in_executor(None, test_done.wait, TIMEOUT)
        connection.transport.abort()

    yield make_server(stop_reading)
    test_done.set()


@pytest.fixture
def echo_server(make_server: Callable[..., LoopbackServer]) -> LoopbackServer:
    return make_server(echo)


@pytest.fixture(autouse=True)
def isolated_policy(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the machine's and the user's policy files out of every test."""
    empty = tmp_path_factory.mktemp("policy-home")
    monkeypatch.setenv("WSCTL_SYSTEM_POLICY", str(empty / "no-system-policy.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty))
    monkeypatch.delenv("WSCTL_POLICY", raising=False)


def wsctl_command(*args: str) -> list[str]:
    """The argv that runs wsctl in a subprocess with this interpreter."""
    return [sys.executable, "-m", "wsctl", *args]


@dataclass
class Result:
    """What one in-process run of the CLI produced."""

    exit_code: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def invoke(args: list[str], input: bytes | str | None = None) -> Result:
    """Run ``wsctl ARGS`` in-process through its real error boundary (``wsctl.cli.run``).

    click's test runner swaps the standard streams; the CLI still opens real sockets.
    """
    from click.testing import CliRunner

    from wsctl.cli import run

    runner = CliRunner()
    with runner.isolation(input=input) as (stdout, stderr, _output):
        code = run(args)
    return Result(code, stdout.getvalue(), stderr.getvalue().decode("utf-8", "replace"))
