"""Fuzzing the evaluation manifest reader: mutated CSV seeds and random bytes.

``read_manifest`` returns items or raises ``ManifestError`` (a ``CaptureGuardError``) listing the
problems; never another exception, never a hang.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from captureguard.evaluation.manifest import Item, ManifestError, read_manifest
from tests.support.fuzzing import fuzz_inputs, must_end

pytestmark = pytest.mark.fuzz

SEEDS = [
    b"path,label,kind,group,unsafe_spans\n"
    b"a.jpg,nudity,painting,g1,\n"
    b"b.png,safe,portrait,g1,\n"
    b"v.mp4,nudity,video,,12-40;1.5s-3.0s\n"
    b"w.gif,safe,video_gif,,\n",
    b'\xef\xbb\xbfpath,label\r\na.jpg,safe\r\n\r\n"b.png","nudity"\r\n',
    b'label,path,title\nsafe,v.mp4,"a, title"\nnudity,a.jpg,x\n',
]
FILES = ["a.jpg", "b.png", "v.mp4", "w.gif"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fuzz_inputs(SEEDS), text=st.booleans())
def test_read_manifest_returns_items_or_a_manifest_error(tmp_path: Path, data: bytes, text: bool) -> None:
    for name in FILES:
        (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(data.decode("utf-8", "replace").encode() if text else data)
    result = must_end(lambda: read_manifest(manifest))
    if isinstance(result, list):
        assert all(isinstance(item, Item) for item in result)
    else:
        assert isinstance(result, ManifestError), repr(result)


def test_seeds_read(tmp_path: Path) -> None:
    for name in FILES:
        (tmp_path / name).write_bytes(b"x")
    for i, seed in enumerate(SEEDS):
        (tmp_path / f"m{i}.csv").write_bytes(seed)
        assert read_manifest(tmp_path / f"m{i}.csv")


def test_regression_nul_in_a_path_is_a_manifest_problem(tmp_path: Path) -> None:
    # Found by fuzzing: a NUL byte in a path cell made read_manifest raise ValueError
    # ("embedded null byte") from os.stat instead of listing the row.
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(b"path,label\na\x00.jpg,safe\n")
    with pytest.raises(ManifestError, match="row 2: the path contains a NUL character"):
        read_manifest(manifest)
