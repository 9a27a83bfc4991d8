"""``captureguard demo``: the photo guard over the bundled public-domain stills, no camera needed."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.check import Checker
from captureguard.guard.photo import PhotoGuard
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import run_guarded
from captureguard.samples import bundled_samples
from captureguard.sinks.contact_sheet import ContactSheetSink
from captureguard.sinks.mp4 import Mp4Sink
from captureguard.sinks.photo_store import PhotoStore
from captureguard.sources.image import load_image
from captureguard.sources.synthetic import ClipSource, Pan, Shot, Slide, Still
from captureguard.testing import MemorySink


def run_demo(*, out_dir: Path, profile: str = "child", video: bool = True) -> int:
    """The photo part (bundled stills), then the video part (a clip built from them).

    Returns 0 (the demo itself succeeded), whatever the decisions were.
    """
    run_photo_demo(out_dir=out_dir, profile=profile)
    if video:
        print()
        run_video_demo(out_dir=out_dir, profile=profile)
    return 0


def run_photo_demo(*, out_dir: Path, profile: str) -> None:
    """Check every bundled still with the photo guard, save the allowed ones, print a table."""
    samples = bundled_samples()
    print(f"captureguard demo: photo guard, profile '{profile}', {len(samples)} bundled public-domain stills")
    t0 = time.perf_counter()
    checker = Checker.create(profile=profile, mode="photo", deadline_s=10.0)
    names = " + ".join(d.name for d in checker.detectors)
    also = [d.name for d in checker.either if not any(d is x for x in checker.detectors)]
    if also:  # since v2.9 the photo head also reads the live head, on the live set
        names += f"; beside them the live set's {' + '.join(also)}"
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
        wrong = "MISSED" if s.label == "nudity" else f"FALSE {v.decision.name}"  # a warned photo is not saved either
        mark = "" if correct else "  <-- " + wrong
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


def demo_clip(*, fps: float = 25.0, size: tuple[int, int] = (960, 540)) -> ClipSource:
    """~9 s: a pan over a portrait, a slide across [cat | nude painting | fruit], a pan over a painting."""
    by_name = {s.path.name: s for s in bundled_samples()}

    def still(name: str) -> Still:
        sample = by_name[name]
        return Still(np.asarray(load_image(sample.path).bgr), sample.label == "nudity", sample.title)

    shots: list[Shot] = [
        Pan(still("matplotlib_grace_hopper.jpg"), 2.0, zoom=(1.0, 1.3)),
        Slide(
            [
                still("skimage_chelsea.png"),
                still("prani_godward_nude_on_the_beach.jpg"),
                still("palapeli_citrus-fruits.jpg"),
            ],
            5.0,
        ),
        Pan(still("lasity_madame_recamier.jpg"), 2.0, zoom=(1.0, 1.4), direction="left"),
    ]
    return ClipSource(shots, fps=fps, size=size, name="demo clip")


def run_video_demo(*, out_dir: Path, profile: str) -> None:
    """Guard the demo clip into an MP4 and a contact sheet of the output; print the counters."""
    clip = demo_clip()
    out_dir.mkdir(parents=True, exist_ok=True)
    video, sheet = out_dir / "guarded.mp4", out_dir / "contact_sheet.png"
    print(
        f"captureguard demo, video part: {len(clip)} frames ({len(clip) / clip.fps:.0f} s at {clip.fps:g} fps, "
        f"{clip.size[0]}x{clip.size[1]}): a pan, a slide past a nude painting, a pan"
    )
    guard = StreamGuard(Checker.create(profile=profile, mode="live"), StreamSettings())
    released: list[int] = []

    class _Seen(MemorySink):  # remembers released indices only (no pixels kept)
        def write(self, item: AllowedFrame) -> None:
            if item.release.released:
                released.append(item.frame.index)

    report = run_guarded(clip, guard, [Mp4Sink(video, fps=clip.fps), ContactSheetSink(sheet, every=9), _Seen()])
    st = report.stats
    print(
        f"frames in {st['frames_in']}: released {st['released']} ({st['released_checked']} checked, "
        f"{st['released_covered']} covered), placeholders {st['placeholders']}, dropped {st['dropped']}; "
        f"{st['checks']} checks, {st['check_ms_p50']} ms each (median)"
    )
    # Leak check: re-check every released frame that shows any of the painting with the thorough
    # photo check, on the exact source pixels. A frame it would block is a leak.
    shown = [i for i in released if clip.unsafe_fraction[i] > 0]
    photo = Checker.create(profile=profile, mode="photo")
    leaks = [i for i in shown if photo.check(clip.frame(i)).decision is not Decision.ALLOW]
    in_input = sum(f > 0 for f in clip.unsafe_fraction)
    print(
        f"the painting is in {in_input} input frames; {len(shown)} released frames show part of it (the edge "
        f"as it slides in or out); the photo check blocks {len(leaks)} of those: {len(leaks)} unsafe frames released"
    )
    print(f"wrote {video} and {sheet} (the contact sheet shows only what the guard let through)")
