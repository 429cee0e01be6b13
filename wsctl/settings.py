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

from wsctl.durations import MAX_SECONDS, format_duration, parse_duration
from wsctl.errors import InvalidInput
from wsctl.sizes import MIB, format_size, parse_size
from wsctl.urls import urllib_problem
from wsctl.urls import validate_url as validate_url  # re-exported: the one URL check

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
#: How long closing waits for the server's Close frame before dropping the connection.
DEFAULT_CLOSE_TIMEOUT = 5.0
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


def close_code_number(value: int | str) -> int | None:
    """A close code written as a number or a constant name (``normal``, ``GOING_AWAY``,
    ``internal-error``); ``None`` when it is neither.  No range check."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    member = CloseCode.__members__.get(text.upper().replace("-", "_"))
    return None if member is None else member.value


def parse_close_code(value: int | str) -> int:
    """Validate a close code we are about to send: 1000–4999, minus the unsendable ones.

    Accepts a number or a constant name (``normal``, ``GOING_AWAY``, ``internal-error``).
    """
    code = close_code_number(value)
    if code is None:
        raise InvalidInput(
            f"invalid close code {value!r}: expected a number from 1000 to 4999 "
            "or a name such as normal, going-away, internal-error"
        )
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


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` → ``("Name", "value")``, rejecting what would corrupt the handshake."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        from wsctl.redact import redact_header_line

        raise InvalidInput(f"invalid header {redact_header_line(text)!r}: expected 'Name: value'")
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
        raise InvalidInput(f"invalid --subprotocol {name!r}: only RFC 7230 token characters")
    return name


def parse_compression(value: int | str | Compression) -> Compression:
    """``"context-takeover"``, ``"1"``, ``1`` or ``Compression.CONTEXT_TAKEOVER``."""
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "-")
        if text.isascii() and text.isdigit():
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
        if unit == "size":  # in the units people write them in, as the CLI's messages are
            bounds = f"from {format_size(low)} to " if low else "at most "
            raise InvalidInput(
                f"invalid {name} {format_size(value)}: must be {bounds}{format_size(high)}"
            )
        raise InvalidInput(f"invalid {name} {value}: must be from {low} to {high}")
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
    #: Wait this long for the server's Close reply, then drop the connection (0: do not wait).
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
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
    #: ``--location-trusted``: keep the user's headers and credentials on a redirect to another
    #: origin (by default every one of them is dropped there).
    location_trusted: bool = False
    #: ``--policy FILE``; the system and default user policies apply in any case.
    policy_file: str | None = None
    #: Set by tests and embedders to skip policy discovery: an explicit policy set.
    policy: Any = field(default=None, compare=False)
    #: ``async (host, port) -> [ip, ...]``: how names are resolved when the policy has address
    #: rules (``None``: the system resolver, ``wsctl.dialing.default_resolver``).
    resolver: Any = field(default=None, repr=False, compare=False)
    # -- identity (issue 6): turned into handshake headers by the core ---------------------
    #: ``--auth user:password``: HTTP Basic credentials.
    auth: tuple[str, str] | None = field(default=None, repr=False)
    #: ``--bearer-env VAR``: sent as ``Authorization: Bearer TOKEN``.
    bearer_token: str | None = field(default=None, repr=False)
    #: ``-o/--origin``: the Origin header.
    origin: str | None = None
    #: ``--user-agent``; ``""`` sends no User-Agent header at all.
    user_agent: str | None = None
    # -- proxies: ``None`` means HTTPS_PROXY / HTTP_PROXY / ALL_PROXY with NO_PROXY ----------
    #: ``--proxy URL`` (http, https, socks5, socks5h); hidden from repr: it may hold a password.
    proxy: str | None = field(default=None, repr=False)
    #: ``--no-proxy``: connect directly whatever the environment says.
    no_proxy: bool = False
    # -- TLS: the system trust store unless cacert/capath --------------------------------
    cacert: str | None = None
    capath: str | None = None
    cert: str | None = None
    key: str | None = None
    #: The key's passphrase, or a callable that asks for it (only called for encrypted keys).
    key_password: Any = field(default=None, repr=False, compare=False)
    insecure: bool = False
    tls_server_name: str | None = None
    #: A ready ``ssl.SSLContext`` (built by the CLI, or the embedder's own); wins over the above.
    ssl_context: Any = field(default=None, repr=False, compare=False)
    # -- retries: connection attempts after retryable failures, with backoff and jitter ---
    retries: int = 0
    retry_delay: float = 1.0
    retry_max_delay: float = 30.0

    def __post_init__(self) -> None:
        for name, value in self.headers:
            validate_header(name, value)
        for protocol in self.subprotocols:
            _validate_subprotocol(protocol)
        if not 0 <= self.close_timeout <= MAX_SECONDS:
            raise InvalidInput(f"invalid close timeout {self.close_timeout!r}")
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
        _validate_connection_extras(self)

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
        for name in ("retry_delay", "retry_max_delay", "close_timeout"):  # spec-style durations
            if extra.get(name) is not None:
                extra[name] = parse_duration(extra[name], name=name.replace("_", " "))
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


#: The most connection attempts ``--retry`` may add.
MAX_RETRIES = 1000

# A host name for SNI and certificate checks: DNS labels, or an IP address.
_HOST_NAME = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,62}(\.[A-Za-z0-9_\-]{1,63})*\.?|[0-9A-Fa-f:.]+"
)


def _no_control(value: str, what: str, *, echo: bool = False) -> None:
    """Refuse control characters; ``echo`` quotes the value (escaped, URLs redacted), for
    options that hold no secret of their own."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        from wsctl.redact import redact_text

        shown = f" {redact_text(value)!r}" if echo else ""
        raise InvalidInput(f"invalid {what}{shown}: contains control characters")


def _validate_connection_extras(options: ConnectOptions) -> None:
    """Check identity, proxy, TLS and retry settings; file contents are checked by wsctl.tls."""
    header_names = {name.lower() for name, _ in options.headers}
    if options.auth is not None:
        user, password = options.auth
        if not user:
            raise InvalidInput("invalid --auth: the user name is empty")
        if ":" in user:
            raise InvalidInput("invalid --auth: the user name may not contain ':'")
        _no_control(user + password, "--auth")
        if options.bearer_token is not None:
            raise InvalidInput("give either --auth or --bearer-env, not both")
    if options.bearer_token is not None:
        token = options.bearer_token
        if not token or any(ch.isspace() for ch in token):
            raise InvalidInput("invalid bearer token: it is empty or contains white space")
        _no_control(token, "bearer token")
    if (options.auth or options.bearer_token) and "authorization" in header_names:
        raise InvalidInput(
            "give either --auth/--bearer-env or an Authorization header (-H), not both"
        )
    if options.origin is not None:
        _validate_origin(options.origin)
        if "origin" in header_names:
            raise InvalidInput("give either --origin or an Origin header (-H), not both")
    if options.user_agent is not None:
        _no_control(options.user_agent, "--user-agent", echo=True)
        if "user-agent" in header_names:
            raise InvalidInput("give either --user-agent or a User-Agent header (-H), not both")
    if options.proxy is not None:
        if options.no_proxy:
            raise InvalidInput("give either --proxy or --no-proxy, not both")
        from wsctl.proxy import normalize_proxy_url

        object.__setattr__(options, "proxy", normalize_proxy_url(options.proxy))
    _validate_tls_files(options)
    _in_range(options.retries, 0, MAX_RETRIES, "retry count")
    for name in ("retry_delay", "retry_max_delay"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInput(f"invalid --{name.replace('_', '-')}: must not be negative")
        object.__setattr__(options, name, float(value))
    if options.retry_max_delay < options.retry_delay:
        maximum, delay = options.retry_max_delay, options.retry_delay
        raise InvalidInput(
            f"invalid --retry-max-delay {format_duration(maximum)!r}: "
            f"shorter than --retry-delay {format_duration(delay)!r}"
        )


def _validate_origin(origin: str) -> None:
    """An Origin is ``null`` or ``scheme://host[:port]`` with no path (RFC 6454)."""
    _no_control(origin, "--origin", echo=True)
    if origin == "null":
        return
    try:
        parts = urllib.parse.urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidInput(f"invalid --origin {origin!r}: {urllib_problem(exc)}") from None
    if not parts.scheme or not parts.hostname or " " in origin:
        raise InvalidInput(
            f"invalid --origin {origin!r}: expected scheme://host[:port], e.g. https://example.com"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput(f"invalid --origin {origin!r}: an origin has no path or query")


def _validate_tls_files(options: ConnectOptions) -> None:
    """Fail early, before any I/O, on TLS files that are missing or of the wrong kind."""
    import os

    files = (("--cacert", options.cacert), ("--cert", options.cert), ("--key", options.key))
    for flag, path in files:
        if path is None:
            continue
        if not os.path.isfile(path):
            reason = "it is a directory" if os.path.isdir(path) else "no such file"
            raise InvalidInput(f"invalid {flag} {path}: {reason}")
        if not os.access(path, os.R_OK):
            raise InvalidInput(f"invalid {flag} {path}: permission denied")
    if options.capath is not None and not os.path.isdir(options.capath):
        raise InvalidInput(f"invalid --capath {options.capath}: not a directory")
    if options.key is not None and options.cert is None:
        raise InvalidInput("--key needs --cert: the certificate that goes with the key")
    if options.key_password is not None and options.cert is None:
        raise InvalidInput("a key passphrase needs --cert (and --key when the key is separate)")
    server_name = options.tls_server_name
    if server_name is not None and not _HOST_NAME.fullmatch(server_name):
        raise InvalidInput(f"invalid --tls-server-name {server_name!r}: not a host name")
