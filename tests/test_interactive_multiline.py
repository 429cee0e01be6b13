"""Multi-line JSON at the interactive prompt: typed through a real pty, sent as one message."""

from __future__ import annotations

import queue
from collections.abc import Callable

import pytest
from conftest import TIMEOUT
from test_interactive import ServerFactory, Terminal, recording_echo, terminal

from wsctl.interactive.multiline import continuation_prompt, is_incomplete_json

__all__ = ["terminal"]  # the pty fixture, shared with test_interactive


def test_json_typed_over_several_lines_is_one_message(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    term = terminal(server.url)
    term.ready()
    term.enter("{")
    term.expect_exact("...")  # the continuation prompt ("... "): nothing was sent
    term.enter('"a": 1')
    term.expect_exact("...")
    term.enter("}")
    term.expect_exact("< {")
    assert messages.get(timeout=TIMEOUT) == '{\n"a": 1\n}'
    assert messages.empty()
    # The prompt is back to single lines: a plain line is sent at once.
    term.enter("plain [ text")
    assert messages.get(timeout=TIMEOUT) == "plain [ text"
    term.child.sendcontrol("d")
    assert term.exit_status() == 0
    assert server.recorder.messages == ['{\n"a": 1\n}', "plain [ text"]


def test_enter_on_an_empty_continuation_line_sends_the_text_as_it_is(
    make_server: ServerFactory, terminal: Callable[..., Terminal]
) -> None:
    messages: queue.Queue[str | bytes] = queue.Queue()
    server = make_server(recording_echo(messages))
    term = terminal(server.url)
    term.ready()
    term.enter('["unfinished", "]"')  # the bracket in the string does not close the array
    term.expect_exact("...")
    term.enter()
    assert messages.get(timeout=TIMEOUT) == '["unfinished", "]"'
    term.child.sendcontrol("d")
    assert term.exit_status() == 0


@pytest.mark.parametrize(
    ("text", "incomplete"),
    [
        ("{", True),
        ('  {"a": [1, 2', True),
        ('{"a": "}"', True),
        ('{"a": "\\"}"', True),
        ('{"a": "\\\\"', True),
        ("[[]", True),
        ('{"a": 1}', False),
        ("[]", False),
        ("{}}", False),
        ("{} {", False),
        ("hello [", False),
        ("/send {", False),
        ("", False),
        ('"{"', False),
        ('{"a": "x\\\\"}', False),
    ],
)
def test_is_incomplete_json(text: str, incomplete: bool) -> None:
    assert is_incomplete_json(text) is incomplete


def test_continuation_prompt() -> None:
    assert continuation_prompt(2, 1, 0) == "... "
    assert continuation_prompt(2, 0, 1) == "  "
