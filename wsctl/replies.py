"""Automatic replies: ``--reply 'MATCH=>RESPONSE'`` and ``[[reply]]`` tables in ``wsctl run``.

Pure: :func:`parse_reply` turns one option value into a :class:`Reply` (a bad one is an
:class:`~wsctl.errors.InvalidInput`, exit 2 before connecting), and a :class:`Replier` says
what to answer to each received message and counts the answers for ``--report``.

MATCH is a regular expression searched in the message (binary read as UTF-8), or
``json:PATH=VALUE`` with ``--expect-json``'s paths and values.  RESPONSE is a template: the
regex's groups as ``${1}`` or ``${name}`` (``${0}`` is the whole match; for ``json:`` the whole
message), plus ``${env.NAME}``, ``${uuid}`` and ``${now}``.  The first ``=>`` splits the two.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wsctl.errors import InvalidInput
from wsctl.expectations import (
    JsonExpectation,
    RegexExpectation,
    parse_json_expectation,
    parse_regex,
)
from wsctl.regex_deadline import MATCH_LIMIT, RegexTooSlow, regex_deadline
from wsctl.templates import Template, check_template, parse_template

SEPARATOR = "=>"


@dataclass(frozen=True)
class Reply:
    """One rule: messages that meet ``match`` are answered with ``response``."""

    source: str
    match: RegexExpectation | JsonExpectation
    response: Template

    def answer(self, data: str | bytes, env: Mapping[str, str]) -> str | None:
        """The response to ``data``, or ``None`` when the message does not match."""
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        if isinstance(self.match, RegexExpectation):
            found = self.match.pattern.search(text)
            if found is None:
                return None
            groups = {str(n): found.group(n) or "" for n in range(self.match.pattern.groups + 1)}
            groups.update({k: v or "" for k, v in found.groupdict().items()})
            return self.response.render(groups, env)
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting
            return None
        if not self.match.matches(document):
            return None
        return self.response.render({"0": text}, env)


def group_names(match: RegexExpectation | JsonExpectation) -> set[str]:
    """The names a response may use: ``0``, the group numbers and the named groups."""
    if isinstance(match, JsonExpectation):
        return {"0"}
    pattern = match.pattern
    return {str(n) for n in range(pattern.groups + 1)} | set(pattern.groupindex)


def make_reply(
    match: str, response: str, env: Mapping[str, str] | None = None, *, source: str = ""
) -> Reply:
    """A :class:`Reply` from its two halves; every reference in ``response`` is checked."""
    if match.startswith("json:"):
        condition: RegexExpectation | JsonExpectation = parse_json_expectation(match[5:])
    else:
        if not match:
            raise InvalidInput("the MATCH of a reply is empty (e.g. '^2$=>3')")
        condition = parse_regex(match)
    template = parse_template(response)
    check_template(template, group_names(condition), os.environ if env is None else env)
    return Reply(source or f"{match}{SEPARATOR}{response}", condition, template)


def parse_reply(spec: str, env: Mapping[str, str] | None = None) -> Reply:
    """``'MATCH=>RESPONSE'`` → :class:`Reply`; ``InvalidInput`` names what is wrong."""
    match, separator, response = spec.partition(SEPARATOR)
    if not separator:
        raise InvalidInput(
            f"{spec!r} is not MATCH=>RESPONSE, "
            "e.g. '^2$=>3' or 'json:type=ping=>{\"type\":\"pong\"}'"
        )
    return make_reply(match, response, env, source=spec)


@dataclass
class Replier:
    """The replies in force for one session, with how often each one answered."""

    replies: Sequence[Reply] = ()
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.replies)

    def __bool__(self) -> bool:
        return bool(self.replies)

    def respond(self, data: str | bytes) -> str | None:
        """The answer of the first reply that matches ``data`` (counted), else ``None``.

        A rule whose regex backtracks catastrophically would stall the session for good:
        past :data:`MATCH_LIMIT` it is an ``InvalidInput`` naming the rule.
        """
        for index, reply in enumerate(self.replies):
            try:
                with regex_deadline(MATCH_LIMIT):
                    answer = reply.answer(data, self.env)
            except RegexTooSlow:
                raise InvalidInput(
                    f"reply {reply.source!r}: matching a {len(data)}-byte message took over "
                    f"{MATCH_LIMIT:g}s (a regex that backtracks catastrophically?)"
                ) from None
            if answer is not None:
                self.counts[index] += 1
                return answer
        return None

    def summary(self) -> list[dict[str, object]]:
        """``[{"reply": "^2$=>3", "count": 5}, ...]`` for reports."""
        return [
            {"reply": reply.source, "count": count}
            for reply, count in zip(self.replies, self.counts, strict=True)
        ]
