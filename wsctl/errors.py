"""One error tree for wsctl: every expected failure has a kind, a retryable flag and an exit code.

The kinds follow the module spec (``PERMISSION_DENIED``, ``INTERNAL``, ``INVALID``,
``TIMEOUT``, ``CANCELED``) plus ``CHECK_FAILED`` for exit 7; the exit codes follow the table
in README.md.  The CLI's single error boundary (``wsctl.cli.main``) turns any
:class:`WebSocketError` into its one-line message on stderr and its exit code.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, one table for every subcommand."""

    OK = 0
    INTERNAL = 1
    INVALID = 2
    DENIED = 3
    CONNECTION_FAILED = 4
    TIMEOUT = 5
    CLOSED_ABNORMALLY = 6
    CHECK_FAILED = 7
    HUNG_UP = 129
    INTERRUPTED = 130
    TERMINATED = 143


class Kind(enum.StrEnum):
    """Error kinds of the module spec (plus INVALID for bad input)."""

    INVALID = "INVALID"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"
    TIMEOUT = "TIMEOUT"
    CANCELED = "CANCELED"
    CHECK_FAILED = "CHECK_FAILED"


class WebSocketError(Exception):
    """Base of every error wsctl raises on purpose.

    ``str(error)`` is a one-line message saying what happened and, where it helps, what to do.
    """

    kind: Kind = Kind.INTERNAL
    retryable: bool = False
    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class InvalidInput(WebSocketError):
    """A bad option, URL, file or policy: rejected before any network I/O (exit 2)."""

    kind = Kind.INVALID
    exit_code = ExitCode.INVALID


class PermissionDenied(WebSocketError):
    """The security policy denied the connection (exit 3)."""

    kind = Kind.PERMISSION_DENIED
    exit_code = ExitCode.DENIED


class ConnectionFailed(WebSocketError):
    """DNS, TCP, TLS or the upgrade failed (exit 4).

    Retryable by default; certificate failures and 4xx rejections other than 408/429 are not.
    ``status`` is the HTTP status when the server answered the upgrade with one.
    """

    kind = Kind.INTERNAL
    retryable = True
    exit_code = ExitCode.CONNECTION_FAILED

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.body = body


class Timeout(WebSocketError):
    """A dial, read, write or expectation deadline passed (exit 5)."""

    kind = Kind.TIMEOUT
    retryable = True
    exit_code = ExitCode.TIMEOUT


#: Close codes after which trying again may well succeed.
RETRYABLE_CLOSE_CODES = frozenset({1006, 1011, 1012, 1013})


class ConnectionClosedAbnormally(WebSocketError):
    """The connection ended with 1006 or a close code other than 1000/1001 (exit 6)."""

    kind = Kind.INTERNAL
    exit_code = ExitCode.CLOSED_ABNORMALLY

    def __init__(self, message: str, *, code: int, reason: str = "") -> None:
        super().__init__(message, retryable=code in RETRYABLE_CLOSE_CODES)
        self.code = code
        self.reason = reason


class CheckFailed(WebSocketError):
    """An expectation was not met or pings were lost (exit 7)."""

    kind = Kind.CHECK_FAILED
    exit_code = ExitCode.CHECK_FAILED


class Interrupted(WebSocketError):
    """The user interrupted the run (Ctrl-C, exit 130)."""

    kind = Kind.CANCELED
    exit_code = ExitCode.INTERRUPTED


class Terminated(WebSocketError):
    """SIGTERM or SIGHUP ended the run (exit 143 / 129), after Close 1001 and the reports."""

    kind = Kind.CANCELED

    def __init__(self, signum: int) -> None:
        import signal

        self.signal = signal.Signals(signum)
        super().__init__(f"terminated ({self.signal.name})")
        self.exit_code = ExitCode.TERMINATED if self.signal.name == "SIGTERM" else ExitCode.HUNG_UP


class OutputClosed(Exception):
    """stdout was closed by its reader (``| head -1``): stop quietly, exit 0."""
