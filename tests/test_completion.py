"""Shell completions: the committed scripts match ``wsctl completion``, and they really complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wsctl.cli import run as run_cli
from wsctl.commands.completion import FILENAMES, completion_script

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
TIMEOUT = 20.0 * float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))


@pytest.mark.parametrize("shell", sorted(FILENAMES))
def test_committed_script_matches_wsctl_completion(
    shell: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert run_cli(["completion", shell]) == 0
    printed = capsysbinary.readouterr().out
    committed = (COMPLETIONS / FILENAMES[shell]).read_bytes()
    assert printed == committed, (
        f"completions/{FILENAMES[shell]} is stale: run `python completions/generate.py`"
    )
    assert printed.decode() == completion_script(shell)
    assert b"_WSCTL_COMPLETE" in printed


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["completion", "tcsh"]) == 2
    assert "tcsh" in capsys.readouterr().err


def complete(shell: str, words: str, cword: int) -> list[str]:
    """Ask ``python -m wsctl`` for completions the way the shell scripts do."""
    env = {
        **os.environ,
        "_WSCTL_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    result = subprocess.run(
        [sys.executable, "-m", "wsctl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return result.stdout.splitlines()


def test_subcommands_and_option_values_complete() -> None:
    assert {"plain,serve", "plain,send"} <= set(complete("bash", "wsctl se", 1))
    assert complete("bash", "wsctl serve --compression ", 3) == [
        "plain,disabled",
        "plain,context-takeover",
        "plain,no-context",
    ]
    assert "plain,going-away" in complete("bash", "wsctl send --close-code go", 3)


def test_the_committed_bash_script_completes_in_bash() -> None:
    # The real script in a real bash, calling the installed `wsctl` back.
    script = COMPLETIONS / "wsctl.bash"
    program = (
        f"source {script}\n"
        "COMP_WORDS=(wsctl serve --compression no)\n"
        "COMP_CWORD=3\n"
        "_wsctl_completion wsctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    assert shutil.which("wsctl", path=env["PATH"]) is not None, "pip install -e . first"
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert result.stdout.split() == ["no-context"]
