"""``--exec CMD`` edge cases found in review: what CMD prints that cannot be sent."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from conftest import TIMEOUT, LoopbackServer, record_only, wsctl_command

#: Prints a good line and a line that is not UTF-8, then exits at once (printf is quick to).
BAD_BYTES = r"printf 'ok\n\377\376\n'"


def test_a_line_that_is_not_utf8_is_one_line_of_error_and_exit_2(
    make_server: Callable[..., LoopbackServer],
) -> None:
    """CMD has usually exited when wsctl stops it: stopping it must not reap it behind asyncio's
    child watcher, which would print "Unknown child process pid N" (a race: several runs)."""
    server = make_server(record_only)
    for _ in range(8):
        result = subprocess.run(
            wsctl_command("connect", server.url, "--exec", BAD_BYTES),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 2
        assert result.stderr == (
            "wsctl: error: --exec: line 2 printed by the command is not valid UTF-8 "
            "(text messages must be)\n"
        )
