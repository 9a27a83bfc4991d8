"""bench/coverage.py: the generated card text quotes the photo path's out-of-fold row, not a constant."""

from __future__ import annotations

from pathlib import Path

from tests.tools import bench_modules

REPORT = """# Detection v2: fusion heads

## photo: views nn640, onsfw; AUC 0.997

| system | recall (nude) | FB all safe |
|---|---|---|
| child as shipped (fused >= 0.500) | 72/74 (97.3%) | 17/1754 (1.0%) |

## live: views nn640; AUC 0.995

| system | recall (nude) | FB all safe |
|---|---|---|
| child as shipped (fused >= 0.500) | 67/74 (90.5%) | 17/1754 (1.0%) |
"""


def test_oof_photo_reads_the_photo_section_of_the_heads_report(tmp_path: Path) -> None:
    coverage = bench_modules.load("coverage")
    report = tmp_path / "detect_v2.md"
    report.write_text(REPORT)
    assert coverage.oof_photo(report) == "photo, child, out of fold: 72/74 recall, 17/1754 false blocks"
    report.write_text(REPORT.replace("72/74 (97.3%)", "70/74 (94.6%)"))
    assert "70/74" in coverage.oof_photo(report)
    assert "fit_heads.py" in coverage.oof_photo(tmp_path / "missing.md")
