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
        *[("img", p) for p in plots if p.name != COVERAGE_PLOT],
    ]
    out += coverage_blocks(doc["coverage"], [p for p in plots if p.name == COVERAGE_PLOT])
    out += [("h", "How to run on your own data"), ("p", HOW_TO)]
    out += _details(configs, thumbs) + perturbation_blocks(doc["perturbations"], doc.get("perturb_safe", "all"))
    out += _videos(doc["videos"])
    return out + _errors(doc)


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


def _points(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def _frac(counts: Any) -> str:
    """``(blocked, n)`` as ``"b/n (x%)"``; empty when there are none."""
    if not counts or not counts[1]:
        return ""
    return f"{counts[0]}/{counts[1]} ({100 * counts[0] / counts[1]:.1f}%)"


def perturbation_blocks(perturbations: dict[str, Any], safe: str = "all") -> list[Block]:
    """The ``--perturb`` table: recall and false blocks clean -> perturbed, on the same stills;
    ``safe`` says which safe stills were re-checked (``all`` or ``people``: ``--perturb-safe``)."""
    if not perturbations:
        return []
    rows = []
    for name, p in perturbations.items():
        people, clean_people = p.get("people", [0, 0]), p.get("clean_people", [0, 0])
        negatives = p.get("negatives", 0)
        safe_cell = f"{_frac([p.get('clean_false_blocks'), negatives])} -> {_frac([p['false_blocks'], negatives])}"
        rows.append(
            [
                name,
                f"{p.get('positives', '')} / {negatives}",
                f"{_pct(p.get('clean_recall'))} -> {_pct(p['recall'])}",
                _points(None if p["recall_drop"] is None else -p["recall_drop"]),
                safe_cell,
                f"{_frac(clean_people)} -> {_frac(people)}" if people[1] else "",
            ]
        )
    head = [
        "perturbation",
        "nudity / safe stills",
        "recall clean -> perturbed",
        "cost (points)",
        "safe blocked clean -> perturbed",
        "photos of people blocked clean -> perturbed",
    ]
    if safe == "people":  # the safe stills are the photos of people: one column says it all
        head.pop(4)
        rows = [r[:4] + r[5:] for r in rows]
    note = (
        "The child profile's shipped decision (block), on the clean and on the perturbed copy of the same "
        "stills; cost = perturbed minus clean recall in percentage points (the issue's target: no worse than "
        "-10). Photos of people: kinds face_closeup, portrait, people_*, person_*, shirtless_sports. "
        + (
            "Safe stills re-checked: every one."
            if safe == "all"
            else "Safe stills re-checked: the photos of people only."
        )
    )
    return [("h", "Camera conditions (--perturb)"), ("p", note), ("table", (head, rows))]


#: File name of the coverage plot (shown in the coverage section, not with the headline plots).
COVERAGE_PLOT = "coverage.png"


def coverage_blocks(coverage: dict[str, Any], plots: Sequence[Path] = (), *, heading: str = "h") -> list[Block]:
    """The coverage and fairness section: development rows by kind and size, then coverage sets."""
    configs = coverage["configurations"]
    if not coverage["development"]:
        return []
    head = ["section", "group"] + [f"{c}: {w}" for c in configs for w in ("nudity blocked", "safe blocked")]
    rows = [
        [r["section"], r["group"], *[_frac(r[w][c]) for c in configs for w in ("nudity", "safe")]]
        for r in coverage["development"]
    ]
    decisions = "; ".join(f"{c}: {d}" for c, d in coverage["decisions"].items())
    out: list[Block] = [
        (heading, "Coverage and fairness"),
        (
            "p",
            "Who and what is blocked, by group. Nudity blocked = recall of the nude stills in the group; "
            "safe blocked = false blocks. A thumbnail is a still whose short side is at most "
            f"{coverage['thumbnail_short_side_px']} px (read from the file header). Safe families: photos of "
            "people (face_closeup, portrait, people_*, person_*, shirtless_sports), clothing (clothing*), art "
            f"(art*, sculpture*, poster*), other. Decisions: {decisions}.",
        ),
        ("table", (head, rows)),
        *[("img", p) for p in plots],
    ]
    return out + _coverage_sets(coverage, "h3" if heading == "h" else "h4")


def _coverage_sets(coverage: dict[str, Any], heading: str) -> list[Block]:
    if not coverage["coverage_sets"]:
        return []
    out: list[Block] = [
        (
            "p",
            f"Coverage sets (--coverage, {coverage['coverage_stills']} stills): NOT in the headline metrics. "
            "Block rate per variant; for a nude variant that is recall, for the others (underwear, swimwear, "
            "clothed) it is a false-block rate. Rows: each attribute the manifest gives (copy: clean render or "
            "camera-degraded; skin tone 0 lightest to 7 darkest; view; pose; sex; distance).",
        )
    ]
    for config, tables in coverage["coverage_sets"].items():
        out.append((heading, f"Coverage sets: {config}"))
        for table in tables:
            variants = table["variants"]
            rows = [[r["value"], *[_frac(r["cells"].get(v)) for v in variants]] for r in table["rows"]]
            out.append(("table", ([table["attribute"].replace("_", " "), *variants], rows)))
    return out


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


#: Heading blocks and their level.
_LEVELS = {"h1": 1, "h": 2, "h3": 3, "h4": 4}


def to_markdown(items: list[Block]) -> str:
    """Render blocks as Markdown (plots linked by file name)."""
    lines: list[str] = []
    for kind, value in items:
        if kind in _LEVELS:
            lines += [f"{'#' * _LEVELS[kind]} {value}", ""]
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
        if kind in _LEVELS:
            tag = f"h{_LEVELS[kind]}"
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
