"""Coverage and fairness tables (pure functions with fake items) and ``eval --coverage/--perturbations``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captureguard.cli.eval import run_eval
from captureguard.cli.main import build_parser
from captureguard.evaluation import coverage as cov
from captureguard.evaluation.manifest import Item
from captureguard.evaluation.render import coverage_blocks, perturbation_blocks, to_markdown
from captureguard.evaluation.report import coverage_metrics, perturbation_metrics
from captureguard.evaluation.runner import Record, Score, Scorer, StillResult

CHILD = "profile:child"


def _item(label: str, kind: str, side: int | None, blocked: bool, **attributes: str) -> cov.CoverageItem:
    return cov.CoverageItem(label, kind, side, {CHILD: blocked}, attributes)


@pytest.mark.parametrize(
    ("kind", "people", "family"),
    [
        ("face_closeup", True, "photos of people"),
        ("portrait", True, "photos of people"),
        ("people_beach", True, "photos of people"),
        ("person_musician", True, "photos of people"),
        ("shirtless_sports", True, "photos of people"),
        ("clothing_flatlay", False, "clothing"),
        ("art_shirtless_loincloth", False, "art"),
        ("sculpture_draped", False, "art"),
        ("poster_illustration", False, "art"),
        ("food_skin_tone", False, "other"),
        ("peoplewatching", False, "other"),  # the prefix is "people_", not "people"
        ("video_people", False, "other"),
    ],
)
def test_people_photos_and_safe_families(kind: str, people: bool, family: str) -> None:
    assert cov.is_people_photo(kind) is people
    assert cov.safe_family(kind) == family


@pytest.mark.parametrize(
    ("side", "expected"),
    [(1, cov.THUMBNAIL), (224, cov.THUMBNAIL), (256, cov.THUMBNAIL), (257, cov.FULL_SIZE), (None, cov.UNKNOWN_SIZE)],
)
def test_thumbnail_is_short_side_at_most_256(side: int | None, expected: str) -> None:
    assert cov.size_class(side) == expected


DEV = [
    _item("nudity", "painting", 224, True),
    _item("nudity", "painting", 224, False),
    _item("nudity", "painting", 1024, True),
    _item("nudity", "drawing", 800, False),
    _item("nudity", "sculpture_photo", 224, True),
    _item("safe", "face_closeup", 200, True),
    _item("safe", "face_closeup", 640, False),
    _item("safe", "portrait", 640, False),
    _item("safe", "clothing_flatlay", 300, True),
    _item("safe", "landscape", None, False),
]


def _rows(items: list[cov.CoverageItem]) -> dict[tuple[str, str], tuple[object, object]]:
    return {
        (r["section"], r["group"]): (r["nudity"][CHILD], r["safe"][CHILD]) for r in cov.development_rows(items, [CHILD])
    }


def test_development_rows_by_kind_size_and_family() -> None:
    rows = _rows(DEV)
    assert rows[("all", "all stills")] == ((3, 5), (2, 5))
    assert rows[("kind", "painting")] == ((2, 3), None)
    assert rows[("kind", "drawing")] == ((0, 1), None)
    assert rows[("kind", "sculpture_photo")] == ((1, 1), None)
    assert ("kind", "face_closeup") not in rows  # safe kinds are summarised by family
    assert rows[("size", cov.THUMBNAIL)] == ((2, 3), (1, 1))
    assert rows[("size", cov.FULL_SIZE)] == ((1, 2), (1, 3))
    assert rows[("size", cov.UNKNOWN_SIZE)] == (None, (0, 1))
    assert rows[("kind and size", f"painting, {cov.THUMBNAIL}")] == ((1, 2), None)
    assert rows[("kind and size", f"painting, {cov.FULL_SIZE}")] == ((1, 1), None)
    assert rows[("safe family", "photos of people")] == (None, (1, 3))
    assert rows[("safe family", "clothing")] == (None, (1, 1))
    assert rows[("safe family", "other")] == (None, (0, 1))
    assert rows[("safe family", f"photos of people, {cov.THUMBNAIL}")] == (None, (1, 1))
    assert ("safe family", "art") not in rows


def test_a_configuration_that_did_not_decide_is_not_counted() -> None:
    items = [*DEV, cov.CoverageItem("nudity", "painting", 224, {"other": True})]
    assert _rows(items)[("kind", "painting")] == ((2, 3), None)


SYNTHETIC_ROW = {
    "path": "images/body_00010_front_swimwear_203_cam.jpg",
    "kind": "synthetic_swimwear_cam",
    "title": "CG adult female, standing, front view, close-up, swimwear",
    "notes": "skin tone 2 of 0 (lightest) to 7 (darkest); age ~56.1 y; label map x_label.png",
}


def test_attributes_read_from_the_synthetic_manifest_format() -> None:
    assert cov.attributes_of(SYNTHETIC_ROW) == {
        "variant": "swimwear",
        "copy": "camera-degraded",
        "skin_tone": "2",
        "sex": "female",
        "view": "front",
        "distance": "close-up",
        "pose": "standing",
    }
    clean = cov.attributes_of(
        {
            **SYNTHETIC_ROW,
            "kind": "synthetic_nude",
            "title": "CG adult male, sitting, threequarter view, full body, nude",
        }
    )
    assert (clean["variant"], clean["copy"], clean["sex"], clean["view"], clean["pose"], clean["distance"]) == (
        "nude",
        "clean render",
        "male",
        "threequarter",
        "sitting",
        "full body",
    )


def test_explicit_attribute_columns_win_and_plain_rows_have_none() -> None:
    assert cov.attributes_of({**SYNTHETIC_ROW, "skin_tone": "5", "view": "back"})["skin_tone"] == "5"
    assert cov.attributes_of({**SYNTHETIC_ROW, "skin_tone": "5", "view": "back"})["view"] == "back"
    assert cov.attributes_of({"path": "a.jpg", "kind": "painting", "title": "Olympia", "notes": ""}) == {}


def test_coverage_tables_variant_by_attribute() -> None:
    items = [
        _item("nudity", "synthetic_nude", 512, True, variant="nude", skin_tone="10", copy="clean render"),
        _item("nudity", "synthetic_nude_cam", 512, False, variant="nude", skin_tone="2", copy="camera-degraded"),
        _item("safe", "synthetic_swimwear", 512, True, variant="swimwear", skin_tone="2", copy="clean render"),
        _item("safe", "synthetic_clothed", 512, False, variant="clothed", skin_tone="2", copy="clean render"),
        _item("safe", "synthetic_clothed", 512, True, variant="clothed", copy="clean render"),  # tone unknown
    ]
    tables = {t["attribute"]: t for t in cov.coverage_tables(items, CHILD)}
    assert list(tables) == ["variant", "copy", "skin_tone"]
    assert tables["variant"]["variants"] == ["nude", "swimwear", "clothed"]
    assert tables["variant"]["rows"] == [
        {"value": "all", "cells": {"nude": (1, 2), "swimwear": (1, 1), "clothed": (1, 2)}}
    ]
    tones = tables["skin_tone"]["rows"]
    assert [r["value"] for r in tones] == ["2", "10"]  # numeric order, not text order
    assert tones[0]["cells"] == {"nude": (0, 1), "swimwear": (1, 1), "clothed": (0, 1)}
    assert tones[1]["cells"] == {"nude": (1, 1)}
    copies = {r["value"]: r["cells"] for r in tables["copy"]["rows"]}
    assert copies["camera-degraded"] == {"nude": (0, 1)}


def _still(path: str, label: str, kind: str, scores: dict[str, Score]) -> StillResult:
    item = Item(Path(path), label, kind, path, False, (), 0)  # type: ignore[arg-type]
    return StillResult(item, "0" * 64, scores)


def _s(score: float, blocked: bool | None) -> Score:
    return Score(score, blocked, 1.0)


def test_coverage_metrics_fit_a_threshold_on_development_rows_only() -> None:
    """A configuration without a shipped decision is thresholded at 1% false blocks on the dev rows;
    the coverage rows (here all scoring high) must not move that threshold."""
    dev = [_still(f"p{i}", "nudity", "painting", {"x": _s(0.6 + i / 100, None)}) for i in range(3)]
    dev += [_still(f"s{i}", "safe", "portrait", {"x": _s(i / 100, None)}) for i in range(10)]
    cover = [_still(f"c{i}", "safe", "synthetic_clothed", {"x": _s(0.5, None)}) for i in range(5)]
    doc = coverage_metrics(dev, cover, attributes={Path("c0"): {"skin_tone": "3"}}, short_side=lambda p: 224)
    assert doc["configurations"] == ["x"]
    assert doc["decisions"] == {"x": "score >= 0.6"}
    assert doc["coverage_stills"] == 5
    assert doc["development"][0]["nudity"]["x"] == (3, 3)
    tables = doc["coverage_sets"]["x"]
    assert tables[0]["rows"][0]["cells"] == {"safe": (0, 5)}
    assert tables[1] == {
        "attribute": "skin_tone",
        "variants": ["safe"],
        "rows": [{"value": "3", "cells": {"safe": (0, 1)}}],
    }
    text = to_markdown(coverage_blocks(doc))
    assert "## Coverage and fairness" in text and "Coverage sets: x" in text and "| 3 | 0/1 (0.0%) |" in text


def test_perturbation_metrics_report_cost_and_people_false_blocks() -> None:
    def still(path: str, label: str, kind: str, clean: bool, perturbed: bool | None) -> StillResult:
        scores = {CHILD: _s(0.0, clean)}
        if perturbed is not None:
            scores["perturb:moire"] = _s(0.0, perturbed)
        return _still(path, label, kind, scores)

    stills = [
        still("p1", "nudity", "painting", True, True),
        still("p2", "nudity", "painting", True, False),
        still("p3", "nudity", "painting", False, False),
        still("p4", "nudity", "painting", True, True),
        still("f1", "safe", "face_closeup", False, True),
        still("f2", "safe", "portrait", False, False),
        still("c1", "safe", "clothing_flatlay", True, False),
        still("x1", "safe", "clothing_flatlay", True, None),  # not perturbed: left out of both sides
    ]
    moire = perturbation_metrics(stills)["moire"]
    assert (moire["positives"], moire["negatives"]) == (4, 3)
    assert (moire["clean_recall"], moire["recall"]) == (0.75, 0.5)
    assert moire["recall_drop"] == pytest.approx(0.25)
    assert (moire["clean_false_blocks"], moire["false_blocks"], moire["false_blocks_change"]) == (1, 1, 0)
    assert (moire["clean_people"], moire["people"]) == ([0, 2], [1, 2])
    text = to_markdown(perturbation_blocks(perturbation_metrics(stills)))
    assert "| moire | 4 / 3 | 75.0% -> 50.0% | -25.0 | 1/3 (33.3%) -> 1/3 (33.3%) | 0/2 (0.0%) -> 1/2 (50.0%) |" in text
    assert "Safe stills re-checked: every one." in text
    people_only = to_markdown(perturbation_blocks(perturbation_metrics(stills), "people"))
    assert "| moire | 4 / 3 | 75.0% -> 50.0% | -25.0 | 0/2 (0.0%) -> 1/2 (50.0%) |" in people_only
    assert "the photos of people only" in people_only


# End to end through run_eval with fake scorers (no model).
DEV_ROWS = {
    "p1.png": ("nudity", "painting", 0.9, 224),
    "p2.png": ("nudity", "painting", 0.3, 400),
    "f1.png": ("safe", "face_closeup", 0.6, 300),
    "f2.png": ("safe", "portrait", 0.1, 300),
    "c1.png": ("safe", "clothing_flatlay", 0.2, 300),
}
SYN_ROWS = {
    "n_render.png": ("nudity", "synthetic_nude", 0.95, "0"),
    "n_cam.png": ("nudity", "synthetic_nude_cam", 0.2, "0"),
    "w_render.png": ("safe", "synthetic_swimwear", 0.7, "7"),
}
SCORES = {n: r[2] for n, r in {**DEV_ROWS, **SYN_ROWS}.items()}


def _image(path: Path, side: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (side, side + 10, 3), dtype=np.uint8)).save(path)


def _manifests(folder: Path) -> tuple[Path, Path]:
    (folder / "syn").mkdir()
    dev, syn = folder / "dev.csv", folder / "syn" / "manifest.csv"
    with dev.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "kind", "group"])
        for i, (name, (label, kind, _, side)) in enumerate(DEV_ROWS.items()):
            _image(folder / name, side, i)
            writer.writerow([name, label, kind, name])
    with syn.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "kind", "group", "title", "notes"])
        for i, (name, (label, kind, _, tone)) in enumerate(SYN_ROWS.items()):
            _image(folder / "syn" / name, 64, 10 + i)
            writer.writerow(
                [name, label, kind, "body", "CG adult male, walking, side view, full body, x", f"skin tone {tone}"]
            )
    return dev, syn


def _scorer(name: str, calls: list[str], shift: float = 0.0) -> Scorer:
    def build() -> Callable[[Path], Record]:
        def score(path: Path) -> Record:
            calls.append(path.name)
            s = SCORES[path.name] - shift
            return {"score": s, "blocked": s >= 0.5, "ms": 1.0}

        return score

    return Scorer(name, "v1", build)


def test_eval_coverage_manifest_stays_out_of_the_headline(tmp_path: Path) -> None:
    dev, syn = _manifests(tmp_path)
    calls: list[str] = []
    perturbed: list[str] = []
    options = ["--out", str(tmp_path / "out"), "--workers", "1", "--no-progress", "--perturb-safe", "people"]
    args = build_parser().parse_args(["eval", str(dev), "--coverage", str(syn), *options, "--no-videos"])
    scorers = [_scorer(CHILD, calls), _scorer("perturb:moire", perturbed, shift=0.5)]
    assert run_eval(args, scorers=scorers) == 0
    assert sorted(calls) == sorted([*DEV_ROWS, *SYN_ROWS])
    assert sorted(perturbed) == ["f1.png", "f2.png", "p1.png", "p2.png"]  # nudity + people photos, no clothing
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text("utf-8"))
    child = doc["configurations"][CHILD]
    assert (child["images"], child["positives"], child["negatives"]) == (5, 2, 3)  # no synthetic row
    assert doc["coverage"]["coverage_stills"] == 3
    tables = {t["attribute"]: t for t in doc["coverage"]["coverage_sets"][CHILD]}
    assert tables["variant"]["rows"][0]["cells"] == {"nude": [1, 2], "swimwear": [1, 1]}
    assert {r["value"]: r["cells"] for r in tables["copy"]["rows"]}["camera-degraded"] == {"nude": [0, 1]}
    rows = {(r["section"], r["group"]): r for r in doc["coverage"]["development"]}
    assert rows[("size", cov.THUMBNAIL)]["nudity"][CHILD] == [1, 1]
    assert rows[("safe family", "photos of people")]["safe"][CHILD] == [1, 2]
    moire = doc["perturbations"]["moire"]
    assert (moire["positives"], moire["negatives"], moire["recall"], moire["clean_recall"]) == (2, 2, 0.0, 0.5)
    report = (tmp_path / "out" / "report.md").read_text("utf-8")
    assert "## Coverage and fairness" in report and "## Camera conditions (--perturb)" in report
    assert (tmp_path / "out" / "coverage.png").stat().st_size > 0
    assert "coverage.png" in report


def test_perturbations_option_selects_and_validates(capsys: pytest.CaptureFixture[str]) -> None:
    from captureguard.evaluation.configs import default_scorers

    args = build_parser().parse_args(["eval", "m.csv", "--perturbations", "moire,text_overlay"])
    assert args.perturbations == ["moire", "text_overlay"]
    names = [s.name for s in default_scorers(configs=["ours"], perturbations=args.perturbations)]
    assert names == ["ours", "perturb:moire", "perturb:text_overlay"]
    everything = [s.name for s in default_scorers(configs=["ours"], perturb=True)]
    for needed in ("motion_blur", "defocus", "low_light", "moire", "text_overlay"):
        assert f"perturb:{needed}" in everything
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "m.csv", "--perturbations", "moire,wobble"])
    assert "unknown perturbation(s) wobble" in capsys.readouterr().err
