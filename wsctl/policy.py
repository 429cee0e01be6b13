"""The security policy: which WebSocket connections wsctl may open (spec: ``spec/policy.md``).

A policy is a TOML file of allow/deny rules over four actions: ``websocket.connect``
(resource: none), ``websocket.connect.url`` (the URL), ``websocket.connect.proxy`` (the proxy
URL) and ``websocket.connect.address`` (the IP address the connection is opened to, matched by
:mod:`wsctl.addresses`; checked only by policies that have address rules, at connect time by
:mod:`wsctl.dialing`).  In one policy an applicable deny wins, then an applicable allow, then
the file's ``default``.  Policies are layered (the machine's, then the user's) and a connection
needs every one of them to allow it.

URL patterns are compared part by part after both sides are normalised, never as string
prefixes: ``wss://api.example.com/**`` does not admit ``wss://api.example.com.evil.net/``, and
``WSS://API.EXAMPLE.COM/ws`` is the same URL as ``wss://api.example.com:443/ws``.  Hosts that
resolvers would read as IP addresses in odd notations (``2130706433``, ``0x7f.1``, ``127.1``)
are rejected rather than guessed at.

This module is pure: no network, no asyncio, no click, no printing.  Its only I/O is reading
policy files (and checking whether they exist).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from wsctl.errors import InvalidInput, PermissionDenied
from wsctl.normalize import (
    ALL_PORTS,
    DEFAULT_PORTS,
    PROXY_PORTS,
    BadURL,
    NormalizedURL,
    normalize_proxy,
    normalize_url,
    parse_host,
    parse_path,
    parse_port,
    split_authority,
    split_url,
)
from wsctl.policy_files import SYSTEM_POLICY_PATH as SYSTEM_POLICY_PATH
from wsctl.policy_files import present as _present
from wsctl.policy_files import system_policy
from wsctl.policy_files import user_policy as _user_policy

if TYPE_CHECKING:
    import tomllib

    from wsctl.addresses import Address, AddressResource

__all__ = [
    "ACTIONS",
    "ACTION_CONNECT",
    "ACTION_CONNECT_ADDRESS",
    "ACTION_CONNECT_PROXY",
    "ACTION_CONNECT_URL",
    "SYSTEM_POLICY_PATH",
    "AddressDenied",
    "Decision",
    "NormalizedURL",
    "Policy",
    "PolicySet",
    "Rule",
    "UrlPattern",
    "discover",
    "load_policy",
    "normalize_proxy",
    "normalize_url",
    "parse_pattern",
    "parse_policy",
]

ACTION_CONNECT: Final = "websocket.connect"
ACTION_CONNECT_URL: Final = "websocket.connect.url"
#: The proxy a connection goes through; resource: the proxy URL (``http://proxy:3128``).
ACTION_CONNECT_PROXY: Final = "websocket.connect.proxy"
#: The IP address a connection (or its proxy) is opened to; resource: the address.
ACTION_CONNECT_ADDRESS: Final = "websocket.connect.address"
#: The actions a check can ask about, in the order a connection asks them.
ACTIONS: Final = (ACTION_CONNECT, ACTION_CONNECT_URL, ACTION_CONNECT_PROXY, ACTION_CONNECT_ADDRESS)
#: What each action pattern allowed in a rule's ``actions`` stands for.
ACTION_PATTERNS: Final[Mapping[str, frozenset[str]]] = {
    ACTION_CONNECT: frozenset({ACTION_CONNECT}),
    ACTION_CONNECT_URL: frozenset({ACTION_CONNECT_URL}),
    ACTION_CONNECT_PROXY: frozenset({ACTION_CONNECT_PROXY}),
    ACTION_CONNECT_ADDRESS: frozenset({ACTION_CONNECT_ADDRESS}),
    "websocket.*": frozenset(ACTIONS),
    "*": frozenset(ACTIONS),
}
#: ``proxy_resolution``: what to do with a proxy that resolves the target's name itself.
ProxyResolution = Literal["deny", "trust"]
#: A policy is a short hand-written file; anything bigger is a mistake (``--policy /dev/zero``).
MAX_POLICY_BYTES: Final = 1024 * 1024

Effect = Literal["allow", "deny"]
_EFFECTS: Final = ("allow", "deny")
_TOP_KEYS: Final = ("version", "default", "proxy_resolution", "rule")
_RULE_KEYS: Final = ("name", "actions", "resources", "effect")


# --------------------------------------------------------------------------- URL patterns


@dataclass(frozen=True)
class UrlPattern:
    """A URL whose parts may hold wildcards (see the table in ``spec/policy.md``).

    ``None`` in ``scheme``, ``host`` or ``path`` means "any"; ``host_suffix`` makes ``host``
    match its proper subdomains only (``*.example.com``); ``port`` ``None`` means the matched
    URL's default port and ``any_port`` ``:*``.  ``path`` holds the segments after the first
    ``/``, where ``*`` is one non-empty segment and a final ``**`` any remainder.
    """

    text: str
    scheme: str | None
    host: str | None
    host_suffix: bool
    port: int | None
    any_port: bool
    path: tuple[str, ...] | None
    #: The action whose resources it matches: a target URL or (proxy schemes) a proxy URL.
    action: str = ACTION_CONNECT_URL

    def matches(self, url: NormalizedURL) -> bool:
        """Whether a normalised URL matches this pattern, part by part."""
        if self.scheme is not None and self.scheme != url.scheme:
            return False
        if self.host is not None:
            if self.host_suffix:
                # A dot before the suffix: "evilexample.com" is not a subdomain of example.com,
                # and the bare domain is not one of its own subdomains.
                if not url.host.endswith("." + self.host):
                    return False
            elif url.host != self.host:
                return False
        if not self.any_port:
            wanted = ALL_PORTS[url.scheme] if self.port is None else self.port
            if url.port != wanted:
                return False
        return self.path is None or _path_matches(self.path, url.path[1:].split("/"))


def _path_matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    if pattern and pattern[-1] == "**":
        prefix = pattern[:-1]
        # "/ws/**" needs at least one segment after "ws" ("/ws/" has an empty one): it covers
        # "/ws/" and everything below, not "/ws" itself.
        if len(segments) <= len(prefix):
            return False
    elif len(segments) != len(pattern):
        return False
    else:
        prefix = pattern
    return all(
        segment != "" if want == "*" else segment == want
        for want, segment in zip(prefix, segments, strict=False)
    )


def _pattern(text: str) -> UrlPattern:
    scheme, authority, path = split_url(text)
    if scheme != "*" and scheme not in DEFAULT_PORTS:
        raise BadURL(
            f"scheme must be ws, wss or *, not {scheme!r} (proxy patterns use"
            f" {', '.join(PROXY_PORTS)})"
        )
    scheme_or_any = None if scheme == "*" else scheme
    if authority == "**" and not path:
        # "ws://**": any host, port and path.
        return UrlPattern(text, scheme_or_any, None, False, None, True, None)
    host_text, port_text = split_authority(authority)
    host, suffix = _host_pattern(host_text)
    any_port = port_text == "*"
    port = None if any_port else parse_port(port_text)
    segments = tuple(parse_path(path)[1:].split("/"))
    for index, segment in enumerate(segments):
        if "*" in segment and not (
            segment == "*" or (segment == "**" and index == len(segments) - 1)
        ):
            raise BadURL(
                "a path wildcard is a whole segment: * for one segment, ** only at the end"
            )
    return UrlPattern(text, scheme_or_any, host, suffix, port, any_port, segments)


def _host_pattern(host_text: str) -> tuple[str | None, bool]:
    """(host or None for any, whether it is a ``*.`` suffix)."""
    if host_text == "*":
        return None, False
    if host_text.startswith("*."):
        host, is_ip = parse_host(host_text[2:])
        if is_ip:
            raise BadURL("*. must be followed by a domain name, not an IP address")
        return host, True
    if "*" in host_text:
        raise BadURL("a host wildcard is either * or a leading *. (like *.example.com)")
    return parse_host(host_text)[0], False


def _proxy_pattern(text: str) -> UrlPattern:
    """``http://proxy.corp:3128``, ``socks5h://*.corp.example:*``, ``https://**``."""
    scheme, authority, path = split_url(text)
    if scheme not in PROXY_PORTS:
        raise BadURL(f"proxy scheme must be one of {', '.join(PROXY_PORTS)}, not {scheme!r}")
    if path not in ("", "/"):
        raise BadURL("a proxy pattern has no path (SCHEME://HOST[:PORT])")
    if authority == "**":
        return UrlPattern(text, scheme, None, False, None, True, None, ACTION_CONNECT_PROXY)
    host_text, port_text = split_authority(authority)
    host, suffix = _host_pattern(host_text)
    any_port = port_text == "*"
    port = None if any_port else parse_port(port_text)
    return UrlPattern(text, scheme, host, suffix, port, any_port, None, ACTION_CONNECT_PROXY)


def parse_pattern(text: str) -> UrlPattern:
    """Parse a URL pattern such as ``wss://*.example.com/stream/**`` or ``ws://**``.

    Raises :class:`~wsctl.errors.InvalidInput` for a malformed pattern.
    """
    try:
        return _pattern(text)
    except BadURL as exc:
        raise InvalidInput(f"bad URL pattern {_quote(text)}: {exc.reason}") from None


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class Decision:
    """The answer to one check: allowed or not, and the policy file and rule that decided.

    ``rule`` is ``None`` when no rule matched and the policy's default decided (or when no
    policy is in force, in which case ``source`` is ``None`` too).
    """

    allowed: bool
    source: str | None
    rule: str | None
    explanation: str


#: What a check is about: a URL (target or proxy), an IP address, or nothing.
Resource: TypeAlias = "NormalizedURL | Address | None"


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]`` table. ``resources`` is ``None`` for "any resource".

    A resource is a URL pattern (``websocket.connect.url``), a proxy pattern (its ``action``
    is ``websocket.connect.proxy``) or an address resource (``websocket.connect.address``).
    """

    name: str
    actions: tuple[str, ...]
    resources: tuple[UrlPattern | AddressResource, ...] | None
    effect: Effect
    line: int

    def applies(self, action: str, resource: Resource) -> bool:
        """Whether this rule covers ``action`` on ``resource`` (``None``: the empty one)."""
        if not any(action in ACTION_PATTERNS[pattern] for pattern in self.actions):
            return False
        if self.resources is None:
            return True
        if resource is None:
            return False
        if isinstance(resource, NormalizedURL):
            return any(
                isinstance(pattern, UrlPattern)
                and pattern.action == action
                and pattern.matches(resource)
                for pattern in self.resources
            )
        return action == ACTION_CONNECT_ADDRESS and any(
            not isinstance(pattern, UrlPattern) and pattern.matches(resource)
            for pattern in self.resources
        )

    @property
    def is_address_rule(self) -> bool:
        """Names ``websocket.connect.address`` or holds an address resource."""
        return ACTION_CONNECT_ADDRESS in self.actions or any(
            not isinstance(resource, UrlPattern) for resource in self.resources or ()
        )


def _because(rule: Rule | None, default: Effect) -> str:
    return f'rule "{rule.name}"' if rule is not None else f"no rule matched, default {default}"


@dataclass(frozen=True)
class Policy:
    """One loaded policy file. ``origin`` says where it came from (``system``, ``--policy``…)."""

    source: str
    rules: tuple[Rule, ...]
    default: Effect = "deny"
    version: int = 1
    origin: str = ""
    #: "deny": with address rules, refuse a target whose name a proxy would resolve (HTTP
    #: CONNECT, socks5h, socks4a), since its address cannot be checked here; "trust": allow.
    proxy_resolution: ProxyResolution = "deny"

    @property
    def checks_addresses(self) -> bool:
        """Whether this policy has address rules (only then are addresses resolved)."""
        return any(rule.is_address_rule for rule in self.rules)

    def evaluate(self, action: str, resource: Resource) -> Decision:
        """Deny overrides: an applicable deny, else an applicable allow, else ``default``."""
        applicable = [rule for rule in self.rules if rule.applies(action, resource)]
        deciding = next((rule for rule in applicable if rule.effect == "deny"), None)
        if deciding is None:
            deciding = next((rule for rule in applicable if rule.effect == "allow"), None)
        effect = self.default if deciding is None else deciding.effect
        allowed = effect == "allow"
        verb = "allowed" if allowed else "denied"
        return Decision(
            allowed=allowed,
            source=self.source,
            rule=None if deciding is None else deciding.name,
            explanation=f"{verb} by {self.source} ({_because(deciding, self.default)})",
        )


@dataclass(frozen=True)
class PolicySet:
    """The policies in force, machine's first; every one of them must allow a connection.

    An empty set allows everything (no policy configured).
    """

    policies: tuple[Policy, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", tuple(self.policies))

    @property
    def sources(self) -> tuple[str, ...]:
        """The policy files in force, in evaluation order."""
        return tuple(policy.source for policy in self.policies)

    @property
    def checks_addresses(self) -> bool:
        """Whether any policy in force has address rules: then connections resolve and check
        the addresses they open, and only then (no cost otherwise)."""
        return any(policy.checks_addresses for policy in self.policies)

    def distrusted_proxy_resolution(self) -> Policy | None:
        """The first policy with address rules that does not trust a proxy to resolve names."""
        for policy in self.policies:
            if policy.checks_addresses and policy.proxy_resolution != "trust":
                return policy
        return None

    def check(self, action: str, resource: str) -> Decision:
        """Evaluate one check in every policy; the first denial (in order) is the answer.

        ``resource`` is ``""`` for ``websocket.connect``, the URL for ``websocket.connect.url``,
        the proxy URL for ``websocket.connect.proxy`` and an IP address for
        ``websocket.connect.address`` (evaluated only by policies that have address rules).
        Raises :class:`~wsctl.errors.InvalidInput` for an unknown action or (when a policy is
        in force) an invalid resource.
        """
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        if not self.policies:
            return Decision(True, None, None, "allowed: no policy in force")
        policies = self.policies
        if action == ACTION_CONNECT_ADDRESS:
            # A policy without address rules has no opinion on addresses: its default (often
            # "deny", written before address rules existed) must not turn into "deny all".
            policies = tuple(policy for policy in policies if policy.checks_addresses)
            if not policies:
                return Decision(True, None, None, "allowed: no address rules in force")
        value = _resource(action, resource)
        decisions = [policy.evaluate(action, value) for policy in policies]
        for decision in decisions:
            if not decision.allowed:
                return decision
        last = decisions[-1]
        return Decision(True, last.source, last.rule, "; ".join(d.explanation for d in decisions))

    def check_connect(self, url: str) -> None:
        """Run a connection's two checks in order; raise PermissionDenied on the first denial.

        Call it before any network I/O, and again for every redirect target before following
        it.  Raises :class:`~wsctl.errors.InvalidInput` for an invalid URL (when a policy is in
        force) and :class:`~wsctl.errors.PermissionDenied` naming the policy file and the rule.
        """
        if not self.policies:
            return
        target = normalize_url(url)
        for action, resource in ((ACTION_CONNECT, ""), (ACTION_CONNECT_URL, url)):
            decision = self.check(action, resource)
            if decision.allowed:
                continue
            because = (
                f'rule "{decision.rule}"'
                if decision.rule is not None
                else "no rule matched, default deny"
            )
            if action == ACTION_CONNECT:
                because += ", action websocket.connect"
            raise PermissionDenied(
                f"connection to {target} denied by {decision.source} ({because})"
            )

    def check_proxy(self, proxy: str, url: str) -> None:
        """Check the proxy a connection to ``url`` goes through (``websocket.connect.proxy``).

        Raises :class:`~wsctl.errors.PermissionDenied` naming the proxy (without its
        credentials), the policy file and the rule.
        """
        if not self.policies:
            return
        decision = self.check(ACTION_CONNECT_PROXY, proxy)
        if not decision.allowed:
            raise PermissionDenied(
                f"proxy {normalize_proxy(proxy)} (for {normalize_url(url)}) denied by "
                f"{decision.source} ({_because_denied(decision, ACTION_CONNECT_PROXY)})"
            )

    def check_address(self, address: str, host: str, url: str, proxy: str | None = None) -> None:
        """Check one address ``host`` resolved to, for a connection to ``url`` (or, with
        ``proxy``, for the connection to that proxy on the way to ``url``).

        Raises :class:`AddressDenied` (a :class:`~wsctl.errors.PermissionDenied`).
        """
        decision = self.check(ACTION_CONNECT_ADDRESS, address)
        if decision.allowed:
            return
        # Built only for a denial: normalising URLs for a message costs more than the check.
        subject = f"connection to {normalize_url(url)}"
        if proxy is not None:
            subject = f"proxy {normalize_proxy(proxy)} (for {normalize_url(url)})"
        shown = _resource(ACTION_CONNECT_ADDRESS, address)
        where = f"address {shown}" if str(shown) == host else f"{host} resolves to {shown}"
        raise AddressDenied(
            f"{subject} denied by {decision.source} "
            f"({_because_denied(decision, ACTION_CONNECT_ADDRESS)}): {where}",
            address=str(shown),
            rule=decision.rule,
            source=decision.source,
        )


class AddressDenied(PermissionDenied):
    """A connection denied by an address rule: ``address`` (as checked), ``rule`` (``None``
    when the default decided) and ``source`` (the policy file)."""

    def __init__(self, message: str, *, address: str, rule: str | None, source: str | None):
        super().__init__(message, retryable=False)
        self.address = address
        self.rule = rule
        self.source = source


def _because_denied(decision: Decision, action: str) -> str:
    if decision.rule is not None:
        return f'rule "{decision.rule}"'
    return f"no rule matched, default deny, action {action}"


def _resource(action: str, text: str) -> Resource:
    """The resource of a check, normalised as its rules compare it."""
    if action == ACTION_CONNECT_ADDRESS:
        from wsctl.addresses import parse_address

        try:
            return parse_address(text)
        except ValueError as exc:
            raise InvalidInput(f"invalid address: {exc}") from None
    if action == ACTION_CONNECT_PROXY:
        return normalize_proxy(text)
    return normalize_url(text) if text else None


# --------------------------------------------------------------------------- parsing


class _Locator:
    """Finds the line of a key, table or array element in TOML text that tomllib accepted.

    tomllib reports lines only for syntax errors; for "unknown key" or "bad pattern" the user
    still wants ``file:line``.  This scanner knows just enough TOML (strings, comments, nested
    brackets, ``[table]`` and ``[[array]]`` headers, dotted keys) to map a path such as
    ``("rule", 1, "resources")`` to the line of its key, and element *i* of an array of
    strings to the line where that string starts.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[tuple[object, ...], tuple[int, list[int]]] = {}
        self._arrays: dict[tuple[str, ...], int] = {}
        self._scan()

    def line(self, path: tuple[object, ...], index: int | None = None) -> int:
        """The line of ``path`` (or of its nearest recorded parent); 1 when unknown."""
        probe = path
        while probe:
            found = self._lines.get(probe)
            if found is not None:
                key_line, strings = found
                if probe == path and index is not None and index < len(strings):
                    return strings[index]
                return key_line
            probe = probe[:-1]
        return 1

    def _record(self, path: tuple[object, ...], line: int, strings: list[int]) -> None:
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], (line, strings if end == len(path) else []))

    def _table_path(self, names: tuple[str, ...]) -> tuple[object, ...]:
        # [rule.x] after the third [[rule]] is ("rule", 2, "x").
        path: list[object] = []
        for end in range(1, len(names) + 1):
            path.append(names[end - 1])
            if names[:end] in self._arrays:
                path.append(self._arrays[names[:end]])
        return tuple(path)

    def _scan(self) -> None:
        text, i, line = self._text, 0, 1
        table: tuple[object, ...] = ()
        while i < len(text):
            ch = text[i]
            if ch in " \t\r":
                i += 1
            elif ch == "\n":
                line += 1
                i += 1
            elif ch == "#":
                i = self._end_of_line(i)
            elif ch == "[":
                array = text.startswith("[[", i)
                names, i = self._key(i + (2 if array else 1), "]")
                if array:
                    self._arrays[names] = self._arrays.get(names, -1) + 1
                table = self._table_path(names)
                self._record(table, line, [])
                i = self._end_of_line(i)
            else:
                names, i = self._key(i, "=")
                strings: list[int] = []
                key_line = line
                i, line = self._value(i + 1, line, strings)
                self._record(table + names, key_line, strings)

    def _end_of_line(self, i: int) -> int:
        end = self._text.find("\n", i)
        return len(self._text) if end < 0 else end

    def _key(self, i: int, stop: str) -> tuple[tuple[str, ...], int]:
        text = self._text
        parts: list[str] = []
        current = ""
        while i < len(text) and text[i] not in (stop, "\n"):
            ch = text[i]
            if ch in "\"'":
                close = self._string_end(i, ch)
                current += text[i + 1 : close - 1]
                i = close
                continue
            if ch == ".":
                parts.append(current)
                current = ""
            elif ch not in " \t":
                current += ch
            i += 1
        parts.append(current)
        return tuple(parts), i

    def _string_end(self, i: int, quote: str) -> int:
        """Index just past the single-line string starting at ``i``."""
        text = self._text
        j = i + 1
        while j < len(text) and text[j] != quote and text[j] != "\n":
            j += 2 if quote == '"' and text[j] == "\\" else 1
        return j + 1

    def _value(self, i: int, line: int, strings: list[int]) -> tuple[int, int]:
        """Skip one value (possibly spanning lines); record the line of each string in it."""
        text = self._text
        depth = 0
        while i < len(text):
            ch = text[i]
            if ch == "\n":
                line += 1
                i += 1
                if depth == 0:
                    break
            elif ch == "#":
                i = self._end_of_line(i)
            elif ch in "[{":
                depth += 1
                i += 1
            elif ch in "]}":
                depth -= 1
                i += 1
            elif ch in "\"'":
                strings.append(line)
                if text.startswith(ch * 3, i):
                    end = self._multiline_end(i, ch)
                    line += text.count("\n", i, end)
                    i = end
                else:
                    i = self._string_end(i, ch)
            else:
                i += 1
        return i, line

    def _multiline_end(self, i: int, quote: str) -> int:
        text = self._text
        j = i + 3
        while j < len(text):
            if quote == '"' and text[j] == "\\":
                j += 2
            elif text.startswith(quote * 3, j):
                j += 3
                # Up to two more quotes may end the content: '''it's''''
                extra = 0
                while extra < 2 and j < len(text) and text[j] == quote:
                    j += 1
                    extra += 1
                return j
            else:
                j += 1
        return j


_TOML_WHERE_RE: Final = re.compile(r" \(at line (\d+), column (\d+)\)$")


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, str]:
    message = str(exc)
    where = _TOML_WHERE_RE.search(message)
    if where is not None:
        return int(where.group(1)), f"{message[: where.start()]} (column {where.group(2)})"
    end = " (at end of document)"
    if message.endswith(end):
        return max(1, len(text.splitlines())), message[: -len(end)] + " at the end of the file"
    return 1, message


def _quote(value: object) -> str:
    """A value as the policy file spells it: strings in double quotes."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class _Parser:
    """Validates the dict tomllib made, reporting errors as ``file:line: reason``."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._locator: _Locator | None = None

    def fail(self, path: tuple[object, ...], reason: str, index: int | None = None) -> InvalidInput:
        if self._locator is None:
            self._locator = _Locator(self.text)
        return InvalidInput(f"{self.source}:{self._locator.line(path, index)}: {reason}")

    def line(self, path: tuple[object, ...]) -> int:
        if self._locator is None:
            self._locator = _Locator(self.text)
        return self._locator.line(path)

    def parse(self, data: dict[str, object]) -> Policy:
        for key in data:
            if key not in _TOP_KEYS:
                raise self.fail(
                    (key,), f'unknown key "{key}" (a policy has version, default and [[rule]])'
                )
        if "version" not in data:
            raise self.fail((), 'missing "version = 1"')
        version = data["version"]
        if type(version) is not int or version != 1:
            raise self.fail(("version",), f"unsupported version {_quote(version)} (expected 1)")
        raw_default = data.get("default", "deny")
        if raw_default not in _EFFECTS:
            raise self.fail(
                ("default",), f'default must be "allow" or "deny", not {_quote(raw_default)}'
            )
        default: Effect = "allow" if raw_default == "allow" else "deny"
        raw_resolution = data.get("proxy_resolution", "deny")
        if raw_resolution not in ("deny", "trust"):
            raise self.fail(
                ("proxy_resolution",),
                f'proxy_resolution must be "deny" or "trust", not {_quote(raw_resolution)}',
            )
        resolution: ProxyResolution = "trust" if raw_resolution == "trust" else "deny"
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list):
            raise self.fail(("rule",), "rule must be an array of tables, written [[rule]]")
        rules: list[Rule] = []
        for index, raw in enumerate(raw_rules):
            if not isinstance(raw, dict):
                raise self.fail(("rule",), "rule must be an array of tables, written [[rule]]")
            rules.append(self.rule(index, raw))
        return Policy(self.source, tuple(rules), default, version, proxy_resolution=resolution)

    def rule(self, index: int, raw: dict[str, object]) -> Rule:
        path: tuple[object, ...] = ("rule", index)
        for key in raw:
            if key not in _RULE_KEYS:
                raise self.fail(
                    (*path, key),
                    f'unknown key "{key}" in [[rule]] (expected name, actions, resources, effect)',
                )
        name = raw.get("name", f"#{index + 1}")
        if not isinstance(name, str) or not name:
            raise self.fail((*path, "name"), "name must be a non-empty string")
        if "actions" not in raw:
            raise self.fail(path, f'rule "{name}" has no actions')
        actions = self.strings((*path, "actions"), raw["actions"])
        for position, action in enumerate(actions):
            if action not in ACTION_PATTERNS:
                raise self.fail(
                    (*path, "actions"),
                    f'unknown action "{action}" (expected websocket.connect,'
                    " websocket.connect.url, websocket.connect.proxy,"
                    " websocket.connect.address, websocket.* or *)",
                    position,
                )
        resources: tuple[UrlPattern | AddressResource, ...] | None = None
        if "resources" in raw:
            texts = self.strings((*path, "resources"), raw["resources"])
            covered = frozenset().union(*(ACTION_PATTERNS[action] for action in actions))
            patterns: list[UrlPattern | AddressResource] = []
            for position, text in enumerate(texts):
                if text == "*":
                    continue
                resource = self.resource((*path, "resources"), text, position)
                kind = (
                    resource.action if isinstance(resource, UrlPattern) else ACTION_CONNECT_ADDRESS
                )
                if kind != ACTION_CONNECT_URL and kind not in covered:
                    # A resource no action of the rule can match is a mistake, not a no-op.
                    # (URL patterns on websocket.connect alone were always accepted: kept so.)
                    raise self.fail(
                        (*path, "resources"),
                        f"resource {_quote(text)} is for {kind}, which the rule's actions"
                        " do not include",
                        position,
                    )
                patterns.append(resource)
            # "*" anywhere in the list means any resource, the empty one included.
            resources = None if "*" in texts else tuple(patterns)
        if "effect" not in raw:
            raise self.fail(path, f'rule "{name}" has no effect ("allow" or "deny")')
        raw_effect = raw["effect"]
        if raw_effect not in _EFFECTS:
            raise self.fail(
                (*path, "effect"), f'effect must be "allow" or "deny", not {_quote(raw_effect)}'
            )
        effect: Effect = "allow" if raw_effect == "allow" else "deny"
        return Rule(name, actions, resources, effect, self.line(path))

    def resource(
        self, path: tuple[object, ...], text: str, position: int
    ) -> UrlPattern | AddressResource:
        """A URL pattern, a proxy pattern (proxy scheme) or an address resource."""
        if "://" in text:
            scheme = text.split("://", 1)[0].lower()
            try:
                return _proxy_pattern(text) if scheme in PROXY_PORTS else _pattern(text)
            except BadURL as exc:
                kind = "proxy pattern" if scheme in PROXY_PORTS else "URL pattern"
                raise self.fail(
                    path, f"bad {kind} {_quote(text)}: {exc.reason}", position
                ) from None
        from wsctl.addresses import class_names, parse_address_resource

        try:
            return parse_address_resource(text)
        except ValueError as exc:
            # A "/" means a CIDR block was meant: say what is wrong with it.  Otherwise list
            # what a resource can be.
            reason = (
                str(exc)
                if "/" in text
                else (
                    "expected a URL pattern (wss://HOST/PATH), a proxy pattern"
                    " (http://HOST:PORT), an IP address, a CIDR block or an address class"
                    f" ({class_names()})"
                )
            )
            raise self.fail(path, f"bad resource {_quote(text)}: {reason}", position) from None

    def strings(self, path: tuple[object, ...], value: object) -> tuple[str, ...]:
        key = path[-1]
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            raise self.fail(path, f"{key} must be a string or a list of strings")
        if not value:
            raise self.fail(path, f"{key} must not be an empty list")
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(path, f"{key} must be a string or a list of strings", position)
        return tuple(value)


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate the text of a policy file; ``source`` names it in messages.

    Raises :class:`~wsctl.errors.InvalidInput` as ``source:line: reason`` for bad TOML, a
    missing or wrong ``version``, unknown keys or actions, bad effects or defaults, empty
    lists and malformed URL patterns.
    """
    import tomllib  # lazily: only paid for when a policy file exists

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, reason = _syntax_error(exc, text)
        raise InvalidInput(f"{source}:{line}: invalid TOML: {reason}") from None
    parser = _Parser(text, source)
    policy = parser.parse(data)
    seen: dict[str, int] = {}
    for rule in policy.rules:
        if rule.name in seen:
            # Messages name the rule that decided; two rules of one name would make that a lie.
            raise InvalidInput(
                f'{source}:{rule.line}: duplicate rule name "{rule.name}"'
                f" (also on line {seen[rule.name]})"
            )
        seen[rule.name] = rule.line
    return policy


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and parse a policy file.

    A file that cannot be read, is not UTF-8 or is larger than 1 MiB raises
    :class:`~wsctl.errors.InvalidInput`: a policy that cannot be read never means "allow".
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            data = file.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read policy file: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise InvalidInput(f"{source}: cannot read policy file: {exc}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise InvalidInput(f"{source}: policy file is larger than 1 MiB")
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"{source}:{line}: policy file is not UTF-8 text") from None
    return parse_policy(text, source)


def discover(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> PolicySet:
    """Load the policies in force: the machine's, then the user's.

    System: ``$WSCTL_SYSTEM_POLICY`` if set, else ``/etc/wsctl/policy.toml``, when present.
    User: ``explicit`` (``--policy FILE``, must exist), else ``$WSCTL_POLICY`` (must exist),
    else ``$XDG_CONFIG_HOME/wsctl/policy.toml`` (default ``~/.config/...``) when present.
    Raises :class:`~wsctl.errors.InvalidInput` (exit 2) for any file that cannot be read or
    parsed.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    found: list[Policy] = []
    system = system_policy(env)
    if _present(system):
        found.append(replace(load_policy(system), origin="system"))
    user, origin, required = _user_policy(explicit, env)
    # The same file named twice (WSCTL_POLICY=/etc/wsctl/policy.toml) counts once.
    if (required or _present(user)) and not (found and _same_file(found[0].source, user)):
        found.append(replace(load_policy(user), origin=origin))
    return PolicySet(tuple(found))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False
