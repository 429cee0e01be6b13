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
    MAX_COMPRESSION_THRESHOLD,
    MAX_READ_LIMIT,
    CloseCode,
    Compression,
    ConnectOptions,
    parse_close_code,
    parse_compression,
    parse_header,
)
from wsctl.sizes import format_size, parse_size

F = TypeVar("F", bound=Callable[..., Any])


def option_name(param: click.Parameter | None, default: str) -> str:
    """The option as the user knows it (``--read-limit``), for error messages."""
    if param is None or not param.opts:
        return default
    return max(param.opts, key=len)


def option_error(exc: InvalidInput, value: object, param: click.Parameter | None) -> str:
    """A parser's ``invalid <thing> <value>: <problem>`` as ``invalid --option 'typed':
    <problem>``, so every option error names the option and echoes the input alike."""
    message = str(exc)
    if param is None or not message.startswith("invalid ") or ": " not in message:
        return message
    quoted = repr(value)
    at = message.find(f" {quoted}: ")
    if at >= 0:  # the value may hold ": " itself ("-H ': v'"): split after its quotes
        return f"invalid {option_name(param, '')} {message[at + 1 :]}"
    head, problem = message.split(": ", 1)
    note = head[head.rfind(" (") :] if head.endswith(")") else ""  # "(abnormal closure)"
    return f"invalid {option_name(param, '')} {value!r}{note}: {problem}"


class DurationType(click.ParamType):  # type: ignore[type-arg]
    """A duration: milliseconds, or a Go duration string; converted to seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(value, name=option_name(param, "duration"))
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


class SizeType(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes: ``512``, ``64KiB``, ``16MiB``; at most ``maximum`` when given."""

    name = "size"

    def __init__(self, maximum: int | None = None) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        name = option_name(param, "size")
        try:
            size = parse_size(value, name=name)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)
        if self.maximum is not None and size > self.maximum:
            # Checked here, not only in ConnectOptions: the message echoes what was typed.
            self.fail(f"invalid {name} {value!r}: must be at most {format_size(self.maximum)}")
        return size


class HeaderType(click.ParamType):  # type: ignore[type-arg]
    """``"Name: value"`` → ``(name, value)``; ``@FILE`` → a list of them, one per line."""

    name = "header"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple | list):
            return value
        if value.startswith("@"):
            return self._from_file(value[1:], param, ctx)
        try:
            return parse_header(value)
        except InvalidInput as exc:
            from wsctl.redact import redact_header_line

            # Echoed as typed, less a secret: -H 'Authorization Bearer abc' lacks its ':'.
            self.fail(option_error(exc, redact_header_line(value), param), param, ctx)

    def _from_file(
        self, path: str, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[tuple[str, str]]:
        """Headers from a file as curl's ``-H @FILE``: blank lines and ``#`` comments skipped."""
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.fail(f"invalid --header '@{path}': cannot read it: {reason}", param, ctx)
        headers = []
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                headers.append(parse_header(line))
            except InvalidInput as exc:
                self.fail(f"invalid --header '@{path}': line {number}: {exc}", param, ctx)
        return headers


class CloseCodeType(click.ParamType):  # type: ignore[type-arg]
    """A close code to send: a number 1000–4999 or a name (``normal``, ``going-away``)."""

    name = "code"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        try:
            return parse_close_code(value)
        except InvalidInput as exc:
            self.fail(option_error(exc, value, param), param, ctx)

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
            self.fail(option_error(exc, value, param), param, ctx)


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
    "close_timeout",
    "policy_file",
    *(
        "origin",
        "user_agent",
        "auth",
        "bearer_env",
        "location_trusted",
        "proxy",
        "no_proxy",
        "cacert",
        "capath",
        "cert",
        "key",
        "key_password_env",
        "insecure",
        "tls_server_name",
        "retry",
        "retry_delay",
        "retry_max_delay",
    ),
)

_CONNECTION_OPTIONS = [
    click.option(
        "-H",
        "--header",
        "headers",
        type=HEADER,
        multiple=True,
        metavar="'NAME: VALUE'",
        help="Add a header to the handshake request (repeatable); @FILE reads one per line.",
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
        help="permessage-deflate (RFC 7692); context-takeover falls back to no-context "
        "when the server asks for it.",
    ),
    click.option(
        "--compression-threshold",
        type=SizeType(maximum=MAX_COMPRESSION_THRESHOLD),
        default="0",
        help="Send messages smaller than this uncompressed [default: 0, meaning 128 bytes "
        "with context takeover, 512 without].",
    ),
    click.option(
        "--read-limit",
        type=SizeType(maximum=MAX_READ_LIMIT),
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
        "--close-timeout",
        type=DURATION,
        default="5s",
        show_default=True,
        help="Wait this long for the server's Close reply, then drop the connection (0: no wait).",
    ),
    click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False),
        help="Security policy file (TOML); see 'wsctl policy'.",
    ),
    # -- identity --------------------------------------------------------------------------
    click.option(
        "-o",
        "--origin",
        metavar="URL",
        help="Origin header, e.g. https://example.com (default: none).",
    ),
    click.option(
        "--user-agent",
        metavar="TEXT",
        help="User-Agent header ('' sends none) [default: Python/x websockets/x].",
    ),
    click.option(
        "--auth",
        metavar="USER[:PASSWORD]",
        help="HTTP Basic authentication; without :PASSWORD it is asked on a terminal.",
    ),
    click.option(
        "--bearer-env",
        metavar="VAR",
        help="Send 'Authorization: Bearer' with the token in environment variable VAR.",
    ),
    click.option(
        "--location-trusted",
        is_flag=True,
        help="On a redirect to another origin, send it the headers and credentials given "
        "here too (by default none of them go there).",
    ),
    # -- proxies ---------------------------------------------------------------------------
    click.option(
        "--proxy",
        metavar="URL",
        help="Proxy: http://, https://, socks5:// or socks5h://, with user:password@ if "
        "needed [default: HTTPS_PROXY for wss://, HTTP_PROXY for ws://, then ALL_PROXY; "
        "NO_PROXY honoured].",
    ),
    click.option(
        "--no-proxy",
        is_flag=True,
        help="Connect directly, ignoring the proxy environment variables.",
    ),
    # -- TLS -------------------------------------------------------------------------------
    click.option(
        "--cacert",
        metavar="FILE",
        help="Trust the CA certificates in this PEM file instead of the system store.",
    ),
    click.option(
        "--capath",
        metavar="DIR",
        help="Trust the CA certificates in this hashed directory (c_rehash) instead.",
    ),
    click.option(
        "--cert",
        metavar="FILE",
        help="Client certificate (PEM; may hold the key too).",
    ),
    click.option("--key", metavar="FILE", help="Private key of --cert (PEM)."),
    click.option(
        "--key-password-env",
        metavar="VAR",
        help="Passphrase of an encrypted key, from environment variable VAR "
        "[default: asked on a terminal].",
    ),
    click.option(
        "-k",
        "--insecure",
        is_flag=True,
        help="Do not verify the server's certificate (unsafe; warns every time).",
    ),
    click.option(
        "--tls-server-name",
        metavar="NAME",
        help="Server name for SNI and certificate checks [default: the URL's host].",
    ),
    # -- retries ---------------------------------------------------------------------------
    click.option(
        "--retry",
        type=click.IntRange(0, 1000),
        default=0,
        show_default=True,
        metavar="N",
        help="Retry a failed connection up to N times (refused, timeout, 5xx, 429, 408); "
        "never after 4xx, certificate errors or a policy denial.",
    ),
    click.option(
        "--retry-delay",
        type=DURATION,
        default="1s",
        show_default=True,
        help="Delay before the first retry; it doubles each time, with jitter.",
    ),
    click.option(
        "--retry-max-delay",
        type=DURATION,
        default="30s",
        show_default=True,
        help="Longest delay between retries.",
    ),
]


def connection_options(function: F) -> F:
    """Add the connection options; the command receives ``options: ConnectOptions``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _CONNECTION_PARAMS}
        headers: list[tuple[str, str]] = []
        for item in values["headers"]:  # -H @FILE gives a list of headers
            headers.extend(item if isinstance(item, list) else [item])
        try:
            kwargs["options"] = ConnectOptions(
                headers=tuple(headers),
                subprotocols=tuple(values["subprotocols"]),
                dial_timeout=values["dial_timeout"],
                read_timeout=values["read_timeout"],
                write_timeout=values["write_timeout"],
                compression=values["compression"],
                compression_threshold=values["compression_threshold"],
                read_limit=values["read_limit"],
                channel_capacity=values["channel_capacity"],
                close_timeout=values["close_timeout"],
                policy_file=values["policy_file"],
                **_connection_extras(values),
            )
        except InvalidInput as exc:
            raise click.UsageError(str(exc)) from None
        kwargs["options"] = _prepare_tls(kwargs["options"])
        return function(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_CONNECTION_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def _environment() -> Any:
    """The command's :class:`~wsctl.environment.Environment` (set by the group)."""
    from wsctl.environment import Environment

    ctx = click.get_current_context(silent=True)
    env = ctx.find_object(Environment) if ctx is not None else None
    return env if env is not None else Environment.from_process()


def _from_env_var(variable: str, flag: str) -> str:
    """A secret from the environment, so that it stays out of ``ps`` and shell history."""
    import os

    value = os.environ.get(variable)
    if value is None:
        raise InvalidInput(f"{flag} {variable}: the environment variable {variable} is not set")
    if not value:
        raise InvalidInput(f"{flag} {variable}: the environment variable {variable} is empty")
    return value


def _connection_extras(values: dict[str, Any]) -> dict[str, Any]:
    """ConnectOptions fields from identity, proxy, TLS and retry options; may prompt."""
    extras: dict[str, Any] = {
        "origin": values["origin"],
        "user_agent": values["user_agent"],
        "location_trusted": values["location_trusted"],
        "proxy": values["proxy"],
        "no_proxy": values["no_proxy"],
        "cacert": values["cacert"],
        "capath": values["capath"],
        "cert": values["cert"],
        "key": values["key"],
        "insecure": values["insecure"],
        "tls_server_name": values["tls_server_name"],
        "retries": values["retry"],
        "retry_delay": values["retry_delay"],
        "retry_max_delay": values["retry_max_delay"],
    }
    if values["auth"] is not None:
        user, sep, password = values["auth"].partition(":")
        if not sep:
            if not _environment().stdin_isatty:
                raise InvalidInput(
                    f"--auth {user}: no password, and no terminal to ask for it on; "
                    "give --auth USER:PASSWORD"
                )
            password = click.prompt(f"Password for {user}", hide_input=True, err=True)
        extras["auth"] = (user, password)
    if values["bearer_env"] is not None:
        extras["bearer_token"] = _from_env_var(values["bearer_env"], "--bearer-env").strip()
    if values["key_password_env"] is not None:
        extras["key_password"] = _from_env_var(values["key_password_env"], "--key-password-env")
    elif values["cert"] is not None and _environment().stdin_isatty:
        key = values["key"] or values["cert"]
        # Called by the ssl module only if the key turns out to be encrypted.
        extras["key_password"] = lambda: click.prompt(
            f"Passphrase for {key}", hide_input=True, err=True
        )
    return extras


def _prepare_tls(options: ConnectOptions) -> ConnectOptions:
    """Load the TLS files now (bad ones: exit 2 before any I/O) and warn about ``-k``."""
    if options.insecure:
        from wsctl.output import StatusWriter
        from wsctl.tls import INSECURE_WARNING

        StatusWriter(_environment()).warning(INSECURE_WARNING)
    if not (options.cacert or options.capath or options.cert or options.insecure):
        return options
    import dataclasses

    from wsctl.tls import build_context

    return dataclasses.replace(options, ssl_context=build_context(options), key_password=None)


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


def _remember_force(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["wsctl.force"] = True


#: ``--force``: eager, so that ``--binary-format`` (checked after it) knows it was given.
force_option = click.option(
    "--force",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_remember_force,
    help="Write raw binary data (--binary-format raw) even when stdout is a terminal.",
)


def check_binary_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """Refuse ``--binary-format raw`` to a terminal without ``--force``, as curl refuses binary
    output: raw bytes can drive the terminal (escape sequences) and garble it."""
    if value == "raw" and not ctx.meta.get("wsctl.force") and _environment().stdout_isatty:
        raise click.UsageError(
            "--binary-format raw: refusing to write binary data to a terminal; "
            "redirect stdout to a file or a pipe, or add --force"
        )
    return value


def receive_output_options(function: F) -> F:
    """How received messages are written: ``--json``, ``--timestamps``, ``--binary-format``."""
    function = force_option(function)
    function = click.option(
        "--binary-format",
        type=click.Choice(["base64", "hex", "raw"]),
        callback=check_binary_format,
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


def _apply(function: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        function = option(function)
    return function


def reply_wait_options(when: str = "After the last send") -> Callable[[F], F]:
    """``--wait N`` and ``--wait-time D``: how long to keep printing replies once input ends.

    ``when`` starts the help text, so each command can say when the waiting begins.
    """

    def decorate(function: F) -> F:
        return _apply(
            function,
            [
                click.option(
                    "--wait",
                    "wait_count",
                    type=click.IntRange(min=0),
                    help=f"{when}, stop as soon as N replies have arrived.",
                ),
                click.option(
                    "--wait-time",
                    type=DURATION,
                    default="1s",
                    show_default=True,
                    help=f"{when}, stop when no message arrives for this long (0: close at once).",
                ),
            ],
        )

    return decorate


def close_options(when: str = "at the end") -> Callable[[F], F]:
    """``--close-code`` and ``--close-reason``: the Close frame this side sends ``when``."""

    def decorate(function: F) -> F:
        return _apply(
            function,
            [
                click.option(
                    "--close-code", type=CLOSE_CODE, help=f"Close code sent {when} [1000]."
                ),
                click.option("--close-reason", default="", help=f"Close reason sent {when}."),
            ],
        )

    return decorate


def keepalive_options(function: F) -> F:
    """``--ping-interval`` and ``--ping-timeout``: keep-alive pings on a timer."""
    return _apply(
        function,
        [
            click.option(
                "--ping-interval",
                type=DURATION,
                help="Send a keep-alive Ping this often; no Pong within --ping-timeout closes "
                "(exit 6).",
            ),
            click.option(
                "--ping-timeout",
                type=DURATION,
                help="How long a keep-alive Pong may take [default: the ping interval].",
            ),
        ],
    )
