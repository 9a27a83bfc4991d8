"""The command line, end to end with the real models on the bundled public-domain stills."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from captureguard.cli.main import main
from captureguard.samples import Sample

pytestmark = pytest.mark.models


def test_check_exit_codes_and_lines(
    nude_samples: list[Sample], safe_samples: list[Sample], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(safe_samples[0].path), str(safe_samples[1].path)]) == 0
    out = capsys.readouterr().out
    assert out.count("ALLOW") == 2
    assert main(["check", str(safe_samples[0].path), str(nude_samples[0].path)]) == 1
    out = capsys.readouterr().out
    assert "BLOCK" in out and str(nude_samples[0].path) in out


def test_check_json(nude_samples: list[Sample], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", str(nude_samples[0].path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    (result,) = doc["results"]
    assert result["decision"] == "block" and doc["profile"] == "child"
    assert result["reasons"] and "total" in result["timings_ms"]
    assert "pixels" not in json.dumps(doc)


def test_check_bad_file_exits_2_and_goes_on(
    tmp_path: Path, safe_samples: list[Sample], capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = main(["check", str(broken), str(safe_samples[0].path), str(tmp_path / "missing.png")])
    captured = capsys.readouterr()
    assert code == 2
    assert "ALLOW" in captured.out
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "broken.jpg" in errors[0] and "missing.png" in errors[1]


def test_check_unknown_profile_is_a_clear_error(safe_samples: list[Sample], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--profile", "nobody", str(safe_samples[0].path)]) == 2
    assert "unknown profile 'nobody'" in capsys.readouterr().err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check"])
    assert exc.value.code == 2


@pytest.mark.parametrize("report_name", ["report.csv", "report.json"])
def test_scan_directory_with_report(
    tmp_path: Path, samples: list[Sample], report_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "photos"
    (tree / "sub").mkdir(parents=True)
    picked = [s for s in samples if s.label == "nudity"][:1] + [s for s in samples if s.label == "safe"][:2]
    for i, s in enumerate(picked):
        shutil.copy(s.path, (tree / "sub" if i else tree) / s.path.name)
    (tree / "sub" / "zero.png").write_bytes(b"")
    report = tmp_path / report_name
    code = main(["scan", str(tree), "--report", str(report), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2  # one unreadable file
    assert "scanned 4 images" in captured.out and "1 blocked" in captured.out and "1 unreadable" in captured.out
    assert "zero.png" in captured.err
    if report.suffix == ".csv":
        with report.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {r["decision"] for r in rows} == {"allow", "block", ""}
        assert sum(bool(r["error"]) for r in rows) == 1
    else:
        doc = json.loads(report.read_text())
        assert len(doc["results"]) == 4 and doc["profile"] == "child"


def test_scan_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_photo_check_without_the_nsfwjs_model_refuses_in_one_line(
    tmp_path: Path, safe_samples: list[Sample], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The photo path reads nsfwjs since v2.8: without its model file it never checks (fail closed),
    and says how to build it."""
    monkeypatch.setenv("CAPTUREGUARD_MODEL_DIR", str(tmp_path))
    assert main(["check", str(safe_samples[0].path)]) == 2
    captured = capsys.readouterr()
    assert "ALLOW" not in captured.out
    assert "make nsfwjs-model" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_profiles_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "child:" in out and "teen:" in out and "adult:" in out


def test_demo_saves_only_allowed_photos_and_guards_the_clip(
    tmp_path: Path, samples: list[Sample], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    saved = {p.stem for p in (tmp_path / "photos").iterdir()}
    nude = {s.path.stem for s in samples if s.label == "nudity"}
    assert not saved & nude, "a nude painting was saved"
    assert "nude paintings stopped: 5/5" in out
    # The v2.1 child head holds back art with bare skin more often (11/99 art negatives of the dev
    # set, out-of-fold, docs/accuracy.md): here The Death of Marat and Madame Recamier (bare arms,
    # empire dress) are blocked, and one open-access artwork may be warned. Every photo of a
    # person is saved.
    held = {s.path.stem for s in samples if s.label == "safe"} - saved
    assert held <= {"enigma_the_death_of_marat", "lasity_madame_recamier", "artbreaker_artic_81512"}, held
    assert ": 0 unsafe frames released" in out
    assert (tmp_path / "guarded.mp4").stat().st_size > 0 and (tmp_path / "contact_sheet.png").stat().st_size > 0


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "captureguard", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("captureguard ")
