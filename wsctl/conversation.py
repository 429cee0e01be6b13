"""Conversation files for ``wsctl run``: the TOML model, its validation, and step matching.

Pure (reading the file and ``@FILE`` payloads is its only I/O): :func:`load_conversation`
turns the file's text into a :class:`Conversation` or raises :class:`~wsctl.errors.InvalidInput`
naming ``FILE:LINE`` — before anything is sent.  tomllib reports no positions for values, so
:class:`SourceMap` finds each ``[[step]]`` table and each key by scanning the source.

A step does one thing: ``send``, ``send-binary``, ``expect`` and/or ``expect-json`` (one message
meeting both), ``sleep``, ``ping``, ``close`` or ``expect-close``; ``timeout``, ``capture`` and
``name`` qualify it.  Templates (:mod:`wsctl.templates`) may use the captures of earlier steps.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import re
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from wsctl.durations import format_duration, parse_duration
from wsctl.errors import InvalidInput
from wsctl.expectations import (
    JsonExpectation,
    PathStep,
    json_equal,
    parse_close_expectation,
    parse_json_expectation,
    parse_regex,
    resolve,
)
from wsctl.redact import redact_url
from wsctl.replies import Reply, make_reply
from wsctl.settings import parse_close_code, validate_close_reason, validate_url
from wsctl.templates import BUILTINS, NAME, Template, check_template, parse_template

#: The per-step deadline when neither the file nor ``--timeout`` gives one.
DEFAULT_TIMEOUT = 10.0

ACTIONS = ("send", "send-binary", "expect", "expect-json", "sleep", "ping", "close", "expect-close")
STEP_KEYS = (*ACTIONS, "timeout", "capture", "name")
#: Steps that wait for something, and so may have a ``timeout``.
WAITING = ("expect", "expect-json", "ping", "expect-close")
TOP_KEYS = ("url", "timeout", "step", "reply")
REPLY_KEYS = ("match", "send")


# -- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonCondition:
    """One ``expect-json`` condition; a string value may be a template."""

    expectation: JsonExpectation
    template: Template | None = None

    def value(self, captures: Mapping[str, Any], env: Mapping[str, str]) -> Any:
        """The expected value, with the template filled in."""
        if self.template is None:
            return self.expectation.value
        return self.template.render(captures, env)


@dataclass(frozen=True)
class Capture:
    """``capture = { NAME = "PATH" }`` (a JSON path) or ``{ NAME = "re:REGEX" }`` (group 1)."""

    name: str
    path: tuple[PathStep, ...] | None = None
    pattern: re.Pattern[str] | None = None

    def take(self, data: str | bytes, document: Any) -> tuple[bool, Any]:
        """(found, value) from the message that met the step."""
        if self.pattern is not None:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            found = self.pattern.search(text)
            if found is None:
                return False, None
            return True, found.group(1 if self.pattern.groups else 0)
        assert self.path is not None
        for value in resolve(document, self.path):
            return True, value
        return False, None


@dataclass(frozen=True)
class Step:
    """One step of a conversation; ``number`` counts from 1, ``line`` is its table's line."""

    number: int
    line: int
    kind: str
    name: str = ""
    text: Template | None = None  # send, and the close reason
    payload: bytes | None = None  # send-binary, ping
    regex: Template | None = None  # expect
    conditions: tuple[JsonCondition, ...] = ()  # expect-json
    captures: tuple[Capture, ...] = ()
    timeout: float | None = None
    seconds: float = 0.0  # sleep
    max_rtt: float | None = None  # ping
    code: int | None = None  # close, expect-close (None: any code)
    description: str = ""

    @property
    def waits(self) -> bool:
        """True for the steps that wait for the server (and so have a deadline)."""
        return self.kind in WAITING

    def matches(
        self, data: str | bytes, captures: Mapping[str, Any], env: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """The values captured when ``data`` meets this ``expect``/``expect-json`` step, else
        ``None``.  A capture that finds nothing means the message does not meet the step."""
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        if self.regex is not None:
            pattern = self.regex.render(captures, env, escape=re.escape)
            if re.search(pattern, text) is None:
                return None
        document: Any = None
        if self.conditions or any(c.path is not None for c in self.captures):
            try:
                document = json.loads(data)
            except (ValueError, RecursionError):  # RecursionError: hostile nesting
                return None
        for condition in self.conditions:
            expected = condition.value(captures, env)
            found = resolve(document, condition.expectation.path)
            if not any(json_equal(value, expected) for value in found):
                return None
        taken: dict[str, Any] = {}
        for capture in self.captures:
            ok, value = capture.take(data, document)
            if not ok:
                return None
            taken[capture.name] = value
        return taken


@dataclass(frozen=True)
class Conversation:
    """A validated conversation file."""

    path: str
    url: str | None
    timeout: float
    steps: tuple[Step, ...]
    replies: tuple[Reply, ...] = ()
    #: Connection options the file sets: parameter name → (value, line).
    connection: dict[str, tuple[Any, int]] = field(default_factory=dict)

    def where(self, step: Step) -> str:
        """``FILE:LINE`` of a step, for messages."""
        return f"{self.path}:{step.line}"


# -- where things are in the source --------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]*?)\s*\]\]?")


class SourceMap:
    """Line numbers of tables and keys, found by scanning the TOML source."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # (first line, kind, index among tables of that kind); kind "" for other tables.
        self.sections: list[tuple[int, str]] = []
        for number, line in enumerate(self.lines, 1):
            match = _HEADER.match(line)
            if match:
                name = match.group(2).strip("\"'")
                is_array = match.group(1) == "[["
                self.sections.append((number, name if is_array else f"[{name}]"))
        # Indexed once: a file of many thousand steps must not take quadratic time.
        self._starts = [number for number, _ in self.sections]
        self._headers: dict[str, list[int]] = {}
        for number, name in self.sections:
            self._headers.setdefault(name, []).append(number)

    def table_line(self, kind: str, index: int) -> int | None:
        """Line of the ``index``-th (0-based) ``[[kind]]`` header."""
        headers = self._headers.get(kind, [])
        return headers[index] if index < len(headers) else None

    def _range(self, kind: str | None, index: int) -> tuple[int, int]:
        end_of_file = len(self.lines) + 1
        if kind is None:  # the top level ends at the first table
            return 1, (self._starts[0] if self._starts else end_of_file)
        start = self.table_line(kind, index)
        if start is None:
            return 1, end_of_file
        after = bisect.bisect_right(self._starts, start)
        return start, (self._starts[after] if after < len(self._starts) else end_of_file)

    def key_line(self, kind: str | None, index: int, key: str) -> int | None:
        """Line where ``key`` is set in the table (``kind`` None: the top level)."""
        pattern = re.compile(
            rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]"
        )
        start, end = self._range(kind, index)
        for number in range(start, end):
            if pattern.match(self.lines[number - 1]):
                return number
        return None


class _Problem(Exception):
    """A validation problem at a line (``None``: the enclosing table's line)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# -- loading -------------------------------------------------------------------------------


def read_conversation(
    path: str,
    env: Mapping[str, str] | None = None,
    connection_keys: Mapping[str, str] | None = None,
) -> Conversation:
    """Read and validate the conversation file at ``path`` (see :func:`load_conversation`)."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM, as some Windows editors write, is no error
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{path}:{line}: the file is not UTF-8") from None
    return load_conversation(text, path, env, connection_keys)


def load_conversation(
    text: str,
    path: str = "<conversation>",
    env: Mapping[str, str] | None = None,
    connection_keys: Mapping[str, str] | None = None,
) -> Conversation:
    """Validate a conversation's TOML ``text``; ``InvalidInput`` says ``path:line: problem``.

    ``connection_keys`` maps the top-level keys accepted as connection options (``header``,
    ``dial-timeout``) to their parameter names; their values are returned unconverted in
    :attr:`Conversation.connection` for the command to check like command-line values.
    """
    env = os.environ if env is None else env
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)$", message)
        if found:
            detail = message[: found.start()].rstrip()
            raise InvalidInput(
                f"{path}:{found.group(1)}: invalid TOML: {detail} (column {found.group(2)})"
            ) from None
        raise InvalidInput(f"{path}: invalid TOML: {message}") from None
    source = SourceMap(text)
    loader = _Loader(path, source, env, connection_keys or {})
    return loader.load(data)


class _Loader:
    def __init__(
        self, path: str, source: SourceMap, env: Mapping[str, str], keys: Mapping[str, str]
    ) -> None:
        self.path = path
        self.source = source
        self.env = env
        self.keys = keys

    def fail(self, message: str, line: int | None) -> InvalidInput:
        # Whole-file problems (no steps) point at the first line: editors jump there.
        return InvalidInput(f"{self.path}:{line or 1}: {message}")

    def load(self, data: dict[str, Any]) -> Conversation:
        connection: dict[str, tuple[Any, int]] = {}
        for key, value in data.items():
            line = self.source.key_line(None, 0, key) or 1
            if key in TOP_KEYS:
                continue
            normal = key.replace("_", "-")
            if normal not in self.keys:
                raise self.fail(
                    f"unknown key {key!r} (expected url, timeout, [[step]], [[reply]] or a "
                    "connection option such as subprotocols, headers, dial-timeout)",
                    line,
                )
            try:
                connection[self.keys[normal]] = (self._expand(value), line)
            except InvalidInput as exc:
                raise self.fail(f"{key}: {exc.message}", line) from None
        url = data.get("url")
        url_line = self.source.key_line(None, 0, "url")
        if url is not None:
            if not isinstance(url, str):
                raise self.fail(
                    'url must be a string, e.g. url = "ws://127.0.0.1:8765/echo"', url_line
                )
            try:
                url = validate_url(self._expand(url))
            except InvalidInput as exc:
                raise self.fail(f"url: {exc.message}", url_line) from None
        timeout = DEFAULT_TIMEOUT
        if "timeout" in data:
            timeout = self._timeout(data["timeout"], self.source.key_line(None, 0, "timeout"))
        steps = self._steps(data.get("step"))
        replies = self._replies(data.get("reply"))
        return Conversation(
            path=self.path,
            url=url,
            timeout=timeout,
            steps=steps,
            replies=replies,
            connection=connection,
        )

    def _expand(self, value: Any) -> Any:
        """Fill ``${env.NAME}``, ``${uuid}``, ``${now}`` into connection values."""
        if isinstance(value, str):
            template = parse_template(value)
            check_template(template, (), self.env)
            return template.render({}, self.env)
        if isinstance(value, list):
            return [self._expand(item) for item in value]
        if isinstance(value, dict):
            return {name: self._expand(item) for name, item in value.items()}
        return value

    def _timeout(self, value: Any, line: int | None) -> float:
        try:
            return _timeout(value)
        except InvalidInput as exc:
            raise self.fail(exc.message, line) from None

    # -- steps -----------------------------------------------------------------------------

    def _steps(self, raw: Any) -> tuple[Step, ...]:
        line = self.source.key_line(None, 0, "step")
        if raw is None:
            raise self.fail('no steps: add [[step]] tables, e.g. [[step]] send = "hello"', line)
        if isinstance(raw, dict):
            line = line or next((n for n, name in self.source.sections if name == "[step]"), None)
            raise self.fail("write each step as a [[step]] table (an array of tables)", line)
        if not isinstance(raw, list) or not raw:
            raise self.fail("step must be an array of tables ([[step]])", line)
        known: set[str] = set()
        steps: list[Step] = []
        ended: Step | None = None
        for index, item in enumerate(raw):
            table_line = self.source.table_line("step", index) or line or 1
            if ended is not None:
                raise self.fail(
                    f"step {index + 1} comes after the connection is closed by step "
                    f"{ended.number} (line {ended.line})",
                    table_line,
                )
            try:
                step = self._step(index, item, table_line, known)
            except _Problem as problem:
                raise self.fail(
                    f"step {index + 1}: {problem.message}", problem.line or table_line
                ) from None
            except InvalidInput as exc:
                raise self.fail(f"step {index + 1}: {exc.message}", table_line) from None
            known.update(capture.name for capture in step.captures)
            steps.append(step)
            if step.kind in ("close", "expect-close"):
                ended = step
        return tuple(steps)

    def _step(self, index: int, item: Any, line: int, known: set[str]) -> Step:
        if not isinstance(item, dict):
            raise _Problem('a step must be a table, e.g. { send = "hello" }')

        def at(key: str) -> int:
            return self.source.key_line("step", index, key) or line

        def problem(key: str, message: str) -> _Problem:
            return _Problem(f"{key}: {message}", at(key))

        for key in item:
            if key not in STEP_KEYS:
                raise _Problem(
                    f"unknown key {key!r} (a step has one of {', '.join(ACTIONS)})", at(key)
                )
        actions = [key for key in ACTIONS if key in item]
        if not actions:
            raise _Problem(f"no action: give one of {', '.join(ACTIONS)}")
        kinds = {"expect" if a in ("expect", "expect-json") else a for a in actions}
        if len(kinds) > 1:
            raise _Problem(
                f"{' and '.join(actions)} in one step: one action per step", at(actions[1])
            )
        kind = "expect" if actions[0] in ("expect", "expect-json") else actions[0]
        fields: dict[str, Any] = {}
        name = item.get("name", "")
        if not isinstance(name, str):
            raise problem("name", "must be a string")
        if "timeout" in item:
            if kind not in ("expect", "ping", "expect-close"):
                raise problem("timeout", f"only a step that waits has one (not {kind})")
            try:
                fields["timeout"] = _timeout(item["timeout"])
            except InvalidInput as exc:
                raise problem("timeout", exc.message) from None
        if "capture" in item and kind != "expect":
            raise problem("capture", "needs an expect or expect-json in the same step")
        try:
            if kind == "send":
                fields["text"] = self._template(item["send"], known)
                description = f"send {_short(item['send'])}"
            elif kind == "send-binary":
                fields["payload"] = self._binary(item["send-binary"])
                description = f"send-binary {_short(item['send-binary'])}"
            elif kind == "expect":
                description = self._expect(item, known, fields, at)
            elif kind == "sleep":
                fields["seconds"] = _duration(item["sleep"], "sleep")
                description = f"sleep {format_duration(fields['seconds'])}"
            elif kind == "ping":
                description = self._ping(item["ping"], fields)
            elif kind == "close":
                description = self._close(item["close"], known, fields)
            else:
                description = self._expect_close(item["expect-close"], fields)
        except InvalidInput as exc:
            raise problem(actions[0], exc.message) from None
        return Step(
            number=index + 1,
            line=line,
            kind=kind,
            name=name,
            description=description,
            **fields,
        )

    def _template(self, value: Any, known: Collection[str]) -> Template:
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, not {_toml_type(value)}")
        template = parse_template(value)
        check_template(template, known, self.env)
        return template

    def _binary(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, not {_toml_type(value)}")
        if value.startswith("base64:"):
            try:
                return base64.b64decode(value[7:].strip(), validate=True)
            except binascii.Error as exc:
                raise InvalidInput(f"invalid base64: {exc}") from None
        if value.startswith("hex:"):
            try:
                return bytes.fromhex(value[4:])
            except ValueError as exc:
                raise InvalidInput(f"invalid hex: {exc}") from None
        if value.startswith("@"):
            target = os.path.join(os.path.dirname(os.path.abspath(self.path)), value[1:])
            try:
                with open(target, "rb") as file:
                    return file.read()
            except OSError as exc:
                raise InvalidInput(f"cannot read {value[1:]}: {exc.strerror or exc}") from None
        raise InvalidInput("expected base64:DATA, hex:DATA or @FILE")

    def _expect(
        self, item: dict[str, Any], known: set[str], fields: dict[str, Any], at: Any
    ) -> str:
        parts = []
        if "expect" in item:
            try:
                template = self._template(item["expect"], known)
                # Check the pattern now, with stand-ins for what is filled in later.
                parse_regex(template.render(dict.fromkeys(known, "x"), self.env, escape=re.escape))
            except InvalidInput as exc:
                raise _Problem(f"expect: {exc.message}", at("expect")) from None
            fields["regex"] = template
            parts.append(f"expect {_short(item['expect'])}")
        if "expect-json" in item:
            try:
                fields["conditions"] = tuple(self._conditions(item["expect-json"], known))
            except InvalidInput as exc:
                raise _Problem(f"expect-json: {exc.message}", at("expect-json")) from None
            shown = " ".join(c.expectation.source for c in fields["conditions"])
            parts.append(f"expect-json {shown}")
        if "capture" in item:
            try:
                fields["captures"] = tuple(self._captures(item["capture"]))
            except InvalidInput as exc:
                raise _Problem(f"capture: {exc.message}", at("capture")) from None
            parts.append("capture " + ", ".join(c.name for c in fields["captures"]))
        return "; ".join(parts)

    def _conditions(self, raw: Any, known: set[str]) -> Iterator[JsonCondition]:
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, list):
            if not raw or not all(isinstance(text, str) for text in raw):
                raise InvalidInput('expected a table { PATH = VALUE } or "PATH=VALUE" strings')
            for text in raw:
                yield JsonCondition(parse_json_expectation(text))
            return
        if not isinstance(raw, dict) or not raw:
            raise InvalidInput(
                'expected a table { PATH = VALUE }, e.g. { type = "connection_ack" }'
            )
        for key, value in raw.items():
            path = parse_json_expectation(f"{key}=0").path
            yield from self._flatten(key, path, value, known)

    def _flatten(
        self, shown: str, path: tuple[PathStep, ...], value: Any, known: set[str]
    ) -> Iterator[JsonCondition]:
        """A nested table is matched key by key: ``payload = { id = 1 }`` is ``payload.id``."""
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                more = parse_json_expectation(f"{key}=0").path
                yield from self._flatten(f"{shown}.{key}", path + more, inner, known)
            return
        try:
            json_text = json.dumps(value, ensure_ascii=False)
        except TypeError:
            raise InvalidInput(f"{shown}: a TOML {_toml_type(value)} is not a JSON value") from None
        template = None
        if isinstance(value, str) and "$" in value:
            template = self._template(value, known)
            if template.is_literal:
                value, template = template.render({}, self.env), None
        yield JsonCondition(JsonExpectation(f"{shown}={json_text}", path, value), template)

    def _captures(self, raw: Any) -> Iterator[Capture]:
        if not isinstance(raw, dict) or not raw:
            raise InvalidInput('expected a table { NAME = "PATH" } or { NAME = "re:REGEX" }')
        for name, target in raw.items():
            if not NAME.fullmatch(name) or name.isdigit() or name in (*BUILTINS, "env"):
                raise InvalidInput(f"{name!r} is not a usable name (letters, digits, _ and -)")
            if not isinstance(target, str) or not target:
                raise InvalidInput(f"{name}: expected a JSON path or re:REGEX string")
            if target.startswith("re:"):
                yield Capture(name, pattern=parse_regex(target[3:]).pattern)
            else:
                yield Capture(name, path=parse_json_expectation(f"{target}=0").path)

    def _ping(self, raw: Any, fields: dict[str, Any]) -> str:
        payload: Any = ""
        if isinstance(raw, dict):
            unknown = set(raw) - {"payload", "max-rtt"}
            if unknown:
                raise InvalidInput(
                    f"unknown key {sorted(unknown)[0]!r} (expected payload, max-rtt)"
                )
            payload = raw.get("payload", "")
            if "max-rtt" in raw:
                fields["max_rtt"] = _duration(raw["max-rtt"], "max-rtt")
        elif isinstance(raw, str):
            payload = raw
        elif raw is not True:
            raise InvalidInput("expected true, a payload string or { payload, max-rtt }")
        if not isinstance(payload, str):
            raise InvalidInput("payload must be a string")
        data = payload.encode("utf-8")
        if len(data) > 125:
            raise InvalidInput(f"payload is {len(data)} bytes; at most 125 fit in a ping")
        fields["payload"] = data
        bound = fields.get("max_rtt")
        return "ping" + (f" (rtt ≤ {format_duration(bound)})" if bound is not None else "")

    def _close(self, raw: Any, known: set[str], fields: dict[str, Any]) -> str:
        code: Any = 1000
        reason: Any = ""
        if isinstance(raw, dict):
            unknown = set(raw) - {"code", "reason"}
            if unknown:
                raise InvalidInput(f"unknown key {sorted(unknown)[0]!r} (expected code, reason)")
            code, reason = raw.get("code", 1000), raw.get("reason", "")
        elif raw is not True:
            code = raw
        if isinstance(code, bool) or not isinstance(code, int | str):
            raise InvalidInput("expected true, a close code or { code, reason }")
        fields["code"] = parse_close_code(code)
        template = self._template(reason, known)
        if template.is_literal:
            validate_close_reason(template.source)
        fields["text"] = template
        return f"close {fields['code']}" + (f" {_short(reason)}" if reason else "")

    def _expect_close(self, raw: Any, fields: dict[str, Any]) -> str:
        if raw is True:
            return "expect-close (any code)"
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise InvalidInput("expected true (any code) or a close code")
        fields["code"] = parse_close_expectation(raw).code
        return f"expect-close {fields['code']}"

    # -- replies ---------------------------------------------------------------------------

    def _replies(self, raw: Any) -> tuple[Reply, ...]:
        if raw is None:
            return ()
        line = self.source.key_line(None, 0, "reply")
        if not isinstance(raw, list):
            raise self.fail("write each reply as a [[reply]] table with match and send", line)
        replies = []
        for index, item in enumerate(raw):
            table_line = self.source.table_line("reply", index) or line
            if not isinstance(item, dict):
                raise self.fail(
                    f"reply {index + 1}: must be a table with match and send", table_line
                )
            for key in item:
                if key not in REPLY_KEYS:
                    raise self.fail(
                        f"reply {index + 1}: unknown key {key!r} (expected match, send)", table_line
                    )
            match, send = item.get("match"), item.get("send")
            if not isinstance(match, str) or not isinstance(send, str):
                raise self.fail(
                    f"reply {index + 1}: needs match and send strings, "
                    "e.g. match = '^2$' and send = '3'",
                    table_line,
                )
            try:
                replies.append(make_reply(match, send, self.env))
            except InvalidInput as exc:
                raise self.fail(f"reply {index + 1}: {exc.message}", table_line) from None
        return tuple(replies)


def _timeout(value: Any) -> float:
    seconds = _duration(value, "timeout")
    if seconds == 0:
        raise InvalidInput("timeout must be longer than 0")
    return seconds


def _duration(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f'invalid {name}: expected a duration such as "5s" or 250 (ms)')
    return parse_duration(value, name=name)


def _short(value: Any, limit: int = 60) -> str:
    """``value`` quoted for plans and messages: cut at ``limit``, control characters escaped,
    backslashes as written (a regex reads as in the file)."""
    text = value if isinstance(value, str) else json.dumps(value)
    text = text if len(text) <= limit else text[:limit] + "…"
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in text) + "'"


def _toml_type(value: Any) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }
    return names.get(type(value), type(value).__name__)


def describe_plan(conversation: Conversation) -> list[str]:
    """The lines ``wsctl run --dry-run`` prints: where it connects, each step, the replies."""
    steps, replies = len(conversation.steps), len(conversation.replies)
    lines = [
        f"{conversation.path}: {steps} step{'s' * (steps != 1)}, "
        f"{replies} repl{'y' if replies == 1 else 'ies'}, "
        f"connecting to {redact_url(conversation.url or '')}",
    ]
    width = max(len(conversation.where(step)) for step in conversation.steps)
    for step in conversation.steps:
        deadline = ""
        if step.waits:
            deadline = f" (timeout {format_duration(step.timeout or conversation.timeout)})"
        label = f" [{step.name}]" if step.name else ""
        lines.append(
            f"  {step.number:>3}  {conversation.where(step):<{width}}  "
            f"{step.description}{deadline}{label}"
        )
    for reply in conversation.replies:
        lines.append(f"  reply  {reply.source}")
    return lines
