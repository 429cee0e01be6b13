"""``wsctl send`` starts without modules it does not use: measured in a fresh interpreter.

``importlib.metadata`` (imported, never used, by ``websockets.version``) stays a stand-in, and
the policy engine is not imported while no policy file exists, nor the expectations
without ``--expect`` options, nor ``json`` without ``--json``.  Both are a real share of a
one-shot's start-up (see bench/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TIMEOUT, LoopbackServer

# Runs ``wsctl ARGS`` through the real entry point, then reports on stderr (as JSON) the exit
# code and whether the modules in question were loaded.
DRIVER = """
import sys
from wsctl.cli import run
code = run(sys.argv[1:])
metadata = sys.modules.get("importlib.metadata")
report = {
    "code": code,
    "metadata": type(metadata).__name__ if metadata is not None else None,
    "zipfile": "zipfile" in sys.modules,
    "urllib.request": type(sys.modules.get("urllib.request")).__name__,
    "http.client": "http.client" in sys.modules,
    "policy": "wsctl.policy" in sys.modules,
    "expectations": "wsctl.expectations" in sys.modules,
    "json": "json" in sys.modules,
}
import json  # only now: the report above is about the run
sys.stderr.write("\\n" + json.dumps(report) + "\\n")
"""


def run_driver(*args: str) -> dict[str, object]:
    process = subprocess.run(
        [sys.executable, "-c", DRIVER, *args], input=b"", capture_output=True, timeout=TIMEOUT
    )
    report: dict[str, object] = json.loads(process.stderr.decode().strip().splitlines()[-1])
    return report


def test_send_leaves_metadata_the_policy_engine_and_expectations_unloaded(
    echo_server: LoopbackServer,
) -> None:
    report = run_driver("send", echo_server.url, "hello", "--wait", "1")
    assert report == {
        "code": 0,
        "metadata": "_Deferred",
        "zipfile": False,
        "urllib.request": "_Deferred",
        "http.client": False,
        "policy": False,
        "expectations": False,
        "json": False,
    }


def test_a_policy_file_is_still_loaded_and_enforced(
    echo_server: LoopbackServer, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = 1\n[[rule]]\nname = "none"\nactions = "websocket.connect"\neffect = "deny"\n'
    )
    report = run_driver("send", echo_server.url, "hello", "--policy", str(policy))
    assert report["code"] == 3
    assert report["policy"] is True
    assert echo_server.recorder.connections == 0


@pytest.mark.parametrize(
    "use",
    [
        "import importlib.metadata\nprint(importlib.metadata.version('click'))",
        "from importlib.metadata import version\nprint(version('click'))",
        "import importlib.metadata._meta\n"
        "import importlib.metadata as m\nprint(m.version('click'))",
        "import urllib.request\nurllib.request.getproxies()\n"
        "import importlib.metadata as m\nprint(m.version('click'))",
    ],
    ids=["attribute", "from-import", "submodule", "urllib-request"],
)
def test_a_deferred_module_loads_for_real_on_first_use(use: str) -> None:
    code = (
        "import sys\n"
        "from wsctl.startup import defer_unused_imports\n"
        "defer_unused_imports()\n"
        + use
        + "\nprint(type(sys.modules['importlib.metadata']).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    ).stdout.split()
    from importlib.metadata import version

    assert out == [version("click"), "module"]
