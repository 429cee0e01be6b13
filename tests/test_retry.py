"""Retries and reconnects against real servers that refuse, drop, restart and reject."""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMEOUT, LoopbackServer, LoopThread, Recorder, invoke
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

import wsctl
from wsctl.errors import ConnectionFailed
from wsctl.retry import backoff_delay

FAST = ["--retry-delay", "20ms", "--retry-max-delay", "100ms"]


def refusing(times: int, status: int = 503) -> tuple[Callable[..., Any], list[int]]:
    """A process_request hook that answers ``status`` to the first ``times`` upgrades."""
    seen: list[int] = []

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        seen.append(len(seen) + 1)
        if len(seen) <= times:
            return connection.respond(http.HTTPStatus(status), f"attempt {len(seen)} refused\n")
        return None

    return process_request, seen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- connection retries ----------------------------------------------------------------------


def test_refused_twice_then_accepted_succeeds_on_attempt_3(
    make_server: Callable[..., LoopbackServer],
) -> None:
    hook, attempts = refusing(2)
    server = make_server(process_request=hook)
    result = invoke(["send", server.url, "third time", "--retry", "3", *FAST, "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["third time"]
    assert attempts == [1, 2, 3]
    assert server.recorder.messages == ["third time"]
    retries = [line for line in result.stderr.splitlines() if "; retry " in line]
    assert len(retries) == 2
    assert "rejected the WebSocket upgrade: HTTP 503" in retries[0]
    assert "; retry 1 of 3 in " in retries[0] and "; retry 2 of 3 in " in retries[1]


def test_a_server_that_is_not_up_yet(server_loop: LoopThread) -> None:
    """Connection refused at first; the server starts listening while wsctl backs off."""
    port = free_port()
    started: list[Server] = []

    async def start_later() -> None:
        await asyncio.sleep(0.3)

        async def echo(connection: ServerConnection) -> None:
            async for message in connection:
                await connection.send(message)

        started.append(await serve(echo, "127.0.0.1", port))

    asyncio.run_coroutine_threadsafe(start_later(), server_loop.loop)
    try:
        result = invoke(
            ["send", f"ws://127.0.0.1:{port}/", "finally", "--retry", "20", "--wait", "1", *FAST]
        )
        assert result.exit_code == 0, result.stderr
        assert result.lines == ["finally"]
        assert "connection refused; retry 1 of 20" in result.stderr
    finally:

        async def stop() -> None:
            for server in started:
                server.close()
                await server.wait_closed()

        server_loop.call(stop())


def test_retries_run_out(make_server: Callable[..., LoopbackServer]) -> None:
    hook, attempts = refusing(10, status=502)
    server = make_server(process_request=hook)
    result = invoke(["send", server.url, "hi", "--retry", "2", *FAST])
    assert result.exit_code == 4
    assert attempts == [1, 2, 3]
    assert result.stderr.count("; retry ") == 2
    errors = [line for line in result.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and "HTTP 502" in errors[0]


def test_a_handshake_timeout_is_retried(server_loop: LoopThread) -> None:
    """A server that accepts TCP and never answers the upgrade: each attempt times out."""
    connections: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writers.append(writer)

    async def start() -> asyncio.Server:
        return await asyncio.start_server(silent, "127.0.0.1", 0)

    listener = server_loop.call(start())
    port = listener.sockets[0].getsockname()[1]
    try:
        result = invoke(
            ["send", f"ws://127.0.0.1:{port}/", "hi", "--dial-timeout", "150ms", "--retry=1", *FAST]
        )
        assert result.exit_code == 5
        assert len(connections) == 2
        assert "timed out after 150ms" in result.stderr
        assert "; retry 1 of 1 in " in result.stderr
    finally:

        async def stop() -> None:
            for writer in writers:
                writer.close()
            listener.close()

        server_loop.call(stop())


def test_403_is_not_retried(make_server: Callable[..., LoopbackServer]) -> None:
    hook, attempts = refusing(10, status=403)
    server = make_server(process_request=hook)
    result = invoke(["send", server.url, "hi", "--retry", "5", *FAST])
    assert result.exit_code == 4
    assert attempts == [1]
    assert "HTTP 403" in result.stderr
    assert "; retry " not in result.stderr


def test_429_is_retried(make_server: Callable[..., LoopbackServer]) -> None:
    hook, attempts = refusing(1, status=429)
    server = make_server(process_request=hook)
    result = invoke(["send", server.url, "hi", "--retry", "1", *FAST, "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert attempts == [1, 2]


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def test_policy_denial_is_not_retried(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    hook, attempts = refusing(0)
    server = make_server(process_request=hook)
    policy = write_policy(tmp_path, 'version = 1\ndefault = "deny"\n')
    result = invoke(["send", server.url, "hi", "--retry", "5", "--policy", policy, *FAST])
    assert result.exit_code == 3
    assert attempts == []
    assert "; retry " not in result.stderr


def test_policy_denial_of_a_redirect_is_not_retried(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    target = make_server()

    def redirect(connection: ServerConnection, request: Request) -> Response:
        attempts.append(1)
        response = connection.respond(http.HTTPStatus.FOUND, "")
        response.headers["Location"] = target.url
        return response

    attempts: list[int] = []
    origin = make_server(process_request=redirect)
    policy = write_policy(
        tmp_path,
        'version = 1\ndefault = "deny"\n\n'
        '[[rule]]\nname = "on"\nactions = "websocket.connect"\neffect = "allow"\n\n'
        f'[[rule]]\nname = "origin"\nactions = "websocket.connect.url"\n'
        f'resources = "ws://127.0.0.1:{origin.port}/**"\neffect = "allow"\n',
    )
    result = invoke(["send", origin.url, "hi", "--retry", "5", "--policy", policy, *FAST])
    assert result.exit_code == 3, result.stderr
    assert attempts == [1]
    assert target.recorder.connections == 0
    assert "; retry " not in result.stderr


def test_python_api_retries(make_server: Callable[..., LoopbackServer]) -> None:
    hook, attempts = refusing(2)
    server = make_server(process_request=hook)

    async def body() -> None:
        async with asyncio.timeout(TIMEOUT):
            async with wsctl.connect(server.url, retries=2, retry_delay=10) as client:
                await client.send("api")
                assert await client.recv() == wsctl.Message("text", "api")
            with pytest.raises(ConnectionFailed, match="HTTP 503"):
                await wsctl.connect(busy.url, retries=1, retry_delay="10ms")

    busy_hook, busy_attempts = refusing(100)
    busy = make_server(process_request=busy_hook)
    asyncio.run(body())
    assert attempts == [1, 2, 3]
    assert busy_attempts == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retry", "-1"], "--retry"),
        (["--retry", "many"], "--retry"),
        (["--retry-delay", "-5s"], "--retry-delay"),
        (["--retry-delay", "2s", "--retry-max-delay", "1s"], "shorter than --retry-delay"),
    ],
)
def test_bad_retry_options_exit_2(
    echo_server: LoopbackServer, args: list[str], message: str
) -> None:
    result = invoke(["send", echo_server.url, "hi", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert echo_server.recorder.connections == 0


@pytest.mark.parametrize(
    ("retry", "rand", "expected"),
    [
        (1, 0.0, 0.5),
        (1, 1.0, 1.0),
        (2, 0.0, 1.0),
        (3, 0.5, 3.0),
        (6, 0.0, 10.0),  # capped at the maximum: 1 * 2**5 = 32 > 20
        (6, 1.0, 20.0),
        (10_000, 1.0, 20.0),  # no overflow for absurd counts
    ],
)
def test_backoff_grows_exponentially_with_bounded_jitter(
    retry: int, rand: float, expected: float
) -> None:
    assert backoff_delay(retry, 1.0, 20.0, lambda: rand) == pytest.approx(expected)


def test_backoff_jitter_spreads_clients() -> None:
    delays = {round(backoff_delay(3, 1.0, 30.0), 6) for _ in range(50)}
    assert len(delays) > 10
    assert all(2.0 <= delay <= 4.0 for delay in delays)


# -- listen --reconnect ----------------------------------------------------------------------


class RestartableServer:
    """A websockets server on a fixed port, which its handler may stop and start again."""

    def __init__(
        self,
        loop: LoopThread,
        handler: Callable[[ServerConnection, RestartableServer], Awaitable[None]],
    ) -> None:
        self.loop = loop
        self.handler = handler
        self.recorder = Recorder()
        self.port = 0
        self.server: Server | None = None
        self.connection_number = 0
        #: Set by a handler: from then on every upgrade is answered 403.
        self.forbidden = False
        #: Restarts in progress: stop() ends them, or they outlive the test ("Task was
        #: destroyed but it is pending!" when the loop goes away under them).
        self.restarts: set[asyncio.Task[None]] = set()
        loop.call(self.start())

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def _handle(self, connection: ServerConnection) -> None:
        self.connection_number += 1
        await self.handler(connection, self)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.forbidden:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "no more\n")
        return None

    async def start(self) -> None:
        self.server = await serve(
            self._handle, "127.0.0.1", self.port, process_request=self._process_request
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def restart(self, down_for: float) -> None:
        """Close every connection with 1001 (going away), stay down, listen again."""
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(down_for)
        await self.start()

    def restart_soon(self, down_for: float) -> None:
        """Restart in the background (a handler cannot wait for its own server to close)."""
        task = asyncio.get_running_loop().create_task(self.restart(down_for))
        self.restarts.add(task)
        task.add_done_callback(self.restarts.discard)

    def stop(self) -> None:
        async def stop() -> None:
            for task in list(self.restarts):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()

        self.loop.call(stop())


@pytest.fixture
def make_restartable(
    server_loop: LoopThread,
) -> Iterator[Callable[..., RestartableServer]]:
    servers: list[RestartableServer] = []

    def factory(handler: Any) -> RestartableServer:
        server = RestartableServer(server_loop, handler)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()

    async def pending() -> list[str]:
        current = asyncio.current_task()
        return [repr(t) for t in asyncio.all_tasks() if t is not current and not t.done()]

    assert server_loop.call(pending()) == []  # nothing left to be destroyed with the loop


async def subscribed_ticks(
    connection: ServerConnection, server: RestartableServer, *, end: str
) -> None:
    """Wait for the subscription, send two numbered ticks, then end the connection."""
    number = server.connection_number
    subscription = await connection.recv()
    server.recorder.messages.append(subscription)
    await connection.send(f"tick {2 * number - 1}")
    await connection.send(f"tick {2 * number}")
    if number >= 3:
        await connection.wait_closed()
    elif end == "restart":
        server.restart_soon(down_for=0.3)
        await connection.wait_closed()
    elif end == "drop":
        await asyncio.sleep(0.05)
        connection.transport.abort()  # 1006: no close frame
    else:
        await connection.close(int(end), "come back later")


def test_listen_reconnect_survives_a_server_restart_and_resends_its_subscription(
    make_restartable: Callable[..., RestartableServer],
) -> None:
    server = make_restartable(lambda c, s: subscribed_ticks(c, s, end="restart"))
    result = invoke(
        ["listen", server.url, "--send", '{"subscribe":"ticks"}', "--reconnect", "-n4", *FAST]
    )
    assert result.exit_code == 0, result.stderr
    # Every message once, in order, across the two connections.
    assert result.lines == ["tick 1", "tick 2", "tick 3", "tick 4"]
    # The subscription went out again on the new connection.
    assert server.recorder.messages == ['{"subscribe":"ticks"}', '{"subscribe":"ticks"}']
    assert "connection lost (1001 going away" in result.stderr
    assert "connection refused; retry 1 in " in result.stderr  # the server was still down
    assert f"reconnected to {server.url}" in result.stderr


@pytest.mark.parametrize(("end", "code"), [("drop", 1006), ("1012", 1012), ("1013", 1013)])
def test_listen_reconnect_events_after_abnormal_closures(
    make_restartable: Callable[..., RestartableServer], end: str, code: int
) -> None:
    server = make_restartable(lambda c, s: subscribed_ticks(c, s, end=end))
    result = invoke(
        ["listen", server.url, "--send=sub", "--reconnect", "-n6", "--json", "--events", *FAST]
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.lines]
    assert [record["type"] for record in records] == [
        "open",
        "text",
        "text",
        "reconnected",
        "text",
        "text",
        "reconnected",
        "text",
        "text",
        "close",  # wsctl closed after -n6: every --events stream ends with how it ended
    ]
    assert records[-1] == {"type": "close", "by": "client", "code": 1000, "reason": ""}
    texts = [record["data"] for record in records if record["type"] == "text"]
    assert texts == [f"tick {n}" for n in range(1, 7)]  # nothing printed twice
    reconnected = [record for record in records if record["type"] == "reconnected"]
    assert [record["code"] for record in reconnected] == [code, code]
    assert [record["reconnects"] for record in reconnected] == [1, 2]
    assert reconnected[0]["url"] == server.url
    assert server.recorder.messages == ["sub", "sub", "sub"]


def test_listen_without_reconnect_stops_at_the_first_drop(
    make_restartable: Callable[..., RestartableServer],
) -> None:
    server = make_restartable(lambda c, s: subscribed_ticks(c, s, end="drop"))
    result = invoke(["listen", server.url, "--send", "sub", "-n", "4"])
    assert result.exit_code == 6
    assert result.lines == ["tick 1", "tick 2"]
    assert server.recorder.messages == ["sub"]


def test_listen_reconnect_ends_on_a_normal_close(
    make_restartable: Callable[..., RestartableServer],
) -> None:
    server = make_restartable(lambda c, s: subscribed_ticks(c, s, end="1000"))
    result = invoke(["listen", server.url, "--send", "sub", "--reconnect", *FAST])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["tick 1", "tick 2"]
    assert server.recorder.messages == ["sub"]
    assert "reconnecting" not in result.stderr


def test_listen_reconnect_gives_up_after_retry_attempts(
    make_restartable: Callable[..., RestartableServer],
) -> None:
    async def once_then_gone(connection: ServerConnection, server: RestartableServer) -> None:
        await connection.send("only")
        assert server.server is not None
        server.server.close()  # 1001, and never listening again
        await connection.wait_closed()

    server = make_restartable(once_then_gone)
    result = invoke(["listen", server.url, "--reconnect", "--retry", "2", *FAST])
    assert result.exit_code == 4
    assert result.lines == ["only"]
    assert result.stderr.count("reconnecting failed: ") == 2
    assert "retry 2 of 2" in result.stderr
    assert "connection refused" in result.stderr.splitlines()[-1]


def test_listen_reconnect_stops_on_a_non_retryable_rejection(
    make_restartable: Callable[..., RestartableServer],
) -> None:
    async def then_forbidden(connection: ServerConnection, server: RestartableServer) -> None:
        await connection.send("only")
        server.forbidden = True  # from now on every upgrade is refused: retrying cannot help
        await connection.close(1012, "restarting")

    server = make_restartable(then_forbidden)
    result = invoke(["listen", server.url, "--reconnect", *FAST])
    assert result.exit_code == 4
    assert result.lines == ["only"]
    assert "HTTP 403" in result.stderr
    assert "reconnecting failed" not in result.stderr


def test_reconnect_rejects_expectations(echo_server: LoopbackServer) -> None:
    result = invoke(["listen", echo_server.url, "--reconnect", "--expect", "x"])
    assert result.exit_code == 2
    assert "--reconnect cannot be combined" in result.stderr
    assert echo_server.recorder.connections == 0
