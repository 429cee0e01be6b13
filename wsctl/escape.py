"""Escaping of untrusted text (from the network) before it reaches a terminal.

Pure and dependency-free, so the error boundary can use it without importing the renderers.
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, C1 controls, and the bidirectional overrides that can
# make text read differently from what it is ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """Make untrusted text safe for a terminal: ESC becomes ``\\x1b``, BEL ``\\x07``…"""
    return _UNSAFE.sub(_escape_char, text)


def _json_escape_char(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_json_text(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) made safe for a terminal.

    JSON already escapes C0 controls; DEL, C1 controls (``\\x9b`` is a one-byte CSI) and
    bidirectional overrides are written raw, so they become ``\\u009b``-style escapes, which
    a JSON reader decodes to the same string.
    """
    return _UNSAFE.sub(_json_escape_char, text)
