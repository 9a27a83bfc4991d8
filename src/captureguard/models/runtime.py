"""The one module that imports onnxruntime (and ``onnx``): finding model files and opening sessions."""

from __future__ import annotations

import importlib.resources
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from captureguard.errors import DetectionError, ModelMissingError

log = logging.getLogger(__name__)


def packaged_model(package: str, filename: str) -> Path:
    """Path of a model file shipped inside an installed Python package.

    Raises:
        ModelMissingError: the package is not installed or lacks the file.
    """
    try:
        path = Path(str(importlib.resources.files(package).joinpath(filename)))
    except ModuleNotFoundError as exc:
        raise ModelMissingError(
            f"model package {package!r} is not installed (needed for {filename}); "
            f"install it with: pip install {package.replace('_', '-')}"
        ) from exc
    if not path.is_file():
        raise ModelMissingError(f"{filename} not found in package {package!r} at {path}")
    return path


def model_cache_dir() -> Path:
    """Where built (not committed) model files live: ``$CAPTUREGUARD_MODEL_DIR`` or ``~/.cache/captureguard/models``."""
    env = os.environ.get("CAPTUREGUARD_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "captureguard" / "models"


def built_model(filename: str, *, what: str, build: str) -> Path:
    """Path of the built model file ``filename`` in :func:`model_cache_dir`.

    Raises:
        ModelMissingError: it has not been built (the message names ``what`` and how to ``build`` it).
    """
    path = model_cache_dir() / filename
    if not path.is_file():
        raise ModelMissingError(
            f"{what} not found at {path}: build it {build}, or set CAPTUREGUARD_MODEL_DIR to the folder that holds it"
        )
    return path


def session_options(*, threads: int = 2) -> Any:
    """The onnxruntime options every captureguard session uses (also used by the benchmarks).

    ``threads`` intra-op threads, one inter-op thread, full graph optimisation, and no
    busy-waiting between runs: with two models (and the stream worker) sharing two cores,
    spinning threads starve the next session (measured: live check 42.7 -> 15.9 ms median).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


class OnnxModel:
    """An onnxruntime CPU session with one image input.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (default 2, this project's target machine).
        extra_outputs: names of inner tensors to expose as further outputs, after the model's own
            (e.g. a classifier's pooled features). The graph is edited in memory with ``onnx``;
            the file is untouched.
    """

    def __init__(self, path: str | Path, *, threads: int = 2, extra_outputs: Sequence[str] = ()) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"model file not found: {path}")
        opts = session_options(threads=threads)
        try:
            model: str | bytes = with_outputs(path, extra_outputs) if extra_outputs else str(path)
            self._session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several private types
            raise ModelMissingError(f"could not load model {path}: {exc}") from exc
        self.path = path
        self.input_name: str = self._session.get_inputs()[0].name
        self.input_shape: list[Any] = list(self._session.get_inputs()[0].shape)
        self.output_shape: list[Any] = list(self._session.get_outputs()[0].shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on one input batch and return its first output.

        Raises:
            DetectionError: onnxruntime failed (wrong shape, out of memory...).
        """
        try:
            out = self._session.run(None, {self.input_name: batch})[0]
        except Exception as exc:
            raise DetectionError(f"{self.path.name} failed on input {batch.shape}: {exc}") from exc
        out = np.asarray(out)
        if out.dtype.kind == "f" and not np.isfinite(out).all():
            raise DetectionError(
                f"{self.path.name} output {int((~np.isfinite(out)).sum())} non-finite value(s) (NaN or inf) "
                f"for input {batch.shape}; the frame is blocked. Check the model file and its conversion"
            )
        return out

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run the model on one input batch and return every output, in the model's order.

        Raises:
            DetectionError: onnxruntime failed.
        """
        try:
            outs = self._session.run(None, {self.input_name: batch})
        except Exception as exc:
            raise DetectionError(f"{self.path.name} failed on input {batch.shape}: {exc}") from exc
        arrays = [np.asarray(o) for o in outs]
        if any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in arrays):
            raise DetectionError(f"{self.path.name} output non-finite values (NaN or inf) for input {batch.shape}")
        return arrays


def with_outputs(path: Path, names: Sequence[str]) -> bytes:
    """The model at ``path`` with the inner tensors ``names`` added as graph outputs (serialised).

    Raises:
        ModelMissingError: a name is not a tensor the graph computes.
    """
    import onnx

    model = onnx.load(str(path))
    made = {out for node in model.graph.node for out in node.output}
    for name in names:
        if name not in made:
            raise ModelMissingError(f"{path.name} computes no tensor named {name!r}")
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return bytes(model.SerializeToString())
