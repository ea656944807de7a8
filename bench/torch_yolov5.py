#!/usr/bin/env python3
"""torch_yolov5.py - a plain PyTorch YOLOv5 built from a yolov5c .y5w file.

The peer for yolov5c's benchmarks: the same network, the same folded weights
(read from the flat weight file of weights/FORMAT.md), run by PyTorch's own
kernels. Written from the architecture description in ../shared/DESIGN.md
("YOLOv5 facts"); it uses no ultralytics code.

  python3 bench/torch_yolov5.py --weights W.y5w [--imgsz 640|HxW] [--batch 1|1,8,32]
        [--iters 20] [--warmup 3] [--threads T] [--device cpu|cuda] [--half]
        [--channels-last] [--cuda-graph] [--compile] [--gflops G]
        [--check-golden INPUT.u8 PRED.f32 H W] [--verify-checksum]

Timing prints one table row like `yolov5c bench` (median ms, min ms,
GFLOP/s med, images/s); with a list of batches (--batch 1,8,32, one process:
torch's start-up and the model load are paid once) one such block per batch.
GFLOP per forward is 2 x the multiply-adds of every
convolution (Detect's 1x1 heads included), counted on the real shapes, unless
--gflops gives it. --check-golden runs the letterboxed u8 input (H x W x 3,
RGB, HWC) and prints the max |difference| to the reference prediction
(1 x N x (5+nc) float32); it exits 1 when the result is beyond the suggested
FP32 tolerance (0.5 px / 1e-3), 0 otherwise.
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- .y5w reader

# the reader lives in bench/y5w_read.py (numpy only, shared with y5w_to_onnx.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from y5w_read import (ACT_HARDSWISH, ACT_LEAKY, ACT_NONE, ACT_RELU, ACT_SILU, C3, CONCAT,  # noqa: E402,F401
                      CONV, DETECT, MAGIC, SPP, SPPF, TYPE_NAMES, UPSAMPLE, VERSION, Y5W, _cstr,
                      y5w_checksum)


# ---------------------------------------------------------------- network

def _conv(w, layer, path, k=None, s=1, p=None):
    """nn.Conv2d (bias, BN already folded) from tensors `<path>.weight`/`.bias`."""
    wt = w.get(layer, path + ".weight")
    bs = w.get(layer, path + ".bias")
    co, ci, kh, kw = wt.shape
    if k is not None and (kh, kw) != (k, k):
        raise ValueError(f"layer {layer} {path}: kernel {kh}x{kw}, layer table says {k}")
    if p is None:
        p = kh // 2
    c = nn.Conv2d(ci, co, (kh, kw), stride=s, padding=p, bias=True)
    with torch.no_grad():
        c.weight.copy_(torch.from_numpy(wt))
        c.bias.copy_(torch.from_numpy(bs))
    return c


def _act(L):
    """The layer's activation module (the weight file's per-layer kind)."""
    a = L.get("act", ACT_SILU)
    if a == ACT_SILU:
        return nn.SiLU()
    if a == ACT_RELU:
        return nn.ReLU()
    if a == ACT_LEAKY:
        return nn.LeakyReLU(float(L["slope"]))
    if a == ACT_HARDSWISH:
        return nn.Hardswish()
    if a == ACT_NONE:
        return nn.Identity()
    raise ValueError(f"unknown activation kind {a}")


class Conv(nn.Module):  # conv2d (folded) + the layer's activation
    def __init__(self, w, i, path, k=None, s=1, p=None, L=None):
        super().__init__()
        self.conv = _conv(w, i, path, k, s, p)
        self.act = _act(L if L is not None else w.layers[i])

    def forward(self, x):
        return self.act(self.conv(x))


class Bottleneck(nn.Module):
    def __init__(self, w, i, j, add):
        super().__init__()
        self.cv1 = Conv(w, i, f"m.{j}.cv1")
        self.cv2 = Conv(w, i, f"m.{j}.cv2")
        self.add = add

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3Block(nn.Module):
    def __init__(self, w, i, L):
        super().__init__()
        self.cv1 = Conv(w, i, "cv1")
        self.cv2 = Conv(w, i, "cv2")
        self.cv3 = Conv(w, i, "cv3")
        self.m = nn.Sequential(*[Bottleneck(w, i, j, bool(L["shortcut"])) for j in range(L["n"])])

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPFBlock(nn.Module):
    def __init__(self, w, i, L):
        super().__init__()
        self.cv1 = Conv(w, i, "cv1")
        self.cv2 = Conv(w, i, "cv2")
        self.k = L["k"] or 5

    def forward(self, x):
        x = self.cv1(x)
        y1 = F.max_pool2d(x, self.k, 1, self.k // 2)
        y2 = F.max_pool2d(y1, self.k, 1, self.k // 2)
        y3 = F.max_pool2d(y2, self.k, 1, self.k // 2)
        return self.cv2(torch.cat((x, y1, y2, y3), 1))


class SPPBlock(nn.Module):  # v5.0-era SPP: parallel pools (other than (k, 2k-1, 3k-2))
    def __init__(self, w, i, L):
        super().__init__()
        self.cv1 = Conv(w, i, "cv1")
        self.cv2 = Conv(w, i, "cv2")
        self.ks = list(L["pools"])

    def forward(self, x):
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [F.max_pool2d(x, k, 1, k // 2) for k in self.ks], 1))


class Upsample(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale or 2

    def forward(self, x):
        return F.interpolate(x, scale_factor=float(self.scale), mode="nearest")


class Concat(nn.Module):
    def forward(self, xs):
        return torch.cat(xs, 1)


class DetectBlock(nn.Module):
    def __init__(self, w, i, L):
        super().__init__()
        self.nl, self.na, self.no = w.nl, w.na, 5 + w.nc
        if len(L["frm"]) != self.nl:
            raise ValueError(f"Detect layer {i}: {len(L['frm'])} inputs but nl = {self.nl}")
        self.m = nn.ModuleList([_conv(w, i, f"m.{l}", p=0) for l in range(self.nl)])
        self.strides = w.strides
        self.register_buffer("anchor_px", torch.from_numpy(w.anchors))  # (nl, na, 2) pixels
        self.cache = {}

    def _grid(self, l, ny, nx, x):
        key = (l, ny, nx, x.device, x.dtype)
        g = self.cache.get(key)
        if g is None:
            yv, xv = torch.meshgrid(torch.arange(ny, device=x.device, dtype=x.dtype),
                                    torch.arange(nx, device=x.device, dtype=x.dtype), indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2) - 0.5
            ag = self.anchor_px[l].to(x.dtype).view(1, self.na, 1, 1, 2)
            g = self.cache[key] = (grid, ag)
        return g

    def forward(self, xs):
        z = []
        for l in range(self.nl):
            y = self.m[l](xs[l])
            bs, _, ny, nx = y.shape
            y = y.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous().sigmoid()
            grid, ag = self._grid(l, ny, nx, y)
            xy, wh, conf = y.split((2, 2, self.no - 4), 4)
            xy = (xy * 2 + grid) * self.strides[l]
            wh = (wh * 2) ** 2 * ag
            z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * ny * nx, self.no))
        return torch.cat(z, 1)


class YOLOv5(nn.Module):
    def __init__(self, w):
        super().__init__()
        mods = []
        for i, L in enumerate(w.layers):
            t = L["type"]
            if t == CONV:
                mods.append(Conv(w, i, "conv", k=L["k"], s=L["s"], p=L["p"]))
            elif t == C3:
                mods.append(C3Block(w, i, L))
            elif t == SPPF:
                mods.append(SPPFBlock(w, i, L))
            elif t == SPP:
                mods.append(SPPBlock(w, i, L))
            elif t == UPSAMPLE:
                mods.append(Upsample(L["scale"]))
            elif t == CONCAT:
                mods.append(Concat())
            elif t == DETECT:
                mods.append(DetectBlock(w, i, L))
        self.model = nn.ModuleList(mods)
        self.frm = [L["frm"] for L in w.layers]
        # keep only the outputs some later layer reads (like model.save)
        used = {f for fr in self.frm for f in fr}
        self.keep = [i in used for i in range(len(mods))]

    def forward(self, x):
        outs = [None] * len(self.model)
        prev = x
        for i, m in enumerate(self.model):
            fr = self.frm[i]
            src = [x if f == -1 else outs[f] for f in fr]
            if len(fr) == 1 and fr[0] == i - 1:
                src = [prev]
            if isinstance(m, (Concat, DetectBlock)):
                prev = m(src)
            else:
                prev = m(src[0])
            if self.keep[i]:
                outs[i] = prev
        return prev


# ---------------------------------------------------------------- utilities

def count_gflop(model, x):
    """2 x multiply-adds of every Conv2d for input x (one extra forward)."""
    tot = [0.0]

    def hook(mod, inp, out):
        co, ci, kh, kw = mod.weight.shape
        tot[0] += 2.0 * out.numel() * ci * kh * kw / mod.groups

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        model(x)
    finally:
        for h in hs:
            h.remove()
    return tot[0] / 1e9


def parse_imgsz(s):
    s = str(s).lower()
    if "x" in s:
        h, w = s.split("x")
        return int(h), int(w)
    return int(s), int(s)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="yolov5c .y5w file")
    ap.add_argument("--imgsz", default="640", help="N or HxW (default 640)")
    ap.add_argument("--batch", default="1", help="batch size, or a comma list timed in turn")
    ap.add_argument("--iters", type=int, default=None,
                    help="timed forwards (default 20; 0 with --check-golden)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--half", action="store_true", help="FP16 weights and activations")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    ap.add_argument("--cuda-graph", action="store_true", help="capture the forward in a CUDA graph")
    ap.add_argument("--compile", action="store_true", help="torch.compile (torch >= 2.0)")
    ap.add_argument("--gflops", type=float, default=0.0, help="GFLOP per image (default: counted)")
    ap.add_argument("--verify-checksum", action="store_true", help="check the file checksum (slow)")
    ap.add_argument("--check-golden", nargs=4, metavar=("INPUT_U8", "PRED_F32", "H", "W"))
    ap.add_argument("--quiet", action="store_true", help="only the result row")
    a = ap.parse_args(argv)

    torch.set_flush_denormal(True)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("torch_yolov5: CUDA is not available to this torch build", file=sys.stderr)
        return 2
    if a.half and dev.type == "cpu":
        print("torch_yolov5: --half needs --device cuda (torch's CPU conv2d has no FP16 kernel)",
              file=sys.stderr)
        return 2
    dtype = torch.float16 if a.half else torch.float32
    mf = torch.channels_last if a.channels_last else torch.contiguous_format

    t0 = time.perf_counter()
    w = Y5W(a.weights, a.verify_checksum)
    model = YOLOv5(w).eval().to(dev, dtype)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    load_ms = (time.perf_counter() - t0) * 1e3
    if not a.quiet:
        print(f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}, "
              f"threads {torch.get_num_threads()}, device {dev}"
              f"{' ' + torch.cuda.get_device_name(dev) if dev.type == 'cuda' else ''}, "
              f"{'FP16' if a.half else 'FP32'}{', channels_last' if a.channels_last else ''}")
        print(f"weights {a.weights}: {len(w.layers)} layers, {len(w.tensors)} tensors, nc {w.nc}, "
              f"nl {w.nl}, na {w.na}, loaded in {load_ms:.0f} ms (source: {w.source})")

    fwd = model
    if a.compile:
        if not hasattr(torch, "compile"):
            print("torch_yolov5: --compile needs torch >= 2.0; running eagerly", file=sys.stderr)
        else:
            fwd = torch.compile(model)

    try:
        batches = [int(b) for b in a.batch.split(",")]
        if not batches or min(batches) < 1:
            raise ValueError
    except ValueError:
        print(f"torch_yolov5: --batch {a.batch}: expected N or a comma list of N >= 1", file=sys.stderr)
        return 2
    rc = 0
    with torch.inference_mode():
        if a.check_golden:
            rc = check_golden(fwd, w, a, dev, dtype, mf)
        if a.iters is None:
            a.iters = 0 if a.check_golden else 20
        if a.iters <= 0:
            return rc
        for b in batches:
            time_batch(fwd, model, a, b, dev, dtype, mf)
    return rc


def time_batch(fwd, model, a, batch, dev, dtype, mf):
    """Times the forward at one batch size and prints its block."""
    h, wd = parse_imgsz(a.imgsz)
    n = batch * 3 * h * wd
    idx = torch.arange(n, dtype=torch.int64)
    x = (((idx * 2654435761) >> 7) % 256).to(torch.float32).div_(255.0)
    x = x.view(batch, h, wd, 3).permute(0, 3, 1, 2).contiguous()
    x = x.to(dev, dtype).contiguous(memory_format=mf)
    gflop = a.gflops * batch if a.gflops > 0 else count_gflop(model, x)

    run = lambda: fwd(x)  # noqa: E731
    if a.cuda_graph:
        if dev.type != "cuda":
            print("torch_yolov5: --cuda-graph needs --device cuda; ignored", file=sys.stderr)
        else:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    fwd(x)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                static_out = fwd(x)
            run = lambda: (g.replay(), static_out)[1]  # noqa: E731
    for _ in range(max(a.warmup, 0)):
        run()
    sync(dev)
    ts = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        run()
        sync(dev)
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    med = ts[len(ts) // 2] if len(ts) % 2 else 0.5 * (ts[len(ts) // 2 - 1] + ts[len(ts) // 2])
    mn = ts[0]
    if not a.quiet:
        print(f"input {batch}x{h}x{wd} (batch x H x W), {gflop:.2f} GFLOP per forward")
        print(f"{'iters':<10} {'median ms':>10} {'min ms':>10} {'GFLOP/s med':>12} {'images/s':>12}")
    print(f"{a.iters:<10d} {med:10.2f} {mn:10.2f} {gflop / med * 1e3:12.1f} {batch * 1e3 / med:12.1f}", flush=True)


def check_golden(fwd, w, a, dev, dtype, mf):
    inp, pred, H, W = a.check_golden[0], a.check_golden[1], int(a.check_golden[2]), int(a.check_golden[3])
    u8 = np.fromfile(inp, dtype=np.uint8)
    if u8.size != H * W * 3:
        print(f"torch_yolov5: {inp}: {u8.size} bytes, expected {H}x{W}x3", file=sys.stderr)
        return 2
    # to tensor as detect.py: HWC->CHW, float32, divided by 255
    x = torch.from_numpy(u8.reshape(H, W, 3).transpose(2, 0, 1).copy()).float().div(255.0)[None]
    x = x.to(dev, dtype).contiguous(memory_format=mf)
    y = fwd(x).float().cpu().numpy()
    ref = np.fromfile(pred, dtype="<f4")
    no = 5 + w.nc
    if ref.size != y.size:
        print(f"torch_yolov5: {pred}: {ref.size} floats, the model gives {y.shape}", file=sys.stderr)
        return 2
    ref = ref.reshape(y.shape)
    d = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    dxy, dcls = d[..., :4].max(), d[..., 4:].max()
    print(f"golden {os.path.basename(pred)}: rows {y.shape[1]} x {no}, "
          f"max |d| xywh {dxy:.3e} px, obj/cls {dcls:.3e}, mean |d| obj/cls {d[..., 4:].mean():.3e}")
    tol_xy, tol_c = (0.5, 1e-3) if not a.half else (4.0, 1e-2)
    ok = dxy <= tol_xy and dcls <= tol_c and np.isfinite(y).all()
    print(f"golden check {'PASS' if ok else 'FAIL'} (tolerance {tol_xy} px, {tol_c})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
