"""``wsctl send`` against real loopback servers: messages out, replies printed, clean close."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import threading
from collections.abc import Callable

from conftest import TIMEOUT, LoopbackServer, Recorder, echo, invoke, wsctl_command
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


def test_text_message_round_trip(echo_server: LoopbackServer) -> None:
    result = invoke(["send", echo_server.url, "hello", "wörld"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["hello", "wörld"]
    echo_server.wait_closed()
    assert echo_server.recorder.messages == ["hello", "wörld"]
    assert echo_server.recorder.close_codes == [1000]


def test_binary_stdin_is_one_binary_message_and_reply_is_base64(
    echo_server: LoopbackServer,
) -> None:
    payload = bytes(range(256)) * 3
    result = invoke(["send", echo_server.url, "--binary", "--wait", "1"], input=payload)
    assert result.exit_code == 0, result.stderr
    assert echo_server.recorder.messages == [payload]
    assert result.lines == [base64.b64encode(payload).decode()]


def test_binary_reply_raw_keeps_bytes_intact(echo_server: LoopbackServer) -> None:
    payload = b"\x00\xff\n\r\x1b binary"
    result = invoke(
        ["send", echo_server.url, "--binary", "--binary-format", "raw", "--wait", "1"],
        input=payload,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == payload


def test_file_lines_are_sent(echo_server: LoopbackServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "messages.txt"
    path.write_text("one\r\ntwo\n\nthree")
    result = invoke(["send", echo_server.url, "--file", str(path), "--wait", "4"])
    assert result.exit_code == 0, result.stderr
    assert echo_server.recorder.messages == ["one", "two", "", "three"]


def test_json_output_is_ndjson(echo_server: LoopbackServer) -> None:
    result = invoke(["send", echo_server.url, "--json", "--wait", "1", "hi"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ['{"type": "text", "data": "hi"}']


def test_ten_thousand_lines_all_arrive_and_all_replies_are_printed(
    echo_server: LoopbackServer,
) -> None:
    lines = [f"line {n:05d}" for n in range(10_000)]
    result = invoke(["send", echo_server.url, "--wait", "10000"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    assert echo_server.recorder.messages == lines
    assert result.lines == lines


def test_ten_thousand_lines_against_a_synchronous_echo_server() -> None:
    """websockets' threaded server answers each message from a blocking loop."""
    from websockets.sync.server import ServerConnection as SyncConnection
    from websockets.sync.server import serve as sync_serve

    received: list[str | bytes] = []

    def handler(connection: SyncConnection) -> None:
        for message in connection:
            received.append(message)
            connection.send(message)

    with sync_serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        lines = [f"{n}" for n in range(10_000)]
        result = invoke(["send", f"ws://127.0.0.1:{port}/"], input="\n".join(lines))
        server.shutdown()
    assert result.exit_code == 0, result.stderr
    assert received == lines
    assert result.lines == lines


def test_reply_of_an_asynchronous_server_is_not_lost_at_stdin_eof(
    make_server: Callable[..., LoopbackServer],
) -> None:
    """The server answers from another task after a delay; closing at EOF would lose it."""

    async def delayed_echo(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)

            async def later(text: str | bytes) -> None:
                await asyncio.sleep(0.05)  # the server's own latency, not synchronisation
                await connection.send(text)

            asyncio.get_running_loop().create_task(later(message))

    server = make_server(delayed_echo)
    result = invoke(["send", server.url, "--wait", "1"], input="hi\n")
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["hi"]


def test_wait_one_returns_as_soon_as_the_reply_arrives(echo_server: LoopbackServer) -> None:
    """With an idle limit of an hour, only ``--wait 1`` can end this run."""
    result = invoke(["send", echo_server.url, "ping", "--wait", "1", "--wait-time", "1h"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["ping"]
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1000]


def test_wait_time_zero_closes_right_after_the_last_send(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def record_only(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)

    server = make_server(record_only)
    result = invoke(["send", server.url, "a", "b", "--wait-time", "0"])
    assert result.exit_code == 0, result.stderr
    server.wait_closed()
    assert server.recorder.messages == ["a", "b"]
    assert server.recorder.close_codes == [1000]


def test_user_close_code_and_reason_are_sent_and_exit_zero(echo_server: LoopbackServer) -> None:
    result = invoke(
        [
            "send",
            echo_server.url,
            "x",
            "--wait",
            "1",
            "--close-code",
            "4001",
            "--close-reason",
            "bye",
        ]
    )
    assert result.exit_code == 0, result.stderr
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [4001]
    assert echo_server.recorder.close_reasons == ["bye"]


def test_server_closing_first_decides_the_exit_code(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def answer_then_close(connection: ServerConnection, recorder: Recorder) -> None:
        message = await connection.recv()
        await connection.send(f"got {message}")
        await connection.close(4000, "go away")

    server = make_server(answer_then_close)
    result = invoke(["send", server.url, "x", "--wait-time", "1h"])
    assert result.exit_code == 6
    assert result.lines == ["got x"]
    assert "4000" in result.stderr and "go away" in result.stderr


def test_server_normal_close_after_reply_exits_zero(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def answer_then_close(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send(await connection.recv())
        await connection.close(1000, "done")

    server = make_server(answer_then_close)
    result = invoke(["send", server.url, "x", "--wait-time", "1h"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["x"]
    assert "1000" in result.stderr


def test_headers_and_subprotocol_reach_the_server(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen: list[Headers] = []

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        seen.append(request.headers)
        return None

    server = make_server(echo, process_request=process_request, subprotocols=["chat.v2"])
    result = invoke(
        [
            "send",
            server.url,
            "x",
            "--wait",
            "1",
            "-H",
            "X-Trace: abc 123",
            "-H",
            "User-Agent: probe/1",
            "-s",
            "chat.v1",
            "-s",
            "chat.v2",
            "-v",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert seen[0]["X-Trace"] == "abc 123"
    assert seen[0].get_all("User-Agent") == ["probe/1"]
    assert seen[0]["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"
    assert "< Sec-WebSocket-Protocol: chat.v2" in result.stderr


def test_verbose_redacts_credentials(echo_server: LoopbackServer) -> None:
    result = invoke(
        [
            "send",
            echo_server.url + "?token=s3cret",
            "x",
            "--wait",
            "1",
            "-v",
            "-H",
            "Authorization: Bearer s3cret",
            "-H",
            "Cookie: session=s3cret",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert "s3cret" not in result.stderr
    assert "> Authorization: Bearer <redacted>" in result.stderr


def test_lines_written_before_the_handshake_completes_are_sent(
    make_server: Callable[..., LoopbackServer],
) -> None:
    """The server holds the upgrade until the client has read all of stdin and hit EOF."""
    release = threading.Event()

    async def hold_handshake(connection: ServerConnection, request: Request) -> None:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, TIMEOUT)

    server = make_server(echo, process_request=hold_handshake)
    process = subprocess.Popen(
        wsctl_command("send", server.url, "--wait", "3"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(b"early 1\nearly 2\nearly 3\n")
    process.stdin.close()
    process.stdin = None  # closed: communicate() must not flush it
    release.set()
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr
    assert server.recorder.messages == ["early 1", "early 2", "early 3"]
    assert stdout.decode().splitlines() == ["early 1", "early 2", "early 3"]


def test_invalid_utf8_line_is_rejected_with_a_hint(echo_server: LoopbackServer) -> None:
    result = invoke(["send", echo_server.url], input=b"ok\n\xff\xfe\n")
    assert result.exit_code == 2
    assert "line 2 is not valid UTF-8" in result.stderr
    assert "--binary" in result.stderr
