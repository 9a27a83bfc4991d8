"""Read and validate an evaluation manifest (CSV), reporting every problem at once.

Format: a CSV file with a header row. Columns (others, e.g. ``title`` or ``licence``, are ignored):

- ``path`` (required): the image or video, relative to the manifest's folder (absolute allowed).
- ``label`` (required): ``nudity`` or ``safe``.
- ``kind`` (optional): a free-form category for breakdowns (``painting``, ``beach``...); default ``unknown``.
- ``group`` (optional): near-duplicates share a group and are never split across folds or bootstrap
  draws; a blank group makes the row its own group (named by its path as written).
- ``unsafe_spans`` (optional, ``nudity`` videos only): where the video is unsafe, ``;``-separated:

  - frames, inclusive: ``12-40;100-130`` (frames 12..40 and 100..130, first frame is 0);
  - seconds, half-open: ``1.5s-3.0s;10s-12.5s`` (``1.5 <= t < 3.0`` and ``10 <= t < 12.5``).

  A ``nudity`` video without spans is unsafe throughout (its span is :data:`WHOLE_VIDEO`).

Row numbers in errors and in :attr:`Item.row` are the ones a spreadsheet shows (the header is row 1).
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn, cast

from captureguard.errors import ConfigError

if TYPE_CHECKING:
    import _csv

__all__ = ["LABELS", "VIDEO_SUFFIXES", "WHOLE_VIDEO", "Item", "ManifestError", "Span", "parse_spans", "read_manifest"]

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts", ".mpg", ".mpeg")
#: An animated GIF is a video when its row's ``kind`` says so (``video_*``); otherwise a still.
VIDEO_KIND_PREFIX = "video"
LABELS = ("nudity", "safe")
REQUIRED = ("path", "label")
MAX_LISTED = 20

Label = Literal["nudity", "safe"]
Unit = Literal["frame", "s"]

_FRAMES = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s\s*-\s*(\d+(?:\.\d*)?|\.\d+)s$")


class ManifestError(ConfigError):
    """A manifest is unusable; :attr:`problems` lists every problem found (one line each)."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Span:
    """A stretch of a video: inclusive frame indices (``unit="frame"``) or half-open seconds ``[start, end)``."""

    start: float
    end: float
    unit: Unit

    def covers(self, frame: int, fps: float) -> bool:
        """Whether frame index ``frame`` (shown at ``frame / fps`` seconds) lies in the span."""
        if self.unit == "frame":
            return self.start <= frame <= self.end
        return self.start <= frame / fps < self.end


#: The span of a ``nudity`` video listed without spans: all of it.
WHOLE_VIDEO = Span(0.0, math.inf, "s")


@dataclass(frozen=True)
class Item:
    """One manifest row: ``path`` is absolute; ``row`` is the spreadsheet row number (header = 1)."""

    path: Path
    label: Label
    kind: str
    group: str
    is_video: bool
    unsafe_spans: tuple[Span, ...]
    row: int


def parse_spans(text: str) -> tuple[Span, ...]:
    """Parse ``"12-40;100-130"`` (frames, inclusive) or ``"1.5s-3.0s;10s-12.5s"`` (seconds, half-open).

    Raises:
        ValueError: a part is malformed or ends before it starts (the message names the part).
    """
    spans = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if frames := _FRAMES.match(part):
            start, end = int(frames[1]), int(frames[2])
            if end < start:
                raise ValueError(f"span {part!r} ends before it starts")
            spans.append(Span(float(start), float(end), "frame"))
        elif seconds := _SECONDS.match(part):
            t0, t1 = float(seconds[1]), float(seconds[2])
            if t1 <= t0:
                raise ValueError(f"span {part!r} is empty (seconds are half-open: start < end needed)")
            spans.append(Span(t0, t1, "s"))
        else:
            raise ValueError(f"bad span {part!r} (expected frames like 12-40 or seconds like 1.5s-3.0s)")
    return tuple(sorted(spans, key=lambda s: (s.unit, s.start, s.end)))


def read_manifest(path: str | Path) -> list[Item]:
    """Read an evaluation manifest (format in the module docstring).

    Returns:
        The items in file order.

    Raises:
        ManifestError: the file cannot be read, or any row is invalid; the message lists every problem
            with its row number (missing files: the first 20, then how many more).
    """
    manifest = Path(path).absolute()
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            rows = _rows(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{manifest}: cannot read the manifest: {exc}", [str(exc)]) from exc
    if isinstance(rows, str):
        _fail(manifest, [rows], [])
    problems: list[str] = []
    missing: list[str] = []
    items: list[Item] = []
    seen: dict[Path, int] = {}
    for row, record in rows:
        item = _item(manifest.parent, row, record, problems)
        raw = record.get("path", "")
        if "\x00" in raw:  # found by fuzzing: os.stat raised ValueError ("embedded null byte")
            problems.append(f"row {row}: the path contains a NUL character")
            continue
        file = Path(os.path.normpath(manifest.parent / raw))
        if not raw or _duplicate(row, raw, file.resolve(), seen, problems):
            continue
        if not file.is_file():
            missing.append(f"row {row}: {raw}")
        if item is not None:
            items.append(item)
    if not rows:
        problems.append("no rows: the manifest has a header but lists no images or videos")
    if problems or missing:
        _fail(manifest, problems, missing)
    return items


def _rows(reader: _csv.Reader) -> list[tuple[int, dict[str, str]]] | str:
    """``(row number, {column: stripped value})`` per non-blank row, or the reason the header is unusable."""
    header = next(reader, None)
    if header is None:
        return "empty file: expected a header row with at least the columns path,label"
    names = [h.strip().lower() for h in header]
    absent = [c for c in REQUIRED if c not in names]
    if absent:
        return f"row 1: missing required column(s) {', '.join(absent)} (header has: {', '.join(names)})"
    out = []
    for values in reader:
        if any(v.strip() for v in values):
            out.append((reader.line_num, {n: v.strip() for n, v in zip(names, values, strict=False)}))
    return out


def _duplicate(row: int, raw: str, key: Path, seen: dict[Path, int], problems: list[str]) -> bool:
    """Whether ``key`` (a resolved path) was listed before; records it or the problem."""
    if key in seen:
        problems.append(f"row {row}: duplicate path {raw} (same file as row {seen[key]})")
        return True
    seen[key] = row
    return False


def _item(folder: Path, row: int, record: dict[str, str], problems: list[str]) -> Item | None:
    """Build one row's item, appending its problems; None when the row is unusable."""
    raw, label = record.get("path", ""), record.get("label", "").lower()
    before = len(problems)
    if not raw:
        problems.append(f"row {row}: empty path")
    if label not in LABELS:
        problems.append(f"row {row}: unknown label {record.get('label', '')!r} (allowed: {', '.join(LABELS)})")
    file = Path(os.path.normpath(folder / raw))
    kind = record.get("kind") or "unknown"
    is_video = file.suffix.lower() in VIDEO_SUFFIXES or kind.startswith(VIDEO_KIND_PREFIX)
    spans = _spans(row, record.get("unsafe_spans", ""), label, is_video, problems)
    if len(problems) > before:
        return None
    if label == "nudity" and is_video and not spans:
        spans = (WHOLE_VIDEO,)
    group = record.get("group") or raw
    return Item(file, cast(Label, label), kind, group, is_video, spans, row)


def _spans(row: int, text: str, label: str, is_video: bool, problems: list[str]) -> tuple[Span, ...]:
    """Parse a row's ``unsafe_spans`` cell, appending any problem."""
    if not text:
        return ()
    if not is_video:
        problems.append(f"row {row}: unsafe_spans {text!r} on a still image (spans are for videos only)")
        return ()
    if label == "safe":
        problems.append(f"row {row}: unsafe_spans {text!r} on a safe video (label it nudity or remove the spans)")
        return ()
    try:
        return parse_spans(text)
    except ValueError as exc:
        problems.append(f"row {row}: {exc}")
        return ()


def _fail(manifest: Path, problems: list[str], missing: list[str]) -> NoReturn:
    """Raise one :class:`ManifestError` listing every problem (missing files capped at :data:`MAX_LISTED`)."""
    count = len(problems) + len(missing)
    lines = [f"{manifest}: {count} problem{'s' if count != 1 else ''}"]
    lines += [f"  {p}" for p in problems]
    if missing:
        lines.append(f"  {len(missing)} file(s) not found (paths are relative to {manifest.parent}):")
        lines += [f"    {m}" for m in missing[:MAX_LISTED]]
        if len(missing) > MAX_LISTED:
            lines.append(f"    ... and {len(missing) - MAX_LISTED} more")
    lines.append("Fix these rows and run again.")
    raise ManifestError("\n".join(lines), problems + missing)
