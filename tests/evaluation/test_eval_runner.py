"""``captureguard eval`` end to end with a fake scorer (known scores) and one real run on the bundled stills."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captureguard.cli.eval import run_eval
from captureguard.cli.main import build_parser, main
from captureguard.evaluation.runner import Record, Scorer
from captureguard.sources.image import load_image

# name -> (label, kind, fake score). Images are synthetic gradients/noise; labels are assigned here.
ROWS = {
    "p1.png": ("nudity", "painting", 0.9),
    "p2.png": ("nudity", "painting", 0.8),
    "p3.png": ("nudity", "sculpture", 0.3),
    "p4.png": ("nudity", "sculpture", 0.6),
    "s1.png": ("safe", "landscape", 0.1),
    "s2.png": ("safe", "landscape", 0.2),
    "s3.png": ("safe", "texture", 0.7),
    "s4.png": ("safe", "texture", 0.05),
    "s5.png": ("safe", "object", 0.15),
    "s6.png": ("safe", "object", 0.25),
}
SCORES = {name: score for name, (_, _, score) in ROWS.items()}


def _write_manifest(folder: Path, *, broken: bool = False) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i, (name, (label, kind, _)) in enumerate(ROWS.items()):
        ramp = np.linspace(0, 255, 48, dtype=np.uint8)[None, :, None].repeat(32, 0).repeat(3, 2)
        noise = rng.integers(0, 40, ramp.shape, dtype=np.uint8)
        Image.fromarray(ramp // 2 + noise + i).save(folder / name)
        rows.append({"path": name, "label": label, "kind": kind, "group": name})
    if broken:
        (folder / "broken.png").write_bytes(b"not an image at all")
        rows.append({"path": "broken.png", "label": "safe", "kind": "object", "group": "broken"})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "kind", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def _fake_scorer(calls: list[str]) -> Scorer:
    """Decodes like ours (so a bad file fails), scores from the table, blocks at 0.5."""

    def build() -> Callable[[Path], Record]:
        def score(path: Path) -> Record:
            calls.append(path.name)
            load_image(path)
            s = SCORES[path.name]
            return {"score": s, "blocked": s >= 0.5, "ms": 2.0}

        return score

    return Scorer("fake", "v1", build)


def _run(manifest: Path, out: Path, scorer: Scorer, *extra: str) -> int:
    args = build_parser().parse_args(
        ["eval", str(manifest), "--out", str(out), "--workers", "1", "--no-progress", *extra]
    )
    return run_eval(args, scorers=[scorer])


def test_report_files_and_hand_computed_metrics(tmp_path: Path) -> None:
    calls: list[str] = []
    assert _run(_write_manifest(tmp_path), tmp_path / "out", _fake_scorer(calls)) == 0
    out = tmp_path / "out"
    for name in ("report.md", "report.html", "metrics.json", "roc.png", "pr.png", "recall_at_fb.png"):
        assert (out / name).stat().st_size > 0, name
    doc = json.loads((out / "metrics.json").read_text("utf-8"))
    assert doc["schema_version"] == 1
    fake = doc["configurations"]["fake"]
    # AUC: 0.9 and 0.8 beat all 6 safe, 0.6 and 0.3 beat 5 of 6 (not 0.7): 22 / 24.
    assert fake["auc"] == pytest.approx(22 / 24)
    # 6 safe images: 0.5%, 1% and 5% all allow floor(rate * 6) = 0 false blocks -> threshold 0.8, recall 2/4.
    for point in fake["at_false_block_rate"]:
        assert (point["threshold"], point["recall"], point["false_blocks"]) == (0.8, 0.5, 0)
    assert {k: fake["confusion"][k] for k in ("tp", "fp", "tn", "fn")} == {"tp": 3, "fp": 1, "tn": 5, "fn": 1}
    assert fake["recall_by_kind"] == {"painting": [2, 2], "sculpture": [1, 2]}
    assert [(Path(r["path"]).name, r["score"]) for r in fake["misses"]] == [("p3.png", 0.3)]
    assert [(Path(r["path"]).name, r["score"]) for r in fake["false_blocks"]] == [("s3.png", 0.7)]
    assert fake["speed"]["ms_median"] == 2.0
    assert "| fake | 0.917 |" in (out / "report.md").read_text("utf-8")
    assert "src='http" not in (out / "report.html").read_text("utf-8")


def test_cache_makes_a_second_run_call_no_scorer(tmp_path: Path) -> None:
    manifest, calls = _write_manifest(tmp_path), []
    assert _run(manifest, tmp_path / "out", _fake_scorer(calls)) == 0
    assert sorted(calls) == sorted(ROWS)
    calls.clear()
    assert _run(manifest, tmp_path / "out", _fake_scorer(calls)) == 0
    assert calls == []
    again = json.loads((tmp_path / "out" / "metrics.json").read_text("utf-8"))
    assert again["configurations"]["fake"]["auc"] == pytest.approx(22 / 24)


def test_bad_files_are_error_rows_not_crashes(tmp_path: Path) -> None:
    assert _run(_write_manifest(tmp_path, broken=True), tmp_path / "out", _fake_scorer([])) == 0
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text("utf-8"))
    assert [Path(e["path"]).name for e in doc["errors"]] == ["broken.png"]
    assert doc["stills"] == len(ROWS)
    assert "broken.png" in (tmp_path / "out" / "report.md").read_text("utf-8")


def test_thumbnails_never_embed_a_nudity_row(tmp_path: Path) -> None:
    assert _run(_write_manifest(tmp_path), tmp_path / "out", _fake_scorer([]), "--thumbnails") == 0
    page = (tmp_path / "out" / "report.html").read_text("utf-8")
    titles = re.findall(r"<img title='([^']+)' src='data:image/jpeg", page)
    assert titles, "the blocked safe image should be shown"
    assert all(ROWS[Path(t).name][0] == "safe" for t in titles)


def test_bad_manifest_and_unwritable_out_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nmissing.png,maybe\n", "utf-8")
    assert main(["eval", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "captureguard eval:" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("", "utf-8")
    assert _run(_write_manifest(tmp_path), blocker / "out", _fake_scorer([])) == 2
    assert "cannot write the output directory" in capsys.readouterr().err


@pytest.mark.models
def test_real_run_on_bundled_stills(tmp_path: Path) -> None:
    from captureguard.samples import bundled_samples

    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "kind", "group"])
        writer.writerows([str(s.path), s.label, s.kind, s.path.stem] for s in bundled_samples())
    out = tmp_path / "out"
    assert main(["eval", str(manifest), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    report = (out / "report.md").read_text("utf-8")
    headline = report.split("## Headline")[1].split("\n\n")[1]
    for name in ("ours:fused", "profile:child", "profile:child:flagged", "ref:nudenet", "ref:opennsfw", "ours:nudenet"):
        assert f"| {name} |" in headline
    doc = json.loads((out / "metrics.json").read_text("utf-8"))
    assert doc["errors"] == []
    assert doc["configurations"]["profile:child"]["positives"] == 5
