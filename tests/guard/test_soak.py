"""The soak (bench/soak.py), bounded: 2 simulated minutes of stream with faults, 20 real seconds of
``captureguard serve`` fed by a websocket fake camera. ``make soak`` runs the full half hour + 10 min."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_soak"] = module
    spec.loader.exec_module(module)
    return module


def test_stream_soak_two_simulated_minutes_releases_nothing_unsafe() -> None:
    soak = _soak()
    result = soak.stream_soak(2.0, fault_every_s=3.0)
    print(soak.table(result, None))
    assert result["frames"] == 2 * 60 * 30
    assert result["faults_injected"] >= 39  # one every 3 simulated seconds, the first at 3 s
    assert min(result["faults"].values()) >= 13  # raise, hang and NaN all injected
    assert result["unsafe_released"] == 0, result["unsafe_first"]
    assert result["counters_consistent"], result
    assert result["released"] > result["frames"] // 3  # the safe scenes still get through
    assert soak.flat(result["samples"])


@pytest.mark.slow
@pytest.mark.models
def test_web_soak_twenty_seconds_keeps_serving_and_shows_no_painting() -> None:
    soak = _soak()
    result = soak.web_soak(20 / 60, fps=10.0, min_frames=100)  # >= one loop: safe, painting, safe
    print(soak.table(None, result))
    assert result["sent"] >= 100
    assert result["answered"] + result["dropped"] == result["sent"]
    assert result["painting_released"] == 0
    assert result["placeholders"] > 0  # the painting was seen and hidden
    assert result["recordings_written"] >= 1 and result["painting_recorded"] == 0
    assert result["recorded_frames"] > result["recorded_placeholders"] > 0  # safe frames kept, the painting hidden
    assert result["errors"] == 0 and result["server_alive_at_end"] and result["exit_code"] == 0
    assert [s.label for s in result["samples"]] == ["start", "mid", "end"]  # flatness is judged on the long run


def test_the_soak_counts_a_recorded_painting_frame(tmp_path: Path) -> None:
    # The recording check must be able to fail: a file with the painting, a placeholder and the
    # portrait is read as 1 painting frame, 1 placeholder and 3 frames.
    import numpy as np

    from tests.sources.test_sources import write_video

    soak = _soak()
    pictures = [(label, soak._bgr(name)) for label, name in soak.WEB_SCRIPT]
    painting = next(bgr for label, bgr in pictures if label == "nudity")
    write_video(tmp_path / "rec.mp4", [pictures[0][1], np.zeros_like(painting), painting])
    found = soak.recorded(tmp_path, pictures)
    assert found == {"recordings_written": 1, "recorded_frames": 3, "recorded_placeholders": 1, "painting_recorded": 1}
