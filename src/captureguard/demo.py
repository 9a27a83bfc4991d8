"""``captureguard demo``: the photo guard over the bundled public-domain stills, no camera needed."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from captureguard.check import Checker
from captureguard.frame import Frame
from captureguard.photo import PhotoGuard
from captureguard.samples import bundled_samples
from captureguard.sources.image import load_image
from captureguard.store import PhotoStore
from captureguard.verdict import Decision


def run_demo(*, out_dir: Path, profile: str = "child") -> int:
    """Check every bundled still with the photo guard, save the allowed ones, print a table.

    Returns 0 (the demo itself succeeded), whatever the decisions were.
    """
    samples = bundled_samples()
    print(f"captureguard demo: photo guard, profile '{profile}', {len(samples)} bundled public-domain stills")
    t0 = time.perf_counter()
    checker = Checker.create(profile=profile, mode="photo", deadline_s=10.0)
    names = " + ".join(d.name for d in checker.detectors)
    checker.check(Frame.from_bgr(np.full((480, 640, 3), 128, np.uint8)))  # warm-up, not timed below
    print(f"models loaded in {time.perf_counter() - t0:.1f} s ({names}); allowed photos go to {out_dir / 'photos'}\n")
    guard = PhotoGuard(checker, PhotoStore(out_dir / "photos"))
    print(f"{'expected':8s} {'decision':8s} {'score':>5s} {'ms':>4s} {'size':>9s} {'saved':5s} {'title':38s} evidence")
    hits = {"nudity": 0, "safe": 0}
    times = []
    for s in samples:
        frame = load_image(s.path)
        result = guard.save(frame, s.path.stem + ".jpg")
        v = result.verdict
        times.append(v.timings_ms.get("total", 0.0))
        correct = (v.decision is not Decision.ALLOW) == (s.label == "nudity")
        hits[s.label] += correct
        evidence = [r for r in v.reasons if r.code != "FUSED"][:2]
        top = ", ".join(f"{r.code.lower()} {r.score:.2f}" for r in evidence) or "-"
        mark = "" if correct else "  <-- " + ("MISSED" if s.label == "nudity" else "FALSE BLOCK")
        size = f"{frame.width}x{frame.height}"
        print(
            f"{s.label:8s} {v.decision.value.upper():8s} {v.score:5.2f} {times[-1]:4.0f} {size:>9s} "
            f"{'yes' if result.path else 'no':5s} {s.title[:38]:38s} {top}{mark}"
        )
    n_nude = sum(s.label == "nudity" for s in samples)
    print(
        f"\nnude paintings stopped: {hits['nudity']}/{n_nude}; safe pictures allowed: "
        f"{hits['safe']}/{len(samples) - n_nude}; median check {statistics.median(times):.0f} ms "
        f"(2 CPU threads). Blocked photos were never written to disk."
    )
    sys.stdout.flush()
    return 0
