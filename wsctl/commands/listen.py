"""``wsctl listen URL``: print every message the server sends, one per line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

import click

from wsctl.checks import Checks, check_options, make_writer, receive_until_met
from wsctl.core import connect
from wsctl.diagnostics import client_lines
from wsctl.environment import Environment
from wsctl.errors import ConnectionClosedAbnormally, ExitCode, InvalidInput, OutputClosed
from wsctl.options import (
    common_options,
    connection_options,
    keepalive_options,
    receive_output_options,
)
from wsctl.output import BinaryFormat, StatusWriter
from wsctl.redact import redact_url
from wsctl.reply_session import reply_option
from wsctl.report import RunRecord
from wsctl.session import close_quietly, close_record, print_messages, report_close
from wsctl.settings import ConnectOptions, validate_url

if TYPE_CHECKING:  # --reply's rules are imported only when it is used
    from wsctl.replies import Reply


@click.command("listen")
@click.argument("url")
@click.option(
    "-n", "--count", type=click.IntRange(min=1), help="Stop after N messages (then close 1000)."
)
@click.option(
    "--send",
    "send_messages",
    multiple=True,
    metavar="MESSAGE",
    help="Send MESSAGE right after connecting, e.g. a subscription (repeatable, in order).",
)
@reply_option
@keepalive_options
@click.option(
    "--events",
    is_flag=True,
    help="With --json, also write open and close (and reconnected) events as NDJSON records.",
)
@click.option(
    "--reconnect",
    is_flag=True,
    help="When the connection drops (1001, 1006, 1011-1013, --read-timeout), reconnect with "
    "backoff and send the --send messages again; keeps trying unless --retry N.",
)
@click.option(
    "--exec",
    "exec_command",
    metavar="CMD",
    help="Run CMD (no shell: use sh -c '...' for pipes) with each message on a line of its "
    "stdin, and send each line it prints; closes (1000) when CMD exits, with its status.",
)
@check_options
@receive_output_options
@connection_options
@common_options
@click.pass_obj
def command(
    env: Environment,
    url: str,
    count: int | None,
    send_messages: tuple[str, ...],
    replies: tuple[Reply, ...],
    ping_interval: float | None,
    ping_timeout: float | None,
    events: bool,
    reconnect: bool,
    exec_command: str | None,
    checks: Checks,
    json_lines: bool,
    timestamps: bool,
    binary_format: BinaryFormat | None,
    options: ConnectOptions,
    verbose: bool,
    quiet: bool,
) -> int:
    """Print every message received from URL, one per line, until the server closes.

    Text messages are printed as they are; binary ones as base64 when stdout is not a terminal
    and as a hex dump on one (see --binary-format). The exit code follows the server's close
    code: 0 for 1000/1001, 6 for anything else.

    \b
    Examples:
      wsctl listen wss://stream.example.com/prices | jq .
      wsctl listen URL --send '{"action":"subscribe","symbols":["BTC-USD"]}' -n 10
      wsctl listen URL --reply '^2$=>3'    # answer a Socket.IO heartbeat
      wsctl listen URL --json --timestamps > capture.ndjson
      wsctl listen URL --expect-json 'type=ready' --timeout 30s --report junit:listen.xml
      wsctl listen URL --exec './answer.py'   # its stdin: messages; its stdout: replies

    With --expect/--expect-json/--expect-close it stops as soon as every expectation is met
    (exit 0, closing with 1000) and fails when --timeout passes, --count messages arrived or
    the server closes first (exit 7).
    """
    validate_url(url)
    exec_argv = _exec_argv(exec_command, checks, reconnect or events or bool(replies))
    options = dataclasses.replace(options, ping_interval=ping_interval, ping_timeout=ping_timeout)
    record = RunRecord("listen", url)
    return checks.run(
        env,
        record,
        _listen(
            env,
            url,
            options,
            count=count,
            send_messages=send_messages,
            replies=replies,
            events=events and json_lines,
            reconnect=reconnect,
            writer_options={
                "binary_format": binary_format,
                "json_lines": json_lines,
                "timestamps": timestamps,
            },
            status=StatusWriter(env, verbose=verbose, quiet=quiet),
            checks=checks,
            record=record,
            exec_argv=exec_argv,
        ),
    )


def _exec_argv(exec_command: str | None, checks: Checks, exclusive: bool) -> list[str] | None:
    """``--exec``'s argv, checked before connecting (exit 2 for a missing program)."""
    if exec_command is None:
        return None
    if checks.expectations or exclusive:
        raise InvalidInput(
            "--exec cannot be combined with --expect options, --reconnect, --events or --reply "
            "(CMD sees every message and can answer it itself)"
        )
    from wsctl.exec_bridge import parse_exec_command

    return parse_exec_command(exec_command)


async def _listen(
    env: Environment,
    url: str,
    options: ConnectOptions,
    *,
    count: int | None,
    send_messages: tuple[str, ...],
    replies: tuple[Reply, ...] = (),
    events: bool,
    writer_options: dict[str, object],
    status: StatusWriter,
    checks: Checks,
    record: RunRecord,
    reconnect: bool = False,
    exec_argv: list[str] | None = None,
) -> int:
    checker = checks.checker(status)
    record.matcher = checker.matcher if checker is not None else None
    writer = make_writer(env, checker, loop=asyncio.get_running_loop(), **writer_options)
    if replies:
        if reconnect:
            raise InvalidInput("--reply cannot be combined with --reconnect")
        from wsctl.replies import Replier
        from wsctl.reply_session import ReplyingWriter

        writer = replying = ReplyingWriter(writer, Replier(replies), status)
        record.replies = replying.replier.summary
    if reconnect:
        if checker is not None:
            raise InvalidInput("--reconnect cannot be combined with --expect options")
        from wsctl.reconnect import listen_reconnecting

        record.count_received = lambda: writer.count
        return await listen_reconnecting(
            url,
            options,
            writer=writer,
            status=status,
            send_messages=send_messages,
            count=count,
            events=events,
            record=record,
        )
    started = asyncio.get_running_loop().time()
    client = await connect(url, options, observer=status.handshake)
    record.connected(client, asyncio.get_running_loop().time() - started)
    record.count_received = lambda: writer.count
    if replies:
        replying.attach(client)
    ended: dict[str, object] | None = None
    try:
        if events:
            writer.event(
                {
                    "type": "open",
                    "url": redact_url(client.url),
                    "subprotocol": client.subprotocol,
                    "extensions": client.extensions,
                }
            )
        status.detail(f"connected to {redact_url(client.url)}")
        if status.verbose:
            for line in client_lines(client):
                status.detail(line)
        if exec_argv is not None:  # CMD gets the messages; the --send ones go first
            from wsctl.exec_bridge import bridge

            return await bridge(
                env,
                client,
                exec_argv,
                status,
                writer_options=writer_options,
                initial=send_messages,
                count=count,
                record=record,
            )
        for text in send_messages:
            await client.send(text)
            record.sent += 1
        if checker is not None:  # a loop of its own: the plain one below stays as lean as it was
            return await receive_until_met(client, writer, checker, limit=count)
        if not await print_messages(client, writer, status, count=count):
            report_close(client, writer, status, events=False)
        return ExitCode.OK
    except ConnectionClosedAbnormally as error:
        writer.flush()
        ended = close_record(client, error.code, error.reason)
        raise
    except OutputClosed:
        events = False  # nobody reads the stream any more
        raise
    except BaseException:
        with contextlib.suppress(OutputClosed):
            writer.flush()  # what arrived before Ctrl-C or SIGTERM still reaches stdout
        await close_quietly(client)
        raise
    finally:
        if replies:
            replying.stop()
        if events:  # every stream ends with one record of how it ended, whoever closed
            writer.flush()
            writer.event(ended or close_record(client))
            writer.flush()
