"""``wsctl demo``: try wsctl without finding a server first.

It starts the embedded server on a free loopback port, then:

* on a terminal (stdin and stdout both TTYs), prints a short guide and opens the interactive
  session (``wsctl connect``) on ``/echo``; the server runs in a background thread because the
  session owns the main event loop.  Until ``wsctl connect`` exists, it runs the tour instead.
* otherwise, runs a scripted tour against its own server — echo of text and binary, a ping
  with its round-trip time, a chat between two clients, prices after a subscribe, a normal
  close — and prints a readable transcript on stdout, then exits 0.

The tour talks to the server only through wsctl's connection core (:func:`wsctl.core.connect`),
the same path every subcommand takes: the demo is the front door of the client.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import TYPE_CHECKING

import click

from wsctl.environment import Environment
from wsctl.errors import ExitCode, OutputClosed

if TYPE_CHECKING:
    from wsctl.core import Message, connect
    from wsctl.server import EmbeddedServer

#: Fast enough that the tour shows a few prices without a noticeable wait.
TOUR_TICK = 0.2
#: Every wait in the tour is bounded: the demo must never hang.
TOUR_TIMEOUT = "5s"
TOUR_SYMBOLS = ("BTC-USD", "SOL-USD")
TOUR_PRICES = 4

SLASH_COMMANDS = (
    ("/ping [payload]", "ping the server and show the round-trip time"),
    ("/binary hex:0102ff", "send a binary message (also base64:… or @file)"),
    ("/close [code] [reason]", "close the connection, e.g. /close 1000 bye"),
    ("/help", "every slash command"),
    ("/quit or Ctrl-D", "close with 1000 and exit"),
)


@click.command("demo")
@click.pass_context
def command(ctx: click.Context) -> int:
    """Start a local server and show what wsctl does (no setup needed).

    On a terminal this opens an interactive session on the server's /echo endpoint; otherwise
    it runs a short scripted tour (echo, binary, ping, chat, prices) and exits 0.
    """
    env: Environment = ctx.obj
    if env.interactive:
        from wsctl.cli import cli

        connect_command = cli.get_command(ctx, "connect")
        if connect_command is not None:
            return _interactive(ctx, env, connect_command)
    return asyncio.run(_tour(env))


# -- on a terminal ------------------------------------------------------------------------


def _interactive(ctx: click.Context, env: Environment, connect_command: click.Command) -> int:
    from wsctl.server import EmbeddedServer

    with _ServerThread(EmbeddedServer(port=0)) as server:
        _write(env, _guide(server))
        with connect_command.make_context("connect", [server.url("/echo")], parent=ctx) as sub:
            result = connect_command.invoke(sub)
    return int(result) if isinstance(result, int) else ExitCode.OK


def _guide(server: EmbeddedServer) -> str:
    lines = [
        f"wsctl demo: a local server is running at {server.base_url}",
        "",
        "Endpoints (open more terminals and try them while this session runs):",
    ]
    lines += [f"  wsctl connect {server.url(path)}" for path in ("/chat", "/prices")]
    lines += [
        f"  wsctl listen {server.url('/prices')} | jq .",
        "",
        "You are connected to /echo: type a message and press Enter, it comes back.",
        "Slash commands:",
    ]
    width = max(len(name) for name, _text in SLASH_COMMANDS)
    lines += [f"  {name:<{width}}  {text}" for name, text in SLASH_COMMANDS]
    return "\n".join(lines) + "\n\n"


class _ServerThread:
    """The embedded server on an event loop of its own, in a daemon thread."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="wsctl-demo-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the main thread by __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.server:
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> EmbeddedServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        # Closing takes a round trip per client; the thread is a daemon, so never wait forever.
        self._thread.join(10)


# -- the scripted tour --------------------------------------------------------------------


class _Transcript:
    """The tour's output: one readable line at a time, escaped on a terminal."""

    def __init__(self, env: Environment) -> None:
        from wsctl.output import escape_control

        self._env = env
        self._escape = escape_control if env.stdout_isatty else None

    def line(self, text: str = "") -> None:
        _write(self._env, text + "\n")

    def section(self, title: str) -> None:
        self.line()
        self.line(f"== {title}")

    def sent(self, data: str | bytes, *, typed: bool = False) -> None:
        self.line(f"  > {self._show(data, typed)}")

    def received(self, message: Message | None, who: str = "", *, typed: bool = False) -> None:
        if message is None:
            self.line(f"  {who}< (the server closed the connection)")
        else:
            self.line(f"  {who}< {self._show(message.data, typed)}")

    def _show(self, data: str | bytes, typed: bool) -> str:
        if isinstance(data, bytes):
            return f"{data.hex(' ')}  (binary, {len(data)} bytes)"
        text = data if self._escape is None else self._escape(data)
        return f"{text}  (text)" if typed else text


async def _tour(env: Environment) -> int:
    from wsctl.server import EmbeddedServer

    out = _Transcript(env)
    async with EmbeddedServer(port=0, tick=TOUR_TICK) as server:
        out.line(f"wsctl demo: a scripted tour against a local server at {server.base_url}")
        if not env.interactive:
            out.line("(not a terminal; run `wsctl demo` in one for an interactive session)")
        await _echo_tour(out, server)
        await _chat_tour(out, server)
        await _prices_tour(out, server)
        _try_it(out)
    return ExitCode.OK


def _connect(url: str) -> connect:
    """Connect through the core, with every wait bounded."""
    from wsctl.core import connect

    return connect(url, dial_timeout=TOUR_TIMEOUT, read_timeout=TOUR_TIMEOUT)


async def _echo_tour(out: _Transcript, server: EmbeddedServer) -> None:
    from wsctl.settings import close_code_name

    url = server.url("/echo")
    out.section(f"echo: {url} sends every message back with its type")
    async with _connect(url) as client:
        for data in ("hello from wsctl", b"\x00\x01\x02\xfe\xff"):
            await client.send(data)
            out.sent(data, typed=True)
            out.received(await client.recv(), typed=True)
        rtt = await client.ping()
        out.line(f"  ping: pong in {rtt * 1000:.2f} ms")
        await client.close()
        code = client.close_code
        out.line(f"  closed: {code} ({close_code_name(code)})")


async def _chat_tour(out: _Transcript, server: EmbeddedServer) -> None:
    out.section(f"chat: {server.url('/chat')} broadcasts to every client")
    async with _connect(server.url("/chat?name=alice")) as alice:
        await alice.recv()  # alice's own join notice
        async with _connect(server.url("/chat?name=bob")) as bob:
            out.received(await alice.recv(), who="alice ")  # bob joined
            await bob.recv()  # bob's own join notice
            await bob.send("hi alice!")
            out.line("  bob > hi alice!")
            out.received(await alice.recv(), who="alice ")
        out.received(await alice.recv(), who="alice ")  # bob left


async def _prices_tour(out: _Transcript, server: EmbeddedServer) -> None:
    url = server.url("/prices")
    out.section(f"prices: {url} streams JSON prices")
    async with _connect(url) as client:
        request = json.dumps(
            {"action": "subscribe", "symbols": list(TOUR_SYMBOLS)}, separators=(",", ":")
        )
        await client.send(request)
        out.sent(request)
        # Ticks of the default symbols may arrive before the acknowledgement: skip them.
        while (message := await client.recv()) is not None:
            if isinstance(message.data, str) and json.loads(message.data).get("type"):
                out.received(message)  # the acknowledgement (or an error)
                break
        for _ in range(TOUR_PRICES):
            out.received(await client.recv())


def _try_it(out: _Transcript) -> None:
    out.section("try it yourself")
    for example in (
        "wsctl serve                                   # this server, on port 8765",
        "wsctl connect ws://127.0.0.1:8765/echo        # interactive session",
        "echo hello | wsctl send ws://127.0.0.1:8765/echo",
        "wsctl listen ws://127.0.0.1:8765/prices -n 5 | jq .",
    ):
        out.line(f"  {example}")


def _write(env: Environment, text: str) -> None:
    try:
        env.stdout.write(text.encode("utf-8", "replace"))
        env.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed from None  # `wsctl demo | head`: stop quietly
