"""Slash commands of the interactive session: parsing and completion, as pure functions.

:func:`parse_line` turns one line typed at the prompt into an action (a dataclass); the session
carries it out.  Bad arguments raise :class:`~wsctl.errors.InvalidInput` with a one-line
message, which the session prints before showing the prompt again.  Nothing here touches the
network or the terminal; :func:`read_message_file` is the only function that touches the file
system.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from wsctl.errors import InvalidInput
from wsctl.settings import CloseCode, parse_close_code, validate_close_reason

#: A Ping's payload must fit in a control frame.
MAX_PING_PAYLOAD = 125

#: ``/send @file`` and ``/binary @file`` refuse larger files (the spec's largest read limit),
#: so that ``@/dev/zero`` ends with an error instead of eating the memory.
MAX_FILE_SIZE = 128 * 1024 * 1024


# -- actions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SendText:
    """Send ``text`` as one text message."""

    text: str


@dataclass(frozen=True)
class SendBinary:
    """Send ``data`` as one binary message."""

    data: bytes


@dataclass(frozen=True)
class SendFile:
    """Send the content of ``path`` as one message: binary, or text (which must be UTF-8)."""

    path: str
    binary: bool


@dataclass(frozen=True)
class Ping:
    """Send a Ping with ``payload`` and show the round-trip time of its Pong."""

    payload: str


@dataclass(frozen=True)
class Close:
    """Close the connection with ``code`` and ``reason``, then end the session."""

    code: int
    reason: str


Setting = Literal["json", "timestamps", "pingpong"]


@dataclass(frozen=True)
class Toggle:
    """Switch a display setting: ``value`` None flips it, True/False sets it."""

    setting: Setting
    value: bool | None


@dataclass(frozen=True)
class Help:
    """Show the commands, or one command in detail."""

    topic: str | None = None


@dataclass(frozen=True)
class Reconnect:
    """Close the connection (1000) and open a new one to the same URL."""


@dataclass(frozen=True)
class Status:
    """Show the connection: URL, subprotocol, extensions, uptime, message counts."""


@dataclass(frozen=True)
class Clear:
    """Clear the screen."""


@dataclass(frozen=True)
class Quit:
    """Close with the session's close code (1000 unless ``--close-code``) and exit."""


Action = (
    SendText
    | SendBinary
    | SendFile
    | Ping
    | Close
    | Toggle
    | Help
    | Reconnect
    | Status
    | Clear
    | Quit
)

#: Parses the arguments of one command.
_Parser = Callable[[str, "CommandSpec"], Action]


# -- the command table ---------------------------------------------------------------------


@dataclass(frozen=True)
class CommandSpec:
    """One slash command as ``/help`` shows it."""

    name: str
    usage: str
    summary: str
    details: str = ""
    aliases: tuple[str, ...] = ()


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "[command]", "list the commands, or explain one"),
    CommandSpec(
        "ping",
        "[payload]",
        "send a Ping; its Pong is shown with the round-trip time",
        f"The payload is optional text of at most {MAX_PING_PAYLOAD} bytes.",
    ),
    CommandSpec(
        "close",
        "[code] [reason]",
        "close the connection and exit",
        "The code is a number (1000-4999) or a name such as normal, going-away, "
        "internal-error; the rest of the line is the reason (at most 123 bytes). "
        "Without arguments: 1000 (normal).",
    ),
    CommandSpec(
        "binary",
        "hex:… | base64:… | @file",
        "send a binary message",
        "hex: takes pairs of hex digits (spaces allowed), base64: standard or URL-safe "
        "base64, @file the whole content of a file.",
    ),
    CommandSpec(
        "send",
        "@file | text",
        "send a file's content (or the text as typed) as one text message",
        "The file must be UTF-8; send other files with /binary @file. "
        "/send with no argument sends an empty message.",
    ),
    CommandSpec(
        "json",
        "[on|off]",
        "pretty-print and highlight JSON messages (toggle)",
    ),
    CommandSpec("timestamps", "[on|off]", "show the time of each message (toggle)"),
    CommandSpec("pingpong", "[on|off]", "show keep-alive pings and their pongs (toggle)"),
    CommandSpec("reconnect", "", "close the connection and connect again to the same URL"),
    CommandSpec("status", "", "show the URL, subprotocol, extensions, uptime and message counts"),
    CommandSpec("clear", "", "clear the screen (Ctrl-L does it too)"),
    CommandSpec(
        "quit",
        "",
        "close the connection (1000) and exit; Ctrl-D does it too",
        aliases=("exit", "q"),
    ),
)

_BY_NAME: dict[str, CommandSpec] = {
    name: spec for spec in COMMANDS for name in (spec.name, *spec.aliases)
}

#: Close-code names that may be sent, for completion (the same spelling parse_close_code reads).
CLOSE_CODE_NAMES: tuple[str, ...] = tuple(
    code.name.lower().replace("_", "-")
    for code in CloseCode
    if code not in (CloseCode.NO_STATUS, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE)
)


def find_command(name: str) -> CommandSpec | None:
    """The command called ``name`` (without the slash, any case), or None."""
    return _BY_NAME.get(name.lower())


# -- parsing -------------------------------------------------------------------------------


_COMMAND = re.compile(r"/(\S*)\s*(.*)", re.DOTALL)


def parse_line(line: str) -> Action | None:
    """What a line typed at the prompt asks for; None for an empty line (nothing is sent).

    A line not starting with ``/`` is a text message, sent exactly as typed.  ``//text`` sends
    ``/text``.  ``/name args`` is a slash command.
    """
    if line == "":
        return None
    if not line.startswith("/"):
        return SendText(line)
    if line.startswith("//"):
        return SendText(line[1:])
    # The name ends at the first white space: a space, or a newline typed with Esc-Enter.
    match = _COMMAND.match(line)
    assert match is not None  # the pattern matches any line starting with "/"
    name, rest = match.groups()
    spec = find_command(name)
    if spec is None:
        raise InvalidInput(_unknown_command(name))
    return _PARSERS[spec.name](rest.strip(), spec)


def _unknown_command(name: str) -> str:
    shown = f"/{name}" if name else "/"
    close = difflib.get_close_matches(name.lower(), list(_BY_NAME), n=1)
    hint = f" (did you mean /{_BY_NAME[close[0]].name}?)" if close else ""
    return (
        f"unknown command {shown!r}{hint}; /help lists the commands, "
        "and // at the start sends a literal /"
    )


def _usage(spec: CommandSpec) -> str:
    return f"usage: /{spec.name} {spec.usage}".rstrip()


def _no_arguments(args: str, spec: CommandSpec) -> None:
    if args:
        raise InvalidInput(f"/{spec.name} takes no arguments ({_usage(spec)})")


def _parse_help(args: str, spec: CommandSpec) -> Action:
    topic = args.lstrip("/")
    if topic and find_command(topic) is None:
        raise InvalidInput(_unknown_command(topic))
    return Help(topic or None)


def _parse_ping(args: str, spec: CommandSpec) -> Action:
    size = len(args.encode("utf-8", "surrogatepass"))
    if size > MAX_PING_PAYLOAD:
        raise InvalidInput(f"ping payload is {size} bytes; at most {MAX_PING_PAYLOAD} fit")
    return Ping(args)


def _parse_close(args: str, spec: CommandSpec) -> Action:
    if not args:
        return Close(1000, "")
    code_text, *rest = args.split(None, 1)
    code = parse_close_code(code_text)
    reason = rest[0].strip() if rest else ""
    validate_close_reason(reason)
    return Close(code, reason)


_HEX_SPACE = re.compile(r"\s+")


def parse_hex(text: str) -> bytes:
    """``"48 65 6c"`` or ``"48656c"`` → bytes; anything else is a one-line error."""
    digits = _HEX_SPACE.sub("", text)
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    bad = re.search(r"[^0-9a-fA-F]", digits)
    if bad:
        raise InvalidInput(
            f"bad hex: {bad.group()!r} is not a hex digit (expected pairs of 0-9, a-f)"
        )
    if len(digits) % 2:
        raise InvalidInput(f"bad hex: {len(digits)} digits; each byte takes two")
    return bytes.fromhex(digits)


def parse_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional, white space ignored."""
    data = _HEX_SPACE.sub("", text).replace("-", "+").replace("_", "/")
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"bad base64: {exc}") from None


def _file_argument(args: str, spec: CommandSpec) -> str:
    path = args[1:].strip()
    if not path:
        raise InvalidInput(f"/{spec.name} @ needs a file name ({_usage(spec)})")
    return path


def _parse_binary(args: str, spec: CommandSpec) -> Action:
    if args.startswith("@"):
        return SendFile(_file_argument(args, spec), binary=True)
    kind, sep, value = args.partition(":")
    if sep and kind.lower() == "hex":
        return SendBinary(parse_hex(value))
    if sep and kind.lower() in ("base64", "b64"):
        return SendBinary(parse_base64(value))
    shown = f" {args!r}" if args else ""
    raise InvalidInput(
        f"/binary needs hex:…, base64:… or @file, not{shown or ' nothing'} ({_usage(spec)})"
    )


def _parse_send(args: str, spec: CommandSpec) -> Action:
    if args.startswith("@"):
        return SendFile(_file_argument(args, spec), binary=False)
    return SendText(args)


_SWITCH = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def _toggle(setting: Setting) -> _Parser:
    def parse(args: str, spec: CommandSpec) -> Action:
        if not args:
            return Toggle(setting, None)
        value = _SWITCH.get(args.lower())
        if value is None:
            raise InvalidInput(f"/{spec.name} takes on or off, not {args!r}")
        return Toggle(setting, value)

    return parse


def _simple(action: Action) -> _Parser:
    def parse(args: str, spec: CommandSpec) -> Action:
        _no_arguments(args, spec)
        return action

    return parse


_PARSERS: dict[str, _Parser] = {
    "help": _parse_help,
    "ping": _parse_ping,
    "close": _parse_close,
    "binary": _parse_binary,
    "send": _parse_send,
    "json": _toggle("json"),
    "timestamps": _toggle("timestamps"),
    "pingpong": _toggle("pingpong"),
    "reconnect": _simple(Reconnect()),
    "status": _simple(Status()),
    "clear": _simple(Clear()),
    "quit": _simple(Quit()),
}


# -- help ----------------------------------------------------------------------------------


def help_text(topic: str | None = None) -> str:
    """The text ``/help`` shows: every command, or one command with its details."""
    if topic is not None:
        spec = find_command(topic.lstrip("/"))
        if spec is None:
            raise InvalidInput(_unknown_command(topic))
        lines = [f"/{spec.name} {spec.usage}".rstrip() + f" — {spec.summary}"]
        if spec.details:
            lines.append(spec.details)
        if spec.aliases:
            lines.append("Also: " + ", ".join(f"/{alias}" for alias in spec.aliases))
        return "\n".join(lines)
    width = max(len(f"/{spec.name} {spec.usage}") for spec in COMMANDS)
    lines = [f"{f'/{spec.name} {spec.usage}':<{width}}  {spec.summary}" for spec in COMMANDS]
    lines += [
        "",
        "A line not starting with / is sent as a text message; // at the start sends a literal /.",
        "Keys: Enter sends, Alt-Enter or Esc Enter inserts a newline, Tab completes, "
        "Up/Down and Ctrl-R search the history, Ctrl-C clears the line, "
        "Ctrl-D (or Ctrl-C on an empty line) quits.",
    ]
    return "\n".join(lines)


# -- completion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """One completion: replace the last ``start`` characters before the cursor with ``text``."""

    text: str
    start: int
    meta: str = ""


def complete(before_cursor: str) -> list[Completion]:
    """Completions for the text left of the cursor: command names, close codes, prefixes.

    File names after ``@`` are completed by the session (they need the file system).
    """
    if not before_cursor.startswith("/") or before_cursor.startswith("//"):
        return []
    if "\n" in before_cursor:
        return []
    name, space, args = before_cursor[1:].partition(" ")
    if not space:
        word = name.lower()
        return [
            Completion(f"/{spec.name}", len(before_cursor), spec.summary)
            for spec in COMMANDS
            if spec.name.startswith(word)
        ]
    spec = find_command(name)
    if spec is None or " " in args:
        return []
    word = args.lower()
    if spec.name == "close":
        return [
            Completion(code_name, len(args), str(CloseCode[code_name.upper().replace("-", "_")]))
            for code_name in CLOSE_CODE_NAMES
            if code_name.startswith(word)
        ]
    if spec.name == "binary":
        choices = [("hex:", "hex digits"), ("base64:", "base64 text"), ("@", "a file")]
        return [
            Completion(text, len(args), meta) for text, meta in choices if text.startswith(word)
        ]
    if spec.name == "help":
        return [
            Completion(other.name, len(args), other.summary)
            for other in COMMANDS
            if other.name.startswith(word)
        ]
    if spec.name in ("json", "timestamps", "pingpong"):
        return [Completion(value, len(args)) for value in ("on", "off") if value.startswith(word)]
    return []


def file_argument_prefix(before_cursor: str) -> str | None:
    """The partial file name after ``/send @`` or ``/binary @``, or None elsewhere."""
    match = re.fullmatch(r"/(send|binary) @(.*)", before_cursor, re.IGNORECASE | re.DOTALL)
    return match.group(2) if match else None


# -- files ---------------------------------------------------------------------------------


def read_message_file(path: str, *, binary: bool) -> bytes:
    """The content of ``path`` for ``/send @file`` (must be UTF-8) or ``/binary @file``.

    Raises :class:`InvalidInput` with a one-line message when the file cannot be used.
    """
    expanded = os.path.expanduser(path)
    try:
        with open(expanded, "rb") as file:
            data = file.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_SIZE:
        raise InvalidInput(f"cannot send {path}: larger than {MAX_FILE_SIZE // (1024 * 1024)} MiB")
    if not binary:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{path} is not UTF-8 text (byte {exc.start}); send it with /binary @{path}"
            ) from None
    return data
