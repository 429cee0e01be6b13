"""Regenerate the committed completion scripts from ``wsctl completion``.

Run from the repository root after changing commands or options::

    python completions/generate.py

``tests/test_completion.py`` fails while a committed script differs from what
``wsctl completion SHELL`` prints.
"""

from __future__ import annotations

from pathlib import Path

from wsctl.commands.completion import FILENAMES, completion_script


def main() -> None:
    """Write ``completions/<file>`` for every supported shell."""
    directory = Path(__file__).resolve().parent
    for shell, filename in FILENAMES.items():
        (directory / filename).write_bytes(completion_script(shell).encode())
        print(f"wrote completions/{filename}")


if __name__ == "__main__":
    main()
