"""The interactive session: one asyncio select loop over the prompt, the socket and a timer.

Tasks run side by side and :meth:`InteractiveSession._select` waits for the first to finish
(``FIRST_COMPLETED``), like the spec's ``channel.select``:

* the prompt: one ``PromptSession.prompt_async()`` for the whole session, whose Enter hands
  the line to a queue; it ends on Ctrl-D (or Ctrl-C on an empty line);
* the work: the next line from the queue, carried out (sent, or run as a slash command);
* the reader: every received message is printed above the prompt, and the connection's end
  (the server's close, a dropped connection, a read timeout) ends the session;
* the keep-alive timer (``--ping-interval``): a Ping every interval; a Pong that does not come
  back within ``--ping-timeout`` closes the session as abnormal (1011, exit 6).

Output goes through :class:`~wsctl.interactive.terminal.AbovePrompt`, which erases the prompt,
prints, and redraws the prompt with the half-typed line and the cursor where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO, cast

from prompt_toolkit import PromptSession
from prompt_toolkit.application.current import get_app, get_app_session
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, PathCompleter
from prompt_toolkit.completion import Completion as PromptCompletion
from prompt_toolkit.document import Document
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_focus
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import Style
from rich.console import Console

from wsctl.core import CLOSE_TIMEOUT, Client, connect
from wsctl.diagnostics import client_lines
from wsctl.durations import format_duration
from wsctl.environment import Environment
from wsctl.errors import (
    ConnectionClosedAbnormally,
    ExitCode,
    InvalidInput,
    Timeout,
    WebSocketError,
)
from wsctl.interactive import InteractiveSettings
from wsctl.interactive import commands as slash
from wsctl.interactive.history import history_path, open_history
from wsctl.interactive.multiline import continuation_prompt, is_incomplete_json
from wsctl.interactive.render import Renderer, View, format_rtt
from wsctl.interactive.terminal import AbovePrompt
from wsctl.output import StatusWriter
from wsctl.redact import redact_url
from wsctl.replies import Replier
from wsctl.session import close_quietly
from wsctl.settings import BINARY, TEXT, ConnectOptions, close_code_name

#: At Ctrl-D, a send still running after this long is announced (the server is not reading).
STILL_SENDING = 0.25

#: How long ``/ping`` waits for its Pong when no ``--ping-timeout`` is set.
DEFAULT_PING_TIMEOUT = 10.0

#: What each /json, /timestamps, /pingpong switches: the View attribute and its name.
_TOGGLES: dict[str, tuple[str, str]] = {
    "json": ("pretty", "JSON pretty-printing"),
    "timestamps": ("timestamps", "timestamps"),
    "pingpong": ("show_ping_pong", "keep-alive pings and pongs"),
}

HINT = "Type a message and press Enter to send it; /help lists the commands; Ctrl-D quits."


class _SessionOver(Exception):
    """Ends the prompt from outside when the connection ends under it."""


class _BinaryAbovePrompt:
    """A binary stream over :class:`AbovePrompt`, so that ``--verbose`` handshake lines
    printed while the prompt is up (``/reconnect``) appear above it instead of through it."""

    def __init__(self, writer: AbovePrompt) -> None:
        self._writer = writer

    def write(self, data: bytes) -> int:
        self._writer.write(data.decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        pass


class SlashCompleter(Completer):
    """Tab completion of slash commands, their arguments, and file names after ``@``."""

    def __init__(self) -> None:
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[PromptCompletion]:
        before = document.text_before_cursor
        prefix = slash.file_argument_prefix(before)
        if prefix is not None:
            yield from self._paths.get_completions(Document(prefix), complete_event)
            return
        for completion in slash.complete(before):
            yield PromptCompletion(
                completion.text,
                start_position=-completion.start,
                display_meta=completion.meta,
            )


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        """Alt-Enter / Esc Enter: a newline in the message (multi-line JSON)."""
        event.current_buffer.insert_text("\n")

    @bindings.add(
        "enter",
        filter=has_focus(DEFAULT_BUFFER)
        & Condition(lambda: is_incomplete_json(get_app().current_buffer.text)),
    )
    def _continue_json(event: KeyPressEvent) -> None:
        """Enter in JSON with brackets still open: a newline; on an empty line, send as is."""
        buffer = event.current_buffer
        head, _, last = buffer.text.rpartition("\n")
        if head and not last.strip():
            buffer.text = head
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        """Ctrl-C clears the line, as in a shell; on an empty line it quits like Ctrl-D."""
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=EOFError())

    return bindings


@dataclass
class _Link:
    """One open connection and the tasks that serve it."""

    client: Client
    reader: asyncio.Task[int]
    keepalive: asyncio.Task[int | None] | None
    opened: float
    sent: int = 0
    received: int = 0


class InteractiveSession:
    """A terminal session on one URL; :meth:`run` returns the exit code."""

    def __init__(
        self,
        env: Environment,
        url: str,
        options: ConnectOptions,
        settings: InteractiveSettings,
        *,
        banner: str | None = None,
    ) -> None:
        self.env = env
        self.url = url
        self.settings = settings
        self.banner = banner
        # The keep-alive timer is ours (so that --show-ping-pong can show it); the core's own
        # keep-alive is switched off.
        self.ping_interval = options.ping_interval
        self.ping_timeout = options.ping_timeout or options.ping_interval
        self.options = dataclasses.replace(options, ping_interval=None, ping_timeout=None)
        self.color = settings.color and not env.no_color
        self.view = View(
            pretty=settings.pretty,
            timestamps=settings.timestamps,
            show_ping_pong=settings.show_ping_pong,
        )
        self._link: _Link | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._prompt: PromptSession[str] | None = None
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._replier = Replier(settings.replies)
        self._busy = False

    # -- running -------------------------------------------------------------------------

    async def run(self) -> int:
        """Connect, then serve the prompt until the user quits or the connection ends."""
        # The terminal output, taken before stdout is redirected below.
        self._output = get_app_session().output
        self._writer = writer = AbovePrompt(
            self._output,
            asyncio.get_running_loop(),
            lambda: self._prompt.app if self._prompt is not None else None,
        )
        self.renderer = Renderer(self._console(writer), self.view)
        self.status = StatusWriter(
            self.env._replace(stderr=cast(BinaryIO, _BinaryAbovePrompt(writer))),
            verbose=self.settings.verbose,
            quiet=self.settings.quiet,
        )
        # Anything else printed during the session (a library's warning) goes above the
        # prompt too, instead of through it.
        text_writer = cast(TextIO, writer)
        with contextlib.redirect_stdout(text_writer), contextlib.redirect_stderr(text_writer):
            try:
                if self.banner:
                    self.renderer.banner(self.banner)
                await self._open()
                if not self.settings.quiet:
                    self.renderer.note(HINT)
                self._prompt = self._make_prompt()
                writer.drain()  # the lines so far, before the prompt first appears under them
                return await self._select()
            finally:
                await self._shutdown()
                writer.drain()

    def _console(self, file: TextIO | AbovePrompt) -> Console:
        return Console(
            file=cast(TextIO, file),
            force_terminal=True,
            color_system="auto" if self.color else None,
            no_color=not self.color,
            markup=False,
            emoji=False,
            highlight=False,
            # Long messages are left to the terminal to wrap, so that copying them from the
            # screen gives them back without inserted line breaks.
            soft_wrap=True,
        )

    def _make_prompt(self) -> PromptSession[str]:
        path = history_path() if self.settings.history else None
        history, warning = open_history(path)
        if warning:
            self.renderer.error(warning)
        session: PromptSession[str] = PromptSession(
            message=self._prompt_message,
            output=self._output,
            history=history,
            completer=SlashCompleter(),
            complete_while_typing=True,
            auto_suggest=AutoSuggestFromHistory(),
            key_bindings=_key_bindings(),
            # Each line accepted is cleared from the prompt and printed above it as
            # "> message" (with its time and colours), like the messages received; at the end
            # the prompt itself is erased.
            erase_when_done=True,
            enable_suspend=True,
            prompt_continuation=continuation_prompt,
            style=Style.from_dict(
                {"prompt": "ansigreen bold", "disconnected": "ansired", "suggestion": "#888888"}
            ),
            color_depth=None if self.color else ColorDepth.DEPTH_1_BIT,
        )
        session.default_buffer.accept_handler = self._accept
        return session

    def _prompt_message(self) -> StyleAndTextTuples:
        if self._link is None:
            return [("class:disconnected", "(disconnected) "), ("class:prompt", "> ")]
        return [("class:prompt", "> ")]

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: hand the line to the select loop and clear it; the prompt stays up."""
        self._lines.put_nowait(buffer.text)
        return False

    async def _select(self) -> int:
        """The select loop: wait for the prompt, a line's work, the connection, the timer.

        The prompt runs for the whole session: leaving it after each line would put the
        terminal back in line mode for a moment, and a key pressed then would be echoed over
        the output or lost (Ctrl-D), or become a signal (Ctrl-C).  Lines are carried out one
        at a time, in order, by a task of their own, so that a send the server does not take
        or a slow /reconnect never keeps the loop from seeing Ctrl-D or the server's close.
        """
        assert self._prompt is not None
        prompt_task = asyncio.create_task(self._prompt.prompt_async())
        work_task: asyncio.Task[int | None] | None = None
        try:
            while True:
                if work_task is None:
                    work_task = asyncio.create_task(self._work())
                link = self._link
                waiters: set[asyncio.Task[Any]] = {prompt_task, work_task}
                if link is not None:
                    if not link.reader.done():
                        waiters.add(link.reader)
                    if link.keepalive is not None:
                        waiters.add(link.keepalive)
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if (
                    link is not None
                    and link.reader in done
                    and link is self._link
                    and not link.client.closed_by_us
                ):
                    # The server or the network ended the connection; the reader has shown
                    # why.  (When we closed it, the task closing it reports and decides.)
                    return link.reader.result()
                if link is not None and link.keepalive is not None and link.keepalive in done:
                    code = link.keepalive.result()
                    if code is not None:
                        return code
                    link.keepalive = None  # the connection is closing: the reader reports it
                if work_task in done:
                    task, work_task = work_task, None
                    result = task.result()
                    if result is not None:
                        return result
                elif prompt_task in done:
                    # Ctrl-D, or Ctrl-C on an empty line.  The line being carried out and
                    # those typed before are sent first: nothing typed is lost.
                    with contextlib.suppress(EOFError, KeyboardInterrupt):
                        prompt_task.result()
                    if self._busy:
                        finished, _ = await asyncio.wait({work_task}, timeout=STILL_SENDING)
                        if not finished:
                            self.renderer.event(
                                "still sending: waiting for the server to take the message "
                                "before closing (Ctrl-C to give up)"
                            )
                        result = await work_task
                    else:
                        work_task.cancel()  # waiting for a line; a queued one stays queued
                        result = None
                    work_task = None
                    while result is None and not self._lines.empty():
                        result = await self._execute(self._lines.get_nowait())
                    if result is not None:
                        return result
                    return await self._close_and_exit(
                        self.settings.close_code, self.settings.close_reason
                    )
        finally:
            if work_task is not None:
                work_task.cancel()
                with contextlib.suppress(BaseException):
                    await work_task
            await self._stop_prompt(prompt_task)

    async def _work(self) -> int | None:
        """Take the next line typed and carry it out; an exit code when it ends the session."""
        line = await self._lines.get()
        self._busy = True
        try:
            return await self._execute(line)
        finally:
            self._busy = False

    async def _stop_prompt(self, task: asyncio.Task[str]) -> None:
        # Print what is still queued above the prompt, before the prompt goes away.
        self._writer.drain()
        if not task.done():
            assert self._prompt is not None
            app = self._prompt.app
            try:
                app.exit(exception=_SessionOver())
            except Exception:  # not running yet, or already exiting
                task.cancel()
        with contextlib.suppress(BaseException):
            await task

    async def _shutdown(self) -> None:
        for task in self._background:
            task.cancel()
        link, self._link = self._link, None
        if link is not None:
            await self._retire(link)

    async def _retire(self, link: _Link, code: int = 1000, reason: str = "") -> None:
        """Close ``link`` (if still open) and end its tasks."""
        if link.keepalive is not None:
            link.keepalive.cancel()
        await close_quietly(link.client, code, reason)
        link.reader.cancel()
        for task in (link.reader, link.keepalive):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task

    # -- the connection ------------------------------------------------------------------

    async def _open(self) -> None:
        client = await connect(self.url, self.options, observer=self.status.handshake)
        reader = asyncio.create_task(self._read(client), name="wsctl-reader")
        keepalive = (
            asyncio.create_task(self._keepalive(client), name="wsctl-keepalive")
            if self.ping_interval is not None
            else None
        )
        self._link = _Link(client, reader, keepalive, time.monotonic())
        if not self.settings.quiet:
            self.renderer.event(self._connected_text(client))
        if self.status.verbose:  # TLS, compression, subprotocol: as every command shows them
            for line in client_lines(client):
                self.status.detail(line)

    def _connected_text(self, client: Client) -> str:
        details = []
        if client.subprotocol:
            details.append(f"subprotocol {client.subprotocol}")
        if client.extensions:
            details.append("extensions " + ", ".join(client.extensions))
        shown = f"connected to {redact_url(client.url)}"
        return shown + (f" ({'; '.join(details)})" if details else "")

    async def _read(self, client: Client) -> int:
        """Print every message until the connection ends; return the session's exit code."""
        received = self.renderer.received
        try:
            while (message := await client.recv()) is not None:
                if self._link is not None and self._link.client is client:
                    self._link.received += 1
                if self._replier and await self._answered(client, message.data):
                    continue
                received(message)
        except ConnectionClosedAbnormally as exc:
            if client.closed_by_us:
                return ExitCode.OK
            self.renderer.error(str(exc))
            return exc.exit_code
        except Timeout as exc:
            self.renderer.error(str(exc))
            return exc.exit_code
        if not client.closed_by_us:
            code, reason = client.close_code, client.close_reason
            self.renderer.event(
                f"server closed the connection: {code} ({close_code_name(code)})"
                + (f": {reason}" if reason else "")
            )
        return ExitCode.OK

    async def _answered(self, client: Client, data: str | bytes) -> bool:
        """``--reply``: answer ``data`` if a rule matches it (shown only with ``-v``)."""
        answer = self._replier.respond(data)
        if answer is None:
            return False
        if self.settings.verbose:
            from wsctl.checks import preview

            self.renderer.event(f"replied {preview(answer)} to {preview(data)}")
        with contextlib.suppress(WebSocketError):  # closed: the read loop reports how
            await client.send(answer)
        return True

    async def _keepalive(self, client: Client) -> int | None:
        """Ping every ``ping_interval``; an exit code when a Pong is late, None if closed."""
        assert self.ping_interval is not None
        while True:
            await asyncio.sleep(self.ping_interval)
            if self.view.show_ping_pong:
                self.renderer.event("keep-alive ping sent")
            try:
                rtt = await client.ping(timeout=self.ping_timeout)
            except Timeout:
                limit = format_duration(self.ping_timeout or 0)
                self.renderer.error(
                    f"no pong within {limit} (--ping-timeout): closing the connection with 1011"
                )
                # A peer that does not answer pings will not answer a Close frame either:
                # wait for it no longer than for the pong.
                with contextlib.suppress(WebSocketError, TimeoutError, OSError):
                    async with asyncio.timeout(min(self.ping_timeout or 1.0, CLOSE_TIMEOUT)):
                        await client.close(1011, "keepalive ping timeout")
                return ExitCode.CLOSED_ABNORMALLY
            except WebSocketError:
                return None
            if self.view.show_ping_pong:
                self.renderer.event(f"keep-alive pong in {format_rtt(rtt)}")

    async def _ping(self, client: Client, payload: str) -> None:
        timeout = self.ping_timeout or DEFAULT_PING_TIMEOUT
        try:
            rtt = await client.ping(payload, timeout=timeout)
        except Timeout:
            self.renderer.error(f"no pong within {format_duration(timeout)}")
            return
        except WebSocketError as exc:
            if not client.closed:
                self.renderer.error(str(exc))
            return
        shown = f" ({payload!r})" if payload else ""
        self.renderer.event(f"pong{shown} in {format_rtt(rtt)}")

    async def _close_and_exit(self, code: int, reason: str) -> int:
        link = self._link
        if link is None:
            return ExitCode.OK
        await self._retire(link, code, reason)
        # Forgotten only now, so that the prompt does not say "(disconnected)" while closing.
        self._link = None
        self._report_closed(link.client, code)
        return ExitCode.OK

    def _report_closed(self, client: Client, code: int) -> None:
        shown = f"{code} ({close_code_name(code)})"
        if client.close_code not in (None, code, 1006):
            shown += f"; the server answered {client.close_code}"
        self.renderer.event(f"closed the connection: {shown}")

    # -- what the user asked for ---------------------------------------------------------

    async def _execute(self, line: str) -> int | None:
        """Carry out one line; an exit code when it ends the session."""
        try:
            action = slash.parse_line(line)
        except InvalidInput as exc:
            self.renderer.command(line)
            self.renderer.error(str(exc))
            return None
        if action is None:
            return None
        if not isinstance(action, slash.SendText) or line.startswith("/send"):
            self.renderer.command(line)
        try:
            return await self._perform(action)
        except WebSocketError as exc:
            link = self._link
            if link is None or not link.client.closed:
                self.renderer.error(str(exc))
            # A closed connection is reported by its reader, which ends the session.
            return None

    async def _perform(self, action: slash.Action) -> int | None:
        match action:
            case slash.SendText(text=text):
                await self._send(text, TEXT)
            case slash.SendBinary(data=data):
                await self._send(data, BINARY)
            case slash.SendFile(path=path, binary=binary):
                self._connected_link()  # before reading a file that cannot be sent
                data = slash.read_message_file(path, binary=binary)
                await self._send(
                    data if binary else data.decode("utf-8"), BINARY if binary else TEXT
                )
            case slash.Ping(payload=payload):
                client = self._connected_link().client
                task = asyncio.create_task(self._ping(client, payload))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            case slash.Close(code=code, reason=reason):
                return await self._close_and_exit(code, reason)
            case slash.Quit():
                return await self._close_and_exit(
                    self.settings.close_code, self.settings.close_reason
                )
            case slash.Toggle(setting=setting, value=value):
                self._toggle(setting, value)
            case slash.Help(topic=topic):
                self.renderer.note(slash.help_text(topic))
            case slash.Reconnect():
                await self._reconnect()
            case slash.Status():
                self.renderer.note(self._status_text())
            case slash.Clear():
                assert self._prompt is not None
                self._prompt.app.renderer.clear()
        return None

    def _connected_link(self) -> _Link:
        if self._link is None:
            raise InvalidInput("not connected: /reconnect to connect again, /quit to leave")
        return self._link

    async def _send(self, data: str | bytes, message_type: int) -> None:
        link = self._connected_link()
        # Shown before it is sent, so that it comes before the server's answer on screen.
        self.renderer.sent(data)
        await link.client.send(data, message_type)
        link.sent += 1

    def _toggle(self, setting: slash.Setting, value: bool | None) -> None:
        name, label = _TOGGLES[setting]
        new = not getattr(self.view, name) if value is None else value
        setattr(self.view, name, new)
        extra = ""
        if setting == "pingpong" and self.ping_interval is None:
            extra = " (no keep-alive is running: start wsctl with --ping-interval)"
        self.renderer.note(f"{label} {'on' if new else 'off'}{extra}")

    async def _reconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await self._retire(link)
            self._report_closed(link.client, 1000)
        self.renderer.event(f"reconnecting to {redact_url(self.url)}")
        try:
            await self._open()
        except WebSocketError as exc:
            self.renderer.error(f"{exc} (/reconnect to try again, /quit to leave)")

    def _status_text(self) -> str:
        link = self._link
        if link is None:
            return f"not connected (was {redact_url(self.url)}); /reconnect or /quit"
        client = link.client
        uptime = format_duration(round(time.monotonic() - link.opened, 1))
        lines = [
            f"url          {redact_url(client.url)}",
            f"subprotocol  {client.subprotocol or '(none)'}",
            f"extensions   {', '.join(client.extensions) or '(none)'}",
            f"connected    {uptime}",
            f"messages     {link.sent} sent, {link.received} received",
        ]
        if self.ping_interval is not None:
            lines.append(
                f"keep-alive   a ping every {format_duration(self.ping_interval)}, "
                f"pong within {format_duration(self.ping_timeout or 0)}"
            )
        return "\n".join(lines)
