"""Record nsfwjs' own (TF.js) class probabilities on the bundled demo stills, once.

The TF.js model gets exactly the 299x299 RGB pixels our detector feeds the ONNX model
(:func:`captureguard.nsfwjs.nsfwjs_input`), so the fixture pins the conversion, not resizing::

    (cd $D/npm && npm install --no-save nsfwjs@4.3.0 @tensorflow/tfjs@4)   # see to_onnx.py
    .venv/bin/python tools/nsfwjs/record_parity.py $D/npm

Writes ``tests/models/fixtures/nsfwjs_parity.json`` (used by ``tests/models/test_nsfwjs.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from captureguard.models.nsfwjs import NSFWJS_CLASSES, nsfwjs_input

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src" / "captureguard" / "data" / "demo"
OUT = ROOT / "tests" / "models" / "fixtures" / "nsfwjs_parity.json"


def main() -> None:
    npm = Path(sys.argv[1])
    shutil.copy(Path(__file__).with_name("score_tfjs.cjs"), npm / "score_tfjs.cjs")
    names = sorted(p.name for p in DEMO.iterdir() if p.suffix.lower() in (".jpg", ".png", ".webp"))
    pixels = [
        np.round(nsfwjs_input(cv2.imread(str(DEMO / n), cv2.IMREAD_COLOR))[0] * 255).astype(np.uint8) for n in names
    ]
    run = subprocess.run(
        ["node", "score_tfjs.cjs", "InceptionV3", "299"],
        input=b"".join(p.tobytes() for p in pixels),
        capture_output=True,
        cwd=npm,
        check=True,
    )
    probs = [json.loads(line) for line in run.stdout.decode().splitlines() if line.startswith("[")]
    assert len(probs) == len(names), (len(probs), run.stderr.decode()[-500:])
    stills = {n: [round(float(v), 6) for v in p] for n, p in zip(names, probs, strict=True)}
    OUT.write_text(
        json.dumps(
            {
                "reference": "nsfwjs@4.3.0 InceptionV3 on @tensorflow/tfjs@4 cpu backend",
                "classes": list(NSFWJS_CLASSES),
                "stills": stills,
            },
            indent=1,
        )
    )
    print("wrote", OUT, len(stills))


if __name__ == "__main__":
    main()
