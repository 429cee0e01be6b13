"""Durations as the module spec writes them: a bare number is milliseconds, a string uses Go syntax.

``parse_duration(5000) == 5.0``, ``parse_duration("1m30s") == 90.0``, ``parse_duration("250ms")
== 0.25``.  Pure functions; errors are :class:`~wsctl.errors.InvalidInput` with a message that
says what was wrong.
"""

from __future__ import annotations

import math
import re

from wsctl.errors import InvalidInput

#: Seconds per Go duration unit (``µ`` is U+00B5, ``μ`` is U+03BC; Go accepts both).
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_COMPONENT = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")

#: Larger values are certainly typos (Go's own limit is about 292 years).
MAX_SECONDS = 365 * 24 * 3600.0

DURATION_HELP = 'milliseconds, or a Go duration such as "250ms", "5s", "1m30s"'


def parse_duration(value: str | int | float, *, name: str = "duration") -> float:
    """Return ``value`` in seconds.

    Numbers (and strings of digits) are milliseconds; other strings are Go durations made of
    one or more ``<number><unit>`` parts.  Negative, empty, non-finite or absurdly large values
    are rejected.
    """
    if isinstance(value, bool):
        raise InvalidInput(f"invalid {name} {value!r}: expected {DURATION_HELP}")
    if isinstance(value, int | float):
        return _checked(float(value) / 1000.0, value, name)
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return _checked(float(text) / 1000.0, value, name)
    if text.startswith("+"):
        text = text[1:]
    if text.startswith("-"):
        raise InvalidInput(f"invalid {name} {value!r}: must not be negative")
    position = 0
    seconds = 0.0
    while position < len(text):
        match = _COMPONENT.match(text, position)
        if match is None:
            raise InvalidInput(f"invalid {name} {value!r}: expected {DURATION_HELP}")
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0:
        raise InvalidInput(f"invalid {name} {value!r}: expected {DURATION_HELP}")
    return _checked(seconds, value, name)


def _checked(seconds: float, original: object, name: str) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"invalid {name} {original!r}: must be a finite, non-negative value")
    if seconds > MAX_SECONDS:
        raise InvalidInput(f"invalid {name} {original!r}: longer than a year")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly for messages: ``0.25`` → ``"250ms"``, ``90`` → ``"1m30s"``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes == 0:
        return f"{rest:g}s"
    hours, minutes = divmod(int(minutes), 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{rest:g}s" if rest else "")
