#!/bin/bash
# stage_gpu.sh - puts what bench/gpu_check.sh needs on the bare, offline GPU
# machine into ./gpu_stage (git-ignored), to travel with the tree (the device
# tool's `carry: ["gpu_stage"]`).
#
#   scripts/stage_gpu.sh a|b|c [SHARED]     (SHARED defaults to ../shared)
#
# The GPU machine has nvcc, gcc and PyTorch but no libjpeg, no stb headers and
# no ../shared, and what travels must stay under 64 MiB (tree included). The
# data the checks need is larger (yolov5m-synth.pt alone is 41 MB, coco64
# 12 MB, one 1280 golden prediction 19 MB), so the check runs in two parts,
# each with its own stage:
#   a  headers, libjpeg.a; yolov5n.pt, the sample images, coco64 (all 64
#      images + labels), map_reference.json, the yolov5n golden cases (bus
#      640, zidane 640 and 1280) and the decoded golden images: every GPU test
#      but the yolov5m-synth one, val and detect parity
#   b  headers, libjpeg.a; yolov5m-synth.pt and its bus 640 golden case,
#      yolov5n.pt, the sample images: the yolov5m-synth test and the benchmarks
#   c  headers, libjpeg.a; yolov5m-synth.pt, coco64's images: the experiment
#      (bench/pipeline.sh --gpu makes its 1920x1080 JPEGs there from them)
# STAGE=gpu_stage_b scripts/stage_gpu.sh b stages into ./gpu_stage_b instead,
# so the three parts can be staged ahead and run back to back on one warm
# machine (bench/gpu_check.sh says how).
# gpu_stage/MANIFEST lists what travels, with sizes, and what was left out.
# Fails when the tree plus the stage would exceed 62 MiB (2 MiB margin).
set -euo pipefail
cd "$(dirname "$0")/.."
PART=${1:-}
SHARED=${2:-../shared}
case "$PART" in a|b|c) ;; *) echo "usage: scripts/stage_gpu.sh a|b|c [SHARED]" >&2; exit 2 ;; esac
[ -d "$SHARED/models" ] || { echo "stage_gpu: $SHARED has no models/ (pass the shared folder)" >&2; exit 1; }
S=${STAGE:-gpu_stage}
case "$S" in gpu_stage|gpu_stage_[a-z0-9]*) ;; *) echo "stage_gpu: STAGE must be gpu_stage or gpu_stage_NAME" >&2; exit 2 ;; esac
mkdir -p "$S"
git check-ignore -q "$S" || { echo "stage_gpu: $S/ must be ignored by git (.gitignore: /gpu_stage*/)" >&2; exit 1; }
rm -rf "$S"
mkdir -p "$S/include/stb" "$S/lib" "$S/shared/models" "$S/shared/golden" "$S/shared/images"

# libjpeg-turbo and stb from this machine's Debian packages
for h in jpeglib.h jmorecfg.h jerror.h; do cp "/usr/include/$h" "$S/include/"; done
cp "/usr/include/$(gcc -print-multiarch)/jconfig.h" "$S/include/"
cp /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h /usr/include/stb/stb_easy_font.h "$S/include/stb/"
cp "/usr/lib/$(gcc -print-multiarch)/libjpeg.a" "$S/lib/"

cp "$SHARED"/images/* "$S/shared/images/"
cp "$SHARED/models/yolov5n.pt" "$S/shared/models/"
cp "$SHARED/golden/README.md" "$SHARED/golden/manifest.json" "$S/shared/golden/" 2>/dev/null || true
golden() { for c in "$@"; do cp "$SHARED"/golden/"$c"_* "$S/shared/golden/"; done; }
if [ "$PART" = a ]; then
    mkdir -p "$S/shared/data"
    cp -r "$SHARED/data/coco64" "$S/shared/data/"
    cp "$SHARED/golden/map_reference.json" "$SHARED/golden/bus_decoded.u8" "$SHARED/golden/zidane_decoded.u8" \
        "$S/shared/golden/"
    golden yolov5n_bus_640 yolov5n_zidane_640 yolov5n_zidane_1280
    LEFT="yolov5m-synth.pt and its golden case (part b); the other models (P6, v5.0, custom: no GPU test uses them)"
elif [ "$PART" = b ]; then
    cp "$SHARED/models/yolov5m-synth.pt" "$S/shared/models/"
    golden yolov5m-synth_bus_640
    LEFT="coco64, the yolov5n golden cases and the decoded images (part a); the other models"
else
    cp "$SHARED/models/yolov5m-synth.pt" "$S/shared/models/"
    mkdir -p "$S/shared/data/coco64"
    cp -r "$SHARED/data/coco64/images" "$S/shared/data/coco64/"
    LEFT="golden files, coco64 labels (no check needs them here); the other models"
fi
chmod -R u+w "$S"

tree_bytes=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
stage_bytes=$(du -sb "$S" | cut -f1)
total=$((tree_bytes + stage_bytes))
{
    echo "gpu_stage part $PART, made $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname) from $SHARED"
    echo "tree $tree_bytes bytes + stage $stage_bytes bytes = $total bytes ($((total >> 20)) MiB of 64)"
    echo "left out: $LEFT"
    echo
    (cd "$S" && find . -type f -printf '%10s %p\n' | sort -k2)
} >"$S/MANIFEST"
echo "staged part $PART: $((stage_bytes >> 20)) MiB + tree $((tree_bytes >> 20)) MiB = $((total >> 20)) MiB (limit 64)"
if [ "$total" -gt $((62 << 20)) ]; then
    echo "stage_gpu: $((total >> 20)) MiB would travel, over the 62 MiB this script allows" >&2
    exit 1
fi
