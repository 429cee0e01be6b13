"""``wsctl ping`` against real loopback servers: healthy, lossy, refusing, silent, TLS."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import SCALE, TIMEOUT, LoopbackServer, LoopThread, Recorder, invoke, wsctl_command
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response

from wsctl.commands.ping import HandshakeClock, handshake_line

FAST = ["-i", "20ms"]
MakeServer = Callable[..., LoopbackServer]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback tests go direct whatever the machine's proxy variables say."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


class PingCountingConnection(ServerConnection):
    """Counts the Pings it receives and answers only those ``answer(n)`` accepts.

    websockets answers Pings inside its protocol object; wrapping that object's ``recv_frame``
    lets a real server drop chosen Pongs without faking anything on the client side.
    """

    pings: list[bytes]
    answer: Callable[[int], bool] = staticmethod(lambda n: True)

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        receive = protocol.recv_frame

        def recv_frame(frame: Frame) -> None:
            if frame.opcode is Opcode.PING:
                self.pings.append(frame.data)
                if not self.answer(len(self.pings)):
                    return  # swallowed: no Pong goes back
            receive(frame)

        protocol.recv_frame = recv_frame


def counting(answer: Callable[[int], bool] = lambda n: True) -> type[PingCountingConnection]:
    """A connection class with its own list of received Pings."""
    return type(
        "Counting", (PingCountingConnection,), {"pings": [], "answer": staticmethod(answer)}
    )


async def wait_for_close(connection: ServerConnection, recorder: Recorder) -> None:
    await connection.wait_closed()


def test_healthy_echo_server_answers_every_ping(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server_class = counting()
    server = make_server(wait_for_close, create_connection=server_class)
    result = invoke(["ping", server.url, *FAST])
    assert result.exit_code == 0, result.stderr
    lines = result.lines
    assert lines[0] == f"PING {server.url} (127.0.0.1:{server.port})"
    assert re.fullmatch(r"handshake [\d.]+ ms: tcp [\d.]+ ms, upgrade [\d.]+ ms", lines[1])
    pongs = [line for line in lines if line.startswith("pong from")]
    assert [re.search(r"seq=(\d+)", line).group(1) for line in pongs] == ["1", "2", "3", "4"]  # type: ignore[union-attr]
    assert all(re.search(r"bytes=1 time=[\d.]+ ms$", line) for line in pongs)
    assert f"--- {server.url} ping statistics ---" in lines
    assert "4 pings sent, 4 pongs received, 0% loss, time" in result.stdout
    assert re.search(
        r"^rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms$", result.stdout, re.M
    )
    assert server_class.pings == [b"1", b"2", b"3", b"4"]  # one unique payload per ping
    server.wait_closed()
    assert server.recorder.close_codes == [1000]


def test_server_dropping_every_second_pong_loses_half(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(wait_for_close, create_connection=counting(lambda n: n % 2 == 1))
    result = invoke(["ping", server.url, *FAST, "-W", "150ms"])
    assert result.exit_code == 7, result.stderr
    assert "no pong for seq=2 within 150ms" in result.lines
    assert "no pong for seq=4 within 150ms" in result.lines
    assert "4 pings sent, 2 pongs received, 50% loss" in result.stdout
    assert "wsctl: error: 2 of 4 pings lost (50% loss)" in result.stderr
    server.wait_closed()
    assert server.recorder.close_codes == [1000]  # a lossy run still closes properly


def test_payload_carries_the_text_and_the_sequence_number(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server_class = counting()
    server = make_server(wait_for_close, create_connection=server_class)
    result = invoke(["ping", server.url, *FAST, "-c", "2", "--payload", "héllo"])
    assert result.exit_code == 0, result.stderr
    assert server_class.pings == ["héllo 1".encode(), "héllo 2".encode()]
    assert "bytes=8 " in result.stdout


def test_pings_go_on_while_the_server_pushes_messages(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def chatty(connection: ServerConnection, recorder: Recorder) -> None:
        for n in range(200):  # far more than the receive buffer holds
            await connection.send(f"news {n}")
        await connection.wait_closed()

    server = make_server(chatty)
    result = invoke(["ping", server.url, *FAST, "-c", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ping"]["received"] == 3
    assert document["messages"]["received"] == 200


def test_json_prints_one_report_and_nothing_else(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(wait_for_close, create_connection=counting(lambda n: n != 2))
    url = server.url + "?token=s3cret"
    result = invoke(["ping", url, *FAST, "-c", "3", "-W", "100ms", "--json"])
    assert result.exit_code == 7
    report = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert "s3cret" not in result.stdout
    assert report["url"] == server.url + "?token=<redacted>"
    assert report["command"] == "ping"
    assert report["ok"] is False and report["exit_code"] == 7
    assert report["error"]["type"] == "CheckFailed" and report["error"]["retryable"] is False
    ping = report["ping"]
    assert (ping["sent"], ping["received"], ping["lost"], ping["loss_percent"]) == (3, 2, 1, 33.3)
    assert [p["rtt_ms"] is None for p in ping["pongs"]] == [False, True, False]
    assert set(ping["rtt_ms"]) == {"min", "avg", "max", "mdev"}
    handshake = report["timings_ms"]["handshake"]
    assert handshake["dns"] is None and handshake["tls"] is None  # an IP address, ws://
    assert handshake["tcp"] >= 0 and handshake["upgrade"] > 0
    assert report["connection"]["peer"] == f"127.0.0.1:{server.port}"
    assert report["close"] == {"code": 1000, "reason": "", "initiated_by": "client"}


def test_handshake_only_sends_no_ping_and_shows_the_response_headers(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server_class = counting()

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        response.headers["X-Served-By"] = "edge-7"

    server = make_server(
        wait_for_close, create_connection=server_class, process_response=process_response
    )
    result = invoke(["ping", "--handshake-only", server.url])
    assert result.exit_code == 0, result.stderr
    assert "HTTP/1.1 101 Switching Protocols" in result.lines
    assert "X-Served-By: edge-7" in result.lines
    assert "Upgrade: websocket" in result.lines
    assert "statistics" not in result.stdout
    server.wait_closed()
    assert server_class.pings == []
    assert server.recorder.close_codes == [1000]


def test_refused_upgrade_shows_status_and_body_in_every_mode(
    make_server: Callable[..., LoopbackServer],
) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden: bad token\r\n\x1b[2Jgone\n")

    server = make_server(wait_for_close, process_request=refuse)
    for quiet in ([], ["-q"]):
        result = invoke(["ping", server.url, *quiet])
        assert result.exit_code == 4
        assert "rejected the WebSocket upgrade: HTTP 403 Forbidden" in result.stderr
        assert "wsctl: < Forbidden: bad token\n" in result.stderr
        assert "wsctl: < \\x1b[2Jgone\n" in result.stderr  # escaped, never sent raw
        assert "\x1b" not in result.stderr
        assert result.stdout == ""


def test_refused_body_is_cut_at_one_kib(make_server: Callable[..., LoopbackServer]) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "x" * 5000)

    server = make_server(wait_for_close, process_request=refuse)
    result = invoke(["ping", server.url])
    assert result.exit_code == 4
    assert "response body (first 1024 of 5000 bytes):" in result.stderr
    assert f"< {'x' * 1024}\n" in result.stderr and "x" * 1025 not in result.stderr


@pytest.fixture
def silent_port(server_loop: LoopThread) -> Iterator[int]:
    """A TCP server that accepts connections and never answers the upgrade request."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    async def start() -> asyncio.Server:
        return await asyncio.start_server(hold, "127.0.0.1", 0)

    server = server_loop.call(start())
    yield server.sockets[0].getsockname()[1]

    async def stop() -> None:
        server.close()
        for writer in writers:
            writer.close()

    server_loop.call(stop())


def test_server_that_never_completes_the_handshake_times_out(silent_port: int) -> None:
    dial = 0.3 * SCALE
    started = time.monotonic()
    result = invoke(["ping", f"ws://127.0.0.1:{silent_port}/", "--dial-timeout", f"{dial}s"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 5
    assert "timed out after" in result.stderr and "(--dial-timeout)" in result.stderr
    assert dial <= elapsed < dial + 2 * SCALE


def test_connection_refused_is_exit_4(server_loop: LoopThread) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = invoke(["ping", f"ws://127.0.0.1:{port}/"])
    assert result.exit_code == 4
    assert "connection refused" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--payload", "x" * 115],
        ["-c", "-1"],
        ["-i", "fast"],
        ["-W", "-1s"],
        ["--report", "/no/such/dir/report.json"],
    ],
)
def test_bad_input_is_exit_2_before_connecting(
    make_server: Callable[..., LoopbackServer], args: list[str]
) -> None:
    server = make_server(wait_for_close)
    result = invoke(["ping", server.url, *args])
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.recorder.connections == 0


def test_verbose_shows_tls_and_certificate_with_phases(
    make_server: Callable[..., LoopbackServer], tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = make_server(wait_for_close, ssl=context)
    url = f"wss://localhost:{server.port}/"
    result = invoke(["ping", url, "-c", "1", "-v", "--cacert", str(ca_file)])
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^handshake .*tcp [\d.]+ ms, tls [\d.]+ ms, upgrade", result.stdout, re.M)
    assert re.search(r"^wsctl: TLS: TLSv1\.[23], \S+ \(\d+ bits\)$", result.stderr, re.M)
    assert "wsctl: certificate: subject O=trustme" in result.stderr
    assert "wsctl: certificate: names localhost" in result.stderr
    assert re.search(r"^wsctl: certificate: expires \d{4}-\d\d-\d\dT.*Z \(in \d+ days\)$",
                     result.stderr, re.M)  # fmt: skip
    assert "wsctl: subprotocol: none" in result.stderr


def test_handshake_line_names_what_was_measured() -> None:
    clock = HandshakeClock(
        attempt_start=0.0, dns=0.002, tcp_start=0.002, tcp_end=0.003, connected=0.010,
        tls_in_connect=True, attempts=2,
    )  # fmt: skip
    phases = clock.phases(done=0.012)
    assert phases == pytest.approx(
        {"dns": 0.002, "tcp": 0.001, "tls": 0.007, "proxy": None, "upgrade": 0.002, "total": 0.012}
    )
    assert handshake_line(phases, attempts=2) == (
        "handshake 12.000 ms: dns 2.000 ms, tcp 1.000 ms, tls 7.000 ms, upgrade 2.000 ms "
        "(attempt 2)"
    )
    # Through an HTTP proxy, TLS runs in the tunnel after the CONNECT exchange.
    tunnel = HandshakeClock(attempt_start=0.0, tcp_start=0.0, tcp_end=0.001, connected=0.001,
                            tls_start=0.004, tls_end=0.009)  # fmt: skip
    assert tunnel.phases(0.010) == pytest.approx(
        {"dns": None, "tcp": 0.001, "tls": 0.005, "proxy": 0.003, "upgrade": 0.001, "total": 0.010}
    )


def test_count_zero_runs_until_ctrl_c_then_summarises(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(wait_for_close)
    process = subprocess.Popen(
        wsctl_command("ping", "-c", "0", "-i", "10ms", server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # read until three pongs are in: then interrupt
            if "seq=3 " in line:
                break
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 130, errors
    assert "ping statistics ---" in rest
    assert re.search(r"^(\d+) pings sent, \1 pongs received, 0% loss", rest, re.M)
    server.wait_closed()
    assert server.recorder.close_codes == [1000]  # Ctrl-C still closes with a Close frame


def test_server_going_away_during_the_pings_is_a_failed_check(
    make_server: MakeServer,
) -> None:
    async def restart(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.close(1001, "restarting")

    server = make_server(restart)
    result = invoke(["ping", server.url, *FAST])
    assert result.exit_code == 7
    assert "0 pings sent, 0 pongs received" in result.stdout  # the summary is still printed
    assert (
        "error: the server closed the connection (1001 going away: restarting) after 0 of 4 pings"
    ) in result.stderr


@pytest.fixture
def connect_proxy(server_loop: LoopThread) -> Iterator[tuple[int, list[bytes]]]:
    """A real HTTP CONNECT proxy on loopback; yields its port and the CONNECT lines it saw."""
    requests: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head.split(b"\r\n")[0])
        host, port = head.split()[1].decode().rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(
            pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True
        )

    async def start() -> asyncio.Server:
        return await asyncio.start_server(tunnel, "127.0.0.1", 0)

    proxy = server_loop.call(start())
    yield proxy.sockets[0].getsockname()[1], requests

    async def stop() -> None:
        proxy.close()

    server_loop.call(stop())


def test_ping_through_an_http_proxy_names_the_proxy_and_the_server(
    make_server: MakeServer, connect_proxy: tuple[int, list[bytes]]
) -> None:
    proxy_port, requests = connect_proxy
    server = make_server(wait_for_close)
    result = invoke(
        ["ping", server.url, *FAST, "-c", "2", "--proxy", f"http://127.0.0.1:{proxy_port}"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.lines[0].startswith(f"PING {server.url} via proxy http://127.0.0.1:{proxy_port}")
    assert result.lines[1].endswith("(dns and tcp: to the proxy)")
    assert f"pong from 127.0.0.1:{server.port}: seq=2" in result.stdout  # the server, not the proxy
    assert requests == [f"CONNECT 127.0.0.1:{server.port} HTTP/1.1".encode()]
