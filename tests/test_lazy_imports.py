"""``wsctl send``, ``listen`` and ``ping`` start fast: they never import prompt_toolkit or rich.

Each case runs a real command in a fresh interpreter against a loopback server, then reports
which of those packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import TIMEOUT, LoopbackServer

# Runs ``wsctl ARGS`` through the real entry point, then prints the exit code and the modules
# of the interactive mode that were imported, as JSON on stderr (stdout carries messages).
DRIVER = """
import json, sys
from wsctl.cli import run
code = run(sys.argv[1:])
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("prompt_toolkit", "rich", "wsctl")
    and (name.startswith(("prompt_toolkit", "rich")) or name.startswith("wsctl.interactive"))
)
sys.stderr.write("\\n" + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


def run_driver(*args: str) -> dict[str, object]:
    process = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        input=b"",
        capture_output=True,
        timeout=TIMEOUT,
    )
    report: dict[str, object] = json.loads(process.stderr.decode().strip().splitlines()[-1])
    return report


@pytest.mark.parametrize(
    "args",
    [
        ["send", "{url}", "hello", "--wait", "1"],
        ["listen", "{url}", "--send", "hello", "-n", "1"],
        ["ping", "{url}"],
    ],
    ids=["send", "listen", "ping"],
)
def test_pipeline_commands_do_not_import_the_interactive_mode(
    echo_server: LoopbackServer, args: list[str]
) -> None:
    report = run_driver(*(arg.format(url=echo_server.url) for arg in args))
    assert report["code"] == 0, report
    assert report["loaded"] == []


def test_help_loads_every_command_without_the_interactive_mode() -> None:
    # The group lists every subcommand for --help, importing each command module: connect's
    # module itself must leave prompt_toolkit and rich alone until a session starts.
    report = run_driver("--help")
    assert report["code"] == 0, report
    assert report["loaded"] == []


def test_connect_in_a_pipe_does_not_import_the_interactive_mode(
    echo_server: LoopbackServer,
) -> None:
    report = run_driver("connect", echo_server.url, "-x", "hello", "--wait", "1")
    assert report["code"] == 0, report
    assert report["loaded"] == []
