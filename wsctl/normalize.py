"""URL normalisation: how wsctl reads a ``ws://``/``wss://`` (or proxy) URL — scheme and host
lower-cased, IDNA, default ports explicit, userinfo, query and fragment dropped, dot segments
resolved, numeric host spellings other than a dotted quad refused.

Pure and light on purpose: :mod:`wsctl.urls` checks every URL the user gives with it on every
run, while the policy engine (:mod:`wsctl.policy`, which compares these normalised parts) is
imported only when a policy file exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, NamedTuple

from wsctl.errors import InvalidInput

DEFAULT_PORTS: Final[Mapping[str, int]] = {"ws": 80, "wss": 443}
#: Proxy schemes and their default ports (as wsctl.proxy reads a proxy URL).
PROXY_PORTS: Final[Mapping[str, int]] = {
    "http": 80,
    "https": 443,
    "socks4": 1080,
    "socks4a": 1080,
    "socks5": 1080,
    "socks5h": 1080,
}
#: Every default port the policy knows, WebSocket and proxy schemes alike.
ALL_PORTS: Final[Mapping[str, int]] = {**DEFAULT_PORTS, **PROXY_PORTS}


class BadURL(Exception):
    """Internal: why a URL or pattern was rejected (turned into InvalidInput at the API edge)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NormalizedURL(NamedTuple):
    """A WebSocket URL reduced to the parts a policy compares.

    ``host`` is a lower-case ASCII (IDNA) name without a trailing dot, a dotted-quad IPv4
    address or a compressed IPv6 address (without brackets).  ``port`` is always explicit and
    ``path`` always starts with ``/``.  Userinfo, query and fragment are gone, so ``str()`` of
    it is safe to show in messages (no passwords or tokens).

    A named tuple, not a frozen dataclass: every run normalises the URL it is given, and
    building a dataclass costs over a millisecond of start-up.
    """

    scheme: str
    host: str
    port: int
    path: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


_SCHEME_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*|\*)://")
_LABEL_RE: Final = re.compile(r"[a-z0-9_-]+")
_HEX_LABEL_RE: Final = re.compile(r"0x[0-9a-f]*")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters a path may hold as they are (RFC 3986 pchar and "/"); "%" is handled separately.
_PATH_RAW: Final = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_HEXDIGITS: Final = frozenset("0123456789abcdefABCDEF")


def _check_characters(text: str) -> None:
    # Whitespace and control characters are never part of a URL, and a backslash is read as
    # "/" by WHATWG parsers but as data by urllib (which the connection uses): refusing them
    # means every reader agrees on where the host ends and the path begins.
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            raise BadURL("a backslash is not allowed in a URL")
        if code <= 0x20 or 0x7F <= code <= 0xA0 or ch.isspace():
            raise BadURL(f"character {ch!r} is not allowed in a URL")
        if 0xD800 <= code <= 0xDFFF:
            raise BadURL("the URL is not valid Unicode (lone surrogate)")


def split_url(text: str) -> tuple[str, str, str]:
    """``scheme://authority/path?query#fragment`` → (lower-case scheme, authority, path)."""
    _check_characters(text)
    match = _SCHEME_RE.match(text)
    if match is None:
        raise BadURL("expected ws://HOST/PATH or wss://HOST/PATH")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    # The query and fragment are not compared (spec); like urllib, the authority ends at the
    # first "/", "?" or "#".
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    rest = rest[:cut]
    slash = rest.find("/")
    if slash < 0:
        return scheme, rest, ""
    return scheme, rest[:slash], rest[slash:]


def split_authority(authority: str) -> tuple[str, str | None]:
    """Drop the userinfo and split host from port (``None`` when there is no ``:``)."""
    # The last "@" ends the userinfo, as in urllib: "wss://api.example.com@evil.net/" goes to
    # evil.net, so that is the host the policy must see.
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise BadURL("unclosed [ in the host")
        host, after = hostport[: close + 1], hostport[close + 1 :]
        if after and not after.startswith(":"):
            raise BadURL(f"unexpected {after!r} after the IPv6 address")
        return host, after[1:] if after else None
    host, colon, port = hostport.partition(":")
    if ":" in port:
        raise BadURL("an IPv6 address must be written in brackets, like [::1]")
    return host, port if colon else None


def _ipv6(text: str) -> str:
    import ipaddress  # lazily: only URLs with IPv6 literals need it

    inside = text[1:-1]
    if "%" in inside:
        raise BadURL(f"IPv6 zone identifiers are not supported: {text}")
    try:
        address = ipaddress.IPv6Address(inside)
    except ValueError:
        raise BadURL(f"invalid IPv6 address {text}") from None
    # ::ffff:127.0.0.1 reaches 127.0.0.1 on a dual-stack socket: compare it as that address so
    # a rule about 127.0.0.1 covers both spellings.
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else address.compressed


def _numeric_hint(host: str) -> str:
    # Only for the error message: show what the C library would have made of it.
    import socket

    try:
        return f" (some resolvers read it as {socket.inet_ntoa(socket.inet_aton(host))})"
    except (OSError, ValueError):
        return ""


def _name(text: str) -> tuple[str, bool]:
    """Normalise a host that is not in brackets → (host, is_ip)."""
    if not text:
        raise BadURL("the URL has no host")
    if "%" in text:
        raise BadURL(f"percent-encoding is not allowed in a host: {text!r}")
    host = text
    if not host.isascii():
        # The same conversion the connection makes (websockets uses Python's "idna" codec), so
        # the policy sees the name that is looked up.
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadURL(f"invalid internationalised host name {text!r}") from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]  # "example.com." is the same (absolute) name as "example.com"
    labels = host.split(".")
    if len(host) > 253 or any(not label or len(label) > 63 for label in labels):
        raise BadURL(f"invalid host name {text!r}")
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            raise BadURL(f"invalid host name {text!r}")
    last = labels[-1]
    if last.isdigit() or _HEX_LABEL_RE.fullmatch(last):
        # A name ending in a number is an IPv4 address to WHATWG parsers and to inet_aton
        # (2130706433, 0x7f.1, 127.1, 0177.0.0.1).  Only the plain dotted quad is accepted.
        import ipaddress

        try:
            return str(ipaddress.IPv4Address(host)), True
        except ValueError:
            pass
        raise BadURL(
            f"host {text!r} looks like an IP address in a non-standard form{_numeric_hint(host)};"
            " write IPv4 addresses as four decimal numbers, like 127.0.0.1"
        )
    return host, False


def parse_host(text: str) -> tuple[str, bool]:
    if text.startswith("["):
        return _ipv6(text), True
    return _name(text)


def parse_port(text: str | None) -> int | None:
    """The port number, or ``None`` for the scheme's default (no port or an empty one)."""
    if not text:
        return None  # RFC 3986: an empty port means the default, as in urllib
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        raise BadURL(f"invalid port {text!r}")
    port = int(text)
    # websockets turns port 0 into the default port: refuse it instead of checking one port
    # and connecting to another.
    if not 1 <= port <= 65535:
        raise BadURL(f"port {port} is out of range (1-65535)")
    return port


def parse_path(text: str) -> str:
    """Percent-encoding normalised, dot segments resolved; always starts with ``/``."""
    if not text:
        return "/"
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            digits = text[i + 1 : i + 3]
            if len(digits) != 2 or not set(digits) <= _HEXDIGITS:
                raise BadURL(f"invalid percent-encoding {text[i : i + 3]!r} in the path")
            decoded = chr(int(digits, 16))
            # Unreserved characters mean the same encoded or not (RFC 3986 6.2.2.2): decode
            # them, so "%2e%2e" is seen as ".." and resolved below, as a server would.
            out.append(decoded if decoded in _UNRESERVED else "%" + digits.upper())
            i += 3
            continue
        if ch in _PATH_RAW:
            out.append(ch)
        else:
            # Other printable characters ('"', "{", "é", …) are sent percent-encoded by careful
            # clients; compare them in that form.
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8")))
        i += 1
    return _remove_dot_segments("".join(out))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path."""
    segments = path.split("/")[1:]
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments and segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." is the directory "/a/"
    return "/" + "/".join(out)


def _normalize(url: str) -> NormalizedURL:
    scheme, authority, path = split_url(url)
    if scheme not in DEFAULT_PORTS:
        raise BadURL(f"scheme must be ws or wss, not {scheme!r}")
    host_text, port_text = split_authority(authority)
    host, _ = parse_host(host_text)
    port = parse_port(port_text)
    return NormalizedURL(
        scheme, host, DEFAULT_PORTS[scheme] if port is None else port, parse_path(path)
    )


def normalize_url(url: str) -> NormalizedURL:
    """Normalise a ``ws://`` or ``wss://`` URL the way the policy compares it.

    Scheme and host lower-cased, IDNA host, trailing dot dropped, default port made explicit,
    userinfo removed, percent-encoding of unreserved characters decoded (other escapes
    upper-cased), dot segments resolved, query and fragment dropped.  ``str()`` of the result
    is the canonical text, e.g. ``wss://api.example.com:443/ws``.

    Raises :class:`~wsctl.errors.InvalidInput` for anything that is not a usable ws/wss URL,
    including hosts that resolvers would read as IP addresses in non-standard notations.
    """
    try:
        return _normalize(url)
    except BadURL as exc:
        raise InvalidInput(f"invalid URL: {exc.reason}") from None


def _normalize_proxy(url: str) -> NormalizedURL:
    scheme, authority, path = split_url(url)
    if scheme not in PROXY_PORTS:
        raise BadURL(f"proxy scheme must be one of {', '.join(PROXY_PORTS)}, not {scheme!r}")
    if path not in ("", "/"):
        raise BadURL("a proxy URL has no path")
    host_text, port_text = split_authority(authority)
    host, _ = parse_host(host_text)
    port = parse_port(port_text)
    return NormalizedURL(scheme, host, PROXY_PORTS[scheme] if port is None else port, "")


def normalize_proxy(url: str) -> NormalizedURL:
    """Normalise a proxy URL (``http://user:pw@Proxy.Corp:3128``) the way the policy sees it.

    Like :func:`normalize_url`, but for the proxy schemes; the path is empty and userinfo is
    dropped, so ``str()`` of the result (``http://proxy.corp:3128``) is safe to show.
    """
    try:
        return _normalize_proxy(url)
    except BadURL as exc:
        raise InvalidInput(f"invalid proxy URL: {exc.reason}") from None
