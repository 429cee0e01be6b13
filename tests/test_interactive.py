"""``wsctl connect`` on a real terminal: pexpect drives the process through a pty.

Servers run in a thread with their own event loop (``make_server`` from conftest), so that the
test can block in ``expect`` while they push messages.  What the server received goes through
a ``queue.Queue``; what the user saw is the pty's transcript.
"""

from __future__ import annotations

import asyncio
import io
import os
import queue
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder
from websockets.asyncio.server import ServerConnection

ServerFactory = Callable[..., LoopbackServer]

# CSI and OSC sequences that prompt_toolkit and rich write; stripped to read the text.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Terminal:
    """A ``wsctl connect`` process on a pty, with everything it printed kept."""

    def __init__(self, child: pexpect.spawn) -> None:  # type: ignore[type-arg]
        self.child = child
        self.log = io.StringIO()
        child.logfile_read = self.log

    @property
    def transcript(self) -> str:
        """Everything the process wrote, escape sequences included."""
        return self.log.getvalue()

    @property
    def text(self) -> str:
        """The transcript without terminal escape sequences."""
        return _ANSI.sub("", self.transcript)

    def expect(self, pattern: str) -> None:
        self.child.expect(pattern)

    def expect_exact(self, text: str) -> None:
        self.child.expect_exact(text)

    def type(self, text: str, pause: float = 0.0) -> None:
        """Type ``text`` one key at a time, ``pause`` seconds apart (a typing pace, not a wait
        for anything: the session must cope with keys at any pace)."""
        for char in text:
            self.child.send(char)
            if pause:
                time.sleep(pause)

    def enter(self, line: str = "") -> None:
        self.type(line)
        self.child.send("\r")

    def ready(self) -> None:
        """Wait until the session is connected and showing its prompt."""
        self.expect_exact("connected to")
        self.expect_exact("> ")

    def exit_status(self) -> int:
        """Wait for the process to end and return its exit status."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        status = self.child.exitstatus
        assert status is not None, f"killed by signal {self.child.signalstatus}"
        return int(status)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """Start ``wsctl connect ARGS`` on a pty: ``terminal(url, *args, color=False)``."""
    children: list[pexpect.spawn] = []  # type: ignore[type-arg]

    def start(*args: str, color: bool = False) -> Terminal:
        env = dict(os.environ)
        env.update(
            TERM="xterm",
            XDG_STATE_HOME=str(tmp_path / "state"),
            # A pty under pexpect does not answer cursor position requests; without this,
            # prompt_toolkit waits for the answer and then prints a warning about it.
            PROMPT_TOOLKIT_NO_CPR="1",
        )
        env.pop("NO_COLOR", None)
        if not color:
            env["NO_COLOR"] = "1"
        child = pexpect.spawn(
            sys.executable,
            ["-m", "wsctl", "connect", *args],
            env=env,
            timeout=TIMEOUT,
            dimensions=(50, 200),
            encoding="utf-8",
            codec_errors="replace",
        )
        child.delaybeforesend = None  # type like a fast typist: no pause before each key
        children.append(child)
        return Terminal(child)

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def recording_echo(
    messages: queue.Queue[str | bytes],
) -> Callable[[ServerConnection, Recorder], object]:
    """An echo server that also hands each message to the test through ``messages``."""

    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)
            messages.put(message)
            await connection.send(message)

    return handler


# -- the prompt under traffic ---------------------------------------------------------------


@pytest.mark.parametrize("color", [False, True], ids=["no-color", "color"])
def test_typed_line_arrives_intact_while_the_server_pushes(
    make_server: ServerFactory, terminal: Callable[..., Terminal], color: bool
) -> None:
    typed: queue.Queue[str | bytes] = queue.Queue()
    pushed: list[str] = []

    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        # Push every 3 ms from the moment the client connects until the typed line arrives,
        # so the whole line is typed while messages keep coming.
        line_arrived = asyncio.Event()

        async def push() -> None:
            while not line_arrived.is_set():
                text = f"push-{len(pushed):04d}"
                pushed.append(text)
                await connection.send(text)
                await asyncio.sleep(0.003)
            await connection.send("push-end")

        pusher = asyncio.create_task(push())
        async for message in connection:
            typed.put(message)
            line_arrived.set()
        await pusher

    server = make_server(handler)
    term = terminal(server.url, color=color)
    term.expect_exact("connected to")
    term.expect_exact("push-0010")  # the stream is flowing before the first key is pressed
    line = 'half typed {"json": [1, 2, 3]} ünïcode and a long tail of words'
    term.type(line, pause=0.004)
    term.enter()
    # Keep reading the pty while the server waits for the line: a terminal always reads, and a
    # full pty buffer would block the session's output.
    term.expect_exact("push-end")
    assert typed.get(timeout=TIMEOUT) == line
    term.child.sendcontrol("d")
    assert term.exit_status() == 0
    server.wait_closed()
    assert server.recorder.close_codes == [1000]

    text = term.text
    assert len(pushed) > 20  # many messages arrived while the line was being typed
    for message in pushed:
        assert text.count(f"< {message}") == 1, f"{message} shown {text.count(message)} times"
    assert f"> {line}" in text  # the sent line is shown once, as sent
    # Each time messages are printed, the prompt is drawn again in full ("> " and the line so
    # far); typed keys alone only add their character.  So full drawings of a part of the line
    # show messages arriving mid-line, and the line coming back intact every time.
    drawn = re.findall(r"> (half typed[^\r\n]*)", text)
    partial = [part for part in drawn if part != line]
    assert partial, "the half-typed line was never drawn again after messages arrived"
    assert all(line.startswith(part.rstrip()) for part in drawn), drawn


def test_hostile_server_text_is_shown_escaped(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("title:\x1b]0;pwned\x07")
        await connection.send("clear:\x1b[2J")
        await connection.send("markup:[bold red]x[/]")
        await connection.send("link:\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\")
        await connection.send("bidi:\u202eevil")
        await connection.send('{"json": "\u009b31m in a string"}')
        await connection.send("done")
        async for _ in connection:
            pass

    server = make_server(handler)
    term = terminal(server.url, color=True)  # with colours on, markup would be live
    term.expect_exact("< \x1b[0mdone")
    term.expect_exact("> ")
    term.child.sendcontrol("d")
    assert term.exit_status() == 0

    raw = term.transcript
    assert "\x1b]0;" not in raw
    assert "\x07" not in raw
    assert "\x1b[2J" not in raw
    assert "\x1b]8;" not in raw
    assert "\u202e" not in raw
    assert "\u009b" not in raw
    text = term.text
    assert r"title:\x1b]0;pwned\x07" in text
    assert r"clear:\x1b[2J" in text
    assert "markup:[bold red]x[/]" in text
    assert "link:\\x1b]8;;http://evil.example\\x1b\\click\\x1b]8;;\\x1b\\\r" in text
    assert r"bidi:\u202eevil" in text
    assert r"\x9b31m in a string" in text


def test_json_is_laid_out_and_binary_is_dumped(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    long_value = "v" * 250  # wider than the 200-column terminal

    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send('{"price":1.10,"tags":[],"ok":true}')
        await connection.send(f'{{"long":"{long_value}","n":[1,2]}}')
        await connection.send(b"\x00\x01ABC")
        await connection.send("")
        async for _ in connection:
            pass

    server = make_server(handler)
    term = terminal(server.url)
    term.expect_exact("(empty message)")
    term.expect_exact("> ")
    term.enter("/json off")
    term.expect_exact("JSON pretty-printing off")
    term.child.sendcontrol("d")
    assert term.exit_status() == 0
    text = term.text.replace("\r", "")
    # Short JSON stays on one line, spaced, with its values exactly as sent (1.10, not 1.1).
    assert '< {"price": 1.10, "tags": [], "ok": true}' in text
    # JSON too wide for the terminal is indented, continuation lines under the first.
    assert f'< {{\n    "long": "{long_value}",\n    "n": [\n      1,\n      2\n    ]\n  }}' in text
    assert "< binary, 5 bytes\n  00000000  00 01 41 42 43" in text
    assert "..ABC" in text


# -- slash commands -------------------------------------------------------------------------


def test_slash_commands_and_bad_arguments_keep_the_session(
    make_server: ServerFactory, terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    text_file = tmp_path / "message.json"
    text_file.write_text('{"from": "a file"}\n', encoding="utf-8")
    binary_file = tmp_path / "blob.bin"
    binary_file.write_bytes(b"\xff\x00\xfe")
    term = terminal(server.url)
    term.ready()

    # Bad arguments: one line of error each, and the session goes on.
    for command, error in [
        ("/close 999", "! invalid close code 999: must be from 1000 to 4999"),
        ("/binary hex:zz", "! bad hex: 'z' is not a hex digit"),
        ("/binary base64:@@@", "! bad base64"),
        (f"/send @{tmp_path / 'missing.txt'}", "! cannot read"),
        (f"/send @{binary_file}", "is not UTF-8 text"),
        ("/pnig", "! unknown command '/pnig' (did you mean /ping?)"),
    ]:
        term.enter(command)
        term.expect_exact(error)

    term.enter("/ping hello")
    term.expect(r"\* pong \('hello'\) in [0-9.]+ ms")
    term.enter("/binary hex:48 65 6c 6c 6f")
    term.expect_exact("< binary, 5 bytes")
    assert messages.get(timeout=TIMEOUT) == b"Hello"
    term.enter("/binary base64:AAEC")
    term.expect_exact("< binary, 3 bytes")
    assert messages.get(timeout=TIMEOUT) == b"\x00\x01\x02"
    term.enter(f"/binary @{binary_file}")
    term.expect_exact("< binary, 3 bytes")
    assert messages.get(timeout=TIMEOUT) == b"\xff\x00\xfe"
    term.enter(f"/send @{text_file}")
    term.expect_exact('< {"from": "a file"}')
    assert messages.get(timeout=TIMEOUT) == '{"from": "a file"}\n'
    term.enter("//not a command")
    term.expect_exact("< /not a command")
    assert messages.get(timeout=TIMEOUT) == "/not a command"
    term.enter("/timestamps")
    term.expect_exact("timestamps on")
    term.enter("still here")
    term.expect(r"\d\d:\d\d:\d\d\.\d\d\d < still here")
    assert messages.get(timeout=TIMEOUT) == "still here"
    term.enter("/help")
    term.expect_exact("/reconnect")
    term.enter("/status")
    term.expect_exact("messages     6 sent, 6 received")
    term.enter("/quit")
    assert term.exit_status() == 0
    server.wait_closed()
    assert server.recorder.close_codes == [1000]
    # The errors above were one line each: the line after each is the next prompt's echo.
    assert "Traceback" not in term.text


def test_close_command_sends_code_and_reason(
    echo_server: LoopbackServer, terminal: Callable[..., Terminal]
) -> None:
    term = terminal(echo_server.url)
    term.ready()
    term.enter("/close 4000 see you later")
    term.expect_exact("closed the connection: 4000 (application)")
    assert term.exit_status() == 0
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [4000]
    assert echo_server.recorder.close_reasons == ["see you later"]


def test_tab_completes_slash_commands(
    echo_server: LoopbackServer, terminal: Callable[..., Terminal]
) -> None:
    term = terminal(echo_server.url)
    term.ready()
    term.type("/qu")
    # The menu of matching commands appears as you type; Tab then takes its entry.
    term.expect_exact("/quit ")
    term.expect_exact("Ctrl-D does it too")
    term.child.send("\t")
    term.enter()
    assert term.exit_status() == 0
    echo_server.wait_closed()
    assert echo_server.recorder.close_codes == [1000]


def test_reconnect_opens_a_new_connection(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    term = terminal(server.url)
    term.ready()
    term.enter("/reconnect")
    term.expect_exact("reconnecting to")
    term.expect_exact("connected to")
    term.enter("after reconnecting")
    term.expect_exact("< after reconnecting")
    assert messages.get(timeout=TIMEOUT) == "after reconnecting"
    term.child.sendcontrol("d")
    assert term.exit_status() == 0
    assert server.recorder.connections == 2
    server.wait_closed()
    assert server.recorder.close_codes[0] == 1000


# -- input editing and history ---------------------------------------------------------------


def test_escape_enter_inserts_a_newline(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    term = terminal(server.url)
    term.ready()
    term.type('{"a":')
    term.child.send("\x1b\r")  # Esc Enter (what Alt-Enter sends)
    term.enter("1}")
    term.expect_exact("< {")
    assert messages.get(timeout=TIMEOUT) == '{"a":\n1}'
    term.child.sendcontrol("d")
    assert term.exit_status() == 0


def test_ctrl_c_clears_the_line_then_quits_on_an_empty_one(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    term = terminal(server.url)
    term.ready()
    term.type("discard this")
    term.child.sendcontrol("c")
    term.enter("keep this")
    term.expect_exact("< keep this")
    assert messages.get(timeout=TIMEOUT) == "keep this"
    term.child.sendcontrol("c")
    assert term.exit_status() == 0
    server.wait_closed()
    assert server.recorder.close_codes == [1000]
    assert server.recorder.messages == ["keep this"]


def test_history_is_saved_privately_and_recalled(
    make_server: ServerFactory, terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    first = terminal(server.url)
    first.ready()
    first.enter("remember me")
    first.expect_exact("< remember me")
    first.enter("something else")
    first.expect_exact("< something else")
    assert [messages.get(timeout=TIMEOUT) for _ in range(2)] == ["remember me", "something else"]
    first.child.sendcontrol("d")
    assert first.exit_status() == 0

    history = tmp_path / "state" / "wsctl" / "history"
    assert "+remember me" in history.read_text(encoding="utf-8")
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700

    second = terminal(server.url)
    second.ready()
    second.child.send("\x1b[A")  # Up: the last line
    second.enter()
    second.expect_exact("< something else")
    assert messages.get(timeout=TIMEOUT) == "something else"
    second.child.sendcontrol("r")  # reverse search
    second.type("remem")
    second.enter()  # ends the search with the line found
    second.enter()  # sends it
    second.expect_exact("< remember me")
    assert messages.get(timeout=TIMEOUT) == "remember me"
    second.child.sendcontrol("d")
    assert second.exit_status() == 0


def test_no_history_writes_nothing(
    echo_server: LoopbackServer, terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    term = terminal(echo_server.url, "--no-history")
    term.ready()
    term.enter("secret token")
    term.expect_exact("< secret token")
    term.child.sendcontrol("d")
    assert term.exit_status() == 0
    assert not (tmp_path / "state" / "wsctl").exists()


def test_ctrl_d_during_a_stuck_send_waits_for_it_and_loses_nothing(
    make_server: ServerFactory, terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    resume = threading.Event()
    received: queue.Queue[str | bytes] = queue.Queue()

    async def slow_reader(connection: ServerConnection, recorder: Recorder) -> None:
        # Take nothing until the test says so: the client's send blocks on full buffers.
        connection.transport.pause_reading()
        await asyncio.get_running_loop().run_in_executor(None, resume.wait, TIMEOUT)
        connection.transport.resume_reading()
        async for message in connection:
            received.put(message)

    server = make_server(slow_reader, max_size=None)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\xab" * (24 * 1024 * 1024))  # more than the sockets' buffers hold
    term = terminal(server.url)
    term.ready()
    term.enter(f"/binary @{big}")
    term.expect_exact("> binary, 25165824 bytes")
    term.child.sendcontrol("d")  # noticed although the send is stuck
    term.expect_exact("still sending: waiting for the server to take the message")
    resume.set()
    assert term.exit_status() == 0
    message = received.get(timeout=TIMEOUT)
    assert message == big.read_bytes()
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_verbose_shows_the_handshake_redacted_and_the_negotiation(
    echo_server: LoopbackServer, terminal: Callable[..., Terminal]
) -> None:
    url = echo_server.url + "?token=s3cret"
    term = terminal(url, "-v", "-H", "Authorization: Bearer s3cret")
    term.ready()
    term.child.sendcontrol("d")
    assert term.exit_status() == 0
    text = term.text
    assert "wsctl: > GET /?token=<redacted> HTTP/1.1" in text
    assert "wsctl: > Authorization: Bearer <redacted>" in text
    assert "wsctl: < HTTP/1.1 101 Switching Protocols" in text
    assert "wsctl: subprotocol: none" in text
    assert "s3cret" not in text


# -- how sessions end ------------------------------------------------------------------------


def test_server_closing_with_1011_exits_6(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.recv()
        await connection.close(1011, "boom")

    server = make_server(handler)
    term = terminal(server.url)
    term.ready()
    term.type("half a li")  # the connection ends while a line is being typed
    term.child.send("n")
    term.enter("e")
    term.expect_exact("server closed the connection with 1011 (internal error): boom")
    assert term.exit_status() == 6


def test_server_closing_normally_exits_0(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("goodbye")
        await connection.close(1000, "done")

    server = make_server(handler)
    term = terminal(server.url)
    term.expect_exact("< goodbye")
    term.expect_exact("server closed the connection: 1000 (normal): done")
    assert term.exit_status() == 0


def test_keepalive_pings_are_shown_with_show_ping_pong(
    echo_server: LoopbackServer, terminal: Callable[..., Terminal]
) -> None:
    term = terminal(echo_server.url, "--ping-interval", "50ms", "--show-ping-pong")
    term.ready()
    term.expect_exact("keep-alive ping sent")
    term.expect(r"keep-alive pong in [0-9.]+ ms")
    term.enter("/pingpong off")
    term.expect_exact("keep-alive pings and pongs off")
    term.child.sendcontrol("d")
    assert term.exit_status() == 0


def test_late_pong_closes_as_abnormal(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    async def deaf(connection: ServerConnection, recorder: Recorder) -> None:
        # Stop reading: pings are not answered until the client has given up.
        connection.transport.pause_reading()
        await asyncio.sleep(2)
        connection.transport.resume_reading()

    server = make_server(deaf)
    term = terminal(server.url, "--ping-interval", "100ms", "--ping-timeout", "200ms")
    term.ready()
    term.expect_exact("no pong within 200ms (--ping-timeout): closing the connection with 1011")
    assert term.exit_status() == 6


def test_execute_on_a_terminal_sends_prints_and_exits(
    echo_server: LoopbackServer, terminal: Callable[..., Terminal]
) -> None:
    term = terminal(echo_server.url, "-x", "first", "-x", "second", "--wait", "2")
    assert term.exit_status() == 0
    assert term.text.replace("\r", "").splitlines() == ["first", "second"]
    echo_server.wait_closed()
    assert echo_server.recorder.messages == ["first", "second"]
    assert echo_server.recorder.close_codes == [1000]


def test_connection_refused_is_one_line_and_exit_4(
    terminal: Callable[..., Terminal], server_loop: object
) -> None:
    term = terminal("ws://127.0.0.1:9/")
    assert term.exit_status() == 4
    lines = term.text.replace("\r", "").splitlines()
    assert lines == ["wsctl: error: cannot connect to ws://127.0.0.1:9/: connection refused"]
