"""permessage-deflate (RFC 7692) for the spec's ``compression`` and ``compression_threshold``.

``Compression.CONTEXT_TAKEOVER`` offers plain ``permessage-deflate``: both sides keep their
LZ77 window between messages unless the server answers with ``*_no_context_takeover``, which
the client accepts — that is the fallback to no-context the reference implementation has.
``Compression.NO_CONTEXT`` asks for ``client_no_context_takeover`` and
``server_no_context_takeover``, so every message is compressed on its own.

Small messages often grow when deflated, so messages smaller than the threshold go out as
they are (RSV1 clear); the peer sees an ordinary uncompressed frame, which RFC 7692 allows for
any message.  Threshold 0 means the reference's defaults: 128 bytes while the client keeps its
compression context, 512 bytes without it (nothing to gain from history, so more to lose).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from websockets.extensions.base import ClientExtensionFactory, Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import CONT, CTRL_OPCODES, Frame
from websockets.typing import ExtensionParameter

from wsctl.settings import Compression

#: Default thresholds of the reference implementation, by whether the client keeps context.
DEFAULT_THRESHOLD_CONTEXT_TAKEOVER = 128
DEFAULT_THRESHOLD_NO_CONTEXT = 512

#: websockets' own default: a smaller zlib memory level costs little ratio and saves memory.
_COMPRESS_SETTINGS = {"memLevel": 5}


def default_threshold(client_no_context_takeover: bool) -> int:
    """The threshold used when the option is 0, for the negotiated client mode."""
    if client_no_context_takeover:
        return DEFAULT_THRESHOLD_NO_CONTEXT
    return DEFAULT_THRESHOLD_CONTEXT_TAKEOVER


class ThresholdPerMessageDeflate(PerMessageDeflate):
    """websockets' permessage-deflate, leaving messages smaller than ``threshold`` uncompressed.

    Skipping a message does not touch the compressor, so the peer's decompressor (which only
    sees messages with RSV1 set) stays in step even with context takeover.
    """

    def __init__(self, *args: Any, threshold: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threshold = threshold
        #: Messages sent compressed and as they were: for verbose output and tests.
        self.compressed_messages = 0
        self.uncompressed_messages = 0

    def encode(self, frame: Frame) -> Frame:
        """Compress ``frame`` unless it is a whole message smaller than the threshold."""
        if frame.opcode in CTRL_OPCODES:
            return frame
        if frame.opcode is not CONT:
            # Only a complete single-frame message has a known size; a fragmented one is
            # compressed whole, because its first frame must already say so (RSV1).
            if frame.fin and len(frame.data) < self.threshold:
                self.uncompressed_messages += 1
                return frame
            self.compressed_messages += 1
        return super().encode(frame)

    def describe(self) -> str:
        """The negotiated parameters in words, e.g. for ``--verbose``."""
        client = "no context takeover" if self.local_no_context_takeover else "context takeover"
        server = "no context takeover" if self.remote_no_context_takeover else "context takeover"
        windows = ""
        if self.local_max_window_bits != 15 or self.remote_max_window_bits != 15:
            windows = (
                f", window bits client {self.local_max_window_bits}"
                f" / server {self.remote_max_window_bits}"
            )
        return (
            f"permessage-deflate: client {client}, server {server}{windows}; "
            f"messages under {self.threshold} bytes sent uncompressed"
        )


class ThresholdDeflateFactory(ClientPerMessageDeflateFactory):
    """Offers permessage-deflate for a :class:`Compression` mode and applies the threshold."""

    def __init__(self, mode: Compression, threshold: int) -> None:
        no_context = mode == Compression.NO_CONTEXT
        super().__init__(
            server_no_context_takeover=no_context,
            client_no_context_takeover=no_context,
            client_max_window_bits=True,
            compress_settings=dict(_COMPRESS_SETTINGS),
        )
        self.mode = mode
        self.threshold = threshold

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> ThresholdPerMessageDeflate:
        """Accept the server's answer (its no-context demands included) and set the threshold."""
        # The parent checks the answer against the offer; a server that asks for no context
        # takeover while we offered context takeover is accepted there: our fallback.
        negotiated = super().process_response_params(params, accepted_extensions)
        threshold = self.threshold or default_threshold(negotiated.local_no_context_takeover)
        return ThresholdPerMessageDeflate(
            negotiated.remote_no_context_takeover,
            negotiated.local_no_context_takeover,
            negotiated.remote_max_window_bits,
            negotiated.local_max_window_bits,
            negotiated.compress_settings,
            threshold=threshold,
        )


def client_extensions(mode: Compression, threshold: int) -> list[ClientExtensionFactory] | None:
    """The extension factories to offer for ``mode`` (``None`` when compression is disabled)."""
    if mode == Compression.DISABLED:
        return None
    return [ThresholdDeflateFactory(mode, threshold)]


def negotiated(extensions: Sequence[Extension]) -> ThresholdPerMessageDeflate | None:
    """The permessage-deflate extension in force on a connection, if the server accepted it."""
    for extension in extensions:
        if isinstance(extension, ThresholdPerMessageDeflate):
            return extension
    return None
