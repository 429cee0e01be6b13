"""``wsctl ping URL``: WebSocket Pings and their round trips, like ping(8), for CI and monitoring.

The handshake is timed phase by phase on the real connection: the session runs in an event
loop that times its own DNS lookups, TCP connects and transport setup (TLS included), so the
numbers are those of the connection that the pings then use — no second lookup, no probe
connection, and nothing happens before the security policy has allowed the URL.

Light imports only (no rich, no prompt_toolkit): ping is meant to start fast in a CI job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sys
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, BinaryIO

import click

from wsctl.checks import REPORT
from wsctl.core import Client, HandshakeEvent, connect
from wsctl.diagnostics import client_lines
from wsctl.durations import format_duration
from wsctl.environment import Environment
from wsctl.errors import (
    CheckFailed,
    ConnectionClosedAbnormally,
    ExitCode,
    InvalidInput,
    OutputClosed,
    Timeout,
    WebSocketError,
)
from wsctl.options import DURATION, common_options, connection_options
from wsctl.output import StatusWriter
from wsctl.redact import redact_header, redact_url
from wsctl.report import PingResult, ReportTarget, RunRecord, ping_summary, recording
from wsctl.session import close_quietly
from wsctl.settings import ConnectOptions, close_code_name, validate_url

#: A Ping carries at most 125 bytes; the sequence number appended takes up to 11 of them.
MAX_PAYLOAD_TEXT = 114


# -- timing the handshake ------------------------------------------------------------------


@dataclass
class HandshakeClock:
    """Phase times of the latest connection attempt (``loop.time()``), set by TimingLoop."""

    attempt_start: float | None = None
    dns: float | None = None
    tcp_start: float | None = None
    tcp_end: float | None = None
    #: When ``create_connection`` returned: TCP ready, with TLS when it was asked for there.
    connected: float | None = None
    tls_in_connect: bool = False
    #: ``start_tls`` on an open connection: wss:// through an HTTP proxy's tunnel.
    tls_start: float | None = None
    tls_end: float | None = None
    peer: str | None = None
    attempts: int = 0

    def phases(self, done: float) -> dict[str, float | None]:
        """Seconds per phase of the attempt that succeeded: ``dns`` (None for an IP address),
        ``tcp``, ``tls`` (None for ws://), ``proxy`` (the CONNECT exchange, when measurable),
        ``upgrade`` (request sent to 101 received) and ``total``."""
        tcp = tls = proxy = None
        ready = self.connected
        if self.tcp_start is not None and self.tcp_end is not None:
            tcp = self.tcp_end - self.tcp_start
        if self.tls_start is not None and self.tls_end is not None:
            tls = self.tls_end - self.tls_start
            proxy = self.tls_start - self.connected if self.connected is not None else None
            ready = self.tls_end
        elif self.tls_in_connect and self.connected is not None and self.tcp_end is not None:
            tls = self.connected - self.tcp_end
        upgrade = done - ready if ready is not None else None
        total = done - self.attempt_start if self.attempt_start is not None else None
        return {"dns": self.dns, "tcp": tcp, "tls": tls, "proxy": proxy, "upgrade": upgrade,
                "total": total}  # fmt: skip


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class TimingLoop(asyncio.SelectorEventLoop):
    """An event loop that times the DNS lookup, TCP connect and TLS setup of its connections.

    Each new TCP connection (``create_connection`` without ``sock=``: an attempt, a retry, a
    redirect hop) starts a new measurement, so the phases describe the connection that was
    finally used.  Through a proxy, DNS and TCP are those of the connection to the proxy.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = HandshakeClock()

    def begin_attempt(self) -> None:
        """Start a new measurement.  Also called by :mod:`wsctl.dialing`, which (with address
        rules) resolves and connects the socket itself, then passes it with ``sock=``."""
        self.clock = HandshakeClock(attempt_start=self.time(), attempts=self.clock.attempts + 1)

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Time one connection; TLS, when asked for here, completes inside it."""
        if kwargs.get("sock") is None:
            self.begin_attempt()
        self.clock.tls_in_connect = kwargs.get("ssl") is not None
        result = await super().create_connection(*args, **kwargs)
        self.clock.connected = self.time()
        return result

    async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        """Time TLS set up over an open connection (wss:// through an HTTP proxy)."""
        self.clock.tls_start = self.time()
        result = await super().start_tls(*args, **kwargs)
        self.clock.tls_end = self.time()
        return result

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        """Time the DNS lookup (not called at all for an IP address)."""
        start = self.time()
        try:
            return await super().getaddrinfo(*args, **kwargs)
        finally:
            self.clock.dns = (self.clock.dns or 0.0) + self.time() - start

    async def sock_connect(self, sock: Any, address: Any) -> None:
        """Time the TCP connect, from the first address tried to the one that answered."""
        start = self.time()
        if self.clock.tcp_start is None:
            self.clock.tcp_start = start
        await super().sock_connect(sock, address)
        self.clock.tcp_end = self.time()
        self.clock.peer = _address(address)


def run_timed(session: Coroutine[Any, Any, int]) -> int:
    """Run ``session`` in a :class:`TimingLoop`; Ctrl-C cancels it, then KeyboardInterrupt."""
    factory: Callable[[], asyncio.AbstractEventLoop] = (
        TimingLoop if sys.platform != "win32" else asyncio.new_event_loop
    )
    from wsctl.runner import run

    return run(session, loop_factory=factory)


# -- output --------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def handshake_line(phases: dict[str, float | None], *, attempts: int = 1, via: str = "") -> str:
    """``handshake 1.921 ms: dns 0.210 ms, tcp 0.280 ms, tls 0.951 ms, upgrade 0.480 ms``."""
    parts = [
        f"{name} {_ms(value)}"
        for name, value in phases.items()
        if name != "total" and value is not None
    ]
    total = phases["total"] or 0.0
    line = f"handshake {_ms(total)}" + (f": {', '.join(parts)}" if parts else "")
    if via:
        line += " (dns and tcp: to the proxy)"
    if attempts > 1:
        line += f" (attempt {attempts})"
    return line


def summary_lines(url: str, pings: list[PingResult], elapsed: float) -> list[str]:
    """ping(8)'s closing statistics."""
    summary = ping_summary(pings)
    lines = [
        f"--- {url} ping statistics ---",
        f"{summary['sent']} pings sent, {summary['received']} pongs received, "
        f"{summary['loss_percent']:g}% loss, time {elapsed * 1000:.0f} ms",
    ]
    rtt = summary["rtt_ms"]
    if rtt is not None:
        lines.append(
            f"rtt min/avg/max/mdev = {rtt['min']:.3f}/{rtt['avg']:.3f}/{rtt['max']:.3f}/"
            f"{rtt['mdev']:.3f} ms"
        )
    return lines


class PingPrinter:
    """Ping's result lines on stdout; nothing but the summary with ``-q``, nothing with --json."""

    def __init__(self, stream: BinaryIO, *, quiet: bool, silent: bool) -> None:
        self._stream = stream
        self.quiet = quiet or silent
        self.silent = silent

    def line(self, text: str, *, summary: bool = False) -> None:
        """Write one line (a summary line survives ``-q``)."""
        if self.silent or (self.quiet and not summary):
            return
        try:
            self._stream.write(text.encode("utf-8", "replace") + b"\n")
            self._stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None


# -- the session ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PingPlan:
    """What ``wsctl ping`` was asked to do, validated by the command."""

    count: int
    interval: float
    timeout: float | None
    payload: str
    handshake_only: bool
    verbose: bool
    quiet: bool
    json_output: bool

    def data(self, seq: int) -> bytes:
        """The Ping payload of ping ``seq``: unique, so each pong is matched to its ping."""
        return (f"{self.payload} {seq}" if self.payload else str(seq)).encode("utf-8")


class _Counter:
    """How many messages the server pushed while being pinged."""

    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        return self.value


async def _drain(client: Client, counter: _Counter) -> None:
    """Read (and drop) what the server sends: unread messages would stop reading, and with it
    the pongs.  Ends with the connection; the next ping then reports why it ended."""
    while True:
        try:
            if await client.recv() is None:
                return
        except Timeout:  # defensive: ping clears --read-timeout, which means nothing to it
            continue
        counter.value += 1


async def ping_session(
    env: Environment, url: str, options: ConnectOptions, plan: PingPlan, record: RunRecord
) -> int:
    """Connect, time the handshake, ping ``plan.count`` times (0: until Ctrl-C), summarise."""
    status = StatusWriter(env, verbose=plan.verbose, quiet=plan.quiet)
    out = PingPrinter(env.stdout, quiet=plan.quiet, silent=plan.json_output)
    loop = asyncio.get_running_loop()
    shown_url = redact_url(url)
    proxies: list[str] = []

    def observe(event: HandshakeEvent) -> None:
        status.handshake(event)
        # The core names the proxy it goes through in a note: "proxy http://…".
        if event.kind == "note" and (event.message or "").startswith("proxy "):
            proxies.append((event.message or "")[len("proxy ") :])

    start = loop.time()
    client = await connect(url, options, observer=observe)
    done = loop.time()
    clock: HandshakeClock | None = getattr(loop, "clock", None)
    phases: dict[str, float | None] = (
        clock.phases(done) if clock is not None else {"total": done - start}
    )
    record.connected(client, done - start)
    record.handshake = phases
    record.peer = clock.peer if clock is not None else record.peer
    via = proxies[-1] if proxies else ""
    if record.connection is not None:
        record.connection["proxy"] = via or None
    try:
        # Through a proxy the TCP peer is the proxy: name it as such, and the server by its URL.
        if via:
            heading, peer = f" via proxy {via}", _url_address(client.url)
        else:
            heading = f" ({record.peer})" if record.peer else ""
            peer = record.peer or _url_address(client.url)
        out.line(f"PING {shown_url}{heading}", summary=True)
        attempts = clock.attempts if clock is not None else 1
        out.line(handshake_line(phases, attempts=attempts, via=via), summary=True)
        if status.verbose:
            for text in client_lines(client):
                status.detail(text)
        if plan.handshake_only:
            out.line("HTTP/1.1 101 Switching Protocols")
            for name, value in client.response_headers.raw_items():
                out.line(f"{name}: {redact_header(name, value)}")
            await client.close()
            return ExitCode.OK
        return await _pings(client, plan, record, out, shown_url, peer)
    except BaseException:
        await close_quietly(client)
        raise


async def _pings(
    client: Client,
    plan: PingPlan,
    record: RunRecord,
    out: PingPrinter,
    shown_url: str,
    peer: str,
) -> int:
    loop = asyncio.get_running_loop()
    pings: list[PingResult] = []
    record.pings = pings
    record.ping_count = plan.count
    counter = _Counter()
    record.count_received = counter
    drain = asyncio.create_task(_drain(client, counter), name="wsctl-ping-drain")
    first = loop.time()
    elapsed = 0.0
    try:
        sequence = itertools.count(1) if plan.count == 0 else range(1, plan.count + 1)
        for seq in sequence:
            due = first + (seq - 1) * plan.interval
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            data = plan.data(seq)
            try:
                rtt: float | None = await client.ping(data, timeout=plan.timeout)
            except Timeout:
                rtt = None
            except ConnectionClosedAbnormally:
                raise _closed_during_pings(client, len(pings), plan.count) from None
            pings.append(PingResult(seq, len(data), rtt))
            elapsed = loop.time() - first
            if rtt is None:
                out.line(f"no pong for seq={seq} within {format_duration(plan.timeout or 0)}")
            else:
                out.line(f"pong from {peer}: seq={seq} bytes={len(data)} time={_ms(rtt)}")
    except BaseException:  # Ctrl-C or a closed connection: the summary still tells what happened
        _print_summary(out, shown_url, pings, elapsed)
        raise
    finally:
        drain.cancel()
        if drain.done() and not drain.cancelled():
            drain.exception()  # seen: the ping that failed after it reports the same closure
    _print_summary(out, shown_url, pings, elapsed)
    await client.close()
    summary = ping_summary(pings)
    if summary["lost"]:
        raise CheckFailed(
            f"{summary['lost']} of {summary['sent']} pings lost "
            f"({summary['loss_percent']:g}% loss) from {shown_url}"
        )
    return ExitCode.OK


def _url_address(url: str) -> str:
    """``host:port`` of a ws:// or wss:// URL, for the pong lines."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _closed_during_pings(client: Client, done: int, count: int) -> WebSocketError:
    """The server ended the connection before the last ping: a normal close (1000/1001)
    means the pings did not all come back (exit 7); any other stays an abnormal one (6)."""
    code = client.close_code
    shown = f"{code} {close_code_name(code)}" + (
        f": {client.close_reason}" if client.close_reason else ""
    )
    of = f" of {count}" if count else ""
    message = f"the server closed the connection ({shown}) after {done}{of} pings"
    if code in (1000, 1001):
        return CheckFailed(message)
    return ConnectionClosedAbnormally(message, code=code or 1006, reason=client.close_reason)


def _print_summary(out: PingPrinter, url: str, pings: list[PingResult], elapsed: float) -> None:
    out.line("", summary=True)
    for text in summary_lines(url, pings, elapsed):
        out.line(text, summary=True)


# -- the command ---------------------------------------------------------------------------


@click.command("ping")
@click.argument("url")
@click.option(
    "-c",
    "--count",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Send N pings, then stop (0: until Ctrl-C).",
)
@click.option(
    "-i",
    "--interval",
    type=DURATION,
    default="1s",
    show_default=True,
    help="Time between pings (from one ping to the next).",
)
@click.option(
    "-W",
    "--timeout",
    "pong_timeout",
    type=DURATION,
    default="5s",
    show_default=True,
    help="How long to wait for each pong before counting it lost (0: forever).",
)
@click.option(
    "--payload",
    default="",
    metavar="TEXT",
    help=f"Text carried by every Ping, followed by its sequence number "
    f"(at most {MAX_PAYLOAD_TEXT} bytes).",
)
@click.option(
    "--handshake-only",
    is_flag=True,
    help="Send no pings: succeed once the upgrade completes; show its time and the response "
    "headers.",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="Print one JSON report (the --report format) instead of lines.",
)
@click.option(
    "--report",
    "reports",
    type=REPORT,
    multiple=True,
    metavar="[junit:]FILE",
    help="Also write the JSON report to FILE (junit:FILE: JUnit XML), even when it fails.",
)
@connection_options
@common_options
@click.pass_obj
def command(
    env: Environment,
    url: str,
    count: int,
    interval: float,
    pong_timeout: float,
    payload: str,
    handshake_only: bool,
    json_output: bool,
    reports: tuple[ReportTarget, ...],
    options: ConnectOptions,
    verbose: bool,
    quiet: bool,
) -> int:
    """Send WebSocket Pings to URL and report each round trip, like ping(8).

    Shows how long the handshake took (DNS, TCP, TLS, upgrade), one line per pong, then
    sent/received/loss and min/avg/max/mdev round-trip times. Exit 0 when every pong came
    back, 7 when some were lost, 4 when the connection failed, 5 when it timed out.

    \b
    Examples:
      wsctl ping wss://example.com/ws
      wsctl ping -c 10 -i 200ms -W 1s ws://127.0.0.1:8765/echo
      wsctl ping --handshake-only --report junit:ping.xml wss://example.com/ws
    """
    validate_url(url)
    if len(payload.encode("utf-8")) > MAX_PAYLOAD_TEXT:
        raise InvalidInput(
            f"--payload is {len(payload.encode('utf-8'))} bytes; at most {MAX_PAYLOAD_TEXT} fit "
            "in a Ping with its sequence number"
        )
    plan = PingPlan(
        count=count,
        interval=interval,
        timeout=pong_timeout or None,
        payload=payload,
        handshake_only=handshake_only,
        verbose=verbose,
        quiet=quiet,
        json_output=json_output,
    )
    # ping reads no messages on purpose: a read timeout would only cut the pings short.
    options = dataclasses.replace(options, read_timeout=None)
    record = RunRecord("ping", url)

    def emit(report: dict[str, Any]) -> None:
        env.stdout.write(json.dumps(report, indent=2, ensure_ascii=False).encode() + b"\n")
        env.stdout.flush()

    with recording(
        record,
        reports,
        emit=emit if json_output else None,
        warn=StatusWriter(env).warning,
    ):
        record.exit_code = run_timed(ping_session(env, url, options, plan, record))
        return record.exit_code
