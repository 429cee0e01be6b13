"""Expectations on what a server sends: ``--expect``, ``--expect-json`` and ``--expect-close``.

Pure: the parsers turn option values into :class:`Expectation` objects (or raise
:class:`~wsctl.errors.InvalidInput` before anything is sent), and a :class:`Matcher` is fed
each received message and the close, and says when every expectation is met and which are not.

Ordering rule: the ``--expect`` patterns are met in the order given, each by the message that
met the pattern before it or by a later one (so several conditions may describe one reply, and
a pattern met before its predecessor counts as out of order); the ``--expect-json`` conditions
likewise among themselves.  The two lists advance independently.  ``--expect-close`` is met by
the close code.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from wsctl.errors import InvalidInput
from wsctl.regex_deadline import MATCH_LIMIT, RegexTooSlow, regex_deadline
from wsctl.settings import close_code_name, close_code_number

#: How many of the last received messages a matcher keeps, to show when a check fails.
RECENT_MESSAGES = 5


class Wildcard:
    """``[*]`` or ``.*`` in a path: any element of an array, any value of an object."""

    def __repr__(self) -> str:
        return "[*]"


WILDCARD: Final = Wildcard()

PathStep = str | int | Wildcard


# -- the expectations ----------------------------------------------------------------------


@dataclass(frozen=True)
class RegexExpectation:
    """``--expect REGEX``: some message (text, or binary read as UTF-8) matches ``REGEX``."""

    source: str
    pattern: re.Pattern[str] = field(compare=False)

    @property
    def option(self) -> str:
        """How the user wrote it, for messages: ``--expect 'ready'``."""
        return f"--expect {_quote(self.source)}"

    def matches(self, text: str) -> bool:
        """True when the pattern is found anywhere in ``text`` (like ``grep -E``); a search
        still running after :data:`MATCH_LIMIT` (catastrophic backtracking) is an
        ``InvalidInput``."""
        try:
            with regex_deadline(MATCH_LIMIT):
                return self.pattern.search(text) is not None
        except RegexTooSlow:
            raise InvalidInput(
                f"{self.option}: matching a {len(text)}-character message took over "
                f"{MATCH_LIMIT:g}s (a regex that backtracks catastrophically?)"
            ) from None


@dataclass(frozen=True)
class JsonExpectation:
    """``--expect-json PATH=VALUE``: some message is JSON whose value at ``PATH`` is ``VALUE``."""

    source: str
    path: tuple[PathStep, ...]
    value: Any

    @property
    def option(self) -> str:
        """How the user wrote it, for messages: ``--expect-json 'type=pong'``."""
        return f"--expect-json {_quote(self.source)}"

    def matches(self, document: Any) -> bool:
        """True when any value found at the path equals the expected value as JSON."""
        return any(json_equal(found, self.value) for found in resolve(document, self.path))


@dataclass(frozen=True)
class CloseExpectation:
    """``--expect-close CODE``: the connection ends with close code ``CODE``."""

    code: int

    @property
    def option(self) -> str:
        """How the option reads in messages: ``--expect-close 1000``."""
        return f"--expect-close {self.code}"


Expectation = RegexExpectation | JsonExpectation | CloseExpectation


def _quote(text: str) -> str:
    """Quote for a one-line message the way a shell user would write it."""
    if "'" not in text:
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False)


# -- parsing -------------------------------------------------------------------------------


def parse_regex(source: str) -> RegexExpectation:
    """``--expect REGEX`` → :class:`RegexExpectation`; a bad pattern is an InvalidInput."""
    try:
        pattern = re.compile(source)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise InvalidInput(
            f"{_quote(source)} is not a valid regular expression: {exc.msg}{where}"
        ) from None
    except (OverflowError, RecursionError) as exc:  # a{9999999999}, absurd nesting
        raise InvalidInput(f"{_quote(source)} is not a usable regular expression: {exc}") from None
    return RegexExpectation(source, pattern)


def parse_json_expectation(source: str) -> JsonExpectation:
    """``--expect-json PATH=VALUE`` → :class:`JsonExpectation`.

    PATH is dotted keys with ``[N]`` indexes (``data.items[0].id``), optionally starting with
    ``$``; keys with dots or brackets are quoted (``["a.b"]``); ``[*]``/``.*`` match any
    element.  ``$`` alone is the whole message.  VALUE is parsed as JSON (``7``, ``true``,
    ``"7"``, ``{"a": 1}``) and, when it is not JSON, taken as a string (``type=pong``).
    """
    path, rest = _parse_path(source)
    if not rest.startswith("="):
        raise InvalidInput(
            f"{_quote(source)} is not PATH=VALUE, e.g. type=pong or data.items[0].id=7"
        )
    text = rest[1:]
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError):
        value = text
    return JsonExpectation(source, path, value)


def parse_close_expectation(value: str | int) -> CloseExpectation:
    """``--expect-close CODE``: a number 1000–4999 or a name (``normal``, ``going-away``).

    Unlike a close code to *send*, any code may be observed, 1006 (abnormal closure) included.
    """
    code = close_code_number(value)
    if code is None:
        raise InvalidInput(
            f"{_quote(str(value))} is not a close code: expected a number from 1000 to 4999 "
            "or a name such as normal, going-away, abnormal-closure"
        )
    if not 1000 <= code <= 4999:
        raise InvalidInput(f"close code {code} is out of range: expected 1000 to 4999")
    return CloseExpectation(code)


_NAME_END = re.compile(r"[.\[\]=]")
_INDEX = re.compile(r"-?\d+")


def _parse_path(source: str) -> tuple[tuple[PathStep, ...], str]:
    """Parse the PATH at the start of ``source``; return its steps and what follows it."""

    def fail(position: int, expected: str) -> InvalidInput:
        return InvalidInput(
            f"{_quote(source)}: bad path at position {position + 1}: "
            f'expected {expected} (paths look like type, data.items[0].id, $, ["a.b"])'
        )

    steps: list[PathStep] = []
    i = 0
    if source.startswith("$"):
        i = 1
        if source[i : i + 1] not in (".", "[", "=", ""):
            raise fail(i, "'.', '[' or '=' after '$'")
        if source[i : i + 1] == ".":
            i += 1
            if source[i : i + 1] in ("=", ""):  # "$." alone means the whole message too
                return (), source[i:]
    elif source[:1] in ("=", ""):
        raise fail(0, "a path before '=' (use $ for the whole message)")
    need_name = source[i : i + 1] not in ("[", "=", "")
    while i < len(source):
        char = source[i]
        if need_name:
            match = _NAME_END.search(source, i)
            end = match.start() if match else len(source)
            name = source[i:end]
            if not name or name.strip() != name:
                raise fail(i, "a key name")
            steps.append(WILDCARD if name == "*" else name)
            i = end
            need_name = False
        elif char == "=":
            return tuple(steps), source[i:]
        elif char == ".":
            i += 1
            need_name = True
            if source[i : i + 1] in ("", "=", ".", "[", "]"):
                raise fail(i, "a key name after '.'")
        elif char == "[":
            step, i = _parse_bracket(source, i + 1, fail)
            steps.append(step)
        else:
            raise fail(i, "'.', '[' or '='")
    if need_name:
        raise fail(i, "a key name")
    return tuple(steps), ""


def _parse_bracket(
    source: str, i: int, fail: Callable[[int, str], InvalidInput]
) -> tuple[PathStep, int]:
    """Parse ``N]``, ``*]`` or ``"key"]`` (or ``'key'``) starting after a ``[``."""
    if source.startswith("*]", i):
        return WILDCARD, i + 2
    if source[i : i + 1] in ('"', "'"):
        quote = source[i]
        end = i + 1
        while end < len(source) and source[end] != quote:
            end += 2 if source[end] == "\\" else 1
        if end >= len(source) or source[end + 1 : end + 2] != "]":
            raise fail(i, f"a quoted key ending in {quote}]")
        raw = source[i + 1 : end]
        try:
            key = json.loads(f'"{raw}"') if quote == '"' else raw
        except ValueError:
            raise fail(i, "a valid quoted key") from None
        return str(key), end + 2
    match = _INDEX.match(source, i)
    if match is None or source[match.end() : match.end() + 1] != "]":
        raise fail(i, "a number, * or a quoted key inside [...]")
    return int(match.group()), match.end() + 1


# -- evaluation ----------------------------------------------------------------------------


def resolve(document: Any, path: Sequence[PathStep]) -> Iterator[Any]:
    """Yield every value found at ``path`` in ``document`` (several with wildcards)."""
    if not path:
        yield document
        return
    step, rest = path[0], path[1:]
    if isinstance(step, Wildcard):
        if isinstance(document, list):
            children: Sequence[Any] = document
        elif isinstance(document, dict):
            children = list(document.values())
        else:
            return
        for child in children:
            yield from resolve(child, rest)
    elif isinstance(step, int):
        if isinstance(document, list) and -len(document) <= step < len(document):
            yield from resolve(document[step], rest)
    elif isinstance(document, dict) and step in document:
        yield from resolve(document[step], rest)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON means it: ``7 == 7.0`` but ``true != 1`` and ``"7" != 7``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


# -- the matcher ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, for reports: met or not, and by which message (1-based)."""

    expectation: Expectation
    met: bool
    message_number: int | None = None
    close_code: int | None = None


_UNPARSED: Final = object()


class Matcher:
    """Fed every received message and the close; knows which expectations are met.

    ``feed`` and ``close`` return True once everything is met.  The last
    :data:`RECENT_MESSAGES` messages are kept in ``recent`` to explain a failure.
    """

    def __init__(self, expectations: Sequence[Expectation]) -> None:
        self.expectations = tuple(expectations)
        self._regexes = [e for e in self.expectations if isinstance(e, RegexExpectation)]
        self._jsons = [e for e in self.expectations if isinstance(e, JsonExpectation)]
        self._closes = [e for e in self.expectations if isinstance(e, CloseExpectation)]
        self._next_regex = 0
        self._next_json = 0
        self._met: dict[int, int] = {}  # id(expectation) → message number that met it
        # Expectations that matched a message before their turn: "out of order" in the error.
        self._early: set[int] = set()
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = False
        self.received = 0
        self.recent: deque[str | bytes] = deque(maxlen=RECENT_MESSAGES)

    @property
    def expects_close(self) -> bool:
        """True when an ``--expect-close`` is among the expectations."""
        return bool(self._closes)

    @property
    def satisfied(self) -> bool:
        """True once every expectation is met."""
        return (
            self._next_regex == len(self._regexes)
            and self._next_json == len(self._jsons)
            and all(self._close_met(e) for e in self._closes)
        )

    def feed(self, data: str | bytes) -> bool:
        """Take one received message into account; True when everything is now met."""
        self.received += 1
        self.recent.append(data)
        if self._next_regex < len(self._regexes):
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            while self._next_regex < len(self._regexes):
                expectation = self._regexes[self._next_regex]
                if not expectation.matches(text):
                    break
                self._met[id(expectation)] = self.received
                self._next_regex += 1
            for later in self._regexes[self._next_regex + 1 :]:
                if id(later) not in self._early and later.matches(text):
                    self._early.add(id(later))
        if self._next_json < len(self._jsons):
            document = _parse_json(data)
            if document is not _UNPARSED:
                while self._next_json < len(self._jsons):
                    expectation_json = self._jsons[self._next_json]
                    if not expectation_json.matches(document):
                        break
                    self._met[id(expectation_json)] = self.received
                    self._next_json += 1
                for later_json in self._jsons[self._next_json + 1 :]:
                    if id(later_json) not in self._early and later_json.matches(document):
                        self._early.add(id(later_json))
        return self.satisfied

    def close(self, code: int | None, reason: str = "") -> bool:
        """Record how the connection ended (``None``: no close code); True when all are met."""
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        return self.satisfied

    def _close_met(self, expectation: CloseExpectation) -> bool:
        return self.closed and self.close_code == expectation.code

    def outcomes(self) -> list[Outcome]:
        """Every expectation with its result, in the order they were given."""
        results = []
        for expectation in self.expectations:
            if isinstance(expectation, CloseExpectation):
                results.append(
                    Outcome(expectation, self._close_met(expectation), close_code=self.close_code)
                )
            else:
                number = self._met.get(id(expectation))
                results.append(Outcome(expectation, number is not None, message_number=number))
        return results

    @property
    def unmet(self) -> list[Expectation]:
        """The expectations not met (yet), in the order they were given."""
        return [outcome.expectation for outcome in self.outcomes() if not outcome.met]

    def describe_unmet(self) -> str:
        """``--expect 'b'; --expect-close 1000 (closed with 4000 application)``: for errors."""
        parts = []
        for expectation in self.unmet:
            text = expectation.option
            if isinstance(expectation, CloseExpectation) and self.closed:
                code = self.close_code
                text += f" (closed with {code} {close_code_name(code)})" if code else " (closed)"
            elif id(expectation) in self._early:
                text += " (a message matched it earlier, out of order)"
            parts.append(text)
        met = len(self.expectations) - len(parts)
        summary = "; ".join(parts)
        return f"{summary} ({met} of {len(self.expectations)} met)" if met else summary


def _parse_json(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # also UnicodeDecodeError; RecursionError: nesting
        return _UNPARSED
