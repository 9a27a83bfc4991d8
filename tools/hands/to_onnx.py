"""Convert MediaPipe's hand models (TFLite, inside the PyPI ``mediapipe`` wheel) to ONNX, offline.

Build time only (``make hand-models``; a throwaway venv with ``numpy``, ``onnx`` and ``tflite``, the
flatbuffer reader of the TFLite schema): the project never runs TensorFlow or MediaPipe.

    pip download --no-deps mediapipe==0.10.14 -d W
    python tools/hands/to_onnx.py W/mediapipe-0.10.14-*.whl mediapipe_palm_detection_full.onnx \
        --member mediapipe/modules/palm_detection/palm_detection_full.tflite
    python tools/hands/to_onnx.py W/mediapipe-0.10.14-*.whl mediapipe_hand_landmark_full.onnx \
        --member mediapipe/modules/hand_landmark/hand_landmark_full.tflite

(a ``.tflite`` file is read directly, without ``--member``). ``tools/hands/SHA256`` pins the two
ONNX files; ``tools/hands/record_parity.py`` recorded the TFLite and MediaPipe outputs the tests
compare with.

A small converter for exactly the operators these two graphs use (``tflite2onnx`` 0.4.1 fails on
the palm detector's PReLU layout): ``DEQUANTIZE`` (float16 weights, folded to float32 constants),
``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``PRELU``, ``ADD``, ``MAX_POOL_2D``, ``PAD``,
``RESIZE_BILINEAR``, ``MEAN``, ``FULLY_CONNECTED``, ``LOGISTIC``, ``RESHAPE`` and
``CONCATENATION``; any other operator stops the conversion. Activations run NCHW inside the graph;
the ONNX input keeps TFLite's NHWC layout (``[1, H, W, 3]``, float32) and the outputs their TFLite
shapes and names, so a parity test can compare the two tensor for tensor.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
_ACTIVATIONS = {0: None, 1: "Relu", 3: "Relu6"}


class Converter:
    """One TFLite subgraph -> one ONNX graph."""

    def __init__(self, buf: bytes) -> None:
        import tflite

        self.tfl = tflite
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.g = self.model.Subgraphs(0)
        self.ops: dict[int, str] = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.const: dict[int, np.ndarray] = {}  # tensor index -> value (weights, shapes, folded dequantize)
        self.names: dict[int, str] = {}  # tensor index -> ONNX name of the (NCHW when 4-D) activation
        self._uid = 0

    # -- tensors ---------------------------------------------------------------------------------
    def shape(self, t: int) -> list[int]:
        return [int(x) for x in self.g.Tensors(t).ShapeAsNumpy()]

    def tensor_name(self, t: int) -> str:
        return self.g.Tensors(t).Name().decode()

    def buffer(self, t: int) -> np.ndarray | None:
        tensor = self.g.Tensors(t)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {
            self.tfl.TensorType.FLOAT32: np.float32,
            self.tfl.TensorType.FLOAT16: np.float16,
            self.tfl.TensorType.INT32: np.int32,
            self.tfl.TensorType.INT64: np.int64,
        }[tensor.Type()]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(self.shape(t))

    def value(self, t: int) -> np.ndarray:
        if t not in self.const:
            got = self.buffer(t)
            if got is None:
                raise ValueError(f"tensor {self.tensor_name(t)} has no constant value")
            self.const[t] = got
        return self.const[t]

    def init(self, array: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        self._uid += 1
        name = f"{hint}_{self._uid}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        from onnx import helper

        self._uid += 1
        out = f"{hint}_{op.lower()}_{self._uid}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def activation(self, name: str, code: int, hint: str) -> str:
        if code not in _ACTIVATIONS:
            raise ValueError(f"fused activation {code} not supported")
        act = _ACTIVATIONS[code]
        if act == "Relu6":
            return self.node("Clip", [name, self.init(np.float32(0), "lo"), self.init(np.float32(6), "hi")], hint)
        return self.node(act, [name], hint) if act else name

    @staticmethod
    def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
        """TensorFlow's SAME padding: the extra pixel at the end."""
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        return total // 2, total - total // 2

    def pads(
        self, padding: int, hw: list[int], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int]
    ) -> list[int]:
        if padding == self.tfl.Padding.VALID:
            return [0, 0, 0, 0]
        (t, b), (left, r) = self.same_pads(hw[0], k[0], s[0], d[0]), self.same_pads(hw[1], k[1], s[1], d[1])
        return [t, left, b, r]

    # -- operators: one method each, ``op_<name>(ins, out, hint, options)`` ----------------------
    def convert_op(self, op: Any, kind: str) -> None:
        """Add ``op`` (TFLite operator ``kind``) to the graph."""
        method = getattr(self, f"op_{kind.lower()}", None)
        if method is None:
            raise ValueError(f"operator {kind} is not supported by this converter")
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        out = op.Outputs(0)
        hint = self.tensor_name(out).replace("/", "_").replace(";", "_").replace(":", "_")[:48]
        method(ins, out, hint, op.BuiltinOptions())

    def options(self, kind: str, table: Any) -> Any:
        o = getattr(self.tfl, kind)()
        o.Init(table.Bytes, table.Pos)
        return o

    def op_dequantize(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        self.const[out] = self.value(ins[0]).astype(np.float32)

    def _conv(self, ins: list[int], out: int, hint: str, o: Any, *, depthwise: bool) -> None:
        w = self.value(ins[1]).astype(np.float32)  # conv [O, KH, KW, I]; depthwise [1, KH, KW, C*m]
        kh, kw = w.shape[1], w.shape[2]
        x_shape = self.shape(ins[0])
        if depthwise:
            if o.DepthMultiplier() not in (0, 1):
                raise ValueError("depth multiplier > 1 not supported")
            weight, group = w.transpose(3, 0, 1, 2), x_shape[3]
        else:
            weight, group = w.transpose(0, 3, 1, 2), 1
        stride, dil = (o.StrideH(), o.StrideW()), (o.DilationHFactor() or 1, o.DilationWFactor() or 1)
        inputs = [self.names[ins[0]], self.init(weight, "w")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.init(self.value(ins[2]).astype(np.float32), "b"))
        y = self.node(
            "Conv",
            inputs,
            hint,
            kernel_shape=[kh, kw],
            strides=list(stride),
            dilations=list(dil),
            group=group,
            pads=self.pads(o.Padding(), x_shape[1:3], (kh, kw), stride, dil),
        )
        self.names[out] = self.activation(y, o.FusedActivationFunction(), hint)

    def op_conv_2d(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        self._conv(ins, out, hint, self.options("Conv2DOptions", table), depthwise=False)

    def op_depthwise_conv_2d(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        self._conv(ins, out, hint, self.options("DepthwiseConv2DOptions", table), depthwise=True)

    def op_prelu(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        slope = self.value(ins[1]).astype(np.float32).reshape(-1)  # per channel, [1, 1, C] in TFLite
        self.names[out] = self.node("PRelu", [self.names[ins[0]], self.init(slope.reshape(-1, 1, 1), "slope")], hint)

    def op_add(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        o = self.options("AddOptions", table)
        y = self.node("Add", [self.names[ins[0]], self.names[ins[1]]], hint)
        self.names[out] = self.activation(y, o.FusedActivationFunction(), hint)

    def op_max_pool_2d(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        o = self.options("Pool2DOptions", table)
        k, s = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        pads = self.pads(o.Padding(), self.shape(ins[0])[1:3], k, s, (1, 1))
        y = self.node("MaxPool", [self.names[ins[0]]], hint, kernel_shape=list(k), strides=list(s), pads=pads)
        self.names[out] = self.activation(y, o.FusedActivationFunction(), hint)

    def op_pad(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        p = self.value(ins[1]).astype(np.int64)[list(NHWC_TO_NCHW)]  # [4, 2] in NHWC
        pads = self.init(np.concatenate([p[:, 0], p[:, 1]]), "pads")
        self.names[out] = self.node("Pad", [self.names[ins[0]], pads], hint)

    def op_resize_bilinear(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        o = self.options("ResizeBilinearOptions", table)
        size = self.value(ins[1]).astype(np.int64)
        n, _, _, c = self.shape(ins[0])
        mode = "align_corners" if o.AlignCorners() else ("half_pixel" if o.HalfPixelCenters() else "asymmetric")
        sizes = self.init(np.array([n, c, size[0], size[1]], np.int64), "sizes")
        self.names[out] = self.node(
            "Resize", [self.names[ins[0]], "", "", sizes], hint, mode="linear", coordinate_transformation_mode=mode
        )

    def op_mean(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        o = self.options("ReducerOptions", table)
        axes = [NHWC_TO_NCHW.index(int(a)) for a in self.value(ins[1]).reshape(-1)]
        if not o.KeepDims() and len(self.shape(out)) != 2:  # [N, C] is [N, C] in either layout
            raise ValueError("MEAN without keep_dims to a tensor of rank > 2 not supported")
        keep = int(o.KeepDims())
        self.names[out] = self.node("ReduceMean", [self.names[ins[0]]], hint, axes=axes, keepdims=keep)

    def op_fully_connected(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        o = self.options("FullyConnectedOptions", table)
        w = self.value(ins[1]).astype(np.float32)  # [O, I]
        y = self.node("MatMul", [self.flat(ins[0], hint), self.init(w.T.copy(), "fc")], hint)
        if len(ins) > 2 and ins[2] >= 0:
            y = self.node("Add", [y, self.init(self.value(ins[2]).astype(np.float32), "fcb")], hint)
        self.names[out] = self.activation(y, o.FusedActivationFunction(), hint)

    def op_logistic(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        self.names[out] = self.node("Sigmoid", [self.names[ins[0]]], hint)

    def op_reshape(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        shape = self.init(np.array(self.shape(out), np.int64), "shape")
        self.names[out] = self.node("Reshape", [self.nhwc(ins[0], hint), shape], hint)

    def op_concatenation(self, ins: list[int], out: int, hint: str, table: Any) -> None:
        o = self.options("ConcatenationOptions", table)
        rank = len(self.shape(out))
        axis = o.Axis() % rank
        if rank == 4:
            axis = NHWC_TO_NCHW.index(axis)
        y = self.node("Concat", [self.names[t] for t in ins], hint, axis=axis)
        self.names[out] = self.activation(y, o.FusedActivationFunction(), hint)

    def nhwc(self, t: int, hint: str) -> str:
        """Tensor ``t`` in TFLite's own layout (4-D activations are kept NCHW inside the graph)."""
        if len(self.shape(t)) == 4:
            return self.node("Transpose", [self.names[t]], hint, perm=list(NCHW_TO_NHWC))
        return self.names[t]

    def flat(self, t: int, hint: str) -> str:
        x = self.nhwc(t, hint)
        if len(self.shape(t)) == 2:
            return x
        return self.node("Reshape", [x, self.init(np.array([self.shape(t)[0], -1], np.int64), "flat")], hint)

    def convert(self) -> Any:
        from onnx import TensorProto, helper

        g = self.g
        (inp,) = [g.Inputs(i) for i in range(g.InputsLength())]
        in_shape = self.shape(inp)
        self.names[inp] = self.node("Transpose", ["input"], "input", perm=list(NHWC_TO_NCHW))
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            kind = self.ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            self.convert_op(op, kind)
        outputs = []
        for i in range(g.OutputsLength()):
            t = g.Outputs(i)
            name = self.tensor_name(t)
            self.nodes.append(helper.make_node("Identity", [self.nhwc(t, "out")], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.shape(t)))
        graph = helper.make_graph(
            self.nodes,
            "mediapipe_hands",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
            outputs,
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="captureguard")
        model.ir_version = 8
        return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="a .tflite file, or the mediapipe wheel with --member")
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--member", help="the .tflite file's path inside the wheel")
    args = ap.parse_args()
    import zipfile

    import onnx

    if args.member:
        with zipfile.ZipFile(args.source) as wheel:
            buf = wheel.read(args.member)
    else:
        buf = args.source.read_bytes()
    model = Converter(buf).convert()
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    args.onnx.write_bytes(data)
    print(f"{args.onnx}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
