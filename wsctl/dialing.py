"""Resolve, check, connect: a connection opens exactly the addresses the policy checked.

Used only when a policy in force has address rules (``websocket.connect.address``).  The host
is resolved once per hop and per attempt; every address returned is checked, and the
connection is refused if any of them is denied (simplest and safest: a name that can point
inside the fence is treated as inside).  The TCP connection is then opened to those checked
addresses themselves, never by handing the name back to the system resolver — so a second DNS
answer (DNS rebinding) cannot swap the address.  TLS still uses the name: it is the SNI and
the name the certificate is verified against, and the Host header is unchanged.

Through a proxy, the proxy's URL (``websocket.connect.proxy``) and its resolved addresses are
checked the same way.  The target's address is checked when wsctl resolves it (``socks5://``,
``socks4://``) or when it is an IP literal; a proxy that resolves the name itself (HTTP
CONNECT, ``socks5h://``, ``socks4a://``) is refused unless every policy with address rules
says ``proxy_resolution = "trust"``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from wsctl.errors import ConnectionFailed, PermissionDenied

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection, connect

    from wsctl.policy import PolicySet
    from wsctl.proxy import ProxyChoice

#: ``async (host, port) -> addresses``: the IP addresses ``host`` resolves to, in order.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: Proxies that resolve the target's name themselves: its address cannot be checked here.
REMOTE_RESOLUTION = frozenset({"http", "https", "socks5h", "socks4a"})


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for ``host`` (``loop.getaddrinfo``), addresses in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


#: The resolver used when ``ConnectOptions.resolver`` is ``None``; read at each call, so a
#: test (or an embedder) may replace it.  Tests never use the real one.
default_resolver: Resolver = system_resolver


def ip_literal(host: str) -> str | None:
    """``host`` as an IP address string when it is one (``[::1]`` → ``::1``), else ``None``."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def resolve(host: str, port: int, resolver: Resolver | None = None) -> list[str]:
    """The addresses to check and connect to: an IP literal as is, a name resolved once.

    Raises :class:`socket.gaierror` when the name does not resolve, like the system would.
    """
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    answer = await (resolver or default_resolver)(host, port)
    addresses: list[str] = []
    for item in answer:
        address = ip_literal(str(item).split("%", 1)[0])
        if address is None:
            raise ConnectionFailed(f"the resolver returned {item!r} for {host}: not an IP address")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return addresses


async def resolve_checked(
    policies: PolicySet,
    host: str,
    port: int,
    resolver: Resolver | None,
    note: Callable[[str], None] | None,
    url: str,
    proxy: str | None = None,
) -> list[str]:
    """Resolve ``host`` and check every address; raise AddressDenied if any is denied.

    ``url`` (and ``proxy``, when ``host`` is the proxy's) name the connection in a denial.
    """
    addresses = await resolve(host, port, resolver)
    for address in addresses:
        policies.check_address(address, host, url, proxy)
    if note is not None:
        note(f"address rules: {host} → {', '.join(addresses)} allowed")
    return addresses


async def open_socket(addresses: Sequence[str], port: int) -> socket.socket:
    """A TCP socket connected to the first of ``addresses`` that accepts (in order)."""
    loop = asyncio.get_running_loop()
    errors: list[OSError] = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, (address, port))
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()  # cancelled (dial timeout): do not leak the half-open socket
            raise
        return sock
    raise errors[0]


async def open_checked(
    connector: connect,
    choice: ProxyChoice | None,
    policies: PolicySet,
    resolver: Resolver | None,
    note: Callable[[str], None] | None = None,
) -> ClientConnection:
    """websockets' ``open_tcp_connection`` for ``connector``, to checked addresses only.

    ``note`` hears what was resolved and allowed (for ``-v``).
    """
    from websockets.asyncio.client import connect as ws_connect

    from wsctl.normalize import normalize_proxy

    # An event loop that times connection phases (``wsctl ping``) is told a new attempt starts
    # here: the socket it would otherwise see being created comes ready-made (``sock=``).
    begin_attempt = getattr(asyncio.get_running_loop(), "begin_attempt", None)
    if begin_attempt is not None:
        begin_attempt()
    ws_uri = connector.ws_uri
    url = connector.uri
    kwargs = connector.create_connection_kwargs
    if choice is None:
        addresses = await resolve_checked(policies, ws_uri.host, ws_uri.port, resolver, note, url)
        return await _with_socket(connector, await open_socket(addresses, ws_uri.port))

    from websockets.proxy import parse_proxy

    proxy = parse_proxy(choice.url)
    proxy_addresses = await resolve_checked(
        policies, proxy.host, proxy.port, resolver, note, url, choice.url
    )
    target = ws_uri.host
    literal = ip_literal(target)
    if literal is not None:
        policies.check_address(literal, target, url)
        if note is not None:
            note(f"address rules: {literal} allowed")
    elif choice.scheme in REMOTE_RESOLUTION:
        distrusting = policies.distrusted_proxy_resolution()
        if distrusting is not None:
            from wsctl.normalize import normalize_url

            raise PermissionDenied(
                f"connection to {normalize_url(url)} through proxy {normalize_proxy(choice.url)}"
                f" denied by {distrusting.source}: "
                f"the proxy resolves {target} itself, so the address rules cannot check it "
                '(use a socks5:// proxy, or set proxy_resolution = "trust" in the policy)'
            )
        if note is not None:
            note(f'address rules: the proxy resolves {target} (proxy_resolution = "trust")')
    else:  # socks5:// and socks4://: wsctl resolves the name and sends the address
        checked = await resolve_checked(policies, target, ws_uri.port, resolver, note, url)
        target = checked[0]

    errors: list[OSError] = []
    for address in proxy_addresses:
        try:
            if choice.is_socks:
                from websockets.asyncio.client import connect_socks_proxy

                sock = await connect_socks_proxy(
                    dataclasses.replace(proxy, host=address),
                    dataclasses.replace(ws_uri, host=target),
                )
                return await _with_socket(connector, sock)
            # HTTP(S) CONNECT: websockets dials the proxy by the URL's host; give it the
            # checked address, and keep the proxy's name for its TLS certificate.
            connector.proxy = _with_host(choice.url, address)
            if choice.scheme == "https":
                kwargs["proxy_server_hostname"] = proxy.host
            try:
                return await ws_connect.open_tcp_connection(connector)
            finally:
                kwargs.pop("proxy_server_hostname", None)
        except OSError as exc:
            errors.append(exc)
    raise errors[0]


async def _with_socket(connector: connect, sock: socket.socket) -> ClientConnection:
    """Let websockets finish the connection (TLS with SNI = the name, handshake) on ``sock``."""
    from websockets.asyncio.client import connect as ws_connect

    kwargs: dict[str, Any] = connector.create_connection_kwargs
    kwargs["sock"] = sock
    try:
        return await ws_connect.open_tcp_connection(connector)
    except BaseException:
        sock.close()
        raise
    finally:
        # The kwargs outlive this hop: the next hop (a redirect) dials its own socket.
        kwargs.pop("sock", None)


def _with_host(url: str, address: str) -> str:
    """``scheme://[userinfo@]host:port`` with the host replaced by ``address``."""
    scheme, _, rest = url.partition("://")
    userinfo, at, hostport = rest.rpartition("@")
    port = hostport.rsplit(":", 1)[1]
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{userinfo}{at}{host}:{port}"
