"""wsctl: a WebSocket client for terminals, shell pipelines and CI checks.

The Python API mirrors the module spec (see README.md, "Python API")::

    import asyncio, wsctl

    async def main():
        async with wsctl.connect("ws://127.0.0.1:8765/echo", read_timeout="5s") as client:
            await client.send("hello")
            async for message in client:
                print(message.type, message.data)
                break

    asyncio.run(main())

Names are imported lazily so that ``import wsctl`` (and the CLI) starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "connect": "wsctl.core",
    "Client": "wsctl.core",
    "Message": "wsctl.core",
    "ConnectOptions": "wsctl.settings",
    "Compression": "wsctl.settings",
    "COMPRESSION": "wsctl.settings",
    "CLOSE_CODES": "wsctl.settings",
    "TEXT": "wsctl.settings",
    "BINARY": "wsctl.settings",
    "TYPE_TEXT": "wsctl.settings",
    "TYPE_BINARY": "wsctl.settings",
    "TYPE_PING": "wsctl.settings",
    "TYPE_PONG": "wsctl.settings",
    "TYPE_CLOSE": "wsctl.settings",
    "WebSocketError": "wsctl.errors",
    "InvalidInput": "wsctl.errors",
    "PermissionDenied": "wsctl.errors",
    "ConnectionFailed": "wsctl.errors",
    "Timeout": "wsctl.errors",
    "ConnectionClosedAbnormally": "wsctl.errors",
    "CheckFailed": "wsctl.errors",
    "Interrupted": "wsctl.errors",
    "Kind": "wsctl.errors",
    "ExitCode": "wsctl.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from wsctl.core import Client, Message, connect
    from wsctl.errors import (
        CheckFailed,
        ConnectionClosedAbnormally,
        ConnectionFailed,
        ExitCode,
        Interrupted,
        InvalidInput,
        Kind,
        PermissionDenied,
        Timeout,
        WebSocketError,
    )
    from wsctl.settings import (
        BINARY,
        CLOSE_CODES,
        COMPRESSION,
        TEXT,
        TYPE_BINARY,
        TYPE_CLOSE,
        TYPE_PING,
        TYPE_PONG,
        TYPE_TEXT,
        Compression,
        ConnectOptions,
    )


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'wsctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
