"""The generated module maps in the docs match the code (regenerate: tools/architecture_map.py --write)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import architecture_map as am


@pytest.mark.parametrize("doc", sorted(am.DOCS), ids=lambda p: p.name)
def test_module_map_in_the_docs_is_current(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert am.render(text, am.DOCS[doc]) == text, (
        f"{doc.name}: the module map is out of date; run `python tools/architecture_map.py --write`"
    )


def test_every_module_has_a_docstring_for_the_map() -> None:
    missing = [m.name for m in am.modules() if not m.summary]
    assert not missing, f"modules without a docstring (the map's purpose column): {missing}"


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("captureguard", "face"),
        ("captureguard.__main__", "front"),
        ("captureguard._atomic", "base"),
        ("captureguard.core.frame", "core"),
        ("captureguard.models.runtime", "models"),
        ("captureguard.guard.stream", "guard"),
        ("captureguard.sinks.mp4", "io"),
        ("captureguard.testing", "io"),
        ("captureguard.pipeline", "pipeline"),
        ("captureguard.evaluation.metrics", "evaluation"),
        ("captureguard.web.viewfinder.socket", "front"),
    ],
)
def test_layer_of(module: str, layer: str) -> None:
    assert am.layer_of(module) == layer


def test_render_replaces_only_the_marked_section() -> None:
    doc = f"intro\n{am.MAP_START}\nstale table\n{am.MAP_END}\noutro\n"
    out = am.render(doc, "captureguard.core")
    assert out.startswith(f"intro\n{am.MAP_START}\n| layer | module |") and out.endswith(f"{am.MAP_END}\noutro\n")
    assert "stale table" not in out and "captureguard.core.frame" in out and "captureguard.web" not in out
