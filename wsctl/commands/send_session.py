"""The asynchronous body of ``wsctl send``: read, connect, send, collect replies, close."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from wsctl.checks import Checks, make_writer, send_until_met
from wsctl.core import Client, connect
from wsctl.diagnostics import connected_lines
from wsctl.environment import Environment
from wsctl.errors import ExitCode, OutputClosed
from wsctl.inputs import StreamReader
from wsctl.output import BinaryFormat, StatusWriter
from wsctl.report import RunRecord
from wsctl.session import Receiver, close_quietly
from wsctl.settings import BINARY, TEXT, ConnectOptions

if TYPE_CHECKING:  # --reply's modules are imported only when it is used
    from wsctl.replies import Reply


class SendPlan(NamedTuple):
    """What ``wsctl send`` was asked to do, validated by the command."""

    messages: tuple[str, ...]
    stream: BinaryIO | None
    stream_name: str
    binary: bool
    wait_count: int | None
    wait_time: float
    close_code: int | None
    close_reason: str
    json_lines: bool
    timestamps: bool
    binary_format: BinaryFormat | None
    verbose: bool
    quiet: bool
    checks: Checks = Checks()
    #: --wait-time was given: with expectations, the idle rule then still ends the wait.
    wait_time_given: bool = False
    #: --reply rules (connect): matching messages are answered instead of printed.
    replies: tuple[Reply, ...] = ()


async def send_session(
    env: Environment,
    url: str,
    options: ConnectOptions,
    plan: SendPlan,
    record: RunRecord | None = None,
) -> int:
    """Run one ``send``; returns the exit code or raises a :mod:`wsctl.errors` error."""
    record = record or RunRecord("send", url)
    status = StatusWriter(env, verbose=plan.verbose, quiet=plan.quiet)
    checker = plan.checks.checker(status)
    record.matcher = checker.matcher if checker is not None else None
    writer = make_writer(
        env,
        checker,
        binary_format=plan.binary_format,
        json_lines=plan.json_lines,
        timestamps=plan.timestamps,
        loop=asyncio.get_running_loop(),
    )
    if plan.replies:
        from wsctl.replies import Replier
        from wsctl.reply_session import ReplyingWriter

        writer = replying = ReplyingWriter(writer, Replier(plan.replies), status)
        record.replies = replying.replier.summary
    if plan.stream is not None and plan.stream is env.stdin and env.stdin_isatty:
        # Waiting silently for a terminal looks like a hang: say what is expected.
        status.info("reading messages from the terminal, one per line; Ctrl-D to send and finish")
    # Start reading before connecting: nothing typed or piped while the handshake runs is lost.
    source = StreamReader(plan.stream, name=plan.stream_name) if plan.stream is not None else None
    started = asyncio.get_running_loop().time()
    client = await connect(url, options, observer=status.handshake)
    record.connected(client, asyncio.get_running_loop().time() - started)
    record.count_received = lambda: writer.count
    if plan.replies:
        replying.attach(client)
    for line in connected_lines(client):
        status.detail(line)
    receiver = Receiver(client, writer)
    try:
        if checker is not None:
            return await send_until_met(
                client,
                receiver,
                checker,
                _send_all(client, receiver, source, plan, record),
                replies=plan.wait_count,
                idle=plan.wait_time if plan.wait_time_given else None,
                close_code=plan.close_code or 1000,
                close_reason=plan.close_reason,
            )
        await _send_all(client, receiver, source, plan, record)
        await receiver.wait(replies=plan.wait_count, idle=plan.wait_time)
        if receiver.task.done():  # the server closed first: its close code decides
            await receiver.stop()
            status.closed(client.close_code, client.close_reason, by_server=True)
            return ExitCode.OK
        await client.close(plan.close_code or 1000, plan.close_reason)
        await receiver.stop()
        status.detail(f"closed with {plan.close_code or 1000}")
        return ExitCode.OK
    except BaseException:
        receiver.discard()
        with contextlib.suppress(OutputClosed):
            receiver.writer.flush()  # replies that arrived before Ctrl-C or SIGTERM
        await close_quietly(client)
        raise


async def _send_all(
    client: Client,
    receiver: Receiver,
    source: StreamReader | None,
    plan: SendPlan,
    record: RunRecord,
) -> None:
    message_type = BINARY if plan.binary else TEXT
    for message in plan.messages:
        await client.send(message, message_type)
        record.sent += 1
        receiver.touch()
    if source is None:
        return
    if plan.binary:
        await client.send(await source.read_all(), BINARY)
        record.sent += 1
        receiver.touch()
        return
    async for lines in source.lines():
        await client.send_utf8(lines)
        record.sent += len(lines)  # per chunk of lines, not per message: this loop is hot
        if receiver.task.done():
            receiver.task.result()  # the connection ended under us: report why
        receiver.touch()
