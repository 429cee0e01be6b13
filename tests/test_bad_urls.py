"""Every subcommand that takes a URL, against a table of malformed URLs: exit 2, one line on
stderr in wsctl's own wording, and no secret from the URL in stderr or in a report.

The URLs point at 127.0.0.1:9 or unresolvable names: nothing may be sent anyway, since bad
input is rejected before any network I/O.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import invoke
from wsctl.errors import InvalidInput

SECRET = "s3cr3t-XYZ"

#: (id, URL, what the message must say).
BAD_URLS = [
    ("fragment", f"ws://u1:{SECRET}@127.0.0.1:9/p?token={SECRET}#frag", "#fragment"),
    ("fragment-token", f"ws://127.0.0.1:9/cb#access_token={SECRET}", "#fragment"),
    ("user-only", f"ws://{SECRET}@127.0.0.1:9/", "a user name needs a password"),
    ("empty-password", f"ws://u:@127.0.0.1:9/?token={SECRET}", "the password after 'user:'"),
    ("empty-user", f"ws://:{SECRET}@127.0.0.1:9/", "the user name before '@' is empty"),
    ("port-too-big", f"ws://u:{SECRET}@127.0.0.1:99999/", "port 99999 is out of range"),
    ("port-not-number", f"ws://u:{SECRET}@127.0.0.1:abc/", "invalid port 'abc'"),
    ("ipv6-unclosed", f"ws://u:{SECRET}@[::1/?key={SECRET}", "unclosed [ in the host"),
    ("ipv6-invalid", f"ws://[zz]:80/?api_key={SECRET}", "invalid IPv6 address [zz]"),
    ("space", f"ws://u:{SECRET}@127.0.0.1:9/a b", "contains a space"),
    ("escape", f"ws://127.0.0.1:9/\x1b]0;x\x07?token={SECRET}", "control or white-space"),
    ("crlf", f"ws://127.0.0.1:9/?session={SECRET}\r\nX-Injected: 1", "control or white-space"),
    ("nul", f"ws://127.0.0.1:9/\x00?secret={SECRET}", "control or white-space"),
    ("10kb", f"ws://127.0.0.1:9/?token={SECRET}&pad=" + "a" * 10240, "at most 8,192"),
    ("scheme", f"https://u:{SECRET}@127.0.0.1:9/", "must be ws:// or wss://"),
]

#: Each subcommand that takes a URL, with what it needs besides; True: it takes --report.
COMMANDS = [
    (["send"], ["hi"], True),
    (["listen"], [], True),
    (["ping"], [], True),
    (["connect"], [], False),
    (["policy", "check"], [], False),
    # run takes the URL from --url (overriding the file's) or from the file itself
    (["run", "--url"], [str(Path(__file__).parent.parent / "examples" / "jsonrpc.toml")], True),
]


@pytest.mark.parametrize(("name", "url", "says"), BAD_URLS, ids=[row[0] for row in BAD_URLS])
@pytest.mark.parametrize(
    ("command", "extra", "reports"), COMMANDS, ids=[" ".join(row[0]) for row in COMMANDS]
)
def test_bad_url(
    command: list[str],
    extra: list[str],
    reports: bool,
    name: str,
    url: str,
    says: str,
    tmp_path: Path,
) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    report_args = ["--report", str(report), "--report", f"junit:{junit}"] if reports else []
    result = invoke([*command, url, *extra, *report_args], input="")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wsctl: error: invalid URL '"), lines[0]
    assert says in lines[0]
    assert SECRET not in result.stderr
    assert result.stdout == ""
    # Bad input is rejected before the run starts, so no report is written; if one ever is,
    # it must not carry the secret either.
    for path in (report, junit):
        assert not path.exists() or SECRET not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "url", "says"), BAD_URLS, ids=[row[0] for row in BAD_URLS])
def test_bad_url_from_python(name: str, url: str, says: str) -> None:
    import wsctl

    async def body() -> None:
        async with wsctl.connect(url):
            pass

    with pytest.raises(InvalidInput) as caught:
        asyncio.run(body())
    assert says in str(caught.value)
    assert SECRET not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:9/",
        "WSS://Example.COM/ws?room=1",
        "ws://[::1]:9/",
        "ws://alice:pw@127.0.0.1:9/",
        "ws://h:/path",  # an empty port is the default port (RFC 3986)
        "wss://bücher.example/ws",
        "ws://h/" + "a" * 8000,
    ],
)
def test_good_urls_pass(url: str) -> None:
    from wsctl.urls import validate_url

    assert validate_url(url) == url


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--origin", "http://[::1", "unbalanced [ ] in the host"),
        ("--origin", "http://h:abc", "the port is not a number"),
        ("--proxy", f"http://u:{SECRET}@[::1", "unbalanced [ ] in the host"),
        ("--proxy", f"http://u:{SECRET}@h:99999", "the port is out of range (1-65535)"),
        ("--proxy", f"http://u:{SECRET}@[zz]:1", "the host in brackets is not an IPv6 address"),
    ],
)
def test_other_urls_are_explained_in_wsctls_words(option: str, value: str, says: str) -> None:
    # Never Python's "Invalid IPv6 URL" or "Port could not be cast to integer value".
    result = invoke(["send", "ws://127.0.0.1:9/", "hi", option, value])
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert says in result.stderr
    assert SECRET not in result.stderr


@pytest.mark.parametrize(
    "extra", [["--auth", "bob:x"], ["-H", "Authorization: Bearer t"], ["--bearer-env", "TOKEN"]]
)
def test_credentials_in_the_url_and_an_option_conflict(
    extra: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both would become an Authorization header: the server would get two.
    monkeypatch.setenv("TOKEN", "tok")
    result = invoke(["send", f"ws://alice:{SECRET}@127.0.0.1:9/", "hi", *extra])
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "wsctl: error: give credentials either in the URL (user:password@) or with "
        "--auth/--bearer-env/-H Authorization, not both\n"
    )
