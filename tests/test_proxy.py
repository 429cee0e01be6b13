"""Proxies: real HTTP CONNECT and SOCKS5 proxies on loopback, started by the tests, that count
the tunnels they open; the environment variables; NO_PROXY; credentials kept secret."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import LoopbackServer, LoopThread, invoke

from wsctl.errors import InvalidInput
from wsctl.proxy import bypasses_proxy, choose_proxy, normalize_proxy_url

PROXY_VARIABLES = [f"{name}_proxy" for name in ("http", "https", "all", "no", "ws", "wss", "socks")]


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@dataclass
class Tunnel:
    """One tunnel a proxy opened: where to, and the credentials it was given."""

    target: str
    credentials: str | None = None


@dataclass
class ProxyLog:
    tunnels: list[Tunnel] = field(default_factory=list)
    refused: int = 0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter], host: str, port: int
) -> None:
    upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
    reader, writer = client
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


class Proxy:
    """A real proxy on 127.0.0.1:0 in the server thread: ``http`` (CONNECT) or ``socks5``."""

    def __init__(
        self,
        loop: LoopThread,
        kind: str,
        *,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.log = ProxyLog()
        self.kind = kind
        self.credentials = credentials
        self._loop = loop
        handler = self._http if kind == "http" else self._socks5

        async def start() -> asyncio.Server:
            return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)

        self._server: asyncio.Server = loop.call(start())
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()

        self._loop.call(stop())

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method, target, _ = request_line.split(" ")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in header_lines if line)
        )
        credentials = headers.get("proxy-authorization")
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if credentials != expected:
                self.log.refused += 1
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                await writer.drain()
                writer.close()
                return
        assert method == "CONNECT"
        self.log.tunnels.append(Tunnel(target, credentials))
        host, _, port = target.rpartition(":")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _splice((reader, writer), host.strip("[]"), int(port))

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        assert version == 5
        methods = await reader.readexactly(count)
        credentials = None
        if self.credentials is not None:
            assert 2 in methods, "the client offered no user/password authentication"
            writer.write(b"\x05\x02")
            await reader.readexactly(1)
            user = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            credentials = f"{user}:{password}"
            if (user, password) != self.credentials:
                self.log.refused += 1
                writer.write(b"\x01\x01")
                await writer.drain()
                writer.close()
                return
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        _, command, _, address_type = await reader.readexactly(4)
        assert command == 1  # CONNECT
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif address_type == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.log.tunnels.append(Tunnel(f"{host}:{port}", credentials))
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")
        await writer.drain()
        await _splice((reader, writer), host, port)


@pytest.fixture
def make_proxy(server_loop: LoopThread) -> Iterator[Callable[..., Proxy]]:
    proxies: list[Proxy] = []

    def factory(kind: str = "http", **kwargs: Any) -> Proxy:
        proxy = Proxy(server_loop, kind, **kwargs)
        proxies.append(proxy)
        return proxy

    yield factory
    for proxy in proxies:
        proxy.close()


# -- explicit --proxy ------------------------------------------------------------------------


def test_http_proxy_tunnels_the_connection(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy]
) -> None:
    proxy = make_proxy()
    result = invoke(
        [
            "send",
            echo_server.url,
            "via proxy",
            "--proxy",
            f"http://127.0.0.1:{proxy.port}",
            "-v",
            "--wait",
            "1",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["via proxy"]
    assert [tunnel.target for tunnel in proxy.log.tunnels] == [f"127.0.0.1:{echo_server.port}"]
    assert echo_server.recorder.messages == ["via proxy"]
    assert f"wsctl: proxy http://127.0.0.1:{proxy.port} (from --proxy)" in result.stderr


def test_proxy_credentials_are_sent_and_never_shown(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy]
) -> None:
    proxy = make_proxy(credentials=("alice", "s3cr3t pw"))
    url = f"http://alice:s3cr3t%20pw@127.0.0.1:{proxy.port}"
    result = invoke(["send", echo_server.url, "hi", "--proxy", url, "-v", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    expected = "Basic " + base64.b64encode(b"alice:s3cr3t pw").decode()
    assert [tunnel.credentials for tunnel in proxy.log.tunnels] == [expected]
    assert "s3cr3t" not in result.stderr
    assert f"proxy http://alice:<redacted>@127.0.0.1:{proxy.port} (from --proxy)" in (result.stderr)


def test_proxy_authentication_required_is_explained(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy]
) -> None:
    proxy = make_proxy(credentials=("alice", "right"))
    url = f"http://alice:wrong@127.0.0.1:{proxy.port}"
    result = invoke(["send", echo_server.url, "hi", "--proxy", url, "--retry", "2"])
    assert result.exit_code == 4
    assert "requires authentication (HTTP 407)" in result.stderr
    assert "wrong" not in result.stderr
    assert proxy.log.refused == 1  # a 407 is not retried
    assert echo_server.recorder.connections == 0


def test_unreachable_proxy_is_named_in_the_error(echo_server: LoopbackServer) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = invoke(["send", echo_server.url, "hi", "--proxy", f"http://u:pw@127.0.0.1:{port}"])
    assert result.exit_code == 4
    assert "connection refused" in result.stderr
    assert f"through proxy http://u:<redacted>@127.0.0.1:{port} (from --proxy)" in result.stderr
    assert "pw@" not in result.stderr


def test_wss_through_an_http_proxy_and_an_https_proxy(
    make_server: Callable[..., LoopbackServer],
    make_proxy: Callable[..., Proxy],
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server = make_server(ssl=server_context)
    url = f"wss://127.0.0.1:{server.port}/"
    plain = make_proxy()
    tls = make_proxy(tls=server_context)  # the proxy's own certificate, from the same CA
    for proxy_url, proxy in (
        (f"http://127.0.0.1:{plain.port}", plain),
        (f"https://127.0.0.1:{tls.port}", tls),
    ):
        result = invoke(
            [
                "send",
                url,
                "tls in a tunnel",
                "--proxy",
                proxy_url,
                "--cacert",
                str(ca_file),
                "--wait",
                "1",
            ]
        )
        assert result.exit_code == 0, result.stderr
        assert result.lines == ["tls in a tunnel"]
        assert [tunnel.target for tunnel in proxy.log.tunnels] == [f"127.0.0.1:{server.port}"]


# -- the environment -------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"])
def test_environment_proxy_for_ws(
    echo_server: LoopbackServer,
    make_proxy: Callable[..., Proxy],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    proxy = make_proxy()
    monkeypatch.setenv(variable, f"127.0.0.1:{proxy.port}")  # no scheme: an HTTP proxy
    result = invoke(["send", echo_server.url, "hi", "-v", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert len(proxy.log.tunnels) == 1
    assert f"(from {variable})" in result.stderr


def test_https_proxy_variable_is_not_used_for_ws(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = make_proxy()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    result = invoke(["send", echo_server.url, "hi", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert proxy.log.tunnels == []


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "localhost, 127.0.0.0/8", "*", "127.0.0.1:{port}", ".0.0.1"]
)
def test_no_proxy_is_honoured(
    echo_server: LoopbackServer,
    make_proxy: Callable[..., Proxy],
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    proxy = make_proxy()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=echo_server.port))
    result = invoke(["send", echo_server.url, "direct", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["direct"]
    assert proxy.log.tunnels == []


def test_no_proxy_for_another_port_still_uses_the_proxy(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = make_proxy()
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("no_proxy", f"example.com,127.0.0.1:{echo_server.port + 1}")
    result = invoke(["send", echo_server.url, "hi", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert len(proxy.log.tunnels) == 1


def test_no_proxy_flag_ignores_the_environment(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = make_proxy()
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{proxy.port}")
    result = invoke(["send", echo_server.url, "hi", "--no-proxy", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert proxy.log.tunnels == []


# -- SOCKS5 ----------------------------------------------------------------------------------


def test_socks5_proxy_with_credentials(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy]
) -> None:
    proxy = make_proxy("socks5", credentials=("bob", "hunter2"))
    result = invoke(
        [
            "send",
            echo_server.url,
            "socks",
            "--proxy",
            f"socks5://bob:hunter2@127.0.0.1:{proxy.port}",
            "-v",
            "--wait",
            "1",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["socks"]
    assert proxy.log.tunnels == [Tunnel(f"127.0.0.1:{echo_server.port}", "bob:hunter2")]
    assert "hunter2" not in result.stderr


def test_socks5h_resolves_names_on_the_proxy(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = make_proxy("socks5")
    monkeypatch.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxy.port}")
    url = f"ws://localhost:{echo_server.port}/"
    result = invoke(["send", url, "by name", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    # socks5h hands the name itself to the proxy; socks5 would send a resolved address.
    assert [tunnel.target for tunnel in proxy.log.tunnels] == [f"localhost:{echo_server.port}"]


def test_socks5_wrong_password_is_not_retried(
    echo_server: LoopbackServer, make_proxy: Callable[..., Proxy]
) -> None:
    proxy = make_proxy("socks5", credentials=("bob", "right"))
    result = invoke(
        [
            "send",
            echo_server.url,
            "hi",
            "--proxy",
            f"socks5://bob:wrong@127.0.0.1:{proxy.port}",
            "--retry",
            "2",
            "--retry-delay",
            "10ms",
        ]
    )
    assert result.exit_code == 4
    assert f"through proxy socks5://bob:<redacted>@127.0.0.1:{proxy.port}" in result.stderr
    assert proxy.log.refused == 1


def test_missing_python_socks_says_how_to_install_it(
    echo_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def without_python_socks(name: str, *args: Any) -> Any:
        return None if name == "python_socks" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_python_socks)
    result = invoke(["send", echo_server.url, "hi", "--proxy", "socks5://127.0.0.1:1080"])
    assert result.exit_code == 2
    assert "pip install 'wsctl[socks]'" in result.stderr
    assert echo_server.recorder.connections == 0


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "environment", "message"),
    [
        (["--proxy", "ftp://127.0.0.1:21"], {}, "scheme ftp:// is not supported"),
        (["--proxy", "http://alice@127.0.0.1:3128"], {}, "a user name needs a password"),
        (["--proxy", "http://127.0.0.1:3128/path"], {}, "a proxy URL has no path"),
        (["--proxy", "http://127.0.0.1:99999"], {}, "invalid proxy"),
        (["--proxy", "http://127.0.0.1:1", "--no-proxy"], {}, "not both"),
        ([], {"HTTP_PROXY": "gopher://u:secret@127.0.0.1"}, "(HTTP_PROXY)"),
    ],
)
def test_bad_proxy_exits_2_before_connecting(
    echo_server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    environment: dict[str, str],
    message: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = invoke(["send", echo_server.url, "hi", *args])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "secret" not in result.stderr
    assert echo_server.recorder.connections == 0


# -- the pure rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        ("example.com", 80, "example.com", True),
        ("api.example.com", 80, "example.com", True),
        ("api.example.com", 80, ".example.com", True),
        ("api.example.com", 80, "*.example.com", True),
        ("badexample.com", 80, "example.com", False),
        ("example.com", 80, "example.com:8080", False),
        ("example.com", 8080, "example.com:8080", True),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("::1", 80, "::1", True),
        ("::1", 8080, "[::1]:8080", True),
        ("EXAMPLE.com", 80, " Example.COM ", True),
        ("anything", 1, "*", True),
        ("example.com", 80, "", False),
    ],
)
def test_no_proxy_matching(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypassed


@pytest.mark.parametrize(
    ("url", "environment", "expected"),
    [
        ("wss://h/", {"HTTPS_PROXY": "p:1"}, ("http://p:1", "HTTPS_PROXY")),
        ("wss://h/", {"HTTP_PROXY": "http://p:1"}, None),
        ("ws://h/", {"HTTP_PROXY": "http://p:1"}, ("http://p:1", "HTTP_PROXY")),
        (
            "ws://h/",
            {"http_proxy": "http://a:1", "HTTP_PROXY": "http://b:1"},
            ("http://a:1", "http_proxy"),
        ),
        ("ws://h/", {"ALL_PROXY": "socks5h://p"}, ("socks5h://p:1080", "ALL_PROXY")),
        ("wss://h/", {"https_proxy": "https://p"}, ("https://p:443", "https_proxy")),
        ("ws://h/", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "h"}, None),
        ("ws://h/", {"HTTP_PROXY": ""}, None),
    ],
)
def test_choose_proxy(
    url: str, environment: dict[str, str], expected: tuple[str, str] | None
) -> None:
    choice = choose_proxy(url, explicit=None, disabled=False, environ=environment)
    assert (None if choice is None else (choice.url, choice.source)) == expected


def test_explicit_proxy_wins_over_no_proxy() -> None:
    choice = choose_proxy(
        "ws://h/", explicit="socks5://p", disabled=False, environ={"NO_PROXY": "*"}
    )
    assert choice is not None and choice.url == "socks5://p:1080"
    assert choose_proxy("ws://h/", explicit=None, disabled=True, environ={"ALL_PROXY": "p"}) is None


def test_normalize_keeps_credentials_and_hides_them_in_errors() -> None:
    assert normalize_proxy_url("http://u:p%40ss@[::1]") == "http://u:p%40ss@[::1]:80"
    with pytest.raises(InvalidInput) as error:
        normalize_proxy_url("http://u:hidden@h:70000")
    assert "hidden" not in str(error.value)
