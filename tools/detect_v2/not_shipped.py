"""Ideas for the live path's misses and false withholding, measured and not shipped (v2.4 and after).

Each prints the live (and photo) heads' grouped-CV, out-of-fold tables next to the shipped
recipe's, from the same caches as ``fit_heads.py``; ``--out`` writes them to
``bench/results/detect_v2_not_shipped.md``. Nothing here is read at run time.

* ``tiles``: open_nsfw's pooled features of a fixed grid of square tiles (side 2/3 of the short
  side: 3 x 2 tiles on a 16:9 frame), read by a third probe fitted like the scene probe (the whole
  image's features and the top tile's; stills and scene copies, grouped CV), as a head feature;
  and the top tile's open_nsfw probability as one. Motivation: in the held-out leak clips that
  leak most, the people the live check crops are the background video's, not the artwork's.
* ``videos``: the dev set's safe video frames (``videos.py``; every 6th frame, grouped by video)
  as training negatives of the live heads, then of the live probe pair as well. Motivation: two
  of the 35 videos (an animated film, a signing hand close to the camera) hold most of the 4.6 s
  per minute the live check withholds.
* ``art``: the safe artworks repeated 3x / 6x in the heads' training (harder negatives), and
  what the child threshold would cost if every safe category (art too) had to stay <= 1%.
* ``cells`` (after v2.4): open_nsfw's last feature map read cell by cell and pooled sharply
  (``cells.py``), alone and as a head feature.
* ``crops`` (after v2.4; it led to v2.5's picture locator, ``locator.py``): which crop the probe's
  second input should be: the person crops (as shipped),
  a zoom at open_nsfw's most nude-looking cell, the pasted still's own box (a perfect locator: an
  upper bound), or every tile scored by a multiple-instance probe.
* ``either`` (after v2.8; shipped as v2.9 at offset 1.0): the photo check blocking when the
  photo head *or* the live head does (:func:`either_scores`: the larger of the photo head's logit
  and the live head's minus an offset, one threshold at the child point as for any head), over a
  grid of offsets (:data:`EITHER_OFFSETS`)
  and the offset :func:`either_pick` chooses. Motivation: camera photos of a room with a small nude
  picture in it are the live head's strength (nude scene copies at 10% of the frame: 45 of 74,
  photo head 29) and full-frame stills the photo head's (72 of 74, live 67). Unlike the other
  studies it builds its rows with the shipped recipe (``fit_heads.training_of``, as shipped).

    .venv/bin/python tools/detect_v2/not_shipped.py [tiles|videos|art|cells|crops|either ...] [--out]
    # ~35 min for all five the first time (caches under $CG_V2_CACHE), ~25 min after

The report's tables were made with v2.4's live pair and heads. Since v2.5 the live pair is fitted
with the picture locator's crops and the live head on the stills x4 and the scene copies; the
studies here still build their rows from the person crops and heads fitted as in v2.4 (``Rows``),
but the OOF probe scores they read (``probe.py``'s ``oof.npz``) are v2.5's, so a re-run is not a
replay of the committed report.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.probe import probe_features
from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, auc, load_frame, read_manifest
from tools.detect_v2 import cells, evaluate, fit_heads, probe, scenes, videos
from tools.detect_v2 import views as view_cache

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "results" / "detect_v2_not_shipped.md"
TILES = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "tiles"


class Rows:
    """The cross-validation's rows: the dev stills and their scene copies, with the cached views
    and the shipped recipe's OOF probe scores (the video study adds its frames after them)."""

    def __init__(self) -> None:
        self.items = read_manifest(DEFAULT_MANIFEST)
        self.d = evaluate.Data.of(self.items)
        self.plan = scenes.plan(self.items, self.d)
        self.src = np.array([s.item for s in self.plan])
        self.area = np.array([s.area for s in self.plan])
        still = fit_heads.with_probe(self.items, view_cache.get(self.items, fit_heads.STILL_VIEWS))
        scene, _, _ = fit_heads.scene_records(self.items, self.d)
        self.recs = still + scene

    def probe_records(self) -> list[dict[str, Any]]:
        """Per row (stills, then scenes): open_nsfw's probabilities ``p`` and pooled features ``e`` of
        the whole image and the people found at 640 (``probe.py``'s and ``scenes.py``'s caches)."""
        stills = [pickle.loads((probe.CACHE / "clean" / f"{it.sha256[:24]}.pkl").read_bytes()) for it in self.items]
        return stills + self.recs[self.n :]

    def probe_oof(self, x: np.ndarray) -> np.ndarray:
        """Out-of-fold probabilities of a probe on inputs ``x`` (one row per still, then per scene),
        fitted like the scene probe: each grouped fold's on the other folds' stills and scenes."""
        y = np.concatenate([self.d.y, self.d.y[self.src]])
        folds = np.concatenate([self.d.folds, self.d.folds[self.src]])
        out = np.zeros(len(y))
        for f in np.unique(self.d.folds):
            w, b = probe.fit(x[folds != f], y[folds != f])
            out[folds == f] = probe.sigmoid(x[folds == f] @ w + b)
        return out

    @property
    def n(self) -> int:
        return len(self.items)

    def training(self) -> fit_heads.Training:
        return fit_heads.Training.of(self.d, self.src, self.area, fit_scenes=False)

    def line(self, title: str, s_all: np.ndarray, tr: fit_heads.Training) -> list[str]:
        """A :data:`HEADER` row: the stills at the child point (<= 1% pooled and on people), then
        the scene copies at that point."""
        s = s_all[: self.n]
        t = evaluate.threshold_for(s, self.d)
        scene = tr.scene_rows(s_all[: len(tr.y)], t)[0].strip("| ").split(" | ")
        row = evaluate.fmt_table(f"{title}; AUC {auc(s, self.d.y):.3f}", s >= t, self.d)
        return [f"{row} {' / '.join(scene[:-1])} | {scene[-1]} |"]


#: evaluate.HEADER with the scene copies' columns
HEADER = (
    "| system | recall (nude) | FB all safe | FB people | FB clothing | FB art | FB other"
    " | nude scenes at 10 / 20 / 35 / 50% of the frame | safe scenes |\n|" + "---|" * 9
)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)))


# ---------------------------------------------------------------- tiles
def tile_boxes(h: int, w: int, frac: float = 2 / 3) -> list[tuple[int, int, int, int]]:
    """Square tiles of side ``frac`` x the short side, ceil(side / tile) per axis, evenly spaced."""
    s = round(frac * min(h, w))
    nx, ny = math.ceil(w / s), math.ceil(h / s)
    xs = np.linspace(0, w - s, nx).round().astype(int) if nx > 1 else [(w - s) // 2]
    ys = np.linspace(0, h - s, ny).round().astype(int) if ny > 1 else [(h - s) // 2]
    return [(int(x), int(y), int(x) + s, int(y) + s) for y in ys for x in xs]


def tile_features(rows: Rows) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """Per still and per scene copy: open_nsfw's probabilities ``p`` and pooled features ``e`` of
    its tiles (cached under ``$CG_V2_CACHE/tiles``)."""
    from tqdm import tqdm

    from captureguard.models.open_nsfw import nsfw_probability, open_nsfw_input
    from captureguard.models.probe import nsfw_probe_detector

    clf = None

    def of(bgr: np.ndarray) -> dict[str, np.ndarray]:
        nonlocal clf
        clf = clf or nsfw_probe_detector(input_size=640, max_crops=0, probe=probe.UNFITTED).classifier
        views = [np.ascontiguousarray(bgr[b:d, a:c]) for a, b, c, d in tile_boxes(*bgr.shape[:2])]
        out = clf.run_all(np.concatenate([open_nsfw_input(v) for v in views]))
        return {"p": nsfw_probability(out[0]).astype(np.float32), "e": out[1].astype(np.float32)}

    def cached(f: Path, make: Callable[[], np.ndarray]) -> dict[str, np.ndarray]:
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(pickle.dumps(of(make())))
        return dict(pickle.loads(f.read_bytes()))

    def still(it: Item) -> Callable[[], np.ndarray]:
        return lambda: np.asarray(load_frame(it.path).bgr)

    def scene(sc: scenes.Scene) -> Callable[[], np.ndarray]:
        return lambda: scenes.scene_frame(rows.items, sc)[0]

    st = [
        cached(TILES / "clean" / f"{it.sha256[:24]}.pkl", still(it))
        for it in tqdm(rows.items, desc="tiles, stills", mininterval=10)
    ]
    sc = [
        cached(TILES / "scenes" / scenes.cache_name(rows.items, s), scene(s))
        for s in tqdm(rows.plan, desc="tiles, scenes", mininterval=10)
    ]
    return st, sc


def tiles(rows: Rows) -> list[str]:
    t_st, t_sc = tile_features(rows)
    whole = np.stack([r["e"][0] for r in rows.probe_records()])
    top = np.stack([r["e"][int(np.argmax(r["p"]))] for r in t_st + t_sc])
    oof = rows.probe_oof(np.hstack([whole, top]))
    tmax = np.array([float(r["p"].max()) for r in t_st + t_sc])
    tr = rows.training()
    out = ["## tiles", "", HEADER]
    out += rows.line("tile probe alone", oof, tr)
    out += rows.line("top tile's open_nsfw probability alone", tmax, tr)
    fit_heads.MONOTONE.update({"x:tile_probe", "x:tile_max"})
    for mode, (views, _, l2) in fit_heads.MODES.items():
        base = evaluate.features(rows.recs, views, fit_heads.features_of(views))
        for title, cols, names in (
            ("as shipped", [], []),
            ("+ tile probe", [logit(oof)], ["x:tile_probe"]),
            ("+ top tile", [logit(tmax)], ["x:tile_max"]),
        ):
            xx = np.column_stack([base, *cols]) if cols else base
            out += rows.line(f"{mode} head {title}", tr.oof(xx, fit_heads.features_of(views) + names, l2), tr)
    return [*out, ""]


# ---------------------------------------------------------------- videos
def video_rows(rows: Rows) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """The safe video frames (records, folds, file names), each scored by the live pair's probes
    of its own fold (fitted without the video's fold: out of fold)."""
    frames = videos.plan(rows.d)
    recs = videos.get(frames)
    fold = np.array([vf.fold for vf in frames])
    name = np.array([Path(vf.path).name for vf in frames])
    ps = probe.SETS["live"]
    plain, scene = np.load(ps.folds), np.load(ps.folds_scene)
    j = {int(f): i for i, f in enumerate(plain["fold"])}
    for r, f in zip(recs, fold, strict=True):
        x = probe_features(r["e"], r["p"][1:3])
        r["probek2"] = float(probe.sigmoid(x @ plain["weights"][j[f]] + plain["intercept"][j[f]]))
        r["sprobek2"] = float(probe.sigmoid(x @ scene["weights"][j[f]] + scene["intercept"][j[f]]))
    return recs, fold, name


def refit_live_probes(
    rows: Rows, vrecs: list[dict[str, Any]], vfold: np.ndarray
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The live pair refitted in grouped CV with the video frames as negatives too: copies of the
    rows' and the video frames' records with probek2/sprobek2 replaced by these probes' OOF scores."""
    from tqdm import tqdm

    d, items = rows.d, rows.items
    copies = ["clean", *probe.PERTURBATIONS]
    x = probe.inputs(items, copies, perturbed_sizes=False)
    srecs = rows.recs[rows.n :]  # the scene copies' records carry open_nsfw's p and e
    train = "photo"  # the v2.4 live pair's inputs (person crops only: the video frames have no located crops)
    k_train, k_live = probe.MAX_CROPS[train][1], probe.MAX_CROPS["live"][1]
    sx = {k: probe.matrix(srecs, k) for k in (k_train, k_live)}
    vx = {k: probe.matrix(vrecs, k) for k in (k_train, k_live)}
    sy, sf = d.y[rows.src], d.folds[rows.src]
    oof = {p: (np.zeros(rows.n), np.zeros(len(sy)), np.zeros(len(vrecs))) for p in probe.VARIANTS}
    for f in tqdm(np.unique(d.folds), desc="live probes with video negatives", mininterval=20):
        te, ste, vte = d.folds == f, sf == f, vfold == f
        for prefix, with_scenes in probe.VARIANTS.items():
            xs = np.vstack(
                [x[(p, train)][~te] for p in copies]
                + ([sx[k_train][~ste]] if with_scenes else [])
                + [vx[k_train][~vte]]
            )
            ys = np.concatenate(
                [np.tile(d.y[~te], len(copies))] + ([sy[~ste]] if with_scenes else []) + [np.zeros(int((~vte).sum()))]
            )
            w, b = probe.fit(xs, ys)
            st, sc, vi = oof[prefix]
            st[te] = probe.sigmoid(x[("clean", "live")][te] @ w + b)
            sc[ste] = probe.sigmoid(sx[k_live][ste] @ w + b)
            vi[vte] = probe.sigmoid(vx[k_live][vte] @ w + b)
    recs = [dict(r) for r in rows.recs + vrecs]
    for prefix, (st, sc, vi) in oof.items():
        key = "sprobek2" if prefix else "probek2"
        for r, v in zip(recs, np.concatenate([st, sc, vi]), strict=True):
            r[key] = float(v)
    return recs[: len(rows.recs)], recs[len(rows.recs) :]


def video_lines(
    rows: Rows,
    recs: list[dict[str, Any]],
    vrecs: list[dict[str, Any]],
    *,
    vfold: np.ndarray,
    vname: np.ndarray,
    what: str,
) -> list[str]:
    """Live heads fitted without and with the video frames (``recs``: the stills' and scenes')."""
    views, _, l2 = fit_heads.MODES["live"]
    recs = recs + vrecs
    x = evaluate.features(recs, views, fit_heads.features_of(views))
    d, n, nv = rows.d, rows.n, len(vrecs)
    base = rows.training()
    y = np.concatenate([base.y, np.zeros(nv, int)])
    folds = np.concatenate([base.folds, vfold])
    area = np.concatenate([base.area, np.zeros(nv)])
    video = np.arange(len(y)) >= len(base.y)
    out = []
    for title, fitted in (
        ("heads on the stills", np.arange(len(y)) < n),
        ("heads on the stills and video frames", (np.arange(len(y)) < n) | video),
    ):
        tr = fit_heads.Training(y, folds, area, n, fitted)
        s_all = tr.oof(x, fit_heads.features_of(views), l2)
        t = evaluate.threshold_for(s_all[:n], d)
        v = s_all[video] >= t
        per = ", ".join(f"{k} {int(v[vname == k].sum())}" for k in sorted(set(vname)) if v[vname == k].any())
        out += rows.line(f"live, {what}, {title}", s_all, base)
        out.append(f"| &nbsp;&nbsp;video frames over that point (OOF): {int(v.sum())}/{nv} ({per}) |")
    return out


def video_study(rows: Rows) -> list[str]:
    vrecs, vfold, vname = video_rows(rows)
    out = ["## videos", "", HEADER]
    out += video_lines(rows, rows.recs, vrecs, vfold=vfold, vname=vname, what="shipped probes")
    recs, vrecs = refit_live_probes(rows, vrecs, vfold)
    out += video_lines(rows, recs, vrecs, vfold=vfold, vname=vname, what="probes with video negatives")
    return [*out, ""]


# ---------------------------------------------------------------- art
def art(rows: Rows) -> list[str]:
    out = ["## art", "", HEADER]
    d, n = rows.d, rows.n
    for mode, (views, _, l2) in fit_heads.MODES.items():
        x = evaluate.features(rows.recs, views, fit_heads.features_of(views))
        tr = rows.training()
        s_all = tr.oof(x, fit_heads.features_of(views), l2)
        s = s_all[:n]
        out += rows.line(f"{mode} as shipped", s_all, tr)
        every = evaluate.threshold_for(s, d, 0.01, cats=("people", "art", "other", "clothing"))
        out.append(evaluate.fmt_table(f"{mode}, threshold with every safe category <= 1%", s >= every, d) + " | |")
        art_rows = np.where(d.cats == "art")[0]
        for times in (3, 6):
            rep = np.repeat(art_rows, times - 1)
            heavy = fit_heads.Training(
                np.concatenate([tr.y, tr.y[rep]]),
                np.concatenate([tr.folds, tr.folds[rep]]),
                np.concatenate([tr.area, tr.area[rep]]),
                n,
                np.concatenate([tr.fitted, np.ones(len(rep), bool)]),
            )
            s_heavy = heavy.oof(np.vstack([x, x[rep]]), fit_heads.features_of(views), l2)[: len(tr.y)]
            out += rows.line(f"{mode}, safe artworks x{times} in training", s_heavy, tr)
    return [*out, ""]


# ---------------------------------------------------------------- cells
#: (LSE sharpness, None = the mean; PCA dimensions) of the spatial read-outs compared
CELL_READOUTS = ((None, 128), (1.0, 128), (10.0, 128))
CELL_L2 = 1e-3
#: the 67 grouped folds merged into this many for the read-outs (a PCA and an L-BFGS fit over ~3,900
#: bags x 49 cells per fold); each merged fold holds whole grouped folds, so no score is in-sample
CELL_FOLDS = 10


def cell_study(rows: Rows) -> list[str]:
    """open_nsfw's last feature map read cell by cell and pooled (``cells.py``), alone and as a head
    feature; the heads fitted on the stills (as shipped) and on the stills and scenes."""
    st, sc = cells.maps(rows.items, rows.plan)
    x = np.concatenate([st, sc])
    d = rows.d
    y = np.concatenate([d.y, d.y[rows.src]]).astype(float)
    folds = np.concatenate([d.folds, d.folds[rows.src]]) % CELL_FOLDS
    tr = rows.training()
    out = ["## cells", "", HEADER]
    oof = {}
    for r, k in CELL_READOUTS:
        name = f"{'mean' if r is None else f'LSE r={r:g}'}, {k} dims"
        oof[name] = cells.cv(x, y, folds, r, k=k, lam=CELL_L2)
        out += rows.line(f"cell read-out alone, {name}", probe.sigmoid(oof[name]), tr)
    fit_heads.MONOTONE.add("x:cells")
    for fit_scenes in (False, True):
        tr_h = fit_heads.Training.of(d, rows.src, rows.area, fit_scenes=fit_scenes)
        how = "fitted on stills and scenes" if fit_scenes else "as shipped"
        for mode, (views, _, l2) in fit_heads.MODES.items():
            base = evaluate.features(rows.recs, views, fit_heads.features_of(views))
            out += rows.line(f"{mode} head {how}", tr_h.oof(base, fit_heads.features_of(views), l2), tr)
            for name, z in oof.items():
                if name.startswith("mean"):
                    continue
                xx = np.column_stack([base, np.clip(z, -30, 30)])
                names = [*fit_heads.features_of(views), "x:cells"]
                out += rows.line(f"{mode} head {how} + cells ({name})", tr_h.oof(xx, names, l2), tr)
    return [*out, ""]


def crop_study(rows: Rows) -> list[str]:
    """Where the live check looks: the probe's second input (whole image + one crop) taken from the
    person crops (as shipped), a zoom at open_nsfw's most nude-looking cell, the pasted still's own
    box (a perfect locator), and the tiles read by a multiple-instance probe (every tile scored, the
    scores pooled). Probes fitted like the scene probe, on the stills and their scene copies (no
    perturbed copies here, so the person-crop row is this table's baseline, not the shipped probe); and
    the tiles' pooled score as a live head feature (heads fitted on the stills, on the stills and
    scenes, and on the stills counted 4x and the scenes)."""
    d, n = rows.d, rows.n
    crops = cells.crop_features(rows.items, rows.plan)
    person = rows.probe_records()
    whole = np.stack([r["e"][0] for r in person])
    y = np.concatenate([d.y, d.y[rows.src]])
    folds = np.concatenate([d.folds, d.folds[rows.src]])
    tr = rows.training()

    def oof_probe(second: np.ndarray) -> np.ndarray:
        return rows.probe_oof(np.hstack([whole, second]))

    top2 = np.stack([r["e"][1 + int(np.argmax(r["p"][1:3]))] if len(r["p"]) > 1 else r["e"][0] for r in person])
    out = ["## crops", "", HEADER]
    out += rows.line("whole + top of 2 person crops (the live probe's inputs)", oof_probe(top2), tr)
    for k, frac in enumerate(cells.ZOOM_SIDES):
        out += rows.line(f"whole + zoom at open_nsfw's top cell, side {frac:g}", oof_probe(crops["zoom"][:, k]), tr)
    out += rows.line("whole + the pasted still's own box x1.2 (a perfect locator)", oof_probe(crops["oracle"]), tr)
    t_st, t_sc = tile_features(rows)
    bags = np.stack(
        [
            np.stack(([np.concatenate([w, w])] + [np.concatenate([w, e]) for e in t["e"]]) * TILE_BAG)[:TILE_BAG]
            for w, t in zip(whole, t_st + t_sc, strict=True)
        ]
    ).astype(np.float32)
    tile_mil: dict[str, np.ndarray] = {}
    for r in (None, 10.0):
        z = cells.cv(bags, y.astype(float), folds % CELL_FOLDS, r, k=TILE_DIMS, lam=CELL_L2, step=3)
        how = "mean" if r is None else f"LSE r={r:g}"
        tile_mil[how] = z
        out += rows.line(
            f"tiles, multiple-instance probe ({how}, {TILE_DIMS} dims, {CELL_FOLDS} folds)", probe.sigmoid(z), tr
        )
    fit_heads.MONOTONE.add("x:tiles_mil")
    views, _, l2 = fit_heads.MODES["live"]
    base = evaluate.features(rows.recs, views, fit_heads.features_of(views))
    xx = np.column_stack([base, np.clip(tile_mil["LSE r=10"], -30, 30)])
    for how, tr_h in (
        ("as shipped in v2.4", fit_heads.Training.of(d, rows.src, rows.area, fit_scenes=False)),
        ("fitted on stills and scenes", fit_heads.Training.of(d, rows.src, rows.area, fit_scenes=True)),
        (
            f"fitted on stills x{STILL_WEIGHT} and scenes",
            fit_heads.Training.of(d, rows.src, rows.area, fit_scenes=True, still_weight=STILL_WEIGHT),
        ),
    ):
        for title, x, names in (
            ("", base, fit_heads.features_of(views)),
            (" + tiles (LSE r=10)", xx, [*fit_heads.features_of(views), "x:tiles_mil"]),
        ):
            out += rows.line(f"live head {how}{title}", tr_h.oof(x, names, l2), tr)
    hit = crops["hit"]
    nude = y[n:] == 1
    per = ", ".join(
        f"{a:.0%} {int(hit[nude & (rows.area == a)].sum())}/{int((nude & (rows.area == a)).sum())}"
        for a in scenes.POSITIVE_AREAS
    )
    out += ["", f"The zoom's centre cell lies on the pasted nude still in: {per} of the nude scenes."]
    return [*out, ""]


#: a still counts this many times in a head fitted on the stills and the scenes (scenes once): v2.5's live head's
STILL_WEIGHT = fit_heads.LIVE_STILL_WEIGHT


#: tiles' bag size: the whole image (as its own instance) and up to 6 tiles, repeated to fill
TILE_BAG = 7
TILE_DIMS = 256


# ---------------------------------------------------------------- either head
#: offsets (in logit) of the live head's score against the photo head's in :func:`either_scores`
EITHER_OFFSETS = (-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)


def either_scores(photo: np.ndarray, live: np.ndarray, offset: float) -> np.ndarray:
    """``fit_heads.either_scores`` (shipped since v2.9 for the photo check, offset 1.0)."""
    return fit_heads.either_scores(photo, live, offset)


def either_pick(points: dict[float, tuple[int, int, int]], safe_scenes_max: int) -> float | None:
    """The offset to ship from ``offset -> (stills blocked, nude scenes blocked, safe scenes
    blocked)`` at each offset's child point: the most stills plus nude scenes, among the offsets that
    block at most ``safe_scenes_max`` safe scenes (the live path's own count: a photo of a room
    should not be refused more often than the viewfinder refuses it); ties to the larger offset
    (the live head counting less). None when no offset qualifies."""
    ok = [(st + sc, off) for off, (st, sc, safe) in points.items() if safe <= safe_scenes_max]
    return max(ok)[1] if ok else None


def either(rows: Rows) -> list[str]:
    """The photo head or the live head (:func:`either_scores`), each row at its own child point
    (<= 1% of the safe stills pooled and of the people photos), against the two heads alone and
    both at their own points (which breaks the pooled budget)."""
    d, n = rows.d, rows.n
    oof = {}
    for mode in ("photo", "live"):  # each head as shipped, out of fold
        views, _, l2 = fit_heads.MODES[mode]
        tr = fit_heads.training_of(mode, d, rows.src, rows.area)
        oof[mode] = fit_heads.fit_mode(tr, rows.recs, views, fit_heads.features_of(views), l2)[3]
    tr = fit_heads.training_of("photo", d, rows.src, rows.area)  # the rows' order and scene areas
    out = [
        "## either",
        "",
        "The photo check blocking when the photo head or the live head does (after v2.8, not shipped):"
        " `sigmoid(max(logit photo, logit live - offset))` at its own child point; heads as shipped"
        " (`fit_heads.training_of`), grouped CV, out of fold. Safe scenes: safe stills pasted into"
        " camera frames (`scenes.py`).",
        "",
        HEADER,
    ]
    out += rows.line("photo head (shipped)", oof["photo"], tr)
    out += rows.line("live head (shipped)", oof["live"], tr)
    tp, tl = (evaluate.threshold_for(oof[m][:n], d) for m in ("photo", "live"))
    both = (oof["photo"] >= tp) | (oof["live"] >= tl)
    scene = tr.scene_rows(both[: len(tr.y)].astype(float), 0.5)[0].strip("| ").split(" | ")
    out.append(
        f"{evaluate.fmt_table('either, each head at its own child point', both[:n], d)}"
        f" {' / '.join(scene[:-1])} | {scene[-1]} |"
    )
    live_safe = int(tr.scene_rows(oof["live"][: len(tr.y)], tl)[0].strip("| ").split(" | ")[-1].split("/")[0])
    points, lines = {}, {}
    for off in EITHER_OFFSETS:
        s = either_scores(oof["photo"], oof["live"], off)
        t = evaluate.threshold_for(s[:n], d)
        sc = s[n : len(tr.y)] >= t
        sy = tr.y[n:] == 1
        points[off] = (int((s[:n][d.y == 1] >= t).sum()), int((sc & sy).sum()), int((sc & ~sy).sum()))
        lines[off] = rows.line(f"either, live offset {off:g}", s, tr)
    pick = either_pick(points, live_safe)
    for off in EITHER_OFFSETS:
        out += [ln.replace("| either,", "| **picked**: either,", 1) if off == pick else ln for ln in lines[off]]
    out += [
        "",
        f"Picked (`either_pick`): the most stills plus nude scenes with at most the live head's {live_safe} safe"
        f" scenes blocked: offset {pick}.",
        "",
    ]
    return out


STUDIES: dict[str, Callable[[Rows], list[str]]] = {
    "tiles": tiles,
    "videos": video_study,
    "art": art,
    "cells": cell_study,
    "crops": crop_study,
    "either": either,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", nargs="*", help=f"of {', '.join(STUDIES)} (default: all)")
    ap.add_argument("--out", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    unknown = sorted(set(args.study) - set(STUDIES))
    if unknown:
        ap.error(f"unknown studies {unknown}; choose from {', '.join(STUDIES)}")
    rows = Rows()
    lines = [
        "# Detection v2.4 and after: measured, not shipped (grouped CV, out of fold, child point)",
        "",
        "Command: `.venv/bin/python tools/detect_v2/not_shipped.py --out` (tools/detect_v2/not_shipped.py docstring).",
        "",
    ]
    for name in args.study or list(STUDIES):
        part = STUDIES[name](rows)
        print("\n".join(part), flush=True)
        lines += part
    if args.out:
        OUT.write_text(merged(OUT.read_text() if OUT.exists() else "", "\n".join(lines) + "\n"))


def merged(old: str, new: str) -> str:
    """``new`` report text, keeping the ``## study`` sections of ``old`` that ``new`` does not have
    (a run of some studies updates theirs and leaves the others' tables), in ``STUDIES`` order."""

    def sections(text: str) -> tuple[str, dict[str, str]]:
        head, *parts = text.split("\n## ")
        return head, {p.split("\n", 1)[0].strip(): p.rstrip("\n") + "\n" for p in parts}

    _, kept = sections(old)
    head, fresh = sections(new)
    both = {**kept, **fresh}
    order = [n for n in STUDIES if n in both] + [n for n in both if n not in STUDIES]
    return head + "".join("\n## " + both[n] for n in order) + "\n"


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main()
