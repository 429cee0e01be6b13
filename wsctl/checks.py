"""CI checks on ``send`` and ``listen``: ``--expect``, ``--expect-json``, ``--expect-close``,
``--timeout`` and ``--report``, shared by both commands.

``@check_options`` parses the options (bad ones exit 2 before anything is sent) and hands the
command one :class:`Checks`.  While a session runs, a :class:`Checker` is fed the received
messages and the close, ends the run as soon as every expectation is met, and turns an unmet
one into a :class:`~wsctl.errors.CheckFailed` (exit 7) naming it, after showing the last
messages received.  Without expectations none of this is on the per-message path.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from wsctl.core import Client, Message
from wsctl.durations import format_duration
from wsctl.environment import Environment
from wsctl.errors import CheckFailed, ConnectionClosedAbnormally, ExitCode, InvalidInput
from wsctl.options import DURATION
from wsctl.output import MessageWriter, StatusWriter
from wsctl.report import ReportTarget, RunRecord, parse_report_target, recording
from wsctl.session import Receiver, close_quietly, run
from wsctl.settings import close_code_name

if TYPE_CHECKING:
    from wsctl.expectations import Expectation, Matcher

F = TypeVar("F", bound=Callable[..., Any])

#: Deadline for the expectations when --timeout is not given: a CI check must never hang.
DEFAULT_TIMEOUT = 10.0

#: Longest preview of one message in a failure explanation.
PREVIEW_CHARS = 200


# -- options -------------------------------------------------------------------------------


def _expectation_parser(name: str) -> Callable[[str], Any]:
    """A parser of :mod:`wsctl.expectations`, imported when first used: a run without
    --expect options (most) never pays for that module."""

    def parse(text: str) -> Any:
        from wsctl import expectations

        return getattr(expectations, name)(text)

    return parse


class _ParserType(click.ParamType):  # type: ignore[type-arg]
    """A ParamType over one of the pure parsers: InvalidInput becomes a usage error (exit 2)."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


REGEX = _ParserType("regex", _expectation_parser("parse_regex"))
JSON_CONDITION = _ParserType("path=value", _expectation_parser("parse_json_expectation"))
CLOSE_EXPECTATION = _ParserType("code", _expectation_parser("parse_close_expectation"))
REPORT = _ParserType("[junit:]file", parse_report_target)


class Checks(NamedTuple):
    """What the check options asked for, validated."""

    expectations: tuple[Expectation, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    reports: tuple[ReportTarget, ...] = ()

    def checker(self, status: StatusWriter) -> Checker | None:
        """A fresh :class:`Checker` for one run; ``None`` when nothing is expected."""
        if not self.expectations:
            return None
        from wsctl.expectations import Matcher

        return Checker(Matcher(self.expectations), self.timeout, status)

    def run(self, env: Environment, record: RunRecord, session: Coroutine[Any, Any, int]) -> int:
        """Run ``session`` (see :func:`wsctl.session.run`) and write the reports however it
        ends; returns the exit code or re-raises the session's error."""
        with recording(record, self.reports, warn=StatusWriter(env).warning):
            record.exit_code = run(session)
            return record.exit_code


_CHECK_PARAMS = ("expect", "expect_json", "expect_close", "check_timeout", "reports")

_CHECK_OPTIONS = [
    click.option(
        "--expect",
        type=REGEX,
        multiple=True,
        help="Succeed once a received message matches REGEX (repeatable: in order, each met "
        "by the message that met the one before or a later one). Unmet by --timeout: exit 7.",
    ),
    click.option(
        "--expect-json",
        type=JSON_CONDITION,
        multiple=True,
        help="Succeed once a JSON message has VALUE at PATH, e.g. type=pong, "
        "data.items[0].id=7, 'items[*].name=\"a\"' (VALUE is JSON, else a string; "
        "repeatable, in order).",
    ),
    click.option(
        "--expect-close",
        type=CLOSE_EXPECTATION,
        help="Succeed when the server closes with CODE (number or name, e.g. 1000, normal).",
    ),
    click.option(
        "--timeout",
        "check_timeout",
        type=DURATION,
        help=f"Deadline for the expectations, from when the connection opens "
        f"[default: {format_duration(DEFAULT_TIMEOUT)}].",
    ),
    click.option(
        "--report",
        "reports",
        type=REPORT,
        multiple=True,
        metavar="[junit:]FILE",
        help="Write a JSON summary of the run to FILE (junit:FILE: JUnit XML), even when it "
        "fails (repeatable).",
    ),
]


def check_options(function: F) -> F:
    """Add the check options; the command receives ``checks: Checks``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _CHECK_PARAMS}
        expectations: list[Expectation] = [*values["expect"], *values["expect_json"]]
        if values["expect_close"] is not None:
            expectations.append(values["expect_close"])
        timeout = values["check_timeout"]
        if timeout is not None and not expectations:
            raise click.UsageError(
                "--timeout is the deadline for --expect, --expect-json or --expect-close; "
                "give one of them (or use --read-timeout)"
            )
        if timeout == 0:
            raise click.UsageError("--timeout must be longer than 0")
        kwargs["checks"] = Checks(
            expectations=tuple(expectations),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            reports=tuple(values["reports"]),
        )
        return function(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_CHECK_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


# -- while the session runs ----------------------------------------------------------------


def preview(data: str | bytes) -> str:
    """One received message, shortened for an explanation on stderr."""
    if isinstance(data, bytes):
        head = base64.b64encode(data[:48]).decode("ascii")
        more = "…" if len(data) > 48 else ""
        return f"<binary, {len(data)} bytes> {head}{more}"
    text = data.replace("\n", "\\n")
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


class Checker:
    """Feeds a :class:`Matcher` from a session and decides how the session ends."""

    def __init__(self, matcher: Matcher, timeout: float, status: StatusWriter) -> None:
        self.matcher = matcher
        self.timeout = timeout
        self.status = status
        self.met = asyncio.Event()

    def feed(self, message: Message) -> None:
        """Take one received message into account."""
        if self.matcher.feed(message.data):
            self.met.set()

    def closed(
        self, code: int | None, reason: str, error: ConnectionClosedAbnormally | None = None
    ) -> int:
        """The server ended the connection: exit 0 if that met everything, else raise.

        An abnormal closure stays an abnormal closure (exit 6, retryable as its code says)
        unless an ``--expect-close`` makes the close code part of the check.
        """
        if self.matcher.close(code, reason):
            return ExitCode.OK
        unmet = self.matcher.describe_unmet()
        if error is not None and not self.matcher.expects_close:
            self._show_recent()
            raise ConnectionClosedAbnormally(
                f"{error.message}; not met: {unmet}", code=error.code, reason=error.reason
            )
        shown = f"{code} ({close_code_name(code)})" if code is not None else "no close code"
        because = f": {reason}" if reason else ""
        raise self.failure(f"the server closed the connection ({shown}{because}) before: {unmet}")

    def timed_out(self) -> CheckFailed:
        """The error for a --timeout that passed with expectations unmet."""
        return self.failure(
            f"not met within {format_duration(self.timeout)} (--timeout): "
            f"{self.matcher.describe_unmet()}"
        )

    def stopped(self, why: str) -> CheckFailed:
        """The error for a run that ended on its own rule (``--count``, ``--wait``) unmet."""
        return self.failure(f"{why}, before: {self.matcher.describe_unmet()}")

    def failure(self, message: str) -> CheckFailed:
        """Show the last messages received on stderr; return the CheckFailed to raise."""
        self._show_recent()
        return CheckFailed(message)

    def _show_recent(self) -> None:
        recent = self.matcher.recent
        if not recent:
            self.status.info("no message was received")
            return
        total = self.matcher.received
        heading = "the last message received" if len(recent) == 1 else "the last messages"
        self.status.info(f"{heading} ({len(recent)} of {total}):")
        for data in recent:
            self.status.info(f"  {preview(data)}")


class CheckedWriter(MessageWriter):
    """A MessageWriter that also feeds each message to a Checker (only used with checks)."""

    def __init__(self, env: Environment, checker: Checker, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.checker = checker

    def message(self, message: Message) -> None:
        """Render the message, then check it: the message that meets a check is printed."""
        super().message(message)
        self.checker.feed(message)


def make_writer(env: Environment, checker: Checker | None, **kwargs: Any) -> MessageWriter:
    """The plain MessageWriter without checks (the hot path stays as it is), else a checked one."""
    if checker is None:
        return MessageWriter(env, **kwargs)
    return CheckedWriter(env, checker, **kwargs)


def _closed_verdict(client: Client, checker: Checker, task: asyncio.Task[Any]) -> int:
    """The reader ended: the server closed (or the connection failed)."""
    error = task.exception()
    if isinstance(error, ConnectionClosedAbnormally):
        return checker.closed(error.code, error.reason, error)
    if error is not None:
        raise error
    return checker.closed(client.close_code, client.close_reason)


async def receive_until_met(
    client: Client,
    writer: MessageWriter,
    checker: Checker,
    *,
    limit: int | None = None,
) -> int:
    """``listen`` with expectations: print messages until all are met (close 1000, exit 0),
    the deadline passes, ``limit`` messages arrived, or the server closes."""
    received = 0
    stop_reason = ""
    try:
        async with asyncio.timeout(checker.timeout) as deadline:
            while (message := await client.recv()) is not None:
                writer.message(message)
                received += 1
                if checker.met.is_set():
                    break
                if received == limit:
                    stop_reason = f"stopped after {limit} messages (--count)"
                    break
    except TimeoutError:
        if not deadline.expired():
            raise
        writer.flush()
        await close_quietly(client)
        raise checker.timed_out() from None
    except ConnectionClosedAbnormally as exc:
        writer.flush()
        return checker.closed(exc.code, exc.reason, exc)
    writer.flush()
    if checker.met.is_set() or stop_reason:
        await client.close()
        if stop_reason:
            raise checker.stopped(stop_reason)
        checker.status.detail("every expectation was met; closed with 1000")
        return ExitCode.OK
    return checker.closed(client.close_code, client.close_reason)


async def send_until_met(
    client: Client,
    receiver: Receiver,
    checker: Checker,
    sending: Coroutine[Any, Any, None],
    *,
    replies: int | None,
    idle: float | None,
    close_code: int,
    close_reason: str,
) -> int:
    """``send`` with expectations: send, then wait for the replies to meet them.

    Ends as soon as every expectation is met — even while messages are still being sent — by
    closing with ``close_code``.  ``replies``/``idle`` (``--wait``/``--wait-time`` given
    explicitly) end the wait early; without them only the deadline or the server's close do.
    """
    send_task = asyncio.ensure_future(sending)
    met_task = asyncio.ensure_future(checker.met.wait())
    waiting: asyncio.Future[None] | None = None
    try:
        async with asyncio.timeout(checker.timeout) as deadline:
            await asyncio.wait(
                {send_task, met_task, receiver.task}, return_when=asyncio.FIRST_COMPLETED
            )
            if send_task.done() and not met_task.done() and not receiver.task.done():
                send_task.result()  # a failed send is the run's error
                if replies is not None or idle is not None:
                    waiting = asyncio.ensure_future(
                        receiver.wait(
                            replies=replies, idle=checker.timeout if idle is None else idle
                        )
                    )
                    await asyncio.wait({waiting, met_task}, return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.wait(
                        {met_task, receiver.task}, return_when=asyncio.FIRST_COMPLETED
                    )
    except TimeoutError:
        if not deadline.expired():
            raise
        send_task.cancel()
        await close_quietly(client, close_code, close_reason)
        receiver.discard()
        receiver.writer.flush()
        raise checker.timed_out() from None
    finally:
        met_task.cancel()
        if waiting is not None:
            waiting.cancel()
        if not send_task.done():
            send_task.cancel()
        elif not send_task.cancelled():
            send_task.exception()  # seen: once the run is decided, a late send error is moot
    if checker.met.is_set():
        await client.close(close_code, close_reason)
        await receiver.stop()
        checker.status.detail(f"every expectation was met; closed with {close_code}")
        return ExitCode.OK
    if receiver.task.done():
        receiver.writer.flush()
        return _closed_verdict(client, checker, receiver.task)
    await client.close(close_code, close_reason)
    await receiver.stop()
    if replies is not None and receiver.count >= replies:
        raise checker.stopped(f"stopped after {replies} replies (--wait)")
    raise checker.stopped(f"no message for {format_duration(idle or 0)} (--wait-time)")
