"""The security policy (``wsctl.policy``): tables for the evaluator, URL normalisation, URL
patterns and malformed files, and hypothesis properties for the edges."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsctl.errors import ExitCode, InvalidInput, Kind, PermissionDenied
from wsctl.policy import (
    ACTION_CONNECT,
    ACTION_CONNECT_URL,
    Decision,
    NormalizedURL,
    Policy,
    PolicySet,
    discover,
    load_policy,
    normalize_url,
    parse_pattern,
    parse_policy,
)

#: The policy of issue 5: connections on, only two URL patterns allowed, default deny.
API_POLICY = """\
version = 1
default = "deny"

[[rule]]
name = "websockets-enabled"
actions = "websocket.connect"
effect = "allow"

[[rule]]
name = "our-apis"
actions = "websocket.connect.url"
resources = ["wss://api.example.com/ws", "wss://*.example.com/stream/**"]
effect = "allow"
"""


def policy_set(*texts: str) -> PolicySet:
    return PolicySet(tuple(parse_policy(text, f"p{i}.toml") for i, text in enumerate(texts)))


def rules_policy(*rules: tuple[str, str, list[str] | None, str], default: str = "deny") -> str:
    """TOML text for (name, actions, resources or None, effect) rules."""
    parts = [f'version = 1\ndefault = "{default}"\n']
    for name, actions, resources, effect in rules:
        parts.append(f'[[rule]]\nname = "{name}"\nactions = "{actions}"\neffect = "{effect}"\n')
        if resources is not None:
            parts.append("resources = [" + ", ".join(f'"{r}"' for r in resources) + "]\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- the issue's table


@pytest.mark.parametrize(
    "url",
    [
        "wss://api.example.com.evil.net/ws",
        "wss://evilexample.com/stream/x",
        "wss://api.example.com:8443/ws",
        "wss://api.example.com/ws/../admin",
        "wss://api.example.com@evil.net/ws",
        "ws://api.example.com/ws",
        "wss://example.com/stream/x",
    ],
)
def test_issue_urls_denied(url: str) -> None:
    decision = policy_set(API_POLICY).check(ACTION_CONNECT_URL, url)
    assert not decision.allowed
    assert decision.source == "p0.toml"
    assert decision.rule is None
    assert decision.explanation == "denied by p0.toml (no rule matched, default deny)"


@pytest.mark.parametrize(
    "url",
    [
        "WSS://API.EXAMPLE.COM/ws",
        "wss://api.example.com:443/ws",
        "wss://api.example.com./ws",
        "wss://a.b.example.com/stream/x/y",
        "wss://api.example.com/ws?token=1",
    ],
)
def test_issue_urls_allowed(url: str) -> None:
    decision = policy_set(API_POLICY).check(ACTION_CONNECT_URL, url)
    assert decision.allowed
    assert (decision.source, decision.rule) == ("p0.toml", "our-apis")
    assert decision.explanation == 'allowed by p0.toml (rule "our-apis")'


# --------------------------------------------------------------------------- the evaluator

DENY_PLAINTEXT = rules_policy(
    ("on", "websocket.connect", None, "allow"),
    ("everything", "websocket.connect.url", ["*"], "allow"),
    ("no-plaintext", "websocket.connect.url", ["ws://**"], "deny"),
)


@pytest.mark.parametrize(
    ("policy", "action", "resource", "allowed", "rule"),
    [
        # Deny overrides allow, whatever the order of the rules.
        (DENY_PLAINTEXT, ACTION_CONNECT_URL, "ws://a.example/x", False, "no-plaintext"),
        (DENY_PLAINTEXT, ACTION_CONNECT_URL, "wss://a.example/x", True, "everything"),
        (DENY_PLAINTEXT, ACTION_CONNECT, "", True, "on"),
        # The default decides when no rule applies.
        (rules_policy(default="allow"), ACTION_CONNECT, "", True, None),
        (rules_policy(default="allow"), ACTION_CONNECT_URL, "ws://x/", True, None),
        (rules_policy(), ACTION_CONNECT_URL, "ws://x/", False, None),
        (rules_policy(), ACTION_CONNECT, "", False, None),
        # websocket.connect has an empty resource: only rules without URL patterns match it.
        (
            rules_policy(("urls", "websocket.connect", ["ws://**"], "deny"), default="allow"),
            ACTION_CONNECT,
            "",
            True,
            None,
        ),
        (
            rules_policy(("off", "websocket.connect", ["*"], "deny"), default="allow"),
            ACTION_CONNECT,
            "",
            False,
            "off",
        ),
        # Action patterns: websocket.* and * cover both actions; one action only itself.
        (rules_policy(("w", "websocket.*", None, "allow")), ACTION_CONNECT, "", True, "w"),
        (
            rules_policy(("w", "websocket.*", None, "allow")),
            ACTION_CONNECT_URL,
            "ws://x/",
            True,
            "w",
        ),
        (rules_policy(("a", "*", None, "allow")), ACTION_CONNECT_URL, "ws://x/", True, "a"),
        (
            rules_policy(("c", "websocket.connect", None, "allow")),
            ACTION_CONNECT_URL,
            "ws://x/",
            False,
            None,
        ),
        (
            rules_policy(("u", "websocket.connect.url", None, "allow")),
            ACTION_CONNECT,
            "",
            False,
            None,
        ),
        # The first applicable deny (in file order) is the one reported.
        (
            rules_policy(
                ("allow-all", "*", None, "allow"),
                ("deny-1", "websocket.connect.url", ["ws://x/"], "deny"),
                ("deny-2", "websocket.connect.url", ["ws://**"], "deny"),
            ),
            ACTION_CONNECT_URL,
            "ws://x/",
            False,
            "deny-1",
        ),
    ],
)
def test_evaluation(
    policy: str, action: str, resource: str, allowed: bool, rule: str | None
) -> None:
    decision = policy_set(policy).check(action, resource)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert decision.source == "p0.toml"


def test_rule_without_name_is_named_by_position() -> None:
    text = 'version = 1\n[[rule]]\nactions = "*"\neffect = "deny"\n'
    assert policy_set(text).check(ACTION_CONNECT, "").rule == "#1"


def test_empty_policy_set_allows_everything_without_parsing() -> None:
    decision = PolicySet().check(ACTION_CONNECT_URL, "ws://2130706433/")
    assert decision == Decision(True, None, None, "allowed: no policy in force")
    PolicySet().check_connect("http://not-even-websocket/")  # returns, does not raise


ALLOW_ALL = rules_policy(("all", "*", None, "allow"))
DENY_ALL = rules_policy(("nothing", "*", None, "deny"))


@pytest.mark.parametrize(
    ("texts", "allowed", "source", "rule"),
    [
        ((ALLOW_ALL, ALLOW_ALL), True, "p1.toml", "all"),
        ((DENY_ALL, ALLOW_ALL), False, "p0.toml", "nothing"),  # the machine's deny wins
        ((ALLOW_ALL, DENY_ALL), False, "p1.toml", "nothing"),  # the user's deny counts too
        ((DENY_ALL, DENY_ALL), False, "p0.toml", "nothing"),  # first denial in order
    ],
)
def test_every_policy_must_allow(
    texts: tuple[str, ...], allowed: bool, source: str, rule: str
) -> None:
    decision = policy_set(*texts).check(ACTION_CONNECT_URL, "wss://x/")
    assert (decision.allowed, decision.source, decision.rule) == (allowed, source, rule)


def test_allow_by_several_policies_explains_each() -> None:
    decision = policy_set(ALLOW_ALL, ALLOW_ALL).check(ACTION_CONNECT, "")
    assert decision.explanation == (
        'allowed by p0.toml (rule "all"); allowed by p1.toml (rule "all")'
    )


def test_unknown_action_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"unknown action 'websocket\.send'"):
        policy_set(ALLOW_ALL).check("websocket.send", "ws://x/")


# --------------------------------------------------------------------------- check_connect


@pytest.mark.parametrize(
    ("policy", "url", "message"),
    [
        (
            DENY_PLAINTEXT,
            "ws://user:secret@x.example/ws?token=abc",
            'connection to ws://x.example:80/ws denied by p0.toml (rule "no-plaintext")',
        ),
        (
            API_POLICY,
            "wss://api.example.com/admin",
            "connection to wss://api.example.com:443/admin denied by p0.toml"
            " (no rule matched, default deny)",
        ),
        (
            rules_policy(("off", "websocket.connect", None, "deny"), default="allow"),
            "wss://x/",
            'connection to wss://x:443/ denied by p0.toml (rule "off", action websocket.connect)',
        ),
    ],
)
def test_check_connect_denial_names_file_and_rule(policy: str, url: str, message: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        policy_set(policy).check_connect(url)
    assert str(caught.value) == message
    # The message never repeats userinfo or the query (tokens live there).
    assert "secret" not in str(caught.value) and "token" not in str(caught.value)
    assert caught.value.kind is Kind.PERMISSION_DENIED
    assert caught.value.exit_code == ExitCode.DENIED
    assert caught.value.retryable is False


def test_check_connect_runs_connect_check_first() -> None:
    # Both checks deny; the first one (websocket.connect) is the one reported.
    policy = rules_policy(
        ("off", "websocket.connect", None, "deny"), ("no-x", "websocket.connect.url", None, "deny")
    )
    with pytest.raises(PermissionDenied, match=r'rule "off", action websocket\.connect'):
        policy_set(policy).check_connect("wss://x/")


def test_check_connect_allows_silently() -> None:
    policy_set(API_POLICY).check_connect("wss://api.example.com/ws")  # returns, does not raise


def test_check_connect_rejects_invalid_url_as_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="looks like an IP address"):
        policy_set(ALLOW_ALL).check_connect("ws://127.1/")


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("WSS://API.EXAMPLE.COM/ws", "wss://api.example.com:443/ws"),  # case
        ("ws://example.com", "ws://example.com:80/"),  # default port, empty path
        ("ws://example.com:", "ws://example.com:80/"),  # empty port is the default
        ("wss://example.com:0443/x", "wss://example.com:443/x"),
        ("ws://example.com:8080/x", "ws://example.com:8080/x"),
        ("wss://example.com./ws", "wss://example.com:443/ws"),  # trailing dot
        ("wss://user:pw@example.com/ws", "wss://example.com:443/ws"),  # userinfo
        ("wss://a@b@example.com/ws", "wss://example.com:443/ws"),  # the last @ ends userinfo
        ("wss://example.com/ws?q=1#frag", "wss://example.com:443/ws"),  # query, fragment
        ("wss://example.com?q=/x", "wss://example.com:443/"),  # "?" ends the authority
        ("wss://example.com/a/./b/../c", "wss://example.com:443/a/c"),  # dot segments
        ("wss://example.com/../../x", "wss://example.com:443/x"),
        ("wss://example.com/a/b/..", "wss://example.com:443/a/"),
        ("wss://example.com/%2e%2E/admin", "wss://example.com:443/admin"),  # encoded dots
        ("wss://example.com/%7euser/%41", "wss://example.com:443/~user/A"),  # unreserved
        ("wss://example.com/a%2fb%3f", "wss://example.com:443/a%2Fb%3F"),  # reserved stay
        ("wss://example.com/a{b}", "wss://example.com:443/a%7Bb%7D"),
        ("wss://example.com/é", "wss://example.com:443/%C3%A9"),
        ("wss://example.com//x", "wss://example.com:443//x"),  # empty segments are kept
        ("wss://bücher.example/", "wss://xn--bcher-kva.example:443/"),  # IDNA
        ("wss://BÜCHER.example/", "wss://xn--bcher-kva.example:443/"),
        ("wss://ａｐｉ．example.com/", "wss://api.example.com:443/"),  # full-width forms
        ("ws://127.0.0.1:9000/", "ws://127.0.0.1:9000/"),
        ("ws://[::1]/", "ws://[::1]:80/"),
        ("ws://[0:0:0:0:0:0:0:1]:81/", "ws://[::1]:81/"),
        ("ws://[2001:DB8::A]/", "ws://[2001:db8::a]:80/"),
        ("ws://[::ffff:127.0.0.1]/", "ws://127.0.0.1:80/"),  # IPv4-mapped is that address
        ("ws://my_service:8080/", "ws://my_service:8080/"),  # docker-style names
        ("ws://0x7f.example.com/", "ws://0x7f.example.com:80/"),  # a name, not a number
    ],
)
def test_normalize_url(url: str, normalized: str) -> None:
    assert str(normalize_url(url)) == normalized


def test_normalized_url_parts() -> None:
    assert normalize_url("WSS://u:p@Example.COM./a/../b?x") == NormalizedURL(
        "wss", "example.com", 443, "/b"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ws://2130706433/", "looks like an IP address"),
        ("ws://0x7f.1/", "looks like an IP address"),
        ("ws://0x7f000001/", "looks like an IP address"),
        ("ws://127.1/", "looks like an IP address"),
        ("ws://0177.0.0.1/", "looks like an IP address"),
        ("ws://127.0.0.01/", "looks like an IP address"),
        ("ws://1.2.3.4.5/", "looks like an IP address"),
        ("ws://256.1.1.1/", "looks like an IP address"),
        ("ws://example.123/", "looks like an IP address"),
        ("http://example.com/", "scheme must be ws or wss"),
        ("*://example.com/", "scheme must be ws or wss"),
        ("example.com/ws", "expected ws://HOST/PATH"),
        ("ws:example.com", "expected ws://HOST/PATH"),
        ("ws:///path", "no host"),
        ("ws://user@/path", "no host"),
        ("ws://exa mple.com/", "not allowed in a URL"),
        ("ws://example.com/a\nb", "not allowed in a URL"),
        ("ws://evil.net\\@example.com/", "backslash"),
        ("ws://example.com/a\\..\\b", "backslash"),
        ("ws://%65vil.net/", "percent-encoding is not allowed in a host"),
        ("ws://ex!ample.com/", "invalid host name"),
        ("ws://a..b/", "invalid host name"),
        ("ws://" + "a" * 64 + ".com/", "invalid host name"),
        ("ws://example.com:0/", "out of range"),
        ("ws://example.com:65536/", "out of range"),
        ("ws://example.com:80a/", "invalid port"),
        ("ws://example.com:*/", "invalid port"),
        ("ws://::1/", "brackets"),
        ("ws://[::1/", "unclosed ["),
        ("ws://[::1]x/", "after the IPv6 address"),
        ("ws://[127.0.0.1]/", "invalid IPv6 address"),
        ("ws://[fe80::1%25eth0]/", "zone identifiers"),
        ("ws://example.com/%zz", "invalid percent-encoding"),
        ("ws://example.com/%4", "invalid percent-encoding"),
        ("ws://*.example.com/", "invalid host name"),
        ("ws://exa\ud800mple.com/", "lone surrogate"),
    ],
)
def test_invalid_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_url(url)
    assert str(caught.value).startswith("invalid URL: ")
    assert reason in str(caught.value)
    assert caught.value.exit_code == ExitCode.INVALID


def test_numeric_host_message_says_what_it_would_mean() -> None:
    with pytest.raises(InvalidInput, match=r"read it as 127\.0\.0\.1\)"):
        normalize_url("ws://2130706433/")


# --------------------------------------------------------------------------- URL patterns


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        # scheme
        ("ws://x/", "ws://x/", True),
        ("ws://x/", "wss://x:80/", False),
        ("*://x/", "ws://x/", True),
        ("*://x/", "wss://x/", True),
        ("*://x/", "wss://x:80/", False),  # omitted port: the URL's scheme's default
        ("WSS://X/", "wss://x/", True),
        # host
        ("wss://api.example.com/", "wss://api.example.com/", True),
        ("wss://api.example.com/", "wss://www.example.com/", False),
        ("wss://api.example.com/", "wss://api.example.com.evil.net/", False),
        ("wss://*.example.com/", "wss://a.example.com/", True),
        ("wss://*.example.com/", "wss://a.b.c.example.com/", True),
        ("wss://*.example.com/", "wss://example.com/", False),
        ("wss://*.example.com/", "wss://evilexample.com/", False),
        ("wss://*.example.com/", "wss://example.com.evil.net/", False),
        ("wss://*.EXAMPLE.com./", "wss://A.example.com/", True),
        ("wss://*/", "wss://anything.example/", True),
        ("wss://*/", "wss://10.0.0.1/", True),
        ("wss://*/", "wss://[::1]/", True),
        ("ws://127.0.0.1:*/**", "ws://127.0.0.1:9/x", True),
        ("ws://127.0.0.1:*/**", "ws://[::ffff:127.0.0.1]:9/x", True),
        ("ws://127.0.0.1:*/**", "ws://127.0.0.2:9/x", False),
        ("ws://[::1]/", "ws://[0::1]/", True),
        ("ws://[::1]/", "ws://127.0.0.1/", False),
        ("wss://bücher.example/", "wss://xn--bcher-kva.example/", True),
        # port
        ("wss://x/", "wss://x:443/", True),
        ("wss://x:443/", "wss://x/", True),
        ("wss://x/", "wss://x:8443/", False),
        ("wss://x:8443/", "wss://x:8443/", True),
        ("wss://x:*/", "wss://x:8443/", True),
        ("wss://x:*/", "wss://x/", True),
        # path
        ("wss://x/ws", "wss://x/ws", True),
        ("wss://x/ws", "wss://x/ws/", False),
        ("wss://x/ws", "wss://x/WS", False),
        ("wss://x/ws", "wss://x/ws/../ws", True),
        ("wss://x/ws", "wss://x/%77s", True),
        ("wss://x/ws/*", "wss://x/ws/a", True),
        ("wss://x/ws/*", "wss://x/ws/a/b", False),
        ("wss://x/ws/*", "wss://x/ws/", False),
        ("wss://x/ws/*", "wss://x/ws", False),
        ("wss://x/*/ws", "wss://x/a/ws", True),
        ("wss://x/ws/**", "wss://x/ws/", True),
        ("wss://x/ws/**", "wss://x/ws/a/b/c", True),
        ("wss://x/ws/**", "wss://x/ws", False),
        ("wss://x/ws/**", "wss://x/wsx/a", False),
        ("wss://x/ws/**", "wss://x/ws/../admin", False),
        ("wss://x/ws/**", "wss://x/ws/%2e%2e/admin", False),
        ("wss://x/**", "wss://x", True),
        ("wss://x/", "wss://x", True),
        ("wss://x", "wss://x/", True),
        # ** alone: any host, port and path
        ("ws://**", "ws://a.example:1234/x/y", True),
        ("ws://**", "wss://a.example/", False),
        ("*://**", "wss://[::1]:1/z", True),
        # query and fragment are ignored on both sides
        ("wss://x/ws?a=1", "wss://x/ws?b=2", True),
        ("wss://x/ws#f", "wss://x/ws", True),
        # userinfo is ignored on both sides
        ("wss://u@x/ws", "wss://x/ws", True),
    ],
)
def test_pattern_matching(pattern: str, url: str, matches: bool) -> None:
    assert parse_pattern(pattern).matches(normalize_url(url)) is matches


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "expected ws://HOST/PATH"),
        ("api.example.com/ws", "expected ws://HOST/PATH"),
        ("https://x/", "scheme must be ws, wss or *"),
        ("wss://api.*.com/", "a host wildcard is either * or a leading *."),
        ("wss://*api.example.com/", "a host wildcard is either * or a leading *."),
        ("wss://**.example.com/", "a host wildcard is either * or a leading *."),
        ("wss://**/x", "a host wildcard is either * or a leading *."),
        ("wss://*.10.0.0.1/", "must be followed by a domain name"),
        ("wss://*.127.0.0.1/", "must be followed by a domain name"),
        ("wss://*.[::1]/", "IPv6"),
        ("wss://*./", "no host"),
        ("wss://x/ws*", "a path wildcard is a whole segment"),
        ("wss://x/**/ws", "a path wildcard is a whole segment"),
        ("wss://x/a/***", "a path wildcard is a whole segment"),
        ("wss://x:8o/", "invalid port"),
        ("wss://2130706433/", "looks like an IP address"),
        ("wss://x/%g0", "invalid percent-encoding"),
    ],
)
def test_bad_patterns(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pattern(pattern)
    assert str(caught.value).startswith(f'bad URL pattern "{pattern}": ')
    assert reason in str(caught.value)


# --------------------------------------------------------------------------- malformed files


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = \n',
            4,
            "invalid TOML: Invalid value (column 11)",
            id="bad TOML",
        ),
        pytest.param(
            'version = 1\nname = "x"\nname = "y"\n',
            3,
            "invalid TOML: Cannot overwrite a value",
            id="duplicate key",
        ),
        pytest.param(
            'version = 1\n\nmode = "strict"\n',
            3,
            'unknown key "mode" (a policy has version, default and [[rule]])',
            id="unknown top-level key",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "allow"\n\n'
            '[[rule]]\nname = "b"\nactions = "*"\nresource = "ws://**"\neffect = "deny"\n',
            10,
            'unknown key "resource" in [[rule]] (expected name, actions, resources, effect)',
            id="unknown rule key (typo)",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\n[rule.extra]\nx = 1\n',
            4,
            'unknown key "extra" in [[rule]]',
            id="unknown sub-table",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "websocket.send"\neffect = "allow"\n',
            4,
            'unknown action "websocket.send" (expected websocket.connect,'
            " websocket.connect.url, websocket.connect.proxy, websocket.connect.address,"
            " websocket.* or *)",
            id="unknown action",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = [\n  "websocket.connect",\n'
            '  "websocket.connect.*",\n]\neffect = "allow"\n',
            6,
            'unknown action "websocket.connect.*"',
            id="unknown action on its own line in a list",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "permit"\n',
            5,
            'effect must be "allow" or "deny", not "permit"',
            id="bad effect",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = true\n',
            5,
            'effect must be "allow" or "deny", not true',
            id="effect not a string",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\n',
            2,
            'rule "a" has no effect ("allow" or "deny")',
            id="missing effect",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\neffect = "deny"\n',
            2,
            'rule "a" has no actions',
            id="missing actions",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = []\neffect = "allow"\n',
            4,
            "actions must not be an empty list",
            id="empty actions",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\nresources = []\neffect = "allow"\n',
            5,
            "resources must not be an empty list",
            id="empty resources",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\nresources = 443\neffect = "allow"\n',
            5,
            "resources must be a string or a list of strings",
            id="resources not a string",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\nresources = [\n'
            '  "wss://ok.example.com/",\n  "wss://api.*.com/",\n]\neffect = "allow"\n',
            7,
            'bad URL pattern "wss://api.*.com/": a host wildcard is either * or a leading *.',
            id="bad pattern on its own line",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\nresources = "ftp://x/"\n'
            'effect = "allow"\n',
            5,
            'bad URL pattern "ftp://x/": scheme must be ws, wss or *',
            id="bad pattern scheme",
        ),
        pytest.param(
            '# comment\n\ndefault = "deny"\n',
            1,
            'missing "version = 1"',
            id="missing version",
        ),
        pytest.param(
            'default = "deny"\nversion = 2\n',
            2,
            "unsupported version 2 (expected 1)",
            id="wrong version",
        ),
        pytest.param(
            'version = "1"\n',
            1,
            'unsupported version "1" (expected 1)',
            id="version as a string",
        ),
        pytest.param(
            'version = 1\ndefault = "maybe"\n',
            2,
            'default must be "allow" or "deny", not "maybe"',
            id="bad default",
        ),
        pytest.param(
            'version = 1\n[rule]\nname = "x"\n',
            2,
            "rule must be an array of tables, written [[rule]]",
            id="rule as a table",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = ""\nactions = "*"\neffect = "allow"\n',
            3,
            "name must be a non-empty string",
            id="empty name",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "allow"\n'
            '[[rule]]\nname = "a"\nactions = "*"\neffect = "deny"\n',
            6,
            'duplicate rule name "a" (also on line 2)',
            id="duplicate rule name",
        ),
        pytest.param(
            'version = 1\n[[rule]]\nname = """x\n[[rule]]\nmore = 1"""\nactions = "*"\n'
            'extra = 1\neffect = "allow"\n',
            7,
            'unknown key "extra" in [[rule]]',
            id="line found past a multi-line string that looks like TOML",
        ),
        pytest.param(
            'version = 1\nrule = [{ name = "a", actions = "*", effect = "nope" }]\n',
            2,
            'effect must be "allow" or "deny", not "nope"',
            id="inline table rule",
        ),
    ],
)
def test_malformed_policy(text: str, line: int, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(text, "/etc/wsctl/policy.toml")
    message = str(caught.value)
    assert message.startswith(f"/etc/wsctl/policy.toml:{line}: {reason}"), message
    assert caught.value.exit_code == ExitCode.INVALID


def test_valid_policy_parses_into_rules() -> None:
    policy = parse_policy(API_POLICY, "p.toml")
    assert policy.source == "p.toml"
    assert (policy.version, policy.default) == (1, "deny")
    assert [(r.name, r.actions, r.effect, r.line) for r in policy.rules] == [
        ("websockets-enabled", ("websocket.connect",), "allow", 4),
        ("our-apis", ("websocket.connect.url",), "allow", 9),
    ]
    assert policy.rules[0].resources is None
    resources = policy.rules[1].resources
    assert resources is not None
    assert [p.text for p in resources] == [
        "wss://api.example.com/ws",
        "wss://*.example.com/stream/**",
    ]


def test_star_among_resources_means_any_resource_but_others_are_still_checked() -> None:
    text = rules_policy(("r", "*", ["wss://x/", "*"], "deny"), default="allow")
    assert policy_set(text).check(ACTION_CONNECT, "").rule == "r"
    bad = rules_policy(("r", "*", ["*", "wss://x/**/y"], "deny"))
    with pytest.raises(InvalidInput, match="a path wildcard is a whole segment"):
        parse_policy(bad, "p")


def test_policy_with_no_rules_uses_its_default() -> None:
    assert not policy_set("version = 1\n").check(ACTION_CONNECT, "").allowed
    assert policy_set('version = 1\ndefault = "allow"\n').check(ACTION_CONNECT, "").allowed


# --------------------------------------------------------------------------- files


def test_load_policy_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(API_POLICY, encoding="utf-8")
    assert load_policy(path).source == str(path)
    assert len(load_policy(str(path)).rules) == 2


def test_load_policy_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"\xef\xbb\xbf" + API_POLICY.encode())
    assert len(load_policy(path).rules) == 2


def test_missing_policy_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(InvalidInput) as caught:
        load_policy(path)
    assert str(caught.value) == f"{path}: cannot read policy file: No such file or directory"


def test_unreadable_policy_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_policy(tmp_path)  # a directory: exists, cannot be read as a file
    assert str(caught.value) == f"{tmp_path}: cannot read policy file: Is a directory"


def test_policy_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b'version = 1\n[[rule]]\nname = "caf\xe9"\n')
    with pytest.raises(InvalidInput, match=rf"^{path}:3: policy file is not UTF-8 text$"):
        load_policy(path)


def test_huge_policy_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"# " + b"x" * (1024 * 1024) + b"\nversion = 1\n")
    with pytest.raises(InvalidInput, match="larger than 1 MiB"):
        load_policy(path)


# --------------------------------------------------------------------------- discovery


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Paths of a system policy, a user policy, an XDG config dir and a missing file."""
    system = tmp_path / "system.toml"
    system.write_text(DENY_PLAINTEXT, encoding="utf-8")
    user = tmp_path / "user.toml"
    user.write_text(API_POLICY, encoding="utf-8")
    xdg = tmp_path / "xdg"
    (xdg / "wsctl").mkdir(parents=True)
    (xdg / "wsctl" / "policy.toml").write_text(ALLOW_ALL, encoding="utf-8")
    return {
        "system": str(system),
        "user": str(user),
        "xdg": str(xdg),
        "xdg_policy": str(xdg / "wsctl" / "policy.toml"),
        "missing": str(tmp_path / "missing.toml"),
        "empty_dir": str(tmp_path),
    }


def sources(policies: PolicySet) -> list[tuple[str, str]]:
    return [(p.source, p.origin) for p in policies.policies]


def test_discover_nothing(files: dict[str, str]) -> None:
    environ = {"WSCTL_SYSTEM_POLICY": files["missing"], "XDG_CONFIG_HOME": files["empty_dir"]}
    assert discover(None, environ) == PolicySet()


def test_discover_layers_system_then_explicit(files: dict[str, str]) -> None:
    environ = {
        "WSCTL_SYSTEM_POLICY": files["system"],
        "WSCTL_POLICY": files["missing"],  # --policy takes precedence over it
        "XDG_CONFIG_HOME": files["xdg"],
    }
    assert sources(discover(files["user"], environ)) == [
        (files["system"], "system"),
        (files["user"], "--policy"),
    ]


def test_discover_environment_variable_before_xdg(files: dict[str, str]) -> None:
    environ = {
        "WSCTL_SYSTEM_POLICY": files["missing"],
        "WSCTL_POLICY": files["user"],
        "XDG_CONFIG_HOME": files["xdg"],
    }
    assert sources(discover(None, environ)) == [(files["user"], "$WSCTL_POLICY")]


def test_discover_xdg_config(files: dict[str, str]) -> None:
    environ = {"WSCTL_SYSTEM_POLICY": files["system"], "XDG_CONFIG_HOME": files["xdg"]}
    assert sources(discover(None, environ)) == [
        (files["system"], "system"),
        (files["xdg_policy"], "user"),
    ]


def test_discover_home_config_when_xdg_is_unset(files: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "wsctl").mkdir(parents=True)
    (home / ".config" / "wsctl" / "policy.toml").write_text(ALLOW_ALL, encoding="utf-8")
    environ = {"WSCTL_SYSTEM_POLICY": files["missing"], "HOME": str(home)}
    assert sources(discover(None, environ)) == [
        (str(home / ".config" / "wsctl" / "policy.toml"), "user")
    ]


def test_discover_same_file_twice_counts_once(files: dict[str, str]) -> None:
    environ = {"WSCTL_SYSTEM_POLICY": files["system"], "XDG_CONFIG_HOME": files["empty_dir"]}
    assert sources(discover(files["system"], environ)) == [(files["system"], "system")]


@pytest.mark.parametrize("variable", ["explicit", "WSCTL_POLICY"])
def test_discover_named_policy_must_exist(files: dict[str, str], variable: str) -> None:
    environ = {"WSCTL_SYSTEM_POLICY": files["missing"], "XDG_CONFIG_HOME": files["xdg"]}
    explicit = None
    if variable == "explicit":
        explicit = files["missing"]
    else:
        environ[variable] = files["missing"]
    with pytest.raises(InvalidInput, match="cannot read policy file: No such file"):
        discover(explicit, environ)


def test_discover_system_policy_that_cannot_be_read_fails_closed(files: dict[str, str]) -> None:
    # A directory where the policy should be: present but unreadable, so never "allow".
    environ = {"WSCTL_SYSTEM_POLICY": files["empty_dir"], "XDG_CONFIG_HOME": files["xdg"]}
    with pytest.raises(InvalidInput, match="cannot read policy file"):
        discover(None, environ)


def test_discover_malformed_user_policy_is_invalid_input(files: dict[str, str]) -> None:
    Path(files["xdg_policy"]).write_text("version = 1\nverison = 1\n", encoding="utf-8")
    environ = {"WSCTL_SYSTEM_POLICY": files["missing"], "XDG_CONFIG_HOME": files["xdg"]}
    with pytest.raises(InvalidInput, match=rf"^{files['xdg_policy']}:2: unknown key \"verison\""):
        discover(None, environ)


def test_discover_reads_os_environ_by_default(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSCTL_SYSTEM_POLICY", files["system"])
    monkeypatch.delenv("WSCTL_POLICY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", files["empty_dir"])
    assert sources(discover()) == [(files["system"], "system")]
    assert os.environ["WSCTL_SYSTEM_POLICY"] == files["system"]


# --------------------------------------------------------------------------- properties

URL_CHARS = st.characters(exclude_categories=["Cs"])

labels = st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,8}", fullmatch=True)
unicode_labels = st.sampled_from(["bücher", "例え", "пример", "ÉCOLE"])
names = st.lists(st.one_of(labels, unicode_labels), min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda address: f"[{address}]")
hosts = st.one_of(names, names.map(lambda name: name + "."), ipv4, ipv6)
segments = st.one_of(
    st.sampled_from([".", "..", "%2e%2e", "%2E", "", "~x", "%41", "%2F", "é", "a;b", "x=y"]),
    st.from_regex(r"[a-zA-Z0-9._-]{1,6}", fullmatch=True),
)
paths = st.lists(segments, max_size=5).map(lambda parts: "".join("/" + s for s in parts))
ports = st.one_of(st.just(""), st.just(":"), st.integers(1, 65535).map(lambda p: f":{p}"))
userinfo = st.sampled_from(["", "user@", "user:pw@", "api.example.com@"])
tails = st.sampled_from(["", "?token=1", "#frag", "?a=1#b"])
schemes = st.sampled_from(["ws", "wss", "WS", "Wss"])

valid_urls = st.builds(
    lambda scheme, user, host, port, path, tail: f"{scheme}://{user}{host}{port}{path}{tail}",
    schemes,
    userinfo,
    hosts,
    ports,
    paths,
    tails,
)
#: Anything at all, plus texts that get past the scheme so the deeper parsers are reached.
any_urls = st.one_of(
    st.text(URL_CHARS, max_size=40),
    st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(["ws://", "wss://", "*://", "WS://"]),
        st.text(URL_CHARS, max_size=40),
    ),
    valid_urls,
)
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly."""
    out = []
    for ch in text:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@PROPERTY_SETTINGS
@given(url=any_urls, pattern=any_urls, effect=st.sampled_from(["allow", "deny"]))
def test_evaluation_raises_only_invalid_input(url: str, pattern: str, effect: str) -> None:
    text = (
        f'version = 1\n[[rule]]\nname = "r"\nactions = "*"\nresources = {toml_string(pattern)}'
        f'\neffect = "{effect}"\n'
    )
    try:
        policies = PolicySet((parse_policy(text, "p.toml"),))
    except InvalidInput:
        return
    try:
        decision = policies.check(ACTION_CONNECT_URL, url)
    except InvalidInput:
        return
    assert decision.allowed is (effect == "allow" and decision.rule == "r")
    with contextlib.suppress(InvalidInput, PermissionDenied):
        policies.check_connect(url)


@PROPERTY_SETTINGS
@given(url=any_urls)
def test_normalize_raises_only_invalid_input_and_is_idempotent(url: str) -> None:
    try:
        normalized = normalize_url(url)
    except InvalidInput:
        return
    assert normalize_url(str(normalized)) == normalized
    assert normalized.path.startswith("/")
    assert "/../" not in normalized.path + "/" and "/./" not in normalized.path + "/"


@PROPERTY_SETTINGS
@given(url=valid_urls)
def test_structured_urls_are_valid(url: str) -> None:
    normalize_url(url)  # the strategy only makes valid URLs: none may be rejected


@st.composite
def pattern_matching(draw: st.DrawFn, url: NormalizedURL) -> str:
    """A pattern, as written in a policy file, that matches ``url``: the URL with some of its
    parts replaced by wildcards."""
    scheme = draw(st.sampled_from([url.scheme, "*"]))
    if draw(st.integers(0, 9)) == 0:
        return f"{scheme}://**"
    literal = f"[{url.host}]" if ":" in url.host else url.host
    host_choices = [literal, "*"]
    if "." in url.host and ":" not in url.host and not url.host.replace(".", "").isdigit():
        host_choices.append("*." + url.host.split(".", 1)[1])
    host = draw(st.sampled_from(host_choices))
    port_choices = [f":{url.port}", ":*"]
    if url.port == {"ws": 80, "wss": 443}[url.scheme]:
        port_choices.append("")
    port = draw(st.sampled_from(port_choices))
    parts = url.path[1:].split("/")
    # A literal "*" in the URL's path can only be matched by the "*" wildcard.
    parts = ["*" if "*" in part else part for part in parts]
    parts = ["*" if part and draw(st.booleans()) else part for part in parts]
    cut = draw(st.integers(0, len(parts)))
    if cut < len(parts):
        parts = [*parts[:cut], "**"]
    return f"{scheme}://{host}{port}/" + "/".join(parts)


@PROPERTY_SETTINGS
@given(data=st.data(), url=valid_urls, default=st.sampled_from(["allow", "deny"]))
def test_a_matching_deny_rule_always_wins(data: st.DataObject, url: str, default: str) -> None:
    normalized = normalize_url(url)
    deny = data.draw(pattern_matching(normalized), label="deny pattern")
    # Allow rules that match the URL too (and some that might not), all around the deny rule.
    allows = data.draw(
        st.lists(st.one_of(pattern_matching(normalized), valid_urls), max_size=4), label="allows"
    )
    rules = [
        f'[[rule]]\nname = "allow-{i}"\nactions = "*"\nresources = "{pattern}"\neffect = "allow"\n'
        for i, pattern in enumerate(allows)
    ]
    position = data.draw(st.integers(0, len(rules)), label="position")
    rules.insert(
        position,
        f'[[rule]]\nname = "the-deny"\nactions = "websocket.*"\nresources = "{deny}"\n'
        'effect = "deny"\n',
    )
    # Connections as such are on, so check_connect gets as far as the URL check.
    rules.insert(0, '[[rule]]\nname = "on"\nactions = "websocket.connect"\neffect = "allow"\n')
    text = f'version = 1\ndefault = "{default}"\n\n' + "\n".join(rules)
    ours = parse_policy(text, "ours.toml")
    permissive = parse_policy(ALLOW_ALL, "other.toml")
    layered = data.draw(
        st.sampled_from([(ours,), (permissive, ours), (ours, permissive)]), label="layers"
    )
    decision = PolicySet(layered).check(ACTION_CONNECT_URL, url)
    assert not decision.allowed
    assert (decision.source, decision.rule) == ("ours.toml", "the-deny")
    with pytest.raises(PermissionDenied, match=r'ours\.toml \(rule "the-deny"\)'):
        PolicySet(layered).check_connect(url)


@PROPERTY_SETTINGS
@given(url=valid_urls)
def test_normalized_url_as_pattern_matches_itself(url: str) -> None:
    normalized = normalize_url(url)
    assert parse_pattern(str(normalized)).matches(normalized)


def test_policy_objects_are_immutable() -> None:
    policy = parse_policy(API_POLICY, "p.toml")
    with pytest.raises(AttributeError):
        policy.default = "allow"  # type: ignore[misc]
    policies = PolicySet([policy])  # type: ignore[arg-type]
    assert isinstance(policies.policies, tuple)
    with pytest.raises(AttributeError):
        policies.policies = ()  # type: ignore[misc]
    assert isinstance(policies.policies[0], Policy)
