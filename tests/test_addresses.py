"""Address rules, pure: parsing resources, the classes, IPv4 carried in IPv6, evaluation.

Tables for the cases that matter, hypothesis for the edges: verdicts equal Python's own
``ipaddress`` membership, and an applicable deny always wins.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsctl.addresses import CLASSES, parse_address, parse_address_resource, unwrap
from wsctl.errors import InvalidInput
from wsctl.policy import (
    ACTION_CONNECT_ADDRESS,
    ACTION_CONNECT_PROXY,
    ACTION_CONNECT_URL,
    AddressDenied,
    PolicySet,
    parse_policy,
)


def policy(text: str) -> PolicySet:
    return PolicySet((parse_policy("version = 1\n" + text, "p.toml"),))


def address_policy(resources: list[str], effect: str = "deny", default: str = "allow") -> PolicySet:
    listed = ", ".join(f'"{r}"' for r in resources)
    return policy(
        f'default = "{default}"\n[[rule]]\nname = "r"\nactions = "websocket.connect.address"\n'
        f'resources = [{listed}]\neffect = "{effect}"\n'
    )


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize(
    ("address", "classes"),
    [
        ("127.0.0.1", {"loopback", "any"}),
        ("127.0.0.2", {"loopback", "any"}),
        ("127.255.255.254", {"loopback", "any"}),
        ("0.0.0.0", {"loopback", "unspecified", "any"}),
        ("::", {"loopback", "unspecified", "any"}),
        ("::1", {"loopback", "any"}),
        ("::ffff:127.0.0.1", {"loopback", "any"}),  # IPv4-mapped
        ("::127.0.0.1", {"loopback", "any"}),  # IPv4-compatible
        ("64:ff9b::7f00:1", {"loopback", "any"}),  # NAT64 of 127.0.0.1
        ("10.1.2.3", {"private", "any"}),
        ("172.16.0.1", {"private", "any"}),
        ("172.31.255.255", {"private", "any"}),
        ("172.32.0.1", {"any"}),
        ("192.168.1.1", {"private", "any"}),
        ("::ffff:192.168.1.1", {"private", "any"}),
        ("fd12:3456::1", {"private", "any"}),
        ("fc00::1", {"private", "any"}),
        ("169.254.1.1", {"link-local", "any"}),
        ("169.254.169.254", {"link-local", "cloud-metadata", "any"}),
        ("::ffff:169.254.169.254", {"link-local", "cloud-metadata", "any"}),
        ("fe80::1", {"link-local", "any"}),
        ("fd00:ec2::254", {"private", "cloud-metadata", "any"}),
        ("100.100.100.200", {"reserved", "cloud-metadata", "any"}),
        ("224.0.0.1", {"multicast", "any"}),
        ("ff02::1", {"multicast", "any"}),
        ("255.255.255.255", {"reserved", "any"}),
        ("192.0.2.1", {"reserved", "any"}),
        ("2001:db8::1", {"reserved", "any"}),
        ("100.64.0.1", {"reserved", "any"}),
        ("93.184.216.34", {"any"}),
        ("2606:4700::1", {"any"}),
        ("::ffff:8.8.8.8", {"any"}),
    ],
)
def test_classes(address: str, classes: set[str]) -> None:
    found = {
        name for name in CLASSES if parse_address_resource(name).matches(parse_address(address))
    }
    assert found == classes


@pytest.mark.parametrize(
    ("text", "unwrapped"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("::10.0.0.1", "10.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("::", "::"),  # the unspecified address, not 0.0.0.0 in disguise
        ("::1", "::1"),  # loopback, not 0.0.0.1
        ("fe80::1%eth0", "fe80::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_ipv4_carried_in_ipv6_is_checked_as_ipv4(text: str, unwrapped: str) -> None:
    assert str(parse_address(text)) == unwrapped


@pytest.mark.parametrize(
    ("resource", "blocks"),
    [
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        ("192.0.2.7", ["192.0.2.7/32"]),
        ("::1", ["::1/128"]),
        ("[::1]", ["::1/128"]),
        ("[fd00::]/8", ["fd00::/8"]),
        ("::ffff:10.0.0.0/104", ["10.0.0.0/8"]),  # an IPv4 block spelt as mapped IPv6
        ("64:ff9b::/96", ["0.0.0.0/0"]),
        ("LOOPBACK", ["127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128"]),
    ],
)
def test_resource_parsing(resource: str, blocks: list[str]) -> None:
    assert [str(network) for network in parse_address_resource(resource).networks] == blocks


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ("10.0.0.1/8", "host bits set (did you mean 10.0.0.0/8?)"),
        ("10.0.0.0/33", "not a CIDR block"),
        ("localhost", "not an IP address"),
        ("privat", "not an IP address"),
        ("127.1", "not an IP address"),
        ("0x7f000001", "not an IP address"),
        ("", "not an IP address"),
    ],
)
def test_bad_resources(resource: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_address_resource(resource)
    assert reason in str(caught.value)


def test_bad_resource_in_a_policy_names_file_and_line() -> None:
    text = (
        'version = 1\n[[rule]]\nname = "a"\nactions = "websocket.connect.address"\n'
        'resources = [\n  "loopback",\n  "10.0.0.1/8",\n]\neffect = "deny"\n'
    )
    with pytest.raises(InvalidInput) as caught:
        parse_policy(text, "p.toml")
    assert str(caught.value).startswith('p.toml:7: bad resource "10.0.0.1/8": ')
    assert "did you mean 10.0.0.0/8?" in str(caught.value)


@pytest.mark.parametrize(
    ("actions", "resource", "line", "reason"),
    [
        ("websocket.connect.url", "loopback", 5, "is for websocket.connect.address"),
        ("websocket.connect.address", "http://proxy:3128", 5, "is for websocket.connect.proxy"),
        ("websocket.connect.address", "lo", 5, "an address class (loopback, private"),
        ("websocket.connect.proxy", "http://proxy/x", 5, "bad proxy pattern"),
    ],
)
def test_resource_kind_must_fit_the_actions(
    actions: str, resource: str, line: int, reason: str
) -> None:
    text = (
        f'version = 1\n[[rule]]\nname = "a"\nactions = "{actions}"\n'
        f'resources = "{resource}"\neffect = "deny"\n'
    )
    with pytest.raises(InvalidInput) as caught:
        parse_policy(text, "p.toml")
    assert str(caught.value).startswith(f"p.toml:{line}: ")
    assert reason in str(caught.value)


def test_bad_proxy_resolution_names_the_line() -> None:
    with pytest.raises(InvalidInput, match=r'^p\.toml:3: proxy_resolution must be "deny" or'):
        parse_policy('version = 1\n\nproxy_resolution = "yes"\n', "p.toml")


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    "address", ["0.0.0.0", "::", "127.0.0.2", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::1"]
)
def test_loopback_denies_every_spelling(address: str) -> None:
    decision = address_policy(["loopback"]).check(ACTION_CONNECT_ADDRESS, address)
    assert not decision.allowed
    assert decision.rule == "r"


def test_default_applies_to_unmatched_addresses() -> None:
    assert (
        not address_policy(["10.0.0.0/8"], "allow", "deny")
        .check(ACTION_CONNECT_ADDRESS, "11.0.0.1")
        .allowed
    )
    assert (
        address_policy(["10.0.0.0/8"], "allow", "deny")
        .check(ACTION_CONNECT_ADDRESS, "10.9.9.9")
        .allowed
    )


def test_policy_without_address_rules_has_no_opinion_on_addresses() -> None:
    # default deny was written before address rules existed: it must not deny every address.
    urls_only = policy(
        '[[rule]]\nname = "u"\nactions = "*"\nresources = "wss://**"\neffect = "allow"\n'
    )
    assert not urls_only.checks_addresses
    assert urls_only.check(ACTION_CONNECT_ADDRESS, "10.0.0.1").allowed
    both = PolicySet(urls_only.policies + address_policy(["private"]).policies)
    decision = both.check(ACTION_CONNECT_ADDRESS, "10.0.0.1")
    assert (decision.allowed, decision.rule) == (False, "r")


def test_address_denied_error_carries_address_and_rule() -> None:
    with pytest.raises(AddressDenied) as caught:
        address_policy(["loopback"]).check_address("::ffff:127.0.0.1", "x", "ws://x/")
    error = caught.value
    assert (error.address, error.rule, error.source) == ("127.0.0.1", "r", "p.toml")
    assert error.retryable is False
    assert error.exit_code == 3
    assert (
        str(error)
        == 'connection to ws://x:80/ denied by p.toml (rule "r"): x resolves to 127.0.0.1'
    )


def test_proxy_patterns() -> None:
    rules = policy(
        'default = "deny"\n[[rule]]\nname = "corp"\nactions = "websocket.connect.proxy"\n'
        'resources = ["http://proxy.corp:3128", "socks5h://*.corp:*"]\neffect = "allow"\n'
    )
    for proxy, allowed in [
        ("http://u:pw@PROXY.corp:3128", True),
        ("http://proxy.corp", False),  # port 80, not 3128
        ("https://proxy.corp:3128", False),
        ("socks5h://a.b.corp:1", True),
        ("socks5h://corp:1080", False),
        ("socks5://a.corp:1080", False),
    ]:
        assert rules.check(ACTION_CONNECT_PROXY, proxy).allowed is allowed, proxy
    # A proxy pattern never matches a target URL, nor a URL pattern a proxy.
    assert not rules.check(ACTION_CONNECT_URL, "ws://proxy.corp:3128/").allowed


# --------------------------------------------------------------------------- properties

v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
# Global-unicast-ish IPv6, outside the ranges that carry an IPv4 address.
v6 = st.integers(0x2000 << 112, (0x3FFF << 112) | (2**112 - 1)).map(ipaddress.IPv6Address)


@st.composite
def network(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if draw(st.booleans()):
        return ipaddress.IPv4Network((int(draw(v4)), draw(st.integers(0, 32))), strict=False)
    return ipaddress.IPv6Network((int(draw(v6)), draw(st.integers(3, 128))), strict=False)


@given(st.one_of(v4, v6), st.lists(network(), min_size=1, max_size=5))
def test_verdict_is_ipaddress_membership(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    decision = address_policy([str(n) for n in networks]).check(
        ACTION_CONNECT_ADDRESS, str(address)
    )
    assert decision.allowed is not any(address in n for n in networks)


@given(v4, st.lists(network(), min_size=1, max_size=3))
def test_ipv4_in_any_ipv6_form_gets_the_ipv4_verdict(
    address: ipaddress.IPv4Address, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> None:
    rules = address_policy([str(n) for n in networks])
    expected = rules.check(ACTION_CONNECT_ADDRESS, str(address)).allowed
    for form in (f"::ffff:{address}", f"64:ff9b::{address}"):
        assert rules.check(ACTION_CONNECT_ADDRESS, form).allowed is expected
        assert unwrap(ipaddress.IPv6Address(form)) == address


@given(
    st.one_of(v4, v6),
    st.lists(st.tuples(network(), st.sampled_from(["allow", "deny"])), min_size=1, max_size=6),
    st.sampled_from(["allow", "deny"]),
)
def test_deny_always_wins(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    rules: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]],
    default: str,
) -> None:
    text = f'default = "{default}"\n' + "".join(
        f'[[rule]]\nname = "r{i}"\nactions = "websocket.connect.address"\n'
        f'resources = "{net}"\neffect = "{effect}"\n'
        for i, (net, effect) in enumerate(rules)
    )
    decision = policy(text).check(ACTION_CONNECT_ADDRESS, str(address))
    matching = [effect for net, effect in rules if address in net]
    if "deny" in matching:
        assert not decision.allowed
    elif matching:
        assert decision.allowed
    else:
        assert decision.allowed is (default == "allow")
