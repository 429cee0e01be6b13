"""``wsctl connect`` without a terminal behaves as a pipe, exactly like ``wsctl send``.

In-process runs (click's test runner: stdin and stdout are not terminals) and one real
subprocess with pipes, against real loopback servers.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable

import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder, invoke, wsctl_command
from websockets.asyncio.server import ServerConnection

from wsctl.commands.connect import choose_mode

ServerFactory = Callable[..., LoopbackServer]


@pytest.mark.parametrize(
    ("stdin_isatty", "stdout_isatty", "execute", "mode"),
    [
        (True, True, False, "interactive"),
        (True, True, True, "script"),  # -x on a terminal: send, print the replies, exit
        (True, False, True, "script"),
        (True, False, False, "pipe"),  # wsctl connect URL > log: typed lines are sent
        (False, True, False, "pipe"),  # echo hi | wsctl connect URL
        (False, True, True, "pipe"),  # -x messages first, then stdin
        (False, False, False, "pipe"),
        (False, False, True, "pipe"),
    ],
)
def test_choose_mode(stdin_isatty: bool, stdout_isatty: bool, execute: bool, mode: str) -> None:
    assert (
        choose_mode(stdin_isatty=stdin_isatty, stdout_isatty=stdout_isatty, execute=execute) == mode
    )


def test_stdin_lines_are_sent_and_replies_printed_plainly(echo_server: LoopbackServer) -> None:
    result = invoke(["connect", echo_server.url], input="hello\n\x1b[31mred\nlast")
    assert result.exit_code == 0, result.stderr
    # One message per line, as received: no prompt, no markers, no colour, no escaping.
    assert result.stdout_bytes == b"hello\n\x1b[31mred\nlast\n"
    assert result.stderr == ""
    echo_server.wait_closed()
    assert echo_server.recorder.messages == ["hello", "\x1b[31mred", "last"]
    assert echo_server.recorder.close_codes == [1000]


def test_execute_messages_go_first_then_stdin(echo_server: LoopbackServer) -> None:
    result = invoke(["connect", echo_server.url, "-x", "one", "-x", "two"], input="three\n")
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["one", "two", "three"]
    assert echo_server.recorder.messages == ["one", "two", "three"]


def test_replies_after_stdin_ends_are_kept(make_server: ServerFactory) -> None:
    async def slow_echo(connection: ServerConnection, recorder: Recorder) -> None:
        # Answer after a delay, as a server that works asynchronously does.
        async for message in connection:
            await asyncio.sleep(0.2)
            await connection.send(f"re: {message}")

    server = make_server(slow_echo)
    result = invoke(["connect", server.url, "--wait", "1"], input="question\n")
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["re: question"]
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_wait_time_zero_closes_at_once(make_server: ServerFactory) -> None:
    async def silent(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)

    server = make_server(silent)
    result = invoke(["connect", server.url, "--wait-time", "0"], input="a\nb\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    server.wait_closed()
    assert server.recorder.messages == ["a", "b"]
    assert server.recorder.close_codes == [1000]


def test_close_code_and_reason(echo_server: LoopbackServer) -> None:
    result = invoke(
        ["connect", echo_server.url, "--close-code", "going-away", "--close-reason", "done"],
        input="x\n",
    )
    assert result.exit_code == 0, result.stderr
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1001]
    assert echo_server.recorder.close_reasons == ["done"]


def test_json_output(echo_server: LoopbackServer) -> None:
    result = invoke(["connect", echo_server.url, "--json", "--wait", "1"], input="hi\n")
    assert result.exit_code == 0, result.stderr
    assert result.lines == ['{"type": "text", "data": "hi"}']


def test_server_closing_with_1011_exits_6(make_server: ServerFactory) -> None:
    async def failing(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.recv()
        await connection.close(1011, "boom")

    server = make_server(failing)
    result = invoke(["connect", server.url, "--wait-time", "5s"], input="hello\n")
    assert result.exit_code == 6
    assert "1011 (internal error): boom" in result.stderr


def test_bad_close_reason_is_rejected_before_connecting(echo_server: LoopbackServer) -> None:
    result = invoke(["connect", echo_server.url, "--close-reason", "x" * 124], input="")
    assert result.exit_code == 2
    assert "close reason is 124 bytes" in result.stderr
    assert echo_server.recorder.connections == 0


def test_bad_url_is_exit_2(echo_server: LoopbackServer) -> None:
    result = invoke(["connect", "http://127.0.0.1:1/"], input="")
    assert result.exit_code == 2
    assert "the scheme must be ws:// or wss://" in result.stderr


def test_subprocess_with_pipes_is_a_pipe(echo_server: LoopbackServer) -> None:
    process = subprocess.run(
        wsctl_command("connect", echo_server.url, "--wait", "2"),
        input=b"first\nsecond\n",
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout == b"first\nsecond\n"
    assert b"\x1b" not in process.stderr
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1000]
