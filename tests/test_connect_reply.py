"""``connect --reply``: in the interactive session (a real pty) and in a pipe."""

from __future__ import annotations

from collections.abc import Callable

from conftest import LoopbackServer, Recorder, invoke
from test_interactive import Terminal, terminal  # noqa: F401 - the pty fixture
from websockets.asyncio.server import ServerConnection

MakeServer = Callable[..., LoopbackServer]


async def heartbeat_on_demand(connection: ServerConnection, recorder: Recorder) -> None:
    """For each ``go``: sends ``2`` and says whether the answer was ``3``."""
    async for message in connection:
        recorder.messages.append(message)
        if message == "go":
            await connection.send("2")
            answer = await connection.recv()
            recorder.messages.append(answer)
            await connection.send("answered" if answer == "3" else f"wrong: {answer!r}")


def test_interactive_session_answers_and_hides_the_heartbeat(
    make_server: MakeServer,
    terminal: Callable[..., Terminal],  # noqa: F811
) -> None:
    server = make_server(heartbeat_on_demand)
    term = terminal(server.url, "--reply", "^2$=>3")
    term.ready()
    term.enter("go")
    term.expect_exact("< answered")
    term.enter("/quit")
    assert term.exit_status() == 0
    server.wait_closed()
    assert server.recorder.messages == ["go", "3"]
    assert "< 2" not in term.text


def test_interactive_verbose_shows_the_replies(
    make_server: MakeServer,
    terminal: Callable[..., Terminal],  # noqa: F811
) -> None:
    server = make_server(heartbeat_on_demand)
    term = terminal(server.url, "--reply", "^2$=>3", "-v")
    term.ready()
    term.enter("go")
    term.expect_exact("replied 3 to 2")
    term.expect_exact("< answered")
    term.enter("/quit")
    assert term.exit_status() == 0


def test_pipe_mode_answers_too(make_server: MakeServer) -> None:
    server = make_server(heartbeat_on_demand)
    result = invoke(["connect", server.url, "--reply", "^2$=>3", "--wait", "1"], input="go\n")
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["answered"]
    server.wait_closed()
    assert server.recorder.messages == ["go", "3"]
