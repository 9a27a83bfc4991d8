"""The gallery: safe names only, newest first, no traversal, no symlinks, no partial files."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from captureguard.errors import CaptureGuardError
from captureguard.sinks.photo_store import PhotoStore
from captureguard.web.gallery import Gallery, GalleryItem, GalleryNotFoundError


@pytest.fixture
def gallery(tmp_path: Path) -> Gallery:
    return Gallery(tmp_path / "gallery")


def put(gallery: Gallery, kind: str, name: str, *, data: bytes = b"x", mtime: float = 1_700_000_000.0) -> Path:
    path = gallery.root / kind / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def test_creates_directories(gallery: Gallery) -> None:
    assert (gallery.root / "photos").is_dir() and (gallery.root / "videos").is_dir()
    assert gallery.directory("photos") == gallery.root / "photos"
    assert issubclass(GalleryNotFoundError, CaptureGuardError)


def test_unknown_kind(gallery: Gallery) -> None:
    with pytest.raises(GalleryNotFoundError):
        gallery.directory("../photos")


def test_photo_store_writes_into_photos(gallery: Gallery) -> None:
    store = gallery.photo_store()
    assert isinstance(store, PhotoStore)
    assert store.directory == gallery.root / "photos"


@pytest.mark.parametrize(
    ("kind", "prefix", "suffix"), [("photos", "photo", ".jpg"), ("videos", "video", ".mp4")], ids=str
)
def test_new_name(gallery: Gallery, kind: str, prefix: str, suffix: str) -> None:
    now = 1_700_000_000.0
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))  # local time, like the camera's clock
    name = gallery.new_name(kind, now=now)
    assert re.fullmatch(rf"{prefix}-{stamp}-[0-9a-f]{{4}}\{suffix}", name)
    put(gallery, kind, name)
    assert gallery.resolve(kind, name) == gallery.root / kind / name
    assert gallery.new_name(kind, now=now) != name


def test_new_name_never_repeats_an_existing_one(gallery: Gallery, monkeypatch: pytest.MonkeyPatch) -> None:
    suffixes = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr("captureguard.web.gallery.secrets.token_hex", lambda n: next(suffixes))
    first = gallery.new_name("photos", now=0)
    put(gallery, "photos", first)
    second = gallery.new_name("photos", now=0)
    assert first.endswith("-aaaa.jpg") and second.endswith("-bbbb.jpg")


def test_new_name_unknown_kind(gallery: Gallery) -> None:
    with pytest.raises(GalleryNotFoundError):
        gallery.new_name("audio")


def test_items_newest_first_and_filtered(gallery: Gallery, tmp_path: Path) -> None:
    put(gallery, "photos", "old.jpg", mtime=100)
    put(gallery, "videos", "new.mp4", data=b"12345", mtime=300)
    put(gallery, "photos", "mid.PNG", mtime=200)
    put(gallery, "photos", "b.webp", mtime=200)
    for name in (".hidden.jpg", "clip.partial.mp4", "notes.txt", "video.mp4", "-dash.jpg", "sp ace.jpg"):
        put(gallery, "photos", name, mtime=999)
    put(gallery, "videos", "rec.partial.mp4", mtime=999)
    put(gallery, "videos", "still.jpg", mtime=999)
    (gallery.root / "photos" / "dir.jpg").mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"secret")
    (gallery.root / "photos" / "link.jpg").symlink_to(outside)
    (gallery.root / "photos" / "inner-link.jpg").symlink_to(gallery.root / "photos" / "old.jpg")
    items = gallery.items()
    assert [(i.kind, i.name) for i in items] == [
        ("videos", "new.mp4"),
        ("photos", "b.webp"),
        ("photos", "mid.PNG"),
        ("photos", "old.jpg"),
    ]
    assert items[0] == GalleryItem("videos", "new.mp4", 5, 300.0)
    assert items[0].to_dict() == {"kind": "videos", "name": "new.mp4", "bytes": 5, "modified": 300.0}


def test_resolve_a_listed_file(gallery: Gallery) -> None:
    path = put(gallery, "photos", "photo-20261124-153012-3f9a.jpg")
    assert gallery.resolve("photos", "photo-20261124-153012-3f9a.jpg") == path


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("photos", "../x"),
        ("photos", "..%2fx.jpg"),
        ("photos", "..\\x.jpg"),
        ("photos", "a\\..\\..\\x.jpg"),
        ("photos", "/etc/passwd"),
        ("photos", "photos/../../etc/passwd"),
        ("photos", "sub/a.jpg"),
        ("photos", ".."),
        ("photos", "."),
        ("photos", ""),
        ("photos", "a.jpg\x00.png"),
        ("photos", "a.jpg\n"),
        ("photos", "ａ.jpg"),
        ("photos", "a․jpg"),
        ("photos", "é.jpg"),
        ("photos", ".hidden.jpg"),
        ("photos", "clip.partial.jpg"),
        ("videos", "rec.partial.mp4"),
        ("videos", "REC.PARTIAL.MP4"),
        ("photos", "link.jpg"),
        ("photos", "inner-link.jpg"),
        ("photos", "dir.jpg"),
        ("photos", "missing.jpg"),
        ("photos", "notes.txt"),
        ("photos", "clip.mp4"),
        ("videos", "ok.jpg"),
        ("../photos", "ok.jpg"),
        ("photo", "ok.jpg"),
        ("", "ok.jpg"),
        ("photos", "x" * 125 + ".jpg"),
    ],
    ids=[
        "dotdot-slash",
        "url-encoded",
        "backslash",
        "backslash-deep",
        "absolute",
        "nested-traversal",
        "subdir",
        "dotdot",
        "dot",
        "empty",
        "nul",
        "newline",
        "fullwidth-a",
        "one-dot-leader",
        "accented",
        "hidden",
        "partial-photo",
        "partial-video",
        "partial-upper",
        "symlink-outside",
        "symlink-inside",
        "directory",
        "missing",
        "wrong-suffix",
        "video-in-photos",
        "photo-in-videos",
        "kind-traversal",
        "kind-singular",
        "kind-empty",
        "too-long",
    ],
)
def test_resolve_refuses(gallery: Gallery, tmp_path: Path, kind: str, name: str) -> None:
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"secret")
    (gallery.root / "photos" / "link.jpg").symlink_to(outside)
    (gallery.root / "photos" / "inner-link.jpg").symlink_to(put(gallery, "photos", "ok.jpg"))
    (gallery.root / "photos" / "dir.jpg").mkdir()
    for planted in (".hidden.jpg", "clip.partial.jpg", "notes.txt", "clip.mp4", "x" * 125 + ".jpg"):
        put(gallery, "photos", planted)
    for planted in ("rec.partial.mp4", "REC.PARTIAL.MP4", "ok.jpg"):
        put(gallery, "videos", planted)
    with pytest.raises(GalleryNotFoundError):
        gallery.resolve(kind, name)
    with pytest.raises(GalleryNotFoundError):
        gallery.delete(kind, name)
    assert outside.read_bytes() == b"secret"
    assert (gallery.root / "photos" / "ok.jpg").exists()


def test_symlinked_directory_escape(gallery: Gallery, tmp_path: Path) -> None:
    """A photos directory replaced by a symlink to elsewhere still serves nothing outside it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.jpg").write_bytes(b"x")
    (gallery.root / "photos").rmdir()
    (gallery.root / "photos").symlink_to(elsewhere)
    # The file is inside the (resolved) directory, so it is served; nothing above it is.
    assert gallery.resolve("photos", "a.jpg") == gallery.root / "photos" / "a.jpg"
    with pytest.raises(GalleryNotFoundError):
        gallery.resolve("photos", "../a.jpg")


def test_delete(gallery: Gallery) -> None:
    put(gallery, "videos", "a.mp4")
    put(gallery, "videos", "b.mp4")
    gallery.delete("videos", "a.mp4")
    assert [i.name for i in gallery.items()] == ["b.mp4"]
    with pytest.raises(GalleryNotFoundError):
        gallery.delete("videos", "a.mp4")
