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
    "Terminated": "wsctl.errors",
    "AddressDenied": "wsctl.policy",
    "Kind": "wsctl.errors",
    "ExitCode": "wsctl.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from wsctl.core import Client as Client
    from wsctl.core import Message as Message
    from wsctl.core import connect as connect
    from wsctl.errors import CheckFailed as CheckFailed
    from wsctl.errors import ConnectionClosedAbnormally as ConnectionClosedAbnormally
    from wsctl.errors import ConnectionFailed as ConnectionFailed
    from wsctl.errors import ExitCode as ExitCode
    from wsctl.errors import Interrupted as Interrupted
    from wsctl.errors import InvalidInput as InvalidInput
    from wsctl.errors import Kind as Kind
    from wsctl.errors import PermissionDenied as PermissionDenied
    from wsctl.errors import Terminated as Terminated
    from wsctl.errors import Timeout as Timeout
    from wsctl.errors import WebSocketError as WebSocketError
    from wsctl.policy import AddressDenied as AddressDenied
    from wsctl.settings import BINARY as BINARY
    from wsctl.settings import CLOSE_CODES as CLOSE_CODES
    from wsctl.settings import COMPRESSION as COMPRESSION
    from wsctl.settings import TEXT as TEXT
    from wsctl.settings import TYPE_BINARY as TYPE_BINARY
    from wsctl.settings import TYPE_CLOSE as TYPE_CLOSE
    from wsctl.settings import TYPE_PING as TYPE_PING
    from wsctl.settings import TYPE_PONG as TYPE_PONG
    from wsctl.settings import TYPE_TEXT as TYPE_TEXT
    from wsctl.settings import Compression as Compression
    from wsctl.settings import ConnectOptions as ConnectOptions


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'wsctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
