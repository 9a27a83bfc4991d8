"""Bad inputs through the command line: one ``captureguard: error:`` line on stderr, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from captureguard.cli.main import main
from tests.support.fuzzing import fuzz_inputs

pytestmark = pytest.mark.fuzz

DATA = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data"
PROFILE_SEEDS = [(DATA / "profiles.toml").read_bytes()]


def _one_error_line(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("captureguard: error:"), err
    assert "Traceback" not in err


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fuzz_inputs(PROFILE_SEEDS))
def test_profiles_file_is_listed_or_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    code = main(["profiles", "--profiles-file", str(path)])
    captured = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        _one_error_line(captured.err)


def _garbage(path: Path, n: int = 4000) -> Path:
    path.write_bytes(np.random.default_rng(7).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def test_video_on_random_bytes_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["video", str(_garbage(tmp_path / "in.mp4")), str(tmp_path / "out.mp4")])
    assert code == 2
    _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out.mp4").exists()


def test_eval_on_a_nul_path_manifest_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"path,label\na\x00.jpg,safe\n")
    code = main(["eval", str(manifest), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "NUL character" in err and "Traceback" not in err


@pytest.mark.models
def test_check_on_random_bytes_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(_garbage(tmp_path / "x.jpg"))])
    captured = capsys.readouterr()
    assert code == 2
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "x.jpg" in lines[0] and "Traceback" not in captured.err
