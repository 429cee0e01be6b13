"""``wsctl completion bash|zsh|fish``: print the shell completion script.

The scripts come from click's shell completion support: the shell calls ``wsctl`` back with
``_WSCTL_COMPLETE`` set, so completions (subcommands, options, compression modes, close-code
names) always match the installed version.  The same scripts are committed under
``completions/`` (regenerate them with ``python completions/generate.py``).
"""

from __future__ import annotations

import click

from wsctl.environment import Environment

#: Shell → the file name its completion script is committed (and installed) under.
FILENAMES: dict[str, str] = {"bash": "wsctl.bash", "zsh": "_wsctl", "fish": "wsctl.fish"}
PROG_NAME = "wsctl"
COMPLETE_VAR = "_WSCTL_COMPLETE"


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (``"bash"``, ``"zsh"`` or ``"fish"``)."""
    from click.shell_completion import get_completion_class

    from wsctl.cli import cli

    completion_class = get_completion_class(shell)
    if completion_class is None or shell not in FILENAMES:
        raise ValueError(f"unsupported shell {shell!r}: expected one of {', '.join(FILENAMES)}")
    completer = completion_class(cli, {}, PROG_NAME, COMPLETE_VAR)
    # Formatted from the template rather than through source(), whose bash variant runs
    # `bash --version` and warns on stderr: printing a script must not depend on the machine.
    return completer.source_template % completer.source_vars()


@click.command("completion")
@click.argument("shell", type=click.Choice(list(FILENAMES)))
@click.pass_obj
def command(env: Environment, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(wsctl completion bash)"                  (in ~/.bashrc)
           or save it as ~/.local/share/bash-completion/completions/wsctl
    zsh:   wsctl completion zsh > "${fpath[1]}/_wsctl"      (then restart zsh)
           or eval "$(wsctl completion zsh)" in ~/.zshrc after compinit
    fish:  wsctl completion fish > ~/.config/fish/completions/wsctl.fish
    """
    env.stdout.write(completion_script(shell).encode())
