"""``wsctl run`` under stress: signals mid-step, a catastrophic regex, odd files.

Regression tests from the review of issue 13, against real loopback servers.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder, echo, invoke, wsctl_command
from websockets.asyncio.server import ServerConnection

MakeServer = Callable[..., LoopbackServer]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


async def greet_then_wait(connection: ServerConnection, recorder: Recorder) -> None:
    await connection.send("ready")
    async for message in connection:
        recorder.messages.append(message)


@pytest.mark.parametrize(
    ("signum", "code", "close_code"), [(signal.SIGINT, 130, 1000), (signal.SIGTERM, 143, 1001)]
)
def test_a_signal_during_a_step_closes_and_reports_the_step_interrupted(
    make_server: MakeServer, tmp_path: Path, signum: int, code: int, close_code: int
) -> None:
    server = make_server(greet_then_wait)
    conversation = tmp_path / "wait.toml"
    conversation.write_text(
        f'url = "{server.url}"\n[[step]]\nsend = "hi"\n[[step]]\nexpect = "never"\n'
        'timeout = "1m"\n[[step]]\nsend = "not sent"\n'
    )
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        wsctl_command("run", str(conversation), "--report", str(report)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    # Step 2 passed over "ready" and printed it: it is waiting now.
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(signum)
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == code
    server.wait_closed()
    assert server.recorder.close_codes == [close_code]
    assert server.recorder.messages == ["hi"]
    written = json.loads(report.read_text())
    assert written["exit_code"] == code
    assert [s["status"] for s in written["steps"]] == ["passed", "failed", "skipped"]
    assert written["steps"][1]["message"] == "interrupted"
    assert written["steps"][1]["duration_ms"] is not None


def test_a_catastrophic_regex_fails_its_step_at_the_deadline(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """``(a+)+$`` against ``a…ab`` backtracks for ages inside ``re``, where no asyncio timeout
    fires: the step's deadline still ends it, exit 7, naming the step."""
    server = make_server(echo)
    conversation = tmp_path / "redos.toml"
    conversation.write_text(
        f'url = "{server.url}"\n[[step]]\nsend = "{"a" * 60}b"\n'
        "[[step]]\nexpect = '(a+)+$'\ntimeout = \"200ms\"\n"
    )
    result = invoke(["run", str(conversation)])
    assert result.exit_code == 7, result.stderr
    assert "redos.toml:4: step 2 (expect '(a+)+$'): not met within 200ms" in result.stderr
    assert "backtracks catastrophically" in result.stderr


def test_a_utf8_bom_is_accepted_and_the_plan_reads_like_the_file(tmp_path: Path) -> None:
    conversation = tmp_path / "bom.toml"
    conversation.write_bytes(
        b"\xef\xbb\xbfurl = \"ws://127.0.0.1:9/\"\n[[step]]\nexpect = '^0\\{'\n"
        b"[[reply]]\nmatch = '^2$'\nsend = '3'\n"
    )
    result = invoke(["run", "--dry-run", str(conversation)])
    assert result.exit_code == 0, result.stderr
    assert result.lines[0].endswith("bom.toml: 1 step, 1 reply, connecting to ws://127.0.0.1:9/")
    # The regex as written in the file, not with doubled backslashes.
    assert result.lines[1].endswith("bom.toml:2  expect '^0\\{' (timeout 10s)")


def test_a_catastrophic_reply_regex_is_one_line_and_exit_2_not_a_hang(
    make_server: MakeServer,
) -> None:
    server = make_server(echo)
    result = invoke(["listen", server.url, "--send", "a" * 60 + "b", "--reply", "(a+)+$=>x"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "wsctl: error: reply '(a+)+$=>x': matching a 61-byte message took over 2s "
        "(a regex that backtracks catastrophically?)\n"
    )
    server.wait_closed()
    assert server.recorder.messages == ["a" * 60 + "b"]  # and no answer


def test_messages_held_for_a_later_step_are_printed_when_the_run_is_interrupted(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """A message that arrives during a ``sleep`` waits in the inbox for the next ``expect``;
    Ctrl-C then must print it, not drop it."""
    answered = threading.Event()

    async def hold_then_ping(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)
            if message == "go":
                await connection.send("held")
                await connection.send("ping")  # the reply rule answers after queueing "held"
            elif message == "pong":
                answered.set()

    server = make_server(hold_then_ping)
    conversation = tmp_path / "held.toml"
    conversation.write_text(
        f"url = \"{server.url}\"\n[[reply]]\nmatch = '^ping$'\nsend = 'pong'\n"
        '[[step]]\nsend = "go"\n[[step]]\nsleep = "1m"\n[[step]]\nexpect = "held"\n'
    )
    process = subprocess.Popen(
        wsctl_command("run", str(conversation)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert answered.wait(TIMEOUT)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130
    assert stdout == b"held\n"


#: Nested deeper than Python's json can parse (RecursionError, not ValueError).
DEEP = "[" * 100_000 + "]" * 100_000


def test_json_nested_too_deep_is_a_message_that_does_not_match(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """A hostile server's deeply nested JSON meets neither an expect-json step nor a json:
    reply: the step times out (exit 7), not an internal error."""
    server = make_server(echo)
    conversation = tmp_path / "deep.toml"
    conversation.write_text(
        f"url = \"{server.url}\"\n[[reply]]\nmatch = 'json:a=1'\nsend = 'x'\n"
        f"[[step]]\nsend = '{DEEP}'\n[[step]]\nexpect-json = {{ a = 1 }}\ntimeout = \"200ms\"\n"
    )
    result = invoke(["run", str(conversation)])
    assert result.exit_code == 7, result.stderr
    assert "deep.toml:7: step 2 (expect-json a=1): not met within 200ms" in result.stderr


def test_send_expect_json_against_json_nested_too_deep_is_exit_7(
    make_server: MakeServer,
) -> None:
    server = make_server(echo)
    result = invoke(["send", server.url, "--expect-json", "a=1", "--wait-time", "200ms"], DEEP)
    assert result.exit_code == 7, result.stderr
    assert "internal error" not in result.stderr


def test_lines_are_found_across_interleaved_tables(tmp_path: Path) -> None:
    """The source map indexes headers once (a 20,000-step file took 22s, quadratic); the
    line of a key in step N is still found past [[reply]] tables between the steps."""
    text = (
        'url = "ws://127.0.0.1:9/"\n'  # 1
        "[[step]]\n"  # 2
        'send = "a"\n'  # 3
        "[[reply]]\n"  # 4
        "match = 'x'\n"  # 5
        "send = 'y'\n"  # 6
        "[[step]]\n"  # 7
        'send = "b"\n'  # 8
        "[[step]]\n"  # 9
        'expect = "c"\n'  # 10
        'timeout = "soon"\n'  # 11
    )
    conversation = tmp_path / "mixed.toml"
    conversation.write_text(text)
    result = invoke(["run", "--dry-run", str(conversation)])
    assert result.exit_code == 2
    assert "mixed.toml:11: step 3: timeout: invalid timeout" in result.stderr


def test_a_catastrophic_expect_regex_on_send_is_exit_2_not_a_hang(
    make_server: MakeServer,
) -> None:
    server = make_server(echo)
    result = invoke(["send", server.url, "--expect", "(a+)+$"], "a" * 60 + "b")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.endswith(
        "wsctl: error: --expect '(a+)+$': matching a 61-character message took over 2s "
        "(a regex that backtracks catastrophically?)\n"
    )


def test_readme_exec_example_runs_against_wsctl_serve(tmp_path: Path) -> None:
    """README's ``--exec`` example (add.py against ``/jsonrpc``), as written but for the port."""
    import asyncio

    from wsctl.server import EmbeddedServer

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("$ cat add.py\n", 1)[1].split("```", 1)[0]
    script, command_and_output = example.split("$ wsctl ", 1)
    command, *expected = command_and_output.strip().splitlines()
    assert command == "connect ws://127.0.0.1:8765/jsonrpc --exec 'python3 add.py'"
    (tmp_path / "add.py").write_text(script)

    async def body() -> subprocess.CompletedProcess[str]:
        async with EmbeddedServer(port=0) as server:
            process = await asyncio.create_subprocess_exec(
                *wsctl_command(
                    "connect", server.url("/jsonrpc"), "--exec", f"{sys.executable} add.py"
                ),
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode is not None
            return subprocess.CompletedProcess(
                [], process.returncode, stdout.decode(), stderr.decode()
            )

    result = asyncio.run(body())
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == expected  # what add.py prints on its stderr


def test_the_regex_deadline_gives_the_real_time_timer_back() -> None:
    """pytest-timeout (and anyone else) arms ITIMER_REAL: a guarded search must not disarm it."""
    from wsctl.regex_deadline import regex_deadline

    fired = threading.Event()

    def handler(signum: int, frame: object) -> None:
        fired.set()

    saved_handler = signal.signal(signal.SIGALRM, handler)
    saved_timer = signal.setitimer(signal.ITIMER_REAL, 30)  # pytest-timeout's, if any
    try:
        with regex_deadline(5):
            assert re.search("b", "ab")
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < left <= 30
        assert signal.getsignal(signal.SIGALRM) is handler and not fired.is_set()
    finally:
        signal.signal(signal.SIGALRM, saved_handler)
        signal.setitimer(signal.ITIMER_REAL, *saved_timer)
