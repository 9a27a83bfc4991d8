"""The SQLite event log: schema without pixels, validation, filters, trimming, CSV export."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import ConfigError
from captureguard.web.events import CSV_HEADER, Event, EventLog

BLOCK = Event(
    time=1_700_000_000.5,
    source="photo",
    decision="block",
    reasons=("FEMALE_BREAST_EXPOSED", "FUSED"),
    scores={"fused": 0.83, "FEMALE_BREAST_EXPOSED": 0.71},
    profile="child",
    detail="shutter",
)


@pytest.fixture
def log() -> Iterator[EventLog]:
    event_log = EventLog(":memory:")
    yield event_log
    event_log.close()


def fill(log: EventLog, specs: list[tuple[str, str]]) -> None:
    for i, (source, decision) in enumerate(specs):
        log.add(replace(BLOCK, time=1_700_000_000.0 + i, source=source, decision=decision, detail=f"#{i}"))


def test_from_verdict() -> None:
    verdict = Verdict(
        Decision.BLOCK,
        0.83,
        (Reason("FUSED", 0.83, "a+b"), Reason("FEMALE_BREAST_EXPOSED", 0.71, "nudenet"), Reason("IMAGE_NSFW", 0.9)),
        "child",
    )
    event = Event.from_verdict(verdict, source="photo", when=12.0, detail="shutter")
    assert event == Event(
        12.0,
        "photo",
        "block",
        ("FUSED", "FEMALE_BREAST_EXPOSED", "IMAGE_NSFW"),
        {"fused": 0.83, "FEMALE_BREAST_EXPOSED": 0.71, "IMAGE_NSFW": 0.9},
        "child",
        "shutter",
    )


def test_from_failure_verdict_defaults_to_now() -> None:
    event = Event.from_verdict(Verdict.failure("timeout", "too slow", profile="teen"), source="api")
    assert event.reasons == ("timeout",)
    assert event.scores == {"fused": 1.0, "timeout": 1.0}
    assert event.time > 1_600_000_000


def test_to_dict() -> None:
    assert replace(BLOCK, id=3, scores={"fused": 0.123456}).to_dict() == {
        "id": 3,
        "time": 1_700_000_000.5,
        "source": "photo",
        "decision": "block",
        "reasons": ["FEMALE_BREAST_EXPOSED", "FUSED"],
        "scores": {"fused": 0.1235},
        "profile": "child",
        "detail": "shutter",
    }


def test_schema_has_no_blob_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    EventLog(path).close()
    with sqlite3.connect(path) as db:
        columns = db.execute("PRAGMA table_info(events)").fetchall()
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    assert [c[1] for c in columns] == ["id", "time", "source", "decision", "reasons", "scores", "profile", "detail"]
    assert {c[2] for c in columns} <= {"INTEGER", "REAL", "TEXT"}
    assert mode == "wal"


def test_add_and_read_back(log: EventLog) -> None:
    new_id = log.add(BLOCK)
    assert new_id == 1
    assert log.list() == [replace(BLOCK, id=1)]
    stored = log.list()[0]
    assert isinstance(stored.reasons, tuple)


def test_stored_values_are_plain_text_and_numbers(log: EventLog) -> None:
    log.add(BLOCK)
    row = log._db.execute("SELECT typeof(id), typeof(time), typeof(reasons), typeof(scores) FROM events").fetchone()
    assert row == ("integer", "real", "text", "text")


@pytest.mark.parametrize(
    "changes",
    [
        {"source": "camera"},
        {"decision": "maybe"},
        {"decision": Decision.BLOCK},
        {"time": float("nan")},
        {"time": "now"},
        {"reasons": ("A", 3)},
        {"reasons": "FUSED"},
        {"scores": {"fused": float("nan")}},
        {"scores": {"fused": float("inf")}},
        {"scores": {"fused": "0.8"}},
        {"scores": {"fused": b"\x00"}},
        {"scores": {1: 0.5}},
        {"scores": [("fused", 0.5)]},
        {"profile": None},
        {"detail": b"jpeg bytes"},
    ],
    ids=lambda c: "-".join(f"{k}={v!r}"[:24] for k, v in c.items()),
)
def test_add_rejects_bad_values(log: EventLog, changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="cannot log event"):
        log.add(replace(BLOCK, **changes))
    assert log.count() == 0


def test_long_text_is_truncated(log: EventLog) -> None:
    log.add(replace(BLOCK, detail="x" * 10_000))
    assert len(log.list()[0].detail) == 2000


def test_list_newest_first_with_paging_and_filters(log: EventLog) -> None:
    fill(log, [("photo", "block"), ("api", "allow"), ("photo", "warn"), ("viewfinder", "block"), ("photo", "block")])
    assert [e.detail for e in log.list()] == ["#4", "#3", "#2", "#1", "#0"]
    assert [e.detail for e in log.list(limit=2, offset=1)] == ["#3", "#2"]
    assert [e.detail for e in log.list(decision="block")] == ["#4", "#3", "#0"]
    assert [e.detail for e in log.list(source="photo", decision="block")] == ["#4", "#0"]
    assert log.list(source="recording") == []
    assert log.count() == 5
    assert log.count(decision="block") == 3
    assert log.count(source="photo", decision="warn") == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"decision": "x' OR 1=1 --"},
        {"source": "photo; DROP TABLE events"},
        {"limit": -1},
        {"offset": -5},
    ],
    ids=["decision-injection", "source-injection", "negative-limit", "negative-offset"],
)
def test_list_rejects_bad_filters(log: EventLog, kwargs: dict[str, Any]) -> None:
    log.add(BLOCK)
    with pytest.raises(ValueError):
        log.list(**kwargs)
    assert log.count() == 1


def test_count_and_csv_reject_bad_filters(log: EventLog) -> None:
    with pytest.raises(ValueError):
        log.count(decision="nope")
    with pytest.raises(ValueError):
        log.write_csv(io.StringIO(), source="nope")


def test_oldest_rows_trimmed() -> None:
    log = EventLog(":memory:", max_rows=3)
    try:
        fill(log, [("photo", "block")] * 7)
        assert log.count() == 3
        assert [e.detail for e in log.list()] == ["#6", "#5", "#4"]
    finally:
        log.close()


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        EventLog(":memory:", max_rows=0)


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.sqlite"
    first = EventLog(path)
    first.add(BLOCK)
    first.close()
    second = EventLog(path)
    try:
        assert second.list() == [replace(BLOCK, id=1)]
    finally:
        second.close()


def test_write_csv(log: EventLog) -> None:
    log.add(BLOCK)
    log.add(replace(BLOCK, source="api", decision="allow", reasons=(), scores={"fused": 0.01}, detail=""))
    out = io.StringIO()
    assert log.write_csv(out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1][:4] == ["2", "2023-11-14T22:13:20.500+00:00", "api", "allow"]
    assert rows[2][4] == "FEMALE_BREAST_EXPOSED;FUSED"
    assert rows[2][5] == '{"fused": 0.83, "FEMALE_BREAST_EXPOSED": 0.71}'
    out = io.StringIO()
    assert log.write_csv(out, decision="block", source="photo") == 1


@pytest.mark.parametrize(
    "detail",
    ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"],
    ids=["equals", "plus", "minus", "at", "tab", "cr"],
)
def test_csv_formula_injection_defused(log: EventLog, detail: str) -> None:
    log.add(replace(BLOCK, detail=detail, profile=detail))
    out = io.StringIO()
    log.write_csv(out)
    row = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert row[6] == "'" + detail
    assert row[7] == "'" + detail


def test_csv_leaves_plain_text_alone(log: EventLog) -> None:
    log.add(replace(BLOCK, detail="a = b"))
    out = io.StringIO()
    log.write_csv(out)
    assert list(csv.reader(io.StringIO(out.getvalue())))[1][7] == "a = b"


def test_threads_share_one_log(log: EventLog) -> None:
    def worker() -> None:
        for _ in range(50):
            log.add(BLOCK)
            log.list(limit=5)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert log.count() == 200
