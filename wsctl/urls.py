"""The one check of a WebSocket URL, with wsctl's own wording: :func:`validate_url`.

Every place a URL enters wsctl — ``send``, ``listen``, ``ping``, ``connect``, ``policy check``,
the Python API and each redirect's ``Location`` — goes through :func:`url_problem`, so a URL
is valid everywhere or nowhere.  Error messages quote the URL as the user typed it, redacted
(:mod:`wsctl.redact`), shortened and with control characters escaped, so a rejected URL never
puts a secret or a terminal escape on stderr or in a report.

The rules, decided once:

- ``ws://`` or ``wss://`` only; at most :data:`MAX_URL_LENGTH` characters; no white space,
  control characters or backslashes.
- No ``#fragment``: it is never sent to a server, so a URL with one is rejected rather than
  silently changed (browsers drop it; wsctl asks you to).
- Userinfo must be ``user:password@`` with both parts non-empty (sent as HTTP Basic
  credentials); for a password typed at a prompt use ``--auth USER``.
- Host, port and IPv6 literals follow the policy's normalisation (:mod:`wsctl.policy`), so a
  URL the policy could not judge cannot be connected to either.
"""

from __future__ import annotations

import urllib.parse

from wsctl.errors import InvalidInput
from wsctl.redact import redact_url

#: The longest URL accepted, in characters: 8 KiB is the request-line limit of common servers
#: (nginx, Apache), so a longer URL could not be sent anyway.
MAX_URL_LENGTH = 8192
#: URLs are quoted in full up to this many characters, then cut with "…".
_SHOWN_LENGTH = 120


def show_url(url: str) -> str:
    """``url`` as an error message quotes it: redacted, shortened, escaped, in quotes."""
    shown = redact_url(url)
    if len(shown) > _SHOWN_LENGTH:
        shown = shown[: _SHOWN_LENGTH - 40] + "…"
    # repr() escapes control characters (and a newline, which would break the one-line rule).
    return repr(shown)


def _character_problem(url: str) -> str | None:
    for position, ch in enumerate(url, 1):
        code = ord(ch)
        if ch == " ":
            return f"it contains a space (character {position}); percent-encode it as %20"
        if ch == "\\":
            return f"it contains a backslash (character {position})"
        if code < 0x20 or 0x7F <= code <= 0xA0 or ch.isspace():
            return f"it contains the control or white-space character {ch!r} (character {position})"
        if 0xD800 <= code <= 0xDFFF:
            return "it is not valid Unicode (a lone surrogate)"
    return None


def _userinfo_problem(authority: str) -> str | None:
    if "@" not in authority:
        return None
    userinfo = authority.rpartition("@")[0]
    user, colon, password = userinfo.partition(":")
    if not user:
        return "the user name before '@' is empty; write user:password@host, or use --auth"
    if not colon:
        return (
            "a user name needs a password (user:password@host); "
            "to be asked for the password, use --auth USER"
        )
    if not password:
        return "the password after 'user:' is empty; to be asked for it, use --auth USER instead"
    try:
        urllib.parse.unquote(userinfo, errors="strict")
    except UnicodeDecodeError:
        return "the user name or password is not valid percent-encoded UTF-8"
    return None


def url_problem(url: object) -> str | None:
    """Why ``url`` is not a usable WebSocket URL, or ``None`` when it is."""
    if not isinstance(url, str):
        return f"expected a string, not {type(url).__name__}"
    if not url:
        return "it is empty"
    if len(url) > MAX_URL_LENGTH:
        return f"it is {len(url):,} characters long; at most {MAX_URL_LENGTH:,} are accepted"
    problem = _character_problem(url)
    if problem is not None:
        return problem
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"
    if scheme.lower() not in ("ws", "wss"):
        return f"the scheme must be ws:// or wss://, not {scheme}://"
    if "#" in rest:
        return "a WebSocket URL cannot have a #fragment (it is never sent); remove it"
    authority = rest
    for end in ("/", "?"):
        authority = authority.partition(end)[0]
    problem = _userinfo_problem(authority)
    if problem is not None:
        return problem
    return _host_port_problem(url)


def _host_port_problem(url: str) -> str | None:
    """Host, port and path as the policy normalises them, then as websockets parses them."""
    from websockets.exceptions import InvalidURI
    from websockets.uri import parse_uri

    from wsctl.normalize import normalize_url

    try:
        normalize_url(url)
    except InvalidInput as exc:
        return exc.message.removeprefix("invalid URL: ")
    try:
        parse_uri(url)  # the parser the connection uses: it must agree
    except (InvalidURI, ValueError, UnicodeError):
        return "it is not a valid WebSocket URL"
    return None


def urllib_problem(error: ValueError) -> str:
    """urllib's complaint about a URL (``Invalid IPv6 URL``, ``Port could not be cast…``) in
    wsctl's words, for the URLs other than the target that wsctl checks (origin, proxy)."""
    text = str(error)
    if text == "Invalid IPv6 URL":
        return "unbalanced [ ] in the host; write an IPv6 address as [::1]"
    if text.startswith("Port could not be cast"):
        return "the port is not a number"
    if text.startswith("Port out of range"):
        return "the port is out of range (1-65535)"
    if "does not appear to be an IPv4 or IPv6 address" in text:
        return "the host in brackets is not an IPv6 address"
    return "it is not a valid URL"


def validate_url(url: str) -> str:
    """Return ``url`` if it is a usable ws:// or wss:// URL; else raise :class:`InvalidInput`
    (exit 2) with a one-line message that quotes it redacted."""
    problem = url_problem(url)
    if problem is not None:
        raise InvalidInput(f"invalid URL {show_url(str(url))}: {problem}")
    return url
