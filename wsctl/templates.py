"""Templates in conversation files and ``--reply`` responses: ``${name}``, ``${env.NAME}``,
``${uuid}``, ``${now}``.

Pure: :func:`parse_template` splits a string into literal text and references (a malformed
one is an :class:`~wsctl.errors.InvalidInput`); :func:`check_template` says, before anything
is sent, which names are unknown or which environment variables are unset; :meth:`Template.render`
fills the references in.  ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from wsctl.errors import InvalidInput
from wsctl.redact import is_secret_name, remember_secret

#: A name a capture or a regex group may have; group numbers are digits.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*|\d+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Names every template knows without a capture.
BUILTINS = ("uuid", "now")


@dataclass(frozen=True)
class Ref:
    """One ``${...}``: ``kind`` is ``var`` (a capture or group), ``env``, ``uuid`` or ``now``."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        if self.kind == "env":
            return f"${{env.{self.name}}}"
        return f"${{{self.name or self.kind}}}"


@dataclass(frozen=True)
class Template:
    """A string with references; ``parts`` alternate literal text and :class:`Ref`."""

    source: str
    parts: tuple[str | Ref, ...]

    @property
    def is_literal(self) -> bool:
        """True when there is nothing to fill in."""
        return all(isinstance(part, str) for part in self.parts)

    def render(
        self,
        values: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        escape: Callable[[str], str] | None = None,
    ) -> str:
        """The text with every reference filled in; ``escape`` is applied to filled-in values
        (``re.escape`` when the template is a regex).  Non-string values are written as JSON."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _value(part, values, env)
            out.append(escape(value) if escape is not None else value)
        return "".join(out)


def _value(ref: Ref, values: Mapping[str, Any], env: Mapping[str, str]) -> str:
    if ref.kind == "env":
        value = env[ref.name]
        if is_secret_name(ref.name):  # ${env.API_TOKEN}: hidden wherever it ends up quoted
            remember_secret(value)
        return value
    if ref.kind == "uuid":
        return str(uuid.uuid4())
    if ref.kind == "now":
        now = time.time()
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    value = values[ref.name]
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def parse_template(source: str) -> Template:
    """Split ``source`` into literal text and ``${...}`` references.

    Raises :class:`InvalidInput` for ``${`` without ``}``, an empty ``${}`` and a name that is
    not a name (``${a b}``), saying at which position.
    """
    parts: list[str | Ref] = []
    literal: list[str] = []
    i = 0
    while True:
        start = source.find("$", i)
        if start < 0:
            literal.append(source[i:])
            break
        if source.startswith("$${", start):  # the escape for a literal ${
            literal.append(source[i:start] + "${")
            i = start + 3
            continue
        if not source.startswith("${", start):
            literal.append(source[i : start + 1])
            i = start + 1
            continue
        literal.append(source[i:start])
        end = source.find("}", start + 2)
        if end < 0:
            raise InvalidInput(
                f"template {source!r}: '${{' at position {start + 1} has no closing '}}' "
                "(write $${ for a literal ${)"
            )
        parts.append("".join(literal))
        literal = []
        parts.append(_ref(source[start + 2 : end], source, start))
        i = end + 1
    parts.append("".join(literal))
    return Template(source, tuple(part for part in parts if part != ""))


def _ref(inner: str, source: str, start: int) -> Ref:
    where = f"template {source!r}: '${{{inner}}}' at position {start + 1}"
    if inner.startswith("env."):
        name = inner[4:]
        if not _ENV_NAME.fullmatch(name):
            raise InvalidInput(f"{where} is not a valid environment variable name")
        return Ref("env", name)
    if inner in BUILTINS:
        return Ref(inner)
    if not NAME.fullmatch(inner):
        raise InvalidInput(
            f"{where} is not a name (expected ${{name}}, ${{env.NAME}}, ${{uuid}} or ${{now}})"
        )
    return Ref("var", inner)


def check_template(template: Template, known: Collection[str], env: Mapping[str, str]) -> None:
    """Raise :class:`InvalidInput` for the first reference that could not be filled in: a name
    not in ``known`` or an environment variable that is not set."""
    for part in template.parts:
        if not isinstance(part, Ref):
            continue
        if part.kind == "env" and part.name not in env:
            raise InvalidInput(f"{part}: the environment variable {part.name} is not set")
        if part.kind == "var" and part.name not in known:
            hint = f" (known here: {', '.join(sorted(known))})" if known else ""
            raise InvalidInput(f"{part}: unknown name{hint}")
