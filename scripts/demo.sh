#!/bin/sh
# make demo: convert a checkpoint, detect on the sample images, say where the results are.
set -e
WEIGHTS=${1:-../shared/models/yolov5n.pt}
SHARED=${2:-../shared}
BIN=build/yolov5c
OUT=build/demo
if [ ! -f "$WEIGHTS" ]; then
    echo "demo: checkpoint $WEIGHTS not found (pass WEIGHTS=path/to/yolov5*.pt)" >&2
    exit 1
fi
mkdir -p "$OUT"
MODEL="$OUT/$(basename "${WEIGHTS%.*}").y5w"
echo "== convert $WEIGHTS -> $MODEL"
$BIN convert "$WEIGHTS" "$MODEL"
echo "== info"
$BIN info "$MODEL" | tail -n 4 | cut -c1-200
echo "== detect on $SHARED/images"
$BIN detect --weights "$MODEL" --source "$SHARED/images" --out "$OUT/detect"
echo
echo "results:"
echo "  annotated images: $OUT/detect/"
echo "  YOLO labels:      $OUT/detect/labels/"
echo "  all detections:   $OUT/detect/detections.jsonl"
