"""Where policy files are looked for, and whether any is there — without loading any.

Kept apart from :mod:`wsctl.policy` (rules, matching, the TOML loader) so that a run with no
policy file anywhere, the usual case, does not pay for importing all of that: the core asks
:func:`any_policy_present` first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

SYSTEM_POLICY_PATH: Final = "/etc/wsctl/policy.toml"


def present(path: str) -> bool:
    """Whether something is at ``path``; only a definite "no such file" counts as absent."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True  # there but not accessible: loading it will fail and say why (fail closed)
    return True


def system_policy(environ: Mapping[str, str]) -> str:
    """The machine's policy file: ``$WSCTL_SYSTEM_POLICY``, else ``/etc/wsctl/policy.toml``."""
    return environ.get("WSCTL_SYSTEM_POLICY") or SYSTEM_POLICY_PATH


def user_policy(explicit: str | None, environ: Mapping[str, str]) -> tuple[str, str, bool]:
    """(path, origin, must exist) of the user's policy."""
    if explicit is not None:
        return explicit, "--policy", True
    named = environ.get("WSCTL_POLICY")
    if named:
        # Explicitly configured: a missing file is an error, not "no policy".
        return named, "$WSCTL_POLICY", True
    config = environ.get("XDG_CONFIG_HOME")
    if not config or not os.path.isabs(config):  # the XDG spec says to ignore relative paths
        home = environ.get("HOME") or os.path.expanduser("~")
        config = os.path.join(home, ".config")
    return os.path.join(config, "wsctl", "policy.toml"), "user", False


def any_policy_present(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether :func:`wsctl.policy.discover` would load (or fail to load) any file at all."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    user, _origin, required = user_policy(explicit, env)
    return required or present(system_policy(env)) or present(user)
