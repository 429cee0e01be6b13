"""Where the interactive session keeps its input history, and how.

The history holds what was typed, tokens included, so it is private to the user: the directory
is created ``0700`` and the file ``0600``, and existing ones open to others are tightened to
that (or, when they cannot be, not used).  A history that cannot be read or written never
stops the session; it falls back to memory and says why once.
"""

from __future__ import annotations

import os
import stat
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


class _NotPrivate(Exception):
    """The history cannot be made private: it is not used."""


def _tighten(path: Path, private_mode: int, *, directory: bool) -> str | None:
    """Make ``path`` (if it exists) ours alone: ``private_mode`` when group or others had any
    access.  Returns what was changed, for a one-line notice; raises :class:`_NotPrivate`."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    right_kind = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    if not right_kind:
        kind = "a directory" if directory else "a regular file"
        raise _NotPrivate(f"{path} is not {kind}")
    if info.st_uid != os.getuid():
        raise _NotPrivate(f"{path} belongs to another user")
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return None
    os.chmod(path, private_mode)
    return f"{path} from {mode:04o} to {private_mode:04o}"


def make_private(path: Path) -> str | None:
    """Tighten an existing history file to ``0600`` and its directory to ``0700``: the history
    holds what was typed, tokens included.  Returns a notice of what changed, if anything.

    Raises :class:`_NotPrivate` (with the reason) when it cannot be done: a file or directory
    of another user, a symbolic link or other non-regular file in the history's place.
    """
    if os.name == "nt":  # permissions are ACLs there; the profile directory is private
        return None
    changed = [
        change
        for change in (
            _tighten(path.parent, 0o700, directory=True),
            _tighten(path, 0o600, directory=False),
        )
        if change is not None
    ]
    if not changed:
        return None
    return f"the history was readable by others; made it private: {'; '.join(changed)}"


def open_history(path: Path | None) -> tuple[History, str | None]:
    """The history to use at ``path`` (None: in memory only), and a one-line notice: what was
    made private, or why the history is not saved."""
    if path is None:
        return InMemoryHistory(), None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return (
            InMemoryHistory(),
            f"cannot create {path.parent} ({exc.strerror or exc}); history is not saved",
        )
    try:
        notice = make_private(path)
    except _NotPrivate as exc:
        return InMemoryHistory(), f"{exc}; history is not saved"
    except OSError as exc:
        return (
            InMemoryHistory(),
            f"cannot make the history {path} private ({exc.strerror or exc}); history is not saved",
        )
    return PrivateFileHistory(path), notice
