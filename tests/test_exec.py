"""``--exec CMD`` on ``listen`` and ``connect``: a real program bridged to a real server.

wsctl runs in a subprocess (CMD's stderr is the process's own), CMD is a small Python script,
and the server records what arrives.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder, invoke, record_only, wsctl_command
from websockets.asyncio.server import ServerConnection

#: Upper-cases each line of stdin; at EOF says so on stderr and prints one more line.
UPPER = """\
import sys
count = 0
for line in sys.stdin:
    count += 1
    sys.stdout.write(line.upper())
    sys.stdout.flush()
    if len(sys.argv) > 1 and count == int(sys.argv[1]):
        sys.exit(int(sys.argv[2]))
print(f"upper: EOF after {count} lines", file=sys.stderr)
print("after eof")
"""


@pytest.fixture
def upper(tmp_path: Path) -> str:
    """The ``--exec`` value running the upper-casing script: ``f"{upper} N STATUS"`` makes it
    exit with STATUS after N lines."""
    script = tmp_path / "upper.py"
    script.write_text(UPPER)
    return f"{sys.executable} {script}"


def run_wsctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        wsctl_command(*args), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def send_then_collect(*outgoing: str | bytes, replies: int) -> Callable[..., object]:
    """A handler sending ``outgoing``, recording ``replies`` messages, then closing (1000)."""

    async def handler(connection: ServerConnection, recorder: Recorder) -> None:
        for message in outgoing:
            await connection.send(message)
        for _ in range(replies):
            recorder.messages.append(await connection.recv())
        await connection.close(1000, "enough")

    return handler


def test_round_trip_and_eof_when_the_server_closes(
    make_server: Callable[..., LoopbackServer], upper: str
) -> None:
    server = make_server(send_then_collect("hello", "wörld", replies=2))
    result = run_wsctl("listen", server.url, "--exec", upper)
    assert result.returncode == 0, result.stderr
    assert server.recorder.messages == ["HELLO", "WÖRLD"]
    assert result.stdout == ""  # CMD's output went to the server, not to stdout
    # CMD got EOF when the server closed; its stderr is wsctl's; what it printed then is counted.
    assert "upper: EOF after 2 lines" in result.stderr
    assert "1 line(s) printed by python" in result.stderr and "were not sent" in result.stderr
    assert "server closed the connection: 1000 (normal): enough" in result.stderr


def test_cmd_exit_closes_with_1000_and_its_status_becomes_wsctls(
    make_server: Callable[..., LoopbackServer], upper: str
) -> None:
    async def chatty(connection: ServerConnection, recorder: Recorder) -> None:
        for n in range(5):
            await connection.send(f"line {n}")
        async for message in connection:
            recorder.messages.append(message)

    server = make_server(chatty)
    result = run_wsctl("listen", server.url, "--exec", f"{upper} 2 3")
    assert result.returncode == 3, result.stderr
    server.wait_closed()
    assert server.recorder.messages == ["LINE 0", "LINE 1"]
    assert server.recorder.close_codes == [1000]
    assert "Traceback" not in result.stderr


def test_cmd_exit_zero_after_printing_is_exit_zero_and_everything_is_sent(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(record_only)
    result = run_wsctl("connect", server.url, "--exec", "sh -c 'echo one; printf two'")
    assert result.returncode == 0, result.stderr
    server.wait_closed()
    assert server.recorder.messages == ["one", "two"]  # the last line needs no newline
    assert server.recorder.close_codes == [1000]


def test_connect_sends_x_messages_first_and_closes_with_close_code(
    make_server: Callable[..., LoopbackServer], upper: str
) -> None:
    server = make_server()  # echo: each upper-cased line comes back and is upper-cased again
    result = run_wsctl(
        "connect", server.url, "-x", "go", "--exec", f"{upper} 3 0", "--close-code", "4000"
    )
    assert result.returncode == 0, result.stderr
    server.wait_closed()
    assert server.recorder.messages == ["go", "GO", "GO", "GO"]
    assert server.recorder.close_codes == [4000]


def test_a_signal_killing_cmd_is_128_plus_n(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(record_only)
    result = run_wsctl("connect", server.url, "--exec", "sh -c 'kill -TERM $$'")
    assert result.returncode == 128 + 15, result.stderr
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


@pytest.mark.parametrize("command", ["listen", "connect"])
def test_missing_or_unusable_cmd_is_exit_2_before_connecting(
    make_server: Callable[..., LoopbackServer], tmp_path: Path, command: str
) -> None:
    server = make_server(record_only)
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(stat.S_IRUSR | stat.S_IWUSR)
    cases = {
        "no-such-program-wsctl-test": "--exec: command not found: no-such-program-wsctl-test",
        str(tmp_path / "missing.py"): "--exec: no such file:",
        str(not_executable): "--exec: not executable:",
        "": "--exec needs a command",
        "'unclosed": "No closing quotation",
    }
    for value, message in cases.items():
        result = invoke([command, server.url, "--exec", value])
        assert result.exit_code == 2, (value, result.stderr)
        assert message in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert server.recorder.connections == 0


def test_exec_with_expectations_is_exit_2(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(record_only)
    result = invoke(["listen", server.url, "--exec", "cat", "--expect", "x"])
    assert result.exit_code == 2
    assert "--exec cannot be combined with --expect" in result.stderr
    result = invoke(["listen", server.url, "--exec", "cat", "--reconnect"])
    assert result.exit_code == 2
    assert server.recorder.connections == 0


@pytest.mark.parametrize("command", ["listen", "connect"])
def test_exec_with_reply_is_exit_2(
    make_server: Callable[..., LoopbackServer], command: str
) -> None:
    # CMD reads every message itself: a --reply rule would silently never answer.
    server = make_server(record_only)
    result = invoke([command, server.url, "--exec", "cat", "--reply", "^2$=>3"])
    assert result.exit_code == 2
    assert "--exec cannot be combined with" in result.stderr and "--reply" in result.stderr
    assert result.stderr.count("\n") == 1
    assert server.recorder.connections == 0


def test_ctrl_c_stops_cmd_sends_close_and_exits_130(
    make_server: Callable[..., LoopbackServer],
) -> None:
    pid_arrived = threading.Event()

    async def record_pid(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)
            pid_arrived.set()

    server = make_server(record_pid)
    sleeper = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    process = subprocess.Popen(
        wsctl_command("listen", server.url, "--exec", f'{sys.executable} -c "{sleeper}"'),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert pid_arrived.wait(TIMEOUT), "CMD's first line never arrived"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    server.wait_closed()
    assert server.recorder.close_codes == [1000]
    with pytest.raises(ProcessLookupError):  # CMD was stopped (and reaped) before wsctl left
        os.kill(int(server.recorder.messages[0]), 0)


def test_a_flood_of_100k_lines_all_arrives_in_order(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(record_only)
    flood = f"{sys.executable} -c 'for n in range(100_000): print(n)'"
    result = run_wsctl("connect", server.url, "--exec", flood)
    assert result.returncode == 0, result.stderr
    server.wait_closed()
    assert server.recorder.messages == [str(n) for n in range(100_000)]
    assert server.recorder.close_codes == [1000]


def test_binary_and_json_framing_match_listen(make_server: Callable[..., LoopbackServer]) -> None:
    # `cat` sends back exactly the lines it is fed, so the server sees CMD's stdin.
    server = make_server(send_then_collect("a\tb", b"\x00\xff", replies=2))
    result = run_wsctl("listen", server.url, "--exec", "cat")
    assert result.returncode == 0, result.stderr
    assert server.recorder.messages == ["a\tb", base64.b64encode(b"\x00\xff").decode()]

    server = make_server(send_then_collect("a\nb", b"\x00", replies=2))
    result = run_wsctl("listen", server.url, "--exec", "cat", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(str(m)) for m in server.recorder.messages] == [
        {"type": "text", "data": "a\nb"},
        {"type": "binary", "data": "AA=="},
    ]


def test_count_ends_cmds_input(make_server: Callable[..., LoopbackServer], upper: str) -> None:
    async def ten_then_record(connection: ServerConnection, recorder: Recorder) -> None:
        for _ in range(10):
            await connection.send("tick")
        async for message in connection:
            recorder.messages.append(message)

    server = make_server(ten_then_record)
    result = run_wsctl("listen", server.url, "-n", "3", "--exec", upper)
    assert result.returncode == 0, result.stderr
    server.wait_closed()
    assert server.recorder.messages == ["TICK", "TICK", "TICK", "after eof"]
    assert server.recorder.close_codes == [1000]


#: Waits for the test to open the FIFO (argv[1]) before reading stdin, then counts the lines
#: up to END and prints the count.
STALLED_READER = """\
import sys
with open(sys.argv[1], "rb") as gate:
    gate.read(1)
count = 0
for line in sys.stdin:
    if line == "END\\n":
        break
    count += 1
print(f"count {count}", flush=True)
"""


def test_a_cmd_that_stalls_loses_nothing(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    """The server sends until its writes are paused (the data in flight fills the buffers
    between it and the stalled CMD), then CMD is released and must count every message."""
    paused = threading.Event()
    payload = "x" * 65536

    async def until_paused(connection: ServerConnection, recorder: Recorder) -> None:
        original = connection.pause_writing

        def pause_writing() -> None:
            original()
            paused.set()

        connection.pause_writing = pause_writing  # type: ignore[method-assign]
        sent = 0
        while not paused.is_set():
            await connection.send(payload)
            sent += 1
        recorder.messages.append(f"sent {sent}")
        await connection.send("END")
        recorder.messages.append(await connection.recv())

    gate = tmp_path / "gate"
    os.mkfifo(gate)
    script = tmp_path / "stalled.py"
    script.write_text(STALLED_READER)
    server = make_server(until_paused)
    process = subprocess.Popen(
        wsctl_command("listen", server.url, "--exec", f"{sys.executable} {script} {gate}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert paused.wait(TIMEOUT), "the server's writes never paused: wsctl kept reading"
        with open(gate, "wb") as opened:
            opened.write(b"g")
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    sent_line, count_line = server.recorder.messages
    sent = int(str(sent_line).split()[1])
    assert count_line == f"count {sent}"
    # Bounded: what was in flight when writes paused fits in a few buffers, not the stream.
    assert sent * len(payload) < 64 * 1024 * 1024


#: Reads one line a millisecond and counts the lines up to END; then prints the count and the
#: peak memory (VmHWM, KiB) of its parent — wsctl, still running while it waits for CMD.
SLOW_READER = """\
import os, sys, time
count = 0
for line in sys.stdin:
    if line == "END\\n":
        break
    count += 1
    time.sleep(0.001)
with open(f"/proc/{os.getppid()}/status") as status:
    hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(f"count {count} {hwm}", flush=True)
"""


def test_a_slow_cmd_holds_back_a_fast_server_in_bounded_memory(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    """96 MiB sent as fast as the server can to a CMD reading slowly: every message arrives,
    and wsctl's peak memory stays far below the stream (reading paused while CMD lagged)."""
    messages, payload = 1536, "y" * 65536

    async def flood(connection: ServerConnection, recorder: Recorder) -> None:
        for _ in range(messages):
            await connection.send(payload)
        await connection.send("END")
        recorder.messages.append(await connection.recv())

    script = tmp_path / "slow.py"
    script.write_text(SLOW_READER)
    server = make_server(flood)
    result = run_wsctl("listen", server.url, "--exec", f"{sys.executable} {script}")
    assert result.returncode == 0, result.stderr
    [report] = server.recorder.messages
    label, count, peak_kib = str(report).split()
    assert (label, int(count)) == ("count", messages)
    # The peak of wsctl's own memory (/proc's VmHWM: not the fork's, unlike ru_maxrss).
    peak_mib = int(peak_kib) / 1024
    assert peak_mib < 80, f"peak RSS {peak_mib:.0f} MiB for a 96 MiB stream"
