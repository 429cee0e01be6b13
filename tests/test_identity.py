"""Auth and identity: --auth, --bearer-env, -H @FILE, --origin, --user-agent; secrets redacted."""

from __future__ import annotations

import base64
import http
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from conftest import TIMEOUT, LoopbackServer, invoke, wsctl_command
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


def recording(make_server: Callable[..., LoopbackServer]) -> tuple[LoopbackServer, list[Headers]]:
    """An echo server that keeps the headers of every upgrade request."""
    seen: list[Headers] = []

    def process_request(connection: ServerConnection, request: Request) -> None:
        seen.append(request.headers)

    return make_server(process_request=process_request), seen


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auth_sends_basic_credentials_and_verbose_hides_them(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server, seen = recording(make_server)
    result = invoke(["send", server.url, "hi", "--auth", "alice:pa:ss wörd", "-v", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert seen[0]["Authorization"] == basic("alice", "pa:ss wörd")
    assert "> Authorization: Basic <redacted>" in result.stderr
    assert "pa:ss" not in result.stderr
    assert base64.b64encode(b"alice:pa:ss w").decode()[:12] not in result.stderr


def test_auth_without_password_and_no_terminal_exits_2(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server, seen = recording(make_server)
    result = invoke(["send", server.url, "hi", "--auth", "alice"])
    assert result.exit_code == 2
    assert "no terminal to ask for it on" in result.stderr
    assert seen == []


def test_auth_password_is_asked_on_a_terminal(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server, seen = recording(make_server)
    command = wsctl_command("send", server.url, "typed", "--auth", "alice", "--wait", "1")
    child = pexpect.spawn(command[0], command[1:], timeout=TIMEOUT, encoding="utf-8")
    child.logfile_read = screen = io.StringIO()  # everything the terminal showed
    try:
        child.expect("Password for alice: ")
        child.sendline("from the keyboard")
        child.expect("typed")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "Password for alice: " in screen.getvalue()
    assert "from the keyboard" not in screen.getvalue()  # hidden input is not echoed
    assert seen[0]["Authorization"] == basic("alice", "from the keyboard")


def test_bearer_token_comes_from_the_environment(
    make_server: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, seen = recording(make_server)
    monkeypatch.setenv("WSCTL_TEST_TOKEN", "tok.en-123\n")
    result = invoke(["send", server.url, "hi", "--bearer-env", "WSCTL_TEST_TOKEN", "-v"])
    assert result.exit_code == 0, result.stderr
    assert seen[0]["Authorization"] == "Bearer tok.en-123"
    assert "> Authorization: Bearer <redacted>" in result.stderr
    assert "tok.en" not in result.stderr


def test_bearer_token_stays_out_of_the_process_list(
    make_server: Callable[..., LoopbackServer],
) -> None:
    """The token is named by variable on the command line, so `ps` never shows it."""
    server, seen = recording(make_server)
    command = wsctl_command("send", server.url, "hi", "--bearer-env", "TOKEN_VAR")
    completed = subprocess.run(
        command,
        env={"TOKEN_VAR": "in-the-env-only", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "in-the-env-only" not in " ".join(command)
    assert seen[0]["Authorization"] == "Bearer in-the-env-only"


@pytest.mark.parametrize(
    ("args", "environment", "message"),
    [
        (["--bearer-env", "WSCTL_TEST_UNSET"], {}, "WSCTL_TEST_UNSET is not set"),
        (["--bearer-env", "WSCTL_TEST_EMPTY"], {"WSCTL_TEST_EMPTY": ""}, "is empty"),
        (["--bearer-env", "WSCTL_TEST_BAD"], {"WSCTL_TEST_BAD": "a b"}, "white space"),
        (["--auth", "a:b", "--bearer-env", "WSCTL_TEST_OK"], {"WSCTL_TEST_OK": "t"}, "not both"),
        (["--auth", "a:b", "-H", "Authorization: x"], {}, "not both"),
        (["--auth", ":pw"], {}, "the user name is empty"),
        (["--origin", "example.com"], {}, "expected scheme://host"),
        (["--origin", "https://example.com/path"], {}, "no path"),
        (["--origin", "https://a.example", "-H", "Origin: https://b.example"], {}, "not both"),
        (["--user-agent", "x", "-H", "User-Agent: y"], {}, "not both"),
        (["-H", "@{missing}"], {}, "missing.txt': cannot read it"),
        (["-H", "@{bad}"], {}, "bad.txt': line 3: invalid header"),
    ],
)
def test_bad_identity_input_exits_2_before_connecting(
    make_server: Callable[..., LoopbackServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    environment: dict[str, str],
    message: str,
) -> None:
    server, seen = recording(make_server)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    bad = tmp_path / "bad.txt"
    bad.write_text("X-One: 1\n\nthis line has no colon\n")
    names = {"missing": str(tmp_path / "missing.txt"), "bad": str(bad)}
    result = invoke(["send", server.url, "hi", *(arg.format(**names) for arg in args)])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert seen == []


def test_headers_from_a_file(make_server: Callable[..., LoopbackServer], tmp_path: Path) -> None:
    server, seen = recording(make_server)
    headers = tmp_path / "headers.txt"
    headers.write_text(
        "# team defaults\nX-Team: blue\n\nX-Trace:  abc123 \r\nCookie: session=s3cret\n"
    )
    result = invoke(
        ["send", server.url, "hi", "-H", f"@{headers}", "-H", "X-Extra: 1", "-v", "--wait", "1"]
    )
    assert result.exit_code == 0, result.stderr
    assert seen[0]["X-Team"] == "blue"
    assert seen[0]["X-Trace"] == "abc123"
    assert seen[0]["Cookie"] == "session=s3cret"
    assert seen[0]["X-Extra"] == "1"
    assert "s3cret" not in result.stderr
    assert "> Cookie: <redacted>" in result.stderr


def test_origin_and_user_agent(make_server: Callable[..., LoopbackServer]) -> None:
    server, seen = recording(make_server)
    first = invoke(
        ["send", server.url, "hi", "-o", "https://app.example.com", "--user-agent", "probe/1.0"]
    )
    assert first.exit_code == 0, first.stderr
    assert seen[0]["Origin"] == "https://app.example.com"
    assert seen[0]["User-Agent"] == "probe/1.0"
    second = invoke(["send", server.url, "hi", "--user-agent", ""])
    assert second.exit_code == 0, second.stderr
    assert "User-Agent" not in seen[1]
    assert "Origin" not in seen[1]


def test_credentials_are_not_sent_across_origins_on_redirect(
    make_server: Callable[..., LoopbackServer],
) -> None:
    target, seen = recording(make_server)

    def redirect(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(http.HTTPStatus.FOUND, "")
        response.headers["Location"] = target.url
        return response

    origin = make_server(process_request=redirect)
    result = invoke(["send", origin.url, "hi", "--auth", "alice:secret", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 1
    assert "Authorization" not in seen[0]


def test_tokens_in_the_url_are_redacted_in_errors(
    make_server: Callable[..., LoopbackServer],
) -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(http.HTTPStatus.FORBIDDEN, "")

    server = make_server(process_request=forbid)
    result = invoke(["send", server.url + "?token=hunter2&room=7", "hi"])
    assert result.exit_code == 4
    assert "hunter2" not in result.stderr
    assert "token=<redacted>&room=7" in result.stderr


def test_python_api_identity(make_server: Callable[..., LoopbackServer]) -> None:
    import asyncio

    import wsctl

    server, seen = recording(make_server)

    async def body() -> None:
        async with asyncio.timeout(TIMEOUT):
            async with wsctl.connect(
                server.url, auth=("bob", "pw"), origin="null", user_agent="api/2"
            ):
                pass
            async with wsctl.connect(server.url, bearer_token="abc"):
                pass

    asyncio.run(body())
    assert seen[0]["Authorization"] == basic("bob", "pw")
    assert seen[0]["Origin"] == "null"
    assert seen[0]["User-Agent"] == "api/2"
    assert seen[1]["Authorization"] == "Bearer abc"
    assert "pw" not in repr(wsctl.ConnectOptions(auth=("bob", "pw")))
