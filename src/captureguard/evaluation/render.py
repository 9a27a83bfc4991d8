"""``report.md`` and ``report.html`` from ``metrics.json`` content: one list of blocks, two renderers.

The HTML is self-contained: plots are inlined as base64 PNG, thumbnails (``--thumbnails``, safe
images only) as small JPEG data URIs. Nothing links outside the file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from captureguard.evaluation.configs import HEADLINE

Block = tuple[str, Any]

#: Longest side of a safe-image thumbnail in pixels.
THUMB_PX = 96

HOW_TO = (
    "Run it on your own data: write a CSV with columns `path,label` (label `nudity` or `safe`; optional "
    "`kind`, `group` for near-duplicates, `unsafe_spans` for videos), then "
    "`captureguard eval manifest.csv --out report/ --workers N`. Add `--perturb` for camera conditions. "
    "Scores are cached in `report/cache/`, so a re-run is instant. The report lists paths and scores only; "
    "it never embeds nudity images."
)


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: Any) -> str:
    return "" if x is None else f"{x:.2f}"


def _at(point: dict[str, Any]) -> str:
    lo, hi = point["ci95"]
    ci = "" if lo is None else f" [{_pct(lo)}-{_pct(hi)}]"
    return f"{_pct(point['recall'])}{ci}"


def headline_rows(configurations: dict[str, Any]) -> list[list[str]]:
    """One row per configuration: headline ones first (ours, then the reference APIs)."""
    order = [n for n in HEADLINE if n in configurations] + [n for n in configurations if n not in HEADLINE]
    rows = []
    for name in order:
        c = configurations[name]
        conf, sp = c["confusion"], c["speed"]
        auc = "n/a" if c["auc"] is None else f"{c['auc']:.3f}"
        shipped = f"{conf['tp']}/{conf['tp'] + conf['fn']} | {conf['fp']}/{conf['fp'] + conf['tn']}"
        if c["decision"] != "shipped":
            shipped = f"({shipped})"
        points = [_at(p) for p in c["at_false_block_rate"]]
        rows.append([name, auc, *points, shipped, str(sp.get("ms_median", "")), str(sp.get("images_per_s", ""))])
    return rows


def blocks(doc: dict[str, Any], plots: Sequence[Path], thumbs: dict[str, str]) -> list[Block]:
    """The report as blocks: ``("h", text)``, ``("p", text)``, ``("table", (head, rows))``, ``("img", path)``."""
    configs = doc["configurations"]
    rates = [f"recall @ {r:.1%} FB [95% CI]" for r in doc["rates"]]
    head = ["configuration", "AUC", *rates, "shipped decision: nudity blocked | safe blocked", "ms/img", "img/s"]
    out: list[Block] = [
        ("h1", "captureguard eval"),
        (
            "p",
            f"Manifest `{doc['manifest']}`: {doc['stills']} stills scored, {len(doc['errors'])} errors, "
            f"{len(doc['videos'])} videos; captureguard {doc['captureguard_version']}.",
        ),
        ("h", "Headline: ours vs the reference APIs"),
        ("table", (head, headline_rows(configs))),
        (
            "p",
            "FB = false blocks (safe images blocked). Parenthesised decisions: the configuration has no "
            "shipped decision, so its threshold at 1% false blocks is used. profile:X counts photos "
            "blocked outright; profile:X:flagged also counts warnings (kept only after a person confirms, "
            "withheld in a stream). ms/img is one worker process (1 thread per model), decoding included. "
            "The ours:* and profile:* rows use the shipped fusion model and thresholds, which were "
            "calibrated on the project's development set (../shared/data/eval): on that set they are "
            "in-sample; `python tools/calibrate_fusion.py` prints out-of-fold figures.",
        ),
        *[("img", p) for p in plots],
        ("h", "How to run on your own data"),
        ("p", HOW_TO),
    ]
    out += _details(configs, thumbs) + _perturb(doc["perturbations"]) + _videos(doc["videos"]) + _errors(doc)
    return out


def _details(configs: dict[str, Any], thumbs: dict[str, str]) -> list[Block]:
    out: list[Block] = [("h", "Details per configuration")]
    for name, c in configs.items():
        points = [
            [f"{p['rate']:.1%}", f"{p['threshold']:.4g}", _at(p), f"{p['false_blocks']}/{p['negatives']}"]
            for p in c["at_false_block_rate"]
        ]
        out += [
            ("h3", name),
            ("table", (["FB rate", "threshold", "recall [95% CI]", "false blocks"], points)),
            ("p", f"Decision: {c['decision']}. Speed: {c['speed']}."),
            ("table", (["kind", "blocked"], _kinds(c))),
            (
                "table",
                (
                    ["missed nudity (path)", "kind", "score"],
                    [[r["path"], r["kind"], f"{r['score']:.3f}"] for r in c["misses"]],
                ),
            ),
            (
                "table",
                (
                    ["false block (path)", "kind", "score"],
                    [[r["path"], r["kind"], f"{r['score']:.3f}"] for r in c["false_blocks"]],
                ),
            ),
        ]
        shown = [r["path"] for r in c["false_blocks"] if r["path"] in thumbs]
        if shown:
            out.append(("thumbs", [(p, thumbs[p]) for p in shown]))
    return out


def _kinds(c: dict[str, Any]) -> list[list[str]]:
    rows = [[k, f"{a}/{b} nudity blocked"] for k, (a, b) in c["recall_by_kind"].items()]
    return rows + [[k, f"{a}/{b} safe blocked"] for k, (a, b) in c["false_blocks_by_kind"].items() if a]


def _perturb(perturbations: dict[str, Any]) -> list[Block]:
    if not perturbations:
        return []
    rows = [
        [n, _pct(p["recall"]), _pct(p["recall_drop"]), str(p["false_blocks"]), f"{p['false_blocks_change']:+d}"]
        for n, p in perturbations.items()
    ]
    head = ["perturbation", "recall (child)", "recall drop", "false blocks", "change"]
    return [("h", "Camera conditions (--perturb, child profile's shipped decision)"), ("table", (head, rows))]


def _videos(videos: list[dict[str, Any]]) -> list[Block]:
    if not videos:
        return []
    rows = [
        [
            v["path"],
            v["label"],
            str(o["name"]),
            str(o["released_unsafe"]),
            _num(o["reaction_s"]),
            _num(o["blocked_s_per_min"]),
            str(o["checks"]),
        ]
        for v in videos
        for o in [v["ours"], *v["baselines"]]
    ]
    head = ["video", "label", "product", "unsafe frames released", "reaction s", "blocked s/min", "checks"]
    return [("h", "Videos: stream guard vs fixed-rate sampling"), ("table", (head, rows))]


def _errors(doc: dict[str, Any]) -> list[Block]:
    if not doc["errors"]:
        return []
    return [
        ("h", "Errors (not scored)"),
        ("table", (["path", "error"], [[e["path"], e["error"]] for e in doc["errors"]])),
    ]


def to_markdown(items: list[Block]) -> str:
    """Render blocks as Markdown (plots linked by file name)."""
    lines: list[str] = []
    for kind, value in items:
        if kind in ("h1", "h", "h3"):
            lines += [f"{ {'h1': '#', 'h': '##', 'h3': '###'}[kind] } {value}", ""]
        elif kind == "p":
            lines += [value, ""]
        elif kind == "table" and value[1]:
            head, rows = value
            cell = lambda x: str(x).replace("|", "\\|")  # noqa: E731
            lines += ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows] + [""]
        elif kind == "img":
            lines += [f"![{value.stem}]({value.name})", ""]
    return "\n".join(lines)


def to_html(items: list[Block]) -> str:
    """Render blocks as one self-contained HTML page."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>captureguard eval</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}</style></head><body>",
    ]
    for kind, value in items:
        if kind in ("h1", "h", "h3"):
            tag = {"h1": "h1", "h": "h2", "h3": "h3"}[kind]
            parts.append(f"<{tag}>{html.escape(value)}</{tag}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(value)}</p>")
        elif kind == "table" and value[1]:
            head, rows = value
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows]
            parts.append("</table>")
        elif kind == "img":
            data = base64.b64encode(value.read_bytes()).decode()
            parts.append(f"<p><img alt='{html.escape(value.stem)}' src='data:image/png;base64,{data}'></p>")
        elif kind == "thumbs":
            parts += [f"<img title='{html.escape(p)}' src='{uri}'>" for p, uri in value]
    return "\n".join([*parts, "</body></html>"])


def thumbnail_uri(path: Path) -> str:
    """A small JPEG data URI of an image. Callers pass SAFE images only."""
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB")
        small.thumbnail((THUMB_PX, THUMB_PX))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
