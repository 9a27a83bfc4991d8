"""Evaluation manifest: parsing, defaults, spans, and every problem reported at once with its row."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from captureguard.errors import ConfigError
from captureguard.evaluation.manifest import (
    VIDEO_SUFFIXES,
    WHOLE_VIDEO,
    Item,
    ManifestError,
    Span,
    parse_spans,
    read_manifest,
)

EVAL_MANIFEST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eval" / "manifest.csv"


def write(tmp_path: Path, text: str, files: tuple[str, ...] = ()) -> Path:
    """A manifest with ``text`` in ``tmp_path`` and empty stand-ins for ``files``."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(text, encoding="utf-8")
    return manifest


def test_reads_rows_with_defaults(tmp_path: Path) -> None:
    text = (
        "path,label,kind,group,unsafe_spans,title\n"
        "img/a.jpg,nudity,painting,venus,,Venus\n"
        "img/b.png,safe,,,,ignored column\n"
        "\n"  # a blank line is skipped, and row numbers stay the spreadsheet's
        "clip.MP4,nudity,video,,12-40;100-130,\n"
        "whole.webm,nudity,,,,\n"
        "calm.mov,safe,,,,\n"
    )
    files = ("img/a.jpg", "img/b.png", "clip.MP4", "whole.webm", "calm.mov")
    items = read_manifest(write(tmp_path, text, files))
    assert items == [
        Item(tmp_path / "img/a.jpg", "nudity", "painting", "venus", False, (), 2),
        Item(tmp_path / "img/b.png", "safe", "unknown", "img/b.png", False, (), 3),
        Item(
            tmp_path / "clip.MP4",
            "nudity",
            "video",
            "clip.MP4",
            True,
            (Span(12, 40, "frame"), Span(100, 130, "frame")),
            5,
        ),
        Item(tmp_path / "whole.webm", "nudity", "unknown", "whole.webm", True, (WHOLE_VIDEO,), 6),
        Item(tmp_path / "calm.mov", "safe", "unknown", "calm.mov", True, (), 7),
    ]


def test_absolute_paths_bom_and_header_case(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.jpg").write_bytes(b"")
    manifest = tmp_path / "sub" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text(f"\ufeffPath , LABEL\n{elsewhere / 'x.jpg'}, Safe \n", encoding="utf-8")
    (item,) = read_manifest(manifest)
    assert (item.path, item.label, item.row) == (elsewhere / "x.jpg", "safe", 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12-40;100-130", (Span(12, 40, "frame"), Span(100, 130, "frame"))),
        ("1.5s-3.0s;10s-12.5s", (Span(1.5, 3.0, "s"), Span(10, 12.5, "s"))),
        (" 100 - 130 ; 12-40 ; ", (Span(12, 40, "frame"), Span(100, 130, "frame"))),  # spaces, order, trailing ;
        ("7-7", (Span(7, 7, "frame"),)),  # one frame (inclusive)
        (".5s-1s", (Span(0.5, 1, "s"),)),
        ("", ()),
    ],
    ids=["frames", "seconds", "whitespace-and-order", "single-frame", "leading-dot", "empty"],
)
def test_parse_spans(text: str, expected: tuple[Span, ...]) -> None:
    assert parse_spans(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12-x", "bad span '12-x'"),
        ("1.5s-3", "bad span '1.5s-3'"),  # units must agree
        ("40-12", "ends before it starts"),
        ("3s-3s", "is empty"),  # half-open: [3, 3) holds nothing
        ("-5-10", "bad span"),
    ],
    ids=["not-a-number", "mixed-units", "reversed-frames", "empty-seconds", "negative"],
)
def test_parse_spans_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spans(text)


@pytest.mark.parametrize(
    ("span", "frame", "fps", "expected"),
    [
        (Span(12, 40, "frame"), 12, 25.0, True),
        (Span(12, 40, "frame"), 40, 25.0, True),  # frames inclusive
        (Span(12, 40, "frame"), 41, 25.0, False),
        (Span(1.0, 2.0, "s"), 25, 25.0, True),  # t = 1.0 s
        (Span(1.0, 2.0, "s"), 50, 25.0, False),  # t = 2.0 s: seconds half-open
        (WHOLE_VIDEO, 10**6, 30.0, True),
    ],
    ids=["frame-start", "frame-end", "frame-after", "second-start", "second-end", "whole-video"],
)
def test_span_covers(span: Span, frame: int, fps: float, expected: bool) -> None:
    assert span.covers(frame, fps) is expected


@pytest.mark.parametrize(
    ("text", "files", "expected"),
    [
        ("path,kind\na.jpg,x\n", (), ["1 problem\n", "row 1: missing required column(s) label"]),
        ("kind\nx\n", (), ["missing required column(s) path, label"]),
        ("", (), ["empty file"]),
        ("path,label\n", (), ["no rows"]),
        (
            "path,label\na.jpg,safe\nb.jpg,nsfw\n",
            ("a.jpg", "b.jpg"),
            ["row 3: unknown label 'nsfw' (allowed: nudity, safe)"],
        ),
        ("path,label\n,safe\n", (), ["row 2: empty path"]),
        (
            "path,label\na.jpg,safe\nsub/../a.jpg,nudity\n",
            ("a.jpg",),
            ["row 3: duplicate path sub/../a.jpg (same file as row 2)"],
        ),
        ("path,label\ngone.jpg,safe\n", (), ["1 file(s) not found", "row 2: gone.jpg"]),
        ("path,label,unsafe_spans\nv.mp4,nudity,12-x\n", ("v.mp4",), ["row 2: bad span '12-x'"]),
        ("path,label,unsafe_spans\na.jpg,nudity,1-2\n", ("a.jpg",), ["row 2: unsafe_spans '1-2' on a still image"]),
        ("path,label,unsafe_spans\nv.avi,safe,1-2\n", ("v.avi",), ["row 2: unsafe_spans '1-2' on a safe video"]),
    ],
    ids=[
        "missing-column",
        "missing-both-columns",
        "empty-file",
        "no-rows",
        "unknown-label",
        "empty-path",
        "duplicate-after-resolving",
        "missing-file",
        "bad-span",
        "spans-on-still",
        "spans-on-safe-video",
    ],
)
def test_manifest_errors(tmp_path: Path, text: str, files: tuple[str, ...], expected: list[str]) -> None:
    manifest = write(tmp_path, text, files)
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    message = str(info.value)
    assert message.startswith(f"{manifest}: ")
    for part in expected:
        assert part in message
    assert isinstance(info.value, ConfigError)


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    text = "path,label,unsafe_spans\na.jpg,nsfw,\nb.jpg,safe,\nc.jpg,safe,\nv.mp4,nudity,9-1\nb.jpg,safe,\n"
    manifest = write(tmp_path, text, ("v.mp4",))  # a.jpg is missing *and* badly labelled: both reported
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{manifest}: 6 problems"
    assert len(info.value.problems) == 6
    for part in ("row 2: unknown label", "row 5: span '9-1' ends", "row 6: duplicate path b.jpg (same file as row 3)"):
        assert any(part in line for line in lines), part
    assert "  3 file(s) not found (paths are relative to " + str(tmp_path) + "):" in lines
    assert lines[-4:-1] == ["    row 2: a.jpg", "    row 3: b.jpg", "    row 4: c.jpg"]


def test_missing_files_are_capped_at_20(tmp_path: Path) -> None:
    manifest = write(tmp_path, "path,label\n" + "".join(f"m{i:02}.jpg,safe\n" for i in range(25)))
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{manifest}: 25 problems"
    assert "    row 21: m19.jpg" in lines and "    row 22: m20.jpg" not in lines
    assert "    ... and 5 more" in lines


def test_unreadable_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        read_manifest(tmp_path / "absent.csv")


def test_video_suffixes() -> None:
    assert set(VIDEO_SUFFIXES) == {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts", ".mpg", ".mpeg"}
    assert Span(0.0, math.inf, "s") == WHOLE_VIDEO


@pytest.mark.skipif(not EVAL_MANIFEST.exists(), reason="the project's eval set is not beside the repository")
def test_the_project_eval_manifest_parses() -> None:
    items = read_manifest(EVAL_MANIFEST)
    stills = [i for i in items if not i.is_video]
    videos = [i for i in items if i.is_video]
    # The v2 development set (../shared/data/README.md): 74 nude artworks in 67 groups, 1,754 safe
    # stills, and 35 safe videos (21 clips incl. .mkv/.mpg/.avi, 14 animated GIFs).
    assert sum(i.label == "nudity" for i in stills) == 74
    assert len({i.group for i in stills if i.label == "nudity"}) == 67
    assert sum(i.label == "safe" for i in stills) == 1754
    assert len(videos) == 35 and all(i.label == "safe" for i in videos)
    suffixes = {i.path.suffix.lower() for i in videos}
    assert {".gif", ".mkv", ".mpg", ".mp4"} <= suffixes
    assert not any(i.path.suffix.lower() == ".gif" for i in stills)
    assert all(i.path.is_absolute() and i.path.is_file() for i in items)
    assert items[0].row == 2


@pytest.mark.parametrize(
    ("name", "kind", "is_video"),
    [
        ("clip.mpg", "", True),
        ("clip.MKV", "", True),
        ("loop.gif", "video_people", True),
        ("icon.gif", "objects", False),
        ("photo.jpg", "portrait", False),
    ],
    ids=["mpg", "mkv-upper", "animated-gif", "still-gif", "jpeg"],
)
def test_what_counts_as_a_video(tmp_path: Path, name: str, kind: str, is_video: bool) -> None:
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "m.csv").write_text(f"path,label,kind\n{name},safe,{kind}\n", "utf-8")
    assert read_manifest(tmp_path / "m.csv")[0].is_video is is_video
