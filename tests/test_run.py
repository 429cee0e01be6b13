"""``wsctl run FILE``: conversations against real loopback servers, through the error boundary."""

from __future__ import annotations

import asyncio
import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LoopbackServer, Recorder, echo, invoke, record_only
from websockets.asyncio.server import ServerConnection

MakeServer = Callable[..., LoopbackServer]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "conv.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in the file")


# -- a strict graphql-transport-ws server --------------------------------------------------


async def graphql_server(connection: ServerConnection, recorder: Recorder) -> None:
    """graphql-transport-ws as the spec says: ``subscribe`` before ``connection_ack`` was sent
    closes with 4401; the ack itself comes a little after ``connection_init`` (as a server
    that checks a token does), so a client that does not wait for it is caught."""
    acked = asyncio.Event()

    async def ack() -> None:
        await asyncio.sleep(0.2)  # checking the token, while messages keep being read
        await connection.send(json.dumps({"type": "connection_ack"}))
        acked.set()

    tasks = []
    async for raw in connection:
        recorder.messages.append(raw)
        message = json.loads(raw)
        if message.get("type") == "connection_init":
            tasks.append(asyncio.create_task(ack()))
        elif message.get("type") == "subscribe":
            if not acked.is_set():
                await connection.close(4401, "Unauthorized")
                return
            sub = message["id"]
            for greeting in ("Hi", "Bonjour", "Hola"):
                payload = {"data": {"greetings": greeting}}
                await connection.send(json.dumps({"id": sub, "type": "next", "payload": payload}))
            await connection.send(json.dumps({"id": sub, "type": "complete"}))


GRAPHQL = """\
subprotocols = ["graphql-transport-ws"]
timeout = "5s"

[[step]]
send = '{"type":"connection_init","payload":{"token":"${env.API_TOKEN}"}}'

[[step]]
expect-json = { type = "connection_ack" }

[[step]]
send = '{"id":"1","type":"subscribe","payload":{"query":"subscription { greetings }"}}'

[[step]]
expect-json = { type = "next", id = "1" }
capture = { first = "payload.data.greetings" }

[[step]]
expect-json = { type = "complete", id = "1" }

[[step]]
send = '{"said":"${first}"}'

[[step]]
close = 1000
"""


def test_graphql_transport_ws_conversation_passes(
    make_server: MakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "t0k")
    server = make_server(graphql_server, subprotocols=["graphql-transport-ws"])
    path = write(tmp_path, f'url = "{server.url}"\n' + GRAPHQL)
    result = invoke(["run", path])
    assert result.exit_code == 0, result.stderr
    server.wait_closed()
    assert server.recorder.close_codes == [1000]
    sent = [json.loads(m) for m in server.recorder.messages]
    assert sent[0] == {"type": "connection_init", "payload": {"token": "t0k"}}
    assert sent[-1] == {"said": "Hi"}  # the capture of the first "next"
    # The two greetings no step expected are printed, in order; the matched ones are not.
    assert [json.loads(line)["payload"]["data"]["greetings"] for line in result.lines] == [
        "Bonjour",
        "Hola",
    ]
    assert "all 7 steps passed" in result.stderr


def test_the_graphql_server_refuses_a_subscribe_sent_before_the_ack(
    make_server: MakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: without the step that waits for connection_ack, the same server refuses."""
    monkeypatch.setenv("API_TOKEN", "t0k")
    server = make_server(graphql_server, subprotocols=["graphql-transport-ws"])
    hasty = GRAPHQL.replace('[[step]]\nexpect-json = { type = "connection_ack" }\n\n', "")
    path = write(tmp_path, f'url = "{server.url}"\n' + hasty)
    result = invoke(["run", path])
    assert result.exit_code == 6, result.stderr
    expect_line = line_of(hasty, "[[step]]", 3) + 1  # the expect-json "next" step
    assert f"conv.toml:{expect_line}: step 3" in result.stderr
    assert "4401" in result.stderr


# -- failures name the step ----------------------------------------------------------------


def test_a_step_that_times_out_exits_7_naming_file_and_line(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(echo)
    text = f"""url = "{server.url}"
[[step]]
send = "hello"
[[step]]
expect = "hello"
[[step]]
name = "the reply that never comes"
expect = "^goodbye$"
timeout = "300ms"
[[step]]
send = "not sent"
"""
    path = write(tmp_path, text)
    report = tmp_path / "report.xml"
    json_report = tmp_path / "report.json"
    result = invoke(["run", path, "--report", f"junit:{report}", "--report", str(json_report)])
    assert result.exit_code == 7
    line = line_of(text, "[[step]]", 3)
    assert f"conv.toml:{line}: step 3 (expect '^goodbye$'): not met within 300ms" in result.stderr
    assert "the last message received (1 of 1):" in result.stderr
    server.wait_closed()
    assert server.recorder.messages == ["hello"]  # step 4 never ran

    # JUnit: exactly one test case per step, with the failure on step 3.
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 4
    assert [c.get("name", "").split(" (")[0] for c in cases] == [
        "step 1",
        "step 2",
        "the reply that never comes: step 3",
        "step 4",
    ]
    assert cases[0].find("failure") is None and cases[1].find("failure") is None
    failure = cases[2].find("failure")
    assert failure is not None and "not met within 300ms" in failure.get("message", "")
    assert cases[3].find("skipped") is not None
    assert float(cases[2].get("time", "0")) >= 0.3
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    data = json.loads(json_report.read_text())
    assert [s["status"] for s in data["steps"]] == ["passed", "passed", "failed", "skipped"]
    assert data["steps"][2]["line"] == line


def test_the_server_closing_first_fails_the_waiting_step(
    make_server: MakeServer, tmp_path: Path
) -> None:
    async def close_at_once(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.close(1000, "done")

    server = make_server(close_at_once)
    text = f'url = "{server.url}"\n[[step]]\nexpect = "never"\n'
    result = invoke(["run", write(tmp_path, text)])
    assert result.exit_code == 7
    assert "conv.toml:2: step 1 (expect 'never')" in result.stderr
    assert "closed the connection (1000" in result.stderr


def test_connection_failure_is_the_first_steps_error_in_junit(tmp_path: Path) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    report = tmp_path / "r.xml"
    text = f'url = "ws://127.0.0.1:{port}/"\n[[step]]\nsend = "a"\n[[step]]\nsend = "b"\n'
    result = invoke(["run", write(tmp_path, text), "--report", f"junit:{report}"])
    assert result.exit_code == 4
    cases = ET.parse(report).getroot().findall("testsuite/testcase")
    assert len(cases) == 2
    assert cases[0].find("error") is not None and cases[1].find("skipped") is not None


# -- captures and templates ----------------------------------------------------------------


async def session_server(connection: ServerConnection, recorder: Recorder) -> None:
    """Hands out a random session id; only ``auth <id>`` with it is answered ``ok``."""
    session = secrets.token_hex(8)
    await connection.send(json.dumps({"type": "welcome", "session": session}))
    await connection.send(f"ticket=T-{session[:4]};")
    async for message in connection:
        recorder.messages.append(message)
        if message == f"auth {session} T-{session[:4]}":
            await connection.send(json.dumps({"type": "ok", "session": session}))
        else:
            await connection.send("denied")


def test_captures_feed_later_sends_and_expectations(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(session_server)
    text = f"""url = "{server.url}"
[[step]]
expect-json = {{ type = "welcome" }}
capture = {{ session = "session" }}
[[step]]
expect = "^ticket="
capture = {{ ticket = 're:ticket=(T-\\w+);' }}
[[step]]
send = "auth ${{session}} ${{ticket}}"
[[step]]
expect-json = {{ type = "ok", session = "${{session}}" }}
"""
    result = invoke(["run", write(tmp_path, text)])
    assert result.exit_code == 0, result.stderr
    server.wait_closed()
    [sent] = server.recorder.messages
    assert sent.startswith("auth ") and len(sent.split()[1]) == 16
    assert result.stdout == ""


def test_unmatched_messages_are_printed_and_quiet_hides_them(
    make_server: MakeServer, tmp_path: Path
) -> None:
    async def chatty(connection: ServerConnection, recorder: Recorder) -> None:
        for text in ("noise 1", "noise 2", "ready", "after"):
            await connection.send(text)
        await connection.wait_closed()

    server = make_server(chatty)
    text = f'url = "{server.url}"\n[[step]]\nexpect = "ready"\n[[step]]\nexpect = "after"\n'
    path = write(tmp_path, text)
    assert invoke(["run", path]).lines == ["noise 1", "noise 2"]
    quiet = invoke(["run", path, "-q"])
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_messages_left_at_the_end_are_printed_not_lost(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(echo)
    text = f"""url = "{server.url}"
[[step]]
send = "one"
[[step]]
send = "two"
[[step]]
expect = "two"
[[step]]
send = "three"
[[step]]
expect-close = 1000
timeout = "200ms"
"""
    result = invoke(["run", write(tmp_path, text)])
    # "one" was passed over by step 3; "three" arrived while waiting for a close that
    # never came: both printed.  The run fails on the close step.
    assert result.lines == ["one", "three"]
    assert result.exit_code == 7
    assert "step 5 (expect-close 1000): the server did not close" in result.stderr


def test_binary_ping_sleep_and_close_steps(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(echo)
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\xff")
    text = f"""url = "{server.url}"
[[step]]
send-binary = "base64:AAH/"
[[step]]
send-binary = "hex:00 01 ff"
[[step]]
send-binary = "@blob.bin"
[[step]]
sleep = 10
[[step]]
ping = {{ payload = "p", max-rtt = "5s" }}
[[step]]
close = {{ code = 4000, reason = "done" }}
"""
    result = invoke(["run", write(tmp_path, text), "--binary-format", "hex"])
    assert result.exit_code == 0, result.stderr
    server.wait_closed()
    assert server.recorder.messages == [b"\x00\x01\xff"] * 3
    assert server.recorder.close_codes == [4000]
    assert server.recorder.close_reasons == ["done"]
    assert result.stdout.count("00 01 ff") == 3  # the echoes, printed: no step took them


def test_expect_close_checks_the_code(make_server: MakeServer, tmp_path: Path) -> None:
    async def close_4000(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.recv()
        await connection.close(4000, "bye")

    server = make_server(close_4000)
    good = f'url = "{server.url}"\n[[step]]\nsend = "x"\n[[step]]\nexpect-close = 4000\n'
    assert invoke(["run", write(tmp_path, good)]).exit_code == 0
    bad = good.replace("4000", "1000")
    result = invoke(["run", write(tmp_path, bad, "bad.toml")])
    assert result.exit_code == 7
    assert "bad.toml:4: step 2 (expect-close 1000): the server closed with 4000" in result.stderr
    assert result.stderr.rstrip().endswith(": bye")  # the server's reason says why


# -- replies in a conversation -------------------------------------------------------------


async def heartbeat_then_ready(connection: ServerConnection, recorder: Recorder) -> None:
    """Sends ``2`` three times and wants ``3`` after each; then says ``ready``."""
    for _ in range(3):
        await connection.send("2")
        answer = await connection.recv()
        recorder.messages.append(answer)
        if answer != "3":
            await connection.close(4000, "no heartbeat")
            return
    await connection.send("ready")
    await connection.wait_closed()


def test_reply_tables_answer_all_along_and_are_counted(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(heartbeat_then_ready)
    text = f"""url = "{server.url}"
[[reply]]
match = '^2$'
send = '3'
[[step]]
expect = "ready"
"""
    report = tmp_path / "r.json"
    result = invoke(["run", write(tmp_path, text), "--report", str(report)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # replied-to messages are not printed
    assert json.loads(report.read_text())["replies"] == [{"reply": "^2$=>3", "count": 3}]
    verbose = invoke(["run", write(tmp_path, text), "-v"])
    assert verbose.exit_code == 0
    assert verbose.stderr.count("replied 3 to 2\n") == 3


def test_reply_option_adds_to_the_file(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(heartbeat_then_ready)
    text = f'url = "{server.url}"\n[[step]]\nexpect = "ready"\ntimeout = "2s"\n'
    result = invoke(["run", write(tmp_path, text), "--reply", "^2$=>3"])
    assert result.exit_code == 0, result.stderr


# -- options: the file's, and the command line's -------------------------------------------


async def show_headers(connection: ServerConnection, recorder: Recorder) -> None:
    assert connection.request is not None
    header = connection.request.headers.get("X-From", "none")
    recorder.messages.append(header)
    await connection.send(header)
    await connection.wait_closed()


def test_file_connection_options_and_command_line_overrides(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server(show_headers)
    text = """url = "ws://127.0.0.1:9/nowhere"
headers = { X-From = "file" }
dial-timeout = "2s"
[[step]]
expect = "."
"""
    path = write(tmp_path, text)
    assert invoke(["run", path, "--url", server.url]).exit_code == 0
    assert invoke(["run", path, "--url", server.url, "-H", "X-From: cli"]).exit_code == 0
    assert server.recorder.messages == ["file", "cli"]


def test_dry_run_prints_the_plan_and_connects_to_nothing(
    make_server: MakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "t0k")
    server = make_server(record_only)
    text = f'url = "{server.url}"\n' + GRAPHQL
    path = write(tmp_path, text, "plan.toml")
    result = invoke(["run", "--dry-run", path], input="")
    assert result.exit_code == 0, result.stderr
    assert "plan.toml: 7 steps, 0 replies, connecting to ws://" in result.lines[0]
    line = line_of(text, "connection_ack")
    # FILE:LINE is padded to the longest one, so that the steps line up.
    assert f'plan.toml:{line - 1}   expect-json type="connection_ack" (timeout 5s)' in result.stdout
    assert server.recorder.connections == 0


def test_a_reply_to_a_message_sent_just_before_a_close_does_not_fail_the_run(
    make_server: MakeServer, tmp_path: Path
) -> None:
    async def ping_and_leave(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("2")
        await connection.close(1000, "bye")

    server = make_server(ping_and_leave)
    text = f"url = \"{server.url}\"\n[[reply]]\nmatch = '^2$'\nsend = '3'\n"
    text += "[[step]]\nexpect-close = 1000\n"
    result = invoke(["run", write(tmp_path, text)])
    assert result.exit_code == 0, result.stderr
