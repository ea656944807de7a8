#!/usr/bin/env python3
"""pipeline_torch.py - the Python baselines of bench/pipeline.sh.

detect.py's per-image loop - cv2 decode, letterbox, forward, NMS, draw,
cv2.imwrite of the annotated image plus a label file - on the pure-PyTorch
YOLOv5 of bench/torch_yolov5.py (same .y5w weights as yolov5c), run the
ways the write-up of ../shared/EXPERIMENT.md ran ultralytics' detect.py:

  python3 bench/pipeline_torch.py --weights W.y5w --source DIR --out DIR
        [--mode seq|threads|procs] [--jobs 2] [--imgsz 640] [--threads T]
        [--device cpu|cuda|cuda:N] [--half]

  seq      one loop, one model
  threads  --jobs Python threads, each with its own model, over a shared
           file queue
  procs    --jobs processes (multiprocessing, fork), each loading its own
           model, over a shared file queue

torch intra-op threads: --threads (default: nproc) for seq, --threads/jobs
per worker for threads and procs, so no strategy oversubscribes the cores.
--device cuda runs each model on the GPU as detect.py does (the uint8 image
uploaded, then converted and scaled there; --half: FP16 weights and input,
detect.py's --half); cv2 still decodes, draws and encodes on the CPU and NMS
runs on the model's device (in FP32). The parent process never touches CUDA,
so procs keeps fork.
NMS: torchvision.ops.nms when torchvision imports, else a plain torch
greedy NMS (same rules: conf 0.25, IoU 0.45, class offsets, max_det 1000).
Time the whole process from outside (bench/pipeline.sh does).
"""
import argparse
import multiprocessing as mp
import os
import queue
import sys
import threading
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_yolov5 import Y5W, YOLOv5  # noqa: E402

try:
    import torchvision  # noqa: F401

    def nms_boxes(boxes, scores, iou):
        return torchvision.ops.nms(boxes, scores, iou)
    NMS_KIND = "torchvision"
except Exception:  # torchvision is optional
    def nms_boxes(boxes, scores, iou):
        order = scores.argsort(descending=True)
        x1, y1, x2, y2 = boxes.unbind(1)
        areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
        keep = []
        while order.numel() > 0:
            i = order[0]
            keep.append(int(i))
            rest = order[1:]
            if rest.numel() == 0:
                break
            w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
            inter = w * h
            iou_ = inter / (areas[i] + areas[rest] - inter)
            order = rest[iou_ <= iou]
        return torch.tensor(keep, dtype=torch.long, device=boxes.device)
    NMS_KIND = "torch greedy"


def letterbox(im, new_shape, stride=32, color=(114, 114, 114)):
    """detect.py's letterbox, auto (rect) padding."""
    h0, w0 = im.shape[:2]
    r = min(new_shape[0] / h0, new_shape[1] / w0)
    nw, nh = int(round(w0 * r)), int(round(h0 * r))
    dw, dh = np.mod(new_shape[1] - nw, stride) / 2, np.mod(new_shape[0] - nh, stride) / 2
    if (w0, h0) != (nw, nh):
        im = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    im = cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return im, r, (dw, dh)


def nms(pred, conf=0.25, iou=0.45, max_det=1000, max_nms=30000):
    x = pred[pred[:, 4] > conf]
    if not x.shape[0]:
        return x.new_zeros((0, 6))
    x = x.clone()
    x[:, 5:] *= x[:, 4:5]
    b = x[:, :4]
    box = torch.stack((b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2), 1)
    c, j = x[:, 5:].max(1, keepdim=True)
    x = torch.cat((box, c, j.float()), 1)[c.view(-1) > conf]
    x = x[x[:, 4].argsort(descending=True)[:max_nms]]
    i = nms_boxes(x[:, :4] + x[:, 5:6] * 7680, x[:, 4], iou)[:max_det]
    return x[i]


def process(model, names, path, out_dir, imgsz, dev, dtype):
    im0 = cv2.imread(path)  # BGR
    if im0 is None:
        print(f"pipeline_torch: cannot read {path}", file=sys.stderr)
        return 0
    im, r, (dw, dh) = letterbox(im0, imgsz)
    x = torch.from_numpy(np.ascontiguousarray(im[:, :, ::-1].transpose(2, 0, 1))).to(dev)
    x = x.to(dtype).div_(255.0)[None]
    with torch.inference_mode():
        pred = model(x)[0].float()  # FP32 NMS: class offsets (x 7680) overflow FP16
    det = nms(pred)
    h0, w0 = im0.shape[:2]
    if det.shape[0]:
        det[:, [0, 2]] = ((det[:, [0, 2]] - dw) / r).clamp(0, w0)
        det[:, [1, 3]] = ((det[:, [1, 3]] - dh) / r).clamp(0, h0)
    lw = max(round((h0 + w0) / 2 * 0.003), 2)
    lines = []
    for *xyxy, conf, cls in reversed(det.tolist()):
        p1, p2 = (int(xyxy[0]), int(xyxy[1])), (int(xyxy[2]), int(xyxy[3]))
        cv2.rectangle(im0, p1, p2, (56, 56, 255), lw, cv2.LINE_AA)
        label = f"{names[int(cls)]} {conf:.2f}"
        cv2.putText(im0, label, (p1[0], max(p1[1] - 2, 0)), 0, lw / 3, (255, 255, 255), max(lw - 1, 1), cv2.LINE_AA)
        cx, cy = (xyxy[0] + xyxy[2]) / 2 / w0, (xyxy[1] + xyxy[3]) / 2 / h0
        bw, bh = (xyxy[2] - xyxy[0]) / w0, (xyxy[3] - xyxy[1]) / h0
        lines.append(f"{int(cls)} {cx:g} {cy:g} {bw:g} {bh:g} {conf:g}\n")
    name = os.path.basename(path)
    cv2.imwrite(os.path.join(out_dir, name), im0)
    with open(os.path.join(out_dir, "labels", os.path.splitext(name)[0] + ".txt"), "w") as f:
        f.writelines(lines)
    return len(lines)


def load(weights, dev, dtype):
    w = Y5W(weights)
    model = YOLOv5(w).eval().to(dev, dtype)
    return model, w.names if hasattr(w, "names") else [str(i) for i in range(w.nc)]


def check_device(dev, half):
    """None when usable, else why not (CUDA is initialised only where the model runs)."""
    if half and dev.type != "cuda":
        return "--half needs --device cuda (torch's CPU conv2d has no FP16 kernel)"
    if dev.type == "cuda" and not torch.cuda.is_available():
        return (f"--device {dev}: CUDA is not available to this torch ({torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'})")
    return None


def drain(get, weights, out_dir, imgsz, threads, dev, dtype):
    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model, names = load(weights, dev, dtype)
    n = 0
    while True:
        path = get()
        if path is None:
            return n
        n += process(model, names, path, out_dir, imgsz, dev, dtype)


def proc_main(q, weights, out_dir, imgsz, threads, device, half):
    dev = torch.device(device)
    why = check_device(dev, half)
    if why:
        print(f"pipeline_torch: {why}", file=sys.stderr)
        sys.exit(2)
    drain(lambda: q.get(), weights, out_dir, imgsz, threads, dev, torch.float16 if half else torch.float32)


def thread_main(errs, *args):
    try:
        drain(*args)
    except BaseException as e:  # a failed thread fails the run
        errs.append(e)
        print(f"pipeline_torch: a thread failed: {type(e).__name__}: {e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--source", required=True, help="folder of images")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", default="seq", choices=("seq", "threads", "procs"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads in all")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (each model on it)")
    ap.add_argument("--half", action="store_true", help="FP16 model and input (needs --device cuda)")
    a = ap.parse_args()
    try:
        dev = torch.device(a.device)
    except RuntimeError as e:
        print(f"pipeline_torch: bad --device {a.device}: {e}", file=sys.stderr)
        return 2
    dtype = torch.float16 if a.half else torch.float32
    # procs: the children check (a CUDA query here, before fork, could break CUDA in them)
    why = check_device(dev, a.half) if a.mode != "procs" or dev.type != "cuda" else None
    if why:
        print(f"pipeline_torch: {why}", file=sys.stderr)
        return 2
    files = sorted(os.path.join(a.source, f) for f in os.listdir(a.source)
                   if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
    os.makedirs(os.path.join(a.out, "labels"), exist_ok=True)
    imgsz = (a.imgsz, a.imgsz)
    t0 = time.perf_counter()
    if a.mode == "seq":
        it = iter(files)
        drain(lambda: next(it, None), a.weights, a.out, imgsz, a.threads, dev, dtype)
    elif a.mode == "threads":
        q = queue.Queue()
        for f in files:
            q.put(f)
        for _ in range(a.jobs):
            q.put(None)
        torch.set_num_threads(max(1, a.threads // a.jobs))  # process-wide in torch
        errs = []
        ts = [threading.Thread(target=thread_main, args=(errs, q.get, a.weights, a.out, imgsz, 0, dev, dtype))
              for _ in range(a.jobs)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errs:
            return 1
    else:
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        for f in files:
            q.put(f)
        for _ in range(a.jobs):
            q.put(None)
        ps = [ctx.Process(target=proc_main, args=(q, a.weights, a.out, imgsz, max(1, a.threads // a.jobs),
                                                  a.device, a.half))
              for _ in range(a.jobs)]
        for p in ps:
            p.start()
        bad = 0
        for p in ps:
            p.join()
            if p.exitcode:
                print(f"pipeline_torch: a worker exited {p.exitcode}", file=sys.stderr)
                bad = 1
        if bad:
            return 1
    dt = time.perf_counter() - t0
    print(f"pipeline_torch: {a.mode} x{a.jobs if a.mode != 'seq' else 1}, {len(files)} images, {dt:.2f} s in main "
          f"({a.device}{' FP16' if a.half else ''}, NMS: {NMS_KIND}, torch {torch.__version__}, "
          f"cv2 {cv2.__version__})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
