"""Malformed conversation files: each is rejected with exit 2 naming FILE:LINE, and nothing is
sent — the server never sees a connection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LoopbackServer, invoke, record_only

MakeServer = Callable[..., LoopbackServer]

# (id, the file after its first line `url = ...`, the line named, a fragment of the message)
CASES = [
    ("toml-syntax", '[[step]]\nsend = "unterminated\n', 3, "invalid TOML"),
    ("no-steps", 'timeout = "1s"\n', 1, "no steps"),
    ("step-not-an-array", '[step]\nsend = "a"\n', 2, "[[step]] table"),
    ("step-not-a-table", "step = [1, 2]\n", 2, "a step must be a table"),
    ("unknown-top-key", 'colour = "red"\n[[step]]\nsend = "a"\n', 2, "unknown key 'colour'"),
    ("bad-connection-option", 'dial-timeout = "soon"\n[[step]]\nsend = "a"\n', 2, "soon"),
    ("bad-subprotocols", "subprotocols = [{ a = 1 }]\n[[step]]\nsend = 'a'\n", 2, "expected a"),
    ("bad-flag", 'insecure = "yes"\n[[step]]\nsend = "a"\n', 2, "true or false"),
    ("policy-from-the-file", 'policy = "allow.toml"\n[[step]]\nsend = "a"\n', 2, "'policy'"),
    ("bad-subprotocol-name", 'subprotocols = ["a b"]\n[[step]]\nsend = "a"\n', 2, "a b"),
    (
        "bad-header-value",
        'timeout = "1s"\nheaders = { X-Bad = "a\\nb" }\n[[step]]\nsend = "a"\n',
        3,
        "X-Bad",
    ),
    ("missing-cacert", 'cacert = "nope.pem"\n[[step]]\nsend = "a"\n', 2, "nope.pem"),
    ("no-action", '[[step]]\ntimeout = "1s"\n', 2, "no action"),
    ("two-actions", '[[step]]\nsend = "a"\nsleep = 5\n', 4, "one action per step"),
    ("unknown-step-key", '[[step]]\nsend = "a"\nexpct = "b"\n', 4, "unknown key 'expct'"),
    ("send-not-a-string", "[[step]]\nsend = 5\n", 3, "must be a string"),
    ("bad-base64", '[[step]]\nsend-binary = "base64:!!"\n', 3, "invalid base64"),
    ("bad-hex", '[[step]]\nsend-binary = "hex:zz"\n', 3, "invalid hex"),
    ("missing-binary-file", '[[step]]\nsend-binary = "@nope.bin"\n', 3, "cannot read nope.bin"),
    ("binary-no-prefix", '[[step]]\nsend-binary = "abc"\n', 3, "expected base64:DATA"),
    ("bad-regex", '[[step]]\nexpect = "(unclosed"\n', 3, "not a valid regular expression"),
    ("bad-json-path", '[[step]]\nexpect-json = { "a..b" = 1 }\n', 3, "bad path"),
    ("empty-expect-json", "[[step]]\nexpect-json = {}\n", 3, "expected a table"),
    ("toml-date", "[[step]]\nexpect-json = { when = 1979-05-27 }\n", 3, "not a JSON value"),
    ("timeout-on-send", '[[step]]\nsend = "a"\ntimeout = "1s"\n', 4, "only a step that waits"),
    ("bad-timeout", '[[step]]\nexpect = "a"\ntimeout = "soon"\n', 4, "invalid timeout"),
    ("zero-timeout", '[[step]]\nexpect = "a"\ntimeout = 0\n', 4, "longer than 0"),
    ("bad-top-timeout", 'timeout = -5\n[[step]]\nsend = "a"\n', 2, "negative"),
    ("capture-without-expect", '[[step]]\nsend = "a"\ncapture = { x = "y" }\n', 4, "needs an"),
    ("bad-capture-name", '[[step]]\nexpect = "a"\ncapture = { "a b" = "y" }\n', 4, "usable name"),
    ("bad-capture-regex", '[[step]]\nexpect = "a"\ncapture = { x = "re:(" }\n', 4, "regular"),
    ("unknown-template-name", '[[step]]\nsend = "${nope}"\n', 3, "${nope}: unknown name"),
    (
        "capture-used-before-it-is-made",
        '[[step]]\nsend = "${token}"\n[[step]]\nexpect = "a"\ncapture = { token = "re:(.)" }\n',
        3,
        "${token}: unknown name",
    ),
    ("unset-env", '[[step]]\nsend = "${env.WSCTL_TEST_UNSET}"\n', 3, "is not set"),
    ("unterminated-template", '[[step]]\nsend = "${oops"\n', 3, "no closing"),
    ("bad-sleep", '[[step]]\nsleep = "forever"\n', 3, "invalid sleep"),
    ("bad-max-rtt", '[[step]]\nping = { max-rtt = "fast" }\n', 3, "invalid max-rtt"),
    ("ping-too-long", f'[[step]]\nping = "{"x" * 126}"\n', 3, "at most 125"),
    ("bad-close-code", "[[step]]\nclose = 999\n", 3, "invalid close code"),
    ("close-reason-too-long", f'[[step]]\nclose = {{ reason = "{"r" * 200}" }}\n', 3, "reason"),
    ("bad-expect-close", '[[step]]\nexpect-close = "sometimes"\n', 3, "not a close code"),
    ("step-after-close", '[[step]]\nclose = 1000\n[[step]]\nsend = "a"\n', 4, "comes after"),
    ("reply-without-send", "[[reply]]\nmatch = '^2$'\n[[step]]\nsend = 'a'\n", 2, "needs match"),
    (
        "reply-bad-regex",
        "[[reply]]\nmatch = '('\nsend = 'x'\n[[step]]\nsend = 'a'\n",
        2,
        "regular expression",
    ),
    (
        "reply-unknown-group",
        "[[reply]]\nmatch = '^2$'\nsend = '${1}'\n[[step]]\nsend = 'a'\n",
        2,
        "${1}: unknown",
    ),
    (
        "reply-unknown-key",
        "[[reply]]\nmatch = 'a'\nsend = 'b'\nsned = 'c'\n[[step]]\nsend = 'a'\n",
        2,
        "'sned'",
    ),
]


@pytest.fixture
def server(make_server: MakeServer) -> LoopbackServer:
    return make_server(record_only)


@pytest.mark.parametrize(
    ("body", "line", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_file_is_rejected_with_file_and_line(
    server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    line: int,
    fragment: str,
) -> None:
    monkeypatch.delenv("WSCTL_TEST_UNSET", raising=False)
    path = tmp_path / "bad.toml"
    path.write_text(f'url = "{server.url}"\n{body}', encoding="utf-8")
    result = invoke(["run", str(path)])
    assert result.exit_code == 2, result.stderr
    [message] = result.stderr.splitlines()
    assert message.startswith(f"wsctl: error: {path}:{line}: "), message
    assert fragment in message
    assert server.recorder.connections == 0


def test_a_file_that_is_not_utf8(server: LoopbackServer, tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(f'url = "{server.url}"\n[[step]]\nsend = "caf\xe9"\n'.encode("latin-1"))
    result = invoke(["run", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: the file is not UTF-8" in result.stderr


@pytest.mark.parametrize(
    ("first_line", "extra", "fragment"),
    [
        ('url = "http://example.com/"', [], "ws:// or wss://"),
        ("url = 7", [], "url must be a string"),
        ("# no url", [], "no url"),
        ('url = "ws://127.0.0.1:9/"', ["--url", "ftp://x"], "ws:// or wss://"),
        ('url = "ws://127.0.0.1:9/"', ["--reply", "no separator"], "MATCH=>RESPONSE"),
        ('url = "ws://127.0.0.1:9/"', ["--timeout", "0"], "longer than 0"),
    ],
)
def test_bad_urls_and_options_exit_2(
    tmp_path: Path, first_line: str, extra: list[str], fragment: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'{first_line}\n[[step]]\nsend = "a"\n', encoding="utf-8")
    result = invoke(["run", str(path), *extra])
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr


def test_a_missing_file(tmp_path: Path) -> None:
    result = invoke(["run", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "missing.toml" in result.stderr


def test_there_are_more_than_twenty_kinds() -> None:
    assert len(CASES) >= 20
