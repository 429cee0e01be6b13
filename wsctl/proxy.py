"""Which proxy a connection goes through: ``--proxy``, ``--no-proxy`` or the environment.

Pure functions over plain values (the environment is passed in), following curl:

- ``wss://`` uses ``https_proxy``/``HTTPS_PROXY``, ``ws://`` uses ``http_proxy``/``HTTP_PROXY``,
  both fall back to ``all_proxy``/``ALL_PROXY``; the lower-case spelling wins when both are set.
- ``no_proxy``/``NO_PROXY`` is a comma-separated list of host names (matching the name and its
  subdomains; a leading ``.`` or ``*.`` is optional), IP addresses, CIDR ranges, any of them
  with ``:port``, or ``*`` for every host.  It applies to proxies from the environment; an
  explicit ``--proxy`` is always used.
- A proxy URL without a scheme is an HTTP proxy; without a port it uses 80 (http), 443 (https)
  or 1080 (SOCKS).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import NamedTuple

from wsctl.errors import InvalidInput
from wsctl.redact import redact_url

#: Proxy schemes websockets can tunnel through (SOCKS needs python-socks).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SOCKS_PORT = 1080

#: What to tell a user whose proxy is SOCKS and who lacks python-socks.
SOCKS_INSTALL_HINT = "pip install 'wsctl[socks]' (or pip install python-socks)"


class ProxyChoice(NamedTuple):
    """The proxy chosen for one URL: ``url`` (with any credentials) and where it came from."""

    url: str
    source: str

    @property
    def scheme(self) -> str:
        """``http``, ``https``, ``socks5``…"""
        return self.url.split(":", 1)[0]

    @property
    def is_socks(self) -> bool:
        """True for SOCKS proxies, which need python-socks."""
        return self.scheme.startswith("socks")

    def describe(self) -> str:
        """``http://user:<redacted>@proxy:3128 (from HTTPS_PROXY)``: safe to show."""
        return f"{redact_url(self.url)} (from {self.source})"


def normalize_proxy_url(url: str, *, source: str = "--proxy") -> str:
    """Validate a proxy URL and return it with an explicit scheme and port.

    Raises :class:`InvalidInput` with the URL's password hidden.
    """
    shown = redact_url(url)
    text = url.strip()
    if "://" not in text:
        text = "http://" + text  # curl reads a bare host:port as an HTTP proxy
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        from wsctl.urls import urllib_problem

        raise InvalidInput(f"invalid proxy {shown!r} ({source}): {urllib_problem(exc)}") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise InvalidInput(
            f"invalid proxy {shown!r} ({source}): scheme {scheme}:// is not supported; "
            "use http://, https://, socks5:// or socks5h://"
        )
    if not parts.hostname:
        raise InvalidInput(f"invalid proxy {shown!r} ({source}): no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput(f"invalid proxy {shown!r} ({source}): a proxy URL has no path")
    if any(ord(ch) < 0x21 for ch in text):
        raise InvalidInput(f"invalid proxy {shown!r} ({source}): contains white space")
    if parts.username is not None and parts.password is None:
        raise InvalidInput(
            f"invalid proxy {shown!r} ({source}): a user name needs a password "
            "(scheme://user:password@host:port)"
        )
    if port is None:
        port = _SOCKS_PORT if scheme.startswith("socks") else _DEFAULT_PORTS[scheme]
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The value of ``name`` in lower case, else upper case: (value, variable), if non-empty."""
    for variable in (name.lower(), name.upper()):
        value = environ.get(variable, "").strip()
        if value:
            return value, variable
    return None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """True when ``host:port`` matches an entry of a ``NO_PROXY`` list."""
    host = host.strip("[]").rstrip(".").lower()
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port: int | None = None
        if entry.startswith("["):  # [v6]:port or [v6]
            inner, _, rest = entry[1:].partition("]")
            entry = inner
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
        elif entry.count(":") == 1:  # name:port or v4:port; bare v6 has more colons
            name, _, port_text = entry.partition(":")
            if port_text.isdigit():
                entry, entry_port = name, int(port_text)
        if entry_port is not None and entry_port != port:
            continue
        if _address_matches(host, entry):
            return True
        entry = entry.removeprefix("*.").lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def _address_matches(host: str, entry: str) -> bool:
    """IP address and CIDR entries match IP hosts only."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return address in network


def choose_proxy(
    url: str,
    *,
    explicit: str | None,
    disabled: bool,
    environ: Mapping[str, str],
) -> ProxyChoice | None:
    """The proxy for ``url``: ``explicit`` (``--proxy``), none, or one from ``environ``.

    Raises :class:`InvalidInput` when the environment names an invalid proxy.
    """
    if disabled:
        return None
    if explicit is not None:
        return ProxyChoice(normalize_proxy_url(explicit), "--proxy")
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme.lower() == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    no_proxy = _env(environ, "no_proxy")
    if no_proxy is not None and bypasses_proxy(host, port, no_proxy[0]):
        return None
    found = _env(environ, "https_proxy" if secure else "http_proxy") or _env(environ, "all_proxy")
    if found is None:
        return None
    value, variable = found
    return ProxyChoice(normalize_proxy_url(value, source=variable), variable)


def require_socks_support(choice: ProxyChoice) -> None:
    """Raise :class:`InvalidInput` with install instructions when python-socks is missing."""
    import importlib.util

    if importlib.util.find_spec("python_socks") is None:
        raise InvalidInput(
            f"the proxy {choice.describe()} is a SOCKS proxy, which needs the python-socks "
            f"package: {SOCKS_INSTALL_HINT}"
        )
