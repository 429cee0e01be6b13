"""Multi-line JSON at the prompt: when Enter continues the message instead of sending it.

A message that starts with ``{`` or ``[`` and still has brackets or braces open (outside
strings) is not finished: Enter inserts a newline, and the continuation lines are shown with
``... ``.  When the brackets balance, Enter sends the whole text, as typed, as one message.
Enter on an empty continuation line sends the text as it is, balanced or not (a way out for
a message meant to be malformed).  Pure functions; the key binding lives in the session.
"""

from __future__ import annotations

__all__ = ["CONTINUATION", "continuation_prompt", "is_incomplete_json"]

#: Shown before each continuation line of a multi-line message.
CONTINUATION = "... "

_OPENERS = "{["
_CLOSERS = "}]"


def is_incomplete_json(text: str) -> bool:
    """True when ``text`` looks like JSON (starts with ``{`` or ``[``) with brackets still open.

    Brackets inside strings do not count (``\\"`` escapes are followed).  Extra closing
    brackets make the text complete, not incomplete: the server says what is wrong with it.
    Text that does not start with a bracket (``hello [``) is never continued.
    """
    stripped = text.lstrip()
    if not stripped or stripped[0] not in _OPENERS:
        return False
    depth = 0
    in_string = False
    escaped = False
    for char in stripped:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth <= 0:
                # The value is closed: anything after it is the server's business.
                return False
    return depth > 0


def continuation_prompt(width: int, line_number: int, wrap_count: int) -> str:
    """prompt_toolkit's ``prompt_continuation``: ``... `` before each new line of a message,
    blanks before a long line the terminal wrapped."""
    if wrap_count > 0:
        return " " * width
    return CONTINUATION
