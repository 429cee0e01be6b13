"""``wsctl policy check`` and ``wsctl policy show`` through the real error boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wsctl.cli import cli, run
from wsctl.errors import InvalidInput

API_POLICY = """\
version = 1

[[rule]]
name = "websockets-enabled"
actions = "websocket.connect"
effect = "allow"

[[rule]]
name = "our-apis"
actions = "websocket.connect.url"
resources = ["wss://api.example.com/ws", "wss://*.example.com/stream/**"]
effect = "allow"

[[rule]]
name = "no-plaintext"
actions = "websocket.connect.url"
resources = "ws://**"
effect = "deny"
"""


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No policy from this machine leaks in: no system file, no user file, no $WSCTL_POLICY."""
    monkeypatch.setenv("WSCTL_SYSTEM_POLICY", str(tmp_path / "no-system-policy.toml"))
    monkeypatch.delenv("WSCTL_POLICY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config"))


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(API_POLICY, encoding="utf-8")
    return str(path)


def wsctl(*args: str) -> tuple[int, str, str]:
    """Run ``wsctl ARGS`` through ``wsctl.cli.run`` (the error boundary) in click's isolation.

    Returns (exit code, stdout, stderr).
    """
    with CliRunner().isolation() as (stdout, stderr, _):
        code = run(list(args))
        return code, stdout.getvalue().decode(), stderr.getvalue().decode()


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize(
    "url",
    [
        "WSS://API.EXAMPLE.COM/ws",
        "wss://api.example.com:443/ws?token=1",
        "wss://a.example.com/stream/x",
    ],
)
def test_check_allowed(policy: str, url: str) -> None:
    code, out, err = wsctl("policy", "check", url, "--policy", policy)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("allow wss://")
    assert lines[1] == f'  websocket.connect: allowed by {policy} (rule "websockets-enabled")'
    assert lines[2] == f'  websocket.connect.url: allowed by {policy} (rule "our-apis")'
    assert err == ""


def test_check_denied_by_rule(policy: str) -> None:
    code, out, err = wsctl("policy", "check", "ws://api.example.com/ws", "--policy", policy)
    assert code == 3
    assert out.splitlines() == [
        "deny ws://api.example.com:80/ws",
        f'  websocket.connect: allowed by {policy} (rule "websockets-enabled")',
        f'  websocket.connect.url: denied by {policy} (rule "no-plaintext")',
    ]
    assert err == ""


def test_check_denied_by_default(policy: str) -> None:
    code, out, _ = wsctl("policy", "check", "wss://api.example.com.evil.net/ws", "--policy", policy)
    assert code == 3
    assert out.splitlines()[0] == "deny wss://api.example.com.evil.net:443/ws"
    assert out.splitlines()[-1] == (
        f"  websocket.connect.url: denied by {policy} (no rule matched, default deny)"
    )


def test_check_one_action(policy: str, tmp_path: Path) -> None:
    code, out, _ = wsctl(
        "policy", "check", "ws://x/", "--action", "websocket.connect", "--policy", policy
    )
    assert code == 0
    assert out.splitlines() == [
        "allow ws://x:80/",
        f'  websocket.connect: allowed by {policy} (rule "websockets-enabled")',
    ]
    off = tmp_path / "off.toml"
    off.write_text(
        'version = 1\ndefault = "allow"\n[[rule]]\nname = "off"\n'
        'actions = "websocket.connect"\neffect = "deny"\n'
    )
    code, out, _ = wsctl("policy", "check", "wss://x/", "--policy", str(off))
    assert code == 3
    # A connection stops at the first denial, and so does the report.
    assert out.splitlines() == [
        "deny wss://x:443/",
        f'  websocket.connect: denied by {off} (rule "off")',
    ]


def test_check_without_policy_allows() -> None:
    code, out, _ = wsctl("policy", "check", "ws://127.0.0.1:9/")
    assert code == 0
    assert out.splitlines() == ["allow ws://127.0.0.1:9/", "  no policy: all connections allowed"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ws://2130706433/", "looks like an IP address"),
        ("http://example.com/", "scheme must be ws:// or wss://"),
        ("ws://example.com/%zz", "invalid percent-encoding"),
    ],
)
def test_check_invalid_url_exits_2(policy: str, url: str, message: str) -> None:
    code, out, err = wsctl("policy", "check", url, "--policy", policy)
    assert code == 2
    assert out == ""
    assert err.startswith(f"wsctl: error: invalid URL {url!r}: ") and message in err


def test_check_bad_action_exits_2(policy: str) -> None:
    code, _, err = wsctl("policy", "check", "ws://x/", "--action", "websocket.send")
    assert code == 2
    assert "websocket.send" in err


MALFORMED = [
    ('version = 1\n[[rule]]\nname = "a"\nactions = \n', 4, "invalid TOML"),
    (
        'version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "allow"\ncolour = 1\n',
        6,
        'unknown key "colour"',
    ),
    (
        'version = 1\n[[rule]]\nname = "a"\nactions = "websocket.send"\neffect = "allow"\n',
        4,
        'unknown action "websocket.send"',
    ),
    ('version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "permit"\n', 5, "effect must be"),
    (
        'version = 1\n[[rule]]\nname = "a"\nactions = []\neffect = "allow"\n',
        4,
        "actions must not be an empty list",
    ),
    (
        'version = 1\n[[rule]]\nname = "a"\nactions = "*"\nresources = ["wss://x/ws*"]\n'
        'effect = "allow"\n',
        5,
        "bad URL pattern",
    ),
    ("version = 2\n", 1, "unsupported version 2"),
]


@pytest.mark.parametrize(("text", "line", "reason"), MALFORMED)
@pytest.mark.parametrize("subcommand", ["check", "show"])
def test_malformed_policy_exits_2_with_line(
    tmp_path: Path, subcommand: str, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    args = ["policy", subcommand, "--policy", str(path)]
    if subcommand == "check":
        args.insert(2, "wss://api.example.com/ws")
    code, out, err = wsctl(*args)
    assert code == 2
    assert out == ""
    assert err.startswith(f"wsctl: error: {path}:{line}: {reason}"), err


def test_missing_policy_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    code, _, err = wsctl("policy", "check", "wss://x/", "--policy", str(missing))
    assert code == 2
    assert err == f"wsctl: error: {missing}: cannot read policy file: No such file or directory\n"


def test_system_policy_applies_with_the_users(
    policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system.toml"
    system.write_text(
        'version = 1\ndefault = "allow"\n[[rule]]\nname = "no-stream"\n'
        'actions = "websocket.connect.url"\nresources = "wss://*.example.com/stream/**"\n'
        'effect = "deny"\n'
    )
    monkeypatch.setenv("WSCTL_SYSTEM_POLICY", str(system))
    code, out, _ = wsctl("policy", "check", "wss://a.example.com/stream/1", "--policy", policy)
    assert code == 3
    assert out.splitlines()[-1] == (
        f'  websocket.connect.url: denied by {system} (rule "no-stream")'
    )
    code, out, _ = wsctl("policy", "check", "wss://api.example.com/ws", "--policy", policy)
    assert code == 0
    assert out.splitlines()[-1] == (
        f"  websocket.connect.url: allowed by {system} (no rule matched, default allow);"
        f' allowed by {policy} (rule "our-apis")'
    )


def test_policy_from_environment(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSCTL_POLICY", policy)
    code, out, _ = wsctl("policy", "check", "ws://api.example.com/ws")
    assert code == 3
    assert f'denied by {policy} (rule "no-plaintext")' in out


def test_policy_from_xdg_config(
    policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    (config / "wsctl").mkdir(parents=True)
    (config / "wsctl" / "policy.toml").write_text(Path(policy).read_text())
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    code, out, _ = wsctl("policy", "check", "ws://api.example.com/ws")
    assert code == 3
    assert f'denied by {config / "wsctl" / "policy.toml"} (rule "no-plaintext")' in out


# --------------------------------------------------------------------------- show


def test_show_without_policy() -> None:
    code, out, _ = wsctl("policy", "show")
    assert code == 0
    assert out == "no policy: all connections allowed\n"


def test_show_lists_files_and_rules(
    policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system.toml"
    system.write_text("version = 1\n")
    monkeypatch.setenv("WSCTL_SYSTEM_POLICY", str(system))
    code, out, _ = wsctl("policy", "show", "--policy", policy)
    assert code == 0
    assert out.splitlines() == [
        f"{system} (system): version 1, default deny",
        "  no rules: every check is answered by the default (deny)",
        f"{policy} (--policy): version 1, default deny",
        '  line 3: rule "websockets-enabled": allow websocket.connect on any resource',
        '  line 8: rule "our-apis": allow websocket.connect.url on'
        " wss://api.example.com/ws, wss://*.example.com/stream/**",
        '  line 14: rule "no-plaintext": deny websocket.connect.url on ws://**',
        "a connection needs every policy above to allow it",
        "a proxy must be allowed too (websocket.connect.proxy, and its addresses by the"
        " address rules)",
    ]


# --------------------------------------------------------------------------- click and process


def test_clirunner_on_the_group(policy: str) -> None:
    runner = CliRunner()
    allowed = runner.invoke(
        cli, ["policy", "check", "wss://api.example.com/ws", "--policy", policy]
    )
    assert allowed.exit_code == 0, allowed.output
    denied = runner.invoke(cli, ["policy", "check", "ws://api.example.com/ws", "--policy", policy])
    assert denied.exit_code == 3
    assert denied.stdout.startswith("deny ws://api.example.com:80/ws\n")
    # Without the boundary of wsctl.cli.run the error surfaces as the exception it raised.
    invalid = runner.invoke(cli, ["policy", "check", "ws://127.1/", "--policy", policy])
    assert isinstance(invalid.exception, InvalidInput)
    assert invalid.exception.exit_code == 2


def test_real_process_exit_codes(policy: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WSCTL_SYSTEM_POLICY": str(tmp_path / "none.toml"),
        "XDG_CONFIG_HOME": str(tmp_path / "empty"),
    }
    env.pop("WSCTL_POLICY", None)
    base = [sys.executable, "-m", "wsctl", "policy", "check"]
    codes = [
        subprocess.run(
            [*base, url, "--policy", policy], env=env, capture_output=True, timeout=30
        ).returncode
        for url in ("wss://api.example.com/ws", "ws://api.example.com/ws", "ws://0x7f.1/")
    ]
    assert codes == [0, 3, 2]
