"""``--exec CMD``: a program on the other end of the connection (``listen`` and ``connect``).

CMD runs without a shell (its words split as a POSIX shell would, ``sh -c '…'`` for pipes).
Its stdin gets one received message per line, framed exactly as ``wsctl listen`` prints them
(text as a line; binary per ``--binary-format``, base64 by default; ``--json`` for NDJSON
records); every line it prints (without its ``\\n`` or ``\\r\\n``) is sent as a text message.
Its stderr is wsctl's.

How it ends:

* **CMD exits** — everything it printed is sent, then the connection is closed (1000, or the
  ``--close-code`` of ``connect``).  wsctl exits with CMD's status (128+N for a signal N).
* **The server closes** — CMD gets EOF on stdin and wsctl waits for it to exit; lines it prints
  from then on cannot be sent (the connection is closed) and are counted in a warning.  An
  abnormal close (exit 6) outranks CMD's status, a normal one (1000/1001) leaves it.

Backpressure both ways, memory bounded: a CMD that reads slowly pauses the reading of the
socket (the pipe's buffer, then websockets' receive buffer, fill up); a CMD that floods is read
64 KiB at a time and each batch waits for the socket to drain.  Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shlex
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wsctl.core import Client, Message, connect
from wsctl.diagnostics import connected_lines
from wsctl.environment import Environment
from wsctl.errors import ConnectionClosedAbnormally, InvalidInput
from wsctl.inputs import utf8_lines
from wsctl.output import MessageWriter, StatusWriter
from wsctl.session import close_quietly

if TYPE_CHECKING:
    from wsctl.report import RunRecord
    from wsctl.settings import ConnectOptions

__all__ = ["ExecBridge", "bridge", "exec_session", "message_framer", "parse_exec_command"]

_CHUNK = 64 * 1024
#: A line CMD prints may be at most this long (a bound on what one message may buffer).
MAX_LINE = 16 * 1024 * 1024
#: After Ctrl-C, how long CMD has to exit after SIGTERM before it is killed.
_TERMINATE_GRACE = 2.0


def parse_exec_command(text: str) -> list[str]:
    """Split ``--exec``'s value into argv and check that its program can be run.

    Raises :class:`~wsctl.errors.InvalidInput` (exit 2) for bad quoting, an empty command or
    a program that is not found or not executable — before anything connects.
    """
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(f"invalid --exec command {text!r}: {exc}") from None
    if not argv:
        raise InvalidInput("--exec needs a command, such as --exec './handler.py --flag'")
    program = argv[0]
    if os.sep in program or (os.altsep is not None and os.altsep in program):
        if not os.path.isfile(program):
            raise InvalidInput(f"--exec: no such file: {program}")
        if not os.access(program, os.X_OK):
            raise InvalidInput(f"--exec: not executable: {program}")
        return argv
    found = shutil.which(program)
    if found is None:
        raise InvalidInput(f"--exec: command not found: {program}")
    return [found, *argv[1:]]


def message_framer(env: Environment, **writer_options: Any) -> Callable[[Message], bytes]:
    """A function rendering one message as the bytes ``wsctl listen`` would print for it.

    The renderer is listen's own :class:`~wsctl.output.MessageWriter` (``writer_options``:
    ``binary_format``, ``json_lines``, ``timestamps``), writing to memory as if to a pipe: no
    terminal escaping, binary as base64 unless ``binary_format`` says otherwise.
    """
    sink = io.BytesIO()
    writer = MessageWriter(env._replace(stdout=sink, stdout_isatty=False), **writer_options)

    def frame(message: Message) -> bytes:
        writer.message(message)
        data = sink.getvalue()
        sink.seek(0)
        sink.truncate()
        return data

    return frame


async def bridge(
    env: Environment,
    client: Client,
    argv: Sequence[str],
    status: StatusWriter,
    *,
    writer_options: Mapping[str, Any],
    initial: Sequence[str] = (),
    count: int | None = None,
    close_code: int = 1000,
    close_reason: str = "",
    record: RunRecord | None = None,
) -> int:
    """Run CMD (``argv``, from :func:`parse_exec_command`) on the open ``client``: send the
    ``initial`` messages, then bridge until CMD exits.  Returns the exit code; ``record`` (a
    ``--report``) counts the messages both ways."""
    runner = ExecBridge(
        client,
        argv,
        message_framer(env, **writer_options),
        status,
        count=count,
        close_code=close_code,
        close_reason=close_reason,
    )
    if record is not None:
        record.count_received = lambda: runner.received
    try:
        return await runner.run(initial)
    finally:
        if record is not None:
            record.sent += runner.sent + runner.initial_sent


async def exec_session(
    env: Environment,
    url: str,
    options: ConnectOptions,
    argv: Sequence[str],
    *,
    writer_options: Mapping[str, Any],
    initial: Sequence[str] = (),
    close_code: int = 1000,
    close_reason: str = "",
    verbose: bool = False,
    quiet: bool = False,
) -> int:
    """``wsctl connect --exec``: connect, run the bridge, close however it ends."""
    status = StatusWriter(env, verbose=verbose, quiet=quiet)
    client = await connect(url, options, observer=status.handshake)
    for line in connected_lines(client):
        status.detail(line)
    try:
        return await bridge(
            env,
            client,
            argv,
            status,
            writer_options=writer_options,
            initial=initial,
            close_code=close_code,
            close_reason=close_reason,
        )
    finally:
        await close_quietly(client, close_code, close_reason)


class ExecBridge:
    """Runs CMD against an open :class:`~wsctl.core.Client` until CMD exits (see the module)."""

    def __init__(
        self,
        client: Client,
        argv: Sequence[str],
        frame: Callable[[Message], bytes],
        status: StatusWriter,
        *,
        count: int | None = None,
        close_code: int = 1000,
        close_reason: str = "",
    ) -> None:
        """Prepare the bridge; :meth:`run` starts CMD.  ``count`` ends CMD's input (EOF) after
        that many messages; ``close_code``/``close_reason`` close the connection when CMD
        exits."""
        self.client = client
        self.argv = list(argv)
        self.frame = frame
        self.status = status
        self.count = count
        self.close_code = close_code
        self.close_reason = close_reason
        self.received = 0
        """Messages received and written to CMD's stdin."""
        self.sent = 0
        """Lines of CMD sent as messages."""
        self.unsent = 0
        """Lines CMD printed after the connection closed."""
        self.discarded = 0
        """Messages received after CMD closed its stdin."""
        self.initial_sent = 0
        """Messages of ``initial`` sent."""

    async def run(self, initial: Sequence[str] = ()) -> int:
        """Start CMD, send ``initial`` messages, bridge until CMD exits; return the exit code.

        Raises :class:`~wsctl.errors.ConnectionClosedAbnormally` when the server closed
        abnormally, and whatever sending raises (a write timeout) while the connection is open.
        """
        process = await self._spawn()
        name = os.path.basename(self.argv[0])
        self.status.detail(f"started {name} (pid {process.pid})")
        feeder: asyncio.Task[None] | None = None
        try:
            for text in initial:
                await self.client.send(text)
                self.initial_sent += 1
            feeder = asyncio.create_task(self._feed(process), name="wsctl-exec-feed")
            assert process.stdout is not None
            await self._pump(process.stdout)
            returncode = await process.wait()
        except BaseException:
            await _stop(process)
            raise
        finally:
            if feeder is not None and not feeder.done():
                feeder.cancel()
            if feeder is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder  # re-raises an abnormal close or a bug
        code = returncode if returncode >= 0 else 128 - returncode
        self.status.detail(f"{name} exited with status {returncode}")
        if self.unsent:
            self.status.warning(
                f"{self.unsent} line(s) printed by {name} after the connection closed were not sent"
            )
        if self.discarded:
            self.status.detail(f"{self.discarded} message(s) arrived after {name} closed stdin")
        if not self.client.closed:
            await self.client.close(self.close_code, self.close_reason)
        else:
            self.status.closed(self.client.close_code, self.client.close_reason, by_server=True)
        return code

    async def _spawn(self) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_CHUNK,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InvalidInput(f"--exec: cannot run {self.argv[0]}: {reason}") from None

    async def _feed(self, process: asyncio.subprocess.Process) -> None:
        """Received messages → CMD's stdin, one per line; EOF when the server closes."""
        stdin = process.stdin
        assert stdin is not None
        recv, frame = self.client.recv, self.frame
        writing = True
        try:
            while (message := await recv()) is not None:
                if not writing:
                    self.discarded += 1
                    continue
                self.received += 1
                try:
                    stdin.write(frame(message))
                    # Waits while the pipe is full: the socket is not read meanwhile.
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    writing = False  # CMD closed its stdin; keep reading so the close completes
                if self.count is not None and self.received >= self.count:
                    return
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    async def _pump(self, stdout: asyncio.StreamReader) -> None:
        """CMD's stdout lines → text messages, a batch per chunk read."""
        async for lines in _lines(stdout):
            if self.client.closed:
                self.unsent += len(lines)
                continue
            try:
                await self.client.send_utf8(lines)
            except ConnectionClosedAbnormally:
                if not self.client.closed:
                    raise
                self.unsent += len(lines)  # the server closed while we were sending
            else:
                self.sent += len(lines)


async def _lines(stdout: asyncio.StreamReader) -> AsyncIterator[list[bytes]]:
    """Batches of complete lines (without ``\\n`` / ``\\r\\n``), checked to be UTF-8."""

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await stdout.read(_CHUNK):
            yield chunk

    async for batch in utf8_lines(
        chunks(),
        not_utf8=lambda line: (
            f"--exec: line {line} printed by the command is not valid UTF-8 (text messages must be)"
        ),
        max_line=MAX_LINE,
        too_long=lambda line: f"--exec: line {line} of the command is over 16 MiB",
    ):
        yield batch


async def _stop(process: asyncio.subprocess.Process) -> None:
    """End CMD when wsctl stops early (Ctrl-C, an error): SIGTERM, then SIGKILL."""
    if process.returncode is not None:
        return
    _signal(process, signal.SIGTERM)
    try:
        async with asyncio.timeout(_TERMINATE_GRACE):
            await asyncio.shield(process.wait())
    except (TimeoutError, asyncio.CancelledError):
        _signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))
    if process.returncode is None:
        with contextlib.suppress(Exception):
            await process.wait()


def _signal(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    """Signal CMD with ``os.kill``: ``Process.send_signal`` first reaps an exited CMD itself,
    racing asyncio's child watcher, which then logs "Unknown child process pid N"."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signum)
