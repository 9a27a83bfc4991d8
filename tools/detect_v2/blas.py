"""Pinned numerics for the fits: OpenBLAS's kernels and the thread counts.

The fits (the locator's PCA and logistic regression, the probes, the heads) are ill-conditioned
enough that the machine's BLAS moves them. Measured 2026-12-07 on one AVX-512 machine, on the same
cached features (:func:`compare`, ``bench/results/blas_refit.md``): the shipped locator re-fitted
with OpenBLAS's default kernels there (SkylakeX) is 0.0048 off the shipped cell weights (largest
0.55), 0.086 off the context weights and 0.033 off the intercept; with the Haswell kernels on 2
threads it is the shipped locator to 5e-8 (the JSON's 7 digits); with Haswell on 1 thread, 0.0043 /
0.10 / 0.33 off. The fold models of such a re-fit moved v2.10's held-out count from 109 to 124
leaked frames; re-fitted pinned, 109 again (docs/accuracy.md, "After v2.10, fourth"). The
features themselves reproduce bit for bit (open_nsfw's maps of 12 scene copies at 1 and 2 threads,
onnxruntime 1.20.1 / 1.31.1 / 1.32.0, OpenCV 4.10 / 5.1; one-off): the spread is the fits'.

So every fitting tool calls :func:`pin` first: it re-runs the process with :data:`PINNED` in its
environment (the shipped files were fitted that way: Haswell kernels, which any x86-64 CPU with
AVX2 runs, on 2 threads), and ``tools/detect_v2/rebuild.sh`` exports them for every step.

Which BLAS reproduces which shipped fit, on the cached features (``$CG_V2_CACHE``: the scene
copies' maps and the stills' probe features; ~1.5 min per setting on 2 cores)::

    .venv/bin/python tools/detect_v2/blas.py       # the default kernels, SkylakeX and Haswell; x 1 and x 2
    .venv/bin/python tools/detect_v2/blas.py --kernels Haswell --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

PINNED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
#: the packages the shipped files were fitted with. scikit-learn's version moves the fits as much as
#: the BLAS does (measured 2026-12-07, pinned BLAS, same features: 1.7.2 and 1.8.0 put the locator
#: 0.0039 / 0.067 / 0.17 and the photo probe 0.004 / 0.001 off the 1.9.1 fit); ``pyproject.toml``'s
#: dev extra pins scikit-learn and scipy, numpy (a run-time dependency) is only checked.
VERSIONS = {"scikit-learn": "1.9.1", "scipy": "1.17.1", "numpy": "2.4.6"}


def pinned(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether ``env`` already holds every :data:`PINNED` setting."""
    return all(env.get(k) == v for k, v in PINNED.items())


def pin() -> None:
    """Re-run this script with :data:`PINNED` set, unless it is set already (call it first in a
    tool's ``main``, before any fit: OpenBLAS reads these once, when it loads). Off x86-64 the
    Haswell kernels do not exist: it says so and goes on, so that fits there may differ from the
    shipped ones by the spread above."""
    if pinned(os.environ):
        for note in version_notes():
            print(note, file=sys.stderr)
        return
    if platform.machine().lower() not in ("x86_64", "amd64"):
        note = f"note: {platform.machine()} has no OpenBLAS Haswell kernels; fits may differ from the shipped ones"
        print(note, file=sys.stderr)
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PINNED})


def version_notes(expected: dict[str, str] | None = None) -> list[str]:
    """A note for each package whose installed version is not the one the shipped files were
    fitted with (:data:`VERSIONS`): fits made with it may differ from the shipped ones."""
    from importlib.metadata import PackageNotFoundError, version

    notes = []
    for name, want in (expected or VERSIONS).items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "none"
        if have != want:
            notes.append(
                f"note: {name} {have} is installed; the shipped fits used {want}, so fits may differ from them"
            )
    return notes


def describe() -> str:
    """The BLAS this process runs, for reports: ``openblas Haswell x 2`` (``threadpoolctl``, a
    scikit-learn dependency, so build time only)."""
    from threadpoolctl import threadpool_info

    libs = [
        " ".join(str(v) for v in (i.get("internal_api"), i.get("architecture"), "x", i.get("num_threads")) if v)
        for i in threadpool_info()
    ]
    return ", ".join(sorted(set(libs))) or "no BLAS loaded"


def distances() -> dict[str, Any]:
    """This process's BLAS and how far its fits on the cached features are from the shipped files:
    the picture locator (cell weights, context weights, intercept) and the photo probe pair
    (weights, intercept), each the largest absolute difference."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*`
    from tools.calibrate_fusion import DEFAULT_MANIFEST, load_frame, read_manifest
    from tools.detect_v2 import evaluate, locator, probe, scenes

    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    plan = scenes.plan(items, d)
    hws = [load_frame(it.path).bgr.shape[:2] for it in items]
    fitted = locator.fit(locator.scene_cells(items, plan), locator.labels(items, plan, hws))
    shipped = json.loads(locator.OUT.read_text())
    out: dict[str, Any] = {"blas": describe()}
    out["locator"] = [
        float(np.abs(fitted.weights - np.array(shipped["weights"])).max()),
        float(np.abs(fitted.context - np.array(shipped["context"])).max()),
        abs(fitted.intercept - shipped["intercept"]),
    ]
    ps = probe.SETS["photo"]
    people, crops = probe.MAX_CROPS[ps.train]
    copies = ["clean", *probe.PERTURBATIONS]
    x = probe.inputs(items, copies, perturbed_sizes=False, pictures=None, outer=ps.outer)
    sx = {ps.train: probe.matrix(scenes.get(items, plan, people=people), crops, None, outer=ps.outer)}
    src = np.array([s.item for s in plan])
    for name, with_scenes, path in (("photo probe", False, ps.out), ("photo scene probe", True, ps.out_scene)):
        w, b = probe.fit_all(d, x, sx, src, copies, with_scenes=with_scenes, train=ps.train)
        ref = json.loads(path.read_text())
        out[name] = [float(np.abs(w - np.array(ref["weights"])).max()), abs(b - ref["intercept"])]
    return out


def compare(kernels: list[str], threads: list[str]) -> str:
    """:func:`distances` under each OpenBLAS kernel and thread count (one child process each), as
    a markdown table. ``default`` is the kernel OpenBLAS picks on this machine."""
    rows = [
        "| BLAS (kernels x threads) | locator: cell weights / context / intercept | photo probe: weights / intercept"
        " | photo scene probe |",
        "|---|---|---|---|",
    ]
    for k in kernels:
        for t in threads:
            env = {key: v for key, v in os.environ.items() if key != "OPENBLAS_CORETYPE"}
            env |= {"OPENBLAS_NUM_THREADS": t, "OMP_NUM_THREADS": t}
            if k != "default":
                env["OPENBLAS_CORETYPE"] = k
            run = subprocess.run(
                [sys.executable, __file__, "--distances"], env=env, capture_output=True, text=True, check=True
            )
            r = json.loads(run.stdout.strip().splitlines()[-1])
            cells = [" / ".join(f"{v:.2g}" for v in r[key]) for key in ("locator", "photo probe", "photo scene probe")]
            rows.append(f"| {r['blas']} | " + " | ".join(cells) + " |")
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description="Which BLAS reproduces the shipped fits (largest differences)")
    ap.add_argument("--kernels", default="default,SkylakeX,Haswell", help="OpenBLAS kernels (OPENBLAS_CORETYPE)")
    ap.add_argument("--threads", default="2,1", help="thread counts")
    ap.add_argument("--distances", action="store_true", help=argparse.SUPPRESS)  # the child's part
    args = ap.parse_args()
    if args.distances:
        print(json.dumps(distances()))
        return
    print(compare(args.kernels.split(","), args.threads.split(",")))


if __name__ == "__main__":
    main()
