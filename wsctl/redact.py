"""Hide secrets before anything is shown: credentials in headers and in URLs.

Pure functions used by every renderer, report and log line.
"""

from __future__ import annotations

import urllib.parse

REDACTED = "<redacted>"

#: Headers whose values are credentials.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)

#: Query parameters that commonly carry credentials.
SECRET_QUERY_KEYS = frozenset(
    {
        "token",
        "access_token",
        "auth",
        "key",
        "api_key",
        "apikey",
        "password",
        "secret",
        "signature",
        "sig",
        "jwt",
        "session",
    }
)


def redact_header(name: str, value: str) -> str:
    """The value to show for header ``name``: secrets keep only their scheme word."""
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    if rest and name.lower() in ("authorization", "proxy-authorization"):
        return f"{scheme} {REDACTED}"
    return REDACTED


def redact_url(url: str) -> str:
    """Hide the password of ``user:password@`` and credential-like query parameters."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in SECRET_QUERY_KEYS for key, _ in pairs):
            query = "&".join(
                f"{key}={REDACTED}" if key.lower() in SECRET_QUERY_KEYS else f"{key}={value}"
                for key, value in pairs
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
