"""Hide secrets before anything is shown: credentials in headers, URLs and free text.

Pure functions used by every renderer, report and log line.  Secrets are recognised by name:
a header, query or fragment parameter is secret when its name contains one of
:data:`SECRET_WORDS` (case-insensitive, ``-`` and ``_`` alike, so ``X-Amz-Security-Token``,
``access-token`` and ``client_secret`` all are), or is one of :data:`SECRET_NAMES`.  Nothing
here parses strictly: a URL too malformed to use must still be redacted before it is quoted in
the error that rejects it.
"""

from __future__ import annotations

import re
import urllib.parse

REDACTED = "<redacted>"

#: A name containing any of these words is a secret (after lower-casing and ``_`` → ``-``).
SECRET_WORDS = (
    "token",
    "secret",
    "key",
    "auth",
    "cookie",
    "session",
    "password",
    "passwd",
    "passphrase",
    "bearer",
    "signature",
    "credential",
)

#: Whole names that are secrets without containing a word above (OAuth ``code``, ``sig``…).
SECRET_NAMES = frozenset({"code", "sig", "jwt", "pwd", "pass", "otp", "sid"})

#: Names that contain a secret word but hold no secret: the handshake's random nonce, shown
#: by ``-v`` because it explains Sec-WebSocket-Accept.
NOT_SECRET = frozenset({"sec-websocket-key"})

#: Shorter values are not remembered: hiding every "abc" in a message would garble it.
MIN_REMEMBERED = 4

# Secrets known by where they came from (see remember_secret), longest first when hidden.
_remembered: set[str] = set()

# Headers whose value is a URL, possibly relative ("/next?token=…").
_URL_HEADERS = frozenset({"location", "content-location", "referer"})

# Headers whose value starts with a scheme word worth keeping: "Basic <redacted>".
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})


def remember_secret(value: str) -> None:
    """Hide ``value`` wherever it shows from now on, whatever it stands next to.

    For secrets known by their source rather than their name: ``${env.API_TOKEN}`` in a run
    file (an environment variable with a secret name) may be put in a URL parameter or a
    header of any name, and quoted back by an error.
    """
    if len(value) >= MIN_REMEMBERED:
        _remembered.add(value)


def _hide_remembered(text: str) -> str:
    for value in sorted(_remembered, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def is_secret_name(name: str) -> bool:
    """Whether a header or parameter called ``name`` carries a secret."""
    key = name.strip().lower().replace("_", "-")
    if key in NOT_SECRET:
        return False
    return key in SECRET_NAMES or any(word in key for word in SECRET_WORDS)


def redact_header(name: str, value: str) -> str:
    """The value to show for header ``name``: secrets keep only their scheme word."""
    if name.lower() == "sec-websocket-protocol":
        return redact_subprotocols(value)
    if not is_secret_name(name):
        # A redirect's Location (or any URL in a header) may carry a token in its query.
        if name.lower() in _URL_HEADERS:
            return redact_url(value)
        return redact_text(value)
    scheme, _, rest = value.partition(" ")
    if rest and name.lower() in _SCHEME_HEADERS:
        return f"{scheme} {REDACTED}"
    return REDACTED


def redact_subprotocols(value: str) -> str:
    """Subprotocols that carry a credential, hidden: Kubernetes sends its bearer token as
    ``base64url.bearer.authorization.k8s.io.TOKEN`` (the part after the last ``.`` goes), other
    APIs as a pair ``access_token, TOKEN`` (the item after a secret name goes)."""
    shown: list[str] = []
    hide_next = False
    for item in (part.strip() for part in value.split(",")):
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
        elif is_secret_name(item) and "." in item:
            shown.append(f"{item.rpartition('.')[0]}.{REDACTED}")
        else:
            shown.append(item)
            hide_next = is_secret_name(item)
    return ", ".join(shown)


def redact_header_line(line: str) -> str:
    """A ``Name: value`` line as it may be quoted: the value hidden when the name is a
    secret's.  A line missing its ``:`` (``Authorization Bearer abc``) that contains a secret
    word keeps only its first word: which part is the name cannot be known."""
    name, sep, value = line.partition(":")
    if sep:
        space = " " if value.startswith(" ") else ""
        return f"{name}:{space}{redact_header(name.strip(), value.strip())}"
    if not is_secret_name(line):
        return redact_text(line)
    word = re.split(r"[\s=]", line.strip(), maxsplit=1)[0]
    return REDACTED if word == line.strip() else f"{word} {REDACTED}"


def _redact_params(text: str) -> str:
    """``a=1&token=x`` → ``a=1&token=<redacted>``, keeping everything else as written.

    ``;`` separates parameters too: some servers read ``a=1;token=x`` as two of them, and a
    path may carry ``;jsessionid=x``.
    """
    parts = re.split(r"([&;])", text)
    for index in range(0, len(parts), 2):
        name, sep, _ = parts[index].partition("=")
        if sep and is_secret_name(urllib.parse.unquote_plus(name)):
            parts[index] = f"{name}={REDACTED}"
    return "".join(parts)


def _broken_userinfo(rest: str) -> tuple[str | None, str]:
    """Userinfo that a ``/``, ``?`` or ``#`` typed unencoded in it cut short, hidden.

    ``rest`` is the URL after ``scheme://``.  ``u:pa#ss@host`` is read by parsers as host
    ``u``, port ``pa`` and fragment ``ss@host``: the secret would show in every part.  When
    an ``@`` follows such a break, everything up to the last ``@`` is taken as userinfo
    (hiding too much of an odd URL beats showing a password).  Returns the authority to show
    (``user:<redacted>@host``) and the rest, or ``None`` and ``rest`` unchanged.
    """
    cut = next((i for i, ch in enumerate(rest) if ch in "/?#"), -1)
    if cut < 0 or "@" in rest[:cut] or "@" not in rest[cut:]:
        return None, rest
    head = rest[:cut]
    user, colon, port = head.partition(":")
    if rest[cut] == "/" and not (colon and not port.isdigit() and not head.startswith("[")):
        return None, rest  # a path with an "@" in it ("ws://h/a@b"), not userinfo
    after = rest.rpartition("@")[2]
    slash = next((i for i, ch in enumerate(after) if ch in "/?#"), len(after))
    shown = f"{user}:{REDACTED}@" if colon else f"{REDACTED}@"
    return shown + after[:slash], after[slash:]


def redact_url(url: str) -> str:
    """Hide userinfo passwords and secret query (and fragment) parameters of ``url``.

    Works on any text, valid URL or not: a URL with a bad port or an unclosed ``[`` is
    redacted like any other (splitting is by hand; urllib refuses such URLs).  Without a
    ``scheme://`` the text is read as ``authority/path?query#fragment`` (a bare proxy
    ``user:pw@host:port``), or as a path when it starts with ``/``.
    """
    if _remembered:
        url = _hide_remembered(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    prefix = f"{scheme}://" if sep else ""
    hidden, rest = _broken_userinfo(rest)
    rest, hash_sign, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    if hidden is not None:
        authority, path = hidden, rest
    elif rest.startswith("/"):
        authority, path = "", rest
    else:
        slash = rest.find("/")
        authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if hidden is None and "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        # A user name alone may be a token (https://TOKEN@host): hide it too.
        authority = f"{user}:{REDACTED}@{hostport}" if colon else f"{REDACTED}@{hostport}"
    if ";" in path:
        path = "/".join(_redact_params(segment) for segment in path.split("/"))
    if question:
        query = _redact_params(query)
    if hash_sign:
        fragment = _redact_params(fragment)
    return f"{prefix}{authority}{path}{question}{query}{hash_sign}{fragment}"


# A URL inside free text: a scheme, "://", then up to white space, a quote or "<" — except
# the "<redacted>" of a URL redacted before, so that redacting twice changes nothing.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s'\"<>]|<redacted>)+")


def redact_text(text: str) -> str:
    """Redact every URL found in ``text`` (an exception message, a report field), and every
    remembered secret (:func:`remember_secret`)."""
    if _remembered:
        text = _hide_remembered(text)
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    # Punctuation that ends a sentence ("… ?token=x: connection refused") is not the URL's.
    url = match.group()
    core = url.rstrip(".,:;!?)")
    return redact_url(core) + url[len(core) :]
