"""Scene copies of the dev stills: each still pasted small into a camera-sized frame.

The leak benchmark (``bench/stream_calibrate.py``) showed the live check's failure mode: an
artwork it blocks as a still is missed when it fills 10-35% of a 720p frame. The probe and heads
were fitted on stills that fill their whole image. A *scene* is a still placed over a safe
background at a share of a 1280x720 frame, with the same compositing code as the leak clips
(:class:`~captureguard.sources.composite.Placed` over a
:class:`~captureguard.sources.synthetic.Pan` of a background still) and a JPEG round trip
(quality 80) for compression artefacts.

Honesty rules (the leak clips stay unseen):

* backgrounds are safe dev *stills*, never the safe videos the leak clips are filmed over;
* a scene belongs to its pasted still's fold (grouped CV), and its background is a safe still of
  the **same fold**, so no held-out still's pixels reach a training scene;
* safe stills get scenes too (one each), so "a picture inside a frame" is not what is learned.

Every positive gets one scene per :data:`POSITIVE_AREAS`; every safe still one, at an area drawn
from the same list. Placement is random (seeded by the still's sha256) with the whole still in
view. Per scene the views the checker computes at run time are cached (as ``views.py`` records,
plus the probe's pooled features): ``$CG_V2_CACHE/scenes/<sha>_<background sha>_<area>[@<people size>].pkl``.

    .venv/bin/python tools/detect_v2/scenes.py          # ~8 min on 2 cores the first time
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, load_frame, read_manifest
from tools.detect_v2 import evaluate

CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "scenes"
#: share of the frame's area the pasted still covers (the leak clips' small scales and one medium)
POSITIVE_AREAS = (0.10, 0.20, 0.35, 0.50)
FRAME_WH = (1280, 720)
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Scene:
    """One scene copy: ``item`` (index into the manifest) pasted over ``background`` at ``area``."""

    item: int
    background: int
    area: float
    seed: int

    @property
    def key(self) -> str:
        return f"a{round(self.area * 100):02d}"


def _seed(item: Item, salt: str) -> int:
    return int(hashlib.sha256((item.sha256 + salt).encode()).hexdigest()[:8], 16)


def plan(items: list[Item], d: evaluate.Data) -> list[Scene]:
    """The scenes: per positive one per area, per safe still one; same-fold safe backgrounds."""
    safe_by_fold: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        if not it.label:
            safe_by_fold.setdefault(int(d.folds[i]), []).append(i)
    out = []
    for i, it in enumerate(items):
        pool = [j for j in safe_by_fold.get(int(d.folds[i]), []) if j != i and d.cats[j] != "clothing"]
        if not pool:
            continue
        rng = np.random.default_rng(_seed(it, "scene"))
        areas = POSITIVE_AREAS if it.label else (float(rng.choice(POSITIVE_AREAS)),)
        for a in areas:
            out.append(Scene(i, int(pool[int(rng.integers(len(pool)))]), a, int(rng.integers(2**31))))
    return out


def placement(hw: tuple[int, int], area: float, seed: int) -> tuple[float, float, float, tuple[int, int, int, int]]:
    """Where :func:`render` puts a still of size ``hw`` (height, width): ``(frame share, centre x,
    centre y as fractions of the frame, its box in frame pixels)``."""
    ih, iw = hw
    ow, oh = FRAME_WH
    w = min(float(ow), np.sqrt(area * ow * oh * iw / ih))
    h = min(float(oh), w * ih / iw)
    w = h * iw / ih
    area = min(area, w * h / (ow * oh))  # a very wide/tall still fits the frame
    rng = np.random.default_rng(seed)
    cx = rng.uniform(w / 2, ow - w / 2) / ow if w < ow else 0.5
    cy = rng.uniform(h / 2, oh - h / 2) / oh if h < oh else 0.5
    box = (round(cx * ow - w / 2), round(cy * oh - h / 2), round(cx * ow + w / 2), round(cy * oh + h / 2))
    return area, cx, cy, box


def render(art_bgr: np.ndarray, bg_bgr: np.ndarray, area: float, seed: int) -> np.ndarray:
    """``art_bgr`` covering ``area`` of a 1280x720 frame over ``bg_bgr``, whole in view, JPEG'd."""
    from captureguard.sources.composite import Placed
    from captureguard.sources.synthetic import Pan, Still

    area, cx, cy = placement(art_bgr.shape[:2], area, seed)[:3]
    shot = Placed(
        Still(art_bgr, unsafe=True),
        Pan(Still(bg_bgr, unsafe=False), 1.0, zoom=(1.0, 1.0)),
        1.0,
        (area, area),
        ((cx, cy), (cx, cy)),
    )
    frame = shot.bind(FRAME_WH).render(0, 1)
    ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encode failed")
    return np.asarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR))


def scene_frame(items: list[Item], sc: Scene) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The planned scene ``sc`` rendered (its still and background read from the manifest's files),
    and the pasted still's box in frame pixels."""
    art = np.asarray(load_frame(items[sc.item].path).bgr)
    bgr = render(art, np.asarray(load_frame(items[sc.background].path).bgr), sc.area, sc.seed)
    return bgr, placement(art.shape[:2], sc.area, sc.seed)[3]


def _rows(found: Any) -> dict[str, np.ndarray]:
    return {"xyxy": found.xyxy, "scores": found.scores, "labels": np.array([str(x) for x in found.labels])}


def cache_name(items: list[Item], sc: Scene, suffix: str = "") -> str:
    """The cache file of a scene: the pasted still, its background (a changed manifest re-deals the
    folds, hence the backgrounds) and the frame share."""
    return f"{items[sc.item].sha256[:24]}_{items[sc.background].sha256[:8]}_{sc.key}{suffix}.pkl"


def get(items: list[Item], scenes: list[Scene], *, people: int = 640) -> list[dict[str, Any]]:
    """Per scene a ``views.py``-style record (``hw``, ``onsfw``, ``pose<people>``, ``crops<people>``,
    and ``nn640`` at the default size) plus ``p``/``e``: open_nsfw's probabilities and pooled
    features (whole frame, then <= 6 crops of the people the person detector finds at input ``people``)."""
    from tqdm import tqdm

    from captureguard.core.frame import Frame
    from captureguard.models.probe import nsfw_probe_detector
    from captureguard.models.yolo import YoloSettings, nudenet_detector
    from tools.detect_v2.probe import UNFITTED

    CACHE.mkdir(parents=True, exist_ok=True)
    det = nn = None  # built on the first scene missing from the cache (NudeNet at 640 only)
    out = []
    suffix = "" if people == 640 else f"@{people}"
    for sc in tqdm(scenes, desc=f"scenes (people {people})", unit="scene", mininterval=10):
        f = CACHE / cache_name(items, sc, suffix)
        if not f.exists():
            if det is None:
                det = nsfw_probe_detector(input_size=people, max_crops=6, probe=UNFITTED)
                if people == 640:
                    nn = nudenet_detector(YoloSettings(input_size=640, score_threshold=0.05, channels="bgr"), threads=2)
            bgr = scene_frame(items, sc)[0]
            found = det.people.detect_bgr(bgr)
            probs, feats, crops = det.features(bgr, found.xyxy)
            rec = {
                "hw": bgr.shape[:2],
                f"pose{people}": _rows(found),
                "onsfw": float(probs[0]),
                f"crops{people}": {
                    "xyxy": np.array(crops, np.float32).reshape(-1, 4),
                    "scores": probs[1:].astype(np.float32),
                    "labels": np.array(["PERSON_NSFW"] * len(crops)),
                },
                "p": probs.astype(np.float32),
                "e": feats.astype(np.float32),
            }
            if nn is not None:
                rec["nn640"] = _rows(nn.detect(Frame.from_bgr(bgr)))
            f.write_bytes(pickle.dumps(rec))
        out.append(pickle.loads(f.read_bytes()))
    return out


def main() -> None:
    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    scenes = plan(items, d)
    print(f"{len(scenes)} scenes ({sum(items[s.item].label for s in scenes)} of nude artworks)")
    for people in (640, 480, 320):
        get(items, scenes, people=people)


if __name__ == "__main__":
    main()
