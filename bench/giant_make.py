#!/usr/bin/env python3
"""giant_make.py - a 13400x9528 test image with known labels, for issue 10.

The experiment's giant images are 13400x9528 photographs; none is shipped, so
this builds one from the labelled COCO slice: a COLS x ROWS mosaic whose cells
each hold one coco64 image (in turn, repeating) fitted at its own aspect ratio
and centred on grey 114, so objects keep roughly their COCO size (scale
`--scale`, 1.0 by default) and the labels are known: every cell's YOLO boxes
mapped into the mosaic. Plain Python + ffmpeg (Debian), no numpy: ffmpeg
decodes and resizes each image to raw RGB, Python places the rows, ffmpeg
encodes the result.

usage: giant_make.py COCO_DIR OUT_STEM [--cols 20 --rows 20 --w 13400 --h 9528]
writes OUT_STEM.jpg (ffmpeg mjpeg, q 2), OUT_STEM.rgb is removed, and
OUT_STEM.labels.txt (class x1 y1 x2 y2 in mosaic pixels). Never commit the
images: they are hundreds of MB.
"""
import argparse
import os
import subprocess
import sys


def probe(path):
    out = subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                   "stream=width,height", "-of", "csv=p=0", path], text=True)
    w, h = out.strip().split(",")[:2]
    return int(w), int(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("coco")
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--w", type=int, default=13400)
    ap.add_argument("--h", type=int, default=9528)
    a = ap.parse_args()
    imgs = sorted(f for f in os.listdir(os.path.join(a.coco, "images")) if f.endswith(".jpg"))
    cw, ch = a.w // a.cols, a.h // a.rows
    canvas = bytearray(b"\x72" * (a.w * a.h * 3))  # 114 grey, as the letterbox pads
    labels = []
    cache = {}
    for k in range(a.cols * a.rows):
        name = imgs[k % len(imgs)]
        path = os.path.join(a.coco, "images", name)
        w, h = probe(path)
        r = min(cw / w, ch / h)
        nw, nh = max(1, int(round(w * r))), max(1, int(round(h * r)))
        key = (name, nw, nh)
        if key not in cache:
            cache[key] = subprocess.check_output(["ffmpeg", "-v", "error", "-i", path, "-vf", f"scale={nw}:{nh}",
                                                  "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        px = cache[key]
        cx, cy = (k % a.cols) * cw + (cw - nw) // 2, (k // a.cols) * ch + (ch - nh) // 2
        for y in range(nh):
            o = ((cy + y) * a.w + cx) * 3
            canvas[o:o + nw * 3] = px[y * nw * 3:(y + 1) * nw * 3]
        lp = os.path.join(a.coco, "labels", name[:-4] + ".txt")
        if os.path.exists(lp):
            for line in open(lp):
                f = line.split()
                if len(f) < 5:
                    continue
                c, x, y, bw, bh = int(f[0]), *map(float, f[1:5])
                labels.append((c, cx + (x - bw / 2) * nw, cy + (y - bh / 2) * nh, cx + (x + bw / 2) * nw,
                               cy + (y + bh / 2) * nh))
    with open(a.out + ".rgb", "wb") as f:
        f.write(canvas)
    subprocess.check_call(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                           f"{a.w}x{a.h}", "-i", a.out + ".rgb", "-q:v", "2", a.out + ".jpg"])
    os.remove(a.out + ".rgb")
    with open(a.out + ".labels.txt", "w") as f:
        for c, x1, y1, x2, y2 in labels:
            f.write(f"{c} {x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}\n")
    print(f"{a.out}.jpg: {a.w}x{a.h}, {a.cols}x{a.rows} cells of {cw}x{ch}, {len(labels)} labelled objects",
          file=sys.stderr)


if __name__ == "__main__":
    main()
