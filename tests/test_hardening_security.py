"""Security hardening (issue 10): redirects across origins, redaction by name, the history
file's permissions and untrusted text in ``--json`` and raw output on a terminal.

Every test runs the real client against real loopback servers (a second address, 127.0.0.2,
is "another origin"), or real files and a real pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tests.conftest import TIMEOUT, LoopbackServer, LoopThread, Recorder, invoke, wsctl_command
from wsctl.redact import is_secret_name, redact_header, redact_text, redact_url

# -- servers ---------------------------------------------------------------------------------


def landing(make_server: Callable[..., LoopbackServer]) -> tuple[LoopbackServer, list[Headers]]:
    """An echo server on 127.0.0.1 that records the headers of every upgrade request."""
    seen: list[Headers] = []

    def record(connection: ServerConnection, request: Request) -> None:
        seen.append(request.headers)

    return make_server(process_request=record), seen


@pytest.fixture
def other_origin(server_loop: LoopThread) -> Iterator[Callable[[str], str]]:
    """``redirect(location)`` starts a server on 127.0.0.2 answering ``302 Location: …`` and
    returns its URL: a different host, so a different origin from servers on 127.0.0.1."""
    servers: list[Any] = []

    def start(location: str) -> str:
        def redirect(connection: ServerConnection, request: Request) -> Response:
            headers = Headers([("Location", location), ("Content-Length", "0")])
            return Response(302, "Found", headers)

        async def begin() -> Any:
            return await serve(
                lambda ws: asyncio.sleep(0), "127.0.0.2", 0, process_request=redirect
            )

        server = server_loop.call(begin())
        servers.append(server)
        return f"ws://127.0.0.2:{server.sockets[0].getsockname()[1]}/start"

    yield start

    async def stop(server: Any) -> None:
        server.close()
        await server.wait_closed()

    for server in servers:
        server_loop.call(stop(server))


USER_HEADERS = [
    "--auth",
    "alice:pw-secret",
    "-H",
    "Cookie: sid=cookie-secret",
    "-H",
    "X-Api-Key: key-secret",
    "-H",
    "X-Token: token-secret",
    "-H",
    "X-Trace: trace-1",
    "-o",
    "https://app.example",
]
DROPPED = ["Cookie", "X-Api-Key", "X-Token", "X-Trace", "Authorization"]  # as sent


# -- 1. redirects to another origin ----------------------------------------------------------


def test_cross_origin_redirect_drops_every_header_the_user_added(
    make_server: Callable[..., LoopbackServer], other_origin: Callable[[str], str]
) -> None:
    target, seen = landing(make_server)
    start = other_origin(target.url + "landing?token=loc-secret")
    result = invoke(["send", start, "hi", "--wait", "1", "-v", *USER_HEADERS])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["hi"]
    assert len(seen) == 1
    for name in DROPPED:
        assert name not in seen[0], name
    # Origin describes the client, not the user: it is sent on every hop.
    assert seen[0]["Origin"] == "https://app.example"
    # -v says which headers stayed behind, by name only.
    assert f"not sending {', '.join(DROPPED)} (--location-trusted sends them)" in result.stderr
    # The Location header and the next hop are shown redacted too.
    assert "wsctl: < Location: ws://127.0.0.1:" in result.stderr
    assert "/landing?token=<redacted>" in result.stderr
    for secret in ("pw-secret", "cookie-secret", "key-secret", "token-secret", "loc-secret"):
        assert secret not in result.stderr


def test_location_trusted_sends_the_headers_to_the_other_origin(
    make_server: Callable[..., LoopbackServer], other_origin: Callable[[str], str]
) -> None:
    target, seen = landing(make_server)
    start = other_origin(target.url + "landing")
    result = invoke(["send", start, "hi", "--wait", "1", "--location-trusted", *USER_HEADERS])
    assert result.exit_code == 0, result.stderr
    assert seen[0]["X-Api-Key"] == "key-secret"
    assert seen[0]["X-Token"] == "token-secret"
    assert seen[0]["Cookie"] == "sid=cookie-secret"
    assert seen[0]["Authorization"].startswith("Basic ")


def test_same_origin_redirect_keeps_the_headers(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen: list[Headers] = []

    def hop(connection: ServerConnection, request: Request) -> Response | None:
        seen.append(request.headers)
        if request.path == "/start":
            return Response(302, "Found", Headers([("Location", "/landing")]))
        return None

    server = make_server(process_request=hop)
    result = invoke(["send", server.url + "start", "hi", "--wait", "1", *USER_HEADERS])
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 2
    assert seen[1]["X-Api-Key"] == "key-secret"
    assert seen[1]["Authorization"] == seen[0]["Authorization"]


def test_python_api_location_trusted(
    make_server: Callable[..., LoopbackServer], other_origin: Callable[[str], str]
) -> None:
    import wsctl

    target, seen = landing(make_server)
    start = other_origin(target.url)

    async def body() -> None:
        async with asyncio.timeout(TIMEOUT):
            async with wsctl.connect(start, headers={"X-Api-Key": "k1"}):
                pass
            async with wsctl.connect(start, headers={"X-Api-Key": "k2"}, location_trusted=True):
                pass

    asyncio.run(body())
    assert "X-Api-Key" not in seen[0]
    assert seen[1]["X-Api-Key"] == "k2"


# -- 11. a redirect to an invalid URL names that URL ------------------------------------------


def test_redirect_to_an_invalid_url_names_the_location_redacted(
    other_origin: Callable[[str], str], tmp_path: Path
) -> None:
    start = other_origin("ws://bob:loc-secret@[zz]/x?token=tok-secret")
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = invoke(["send", start, "hi", "--report", str(report), "--report", f"junit:{junit}"])
    assert result.exit_code == 4, result.stderr
    assert result.stderr.splitlines() == [
        f"wsctl: error: {start} redirected to an invalid URL "
        "'ws://bob:<redacted>@[zz]/x?token=<redacted>': invalid IPv6 address [zz]"
    ]
    for text in (report.read_text(), junit.read_text()):
        assert "redirected to an invalid URL" in text
        assert "loc-secret" not in text and "tok-secret" not in text


# -- 3. redaction by name --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Api-Key", True),
        ("X-Token", True),
        ("Private-Token", True),
        ("X-Amz-Security-Token", True),
        ("X-Session-Id", True),
        ("X-Client-Secret", True),
        ("X-Signature", True),
        ("X-Credentials", True),
        ("x_password", True),
        ("access-token", True),
        ("access_token", True),
        ("client_secret", True),
        ("code", True),
        ("signature", True),
        ("sig", True),
        ("API_KEY", True),
        ("Sec-WebSocket-Key", False),  # the handshake nonce, no secret
        ("X-Request-Id", False),
        ("User-Agent", False),
        ("room", False),
        ("zipcode", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "wss://u:pw@h/p?token=abc&x=1",
            "wss://u:<redacted>@h/p?token=<redacted>&x=1",
        ),
        (
            "ws://h/?access-token=a&client_secret=b&code=c&signature=d&room=7",
            "ws://h/?access-token=<redacted>&client_secret=<redacted>&code=<redacted>"
            "&signature=<redacted>&room=7",
        ),
        ("ws://h/cb#access_token=a&state=s", "ws://h/cb#access_token=<redacted>&state=s"),
        ("ws://tok123@h/", "ws://<redacted>@h/"),
        # Malformed URLs are redacted too (urllib refuses to split them).
        ("ws://u:pw@[::1/?key=k", "ws://u:<redacted>@[::1/?key=<redacted>"),
        ("ws://u:pw@h:99999/", "ws://u:<redacted>@h:99999/"),
        ("ws://u:pass/word@h/x", "ws://u:<redacted>@h/x"),
        ("http://alice:pw@proxy:3128", "http://alice:<redacted>@proxy:3128"),
        ("/path?Token=t&a=%20", "/path?Token=<redacted>&a=%20"),
        ("ws://h/p?x=1", "ws://h/p?x=1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    # Messages are redacted where they are made and again where they are written.
    assert redact_url(shown) == shown
    assert redact_text(f"error: {shown} failed") == f"error: {shown} failed"


def test_redact_header_and_text() -> None:
    assert redact_header("Authorization", "Bearer abc") == "Bearer <redacted>"
    assert redact_header("X-Amz-Security-Token", "FwoG") == "<redacted>"
    assert redact_header("X-Other", "visible") == "visible"
    assert redact_header("Location", "/next?token=t&a=1") == "/next?token=<redacted>&a=1"
    assert redact_header("Link", "<wss://h/?key=k>; rel=x") == "<wss://h/?key=<redacted>>; rel=x"
    assert (
        redact_text("InvalidURI: ws://u:pw@h/?token=t#f is bad")
        == "InvalidURI: ws://u:<redacted>@h/?token=<redacted>#f is bad"
    )


def test_verbose_output_and_report_redact_by_name(
    echo_server: LoopbackServer, tmp_path: Path
) -> None:
    url = echo_server.url + "?access-token=q1&client_secret=q2&code=q3&signature=q4&room=7"
    report = tmp_path / "r.json"
    result = invoke(
        [
            "send",
            url,
            "hi",
            "-v",
            "--report",
            str(report),
            "-H",
            "X-Token: h1",
            "-H",
            "Private-Token: h2",
            "-H",
            "X-Amz-Security-Token: h3",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert "wsctl: > X-Token: <redacted>" in result.stderr
    assert "wsctl: > Private-Token: <redacted>" in result.stderr
    assert "room=7" in result.stderr
    text = report.read_text()
    for secret in ("q1", "q2", "q3", "q4", "h1", "h2", "h3"):
        assert f"={secret}" not in result.stderr and f": {secret}" not in result.stderr
        assert f"={secret}" not in text
    assert json.loads(text)["url"].endswith("signature=<redacted>&room=7")


def test_internal_error_report_redacts_urls() -> None:
    from wsctl.report import _error_dict

    error = RuntimeError("bad ws://u:pw-secret@h/?token=t-secret")
    info = _error_dict(error, 1)
    assert info is not None
    assert "pw-secret" not in info["message"] and "t-secret" not in info["message"]


# -- 5. the history file -------------------------------------------------------------------


def test_history_open_to_others_is_made_private(tmp_path: Path) -> None:
    from prompt_toolkit.history import FileHistory

    from wsctl.interactive.history import open_history

    directory = tmp_path / "wsctl"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    path = directory / "history"
    path.write_text("\n# 2026-01-01 00:00:00\n+old line\n", encoding="utf-8")
    path.chmod(0o644)
    history, notice = open_history(path)
    assert isinstance(history, FileHistory)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert notice is not None and "0644 to 0600" in notice and "0755 to 0700" in notice
    assert list(history.load_history_strings()) == ["old line"]  # kept, only tightened
    # Private already: nothing to say.
    assert open_history(path)[1] is None


def test_history_that_is_a_symlink_is_not_used(tmp_path: Path) -> None:
    from prompt_toolkit.history import InMemoryHistory

    from wsctl.interactive.history import open_history

    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("", encoding="utf-8")
    elsewhere.chmod(0o644)
    directory = tmp_path / "wsctl"
    directory.mkdir(mode=0o700)
    path = directory / "history"
    path.symlink_to(elsewhere)
    history, notice = open_history(path)
    assert isinstance(history, InMemoryHistory)
    assert notice == f"{path} is not a regular file; history is not saved"
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644  # not touched


# -- 6. untrusted text and raw bytes on a terminal ---------------------------------------------

HOSTILE = "a\x9b31mb\u202ec\x7fd"


async def send_hostile(connection: ServerConnection, recorder: Recorder) -> None:
    await connection.send(HOSTILE)
    await connection.send(b"\x1b]0;pwned\x07\x00\xff")
    await connection.close()


def run_on_terminal(args: list[str]) -> tuple[int, bytes, str]:
    """Run wsctl with stdout on a real pseudo-terminal; stderr on a pipe."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            wsctl_command(*args),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
        )
        os.close(terminal)
        output = bytearray()
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            output += chunk
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        os.close(controller)
    return process.returncode, bytes(output), stderr.decode("utf-8", "replace")


def test_listen_json_escapes_c1_and_bidi_on_a_terminal(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(send_hostile)
    code, output, stderr = run_on_terminal(["listen", server.url, "--json", "-n", "1"])
    assert code == 0, stderr
    assert b"\xc2\x9b" not in output and "\u202e".encode() not in output and b"\x7f" not in output
    line = output.decode("utf-8").strip()
    assert line == '{"type": "text", "data": "a\\u009b31mb\\u202ec\\u007fd"}'
    assert json.loads(line)["data"] == HOSTILE  # the same string, escaped


def test_listen_json_in_a_pipe_keeps_the_bytes(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(send_hostile)
    result = subprocess.run(
        wsctl_command("listen", server.url, "--json", "-n", "1"),
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert b"\xc2\x9b" in result.stdout and "\u202e".encode() in result.stdout
    assert json.loads(result.stdout)["data"] == HOSTILE


@pytest.mark.parametrize("command", ["listen", "send", "connect"])
def test_raw_binary_to_a_terminal_is_refused(command: str) -> None:
    # Refused before connecting: nothing listens on this port.
    args = [command, "ws://127.0.0.1:9/", "--binary-format", "raw"]
    code, output, stderr = run_on_terminal(args + (["hi"] if command == "send" else []))
    assert code == 2
    assert stderr.splitlines() == [
        "wsctl: error: --binary-format raw: refusing to write binary data to a terminal; "
        f"redirect stdout to a file or a pipe, or add --force (see 'wsctl {command} --help')"
    ]
    assert output == b""


def test_raw_binary_to_a_terminal_with_force(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(send_hostile)
    code, output, stderr = run_on_terminal(
        ["listen", server.url, "--binary-format", "raw", "--force"]
    )
    assert code == 0, stderr
    assert b"\x1b]0;pwned\x07\x00\xff" in output


def test_raw_binary_in_a_pipe_needs_no_force(make_server: Callable[..., LoopbackServer]) -> None:
    server = make_server(send_hostile)
    result = invoke(["listen", server.url, "--binary-format", "raw"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.endswith(b"\x1b]0;pwned\x07\x00\xff")
