"""permessage-deflate against a real websockets server that records every frame's RSV1 bit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import TIMEOUT, LoopbackServer, Recorder, invoke
from websockets.asyncio.server import ServerConnection
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

import wsctl
from wsctl.compression import ThresholdPerMessageDeflate, default_threshold
from wsctl.settings import Compression, ConnectOptions


@dataclass
class Seen:
    """What the server observed: the client's offer, its own answer, and each data frame."""

    offers: list[list[ExtensionParameter]] = field(default_factory=list)
    answers: list[list[ExtensionParameter]] = field(default_factory=list)
    #: (payload length on the wire, RSV1) for each data frame the client sent.
    frames: list[tuple[int, bool]] = field(default_factory=list)
    #: The server side's extension objects, to check what was agreed.
    extensions: list[PerMessageDeflate] = field(default_factory=list)

    def rsv1(self) -> list[bool]:
        return [rsv1 for _, rsv1 in self.frames]


class RecordingFactory(ServerPerMessageDeflateFactory):
    """The server's permessage-deflate, recording the negotiation and the RSV1 of each frame."""

    def __init__(self, seen: Seen, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen = seen

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        answer, extension = super().process_request_params(params, accepted_extensions)
        seen = self.seen
        seen.offers.append(list(params))
        seen.answers.append(answer)
        original_decode = extension.decode

        def decode(frame: Frame, *, max_size: int | None = None) -> Frame:
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                seen.frames.append((len(frame.data), frame.rsv1))
            return original_decode(frame, max_size=max_size)

        extension.decode = decode  # type: ignore[method-assign]
        seen.extensions.append(extension)
        return answer, extension


def start(
    make_server: Callable[..., LoopbackServer], seen: Seen, **factory_kwargs: Any
) -> LoopbackServer:
    async def echo(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            recorder.messages.append(message)
            await connection.send(message)

    return make_server(
        echo, compression=None, extensions=[RecordingFactory(seen, **factory_kwargs)]
    )


def exchange(url: str, messages: list[str], **options: Any) -> tuple[list[str], str | None]:
    """Send each message, collect the echoes, and return them with the client's description."""

    async def body() -> tuple[list[str], str | None]:
        async with asyncio.timeout(TIMEOUT):
            async with wsctl.connect(url, **options) as client:
                echoes = []
                for message in messages:
                    await client.send(message)
                    reply = await client.recv()
                    assert reply is not None
                    echoes.append(str(reply.data))
                return echoes, client.compression

    return asyncio.run(body())


def text(size: int) -> str:
    """Letters and spaces in a fixed pseudo-random order: deflate shrinks them (a small
    alphabet) without making every copy tiny, so shared history between messages shows."""
    rng = random.Random(size)
    return "".join(rng.choice("abcdefghijklmnop ") for _ in range(size))


def test_context_takeover_negotiates_context_takeover_and_applies_the_128_byte_default(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen = Seen()
    server = start(make_server, seen)
    messages = [text(127), text(128), text(2000), text(5), text(2000)]
    echoes, described = exchange(server.url, messages, compression="context-takeover")
    assert echoes == messages
    assert server.recorder.messages == messages  # the server decoded every one correctly
    # The offer asks for nothing to be given up; the server keeps its context too.
    assert seen.offers == [[("client_max_window_bits", None)]]
    names = [name for name, _ in seen.answers[0]]
    assert "server_no_context_takeover" not in names
    assert "client_no_context_takeover" not in names
    assert not seen.extensions[0].remote_no_context_takeover  # the client keeps its context
    # Under 128 bytes: RSV1 clear and the payload as is; from 128 bytes on: compressed.
    assert seen.rsv1() == [False, True, True, False, True]
    assert seen.frames[0][0] == 127 and seen.frames[3][0] == 5
    assert seen.frames[2][0] < 2000
    # With context takeover the second copy of the same text compresses far better.
    assert seen.frames[4][0] < seen.frames[2][0]
    assert described is not None
    assert "client context takeover, server context takeover" in described
    assert "under 128 bytes" in described


def test_no_context_asks_both_sides_to_drop_context_and_applies_the_512_byte_default(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen = Seen()
    server = start(make_server, seen)
    messages = [text(511), text(512), text(3000), text(3000)]
    echoes, described = exchange(server.url, messages, compression=Compression.NO_CONTEXT)
    assert echoes == messages
    offer = [name for name, _ in seen.offers[0]]
    assert "server_no_context_takeover" in offer and "client_no_context_takeover" in offer
    extension = seen.extensions[0]
    assert extension.remote_no_context_takeover and extension.local_no_context_takeover
    assert seen.rsv1() == [False, True, True, True]
    # Without context the same message compresses to the same size every time.
    assert seen.frames[2][0] == seen.frames[3][0]
    assert described is not None
    assert "client no context takeover, server no context takeover" in described
    assert "under 512 bytes" in described


def test_context_takeover_falls_back_to_no_context_when_the_server_requires_it(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen = Seen()
    server = start(
        make_server, seen, server_no_context_takeover=True, client_no_context_takeover=True
    )
    messages = [text(300), text(600), text(600)]
    echoes, described = exchange(server.url, messages, compression=1)
    assert echoes == messages
    # We offered context takeover; the server's answer demanded no context on both sides.
    assert seen.offers == [[("client_max_window_bits", None)]]
    answer = [name for name, _ in seen.answers[0]]
    assert "server_no_context_takeover" in answer and "client_no_context_takeover" in answer
    assert described is not None
    assert "client no context takeover, server no context takeover" in described
    # The default threshold follows the mode actually in force: 512 without context.
    assert "under 512 bytes" in described
    assert seen.rsv1() == [False, True, True]
    assert seen.frames[1][0] == seen.frames[2][0]  # no shared history between messages


@pytest.mark.parametrize(
    ("threshold", "sizes", "expected"),
    [
        ("1KiB", [1023, 1024, 4000], [False, True, True]),
        ("1", [0, 1, 50], [False, True, True]),
        (100, [99, 100], [False, True]),
    ],
)
def test_an_explicit_threshold_decides_which_messages_are_compressed(
    make_server: Callable[..., LoopbackServer],
    threshold: str | int,
    sizes: list[int],
    expected: list[bool],
) -> None:
    seen = Seen()
    server = start(make_server, seen)
    messages = [text(size) for size in sizes]
    echoes, _ = exchange(
        server.url, messages, compression="no-context", compression_threshold=threshold
    )
    assert echoes == messages
    assert seen.rsv1() == expected


def test_binary_messages_follow_the_threshold_too(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen = Seen()
    server = start(make_server, seen)

    async def body() -> None:
        async with asyncio.timeout(TIMEOUT):
            async with wsctl.connect(server.url, compression="context-takeover") as client:
                for payload in (b"\x00" * 10, b"\x00" * 10_000):
                    await client.send(payload)
                    reply = await client.recv()
                    assert reply is not None and reply.data == payload

    asyncio.run(body())
    assert seen.rsv1() == [False, True]
    assert seen.frames[1][0] < 100  # 10,000 zero bytes deflate to almost nothing


def test_disabled_offers_no_extension(make_server: Callable[..., LoopbackServer]) -> None:
    seen = Seen()
    server = start(make_server, seen)
    echoes, described = exchange(server.url, [text(5000)])
    assert echoes == [text(5000)]
    assert seen.offers == []  # nothing offered, so the server's factory never ran
    assert described is None


def test_a_server_without_compression_is_fine(
    make_server: Callable[..., LoopbackServer],
) -> None:
    async def echo(connection: ServerConnection, recorder: Recorder) -> None:
        async for message in connection:
            await connection.send(message)

    server = make_server(echo, compression=None)
    echoes, described = exchange(server.url, [text(5000)], compression="context-takeover")
    assert echoes == [text(5000)]
    assert described is None


def test_verbose_output_shows_the_negotiated_extension(
    make_server: Callable[..., LoopbackServer],
) -> None:
    seen = Seen()
    server = start(make_server, seen)
    result = invoke(
        ["send", server.url, text(2000), "--compression", "context-takeover", "-v", "--wait", "1"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.lines == [text(2000)]
    assert "> Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" in (
        result.stderr
    )
    assert (
        "wsctl: compression: permessage-deflate: client context takeover, server context "
        "takeover" in result.stderr
    )
    assert seen.rsv1() == [True]


def test_verbose_output_says_when_the_server_declines(
    make_server: Callable[..., LoopbackServer],
) -> None:
    server = make_server(compression=None)
    result = invoke(["send", server.url, "hi", "--compression", "no-context", "-v", "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert "compression: the server declined permessage-deflate" in result.stderr


def test_cli_threshold_is_applied(make_server: Callable[..., LoopbackServer]) -> None:
    seen = Seen()
    server = start(make_server, seen)
    result = invoke(
        [
            "send",
            server.url,
            text(1500),
            text(2500),
            "--compression",
            "2",
            "--compression-threshold",
            "2000",
            "--wait",
            "2",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert seen.rsv1() == [False, True]


@pytest.mark.parametrize(
    "args",
    [
        ["--compression", "gzip"],
        ["--compression", "3"],
        ["--compression-threshold", "101MiB"],
        ["--compression-threshold", "-1"],
    ],
)
def test_bad_compression_values_exit_2_before_connecting(
    echo_server: LoopbackServer, args: list[str]
) -> None:
    result = invoke(["send", echo_server.url, "hi", *args])
    assert result.exit_code == 2
    assert echo_server.recorder.connections == 0


def test_default_threshold_by_mode() -> None:
    assert default_threshold(client_no_context_takeover=False) == 128
    assert default_threshold(client_no_context_takeover=True) == 512


def test_fragmented_messages_are_compressed_whole() -> None:
    """A message's first frame must carry RSV1, so a fragmented one is never skipped."""
    extension = ThresholdPerMessageDeflate(False, False, 15, 15, threshold=1000)
    first = extension.encode(Frame(Opcode.TEXT, b"small", fin=False))
    rest = extension.encode(Frame(Opcode.CONT, b"also small", fin=True))
    assert first.rsv1 and not rest.rsv1
    whole = extension.encode(Frame(Opcode.TEXT, b"small", fin=True))
    assert not whole.rsv1 and whole.data == b"small"


def test_options_keep_the_mode_and_threshold() -> None:
    options = ConnectOptions.create(compression="no-context", compression_threshold="4KiB")
    assert options.compression == Compression.NO_CONTEXT
    assert options.compression_threshold == 4096
