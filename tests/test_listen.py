"""``wsctl listen`` against real loopback servers."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
from collections.abc import Callable

from conftest import TIMEOUT, LoopbackServer, Recorder, invoke, wsctl_command
from websockets.asyncio.server import ServerConnection


async def push_three_then_close(connection: ServerConnection, recorder: Recorder) -> None:
    await connection.send("one")
    await connection.send(b"\x00\x01two")
    await connection.send('{"n": 3}')
    await connection.close(1000, "done")


def test_prints_every_message_and_exits_zero_on_normal_close(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(push_three_then_close)
    result = invoke(["listen", server.url])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["one", base64.b64encode(b"\x00\x01two").decode(), '{"n": 3}']
    assert "server closed the connection: 1000 (normal): done" in result.stderr


def test_quiet_keeps_stderr_empty(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(push_three_then_close)
    result = invoke(["listen", server.url, "-q"])
    assert result.exit_code == 0
    assert result.stderr == ""


def test_binary_formats(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(push_three_then_close)
    hex_result = invoke(["listen", server.url, "--binary-format", "hex", "-q"])
    assert hex_result.lines[1].startswith("00000000  00 01 74 77 6f")
    raw_result = invoke(["listen", server.url, "--binary-format", "raw", "-q"])
    assert raw_result.stdout_bytes == b'one\n\x00\x01two{"n": 3}\n'


def test_json_events_and_timestamps(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(push_three_then_close)
    result = invoke(["listen", server.url, "--json", "--events", "--timestamps"])
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.lines]
    assert [record["type"] for record in records] == ["open", "text", "binary", "text", "close"]
    assert records[2]["data"] == base64.b64encode(b"\x00\x01two").decode()
    assert records[-1]["code"] == 1000 and records[-1]["reason"] == "done"
    assert all(record["time"].endswith("Z") for record in records)


def test_count_stops_and_closes_normally(make_server: Callable[..., LoopbackServer]) -> None:
    async def endless(connection: ServerConnection, recorder: Recorder) -> None:
        n = 0
        while True:
            await connection.send(f"tick {n}")
            n += 1
            await asyncio.sleep(0)  # yield, or this loop starves the server's own reads

    server = make_server(endless)
    result = invoke(["listen", server.url, "-n", "5"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == [f"tick {n}" for n in range(5)]
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_send_subscribes_before_listening(make_server: Callable[..., LoopbackServer]) -> None:
    async def subscription(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)
            if len(recorder.messages) == 2:
                for symbol in json.loads(str(recorder.messages[1]))["symbols"]:
                    await connection.send(symbol)
                await connection.close()

    server = make_server(subscription)
    result = invoke(
        ["listen", server.url, "--send", "auth", "--send", '{"symbols": ["A", "B"]}', "-q"]
    )
    assert result.exit_code == 0, result.stderr
    assert server.recorder.messages == ["auth", '{"symbols": ["A", "B"]}']
    assert result.lines == ["A", "B"]


def test_control_characters_are_escaped_only_on_a_terminal(
    make_server: Callable[..., LoopbackServer],
) -> None:
    from wsctl.output import escape_control

    async def hostile(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("\x1b]0;pwned\x07\x1b[2J")
        await connection.close()

    server = make_server(hostile)
    result = invoke(["listen", server.url, "-q"])
    # A pipe gets the bytes unchanged: it is data, not a terminal.
    assert result.lines == ["\x1b]0;pwned\x07\x1b[2J"]
    assert escape_control("\x1b]0;pwned\x07\x1b[2J") == "\\x1b]0;pwned\\x07\\x1b[2J"


def test_head_closes_the_pipe_quietly(make_server: Callable[..., LoopbackServer]) -> None:
    """``wsctl listen URL | head -1``: EPIPE ends the run with exit 0 and no traceback."""

    async def flood(connection: ServerConnection, recorder: Recorder) -> None:
        payload = "x" * 1000
        while True:
            await connection.send(payload)
            await asyncio.sleep(0)  # yield, or this loop starves the server's own reads

    server = make_server(flood)
    listen = subprocess.Popen(
        wsctl_command("listen", server.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    head = subprocess.run(["head", "-1"], stdin=listen.stdout, capture_output=True, timeout=TIMEOUT)
    assert listen.stdout is not None
    listen.stdout.close()
    _, stderr = listen.communicate(timeout=TIMEOUT)
    assert head.stdout == b"x" * 1000 + b"\n"
    assert listen.returncode == 0
    assert stderr == b""


def test_ctrl_c_sends_close_and_exits_130(make_server: Callable[..., LoopbackServer]) -> None:
    async def greet_then_wait(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("ready")
        await connection.wait_closed()

    server = make_server(greet_then_wait)
    process = subprocess.Popen(
        wsctl_command("listen", server.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"  # connected: now interrupt it
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130
    assert b"Traceback" not in stderr
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_read_timeout_expires_with_exit_5(make_server: Callable[..., LoopbackServer]) -> None:
    async def silent(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.wait_closed()

    server = make_server(silent)
    result = invoke(["listen", server.url, "--read-timeout", "100ms"])
    assert result.exit_code == 5
    assert result.stderr.strip() == "wsctl: error: no message within 100ms (--read-timeout)"
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_keepalive_ping_without_pong_closes_abnormally(stalled_server: LoopbackServer) -> None:
    """A server that stops reading never answers the keep-alive ping."""
    result = invoke(
        [
            "listen",
            stalled_server.url,
            "--ping-interval",
            "50ms",
            "--ping-timeout",
            "100ms",
            "--close-timeout",
            "100ms",
        ]
    )
    assert result.exit_code == 6
    assert "keep-alive" in result.stderr


def test_json_events_record_an_abnormal_close(make_server: Callable[..., LoopbackServer]) -> None:
    async def fail(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("partial")
        await connection.close(1011, "crashed")

    server = make_server(fail)
    result = invoke(["listen", server.url, "--json", "--events"])
    assert result.exit_code == 6
    records = [json.loads(line) for line in result.lines]
    assert records[-1] == {"type": "close", "by": "server", "code": 1011, "reason": "crashed"}
