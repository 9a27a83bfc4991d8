"""Coverage and fairness tables of ``captureguard eval``: who and what the guard blocks, by group.

Pure functions over :class:`CoverageItem` (label, kind, pixel size, attributes, one block decision
per configuration), so they are tested with plain tables. Two kinds of table:

- **development rows** (the manifest): recall of the nudity rows and false blocks of the safe rows
  by ``kind``, by size (:data:`THUMBNAIL_SHORT_SIDE_PX`), by kind and size, and by safe family
  (photos of people, clothing, art, other);
- **coverage rows** (``--coverage MANIFEST``, e.g. the synthetic CG bodies): block rate per variant
  (nude, underwear, swimwear, clothed) against each attribute the manifest has (skin tone, view,
  pose, sex, distance, clean render or camera-degraded copy). They never enter the headline metrics.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: A still whose short side is at most this many pixels counts as a thumbnail.
THUMBNAIL_SHORT_SIDE_PX = 256
THUMBNAIL = f"thumbnail (short side <= {THUMBNAIL_SHORT_SIDE_PX} px)"
FULL_SIZE = f"full size (short side > {THUMBNAIL_SHORT_SIDE_PX} px)"
UNKNOWN_SIZE = "size unknown"
#: Safe families, in report order (the data README asks for people photos next to the pooled rate).
FAMILIES = ("photos of people", "clothing", "art", "other")
#: Coverage attributes, in report order; each becomes one table (rows: its values; columns: variants).
ATTRIBUTES = ("copy", "skin_tone", "view", "pose", "sex", "distance")
#: Variant order of the synthetic renders; other variants follow in first-seen order.
VARIANTS = ("nude", "underwear", "swimwear", "clothed")

Counts = tuple[int, int]  # (blocked, total)


@dataclass(frozen=True)
class CoverageItem:
    """One scored still as the coverage tables see it.

    Attributes:
        label: ``nudity`` or ``safe``.
        kind: the manifest's ``kind``.
        short_side_px: the shorter side of the image in pixels (None: header unreadable).
        blocked: configuration name -> its block decision on this still.
        attributes: coverage attributes (``variant``, ``skin_tone``, ``view``...) where known.
    """

    label: str
    kind: str
    short_side_px: int | None
    blocked: Mapping[str, bool]
    attributes: Mapping[str, str] = field(default_factory=dict)


def is_people_photo(kind: str) -> bool:
    """Whether a safe ``kind`` is a photograph with people as the subject (the data README's list)."""
    return kind in ("face_closeup", "portrait", "shirtless_sports") or kind.startswith(("people_", "person_"))


def safe_family(kind: str) -> str:
    """One of :data:`FAMILIES` for a safe row's ``kind``."""
    if is_people_photo(kind):
        return "photos of people"
    if kind.startswith("clothing"):
        return "clothing"
    if kind.startswith(("art", "sculpture", "painting", "drawing", "print", "poster")):
        return "art"
    return "other"


def size_class(short_side_px: int | None) -> str:
    """:data:`THUMBNAIL`, :data:`FULL_SIZE` or :data:`UNKNOWN_SIZE`."""
    if short_side_px is None:
        return UNKNOWN_SIZE
    return THUMBNAIL if short_side_px <= THUMBNAIL_SHORT_SIDE_PX else FULL_SIZE


def _count(items: Iterable[CoverageItem], config: str, label: str) -> Counts | None:
    """``(blocked, total)`` of the items with ``label`` that ``config`` decided on; None if there are none."""
    decided = [i.blocked[config] for i in items if i.label == label and config in i.blocked]
    return (sum(decided), len(decided)) if decided else None


def _row(section: str, group: str, items: Sequence[CoverageItem], configs: Sequence[str]) -> dict[str, Any]:
    return {
        "section": section,
        "group": group,
        "nudity": {c: _count(items, c, "nudity") for c in configs},
        "safe": {c: _count(items, c, "safe") for c in configs},
    }


def _by(items: Sequence[CoverageItem], key: Any) -> dict[str, list[CoverageItem]]:
    """Items grouped by ``key(item)`` (None keys dropped), keys in first-seen order."""
    out: dict[str, list[CoverageItem]] = {}
    for item in items:
        k = key(item)
        if k is not None:
            out.setdefault(k, []).append(item)
    return out


def development_rows(items: Sequence[CoverageItem], configs: Sequence[str]) -> list[dict[str, Any]]:
    """The development table: pooled, per nudity kind, per size, per nudity kind and size, per safe family.

    Each row: ``{"section", "group", "nudity": {config: (blocked, n) | None}, "safe": {...}}``.
    """
    nudity_kinds = sorted({i.kind for i in items if i.label == "nudity"})
    rows = [_row("all", "all stills", items, configs)]
    kinds = _by(items, lambda i: i.kind if i.kind in nudity_kinds else None)
    rows += [_row("kind", k, kinds[k], configs) for k in nudity_kinds]
    sizes = _by(items, lambda i: size_class(i.short_side_px))
    rows += [_row("size", s, sizes[s], configs) for s in (THUMBNAIL, FULL_SIZE, UNKNOWN_SIZE) if s in sizes]
    pairs = _by([i for i in items if i.label == "nudity"], lambda i: f"{i.kind}, {size_class(i.short_side_px)}")
    rows += [_row("kind and size", g, pairs[g], configs) for g in sorted(pairs)]
    families = _by([i for i in items if i.label == "safe"], lambda i: safe_family(i.kind))
    people_sizes = _by(
        [i for i in items if i.label == "safe" and is_people_photo(i.kind)],
        lambda i: f"photos of people, {size_class(i.short_side_px)}",
    )
    rows += [_row("safe family", f, families[f], configs) for f in FAMILIES if f in families]
    rows += [_row("safe family", g, people_sizes[g], configs) for g in sorted(people_sizes)]
    return rows


def variant_of(item: CoverageItem) -> str:
    """The coverage variant: the ``variant`` attribute, else the label."""
    return item.attributes.get("variant") or item.label


def _ordered_variants(items: Sequence[CoverageItem]) -> list[str]:
    seen = list(dict.fromkeys(variant_of(i) for i in items))
    return [v for v in VARIANTS if v in seen] + [v for v in seen if v not in VARIANTS]


def _value_order(values: Iterable[str]) -> list[str]:
    """Numbers numerically (skin tone 0..7), the rest alphabetically."""
    return sorted(set(values), key=lambda v: (0, int(v), "") if v.isdigit() else (1, 0, v))


def coverage_tables(items: Sequence[CoverageItem], config: str) -> list[dict[str, Any]]:
    """Block rate of ``config`` per variant (columns) against each attribute (one table each).

    Returns:
        ``[{"attribute", "variants": [...], "rows": [{"value", "cells": {variant: (blocked, n)}}]}]``,
        first a ``variant`` table (one row "all"), then one per attribute of :data:`ATTRIBUTES` present.
    """
    decided = [i for i in items if config in i.blocked]
    variants = _ordered_variants(decided)
    tables = [{"attribute": "variant", "variants": variants, "rows": [_cells("all", decided, variants, config)]}]
    for attribute in ATTRIBUTES:
        by_value = _by(decided, lambda i, a=attribute: i.attributes.get(a) or None)
        if by_value:
            rows = [_cells(v, by_value[v], variants, config) for v in _value_order(by_value)]
            tables.append({"attribute": attribute, "variants": variants, "rows": rows})
    return tables


def _cells(value: str, items: Sequence[CoverageItem], variants: Sequence[str], config: str) -> dict[str, Any]:
    by_variant = _by(items, variant_of)
    cells = {
        v: (sum(i.blocked[config] for i in by_variant[v]), len(by_variant[v])) for v in variants if v in by_variant
    }
    return {"value": value, "cells": cells}


_SKIN_TONE = re.compile(r"skin tone (\d+)", re.IGNORECASE)
_SEX = re.compile(r"\b(female|male)\b", re.IGNORECASE)
_VIEW = re.compile(r"\b([a-z][a-z-]*) view\b", re.IGNORECASE)
_DISTANCE = re.compile(r"\b(close-up|full body)\b", re.IGNORECASE)
_POSE = re.compile(r"\b(standing|contrapposto|walking|sitting|lying|kneeling|reclining)\b", re.IGNORECASE)


def attributes_of(row: Mapping[str, str]) -> dict[str, str]:
    """Coverage attributes of one manifest row.

    Explicit columns win (``variant``, ``copy``, ``skin_tone``, ``view``, ``pose``, ``sex``,
    ``distance``). Otherwise they are read from the project's synthetic manifest: ``kind``
    ``synthetic_<variant>[_cam]`` (``_cam``: the camera-degraded copy), ``title`` "CG adult female,
    standing, front view, close-up, swimwear" and ``notes`` "skin tone 2 of 0 (lightest) to 7 ...".
    """
    kind, title, notes = row.get("kind", ""), row.get("title", ""), row.get("notes", "")
    found: dict[str, str] = {}
    if kind.startswith("synthetic_"):
        found["variant"] = kind.removeprefix("synthetic_").removesuffix("_cam")
        found["copy"] = "camera-degraded" if kind.endswith("_cam") else "clean render"
    for name, pattern, text in (
        ("skin_tone", _SKIN_TONE, notes),
        ("sex", _SEX, title),
        ("view", _VIEW, title),
        ("distance", _DISTANCE, title),
        ("pose", _POSE, title),
    ):
        if match := pattern.search(text):
            found[name] = match.group(1).lower()
    for name in ("variant", *ATTRIBUTES):
        if row.get(name):
            found[name] = row[name].strip()
    return found


def read_attributes(manifest: str | Path) -> dict[Path, dict[str, str]]:
    """``{absolute path: attributes_of(row)}`` for every row of a manifest (paths resolved as
    :func:`~captureguard.evaluation.manifest.read_manifest` does). Read it with ``read_manifest``
    first: this assumes a valid file."""
    folder = Path(manifest).absolute().parent
    with Path(manifest).open(newline="", encoding="utf-8-sig") as fh:
        rows = [{k.strip().lower(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(fh)]
    return {Path(os.path.normpath(folder / r["path"])): attributes_of(r) for r in rows if r.get("path")}
