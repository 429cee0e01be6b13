"""The receive path at the protocol's edges, against raw-socket servers that write exact frames.

wsctl cuts simple frames from the byte stream itself and hands every other frame to websockets
(``wsctl/receive.py``): these tests pin down that the split changes nothing — fragments
(split inside a UTF-8 sequence, with pings between them), empty frames, every length encoding,
frames in the handshake's own segment, a Close in the middle of a fragmented message, invalid
UTF-8 (1007), oversized messages (1009), and frames a client must refuse (1002).  Each runs
through ``wsctl listen`` (batches) and through the Python API's ``recv()``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from conftest import TIMEOUT, LoopbackServer, invoke, record_only

import wsctl
from wsctl.receive import FastConnection

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A server frame (unmasked), with the shortest length encoding."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    if n < 126:
        return head + bytes([n]) + payload
    if n < 65536:
        return head + bytes([126]) + struct.pack("!H", n) + payload
    return head + bytes([127]) + struct.pack("!Q", n) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason.encode())


@dataclass
class Seen:
    """What the raw server received from the client."""

    frames: list[tuple[int, bytes]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def close_code(self) -> int | None:
        for opcode, payload in self.frames:
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        return None

    @property
    def pongs(self) -> list[bytes]:
        return [payload for opcode, payload in self.frames if opcode == PONG]


class RawServer:
    """Answers one WebSocket handshake per connection, then writes ``stream`` as given.

    ``stream`` is a list of chunks, each written with its own ``sendall``; the first goes out
    in the same write as the ``101`` response.  Then it reads the client's frames until the
    client's Close (answered with a Close unless one was already in ``stream``) or EOF.
    """

    def __init__(self, stream: list[bytes]) -> None:
        self.stream = stream
        self.seen: list[Seen] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._sock.getsockname()[1]}/"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            seen = Seen()
            self.seen.append(seen)
            with conn, contextlib.suppress(OSError):
                self._session(conn, seen)
            seen.done.set()

    def _session(self, conn: socket.socket, seen: Seen) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        response = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        chunks = list(self.stream) or [b""]
        conn.sendall(response + chunks[0])
        for chunk in chunks[1:]:
            conn.sendall(chunk)
        sent_close = any(CLOSE_MARK in chunk for chunk in chunks)
        buffer = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while (parsed := _parse_client_frame(buffer)) is not None:
                opcode, payload, buffer = parsed
                seen.frames.append((opcode, payload))
                if opcode == CLOSE:
                    if not sent_close:
                        conn.sendall(frame(CLOSE, payload))
                    return

    def close(self) -> None:
        self._sock.close()


#: How the tests spot a Close in a chunk (good enough: test payloads never contain it).
CLOSE_MARK = bytes([0x88])


def _parse_client_frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    """One masked client frame off the front of ``data``: (opcode, payload, rest)."""
    if len(data) < 2:
        return None
    n = data[1] & 0x7F
    pos = 2
    if n == 126:
        if len(data) < 4:
            return None
        n, pos = struct.unpack("!H", data[2:4])[0], 4
    elif n == 127:
        if len(data) < 10:
            return None
        n, pos = struct.unpack("!Q", data[2:10])[0], 10
    if len(data) < pos + 4 + n:
        return None
    mask = data[pos : pos + 4]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos + 4 : pos + 4 + n]))
    return data[0] & 0x0F, payload, data[pos + 4 + n :]


@pytest.fixture
def raw_server() -> Iterator[type[RawServer]]:
    servers: list[RawServer] = []

    def make(stream: list[bytes]) -> RawServer:
        server = RawServer(stream)
        servers.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


def listen(server: RawServer, *args: str) -> tuple[int, bytes, str, Seen]:
    """``wsctl listen`` (the batch path) against ``server``: exit code, stdout, stderr, seen."""
    result = invoke(["listen", server.url, "-q", *args])
    seen = server.seen[-1]
    assert seen.done.wait(TIMEOUT)
    return result.exit_code, result.stdout_bytes, result.stderr, seen


def api_messages(server: RawServer, **options: object) -> tuple[list[str | bytes], int | None]:
    """The Python API's ``recv()`` path: every message, then the close code (None: normal)."""

    async def run() -> tuple[list[str | bytes], int | None]:
        received: list[str | bytes] = []
        async with wsctl.connect(server.url, **options) as client:  # type: ignore[arg-type]
            try:
                while (message := await client.recv()) is not None:
                    received.append(message.data)
            except wsctl.ConnectionClosedAbnormally as exc:
                return received, exc.code
        return received, None

    return asyncio.run(run())


EURO = "€".encode()  # three bytes: e2 82 ac


def test_text_fragmented_inside_a_utf8_sequence(raw_server: type[RawServer]) -> None:
    message = b"price " + EURO + b"5"
    stream = [
        frame(TEXT, message[:7], fin=False),  # ends after the first byte of the euro sign
        frame(CONT, message[7:8], fin=False),  # its middle byte alone
        frame(CONT, message[8:]) + close_frame(1000),
    ]
    code, out, err, seen = listen(raw_server(stream))
    assert code == 0, err
    assert out == message + b"\n"
    assert seen.close_code == 1000
    assert api_messages(raw_server(stream)) == (["price €5"], None)


def test_pings_between_fragments_are_answered_and_the_message_stays_whole(
    raw_server: type[RawServer],
) -> None:
    stream = [
        frame(TEXT, b"ab", fin=False)
        + frame(PING, b"p1")
        + frame(CONT, b"cd", fin=False)
        + frame(PING, b"p2")
        + frame(PONG, b"unsolicited")
        + frame(CONT, b"ef")
        + frame(TEXT, b"next")
        + close_frame(1000)
    ]
    code, out, _err, seen = listen(raw_server(stream))
    assert code == 0
    assert out == b"abcdef\nnext\n"
    assert seen.pongs == [b"p1", b"p2"]
    assert api_messages(raw_server(stream)) == (["abcdef", "next"], None)


def test_zero_length_frames(raw_server: type[RawServer]) -> None:
    stream = [
        frame(TEXT, b"")
        + frame(BINARY, b"")
        + frame(TEXT, b"", fin=False)
        + frame(CONT, b"x", fin=False)
        + frame(CONT, b"")
        + frame(BINARY, b"", fin=False)
        + frame(CONT, b"")
        + frame(TEXT, b"end")
        + close_frame(1000)
    ]
    code, out, _err, _seen = listen(raw_server(stream))
    assert code == 0
    assert out == b"\n\nx\n\nend\n"  # an empty binary message is empty base64
    assert api_messages(raw_server(stream)) == (["", b"", "x", b"", "end"], None)


@pytest.mark.parametrize("size", [125, 126, 65535, 65536])
def test_length_encoding_boundaries(raw_server: type[RawServer], size: int) -> None:
    text = bytes(65 + i % 26 for i in range(size))
    data = bytes(i % 251 for i in range(size))
    stream = [frame(TEXT, text) + frame(BINARY, data) + frame(TEXT, b"after") + close_frame(1000)]
    code, out, _err, _seen = listen(raw_server(stream))
    assert code == 0
    assert out == text + b"\n" + base64.b64encode(data) + b"\nafter\n"
    assert api_messages(raw_server(stream)) == ([text.decode(), data, "after"], None)


def test_frames_split_across_writes_at_every_awkward_point(raw_server: type[RawServer]) -> None:
    # Headers, extended lengths and payloads cut in pieces, each piece its own write.
    whole = b"".join(
        [frame(TEXT, b"a" * 126), frame(BINARY, b"\x01" * 65536), frame(TEXT, b"z" * 5)]
    )
    cuts = [1, 2, 3, 4, 130, 131, 133, 140, 65000, 65677, 65680]
    stream = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    stream.append(close_frame(1000))
    code, out, _err, _seen = listen(raw_server(stream))
    assert code == 0
    assert out == b"a" * 126 + b"\n" + base64.b64encode(b"\x01" * 65536) + b"\n" + b"z" * 5 + b"\n"


def test_close_in_the_middle_of_a_fragmented_message_is_a_protocol_error(
    raw_server: type[RawServer],
) -> None:
    # The client answers with 1002 and drops the half message.  (The exit code follows the
    # server's own Close, 1000, as websockets reports it; not what this test is about.)
    stream = [frame(TEXT, b"done"), frame(TEXT, b"half", fin=False) + close_frame(1000)]
    _code, out, _err, seen = listen(raw_server(stream))
    assert out == b"done\n"
    assert seen.close_code == 1002
    server = raw_server(stream)
    assert api_messages(server)[0] == ["done"]
    assert server.seen[-1].done.wait(TIMEOUT)
    assert server.seen[-1].close_code == 1002


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(frame(TEXT, b"ok \xff"), id="simple-frame"),
        pytest.param(frame(TEXT, b"ok \xe2\x82", fin=False) + frame(CONT, b"X"), id="fragmented"),
        pytest.param(frame(TEXT, b"\xed\xa0\x80"), id="surrogate"),
    ],
)
def test_invalid_utf8_closes_with_1007(raw_server: type[RawServer], bad: bytes) -> None:
    # UTF-8 is checked when a message is taken, as websockets does: the server waits for the
    # client's verdict (a Close of its own in the same segment would be answered first).
    stream = [frame(TEXT, b"before") + bad + frame(TEXT, b"never shown")]
    code, out, _err, seen = listen(raw_server(stream))
    assert code == 6
    assert out == b"before\n"
    assert seen.close_code == 1007
    assert api_messages(raw_server(stream)) == (["before"], 1007)


def test_a_message_over_the_read_limit_closes_with_1009(raw_server: type[RawServer]) -> None:
    stream = [
        frame(TEXT, b"small")
        + frame(TEXT, b"x" * 1024)  # exactly the limit
        + frame(TEXT, b"y" * 1025)
        + close_frame(1000)
    ]
    code, out, _err, seen = listen(raw_server(stream), "--read-limit", "1KiB")
    assert code == 6
    assert out == b"small\n" + b"x" * 1024 + b"\n"
    assert seen.close_code == 1009
    fragmented = [frame(TEXT, b"x" * 600, fin=False) + frame(CONT, b"y" * 600)]
    code, out, _err, seen = listen(raw_server(fragmented), "--read-limit", "1KiB")
    assert (code, out, seen.close_code) == (6, b"", 1009)
    messages = api_messages(raw_server(stream), read_limit=1024)
    assert messages == (["small", "x" * 1024], 1009)
    # A limit under 126 bytes: a frame with a one-byte length can be over it too.
    short = [frame(TEXT, b"s" * 100) + frame(BINARY, b"b" * 101) + close_frame(1000)]
    assert api_messages(raw_server(short), read_limit=100) == (["s" * 100], 1009)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\x81\x83abcdxyz", id="masked"),
        pytest.param(frame(TEXT, b"r", rsv=4), id="rsv1-without-extension"),
        pytest.param(frame(0x3, b"?"), id="reserved-opcode"),
        pytest.param(frame(CONT, b"orphan"), id="continuation-without-start"),
        pytest.param(frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), id="text-inside-fragments"),
        pytest.param(frame(PING, b"p" * 126), id="long-control-frame"),
        pytest.param(frame(PING, b"p", fin=False), id="fragmented-control-frame"),
    ],
)
def test_frames_a_client_must_refuse_close_with_1002(
    raw_server: type[RawServer], bad: bytes
) -> None:
    stream = [frame(TEXT, b"first") + bad + frame(TEXT, b"never") + close_frame(1000)]
    code, out, _err, seen = listen(raw_server(stream))
    assert code == 6
    assert out == b"first\n"
    assert seen.close_code == 1002


def test_messages_after_the_servers_close_are_discarded(raw_server: type[RawServer]) -> None:
    stream = [frame(TEXT, b"last") + close_frame(1000, "bye") + frame(TEXT, b"ignored")]
    code, out, _err, seen = listen(raw_server(stream))
    assert code == 0
    assert out == b"last\n"
    assert seen.close_code == 1000


@pytest.mark.parametrize(
    ("texts", "binary"),
    [
        # Text that needs escapes, and a binary message: record by record.
        (['{"a": 1}', 'quote " backslash \\ tab \t', "é€😀", "\x00\x1f"], b"\xff\x00"),
        # Text only, none needing an escape: the batch is written with one join.
        (["plain", "", "é€😀 and ~ \x7f", "1234567890" * 20], None),
        # Text only, with quotes and backslashes: record by record.
        (['{"a": "b\\"c"}', 'back\\slash "q"', "é€", "end\\", '""', "\\\\"], None),
        # Text only, one with control characters: record by record.
        (['{"a": 1}', "tab\there", "new\nline", "ok"], None),
    ],
    ids=["escapes-and-binary", "text-without-escapes", "quotes-backslashes", "controls"],
)
def test_json_output_of_the_batch_path_matches_json_dumps(
    raw_server: type[RawServer], texts: list[str], binary: bytes | None
) -> None:
    import json

    frames = [frame(TEXT, t.encode()) for t in texts]
    if binary is not None:
        frames.append(frame(BINARY, binary))
    stream = [b"".join(frames) + close_frame(1000)]
    expected = [json.dumps({"type": "text", "data": t}, ensure_ascii=False) for t in texts]
    if binary is not None:
        record = {"type": "binary", "data": base64.b64encode(binary).decode()}
        expected.append(json.dumps(record))
    _code, out, _err, _seen = listen(raw_server(stream), "--json")
    assert out.decode().splitlines() == expected
    _code, out, _err, _seen = listen(raw_server(stream), "--json", "--timestamps")
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [{k: v for k, v in r.items() if k != "time"} for r in records] == [
        json.loads(line) for line in expected
    ]
    assert all(next(iter(r)) == "time" and r["time"].endswith("Z") for r in records)


def test_the_fast_path_is_in_use() -> None:
    # The tests above only prove something about the fast path if connections take it.
    from wsctl.core import _websockets_kwargs
    from wsctl.settings import ConnectOptions

    for observer in (None, lambda event: None):
        connection_class = _websockets_kwargs(ConnectOptions(), observer)["create_connection"]
        assert issubclass(connection_class, FastConnection)


def test_sent_lines_at_the_length_boundaries_arrive_whole(
    make_server: Callable[..., LoopbackServer],
) -> None:
    # The other direction: wsctl frames piped lines itself (wsctl/framing.py); websockets'
    # server checks the masking, the length encodings and the UTF-8.
    server = make_server(record_only)
    lines = ["a" * 125, "b" * 126, "c" * 65535, "d" * 65536, "", "é€😀", "last"]
    result = invoke(["send", server.url, "--wait-time", "0"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    assert server.recorder.closed.wait(TIMEOUT)
    assert server.recorder.messages == lines
    assert server.recorder.close_codes == [1000]


def test_every_split_of_the_byte_stream_gives_the_same_messages(
    raw_server: type[RawServer],
) -> None:
    # TCP may cut the stream anywhere. Rather than hope the loopback does, the bytes are
    # handed to the connection's data_received directly, cut at every position in turn (and
    # one byte at a time), after a real handshake with a raw server.
    stream = b"".join(
        [
            frame(TEXT, b"a" * 126),
            frame(TEXT, b"x" + EURO, fin=False),
            frame(PING, b"p"),
            frame(CONT, b"y"),
            frame(BINARY, b""),
            frame(TEXT, b"end"),
        ]
    )
    expected: list[str | bytes] = ["a" * 126, "x€y", b"", "end"]

    server = raw_server([])

    async def run() -> tuple[list[str | bytes], int]:
        async with wsctl.connect(server.url) as client:
            connection = client._connection
            pieces = [[stream[:cut], stream[cut:]] for cut in range(1, len(stream))]
            pieces.append([bytes([byte]) for byte in stream])
            received: list[str | bytes] = []
            for parts in pieces:
                for part in parts:
                    connection.data_received(part)
                for _ in expected:
                    message = await client.recv()
                    assert message is not None
                    received.append(message.data)
            return received, len(pieces)

    received, rounds = asyncio.run(run())
    assert received == expected * rounds
    assert server.seen[-1].done.wait(TIMEOUT)
    assert server.seen[-1].pongs == [b"p"] * rounds
    assert server.seen[-1].close_code == 1000


def test_reading_pauses_while_messages_queue_up_and_resumes_when_taken(
    raw_server: type[RawServer],
) -> None:
    # Backpressure: a consumer that falls behind (a slow stdout) stops the socket being read,
    # so memory stays bounded and the server is held back by TCP; nothing is dropped.
    chunk = b"".join(frame(TEXT, b"%05d" % i) for i in range(1000))

    async def run() -> tuple[bool, int, bool, list[bytes]]:
        async with wsctl.connect(raw_server([]).url, channel_capacity=16) as client:
            connection = client._connection
            connection.data_received(chunk)  # one read's worth, more than the queue's 16
            paused = not connection.transport.is_reading()
            queued = len(connection.recv_messages.items)
            batch = await client.recv_batch()
            assert batch is not None
            return paused, queued, connection.transport.is_reading(), [d for _, d in batch]

    paused, queued, reading_again, payloads = asyncio.run(run())
    assert paused and queued == 1000
    assert reading_again
    assert payloads == [b"%05d" % i for i in range(1000)]
