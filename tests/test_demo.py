"""``wsctl demo`` without a terminal: the scripted tour, through wsctl's own connection core."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

import wsctl.core
from wsctl.cli import run as run_cli
from wsctl.commands.demo import TOUR_PRICES, TOUR_SYMBOLS

TIMEOUT = 20.0 * float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))


def test_demo_without_a_terminal_runs_the_tour_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsctl", "demo"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert result.stderr == ""
    assert re.search(r"local server at ws://127\.0\.0\.1:\d+/", out)
    # The echo, text and binary, each with its type.
    assert "  > hello from wsctl  (text)\n  < hello from wsctl  (text)\n" in out
    assert "  < 00 01 02 fe ff  (binary, 5 bytes)\n" in out
    # A ping with its round-trip time.
    assert re.search(r"ping: pong in \d+\.\d\d ms\n", out)
    # Chat between two clients.
    assert '< {"type":"message","user":"bob","text":"hi alice!"}' in out
    # Prices after subscribing: the acknowledgement, then only the subscribed symbols.
    assert '< {"type":"subscribed","symbols":["BTC-USD","SOL-USD"]}' in out
    prices = re.findall(r'< \{"symbol":"([A-Z-]+)","value":\d+(?:\.\d+)?\}', out)
    assert len(prices) == TOUR_PRICES
    assert set(prices) <= set(TOUR_SYMBOLS)


def test_the_tour_goes_through_the_connection_core(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    # A spy, not a stand-in: every call still opens a real connection through the core.
    urls: list[str] = []
    real_connect = wsctl.core.connect

    def spy(url: str, *args: Any, **kwargs: Any) -> Any:
        urls.append(url)
        return real_connect(url, *args, **kwargs)

    monkeypatch.setattr(wsctl.core, "connect", spy)
    assert run_cli(["demo"]) == 0
    paths = [re.sub(r"^ws://127\.0\.0\.1:\d+", "", url) for url in urls]
    assert paths == ["/echo", "/chat?name=alice", "/chat?name=bob", "/prices"]
    assert b"pong in" in capsysbinary.readouterr().out


def test_demo_stops_quietly_when_its_reader_goes_away() -> None:
    # `wsctl demo | head -1`
    process = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "demo"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"wsctl demo:")
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(TIMEOUT) == 0
    assert stderr == b""


def test_demo_on_a_terminal_prints_the_guide_and_opens_a_session_on_echo(tmp_path: Any) -> None:
    import pexpect  # type: ignore[import-untyped]

    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # the session's history stays in tmp_path
        "TERM": "xterm",
        "NO_COLOR": "1",
        # pexpect never answers prompt_toolkit's cursor-position request; don't wait for it.
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "wsctl", "demo"],
        env=env,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 120),
    )
    try:
        child.expect(r"a local server is running at ws://127\.0\.0\.1:\d+/")
        child.expect("Slash commands:")
        child.expect("/quit or Ctrl-D")
        # The interactive session (wsctl connect) announces the /echo URL it opened.
        child.expect(r"ws://127\.0\.0\.1:\d+/echo")
        child.send("hello demo\r")
        child.expect(r"<(?:\x1b\[[0-9;]*[A-Za-z]|\s)*hello demo")  # the echo, as received
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
