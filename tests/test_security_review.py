"""A hostile review of the hardening and address-policy work: the leaks and bypasses it found.

Each test names what a hostile server or a careless URL tried, and runs the real client
against real loopback servers (raw sockets where the server must misbehave).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection

from tests.conftest import TIMEOUT, LoopbackServer, Recorder, invoke, wsctl_command
from wsctl.redact import redact_url

# -- servers ---------------------------------------------------------------------------------


class RawServer:
    """A loopback TCP server that reads each request head and answers with fixed bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(self.answer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(
                socket.SHUT_RDWR
            )  # wakes the blocked accept() (close alone does not)
        self.sock.close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


@contextmanager
def raw_server(answer: bytes) -> Iterator[RawServer]:
    server = RawServer(answer)
    try:
        yield server
    finally:
        server.close()


def redirect_to(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


# -- secrets in URLs whose userinfo a "#", "?" or "/" cut short ---------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://u:p#pw-secret@h/", "ws://u:<redacted>@h/"),
        ("ws://u:p?pw-secret@h/x?token=t", "ws://u:<redacted>@h/x?token=<redacted>"),
        ("ws://u:p/pw?secret@h/", "ws://u:<redacted>@h/"),
        ("ws://tok-secret#x@h/", "ws://<redacted>@h/"),
        ("http://pu:proxy#pw-secret@127.0.0.1:1", "http://pu:<redacted>@127.0.0.1:1"),
        ("pu:proxy?pw-secret@h:1", "pu:<redacted>@h:1"),
        # ";" separates parameters too, in the query and in a path segment.
        ("ws://h/?a=1;token=t-secret", "ws://h/?a=1;token=<redacted>"),
        ("ws://h/p;jsessionid=s-secret/x", "ws://h/p;jsessionid=<redacted>/x"),
        # An "@" in a path or a query is not userinfo.
        ("ws://h/a@b?email=a@b", "ws://h/a@b?email=a@b"),
        ("ws://[::1]/a@b", "ws://[::1]/a@b"),
    ],
)
def test_redact_url_userinfo_cut_short(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown


def test_password_with_a_hash_never_reaches_stderr_or_reports(tmp_path: Path) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    reports = ["--report", str(report), "--report", f"junit:{junit}"]
    result = invoke(["send", "ws://u:p#pw-secret@127.0.0.1:9/", "hi", *reports])
    assert result.exit_code == 2
    assert "pw-secret" not in result.stderr
    assert result.stderr.startswith("wsctl: error: invalid URL 'ws://u:<redacted>@127.0.0.1:9/'")
    for path in (report, junit):  # bad input writes no report; if one ever is, no secret
        assert not path.exists() or "pw-secret" not in path.read_text()
    result = invoke(["policy", "check", "--no-resolve", "ws://u:p?pw-secret@127.0.0.1/"])
    assert "pw-secret" not in result.stderr + result.stdout


def test_redirect_to_a_password_with_a_hash_is_redacted(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    with raw_server(redirect_to("ws://u:p#loc-secret@127.0.0.1:9/next")) as server:
        url = f"ws://127.0.0.1:{server.port}/x"
        result = invoke(["send", "-v", url, "hi", "--report", str(report)])
    assert result.exit_code == 4, result.stderr
    assert "redirected to an invalid URL" in result.stderr
    assert "loc-secret" not in result.stderr
    assert "loc-secret" not in report.read_text()


# -- signals ---------------------------------------------------------------------------------


async def close_at_once(connection: ServerConnection, recorder: Recorder) -> None:
    await connection.close(1011, "bye")


def test_listen_reconnect_terminated_while_waiting_ends_with_a_close_record(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    """SIGTERM in the backoff before a reconnection: exit 143, report written, and the NDJSON
    stream still ends with the close record of the connection that dropped."""
    server = make_server(close_at_once)
    report = tmp_path / "r.json"
    command = ["listen", server.url, "--reconnect", "--retry-delay", "30s", "--json", "--events"]
    process = subprocess.Popen(
        wsctl_command(*command, "--report", str(report)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    assert "reconnecting in" in process.stderr.readline().decode()  # waiting now
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 143
    assert stderr.decode() == "wsctl: terminated (SIGTERM)\n"
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [record["type"] for record in records] == ["open", "close"]
    assert records[-1] == {"type": "close", "by": "server", "code": 1011, "reason": "bye"}
    assert json.loads(report.read_text())["exit_code"] == 143


def test_redacted_url_keeps_the_punctuation_after_it() -> None:
    """``…?token=x: connection refused``: the ``:`` is the sentence's, not the token's."""
    with socket.socket() as bound:  # bound, not listening: a connection is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = invoke(["send", f"ws://127.0.0.1:{port}/p?token=t-secret", "hi"])
    assert result.exit_code == 4
    assert result.stderr == (
        f"wsctl: error: cannot connect to ws://127.0.0.1:{port}/p?token=<redacted>: "
        "connection refused\n"
    )


# -- secrets known by their source -----------------------------------------------------------


def test_run_file_env_secret_is_hidden_wherever_it_is_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``${env.API_TOKEN}`` under a parameter or header name that is not secret-looking, or in
    a line an error quotes back, is still hidden: the variable's name says it is a secret."""
    monkeypatch.setenv("REVIEW_API_TOKEN", "env-secret-1234")
    monkeypatch.setenv("REVIEW_HOST_NAME", "127.0.0.1")  # not a secret name: shown as is
    with socket.socket() as bound:  # bound, not listening: a connection is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        run_file = tmp_path / "a.toml"
        run_file.write_text(
            f'url = "ws://${{env.REVIEW_HOST_NAME}}:{port}/p?x=${{env.REVIEW_API_TOKEN}}"\n'
            '[[step]]\nsend = "hi"\n'
        )
        report = tmp_path / "r.json"
        result = invoke(["run", str(run_file), "--report", str(report)])
    assert result.exit_code == 4, result.stderr
    assert f"ws://127.0.0.1:{port}/p?x=<redacted>: connection refused" in result.stderr
    assert "env-secret-1234" not in result.stderr + report.read_text()
    run_file.write_text(
        'url = "ws://h/"\nheaders = ["X-Thing ${env.REVIEW_API_TOKEN}"]\n[[step]]\nsend = "hi"\n'
    )
    result = invoke(["run", str(run_file)])
    assert result.exit_code == 2
    assert "invalid --header 'X-Thing <redacted>'" in result.stderr


# -- secrets in header lines an error quotes back ----------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Authorization Bearer h-secret", "invalid --header 'Authorization <redacted>'"),
        ("X-Token: a\nh-secret", "invalid --header 'X-Token: <redacted>': contains CR, LF"),
        # The value holds ": " itself: echoed once, not cut at its first ": ".
        (": v", "invalid --header ': v': expected 'Name: value'"),
    ],
)
def test_bad_header_is_echoed_without_its_secret(header: str, message: str) -> None:
    result = invoke(["send", "ws://127.0.0.1:9/", "hi", "-H", header])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"wsctl: error: {message}")
    assert "h-secret" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_bad_line_in_a_header_file_is_echoed_without_its_secret(tmp_path: Path) -> None:
    """``-H @FILE`` keeps secrets out of ``ps``; an error must not print them instead."""
    headers = tmp_path / "headers.txt"
    headers.write_text("X-Trace: 1\nAuthorization Bearer file-secret\n")
    result = invoke(["send", "ws://127.0.0.1:9/", "hi", "-H", f"@{headers}"])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"wsctl: error: invalid --header '@{headers}': line 2: "
        "invalid header 'Authorization <redacted>': expected 'Name: value'"
    )
    assert "file-secret" not in result.stderr


# -- error wording: name the option, echo what was typed ---------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "--retry", "-1"], "invalid --retry '-1': must be from 0 to 1000"),
        (["send", "--retry", "abc"], "invalid --retry 'abc': expected a whole number"),
        (["send", "--wait", "-3"], "invalid --wait '-3': must be at least 0"),
        (["listen", "-n", "0"], "invalid --count '0': must be at least 1"),
        (
            ["send", "--binary-format", "b"],
            "invalid --binary-format 'b': expected base64, hex or raw",
        ),
        (["send", "--report", ""], "invalid --report '': expected FILE, json:FILE or junit:FILE"),
        (["send", "--expect", "("], "invalid --expect '(': not a valid regular expression"),
        (["send", "--subprotocol", "a b"], "invalid --subprotocol 'a b': only RFC 7230 token"),
        (["send", "--user-agent", "a\x1bb"], "invalid --user-agent 'a\\x1bb': contains control"),
        (
            ["send", "--origin", "https://u:o-secret@o.example/\x01"],
            "invalid --origin 'https://u:<redacted>@o.example/\\x01': contains control",
        ),
        (
            ["send", "--retry-delay", "5s", "--retry-max-delay", "1500ms"],
            "invalid --retry-max-delay '1.5s': shorter than --retry-delay '5s'",
        ),
    ],
)
def test_option_errors_name_the_option_and_echo_the_value(args: list[str], message: str) -> None:
    command, *options = args
    result = invoke(
        [command, "ws://127.0.0.1:9/", *(["hi"] if command == "send" else []), *options]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"wsctl: error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_credential_subprotocols_are_hidden_in_verbose_output(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    """Kubernetes-style bearer subprotocols and ``access_token, TOKEN`` pairs carry a token
    in Sec-WebSocket-Protocol, a header whose name looks harmless."""
    server = make_server()
    k8s = "base64url.bearer.authorization.k8s.io.k8s-secret"
    args = ["-s", k8s, "-s", "access_token", "-s", "pair-secret", "-s", "v4.channel.k8s.io"]
    result = invoke(["send", "-v", server.url, "hi", *args])
    assert result.exit_code == 0, result.stderr
    assert (
        "> Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.<redacted>, "
        "access_token, <redacted>, v4.channel.k8s.io"
    ) in result.stderr
    assert "k8s-secret" not in result.stderr and "pair-secret" not in result.stderr


def test_a_failed_redirect_hop_is_named_not_the_first_url() -> None:
    """The error says which connection failed: the redirect target, not the URL that was
    redirected (which answered fine)."""
    with socket.socket() as bound:  # bound, not listening: a connection is refused
        bound.bind(("127.0.0.1", 0))
        target = f"ws://127.0.0.1:{bound.getsockname()[1]}/next?token=t-secret"
        with raw_server(redirect_to(target)) as server:
            result = invoke(["send", f"ws://127.0.0.1:{server.port}/x", "hi"])
    shown = target.replace("t-secret", "<redacted>")
    assert result.exit_code == 4
    assert result.stderr == f"wsctl: error: cannot connect to {shown}: connection refused\n"
