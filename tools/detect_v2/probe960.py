"""Experiment (not shipped): both probes fitted on open_nsfw features with people found at 960.

The shipped probes are fitted on the photo variant's features with the person detector at 640
(``probe.py``). Here the same grouped CV fits them on the ``photo960`` variant instead (people at
960, top crop of 6), on the clean and perturbed copies and (scene probe) the scene copies, then
fits the heads with the photo path at 960 (``fit_heads.py --photo-people 960``) on those out-of-fold
scores and scores the synthetic renders with the probes and photo head fitted on all data.
Everything is written under ``$CG_V2_CACHE/probe960/`` (OOF scores, fold heads, heads, probes)
and ``bench/results/detect_v2_probe960*.md``; the shipped models, their fold files and the
shipped reports are not touched.

    .venv/bin/python tools/detect_v2/views.py --views pose960,crops960        # once
    .venv/bin/python tools/detect_v2/probe960.py                               # ~15 min once features exist
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from tools.detect_v2 import evaluate, fit_heads, probe, scenes

OUT = probe.CACHE.parent / "probe960"
TRAIN = "photo960"
REPORTS = fit_heads.ROOT / "bench" / "results"


def fit_probes() -> None:
    """Grouped CV of both probes fitted on ``TRAIN`` inputs: OOF scores for every variant, and the
    probes fitted on all rows (``probe.npz``, ``probe_scene.npz``)."""

    from tools.calibrate_fusion import read_manifest

    items = read_manifest(probe.DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    copies = ("clean", *probe.PERTURBATIONS)
    feats = {z: {p: probe.pooled(items, p, z) for p in copies} for z in (640, 960)}
    x: dict[tuple[str, str], np.ndarray] = {}
    for m, (z, k) in probe.MAX_CROPS.items():
        for p in copies:
            if z in feats:
                x[(p, m)] = probe.matrix(feats[z][p], k)
            elif p == "clean":
                x[(p, m)] = probe.matrix(probe.pooled(items, p, z), k)
    plan = scenes.plan(items, d)
    srecs = {z: scenes.get(items, plan, people=z) for z in {z for z, _ in probe.MAX_CROPS.values()}}
    src = np.array([s.item for s in plan])
    sx = {m: probe.matrix(srecs[z], k) for m, (z, k) in probe.MAX_CROPS.items()}
    oof, _, _ = probe.grouped_cv(d, x, sx, src, list(copies), train=TRAIN)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(
        OUT / "oof.npz",
        sha=np.array([it.sha256 for it in items]),
        scene_item=src,
        scene_area=np.array([s.area for s in plan]),
        **oof,
    )
    for prefix, with_scenes in probe.VARIANTS.items():
        w, b = probe.fit_all(d, x, sx, src, list(copies), with_scenes=with_scenes, train=TRAIN)
        np.savez(OUT / f"probe{'_scene' if prefix else ''}.npz", w=w, b=b)


def fit_and_report() -> None:
    """``fit_heads.py --photo-people 960 --write`` on these OOF scores, writing under ``OUT``."""
    probe.OOF = OUT / "oof.npz"
    fit_heads.FOLD_HEADS = OUT / "fold_heads.json"
    fit_heads.DATA = OUT
    fit_heads.ROOT = OUT  # its report lands in OUT/bench/results
    (OUT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    argv, sys.argv = sys.argv, ["fit_heads.py", "--photo-people", "960", "--write"]
    try:
        fit_heads.main()
    finally:
        sys.argv = argv
    (REPORTS / "detect_v2_probe960.md").write_text(
        "Experiment, not shipped: `.venv/bin/python tools/detect_v2/probe960.py` (probes fitted on people-at-960"
        " features; photo path at 960)\n\n" + (OUT / "bench" / "results" / "detect_v2.md").read_text(),
        encoding="utf-8",
    )


def synthetic() -> None:
    """The synthetic renders through the experiment's photo head and all-data probes."""
    from captureguard.core import probe as core_probe
    from captureguard.core.fusion import FusionModel
    from tools.detect_v2 import synthetic as synthetic_tool

    w, ws = np.load(OUT / "probe.npz"), np.load(OUT / "probe_scene.npz")

    def load_probe(*_: object, shipped: object = None, **__: object) -> core_probe.LinearProbe:
        z = ws if shipped is core_probe.SHIPPED_SCENE else w
        return core_probe.LinearProbe(z["w"], float(z["b"]), "probe960-experiment")

    def load_head(path: object = None, *, mode: str | None = None) -> FusionModel:
        return FusionModel.from_mapping(json.loads((OUT / f"fusion_{mode}.json").read_text()))

    core_probe.LinearProbe.load = load_probe  # type: ignore[assignment,method-assign]
    FusionModel.load = load_head  # type: ignore[assignment,method-assign]
    fit_heads.MODES = {"photo": fit_heads.modes(640, 960)["photo"]}
    command = ".venv/bin/python tools/detect_v2/probe960.py (experiment)"
    synthetic_tool.main(REPORTS / "detect_v2_probe960_synthetic.md", command)


if __name__ == "__main__":
    fit_probes()
    fit_and_report()
    synthetic()
