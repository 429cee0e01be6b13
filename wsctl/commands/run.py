"""``wsctl run FILE``: play a conversation file step by step against a server.

The file is read and validated before anything else (exit 2 naming ``FILE:LINE``); its
top-level connection keys are the command-line options' defaults, so flags given on the
command line win.  Then one connection runs the steps in order (:class:`Conversation`): each
waiting step has a deadline, and the first step that fails ends the run with exit 7 naming it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from wsctl.checks import REPORT
from wsctl.conversation import Conversation, describe_plan, read_conversation
from wsctl.environment import Environment
from wsctl.errors import InvalidInput
from wsctl.options import (
    DURATION,
    common_options,
    connection_options,
    receive_output_options,
)
from wsctl.output import BinaryFormat, StatusWriter
from wsctl.replies import Reply
from wsctl.reply_session import REPLY
from wsctl.report import ReportTarget
from wsctl.settings import ConnectOptions, validate_url

F = TypeVar("F", bound=Callable[..., Any])

#: Parameters a file may not set: ``run``'s own, and the policy — a conversation from
#: elsewhere must not choose which policy judges it.
_OWN_PARAMS = {
    "policy_file",
    "file",
    "url",
    "step_timeout",
    "reply_specs",
    "reports",
    "dry_run",
    "json_lines",
    "timestamps",
    "binary_format",
    "verbose",
    "quiet",
    "traceback",
}


def _file_keys(command: click.Command) -> dict[str, click.Parameter]:
    """File key → connection parameter: the long option name and the parameter's name
    (``header`` and ``headers``, ``policy`` and ``policy-file``)."""
    keys: dict[str, click.Parameter] = {}
    for param in command.params:
        if param.name is None or param.name in _OWN_PARAMS or not isinstance(param, click.Option):
            continue
        keys[param.name.replace("_", "-")] = param
        for option in param.opts:
            if option.startswith("--"):
                keys[option[2:]] = param
    return keys


#: Options naming files: relative paths in a conversation are relative to the file.
_PATH_PARAMS = ("cacert", "capath", "cert", "key")


def _file_value(param: click.Parameter, value: Any, directory: str) -> Any:
    """A file value in the shape click gives the command for ``param``."""
    if param.name in _PATH_PARAMS and isinstance(value, str):
        value = os.path.join(directory, os.path.expanduser(value))
    if isinstance(param, click.Option) and param.is_flag:
        if not isinstance(value, bool):
            raise InvalidInput("expected true or false")
        return value
    if param.name == "headers" and isinstance(value, dict):
        value = [f"{name}: {text}" for name, text in value.items()]
    if param.multiple:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str | int | float) for item in items):
            raise InvalidInput("expected a string or an array of strings")
        return tuple(param.type.convert(item, param, None) for item in items)
    if isinstance(value, list | dict | bool):
        raise InvalidInput("expected a string or a number")
    return param.type.convert(value, param, None)


def _with_file_defaults(function: F) -> F:
    """Read FILE before the connection options are assembled and use its connection keys
    for every option not given on the command line; the command receives ``conversation``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        keys = _file_keys(ctx.command)
        conversation = read_conversation(
            kwargs["file"], connection_keys={key: p.name or key for key, p in keys.items()}
        )
        by_name = {p.name: p for p in keys.values()}
        directory = os.path.dirname(os.path.abspath(conversation.path))
        for name, (value, line) in conversation.connection.items():
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                continue  # the command line wins
            try:
                kwargs[name] = _file_value(by_name[name], value, directory)
            except (InvalidInput, click.BadParameter) as exc:
                key = name.replace("_", "-")
                raise InvalidInput(f"{conversation.path}:{line}: {key}: {exc.message}") from None
        kwargs["conversation"] = conversation
        try:
            return function(*args, **kwargs)
        except (click.UsageError, InvalidInput) as exc:
            if ctx.meta.get(_STARTED) or not conversation.connection:
                raise
            # The connection options were assembled from the file's values and rejected.
            raise InvalidInput(f"{_blame(conversation, exc)}: {_message(exc)}") from None

    return wrapper  # type: ignore[return-value]


#: Set in ``ctx.meta`` once the command body runs: later errors are not the file's options'.
_STARTED = "wsctl.run.started"


def _message(exc: click.UsageError | InvalidInput) -> str:
    return exc.message if isinstance(exc, InvalidInput) else exc.format_message()


def _blame(conversation: Conversation, exc: click.UsageError | InvalidInput) -> str:
    """``FILE:LINE`` of the connection key whose value the error quotes (else the first)."""
    text = _message(exc)
    lines = [line for _, line in conversation.connection.values()]
    for value, line in conversation.connection.values():
        items = (
            value
            if isinstance(value, list)
            else list(value.values())
            if isinstance(value, dict)
            else [value]
        )
        if any(isinstance(item, str) and item and item in text for item in items):
            return f"{conversation.path}:{line}"
    return f"{conversation.path}:{min(lines)}"


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--url", metavar="URL", help="Connect to URL instead of the file's url.")
@click.option(
    "--timeout",
    "step_timeout",
    type=DURATION,
    help="Deadline of each waiting step without its own [default: the file's timeout, else 10s].",
)
@click.option(
    "--reply",
    "reply_specs",
    type=REPLY,
    multiple=True,
    metavar="MATCH=>RESPONSE",
    help="Answer every message matching MATCH with RESPONSE, in addition to the file's "
    "[[reply]] tables (repeatable; see 'wsctl listen --help').",
)
@click.option(
    "--report",
    "reports",
    type=REPORT,
    multiple=True,
    metavar="[junit:]FILE",
    help="Write a JSON summary (junit:FILE: JUnit XML, one test case per step), even when "
    "the run fails (repeatable).",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate FILE and print the plan; connect to nothing."
)
@receive_output_options
@_with_file_defaults
@connection_options
@common_options
@click.pass_obj
def command(
    env: Environment,
    conversation: Conversation,
    file: str,
    url: str | None,
    step_timeout: float | None,
    reply_specs: tuple[Reply, ...],
    reports: tuple[ReportTarget, ...],
    dry_run: bool,
    json_lines: bool,
    timestamps: bool,
    binary_format: BinaryFormat | None,
    options: ConnectOptions,
    verbose: bool,
    quiet: bool,
) -> int:
    """Run the conversation in FILE (TOML): send, expect, capture, step by step.

    Each [[step]] does one thing: send = TEXT, send-binary = "base64:…"/"hex:…"/"@FILE",
    expect = REGEX and/or expect-json = { PATH = VALUE } (with timeout and capture =
    { NAME = "PATH" or "re:REGEX" }), sleep = DURATION, ping = true or { max-rtt = D },
    close = CODE, expect-close = CODE. Strings may use ${NAME} (a capture), ${env.NAME},
    ${uuid} and ${now}. [[reply]] tables (match, send) answer matching messages all along.
    Top-level keys: url, timeout and the connection options (subprotocols, headers,
    dial-timeout, …); options given here win.

    Messages that no step expects are printed on stdout (not with --quiet). Exit 0 when every
    step passed, 7 when one failed (named as FILE:LINE), 2 when FILE is invalid (nothing sent).

    \b
    Examples:
      wsctl run examples/graphql.toml
      wsctl run --dry-run check.toml
      wsctl run check.toml --url ws://staging:8080/ws --report junit:run.xml
    """
    import dataclasses

    click.get_current_context().meta[_STARTED] = True
    if url is not None:
        conversation = dataclasses.replace(conversation, url=url)
    if conversation.url is None:
        raise InvalidInput(f'{conversation.path}:1: no url: add url = "ws://…" or give --url')
    target = validate_url(conversation.url)
    if step_timeout is not None:
        if step_timeout == 0:
            raise click.UsageError("--timeout must be longer than 0")
        conversation = dataclasses.replace(conversation, timeout=step_timeout)
    conversation = dataclasses.replace(conversation, replies=conversation.replies + reply_specs)
    if dry_run:
        for line in describe_plan(conversation):
            click.echo(line)
        return 0
    from wsctl.commands.run_session import converse
    from wsctl.report import RunRecord, recording
    from wsctl.session import run

    status = StatusWriter(env, verbose=verbose, quiet=quiet)
    record = RunRecord("run", target)
    with recording(record, reports, warn=StatusWriter(env).warning):
        record.exit_code = run(
            converse(
                env,
                conversation,
                options,
                status=status,
                record=record,
                writer_options={
                    "binary_format": binary_format,
                    "json_lines": json_lines,
                    "timestamps": timestamps,
                },
                environ=dict(os.environ),
            )
        )
        return record.exit_code
