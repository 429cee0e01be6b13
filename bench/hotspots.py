"""Where does wsctl spend its time? A companion to ``bench/run.py`` for whoever makes it faster.

Usage: ``python bench/hotspots.py {oneshot|listen|send} [--count N]``

* ``oneshot`` — imports: every module ``wsctl send URL MSG --wait 1`` imports that the floor
  (``import click, websockets.asyncio.client``) does not, by self time (``-X importtime``).
* ``listen`` / ``send`` — the same runs as the bench, under ``strace -c`` (system calls per
  message tell batching apart from a call per message) and ``py-spy record`` (the hottest
  frames). Either tool is skipped when it is missing; ``pip install py-spy`` into
  ``bench/peers/venv`` gives the second.

Raw py-spy stacks go to ``bench/results/profile-<scenario>.txt`` (collapsed-stack format, for
flamegraph.pl or speedscope).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from run import FLOOR_CODE, PEERS, RESULTS, _interpreter, find_wsctl, server
from wsserver import payload

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def imports(argv: list[str]) -> dict[str, int]:
    """Module → self time in µs, from ``-X importtime`` (which writes to stderr)."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    found = {}
    for line in out.stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m:
            found[m.group(4)] = int(m.group(1))
    return found


def profile_oneshot(wsctl: str, python: str, size: int) -> None:
    """Print the imports that make a one-shot slower than the floor."""
    floor = imports([python, "-X", "importtime", "-c", FLOOR_CODE])
    with server("echo", 1, size, python) as srv:
        msg = payload(7, size).decode()
        argv = [python, "-X", "importtime", wsctl, "send", srv.url("imports"), msg, "--wait", "1"]
        mine = imports(argv)
    extra = {name: us for name, us in mine.items() if name not in floor}
    print(f"floor imports {len(floor)} modules in {sum(floor.values()) / 1000:.0f} ms (self)")
    print(
        f"wsctl send imports {len(mine)} modules in {sum(mine.values()) / 1000:.0f} ms; "
        f"{len(extra)} of them beyond the floor, {sum(extra.values()) / 1000:.0f} ms:"
    )
    for name, us in sorted(extra.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {us / 1000:7.1f} ms  {name}")


def strace_summary(argv: list[str], stdin: Path | None, stdout: Path) -> None:
    """System calls by count for one run (strace -f -c)."""
    strace = shutil.which("strace")
    if strace is None:
        print("strace not installed: skipped (apt-get install strace)")
        return
    with tempfile.NamedTemporaryFile(suffix=".strace") as trace:
        run_with_io([strace, "-f", "-c", "-o", trace.name, *argv], stdin, stdout)
        lines = Path(trace.name).read_text().splitlines()
    print("system calls (strace -f -c), the top ones by count:")
    rows = [ln.split() for ln in lines[2:] if ln and not ln.startswith(("-", "%", "100"))]
    rows = [r for r in rows if len(r) >= 5 and r[3].isdigit()]
    for r in sorted(rows, key=lambda r: -int(r[3]))[:6]:
        print(f"  {int(r[3]):>9,}  {r[-1]}")


def pyspy_summary(argv: list[str], stdin: Path | None, stdout: Path, scenario: str) -> None:
    """The hottest frames of one run, sampled by py-spy."""
    pyspy = PEERS / "venv" / "bin" / "py-spy"
    exe = str(pyspy) if pyspy.exists() else shutil.which("py-spy")
    if exe is None:
        print("py-spy not installed: skipped (bench/peers/venv/bin/pip install py-spy)")
        return
    raw = RESULTS / f"profile-{scenario}.txt"
    run_with_io(
        [exe, "record", "-r", "250", "-f", "raw", "-o", str(raw), "--", *argv], stdin, stdout
    )
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        own[frames[-1] or "(no Python frame: native code or idle)"] += int(n)
    print(f"py-spy: {total} samples; the top frames by own time ({raw}):")
    for frame, n in own.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {frame}")


def run_with_io(argv: list[str], stdin: Path | None, stdout: Path) -> None:
    """Run a command with the scenario's stdin and stdout, and a generous timeout."""
    with open(stdout, "wb") as out, open(stdin or "/dev/null", "rb") as inp:
        subprocess.run(argv, stdin=inp, stdout=out, stderr=subprocess.DEVNULL, timeout=300)


def profile_stream(wsctl: str, python: str, scenario: str, count: int, size: int) -> None:
    """strace and py-spy over one listen or send run."""
    mode = "blast" if scenario == "listen" else "sink"
    with tempfile.TemporaryDirectory() as tmp, server(mode, count, size, python) as srv:
        lines = None
        if scenario == "send":
            lines = Path(tmp) / "lines.txt"
            with open(lines, "wb") as f:
                f.writelines(payload(i, size) + b"\n" for i in range(count))
        out = Path(tmp) / "out.txt"
        for step, tool in enumerate(("strace", "py-spy")):
            url = srv.url(f"profile-{scenario}-{step}")
            if scenario == "listen":
                argv = [wsctl, "listen", url]
            else:
                argv = [wsctl, "send", url, "--wait-time", "0"]
            if tool == "strace":
                strace_summary(argv, lines, out)
            else:
                pyspy_summary(argv, lines, out, scenario)
            report = srv.report(f"profile-{scenario}-{step}", timeout=10) or {}
            if report.get("lost"):
                print(f"  (the server missed {report['lost']} messages in this run)")


def main() -> int:
    """Profile one scenario of wsctl."""
    parser = argparse.ArgumentParser(description="Profile one scenario of wsctl.")
    parser.add_argument("scenario", choices=["oneshot", "listen", "send"])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--wsctl", help="path of the wsctl executable (default: found)")
    args = parser.parse_args()
    wsctl = find_wsctl(args.wsctl)
    if wsctl is None:
        sys.exit("wsctl not found: install it (pip install -e .) or pass --wsctl PATH")
    RESULTS.mkdir(parents=True, exist_ok=True)
    python = _interpreter(wsctl) or sys.executable
    if args.scenario == "oneshot":
        profile_oneshot(wsctl, python, args.size)
    else:
        profile_stream(wsctl, python, args.scenario, args.count, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
