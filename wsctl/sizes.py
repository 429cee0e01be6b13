"""Sizes in bytes: ``512``, ``64KiB``, ``16MiB``, ``1MB``, ``1.5MiB``.

Binary units (KiB, MiB, GiB) are powers of 1024; decimal units (kB/KB, MB, GB) powers of 1000.
``K``, ``M``, ``G`` alone are read as binary units, as most tools do.  Pure functions.
"""

from __future__ import annotations

import re

from wsctl.errors import InvalidInput

_MULTIPLIERS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)")

SIZE_HELP = 'bytes, or a size such as "64KiB", "16MiB", "1MB"'

MIB = 1024 * 1024


def parse_size(value: str | int, *, name: str = "size") -> int:
    """Return ``value`` in bytes; rejects negative, fractional-byte and malformed sizes."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid {name} {value!r}: expected {SIZE_HELP}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput(f"invalid {name} {value!r}: must not be negative")
        return value
    match = _SIZE.fullmatch(value.strip())
    multiplier = _MULTIPLIERS.get(match.group(2).lower()) if match else None
    if match is None or multiplier is None:
        raise InvalidInput(f"invalid {name} {value!r}: expected {SIZE_HELP}")
    size = float(match.group(1)) * multiplier
    if size != int(size):
        raise InvalidInput(f"invalid {name} {value!r}: not a whole number of bytes")
    return int(size)


def format_size(size: int) -> str:
    """Render a byte count for messages: ``16777216`` → ``"16 MiB"``."""
    for unit, factor in (("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"
