"""Connection options of the module spec, validated: :class:`ConnectOptions` and the constants.

Everything here is pure: plain values in, plain values (or :class:`~wsctl.errors.InvalidInput`)
out.  The CLI and the Python API both build a :class:`ConnectOptions`, so every limit of the
spec is checked in exactly one place.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wsctl.durations import parse_duration
from wsctl.errors import InvalidInput
from wsctl.sizes import MIB, format_size, parse_size

# Message types: numbers for send(), strings for received messages and events (spec).
TEXT = 1
BINARY = 2
TYPE_TEXT = "text"
TYPE_BINARY = "binary"
TYPE_PING = "ping"
TYPE_PONG = "pong"
TYPE_CLOSE = "close"


class Compression(enum.IntEnum):
    """permessage-deflate modes of the spec (``websocket.COMPRESSION``)."""

    DISABLED = 0
    CONTEXT_TAKEOVER = 1
    NO_CONTEXT = 2

    @property
    def cli_name(self) -> str:
        """The spelling used on the command line: ``context-takeover``."""
        return self.name.lower().replace("_", "-")


COMPRESSION = Compression


class CloseCode(enum.IntEnum):
    """Close codes named by the spec (``websocket.CLOSE_CODES``)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


CLOSE_CODES = CloseCode

DEFAULT_DIAL_TIMEOUT = 10.0
DEFAULT_READ_LIMIT = 16 * MIB
MAX_READ_LIMIT = 128 * MIB
MAX_COMPRESSION_THRESHOLD = 100 * MIB
DEFAULT_CHANNEL_CAPACITY = 16
MAX_CHANNEL_CAPACITY = 10_000
MAX_CLOSE_REASON_BYTES = 123

#: Codes that exist only to report a condition and may never be sent in a Close frame.
_UNSENDABLE_CLOSE_CODES = {
    1004: "reserved",
    1005: "no status",
    1006: "abnormal closure",
    1015: "TLS handshake failure",
}

# RFC 7230 token characters: what a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Headers the handshake owns; setting them by hand would break or duplicate it.
_RESERVED_HEADERS = {
    "host": "it is taken from the URL",
    "upgrade": "the WebSocket handshake sets it",
    "connection": "the WebSocket handshake sets it",
    "sec-websocket-key": "the WebSocket handshake sets it",
    "sec-websocket-version": "the WebSocket handshake sets it",
    "sec-websocket-extensions": "use --compression",
    "sec-websocket-protocol": "use -s/--subprotocol",
}


def close_code_name(code: int | None) -> str:
    """``1011`` → ``"internal error"``; unnamed codes get ``"application"``/``"unknown"``."""
    if code is None:
        return "no close frame"
    try:
        return CloseCode(code).name.lower().replace("_", " ")
    except ValueError:
        return "application" if 3000 <= code <= 4999 else "unknown"


def parse_close_code(value: int | str) -> int:
    """Validate a close code we are about to send: 1000–4999, minus the unsendable ones.

    Accepts a number or a constant name (``normal``, ``GOING_AWAY``, ``internal-error``).
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            code = int(text)
        else:
            try:
                code = CloseCode[text.upper().replace("-", "_")].value
            except KeyError:
                raise InvalidInput(
                    f"invalid close code {value!r}: expected a number from 1000 to 4999 "
                    "or a name such as normal, going-away, internal-error"
                ) from None
    else:
        code = value
    if not 1000 <= code <= 4999:
        raise InvalidInput(f"invalid close code {code}: must be from 1000 to 4999")
    if code in _UNSENDABLE_CLOSE_CODES:
        raise InvalidInput(
            f"invalid close code {code} ({_UNSENDABLE_CLOSE_CODES[code]}): "
            "it may not be sent in a Close frame"
        )
    if 1016 <= code <= 2999:
        raise InvalidInput(
            f"invalid close code {code}: 1016-2999 are reserved for the protocol; "
            "use 3000-4999 for application codes"
        )
    return code


def validate_close_reason(reason: str) -> str:
    """A close reason must fit in a control frame: at most 123 bytes of UTF-8."""
    size = len(reason.encode("utf-8", "surrogatepass"))
    if size > MAX_CLOSE_REASON_BYTES:
        raise InvalidInput(
            f"close reason is {size} bytes of UTF-8; at most {MAX_CLOSE_REASON_BYTES} fit"
        )
    return reason


def validate_url(url: str) -> str:
    """Check that ``url`` is a ws:// or wss:// URL with a host and a valid port."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ("ws", "wss"):
        raise InvalidInput(f"invalid URL {url!r}: it must start with ws:// or wss://")
    if not parts.hostname:
        raise InvalidInput(f"invalid URL {url!r}: no host")
    if port == 0:
        raise InvalidInput(f"invalid URL {url!r}: port 0")
    if any(ch in url for ch in "\r\n\t ") or any(ord(ch) < 0x20 for ch in url):
        raise InvalidInput(f"invalid URL {url!r}: contains white space or control characters")
    return url


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` → ``("Name", "value")``, rejecting what would corrupt the handshake."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise InvalidInput(f"invalid header {text!r}: expected 'Name: value'")
    return validate_header(name, value)


def validate_header(name: str, value: str) -> tuple[str, str]:
    """Reject header names that are not tokens, values with CR/LF/NUL, and reserved headers."""
    if not _TOKEN.fullmatch(name):
        raise InvalidInput(f"invalid header name {name!r}: only RFC 7230 token characters")
    if any(ch in value for ch in "\r\n\0"):
        raise InvalidInput(f"invalid value for header {name!r}: contains CR, LF or NUL")
    reserved = _RESERVED_HEADERS.get(name.lower())
    if reserved:
        raise InvalidInput(f"header {name!r} cannot be set: {reserved}")
    return name, value


def _validate_subprotocol(name: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise InvalidInput(f"invalid subprotocol {name!r}: only RFC 7230 token characters")
    return name


def parse_compression(value: int | str | Compression) -> Compression:
    """``"context-takeover"``, ``"1"``, ``1`` or ``Compression.CONTEXT_TAKEOVER``."""
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "-")
        if text.isdigit():
            value = int(text)
        else:
            for mode in Compression:
                if mode.cli_name == text:
                    return mode
            raise InvalidInput(
                f"invalid compression {value!r}: expected disabled, context-takeover "
                "or no-context (or 0, 1, 2)"
            )
    try:
        return Compression(value)
    except ValueError:
        raise InvalidInput(
            f"invalid compression {value!r}: expected 0 (disabled), 1 (context takeover) "
            "or 2 (no context)"
        ) from None


def _optional_timeout(value: float | None, name: str) -> float | None:
    """0 means "no limit", as in the reference implementation."""
    if value is None or value == 0:
        return None
    if value < 0:
        raise InvalidInput(f"invalid {name}: must not be negative")
    return float(value)


def _in_range(value: int, low: int, high: int, name: str, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"invalid {name} {value!r}: expected a whole number")
    if not low <= value <= high:
        shown = f"{format_size(low)} to {format_size(high)}" if unit == "size" else f"{low}-{high}"
        raise InvalidInput(f"invalid {name} {value}: must be from {shown}")
    return value


@dataclass(frozen=True)
class ConnectOptions:
    """Every connection option of the spec, validated on construction.

    Times are seconds (``None``: no limit); sizes are bytes.  Build one from spec-style values
    (milliseconds, ``"5s"``, ``"16MiB"``) with :meth:`create`.
    """

    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    dial_timeout: float | None = DEFAULT_DIAL_TIMEOUT
    read_timeout: float | None = None
    write_timeout: float | None = None
    compression: Compression = Compression.DISABLED
    compression_threshold: int = 0
    read_limit: int = 0
    channel_capacity: int = DEFAULT_CHANNEL_CAPACITY
    #: Keep-alive: send a Ping this often (seconds; ``None``: never) …
    ping_interval: float | None = None
    #: … and close as abnormal (1011) when its Pong takes longer than this.
    ping_timeout: float | None = None
    #: How many redirects (3xx answers to the upgrade) to follow, each checked by the policy.
    max_redirects: int = 10
    #: ``--policy FILE``; the system and default user policies apply in any case.
    policy_file: str | None = None
    #: Set by tests and embedders to skip policy discovery: an explicit policy set.
    policy: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            validate_header(name, value)
        for protocol in self.subprotocols:
            _validate_subprotocol(protocol)
        object.__setattr__(
            self, "dial_timeout", _optional_timeout(self.dial_timeout, "dial timeout")
        )
        object.__setattr__(
            self, "read_timeout", _optional_timeout(self.read_timeout, "read timeout")
        )
        object.__setattr__(
            self, "write_timeout", _optional_timeout(self.write_timeout, "write timeout")
        )
        object.__setattr__(self, "compression", parse_compression(self.compression))
        _in_range(
            self.compression_threshold,
            0,
            MAX_COMPRESSION_THRESHOLD,
            "compression threshold",
            "size",
        )
        _in_range(self.read_limit, 0, MAX_READ_LIMIT, "read limit", "size")
        _in_range(self.channel_capacity, 1, MAX_CHANNEL_CAPACITY, "channel capacity")
        _in_range(self.max_redirects, 0, 100, "max redirects")
        object.__setattr__(
            self, "ping_interval", _optional_timeout(self.ping_interval, "ping interval")
        )
        object.__setattr__(
            self, "ping_timeout", _optional_timeout(self.ping_timeout, "ping timeout")
        )

    @property
    def effective_read_limit(self) -> int:
        """The read limit in force: 0 means the default of 16 MiB."""
        return self.read_limit or DEFAULT_READ_LIMIT

    @classmethod
    def create(
        cls,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[str] | None = None,
        protocols: Iterable[str] | None = None,
        dial_timeout: str | float | None = None,
        read_timeout: str | float | None = None,
        write_timeout: str | float | None = None,
        compression: int | str | Compression = Compression.DISABLED,
        compression_threshold: int | str = 0,
        read_limit: int | str = 0,
        channel_capacity: int = DEFAULT_CHANNEL_CAPACITY,
        **extra: Any,
    ) -> ConnectOptions:
        """Build options from spec-style values: ``dial_timeout=5000`` (ms) or ``"5s"``.

        ``headers`` may be a mapping, pairs, or ``"Name: value"`` strings.
        """
        return cls(
            headers=_header_pairs(headers),
            subprotocols=tuple(protocols or ()),
            dial_timeout=DEFAULT_DIAL_TIMEOUT
            if dial_timeout is None
            else parse_duration(dial_timeout, name="dial timeout"),
            read_timeout=None
            if read_timeout is None
            else parse_duration(read_timeout, name="read timeout"),
            write_timeout=None
            if write_timeout is None
            else parse_duration(write_timeout, name="write timeout"),
            compression=parse_compression(compression),
            compression_threshold=parse_size(compression_threshold, name="compression threshold"),
            read_limit=parse_size(read_limit, name="read limit"),
            channel_capacity=channel_capacity,
            **extra,
        )


def _header_pairs(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[str] | None,
) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return tuple(validate_header(str(k), str(v)) for k, v in headers.items())
    pairs = []
    for item in headers:
        if isinstance(item, str):
            pairs.append(parse_header(item))
        else:
            name, value = item
            pairs.append(validate_header(name, value))
    return tuple(pairs)
