"""The asynchronous body of ``wsctl run``: connect, play the steps in order, close.

One reader task takes every message off the connection: messages a reply rule answers are
answered there and then (protocol noise, shown with ``-v``); all others go to an inbox that
the ``expect`` steps read in order.  A message an ``expect`` step passes over is printed on
stdout, and whatever is left in the inbox when the conversation ends is printed too, so no
message is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from wsctl.checks import preview
from wsctl.conversation import Conversation, Step
from wsctl.core import Client, Message, connect
from wsctl.diagnostics import connected_lines
from wsctl.durations import format_duration
from wsctl.environment import Environment
from wsctl.errors import (
    CheckFailed,
    ConnectionClosedAbnormally,
    ExitCode,
    Timeout,
    WebSocketError,
)
from wsctl.expectations import RECENT_MESSAGES
from wsctl.output import MessageWriter, StatusWriter
from wsctl.regex_deadline import RegexTooSlow, regex_deadline
from wsctl.replies import Replier
from wsctl.reply_session import show_reply
from wsctl.report import RunRecord
from wsctl.session import close_quietly
from wsctl.settings import BINARY, TEXT, ConnectOptions, close_code_name


class StepFailed(Exception):
    """A step was not met: why, in words (the caller adds which step)."""


class Runner:
    """Plays the steps of ``conversation`` on an open ``client``."""

    def __init__(
        self,
        client: Client,
        conversation: Conversation,
        *,
        writer: MessageWriter,
        status: StatusWriter,
        replier: Replier,
        environ: Mapping[str, str],
        record: RunRecord,
        quiet: bool,
    ) -> None:
        self.client = client
        self.conversation = conversation
        self.writer = writer
        self.status = status
        self.replier = replier
        self.environ = environ
        self.record = record
        self.quiet = quiet
        self.captures: dict[str, Any] = {}
        self.received = 0
        self.recent: deque[str | bytes] = deque(maxlen=RECENT_MESSAGES)
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._ended = False
        self.reader = asyncio.create_task(self._read(), name="wsctl-run-reader")

    # -- receiving -------------------------------------------------------------------------

    async def _read(self) -> None:
        client, replier, inbox = self.client, self.replier, self._inbox
        try:
            while (message := await client.recv()) is not None:
                self.received += 1
                self.recent.append(message.data)
                answer = replier.respond(message.data) if replier else None
                if answer is None:
                    inbox.put_nowait(message)
                    continue
                show_reply(self.status, message.data, answer)
                # A send that fails means the connection is ending: recv() says how.
                with contextlib.suppress(WebSocketError):
                    await client.send(answer, TEXT)
                    self.record.sent += 1
        finally:
            inbox.put_nowait(None)

    async def next_message(self) -> Message | None:
        """The next message no reply took; ``None`` once the connection has ended."""
        if self._ended:
            return None
        message = await self._inbox.get()
        if message is None:
            self._ended = True
        return message

    def show(self, message: Message) -> None:
        """Print a message that no step took (``--quiet``: keep it to ourselves)."""
        if not self.quiet:
            self.writer.message(message)

    def show_received(self) -> None:
        """Print the messages received and not yet taken, without waiting for more."""
        while not self._inbox.empty():
            message = self._inbox.get_nowait()
            if message is not None:
                self.show(message)
        self.writer.flush()

    async def drain(self, *, strict: bool = False) -> None:
        """After the close: print what is left, then wait for the reader to end.

        ``strict``: an abnormal close the server made (after the last step) is the run's
        error; otherwise how the reader ended no longer matters (a step already failed).
        """
        while (message := await self.next_message()) is not None:
            self.show(message)
        self.writer.flush()
        try:
            await self.reader
        except WebSocketError:
            if strict and not self.client.closed_by_us:
                raise

    def _closed_error(self, step: Step) -> BaseException:
        """The connection ended while ``step`` waited: say how, naming the step."""
        error = self.reader.exception() if self.reader.done() else None
        where = f"{self.conversation.where(step)}: step {step.number} ({step.description})"
        if isinstance(error, ConnectionClosedAbnormally):
            return ConnectionClosedAbnormally(
                f"{where}: {error.message}", code=error.code, reason=error.reason
            )
        if error is not None:
            return error
        code = self.client.close_code
        because = f": {self.client.close_reason}" if self.client.close_reason else ""
        return StepFailed(
            f"the server closed the connection ({code} {close_code_name(code)}{because}) first"
        )

    # -- the steps -------------------------------------------------------------------------

    def _deadline(self, step: Step) -> float:
        return step.timeout or self.conversation.timeout

    async def play(self, step: Step) -> None:
        """Do one step; raises :class:`StepFailed` when it is not met."""
        client = self.client
        if step.kind == "send":
            assert step.text is not None
            await client.send(step.text.render(self.captures, self.environ), TEXT)
            self.record.sent += 1
        elif step.kind == "send-binary":
            assert step.payload is not None
            await client.send(step.payload, BINARY)
            self.record.sent += 1
        elif step.kind == "sleep":
            await asyncio.sleep(step.seconds)
        elif step.kind == "expect":
            await self._expect(step)
        elif step.kind == "ping":
            await self._ping(step)
        elif step.kind == "close":
            reason = step.text.render(self.captures, self.environ) if step.text else ""
            await client.close(step.code or 1000, reason)
        else:
            await self._expect_close(step)

    async def _expect(self, step: Step) -> None:
        timeout = self._deadline(step)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    message = await self.next_message()
                    if message is None:
                        raise self._closed_error(step)
                    try:
                        with regex_deadline(deadline - loop.time()):
                            taken = step.matches(message.data, self.captures, self.environ)
                    except RegexTooSlow:
                        raise StepFailed(
                            f"not met within {format_duration(timeout)}: matching "
                            f"{preview(message.data)} was still running (a regex that "
                            "backtracks catastrophically?)"
                        ) from None
                    if taken is not None:
                        self.captures.update(taken)
                        self.status.detail(f"step {step.number} met by {preview(message.data)}")
                        return
                    self.show(message)
        except TimeoutError:
            raise StepFailed(f"not met within {format_duration(timeout)}") from None

    async def _ping(self, step: Step) -> None:
        timeout = self._deadline(step)
        try:
            rtt = await self.client.ping(step.payload or b"", timeout=timeout)
        except Timeout:
            raise StepFailed(f"no pong within {format_duration(timeout)}") from None
        self.status.detail(f"step {step.number}: pong in {rtt * 1000:.1f}ms")
        if step.max_rtt is not None and rtt > step.max_rtt:
            raise StepFailed(
                f"the pong took {rtt * 1000:.1f}ms, more than max-rtt "
                f"{format_duration(step.max_rtt)}"
            )

    async def _expect_close(self, step: Step) -> None:
        timeout = self._deadline(step)
        try:
            async with asyncio.timeout(timeout):
                while (message := await self.next_message()) is not None:
                    self.show(message)
        except TimeoutError:
            raise StepFailed(
                f"the server did not close the connection within {format_duration(timeout)}"
            ) from None
        error = self.reader.exception()
        if isinstance(error, ConnectionClosedAbnormally):
            code: int | None = error.code
            reason = error.reason
        elif error is not None:
            raise error
        else:
            code, reason = self.client.close_code, self.client.close_reason
        if step.code is not None and code != step.code:
            because = f": {reason}" if reason else ""  # escaped by the error boundary
            raise StepFailed(f"the server closed with {code} ({close_code_name(code)}){because}")


def _result(step: Step, conversation: Conversation) -> dict[str, Any]:
    return {
        "step": step.number,
        "file": conversation.path,
        "line": step.line,
        "name": step.name or None,
        "action": step.description,
        "status": "skipped",
        "duration_ms": None,
        "message": None,
    }


async def converse(
    env: Environment,
    conversation: Conversation,
    options: ConnectOptions,
    *,
    status: StatusWriter,
    record: RunRecord,
    writer_options: dict[str, Any],
    environ: Mapping[str, str],
) -> int:
    """Connect and play every step; returns the exit code or raises the first failure."""
    loop = asyncio.get_running_loop()
    writer = MessageWriter(env, loop=loop, **writer_options)
    replier = Replier(conversation.replies, environ)
    results = [_result(step, conversation) for step in conversation.steps]
    record.steps = results
    record.replies = replier.summary
    assert conversation.url is not None
    started = loop.time()
    client = await connect(conversation.url, options, observer=status.handshake)
    record.connected(client, loop.time() - started)
    for line in connected_lines(client):
        status.detail(line)
    runner = Runner(
        client,
        conversation,
        writer=writer,
        status=status,
        replier=replier,
        environ=environ,
        record=record,
        quiet=status.quiet,
    )
    record.count_received = lambda: runner.received
    try:
        for step, result in zip(conversation.steps, results, strict=True):
            begun = loop.time()
            try:
                await runner.play(step)
            except (StepFailed, WebSocketError) as exc:
                result.update(
                    status="failed",
                    duration_ms=round((loop.time() - begun) * 1000, 3),
                    message=str(exc),
                )
                await close_quietly(client)
                await runner.drain()
                where = f"{conversation.where(step)}: step {step.number} ({step.description})"
                if isinstance(exc, StepFailed):
                    _show_recent(status, runner)
                    raise CheckFailed(f"{where}: {exc}") from None
                if where not in str(exc):
                    status.info(f"{where} failed")
                raise
            except BaseException:
                # Ctrl-C or SIGTERM: the report shows which step was running, and for how long.
                result.update(
                    status="failed",
                    duration_ms=round((loop.time() - begun) * 1000, 3),
                    message="interrupted",
                )
                raise
            result.update(status="passed", duration_ms=round((loop.time() - begun) * 1000, 3))
            status.detail(f"step {step.number} passed: {step.description}")
        if not client.closed:
            await client.close(1000)
        # After an expect-close step, the close (whatever its code) was the point.
        await runner.drain(strict=conversation.steps[-1].kind != "expect-close")
    except BaseException:
        if not runner.reader.done():
            runner.reader.cancel()
        runner.show_received()  # interrupted during a sleep: what arrived is still printed
        await close_quietly(client)
        raise
    count = len(conversation.steps)
    status.info(f"all {count} steps passed" if count > 1 else "the step passed")
    return ExitCode.OK


def _show_recent(status: StatusWriter, runner: Runner) -> None:
    """The last messages received, to explain a failed step."""
    if not runner.recent:
        status.info("no message was received")
        return
    recent = runner.recent
    heading = "the last message received" if len(recent) == 1 else "the last messages"
    status.info(f"{heading} ({len(recent)} of {runner.received}):")
    for data in recent:
        status.info(f"  {preview(data)}")
