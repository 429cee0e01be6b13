"""``--report FILE`` and ``--report junit:FILE``: written however the run ends, secrets redacted."""

from __future__ import annotations

import json
import math
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from conftest import LoopbackServer, Recorder, invoke
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from wsctl.errors import CheckFailed, InvalidInput, Timeout
from wsctl.expectations import Matcher, parse_regex
from wsctl.report import (
    ReportTarget,
    RunRecord,
    build_report,
    junit_xml,
    parse_report_target,
    recording,
    rtt_statistics,
)

MakeServer = Callable[..., LoopbackServer]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def junit_cases(path: Path) -> dict[str, str]:
    """Test case name → "passed", "failure", "error" or "skipped"."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    cases = {}
    for case in root.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = tag
        cases[case.get("name", "")] = outcome
    return cases


async def hold(connection: ServerConnection, recorder: Recorder) -> None:
    async for message in connection:
        await connection.send(message)


# -- targets ---------------------------------------------------------------------------------


def test_report_targets(tmp_path: Path) -> None:
    assert parse_report_target(str(tmp_path / "r.json")) == ReportTarget(
        "json", str(tmp_path / "r.json")
    )
    assert parse_report_target(f"junit:{tmp_path}/r.xml").format == "junit"
    assert parse_report_target(f"json:{tmp_path}/r").format == "json"
    for bad, complaint in [
        ("", "expected FILE"),
        ("junit:", "expected FILE"),
        (str(tmp_path), "is a directory"),
        (f"{tmp_path}/missing/r.json", "does not exist"),
    ]:
        with pytest.raises(InvalidInput, match=complaint):
            parse_report_target(bad)


# -- send and listen -------------------------------------------------------------------------


def test_successful_send_report_and_junit(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(hold, subprotocols=["v1"])
    report, junit = tmp_path / "run.json", tmp_path / "run.xml"
    url = server.url + "?token=s3cret&room=7"
    result = invoke(
        ["send", url, "a", "b", "--expect", "^b$", "-s", "v1",
         "--report", str(report), "--report", f"junit:{junit}"]
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = read_json(report)
    assert "s3cret" not in report.read_text() + junit.read_text()
    assert data["url"] == server.url + "?token=<redacted>&room=7"
    assert (data["command"], data["ok"], data["exit_code"], data["error"]) == (
        "send",
        True,
        0,
        None,
    )
    assert data["messages"] == {"sent": 2, "received": 2}
    assert data["close"] == {"code": 1000, "reason": "", "initiated_by": "client"}
    assert data["expectations"] == [
        {"option": "--expect '^b$'", "met": True, "type": "regex", "pattern": "^b$", "message": 2}
    ]
    assert data["connection"]["subprotocol"] == "v1"
    assert data["timings_ms"]["connect"] > 0
    assert data["timings_ms"]["total"] >= data["timings_ms"]["connect"]
    assert junit_cases(junit) == {"connect": "passed", "--expect '^b$'": "passed", "run": "passed"}
    assert sorted(os.listdir(tmp_path)) == ["run.json", "run.xml"]  # no temporary files left


def test_failed_check_is_in_the_report(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(hold)
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = invoke(
        ["send", server.url, "a", "--expect", "^a$", "--expect", "zzz", "--timeout", "100ms",
         "--report", str(report), "--report", f"junit:{junit}"]
    )  # fmt: skip
    assert result.exit_code == 7
    data = read_json(report)
    assert data["error"]["type"] == "CheckFailed"
    assert data["error"]["retryable"] is False
    assert "--expect 'zzz'" in data["error"]["message"]
    assert [(e["option"], e["met"]) for e in data["expectations"]] == [
        ("--expect '^a$'", True),
        ("--expect 'zzz'", False),
    ]
    assert junit_cases(junit) == {
        "connect": "passed",
        "--expect '^a$'": "passed",
        "--expect 'zzz'": "failure",
        "run": "passed",  # the failure is explained by the expectation, not counted twice
    }
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("errors")) == ("1", "0")


def test_connection_failure_still_writes_the_report(tmp_path: Path) -> None:
    with socket.socket() as sock:  # bound, not listening: connection refused
        sock.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}/"
        report, junit = tmp_path / "r.json", tmp_path / "r.xml"
        result = invoke(
            ["send", url, "x", "--expect", "y", "--report", str(report),
             "--report", f"junit:{junit}"]
        )  # fmt: skip
    assert result.exit_code == 4
    data = read_json(report)
    assert data["exit_code"] == 4 and data["ok"] is False
    assert data["error"]["type"] == "ConnectionFailed"
    assert (data["error"]["kind"], data["error"]["retryable"]) == ("INTERNAL", True)
    assert data["connection"] is None and data["close"] is None
    assert data["messages"] == {"sent": 0, "received": 0}
    assert data["expectations"][0]["met"] is False
    assert junit_cases(junit) == {"connect": "error", "--expect 'y'": "skipped", "run": "passed"}


def test_refused_upgrade_report_has_status_and_body(
    make_server: MakeServer, tmp_path: Path
) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "token expired\n")

    server = make_server(hold, process_request=refuse)
    report = tmp_path / "r.json"
    result = invoke(["listen", server.url, "--report", str(report)])
    assert result.exit_code == 4
    error = read_json(report)["error"]
    assert (error["status"], error["body"], error["retryable"]) == (401, "token expired\n", False)


def test_abnormal_close_report(make_server: MakeServer, tmp_path: Path) -> None:
    async def close_4000(connection: ServerConnection, recorder: Recorder) -> None:
        await connection.send("last words")
        await connection.close(4000, "maintenance")

    server = make_server(close_4000)
    report = tmp_path / "r.json"
    result = invoke(["listen", server.url, "--report", str(report)])
    assert result.exit_code == 6
    data = read_json(report)
    assert data["close"] == {"code": 4000, "reason": "maintenance", "initiated_by": "server"}
    assert data["error"]["close_code"] == 4000
    assert data["messages"]["received"] == 1


def test_ping_junit_report_marks_lost_pongs(make_server: MakeServer, tmp_path: Path) -> None:
    from test_ping import counting, wait_for_close

    server = make_server(wait_for_close, create_connection=counting(lambda n: n != 2))
    junit = tmp_path / "ping.xml"
    result = invoke(
        ["ping", server.url, "-c", "3", "-i", "10ms", "-W", "100ms", "--report", f"junit:{junit}"]
    )
    assert result.exit_code == 7
    assert junit_cases(junit) == {"connect": "passed", "pings": "failure", "run": "passed"}
    failure = ET.parse(junit).getroot().find(".//failure")
    assert failure is not None and failure.get("message") == "1 of 3 pings lost (33.3% loss)"


# -- the pieces ------------------------------------------------------------------------------


def test_rtt_statistics_are_those_of_ping8() -> None:
    stats = rtt_statistics([0.001, 0.002, 0.003])
    assert stats == {"min": 1.0, "avg": 2.0, "max": 3.0, "mdev": round(math.sqrt(2 / 3), 3)}
    assert rtt_statistics([]) is None


def test_recording_notes_the_error_and_reraises(tmp_path: Path) -> None:
    record = RunRecord("listen", "ws://example.com/?key=abc")
    target = ReportTarget("json", str(tmp_path / "r.json"))
    with pytest.raises(Timeout), recording(record, [target]):
        raise Timeout("no message within 1s (--read-timeout)")
    data = read_json(tmp_path / "r.json")
    assert data["url"] == "ws://example.com/?key=<redacted>"
    assert data["exit_code"] == 5
    assert data["error"] == {
        "type": "Timeout",
        "kind": "TIMEOUT",
        "retryable": True,
        "message": "no message within 1s (--read-timeout)",
    }


def test_recording_after_ctrl_c(tmp_path: Path) -> None:
    record = RunRecord("ping", "ws://example.com/")
    target = ReportTarget("json", str(tmp_path / "r.json"))
    with pytest.raises(KeyboardInterrupt), recording(record, [target]):
        raise KeyboardInterrupt
    data = read_json(tmp_path / "r.json")
    assert data["exit_code"] == 130
    assert data["error"]["kind"] == "CANCELED"


def test_unwritable_report_fails_a_good_run_and_warns_after_a_bad_one(tmp_path: Path) -> None:
    target = ReportTarget("json", str(tmp_path / "gone" / "r.json"))  # directory removed
    with (
        pytest.raises(InvalidInput, match="cannot write report"),
        recording(RunRecord("send", "ws://x/"), [target]) as record,
    ):
        record.exit_code = 0
    warnings: list[str] = []
    with (
        pytest.raises(CheckFailed),
        recording(RunRecord("send", "ws://x/"), [target], warn=warnings.append),
    ):
        raise CheckFailed("nope")  # the run's own error wins
    assert len(warnings) == 1 and "cannot write report" in warnings[0]


def test_junit_survives_control_characters_from_the_network() -> None:
    record = RunRecord("send", "ws://example.com/")
    record.matcher = Matcher([parse_regex("\x1b\x00")])
    record.finish(7, CheckFailed("server said \x1b[31m\x00 bad"))
    xml = junit_xml(build_report(record))
    root = ET.fromstring(xml)  # well-formed despite ESC and NUL
    assert "\\x1b" in xml.decode()
    assert root.find(".//skipped") is not None  # never connected: not evaluated
