#!/bin/sh
# giant.sh - issue 10's giant-image figures: peak memory and time of detect
# on six 13400x9528 images (PNG and JPEG in, annotated copies out), before
# (BEFORE: an older yolov5c binary) and after (build/yolov5c), with and
# without the byte budget; then tiled against untiled detection on one
# labelled mosaic (bench/giant_make.py), scored by bench/giant_score.py.
#
# usage: bench/giant.sh WORKDIR [BEFORE_BINARY]
#   WORKDIR needs mosaic.jpg + mosaic.labels.txt (giant_make.py) and n.y5w
#   (yolov5n); it gets png6/, jpg6/ (six links each), runs/ and giant.log.
# Never commit the images (hundreds of MB each).
set -e
W=$1; BEFORE=${2:-}; BIN=${BIN:-build/yolov5c}
[ -f "$W/mosaic.jpg" ] && [ -f "$W/n.y5w" ] || { echo "usage: $0 WORKDIR [BEFORE]" >&2; exit 2; }
cd "$(dirname "$0")/.."
mkdir -p "$W/png6" "$W/jpg6" "$W/runs"
# a PNG of the mosaic (png_bench's output if there, else ffmpeg's)
[ -f "$W/mosaic.png" ] || ffmpeg -v error -i "$W/mosaic.jpg" "$W/mosaic.png"
for i in 1 2 3 4 5 6; do ln -sf "$W/mosaic.png" "$W/png6/g$i.png"; ln -sf "$W/mosaic.jpg" "$W/jpg6/g$i.jpg"; done
LOG=$W/giant.log
run() { # name binary args...
    name=$1; bin=$2; shift 2
    rm -rf "$W/runs/$name"
    /usr/bin/time -v "$bin" detect --weights "$W/n.y5w" --out "$W/runs/$name" "$@" >"$W/runs/$name.out" 2>&1 || true
    rss=$(grep "Maximum resident" "$W/runs/$name.out" | awk '{print $NF}')
    wall=$(grep "Elapsed (wall" "$W/runs/$name.out" | awk '{print $NF}')
    dets=$(grep "^done:" "$W/runs/$name.out" | sed 's/.*failed, \([0-9]*\) detections.*/\1/')
    echo "| $name | $(echo "$rss / 1024" | bc) MB | $wall | $dets | $* |" | tee -a "$LOG"
}
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" | tee "$LOG"
echo "| run | peak RSS | wall | detections | options |" | tee -a "$LOG"
if [ -n "$BEFORE" ]; then
    run before-png6 "$BEFORE" --source "$W/png6"
    run before-jpg6 "$BEFORE" --source "$W/jpg6"
fi
run after-png6 "$BIN" --source "$W/png6"
run after-png6-nobudget "$BIN" --source "$W/png6" --max-memory 0
run after-jpg6 "$BIN" --source "$W/jpg6"
run after-jpg6-nobudget "$BIN" --source "$W/jpg6" --max-memory 0
run after-png6-1G "$BIN" --source "$W/png6" --max-memory 1G --no-save
# tiling on the labelled mosaic (max-det raised: the mosaic holds 3000+ objects)
run untiled "$BIN" --source "$W/mosaic.jpg" --max-det 20000 --no-save
run tiled "$BIN" --source "$W/mosaic.jpg" --max-det 20000 --no-save --tile 640 --tile-overlap 0.2
run tiled-nofull "$BIN" --source "$W/mosaic.jpg" --max-det 20000 --no-save --tile 640 --tile-overlap 0.2 --no-tile-full
run tiled-b4 "$BIN" --source "$W/mosaic.jpg" --max-det 20000 --no-save --tile 640 --tile-overlap 0.2 --batch 4
for r in untiled tiled tiled-nofull; do
    python3 bench/giant_score.py "$W/runs/$r/detections.jsonl" "$W/mosaic.labels.txt" "$r" | tee -a "$LOG"
done
