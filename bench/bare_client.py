"""A reference row for the bench: websockets' asyncio client with no CLI around it.

Usage: ``python bench/bare_client.py {oneshot URL MSG | listen URL | send URL}``

wsctl's connection core is built on ``websockets.asyncio.client``; this script does each bench
scenario with that client and nothing else (no option parsing, no policy, no renderer), so
its figures are the ceiling of the library wsctl sits on, on this machine. The gap between
this row and wsctl's is wsctl's own cost; the gap between this row and a target says whether
the target is reachable on this API at all.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def oneshot(url: str, message: str) -> None:
    """Send one message, print the first reply, close."""
    async with connect(url, compression=None) as ws:
        await ws.send(message)
        print(await ws.recv())


async def listen(url: str) -> None:
    """Write every message on its own line until the server closes."""
    write = sys.stdout.buffer.write
    async with connect(url, compression=None, max_size=None) as ws:
        try:
            while True:
                write(await ws.recv(decode=False) + b"\n")  # bytes: no decode, no re-encode
        except ConnectionClosed:
            pass
    sys.stdout.buffer.flush()


async def send(url: str) -> None:
    """Send every stdin line as a text message, then close."""
    lines = sys.stdin.buffer.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    async with connect(url, compression=None) as ws:
        for line in lines:
            await ws.send(line, text=True)  # bytes sent as a text frame: no decode


def main() -> None:
    """Run one scenario."""
    mode, url, *rest = sys.argv[1:]
    if mode == "oneshot":
        asyncio.run(oneshot(url, rest[0]))
    elif mode == "listen":
        asyncio.run(listen(url))
    elif mode == "send":
        asyncio.run(send(url))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
