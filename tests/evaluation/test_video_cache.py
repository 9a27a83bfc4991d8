"""``eval`` caches video results: a re-run with nothing changed decodes no video and loads no model."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from captureguard.evaluation.manifest import Item, Span
from captureguard.evaluation.video_cache import VideoCache

cli_eval = importlib.import_module("captureguard.cli.eval")


def item(path: Path, *, label: str = "nudity", spans: tuple[Span, ...] = (Span(2, 5, "frame"),)) -> Item:
    return Item(path, label, "video", "g1", True, spans, 2)  # type: ignore[arg-type]


def test_round_trip_and_what_the_key_depends_on(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"video bytes")
    cache = VideoCache(tmp_path / "cache", version="v1")
    assert cache.load(item(video)) is None
    cache.store(item(video), {"path": str(video), "frames": 7})
    assert cache.load(item(video)) == {"path": str(video), "frames": 7}
    moved = tmp_path / "b.mp4"
    moved.write_bytes(b"video bytes")
    assert cache.load(item(moved)) == {"path": str(moved), "frames": 7}  # same bytes and row: a hit
    assert cache.load(item(video, label="safe")) is None  # the row changed
    assert cache.load(item(video, spans=(Span(2, 6, "frame"),))) is None
    assert VideoCache(tmp_path / "cache", version="v2").load(item(video)) is None  # the checker changed
    video.write_bytes(b"other bytes")
    assert cache.load(item(video)) is None  # the file changed


def test_a_corrupt_record_is_recomputed(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"video bytes")
    cache = VideoCache(tmp_path / "cache", version="v1")
    cache.store(item(video), {"frames": 7})
    (tmp_path / "cache" / f"{cache.key(item(video))}.json").write_text("{not json", "utf-8")
    assert cache.load(item(video)) is None


class FakeResult:
    def __init__(self, path: Path) -> None:
        self.path = path

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "frames": 3}


def test_second_run_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"video bytes")
    calls = {"evaluate": 0, "create": 0}

    class FakeChecker:
        def close(self) -> None:
            pass

    def create(**kwargs: object) -> FakeChecker:
        calls["create"] += 1
        return FakeChecker()

    def evaluate(it: Item, checker: object) -> FakeResult:
        calls["evaluate"] += 1
        return FakeResult(it.path)

    monkeypatch.setattr("captureguard.guard.check.Checker.create", create)
    monkeypatch.setattr("captureguard.evaluation.videos.evaluate_video", evaluate)
    first, errors = cli_eval._run_videos([item(video)], progress=False, out=tmp_path / "out")
    assert first == [{"path": str(video), "frames": 3}] and not errors
    assert calls == {"evaluate": 1, "create": 1}
    second, _ = cli_eval._run_videos([item(video)], progress=False, out=tmp_path / "out")
    assert second == first
    assert calls == {"evaluate": 1, "create": 1}  # no video decoded, no model loaded
