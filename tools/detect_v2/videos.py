"""Frames of the dev set's safe videos as training negatives (grouped by video), their views cached.

The live check withholds 4.6 s per minute of the dev safe videos (target 0.5), almost all of it in
five of the 35: an animated film (the scene probe reads it as a small nude scene), sign language
and hand close-ups (skin filling the frame), selfie and pose demos. The heads and probes were
fitted on stills only, so they never saw a video frame. This module samples every
:data:`STEP`-th frame of each safe video of ``eval/manifest.csv`` and caches, per frame, what the
live checker computes (as ``scenes.py`` does for scene copies: ``hw``, ``nn640``, ``onsfw``,
``pose640``, ``crops640`` and ``p``/``e``, open_nsfw's probabilities and pooled features of the
frame and up to 6 people's crops) under ``$CG_V2_CACHE/videos/``.

Grouping: a video is one group (its preview GIF and the clip it was cut from, ``intel_preview_X``
and ``intel_X``, are one group), dealt over the stills' folds round-robin by a hash of the group
name, so every video frame is scored out of fold by models that never saw that video.

    .venv/bin/python tools/detect_v2/videos.py     # ~3 min on 2 cores the first time
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.evaluation.manifest import VIDEO_KIND_PREFIX, VIDEO_SUFFIXES
from tools.calibrate_fusion import DEFAULT_MANIFEST
from tools.detect_v2 import evaluate

CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "videos"
#: every STEP-th decoded frame (the live path checks about every third frame of 30 fps video)
STEP = 6


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: the video (path relative to the manifest), its frame index, group and fold."""

    path: str
    index: int
    group: str
    fold: int
    sha256: str  #: the video file's

    @property
    def key(self) -> str:
        return f"{self.sha256[:24]}_{self.index:05d}"


def group_of(name: str) -> str:
    """A video's group: the file's stem, a preview GIF grouped with the clip it shows."""
    stem = Path(name).stem
    return stem.replace("intel_preview_", "intel_", 1)


def safe_videos(manifest: Path = DEFAULT_MANIFEST) -> list[dict[str, str]]:
    """The manifest's safe video rows (the leak benchmark's backgrounds and safe-video set)."""
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [
        r
        for r in rows
        if r["label"] == "safe"
        and (Path(r["path"]).suffix.lower() in VIDEO_SUFFIXES or r["kind"].startswith(VIDEO_KIND_PREFIX))
    ]


def video_folds(d: evaluate.Data, manifest: Path = DEFAULT_MANIFEST) -> dict[str, int]:
    """Manifest path of each safe video -> its fold (groups dealt over the stills' folds)."""
    folds = sorted({int(f) for f in np.unique(d.folds)})
    groups = sorted(
        {group_of(r["path"]) for r in safe_videos(manifest)}, key=lambda g: hashlib.sha256(g.encode()).hexdigest()
    )
    fold_of = {g: folds[i % len(folds)] for i, g in enumerate(groups)}
    return {r["path"]: fold_of[group_of(r["path"])] for r in safe_videos(manifest)}


def plan(d: evaluate.Data, manifest: Path = DEFAULT_MANIFEST) -> list[VideoFrame]:
    """Every :data:`STEP`-th frame of every safe video (decoded once to count them)."""
    from captureguard.sources.video import AvFileSource

    out = []
    fold_of = video_folds(d, manifest)
    for r in safe_videos(manifest):
        path = manifest.parent / r["path"]
        index_file = CACHE / f"{r['sha256'][:24]}_count.txt"
        if index_file.exists():
            n = int(index_file.read_text())
        else:
            source = AvFileSource(path)
            n = sum(1 for _ in source)
            source.close()
            CACHE.mkdir(parents=True, exist_ok=True)
            index_file.write_text(str(n))
        out += [
            VideoFrame(r["path"], k, group_of(r["path"]), fold_of[r["path"]], r["sha256"]) for k in range(0, n, STEP)
        ]
    return out


def _rows(found: Any) -> dict[str, np.ndarray]:
    return {"xyxy": found.xyxy, "scores": found.scores, "labels": np.array([str(x) for x in found.labels])}


def get(frames: list[VideoFrame], manifest: Path = DEFAULT_MANIFEST) -> list[dict[str, Any]]:
    """Per sampled frame a ``scenes.get``-style record (people found at 640)."""
    from tqdm import tqdm

    from captureguard.core.frame import Frame
    from captureguard.models.probe import nsfw_probe_detector
    from captureguard.models.yolo import YoloSettings, nudenet_detector
    from captureguard.sources.video import AvFileSource
    from tools.detect_v2.probe import UNFITTED

    CACHE.mkdir(parents=True, exist_ok=True)
    missing = [vf for vf in frames if not (CACHE / f"{vf.key}.pkl").exists()]
    if missing:
        det = nsfw_probe_detector(input_size=640, max_crops=6, probe=UNFITTED)
        nn = nudenet_detector(YoloSettings(input_size=640, score_threshold=0.05, channels="bgr"), threads=2)
        wanted: dict[str, set[int]] = {}
        for vf in missing:
            wanted.setdefault(vf.path, set()).add(vf.index)
        bar = tqdm(total=len(missing), desc="video frames", unit="frame", mininterval=10)
        for rel, indices in wanted.items():
            sha = next(vf.sha256 for vf in missing if vf.path == rel)
            source = AvFileSource(manifest.parent / rel)
            for k, frame in enumerate(source):
                if k not in indices:
                    continue
                bgr = np.ascontiguousarray(frame.bgr)
                assert det.people is not None  # max_crops > 0
                found = det.people.detect_bgr(bgr)
                probs, feats, crops = det.features(bgr, found.xyxy)
                rec = {
                    "hw": bgr.shape[:2],
                    "pose640": _rows(found),
                    "onsfw": float(probs[0]),
                    "crops640": {
                        "xyxy": np.array(crops, np.float32).reshape(-1, 4),
                        "scores": probs[1:].astype(np.float32),
                        "labels": np.array(["PERSON_NSFW"] * len(crops)),
                    },
                    "p": probs.astype(np.float32),
                    "e": feats.astype(np.float32),
                    "nn640": _rows(nn.detect(Frame.from_bgr(bgr))),
                }
                (CACHE / f"{sha[:24]}_{k:05d}.pkl").write_bytes(pickle.dumps(rec))
                bar.update()
            source.close()
        bar.close()
    return [pickle.loads((CACHE / f"{vf.key}.pkl").read_bytes()) for vf in frames]


def main() -> None:
    from tools.calibrate_fusion import read_manifest

    d = evaluate.Data.of(read_manifest(DEFAULT_MANIFEST))
    frames = plan(d)
    n_videos, n_groups = len({vf.path for vf in frames}), len({vf.group for vf in frames})
    print(f"{len(frames)} frames of {n_videos} safe videos in {n_groups} groups")
    get(frames)


if __name__ == "__main__":
    main()
