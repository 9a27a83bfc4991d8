"""The shipped test doubles (captureguard.testing) behave as their docstrings say."""

from __future__ import annotations

import numpy as np
import pytest

import captureguard.sinks
from captureguard.core.frame import Frame
from captureguard.errors import BadInputError
from captureguard.testing import FakeDetector, ListSource, MemorySink, region, whole


def _frame(index: int) -> Frame:
    return Frame.from_bgr(np.zeros((4, 4, 3), np.uint8), index=index)


def test_fake_detector_plays_its_script_and_repeats_the_last_step() -> None:
    det = FakeDetector([whole(0.1), RuntimeError("boom"), region("BELLY_EXPOSED", 0.7)])
    assert det.detect(_frame(0)).max_score("IMAGE_NSFW") == pytest.approx(0.1)
    with pytest.raises(RuntimeError, match="boom"):
        det.detect(_frame(1))
    assert det.detect(_frame(2)).max_score("BELLY_EXPOSED") == pytest.approx(0.7)
    assert det.detect(_frame(3)).max_score("BELLY_EXPOSED") == pytest.approx(0.7)
    assert det.seen == [0, 1, 2, 3]


def test_fake_detector_needs_a_script() -> None:
    with pytest.raises(ValueError, match="at least one script step"):
        FakeDetector([])


def test_list_source_breaks_off_where_told() -> None:
    src = ListSource([_frame(i) for i in range(5)], fail_after=3, fail_with=BadInputError("cable pulled"))
    seen: list[int] = []
    with pytest.raises(BadInputError, match="cable pulled"):
        seen.extend(f.index for f in src)
    assert seen == [0, 1, 2]


def test_memory_sink_refuses_unchecked_frames_and_keeps_its_old_import_path() -> None:
    sink = MemorySink()
    with pytest.raises(TypeError, match="only AllowedFrame"):
        sink.write(_frame(0))  # type: ignore[arg-type]
    assert sink.items == []
    assert captureguard.sinks.MemorySink is MemorySink
