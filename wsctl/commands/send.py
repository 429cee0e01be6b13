"""``wsctl send URL [MESSAGE]...``: send messages, print the replies, close with a Close frame."""

from __future__ import annotations

from typing import BinaryIO

import click

from wsctl.checks import Checks, check_options
from wsctl.environment import Environment
from wsctl.errors import InvalidInput
from wsctl.options import (
    close_options,
    common_options,
    connection_options,
    receive_output_options,
    reply_wait_options,
)
from wsctl.output import BinaryFormat
from wsctl.settings import ConnectOptions, validate_close_reason, validate_url


@click.command("send")
@click.argument("url")
@click.argument("messages", nargs=-1)
@click.option(
    "--binary",
    is_flag=True,
    help="Send stdin (or --file) whole as one binary message; MESSAGE arguments as binary.",
)
@click.option(
    "--file",
    "file_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read the messages from FILE instead of stdin (its lines; whole with --binary).",
)
@reply_wait_options()
@close_options()
@check_options
@receive_output_options
@connection_options
@common_options
@click.pass_obj
def command(
    env: Environment,
    url: str,
    messages: tuple[str, ...],
    binary: bool,
    file_path: str | None,
    wait_count: int | None,
    wait_time: float,
    close_code: int | None,
    close_reason: str,
    checks: Checks,
    json_lines: bool,
    timestamps: bool,
    binary_format: BinaryFormat | None,
    options: ConnectOptions,
    verbose: bool,
    quiet: bool,
) -> int:
    """Send messages to URL and print the replies.

    Each MESSAGE is sent as a text message; with no MESSAGE (or "-") each line of stdin is.
    Lines piped in before the connection opens are kept. After the last message, replies are
    printed until --wait N replies arrived, none came for --wait-time, or the server closed;
    then the connection is closed with a Close frame (1000 unless --close-code).

    \b
    Examples:
      wsctl send ws://127.0.0.1:8765/echo hello
      printf 'a\\nb\\n' | wsctl send ws://127.0.0.1:8765/echo --wait 2
      wsctl send --binary --file image.png wss://example.com/upload
      wsctl send URL '{"op":"ping"}' --expect-json type=pong --timeout 5s

    With --expect/--expect-json/--expect-close the run ends as soon as every expectation is
    met (exit 0) or fails when --timeout passes first (exit 7); --wait and --wait-time then
    only apply when given.
    """
    from wsctl.commands.send_session import SendPlan, send_session
    from wsctl.report import RunRecord

    validate_url(url)
    validate_close_reason(close_reason)
    if close_reason and close_code is None:
        close_code = 1000
    stream: BinaryIO | None = None
    if file_path is not None and file_path != "-":
        if messages:
            raise InvalidInput("give either MESSAGE arguments or --file, not both")
        try:
            stream = open(file_path, "rb")  # noqa: SIM115 - closed by the session
        except OSError as exc:
            raise InvalidInput(f"cannot read {file_path}: {exc.strerror}") from None
    elif not messages or messages == ("-",):
        stream = env.stdin
        messages = ()
    plan = SendPlan(
        messages=messages,
        stream=stream,
        stream_name=file_path if stream is not env.stdin and file_path else "stdin",
        binary=binary,
        wait_count=wait_count,
        wait_time=wait_time,
        close_code=close_code,
        close_reason=close_reason,
        json_lines=json_lines,
        timestamps=timestamps,
        binary_format=binary_format,
        verbose=verbose,
        quiet=quiet,
        checks=checks,
        wait_time_given=click.get_current_context().get_parameter_source("wait_time")
        is not click.core.ParameterSource.DEFAULT,
    )
    record = RunRecord("send", url)
    try:
        return checks.run(env, record, send_session(env, url, options, plan, record))
    finally:
        if stream is not None and stream is not env.stdin:
            stream.close()
