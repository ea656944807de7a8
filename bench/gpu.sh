#!/bin/sh
# gpu.sh - yolov5c on the GPU against PyTorch on the same GPU, one call.
#
#   bench/gpu.sh [--iters N] [--batches "1 8 32 64"] [--out DIR]
#
# Meant to run on the device machine (an H200) through the device tool:
#   run: bash bench/gpu.sh --out $OUT
# It builds yolov5c with nvcc, runs `make test-gpu` (the GPU test summary
# goes to DIR/test-gpu.log), converts ../shared/models/yolov5m-synth.pt,
# then at 640x640 FP16 times batch-1 latency and batch 1/8/32/64 throughput
# from the CUDA graph replay (yolov5c bench), the per-layer profile at batch
# 1 and 32, and the pure-PyTorch peer (bench/torch_yolov5.py, the same .y5w)
# with the machine's preinstalled torch: FP16 eager, channels-last, CUDA
# graphs and torch.compile where they run. Writes DIR/gpu.md (tables with
# the command, GPU, date and FLOP count) and the raw logs.
set -u
cd "$(dirname "$0")/.."
ITERS=50
BATCHES="1 8 32 64"
OUT=${OUT:-/tmp/y5gpu}
while [ $# -gt 0 ]; do
    case "$1" in
    --iters) ITERS=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "gpu.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
# ../shared does not travel to the device machine: copy the model into an
# uncommitted ./shared (models/yolov5m-synth.pt) and it is found there.
if [ -z "${SHARED:-}" ]; then
    if [ -d ../shared ]; then SHARED=../shared; else SHARED=./shared; fi
fi
PY=${PYTHON:-python3}
MD="$OUT/gpu.md"
GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
{
    echo "# yolov5c vs PyTorch on the GPU"
    echo
    echo "- command: \`bench/gpu.sh --iters $ITERS --batches \"$BATCHES\"\`"
    echo "- GPU: ${GPU:-unknown}; CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$MD"

make -j"$(nproc)" >"$OUT/build.log" 2>&1 || { echo "build failed (see build.log)" >>"$MD"; tail -30 "$OUT/build.log"; exit 1; }
make test-gpu >"$OUT/test-gpu.log" 2>&1
echo "- make test-gpu: $(grep -E '^[0-9]+ passed' "$OUT/test-gpu.log" | tail -1)" >>"$MD"

W="$OUT/yolov5m-synth.y5w"
build/yolov5c convert "$SHARED/models/yolov5m-synth.pt" "$W" 2>>"$OUT/build.log" || exit 1
GF=$(build/yolov5c info "$W" --imgsz 640 | sed -n 's/^GFLOPs at .*: \([0-9.]*\).*/\1/p')
echo "- model: yolov5m-synth, 640x640, $GF GFLOP per image (multiply-add = 2)" >>"$MD"
{
    echo
    echo "## yolov5c (FP16, cuBLAS + own kernels, CUDA graph replay)"
    echo
    echo "| batch | median ms | min ms | images/s | TFLOP/s |"
    echo "| ---: | ---: | ---: | ---: | ---: |"
} >>"$MD"
for B in $BATCHES; do
    build/yolov5c bench --weights "$W" --device cuda --imgsz 640 --batch "$B" --iters "$ITERS" --warmup 5 \
        >"$OUT/yolov5c_b$B.log" 2>&1
    row=$(awk '/median ms/ { getline; print; exit }' "$OUT/yolov5c_b$B.log")
    set -- $row
    if [ $# -ge 5 ]; then
        echo "| $B | $2 | $3 | $5 | $(awk -v g="$GF" -v b="$B" -v ms="$2" 'BEGIN { printf "%.1f", g * b / ms }') |" >>"$MD"
    else
        echo "| $B | failed: $(tail -1 "$OUT/yolov5c_b$B.log") | | | |" >>"$MD"
    fi
done
for B in 1 32; do
    build/yolov5c bench --weights "$W" --device cuda --imgsz 640 --batch "$B" --iters 10 --profile \
        --profile-out "$OUT/profile_b$B.csv" >"$OUT/profile_b$B.log" 2>&1
    { echo; echo "### per-layer profile, batch $B"; echo; echo '```'; sed -n '/per-layer profile/,$p' "$OUT/profile_b$B.log"; echo '```'; } >>"$MD"
done

{
    echo
    echo "## PyTorch $($PY -c 'import torch; print(torch.__version__)' 2>/dev/null) (bench/torch_yolov5.py, same weights)"
    echo
    echo "| variant | batch | median ms | images/s |"
    echo "| --- | ---: | ---: | ---: |"
} >>"$MD"
for V in "fp16-eager:--half" "fp16-channels-last:--half --channels-last" "fp16-cuda-graph:--half --cuda-graph" \
         "fp16-compile:--half --compile"; do
    name=${V%%:*}
    args=${V#*:}
    for B in $BATCHES; do
        # shellcheck disable=SC2086
        $PY bench/torch_yolov5.py --weights "$W" --device cuda $args --imgsz 640 --batch "$B" --iters "$ITERS" \
            --gflops "$GF" >"$OUT/torch_${name}_b$B.log" 2>&1
        row=$(awk '/median ms/ { getline; print; exit }' "$OUT/torch_${name}_b$B.log")
        set -- $row
        if [ $# -ge 5 ]; then echo "| $name | $B | $2 | $5 |" >>"$MD"
        else echo "| $name | $B | did not run: $(tail -1 "$OUT/torch_${name}_b$B.log" | cut -c1-80) | |" >>"$MD"; fi
    done
done
cat "$MD"
