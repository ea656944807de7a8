#!/usr/bin/env python3
"""y5w_read.py - a numpy-only reader of yolov5c's .y5w weight file (weights/FORMAT.md).

Shared by bench/torch_yolov5.py (the PyTorch peer) and bench/y5w_to_onnx.py
(the ONNX exporter), so neither needs the other's framework:

    from y5w_read import Y5W, CONV, C3, SPPF, UPSAMPLE, CONCAT, DETECT
    w = Y5W("yolov5n.y5w")
    w.layers[i]     # dict(type, frm, c_in, c_out, k, s, p, n, shortcut, scale)
    w.get(i, "cv1.weight")   # float32 ndarray (OIHW for conv weights)
    w.activation(i, "cv1")   # ("silu", None) for every conv of a v1 file
    w.nc, w.nl, w.na, w.anchors (nl, na, 2) pixels, w.strides, w.names, w.source

Versions: the file's version selects one parse function in READERS (only
version 1 today). A file of any other version is refused with
"unsupported .y5w version V (this reader reads 1 ...)". To read a new version,
write `_read_vN(self, buf, path)` (start from `_read_v1`) and add it to
READERS; whatever the version adds per conv (e.g. its activation) goes into
self.acts[(layer, path)] so that `activation()` keeps answering for every
version.
"""
import struct

import numpy as np

MAGIC = b"Y5WEIGHT"
HDR, META, LREC, NREC, TREC = 128, 816, 72, 64, 112
CONV, C3, SPPF, UPSAMPLE, CONCAT, DETECT = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {CONV: "Conv", C3: "C3", SPPF: "SPPF", UPSAMPLE: "Upsample",
              CONCAT: "Concat", DETECT: "Detect"}


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
        if len(buf) < 12:
            raise ValueError(f"{path}: truncated (file has {len(buf)} bytes)")
        version = struct.unpack_from("<I", buf, 8)[0]
        reader = READERS.get(version)
        if reader is None:
            known = ", ".join(str(v) for v in sorted(READERS))
            raise ValueError(f"{path}: unsupported .y5w version {version} (this reader reads {known}; "
                             f"teach bench/y5w_read.py the new version: see READERS there)")
        self.version = version
        self.acts = {}  # (layer, conv path) -> (kind, param); absent: SiLU
        reader(self, buf, path, verify_checksum)

    def get(self, layer, name):
        try:
            return self.tensors[(layer, name)]
        except KeyError:
            raise KeyError(f"tensor '{name}' of layer {layer} is missing from the weight file") from None

    def activation(self, layer, path):
        """Activation after conv `path` (e.g. "cv1", "m.0.cv2", "conv") of layer `layer`:
        (kind, param) with kind in silu, leaky (param: slope), relu, identity."""
        return self.acts.get((layer, path), ("silu", None))


def _read_v1(self, buf, path, verify_checksum):
    """Version 1 (weights/FORMAT.md): every conv but Detect's is followed by SiLU."""
    if len(buf) < HDR:
        raise ValueError(f"{path}: truncated (file has {len(buf)} bytes, a header needs {HDR})")
    (_version, header_size, file_size, checksum, meta_off, meta_size, _r0,
     layers_off, n_layers, layer_rec, names_off, n_names, name_rec,
     tensors_off, n_tensors, tensor_rec, data_off, data_size) = struct.unpack_from(
        "<IIQQQIIQIIQIIQIIQQ", buf, 8)
    if (header_size, meta_size, layer_rec, name_rec, tensor_rec) != (HDR, META, LREC, NREC, TREC):
        raise ValueError(f"{path}: corrupt header (record sizes)")
    if file_size != len(buf):
        raise ValueError(f"{path}: file has {len(buf)} bytes, header says {file_size}")
    if verify_checksum and y5w_checksum(buf) != checksum:
        raise ValueError(f"{path}: checksum mismatch (file is damaged)")
    self.checksum = checksum

    nc, nl, na = struct.unpack_from("<III", buf, meta_off)
    if nl > 8 or na > 8:
        raise ValueError(f"{path}: corrupt meta (nl {nl}, na {na})")
    anchors = np.frombuffer(buf, dtype="<f4", count=8 * 16, offset=meta_off + 16).reshape(8, 16)
    strides = np.frombuffer(buf, dtype="<f4", count=8, offset=meta_off + 528)
    self.nc, self.nl, self.na = nc, nl, na
    self.anchors = anchors[:nl, :2 * na].reshape(nl, na, 2).astype(np.float32).copy()
    self.strides = [float(s) for s in strides[:nl]]
    self.source = _cstr(buf[meta_off + 560:meta_off + 816])
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
        self.layers.append(dict(type=t, frm=frm, c_in=c_in, c_out=c_out, k=k, s=s, p=p,
                                n=n, shortcut=shortcut, scale=scale))

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


# version -> parse function (self, buf, path, verify_checksum); add new versions here
READERS = {1: _read_v1}
VERSION = max(READERS)
