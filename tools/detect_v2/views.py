"""Per-image model outputs ("views") of the eval manifest's stills, computed once and cached.

Every view is computed with the shipped Detector classes (so calibration sees exactly what the
checker sees at run time) and stored per (file sha256, perturbation) in one ``.pkl`` under
``$CG_V2_CACHE`` (default ``/tmp/cg_v2_cache``). Views:

* ``nn640``: NudeNet 640 (shipped settings) -> Detections rows (xyxy, score, label);
* ``onsfw``: open_nsfw whole-image probability;
* ``njs``: nsfwjs InceptionV3 5-class probabilities;
* ``pose<size>`` (320, 480, 640, 960): YOLO11n-pose person boxes at that input size;
* ``crops<size>``: open_nsfw on square crops around those people (<= 6);
* ``ms``: milliseconds per view.

Usage (worktree venv; ~0.2 s per image on 2 threads)::

    .venv/bin/python tools/detect_v2/views.py [--pert clean,motion_blur,...] [--only-positives-and-people]
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.frame import Frame
from captureguard.models.nsfwjs import nsfwjs_detector
from captureguard.models.open_nsfw import open_nsfw_detector
from captureguard.models.people import PersonCropDetector, PersonDetector, PersonSettings, person_model_path
from captureguard.models.runtime import OnnxModel
from captureguard.models.yolo import YoloSettings, nudenet_detector
from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, load_frame, read_manifest

CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache"))
ALL_VIEWS = ("nn640", "onsfw", "njs", "pose640", "crops640", "pose960", "crops960")
PEOPLE_KINDS = ("face_closeup", "portrait", "shirtless_sports")
#: person detector input sizes with a view (320/480: candidates for a faster live path)
PEOPLE_SIZES = (320, 480, 640, 960)


def is_people(kind: str) -> bool:
    """The people-photo kinds the issue's 1% target holds for on their own."""
    return kind in PEOPLE_KINDS or kind.startswith(("people_", "person_"))


class Models:
    """The sessions, built once."""

    def __init__(self, threads: int = 2) -> None:
        self.nn = nudenet_detector(YoloSettings(input_size=640, score_threshold=0.05, channels="bgr"), threads=threads)
        self.ons = open_nsfw_detector(threads=threads)
        self._threads = threads
        pose = OnnxModel(person_model_path(), threads=threads)
        self.pose = {s: PersonDetector(pose, PersonSettings(input_size=s)) for s in PEOPLE_SIZES}
        self.crops = {s: PersonCropDetector(self.pose[s], self.ons.model) for s in PEOPLE_SIZES}

    @functools.cached_property
    def njs(self) -> Any:
        """nsfwjs, built on first use: only the njs views need it (``make nsfwjs-model``)."""
        return nsfwjs_detector(threads=self._threads)


def _rows(found: Any) -> dict[str, np.ndarray]:
    return {"xyxy": found.xyxy, "scores": found.scores, "labels": np.array([str(x) for x in found.labels])}


def compute(models: Models, bgr: np.ndarray, view: str, got: dict[str, Any]) -> Any:
    frame = Frame.from_bgr(bgr)
    if view == "nn640":
        return _rows(models.nn.detect(frame))
    if view == "onsfw":
        return float(models.ons.detect(frame).scores[0])
    if view == "njs":
        return models.njs.probabilities(bgr)
    if view == "njs_emb":
        return models.njs.outputs(bgr)[1].astype(np.float16)
    if view.startswith("pose"):
        return _rows(models.pose[int(view[4:])].detect_bgr(bgr))
    if view.startswith("crops"):
        size = int(view[5:])
        return _rows(models.crops[size].score_crops(bgr, got[f"pose{size}"]["xyxy"]))
    raise KeyError(view)


def get(
    items: Sequence[Item], views: Sequence[str], *, pert: str = "clean", models: Models | None = None
) -> list[dict[str, Any]]:
    """One dict per item with the requested views (computed and cached when missing)."""
    from tqdm import tqdm

    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for item in tqdm(items, desc=pert, unit="img", leave=False, mininterval=10):
        f = CACHE / f"{item.sha256[:24]}_{pert}.pkl"
        rec: dict[str, Any] = pickle.loads(f.read_bytes()) if f.exists() else {"ms": {}}
        missing = [v for v in views if v not in rec]
        if missing:
            models = models or Models()
            bgr = np.asarray(load_frame(item.path).bgr)
            if pert != "clean":
                from captureguard.evaluation.perturb import PERTURBATIONS

                bgr = np.ascontiguousarray(PERTURBATIONS[pert](bgr))
            rec["hw"] = bgr.shape[:2]
            for v in sorted(missing, key=lambda v: v.startswith("crops")):
                if v.startswith("crops") and f"pose{v[5:]}" not in rec:
                    rec[f"pose{v[5:]}"] = compute(models, bgr, f"pose{v[5:]}", rec)
                t0 = time.perf_counter()
                rec[v] = compute(models, bgr, v, rec)
                rec["ms"][v] = (time.perf_counter() - t0) * 1e3
            f.write_bytes(pickle.dumps(rec))
        out.append(rec)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--pert", default="clean")
    ap.add_argument("--views", default="nn640,onsfw,njs,pose640,crops640")
    ap.add_argument("--subset", choices=("all", "pos_people", "pos"), default="all")
    args = ap.parse_args()
    items = read_manifest(args.manifest)
    if args.subset == "pos_people":
        items = [it for it in items if it.label or is_people(it.kind)]
    elif args.subset == "pos":
        items = [it for it in items if it.label]
    models = Models()
    for pert in args.pert.split(","):
        get(items, args.views.split(","), pert=pert, models=models)
        print(pert, "done", len(items))


if __name__ == "__main__":
    main()
