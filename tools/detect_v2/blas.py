"""Pinned numerics for the fits: OpenBLAS's kernels and the thread counts.

The fits (the locator's PCA and logistic regression, the probes, the heads) are ill-conditioned
enough that the machine's BLAS moves them. Measured 2026-12-07 on one AVX-512 machine, on the same
cached features (``/tmp/rep/blas_locator.py``, one-off): the shipped locator re-fitted with
OpenBLAS's default kernels there (SkylakeX) is 0.0048 off the shipped cell weights (largest 0.55),
0.086 off the context weights and 0.033 off the intercept; with the Haswell kernels on 2 threads it
is the shipped locator to 5e-8 (the JSON's 7 digits); with Haswell on 1 thread, 0.0043 / 0.10 /
0.34 off. The fold models of such a re-fit moved v2.10's held-out count from 109 to 124 leaked
frames (docs/accuracy.md, "After v2.10, third"). The features themselves reproduce bit for bit
(open_nsfw's maps of 12 scene copies at 1 and 2 threads, onnxruntime 1.20.1 / 1.31.1 / 1.32.0,
OpenCV 4.10 / 5.1): the spread is the fits'.

So every fitting tool calls :func:`pin` first: it re-runs the process with :data:`PINNED` in its
environment (the shipped files were fitted that way: Haswell kernels, which any x86-64 CPU with
AVX2 runs, on 2 threads), and ``tools/detect_v2/rebuild.sh`` exports them for every step.
"""

from __future__ import annotations

import os
import platform
import sys

PINNED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}


def pinned(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether ``env`` already holds every :data:`PINNED` setting."""
    return all(env.get(k) == v for k, v in PINNED.items())


def pin() -> None:
    """Re-run this script with :data:`PINNED` set, unless it is set already (call it first in a
    tool's ``main``, before any fit: OpenBLAS reads these once, when it loads). Off x86-64 the
    Haswell kernels do not exist: it says so and goes on, so that fits there may differ from the
    shipped ones by the spread above."""
    if pinned(os.environ):
        return
    if platform.machine().lower() not in ("x86_64", "amd64"):
        note = f"note: {platform.machine()} has no OpenBLAS Haswell kernels; fits may differ from the shipped ones"
        print(note, file=sys.stderr)
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PINNED})


def describe() -> str:
    """The BLAS this process runs, for reports: ``openblas Haswell x 2`` (``threadpoolctl``, a
    scikit-learn dependency, so build time only)."""
    from threadpoolctl import threadpool_info

    libs = [f"{i.get('internal_api')} {i.get('architecture', '?')} x {i.get('num_threads')}" for i in threadpool_info()]
    return ", ".join(sorted(set(libs))) or "no BLAS loaded"
