"""Address resources of the policy: CIDR blocks, single addresses and named classes.

The resource of the ``websocket.connect.address`` action is the IP address a connection is
about to be opened to (after the name was resolved).  A rule's address resources are written
as a CIDR block (``10.0.0.0/8``, ``fd00::/8``), a single address (``192.0.2.7``, ``::1``) or a
named class (``loopback``, ``private``…, see :data:`CLASSES`).

An IPv6 address that carries an IPv4 address — IPv4-mapped (``::ffff:127.0.0.1``),
IPv4-compatible (``::127.0.0.1``) or NAT64 (``64:ff9b::7f00:1``) — reaches that IPv4 address,
so it is checked as that IPv4 address, and a resource written in one of those forms is read as
the IPv4 address or block it stands for.  Pure functions: no I/O, no asyncio.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CLASSES",
    "Address",
    "AddressResource",
    "Network",
    "parse_address",
    "parse_address_resource",
    "unwrap",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The named classes and the blocks each stands for (what ``wsctl policy show`` expands).
CLASSES: Final[Mapping[str, tuple[str, ...]]] = {
    # Connecting to the unspecified address (0.0.0.0, ::) reaches this host on Linux and
    # macOS, and 0.0.0.0/8 is "this host on this network" (RFC 1122): all of it is loopback.
    "loopback": ("127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128"),
    # RFC 1918, IPv6 unique local addresses (RFC 4193) and the site-local block they replaced.
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "unspecified": ("0.0.0.0/8", "::/128"),
    "multicast": ("224.0.0.0/4", "ff00::/8"),
    # Special-purpose blocks (IANA registries) that are not globally reachable and not in
    # another class: shared CGN space, IETF protocol assignments, documentation, benchmarking,
    # future use and broadcast, discard-only, local-use NAT64.
    "reserved": (
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "100::/64",
        "2001:2::/48",
        "2001:db8::/32",
        "3fff::/20",
        "64:ff9b:1::/48",
    ),
    # Instance metadata services hand out cloud credentials: AWS/GCP/Azure/OpenStack (and the
    # AWS IPv6 endpoint), AWS ECS task credentials, Alibaba Cloud, Oracle Cloud.
    "cloud-metadata": (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "192.0.0.192/32",
    ),
    "any": ("0.0.0.0/0", "::/0"),
}

_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")


def unwrap(address: Address) -> Address:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64), else itself.

    ``::`` and ``::1`` are the IPv6 unspecified and loopback addresses, not IPv4-compatible
    forms of 0.0.0.0 and 0.0.0.1.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return address
    value = int(address)
    if address in _MAPPED or address in _NAT64 or (address in _COMPATIBLE and value > 1):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return address


def _unwrap_network(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv4Network) or network.prefixlen < 96:
        return network
    first = int(network.network_address)
    if (
        network.subnet_of(_MAPPED)
        or network.subnet_of(_NAT64)
        or (network.subnet_of(_COMPATIBLE) and first > 1)
    ):
        return ipaddress.IPv4Network((first & 0xFFFFFFFF, network.prefixlen - 96))
    return network


def parse_address(text: str) -> Address:
    """An IP address as a connection sees it, unwrapped (see :func:`unwrap`).

    Accepts ``[v6]`` brackets; raises ValueError with a reason for anything else.
    """
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if "%" in inner:
        inner = inner.split("%", 1)[0]  # a zone (fe80::1%eth0) does not change the address
    try:
        return unwrap(ipaddress.ip_address(inner))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


@dataclass(frozen=True)
class AddressResource:
    """One address resource of a rule: its text and the blocks it stands for."""

    text: str
    networks: tuple[Network, ...]

    @property
    def is_class(self) -> bool:
        """True for a named class such as ``loopback``."""
        return self.text in CLASSES

    def matches(self, address: Address) -> bool:
        """Whether ``address`` (already unwrapped) is in one of the blocks."""
        return any(address in network for network in self.networks)

    def describe(self) -> str:
        """``loopback (127.0.0.0/8, ::1/128, …)`` for a class, else the block."""
        if self.is_class:
            return f"{self.text} ({', '.join(str(n) for n in self.networks)})"
        return str(self.networks[0])


def parse_address_resource(text: str) -> AddressResource:
    """Parse a class name, a CIDR block or a single address; ValueError says what is wrong.

    A block with host bits set (``10.0.0.1/8``) is refused rather than silently widened, and
    IPv6 forms that carry an IPv4 address are read as that IPv4 address or block.
    """
    name = text.strip().lower()
    if name in CLASSES:
        return AddressResource(name, tuple(ipaddress.ip_network(block) for block in CLASSES[name]))
    if "/" in text:
        inner = text
        if text.startswith("["):
            inner = text.replace("[", "", 1).replace("]", "", 1)  # "[::1]/128" → "::1/128"
        try:
            network = ipaddress.ip_network(inner, strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                wider = ipaddress.ip_network(inner, strict=False)
                raise ValueError(f"host bits set (did you mean {wider}?)") from None
            raise ValueError("not a CIDR block (ADDRESS/PREFIX, like 10.0.0.0/8)") from None
        return AddressResource(text, (_unwrap_network(network),))
    address = parse_address(text)
    return AddressResource(text, (ipaddress.ip_network(address),))


def class_names() -> str:
    """The class names, for error messages."""
    return ", ".join(CLASSES)
