"""``--expect``, ``--expect-json``, ``--expect-close`` and ``--timeout`` on ``send`` and ``listen``,
through the real error boundary, against real loopback servers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator

import pytest
from conftest import LoopbackServer, Recorder, echo, invoke
from websockets.asyncio.server import ServerConnection

from wsctl.checks import CheckedWriter, make_writer
from wsctl.environment import Environment
from wsctl.output import MessageWriter

MakeServer = Callable[..., LoopbackServer]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def pushing(*messages: str, close: int | None = None, hold: bool = True) -> Callable[..., object]:
    """A handler that sends ``messages``, then closes with ``close`` or keeps the connection."""

    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        for message in messages:
            await connection.send(message)
        if close is not None:
            await connection.close(close, "bye")
        elif hold:
            async for message in connection:
                recorder.messages.append(message)

    return handler


async def ack_then_tick(connection: ServerConnection, recorder: Recorder) -> None:
    """Acknowledge each message, and push a tick every 10 ms forever: the idle rule never ends
    a run against this server, only the expectations (or the deadline) do."""

    async def tick() -> None:
        while True:
            await connection.send("tick")
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        async for message in connection:
            recorder.messages.append(message)
            await connection.send(f"ack {message}")
    finally:
        ticker.cancel()


# -- send ------------------------------------------------------------------------------------


def test_send_ends_as_soon_as_the_expectation_is_met(make_server: MakeServer) -> None:
    server = make_server(ack_then_tick)
    result = invoke(["send", server.url, "hello", "--expect", "^ack hello$", "--timeout", "5s"])
    assert result.exit_code == 0, result.stderr
    assert "ack hello" in result.lines
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_send_expectations_met_in_order(echo_server: LoopbackServer) -> None:
    result = invoke(["send", echo_server.url, "a", "b", "c", "--expect", "^a$", "--expect", "^c$"])
    assert result.exit_code == 0, result.stderr
    assert result.lines[:1] == ["a"] and "c" in result.lines


def test_send_unmet_expectation_is_exit_7_naming_it_with_the_last_messages(
    echo_server: LoopbackServer,
) -> None:
    result = invoke(
        ["send", echo_server.url, "one", "two", "--expect", "^one$", "--expect", "three",
         "--timeout", "200ms"]
    )  # fmt: skip
    assert result.exit_code == 7
    assert result.lines == ["one", "two"]
    err = result.stderr.splitlines()
    assert err[-1] == (
        "wsctl: error: not met within 200ms (--timeout): --expect 'three' (1 of 2 met)"
    )
    assert err[-4:-1] == ["wsctl: the last messages (2 of 2):", "wsctl:   one", "wsctl:   two"]
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1000]  # even a failed check closes properly


def test_send_expectations_met_out_of_order_fail(echo_server: LoopbackServer) -> None:
    result = invoke(
        ["send", echo_server.url, "b", "a", "--expect", "^a$", "--expect", "^b$",
         "--timeout", "200ms"]
    )  # fmt: skip
    assert result.exit_code == 7
    assert "--expect '^b$' (a message matched it earlier, out of order) (1 of 2 met)" in (
        result.stderr
    )


def test_send_expect_json_with_nested_paths(make_server: MakeServer) -> None:
    reply = {"type": "result", "data": {"items": [{"id": 3, "name": "a"}, {"id": 7, "name": "b"}]}}

    async def api(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            assert json.loads(message) == {"op": "list"}
            await connection.send("not json at all")
            await connection.send(json.dumps(reply))

    server = make_server(api)
    request = '{"op": "list"}'
    result = invoke(
        ["send", server.url, request, "--expect-json", "data.items[1].id=7",
         "--expect-json", 'data.items[*].name="a"']
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # Values compare as JSON: the string "7" is not the number 7.
    result = invoke(
        ["send", server.url, request, "--expect-json", 'data.items[1].id="7"', "--timeout", "200ms"]
    )
    assert result.exit_code == 7
    assert "--expect-json 'data.items[1].id=\"7\"'" in result.stderr


def test_send_server_closing_before_the_expectation_is_exit_7(make_server: MakeServer) -> None:
    server = make_server(pushing("welcome", close=1000))
    result = invoke(["send", server.url, "hi", "--expect", "ready"])
    assert result.exit_code == 7
    assert (
        "error: the server closed the connection (1000 (normal): bye) before: --expect 'ready'"
    ) in result.stderr
    assert "wsctl:   welcome" in result.stderr


def test_send_explicit_wait_time_still_ends_the_wait(echo_server: LoopbackServer) -> None:
    result = invoke(
        ["send", echo_server.url, "x", "--expect", "never", "--wait-time", "100ms",
         "--timeout", "5s"]
    )  # fmt: skip
    assert result.exit_code == 7
    assert "no message for 100ms (--wait-time), before: --expect 'never'" in result.stderr


def test_send_without_checks_is_unchanged(echo_server: LoopbackServer) -> None:
    result = invoke(["send", echo_server.url, "plain"])
    assert result.exit_code == 0 and result.lines == ["plain"]


# -- listen ----------------------------------------------------------------------------------


def test_listen_expect_json_met_closes_with_1000(make_server: MakeServer) -> None:
    server = make_server(
        pushing(
            '{"type": "hello"}',
            '{"type": "update", "data": {"items": [{"id": 7, "ok": true}]}}',
            '{"type": "never printed"}',
        )
    )
    result = invoke(
        ["listen", server.url, "--expect-json", "type=hello",
         "--expect-json", "$.data.items[0].ok=true"]
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == 2  # stopped at the message that met the last expectation
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_listen_expect_close_turns_an_application_close_into_success(
    make_server: MakeServer,
) -> None:
    server = make_server(pushing("done", close=4000))
    assert invoke(["listen", server.url]).exit_code == 6
    result = invoke(["listen", server.url, "--expect", "done", "--expect-close", "4000"])
    assert result.exit_code == 0, result.stderr


def test_listen_expect_close_with_another_code_is_exit_7(make_server: MakeServer) -> None:
    server = make_server(pushing("done", close=4000))
    result = invoke(["listen", server.url, "--expect-close", "normal"])
    assert result.exit_code == 7
    assert "--expect-close 1000 (closed with 4000 application)" in result.stderr


def test_listen_abnormal_close_stays_exit_6_and_names_the_unmet(make_server: MakeServer) -> None:
    server = make_server(pushing("oops", close=1011))
    result = invoke(["listen", server.url, "--expect", "ready"])
    assert result.exit_code == 6
    assert "1011" in result.stderr and "not met: --expect 'ready'" in result.stderr


def test_listen_count_reached_before_the_expectation(make_server: MakeServer) -> None:
    server = make_server(pushing("a", "b", "c"))
    result = invoke(["listen", server.url, "-n", "2", "--expect", "c"])
    assert result.exit_code == 7
    assert result.lines == ["a", "b"]
    assert "stopped after 2 messages (--count), before: --expect 'c'" in result.stderr


def test_listen_silent_server_times_out_with_exit_7(make_server: MakeServer) -> None:
    server = make_server(pushing())
    result = invoke(["listen", server.url, "--expect", "x", "--timeout", "150ms"])
    assert result.exit_code == 7
    assert "wsctl: no message was received" in result.stderr
    assert "not met within 150ms (--timeout): --expect 'x'" in result.stderr
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def listening_port() -> Iterator[socket.socket]:
    """A bare listening socket: any connection attempt would wait in its accept queue."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        yield sock


@pytest.mark.parametrize("command", ["send", "listen"])
@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--expect", "a("], "not a valid regular expression"),
        (["--expect-json", "data.items[x].id=7"], "bad path at position 12"),
        (["--expect-json", "type"], "invalid --expect-json 'type': not PATH=VALUE"),
        (["--expect-close", "999"], "out of range"),
        (["--timeout", "1s"], "--timeout is the deadline for --expect"),
        (["--expect", "x", "--timeout", "0"], "--timeout must be longer than 0"),
        (["--report", "/no/such/dir/r.json"], "does not exist"),
    ],
)
def test_bad_check_options_exit_2_and_nothing_is_sent(
    listening_port: socket.socket, command: str, args: list[str], complaint: str
) -> None:
    port = listening_port.getsockname()[1]
    message = ["x"] if command == "send" else []
    result = invoke([command, f"ws://127.0.0.1:{port}/", *message, *args])
    assert result.exit_code == 2
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(BlockingIOError):  # nobody ever tried to connect
        listening_port.accept()


# -- diagnostics and the hot path ------------------------------------------------------------


def test_verbose_shows_negotiated_subprotocol_and_extensions(make_server: MakeServer) -> None:
    server = make_server(echo, subprotocols=["chat.v2"])
    result = invoke(
        ["send", server.url, "hi", "-v", "-s", "chat.v2", "--compression", "context-takeover"]
    )
    assert result.exit_code == 0, result.stderr
    assert "wsctl: subprotocol: chat.v2\n" in result.stderr
    assert "wsctl: extensions: permessage-deflate" in result.stderr
    result = invoke(["listen", server.url, "-v", "-s", "chat.v2", "--expect", "never",
                     "--timeout", "50ms"])  # fmt: skip
    assert "wsctl: subprotocol: chat.v2\n" in result.stderr
    assert "wsctl: extensions: none\n" in result.stderr


def test_without_expectations_the_writer_is_the_plain_one(tmp_path: object) -> None:
    import io

    env = Environment(io.BytesIO(), io.BytesIO(), io.BytesIO(), False, False, False, True)
    assert type(make_writer(env, None)) is MessageWriter
    from wsctl.checks import Checks

    assert Checks().checker(None) is None  # type: ignore[arg-type]
    assert CheckedWriter.__mro__[1] is MessageWriter
