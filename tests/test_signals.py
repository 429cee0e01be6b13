"""SIGTERM and SIGHUP end a run like Ctrl-C does: Close 1001, reports written, exit 143 / 129.

CI timeouts and cancelled jobs send SIGTERM; a closed terminal sends SIGHUP.  Each test runs
wsctl in a real process against a real loopback server, signals it once the connection is
known to be open (a line it printed), and checks what the server and the report saw.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder, echo, wsctl_command
from websockets.asyncio.server import ServerConnection


async def greet_then_wait(connection: ServerConnection, recorder: Recorder) -> None:
    await connection.send("ready")
    await connection.wait_closed()


def _finish(process: subprocess.Popen[bytes], signum: int) -> tuple[bytes, bytes]:
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    return stdout, stderr


@pytest.mark.parametrize(
    ("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")]
)
def test_listen_terminated_closes_1001_writes_report(
    make_server: Callable[..., LoopbackServer],
    tmp_path: Path,
    signum: int,
    code: int,
    name: str,
) -> None:
    server = make_server(greet_then_wait)
    report = tmp_path / "report.json"
    junit = tmp_path / "report.xml"
    process = subprocess.Popen(
        wsctl_command(
            "listen",
            server.url,
            "--json",
            "--events",
            "--report",
            str(report),
            "--report",
            f"junit:{junit}",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["type"] == "open"
    assert json.loads(process.stdout.readline())["data"] == "ready"  # connected, reading
    stdout, stderr = _finish(process, signum)
    assert process.returncode == code
    assert stderr.decode() == f"wsctl: terminated ({name})\n"
    server.wait_closed()
    assert server.recorder.close_codes == [1001]
    # The NDJSON stream ends with who closed, and how.
    records = [json.loads(line) for line in stdout.splitlines()]
    assert records[-1] == {"type": "close", "by": "client", "code": 1001, "reason": "going away"}
    written = json.loads(report.read_text())
    assert written["exit_code"] == code
    assert written["error"]["kind"] == "CANCELED"
    assert written["error"]["message"] == f"terminated ({name})"
    assert f'name="exit_code" value="{code}"' in junit.read_text()


def test_send_terminated_with_stdin_open(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    """``send`` reading a stdin that never ends (a CI step that hangs): SIGTERM ends it."""
    server = make_server(echo)
    report = tmp_path / "send.json"
    process = subprocess.Popen(
        wsctl_command("send", server.url, "--report", str(report)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"hello\n")
    process.stdin.flush()
    assert process.stdout.readline() == b"hello\n"  # the echo came back: connected
    _stdout, stderr = _finish(process, signal.SIGTERM)
    process.stdin.close()
    assert process.returncode == 143
    assert stderr == b"wsctl: terminated (SIGTERM)\n"
    server.wait_closed()
    assert server.recorder.close_codes == [1001]
    written = json.loads(report.read_text())
    assert written["exit_code"] == 143
    assert written["messages"] == {"sent": 1, "received": 1}
    assert written["close"]["initiated_by"] == "client"


def test_ping_terminated(make_server: Callable[..., LoopbackServer], tmp_path: Path) -> None:
    server = make_server(greet_then_wait)
    report = tmp_path / "ping.json"
    process = subprocess.Popen(
        wsctl_command("ping", server.url, "--interval", "50ms", "--report", str(report)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    while b"seq=" not in process.stdout.readline():  # heading lines, then a first pong
        pass
    _stdout, stderr = _finish(process, signal.SIGTERM)
    assert process.returncode == 143
    assert stderr == b"wsctl: terminated (SIGTERM)\n"
    server.wait_closed()
    assert server.recorder.close_codes == [1001]
    assert json.loads(report.read_text())["exit_code"] == 143


def test_interactive_connect_terminated(make_server: Callable[..., LoopbackServer]) -> None:
    """The interactive session goes through the same runner: a closed terminal's SIGHUP."""
    import pexpect

    server = make_server(echo)
    argv = wsctl_command("connect", server.url)
    child = pexpect.spawn(argv[0], argv[1:], timeout=TIMEOUT, dimensions=(24, 100))
    try:
        child.expect_exact("Ctrl-D quits")
        child.expect_exact("> ")  # the prompt is up: the session is running
        child.kill(signal.SIGHUP)
        child.expect_exact("wsctl: terminated (SIGHUP)")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 129
    server.wait_closed()
    assert server.recorder.close_codes == [1001]


def test_terminated_does_not_wait_long_for_a_silent_server(
    stalled_server: LoopbackServer, tmp_path: Path
) -> None:
    # `timeout -k 2` and CI runners follow SIGTERM with SIGKILL: the wait for the server's
    # Close is cut short (with --close-timeout 1h this test would hit its timeout otherwise),
    # so the report still gets written.
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        wsctl_command(
            "listen", stalled_server.url, "-v", "--close-timeout", "1h", "--report", str(report)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    while b"connected to" not in (line := process.stderr.readline()):
        assert line, "wsctl ended before connecting"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == 143
    assert json.loads(report.read_text())["exit_code"] == 143
