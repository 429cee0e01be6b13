"""Address rules enforced at connect time, against real loopback servers.

Listeners bind 127.0.0.1, 127.0.0.2 and ::1 and count the TCP connections they accept; names
are resolved by a resolver the test injects (never the network).  Each "zero accepts" case
where it matters is paired with a control run in which the same listener does see the
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import TIMEOUT, LoopThread, invoke
from test_proxy import Proxy
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

import wsctl
from wsctl import dialing
from wsctl.errors import ConnectionFailed, PermissionDenied, Timeout
from wsctl.policy import AddressDenied, PolicySet, parse_policy
from wsctl.settings import ConnectOptions

PROXY_VARIABLES = [f"{name}_proxy" for name in ("http", "https", "all", "no")]


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await body()

    asyncio.run(bounded())


def policy(text: str, source: str = "p.toml") -> PolicySet:
    return PolicySet((parse_policy("version = 1\n" + text, source),))


def deny_addresses(*resources: str, extra: str = "") -> PolicySet:
    """Default allow; one address rule denying ``resources``."""
    listed = ", ".join(f'"{r}"' for r in resources)
    return policy(
        f'default = "allow"\n{extra}[[rule]]\nname = "no-internal"\n'
        f'actions = "websocket.connect.address"\nresources = [{listed}]\neffect = "deny"\n'
    )


class Resolver:
    """Answers from a table; a list of answers per name is used in turn (the last repeats)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        answers = self.table[host]
        answer = answers[min(self.calls.count(host), len(answers) - 1)]
        self.calls.append(host)
        return answer


def resolver(**names: str | list[str]) -> Resolver:
    """``resolver(**{"a.test": "127.0.0.1"})``: one fixed answer per name."""
    return Resolver(
        {name: [[value] if isinstance(value, str) else value] for name, value in names.items()}
    )


class Listener:
    """A TCP listener that counts accepted connections and never answers."""

    def __init__(self, server: asyncio.Server) -> None:
        self.server = server
        self.accepted = 0
        self.port: int = server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def listening(host: str, port: int = 0) -> AsyncIterator[Listener]:
    writers: list[asyncio.StreamWriter] = []
    box: list[Listener] = []

    async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        box[0].accepted += 1
        writers.append(writer)  # held open and silent

    server = await asyncio.start_server(on_accept, host, port)
    box.append(Listener(server))
    try:
        yield box[0]
    finally:
        for writer in writers:
            writer.close()
        server.close()


async def echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


def options(policies: PolicySet, resolve: Resolver | None = None, **kwargs: Any) -> ConnectOptions:
    kwargs.setdefault("dial_timeout", 2.0)
    return ConnectOptions(policy=policies, resolver=resolve, **kwargs)


async def roundtrip(url: str, opts: ConnectOptions) -> str | bytes | None:
    async with wsctl.connect(url, opts) as client:
        await client.send("hi")
        message = await client.recv()
        return message.data if message is not None else None


# --------------------------------------------------------------------------- direct


def test_name_resolving_to_a_denied_address_gets_no_tcp_connection() -> None:
    async def body() -> None:
        async with listening("127.0.0.2") as target:
            url = f"ws://internal.test:{target.port}/"
            names = resolver(**{"internal.test": "127.0.0.2"})
            with pytest.raises(AddressDenied) as caught:
                await wsctl.connect(url, options(deny_addresses("127.0.0.2"), names))
            assert target.accepted == 0
            assert caught.value.address == "127.0.0.2"
            assert caught.value.rule == "no-internal"
            assert caught.value.retryable is False
            assert str(caught.value) == (
                f"connection to ws://internal.test:{target.port}/ denied by p.toml"
                ' (rule "no-internal"): internal.test resolves to 127.0.0.2'
            )
            # Control: allowed, the same name reaches the same listener (which never answers).
            with pytest.raises(Timeout):
                await wsctl.connect(
                    url, options(deny_addresses("10.0.0.0/8"), names, dial_timeout=0.3)
                )
            assert target.accepted == 1

    run(body)


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "127.0.0.2", "[::ffff:127.0.0.1]"])
def test_loopback_class_covers_every_way_to_reach_this_host(host: str) -> None:
    async def body() -> None:
        async with (
            listening("127.0.0.1") as v4,
            listening("127.0.0.2", v4.port) as v4b,
            listening("::1", v4.port) as v6,
        ):
            url = f"ws://{host}:{v4.port}/"
            with pytest.raises(AddressDenied) as caught:
                await wsctl.connect(url, options(deny_addresses("loopback")))
            assert (v4.accepted, v4b.accepted, v6.accepted) == (0, 0, 0)
            assert caught.value.rule == "no-internal"
            # Control: without the policy the same URL does reach one of the listeners.
            with pytest.raises(Timeout):
                await wsctl.connect(url, options(PolicySet(), dial_timeout=0.3))
            assert v4.accepted + v4b.accepted + v6.accepted == 1

    run(body)


def test_rebinding_resolver_cannot_swap_the_checked_address() -> None:
    async def body() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with listening("127.0.0.2", port) as internal:
                names = Resolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
                opts = options(deny_addresses("127.0.0.2"), names)
                url = f"ws://rebind.test:{port}/"
                # Resolved once, checked, and connected to that very address: the second
                # (denied) answer is never asked for during this connection.
                assert await roundtrip(url, opts) == "hi"
                assert names.calls == ["rebind.test"]
                assert internal.accepted == 0
                # The next connection resolves again, gets the denied answer, and stops.
                with pytest.raises(AddressDenied):
                    await wsctl.connect(url, opts)
                assert internal.accepted == 0

    run(body)


def test_any_denied_address_denies_the_name() -> None:
    async def body() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with listening("127.0.0.2", port) as internal:
                names = resolver(**{"both.test": ["127.0.0.1", "127.0.0.2"]})
                with pytest.raises(AddressDenied) as caught:
                    await wsctl.connect(
                        f"ws://both.test:{port}/", options(deny_addresses("127.0.0.2"), names)
                    )
                assert caught.value.address == "127.0.0.2"
                assert internal.accepted == 0

    run(body)


def test_each_retry_resolves_and_checks_again() -> None:
    async def body() -> None:
        async with listening("127.0.0.2") as internal:
            # Nothing listens on 127.0.0.1 at that port: the first attempt is refused.
            names = Resolver({"flaky.test": [["127.0.0.1"], ["127.0.0.2"]]})
            opts = options(deny_addresses("127.0.0.2"), names, retries=3, retry_delay=0.01)
            with pytest.raises(AddressDenied):
                await wsctl.connect(f"ws://flaky.test:{internal.port}/", opts)
            assert names.calls == ["flaky.test", "flaky.test"]
            assert internal.accepted == 0

    run(body)


def test_redirect_to_a_name_resolving_to_a_denied_address_is_refused() -> None:
    async def body() -> None:
        async with listening("127.0.0.2") as internal:
            location = f"ws://internal.test:{internal.port}/landing"
            requests: list[str] = []

            def redirect(connection: ServerConnection, request: Request) -> Response:
                requests.append(request.path)
                headers = Headers([("Location", location), ("Content-Length", "0")])
                return Response(302, "Found", headers)

            async with serve(echo, "127.0.0.1", 0, process_request=redirect) as server:
                port = server.sockets[0].getsockname()[1]
                names = resolver(**{"internal.test": "127.0.0.2", "public.test": "127.0.0.1"})
                with pytest.raises(AddressDenied) as caught:
                    await wsctl.connect(
                        f"ws://public.test:{port}/start",
                        options(deny_addresses("127.0.0.2"), names),
                    )
            assert requests == ["/start"]
            assert names.calls == ["public.test", "internal.test"]
            assert internal.accepted == 0
            assert "internal.test resolves to 127.0.0.2" in str(caught.value)

    run(body)


def test_ipv6_loopback_server_reached_by_its_checked_address() -> None:
    async def body() -> None:
        async with serve(echo, "::1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            names = resolver(**{"six.test": "::1"})
            assert (
                await roundtrip(f"ws://six.test:{port}/", options(deny_addresses("private"), names))
                == "hi"
            )
            with pytest.raises(AddressDenied):
                await wsctl.connect(f"ws://six.test:{port}/", options(deny_addresses("::1"), names))

    run(body)


def test_no_address_rules_no_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: Any) -> Any:
        raise AssertionError("address checks ran without address rules")

    monkeypatch.setattr(dialing, "open_checked", refuse)
    urls_only = policy(
        '[[rule]]\nname = "all"\nactions = "*"\nresources = ["*"]\neffect = "allow"\n'
    )
    assert not urls_only.checks_addresses

    async def body() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            assert await roundtrip(f"ws://127.0.0.1:{port}/", options(urls_only)) == "hi"

    run(body)


# --------------------------------------------------------------------------- TLS


def test_tls_verifies_the_name_while_connecting_to_the_checked_address(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def context(name: str, seen: list[str | None]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(ctx)
        ctx.sni_callback = lambda sock, server_name, _: seen.append(server_name)  # type: ignore[assignment,misc,return-value]
        return ctx

    async def body() -> None:
        names = resolver(**{"test.example": "127.0.0.1"})
        rules = deny_addresses("private", "cloud-metadata")
        seen: list[str | None] = []
        async with serve(echo, "127.0.0.1", 0, ssl=context("test.example", seen)) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"wss://test.example:{port}/"
            assert await roundtrip(url, options(rules, names, cacert=str(ca_file))) == "hi"
        assert seen == ["test.example"]  # SNI is the name, not the address
        assert names.calls == ["test.example"]
        async with serve(echo, "127.0.0.1", 0, ssl=context("other.example", [])) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(ConnectionFailed, match="certificate verification failed"):
                await wsctl.connect(
                    f"wss://test.example:{port}/", options(rules, names, cacert=str(ca_file))
                )

    run(body)


# --------------------------------------------------------------------------- proxies


def test_denied_proxy_url_gets_no_byte() -> None:
    async def body() -> None:
        async with listening("127.0.0.1") as proxy:
            rules = policy(
                'default = "allow"\n[[rule]]\nname = "no-local-proxy"\n'
                'actions = "websocket.connect.proxy"\nresources = "http://127.0.0.1:*"\n'
                'effect = "deny"\n'
            )
            opts = options(rules, proxy=f"http://user:s3cret@127.0.0.1:{proxy.port}")
            with pytest.raises(PermissionDenied) as caught:
                await wsctl.connect("ws://127.0.0.2:9/", opts)
            assert proxy.accepted == 0
            assert str(caught.value) == (
                f"proxy http://127.0.0.1:{proxy.port} (for ws://127.0.0.2:9/) denied by p.toml"
                ' (rule "no-local-proxy")'
            )
            assert "s3cret" not in str(caught.value)

    run(body)


def test_proxy_name_resolving_to_a_denied_address_gets_no_byte() -> None:
    async def body() -> None:
        async with listening("127.0.0.2") as proxy:
            names = resolver(**{"proxy.test": "127.0.0.2"})
            opts = options(
                deny_addresses("127.0.0.2"), names, proxy=f"http://proxy.test:{proxy.port}"
            )
            with pytest.raises(AddressDenied) as caught:
                await wsctl.connect("ws://127.0.0.1:9/", opts)
            assert proxy.accepted == 0
            assert str(caught.value).startswith(f"proxy http://proxy.test:{proxy.port} (for ")
            assert str(caught.value).endswith("proxy.test resolves to 127.0.0.2")

    run(body)


@pytest.mark.parametrize("scheme", ["http", "socks5h"])
def test_proxy_that_resolves_the_name_itself_is_denied_unless_trusted(scheme: str) -> None:
    async def body() -> None:
        async with listening("127.0.0.1") as proxy:
            opts = options(deny_addresses("10.0.0.0/8"), proxy=f"{scheme}://127.0.0.1:{proxy.port}")
            with pytest.raises(PermissionDenied) as caught:
                await wsctl.connect("ws://target.test/", opts)
            assert proxy.accepted == 0
            assert "the proxy resolves target.test itself" in str(caught.value)
            assert 'proxy_resolution = "trust"' in str(caught.value)
            # Trusted: the proxy is asked (and, being silent, times out the dial).
            trusting = deny_addresses("10.0.0.0/8", extra='proxy_resolution = "trust"\n')
            opts = options(trusting, proxy=f"{scheme}://127.0.0.1:{proxy.port}", dial_timeout=0.3)
            with pytest.raises((Timeout, ConnectionFailed)):
                await wsctl.connect("ws://target.test/", opts)
            assert proxy.accepted == 1

    run(body)


def test_http_proxy_to_an_ip_target_checks_it_locally(server_loop: LoopThread) -> None:
    tunnel = Proxy(server_loop, "http")
    try:

        async def body() -> None:
            async with serve(echo, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                via = f"http://127.0.0.1:{tunnel.port}"
                assert (
                    await roundtrip(
                        f"ws://127.0.0.1:{port}/", options(deny_addresses("127.0.0.2"), proxy=via)
                    )
                    == "hi"
                )
                with pytest.raises(AddressDenied):
                    await wsctl.connect(
                        f"ws://127.0.0.2:{port}/", options(deny_addresses("127.0.0.2"), proxy=via)
                    )
            assert [t.target for t in tunnel.log.tunnels] == [f"127.0.0.1:{port}"]

        run(body)
    finally:
        tunnel.close()


def test_socks5_target_is_resolved_and_checked_here(server_loop: LoopThread) -> None:
    tunnel = Proxy(server_loop, "socks5")
    try:

        async def body() -> None:
            async with serve(echo, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                names = resolver(**{"good.test": "127.0.0.1", "bad.test": "127.0.0.2"})
                opts = options(
                    deny_addresses("127.0.0.2"), names, proxy=f"socks5://127.0.0.1:{tunnel.port}"
                )
                assert await roundtrip(f"ws://good.test:{port}/", opts) == "hi"
                with pytest.raises(AddressDenied):
                    await wsctl.connect(f"ws://bad.test:{port}/", opts)
            # The proxy was given the checked address, not the name; the denied one never.
            assert [t.target for t in tunnel.log.tunnels] == [f"127.0.0.1:{port}"]

        run(body)
    finally:
        tunnel.close()


# --------------------------------------------------------------------------- command line

ADDRESS_POLICY = """\
version = 1
default = "allow"

[[rule]]
name = "no-internal"
actions = "websocket.connect.address"
resources = ["loopback", "10.0.0.0/8"]
effect = "deny"
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(ADDRESS_POLICY)
    return str(path)


def test_cli_send_to_a_denied_name_exits_3_without_connecting(
    policy_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dialing, "default_resolver", resolver(**{"db.test": "127.0.0.2"}))
    with socket.create_server(("127.0.0.2", 0)) as listener:
        port = listener.getsockname()[1]
        result = invoke(["send", f"ws://db.test:{port}/", "hi", "--policy", policy_file])
        # Any TCP connection wsctl made would be waiting in the accept queue now.
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("wsctl: ")
    assert line.endswith(
        f"connection to ws://db.test:{port}/ denied by {policy_file}"
        ' (rule "no-internal"): db.test resolves to 127.0.0.2'
    )


def test_policy_check_resolves_and_shows_each_address(
    policy_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        dialing, "default_resolver", resolver(**{"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    )
    result = invoke(["policy", "check", "wss://mixed.test/ws", "--policy", policy_file])
    assert result.exit_code == 3
    assert result.lines == [
        "deny wss://mixed.test:443/ws",
        f"  websocket.connect: allowed by {policy_file} (no rule matched, default allow)",
        f"  websocket.connect.url: allowed by {policy_file} (no rule matched, default allow)",
        f"  websocket.connect.address 93.184.216.34 (mixed.test): allowed by {policy_file}"
        " (no rule matched, default allow)",
        f"  websocket.connect.address 10.1.2.3 (mixed.test): denied by {policy_file}"
        ' (rule "no-internal")',
    ]
    result = invoke(["policy", "check", "wss://mixed.test/ws", "--policy", policy_file, "--json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["allowed"] is False
    assert report["url"] == "wss://mixed.test:443/ws"
    assert [(c["action"], c.get("address"), c["allowed"], c["rule"]) for c in report["checks"]] == [
        ("websocket.connect", None, True, None),
        ("websocket.connect.url", None, True, None),
        ("websocket.connect.address", "93.184.216.34", True, None),
        ("websocket.connect.address", "10.1.2.3", False, "no-internal"),
    ]


def test_policy_check_no_resolve_and_literals(
    policy_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dialing, "default_resolver", Resolver({}))  # any lookup fails the test
    result = invoke(["policy", "check", "ws://db.test/", "--no-resolve", "--policy", policy_file])
    assert result.exit_code == 0
    assert (
        result.lines[-1]
        == "  websocket.connect.address: not checked (--no-resolve): db.test is a name"
    )
    result = invoke(
        ["policy", "check", "ws://[::ffff:127.0.0.1]:8/", "--no-resolve", "--policy", policy_file]
    )
    assert result.exit_code == 3
    assert result.lines[-1] == (
        f'  websocket.connect.address 127.0.0.1: denied by {policy_file} (rule "no-internal")'
    )


def test_policy_check_reports_the_proxy(policy_file: str) -> None:
    result = invoke(
        [
            "policy",
            "check",
            "ws://db.test/",
            "--proxy",
            "http://u:pw@10.0.0.1:3128",
            "--policy",
            policy_file,
        ]
    )
    assert result.exit_code == 3
    assert result.lines[3:] == [
        f"  websocket.connect.proxy http://10.0.0.1:3128: allowed by {policy_file}"
        " (no rule matched, default allow)",
        f"  websocket.connect.address: denied by {policy_file}: the proxy would resolve db.test"
        ' itself, so its address cannot be checked (proxy_resolution = "deny")',
        f"  websocket.connect.address 10.0.0.1 (proxy 10.0.0.1): denied by {policy_file}"
        ' (rule "no-internal")',
    ]
    assert "pw" not in result.stdout


def test_policy_show_expands_classes_and_says_the_proxy_rule(policy_file: str) -> None:
    result = invoke(["policy", "show", "--policy", policy_file])
    assert result.exit_code == 0
    assert result.lines == [
        f"{policy_file} (--policy): version 1, default allow",
        '  line 4: rule "no-internal": deny websocket.connect.address on loopback'
        " (127.0.0.0/8, 0.0.0.0/8, ::1/128, ::/128), 10.0.0.0/8",
        "  address rules: names are resolved once and every address must be allowed;"
        " the connection goes to the checked address",
        '  proxy_resolution = "deny": a target name that a proxy would resolve itself'
        " (HTTP CONNECT, socks5h, socks4a) is denied; socks5:// is checked here",
        "a proxy must be allowed too (websocket.connect.proxy, and its addresses by the"
        " address rules)",
    ]


def test_verbose_says_which_addresses_were_checked(
    policy_file: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, echo_server: Any
) -> None:
    allow = tmp_path / "allow.toml"
    allow.write_text(ADDRESS_POLICY.replace('"loopback", ', ""))
    monkeypatch.setattr(dialing, "default_resolver", resolver(**{"echo.test": "127.0.0.1"}))
    url = f"ws://echo.test:{echo_server.port}/"
    result = invoke(["send", url, "hi", "-v", "--policy", str(allow)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hi\n"
    assert "address rules: echo.test → 127.0.0.1 allowed" in result.stderr


def test_python_api_takes_policy_and_resolver_as_keywords() -> None:
    async def body() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            names = resolver(**{"api.test": "127.0.0.1"})
            url = f"ws://api.test:{port}/"
            async with wsctl.connect(url, policy=deny_addresses("private"), resolver=names) as c:
                await c.send("hi")
                assert await c.recv() == ("text", "hi")
            with pytest.raises(PermissionDenied) as caught:
                await wsctl.connect(url, policy=deny_addresses("loopback"), resolver=names)
            assert isinstance(caught.value, AddressDenied)
            assert caught.value.kind == "PERMISSION_DENIED"

    run(body)


def test_ping_times_the_handshake_of_a_checked_connection(
    policy_file: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, echo_server: Any
) -> None:
    allow = tmp_path / "allow.toml"
    allow.write_text(ADDRESS_POLICY.replace('"loopback", ', ""))
    monkeypatch.setattr(dialing, "default_resolver", resolver(**{"echo.test": "127.0.0.1"}))
    url = f"ws://echo.test:{echo_server.port}/"
    result = invoke(["ping", url, "-c", "1", "--json", "--policy", str(allow)])
    assert result.exit_code == 0, result.stderr
    handshake = json.loads(result.stdout)["timings_ms"]["handshake"]
    # The socket comes ready-made (sock=): the attempt is still measured from its start.
    assert handshake["total"] is not None
    assert handshake["tcp"] is not None
    assert handshake["upgrade"] is not None


def test_https_proxy_dialled_by_address_is_verified_by_name(
    server_loop: LoopThread, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    proxy_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("proxy.test").configure_cert(proxy_context)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    tunnel = Proxy(server_loop, "http", tls=proxy_context)
    try:

        async def body() -> None:
            async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
                port = server.sockets[0].getsockname()[1]
                names = resolver(**{"proxy.test": "127.0.0.1"})
                opts = options(
                    deny_addresses("private"),
                    names,
                    proxy=f"https://proxy.test:{tunnel.port}",
                    cacert=str(ca_file),
                )
                assert await roundtrip(f"wss://127.0.0.1:{port}/", opts) == "hi"
            assert names.calls == ["proxy.test"]
            assert [t.target for t in tunnel.log.tunnels] == [f"127.0.0.1:{port}"]

        run(body)
    finally:
        tunnel.close()


def test_environment_proxy_denied_gets_no_byte_and_no_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The issue's case: http_proxy names a host the policy does not allow.
    path = tmp_path / "policy.toml"
    path.write_text(
        'version = 1\ndefault = "deny"\n[[rule]]\nname = "on"\nactions = "websocket.connect"\n'
        'effect = "allow"\n[[rule]]\nname = "apis"\nactions = "websocket.connect.url"\n'
        'resources = "ws://*:*/**"\neffect = "allow"\n'
    )
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        monkeypatch.setenv("http_proxy", f"http://alice:s3cret@127.0.0.1:{port}")
        result = invoke(["send", "ws://127.0.0.2:9/", "hi", "--policy", str(path)])
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert line.endswith(
        f"proxy http://127.0.0.1:{port} (for ws://127.0.0.2:9/) denied by {path}"
        " (no rule matched, default deny, action websocket.connect.proxy)"
    )
    assert "s3cret" not in result.stderr


def test_name_that_does_not_resolve_is_a_connection_failure() -> None:
    async def body() -> None:
        names = resolver(**{"void.test": []})
        with pytest.raises(ConnectionFailed, match="cannot resolve host"):
            await wsctl.connect("ws://void.test/", options(deny_addresses("private"), names))

    run(body)


def test_policy_check_single_actions(policy_file: str, tmp_path: Path) -> None:
    urls_only = tmp_path / "urls.toml"
    urls_only.write_text('version = 1\ndefault = "allow"\n')
    result = invoke(
        ["policy", "check", "ws://10.0.0.1/", "--action", "websocket.connect.address",
         "--policy", str(urls_only)]
    )  # fmt: skip
    assert (result.exit_code, result.lines) == (
        0,
        [
            "allow ws://10.0.0.1:80/",
            "  websocket.connect.address: allowed: no address rules in force",
        ],
    )
    result = invoke(
        ["policy", "check", "ws://10.0.0.1/", "--action", "websocket.connect.address",
         "--policy", policy_file]
    )  # fmt: skip
    assert result.exit_code == 3
    assert result.lines == [
        "deny ws://10.0.0.1:80/",
        f'  websocket.connect.address 10.0.0.1: denied by {policy_file} (rule "no-internal")',
    ]
    result = invoke(
        [
            "policy",
            "check",
            "ws://x/",
            "--action",
            "websocket.connect.proxy",
            "--policy",
            policy_file,
        ]
    )
    assert result.lines == ["allow ws://x:80/", "  websocket.connect.proxy: no proxy"]
