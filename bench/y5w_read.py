#!/usr/bin/env python3
"""y5w_read.py - a numpy-only reader of yolov5c's .y5w weight file (weights/FORMAT.md).

Shared by bench/torch_yolov5.py (the PyTorch peer) and bench/y5w_to_onnx.py
(the ONNX exporter), so neither needs the other's framework:

    from y5w_read import Y5W, CONV, C3, SPPF, SPP, UPSAMPLE, CONCAT, DETECT
    w = Y5W("yolov5n.y5w")
    w.layers[i]     # dict(type, frm, c_in, c_out, k, s, p, n, shortcut, scale, act, slope, pools)
    w.get(i, "cv1.weight")   # float32 ndarray (OIHW for conv weights)
    w.activation(i, "cv1")   # ("silu", None), ("leaky", 0.1), ("relu", None), ...
    w.nc, w.nl, w.na, w.anchors (nl, na, 2) pixels, w.strides, w.names, w.source,
    w.version, w.imgsz, w.generation

Versions 1 and 2 (2 adds per-layer activation and slope, SPP pools, the
training size and the generation; a version-1 file reads as SiLU in every
Conv, C3 and SPPF). Another version is refused with a message naming it:
teach META_BY_VERSION / LREC_BY_VERSION and the layer parse the new fields.
"""
import struct

import numpy as np

MAGIC = b"Y5WEIGHT"
VERSION = 2  # also reads 1 (no activation field: SiLU everywhere)
HDR, NREC, TREC = 128, 64, 112
META_BY_VERSION = {1: 816, 2: 880}    # meta section bytes
LREC_BY_VERSION = {1: 72, 2: 96}      # layer record bytes
CONV, C3, SPPF, UPSAMPLE, CONCAT, DETECT, SPP = 1, 2, 3, 4, 5, 6, 7
TYPE_NAMES = {CONV: "Conv", C3: "C3", SPPF: "SPPF", UPSAMPLE: "Upsample",
              CONCAT: "Concat", DETECT: "Detect", SPP: "SPP"}
# activation kinds of the layer record (core/base/act.h)
ACT_NONE, ACT_SILU, ACT_RELU, ACT_LEAKY, ACT_HARDSWISH = 0, 1, 2, 3, 4


def _cstr(b):
    i = b.find(b"\0")
    if i < 0:
        raise ValueError("string not NUL-terminated")
    return b[:i].decode("utf-8", "replace")


def y5w_checksum(buf):
    """FORMAT.md "Checksum": four FNV-1a lanes over u64 words, field zeroed."""
    P, B, M = 0x00000100000001B3, 0xCBF29CE484222325, (1 << 64) - 1
    b = bytearray(buf)
    b[24:32] = b"\0" * 8
    if len(b) % 8:
        b += b"\0" * (8 - len(b) % 8)
    w = np.frombuffer(bytes(b), dtype="<u8")
    h = []
    with np.errstate(over="ignore"):
        for j in range(4):
            lane = w[j::4]
            x = np.uint64(B + j)
            p = np.uint64(P)
            for v in lane:  # sequential by definition; slow in Python (opt-in)
                x = (x ^ v) * p
            h.append(int(x))
    r = B
    for j in range(4):
        r = ((r ^ h[j]) * P) & M
    r ^= r >> 29
    r = (r * 0xBF58476D1CE4E5B9) & M
    r ^= r >> 32
    return r


class Y5W:
    """The parsed file: layers (list of dicts), tensors {(layer, name): ndarray f32}, meta."""

    def __init__(self, path, verify_checksum=False):
        with open(path, "rb") as f:
            buf = f.read()
        if len(buf) < 8 or buf[:8] != MAGIC:
            raise ValueError(f"{path}: not a yolov5c weight file (bad magic)")
        if len(buf) < HDR:
            raise ValueError(f"{path}: truncated (file has {len(buf)} bytes, a header needs {HDR})")
        (version, header_size, file_size, checksum, meta_off, meta_size, _r0,
         layers_off, n_layers, layer_rec, names_off, n_names, name_rec,
         tensors_off, n_tensors, tensor_rec, data_off, data_size) = struct.unpack_from(
            "<IIQQQIIQIIQIIQIIQQ", buf, 8)
        if version not in META_BY_VERSION:
            raise ValueError(f"{path}: unsupported version {version} (this reader reads 1 and {VERSION})")
        META, LREC = META_BY_VERSION[version], LREC_BY_VERSION[version]
        self.version = version
        if (header_size, meta_size, layer_rec, name_rec, tensor_rec) != (HDR, META, LREC, NREC, TREC):
            raise ValueError(f"{path}: corrupt header (record sizes)")
        if file_size != len(buf):
            raise ValueError(f"{path}: file has {len(buf)} bytes, header says {file_size}")
        if verify_checksum and y5w_checksum(buf) != checksum:
            raise ValueError(f"{path}: checksum mismatch (file is damaged)")
        self.checksum = checksum

        nc, nl, na = struct.unpack_from("<III", buf, meta_off)
        anchors = np.frombuffer(buf, dtype="<f4", count=8 * 16, offset=meta_off + 16).reshape(8, 16)
        strides = np.frombuffer(buf, dtype="<f4", count=8, offset=meta_off + 528)
        self.nc, self.nl, self.na = nc, nl, na
        self.anchors = anchors[:nl, :2 * na].reshape(nl, na, 2).astype(np.float32).copy()
        self.strides = [float(s) for s in strides[:nl]]
        self.source = _cstr(buf[meta_off + 560:meta_off + 816])
        self.imgsz, self.generation = 0, ""
        if version >= 2:
            self.imgsz = struct.unpack_from("<I", buf, meta_off + 816)[0]
            self.generation = _cstr(buf[meta_off + 824:meta_off + 880])
        if n_names != nc:
            raise ValueError(f"{path}: corrupt meta (nc {nc} but {n_names} class names)")
        self.names = [_cstr(buf[names_off + j * NREC:names_off + (j + 1) * NREC]) for j in range(n_names)]

        self.layers = []
        for i in range(n_layers):
            r = struct.unpack_from("<II8i9i", buf, layers_off + i * LREC)
            t, n_from = r[0], r[1]
            frm = list(r[2:2 + n_from])
            c_in, c_out, k, s, p, n, shortcut, scale = r[10:18]
            if t not in TYPE_NAMES or not 1 <= n_from <= 8 or any(x < -1 or x >= i for x in frm):
                raise ValueError(f"{path}: corrupt layer {i}")
            if version >= 2:
                act, slope = struct.unpack_from("<If", buf, layers_off + i * LREC + 72)
                pools = list(struct.unpack_from("<4i", buf, layers_off + i * LREC + 80))
            else:
                act, slope, pools = (ACT_SILU if t in (CONV, C3, SPPF) else ACT_NONE), 0.0, [0] * 4
            self.layers.append(dict(type=t, frm=frm, c_in=c_in, c_out=c_out, k=k, s=s, p=p,
                                    n=n, shortcut=shortcut, scale=scale, act=act, slope=slope,
                                    pools=pools[:n] if t == SPP else []))

        self.tensors = {}
        for i in range(n_tensors):
            o = tensors_off + i * TREC
            layer, dtype, ndim, _r = struct.unpack_from("<iIII", buf, o)
            shape = struct.unpack_from("<4i", buf, o + 16)[:ndim]
            off, nbytes = struct.unpack_from("<QQ", buf, o + 32)
            name = _cstr(buf[o + 48:o + 112])
            if dtype not in (0, 1) or not 1 <= ndim <= 4:
                raise ValueError(f"{path}: corrupt tensor {i} '{name}'")
            dt = "<f4" if dtype == 0 else "<f2"
            numel = int(np.prod(shape))
            if numel * (4 if dtype == 0 else 2) != nbytes or off + nbytes > len(buf):
                raise ValueError(f"{path}: corrupt tensor {i} '{name}'")
            a = np.frombuffer(buf, dtype=dt, count=numel, offset=off).astype(np.float32).reshape(shape)
            self.tensors[(layer, name)] = a

    def activation(self, layer, path):
        """(kind, param) of the convs of a layer: the layer record's activation
        (version 2; version 1 files are SiLU in Conv, C3, SPPF). path is kept for
        callers that name a conv; a layer's convs share its activation."""
        L = self.layers[layer]
        names = {ACT_SILU: "silu", ACT_RELU: "relu", ACT_LEAKY: "leaky", ACT_HARDSWISH: "hardswish",
                 ACT_NONE: "identity"}
        kind = names.get(L["act"], "unknown")
        return kind, (L["slope"] if L["act"] == ACT_LEAKY else None)

    def get(self, layer, name):
        try:
            return self.tensors[(layer, name)]
        except KeyError:
            raise KeyError(f"tensor '{name}' of layer {layer} is missing from the weight file") from None
