"""Shared click options and parameter types, wrapping the pure parsers.

``@connection_options`` adds every connection option of the spec to a command and hands the
command one validated :class:`~wsctl.settings.ConnectOptions` as ``options``; adding an option
here adds it to every subcommand that connects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from wsctl.durations import DURATION_HELP, parse_duration
from wsctl.errors import InvalidInput
from wsctl.settings import (
    DEFAULT_CHANNEL_CAPACITY,
    MAX_CHANNEL_CAPACITY,
    CloseCode,
    Compression,
    ConnectOptions,
    parse_close_code,
    parse_compression,
    parse_header,
)
from wsctl.sizes import parse_size

F = TypeVar("F", bound=Callable[..., Any])


class DurationType(click.ParamType):  # type: ignore[type-arg]
    """A duration: milliseconds, or a Go duration string; converted to seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


class SizeType(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes: ``512``, ``64KiB``, ``16MiB``."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


class HeaderType(click.ParamType):  # type: ignore[type-arg]
    """``"Name: value"`` → ``(name, value)``."""

    name = "header"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_header(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


class CloseCodeType(click.ParamType):  # type: ignore[type-arg]
    """A close code to send: a number 1000–4999 or a name (``normal``, ``going-away``)."""

    name = "code"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        try:
            return parse_close_code(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        names = [code.name.lower().replace("_", "-") for code in CloseCode]
        return [
            CompletionItem(name)
            for name in names
            if name.startswith(incomplete)
            and name not in ("no-status", "abnormal-closure", "tls-handshake")
        ]


class CompressionType(click.Choice[str]):
    """``disabled``, ``context-takeover`` or ``no-context`` (0, 1, 2 accepted too)."""

    def __init__(self) -> None:
        super().__init__([mode.cli_name for mode in Compression])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Compression):
            return value
        try:
            return parse_compression(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


DURATION = DurationType()
SIZE = SizeType()
HEADER = HeaderType()
CLOSE_CODE = CloseCodeType()

#: The connection options' parameter names, popped from a command's keyword arguments.
_CONNECTION_PARAMS = (
    "headers",
    "subprotocols",
    "dial_timeout",
    "read_timeout",
    "write_timeout",
    "compression",
    "compression_threshold",
    "read_limit",
    "channel_capacity",
    "policy_file",
)

_CONNECTION_OPTIONS = [
    click.option(
        "-H",
        "--header",
        "headers",
        type=HEADER,
        multiple=True,
        metavar="'NAME: VALUE'",
        help="Add a header to the handshake request (repeatable).",
    ),
    click.option(
        "-s",
        "--subprotocol",
        "subprotocols",
        multiple=True,
        metavar="NAME",
        help="Offer a subprotocol (repeatable); the server picks one.",
    ),
    click.option(
        "--dial-timeout",
        type=DURATION,
        default="10s",
        show_default=True,
        help=f"Limit for DNS, TCP, TLS and the upgrade ({DURATION_HELP}; 0: none).",
    ),
    click.option(
        "--read-timeout",
        type=DURATION,
        help="Longest wait for the next message (default: none).",
    ),
    click.option(
        "--write-timeout",
        type=DURATION,
        help="Longest wait for one message to be written (default: none).",
    ),
    click.option(
        "--compression",
        type=CompressionType(),
        default="disabled",
        show_default=True,
        help="permessage-deflate mode.",
    ),
    click.option(
        "--compression-threshold",
        type=SIZE,
        default="0",
        help="Send messages smaller than this uncompressed (0: library default).",
    ),
    click.option(
        "--read-limit",
        type=SIZE,
        default="16MiB",
        show_default=True,
        help="Largest incoming message; a larger one closes with 1009 (up to 128MiB).",
    ),
    click.option(
        "--channel-capacity",
        type=click.IntRange(1, MAX_CHANNEL_CAPACITY),
        default=DEFAULT_CHANNEL_CAPACITY,
        show_default=True,
        help="Receive buffer in messages; when full, reading pauses (nothing is dropped).",
    ),
    click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False),
        help="Security policy file (TOML); see 'wsctl policy'.",
    ),
]


def connection_options(function: F) -> F:
    """Add the connection options; the command receives ``options: ConnectOptions``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _CONNECTION_PARAMS}
        try:
            kwargs["options"] = ConnectOptions(
                headers=tuple(values["headers"]),
                subprotocols=tuple(values["subprotocols"]),
                dial_timeout=values["dial_timeout"],
                read_timeout=values["read_timeout"],
                write_timeout=values["write_timeout"],
                compression=values["compression"],
                compression_threshold=values["compression_threshold"],
                read_limit=values["read_limit"],
                channel_capacity=values["channel_capacity"],
                policy_file=values["policy_file"],
            )
        except InvalidInput as exc:
            raise click.UsageError(str(exc)) from None
        return function(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_CONNECTION_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def common_options(function: F) -> F:
    """``-v/--verbose``, ``-q/--quiet`` and ``--traceback``, accepted after any subcommand."""
    function = click.option(
        "--traceback",
        is_flag=True,
        expose_value=False,
        help="Show the full traceback of an error (for bug reports).",
    )(function)
    function = click.option(
        "-q", "--quiet", is_flag=True, help="Print nothing on stderr but errors."
    )(function)
    function = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Show the handshake (secrets redacted) and connection events on stderr.",
    )(function)
    return function


def receive_output_options(function: F) -> F:
    """How received messages are written: ``--json``, ``--timestamps``, ``--binary-format``."""
    function = click.option(
        "--binary-format",
        type=click.Choice(["base64", "hex", "raw"]),
        help="How to print binary messages: base64 (default when stdout is not a terminal), "
        "hex dump (default on a terminal) or raw bytes with no separator.",
    )(function)
    function = click.option(
        "--timestamps",
        is_flag=True,
        help="With --json, add the time each message arrived (UTC, ISO 8601).",
    )(function)
    function = click.option(
        "--json",
        "json_lines",
        is_flag=True,
        help='Write NDJSON: {"type":"text","data":...} per message (binary data in base64).',
    )(function)
    return function
