#!/usr/bin/env python3
"""giant_score.py - detections of one image against its known boxes.

usage: giant_score.py DETECTIONS.jsonl LABELS.txt [NAME]
LABELS.txt: "class x1 y1 x2 y2" per line (bench/giant_make.py). A label is
found when a detection of its class overlaps it with IoU >= 0.5 (greedy,
highest confidence first, each label matched once), as COCO's AP50 counts a
true positive. Prints one table row: detections, found, recall overall and by
COCO size (small < 32^2, medium < 96^2, large, in image pixels), precision.
"""
import json
import sys


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    i = w * h
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


def main():
    dets = json.loads(open(sys.argv[1]).readline())["detections"]
    labels = [(int(f[0]), *map(float, f[1:5])) for f in (l.split() for l in open(sys.argv[2])) if len(f) == 5]
    G = 256  # bucket labels by a coarse grid, so each detection looks only nearby
    grid = {}
    for k, (c, x1, y1, x2, y2) in enumerate(labels):
        for gx in range(int(x1) // G, int(x2) // G + 1):
            for gy in range(int(y1) // G, int(y2) // G + 1):
                grid.setdefault((gx, gy), []).append(k)
    used = [False] * len(labels)
    tp = 0
    for d in sorted(dets, key=lambda d: -d["conf"]):
        b = d["box"]
        best, bk = 0.5, -1
        seen = set()
        for gx in range(int(b[0]) // G, int(b[2]) // G + 1):
            for gy in range(int(b[1]) // G, int(b[3]) // G + 1):
                for k in grid.get((gx, gy), []):
                    if k in seen or used[k] or labels[k][0] != d["class"]:
                        continue
                    seen.add(k)
                    v = iou(b, labels[k][1:])
                    if v >= best:
                        best, bk = v, k
        if bk >= 0:
            used[bk] = True
            tp += 1
    size = lambda l: (l[3] - l[1]) * (l[4] - l[2])
    parts = []
    for name, lo, hi in (("small", 0, 32 ** 2), ("medium", 32 ** 2, 96 ** 2), ("large", 96 ** 2, 1e18)):
        ks = [k for k, l in enumerate(labels) if lo <= size(l) < hi]
        parts.append(f"{sum(used[k] for k in ks)}/{len(ks)}")
    name = sys.argv[3] if len(sys.argv) > 3 else sys.argv[1]
    print(f"| {name} | {len(dets)} | {tp} of {len(labels)} | {tp / max(1, len(labels)):.3f} | "
          f"{' '.join(parts)} | {tp / max(1, len(dets)):.3f} |")


if __name__ == "__main__":
    main()
