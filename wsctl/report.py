"""``--report FILE``: what a run did, as JSON (or JUnit XML) that a CI job can archive.

A :class:`RunRecord` is filled while the run goes on (connection, counts, expectations, pings);
:func:`recording` wraps the run so that the report is written however it ends: success, a
failed check, a connection error, Ctrl-C.  Secrets never reach a report: the URL and headers
are redacted the way ``-v`` output is.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # imported where used: most runs write no JUnit report
    import xml.etree.ElementTree as ET

    from wsctl.expectations import Matcher

from wsctl import __version__
from wsctl.diagnostics import body_excerpt, tls_summary
from wsctl.errors import (
    CheckFailed,
    ConnectionClosedAbnormally,
    ConnectionFailed,
    ExitCode,
    InvalidInput,
    Kind,
    OutputClosed,
    WebSocketError,
)
from wsctl.redact import redact_header, redact_text, redact_url

ReportFormat = Literal["json", "junit"]

#: ``--report junit:FILE`` / ``json:FILE``; a bare FILE is JSON.
_PREFIXES: dict[str, ReportFormat] = {"json:": "json", "junit:": "junit"}


class ReportTarget(NamedTuple):
    """Where one report goes and in which format."""

    format: ReportFormat
    path: str


def parse_report_target(text: str) -> ReportTarget:
    """``FILE``, ``json:FILE`` or ``junit:FILE`` → :class:`ReportTarget`.

    Checked before anything is sent: the directory must exist and be writable, and the path
    must not be a directory, so a run never ends with a report that cannot be written.
    """
    fmt: ReportFormat = "json"
    path = text
    for prefix, name in _PREFIXES.items():
        if text.startswith(prefix):
            fmt, path = name, text[len(prefix) :]
            break
    if not path or path == "-":
        raise InvalidInput(f"{text!r}: expected FILE, json:FILE or junit:FILE")
    if os.path.isdir(path):
        raise InvalidInput(f"{path} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidInput(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InvalidInput(f"cannot write {path}: directory {directory} is not writable")
    return ReportTarget(fmt, path)


class PingResult(NamedTuple):
    """One ping: its sequence number, payload size and round trip (``None``: lost)."""

    seq: int
    size: int
    rtt: float | None


@dataclass
class RunRecord:
    """Everything a report says about one run, filled in as the run goes.

    The session sets ``client`` once connected (close code and reason are read from it at the
    end), ``count_received`` to read the received-message counter without touching the hot
    path, and adds to ``sent``.
    """

    command: str
    url: str
    started: float = field(default_factory=time.time)
    clock: Callable[[], float] = time.perf_counter
    start: float = field(default=0.0)
    connect_seconds: float | None = None
    handshake: dict[str, float | None] | None = None
    peer: str | None = None
    client: Any = None
    connection: dict[str, Any] | None = None
    sent: int = 0
    count_received: Callable[[], int] | None = None
    matcher: Matcher | None = None
    pings: list[PingResult] | None = None
    ping_count: int | None = None
    #: ``wsctl run``: one dict per step (filled in as they run) and the reply counts.
    steps: list[dict[str, Any]] | None = None
    replies: Callable[[], list[dict[str, object]]] | None = None
    error: BaseException | None = None
    exit_code: int | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        self.start = self.clock()

    def connected(self, client: Any, seconds: float) -> None:
        """Note the open connection and how long it took to open."""
        self.client = client
        self.connect_seconds = seconds
        self.peer = _peer(getattr(client, "remote_address", None))
        self.connection = {
            "url": redact_url(str(client.url)),
            "subprotocol": client.subprotocol,
            "extensions": list(client.extensions),
            "tls": tls_summary(client.tls_info),
            "response_headers": [
                [name, redact_header(name, value)]
                for name, value in client.response_headers.raw_items()
            ],
        }

    def finish(self, exit_code: int, error: BaseException | None = None) -> None:
        """Note how the run ended."""
        self.exit_code = exit_code
        self.error = error
        self.duration = self.clock() - self.start


def _peer(address: Any) -> str | None:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address, ``None`` if unknown."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return None


# -- JSON ----------------------------------------------------------------------------------


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _iso(timestamp: float) -> str:
    fraction = f"{timestamp % 1:.3f}"[1:]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + fraction + "Z"


def _error_dict(error: BaseException | None, exit_code: int | None) -> dict[str, Any] | None:
    if error is None:
        if exit_code == ExitCode.INTERRUPTED:
            return {"type": "Interrupted", "kind": Kind.CANCELED.value, "retryable": False}
        return None
    if isinstance(error, WebSocketError):
        info: dict[str, Any] = {
            "type": type(error).__name__,
            "kind": error.kind.value,
            "retryable": error.retryable,
            "message": redact_text(error.message),
        }
        if isinstance(error, ConnectionFailed) and error.status is not None:
            info["status"] = error.status
            info["body"] = body_excerpt(error.body)
        if isinstance(error, ConnectionClosedAbnormally):
            info["close_code"] = error.code
        return info
    if isinstance(error, KeyboardInterrupt):
        return {"type": "Interrupted", "kind": Kind.CANCELED.value, "retryable": False}
    return {
        "type": type(error).__name__,
        "kind": Kind.INTERNAL.value,
        "retryable": False,
        "message": redact_text(f"internal error (a bug): {error}"),
    }


def _close_dict(client: Any) -> dict[str, Any] | None:
    if client is None:
        return None
    code = client.close_code
    if code is None and not client.closed:
        return None
    return {
        "code": code,
        "reason": client.close_reason,
        "initiated_by": "client" if client.closed_by_us else "server",
    }


def _expectation_dicts(matcher: Matcher | None) -> list[dict[str, Any]]:
    if matcher is None:
        return []
    from wsctl.expectations import CloseExpectation, JsonExpectation, RegexExpectation

    results = []
    for outcome in matcher.outcomes():
        expectation = outcome.expectation
        item: dict[str, Any] = {"option": expectation.option, "met": outcome.met}
        if isinstance(expectation, RegexExpectation):
            item.update(type="regex", pattern=expectation.source, message=outcome.message_number)
        elif isinstance(expectation, JsonExpectation):
            item.update(type="json", condition=expectation.source, message=outcome.message_number)
        elif isinstance(expectation, CloseExpectation):
            item.update(type="close", code=expectation.code, close_code=outcome.close_code)
        results.append(item)
    return results


def rtt_statistics(rtts: Sequence[float]) -> dict[str, float] | None:
    """min/avg/max/mdev of round trips in milliseconds, as ping(8) computes them."""
    if not rtts:
        return None
    mean = sum(rtts) / len(rtts)
    # ping(8)'s mdev: the population standard deviation, sqrt(E[x²] − E[x]²).
    variance = max(sum(r * r for r in rtts) / len(rtts) - mean * mean, 0.0)
    return {
        "min": round(min(rtts) * 1000, 3),
        "avg": round(mean * 1000, 3),
        "max": round(max(rtts) * 1000, 3),
        "mdev": round(math.sqrt(variance) * 1000, 3),
    }


def ping_summary(pings: Sequence[PingResult]) -> dict[str, Any]:
    """Sent, received, lost, loss % and RTT statistics of a series of pings."""
    sent = len(pings)
    rtts = [p.rtt for p in pings if p.rtt is not None]
    lost = sent - len(rtts)
    return {
        "sent": sent,
        "received": len(rtts),
        "lost": lost,
        "loss_percent": round(100 * lost / sent, 1) if sent else 0.0,
        "rtt_ms": rtt_statistics(rtts),
    }


def build_report(record: RunRecord) -> dict[str, Any]:
    """The JSON report of a finished run."""
    received = record.count_received() if record.count_received is not None else 0
    report: dict[str, Any] = {
        "wsctl": __version__,
        "command": record.command,
        "url": redact_url(record.url),
        "ok": record.exit_code == ExitCode.OK,
        "exit_code": record.exit_code,
        "error": _error_dict(record.error, record.exit_code),
        "started": _iso(record.started),
        "timings_ms": {
            "total": _ms(record.duration),
            "connect": _ms(record.connect_seconds),
            "handshake": (
                None
                if record.handshake is None
                else {phase: _ms(value) for phase, value in record.handshake.items()}
            ),
        },
        "connection": (
            None if record.connection is None else {"peer": record.peer, **record.connection}
        ),
        "messages": {"sent": record.sent, "received": received},
        "close": _close_dict(record.client),
        "expectations": _expectation_dicts(record.matcher),
    }
    if record.pings is not None:
        report["ping"] = {
            "count": record.ping_count,
            **ping_summary(record.pings),
            "pongs": [{"seq": p.seq, "bytes": p.size, "rtt_ms": _ms(p.rtt)} for p in record.pings],
        }
    if record.steps is not None:
        report["steps"] = record.steps
    if record.replies is not None:
        report["replies"] = record.replies()
    return report


# -- JUnit XML -----------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, even escaped.  A pattern, compiled (and cached by
# re) on first use: most runs write no JUnit report.
_XML_ILLEGAL = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]"


def _xml_text(text: str) -> str:
    return re.sub(_XML_ILLEGAL, lambda m: f"\\x{ord(m.group()):02x}", text)


def _seconds(ms: float | None) -> str:
    return f"{(ms or 0) / 1000:.3f}"


def _case(suite: ET.Element, classname: str, name: str, time_ms: float | None = None) -> ET.Element:
    import xml.etree.ElementTree as ET

    return ET.SubElement(
        suite, "testcase", classname=classname, name=_xml_text(name), time=_seconds(time_ms)
    )


def _mark(case: ET.Element, tag: str, message: str, kind: str, detail: str = "") -> None:
    import xml.etree.ElementTree as ET

    element = ET.SubElement(case, tag, message=_xml_text(message), type=kind)
    if detail:
        element.text = _xml_text(detail)


def junit_xml(report: dict[str, Any]) -> bytes:
    """The report as JUnit XML: one test suite, a test case per check.

    Test cases: ``connect`` (an error when the connection failed), one per expectation (a
    failure when unmet; skipped when never evaluated), ``pings`` for ``wsctl ping`` (a failure
    when pongs were lost), and ``run`` (an error for any failure the others do not explain).
    """
    import xml.etree.ElementTree as ET

    if "steps" in report:
        return _steps_junit_xml(report)
    command = report["command"]
    classname = f"wsctl.{command}"
    error = report["error"]
    error_type = error["type"] if error else None
    connected = report["connection"] is not None
    cases: list[ET.Element] = []
    suite = ET.Element("testsuite", name=_xml_text(f"wsctl {command} {report['url']}"))
    suite.set("timestamp", report["started"])
    properties = ET.SubElement(suite, "properties")
    for name in ("url", "exit_code", "ok"):
        value = report[name]
        # XML Schema booleans (true/false), not Python's True/False.
        text = str(value).lower() if isinstance(value, bool) else str(value)
        ET.SubElement(properties, "property", name=name, value=_xml_text(text))
    explained = False

    connect = _case(suite, classname, "connect", report["timings_ms"]["connect"])
    cases.append(connect)
    if not connected and error is not None:
        _mark(
            connect, "error", error.get("message", error_type), error["kind"], error.get("body", "")
        )
        explained = True

    for item in report["expectations"]:
        case = _case(suite, classname, item["option"])
        cases.append(case)
        if not connected:
            ET.SubElement(case, "skipped", message="not evaluated: no connection")
        elif not item["met"]:
            detail = error.get("message", "") if error else ""
            _mark(case, "failure", f"not met: {item['option']}", "CheckFailed", detail)
            explained = explained or error_type == CheckFailed.__name__

    if "ping" in report and connected:
        ping = report["ping"]
        case = _case(suite, classname, "pings", report["timings_ms"]["total"])
        cases.append(case)
        if ping["lost"]:
            message = (
                f"{ping['lost']} of {ping['sent']} pings lost ({ping['loss_percent']:g}% loss)"
            )
            _mark(case, "failure", message, "CheckFailed")
            explained = explained or error_type == CheckFailed.__name__

    run = _case(suite, classname, "run", report["timings_ms"]["total"])
    cases.append(run)
    if error is not None and not explained:
        _mark(run, "error", error.get("message", error_type), error["kind"])

    failures = sum(1 for case in cases if case.find("failure") is not None)
    errors = sum(1 for case in cases if case.find("error") is not None)
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": _seconds(report["timings_ms"]["total"]),
    }
    for key, value in counts.items():
        suite.set(key, value)
    root = ET.Element("testsuites", name="wsctl")
    for key, value in counts.items():
        if key != "skipped":  # not part of the <testsuites> schema most CI tools read
            root.set(key, value)
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _steps_junit_xml(report: dict[str, Any]) -> bytes:
    """``wsctl run``'s report as JUnit XML: exactly one test case per step, with its duration.

    A failed step is a failure (a check) or an error (anything else); steps after it are
    skipped.  An error that happened before any step ran (the connection failed) is the first
    step's error, so that CI shows why nothing ran.
    """
    import xml.etree.ElementTree as ET

    error = report["error"]
    suite = ET.Element("testsuite", name=_xml_text(f"wsctl run {report['url']}"))
    suite.set("timestamp", report["started"])
    properties = ET.SubElement(suite, "properties")
    for name in ("url", "exit_code", "ok"):
        ET.SubElement(properties, "property", name=name, value=_xml_text(str(report[name])))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    explained = False
    for step in report["steps"]:
        title = f"step {step['step']} ({step['file']}:{step['line']}): {step['action']}"
        if step["name"]:
            title = f"{step['name']}: {title}"
        case = _case(suite, "wsctl.run", title, step["duration_ms"])
        if step["status"] == "failed":
            is_check = error is not None and error["type"] == CheckFailed.__name__
            tag = "failure" if is_check or error is None else "error"
            kind = "CheckFailed" if tag == "failure" else error["kind"]
            _mark(case, tag, step["message"] or "failed", kind)
            counts["failures" if tag == "failure" else "errors"] += 1
            explained = True
        elif step["status"] == "skipped":
            if error is not None and not explained:
                _mark(case, "error", error.get("message", error["type"]), error["kind"])
                counts["errors"] += 1
                explained = True
            else:
                ET.SubElement(case, "skipped", message="not run: an earlier step failed")
                counts["skipped"] += 1
    total = {"tests": str(len(report["steps"])), **{k: str(v) for k, v in counts.items()}}
    total["time"] = _seconds(report["timings_ms"]["total"])
    for key, value in total.items():
        suite.set(key, value)
    root = ET.Element("testsuites", name="wsctl")
    for key, value in total.items():
        if key != "skipped":
            root.set(key, value)
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


# -- writing -------------------------------------------------------------------------------


def render(target: ReportTarget, report: dict[str, Any]) -> bytes:
    """The bytes of ``report`` in the target's format."""
    if target.format == "junit":
        return junit_xml(report)
    import json

    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so readers never see half of it."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".wsctl-report-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def _exit_code_of(error: BaseException) -> int:
    if isinstance(error, WebSocketError):
        return int(error.exit_code)
    if isinstance(error, KeyboardInterrupt):
        return int(ExitCode.INTERRUPTED)
    if isinstance(error, OutputClosed):
        return int(ExitCode.OK)
    return int(ExitCode.INTERNAL)


@contextmanager
def recording(
    record: RunRecord,
    targets: Sequence[ReportTarget] = (),
    emit: Callable[[dict[str, Any]], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Iterator[RunRecord]:
    """Run the body, then write the reports — also when the body raises.

    The body sets ``record.exit_code`` (or calls :meth:`RunRecord.finish`) when it returns an
    exit code; an exception is recorded with its kind, retryable flag and exit code, then
    re-raised unchanged for the error boundary.  ``emit`` receives the JSON report too
    (``wsctl ping --json`` prints it).  A report that cannot be written fails a run that
    otherwise succeeded (a CI job relies on it) and is a warning (``warn``) after a failure.
    """
    error: BaseException | None = None
    try:
        yield record
    except BaseException as exc:
        error = exc
        raise
    finally:
        if error is not None:
            record.finish(_exit_code_of(error), None if isinstance(error, OutputClosed) else error)
        else:
            record.finish(ExitCode.OK if record.exit_code is None else record.exit_code)
        if targets or emit is not None:
            report = build_report(record)
            if emit is not None:
                emit(report)
            for target in targets:
                try:
                    write_atomically(target.path, render(target, report))
                except OSError as exc:
                    problem = f"cannot write report {target.path}: {exc.strerror or exc}"
                    if record.exit_code == ExitCode.OK:
                        raise InvalidInput(problem) from None
                    if warn is not None:  # never hide the run's own failure behind this one
                        warn(problem)
