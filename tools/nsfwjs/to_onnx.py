"""nsfwjs InceptionV3 (TF.js layers model, uint8-quantised weights) -> ONNX, NHWC float input in [0,1].

Build time only (``make nsfwjs-model`` runs the whole chain). Input: ``model.json`` and
``weights.bin`` dumped from the npm package ``nsfwjs@4.3.0`` (MIT) by ``dump_tfjs.js``::

    mkdir -p $D/npm && (cd $D/npm && npm install --no-save nsfwjs@4.3.0)
    TFJS=$D/npm/node_modules/nsfwjs/dist/models/inception_v3
    mkdir -p $D/incv3 && (cd $D/incv3 && node tools/nsfwjs/dump_tfjs.js $TFJS)
    python tools/nsfwjs/to_onnx.py $D/incv3 OUT.onnx      # needs the `onnx` package (build venv)

BatchNorm is folded into the preceding convolution. Outputs ``probs [N, 5]`` (softmax over
Drawing, Hentai, Neutral, Porn, Sexy) and ``embedding [N, 2048]`` (the pooled features). ``parity.py`` compares
it with TF.js scores.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SRC = Path(sys.argv[1])
OUT = Path(sys.argv[2])
with open(SRC / "model.json") as fh:
    model = json.load(fh)
raw = np.fromfile(SRC / "weights.bin", np.uint8)
weights, off = {}, 0
for w in model["weightsManifest"][0]["weights"]:
    n = int(np.prod(w["shape"])) if w["shape"] else 1
    q = w["quantization"]
    assert q["dtype"] == "uint8"
    weights[w["name"]] = (
        (q["min"] + q["scale"] * raw[off : off + n].astype(np.float64)).astype(np.float32).reshape(w["shape"])
    )
    off += n
assert off == raw.size, (off, raw.size)

layers = model["modelTopology"]["model_config"]["config"]["layers"]
by_name = {layer["name"]: layer for layer in layers}
nodes, inits = [], []


def init(name, arr):
    inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
    return name


out_of = {}  # keras layer name -> onnx tensor name
# BN folding: conv -> bn -> act chains. Find BN whose input is a conv.
consumed_bn = {}
for layer in layers:
    if layer["class_name"] == "BatchNormalization":
        src = layer["inbound_nodes"][0][0][0]
        if by_name[src]["class_name"] == "Conv2D":
            consumed_bn[src] = layer["name"]

nodes.append(helper.make_node("Transpose", ["input"], ["x_nchw"], perm=[0, 3, 1, 2]))
for layer in layers:
    cls, name, cfg = layer["class_name"], layer["name"], layer["config"]
    ins = [out_of[i[0]] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
    if cls == "InputLayer":
        out_of[name] = "x_nchw"
    elif cls == "Conv2D":
        k = weights[f"{name}/kernel"]  # kh, kw, in, out
        W = k.transpose(3, 2, 0, 1).astype(np.float64)
        b = np.zeros(W.shape[0])
        if name in consumed_bn:
            bn = consumed_bn[name]
            bcfg = by_name[bn]["config"]
            mean, var = weights[f"{bn}/moving_mean"], weights[f"{bn}/moving_variance"]
            gamma = weights[f"{bn}/gamma"] if bcfg["scale"] else np.ones_like(mean)
            beta = weights[f"{bn}/beta"] if bcfg["center"] else np.zeros_like(mean)
            f = gamma / np.sqrt(var.astype(np.float64) + bcfg["epsilon"])
            W = W * f[:, None, None, None]
            b = beta - mean * f
        pad = "SAME_UPPER" if cfg["padding"] == "same" else "VALID"
        nodes.append(
            helper.make_node(
                "Conv",
                [ins[0], init(f"{name}_W", W), init(f"{name}_b", b)],
                [name],
                strides=cfg["strides"],
                auto_pad=pad,
                kernel_shape=cfg["kernel_size"],
            )
        )
        out_of[name] = name
        if name in consumed_bn:
            out_of[consumed_bn[name]] = name
    elif cls == "BatchNormalization":
        assert name in out_of, name  # folded
    elif cls == "Activation":
        assert cfg["activation"] == "relu"
        nodes.append(helper.make_node("Relu", ins, [name]))
        out_of[name] = name
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        op = "MaxPool" if cls == "MaxPooling2D" else "AveragePool"
        kw = {
            "kernel_shape": cfg["pool_size"],
            "strides": cfg["strides"],
            "auto_pad": "SAME_UPPER" if cfg["padding"] == "same" else "VALID",
        }
        if op == "AveragePool":
            kw["count_include_pad"] = 0
        nodes.append(helper.make_node(op, ins, [name], **kw))
        out_of[name] = name
    elif cls == "Concatenate":
        assert cfg["axis"] in (3, -1)
        nodes.append(helper.make_node("Concat", ins, [name], axis=1))
        out_of[name] = name
    elif cls == "Flatten":
        # channels_last flatten: NCHW -> NHWC -> flatten
        nodes.append(helper.make_node("Transpose", ins, [name + "_nhwc"], perm=[0, 2, 3, 1]))
        nodes.append(helper.make_node("Flatten", [name + "_nhwc"], [name], axis=1))
        out_of[name] = name
    elif cls == "Dropout":
        out_of[name] = ins[0]
    elif cls == "Dense":
        mm = helper.make_node("MatMul", [ins[0], init(f"{name}_W", weights[f"{name}/kernel"])], [name + "_mm"])
        add = helper.make_node("Add", [name + "_mm", init(f"{name}_b", weights[f"{name}/bias"])], [name + "_lin"])
        nodes += [mm, add]
        act = cfg["activation"]
        if act == "relu":
            nodes.append(helper.make_node("Relu", [name + "_lin"], [name]))
        elif act == "softmax":
            nodes.append(helper.make_node("Softmax", [name + "_lin"], [name], axis=-1))
        else:
            raise SystemExit(act)
        out_of[name] = name
    else:
        raise SystemExit(f"unsupported {cls}")

final = out_of[model["modelTopology"]["model_config"]["config"]["output_layers"][0][0]]
nodes.append(helper.make_node("Identity", [final], ["probs"]))
# The pooled 2048-d InceptionV3 features: captureguard's art-nudity probe reads them.
nodes.append(helper.make_node("Identity", [out_of["flatten_1"]], ["embedding"]))
graph = helper.make_graph(
    nodes,
    "nsfwjs_inception_v3",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 299, 299, 3])],
    [
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 2048]),
    ],
    inits,
)
m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="captureguard-explore")
m.ir_version = 8
onnx.checker.check_model(m)
OUT.parent.mkdir(parents=True, exist_ok=True)
onnx.save(m, str(OUT))
print(
    "wrote", OUT, OUT.stat().st_size, "bytes, sha256", hashlib.sha256(OUT.read_bytes()).hexdigest(), len(nodes), "nodes"
)
