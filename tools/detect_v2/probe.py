"""Fit the linear probe on open_nsfw's pooled features (whole image + top person crop).

1. Features: every dev still (and perturbed copies: motion blur, defocus, low light, moire, text
   overlay) through the shipped :class:`~captureguard.models.probe.NsfwProbeDetector` feature path
   (the same people, crops and open_nsfw pass as at run time), cached per (sha256, perturbation)
   under ``$CG_V2_CACHE/probe``.
2. Grouped CV (``fit_heads``' 67 folds: one per positive group, a group never split; ~12 min on
   2 cores. Merged into 10 folds the recall estimate drops from 61 to 54 of 74: with 74
   positives, every one held out costs the probe): per fold a
   standardised L2 logistic regression (scikit-learn, build time only) on the training folds'
   clean and perturbed copies; out-of-fold (OOF) probabilities for every still, clean and
   perturbed, with the top crop among 6 (photo) and among 2 (live) people. ``fit_heads.py`` stacks
   these OOF scores with the other views (so the head never sees a probe score of a still the probe
   was fitted on).
3. The **scene probe**, fitted the same way with scene copies added (``scenes.py``: every still
   pasted at 10-50% of a 1280x720 frame over a safe still of its own fold), learns a small artwork
   inside a camera frame (the leak clips' failure mode). One probe cannot do both: with the scenes
   in, stills recall fell (probe alone, photo: 60 -> 56 of 74) and perturbed stills fell further
   (motion blur 47 -> 33), so both ship and the heads weigh them. OOF scores of stills and scenes
   for both are kept for the heads (``oof.npz``; keys ``<variant>/<copy>``, ``scene:`` for the
   scene probe), and the per-fold probes for the held-out leak benchmark (``folds*.npz``).
4. The shipped probes: fitted on all rows, standardisation folded into the weights (``--write``).
   Two pairs (:data:`SETS`), each with its own OOF scores and fold files: the live path's
   (``probe_open_nsfw.json``, ``probe_open_nsfw_scene.json``), fitted on the features of people
   found at 640, and the photo path's (``probe_open_nsfw_photo*.json``), fitted on people found at
   960. One pair fitted at 960 and shared gave the photo path 67 of 74 but the live path 61 instead
   of 62 (and fewer small scenes), so each path reads the pair fitted on its own input.

    .venv/bin/python tools/detect_v2/views.py --views pose960,crops960      # once (the photo pair)
    .venv/bin/python tools/detect_v2/probe.py [--write] [--set live|photo]  # ~4 min per pair once features are cached
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.probe import LinearProbe, probe_features
from captureguard.models.probe import nsfw_probe_detector
from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, auc, load_frame, read_manifest
from tools.detect_v2 import evaluate, locator, scenes

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "probe"
OUT = ROOT / "src" / "captureguard" / "data" / "probe_open_nsfw.json"
OOF = CACHE / "oof.npz"
#: the per-fold probes (fitted without that fold's stills and scenes): held-out leak clips
FOLDS = CACHE / "folds.npz"
FOLDS_SCENE = CACHE / "folds_scene.npz"
OUT_SCENE = OUT.with_name("probe_open_nsfw_scene.json")


@dataclass(frozen=True)
class ProbeSet:
    """A pair of probes (the probe and the scene probe) fitted on one input variant, and its files."""

    train: str  #: the :data:`MAX_CROPS` variant whose inputs (every copy, and scenes) it is fitted on
    out: Path  #: the shipped probe
    out_scene: Path  #: the shipped scene probe
    oof: Path  #: OOF scores of every variant's inputs
    folds: Path  #: per-fold probes (held-out leak benchmark, robust.py)
    folds_scene: Path
    tag: str = ""  #: version suffix
    #: three-block probes: the locator's outer crop beside the frame and the top crop (the live pair
    #: since v2.7; ``locator.OUTER``)
    outer: bool = False

    def version(self, *, scene: bool) -> str:
        return f"probe-open_nsfw-pool{'-scene' if scene else ''}{self.tag}-v1"

    def shipped(self) -> tuple[LinearProbe, LinearProbe]:
        """The shipped pair (probe, scene probe)."""
        return LinearProbe.load(self.out), LinearProbe.load(self.out_scene)


#: the shipped pairs: the live path's (people at 640), the photo path's (people at 960)
SETS = {
    "live": ProbeSet(
        "photo+pic",
        OUT,
        OUT_SCENE,
        OOF,
        FOLDS,
        FOLDS_SCENE,
        "-picture14outer" + ("-gated" if locator.GATE else ""),  # crops of a gated locator: other probes
        outer=True,
    ),
    "photo": ProbeSet(
        "photo960",
        OUT.with_name("probe_open_nsfw_photo.json"),
        OUT.with_name("probe_open_nsfw_photo_scene.json"),
        CACHE / "oof_photo.npz",
        CACHE / "folds_photo.npz",
        CACHE / "folds_photo_scene.npz",
        "-people960",
    ),
}
#: OOF key prefix -> fitted with the scene copies: "" the probe (stills and their perturbed
#: copies), "scene:" the scene probe (the same plus every still pasted small into a frame)
VARIANTS = {"": False, "scene:": True}
#: perturbed copies added to training (camera conditions the issue names)
PERTURBATIONS = ("motion_blur", "defocus", "low_light", "moire", "text_overlay")
#: inverse L2 strength on standardised features (grouped CV: 0.003-0.01 reach the same recall)
C = 0.01
#: probe input variant -> (person detector input size, top crop among this many people); "first":
#: the whole image only; "live320"/"live480": a faster live path's smaller person detector;
#: "photo960": the photo path with the person detector at 960 (smaller figures; fit_heads.py --photo-people)
MAX_CROPS = {
    "photo": (640, 6),
    "live": (640, 2),
    "first": (640, 0),
    "live320": (320, 2),
    "live480": (480, 2),
    "photo960": (960, 6),
    "photo+pic": (640, 6),
    "live+pic": (640, 2),
}
#: input variants whose candidates are the people's crops and the picture locator's crop
#: (``locator.py``; the probe reads the top-scored candidate): the live path since v2.5
PICTURE = frozenset({"photo+pic", "live+pic"})
#: the feature path only: its probe value is never read here
UNFITTED = LinearProbe(np.zeros(2048), 0.0, "unfitted")


def pooled(items: list[Item], pert: str, size: int = 640) -> list[dict[str, np.ndarray]]:
    """Per item: ``p`` (1+k) open_nsfw probabilities and ``e`` (1+k, 1024) pooled features, k <= 6
    (people found by the person detector at input ``size``)."""
    from tqdm import tqdm

    from captureguard.evaluation.perturb import PERTURBATIONS as PERTURB

    folder = CACHE / (pert if size == 640 else f"{pert}@{size}")
    folder.mkdir(parents=True, exist_ok=True)
    det = None
    out = []
    for it in tqdm(items, desc=f"features ({pert}, people {size})", unit="img", mininterval=10):
        f = folder / f"{it.sha256[:24]}.pkl"
        if not f.exists():
            det = det or nsfw_probe_detector(input_size=size, max_crops=6, probe=UNFITTED)
            bgr = np.asarray(load_frame(it.path).bgr)
            if pert != "clean":
                bgr = np.ascontiguousarray(PERTURB[pert](bgr))
            probs, feats, _ = det.features(bgr, det.people.detect_bgr(bgr).xyxy)
            f.write_bytes(pickle.dumps({"p": probs.astype(np.float32), "e": feats.astype(np.float32)}))
        out.append(pickle.loads(f.read_bytes()))
    return out


def matrix(
    recs: list[dict[str, np.ndarray]], k: int, picture: dict[str, np.ndarray] | None = None, *, outer: bool = False
) -> np.ndarray:
    """Probe inputs with the top crop chosen among the first ``k`` (strongest) people, and the
    located picture's crop when ``picture`` (``locator.located``, one row per record) has one. With
    ``outer`` (a three-block pair) the locator's outer crop follows (``picture``'s ``e2``), the whole
    image's features where there is none (no picture, or no ``picture``), as at run time."""
    out = []
    for i, r in enumerate(recs):
        crops = r["p"][1 : 1 + k]
        third = None
        if outer:
            e2 = picture["e2"][i] if picture is not None else None
            third = r["e"][0] if e2 is None or np.isnan(e2).any() else e2
        if picture is None or np.isnan(picture["p"][i]):
            out.append(probe_features(r["e"], crops, third))
        else:
            pooled = np.vstack([r["e"][: 1 + len(crops)], picture["e"][i][None]])
            out.append(probe_features(pooled, np.append(crops, picture["p"][i]), third))
    return np.stack(out)


def inputs(
    items: list[Item],
    copies: list[str],
    *,
    perturbed_sizes: bool,
    pictures: Callable[[str], dict[str, np.ndarray]] | None = None,
    outer: bool = False,
) -> dict[tuple[str, str], np.ndarray]:
    """Probe inputs per (copy, variant): every copy at the people sizes a pair is fitted on
    (:data:`SETS`), the other sizes for the clean copy only unless ``perturbed_sizes``; the
    :data:`PICTURE` variants only with ``pictures`` (copy -> ``locator.located``); ``outer``: the
    three-block inputs of an outer pair (:func:`matrix`)."""
    trained = {MAX_CROPS[s.train][0] for s in SETS.values()}
    by_size = {
        (p, z): pooled(items, p, z)
        for z in sorted({z for z, _ in MAX_CROPS.values()})
        for p in copies
        if p == "clean" or perturbed_sizes or z in trained
    }
    return {
        (p, m): matrix(by_size[(p, z)], k, pictures(p) if m in PICTURE and pictures else None, outer=outer)
        for p in copies
        for m, (z, k) in MAX_CROPS.items()
        if (p, z) in by_size and (m not in PICTURE or pictures)
    }


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardised L2 logistic regression, returned in raw feature units ``(weights, intercept)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(x)
    lr = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit(sc.transform(x), y)
    w = lr.coef_[0] / sc.scale_
    return w, float(lr.intercept_[0] - (sc.mean_ * w).sum())


def grouped_cv(
    d: evaluate.Data,
    x: dict[tuple[str, str], np.ndarray],
    sx: dict[str, np.ndarray],
    src: np.ndarray,
    copies: list[str],
    *,
    train: str = "photo",
) -> tuple[dict[str, np.ndarray], dict[tuple[str, int], np.ndarray], dict[tuple[str, int], float]]:
    """Grouped CV of both probe variants (:data:`VARIANTS`), each fold's probes fitted on the other
    folds' ``train`` inputs (every copy in ``copies``; the scene probe also on their scene copies,
    ``sx``, pasted stills ``src``): ``(OOF probabilities per "<variant><input>/<copy>" and
    "<variant><input>/scene", fold weights, fold intercepts)``, the folds keyed ``(variant, fold)``."""
    from tqdm import tqdm

    sy, sfolds = d.y[src], d.folds[src]
    oof: dict[str, np.ndarray] = {}
    fold_w: dict[tuple[str, int], np.ndarray] = {}
    fold_b: dict[tuple[str, int], float] = {}
    for f in tqdm(np.unique(d.folds), desc=f"grouped CV (probes fitted on {train})", unit="fold"):
        test, stest = d.folds == f, sfolds == f
        for prefix, with_scenes in VARIANTS.items():
            xs = np.vstack([x[(p, train)][~test] for p in copies] + ([sx[train][~stest]] if with_scenes else []))
            ys = np.concatenate([np.tile(d.y[~test], len(copies))] + ([sy[~stest]] if with_scenes else []))
            w, b = fit(xs, ys)
            fold_w[(prefix, int(f))], fold_b[(prefix, int(f))] = w, b
            for (p, m), xx in x.items():
                oof.setdefault(f"{prefix}{m}/{p}", np.zeros(len(d.y)))[test] = sigmoid(xx[test] @ w + b)
            for m, xx in sx.items():
                oof.setdefault(f"{prefix}{m}/scene", np.zeros(len(src)))[stest] = sigmoid(xx[stest] @ w + b)
    return oof, fold_w, fold_b


def fit_all(
    d: evaluate.Data,
    x: dict[tuple[str, str], np.ndarray],
    sx: dict[str, np.ndarray],
    src: np.ndarray,
    copies: list[str],
    *,
    with_scenes: bool,
    train: str = "photo",
) -> tuple[np.ndarray, float]:
    """One probe fitted on every row of ``train`` (the shipped fit; :func:`grouped_cv`'s inputs)."""
    return fit(
        np.vstack([x[(p, train)] for p in copies] + ([sx[train]] if with_scenes else [])),
        np.concatenate([np.tile(d.y, len(copies))] + ([d.y[src]] if with_scenes else [])),
    )


def scene_line(s: np.ndarray, y: np.ndarray, area: np.ndarray, t: float) -> str:
    """Scene copies at threshold ``t``: nude ones caught per area, safe ones blocked."""
    per = ", ".join(
        f"{a:.0%} {int((s[(y == 1) & (area == a)] >= t).sum())}/{int(((y == 1) & (area == a)).sum())}"
        for a in scenes.POSITIVE_AREAS
    )
    return f"scenes (OOF): nude caught {per}; safe blocked {int((s[y == 0] >= t).sum())}/{int((y == 0).sum())}"


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-np.clip(z, -500, 500))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--write", action="store_true", help="write the shipped probe files of the pairs fitted")
    ap.add_argument("--set", choices=sorted(SETS), action="append", help="fit only this pair (default: both)")
    ap.add_argument(
        "--perturbed-sizes", action="store_true", help="perturbed copies' features for the other people sizes too"
    )
    args = ap.parse_args()
    items = read_manifest(args.manifest)
    d = evaluate.Data.of(items)
    copies = ["clean", *PERTURBATIONS]
    plan = scenes.plan(items, d)
    srecs = {z: scenes.get(items, plan, people=z) for z in {z for z, _ in MAX_CROPS.values()}}
    src = np.array([s.item for s in plan])
    area = np.array([s.area for s in plan])
    spic = locator.located(items, d, "scene", plan)
    for name in args.set or list(SETS):
        outer = SETS[name].outer
        x = inputs(
            items,
            copies,
            perturbed_sizes=args.perturbed_sizes,
            pictures=lambda p: locator.located(items, d, p, plan),
            outer=outer,
        )
        sx = {m: matrix(srecs[z], k, spic if m in PICTURE else None, outer=outer) for m, (z, k) in MAX_CROPS.items()}
        fit_set(name, d, x, sx, src, area=area, copies=copies, items=items, write=args.write)


def fit_set(
    name: str,
    d: evaluate.Data,
    x: dict[tuple[str, str], np.ndarray],
    sx: dict[str, np.ndarray],
    src: np.ndarray,
    *,
    area: np.ndarray,
    copies: list[str],
    items: list[Item],
    write: bool,
) -> None:
    """The pair ``SETS[name]``: grouped CV (OOF scores, fold probes), its table, and the pair fitted
    on all rows (``x``/``sx``: :func:`inputs` and the scene copies' inputs, ``src`` their stills)."""
    ps = SETS[name]
    oof, fold_w, fold_b = grouped_cv(d, x, sx, src, copies, train=ps.train)
    for prefix in VARIANTS:  # per-fold probes: the held-out leak benchmark (bench/held_out.py)
        ids = sorted(f for p, f in fold_w if p == prefix)
        np.savez(
            ps.folds_scene if prefix else ps.folds,
            fold=np.array(ids),
            weights=np.stack([fold_w[(prefix, f)] for f in ids]),
            intercept=np.array([fold_b[(prefix, f)] for f in ids]),
        )
    np.savez(ps.oof, sha=np.array([it.sha256 for it in items]), scene_item=src, scene_area=area, **oof)
    print(f"\n## the {name} pair, fitted on {ps.train} inputs ({ps.oof.name})\n")
    print(evaluate.HEADER.replace("| system |", "| probe alone (OOF; threshold <= 1% FB pooled and on people) |"))
    sy, pos = d.y[src], d.y == 1
    for prefix in VARIANTS:
        for m, (_, k) in MAX_CROPS.items():
            s = oof[f"{prefix}{m}/clean"]
            t = evaluate.threshold_for(s, d)
            print(evaluate.fmt_table(f"{prefix}{m} (top crop of {k}), AUC {auc(s, d.y):.3f}", s >= t, d))
            costs = ", ".join(
                f"{p} {int((oof[f'{prefix}{m}/{p}'][pos] >= t).sum())}" for p in PERTURBATIONS if (p, m) in x
            )
            print(f"  recall under perturbation at that threshold ({int((s[pos] >= t).sum())} clean): {costs}")
            print("  " + scene_line(oof[f"{prefix}{m}/scene"], sy, area, t))
    for prefix, with_scenes in VARIANTS.items():
        w, b = fit_all(d, x, sx, src, copies, with_scenes=with_scenes, train=ps.train)
        z, k = MAX_CROPS[ps.train]
        probe: dict[str, Any] = {
            "version": ps.version(scene=with_scenes),
            "features": "open_nsfw pool (Reshape:0, 1024) of the whole image, then of the top-scored person crop"
            + (" or located picture (locator_open_nsfw.json)" if ps.train in PICTURE else "")
            + (", then of the locator's outer box (the whole image when none)" if ps.outer else ""),
            "fitted_on": {
                "manifest": "eval/manifest.csv (v2), stills",
                "people": f"YOLO11n-pose at input {z}, top crop among {k}"
                + (" and the located picture's" if ps.train in PICTURE else ""),
                "copies": copies + (["scenes (tools/detect_v2/scenes.py)"] if with_scenes else []),
                "model": f"scikit-learn LogisticRegression(C={C}, class_weight='balanced') on standardised features",
                "command": f".venv/bin/python tools/detect_v2/probe.py --write --set {name}",
            },
            "intercept": round(b, 8),
            "weights": [float(f"{v:.7g}") for v in w],
        }
        if write:
            out = ps.out_scene if prefix else ps.out
            out.write_text(json.dumps(probe) + "\n")
            print("wrote", out)


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main()
