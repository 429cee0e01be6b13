"""``wsctl serve``: run the embedded server (``/echo``, ``/chat``, ``/prices``, ``/graphql``,
``/heartbeat``, ``/jsonrpc``, ``/``).

Streams, so that scripts can drive it:

* stdout — when stdout is not a terminal, its first line is the base URL
  (``ws://127.0.0.1:PORT/``), flushed at once, so ``--port 0`` is easy to use from a script;
  with ``--print``, every message received follows, one per line, as ``wsctl listen`` prints
  them (binary as base64 in a pipe, a hex dump on a terminal; control characters escaped on a
  terminal).
* stderr — ``listening on …``, the endpoints, warnings, and with ``-v`` each connection.

Ctrl-C (SIGINT) and SIGTERM close every client with 1001 (going away), then exit 130 and 0;
a second one drops the clients that do not answer instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wsctl.environment import Environment
from wsctl.errors import ExitCode, OutputClosed
from wsctl.options import DURATION, CompressionType, common_options
from wsctl.settings import Compression

if TYPE_CHECKING:
    from wsctl.output import StatusWriter
    from wsctl.server import ConnectionCallback, EmbeddedServer, Received

#: SIGTERM is how service managers ask for a normal stop (0); Ctrl-C is an interruption (130).
_SIGNAL_EXIT_CODES: dict[signal.Signals, int] = {
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.OK,
}


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback is reachable from other machines.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="TCP port; 0 picks a free one (read the URL from stdout's first line).",
)
@click.option(
    "--tick",
    type=DURATION,
    default="1s",
    show_default=True,
    help="Interval between /prices updates and /heartbeat ticks (milliseconds or a Go duration).",
)
@click.option(
    "--print",
    "print_messages",
    is_flag=True,
    help="Print every message received to stdout, one per line.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate (chain): serve wss:// instead of ws://.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert (if the certificate file does not hold it).",
)
@click.option(
    "-s",
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    help="Accept this subprotocol (repeatable); clients offering none are still served.",
)
@click.option(
    "--compression",
    type=CompressionType(),
    default="context-takeover",
    show_default=True,
    help="permessage-deflate mode accepted when a client offers compression.",
)
@common_options
@click.pass_obj
def command(
    env: Environment,
    host: str,
    port: int,
    tick: float,
    print_messages: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    subprotocols: tuple[str, ...],
    compression: Compression,
    verbose: bool,
    quiet: bool,
) -> int:
    """Run a local WebSocket server to try clients against.

    \b
    Endpoints:
      /echo       echoes each message with its type (text or binary)
      /chat       broadcast to every client, with join/leave notices (?name=NAME)
      /prices     JSON prices every --tick; BTC-USD and ETH-USD until a
                  {"action":"subscribe","symbols":["SOL-USD"]} replaces them
      /graphql    graphql-transport-ws (-s graphql-transport-ws): query { hello },
                  subscription { greetings }; subscribe before connection_ack: 4401
      /heartbeat  Socket.IO-style: pings "2" every ?interval=1s, drops (1008) a
                  client that does not answer "3" within ?timeout=1s; 42["tick",N]
      /jsonrpc    JSON-RPC 2.0: echo, add, subtract
      /           a description (HTTP GET, or one WebSocket message)

    \b
    When stdout is not a terminal its first line is the base URL:
      wsctl serve --port 0 > url.txt &
    Ctrl-C closes every client with 1001 (going away) and exits 130; SIGTERM exits 0.
    """
    from wsctl.output import StatusWriter
    from wsctl.server import EmbeddedServer

    status = StatusWriter(env, verbose=verbose, quiet=quiet)
    printer = _Printer(env) if print_messages else None
    # Built before anything is bound, so that bad TLS files or options fail with exit 2.
    server = EmbeddedServer(
        host,
        port,
        tick=tick,
        tls_cert=tls_cert,
        tls_key=tls_key,
        subprotocols=subprotocols,
        compression=compression,
        on_receive=printer.received if printer is not None else None,
        on_connection=_connection_logger(status) if verbose else None,
    )
    return asyncio.run(_serve(env, server, status, printer))


class _Printer:
    """``--print``: received messages to stdout, as ``wsctl listen`` renders them."""

    def __init__(self, env: Environment) -> None:
        from wsctl.output import MessageWriter

        self.writer = MessageWriter(env)
        #: Called once the reader of stdout is gone; set by the serving loop.
        self.on_output_closed: Callable[[], None] = lambda: None

    def received(self, received: Received) -> None:
        from wsctl.core import Message

        try:
            self.writer.message(Message(received.type, received.data))
        except OutputClosed:
            # `wsctl serve --print | head -3`: the reader is gone, so stop serving quietly.
            self.on_output_closed()


def _connection_logger(status: StatusWriter) -> ConnectionCallback:
    from wsctl.server import ConnectionEvent

    def log(event: ConnectionEvent) -> None:
        if event.kind == "open":
            status.detail(f"{event.peer} connected to {event.path}")
        else:
            reason = f": {event.reason}" if event.reason else ""
            status.detail(f"{event.peer} left {event.path} ({event.code}{reason})")

    return log


class _ErrorsToStatus(logging.Handler):
    """Show the server's own errors (bugs) on stderr instead of losing them."""

    def __init__(self, status: StatusWriter) -> None:
        super().__init__(logging.ERROR)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        detail = f": {record.exc_info[1]!r}" if record.exc_info else ""
        self.status.warning(f"server error: {record.getMessage()}{detail}")


async def _serve(
    env: Environment, server: EmbeddedServer, status: StatusWriter, printer: _Printer | None
) -> int:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def finish(code: int) -> None:
        if not stop.done():
            stop.set_result(code)

    if printer is not None:
        printer.on_output_closed = lambda: finish(ExitCode.OK)

    installed: list[signal.Signals] = []
    for signum, code in _SIGNAL_EXIT_CODES.items():
        try:
            loop.add_signal_handler(signum, finish, code)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # no loop signal handlers here (Windows, a thread): KeyboardInterrupt still works

    def drop_connections() -> None:
        dropped = server.abort()
        status.info(f"dropping {dropped} connection(s) without waiting for their close")

    def restore_signals() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)
        installed.clear()

    logger = logging.getLogger("wsctl.server")
    errors = _ErrorsToStatus(status)
    logger.addHandler(errors)
    try:
        await server.start()
        try:
            _announce(env, server, status)
            code = await stop
            # A client that never answers the Close frame would hold the shutdown for the
            # close timeout (10s): a second Ctrl-C or SIGTERM drops the connections at once.
            for signum in installed:
                loop.add_signal_handler(signum, drop_connections)
            status.info(
                "shutting down: closing every client with 1001 (going away); "
                "Ctrl-C again to drop them at once"
            )
        finally:
            await server.close()
    finally:
        logger.removeHandler(errors)
        restore_signals()
    return code


def _announce(env: Environment, server: EmbeddedServer, status: StatusWriter) -> None:
    from wsctl.server import ENDPOINTS

    if not env.stdout_isatty:
        # The machine-readable copy of the URL; a terminal already shows it on stderr.
        try:
            env.stdout.write(f"{server.base_url}\n".encode())
            env.stdout.flush()
        except BrokenPipeError:
            pass  # `| head -1` took the URL and left: keep serving
    status.info(f"listening on {server.base_url} (Ctrl-C to stop)")
    width = max(len(server.url(path)) for path in ENDPOINTS)
    for path, text in ENDPOINTS.items():
        status.info(f"  {server.url(path):<{width}}  {text}")
    if not server.is_loopback:
        addresses = ", ".join(f"{ip}:{port}" for ip, port in server.addresses)
        status.warning(
            f"bound to {addresses}: other machines can connect (there is no authentication)"
        )
