"""The interactive mode of ``wsctl connect`` (and ``wsctl demo``): a prompt over a connection.

This module stays light: prompt_toolkit and rich are imported only when a session starts, so
that ``wsctl send``, ``listen`` and ``ping`` never pay for them.

Use :func:`run_interactive` from synchronous code (it runs its own event loop), or await
:func:`interact` from a running loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsctl.environment import Environment
    from wsctl.replies import Reply
    from wsctl.settings import ConnectOptions

__all__ = ["InteractiveSettings", "interact", "run_interactive"]


@dataclass(frozen=True)
class InteractiveSettings:
    """How the session looks and ends; the defaults are those of ``wsctl connect``."""

    #: Lay out and highlight JSON messages (``/json`` switches it).
    pretty: bool = True
    #: Start each line with the local time (``/timestamps`` switches it).
    timestamps: bool = False
    #: Colours; ``NO_COLOR`` in the environment turns them off whatever this says.
    color: bool = True
    #: Show keep-alive pings and their pongs (``/pingpong`` switches it).
    show_ping_pong: bool = False
    #: Keep the input history in the history file (see :func:`history.history_path`).
    history: bool = True
    #: The Close frame sent by Ctrl-D, ``/quit`` and Ctrl-C on an empty line.
    close_code: int = 1000
    close_reason: str = ""
    #: ``-v``: show the handshake (secrets redacted).  ``-q``: no connected line, no hint.
    verbose: bool = False
    quiet: bool = False
    #: ``--reply``: messages these rules match are answered, and shown only with ``-v``.
    replies: tuple[Reply, ...] = ()


async def interact(
    env: Environment,
    url: str,
    options: ConnectOptions,
    *,
    banner: str | None = None,
    settings: InteractiveSettings | None = None,
) -> int:
    """Run an interactive session on ``url`` in the running event loop; return the exit code.

    ``banner`` is printed before connecting (a guide, as ``wsctl demo`` shows).  Keep-alive
    follows ``options.ping_interval``/``options.ping_timeout``.  Returns 0 when the user quits
    or the server closes normally, 6 when the server closes abnormally or a keep-alive Pong is
    late, 5 after a read timeout.  Raises :class:`~wsctl.errors.InvalidInput` when stdin or
    stdout is not a terminal, and the connection errors of :func:`wsctl.core.connect` when the
    first connection fails.
    """
    from wsctl.errors import InvalidInput

    if not env.interactive:
        raise InvalidInput(
            "the interactive session needs a terminal on stdin and stdout; "
            "in a pipe, use wsctl connect or wsctl send without a terminal"
        )
    from wsctl.interactive.session import InteractiveSession

    session = InteractiveSession(
        env, url, options, settings or InteractiveSettings(), banner=banner
    )
    return await session.run()


def run_interactive(
    env: Environment,
    url: str,
    options: ConnectOptions,
    *,
    banner: str | None = None,
    settings: InteractiveSettings | None = None,
) -> int:
    """Run an interactive session on ``url`` in a new event loop; see :func:`interact`."""
    from wsctl.session import run

    return run(interact(env, url, options, banner=banner, settings=settings))
