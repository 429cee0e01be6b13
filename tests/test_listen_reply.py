"""``listen --reply``: answering an application-level heartbeat keeps the session alive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SCALE, LoopbackServer, Recorder, invoke, record_only
from websockets.asyncio.server import ServerConnection

MakeServer = Callable[..., LoopbackServer]

#: The server sends ``2`` this often and drops a client that has not answered within 1 s.
HEARTBEAT = 0.25
GRACE = 1.0
#: A client that answered every heartbeat this long is let go with 1000.
SESSION = 5.0


async def heartbeat_server(connection: ServerConnection, recorder: Recorder) -> None:
    """Socket.IO-style: ``2`` every 250 ms, ``3`` expected back within 1 s (else close 4000
    "ping timeout"); a ``42["tick",N]`` event between heartbeats; after 5 s of answered
    heartbeats, a normal close."""
    loop = asyncio.get_running_loop()
    last_pong = loop.time()

    async def read() -> None:
        nonlocal last_pong
        async for message in connection:
            recorder.messages.append(message)
            if message == "3":
                last_pong = loop.time()

    reader = asyncio.create_task(read())
    started = loop.time()
    tick = 0
    try:
        while loop.time() - started < SESSION:
            await connection.send("2")
            await connection.send(f'42["tick",{tick}]')
            tick += 1
            await asyncio.sleep(HEARTBEAT)
            if loop.time() - last_pong > GRACE:
                await connection.close(4000, "ping timeout")
                return
        await connection.close(1000, "session over")
    finally:
        reader.cancel()


@pytest.mark.timeout(30 * SCALE)
def test_listen_reply_keeps_a_heartbeat_session_alive(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(heartbeat_server)
    report = tmp_path / "r.json"
    result = invoke(["listen", server.url, "--reply", "^2$=>3", "--report", str(report)])
    # The server kept the client for the whole session and closed normally.
    assert result.exit_code == 0, result.stderr
    assert "server closed the connection: 1000 (normal): session over" in result.stderr
    # Its other messages were printed, the heartbeats were not.
    assert "2" not in result.lines
    ticks = [line for line in result.lines if line.startswith('42["tick",')]
    assert len(ticks) == len(result.lines) and len(ticks) >= 10
    assert ticks[:3] == ['42["tick",0]', '42["tick",1]', '42["tick",2]']
    answers = [m for m in server.recorder.messages if m == "3"]
    assert len(answers) == len(ticks)
    [counted] = json.loads(report.read_text())["replies"]
    assert counted == {"reply": "^2$=>3", "count": len(ticks)}


@pytest.mark.timeout(30 * SCALE)
def test_without_reply_the_same_server_drops_the_client(make_server: MakeServer) -> None:
    """The control: the server really drops a client that does not answer."""
    server = make_server(heartbeat_server)
    result = invoke(["listen", server.url])
    assert result.exit_code == 6
    assert "4000" in result.stderr and "ping timeout" in result.stderr
    assert "2" in result.lines


def test_replied_messages_show_with_verbose_only(make_server: MakeServer) -> None:
    async def pings(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send('{"type":"ping","n":1}')
        recorder.messages.append(await connection.recv())
        await connection.send("data")
        await connection.close()

    reply = 'json:type=ping=>{"type":"pong","n":${0}}'
    # ${0} for a json: match is the whole message
    server = make_server(pings)
    result = invoke(["listen", server.url, "--reply", reply, "-v"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["data"]
    assert 'replied {"type":"pong","n":{"type":"ping","n":1}} to {"type":"ping","n":1}' in (
        result.stderr
    )
    assert server.recorder.messages == ['{"type":"pong","n":{"type":"ping","n":1}}']
    quiet = invoke(["listen", make_server(pings).url, "--reply", reply])
    assert quiet.lines == ["data"] and "replied" not in quiet.stderr


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no separator", "MATCH=>RESPONSE"),
        ("(=>x", "regular expression"),
        ("^a$=>${nope}", "unknown name"),
        ("json:=1=>x", "bad path"),
    ],
)
def test_a_bad_reply_exits_2_before_connecting(
    make_server: MakeServer, spec: str, fragment: str
) -> None:
    server = make_server(record_only)
    result = invoke(["listen", server.url, "--reply", spec])
    assert result.exit_code == 2
    assert "--reply" in result.stderr and fragment in result.stderr
    assert server.recorder.connections == 0


def test_reply_with_reconnect_is_refused(make_server: MakeServer) -> None:
    server = make_server(record_only)
    result = invoke(["listen", server.url, "--reply", "^2$=>3", "--reconnect"])
    assert result.exit_code == 2
    assert server.recorder.connections == 0


async def interleaved_heartbeats(connection: ServerConnection, recorder: Recorder) -> None:
    """``2`` before every event, all at once: one receive batch mixes both kinds."""
    for tick in range(5):
        await connection.send("2")
        await connection.send(f"event {tick}")
    async for message in connection:
        recorder.messages.append(message)


def test_listen_count_counts_printed_messages_not_answered_ones(make_server: MakeServer) -> None:
    # -n 3: three events printed; the heartbeats answered in between do not count.
    server = make_server(interleaved_heartbeats)
    result = invoke(["listen", server.url, "--reply", "^2$=>3", "-n", "3"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["event 0", "event 1", "event 2"]
