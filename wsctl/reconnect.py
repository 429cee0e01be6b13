"""``wsctl listen --reconnect``: keep a subscription alive across dropped connections.

A connection that drops — the server going away (1001, as on a restart), an abnormal closure
(1006) or a retryable close code (1011, 1012, 1013), or a stream silent for ``--read-timeout``
— is opened again after a backoff, and the ``--send`` messages (subscriptions, auth) are sent
again.  A normal closure (1000) ends the run: the server finished on purpose.  Messages are
written as they arrive, once each; ``--count`` counts across connections.

Reconnection attempts go on without limit unless ``--retry N`` bounds the attempts after each
drop; non-retryable failures (403, policy denial, certificate errors) end the run at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from wsctl.core import Client, open_client
from wsctl.errors import ConnectionClosedAbnormally, ExitCode, OutputClosed, Timeout
from wsctl.output import MessageWriter, StatusWriter
from wsctl.redact import redact_url
from wsctl.retry import RetryNotice, backoff_delay, retrying
from wsctl.session import close_quietly, close_record, print_messages, report_close
from wsctl.settings import ConnectOptions, close_code_name

#: Closures after which a normal server close still means "come back": it is restarting.
GOING_AWAY = 1001


@dataclass(frozen=True)
class Drop:
    """How a connection was lost: its close code (``None`` after a read timeout) and why."""

    code: int | None
    reason: str

    def describe(self) -> str:
        """``connection lost (1012 service restart: upgrade)`` or the timeout's message."""
        if self.code is None:
            return f"connection lost: {self.reason}"
        reason = f": {self.reason}" if self.reason else ""
        return f"connection lost ({self.code} {close_code_name(self.code)}{reason})"


async def listen_reconnecting(
    url: str,
    options: ConnectOptions,
    *,
    writer: MessageWriter,
    status: StatusWriter,
    send_messages: tuple[str, ...],
    count: int | None,
    events: bool,
    record: Any = None,
) -> int:
    """Print messages from ``url`` until a normal close or ``count``, reconnecting after drops.

    ``record`` (a :class:`wsctl.report.RunRecord`, if any) hears of each connection and send.
    """
    loop = asyncio.get_running_loop()
    reconnects = 0
    drop: Drop | None = None
    started = loop.time()
    client = await open_client(url, options, observer=status.handshake)
    while True:
        if record is not None:
            record.connected(client, loop.time() - started)
        try:
            if events:
                writer.event(_open_event(client, drop, reconnects))
            status.detail(f"connected to {redact_url(client.url)}")
            for text in send_messages:
                await client.send(text)
                if record is not None:
                    record.sent += 1
            if await print_messages(client, writer, status, count=count):
                if events:
                    writer.event(close_record(client))
                    writer.flush()
                return ExitCode.OK
            if client.close_code != GOING_AWAY:  # 1000: the stream ended on purpose
                report_close(client, writer, status, events=events)
                return ExitCode.OK
            drop = Drop(client.close_code, client.close_reason)
        except ConnectionClosedAbnormally as error:
            writer.flush()
            if not error.retryable:
                if events:
                    writer.event(close_record(client, error.code, error.reason))
                    writer.flush()
                raise
            drop = Drop(error.code, error.reason)
        except Timeout as error:  # the stream went quiet (--read-timeout) or stopped reading
            writer.flush()
            await close_quietly(client)
            drop = Drop(None, str(error))
        except OutputClosed:
            raise
        except BaseException:
            await close_quietly(client)
            if events:  # Ctrl-C, SIGTERM, a failed send: the stream still says how it ended
                writer.event(close_record(client))
                writer.flush()
            raise
        started = loop.time()
        try:
            client = await _reconnect(url, options, status, drop)
        except BaseException:
            if events:  # a signal in the backoff, or every retry failed: say how it ended
                writer.event(close_record(client, drop.code, drop.reason))
                writer.flush()
            raise
        reconnects += 1


def _open_event(client: Client, drop: Drop | None, reconnects: int) -> dict[str, object]:
    """The NDJSON record for a connection: ``open`` the first time, ``reconnected`` after."""
    record: dict[str, object] = {
        "type": "open" if drop is None else "reconnected",
        "url": redact_url(client.url),
        "subprotocol": client.subprotocol,
        "extensions": client.extensions,
    }
    if drop is not None:
        record.update({"reconnects": reconnects, "code": drop.code, "reason": drop.reason or None})
    return record


async def _reconnect(url: str, options: ConnectOptions, status: StatusWriter, drop: Drop) -> Client:
    """Wait a backoff, then connect again, retrying (up to ``--retry`` times, if given)."""
    delay = backoff_delay(1, options.retry_delay, options.retry_max_delay)
    status.info(f"{drop.describe()}; reconnecting in {delay:.1f}s")
    await asyncio.sleep(delay)
    single = dataclasses.replace(options, retries=0)  # the attempts are counted here

    def notify(notice: RetryNotice) -> None:
        of = f" of {notice.retries}" if notice.retries is not None else ""
        status.info(
            f"reconnecting failed: {notice.error}; retry {notice.retry}{of} in {notice.delay:.1f}s"
        )

    client = await retrying(
        lambda: open_client(url, single, observer=status.handshake),
        retries=options.retries or None,
        delay=options.retry_delay,
        max_delay=options.retry_max_delay,
        notify=notify,
    )
    status.info(f"reconnected to {redact_url(client.url)}")
    return client
