"""The policy is enforced by the connection core: a denied connection (or redirect hop) never
reaches the network.  Real loopback listeners count TCP accepts, not just handshakes, and each
"zero" is paired with a control run in which the same listener does see the connection."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from wsctl.cli import run

SCALE = float(os.environ.get("WSCTL_TEST_TIMEOUT_SCALE", "1"))
#: Short: the control runs connect to a listener that never answers the handshake.
DIAL_TIMEOUT = f"{int(400 * SCALE)}ms"


class Listener:
    """A TCP listener on loopback that accepts and counts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.02)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)  # held open, silent: the client's handshake never completes

    def close(self) -> int:
        """Stop accepting; return how many connections were accepted."""
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._open:
            conn.close()
        self.sock.close()
        return self.accepted


@contextmanager
def listener() -> Iterator[Listener]:
    counting = Listener()
    try:
        yield counting
    finally:
        counting.close()


class Redirector:
    """A websockets server that answers every upgrade with ``302 Location: <target>``."""

    def __init__(self, target: str) -> None:
        self.requests = 0

        def redirect(connection: ServerConnection, request: Request) -> Response:
            self.requests += 1
            return Response(302, "Found", Headers([("Location", target), ("Content-Length", "0")]))

        self.server = serve(lambda ws: None, "127.0.0.1", 0, process_request=redirect)
        self.port: int = self.server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=5)


@contextmanager
def redirector(target: str) -> Iterator[Redirector]:
    server = Redirector(target)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the policy a test names applies: no system or user policy from this machine."""
    monkeypatch.setenv("WSCTL_SYSTEM_POLICY", str(tmp_path / "no-system-policy.toml"))
    monkeypatch.delenv("WSCTL_POLICY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config"))


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def url_policy(*rules: tuple[str, str, str]) -> str:
    """Connections on; (name, URL pattern, effect) rules for websocket.connect.url; deny else."""
    text = (
        'version = 1\ndefault = "deny"\n\n'
        '[[rule]]\nname = "on"\nactions = "websocket.connect"\neffect = "allow"\n'
    )
    for name, pattern, effect in rules:
        text += (
            f'\n[[rule]]\nname = "{name}"\nactions = "websocket.connect.url"\n'
            f'resources = "{pattern}"\neffect = "{effect}"\n'
        )
    return text


def send(url: str, policy: str) -> tuple[int, str]:
    """``wsctl send URL hi --policy FILE`` through the CLI's error boundary → (exit, stderr)."""
    args = ["send", url, "hi", "--policy", policy, "--dial-timeout", DIAL_TIMEOUT]
    with CliRunner().isolation() as (_, stderr, _):
        code = run([*args, "--wait-time", "0"])
        return code, stderr.getvalue().decode()


def test_denied_connection_opens_no_socket(tmp_path: Path) -> None:
    with listener() as target:
        url = f"ws://127.0.0.1:{target.port}/"
        policy = write_policy(tmp_path, url_policy(("no-local", "ws://127.0.0.1:*/**", "deny")))
        code, err = send(url, policy)
        accepted = target.close()
    assert code == 3, err
    assert err == (
        f"wsctl: error: connection to ws://127.0.0.1:{target.port}/ denied by {policy}"
        ' (rule "no-local")\n'
    )
    assert accepted == 0


def test_default_deny_opens_no_socket(tmp_path: Path) -> None:
    with listener() as target:
        policy = write_policy(tmp_path, url_policy())
        code, err = send(f"ws://127.0.0.1:{target.port}/", policy)
        accepted = target.close()
    assert code == 3
    assert "(no rule matched, default deny)" in err
    assert accepted == 0


def test_allowed_connection_reaches_the_listener(tmp_path: Path) -> None:
    # The control for the tests above: the same listener does count an allowed connection.
    with listener() as target:
        policy = write_policy(tmp_path, url_policy(("local", "ws://127.0.0.1:*/**", "allow")))
        code, err = send(f"ws://127.0.0.1:{target.port}/", policy)
        accepted = target.close()
    assert code == 5, err  # the listener never answers the handshake: dial timeout
    assert accepted == 1


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('version = 1\n[[rule]]\nname = "a"\nactions = \n', ":4: invalid TOML"),
        ('version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "allow"\nx = 1\n', ":6: "),
        ('version = 1\n[[rule]]\nname = "a"\nactions = "websocket.open"\n', ":4: unknown action"),
        ('version = 1\n[[rule]]\nname = "a"\nactions = "*"\neffect = "yes"\n', ":5: effect"),
        ('version = 1\n[[rule]]\nname = "a"\nactions = []\neffect = "allow"\n', ":4: actions"),
        (
            'version = 1\n[[rule]]\nname = "a"\nactions = "*"\nresources = "ws://h/a*"\n'
            'effect = "allow"\n',
            ":5: bad URL pattern",
        ),
    ],
)
def test_malformed_policy_exits_2_and_connects_nowhere(
    tmp_path: Path, text: str, where: str
) -> None:
    with listener() as target:
        policy = write_policy(tmp_path, text)
        code, err = send(f"ws://127.0.0.1:{target.port}/", policy)
        accepted = target.close()
    assert code == 2
    assert err.startswith(f"wsctl: error: {policy}{where}"), err
    assert accepted == 0


def test_redirect_to_denied_url_is_not_followed(tmp_path: Path) -> None:
    with listener() as denied:
        target = f"ws://127.0.0.1:{denied.port}/elsewhere"
        with redirector(target) as first:
            policy = write_policy(
                tmp_path, url_policy(("first-hop", f"ws://127.0.0.1:{first.port}/**", "allow"))
            )
            code, err = send(f"ws://127.0.0.1:{first.port}/start", policy)
            requests = first.requests
        accepted = denied.close()
    assert requests == 1  # the first hop was allowed and answered with the redirect
    assert code == 3, err
    assert f"connection to {target} denied by {policy} (no rule matched, default deny)" in err
    assert accepted == 0


def test_redirect_to_allowed_url_is_followed(tmp_path: Path) -> None:
    # The control for the test above: with the target allowed, the redirect reaches it.
    with listener() as second:
        with redirector(f"ws://127.0.0.1:{second.port}/elsewhere") as first:
            policy = write_policy(tmp_path, url_policy(("local", "ws://127.0.0.1:*/**", "allow")))
            code, err = send(f"ws://127.0.0.1:{first.port}/start", policy)
            requests = first.requests
        accepted = second.close()
    assert requests == 1
    assert code == 5, err  # the second server never answers: dial timeout
    assert accepted == 1
