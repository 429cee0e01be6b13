"""The ``wsctl`` command group and the single error boundary where errors become exit codes.

Subcommands live in ``wsctl.commands.<name>`` and are imported only when they are invoked,
so ``wsctl send`` never pays for the interactive mode's imports.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import NoReturn

import click

from wsctl import __version__
from wsctl.environment import Environment
from wsctl.errors import ExitCode, OutputClosed, Terminated, WebSocketError
from wsctl.startup import defer_unused_imports

#: Subcommand name → module exposing ``command``.  Imported lazily by :class:`LazyGroup`.
COMMANDS: dict[str, str] = {
    "connect": "wsctl.commands.connect",
    "send": "wsctl.commands.send",
    "listen": "wsctl.commands.listen",
    "ping": "wsctl.commands.ping",
    "serve": "wsctl.commands.serve",
    "demo": "wsctl.commands.demo",
    "policy": "wsctl.commands.policy",
    "run": "wsctl.commands.run",
    "completion": "wsctl.commands.completion",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's lookup, with a suggestion for a mistyped name (``sned`` → ``send``)."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            matches = difflib.get_close_matches(name, COMMANDS, n=1)
            if matches:
                ctx.fail(f"no such command {name!r}; did you mean {matches[0]!r}?")
        return super().resolve_command(ctx, args)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # not written yet; anything else is a real bug
                return None
            raise
        command: click.Command = module.command
        return command


def version_message() -> str:
    """wsctl's version with the versions of websockets and Python it runs on."""
    from importlib.metadata import version

    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"wsctl {__version__} (websockets {version('websockets')}, Python {python})"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_message())
        ctx.exit(0)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of wsctl, websockets and Python, then exit.",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A WebSocket client for terminals, shell pipelines and CI checks.

    \b
    Exit codes: 0 ok, 1 internal error, 2 invalid input, 3 denied by policy,
    4 connection failed, 5 timed out, 6 closed abnormally, 7 check failed,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP).
    """
    ctx.obj = Environment.from_process()


def _error(message: str) -> None:
    from wsctl.escape import escape_control
    from wsctl.redact import redact_text

    try:
        # Messages quote servers (HTTP reasons, close reasons): never let them drive the terminal.
        # Any URL in them (an unexpected exception's text included) is shown redacted.
        sys.stderr.write(f"wsctl: {escape_control(redact_text(message))}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _usage_message(exc: click.UsageError) -> str:
    """click's message, in wsctl's style for a bad option value: ``invalid --name 'value':
    problem`` (wsctl's own types already say it so; click's built-in ones get the prefix)."""
    if not isinstance(exc, click.BadParameter) or exc.param is None:
        return exc.format_message()
    if exc.message.startswith("invalid "):
        return exc.message
    name = max(exc.param.opts, key=len) if exc.param.opts else exc.param.human_readable_name
    return f"invalid {name}{_click_problem(exc.message)}"


def _click_problem(message: str) -> str:
    """click's built-in complaints (numbers, ranges, choices) as `` 'typed': problem``;
    anything else as ``: message``."""
    import re

    found = re.fullmatch(r"('.*') is not a valid (\w+)(?: range)?\.", message)
    if found is not None:
        expected = "a whole number" if found[2] == "integer" else f"a {found[2]}"
        return f" {found[1]}: expected {expected}"
    found = re.fullmatch(r"(.*) is not in the range (.*)\.", message)
    # click writes a range as "0<=x<=9", "x>=1" or "x<9" ("<" for an open bound).
    bounds = found and re.fullmatch(r"(?:(.+?)(<=?))?x(?:(<=?)(.+)|(>=?)(.+))?", found[2])
    if found is not None and bounds:
        low, low_op, high_op, high, above, minimum = bounds.groups()
        if minimum is not None:
            low, low_op = minimum, "<=" if above == ">=" else "<"
        if low is not None and high is not None:
            problem = f"must be from {low} to {high}"
        elif low is not None:
            problem = f"must be {'at least' if low_op == '<=' else 'more than'} {low}"
        else:
            problem = f"must be {'at most' if high_op == '<=' else 'less than'} {high}"
        return f" {found[1]!r}: {problem}"
    found = re.fullmatch(r"('.*') is not (?:one of )?(.*)\.", message)
    if found is not None:
        choices = [choice.strip("'") for choice in found[2].split(", ")]
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        return f" {found[1]}: expected {listed}"
    found = re.match(r"('(?:[^'\\]|\\.)*')(?:: | is )", message)
    if found is not None:  # a parser's "'typed': problem" or "'typed' is not a …"
        return f" {found[1]}: {message[found.end() :]}"
    return f": {message}"


def _show_response_body(exc: WebSocketError) -> None:
    """A refused upgrade's body usually says why (bad token, wrong path): show its first 1 KiB
    in every mode, control characters escaped."""
    body = getattr(exc, "body", b"")
    if body:
        from wsctl.diagnostics import body_lines

        for line in body_lines(body):
            _error(line)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; every error is turned into a one-line message."""
    defer_unused_imports()  # before any command imports websockets
    args = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in args or os.environ.get("WSCTL_TRACEBACK") == "1"
    if show_traceback:
        from wsctl import runner

        runner.show_tracebacks = True
    try:
        result = cli.main(args=args, prog_name="wsctl", standalone_mode=False)
        code = int(result) if isinstance(result, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        code = ExitCode.INTERRUPTED
    except click.UsageError as exc:
        # One line, naming the problem and where help is; click's default is four lines.
        command = exc.ctx.command_path if exc.ctx is not None else "wsctl"
        _error(f"error: {_usage_message(exc)} (see '{command} --help')")
        code = ExitCode.INVALID
    except click.ClickException as exc:
        _error(f"error: {exc.format_message()}")
        code = ExitCode.INVALID
    except Terminated as exc:
        _error(str(exc))  # "terminated (SIGTERM)": not an error of the run, the reason it ended
        code = exc.exit_code
    except WebSocketError as exc:
        if show_traceback:
            import traceback

            traceback.print_exc()
        _error(f"error: {exc}")
        _show_response_body(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except OutputClosed:
        code = ExitCode.OK
    except Exception as exc:
        if show_traceback:
            import traceback

            traceback.print_exc()
        _error(
            f"internal error (a bug): {type(exc).__name__}: {exc}"
            + ("" if show_traceback else " (run again with --traceback for details)")
        )
        code = ExitCode.INTERNAL
    if show_traceback:
        runner.show_tracebacks = False  # run() may be called again in the same process
    return _flush_stdout(int(code))


def _flush_stdout(code: int) -> int:
    """Flush stdout before exiting; a reader that went away changes nothing about ``code``."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so that the interpreter's own final flush stays quiet.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # already closed
        pass
    return code


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    sys.exit(run(argv))
