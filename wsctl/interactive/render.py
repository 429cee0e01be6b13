"""How the interactive session shows traffic: direction markers, timestamps, colours, JSON.

Every line is built as a :class:`rich.text.Text` from plain strings, so nothing received is
ever read as rich markup, and every string from the network goes through
:func:`~wsctl.output.escape_control` first, so a hostile server cannot move the cursor, set the
title or print links.  The builders (:func:`message_line`, :func:`text_body`, …) are pure and
return ``Text``; :class:`Renderer` prints them on a console.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.text import Text

from wsctl.core import Message
from wsctl.output import escape_control, hex_dump

#: Markers at the start of each line: what was sent, received, happened, went wrong.
SENT = ">"
RECEIVED = "<"
EVENT = "*"
ERROR = "!"

#: Binary messages are dumped up to this many bytes; a longer dump says how much was left out.
HEX_DUMP_LIMIT = 1024

#: Larger JSON is shown as it came: re-indenting megabytes would stall the session.
PRETTY_LIMIT = 1024 * 1024

_STYLES = {
    SENT: "bold green",
    RECEIVED: "bold cyan",
    EVENT: "yellow",
    ERROR: "bold red",
}

# A JSON token: a string (with its escapes), a structural character, or a run of anything else
# (numbers, true, false, null) — copied verbatim, so 1.10 stays 1.10 and duplicate keys stay.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+', re.DOTALL)


@dataclass
class View:
    """Display settings the user can switch during the session."""

    pretty: bool = True
    timestamps: bool = False
    show_ping_pong: bool = False


def _reformat_json(text: str, indent: int | None) -> str:
    """Re-space valid JSON without reparsing its values: indented, or on one line."""
    tokens = _JSON_TOKEN.findall(text)
    out: list[str] = []
    depth = 0
    newline = indent is not None
    step = " " * (indent or 0)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("{", "["):
            closer = "}" if token == "{" else "]"
            if i + 1 < len(tokens) and tokens[i + 1] == closer:
                out.append(token + closer)
                i += 2
                continue
            depth += 1
            out.append(token + ("\n" + step * depth if newline else ""))
        elif token in ("}", "]"):
            depth -= 1
            out.append(("\n" + step * depth if newline else "") + token)
        elif token == ",":
            out.append(",\n" + step * depth if newline else ", ")
        elif token == ":":
            out.append(": ")
        else:
            out.append(token)
        i += 1
    return "".join(out)


def pretty_json(text: str, width: int) -> str | None:
    """``text`` laid out for reading when it is a JSON object or array, else None.

    On one line when that fits in ``width`` columns (a stream of small messages stays one line
    each), indented by two spaces otherwise.  Values are copied exactly as they were sent.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[" or len(stripped) > PRETTY_LIMIT:
        return None
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    compact = _reformat_json(stripped, None)
    if len(compact) <= width:
        return compact
    return _reformat_json(stripped, 2)


def text_body(text: str, *, pretty: bool, width: int | Callable[[], int]) -> Text:
    """The body of a text message: escaped, and highlighted JSON when ``pretty``.

    ``width`` may be a function, asked only for a message that may be JSON (measuring the
    terminal costs a system call).
    """
    if text == "":
        return Text("(empty message)", style="dim italic")
    if pretty and text.lstrip()[:1] in ("{", "["):
        laid_out = pretty_json(text, width if isinstance(width, int) else width())
        if laid_out is not None:
            body = Text(escape_control(laid_out))
            JSONHighlighter().highlight(body)
            return body
    return Text(escape_control(text))


def binary_body(data: bytes, *, limit: int = HEX_DUMP_LIMIT) -> Text:
    """The body of a binary message: its length, then a hex dump (cut after ``limit`` bytes)."""
    size = len(data)
    body = Text(f"binary, {size} byte{'s' if size != 1 else ''}", style="magenta")
    if data:
        body.append("\n" + hex_dump(data[:limit]), style="dim")
        if size > limit:
            body.append(f"\n… {size - limit} more bytes not shown", style="dim italic")
    return body


def message_line(marker: str, body: Text, *, timestamp: str | None = None) -> Text:
    """``[time] marker body``, with the body's later lines indented under its first."""
    prefix = Text()
    if timestamp is not None:
        prefix.append(timestamp + " ", style="dim")
    prefix.append(marker + " ", style=_STYLES.get(marker, ""))
    if "\n" not in body.plain:
        return prefix.append_text(body)
    indent = " " * prefix.cell_len
    line = prefix
    for number, part in enumerate(body.split("\n", allow_blank=True)):
        if number:
            line.append("\n" + indent)
        line.append_text(part)
    return line


def format_rtt(seconds: float) -> str:
    """A round-trip time for people: ``0.42 ms``, ``12.3 ms``, ``1.25 s``."""
    milliseconds = seconds * 1000
    if milliseconds < 10:
        return f"{milliseconds:.2f} ms"
    if milliseconds < 1000:
        return f"{milliseconds:.1f} ms"
    return f"{seconds:.2f} s"


def local_timestamp(now: float) -> str:
    """``14:03:07.251``: local time with milliseconds."""
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


class Renderer:
    """Prints the session's traffic and events on ``console``, following ``view``."""

    def __init__(
        self, console: Console, view: View, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.console = console
        self.view = view
        self._clock = clock

    def _print(self, marker: str, body: Text) -> None:
        timestamp = local_timestamp(self._clock()) if self.view.timestamps else None
        self.console.print(message_line(marker, body, timestamp=timestamp))

    def _body_width(self) -> int:
        # Room left on the line after "HH:MM:SS.mmm > ".
        return max(20, self.console.width - (15 if self.view.timestamps else 2))

    def sent(self, data: str | bytes) -> None:
        """A message we are sending."""
        self._print(SENT, self._body(data))

    def received(self, message: Message) -> None:
        """A message from the server."""
        self._print(RECEIVED, self._body(message.data))

    def _body(self, data: str | bytes) -> Text:
        if isinstance(data, bytes):
            return binary_body(data)
        return text_body(data, pretty=self.view.pretty, width=self._body_width)

    def event(self, text: str) -> None:
        """Something that happened: connected, pong, closed."""
        self._print(EVENT, Text(escape_control(text), style="yellow"))

    def error(self, text: str) -> None:
        """Something that went wrong; the session may well go on."""
        self._print(ERROR, Text(escape_control(text), style="red"))

    def command(self, line: str) -> None:
        """Echo a slash command as typed, so that the scrollback shows what was asked."""
        self._print(" ", Text(escape_control(line), style="dim"))

    def note(self, text: str) -> None:
        """Plain information (help, status, the guide): no marker, no timestamp."""
        self.console.print(Text(escape_control(text), style="dim"))

    def banner(self, text: str) -> None:
        """A guide printed before the session starts (``wsctl demo``)."""
        self.console.print(Text(escape_control(text)))
