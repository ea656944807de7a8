#!/bin/bash
# gpu.sh - yolov5c on the GPU against PyTorch on the same GPU, one call.
#
#   bench/gpu.sh [--weights M.pt|M.y5w] [--iters N] [--batches "1 8 32 64"] [--out DIR] [--compile]
#
# Runs on a GPU machine after a build with CUDA (bench/gpu_check.sh b runs
# it there). Default model: ../shared/models/yolov5m-synth.pt (or the
# staged ./gpu_stage/shared copy). At 640x640 FP16 it measures, in one run
# on one card:
#   - the card's dense FP16 GEMM rate (build/cublas_peak: one large
#     cublasGemmEx, FP32 accumulation): the ceiling the TFLOP/s columns are read against;
#   - yolov5c: batch 1/8/32/64 forwards (CUDA graph replay), median and min ms,
#     images/s, TFLOP/s over the convs' FLOPs; the per-layer profile at batch 32;
#   - PyTorch FP16 (bench/torch_yolov5.py: the same .y5w, torch's own kernels),
#     eager, channels-last and CUDA graph (and torch.compile with --compile: it
#     compiles for minutes), each variant in one process over all batches.
# Writes DIR/gpu.md (tables with the command, card, date and FLOP count),
# DIR/profile_b32.csv and the raw logs.
set -u
cd "$(dirname "$0")/.."
ITERS=50
BATCHES="1 8 32 64"
OUT=${OUT:-/tmp/y5gpu}
WEIGHTS=""
COMPILE=0
while [ $# -gt 0 ]; do
    case "$1" in
    --weights) WEIGHTS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --compile) COMPILE=1; shift ;;
    *) echo "gpu.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$WEIGHTS" ]; then
    for d in ../shared gpu_stage/shared; do
        [ -f "$d/models/yolov5m-synth.pt" ] && { WEIGHTS=$d/models/yolov5m-synth.pt; break; }
    done
fi
[ -f "$WEIGHTS" ] || { echo "gpu.sh: no model (pass --weights)" >&2; exit 1; }
[ -x build/yolov5c ] || { echo "gpu.sh: build/yolov5c missing: build first (make)" >&2; exit 1; }
mkdir -p "$OUT"
PY=${PYTHON:-python3}
MD="$OUT/gpu.md"
GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
W="$OUT/$(basename "${WEIGHTS%.*}").y5w"
case "$WEIGHTS" in
*.y5w) cp "$WEIGHTS" "$W" ;;
*) build/yolov5c convert "$WEIGHTS" "$W" >"$OUT/convert.log" 2>&1 || { cat "$OUT/convert.log"; exit 1; } ;;
esac
GF=$(build/yolov5c info "$W" --imgsz 640 | sed -n 's/^GFLOPs at .*: \([0-9.]*\).*/\1/p')
{
    echo "# yolov5c vs PyTorch on the GPU"
    echo
    echo "- command: \`bench/gpu.sh --weights $(basename "$WEIGHTS") --iters $ITERS --batches \"$BATCHES\"\`"
    echo "- GPU: ${GPU:-unknown}; CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null)"
    echo "- model: $(basename "${WEIGHTS%.*}"), 640x640, $GF GFLOP per image (convolutions, multiply-add = 2)"
} >"$MD"

# the ceiling
PEAK=""
BW=""
if [ -x build/cublas_peak ] || make -s build/cublas_peak >/dev/null 2>&1; then
    build/cublas_peak 8192 20 >"$OUT/cublas_peak.log" 2>&1
    PEAK=$(sed -n 's/.*best \([0-9.]*\) TFLOP.*/\1/p' "$OUT/cublas_peak.log")
    BW=$(sed -n 's/^device-to-device copy.*best \([0-9.]*\) GB.*/\1/p' "$OUT/cublas_peak.log")
    echo "- dense FP16 GEMM ceiling: $(tail -1 "$OUT/cublas_peak.log")" >>"$MD"
    [ -n "$BW" ] && echo "- memory ceiling: $(grep '^device-to-device copy' "$OUT/cublas_peak.log")" >>"$MD"
fi
pct() { [ -n "$PEAK" ] && awk -v t="$1" -v p="$PEAK" 'BEGIN { printf "%.0f%%", 100 * t / p }' || echo "-"; }

{
    echo
    echo "## yolov5c (FP16, cuBLAS + own kernels, CUDA graph replay)"
    echo
    echo "Input already on the device (as PyTorch's benchmark); the last columns add the upload of the"
    echo "letterboxed u8 batch and its /255 on the GPU each forward: before the forward, or (overlapped)"
    echo "queued beside the previous one's forward, as the detect pipeline does."
    echo
    echo "| batch | median ms | min ms | images/s | TFLOP/s | of peak | median ms with u8 upload | overlapped |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} >>"$MD"
for B in $BATCHES; do
    build/yolov5c bench --weights "$W" --device cuda --imgsz 640 --batch "$B" --iters "$ITERS" --warmup 5 \
        >"$OUT/yolov5c_b$B.log" 2>&1
    row=$(awk '/median ms/ { getline; print; exit }' "$OUT/yolov5c_b$B.log")
    set -- $row
    if [ $# -ge 5 ]; then
        tf=$(awk -v g="$GF" -v b="$B" -v ms="$2" 'BEGIN { printf "%.1f", g * b / ms }')
        up=$(awk '/^\+u8 upload/ { print $3; exit }' "$OUT/yolov5c_b$B.log")
        ov=$(awk '/^\+u8 overlap/ { print $3; exit }' "$OUT/yolov5c_b$B.log")
        echo "| $B | $2 | $3 | $5 | $tf | $(pct "$tf") | ${up:--} | ${ov:--} |" >>"$MD"
        [ "$B" = 32 ] && { Y5_B32_IPS=$5; Y5_B32_TF=$tf; }
    else
        echo "| $B | failed: $(tail -1 "$OUT/yolov5c_b$B.log" | cut -c1-100) | | | | | | |" >>"$MD"
    fi
done
# the conv paths (cuda/README.md): Y5_CONV_IMPL (cublas default, the lab's
# v3 kernel as mma, auto's per-layer rule, the lab's v4, its v5 on Hopper wgmma, or
# tune: each conv shape timed on every path at the warm-up, the fastest
# checked one kept; its Y5_CUBLAS_OUT is ignored) x Y5_CUBLAS_OUT (f32 default,
# f16: the GEMM writes half into the output slice), batch 1 and 32
{
    echo
    echo "### conv paths (Y5_CONV_IMPL x Y5_CUBLAS_OUT; the first is the default)"
    echo
    echo "| Y5_CONV_IMPL | Y5_CUBLAS_OUT | batch | median ms | images/s | TFLOP/s | of peak |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
} >>"$MD"
BEST_VAR=""
BEST_IPS=0
# the last, pad0: the default path with the stem unpadded (Y5_CONV_PAD=0,
# its form before 2026-11-27's padding), what the padding gains; not a
# candidate for the fastest
# (auto and mma with f16 out, rows of the 2026-11-27 runs, are left out for
# device time: tune mixes every path per conv, f16 out included)
for V in cublas:f32 cublas:f16 auto:f32 mma:f32 v4:f32 wgmma:f32 tune:f32 pad0:f32; do
    impl=${V%%:*}
    cout=${V#*:}
    pad=1
    [ "$impl" = pad0 ] && impl=cublas pad=0
    for B in 1 32; do
        log="$OUT/paths_${V%%:*}_${cout}_b$B.log"
        # each run under a time limit: a path's kernel that hangs (wgmma's v5
        # has not run on a GPU yet) costs its row, not the whole benchmark
        Y5_CONV_PAD=$pad Y5_CONV_IMPL=$impl Y5_CUBLAS_OUT=$cout timeout 60 build/yolov5c bench --weights "$W" --device cuda \
            --imgsz 640 --batch "$B" --iters "$ITERS" --warmup 5 >"$log" 2>&1
        row=$(awk '/median ms/ { getline; print; exit }' "$log")
        set -- $row
        if [ $# -ge 5 ]; then
            tf=$(awk -v g="$GF" -v b="$B" -v ms="$2" 'BEGIN { printf "%.1f", g * b / ms }')
            echo "| $impl$([ "$pad" = 0 ] && echo ', Y5_CONV_PAD=0') | $cout | $B | $2 | $5 | $tf | $(pct "$tf") |" >>"$MD"
            if [ "$B" = 32 ] && [ "$pad" = 1 ] && awk -v a="$5" -v b="$BEST_IPS" 'BEGIN { exit !(a > b) }'; then
                BEST_IPS=$5
                BEST_VAR="Y5_CONV_IMPL=$impl Y5_CUBLAS_OUT=$cout"
            fi
        else
            echo "| $impl$([ "$pad" = 0 ] && echo ', Y5_CONV_PAD=0') | $cout | $B | failed: $(tail -1 "$log" | cut -c1-100) | | | |" >>"$MD"
        fi
    done
done
[ -n "$BEST_VAR" ] && echo "
Fastest at batch 32: \`$BEST_VAR\` ($BEST_IPS images/s)." >>"$MD"
for B in 1 32; do # what tuning chose, per path
    line=$(grep -m1 '^conv paths:' "$OUT/paths_tune_f32_b$B.log" 2>/dev/null)
    [ -n "$line" ] && echo "
Y5_CONV_IMPL=tune at batch $B, $line" >>"$MD"
done

ROOF=""
[ -n "$PEAK" ] && [ -n "$BW" ] && ROOF="--peak-tflops $PEAK --peak-gbs $BW"
# shellcheck disable=SC2086 # ROOF is two options or none
build/yolov5c bench --weights "$W" --device cuda --imgsz 640 --batch 32 --iters 5 --profile $ROOF \
    --profile-out "$OUT/profile_b32.csv" >"$OUT/profile_b32.log" 2>&1
{ echo; echo "### per-layer profile, batch 32 (ops run one by one)"; echo; echo '```'; sed -n '/per-layer profile/,$p' "$OUT/profile_b32.log"; echo '```'; } >>"$MD"
# the first decode kernel against the tiled one (cuda/decode_tile.h), same profile
Y5_CUDA_DECODE=1 timeout 120 build/yolov5c bench --weights "$W" --device cuda --imgsz 640 --batch 32 --iters 3 --profile \
    >"$OUT/profile_b32_decode1.log" 2>&1
d1=$(grep -m1 "^Detect's ops" "$OUT/profile_b32_decode1.log")
[ -n "$d1" ] && echo "
With Y5_CUDA_DECODE=1 (the first decode kernel): $d1" >>"$MD"
if [ -n "$BEST_VAR" ] && [ "$BEST_VAR" != "Y5_CONV_IMPL=cublas Y5_CUBLAS_OUT=f32" ]; then
    # shellcheck disable=SC2086 # BEST_VAR is two assignments, ROOF two options or none
    env $BEST_VAR timeout 120 build/yolov5c bench --weights "$W" --device cuda --imgsz 640 --batch 32 --iters 5 --profile $ROOF \
        --profile-out "$OUT/profile_b32_best.csv" >"$OUT/profile_b32_best.log" 2>&1
    { echo; echo "### per-layer profile, batch 32, \`$BEST_VAR\`"; echo; echo '```'; sed -n '/per-layer profile/,$p' "$OUT/profile_b32_best.log"; echo '```'; } >>"$MD"
fi

{
    echo
    echo "## PyTorch $($PY -c 'import torch; print(torch.__version__)' 2>/dev/null) FP16 (bench/torch_yolov5.py, same weights)"
    echo
    echo "| variant | batch | median ms | min ms | images/s | TFLOP/s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} >>"$MD"
VARIANTS="eager:--half channels-last:--half_--channels-last cuda-graph:--half_--channels-last_--cuda-graph"
[ "$COMPILE" = 1 ] && VARIANTS="$VARIANTS compile:--half_--channels-last_--compile"
BLIST=$(echo $BATCHES | tr ' ' ',')
Y5_B32_IPS=${Y5_B32_IPS:-}
TORCH_B32_BEST=""
for V in $VARIANTS; do
    name=${V%%:*}
    args=$(echo "${V#*:}" | tr '_' ' ')
    log="$OUT/torch_$name.log"
    # shellcheck disable=SC2086
    $PY bench/torch_yolov5.py --weights "$W" --device cuda $args --imgsz 640 --batch "$BLIST" --iters "$ITERS" \
        --gflops "$GF" >"$log" 2>&1
    # each batch prints "input BxHxW ..." then a header and its row
    awk -v n="$name" -v g="$GF" '
        /^input / { split($2, s, "x"); b = s[1]; next }
        /median ms/ { getline; printf "| %s | %s | %s | %s | %s | %.1f |\n", n, b, $2, $3, $5, g * b / $2; got++ }
        END { if (!got) exit 1 }' "$log" >>"$MD" ||
        echo "| $name | all | did not run: $(tail -1 "$log" | cut -c1-100) | | | |" >>"$MD"
    ips=$(awk '/^input / { split($2, s, "x"); b = s[1]; next } /median ms/ { getline; if (b == 32) print $5 }' "$log")
    if [ -n "$ips" ] && { [ -z "$TORCH_B32_BEST" ] || awk -v a="$ips" -v b="$TORCH_B32_BEST" 'BEGIN { exit !(a > b) }'; }; then
        TORCH_B32_BEST=$ips
    fi
done
# three lines a script reads (issue 12): the card, yolov5c's batch-32 images/s
# over PyTorch's best variant, its TFLOP/s over the cuBLAS FP16 GEMM ceiling
{
    echo
    echo "card: ${GPU%%,*}"
    awk -v y="$Y5_B32_IPS" -v t="$TORCH_B32_BEST" 'BEGIN { if (y > 0 && t > 0) printf "yolov5m640_b32_vs_torch_best: %.2f\n", y / t; else print "yolov5m640_b32_vs_torch_best: n/a" }'
    awk -v f="${Y5_B32_TF:-0}" -v p="${PEAK:-0}" 'BEGIN { if (f > 0 && p > 0) printf "yolov5m640_b32_fraction_of_fp16_gemm: %.2f\n", f / p; else print "yolov5m640_b32_fraction_of_fp16_gemm: n/a" }'
} >>"$MD"
cat "$MD"
# a failed yolov5c row fails the run (bench/gpu_check.sh reports it); a
# PyTorch variant that did not run is only noted in the table
if grep -q '^| [0-9]* | failed:\|^| [a-z][a-zA-Z0-9_=, ]* | f[0-9]* | [0-9]* | failed:' "$MD"; then
    echo "gpu.sh: some yolov5c rows failed (see $MD)" >&2
    exit 1
fi
