"""``wsctl connect URL``: an interactive session on a terminal, a pipe everywhere else.

On a terminal (stdin and stdout both TTYs) this opens the prompt of :mod:`wsctl.interactive`.
Anywhere else it behaves exactly like ``wsctl send`` reading stdin, and it is ``send``'s own
session that runs: the same reading, waiting for replies and closing.  prompt_toolkit and rich
are imported only on the interactive path.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import click

from wsctl.environment import Environment
from wsctl.errors import InvalidInput
from wsctl.options import (
    check_binary_format,
    close_options,
    common_options,
    connection_options,
    force_option,
    keepalive_options,
    reply_wait_options,
)
from wsctl.output import BinaryFormat
from wsctl.reply_session import reply_option
from wsctl.settings import ConnectOptions, validate_close_reason, validate_url

if TYPE_CHECKING:
    from wsctl.replies import Reply

Mode = Literal["interactive", "pipe", "script"]


def choose_mode(*, stdin_isatty: bool, stdout_isatty: bool, execute: bool) -> Mode:
    """How ``connect`` runs.

    ``interactive``: a person at a terminal, no ``-x``.  ``script``: ``-x`` messages with a
    terminal on stdin — they are sent and the replies printed like ``send`` (as ``wscat -x``
    does), and the terminal is not read, so a script run from a terminal never waits for
    typing.  ``pipe``: otherwise; stdin lines (after any ``-x`` messages) are sent.
    """
    if execute and stdin_isatty:
        return "script"
    if stdin_isatty and stdout_isatty:
        return "interactive"
    return "pipe"


@click.command("connect")
@click.argument("url")
@click.option(
    "-x",
    "--execute",
    "execute",
    multiple=True,
    metavar="MESSAGE",
    help="Send MESSAGE on connect (repeatable), print the replies and exit, like send; "
    "stdin lines follow when stdin is not a terminal.",
)
@click.option(
    "--exec",
    "exec_command",
    metavar="CMD",
    help="Run CMD (no shell: use sh -c '...' for pipes) instead of reading the terminal or "
    "stdin: each message is a line of its stdin, each line it prints is sent; closes when "
    "CMD exits, with its status.",
)
@keepalive_options
@click.option(
    "--timestamps",
    is_flag=True,
    help="Start each line with the time (in a pipe: with --json, add a time field).",
)
@click.option("--no-color", is_flag=True, help="No colours (NO_COLOR=1 does the same).")
@click.option(
    "--pretty/--no-pretty",
    default=True,
    show_default=True,
    help="Lay out and highlight JSON messages in the interactive session (/json toggles).",
)
@click.option(
    "--show-ping-pong",
    is_flag=True,
    help="Show keep-alive pings and their pongs (/pingpong toggles).",
)
@click.option(
    "--history/--no-history",
    default=True,
    show_default=True,
    help="Keep the typed lines in $XDG_STATE_HOME/wsctl/history for Up and Ctrl-R.",
)
@reply_wait_options("Not on a terminal: after stdin ends")
@click.option(
    "--json",
    "json_lines",
    is_flag=True,
    help='Not on a terminal: write NDJSON {"type":"text","data":...} per message.',
)
@click.option(
    "--binary-format",
    type=click.Choice(["base64", "hex", "raw"]),
    callback=check_binary_format,
    help="Not on a terminal: how to print binary messages (default base64; hex on a terminal).",
)
@force_option
@close_options("when the session ends (Ctrl-D, /quit, end of stdin)")
@reply_option
@connection_options
@common_options
@click.pass_obj
def command(
    env: Environment,
    url: str,
    execute: tuple[str, ...],
    exec_command: str | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    timestamps: bool,
    no_color: bool,
    pretty: bool,
    show_ping_pong: bool,
    history: bool,
    wait_count: int | None,
    wait_time: float,
    json_lines: bool,
    binary_format: BinaryFormat | None,
    close_code: int | None,
    close_reason: str,
    replies: tuple[Reply, ...],
    options: ConnectOptions,
    verbose: bool,
    quiet: bool,
) -> int:
    """Open an interactive session on URL, or pipe stdin to it.

    On a terminal: type a message and press Enter to send it; replies appear above the
    prompt, which incoming traffic never garbles. Slash commands (/help lists them) ping,
    close with a code, send binary data or files and switch the display; history is kept
    with reverse search (Ctrl-R). Ctrl-D or /quit closes with 1000.

    Not on a terminal, connect works like send: each stdin line is sent, replies go to stdout
    one per line, and after stdin ends the replies are printed until --wait N arrived, none came
    for --wait-time, or the server closed; then it closes with 1000. With -x and a terminal on
    stdin, the -x messages are sent and their replies printed the same way.

    \b
    Examples:
      wsctl connect ws://127.0.0.1:8765/echo
      wsctl connect wss://example.com/feed --ping-interval 30s --timestamps
      printf 'a\\nb\\n' | wsctl connect ws://127.0.0.1:8765/echo
      wsctl connect ws://127.0.0.1:8765/echo -x hello -x world --wait 2
      wsctl connect ws://127.0.0.1:8765/jsonrpc --exec './client.py'
    """
    validate_url(url)
    validate_close_reason(close_reason)
    options = dataclasses.replace(options, ping_interval=ping_interval, ping_timeout=ping_timeout)
    if exec_command is not None and replies:
        raise InvalidInput(
            "--exec cannot be combined with --reply (CMD sees every message and can answer it "
            "itself)"
        )
    if exec_command is not None:  # CMD is the other end: no prompt, stdin not read
        from wsctl.exec_bridge import exec_session, parse_exec_command
        from wsctl.session import run

        argv = parse_exec_command(exec_command)
        writer_options = {
            "binary_format": binary_format,
            "json_lines": json_lines,
            "timestamps": timestamps,
        }
        session = exec_session(
            env,
            url,
            options,
            argv,
            writer_options=writer_options,
            initial=execute,
            close_code=close_code or 1000,
            close_reason=close_reason,
            verbose=verbose,
            quiet=quiet,
        )
        return run(session)
    mode = choose_mode(
        stdin_isatty=env.stdin_isatty, stdout_isatty=env.stdout_isatty, execute=bool(execute)
    )
    if mode == "interactive":
        from wsctl.interactive import InteractiveSettings, run_interactive

        settings = InteractiveSettings(
            pretty=pretty,
            timestamps=timestamps,
            color=not no_color,
            show_ping_pong=show_ping_pong,
            history=history,
            close_code=close_code or 1000,
            close_reason=close_reason,
            verbose=verbose,
            quiet=quiet,
            replies=replies,
        )
        return run_interactive(env, url, options, settings=settings)

    from wsctl.commands.send_session import SendPlan, send_session
    from wsctl.session import run

    plan = SendPlan(
        messages=execute,
        stream=env.stdin if mode == "pipe" else None,
        stream_name="stdin",
        binary=False,
        wait_count=wait_count,
        wait_time=wait_time,
        close_code=close_code,
        close_reason=close_reason,
        json_lines=json_lines,
        timestamps=timestamps,
        binary_format=binary_format,
        verbose=verbose,
        quiet=quiet,
        replies=replies,
    )
    return run(send_session(env, url, options, plan))
