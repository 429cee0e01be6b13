"""Pure parsers: durations, sizes, headers, close codes, URLs, options, redaction, escaping."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsctl.durations import format_duration, parse_duration
from wsctl.errors import InvalidInput
from wsctl.output import escape_control, hex_dump
from wsctl.redact import redact_header, redact_url
from wsctl.settings import (
    Compression,
    ConnectOptions,
    parse_close_code,
    parse_compression,
    parse_header,
    validate_close_reason,
    validate_url,
)
from wsctl.sizes import parse_size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5000, 5.0),
        (0, 0.0),
        (1.5, 0.0015),
        ("250", 0.25),
        ("0", 0.0),
        ("300ms", 0.3),
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("2h45m", 9900.0),
        ("10us", 1e-5),
        ("10µs", 1e-5),
        ("10μs", 1e-5),
        ("100ns", 1e-7),
        (".5s", 0.5),
        ("+2s", 2.0),
    ],
)
def test_durations(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["", "s", "5", "5 s", "-1s", "-5", "1d", "5sec", "1m30", "nan", "inf", True, "8761h"]
)
def test_bad_durations(value: object) -> None:
    if value == "5":  # a bare number is milliseconds: valid
        assert parse_duration("5") == 0.005
        return
    with pytest.raises(InvalidInput):
        parse_duration(value)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**9))
def test_milliseconds_round_trip(ms: int) -> None:
    assert parse_duration(ms) == pytest.approx(ms / 1000)
    assert parse_duration(f"{ms}ms") == pytest.approx(ms / 1000)


@given(st.text(max_size=12))
def test_duration_parser_only_raises_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        assert parse_duration(text) >= 0


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (5, "5s"), (90, "1m30s"), (3600, "1h"), (3660, "1h1m")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (512, 512),
        ("512", 512),
        ("64KiB", 65536),
        ("16MiB", 16 * 1024 * 1024),
        ("1MB", 1_000_000),
        ("1kb", 1000),
        ("2K", 2048),
        ("1.5MiB", 1572864),
        ("0", 0),
        ("10 B", 10),
    ],
)
def test_sizes(value: str | int, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "MiB", "1.3B", "-1", -1, "1 TB", "ten", "1e3"])
def test_bad_sizes(value: str | int) -> None:
    with pytest.raises(InvalidInput):
        parse_size(value)


@given(st.text(max_size=10))
def test_size_parser_only_raises_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        assert parse_size(text) >= 0


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("X-Token: abc", ("X-Token", "abc")),
        ("X-Empty:", ("X-Empty", "")),
        ("X-Colon: a:b:c", ("X-Colon", "a:b:c")),
        ("  Spaced  :   value  ", ("Spaced", "value")),
    ],
)
def test_headers(text: str, pair: tuple[str, str]) -> None:
    assert parse_header(text) == pair


@pytest.mark.parametrize(
    "text",
    [
        "NoColon",
        ": value",
        "Bad Name: v",
        "X-Inject: a\r\nEvil: b",
        "X-Nul: a\0b",
        "Sec-WebSocket-Key: x",
        "Upgrade: h2c",
        "Host: other",
    ],
)
def test_bad_headers(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_header(text)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1000, 1000),
        ("1000", 1000),
        ("normal", 1000),
        ("GOING_AWAY", 1001),
        ("internal-error", 1011),
        (3000, 3000),
        ("4999", 4999),
        (1014, 1014),
    ],
)
def test_close_codes(value: int | str, code: int) -> None:
    assert parse_close_code(value) == code


@pytest.mark.parametrize(
    "value", [999, 5000, 1004, 1005, 1006, 1015, 1016, 2999, "nope", "-1", "²"]
)
def test_bad_close_codes(value: int | str) -> None:
    with pytest.raises(InvalidInput):
        parse_close_code(value)


def test_close_reason_limit_counts_utf8_bytes() -> None:
    assert validate_close_reason("é" * 61) == "é" * 61  # 122 bytes
    with pytest.raises(InvalidInput, match="124 bytes"):
        validate_close_reason("é" * 62)


@pytest.mark.parametrize("url", ["ws://h/", "wss://h:443/p?q=1", "WS://H", "ws://[::1]:80/"])
def test_valid_urls(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize(
    "url", ["http://h/", "h:80", "ws://", "ws://h:99999/", "ws://h:0/", "ws://h/ x", "ws://h/\x1b"]
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_url(url)


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (0, Compression.DISABLED),
        ("1", Compression.CONTEXT_TAKEOVER),
        ("no-context", Compression.NO_CONTEXT),
        ("CONTEXT_TAKEOVER", Compression.CONTEXT_TAKEOVER),
    ],
)
def test_compression_modes(value: int | str, mode: Compression) -> None:
    assert parse_compression(value) == mode


def test_connect_options_from_spec_values() -> None:
    options = ConnectOptions.create(
        headers={"Authorization": "Bearer t"},
        protocols=["graphql-ws"],
        dial_timeout="10s",
        read_timeout=30000,
        compression=1,
        read_limit="1MiB",
        channel_capacity=100,
    )
    assert options.headers == (("Authorization", "Bearer t"),)
    assert options.subprotocols == ("graphql-ws",)
    assert options.dial_timeout == 10.0
    assert options.read_timeout == 30.0
    assert options.compression is Compression.CONTEXT_TAKEOVER
    assert options.read_limit == options.effective_read_limit == 1024 * 1024
    assert ConnectOptions().effective_read_limit == 16 * 1024 * 1024


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channel_capacity": 0},
        {"channel_capacity": 10001},
        {"read_limit": "129MiB"},
        {"compression_threshold": "101MiB"},
        {"compression": 3},
        {"dial_timeout": "-1s"},
        {"protocols": ["bad protocol"]},
        {"headers": ["X: a\nb"]},
    ],
)
def test_connect_options_reject_out_of_range_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        ConnectOptions.create(**kwargs)  # type: ignore[arg-type]


def test_redaction() -> None:
    assert redact_header("Authorization", "Bearer abc") == "Bearer <redacted>"
    assert redact_header("Cookie", "a=b") == "<redacted>"
    assert redact_header("X-Other", "visible") == "visible"
    assert (
        redact_url("wss://u:pw@h/p?token=abc&x=1") == "wss://u:<redacted>@h/p?token=<redacted>&x=1"
    )
    assert redact_url("ws://h/p?x=1") == "ws://h/p?x=1"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("\x1b[2J", "\\x1b[2J"),
        ("[bold red]x[/]", "[bold red]x[/]"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("cr\rdel\x7f c1\x9b", "cr\\x0ddel\\x7f c1\\x9b"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_escape_control(text: str, shown: str) -> None:
    assert escape_control(text) == shown


@given(st.text())
def test_escaped_text_has_no_escape_or_control_characters(text: str) -> None:
    escaped = escape_control(text)
    assert not any(ord(ch) < 0x20 and ch not in "\t\n" for ch in escaped)
    assert "\x1b" not in escaped and "\x9b" not in escaped


def test_hex_dump() -> None:
    assert hex_dump(b"AB\x00") == "00000000  41 42 00" + " " * 39 + "  AB."
    assert hex_dump(b"") == "(empty)"
    assert len(hex_dump(bytes(40)).splitlines()) == 3
