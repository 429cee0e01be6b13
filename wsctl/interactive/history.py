"""Where the interactive session keeps its input history, and how.

The history holds what was typed, tokens included, so it is private to the user: the directory
is created ``0700`` and the file ``0600``.  A history that cannot be read or written never
stops the session; it falls back to memory and says why once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from prompt_toolkit.history import FileHistory, History, InMemoryHistory


def history_path(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
) -> Path:
    """The history file: ``$XDG_STATE_HOME/wsctl/history`` or the platform's equivalent.

    Linux and other Unixes: ``~/.local/state/wsctl/history`` when ``XDG_STATE_HOME`` is unset
    (or not absolute, as the XDG spec says to ignore it then); macOS:
    ``~/Library/Application Support/wsctl/history``; Windows:
    ``%LOCALAPPDATA%\\wsctl\\history``.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    state = environ.get("XDG_STATE_HOME", "")
    if state and os.path.isabs(state):
        return Path(state) / "wsctl" / "history"
    if platform.startswith("win"):
        local = environ.get("LOCALAPPDATA", "")
        base = Path(local) if local else home / "AppData" / "Local"
        return base / "wsctl" / "history"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "wsctl" / "history"
    return home / ".local" / "state" / "wsctl" / "history"


class PrivateFileHistory(FileHistory):
    """prompt_toolkit's file history, kept private and free of consecutive duplicates."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path
        self.error: str | None = None
        self._last: str | None = None

    def load_history_strings(self) -> Iterable[str]:
        try:
            strings = list(super().load_history_strings())
        except OSError as exc:
            self.error = f"cannot read the history {self.path}: {exc.strerror or exc}"
            return []
        self._last = strings[0] if strings else None  # newest first
        return strings

    def store_string(self, string: str) -> None:
        if string == self._last or self.error is not None:
            return
        self._last = string
        try:
            # Create the file private before anything is written to it.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.close(fd)
            super().store_string(string)
        except OSError as exc:
            self.error = f"cannot write the history {self.path}: {exc.strerror or exc}"


def open_history(path: Path | None) -> tuple[History, str | None]:
    """The history to use at ``path`` (None: in memory only), and a warning if it is unusable."""
    if path is None:
        return InMemoryHistory(), None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return (
            InMemoryHistory(),
            f"cannot create {path.parent} ({exc.strerror or exc}); history is not saved",
        )
    return PrivateFileHistory(path), None
