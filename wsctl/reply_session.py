"""``--reply 'MATCH=>RESPONSE'`` on ``listen`` and ``connect``: the option and the writer
that answers matching messages instead of printing them.

The rules themselves are pure (:mod:`wsctl.replies`); here they meet a session.  Answers are
sent in order by one task, so a reader that never awaits (``writer.message`` is called once
per message on the hot path) still sends every answer.  Replied-to messages are protocol noise:
they reach stderr only with ``-v``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wsctl.core import Client, Message
from wsctl.errors import InvalidInput, WebSocketError
from wsctl.output import MessageWriter, StatusWriter
from wsctl.settings import TYPE_BINARY, TYPE_TEXT

if TYPE_CHECKING:  # the rules (and json, regexes) are imported only when --reply is used
    from wsctl.replies import Replier

F = TypeVar("F", bound=Callable[..., Any])


class ReplyType(click.ParamType):  # type: ignore[type-arg]
    """``MATCH=>RESPONSE`` → :class:`~wsctl.replies.Reply`; a bad one is a usage error."""

    name = "match=>response"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from wsctl.replies import Reply, parse_reply

        if isinstance(value, Reply):
            return value
        try:
            return parse_reply(value, os.environ)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


REPLY = ReplyType()


def reply_option(function: F) -> F:
    """``--reply MATCH=>RESPONSE`` (repeatable); the command receives ``replies``."""
    return click.option(
        "--reply",
        "replies",
        type=REPLY,
        multiple=True,
        metavar="'MATCH=>RESPONSE'",
        help="Answer every message matching MATCH (a regex, or json:PATH=VALUE) with "
        "RESPONSE, which may use the regex's groups as ${1} or ${name}; e.g. '^2$=>3' "
        "(Socket.IO heartbeat). Repeatable; answered messages are shown only with -v.",
    )(function)


def show_reply(status: StatusWriter, message: str | bytes, answer: str) -> None:
    """With ``-v``: the message a reply answered, and the answer."""
    if status.verbose:
        from wsctl.checks import preview

        status.detail(f"replied {preview(answer)} to {preview(message)}")


class ReplyingWriter(MessageWriter):
    """Answers the messages a reply rule matches; passes every other one to ``inner``.

    It stands in for the command's writer (plain or checked), so the loops that print
    messages do not change; :meth:`attach` gives it the connection once it is open.
    """

    def __init__(self, inner: MessageWriter, replier: Replier, status: StatusWriter) -> None:
        # Not MessageWriter.__init__: every write goes through ``inner``.
        self.inner = inner
        self.replier = replier
        self.status = status
        self.count = 0
        self.sent = 0
        self._answers: asyncio.Queue[str] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None

    def attach(self, client: Client) -> None:
        """Start sending answers on ``client``."""
        self._sender = asyncio.create_task(self._send(client), name="wsctl-replies")

    async def _send(self, client: Client) -> None:
        with contextlib.suppress(WebSocketError):  # closed: the session reports how
            while True:
                await client.send(await self._answers.get())
                self.sent += 1

    def message(self, message: Message) -> None:
        """Answer ``message`` if a rule matches it, else render it as usual."""
        answer = self.replier.respond(message.data)
        if answer is None:
            self.inner.message(message)
            self.count = self.inner.count
            return
        show_reply(self.status, message.data, answer)
        self._answers.put_nowait(answer)

    def messages(self, batch: list[tuple[bool, bytes]]) -> None:
        """A batch from :meth:`wsctl.core.Client.recv_batch`: each message answered or passed
        on, one at a time, as :meth:`message` does."""
        for is_text, data in batch:
            self.message(
                Message(TYPE_TEXT, data.decode()) if is_text else Message(TYPE_BINARY, data)
            )

    def event(self, record: dict[str, object]) -> None:
        """Write one NDJSON event through the inner writer."""
        self.inner.event(record)

    def flush(self) -> None:
        """Flush the inner writer."""
        self.inner.flush()

    def stop(self) -> None:
        """Stop sending answers (the session is over)."""
        if self._sender is not None:
            self._sender.cancel()
