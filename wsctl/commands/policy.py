"""``wsctl policy check URL`` and ``wsctl policy show``: what the security policy allows.

A thin adapter over :mod:`wsctl.policy`: errors are raised as ``wsctl.errors`` exceptions for
the single error boundary in ``wsctl.cli`` (InvalidInput → exit 2); a denial found by ``check``
is an answer, not an error, so it is printed to stdout and ends with exit code 3.
"""

from __future__ import annotations

import click

from wsctl.errors import ExitCode
from wsctl.policy import (
    ACTION_CONNECT,
    ACTIONS,
    Decision,
    Policy,
    PolicySet,
    Rule,
    discover,
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
    help="Run only this check (default: both, in the order a connection runs them).",
)
@_policy_option
def check(url: str, action: str | None, policy_file: str | None) -> None:
    """Say whether a connection to URL is allowed, and which policy file and rule decided.

    Exit status: 0 allowed, 3 denied, 2 invalid URL or policy file.
    """
    # Validate the URL even when no policy is in force: "is this allowed?" about a URL no
    # policy could ever match deserves "invalid", not "allowed".
    validate_url(url)  # the same URL rules as a connection: a fragment is invalid here too
    target = normalize_url(url)
    policies = discover(policy_file)
    actions = ACTIONS if action is None else (action,)
    decisions: list[tuple[str, Decision]] = []
    for name in actions:
        decision = policies.check(name, "" if name == ACTION_CONNECT else url)
        decisions.append((name, decision))
        if not decision.allowed:
            break  # a connection stops at the first denial, and so does the report
    allowed = all(decision.allowed for _, decision in decisions)
    click.echo(f"{'allow' if allowed else 'deny'} {target}")
    if not policies.policies:
        click.echo("  no policy: all connections allowed")
    else:
        for name, decision in decisions:
            click.echo(f"  {name}: {decision.explanation}")
    if not allowed:
        click.get_current_context().exit(ExitCode.DENIED)


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
    return lines


def _describe_policy(policy: Policy) -> list[str]:
    origin = f" ({policy.origin})" if policy.origin else ""
    lines = [f"{policy.source}{origin}: version {policy.version}, default {policy.default}"]
    if not policy.rules:
        lines.append(f"  no rules: every check is answered by the default ({policy.default})")
    lines.extend(f"  {_describe_rule(rule)}" for rule in policy.rules)
    return lines


def _describe_rule(rule: Rule) -> str:
    actions = ", ".join(rule.actions)
    if rule.resources is None:
        resources = "any resource"
    else:
        resources = ", ".join(pattern.text for pattern in rule.resources)
    return f'line {rule.line}: rule "{rule.name}": {rule.effect} {actions} on {resources}'
