"""Fit the photo and live fusion heads on the v2 dev set; write them and the profile thresholds.

Grouped CV (one fold per positive group, negative groups dealt round-robin; a group never spans
folds) gives out-of-fold (OOF) scores; every number reported comes from them. The heads read both
probes (``probe.py``: the probe and the scene probe) and are fitted on the stills; the scene
copies (``scenes.py``) are scored out of fold: how a small artwork in a camera frame fares. The shipped head is
then fitted on all stills and its intercept shifted so that the OOF operating point of the child
profile (<= 1% false blocks on all safe stills AND on people photos) sits at score 0.5 in both
modes. Each head also gets a monotone calibration (``calibration``: piecewise linear in logit) that
puts its own warn, teen and adult points on the profiles' warn, teen and adult scores, so one set of
profile thresholds means the same budgets in both paths (``profiles.toml`` is not written).

    .venv/bin/python tools/detect_v2/views.py                 # cache the views (once)
    .venv/bin/python tools/detect_v2/fit_heads.py [--write]   # tables -> bench/results/detect_v2.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.fusion import EXPOSED_INTIMATE, EXPOSED_SKIN, Calibration, class_scores
from captureguard.core.policy import Profile, load_profiles
from tools.calibrate_fusion import auc, fit
from tools.detect_v2 import evaluate, scenes
from tools.detect_v2 import views as view_cache

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "captureguard" / "data"
FEATURES = [
    "nsfw_logit",
    "person_nsfw_logit",
    "crop_mean_logit",
    "logit:NSFW_PROBE",
    "logit:NSFW_PROBE_SCENE",
    *evaluate.PEOPLE,
    *evaluate.NN_MAX,
]
#: the v2.1 heads' features (no scene probe): the held-out baseline, ``--stills-only``
FEATURES_V21 = [f for f in FEATURES if f != "logit:NSFW_PROBE_SCENE"]
#: the photo head's further feature since v2.8: the probe on nsfwjs' embedding (``nsfwjs_probe.py``;
#: its cached view ``njsprobe``). Measured 2026-12-06 (grouped CV, child, OOF): 67 -> 72 of 74 stills
#: at the same 17/1754 and 2/681 people false blocks; 5-9 more artworks under each perturbation.
NSFWJS_FEATURE = "logit:NSFWJS_PROBE"
#: a further live-head feature, measured and not shipped (2026-12-06, ``--live-nsfwjs``): the probe
#: on nsfwjs' embedding of the picture locator's outer crop (``nsfwjs_probe.py --set picture``; its
#: cached view ``njspic``, read as a logit, or ``njspic_p``, read as a probability). Out of fold it
#: catches more small nude scene copies (live 45 / 55 / 57 / 62 -> 51 / 59 / 63 / 63 of 74 at 10 / 20 /
#: 35 / 50% of the frame, logit form), but the held-out leak clips leak 244-245 frames instead of 152
#: (docs/accuracy.md, "After v2.9").
NSFWJS_PICTURE_FEATURES = {"njspic": "logit:NSFWJS_PICTURE", "njspic_p": "max:NSFWJS_PICTURE"}


def features_of(views: list[str], base: list[str] | None = None) -> list[str]:
    """A head's features on ``views``: ``base`` (default :data:`FEATURES`), plus
    :data:`NSFWJS_FEATURE` when the views include the nsfwjs probe's (``njsprobe``) and a
    :data:`NSFWJS_PICTURE_FEATURES` one when they include the picture probe's (``njspic``, ``njspic_p``)."""
    base = FEATURES if base is None else base
    extra = {"njsprobe": NSFWJS_FEATURE, **NSFWJS_PICTURE_FEATURES}
    return [*base, *(f for v, f in extra.items() if v in views)]


#: L2 on standardised weights. 30 rather than 10: with the probe in, equal OOF recall, and the
#: synthetic nude renders (coverage set, never fitted) stay blocked 24/24 (22/24 at 10).
L2 = 30.0
#: input size of the live path's person detector (a photo keeps 640): 320 costs 9 ms per 720p frame,
#: 640 26 ms (bench/speed.py); compare with ``--live-people``
LIVE_PEOPLE = 640
#: input size of the photo path's person detector; at 960 the photo path reads the probe pair fitted
#: on people found at 960 (``probe.py``'s "photo" set). Measured 2026-12-05 (grouped CV, child):
#: 640 with the live pair: 62 of 74 stills; 960 with the live pair: 63, and synthetic nude renders
#: 44 -> 40 of 48, all four lost at skin tones 5-6 (not shipped); 960 with its own pair: 67 of 74
#: at 17/1754 and 2/681 people (docs/accuracy.md has the synthetic and perturbation costs).
PHOTO_PEOPLE = 960


#: mode -> (the other mode, offset): the head of ``mode`` also reads the other mode's head on that
#: mode's detectors (``FusionModel.either``; :func:`either_scores`). v2.9 ships the photo check
#: reading the live head at offset 1.0, the pick of ``not_shipped.py either`` (2026-12-06, grouped
#: CV, child point): 71/74 stills (photo head alone 72), nude scene copies at 10 / 20 / 35 / 50% of
#: the frame 49 / 55 / 57 / 65 (29 / 33 / 45 / 62), safe scenes 40/1754 (22; the live head 41).
EITHER: dict[str, tuple[str, float]] = {"photo": ("live", 1.0)}


def either_scores(own: np.ndarray, other: np.ndarray, offset: float) -> np.ndarray:
    """Probabilities ``sigmoid(max(logit(own), logit(other) - offset))`` (``FusionModel.assess``
    with ``either``, before calibration): at one threshold ``t`` a row is blocked when ``own``
    reaches ``t`` or ``other`` reaches ``t`` shifted up by ``offset`` in logit (larger offsets: the
    other head counts less)."""
    clip = 1e-12
    a, b = (np.clip(np.asarray(v, np.float64), clip, 1 - clip) for v in (own, other))
    z = np.maximum(np.log(a / (1 - a)), np.log(b / (1 - b)) - offset)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def live_views(people: int, nsfwjs: str = "") -> list[str]:
    """The live path's cached views with the person detector at input ``people``; ``nsfwjs``
    ("logit" or "max", 640 only: it needs the picture locator) adds nsfwjs on the located picture
    (measured, not shipped: :data:`NSFWJS_PICTURE_FEATURES`)."""
    probe = "probek2p" if people == 640 else f"probe{people}k2"
    views = ["nn640", "onsfw", f"pose{people}", f"crops{people}k2", probe, f"s{probe}"]
    if nsfwjs and people != 640:
        raise SystemExit("--live-nsfwjs reads the picture locator's crop: only with the live people at 640")
    return views + ({"logit": ["njspic"], "max": ["njspic_p"]}[nsfwjs] if nsfwjs else [])


def modes(
    live_people: int = LIVE_PEOPLE, photo_people: int = PHOTO_PEOPLE, live_nsfwjs: str = ""
) -> dict[str, tuple[list[str], list[dict[str, Any]], float]]:
    """mode -> (views as cached, detector configs to ship, L2 on standardised weights); ``live_nsfwjs``
    ("logit", "max"): the live set with nsfwjs on the located picture (measured, not shipped)."""
    from tools.detect_v2 import nsfwjs_probe, probe

    photo_probe = "probe" if photo_people == 640 else f"probe{photo_people}p"
    pair: dict[str, Any] = {"scene_probe": True}
    if photo_people != 640:
        pair = {"probe": probe.SETS["photo"].out.name, "scene_probe": probe.SETS["photo"].out_scene.name}
    return {
        "photo": (
            [
                "nn640",
                "onsfw",
                f"pose{photo_people}",
                f"crops{photo_people}",
                photo_probe,
                f"s{photo_probe}",
                "njsprobe",
            ],
            [
                {"type": "nudenet", "channels": "bgr", "score_threshold": 0.05, "input_size": 640},
                {"type": "nsfw_probe", "input_size": photo_people, "max_crops": 6, **pair},
                {"type": "nsfwjs", "probe": "probe_nsfwjs_photo.json"},
            ],
            L2,
        ),
        # Live: the photo views with at most 2 person crops. (NudeNet 640 + open_nsfw alone, refitted,
        # gave 46/74 and released slide-in frames of a painting that the photo check blocks:
        # tests/test_leaks.py.)
        "live": (
            live_views(live_people, live_nsfwjs),
            [
                {"type": "nudenet", "channels": "bgr", "score_threshold": 0.05, "input_size": 640},
                {
                    "type": "nsfw_probe",
                    "input_size": live_people,
                    "max_crops": 2,
                    "scene_probe": True,
                    **({"locator": True} if live_people == 640 else {}),
                },
                *(
                    [{"type": "nsfwjs", "crop": "picture", "probe": str(nsfwjs_probe.SETS["picture"].out)}]
                    if live_nsfwjs
                    else []
                ),
            ],
            L2,
        ),
    }


MODES = modes()
#: The live cascade's first stage: people, open_nsfw on the whole frame and on the 2 strongest
#: people's crops, and the probe (the live set without NudeNet 640); its own head, and NudeNet + the
#: full live head when it is not sure. (A first stage on the whole frame alone, without people,
#: scored 0.04 on a slide-in frame whose person crop the full check blocks at 0.79: it let a frame
#: of a nude painting through, tests/test_leaks.py. Person crops are what finds partial figures.)
FIRST_FEATURES = [
    "nsfw_logit",
    "person_nsfw_logit",
    "crop_mean_logit",
    "logit:NSFW_PROBE",
    "logit:NSFW_PROBE_SCENE",
    *evaluate.PEOPLE,
]
#: a still counts this many times in the live head's fit (v2.5: stills and scene copies; once, the
#: head lost 3 stills; 2x: 61/74 and 32/46/54/60 scenes; 4x: 61/74 and 34/50/53/61, fewer safe scenes)
LIVE_STILL_WEIGHT = 4
#: mode -> how its heads are fitted (Training.of keywords); the live cascade's first stage as live
TRAINING: dict[str, dict[str, Any]] = {
    "photo": {"fit_scenes": False},
    "live": {"fit_scenes": True, "still_weight": LIVE_STILL_WEIGHT},
}
#: the full live check also runs on every Nth check (about 1 s of 720p30 video at 10 checks/s)
FIRST_EVERY = 10
#: escalate_at sits this far (in logit) below the lowest first-stage score of a dev still that
#: the full live check blocks (a margin for frames the stills do not cover)
FIRST_MARGIN = 2.0
#: profile -> allowed false-block rate (pooled and on people photos) at its block threshold
RATES = {"child": 0.01, "teen": 0.005, "adult": 0.002}
WARN_RATE = 0.02


#: Evidence that may only raise the score: an exposed body part, a nude-looking view. Fitted on
#: art positives and people-photo negatives, a free head learns that MALE_GENITALIA_EXPOSED or
#: ANUS_EXPOSED "means a face" (NudeNet's false findings on faces) and gives them negative
#: weights; on a real nude photograph that would lower the score. So these are kept >= 0.
MONOTONE = {
    "nsfw_logit",
    "person_nsfw_logit",
    "crop_mean_logit",
    "logit:NSFW_PROBE",
    "logit:NSFW_PROBE_SCENE",
    NSFWJS_FEATURE,
    *NSFWJS_PICTURE_FEATURES.values(),
    *(f"max:{c}" for c in EXPOSED_INTIMATE + EXPOSED_SKIN),
}


class Head:
    """Logistic head with the MONOTONE weights constrained >= 0 (features dropped and refitted)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, names: list[str], l2: float) -> None:
        keep = np.ones(len(names), bool)
        while True:
            m = fit(x[:, keep], y, l2=l2)
            w = np.zeros(len(names))
            w[keep] = m.weights
            bad = [i for i, n in enumerate(names) if keep[i] and n in MONOTONE and w[i] < 0]
            if not bad:
                break
            keep[min(bad, key=lambda i: w[i])] = False  # drop the most negative, refit
        self.intercept, self.weights = float(m.intercept), w

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(self.intercept + x @ self.weights))))


@dataclass(frozen=True)
class Training:
    """The rows of the cross-validation: the dev stills, then their scene copies (``scenes.py``), each
    scene in its pasted still's fold. The photo head is fitted on the stills only (``fitted``); the
    scenes are scored out of fold, for the scene tables and the cascade's ``escalate_at``. In v2.2
    a live head fitted on the scenes too (``--fit-scenes``) found 65 instead of 62 of 74 stills but
    leaked more of the held-out leak clips (10.3% against 7.9% of the substantially visible frames),
    and on the synthetic coverage set (never fitted) blocked 37 instead of 44 of the 48 nude renders
    and 7 instead of 2 of the 48 clothed ones: it leaned on the art-trained scene probe and away
    from NudeNet. Since v2.5 the live probes read the picture locator's crop, and the live head is
    fitted on the scenes with every still counted :data:`LIVE_STILL_WEIGHT` times
    (``still_weight``; :data:`TRAINING`): with the stills once it lost 3 of them (61 -> 58 of 74).
    Reported numbers are the stills' unless a table says scenes."""

    y: np.ndarray
    folds: np.ndarray
    area: np.ndarray  # 0 for a still, the scene's frame share otherwise
    n_stills: int
    fitted: np.ndarray  # rows the heads are fitted on (all, or the stills only: --no-scenes)
    still_weight: int = 1  # a still counts this many times in a fit (its rows repeated; scenes once)

    @classmethod
    def of(
        cls,
        d: evaluate.Data,
        scene_items: np.ndarray,
        scene_area: np.ndarray,
        *,
        fit_scenes: bool,
        still_weight: int = 1,
    ) -> Training:
        n = len(d.y)
        return cls(
            np.concatenate([d.y, d.y[scene_items]]),
            np.concatenate([d.folds, d.folds[scene_items]]),
            np.concatenate([np.zeros(n), scene_area]),
            n,
            np.arange(n + len(scene_items)) < (n + len(scene_items) if fit_scenes else n),
            still_weight,
        )

    def rows(self, mask: np.ndarray) -> np.ndarray:
        """Row indices of a fit on ``mask``: the stills among them :attr:`still_weight` times."""
        idx = np.flatnonzero(mask)
        stills = idx[idx < self.n_stills]
        return np.concatenate([idx, *[stills] * (self.still_weight - 1)])

    def head(self, x: np.ndarray, names: list[str], l2: float) -> Head:
        """The head to ship: fitted on every row it may see."""
        rows = self.rows(self.fitted)
        return Head(x[rows], self.y[rows], names, l2)

    def heads(self, x: np.ndarray, names: list[str], l2: float) -> dict[int, Head]:
        """One head per fold, fitted on the other folds' rows."""
        out = {}
        for f in np.unique(self.folds):
            rows = self.rows(self.fitted & (self.folds != f))
            out[int(f)] = Head(x[rows], self.y[rows], names, l2)
        return out

    def oof(self, x: np.ndarray, names: list[str], l2: float, heads: dict[int, Head] | None = None) -> np.ndarray:
        """Out-of-fold scores of every row (stills first, then scenes); ``heads``: from :meth:`heads`."""
        out = np.zeros(len(self.y))
        for f, h in (heads or self.heads(x, names, l2)).items():
            test = self.folds == f
            out[test] = h.score(x[test])
        return out

    def scene_rows(self, scores: np.ndarray, t: float) -> list[str]:
        """Markdown rows: nude scenes caught per frame share, safe scenes blocked, at threshold ``t``."""
        sc, y, a = scores[self.n_stills :], self.y[self.n_stills :], self.area[self.n_stills :]
        cells = [
            f"{int((sc[(y == 1) & (a == v)] >= t).sum())}/{int(((y == 1) & (a == v)).sum())}"
            for v in scenes.POSITIVE_AREAS
        ]
        return [f"| {' | '.join(cells)} | {int((sc[y == 0] >= t).sum())}/{int((y == 0).sum())} |"]


SCENE_HEADER = (
    "| nude at "
    + " | nude at ".join(f"{a:.0%}" for a in scenes.POSITIVE_AREAS)
    + " of the frame | safe scenes blocked |\n|"
    + "---|" * (len(scenes.POSITIVE_AREAS) + 1)
)


#: the per-fold heads (fitted without that fold's stills and scenes), as fusion JSON per mode and
#: fold: ``bench/stream_calibrate.py --held-out`` checks each leak clip with its artwork's fold
FOLD_HEADS = view_cache.CACHE / "fold_heads.json"
FOLD_HEADS_STILLS_ONLY = view_cache.CACHE / "fold_heads_stills_only.json"


def fold_json(
    heads: dict[int, Head], names: list[str], shift: float, version: str, **extra: Any
) -> dict[str, dict[str, Any]]:
    """Fold -> fusion parameters (``FusionModel.from_mapping``), the shipped shift applied."""
    return {
        str(f): {
            "version": f"{version}-fold{f}",
            "intercept": h.intercept + shift,
            "weights": dict(zip(names, h.weights.tolist(), strict=True)),
            **extra,
        }
        for f, h in heads.items()
    }


def calibration(s: np.ndarray, d: evaluate.Data, profiles: dict[str, Profile]) -> tuple[Calibration, dict[str, float]]:
    """The map that puts this head's own OOF points (``s``: OOF scores of the stills, shifted so
    the child point is 0.5) on the profiles' thresholds: the warn point (:data:`WARN_RATE`) on the
    child warn score, the child point on 0.5, the teen and adult points (:data:`RATES`) on their block
    scores. Each point lands a hair (1e-4 in logit) under its threshold, as the child point does, so
    a safe still at the point stays below it. Returns the calibration and the points."""
    points = {p: float(evaluate.threshold_for(s, d, r)) for p, r in RATES.items()}
    points["warn"] = float(evaluate.threshold_for(s, d, WARN_RATE))
    child = profiles["child"]
    if child.block_score != 0.5:
        raise SystemExit(
            f"profiles.toml: the child block score must be 0.5 (the heads' shift), not {child.block_score}"
        )
    targets = {"warn": child.warn_score, "teen": profiles["teen"].block_score, "adult": profiles["adult"].block_score}
    knots = sorted([(logit(points[name]) + 1e-4, logit(target)) for name, target in targets.items()] + [(0.0, 0.0)])
    if [k[1] for k in knots] != sorted(k[1] for k in knots):
        raise SystemExit(f"the head's points {points} are not in the order of the profile thresholds {targets}")
    return Calibration(tuple(knots)), points


def calibrated(scores: np.ndarray, cal: Calibration) -> np.ndarray:
    """``scores`` through ``cal`` (as :meth:`FusionModel.assess` does)."""
    z = np.log(np.clip(scores, 1e-12, 1 - 1e-12) / np.clip(1 - scores, 1e-12, 1))
    out: np.ndarray = 1 / (1 + np.exp(-np.array([cal.apply(float(v)) for v in z])))
    return out


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def shifted(scores: np.ndarray, shift: float) -> np.ndarray:
    z = np.log(np.clip(scores, 1e-9, 1 - 1e-9) / np.clip(1 - scores, 1e-9, 1)) + shift
    return 1 / (1 + np.exp(-z))


def region_blocks(recs: list[dict[str, Any]], views: list[str], thresholds: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(recs), bool)
    for i, r in enumerate(recs):
        cs = class_scores(evaluate.detections_of(r, views))
        out[i] = any(cs.get(c, 0.0) >= t for c, t in thresholds.items())
    return out


def with_probe(items: list[Any], recs: list[dict[str, Any]], *, picture: bool = False) -> list[dict[str, Any]]:
    """The cached views plus both probes' out-of-fold probabilities (``probe.py`` writes them;
    ``probe*`` the probe's, ``sprobe*`` the scene probe's): the head is fitted on probe scores of
    stills the probes never saw, as at run time. ``picture``: also the nsfwjs picture probe's
    (``njspic``; ``nsfwjs_probe.py --set picture``)."""
    oofs = load_oofs()
    for name, oof in oofs.items():
        if [str(s) for s in oof["sha"]] != [it.sha256 for it in items]:
            raise SystemExit(f"the {name} pair's OOF scores are for another manifest: run tools/detect_v2/probe.py")
    njs = nsfwjs_oof(items)
    pic = nsfwjs_oof(items, "picture")["clean"] if picture else None
    return [
        {
            **r,
            **probe_scores(oofs, "clean", i),
            "njsprobe": float(njs["clean"][i]),
            **({"njspic": float(pic[i])} if pic is not None else {}),
        }
        for i, r in enumerate(recs)
    ]


def nsfwjs_oof(items: list[Any], which: str = "photo") -> Any:
    """The ``which`` nsfwjs probe's OOF scores (``nsfwjs_probe.py [--set picture]``): per copy, and ``scene``."""
    from tools.detect_v2 import nsfwjs_probe

    return nsfwjs_probe.load_oof(items, which)


def load_oofs() -> dict[str, Any]:
    """Each probe pair's OOF scores (``probe.py``'s :data:`~tools.detect_v2.probe.SETS`)."""
    from tools.detect_v2 import probe

    missing = [str(ps.oof) for ps in probe.SETS.values() if not ps.oof.exists()]
    if missing:
        raise SystemExit(f"{', '.join(missing)} missing: run tools/detect_v2/probe.py first")
    return {name: np.load(ps.oof) for name, ps in probe.SETS.items()}


def probe_scores(oofs: dict[str, Any], copy: str, i: int) -> dict[str, float]:
    """Row ``i`` of ``copy`` ("clean", "scene", ...) in each pair's ``oof*.npz``: view name -> OOF probability."""
    out = {}
    for v, (pair, m) in PROBE_VIEWS.items():
        out[v] = float(oofs[pair][f"{m}/{copy}"][i])
        out[f"s{v}"] = float(oofs[pair][f"scene:{m}/{copy}"][i])
    return out


#: cached view name of a probe score -> (probe pair, ``probe.py``'s MAX_CROPS input variant); the
#: scene probe's is the same name with an ``s`` in front
PROBE_VIEWS = {
    "probe": ("live", "photo"),
    "probek2": ("live", "live"),
    "probek2p": ("live", "live+pic"),  # the live path since v2.5: the people's crops and the located picture's
    "probep": ("live", "photo+pic"),
    "probe0": ("live", "first"),
    "probe320k2": ("live", "live320"),
    "probe480k2": ("live", "live480"),
    "probe960": ("live", "photo960"),  # the live pair on people found at 960 (measured, not shipped)
    "probe960p": ("photo", "photo960"),  # the photo pair, fitted on them (the photo path)
}


def pair_of(views: list[str]) -> str:
    """The probe pair (``probe.py``'s SETS key) whose scores a head on ``views`` reads."""
    pairs = {PROBE_VIEWS[v][0] for v in views if v in PROBE_VIEWS}
    if len(pairs) != 1:
        raise SystemExit(f"views {views} read {len(pairs)} probe pairs, not one")
    return pairs.pop()


def head_probes(views: list[str]) -> dict[str, str]:
    """The versions of the probe pair a head on ``views`` reads (the head's ``probes``: the checker
    refuses a detectors file that loads another pair under it)."""
    from captureguard.core.detection import NSFW_PROBE, NSFW_PROBE_SCENE, NSFWJS_PICTURE, NSFWJS_PROBE, PICTURE_NSFW
    from tools.detect_v2 import locator, nsfwjs_probe, probe

    ps = probe.SETS[pair_of(views)]
    out = {NSFW_PROBE: ps.version(scene=False), NSFW_PROBE_SCENE: ps.version(scene=True)}
    if ps.train in probe.PICTURE:  # fitted on the located crops: the head needs that locator
        out[PICTURE_NSFW] = locator.VERSION
    if "njsprobe" in views:  # the photo head since v2.8
        out[NSFWJS_PROBE] = nsfwjs_probe.VERSION
    if any(v in views for v in NSFWJS_PICTURE_FEATURES):  # measured, not shipped
        out[NSFWJS_PICTURE] = nsfwjs_probe.SETS["picture"].version
    return out


STILL_VIEWS = [
    "nn640",
    "onsfw",
    "pose640",
    "crops640",
    "pose320",
    "crops320",
    "pose480",
    "crops480",
    "pose960",
    "crops960",
]


def scene_records(
    items: list[Any], d: evaluate.Data, *, picture: bool = False
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """The scene copies' cached views plus their out-of-fold probe scores (``picture``: the nsfwjs
    picture probe's too, as :func:`with_probe`), the pasted stills' indices and the scenes' frame
    shares (``probe.py`` must have run with the same plan)."""
    oofs = load_oofs()
    plan = scenes.plan(items, d)
    src = np.array([sc.item for sc in plan])
    if any("scene_item" not in oof or not np.array_equal(oof["scene_item"], src) for oof in oofs.values()):
        raise SystemExit("the probes' OOF scores have no scores for these scenes: run tools/detect_v2/probe.py first")
    njs = nsfwjs_oof(items)
    pic = nsfwjs_oof(items, "picture") if picture else None
    if any(not np.array_equal(o["scene_item"], src) for o in (njs, pic) if o is not None):
        raise SystemExit(
            "the nsfwjs probe's OOF scores have no scores for these scenes: run tools/detect_v2/nsfwjs_probe.py"
            + (" (and --set picture)" if picture else "")
        )
    small = {z: scenes.get(items, plan, people=z) for z in (320, 480, 960)}
    recs = [
        {
            **r,
            **{k: small[z][i][k] for z in small for k in (f"pose{z}", f"crops{z}")},
            **probe_scores(oofs, "scene", i),
            "njsprobe": float(njs["scene"][i]),
            **({"njspic": float(pic["scene"][i])} if pic is not None else {}),
        }
        for i, r in enumerate(scenes.get(items, plan))
    ]
    return recs, src, np.array([sc.area for sc in plan])


def cascade(
    d: evaluate.Data,
    tr: Training,
    recs: list[dict[str, Any]],
    live: np.ndarray,
    *,
    live_views: list[str],
    features: list[str],
    write: bool,
    per_fold: dict[str, dict[str, Any]],
) -> list[str]:
    """Fit the first stage's head (``features`` of the live views without NudeNet and nsfwjs), place
    ``escalate_at`` under every still and scene the live check blocks, and report what the cascade
    costs (escalations) and keeps (recall)."""
    # without the escalated check's own detectors: NudeNet and nsfwjs on the located picture (--live-nsfwjs)
    first_views = [v for v in live_views if not v.startswith("nn") and v not in NSFWJS_PICTURE_FEATURES]
    x = evaluate.features(recs, first_views, features)
    fold_heads = tr.heads(x, features, L2)
    s_all = tr.oof(x, features, L2, fold_heads)
    s, n = s_all[: tr.n_stills], tr.n_stills
    blocked_all = (tr.y == 1) & (live >= 0.5)
    blocked = blocked_all[:n]
    lowest = float(s_all[blocked_all].min()) if blocked_all.any() else 0.5
    escalate_at = float(shifted(np.array([lowest]), -FIRST_MARGIN)[0])
    up = s >= escalate_at
    kept = blocked & up
    lines = [
        "## live cascade: first stage " + " + ".join(first_views) + f"; AUC {auc(s, d.y):.3f}",
        "",
        f"escalate_at = {escalate_at:.4f} (first-stage OOF score; lowest score of a still or scene the live check"
        f" blocks, {lowest:.4f}, minus {FIRST_MARGIN} in logit); the full live check also runs every"
        f" {FIRST_EVERY}th check.",
        "",
        "| | nude | all safe | people | clothing | art | other |",
        "|---|---|---|---|---|---|---|",
    ]
    t = evaluate.table(up, d)
    lines.append(
        "| escalated to the full check | "
        + " | ".join(f"{t[k][0]}/{t[k][1]}" for k in ("nude", "safe", "people", "clothing", "art", "other"))
        + " |"
    )
    sc_up = (s_all >= escalate_at)[n:]
    sc_safe = tr.y[n:] == 0
    lines += [
        "",
        f"Blocked by the cascade (child): {int(kept.sum())}/74 vs the full live check alone {int(blocked.sum())}/74"
        " (equal by construction on these stills; the margin is for the frames they do not cover)."
        f" Scenes: {int((blocked_all[n:] & sc_up).sum())}/{int(blocked_all[n:].sum())} of the nude scenes the live"
        f" check blocks escalate; {int(sc_up[sc_safe].sum())}/{int(sc_safe.sum())} safe scenes escalate.",
        "",
    ]
    m = tr.head(x, features, L2)
    head = {
        "version": "v2-live_first-grouped-cv",
        "intercept": round(float(m.intercept), 6),
        "weights": {n: round(float(w), 6) for n, w in zip(features, m.weights, strict=True)},
        "features": features,
        "probes": head_probes(first_views),
        "cascade": {"of": "live", "escalate_at": round(escalate_at, 6), "every": FIRST_EVERY},
        "fitted_on": {
            "views": first_views,
            "l2_standardised": L2,
            "manifest": "eval/manifest.csv (v2)",
            "scenes": bool(tr.fitted[n:].any()),
            "still_weight": tr.still_weight,
        },
        "cv": {
            "method": "grouped CV as the other heads; escalate_at from OOF scores",
            "command": ".venv/bin/python tools/detect_v2/fit_heads.py --write",
            "auc": round(auc(s, d.y), 4),
            "escalated_safe_stills": round(float(up[d.y == 0].mean()), 4),
        },
    }
    per_fold["live_first"] = fold_json(fold_heads, features, 0.0, "v2-live_first", cascade=head["cascade"])
    if write:
        (DATA / "fusion_live_first.json").write_text(json.dumps(head, indent=2) + "\n")
    return lines


def mode_report(
    mode: str,
    views: list[str],
    d: evaluate.Data,
    tr: Training,
    *,
    recs: list[dict[str, Any]],
    s_all: np.ndarray,
) -> list[str]:
    """One mode's tables: the shipped profiles (``profiles.toml``, with and without region rules),
    scenes, per kind, misses."""
    profiles = load_profiles()
    s = s_all[: tr.n_stills]
    report = [f"## {mode}: views {', '.join(views)}; AUC {auc(s, d.y):.3f}", "", evaluate.HEADER]
    for p in ("child", "teen", "adult"):
        block, support = profiles[p].block_score, profiles[p].region_support_score
        reg_alone = region_blocks(recs[: tr.n_stills], views, dict(profiles[p].class_thresholds))
        title = (
            f"{p} as shipped (fused >= {block:.3f}, or a region over its class threshold and fused >= {support:.3f})"
        )
        report.append(evaluate.fmt_table(title, (s >= block) | (reg_alone & (s >= support)), d))
        report.append(evaluate.fmt_table(f"{p}, fused score alone", s >= block, d))
        report.append(evaluate.fmt_table(f"{p} + lone regions (old rule)", (s >= block) | reg_alone, d))
    report += ["", f"Scene copies ({mode}, child, OOF, fused >= 0.5; tools/detect_v2/scenes.py):", "", SCENE_HEADER]
    report += tr.scene_rows(s_all, 0.5)
    report += ["", f"Per kind ({mode}, child, fused >= 0.5):", "", evaluate.per_kind(s >= 0.5, d), ""]
    report += [f"Missed at child ({mode}): " + "; ".join(evaluate.missed(s, d, 0.5)), ""]
    fb = sorted(f"{it.kind}: {it.title}" for it, v in zip(d.items, s, strict=True) if not it.label and v >= 0.5)
    report += [f"Safe stills blocked at child ({mode}): " + "; ".join(fb), ""]
    return report


def training_of(
    mode: str,
    d: evaluate.Data,
    src: np.ndarray,
    area: np.ndarray,
    *,
    stills_only: bool = False,
    fit_scenes: bool = False,
) -> Training:
    """How ``mode``'s heads are fitted: as shipped (:data:`TRAINING`), the v2.1 baseline
    (``stills_only``: stills once) or every row once (``fit_scenes``)."""
    if stills_only:
        return Training.of(d, src, area, fit_scenes=False)
    if fit_scenes:
        return Training.of(d, src, area, fit_scenes=True)
    return Training.of(d, src, area, **TRAINING[mode])


def fit_mode(
    tr: Training, recs: list[dict[str, Any]], views: list[str], feats: list[str], l2: float
) -> tuple[Training, list[str], dict[int, Head], np.ndarray, Head]:
    """A mode's ``(training rows, features, fold heads, OOF scores of every row, the head on all)``."""
    x = evaluate.features(recs, views, feats)
    fold_heads = tr.heads(x, feats, l2)
    return tr, feats, fold_heads, tr.oof(x, feats, l2, fold_heads), tr.head(x, feats, l2)


def either_json(
    either: tuple[str, float],
    other: tuple[Training, list[str], dict[int, Head], np.ndarray, Head],
    shift: float,
    mode: str,
    other_views: list[str],
) -> dict[str, Any]:
    """The ``either`` block of ``mode``'s head file: the other mode's head (``other``, from
    :func:`fit_mode`), its intercept shifted by this head's ``shift``, and the offset."""
    name, offset = either
    _, feats, _, _, m = other
    return {
        "either": {
            "mode": name,
            "offset": offset,
            "note": (
                f"v2.9: a frame is scored by the larger of this head's logit and this {name} head's"
                f" (read on the [{name}] detectors' evidence) minus the offset, then calibrated;"
                " the other head as fitted for its own file, its intercept shifted with this one"
            ),
            "head": {
                "version": f"v2-{name}-in-{mode}",
                "intercept": round(float(m.intercept) + shift, 6),
                "weights": {n: round(float(w), 6) for n, w in zip(feats, m.weights, strict=True)},
                "probes": head_probes(other_views),
            },
        }
    }


def add_either_folds(
    folds: dict[str, dict[str, Any]],
    either: tuple[str, float],
    other: tuple[Training, list[str], dict[int, Head], np.ndarray, Head],
    shift: float,
    mode: str,
) -> None:
    """Give each fold's head file (:func:`fold_json`) the other mode's head of that fold, shifted alike."""
    name, offset = either
    heads = fold_json(other[2], other[1], shift, f"v2-{name}-in-{mode}")
    for f, h in folds.items():
        h["either"] = {"head": heads[f], "offset": offset, "mode": name}


def parse_args() -> argparse.Namespace:
    """The command line (``--help``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--write",
        action="store_true",
        help="write fusion_<mode>.json (not profiles.toml: each head is calibrated to its thresholds)",
    )
    ap.add_argument(
        "--fit-scenes", action="store_true", help="fit the heads on the scene copies too (measured, not shipped)"
    )
    ap.add_argument(
        "--stills-only",
        action="store_true",
        help="the v2.1 baseline: no scene probe, heads fitted on stills; writes only its fold heads and report"
        " (on the current probe pairs and people sizes: re-run it after probe.py before"
        " bench/stream_calibrate.py --held-out stills-only)",
    )
    ap.add_argument("--live-people", type=int, choices=(320, 480, 640), default=LIVE_PEOPLE)
    ap.add_argument(
        "--live-nsfwjs",
        choices=("logit", "max"),
        default="",
        help="the live head also reads nsfwjs on the located picture (nsfwjs_probe.py --set picture first;"
        " measured, not shipped: with --write, add its [[live.detectors]] table, fit_heads.MODES shows it)",
    )
    ap.add_argument(
        "--photo-people",
        type=int,
        choices=(640, 960),
        default=PHOTO_PEOPLE,
        help="the photo path's people input size (960: with the photo probe pair, shipped; 640: the live pair, v2.2)",
    )
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.stills_only and args.write:
        raise SystemExit("--stills-only is a baseline for comparison: it never writes the shipped heads")
    mode_views = modes(args.live_people, args.photo_people, args.live_nsfwjs)
    # --stills-only, v2.1: one probe, heads fitted on stills
    features = FEATURES_V21 if args.stills_only else FEATURES
    first_features = [f for f in FIRST_FEATURES if f in features]
    items = view_cache.read_manifest(view_cache.DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    recs = with_probe(items, view_cache.get(items, STILL_VIEWS), picture=bool(args.live_nsfwjs))
    srecs, src, area = scene_records(items, d, picture=bool(args.live_nsfwjs))

    def training(mode: str) -> Training:
        return training_of(mode, d, src, area, stills_only=args.stills_only, fit_scenes=args.fit_scenes)

    recs = recs + srecs
    report = [
        "# Detection v2: fusion heads (grouped CV, out-of-fold)",
        "",
        "Command: `.venv/bin/python tools/detect_v2/fit_heads.py`",
        "",
    ]
    thresholds: dict[str, dict[str, float]] = {}
    profiles = load_profiles()
    oofs: dict[str, np.ndarray] = {}
    per_fold: dict[str, dict[str, Any]] = {}
    fitted = {
        mode: fit_mode(training(mode), recs, views, features_of(views, features), l2)
        for mode, (views, _, l2) in mode_views.items()
    }
    for mode, (views, _, l2) in mode_views.items():
        tr, feats, fold_heads, s_all, m = fitted[mode]
        either = EITHER.get(mode) if not args.stills_only else None
        if either is not None:  # v2.9: this head or the other mode's, on their own detector sets
            s_all = either_scores(s_all, fitted[either[0]][3], either[1])
        s = s_all[: tr.n_stills]
        t_child = evaluate.threshold_for(s, d, RATES["child"])
        # the child threshold lands a hair above 0.5 (1e-4 in logit), so a safe still that sits
        # exactly at the OOF <= 1% point stays below the shipped 0.5
        shift = -logit(t_child) - 1e-4
        s, s_all = shifted(s, shift), shifted(s_all, shift)
        # each head's own teen/adult/warn points onto the shared profile thresholds
        cal, thr = calibration(s, d, profiles)
        knots = {"knots": [[round(a, 6), round(b, 6)] for a, b in cal.knots]}
        s_all = calibrated(s_all, Calibration.from_mapping(knots))  # the rounded knots, as shipped
        oofs[mode] = s_all
        per_fold[mode] = fold_json(fold_heads, feats, shift, f"v2-{mode}", calibration=knots)
        if either is not None:  # each fold's head reads that fold's other head, shifted alike
            add_either_folds(per_fold[mode], either, fitted[either[0]], shift, mode)
        thresholds[mode] = thr
        head = {
            "version": f"v2-{mode}-grouped-cv",
            "intercept": round(float(m.intercept) + shift, 6),
            "weights": {n: round(float(w), 6) for n, w in zip(feats, m.weights, strict=True)},
            "features": feats,
            "probes": head_probes(views),
            "calibration": {
                **knots,
                "note": (
                    "logit knots (head, profile): this head's OOF warn / child / teen / adult points"
                    " (cv.oof_thresholds) onto the profiles' child warn, 0.5, teen and adult block scores"
                    + (" (of the larger of this head's logit and the either head's minus its offset)" if either else "")
                ),
            },
            **(either_json(either, fitted[either[0]], shift, mode, mode_views[either[0]][0]) if either else {}),
            "fitted_on": {
                "views": views,
                "l2_standardised": l2,
                "manifest": "eval/manifest.csv (v2)",
                "monotone": "weights of exposed parts and nudity scores constrained >= 0 (dropped and refitted)",
                "scenes": bool(tr.fitted[tr.n_stills :].any()),
                "still_weight": tr.still_weight,
            },
            "cv": {
                "method": "grouped CV, one fold per positive group (67), negative groups dealt round-robin; OOF",
                "command": ".venv/bin/python tools/detect_v2/fit_heads.py --write",
                "auc": round(auc(s, d.y), 4),
                "child_point": (
                    "OOF score at which <= 1% of all safe stills and <= 1% of people photos are blocked, shifted to 0.5"
                ),
                "oof_thresholds": {k: round(v, 6) for k, v in thr.items()},
            },
        }
        if args.write:
            (DATA / f"fusion_{mode}.json").write_text(json.dumps(head, indent=2) + "\n")
        report += mode_report(mode, views, d, tr, recs=recs, s_all=s_all)
    report += cascade(
        d,
        training("live"),
        recs,
        oofs["live"],
        live_views=mode_views["live"][0],
        features=first_features,
        write=args.write,
        per_fold=per_fold,
    )
    (FOLD_HEADS_STILLS_ONLY if args.stills_only else FOLD_HEADS).write_text(json.dumps(per_fold))
    out = "detect_v2_stills_only.md" if args.stills_only else "detect_v2.md"
    (ROOT / "bench" / "results" / out).write_text("\n".join(report) + "\n")
    print("\n".join(report))
    print(json.dumps(thresholds, indent=1))


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main()
