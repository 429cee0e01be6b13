"""An echo client for the Autobahn|Testsuite in client mode (``wstest -m fuzzingserver``).

Usage: ``python bench/autobahn_client.py URL AGENT {websockets|recv|batch}``

* ``websockets`` — websockets' own ClientConnection and ``recv()``: the reference.
* ``recv``       — wsctl's connection core (:class:`wsctl.receive.FastConnection` under
  :class:`wsctl.core.Client`), message by message through ``Client.recv()``.
* ``batch``      — the same, through ``Client.recv_batch()``, the path ``wsctl listen`` takes.

Each runs every case (``/runCase?case=N&agent=AGENT``), echoing every message back with its
type, then asks wstest to write its reports (``/updateReports``).  Same limits for all three:
16 MiB messages, no keep-alive pings, no compression.  See /work/shared/autobahn/README.md or
bench/README.md for running wstest.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from wsctl.core import connect
from wsctl.errors import WebSocketError
from wsctl.settings import BINARY, TEXT, ConnectOptions

MAX_SIZE = 16 * 1024 * 1024
OPTIONS = ConnectOptions(read_limit=MAX_SIZE, close_timeout=5.0, policy=None)


async def case_websockets(url: str) -> None:
    """One case with websockets' client alone."""
    try:
        async with ws_connect(url, max_size=MAX_SIZE, ping_interval=None, compression=None) as ws:
            async for message in ws:
                await ws.send(message)
    except (ConnectionClosed, OSError):
        pass


async def case_wsctl(url: str, batched: bool) -> None:
    """One case through wsctl's Client: recv() per message, or recv_batch()."""
    try:
        async with connect(url, OPTIONS) as client:
            if batched:
                while (batch := await client.recv_batch()) is not None:
                    for is_text, data in batch:
                        await client.send(data, TEXT if is_text else BINARY)
            else:
                while (message := await client.recv()) is not None:
                    await client.send(message.data)
    except (WebSocketError, OSError):
        pass


async def count_cases(base: str) -> int:
    """``/getCaseCount``: wstest sends the number of cases as one text message."""
    async with ws_connect(f"{base}/getCaseCount") as ws:
        return int(await ws.recv())


async def main(base: str, agent: str, mode: str) -> None:
    """Run every case in ``mode``, then have the reports written."""
    total = await count_cases(base)
    for case in range(1, total + 1):
        url = f"{base}/runCase?case={case}&agent={agent}"
        if mode == "websockets":
            await case_websockets(url)
        else:
            await case_wsctl(url, batched=mode == "batch")
    async with ws_connect(f"{base}/updateReports?agent={agent}") as ws:
        await ws.wait_closed()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in ("websockets", "recv", "batch"):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]))
