"""The event log: one SQLite row per logged decision, never any pixels, with a CSV export.

Table ``events(id, time, source, decision, reasons, scores, profile, detail)``: ``reasons`` and
``scores`` are JSON text. Every column is INTEGER, REAL or TEXT; there is no BLOB column, so no
image or file content can end up here.
"""

from __future__ import annotations

import builtins
import csv
import json
import math
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import ConfigError

DECISIONS: tuple[str, ...] = tuple(d.value for d in Decision)
CSV_HEADER: tuple[str, ...] = ("id", "time_utc", "source", "decision", "reasons", "scores", "profile", "detail")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    source TEXT NOT NULL,
    decision TEXT NOT NULL,
    reasons TEXT NOT NULL,
    scores TEXT NOT NULL,
    profile TEXT NOT NULL,
    detail TEXT NOT NULL
)"""
_MAX_TEXT = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Event:
    """One logged decision (no pixels, no file contents, no names of blocked photos).

    Attributes:
        time: unix seconds.
        source: ``viewfinder``, ``photo``, ``recording`` or ``api``.
        decision: ``allow``, ``warn`` or ``block``.
        reasons: reason codes (``FEMALE_BREAST_EXPOSED``, ``fused``, ``timeout``...).
        scores: code -> score in ``[0, 1]`` (``{"fused": 0.83, "FEMALE_BREAST_EXPOSED": 0.71}``).
        profile: name of the profile applied.
        detail: one short line for people.
        id: row id once stored.
    """

    time: float
    source: str
    decision: str
    reasons: tuple[str, ...]
    scores: Mapping[str, float]
    profile: str
    detail: str = ""
    id: int | None = None

    @classmethod
    def from_verdict(cls, verdict: Verdict, *, source: str, when: float | None = None, detail: str = "") -> Event:
        """Summarize ``verdict``: reason codes, ``{"fused": score, code: score...}``, its profile.

        ``when`` defaults to now. The first score of a code wins (reasons come strongest first).
        An allowed verdict has no reasons: its evidence codes (``IMAGE_NSFW 0.02``) would read
        like a nudity finding on a row that found none; its scores are kept.
        """
        scores: dict[str, float] = {"fused": float(verdict.score)}
        for reason in verdict.reasons:
            if reason.code != "FUSED":  # the same number as "fused"
                scores.setdefault(reason.code, float(reason.score))
        return cls(
            time=time.time() if when is None else when,
            source=source,
            decision=verdict.decision.value,
            reasons=() if verdict.decision is Decision.ALLOW else tuple(r.code for r in verdict.reasons),
            scores=scores,
            profile=verdict.profile,
            detail=detail,
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (scores rounded to 4 places)."""
        return {
            "id": self.id,
            "time": self.time,
            "source": self.source,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "profile": self.profile,
            "detail": self.detail,
        }


def _check_event(event: Event) -> tuple[float, str, str, str, str, str, str]:
    """The row to insert, or ConfigError when any value has the wrong type or range."""
    problems = []
    if isinstance(event.time, bool) or not isinstance(event.time, int | float) or not math.isfinite(event.time):
        problems.append(f"time must be a finite number, got {event.time!r}")
    if event.source not in EventLog.SOURCES:
        problems.append(f"source must be one of {', '.join(EventLog.SOURCES)}, got {event.source!r}")
    if event.decision not in DECISIONS:
        problems.append(f"decision must be one of {', '.join(DECISIONS)}, got {event.decision!r}")
    if not isinstance(event.reasons, tuple | list) or not all(isinstance(r, str) for r in event.reasons):
        problems.append("reasons must be a tuple of strings")
    if not isinstance(event.scores, Mapping) or not all(
        isinstance(k, str) and not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
        for k, v in event.scores.items()
    ):
        problems.append("scores must map strings to finite numbers")
    for key in ("profile", "detail"):
        if not isinstance(getattr(event, key), str):
            problems.append(f"{key} must be a string, got {type(getattr(event, key)).__name__}")
    if problems:
        raise ConfigError("cannot log event: " + "; ".join(problems))
    scores = {k: float(v) for k, v in event.scores.items()}
    return (
        float(event.time),
        event.source,
        event.decision,
        json.dumps([r[:_MAX_TEXT] for r in event.reasons], ensure_ascii=False),
        json.dumps(scores, ensure_ascii=False, allow_nan=False),
        event.profile[:_MAX_TEXT],
        event.detail[:_MAX_TEXT],
    )


def _event_from_row(row: tuple[Any, ...]) -> Event:
    id_, when, source, decision, reasons, scores, profile, detail = row
    return Event(when, source, decision, tuple(json.loads(reasons)), json.loads(scores), profile, detail, id_)


def _csv_cell(value: str) -> str:
    """Defuse spreadsheet formulas: a cell starting with ``= + - @`` (or tab/CR) gets a ``'``."""
    return "'" + value if value.startswith(_FORMULA_START) else value


class EventLog:
    """An SQLite event log; safe to share between threads.

    Args:
        path: database file (WAL mode), or ``":memory:"``.
        max_rows: the oldest rows are deleted beyond this many.
    """

    SOURCES: tuple[str, ...] = ("viewfinder", "photo", "recording", "api")

    def __init__(self, path: Path | str, *, max_rows: int = 100_000) -> None:
        if max_rows < 1:
            raise ConfigError(f"max_rows must be at least 1, got {max_rows}")
        self.path = path
        self.max_rows = max_rows
        self._lock = threading.Lock()
        memory = str(path) == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            if not memory:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open event log {path}: {exc}") from exc

    def add(self, event: Event) -> int:
        """Store ``event`` (its ``id`` is ignored); returns the new row id.

        Raises:
            ConfigError: a value has the wrong type, an unknown source/decision, or a NaN score.
        """
        row = _check_event(event)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO events (time, source, decision, reasons, scores, profile, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            new_id = int(cur.lastrowid or 0)
            self._db.execute("DELETE FROM events WHERE id <= ?", (new_id - self.max_rows,))
        return new_id

    def _where(self, decision: str | None, source: str | None) -> tuple[str, list[object]]:
        if decision is not None and decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if source is not None and source not in self.SOURCES:
            raise ValueError(f"source must be one of {', '.join(self.SOURCES)}, got {source!r}")
        # Only fixed clause strings reach the SQL text; the values go in as parameters.
        clauses = [c for c, v in (("decision = ?", decision), ("source = ?", source)) if v is not None]
        params: list[object] = [v for v in (decision, source) if v is not None]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list(
        self, *, limit: int = 100, offset: int = 0, decision: str | None = None, source: str | None = None
    ) -> builtins.list[Event]:
        """Matching events, newest first.

        Raises:
            ValueError: unknown decision or source, negative limit or offset.
        """
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative, got {limit} and {offset}")
        where, params = self._where(decision, source)
        sql = f"SELECT * FROM events{where} ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._db.execute(sql, [*params, limit, offset]).fetchall()
        return [_event_from_row(r) for r in rows]

    def count(self, *, decision: str | None = None, source: str | None = None) -> int:
        """Number of matching events.

        Raises:
            ValueError: unknown decision or source.
        """
        where, params = self._where(decision, source)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM events{where}", params).fetchone()[0])

    def write_csv(self, out: TextIO, *, decision: str | None = None, source: str | None = None) -> int:
        """Write matching events as CSV (newest first) to ``out``; returns the number of rows.

        Columns: id, time_utc (ISO 8601), source, decision, reasons (``;``-joined), scores (JSON),
        profile, detail. Cells that a spreadsheet would run as a formula get a leading ``'``.
        """
        where, params = self._where(decision, source)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM events{where} ORDER BY id DESC", params).fetchall()
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        for row in rows:
            event = _event_from_row(row)
            stamp = datetime.fromtimestamp(event.time, UTC).isoformat(timespec="milliseconds")
            cells = [
                str(event.id),
                stamp,
                event.source,
                event.decision,
                ";".join(event.reasons),
                json.dumps(dict(event.scores), ensure_ascii=False),
                event.profile,
                event.detail,
            ]
            writer.writerow([_csv_cell(c) for c in cells])
        return len(rows)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()
