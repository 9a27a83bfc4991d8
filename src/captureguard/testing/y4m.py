"""A tiny YUV4MPEG2 writer for Chromium's fake camera (``--use-file-for-fake-video-capture``).

Chromium loops the file, so a script of stills (safe, painting, safe) becomes a repeating
camera feed. Frames are BGR ``(H, W, 3) uint8``; the file is ``C420`` (I420, BT.601 as OpenCV
converts it). Used by :mod:`captureguard.testing.web_harness` (the browser tests and
``bench/web.py``).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: The bundled public-domain stills (``captureguard/data/demo``).
DEMO_DIR = Path(str(importlib.resources.files("captureguard").joinpath("data/demo")))


def letterbox(bgr: np.ndarray, *, width: int = 640, height: int = 480) -> np.ndarray:
    """Fit ``bgr`` inside ``width x height`` keeping its aspect ratio, on a dark grey border."""
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)
    out = np.full((height, width, 3), 32, dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


def load_fixture(name: str, *, width: int = 640, height: int = 480) -> np.ndarray:
    """A bundled demo still, letterboxed to ``width x height``, BGR ``(H, W, 3) uint8``."""
    path = DEMO_DIR / name
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"demo fixture {path} did not decode")
    return letterbox(bgr, width=width, height=height)


def write_y4m(path: Path, frames: Iterable[np.ndarray], *, fps: int = 10) -> int:
    """Write BGR frames (all the same even size) as YUV4MPEG2 C420; returns the frame count."""
    count = 0
    with open(path, "wb") as out:
        for bgr in frames:
            h, w = bgr.shape[:2]
            if count == 0:
                out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
            i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
            out.write(b"FRAME\n")
            out.write(i420.tobytes())
            count += 1
    return count


@dataclass(frozen=True)
class Segment:
    """``seconds`` of one still in the fake camera's script; ``label`` is ``safe`` or ``nudity``."""

    name: str
    label: str
    seconds: float


def build_script(path: Path, segments: Sequence[Segment], *, fps: int = 10) -> list[tuple[str, np.ndarray]]:
    """Write the y4m for ``segments``; returns ``(label, bgr)`` for every frame written, in order."""
    frames: list[tuple[str, np.ndarray]] = []
    for seg in segments:
        still = load_fixture(seg.name)
        frames.extend((seg.label, still) for _ in range(round(seg.seconds * fps)))
    write_y4m(path, (bgr for _, bgr in frames), fps=fps)
    return frames


def thumbnail(rgb: np.ndarray, *, width: int = 16, height: int = 12) -> np.ndarray:
    """Block-average ``rgb`` down to ``(height, width, 3)`` float32 (for nearest-frame matching)."""
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def nearest(thumb: np.ndarray, references: Sequence[tuple[str, np.ndarray]]) -> tuple[str, float]:
    """Label and mean absolute difference of the reference thumbnail closest to ``thumb``."""
    best = min(references, key=lambda ref: float(np.abs(ref[1] - thumb).mean()))
    return best[0], float(np.abs(best[1] - thumb).mean())
