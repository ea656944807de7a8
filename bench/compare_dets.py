#!/usr/bin/env python3
"""compare_dets.py - do two detections.jsonl files give the same boxes?

  python3 bench/compare_dets.py REF.jsonl TEST.jsonl [--iou 0.95] [--conf 0.02]

For the GPU parity check (bench/gpu_check.sh): REF from `--device cpu`, TEST
from `--device cuda`. Per image (matched by the "image" key): the same
number of detections, and each reference box matched one-to-one (greedy,
highest IoU first) to a test box of the same class with IoU >= --iou and
|conf difference| <= --conf. Prints one summary line (and the first few
mismatches); exit status 0 when every image agrees, 1 otherwise, 2 on bad
input. Standard library only.
"""
import argparse
import json
import sys


def load(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
                out[d["image"]] = d["detections"]
            except (ValueError, KeyError) as e:
                raise SystemExit(f"compare_dets: {path}:{n}: not a detections line ({e})")
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else (1.0 if a == b else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref")
    ap.add_argument("test")
    ap.add_argument("--iou", type=float, default=0.95)
    ap.add_argument("--conf", type=float, default=0.02)
    a = ap.parse_args()
    try:
        ref, test = load(a.ref), load(a.test)
    except OSError as e:
        print(f"compare_dets: {e}", file=sys.stderr)
        return 2
    problems = []
    n_det = n_ok = 0
    worst_iou, worst_conf = 1.0, 0.0
    for img in sorted(set(ref) | set(test)):
        if img not in ref or img not in test:
            problems.append(f"{img}: only in {'reference' if img in ref else 'test'}")
            continue
        r, t = ref[img], test[img]
        n_det += len(r)
        if len(r) != len(t):
            problems.append(f"{img}: {len(r)} detections in the reference, {len(t)} in the test")
        pairs = sorted(((iou(x["box"], y["box"]), i, j) for i, x in enumerate(r) for j, y in enumerate(t)
                        if x["class"] == y["class"]), reverse=True)
        used_r, used_t = set(), set()
        for v, i, j in pairs:
            if i in used_r or j in used_t:
                continue
            used_r.add(i)
            used_t.add(j)
            dc = abs(r[i]["conf"] - t[j]["conf"])
            worst_iou, worst_conf = min(worst_iou, v), max(worst_conf, dc)
            if v >= a.iou and dc <= a.conf:
                n_ok += 1
            else:
                problems.append(f"{img}: class {r[i]['class']} box {r[i]['box']} vs {t[j]['box']}: "
                                f"IoU {v:.4f}, conf {r[i]['conf']:.4f} vs {t[j]['conf']:.4f}")
        for i in set(range(len(r))) - used_r:
            problems.append(f"{img}: reference class {r[i]['class']} box {r[i]['box']} has no test box of its class")
    ok = not problems
    print(f"{'PASS' if ok else 'FAIL'}: {len(ref)} images, {n_det} reference detections, {n_ok} matched "
          f"(IoU >= {a.iou}, |d conf| <= {a.conf}); worst matched IoU {worst_iou:.4f}, worst |d conf| "
          f"{worst_conf:.4f}; {len(problems)} problems")
    for p in problems[:10]:
        print("  " + p)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
