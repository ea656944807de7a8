#!/usr/bin/env python3
"""y5w_to_onnx.py - write a yolov5c .y5w network as an ONNX model (the `onnx` package, no framework).

  python3 bench/y5w_to_onnx.py W.y5w OUT.onnx [--imgsz 640|HxW] [--batch 1] [--opset 13]

The graph is the .y5w layer table as it stands (any number of layers, levels,
anchors, classes; every shape, stride, padding, anchor and stride read from
the file), with static shapes: input `images` B x 3 x H x W float32 (RGB,
0..1), output `output0` B x N x (5+nc), the decoded Detect output of
ultralytics (rows: level, anchor, grid row, grid column). Layer mapping:

  Conv      Conv (weights OIHW, folded bias, k/s/p of the layer record) + activation
  activation SiLU: x * Sigmoid(x) (Sigmoid + Mul); LeakyReLU/ReLU if the file says so
  C3        cv1 -> n Bottlenecks (cv1 1x1, cv2 3x3, Add of the input when shortcut)
            | cv2 ; Concat(axis 1) -> cv3
  SPPF      cv1 -> MaxPool(k, stride 1, pad k//2) three times chained;
            Concat(x, y1, y2, y3) -> cv2
  Upsample  Resize mode nearest (asymmetric, floor), scales (1, 1, f, f)
  Concat    Concat axis 1
  Detect    per level: 1x1 Conv with bias -> Reshape (B, na, no, ny, nx) ->
            Transpose (B, na, ny, nx, no) -> Sigmoid s; as layers/detect.c:
            xy = (2*s[0:2] + (grid - 0.5)) * stride, wh = (2*s[2:4])^2 * anchor_px
            (the square as a Mul), conf = s[4:]; Concat(last axis) ->
            Reshape (B, na*ny*nx, no); Concat of the levels (axis 1).
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from y5w_read import C3, CONCAT, CONV, DETECT, SPP, SPPF, TYPE_NAMES, UPSAMPLE, Y5W  # noqa: E402


class Builder:
    def __init__(self, w):
        self.w = w
        self.nodes, self.inits = [], []
        self.n = 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base, arr):
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), nm))
        return nm

    def op(self, kind, inputs, base=None, **attrs):
        out = self.name(base or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def act(self, x, li, path):
        kind, param = self.w.activation(li, path)
        if kind == "silu":
            return self.op("Mul", [x, self.op("Sigmoid", [x])], f"l{li}_{path}_silu")
        if kind == "leaky":
            return self.op("LeakyRelu", [x], f"l{li}_{path}_leaky", alpha=float(param))
        if kind == "relu":
            return self.op("Relu", [x], f"l{li}_{path}_relu")
        if kind == "hardswish":  # x * clip(x + 3, 0, 6) / 6, PyTorch's order (opset 13 has no HardSwish)
            three = self.const(f"l{li}_{path}_3", np.array(3.0, dtype=np.float32))
            zero = self.const(f"l{li}_{path}_0", np.array(0.0, dtype=np.float32))
            six = self.const(f"l{li}_{path}_6", np.array(6.0, dtype=np.float32))
            r = self.op("Clip", [self.op("Add", [x, three], f"l{li}_{path}_hs_add"), zero, six], f"l{li}_{path}_hs_clip")
            return self.op("Div", [self.op("Mul", [x, r], f"l{li}_{path}_hs_mul"), six], f"l{li}_{path}_hs")
        if kind == "identity":
            return x
        raise ValueError(f"layer {li} {path}: activation '{kind}' has no ONNX mapping here")

    def conv(self, x, li, path, k=None, s=1, p=None, act=True):
        """Conv2d with the folded bias of tensors `<path>.weight` / `.bias`, then the activation."""
        wt = self.w.get(li, path + ".weight")
        bs = self.w.get(li, path + ".bias")
        if wt.ndim != 4 or bs.shape != (wt.shape[0],):
            raise ValueError(f"layer {li} {path}: weight {wt.shape}, bias {bs.shape}")
        co, ci, kh, kw = wt.shape
        if k is not None and (kh, kw) != (k, k):
            raise ValueError(f"layer {li} {path}: kernel {kh}x{kw}, layer table says {k}")
        if p is None:
            p = kh // 2
        y = self.op("Conv", [x, self.const(f"l{li}_{path}.weight", wt), self.const(f"l{li}_{path}.bias", bs)],
                    f"l{li}_{path}", kernel_shape=[kh, kw], strides=[s, s], pads=[p, p, p, p],
                    dilations=[1, 1], group=1)
        return self.act(y, li, path) if act else y


def build(w, batch, h, wd, opset):
    b = Builder(w)
    outs = [None] * len(w.layers)
    sizes = [None] * len(w.layers)  # (ny, nx) of each layer's output

    def src(li, f):
        return ("images", (h, wd)) if f == -1 else (outs[f], sizes[f])

    for i, L in enumerate(w.layers):
        t = L["type"]
        ins = [src(i, f) for f in L["frm"]]
        x, (ny, nx) = ins[0]
        if t == CONV:
            k, s, p = L["k"], L["s"], L["p"]
            y = b.conv(x, i, "conv", k=k, s=s, p=p)
            sz = ((ny + 2 * p - k) // s + 1, (nx + 2 * p - k) // s + 1)
        elif t == C3:
            m = b.conv(x, i, "cv1")
            for j in range(L["n"]):
                r = b.conv(b.conv(m, i, f"m.{j}.cv1"), i, f"m.{j}.cv2")
                m = b.op("Add", [m, r], f"l{i}_m.{j}_add") if L["shortcut"] else r
            y = b.conv(b.op("Concat", [m, b.conv(x, i, "cv2")], f"l{i}_cat", axis=1), i, "cv3")
            sz = (ny, nx)
        elif t == SPPF:
            k = L["k"] or 5
            y0 = b.conv(x, i, "cv1")
            pools = [y0]
            for _ in range(3):
                pools.append(b.op("MaxPool", [pools[-1]], f"l{i}_pool", kernel_shape=[k, k],
                                  strides=[1, 1], pads=[k // 2] * 4))
            y = b.conv(b.op("Concat", pools, f"l{i}_cat", axis=1), i, "cv2")
            sz = (ny, nx)
        elif t == SPP:  # v5.0-era SPP: parallel pools of the kernels the file lists
            y0 = b.conv(x, i, "cv1")
            pools = [y0] + [b.op("MaxPool", [y0], f"l{i}_pool{k}", kernel_shape=[k, k], strides=[1, 1],
                                 pads=[k // 2] * 4) for k in L["pools"]]
            y = b.conv(b.op("Concat", pools, f"l{i}_cat", axis=1), i, "cv2")
            sz = (ny, nx)
        elif t == UPSAMPLE:
            f = L["scale"] or 2
            scales = b.const(f"l{i}_scales", np.array([1, 1, f, f], dtype=np.float32))
            y = b.op("Resize", [x, "", scales], f"l{i}_up", mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            sz = (ny * f, nx * f)
        elif t == CONCAT:
            if len({s for _, s in ins}) != 1:
                raise ValueError(f"layer {i} (Concat): inputs of different sizes {[s for _, s in ins]}")
            y = b.op("Concat", [v for v, _ in ins], f"l{i}_cat", axis=1)
            sz = (ny, nx)
        elif t == DETECT:
            y = detect(b, w, i, L, ins, batch, h, wd)
            sz = None
        else:
            raise ValueError(f"layer {i}: type {t} has no ONNX mapping")
        outs[i], sizes[i] = y, sz

    last = w.layers[-1]
    if last["type"] != DETECT:
        raise ValueError(f"the last layer is {TYPE_NAMES[last['type']]}, not Detect")
    b.nodes.append(helper.make_node("Identity", [outs[-1]], ["output0"], name="output0"))
    no = 5 + w.nc
    rows = sum(w.na * hh * ww for hh, ww in
               ((h // int(round(s)), wd // int(round(s))) for s in w.strides))
    graph = helper.make_graph(
        b.nodes, "yolov5c_y5w",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, h, wd])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, rows, no])],
        b.inits)
    model = helper.make_model(graph, producer_name="yolov5c bench/y5w_to_onnx.py",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 8)  # readable by older runtimes too
    model.doc_string = f"from {w.source}; nc {w.nc}, nl {w.nl}, na {w.na}, strides {w.strides}"
    return model


def detect(b, w, i, L, ins, batch, h, wd):
    nl, na, no = w.nl, w.na, 5 + w.nc
    if len(ins) != nl:
        raise ValueError(f"Detect layer {i}: {len(ins)} inputs but nl = {nl}")
    i64 = lambda v: b.const(f"l{i}_i64", np.array(v, dtype=np.int64))  # noqa: E731
    z = []
    for l in range(nl):
        x, (ny, nx) = ins[l]
        stride = np.float32(w.strides[l])
        if abs(h / ny - stride) > 0.01 or abs(wd / nx - stride) > 0.01:
            raise ValueError(f"Detect level {l}: {ny}x{nx} grid for a {h}x{wd} input, stride {stride} "
                             f"(input sides must be multiples of the largest stride)")
        r = b.conv(x, i, f"m.{l}", p=0, act=False)
        if b.w.get(i, f"m.{l}.weight").shape[0] != na * no:
            raise ValueError(f"Detect level {l}: conv has {b.w.get(i, f'm.{l}.weight').shape[0]} outputs, "
                             f"expected {na * no}")
        r = b.op("Reshape", [r, i64([batch, na, no, ny, nx])], f"l{i}_{l}_view")
        r = b.op("Transpose", [r], f"l{i}_{l}_perm", perm=[0, 1, 3, 4, 2])
        s = b.op("Sigmoid", [r], f"l{i}_{l}_sig")

        def sl(a, e):
            return b.op("Slice", [s, i64([a]), i64([e]), i64([4])], f"l{i}_{l}_s{a}")

        yv, xv = np.meshgrid(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij")
        grid = (np.stack((xv, yv), 2).reshape(1, 1, ny, nx, 2) - np.float32(0.5)).astype(np.float32)
        anc = w.anchors[l].reshape(1, na, 1, 1, 2).astype(np.float32)
        two = b.const(f"l{i}_two", np.array(2.0, dtype=np.float32))
        # xy = (2*s + (grid - 0.5)) * stride
        xy = b.op("Mul", [sl(0, 2), two], f"l{i}_{l}_xy2")
        xy = b.op("Add", [xy, b.const(f"l{i}_{l}_grid", grid)], f"l{i}_{l}_xyg")
        xy = b.op("Mul", [xy, b.const(f"l{i}_{l}_stride", np.array(stride, dtype=np.float32))], f"l{i}_{l}_xy")
        # wh = (2*s)^2 * anchor_px
        wh = b.op("Mul", [sl(2, 4), two], f"l{i}_{l}_wh2")
        wh = b.op("Mul", [wh, wh], f"l{i}_{l}_whsq")
        wh = b.op("Mul", [wh, b.const(f"l{i}_{l}_anchor", anc)], f"l{i}_{l}_wh")
        y = b.op("Concat", [xy, wh, sl(4, no)], f"l{i}_{l}_cat", axis=4)
        z.append(b.op("Reshape", [y, i64([batch, na * ny * nx, no])], f"l{i}_{l}_rows"))
    return b.op("Concat", z, f"l{i}_out", axis=1) if len(z) > 1 else z[0]


def parse_imgsz(s):
    s = str(s).lower()
    if "x" in s:
        hh, ww = s.split("x")
        return int(hh), int(ww)
    return int(s), int(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="yolov5c .y5w file")
    ap.add_argument("out", help="ONNX file to write")
    ap.add_argument("--imgsz", default="640", help="N or HxW (static input shape, default 640)")
    ap.add_argument("--batch", type=int, default=1, help="static batch size (default 1)")
    ap.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    a = ap.parse_args(argv)
    try:
        w = Y5W(a.weights)
        h, wd = parse_imgsz(a.imgsz)
        if a.batch < 1 or h < 1 or wd < 1:
            raise ValueError(f"bad shape: batch {a.batch}, imgsz {a.imgsz}")
        model = build(w, a.batch, h, wd, a.opset)
        onnx.checker.check_model(model)
    except (ValueError, KeyError) as e:
        print(f"y5w_to_onnx: {e}", file=sys.stderr)
        return 1
    tmp = a.out + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, a.out)
    print(f"y5w_to_onnx: {a.weights} -> {a.out}: {len(w.layers)} layers, {len(model.graph.node)} nodes, "
          f"input {a.batch}x3x{h}x{wd}, output {model.graph.output[0].type.tensor_type.shape.dim[1].dim_value}"
          f"x{5 + w.nc}, opset {a.opset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
