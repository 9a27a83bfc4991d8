"""Convert nsfwjs's InceptionV3 (TF.js layers model, uint8-quantised weights) to ONNX.

Input: the ``model.json`` and ``weights.bin`` written by ``tools/nsfwjs_dump.js`` from the npm
package (nsfwjs 4, MIT). BatchNorm is folded into the preceding convolution. The ONNX model takes
``input``: NHWC float32 RGB in ``[0, 1]``, ``(N, 299, 299, 3)``, and gives ``probs``: softmax over
Drawing, Hentai, Neutral, Porn, Sexy. ``tools/nsfwjs_onnx_parity.py`` then compares it with TF.js.

Build time only; needs the ``onnx`` package (``pip install onnx`` in a side venv, not a dependency)::

    node tools/nsfwjs_dump.js NPM_DIR/node_modules/nsfwjs/dist/models/inception_v3 WORK/incv3
    python tools/nsfwjs_to_onnx.py --model-dir WORK/incv3 --out WORK/incv3/nsfwjs_inception_v3.onnx
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

INPUT_SIZE = 299
CLASSES = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")


def dequantise(manifest: dict[str, Any], raw: np.ndarray) -> dict[str, np.ndarray]:
    """Weights by name from the uint8 buffer: ``min + scale * q``, float32, in the manifest's shapes."""
    weights: dict[str, np.ndarray] = {}
    offset = 0
    for w in manifest["weights"]:
        n = int(np.prod(w["shape"])) if w["shape"] else 1
        q = w["quantization"]
        if q["dtype"] != "uint8":
            raise SystemExit(f"weight {w['name']}: expected uint8 quantisation, got {q['dtype']}")
        values = q["min"] + q["scale"] * raw[offset : offset + n].astype(np.float64)
        weights[w["name"]] = values.astype(np.float32).reshape(w["shape"])
        offset += n
    if offset != raw.size:
        raise SystemExit(f"weights.bin holds {raw.size} bytes but the manifest describes {offset}")
    return weights


@dataclass
class Graph:
    """ONNX nodes and initialisers being built, and the Keras layer -> ONNX tensor names."""

    helper: Any
    numpy_helper: Any
    weights: dict[str, np.ndarray]
    layers: dict[str, dict[str, Any]]
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)
    out_of: dict[str, str] = field(default_factory=dict)
    folded_bn: dict[str, str] = field(default_factory=dict)  # conv layer -> the BatchNorm folded into it

    def init(self, name: str, arr: np.ndarray) -> str:
        """Add a float32 initialiser; return its name."""
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attrs: Any) -> None:
        """Add one node."""
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], **attrs))


def _pad(cfg: dict[str, Any]) -> str:
    return "SAME_UPPER" if cfg["padding"] == "same" else "VALID"


def conv(g: Graph, name: str, cfg: dict[str, Any], ins: list[str]) -> None:
    """Conv2D (kernel ``(kh, kw, in, out)``), with its following BatchNorm folded in when there is one."""
    w = g.weights[f"{name}/kernel"].transpose(3, 2, 0, 1).astype(np.float64)
    b = np.zeros(w.shape[0])
    bn = g.folded_bn.get(name)
    if bn is not None:
        bcfg = g.layers[bn]["config"]
        mean, var = g.weights[f"{bn}/moving_mean"], g.weights[f"{bn}/moving_variance"]
        gamma = g.weights[f"{bn}/gamma"] if bcfg["scale"] else np.ones_like(mean)
        beta = g.weights[f"{bn}/beta"] if bcfg["center"] else np.zeros_like(mean)
        f = gamma / np.sqrt(var.astype(np.float64) + bcfg["epsilon"])
        w = w * f[:, None, None, None]
        b = beta - mean * f
    g.node(
        "Conv",
        [ins[0], g.init(f"{name}_W", w), g.init(f"{name}_b", b)],
        name,
        strides=cfg["strides"],
        auto_pad=_pad(cfg),
        kernel_shape=cfg["kernel_size"],
    )
    g.out_of[name] = name
    if bn is not None:
        g.out_of[bn] = name


def pool(g: Graph, cls: str, name: str, cfg: dict[str, Any], ins: list[str]) -> None:
    """Max or average pooling (average excludes the padding, as Keras does)."""
    attrs: dict[str, Any] = {"kernel_shape": cfg["pool_size"], "strides": cfg["strides"], "auto_pad": _pad(cfg)}
    if cls == "AveragePooling2D":
        attrs["count_include_pad"] = 0
    g.node("MaxPool" if cls == "MaxPooling2D" else "AveragePool", ins, name, **attrs)
    g.out_of[name] = name


def dense(g: Graph, name: str, cfg: dict[str, Any], ins: list[str]) -> None:
    """Dense = MatMul + Add, then ReLU or softmax."""
    g.node("MatMul", [ins[0], g.init(f"{name}_W", g.weights[f"{name}/kernel"])], name + "_mm")
    g.node("Add", [name + "_mm", g.init(f"{name}_b", g.weights[f"{name}/bias"])], name + "_lin")
    if cfg["activation"] == "relu":
        g.node("Relu", [name + "_lin"], name)
    elif cfg["activation"] == "softmax":
        g.node("Softmax", [name + "_lin"], name, axis=-1)
    else:
        raise SystemExit(f"dense layer {name}: unsupported activation {cfg['activation']}")
    g.out_of[name] = name


def activation(g: Graph, name: str, cfg: dict[str, Any], ins: list[str]) -> None:
    """A ReLU activation layer (the only kind InceptionV3 uses)."""
    if cfg["activation"] != "relu":
        raise SystemExit(f"activation {name}: unsupported {cfg['activation']}")
    g.node("Relu", ins, name)
    g.out_of[name] = name


def concat(g: Graph, name: str, cfg: dict[str, Any], ins: list[str]) -> None:
    """Concatenate along channels (axis 1 in NCHW)."""
    if cfg["axis"] not in (3, -1):
        raise SystemExit(f"concatenate {name}: only the channel axis is supported, got {cfg['axis']}")
    g.node("Concat", ins, name, axis=1)
    g.out_of[name] = name


def flatten(g: Graph, name: str, cfg: dict[str, Any], ins: list[str]) -> None:
    """Keras flattens channels-last: NCHW -> NHWC first."""
    g.node("Transpose", ins, name + "_nhwc", perm=[0, 2, 3, 1])
    g.node("Flatten", [name + "_nhwc"], name, axis=1)
    g.out_of[name] = name


def add_layer(g: Graph, layer: dict[str, Any]) -> None:
    """Translate one Keras layer."""
    cls, name, cfg = layer["class_name"], layer["name"], layer["config"]
    ins = [g.out_of[i[0]] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
    handlers = {"Conv2D": conv, "Activation": activation, "Concatenate": concat, "Flatten": flatten, "Dense": dense}
    if cls == "InputLayer":
        g.out_of[name] = "x_nchw"
    elif cls in handlers:
        handlers[cls](g, name, cfg, ins)
    elif cls == "BatchNormalization":
        if name not in g.out_of:
            raise SystemExit(f"BatchNorm {name} does not follow a convolution; only folded BatchNorm is supported")
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        pool(g, cls, name, cfg, ins)
    elif cls == "Dropout":
        g.out_of[name] = ins[0]
    else:
        raise SystemExit(f"unsupported layer type {cls} ({name})")


def convert(model_dir: Path) -> Any:
    """The ONNX ``ModelProto`` of ``model_dir/model.json`` + ``weights.bin`` (checked by ``onnx.checker``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    weights = dequantise(model["weightsManifest"][0], np.fromfile(model_dir / "weights.bin", np.uint8))
    config = model["modelTopology"]["model_config"]["config"]
    layers = config["layers"]
    g = Graph(helper, numpy_helper, weights, {layer["name"]: layer for layer in layers})
    for layer in layers:  # BatchNorm layers that directly follow a convolution are folded into it
        if layer["class_name"] == "BatchNormalization":
            src = layer["inbound_nodes"][0][0][0]
            if g.layers[src]["class_name"] == "Conv2D":
                g.folded_bn[src] = layer["name"]
    g.node("Transpose", ["input"], "x_nchw", perm=[0, 3, 1, 2])
    for layer in layers:
        add_layer(g, layer)
    g.node("Identity", [g.out_of[config["output_layers"][0][0]]], "probs")
    graph = helper.make_graph(
        g.nodes,
        "nsfwjs_inception_v3",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", INPUT_SIZE, INPUT_SIZE, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", len(CLASSES)])],
        g.inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="captureguard")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    return onnx_model


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="holds model.json and weights.bin")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    args = parser.parse_args(argv)
    import onnx

    onnx_model = convert(args.model_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(args.out))
    print(f"wrote {args.out}: {len(onnx_model.graph.node)} nodes")


if __name__ == "__main__":
    main()
