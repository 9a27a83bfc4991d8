"""The package's face: the top-level names work, and the docstring's stream loop runs as written."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import captureguard
from captureguard.testing.y4m import load_fixture


def test_every_public_name_is_importable_from_the_top() -> None:
    for name in captureguard.__all__:
        assert getattr(captureguard, name) is not None, name


@pytest.mark.models
def test_the_docstring_stream_loop_runs_as_written(tmp_path: Path) -> None:
    doc = captureguard.__doc__ or ""
    lines = doc.split("::\n\n", 1)[1].splitlines()
    block = list(itertools.takewhile(lambda t: not t or t.startswith("    "), lines))
    code = "\n".join(line[4:] for line in block)
    clip = tmp_path / "in.mp4"
    _write_clip(clip)
    code = code.replace("open_source(0)", f"open_source({str(clip)!r})")
    code = re.sub(r'Mp4Sink\("guarded.mp4"', f"Mp4Sink({str(tmp_path / 'out.mp4')!r}", code)
    namespace: dict[str, object] = {}
    exec(compile(code, "captureguard.__doc__", "exec"), namespace)  # the example, verbatim but for the paths
    report = namespace["report"]
    assert report.stats["frames_in"] == 12  # type: ignore[attr-defined]
    assert (tmp_path / "out.mp4").is_file()


def _write_clip(path: Path) -> None:
    import cv2

    bgr = load_fixture("matplotlib_grace_hopper.jpg", width=320, height=240)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (320, 240))
    for _ in range(12):
        writer.write(bgr)
    writer.release()
