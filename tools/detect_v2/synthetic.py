"""Coverage/fairness table on the synthetic CG bodies (kept OUT of the headline metrics).

Decides each render with the shipped heads (``data/fusion_<mode>.json``) and the shipped child
profile (``profiles.toml``: the fused score, and a region over its class threshold with the fused
score at the profile's ``region_support_score``) from the cached views and tabulates the block
rate by variant (nude / underwear / swimwear / tight), copy (clean render / camera-degraded), skin
tone (0 lightest .. 7 darkest) and view.

    .venv/bin/python tools/detect_v2/views.py --manifest ../shared/data/synthetic/manifest.csv \
        --views nn640,onsfw,pose640,crops640,pose320,crops320,pose480,crops480,pose960,crops960
    .venv/bin/python tools/detect_v2/synthetic.py
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.fusion import FusionModel
from captureguard.core.policy import decide, load_profiles
from captureguard.core.verdict import Decision
from tools.detect_v2 import evaluate, fit_heads
from tools.detect_v2 import views as view_cache

MANIFEST = view_cache.DEFAULT_MANIFEST.parents[1] / "synthetic" / "manifest.csv"


def with_shipped_probe(items: list[Any], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cached views plus the shipped probes' scores (these renders are never fitted on), for
    every probe view ``fit_heads.py`` knows (its pair, people size, crops; the shipped picture
    locator's crop for the live path's)."""
    from tools.detect_v2 import locator
    from tools.detect_v2 import probe as probe_tool

    shipped = {name: ps.shipped() for name, ps in probe_tool.SETS.items()}
    sizes = {z for z, _ in probe_tool.MAX_CROPS.values()}
    feats = {z: probe_tool.pooled(items, "clean", z) for z in sizes}
    picture = locator.located(items, None, "clean")
    out: list[dict[str, Any]] = [dict(r) for r in recs]
    for view, (pair, m) in fit_heads.PROBE_VIEWS.items():
        z, k = probe_tool.MAX_CROPS[m]
        x = probe_tool.matrix(
            feats[z], k, picture if m in probe_tool.PICTURE else None, outer=probe_tool.SETS[pair].outer
        )
        plain, scene = shipped[pair]
        for r, row in zip(out, x, strict=True):
            r[view], r[f"s{view}"] = plain.probability(row), scene.probability(row)
    from captureguard.core.probe import LinearProbe
    from tools.detect_v2 import nsfwjs_probe

    njs = LinearProbe.load(nsfwjs_probe.OUT)  # the photo path's third probe (v2.8)
    for r, e in zip(out, nsfwjs_probe.embeddings(items, "clean"), strict=True):
        r["njsprobe"] = njs.probability(e)
    return out


def main(out: Path | None = None, command: str = ".venv/bin/python tools/detect_v2/synthetic.py") -> None:
    items = view_cache.read_manifest(MANIFEST)
    recs = with_shipped_probe(items, view_cache.get(items, fit_heads.STILL_VIEWS))
    rows = []
    with MANIFEST.open(encoding="utf-8") as fh:
        import csv

        notes = {r["path"]: r for r in csv.DictReader(fh)}
    child = load_profiles()["child"]
    for mode, (views, _, _) in fit_heads.MODES.items():
        head = FusionModel.load(mode=mode)
        # the photo head since v2.9 also reads the live head, on the live views
        other = fit_heads.MODES[head.either.mode][0] if head.either is not None else None
        table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for it, rec in zip(items, recs, strict=True):
            row = notes[str(it.path.relative_to(MANIFEST.parent))]
            found = evaluate.detections_of(rec, views)
            also = evaluate.detections_of(rec, other) if other is not None else None
            blocked = decide(head.assess(found, also), child).decision is Decision.BLOCK
            variant = it.kind.removeprefix("synthetic_").removesuffix("_cam")
            copy = "camera" if it.kind.endswith("_cam") else "render"
            tone = m.group(1) if (m := re.search(r"skin tone (\d)", row["notes"])) else "?"
            view = m.group(1) if (m := re.search(r"(\w+(?:-\w+)?) view", row["title"])) else "?"
            for key in (
                ("variant", variant),
                ("variant+copy", f"{variant} / {copy}"),
                ("skin tone (nude)" if variant == "nude" else "", tone),
                ("view (nude)" if variant == "nude" else "", view),
            ):
                if key[0]:
                    table[key][0] += int(blocked)
                    table[key][1] += 1
        rows.append(
            f"\n### {mode} head, child (block at {child.block_score:g}; a region over its class threshold at"
            f" {child.region_support_score:g})\n\n| group | value | blocked |\n|---|---|---|"
        )
        for (g, v), (b, n) in sorted(table.items()):
            rows.append(f"| {g} | {v} | {b}/{n} |")
    text = "\n".join(rows)
    print(text)
    out = out or Path(__file__).resolve().parents[2] / "bench" / "results" / "detect_v2_synthetic.md"
    out.write_text(
        "# Synthetic CG bodies: coverage by variant, skin tone, view (not a headline metric)\n\n"
        f"Command: `{command}`\n" + text + "\n"
    )


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main()
