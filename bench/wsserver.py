"""The benchmark's WebSocket servers, run in a child process by ``bench/run.py``.

Usage: ``python bench/wsserver.py {echo|blast|sink} [--count N] [--size BYTES]``

The server listens on 127.0.0.1, port 0, prints ``{"port": P}`` as its first stdout line, then
one JSON line per finished connection (tagged with the request path, so the parent can match a
report to the client run that caused it). It exits when its parent dies or stdin reaches EOF.

Modes:

* ``echo``  — websockets' own asyncio server, echoing every message. Built on websockets on
  purpose: its handler answers asynchronously, the case where a client that closes right after
  its last send loses the reply.
* ``blast`` — hand-rolled: right after the handshake, writes ``count`` pre-encoded text frames
  in one ``sendall``, then Close 1000, then waits for the client's Close.
* ``sink``  — hand-rolled: parses the client's masked frames, checks every message against its
  expected sequence number, answers Ping and Close.

Blast and sink do the HTTP upgrade and framing by hand so the server costs a few hundred
nanoseconds per message and is never what the benchmark measures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator

try:  # the C helper websockets ships; the fallback is pure Python and ~5x slower
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - only without websockets' C extension

    def apply_mask(data: bytes | bytearray, mask: bytes | bytearray) -> bytes:
        """XOR ``data`` with the repeated 4-byte ``mask`` (RFC 6455 section 5.3)."""
        n = len(data)
        key = int.from_bytes((bytes(mask) * (n // 4 + 1))[:n], "big")
        return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_1000 = b"\x88\x02\x03\xe8"
IDLE_TIMEOUT = 60.0  # seconds without a byte from the client before the server gives up


def now() -> float:
    """CLOCK_MONOTONIC is one clock for the whole machine, so the parent can subtract its own
    readings from the times this process reports."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def payload(seq: int, size: int = 64) -> bytes:
    """Message number ``seq``: its sequence number zero-padded to ``size`` bytes."""
    return b"%0*d" % (size, seq)


class SequenceCheck:
    """Checks a stream of messages against ``payload(0)``, ``payload(1)``, ...

    Used by the sink server on the messages it receives and by ``run.py`` on the lines a
    client wrote, so both directions are judged alike: how many arrived, how many distinct
    sequence numbers are missing, whether they came in order, and the first odd message.
    """

    def __init__(self, count: int, size: int = 64) -> None:
        self.count = count
        self.size = size
        self.seen = bytearray(count)
        self.received = 0  # messages, valid or not
        self.invalid = 0  # messages that are no payload at all
        self.out_of_order = 0  # messages whose number is not above the previous one
        self.newline_suffix = 0  # messages that kept the line's trailing newline
        self.first_odd: str | None = None
        self._next = 0  # the number the next message should carry
        self._expected = payload(0, size)

    def add(self, data: bytes) -> None:
        """Account for one message."""
        self.received += 1
        if data == self._expected:  # the fast path: the very message that was due
            seq = self._next
        else:
            if data[-1:] == b"\n":  # websocat keeps the newline of each stdin line
                self.newline_suffix += 1
                data = data.rstrip(b"\r\n")
            seq = int(data) if len(data) == self.size and data.isdigit() else -1
            if not 0 <= seq < self.count:
                self.invalid += 1
                self._odd(f"message {self.received}: {data[:80]!r}")
                return
            if seq < self._next:
                self.out_of_order += 1
                self._odd(f"message {self.received}: #{seq} after #{self._next - 1}")
            elif seq > self._next:
                self._odd(f"message {self.received}: #{seq} where #{self._next} was due")
        self.seen[seq] = 1
        self._next = seq + 1
        self._expected = payload(self._next, self.size)

    def _odd(self, what: str) -> None:
        if self.first_odd is None:
            self.first_odd = what

    def summary(self) -> dict[str, object]:
        """The counts, ready for JSON."""
        unique = self.count - self.seen.count(0)
        return {
            "received": self.received,
            "unique": unique,
            "lost": self.count - unique,
            "in_order": self.out_of_order == 0 if self.received else None,
            "invalid": self.invalid,
            "newline_suffix": self.newline_suffix,
            "first_odd": self.first_odd,
        }


def encode_frame(opcode: int, data: bytes) -> bytes:
    """An unmasked, final server frame."""
    n = len(data)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return header + data


class Report:
    """Writes one JSON line per event to stdout; a lock keeps lines whole across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, **fields: object) -> None:
        line = json.dumps(fields, separators=(",", ":"))
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


class Connection:
    """One accepted TCP connection: the hand-made handshake and a frame reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.path = "?"
        self.t_recv = 0.0
        sock.settimeout(IDLE_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handshake(self) -> None:
        """Read the HTTP upgrade request and answer 101 (no extensions, no subprotocol)."""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("EOF during the handshake")
            self.buf += chunk
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)  # a client may pipeline frames right behind its request
        lines = head.decode("latin-1").split("\r\n")
        self.path = lines[0].split(" ")[1] if " " in lines[0] else "?"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    def frames(self) -> Iterator[tuple[int, bool, bytes]]:
        """Yield ``(opcode, fin, payload)`` for each frame until EOF.

        Frames are parsed out of a large receive buffer in a tight loop with local variables
        only: a 70-byte frame costs two slices and one C unmask, about 0.7 µs, so the server
        keeps up with well over a million messages per second. ``self.t_recv`` is when the
        chunk holding the frame just yielded arrived.
        """
        buf, pos, recv = bytes(self.buf), 0, self.sock.recv
        self.t_recv = now()
        while True:
            n = len(buf)
            while n - pos >= 2:
                b0, b1 = buf[pos], buf[pos + 1]
                length, start = b1 & 0x7F, pos + 2
                if length == 126:
                    length, start = int.from_bytes(buf[start : start + 2], "big"), start + 2
                elif length == 127:
                    length, start = int.from_bytes(buf[start : start + 8], "big"), start + 8
                if b1 & 0x80:
                    end = start + 4 + length
                    if end > n:
                        break
                    data = apply_mask(buf[start + 4 : end], buf[start : start + 4])
                else:
                    end = start + length
                    if end > n:
                        break
                    data = buf[start:end]
                pos = end
                yield b0 & 0x0F, bool(b0 & 0x80), data
            chunk = recv(1 << 20)
            self.t_recv = now()
            if not chunk:
                return
            buf, pos = buf[pos:] + chunk, 0  # keep the unparsed tail, append the new bytes

    def close(self) -> None:
        """Shut the socket down, ignoring a peer that already went away."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def close_code(data: bytes) -> int:
    """The status code of a Close frame's payload (1005 when it carries none)."""
    return int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005


def serve_blast(conn: Connection, report: Report, count: int, size: int, blob: bytes) -> None:
    """Send ``count`` frames as fast as the socket takes them, Close 1000, await the reply.

    The frames go out in 256 KiB slices, with a zero-timeout ``select`` between slices: a
    client that speaks before it has all the data (typically a Close sent at its stdin's EOF)
    is noted with ``t_early``, since its Close then does not mark the end of its reading.
    """
    result: dict[str, object] = {"mode": "blast", "count": count}
    try:
        conn.handshake()
        result["path"] = conn.path
        t0 = now()
        view, step, t_early = memoryview(blob), 1 << 18, None
        for offset in range(0, len(blob), step):
            conn.sock.sendall(view[offset : offset + step])
            if t_early is None and select.select([conn.sock], [], [], 0)[0]:
                t_early = now()
        t_sent = now()
        conn.sock.sendall(CLOSE_1000)
        result["sent"] = count
        client_code = None
        for opcode, _fin, data in conn.frames():
            if opcode == OP_CLOSE:
                client_code = close_code(data)
                break
        result.update(
            client_close=client_code,  # None: the client dropped TCP without a Close frame
            t_handshake=t0,
            t_early=t_early,
            t_sent=t_sent,
            t_end=now(),  # the client's Close (or EOF): it has read every frame before it
        )
    except (OSError, ConnectionError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
        result.setdefault("path", conn.path)
        report(**result)


def serve_sink(conn: Connection, report: Report, count: int, size: int) -> None:
    """Receive messages, count them, answer the Close; then check every sequence number.

    Messages are only collected while the client sends, and checked after it is done, so the
    check never slows the server down while it is being timed.
    """
    result: dict[str, object] = {"mode": "sink", "count": count}
    messages: list[bytes] = []
    opcodes: dict[str, int] = {}
    t_first = t_last = None
    client_code = None
    try:
        conn.handshake()
        result["path"] = conn.path
        result["t_handshake"] = now()
        parts: list[bytes] = []
        for opcode, fin, data in conn.frames():
            if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                if not fin:  # a fragment: assemble the message before keeping it
                    parts.append(data)
                    continue
                if parts:
                    parts.append(data)
                    data = b"".join(parts)
                    parts.clear()
                if opcode != OP_CONT:
                    opcodes[str(opcode)] = opcodes.get(str(opcode), 0) + 1
                messages.append(data)
                t_last = conn.t_recv
                if t_first is None:
                    t_first = t_last
            elif opcode == OP_PING:
                conn.sock.sendall(encode_frame(OP_PONG, data))
            elif opcode == OP_CLOSE:
                client_code = close_code(data)
                conn.sock.sendall(encode_frame(OP_CLOSE, data[:2]))
                break
        result.update(t_first=t_first, t_last=t_last, t_end=now())
    except (OSError, ConnectionError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
        check = SequenceCheck(count, size)
        for message in messages:
            check.add(message)
        result.setdefault("path", conn.path)
        result.update(check.summary(), opcodes=opcodes, client_close=client_code)
        report(**result)


def run_raw(mode: str, count: int, size: int, report: Report) -> None:
    """Accept connections forever, each handled in its own thread."""
    blob = b""
    if mode == "blast":  # encoded once: every client gets the very same bytes
        blob = b"".join(encode_frame(OP_TEXT, payload(i, size)) for i in range(count))
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(1.0)  # wake up now and then to notice that the parent is gone
    report(port=listener.getsockname()[1])
    parent = os.getppid()
    while os.getppid() == parent:
        try:
            sock, _ = listener.accept()
        except TimeoutError:
            continue
        conn = Connection(sock)
        if mode == "blast":
            target, args = serve_blast, (conn, report, count, size, blob)
        else:
            target, args = serve_sink, (conn, report, count, size)
        threading.Thread(target=target, args=args, daemon=True).start()


def run_echo(report: Report) -> None:
    """websockets' asyncio echo server, reporting each connection when it ends."""
    import asyncio

    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws: ServerConnection) -> None:
        received = echoed = 0
        try:
            async for message in ws:
                received += 1
                await ws.send(message)  # fails when the client's Close came in meanwhile
                echoed += 1
        except ConnectionClosed:  # a client that drops TCP is reported, not a server error
            pass
        rcvd = ws.protocol.close_rcvd
        report(
            mode="echo",
            path=ws.request.path if ws.request else "?",
            received=received,
            echoed=echoed,
            client_close=rcvd.code if rcvd else None,
        )

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            report(port=port)
            parent = os.getppid()
            while os.getppid() == parent:
                await asyncio.sleep(1.0)

    asyncio.run(main())


def main() -> None:
    """Parse the command line and serve until the parent goes away."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["echo", "blast", "sink"])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    report = Report()
    # The parent closing our stdin (or dying) ends the server.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    if args.mode == "echo":
        run_echo(report)
    else:
        run_raw(args.mode, args.count, args.size, report)


if __name__ == "__main__":
    main()
