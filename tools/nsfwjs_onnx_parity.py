"""Check the converted nsfwjs InceptionV3 ONNX model against TF.js, and time it on onnxruntime.

Every still of an eval manifest (videos skipped) is resized to 299x299 RGB (PIL bilinear) once;
the same uint8 pixels go to TF.js (``tools/nsfwjs_score.cjs`` under node, in ``--npm-dir`` where
``npm install nsfwjs@4 @tensorflow/tfjs@4`` was done) and to the ONNX model (``/ 255``). Prints
the largest absolute difference of the five class probabilities and of the porn + hentai score,
and the ONNX run time per image. Scores only: no image is written or printed.

Build time only; run with a venv that has onnxruntime and Pillow (the project's does)::

    python tools/nsfwjs_onnx_parity.py --onnx WORK/incv3/nsfwjs_inception_v3.onnx --npm-dir WORK/npm

TF.js runs on its pure-JS CPU backend: about 30 min for the 166 stills of the development set.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "eval" / "manifest.csv"
SCORER = Path(__file__).resolve().with_name("nsfwjs_score.cjs")
SIZE = 299
VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"}


def stills(manifest: Path) -> list[Path]:
    """Paths of the manifest's stills (video rows and video files skipped)."""
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    paths = [manifest.parent / row["path"] for row in rows if not row.get("kind", "").startswith("video")]
    return [p for p in paths if p.suffix.lower() not in VIDEO_SUFFIXES]


def pixels(path: Path) -> np.ndarray:
    """``(299, 299, 3) uint8`` RGB, resized as nsfwjs's survey did (PIL bilinear)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.uint8)


def tfjs_scores(images: Sequence[np.ndarray], npm_dir: Path) -> np.ndarray:
    """``(N, 5)`` TF.js probabilities (Drawing, Hentai, Neutral, Porn, Sexy)."""
    data = b"".join(img.tobytes() for img in images)
    run = subprocess.run(
        ["node", str(SCORER), "InceptionV3", str(SIZE)], input=data, capture_output=True, cwd=npm_dir, check=False
    )
    if run.returncode:
        raise SystemExit("nsfwjs_score.cjs failed:\n" + run.stderr.decode()[-2000:])
    out = [json.loads(line) for line in run.stdout.decode().splitlines() if line.startswith("[")]
    if len(out) != len(images):
        raise SystemExit(f"TF.js gave {len(out)} answers for {len(images)} images")
    return np.array(out, np.float64)


def onnx_scores(images: Sequence[np.ndarray], model: Path, threads: int) -> tuple[np.ndarray, list[float]]:
    """``(N, 5)`` ONNX probabilities and the run time of each image in ms."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    probs, ms = [], []
    for img in images:
        x = img[None].astype(np.float32) / 255.0
        t0 = time.perf_counter()
        probs.append(session.run(None, {"input": x})[0][0])
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.array(probs, np.float64), ms


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True, help="the model written by nsfwjs_to_onnx.py")
    parser.add_argument(
        "--npm-dir", type=Path, required=True, help="where nsfwjs@4 and @tensorflow/tfjs@4 are installed"
    )
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    images = [pixels(p) for p in stills(args.manifest)]
    ours, ms = onnx_scores(images, args.onnx, args.threads)
    ref = tfjs_scores(images, args.npm_dir)
    per_class = np.abs(ours - ref).max(axis=1)
    porn_hentai = np.abs((ours[:, 1] + ours[:, 3]) - (ref[:, 1] + ref[:, 3]))
    print(
        f"{len(images)} stills: max |diff| of the 5 probabilities {per_class.max():.2e} "
        f"(median {np.median(per_class):.2e}); "
        f"porn + hentai {porn_hentai.max():.2e}; onnxruntime {np.median(ms):.1f} ms median, "
        f"p90 {np.percentile(ms, 90):.1f} ms per image ({args.threads} threads)"
    )


if __name__ == "__main__":
    main()
