"""The process's standard streams, captured once so that commands never reach for ``sys``.

Modelled on HTTPie's ``Environment``: tests (and click's ``CliRunner``) swap the streams, and
every decision that depends on a terminal (colours, hex dumps, escaping) reads it from here.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, NamedTuple


class Environment(NamedTuple):
    """Where input comes from and output goes, and whether they are terminals.

    A named tuple (``env._replace(stdout=...)`` for a variant): every run builds one, and a
    frozen dataclass costs a millisecond of start-up to define.
    """

    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    no_color: bool

    @classmethod
    def from_process(cls) -> Environment:
        """Capture the current ``sys.std*`` streams (as click's test runner may have set them)."""
        return cls(
            stdin=_binary(sys.stdin),
            stdout=_binary(sys.stdout),
            stderr=_binary(sys.stderr),
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
            no_color="NO_COLOR" in os.environ and os.environ["NO_COLOR"] != "",
        )

    @property
    def interactive(self) -> bool:
        """True when both stdin and stdout are terminals (a person is at the keyboard)."""
        return self.stdin_isatty and self.stdout_isatty


def _binary(stream: object) -> BinaryIO:
    buffer = getattr(stream, "buffer", None)
    return buffer if buffer is not None else stream  # type: ignore[return-value]


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
