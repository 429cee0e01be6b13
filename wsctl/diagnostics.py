"""Handshake diagnostics as text: negotiated subprotocol and extensions, TLS, a refused body.

Pure formatting over plain data (the dict of ``Client.tls_info``, response bytes); renderers
decide where the lines go.  Kept free of heavy imports: ``wsctl ping`` and the error boundary
use it.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping, Sequence
from typing import Any

from wsctl.escape import escape_control
from wsctl.redact import redact_subprotocols

#: How much of a refused upgrade's response body is shown and reported.
BODY_LIMIT = 1024

#: Short names of certificate name attributes, as OpenSSL prints them.
_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "emailAddress": "emailAddress",
}


def body_excerpt(body: bytes, limit: int = BODY_LIMIT) -> str:
    """The first ``limit`` bytes of a response body as text (invalid UTF-8 replaced)."""
    return body[:limit].decode("utf-8", "replace")


def body_lines(body: bytes, limit: int = BODY_LIMIT) -> list[str]:
    """A refused upgrade's response body for stderr: a heading, then ``< line`` per line.

    Control characters (CR, ESC…) are escaped; only the first ``limit`` bytes are shown.
    """
    if not body:
        return []
    shown = body_excerpt(body, limit)
    size = len(body)
    heading = (
        f"response body (first {limit} of {size} bytes):"
        if size > limit
        else f"response body ({size} bytes):"
    )
    # CRLF is the norm in HTTP bodies: end lines there, and escape only a CR elsewhere.
    lines = shown.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [heading, *(f"< {escape_control(line)}" for line in lines)]


def format_name(name: Sequence[Sequence[Sequence[str]]] | None) -> str | None:
    """A certificate subject or issuer as ``getpeercert()`` gives it → ``CN=example.com, O=…``."""
    if not name:
        return None
    parts = [f"{_SHORT_NAMES.get(key, key)}={value}" for rdn in name for key, value in rdn]
    return ", ".join(parts) or None


def certificate_expiry(certificate: Mapping[str, Any]) -> float | None:
    """``notAfter`` of a certificate as a Unix time, or None when absent or unreadable."""
    not_after = certificate.get("notAfter")
    if not isinstance(not_after, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(not_after, "%b %d %H:%M:%S %Y %Z")))
    except ValueError:
        return None


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def tls_summary(tls: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A TLS session (``Client.tls_info``) as plain JSON-ready data for reports."""
    if tls is None:
        return None
    certificate = tls.get("peer_certificate") or {}
    expires = certificate_expiry(certificate)
    alt_names = [
        value
        for kind, value in certificate.get("subjectAltName", ())
        if kind in ("DNS", "IP Address")
    ]
    return {
        "version": tls.get("version"),
        "cipher": tls.get("cipher"),
        "bits": tls.get("bits"),
        "subject": format_name(certificate.get("subject")),
        "issuer": format_name(certificate.get("issuer")),
        "alt_names": alt_names,
        "expires": _iso(expires) if expires is not None else None,
    }


def tls_lines(tls: Mapping[str, Any] | None, now: float | None = None) -> list[str]:
    """``TLS: TLSv1.3, TLS_AES_256_GCM_SHA384 (256 bits)`` and the certificate's lines."""
    summary = tls_summary(tls)
    if summary is None:
        return []
    bits = f" ({summary['bits']} bits)" if summary["bits"] else ""
    lines = [f"TLS: {summary['version'] or 'unknown version'}, {summary['cipher']}{bits}"]
    if summary["subject"] is None and summary["expires"] is None:
        lines.append("certificate: not verified, so its details are unavailable")
        return lines
    lines.append(f"certificate: subject {summary['subject'] or '(none)'}")
    if summary["alt_names"]:
        lines.append(f"certificate: names {', '.join(summary['alt_names'])}")
    if summary["issuer"]:
        lines.append(f"certificate: issuer {summary['issuer']}")
    expires = certificate_expiry((tls or {}).get("peer_certificate") or {})
    if expires is not None:
        days = (expires - (time.time() if now is None else now)) / 86400
        when = f"in {days:.0f} days" if days >= 0 else f"{-days:.0f} days ago"
        lines.append(f"certificate: expires {summary['expires']} ({when})")
    return lines


def connection_lines(
    *,
    subprotocol: str | None,
    offered: Sequence[str],
    extensions: Sequence[str],
    tls: Mapping[str, Any] | None,
) -> list[str]:
    """What the handshake negotiated, for ``-v``: subprotocol, extensions, TLS."""
    if subprotocol:
        protocol_line = f"subprotocol: {redact_subprotocols(subprotocol)}"
    elif offered:
        protocol_line = f"subprotocol: none (offered {redact_subprotocols(', '.join(offered))})"
    else:
        protocol_line = "subprotocol: none"
    lines = [protocol_line, f"extensions: {', '.join(extensions) if extensions else 'none'}"]
    return lines + tls_lines(tls)


def connected_lines(client: Any) -> list[str]:
    """What ``-v`` says once a connection is open: ``connected to URL (subprotocol)``, then
    :func:`client_lines`."""
    from wsctl.redact import redact_url

    chosen = f" ({client.subprotocol})" if client.subprotocol else ""
    return [f"connected to {redact_url(client.url)}{chosen}", *client_lines(client)]


def client_lines(client: Any) -> list[str]:
    """:func:`connection_lines` for an open :class:`wsctl.core.Client`."""
    return connection_lines(
        subprotocol=client.subprotocol,
        offered=client.options.subprotocols,
        extensions=client.extensions,
        tls=client.tls_info,
    )
