"""The fault-injection matrix: which path does what under which fault (the source of docs/reliability.md).

``tests/guard/test_fault_matrix.py`` runs every cell and checks the observed outcome is the one
written here, that nothing unsafe was written or shown, that the process keeps serving and that
the fault left a log line. ``docs/reliability.md`` is generated from this table::

    .venv/bin/python -m tests.support.fault_matrix > docs/reliability.md

and a test checks the committed file matches, so the document cannot drift from the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

PATHS: dict[str, str] = {
    "photo": "photo guard (PhotoGuard.save into a PhotoStore)",
    "stream_file": "stream guard, file (run_guarded, schedule lockstep)",
    "stream_live": "stream guard, live (run_guarded, schedule latest)",
    "viewfinder": "web viewfinder (WebSocket /ws/viewfinder)",
    "v1_check": "integrator API (POST /v1/check)",
    "recording": "recording (viewfinder Recorder -> Mp4Sink)",
}

FAULTS: dict[str, str] = {
    "raise": "the model call raises (onnxruntime error)",
    "hang": "the model call hangs past the deadline",
    "nan": "the model outputs NaN",
    "inf": "the model outputs +inf",
    "wrong_shape": "the model output has the wrong shape",
    "slow": "the model call is slow but under the deadline",
    "thread_death": "the check's worker thread dies (a BaseException escapes the model call)",
    "memory_error": "the model call raises MemoryError",
    "disk_full": "a sink write fails with ENOSPC/EIO (fake file object or sink)",
    "camera_vanish": "the camera vanishes mid-stream (the source raises / the client leaves)",
}


@dataclass(frozen=True)
class Cell:
    """What one path does under one fault.

    Attributes:
        outcome: the observed outcome the test checks (a short code, see :data:`OUTCOMES`), or
            ``"n/a"`` when the fault cannot happen on that path.
        note: what it means for the user, shown in the document.
    """

    outcome: str
    note: str


OUTCOMES = {
    "block:error": "the faulted frame/photo is blocked with reason `error`",
    "block:timeout": "the faulted frame/photo is blocked with reason `timeout`",
    "block:evidence": "no failure: the (slow) model's answer blocks the nude frame as usual",
    "placeholder": "the faulted frames are withheld (placeholder); the safe ones pass",
    "run_error": (
        "the run ends with one error; frames not yet decided become placeholders; files keep only released frames"
    ),
    "session_closed": "that viewfinder session is closed (1011) with a message; the server keeps serving",
    "not_saved": "a one-line error; nothing (not even a temp file) is left on disk",
    "recording_stopped": (
        "the recording stops with status `error`; the file keeps only released frames; the viewfinder keeps going"
    ),
    "finalised": "the recording is finalised with only released frames",
    "n/a": "",
}

_DETECTOR = {
    "raise": ("block:error", "blocked (`error`), logged"),
    "hang": ("block:timeout", "blocked (`timeout`) at the deadline; the hung thread is abandoned"),
    "nan": ("block:error", "blocked (`error`): non-finite output, logged"),
    "inf": ("block:error", "blocked (`error`): non-finite output, logged"),
    "wrong_shape": ("block:error", "blocked (`error`): output shape rejected, logged"),
    "slow": ("block:evidence", "checked normally (nude frame blocked by its score)"),
    "memory_error": ("block:error", "blocked (`error`), logged"),
}


def _stream(schedule: str) -> dict[str, Cell]:
    cells = {f: Cell("placeholder", f"{note}; withheld frames are placeholders") for f, (_, note) in _DETECTOR.items()}
    cells["slow"] = Cell("placeholder", "checked normally; the nude frames are placeholders")
    cells["thread_death"] = Cell("run_error", "worker dies: pending frames become placeholders, the error is raised")
    cells["disk_full"] = Cell("run_error", "the sink's OSError ends the run; other sinks are closed and finalised")
    cells["camera_vanish"] = Cell("run_error", f"{schedule}: the source error ends the run; sinks are finalised")
    return cells


TABLE: dict[str, dict[str, Cell]] = {
    "photo": {
        **{f: Cell(code, note + "; nothing saved") for f, (code, note) in _DETECTOR.items()},
        "thread_death": Cell("block:error", "blocked (`error`); nothing saved"),
        "disk_full": Cell("not_saved", "an allowed photo is not saved: one-line error, no temp file left"),
        "camera_vanish": Cell("n/a", "a photo is one frame: no stream to lose"),
    },
    "stream_file": _stream("lockstep"),
    "stream_live": _stream("latest"),
    "viewfinder": {
        **{f: Cell("placeholder", note + "; the client gets the placeholder") for f, (_, note) in _DETECTOR.items()},
        "slow": Cell("placeholder", "checked normally; the nude frames come back as placeholders"),
        "thread_death": Cell("session_closed", "the session's guard dies: closed 1011, new sessions work"),
        "disk_full": Cell("n/a", "the viewfinder writes nothing (see recording)"),
        "camera_vanish": Cell("session_closed", "the client leaves mid-stream: the session ends, new ones work"),
    },
    "v1_check": {
        **{f: Cell(code, note + "; HTTP 200 with decision block") for f, (code, note) in _DETECTOR.items()},
        "thread_death": Cell("block:error", "blocked (`error`), HTTP 200; the server keeps serving"),
        "disk_full": Cell("n/a", "/v1/check stores nothing"),
        "camera_vanish": Cell("n/a", "an upload, no camera"),
    },
    "recording": {
        **{f: Cell("finalised", note + "; the recording shows placeholders") for f, (_, note) in _DETECTOR.items()},
        "slow": Cell("finalised", "checked normally; the recording holds placeholders for the nude frames"),
        "thread_death": Cell("finalised", "the session closes (1011); its recording is finalised"),
        "disk_full": Cell("recording_stopped", "encoder write raises ENOSPC: recording stops, viewfinder continues"),
        "camera_vanish": Cell("finalised", "the client leaves while recording: the file is finalised"),
    },
}


def render() -> str:
    """The markdown of docs/reliability.md."""
    lines = [
        "# Reliability: every fault fails closed",
        "",
        "<!-- generated by `python -m tests.support.fault_matrix` from the table that",
        "     tests/guard/test_fault_matrix.py runs; edit the table, not this file -->",
        "",
        "Each cell below is one run of `tests/guard/test_fault_matrix.py` (fakes in place of the models:",
        "a real `OnnxModel` + open_nsfw post-processing around a scripted session, so NaN, inf and",
        "wrong-shape outputs go through the real checks). Frames are red (nude in the script) when the",
        "fault strikes and green (safe) otherwise. Every cell checks: the outcome below; **no red pixel**",
        "reached a sink, a client, a photo or a recording; the path **keeps serving** (a safe",
        "frame/photo afterwards is let through); the fault left **a log line** (none for `slow`).",
        "",
        "Outcomes:",
        "",
    ]
    lines += [f"- `{code}`: {text}" for code, text in OUTCOMES.items() if text]
    lines += ["", "| fault | " + " | ".join(PATHS) + " |", "|---" * (len(PATHS) + 1) + "|"]
    for fault in FAULTS:
        cells = [f"`{TABLE[p][fault].outcome}`" for p in PATHS]
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    lines += ["", "## What each cell does", ""]
    for path, path_text in PATHS.items():
        lines += [f"### {path}: {path_text}", ""]
        for fault, fault_text in FAULTS.items():
            cell = TABLE[path][fault]
            lines.append(f"- **{fault}** ({fault_text}): `{cell.outcome}`: {cell.note}.")
        lines.append("")
    lines += [
        "## Also",
        "",
        "- Property tests of the stream invariant (hypothesis): `tests/core/test_ledger_properties.py`,",
        "  `tests/guard/test_stream_properties.py`; fuzzers of every decoder entry point: `tests/*/test_fuzz_*.py`.",
        "  `make test` runs them bounded; `make fuzz` runs them with 3000 examples each.",
        "- Soak: `bench/soak.py` (`make soak`), figures in `bench/results/soak.md`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
