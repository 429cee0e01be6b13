"""``wsctl policy check URL`` and ``wsctl policy show``: what the security policy allows.

A thin adapter over :mod:`wsctl.policy`: errors are raised as ``wsctl.errors`` exceptions for
the single error boundary in ``wsctl.cli`` (InvalidInput → exit 2); a denial found by ``check``
is an answer, not an error, so it is printed to stdout and ends with exit code 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from wsctl.errors import ExitCode
from wsctl.policy import (
    ACTION_CONNECT,
    ACTION_CONNECT_ADDRESS,
    ACTION_CONNECT_PROXY,
    ACTION_CONNECT_URL,
    ACTIONS,
    Decision,
    Policy,
    PolicySet,
    Rule,
    UrlPattern,
    discover,
    normalize_proxy,
    normalize_url,
)
from wsctl.urls import validate_url

_policy_option = click.option(
    "--policy",
    "policy_file",
    metavar="FILE",
    help="The user's policy file (default: $WSCTL_POLICY, else "
    "$XDG_CONFIG_HOME/wsctl/policy.toml); /etc/wsctl/policy.toml applies in any case.",
)


@click.group("policy")
def command() -> None:
    """Check URLs against the security policy and show the policies in force.

    \b
    Policies come from /etc/wsctl/policy.toml (always) and the user's file
    (--policy FILE, else $WSCTL_POLICY, else $XDG_CONFIG_HOME/wsctl/policy.toml);
    a connection needs every one of them to allow it.
    """


@command.command("check")
@click.argument("url")
@click.option(
    "--action",
    type=click.Choice(ACTIONS),
    help="Run only this check (default: all, in the order a connection runs them).",
)
@click.option(
    "--no-resolve",
    is_flag=True,
    help="Do not resolve the host name for the address rules (IP literals are still checked).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
@click.option(
    "--proxy",
    "proxy_url",
    metavar="URL",
    help="Check as if connecting through this proxy (default: the proxy environment variables).",
)
@click.option(
    "--no-proxy", is_flag=True, help="Check a direct connection, whatever the environment."
)
@_policy_option
def check(
    url: str,
    action: str | None,
    no_resolve: bool,
    as_json: bool,
    proxy_url: str | None,
    no_proxy: bool,
    policy_file: str | None,
) -> None:
    """Say whether a connection to URL is allowed, and which policy file and rule decided.

    With address rules in force, the host is resolved (unless --no-resolve) and each address
    is printed with its verdict.  Exit status: 0 allowed, 3 denied, 2 invalid URL or policy
    file, 4 the name does not resolve.
    """
    import os

    from wsctl.proxy import choose_proxy

    # Validate the URL even when no policy is in force: "is this allowed?" about a URL no
    # policy could ever match deserves "invalid", not "allowed".
    validate_url(url)  # the same URL rules as a connection: a fragment is invalid here too
    target = normalize_url(url)
    policies = discover(policy_file)
    choice = choose_proxy(url, explicit=proxy_url, disabled=no_proxy, environ=os.environ)
    results = _run_checks(url, policies, action, choice, resolve=not no_resolve)
    allowed = all(result.decision.allowed for result in results)
    if as_json:
        import json

        click.echo(json.dumps(_json_report(target, allowed, policies, choice, results)))
    else:
        click.echo(f"{'allow' if allowed else 'deny'} {target}")
        if not policies.policies:
            click.echo("  no policy: all connections allowed")
        for result in results:
            click.echo(f"  {result.describe()}")
    if not allowed:
        click.get_current_context().exit(ExitCode.DENIED)


@dataclass(frozen=True)
class _Result:
    """One check ``policy check`` ran: the action, what it was about, the decision."""

    action: str
    decision: Decision
    resource: str = ""
    host: str = ""
    role: str = "target"

    def describe(self) -> str:
        about = ""
        if self.action == ACTION_CONNECT_PROXY:
            about = f" {self.resource}" if self.resource else ""
        elif self.action == ACTION_CONNECT_ADDRESS:
            about = f" {self.resource}" if self.resource else ""
            if self.role == "proxy":
                about += f" (proxy {self.host})"
            elif self.resource and self.host != self.resource:
                about += f" ({self.host})"
        return f"{self.action}{about}: {self.decision.explanation}"


def _run_checks(
    url: str, policies: PolicySet, only: str | None, choice: Any, *, resolve: bool
) -> list[_Result]:
    """The checks a connection to ``url`` runs, in its order, stopping where it would stop
    (except that every resolved address is reported)."""
    results: list[_Result] = []
    if not policies.policies:
        return results

    def wanted(action: str) -> bool:
        return only is None or only == action

    for action in (ACTION_CONNECT, ACTION_CONNECT_URL):
        if wanted(action):
            decision = policies.check(action, "" if action == ACTION_CONNECT else url)
            results.append(_Result(action, decision))
            if not decision.allowed:
                return results  # a connection stops at the first denial, and so does the report
    if choice is None and only == ACTION_CONNECT_PROXY:
        results.append(_Result(ACTION_CONNECT_PROXY, Decision(True, None, None, "no proxy")))
    if choice is not None and wanted(ACTION_CONNECT_PROXY):
        decision = policies.check(ACTION_CONNECT_PROXY, choice.url)
        results.append(_Result(ACTION_CONNECT_PROXY, decision, str(normalize_proxy(choice.url))))
        if not decision.allowed:
            return results
    if only == ACTION_CONNECT_ADDRESS and not policies.checks_addresses:
        none = Decision(True, None, None, "allowed: no address rules in force")
        results.append(_Result(ACTION_CONNECT_ADDRESS, none))
    if policies.checks_addresses and wanted(ACTION_CONNECT_ADDRESS):
        results.extend(_address_checks(url, policies, choice, resolve=resolve))
    return results


def _address_checks(url: str, policies: PolicySet, choice: Any, *, resolve: bool) -> list[_Result]:
    import asyncio

    from wsctl.dialing import REMOTE_RESOLUTION, ip_literal

    target = normalize_url(url)
    hosts: list[tuple[str, str, int]] = []  # (role, host, port)
    results: list[_Result] = []
    if choice is not None:
        proxy = normalize_proxy(choice.url)
        hosts.append(("proxy", proxy.host, proxy.port))
        if choice.scheme in REMOTE_RESOLUTION and ip_literal(target.host) is None:
            distrusting = policies.distrusted_proxy_resolution()
            if distrusting is None:
                decision = Decision(
                    True,
                    None,
                    None,
                    'not checked: the proxy resolves it (proxy_resolution = "trust")',
                )
            else:
                decision = Decision(
                    False,
                    distrusting.source,
                    None,
                    f"denied by {distrusting.source}: the proxy would resolve {target.host}"
                    ' itself, so its address cannot be checked (proxy_resolution = "deny")',
                )
            results.append(_Result(ACTION_CONNECT_ADDRESS, decision, "", target.host))
        else:
            hosts.append(("target", target.host, target.port))
    else:
        hosts.append(("target", target.host, target.port))
    for role, host, port in hosts:
        if not resolve and ip_literal(host) is None:
            decision = Decision(True, None, None, f"not checked (--no-resolve): {host} is a name")
            results.append(_Result(ACTION_CONNECT_ADDRESS, decision, "", host, role))
            continue
        for address in asyncio.run(_resolve(host, port)):
            decision = policies.check(ACTION_CONNECT_ADDRESS, address)
            results.append(_Result(ACTION_CONNECT_ADDRESS, decision, address, host, role))
    return results


async def _resolve(host: str, port: int) -> list[str]:
    import socket

    from wsctl.dialing import resolve
    from wsctl.errors import ConnectionFailed

    try:
        return await resolve(host, port)
    except socket.gaierror as exc:
        raise ConnectionFailed(f"cannot resolve {host}: {exc.strerror}") from None


def _json_report(
    target: Any, allowed: bool, policies: PolicySet, choice: Any, results: list[_Result]
) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    for result in results:
        entry: dict[str, Any] = {
            "action": result.action,
            "allowed": result.decision.allowed,
            "source": result.decision.source,
            "rule": result.decision.rule,
            "explanation": result.decision.explanation,
        }
        if result.action == ACTION_CONNECT_PROXY:
            entry["proxy"] = result.resource
        if result.action == ACTION_CONNECT_ADDRESS:
            entry.update(address=result.resource or None, host=result.host, role=result.role)
        checks.append(entry)
    return {
        "url": str(target),
        "allowed": allowed,
        "policies": list(policies.sources),
        "proxy": str(normalize_proxy(choice.url)) if choice is not None else None,
        "checks": checks,
    }


@command.command("show")
@_policy_option
def show(policy_file: str | None) -> None:
    """List the policy files in force and their rules."""
    policies = discover(policy_file)
    for line in describe(policies):
        click.echo(line)


def describe(policies: PolicySet) -> list[str]:
    """The lines ``wsctl policy show`` prints for ``policies``."""
    if not policies.policies:
        return ["no policy: all connections allowed"]
    lines: list[str] = []
    for policy in policies.policies:
        lines.extend(_describe_policy(policy))
    if len(policies.policies) > 1:
        lines.append("a connection needs every policy above to allow it")
    lines.append(
        f"a proxy must be allowed too ({ACTION_CONNECT_PROXY}, and its addresses by the"
        " address rules)"
    )
    return lines


def _describe_policy(policy: Policy) -> list[str]:
    origin = f" ({policy.origin})" if policy.origin else ""
    lines = [f"{policy.source}{origin}: version {policy.version}, default {policy.default}"]
    if not policy.rules:
        lines.append(f"  no rules: every check is answered by the default ({policy.default})")
    lines.extend(f"  {_describe_rule(rule)}" for rule in policy.rules)
    if policy.checks_addresses:
        lines.append(
            "  address rules: names are resolved once and every address must be allowed;"
            " the connection goes to the checked address"
        )
        if policy.proxy_resolution == "trust":
            lines.append(
                '  proxy_resolution = "trust": a proxy that resolves the target\'s name itself'
                " (HTTP CONNECT, socks5h, socks4a) is allowed; that address is not checked"
            )
        else:
            lines.append(
                '  proxy_resolution = "deny": a target name that a proxy would resolve itself'
                " (HTTP CONNECT, socks5h, socks4a) is denied; socks5:// is checked here"
            )
    return lines


def _describe_rule(rule: Rule) -> str:
    actions = ", ".join(rule.actions)
    if rule.resources is None:
        resources = "any resource"
    else:
        resources = ", ".join(
            pattern.text if isinstance(pattern, UrlPattern) else pattern.describe()
            for pattern in rule.resources
        )
    return f'line {rule.line}: rule "{rule.name}": {rule.effect} {actions} on {resources}'
