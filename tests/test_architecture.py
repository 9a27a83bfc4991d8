"""Import direction: an AST walk over src/captureguard checks the layers, the heavy dependencies and cycles.

The layers (bottom first) are defined once, in ``tools/architecture_map.py``:
base (errors, _datafiles, _atomic, _version, samples) -> core -> models -> guard ->
io (sources, sinks, testing) -> pipeline -> evaluation -> face (``__init__``: the public names) ->
front (cli, web, chokepoint: they may use the public names, as an integrator does).
A module may import only from its own layer or below. Imports under ``if TYPE_CHECKING:`` are
ignored (they never run); imports inside functions (lazy imports) count: they run too.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tools.architecture_map import PACKAGE_DIR, layer_of, layer_rank, module_name


@dataclass(frozen=True)
class Import:
    """One import statement that runs: who imports what, where."""

    module: str  # the importing module
    target: str  # the imported module (dotted)
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(PACKAGE_DIR.parents[1]).as_posix()}:{self.line} imports {self.target}"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import nodes that can run (the body of ``if TYPE_CHECKING:`` skipped, its ``else`` kept)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _walk_stmt(other)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _walk(child)


def _walk_stmt(stmt: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        yield stmt
    yield from _walk(stmt)


def _collect() -> tuple[set[str], list[Import]]:
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    names = {module_name(p) for p in files}
    found: list[Import] = []
    for path in files:
        me = module_name(path)
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [Import(me, alias.name, path, node.lineno) for alias in node.names]
                continue
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{base}.{alias.name}"
                found.append(Import(me, sub if sub in names else base, path, node.lineno))
    return names, list(dict.fromkeys(found))  # `from m import a, b` is one import of m


MODULES, IMPORTS = _collect()
INTERNAL = [i for i in IMPORTS if i.target == "captureguard" or i.target.startswith("captureguard.")]


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def _in(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


#: Known upward imports in files this change could not touch. Each must still exist (so the list
#: shrinks as they are fixed) and no other may appear.
KNOWN_UPWARD: set[tuple[str, str]] = set()  # none left: PhotoGuard writes through a PhotoSink Protocol


def test_the_walk_sees_the_package() -> None:
    assert {"captureguard.core.frame", "captureguard.guard.check", "captureguard.web.app"} <= MODULES
    assert any(i.target == "captureguard.models.runtime" for i in INTERNAL)
    assert all(layer_of(m) for m in MODULES)


def test_imports_point_down_the_layers() -> None:
    upward = {
        (i.module, i.target): i for i in INTERNAL if layer_rank(layer_of(i.target)) > layer_rank(layer_of(i.module))
    }
    unexpected = [
        f"{i} ({layer_of(i.target)} layer) from the {layer_of(i.module)} layer"
        for key, i in sorted(upward.items())
        if key not in KNOWN_UPWARD
    ]
    assert not unexpected, "imports that point up the layers:\n" + "\n".join(unexpected)
    fixed = sorted(KNOWN_UPWARD - set(upward))
    assert not fixed, f"fixed, so remove from KNOWN_UPWARD: {fixed}"


def test_core_imports_only_numpy_the_stdlib_and_base_helpers() -> None:
    allowed_internal = ("captureguard.core", "captureguard.errors", "captureguard._datafiles")
    bad = [
        str(i)
        for i in IMPORTS
        if _in(i.module, "captureguard.core")
        and not (
            _top(i.target) in sys.stdlib_module_names
            or _top(i.target) == "numpy"
            or _in(i.target, *allowed_internal)
            or i.target == "__future__"
        )
    ]
    assert not bad, "core must import only numpy, the stdlib, errors and _datafiles:\n" + "\n".join(bad)


#: Third-party package -> the modules (or packages) allowed to import it.
HEAVY = {
    # The one owner of the inference runtime (measured reasons in its docstring).
    "onnxruntime": ("captureguard.models.runtime",),
    # onnx edits a graph in memory (extra outputs) right before the session opens.
    "onnx": ("captureguard.models.runtime",),
    # OpenCV: decoding/encoding and drawing. Beyond sources/ and sinks/: the letterbox warp (the
    # model input resize), the guard's placeholder (its blur and text are pixels the guard
    # makes), the eval perturbations (camera conditions), and the fake camera's y4m writer.
    "cv2": (
        "captureguard.sources",
        "captureguard.sinks",
        "captureguard.models.letterbox",
        "captureguard.guard.placeholder",
        "captureguard.evaluation.perturb",
        "captureguard.testing.y4m",
    ),
    # PyAV: video files in and out.
    "av": ("captureguard.sources", "captureguard.sinks"),
    # Pillow: still decoding with EXIF; open_nsfw's reference pre-processing resizes with PIL
    # (parity with the upstream model); the eval report's thumbnails.
    "PIL": ("captureguard.sources.image", "captureguard.models.open_nsfw", "captureguard.evaluation.render"),
    # The web framework stack lives under web/ (cli/serve.py imports web/ lazily, not these).
    "fastapi": ("captureguard.web",),
    "starlette": ("captureguard.web",),
    "uvicorn": ("captureguard.web",),
    "anyio": ("captureguard.web",),
}


@pytest.mark.parametrize("package", sorted(HEAVY))
def test_heavy_dependencies_stay_in_their_modules(package: str) -> None:
    bad = [str(i) for i in IMPORTS if _top(i.target) == package and not _in(i.module, *HEAVY[package])]
    assert not bad, f"{package} may be imported only in {HEAVY[package]}:\n" + "\n".join(bad)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for i in INTERNAL:
        if i.target in MODULES and i.target != i.module:
            edges.setdefault(i.module, set()).add(i.target)
    found = _cycles(edges)
    details = [
        " <-> ".join(c) + ": " + "; ".join(str(i) for i in INTERNAL if i.module in c and i.target in c) for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(details)


def test_bench_and_tools_do_not_import_the_tests() -> None:
    root = PACKAGE_DIR.parents[1]
    bad = [
        f"{path.relative_to(root).as_posix()}:{node.lineno}"
        for folder in ("bench", "tools")
        for path in sorted((root / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.ImportFrom) and _top(node.module or "") == "tests")
        or (isinstance(node, ast.Import) and any(_top(a.name) == "tests" for a in node.names))
    ]
    assert not bad, "bench/ and tools/ must not import from tests/ (use captureguard.testing):\n" + "\n".join(bad)


_REFERENCE = re.compile(r"`~?(captureguard(?:\.[A-Za-z_]\w*)+)`")
#: Stale references in files this change could not touch (the test fails once they are fixed).
KNOWN_STALE_REFERENCES: set[tuple[str, str]] = set()


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def test_docstring_references_name_real_modules_and_names() -> None:
    """``:class:`~captureguard.x.Y``` in the docs of the code must still point at something (modules move)."""
    paths = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    stale = set()
    for me, path in paths.items():
        for ref in _REFERENCE.findall(path.read_text(encoding="utf-8")):
            parts = ref.split(".")
            cut = max(n for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in paths)
            rest = parts[cut:]
            if rest and rest[0] not in _top_level_names(paths[".".join(parts[:cut])]):
                stale.add((me, ref))
    unexpected = sorted(stale - KNOWN_STALE_REFERENCES)
    assert not unexpected, "docstrings name modules or names that do not exist:\n" + "\n".join(
        f"{m}: {r}" for m, r in unexpected
    )
    assert not KNOWN_STALE_REFERENCES - stale, "fixed, so remove from KNOWN_STALE_REFERENCES"
