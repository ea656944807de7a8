#!/usr/bin/env python3
"""peer_run.py - one peer runtime of bench/cpu_peers.sh: golden check or timing, in one process.

  python peer_run.py --runtime ort|openvino|torch --version
  python peer_run.py --runtime ort|openvino --onnx M.onnx  [common options]
  python peer_run.py --runtime torch --weights M.y5w       [common options]
  common: --threads 2 [--batch 1] [--imgsz 640|HxW] [--iters 10] [--warmup 2]
          [--check-golden INPUT.u8 PRED.f32 H W --tol XY CLS]

ONNX Runtime and OpenVINO run the ONNX file of bench/y5w_to_onnx.py (static
shapes: give the batch and size it was exported with), PyTorch the network of
bench/torch_yolov5.py built from the .y5w. Threads: intra-op = --threads,
inter-op 1 (ORT: intra_op/inter_op_num_threads, sequential execution;
OpenVINO: INFERENCE_NUM_THREADS, NUM_STREAMS 1, LATENCY hint, FP32 inference
precision (it would pick bf16 on CPUs that have it); torch: set_num_threads,
set_num_interop_threads(1)). All FP32.

--version prints one line `runtime VERSION details` and exits 0 (1 when the
runtime cannot be imported). --check-golden runs the letterboxed u8 input
(H x W x 3, RGB) once and prints `golden ... max |d| xywh X px, obj/cls Y`
and `golden check PASS|FAIL`; exit 1 on FAIL. Timing (--iters > 0) prints a
header with 'median ms' and one row: iters, median ms, min ms, images/s
(the input is torch_yolov5.py's deterministic pattern; ORT and OpenVINO run
on preallocated input and output buffers, no copies in the timed loop).
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_imgsz(s):
    s = str(s).lower()
    if "x" in s:
        h, w = s.split("x")
        return int(h), int(w)
    return int(s), int(s)


def pattern_input(b, h, w):
    """The timing input of torch_yolov5.py: ((i * 2654435761) >> 7) % 256 / 255, NCHW float32."""
    idx = np.arange(b * 3 * h * w, dtype=np.int64)
    x = (((idx * 2654435761) >> 7) % 256).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(x.reshape(b, h, w, 3).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------- runtimes
# each: version() -> str; load(args) -> (run(x) -> ndarray output, info str)

def ort_version():
    import onnxruntime as ort
    return f"{ort.__version__} (providers {','.join(ort.get_available_providers())})"


def ort_load(a):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    state = {}

    def run(x):
        # bind the input and a preallocated output once per input buffer
        if state.get("x") is not x:
            y = np.empty(out.shape, dtype=np.float32)
            bd = sess.io_binding()
            bd.bind_cpu_input(inp.name, x)
            bd.bind_ortvalue_output(out.name, ort.OrtValue.ortvalue_from_numpy(y))
            state.update(x=x, y=y, bd=bd)
        sess.run_with_iobinding(state["bd"])
        return state["y"]
    return run, f"onnxruntime {ort.__version__}, intra-op {a.threads}, inter-op 1, sequential, ORT_ENABLE_ALL"


def openvino_version():
    import openvino as ov
    return ov.get_version()


def openvino_load(a):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(a.onnx)
    cfg = {"INFERENCE_NUM_THREADS": a.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
           "INFERENCE_PRECISION_HINT": "f32"}
    cm = core.compile_model(model, "CPU", cfg)
    req = cm.create_infer_request()
    got = {k: str(cm.get_property(k)) for k in ("INFERENCE_NUM_THREADS", "NUM_STREAMS", "INFERENCE_PRECISION_HINT")}
    prec = got["INFERENCE_PRECISION_HINT"].lower()
    if prec != "f32" and "float32" not in prec:
        print(f"peer_run: OpenVINO runs at {got['INFERENCE_PRECISION_HINT']} despite the f32 hint",
              file=sys.stderr)
    state = {}

    def run(x):
        if state.get("x") is not x:
            req.set_input_tensor(ov.Tensor(x, shared_memory=True))
            state["x"] = x
        req.infer()
        return req.get_output_tensor(0).data
    return run, (f"openvino {ov.get_version()}, " + ", ".join(f"{k} {v}" for k, v in got.items()))


def torch_version():
    import torch
    return f"{torch.__version__} (mkldnn {torch.backends.mkldnn.is_available()})"


def torch_load(a):
    import torch
    sys.path.insert(0, HERE)
    from torch_yolov5 import Y5W, YOLOv5
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already started: only used by torch.jit fork, not by this eager forward
    torch.set_flush_denormal(True)
    model = YOLOv5(Y5W(a.weights)).eval()

    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run, (f"torch {torch.__version__}, intra-op {torch.get_num_threads()}, "
                 f"inter-op {torch.get_num_interop_threads()}, NCHW, inference_mode, flush denormal")


RUNTIMES = {"ort": (ort_version, ort_load), "openvino": (openvino_version, openvino_load),
            "torch": (torch_version, torch_load)}


def check_golden(run, a):
    inp, pred, H, W = a.check_golden[0], a.check_golden[1], int(a.check_golden[2]), int(a.check_golden[3])
    u8 = np.fromfile(inp, dtype=np.uint8)
    if u8.size != H * W * 3:
        print(f"peer_run: {inp}: {u8.size} bytes, expected {H}x{W}x3", file=sys.stderr)
        return 2
    # as detect.py: HWC -> CHW, float32, divided by 255
    x = np.ascontiguousarray(u8.reshape(1, H, W, 3).transpose(0, 3, 1, 2)).astype(np.float32) / np.float32(255.0)
    y = np.array(run(x), dtype=np.float32, copy=True)
    ref = np.fromfile(pred, dtype="<f4")
    if ref.size != y.size:
        print(f"peer_run: {pred}: {ref.size} floats, the model gives {y.shape}", file=sys.stderr)
        return 2
    ref = ref.reshape(y.shape)
    d = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    dxy, dcls = d[..., :4].max(), d[..., 4:].max()
    print(f"golden {os.path.basename(pred)}: rows {y.shape[1]} x {y.shape[2]}, "
          f"max |d| xywh {dxy:.3e} px, obj/cls {dcls:.3e}, mean |d| obj/cls {d[..., 4:].mean():.3e}")
    ok = bool(dxy <= a.tol[0] and dcls <= a.tol[1] and np.isfinite(y).all())
    print(f"golden check {'PASS' if ok else 'FAIL'} (tolerance {a.tol[0]:g} px, {a.tol[1]:g})")
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", required=True, choices=sorted(RUNTIMES))
    ap.add_argument("--version", action="store_true", help="print the runtime's version and exit")
    ap.add_argument("--onnx", help="ONNX file (ort, openvino)")
    ap.add_argument("--weights", help=".y5w file (torch)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--imgsz", default="640", help="N or HxW")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=None, help="timed forwards (default 10; 0 with --check-golden)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--check-golden", nargs=4, metavar=("INPUT_U8", "PRED_F32", "H", "W"))
    ap.add_argument("--tol", nargs=2, type=float, default=(0.5, 1e-3), metavar=("XY_PX", "CLS"),
                    help="golden tolerance: max |d| on columns 0..3 (px) and 4.. (default 0.5 1e-3)")
    a = ap.parse_args(argv)
    version, load = RUNTIMES[a.runtime]
    if a.version:
        try:
            print(f"{a.runtime} {version()}")
        except Exception as e:  # noqa: BLE001 - any import failure means "not available"
            print(f"{a.runtime} not available: {type(e).__name__}: {e}")
            return 1
        return 0
    if (a.runtime == "torch") != bool(a.weights) or (a.runtime != "torch") != bool(a.onnx):
        ap.error("--onnx is for ort/openvino, --weights for torch")

    t0 = time.perf_counter()
    run, info = load(a)
    print(f"{info}; loaded in {(time.perf_counter() - t0) * 1e3:.0f} ms", file=sys.stderr)
    rc = 0
    if a.check_golden:
        rc = check_golden(run, a)
    if a.iters is None:
        a.iters = 0 if a.check_golden else 10
    if a.iters <= 0:
        return rc
    h, w = parse_imgsz(a.imgsz)
    x = pattern_input(a.batch, h, w)
    for _ in range(max(a.warmup, 0)):
        run(x)
    ts = []
    for _ in range(a.iters):
        t1 = time.perf_counter()
        run(x)
        ts.append((time.perf_counter() - t1) * 1e3)
    ts.sort()
    n = len(ts)
    med = ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])
    print(f"input {a.batch}x{h}x{w} (batch x H x W), {a.runtime}")
    print(f"{'iters':<10} {'median ms':>10} {'min ms':>10} {'images/s':>12}")
    print(f"{a.iters:<10d} {med:10.2f} {ts[0]:10.2f} {a.batch * 1e3 / med:12.1f}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
