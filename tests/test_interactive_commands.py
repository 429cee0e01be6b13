"""The interactive session's pure parts, by tables: slash commands, completion, rendering,
the history's place.  No terminal, no network."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from wsctl.core import Message
from wsctl.errors import InvalidInput
from wsctl.interactive.commands import (
    Clear,
    Close,
    Help,
    Ping,
    Quit,
    Reconnect,
    SendBinary,
    SendFile,
    SendText,
    Status,
    Toggle,
    complete,
    file_argument_prefix,
    help_text,
    parse_line,
    read_message_file,
)
from wsctl.interactive.history import history_path
from wsctl.interactive.render import (
    Renderer,
    View,
    binary_body,
    format_rtt,
    message_line,
    pretty_json,
    text_body,
)
from wsctl.output import escape_control

# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("hello", SendText("hello")),
        ("  spaced  ", SendText("  spaced  ")),
        ('{"a": 1}', SendText('{"a": 1}')),
        ("multi\nline", SendText("multi\nline")),
        ("//literal", SendText("/literal")),
        ("//", SendText("/")),
        ("/help", Help()),
        ("/help close", Help("close")),
        ("/help /ping", Help("ping")),
        ("/ping", Ping("")),
        ("/ping hello there", Ping("hello there")),
        ("/PING x", Ping("x")),
        ("/close", Close(1000, "")),
        ("/close 4000", Close(4000, "")),
        ("/close 4000 see you later", Close(4000, "see you later")),
        ("/close going-away bye", Close(1001, "bye")),
        ("/close INTERNAL_ERROR", Close(1011, "")),
        ("/binary hex:48656c6c6f", SendBinary(b"Hello")),
        ("/binary hex:48 65 6C 6c 6f", SendBinary(b"Hello")),
        ("/binary hex:0x00ff", SendBinary(b"\x00\xff")),
        ("/binary hex:", SendBinary(b"")),
        ("/binary base64:SGVsbG8=", SendBinary(b"Hello")),
        ("/binary base64:SGVsbG8", SendBinary(b"Hello")),  # padding optional
        ("/binary base64:_-8", SendBinary(b"\xff\xef")),  # URL-safe alphabet
        ("/binary b64:AA==", SendBinary(b"\x00")),
        ("/binary @data.bin", SendFile("data.bin", binary=True)),
        ("/binary @my file.bin", SendFile("my file.bin", binary=True)),
        ("/send @message.json", SendFile("message.json", binary=False)),
        ("/send /not/a/command", SendText("/not/a/command")),
        ("/send", SendText("")),
        ("/json", Toggle("json", None)),
        ("/json off", Toggle("json", False)),
        ("/timestamps on", Toggle("timestamps", True)),
        ("/pingpong", Toggle("pingpong", None)),
        ("/reconnect", Reconnect()),
        ("/status", Status()),
        ("/clear", Clear()),
        ("/quit", Quit()),
        ("/exit", Quit()),
        ("/q", Quit()),
        ("", None),
    ],
)
def test_parse_line(line: str, action: object) -> None:
    assert parse_line(line) == action


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/close 999", "invalid close code 999: must be from 1000 to 4999"),
        ("/close 1006", "invalid close code 1006 (abnormal closure)"),
        ("/close 2000", "1016-2999 are reserved"),
        ("/close bye", "invalid close code 'bye'"),
        ("/close 1000 " + "x" * 124, "close reason is 124 bytes"),
        ("/ping " + "p" * 126, "ping payload is 126 bytes; at most 125 fit"),
        ("/binary hex:zz", "bad hex: 'z' is not a hex digit"),
        ("/binary hex:abc", "bad hex: 3 digits; each byte takes two"),
        ("/binary base64:@@@@", "bad base64"),
        ("/binary 414243", "/binary needs hex:…, base64:… or @file, not '414243'"),
        ("/binary", "/binary needs hex:…, base64:… or @file, not nothing"),
        ("/binary @", "/binary @ needs a file name"),
        ("/send @ ", "/send @ needs a file name"),
        ("/json maybe", "/json takes on or off, not 'maybe'"),
        ("/quit now", "/quit takes no arguments"),
        ("/reconnect please", "/reconnect takes no arguments"),
        ("/pnig", "unknown command '/pnig' (did you mean /ping?)"),
        ("/", "unknown command '/'"),
        ("/ hello", "unknown command '/'"),
        ("/help nothing", "unknown command '/nothing'"),
    ],
)
def test_bad_arguments_are_one_line_errors(line: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_line(line)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_newline_after_the_command_name_separates_it_from_the_arguments() -> None:
    assert parse_line("/close 4000\nbye") == Close(4000, "bye")
    assert parse_line("/send\nline one\nline two") == SendText("line one\nline two")


@given(st.text())
def test_any_line_parses_to_an_action_or_a_one_line_error(line: str) -> None:
    try:
        action = parse_line(line)
    except InvalidInput as exc:
        assert line.startswith("/")
        assert "\n" not in str(exc)
    else:
        if not line.startswith("/"):
            assert action == (SendText(line) if line else None)


@given(st.binary())
def test_hex_and_base64_round_trip(data: bytes) -> None:
    import base64

    assert parse_line("/binary hex:" + data.hex()) == SendBinary(data)
    assert parse_line("/binary base64:" + base64.b64encode(data).decode()) == SendBinary(data)


# -- help and completion -----------------------------------------------------------------------


def test_help_lists_every_command_and_explains_one() -> None:
    text = help_text()
    for name in ("/help", "/ping", "/close", "/binary", "/send", "/json", "/timestamps"):
        assert name in text
    for name in ("/reconnect", "/quit", "/status", "/clear", "/pingpong"):
        assert name in text
    assert "Alt-Enter" in text
    assert "Ctrl-R" in text
    detail = help_text("close")
    assert detail.startswith("/close [code] [reason]")
    assert "going-away" in detail


@pytest.mark.parametrize(
    ("before_cursor", "texts"),
    [
        ("/", ["/help", "/ping", "/close", "/binary", "/send", "/json", "/timestamps",
               "/pingpong", "/reconnect", "/status", "/clear", "/quit"]),
        ("/c", ["/close", "/clear"]),
        ("/PI", ["/ping", "/pingpong"]),
        ("/close ", None),  # every sendable close-code name
        ("/close go", ["going-away"]),
        ("/close 4000 ", []),  # the reason is free text
        ("/binary ", ["hex:", "base64:", "@"]),
        ("/binary h", ["hex:"]),
        ("/help re", ["reconnect"]),
        ("/json o", ["on", "off"]),
        ("hello", []),
        ("//literal", []),
        ("/unknown ", []),
    ],
)  # fmt: skip
def test_completion(before_cursor: str, texts: list[str] | None) -> None:
    completions = complete(before_cursor)
    if texts is None:
        names = [c.text for c in completions]
        assert "normal" in names and "internal-error" in names
        assert "abnormal-closure" not in names and "no-status" not in names
        return
    assert [c.text for c in completions] == texts
    for completion in completions:
        # Each replaces exactly the word being typed.
        word = before_cursor.rsplit(" ", 1)[-1] if " " in before_cursor else before_cursor
        assert completion.start == len(word)


@pytest.mark.parametrize(
    ("before_cursor", "prefix"),
    [
        ("/send @", ""),
        ("/send @~/data/fi", "~/data/fi"),
        ("/binary @a b", "a b"),
        ("/send hello", None),
        ("/binary hex:00", None),
        ("hello @file", None),
    ],
)
def test_file_argument_prefix(before_cursor: str, prefix: str | None) -> None:
    assert file_argument_prefix(before_cursor) == prefix


# -- files ---------------------------------------------------------------------------------------


def test_read_message_file(tmp_path: Path) -> None:
    text = tmp_path / "t.json"
    text.write_bytes('{"é": 1}'.encode())
    blob = tmp_path / "b.bin"
    blob.write_bytes(b"\xff\xfe")
    assert read_message_file(str(text), binary=False) == '{"é": 1}'.encode()
    assert read_message_file(str(blob), binary=True) == b"\xff\xfe"
    with pytest.raises(InvalidInput, match=r"is not UTF-8 text \(byte 0\); send it with /binary"):
        read_message_file(str(blob), binary=False)
    with pytest.raises(InvalidInput, match=r"cannot read .*missing: No such file"):
        read_message_file(str(tmp_path / "missing"), binary=True)
    with pytest.raises(InvalidInput, match="cannot read"):
        read_message_file(str(tmp_path), binary=True)  # a directory


# -- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ('{"a":1,"b":[1,2]}', 80, '{"a": 1, "b": [1, 2]}'),
        ("  [ ]  ", 80, "[]"),
        ('{"x":{}}', 80, '{"x": {}}'),
        # Values are kept as sent: no float rounding, no lost duplicate keys, escapes intact.
        ('{"p":1.10,"e":1E3,"a":1,"a":2}', 80, '{"p": 1.10, "e": 1E3, "a": 1, "a": 2}'),
        ('{"s":"a,b:{c}\\"d"}', 80, '{"s": "a,b:{c}\\"d"}'),
        ('{"a":1,"b":[1,2]}', 10, '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}'),
        ("not json", 80, None),
        ("42", 80, None),  # only objects and arrays are laid out
        ('"a string"', 80, None),
        ("{broken", 80, None),
    ],
)
def test_pretty_json(text: str, width: int, expected: str | None) -> None:
    assert pretty_json(text, width) == expected


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
))  # fmt: skip
def test_pretty_json_keeps_the_value(value: object) -> None:
    import json

    text = json.dumps(value)
    for width in (0, 1000):
        laid_out = pretty_json(text, width)
        if isinstance(value, list | dict):
            assert laid_out is not None
            assert json.loads(laid_out) == json.loads(text)
        else:
            assert laid_out is None


HOSTILE = [
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\u009b31m",
    "\u202eevil",
    "back\rspace\b",
]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("pretty", [False, True])
def test_text_body_escapes_control_characters(hostile: str, pretty: bool) -> None:
    for text in (hostile, '{"k": "' + hostile.replace("\\", "\\\\") + '"}'):
        body = text_body(text, pretty=pretty, width=200)
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in body.plain)
        assert "\u202e" not in body.plain


def test_markup_is_never_interpreted() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard")
    renderer = Renderer(console, View(pretty=True))
    renderer.received(Message("text", "[bold red]x[/] [link=http://evil.example]y[/link]"))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[bold red]x[/] [link=http://evil.example]y[/link]" in output
    assert "\x1b]8;" not in output  # no hyperlink was made


def test_binary_body_shows_length_and_dump() -> None:
    assert binary_body(b"").plain == "binary, 0 bytes"
    assert binary_body(b"A").plain.startswith("binary, 1 byte\n00000000  41")
    big = binary_body(bytes(2000), limit=32)
    assert big.plain.count("\n") == 3  # header, two lines of 16 bytes, the note
    assert big.plain.endswith("… 1968 more bytes not shown")


def test_message_line_indents_continuation_lines_under_the_first() -> None:
    body = text_body('{"a":[1]}', pretty=True, width=1)
    assert message_line("<", body).plain == '< {\n    "a": [\n      1\n    ]\n  }'
    stamped = message_line(">", text_body("x\ny", pretty=False, width=80), timestamp="12:00:00.000")
    assert stamped.plain == "12:00:00.000 > x\n               y"


def test_renderer_lines() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    view = View(pretty=True, timestamps=False)
    renderer = Renderer(console, view, clock=lambda: 0.0)
    renderer.sent("hello")
    renderer.received(Message("binary", b"\x01"))
    renderer.event("pong in 0.42 ms")
    renderer.error("bad hex")
    renderer.command("/ping")
    view.timestamps = True
    renderer.received(Message("text", ""))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[:6] == [
        "> hello",
        "< binary, 1 byte",
        "  00000000  01" + " " * 47 + ".",
        "* pong in 0.42 ms",
        "! bad hex",
        "  /ping",
    ]
    assert lines[6].endswith(" < (empty message)")
    assert lines[6][2] == ":"  # starts with the local time


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.00042, "0.42 ms"), (0.0123, "12.3 ms"), (1.25, "1.25 s")]
)
def test_format_rtt(seconds: float, shown: str) -> None:
    assert format_rtt(seconds) == shown


def test_escape_control_is_what_the_renderer_uses() -> None:
    # The renderer's escaping is the project's one escaping function, not a copy of it.
    for hostile in HOSTILE:
        assert text_body(hostile, pretty=False, width=80).plain == escape_control(hostile)


# -- history -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({"XDG_STATE_HOME": "/state"}, "linux", "/state/wsctl/history"),
        ({"XDG_STATE_HOME": "relative"}, "linux", "/home/u/.local/state/wsctl/history"),
        ({}, "linux", "/home/u/.local/state/wsctl/history"),
        ({}, "freebsd14", "/home/u/.local/state/wsctl/history"),
        ({}, "darwin", "/home/u/Library/Application Support/wsctl/history"),
        ({"XDG_STATE_HOME": "/state"}, "darwin", "/state/wsctl/history"),
        ({"LOCALAPPDATA": "/appdata"}, "win32", "/appdata/wsctl/history"),
        ({}, "win32", "/home/u/AppData/Local/wsctl/history"),
    ],
)
def test_history_path(environ: dict[str, str], platform: str, expected: str) -> None:
    path = history_path(environ, platform, Path("/home/u"))
    assert path.as_posix() == expected


def test_history_path_defaults_to_this_process() -> None:
    state = os.environ.get("XDG_STATE_HOME", "")
    path = history_path()
    assert path.name == "history" and path.parent.name == "wsctl"
    if state and os.path.isabs(state):
        assert path == Path(state) / "wsctl" / "history"
