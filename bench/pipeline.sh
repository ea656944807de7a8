#!/bin/sh
# pipeline.sh - many images at full speed: `yolov5c detect` (one process:
# decode workers, engine, writers) against detect.py-style Python loops run
# sequentially, over 2 threads and over 2 processes - the strategies of
# ../shared/EXPERIMENT.md - on the CPU, or with --gpu on an NVIDIA GPU.
#
#   bench/pipeline.sh [--counts "2 20 50"] [--imgsz 640] [--model yolov5n]
#                     [--repeat N] [--no-build] [--no-install] [--record]
#                     [--python PATH]
#   bench/pipeline.sh --gpu [--out DIR] [--budget-s 480] [--python python3]
#                     [--counts "2 100 200 300 2000"] [--batch 8] [--no-build]
#
# Inputs: 1920x1080 JPEGs (quality 95) made deterministically from
# ../shared/data/coco64/images by bench/make_inputs.c (built here against
# build/libyolov5c.a) in a temp folder. Every strategy writes annotated
# images and label files. Each run is timed as a whole process, start to
# exit (model loading included), best of --repeat runs (default 1; repeats
# interleaved across strategies), with its CPU seconds (user + sys). Also
# reported: yolov5c's steady-state rate (after its engine's warm-up batches)
# and its pure forward rate (yolov5c bench at the letterboxed 384x640).
# Python: /usr/bin/python3 with Debian's python3-torch and python3-opencv
# (apt-get installed when missing unless --no-install), on the PyTorch
# model of bench/torch_yolov5.py via bench/pipeline_torch.py.
# --record appends the table, the command, machine and date to
# bench/results/pipeline.md.
#
# --gpu (the write-up's set-up; meant for the device machine, one call:
# `sh bench/pipeline.sh --gpu`, about 8 minutes at most): yolov5m-synth
# (converted from SHARED/models/yolov5m-synth.pt), imgsz 1920, FP16, annotated
# images written, counts 2 100 200 300 2000 (--counts, --imgsz and --model
# still override). The 64 coco64 sources are cycled: cycle 0 is the CPU
# mode's images; cycle k >= 1 goes through an intermediate (1920-16j)x(1080-9j)
# JPEG first, j = (k-1) mod 60 + 1, so every image is distinct (make_inputs
# has no variation option; the scale round trip gives one, deterministically).
# Strategies, each timed as a whole process, start to exit (wall clock):
# `yolov5c detect --device cuda --batch 8` (its stage accounting from
# --stats-json), the same with --no-save, with two engines on the GPU
# (--device cuda,cuda: one's host work overlaps the other's GPU work), and pipeline_torch.py --device cuda
# --half sequential / 2 threads / 3 processes (cv2 decode and encode); plus
# `yolov5c bench --device cuda --imgsz 1088x1920 --batch 8`, the forward-only
# ceiling, and yolov5c's steady-state rate from its closing line. Prints one
# markdown table and PASS/MISS for the targets (300 images in under 2 s with
# annotated images written; >= 10x the best PyTorch strategy at 300; steady
# state >= 80% of the ceiling), and writes them with the command, GPU and
# date to DIR/pipeline_gpu.md (DIR: --out, else $OUT when set, else
# runs/pipeline_gpu), with DIR/pipeline_gpu_runs.txt (each run as it ends),
# DIR/pipeline_gpu_stats.json (and _2eng.json, the two engines' run) and DIR/pipeline_gpu_logs.tar.gz.
# --budget-s (default 480, from the script's start, build included): a run
# whose estimate (from the same strategy's smaller counts) does not fit in
# what is left is skipped, and said so; a run is also cut off when the budget
# ends. Counts run smallest first, yolov5c before Python at each count.
# --python (default python3 with --gpu): a Python whose torch sees the GPU;
# when it cannot import cv2, opencv-python-headless is pip-installed (from
# ./.whl when wheels are there, else the index) into DIR/pydeps (a --target
# folder on PYTHONPATH, not a venv: the device machine's python3 is itself a
# venv, whose torch a venv made from it would not see; outside DIR when DIR
# is $OUT, whose files the device tool returns, 8 at most); when that fails
# too, the Python rows are skipped with a line saying why.
# SHARED with --gpu: $SHARED, else ../shared, else ./shared (on the device
# machine: `scripts/stage_gpu.sh c` stages models/yolov5m-synth.pt and
# data/coco64 into gpu_stage/shared, and `bench/gpu_check.sh c` runs this).
#
# Environment: Y5_BIN (default build/yolov5c), SHARED (default ../shared).
set -eu

cd "$(dirname "$0")/.."
CMDLINE="${Y5_BIN:+Y5_BIN=$Y5_BIN }bench/pipeline.sh $*"
COUNTS="2 20 50"
IMGSZ=640
MODEL=yolov5n
REPEAT=1
BUILD=1
INSTALL=1
RECORD=0
SHARED_ENV=${SHARED:-}
SHARED=${SHARED:-../shared}
BIN=${Y5_BIN:-build/yolov5c}
PY=/usr/bin/python3
PY_SET=0
GPU=0
GOUT=""
BUDGET=480
BATCH=8
COUNTS_SET=0
IMGSZ_SET=0
MODEL_SET=0

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
    --counts) COUNTS=$2; COUNTS_SET=1; shift 2 ;;
    --imgsz) IMGSZ=$2; IMGSZ_SET=1; shift 2 ;;
    --model) MODEL=$2; MODEL_SET=1; shift 2 ;;
    --gpu) GPU=1; shift ;;
    --out) GOUT=$2; shift 2 ;;
    --budget-s) BUDGET=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --python) PY=$2; PY_SET=1; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --record) RECORD=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "pipeline: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { echo "pipeline: $*" >&2; }
die() { log "$*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
if [ "$GPU" = 0 ]; then
    for o in "$GOUT:--out" "$BUDGET:--budget-s" "$BATCH:--batch"; do
        case "$o" in ":--out" | "480:--budget-s" | "8:--batch") ;; *) log "${o##*:} applies to --gpu only; ignored" ;; esac
    done
fi
case "$BUDGET" in '' | *[!0-9]*) die "--budget-s wants whole seconds, not $BUDGET" ;; esac
case "$BATCH" in '' | *[!0-9]* | 0) die "--batch wants a positive whole number, not $BATCH" ;; esac

# ---- --gpu: the write-up's set-up on the GPU, in one call -------------------------
if [ "$GPU" = 1 ]; then
    T0=$(date +%s)
    [ "$COUNTS_SET" = 1 ] || COUNTS="2 100 200 300 2000"
    [ "$IMGSZ_SET" = 1 ] || IMGSZ=1920
    [ "$MODEL_SET" = 1 ] || MODEL=yolov5m-synth
    [ "$PY_SET" = 1 ] || PY=python3
    [ "$RECORD" = 0 ] || log "--record applies to the CPU mode; with --gpu the results go to DIR/pipeline_gpu.md"
    for n in $COUNTS; do case "$n" in *[!0-9]* | 0*) die "bad count $n in --counts" ;; esac; done
    COUNTS=$(for n in $COUNTS; do echo "$n"; done | sort -n -u | tr '\n' ' ')
    [ -n "$COUNTS" ] || die "--counts is empty"
    DIR=${GOUT:-${OUT:-runs/pipeline_gpu}}
    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd)
    MD="$DIR/pipeline_gpu.md"
    RUNS="$DIR/pipeline_gpu_runs.txt"
    rm -f "$MD" "$RUNS" "$DIR/pipeline_gpu_stats.json" "$DIR/pipeline_gpu_stats_2eng.json" "$DIR/pipeline_gpu_logs.tar.gz"
    elapsed() { echo $(($(date +%s) - T0)); }
    command -v timeout >/dev/null 2>&1 || die "--gpu needs timeout (coreutils)"

    # the GPU first: without one, say so before anything else
    command -v nvidia-smi >/dev/null 2>&1 ||
        die "--gpu: nvidia-smi not found: no NVIDIA GPU on this machine (run it on the device machine)"
    GPUNAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1) || GPUNAME=""
    [ -n "$GPUNAME" ] || die "--gpu: nvidia-smi lists no GPU: $(nvidia-smi -L 2>&1 | head -1)"
    DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1) || DRIVER="?"
    log "GPU: $GPUNAME (driver $DRIVER); results in $DIR; budget $BUDGET s"

    if [ -z "$SHARED_ENV" ] && [ ! -f "$SHARED/models/$MODEL.pt" ] && [ -f "shared/models/$MODEL.pt" ]; then
        SHARED=shared
    fi
    [ -f "$SHARED/models/$MODEL.pt" ] && [ -d "$SHARED/data/coco64/images" ] ||
        die "--gpu: $SHARED/models/$MODEL.pt or $SHARED/data/coco64/images missing (on the device machine copy ../shared/models/$MODEL.pt and ../shared/data/coco64 into ./shared: ../shared does not travel)"

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipeline_gpu.XXXXXX")
    LOGS="$TMP/logs"
    mkdir -p "$LOGS"
    # whatever happens, the logs come back with DIR
    save_logs() {
        [ -d "$LOGS" ] && (cd "$TMP" && tar czf "$DIR/pipeline_gpu_logs.tar.gz" logs) 2>/dev/null || true
        rm -rf "$TMP"
    }
    trap 'save_logs' EXIT
    trap 'log "interrupted"; exit 130' INT TERM

    # ---- yolov5c with CUDA
    if [ "$BUILD" = 1 ] && [ -z "${Y5_BIN:-}" ]; then
        log "building yolov5c (make -j$(nproc); log in pipeline_gpu_logs.tar.gz: build.log)"
        make -j"$(nproc)" >"$LOGS/build.log" 2>&1 || { tail -20 "$LOGS/build.log" >&2; die "make failed"; }
    fi
    [ -x "$BIN" ] || die "$BIN not found (build it with make)"
    if [ -z "${Y5_BIN:-}" ] && ! grep -q '^have_cuda=1' "$(dirname "$BIN")/cuda.stamp" 2>/dev/null; then
        die "$BIN was built without CUDA (nvcc not found by make?): --gpu needs the CUDA backend"
    fi
    LIBA=$(dirname "$BIN")/libyolov5c.a
    [ -f "$LIBA" ] || die "$LIBA not found"
    "${CC:-cc}" -O2 -std=c11 -D_GNU_SOURCE ${CPPFLAGS:-} -I. -Iinclude bench/make_inputs.c "$LIBA" ${JPEG_LIB:--ljpeg} -lm -pthread -o "$TMP/make_inputs" \
        2>"$LOGS/make_inputs_build.log" || { cat "$LOGS/make_inputs_build.log" >&2; die "cannot build bench/make_inputs.c"; }
    W="$TMP/model.y5w"
    "$BIN" convert "$SHARED/models/$MODEL.pt" "$W" >"$LOGS/convert.log" 2>&1 ||
        { cat "$LOGS/convert.log" >&2; die "yolov5c convert failed"; }

    # ---- inputs: 1920x1080 q95, deterministic; cycle k of the sources in parallel
    MAX=0
    for n in $COUNTS; do [ "$n" -gt "$MAX" ] && MAX=$n; done
    SRC="$SHARED/data/coco64/images"
    NSRC=$(ls "$SRC" | grep -c -i '\.jpg$') || true
    [ "$NSRC" -gt 0 ] || die "no .jpg in $SRC"
    CYCLES=$(((MAX + NSRC - 1) / NSRC))
    [ "$CYCLES" -le 61 ] || log "note: more than 61 cycles of the sources: images repeat after $((61 * NSRC))"
    mkdir -p "$TMP/all" "$TMP/gen"
    cat >"$TMP/cycle.sh" <<'EOF'
# cycle.sh MAKE_INPUTS SRC GEN ALL K M: the first M sources as cycle K, into ALL/img_KKK_JJJJJ.jpg
set -e
mk=$1 src=$2 gen=$3 all=$4 k=$5 m=$6
kk=$(printf %03d "$k")
if [ "$k" = 0 ]; then
    "$mk" "$src" "$gen/c$kk" "$m" 1920x1080 >/dev/null
else
    j=$(((k - 1) % 60 + 1))
    mkdir -p "$gen/m$kk"
    "$mk" "$src" "$gen/m$kk" "$m" "$((1920 - 16 * j))x$((1080 - 9 * j))" >/dev/null
    "$mk" "$gen/m$kk" "$gen/c$kk" "$m" 1920x1080 >/dev/null
    rm -rf "$gen/m$kk"
fi
cd "$gen/c$kk"
for f in img_*.jpg; do mv "$f" "$all/img_${kk}_${f#img_}"; done
EOF
    log "making $MAX inputs (1920x1080 q95, $CYCLES cycles of $NSRC sources) ..."
    k=0
    while [ "$k" -lt "$CYCLES" ]; do
        m=$((MAX - k * NSRC))
        [ "$m" -gt "$NSRC" ] && m=$NSRC
        mkdir -p "$TMP/gen/c$(printf %03d "$k")"
        echo "$k $m"
        k=$((k + 1))
    done | xargs -P "$(nproc)" -n 2 sh "$TMP/cycle.sh" "$TMP/make_inputs" "$SRC" "$TMP/gen" "$TMP/all" \
        2>"$LOGS/make_inputs.log" ||
        { cat "$LOGS/make_inputs.log" >&2; die "make_inputs failed"; }
    [ "$(ls "$TMP/all" | wc -l)" -eq "$MAX" ] || die "make_inputs made $(ls "$TMP/all" | wc -l) images, not $MAX"
    for n in $COUNTS; do
        mkdir -p "$TMP/in$n"
        ls "$TMP/all" | sort | head -n "$n" | sed "s|^|$TMP/all/|" | xargs ln -s -t "$TMP/in$n"
    done
    log "inputs ready after $(elapsed) s"

    # ---- Python with CUDA torch and cv2
    PYSKIP=""
    PYNOTE=""
    if ! "$PY" -c 'import torch, numpy' >"$LOGS/python_check.log" 2>&1; then
        PYSKIP="$PY cannot import torch and numpy ($(tail -1 "$LOGS/python_check.log"))"
    elif ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >>"$LOGS/python_check.log" 2>&1; then
        PYSKIP="torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) in $PY sees no CUDA GPU"
    elif ! "$PY" -c 'import cv2' >>"$LOGS/python_check.log" 2>&1; then
        if [ -n "${OUT:-}" ] && [ "$DIR" = "$(cd "$OUT" 2>/dev/null && pwd)" ]; then
            PYDEPS="${TMPDIR:-/tmp}/y5c-pipeline-pydeps"  # not in $OUT: the device tool returns 8 files at most
        else
            PYDEPS="$DIR/pydeps"
        fi
        if ls .whl/opencv*headless*.whl >/dev/null 2>&1; then
            FROM="the wheel in ./.whl"
            set -- --no-index --find-links .whl
        else
            FROM="the package index"
            set -- --retries 0 --timeout 15
        fi
        log "$PY cannot import cv2: pip-installing opencv-python-headless from $FROM into $PYDEPS"
        if timeout 180 "$PY" -m pip install -q --disable-pip-version-check --no-deps --target "$PYDEPS" "$@" \
            opencv-python-headless >"$LOGS/pip.log" 2>&1 &&
            PYTHONPATH="$PYDEPS${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c 'import cv2' >>"$LOGS/pip.log" 2>&1; then
            PYTHONPATH="$PYDEPS${PYTHONPATH:+:$PYTHONPATH}"
            export PYTHONPATH
            PYNOTE="cv2 was missing from $PY: opencv-python-headless installed with pip from $FROM into $PYDEPS (PYTHONPATH)."
            log "$PYNOTE"
        else
            PYSKIP="$PY cannot import cv2 and pip could not install opencv-python-headless from $FROM ($(tail -1 "$LOGS/pip.log" | cut -c1-160); on the device machine carry a wheel in ./.whl)"
        fi
        set --
    fi
    if [ -n "$PYSKIP" ]; then
        log "Python rows SKIPPED: $PYSKIP"
        PYVER="not run"
    else
        PYVER="$("$PY" -c 'import torch, cv2; print("torch", torch.__version__, "(CUDA", str(torch.version.cuda) + "), OpenCV", cv2.__version__)' 2>/dev/null)"
        log "Python: $PY, $PYVER"
    fi

    # ---- the runs
    RES="$TMP/results"
    : >"$RES"
    RESERVE=15 # seconds kept for the report
    # the best Python strategy (3 processes, first run) first: the one the 10x
    # target compares with survives a budget that skips the slow ones at 2000
    STRATS="y5c y5c_tune y5c_nooverlap y5c_nosave y5c_2eng torch_3procs torch_2threads torch_seq"
    glabel() {
        case "$1" in
        y5c) echo "yolov5c detect --device cuda --batch $BATCH" ;;
        y5c_tune) echo "yolov5c detect --device cuda --batch $BATCH, Y5_CONV_IMPL=tune (choices from the cache the tune ceiling's bench run filled)" ;;
        y5c_nooverlap) echo "yolov5c detect --device cuda --batch $BATCH, Y5_PIPE_OVERLAP=0 (each batch start to end)" ;;
        y5c_nosave) echo "yolov5c detect --device cuda --batch $BATCH --no-save" ;;
        y5c_2eng) echo "yolov5c detect --device cuda,cuda --batch $BATCH (two engines on the GPU)" ;;
        torch_seq) echo "Python + PyTorch FP16, sequential" ;;
        torch_2threads) echo "Python + PyTorch FP16, 2 threads (model each)" ;;
        torch_3procs) echo "Python + PyTorch FP16, 3 processes (model each)" ;;
        esac
    }
    # estimate STRAT N: seconds for N images from the strategy's runs so far
    # (a + b*N through its two largest counts, +15% +2 s; one count only: its
    # time + 0.1 s per image; none: empty)
    estimate() {
        awk -v s="$1" -v n="$2" '$1 == s && $3 ~ /^[0-9.]+$/ {
            if (!(($2 + 0) in t) || $3 + 0 < t[$2 + 0]) t[$2 + 0] = $3 + 0 }
        END {
            n1 = -1; n2 = -1
            for (c in t) { c += 0; if (c > n2) { n1 = n2; n2 = c } else if (c > n1) n1 = c }
            if (n2 < 0) exit
            if (n1 < 0) { printf "%.0f", t[n2] + 0.1 * n + 1; exit }
            b = (t[n2] - t[n1]) / (n2 - n1); if (b < 0) b = 0
            a = t[n2] - b * n2; if (a < 0) a = 0
            printf "%.0f", (a + b * n) * 1.15 + 2 }' "$RES"
    }
    # grun STRAT N CMD...: one whole-process run, start to exit (wall clock),
    # unless the budget says skip; cut off at the end of the budget
    grun() {
        s=$1 n=$2
        shift 2
        if grep -q "^$s [0-9]* fail\$" "$RES"; then # failed at a smaller count: not again
            echo "$s $n nottried" >>"$RES"
            return 0
        fi
        left=$((BUDGET - RESERVE - $(elapsed)))
        est=$(estimate "$s" "$n")
        if [ "$left" -le 5 ] || { [ -n "$est" ] && [ "$est" -gt "$left" ]; }; then
            msg="$(glabel "$s"), $n images: skipped, budget: estimate ${est:-?} s, $left s left of --budget-s $BUDGET"
            log "$msg"
            echo "$s $n skip" >>"$RES"
            echo "$msg" >>"$RUNS"
            SKIPPED="${SKIPPED:+$SKIPPED
}- $msg"
            return 0
        fi
        lg="$LOGS/${s}_$n.log"
        rm -rf "$TMP/out"
        log "$(glabel "$s"), $n images (estimate ${est:-?} s, $left s left)"
        t1=$(date +%s.%N)
        if timeout -k 5 "$left" "$@" >"$lg" 2>&1; then rc=0; else rc=$?; fi
        t2=$(date +%s.%N)
        e=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
        if [ "$rc" = 0 ]; then
            echo "$s $n $e" >>"$RES"
            msg="$(glabel "$s"), $n images: $e s, $(awk -v t="$e" -v n="$n" 'BEGIN { printf "%.1f", n / t }') images/s"
        elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            echo "$s $n cut" >>"$RES"
            msg="$(glabel "$s"), $n images: cut off at the end of the budget after $e s"
            SKIPPED="${SKIPPED:+$SKIPPED
}- $msg"
        else
            echo "$s $n fail" >>"$RES"
            msg="$(glabel "$s"), $n images: FAILED (exit $rc after $e s): $(grep -v '^progress' "$lg" | tail -1 | cut -c1-200)"
            tail -5 "$lg" >&2
            FAILED="${FAILED:+$FAILED
}- $msg"
        fi
        log "  $msg"
        echo "$msg" >>"$RUNS"
    }
    gstrat() { # STRAT N
        src="$TMP/in$2"
        case "$1" in
        y5c) grun "$1" "$2" "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" \
            --device cuda --batch "$BATCH" --stats-json "$LOGS/stats_$2.json" ;;
        # every conv on the path measured fastest on this card (cuda/README.md:
        # tune); the ceiling's bench run below tunes first and fills the cache
        y5c_tune) grun "$1" "$2" env Y5_CONV_IMPL=tune Y5_TUNE_CACHE="$TMP/tune.txt" "$BIN" detect --weights "$W" \
            --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --device cuda --batch "$BATCH" \
            --stats-json "$LOGS/stats_tune_$2.json" ;;
        # the engine loop without its overlap (the next batch filled while the
        # forward runs): what the overlap gains, in the same run
        y5c_nooverlap) grun "$1" "$2" env Y5_PIPE_OVERLAP=0 "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" \
            --imgsz "$IMGSZ" --device cuda --batch "$BATCH" --stats-json "$LOGS/stats_nooverlap_$2.json" ;;
        y5c_nosave) grun "$1" "$2" "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" \
            --device cuda --batch "$BATCH" --no-save ;;
        # two engines on one GPU (two streams, two arenas): one engine's host
        # work (filling its input, NMS, handing off) overlaps the other's GPU work
        y5c_2eng) grun "$1" "$2" "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" \
            --device cuda,cuda --batch "$BATCH" --stats-json "$LOGS/stats_2eng_$2.json" ;;
        torch_seq) grun "$1" "$2" "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" \
            --imgsz "$IMGSZ" --device cuda --half --mode seq ;;
        torch_2threads) grun "$1" "$2" "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" \
            --imgsz "$IMGSZ" --device cuda --half --mode threads --jobs 2 ;;
        torch_3procs) grun "$1" "$2" "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" \
            --imgsz "$IMGSZ" --device cuda --half --mode procs --jobs 3 ;;
        esac
    }
    SKIPPED=""
    FAILED=""

    # the forward-only ceiling: the letterboxed shape of a 1920x1080 input (rect)
    LBH=$(((IMGSZ * 1080 / 1920 + 31) / 32 * 32))
    LBW=$(((IMGSZ + 31) / 32 * 32))
    log "forward-only ceiling: yolov5c bench --device cuda --imgsz ${LBH}x$LBW --batch $BATCH"
    if timeout 120 "$BIN" bench --weights "$W" --device cuda --imgsz "${LBH}x$LBW" --batch "$BATCH" --iters 20 --warmup 5 \
        >"$LOGS/bench_ceiling.log" 2>&1; then
        FWD=$(awk '/median ms/ { getline; print $5; exit }' "$LOGS/bench_ceiling.log")
        FWDMS=$(awk '/median ms/ { getline; print $2; exit }' "$LOGS/bench_ceiling.log")
    else
        FWD=""
        FWDMS=""
        FAILED="${FAILED:+$FAILED
}- forward-only ceiling (yolov5c bench) FAILED: $(tail -1 "$LOGS/bench_ceiling.log" | cut -c1-200)"
        log "yolov5c bench --device cuda failed: $(tail -1 "$LOGS/bench_ceiling.log")"
    fi
    echo "forward-only ceiling, batch $BATCH at ${LBH}x$LBW: ${FWD:-failed} images/s (${FWDMS:-?} ms per batch)" >>"$RUNS"
    # the same under Y5_CONV_IMPL=tune (its warm-up tunes and writes the cache y5c_tune reads)
    FWDT=""
    FWDTMS=""
    if timeout 120 env Y5_CONV_IMPL=tune Y5_TUNE_CACHE="$TMP/tune.txt" "$BIN" bench --weights "$W" --device cuda \
        --imgsz "${LBH}x$LBW" --batch "$BATCH" --iters 20 --warmup 5 >"$LOGS/bench_ceiling_tune.log" 2>&1; then
        FWDT=$(awk '/median ms/ { getline; print $5; exit }' "$LOGS/bench_ceiling_tune.log")
        FWDTMS=$(awk '/median ms/ { getline; print $2; exit }' "$LOGS/bench_ceiling_tune.log")
    fi
    echo "forward-only ceiling under Y5_CONV_IMPL=tune: ${FWDT:-failed} images/s (${FWDTMS:-?} ms per batch); $(grep -m1 '^conv paths:' "$LOGS/bench_ceiling_tune.log")" >>"$RUNS"

    r=1
    while [ "$r" -le "$REPEAT" ]; do
        for n in $COUNTS; do
            for s in $STRATS; do
                case "$s" in torch_*) [ -n "$PYSKIP" ] && continue ;; esac
                gstrat "$s" "$n"
            done
        done
        r=$((r + 1))
    done

    # ---- report
    # best (lowest) wall of a strategy at a count; "skip", "cut", "fail" or "" when none ran
    gbest() {
        awk -v s="$1" -v n="$2" '$1 == s && $2 == n {
            if ($3 ~ /^[0-9.]+$/) { if (b == "" || $3 + 0 < b + 0) b = $3 } else if (w == "") w = $3 }
            END { print (b != "" ? b : w) }' "$RES"
    }
    rate() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }'; }
    isnum() { case "$1" in '' | *[!0-9.]*) return 1 ;; *) return 0 ;; esac; }
    TABLE="| strategy | images | seconds | images/s |
| --- | ---: | ---: | ---: |"
    for s in $STRATS; do
        for n in $COUNTS; do
            b=$(gbest "$s" "$n")
            case "$s:$b" in
            torch_*:) [ -n "$PYSKIP" ] && b="not run (see below)" || b="" ;;
            esac
            if isnum "$b"; then row="| $(glabel "$s") | $n | $b | $(rate "$b" "$n") |"
            else
                case "$b" in
                skip) b="skipped (budget)" ;; cut) b="cut off (budget)" ;; fail) b="failed" ;;
                nottried) b="not tried (failed at a smaller count)" ;; "") b="not run" ;;
                esac
                row="| $(glabel "$s") | $n | $b | |"
            fi
            TABLE="$TABLE
$row"
        done
    done
    # steady state: yolov5c detect (annotated images written) at the largest
    # count it ran, after each engine's warm-up batches (the eager first
    # forward and the capture), from --stats-json; the closing line's rate is
    # the whole run's (its clock starts with the decode workers, which run
    # while the engines open: the opening is in it)
    SN=""
    STEADY=""
    WHOLE=""
    for n in $COUNTS; do isnum "$(gbest y5c "$n")" && SN=$n; done
    if [ -n "$SN" ]; then
        WHOLE=$(sed -n 's/^done: .*, \([0-9.]*\) images\/s;.*/\1/p' "$LOGS/y5c_$SN.log" | tail -1)
        STEADYS=$(sed -n 's/^done: .*, \([0-9.]*\) s, [0-9.]* images\/s;.*/\1/p' "$LOGS/y5c_$SN.log" | tail -1)
        STEADY=$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
r = sum(e["after_warmup"]["images"] / e["after_warmup"]["window_s"] for e in s["engines"]
        if e["after_warmup"]["window_s"] > 0 and not e.get("device_failed"))
print("%.2f" % r if r > 0 else "")' "$LOGS/stats_$SN.json" 2>/dev/null) || STEADY="" # no stats file: no steady state
        STAGES=$(sed -n '/^stages/,/^done:/p' "$LOGS/y5c_$SN.log")
        [ -f "$LOGS/stats_$SN.json" ] && cp "$LOGS/stats_$SN.json" "$DIR/pipeline_gpu_stats.json"
        [ -f "$LOGS/stats_2eng_$SN.json" ] && cp "$LOGS/stats_2eng_$SN.json" "$DIR/pipeline_gpu_stats_2eng.json"
        TABLE="$TABLE
| yolov5c detect, its own clock (from its decode workers' start, the engines' opening overlapped; closing line) | $SN | ${STEADYS:-?} | ${WHOLE:-?} |
| yolov5c detect, steady state (after the engine's 2 warm-up batches; --stats-json after_warmup) | $SN | | ${STEADY:-?} |"
    else
        STAGES="(yolov5c detect did not complete a run)"
    fi
    TABLE="$TABLE
| forward only: yolov5c bench --device cuda --imgsz ${LBH}x$LBW --batch $BATCH (ceiling) | $BATCH per batch | ${FWDMS:+$FWDMS ms per batch} | ${FWD:-failed} |
| forward only, Y5_CONV_IMPL=tune | $BATCH per batch | ${FWDTMS:+$FWDTMS ms per batch} | ${FWDT:-failed} |"

    # targets (at 300 images)
    TN=300
    Y300=$(gbest y5c $TN)
    if isnum "$Y300"; then
        T1=$(awk -v t="$Y300" 'BEGIN { print (t < 2.0 ? "PASS" : "MISS") }')
        T1="$T1: $TN images in $Y300 s with annotated images written (target < 2 s)"
    else
        T1="n/a: yolov5c detect did not complete $TN images (${Y300:-not in --counts})"
    fi
    BESTPY=""
    BESTPYS=""
    for s in torch_seq torch_2threads torch_3procs; do
        b=$(gbest "$s" $TN)
        if isnum "$b" && { [ -z "$BESTPY" ] || awk -v a="$b" -v c="$BESTPY" 'BEGIN { exit !(a + 0 < c + 0) }'; }; then
            BESTPY=$b
            BESTPYS=$s
        fi
    done
    if isnum "$Y300" && [ -n "$BESTPY" ]; then
        T2=$(awk -v y="$Y300" -v p="$BESTPY" 'BEGIN { x = p / y; printf "%s: %.1fx the best PyTorch strategy", (x >= 10 ? "PASS" : "MISS"), x }')
        T2="$T2 ($(glabel "$BESTPYS"), $BESTPY s for $TN images; target >= 10x)"
    else
        T2="n/a: needs yolov5c detect and a PyTorch strategy at $TN images (${PYSKIP:-Python at $TN images did not complete})"
    fi
    if isnum "$STEADY" && isnum "$FWD"; then
        T3=$(awk -v s="$STEADY" -v f="$FWD" 'BEGIN { x = s / f; printf "%s: steady state %.0f%% of the forward-only ceiling", (x >= 0.8 ? "PASS" : "MISS"), 100 * x }')
        T3="$T3 ($STEADY of $FWD images/s, $SN images; target >= 80%)"
    else
        T3="n/a: needs yolov5c's steady state (${STEADY:-none}) and the ceiling (${FWD:-none})"
    fi

    HEAD="$MODEL, imgsz $IMGSZ (rect: ${LBH}x$LBW), FP16, 1920x1080 JPEG q95 inputs from coco64 (cycled with a scale round trip), annotated images + labels written; each strategy timed as a whole process, start to exit (model load and CUDA start included), best of $REPEAT"
    {
        echo "# Many images on the GPU: yolov5c detect against Python loops"
        echo
        echo "- command: \`$CMDLINE\`"
        echo "- GPU: $GPUNAME (driver $DRIVER); CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); wall $(elapsed) s of --budget-s $BUDGET"
        echo "- Python: $PY, ${PYVER}${PYNOTE:+; $PYNOTE}"
        echo "- $HEAD"
        echo
        echo "$TABLE"
        echo
        echo "Targets:"
        echo
        echo "- $T1"
        echo "- $T2"
        echo "- $T3"
        if [ -n "$PYSKIP" ]; then echo; echo "Python rows SKIPPED: $PYSKIP"; fi
        if [ -n "$SKIPPED" ]; then echo; echo "Skipped or cut for the time budget:"; echo; echo "$SKIPPED"; fi
        if [ -n "$FAILED" ]; then echo; echo "Failed:"; echo; echo "$FAILED"; fi
        echo
        echo "Stage accounting of \`yolov5c detect\` on ${SN:-?} images (--stats-json: pipeline_gpu_stats.json):"
        echo
        echo '```'
        echo "$STAGES"
        echo '```'
        if [ -f "$DIR/pipeline_gpu_stats.json" ]; then
            echo
            python3 - "$DIR/pipeline_gpu_stats.json" "$(nproc)" <<'PYEOF' || true
import json, sys
s = json.load(open(sys.argv[1])); cores = int(sys.argv[2])
st = s["stages"]
for key, name in (("read_decode", "JPEG read + decode"), ("write", "draw + encode + write")):
    v = st.get(key)
    c = v.get("cpu_per_image_ms") if v else None
    if c:  # thread CPU time: without the waits for a core that the wall time per image includes
        print("- %s: %.2f ms of CPU per image (%.2f ms of wall time in its threads): %.0f images/s over the machine's %d cores" %
              (name, c, v["per_image_ms"], cores * 1000.0 / c, cores))
    elif v and v["per_image_ms"] > 0:
        print("- %s: %.2f ms per image (wall time in its threads): %.0f images/s over the machine's %d cores" %
              (name, v["per_image_ms"], cores * 1000.0 / v["per_image_ms"], cores))
u = s.get("cpu")
if u:
    print("- process CPU: %.1f of %d cores busy on average over the run" % (u["cores_busy"], u["cores"]))
for i, e in enumerate(s["engines"]):
    a = e.get("after_warmup") or {}
    if a.get("window_s", 0) > 0:
        print("- engine %d (%s) after warm-up (its first 2 batches): busy %.0f%%, in forward (upload + graph + wait) %.0f%% of %.2f s"
              % (i, e["device"], 100 * a["busy"], 100 * a["forward"], a["window_s"]))
    o = e.get("open")
    if o:  # where the start goes (y5_engine_open's parts), and when its warm-up batches were done
        print("- engine %d start: weight file %.3f s, device %.3f s, layers (weights to the device) %.3f s; warm-up batches done %.2f s into the run"
              % (i, o["weights_s"], o["device_s"], o["layers_s"], e.get("warmup_done_s", 0)))
print("- model load %.2f s, %.2f s of it inside the run's clock with the decode workers running; %d images were ready when the engines were"
      % (s.get("load_s", 0), s.get("load_in_wall_s", 0), s.get("prefetched", 0)))
print("- bound by: %s" % s["bound_by"])
PYEOF
        fi
    } >"$MD"
    cat "$MD"
    log "written $MD (wall $(elapsed) s)"
    [ -z "$FAILED" ] || { log "some runs FAILED (see $MD and pipeline_gpu_logs.tar.gz)"; exit 1; }
    exit 0
fi

# ---- Python baselines ---------------------------------------------------------
py_ok() { "$PY" -c 'import torch, cv2, numpy' >/dev/null 2>&1; }
if ! py_ok && [ "$INSTALL" = 1 ]; then
    log "installing Debian's python3-torch and python3-opencv (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-torch python3-opencv python3-numpy >&2 || log "apt-get install failed"
fi
py_ok || die "$PY cannot import torch, cv2 and numpy (apt-get install python3-torch python3-opencv)"
if [ ! -x /usr/bin/time ] && [ "$INSTALL" = 1 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >&2 || true
fi
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
[ -f bench/torch_yolov5.py ] || die "bench/torch_yolov5.py missing"

# ---- yolov5c --------------------------------------------------------------------
if [ "$BUILD" = 1 ] && [ -z "${Y5_BIN:-}" ]; then
    log "building yolov5c (make)"
    make -j"$(nproc)" >&2 || die "make failed"
fi
[ -x "$BIN" ] || die "$BIN not found (build it with make)"
LIBA=$(dirname "$BIN")/libyolov5c.a
[ -f "$LIBA" ] || die "$LIBA not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipeline.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
"${CC:-cc}" -O2 -std=c11 -D_GNU_SOURCE ${CPPFLAGS:-} -I. -Iinclude bench/make_inputs.c "$LIBA" ${JPEG_LIB:--ljpeg} -lm -pthread -o "$TMP/make_inputs" ||
    die "cannot build bench/make_inputs.c"
W="$TMP/model.y5w"
"$BIN" convert "$SHARED/models/$MODEL.pt" "$W" >&2 || die "yolov5c convert failed"

MAX=0
for n in $COUNTS; do [ "$n" -gt "$MAX" ] && MAX=$n; done
mkdir -p "$TMP/all"
"$TMP/make_inputs" "$SHARED/data/coco64/images" "$TMP/all" "$MAX" 1920x1080 >&2 || die "make_inputs failed"
for n in $COUNTS; do
    mkdir -p "$TMP/in$n"
    ls "$TMP/all" | sort | head -n "$n" | while read -r f; do ln -s "$TMP/all/$f" "$TMP/in$n/$f"; done
done

# timed RESULT_KEY CMD...: one whole-process run, start to exit (output folder
# $TMP/out emptied first; its log in $TMP/log); appends "KEY wall cpu" to $RES
# (cpu: user + system seconds of the process and its children)
timed() {
    key=$1
    shift
    rm -rf "$TMP/out"
    /usr/bin/time -f "%e %U %S" -o "$TMP/time" "$@" >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; die "failed: $*"; }
    read -r e u sy <"$TMP/time"
    c=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
    echo "$key $e $c" >>"$RES"
    log "  $e s wall, $c s CPU"
}

STRATS="torch_seq torch_2threads torch_2procs y5c y5c_nosave y5c_cpu2"
label() {
    case "$1" in
    torch_seq) echo "Python + PyTorch, sequential" ;;
    torch_2threads) echo "Python + PyTorch, 2 threads (model each)" ;;
    torch_2procs) echo "Python + PyTorch, 2 processes (model each)" ;;
    y5c) echo "yolov5c detect" ;;
    y5c_nosave) echo "yolov5c detect --no-save" ;;
    y5c_cpu2) echo "yolov5c detect --device cpu,cpu" ;;
    esac
}
run_strat() { # STRAT COUNT
    src="$TMP/in$2"
    k="$1 $2"
    case "$1" in
    torch_seq) timed "$k" "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --mode seq ;;
    torch_2threads) timed "$k" "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --mode threads --jobs 2 ;;
    torch_2procs) timed "$k" "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --mode procs --jobs 2 ;;
    y5c) timed "$k" "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" ;;
    y5c_nosave) timed "$k" "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --no-save ;;
    y5c_cpu2) timed "$k" "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --device cpu,cpu ;;
    esac
}

# repeats outermost, so that a burst of load from other users of the machine
# hits one repeat of every strategy rather than every repeat of one
RES="$TMP/results"
: >"$RES"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
r=1
while [ "$r" -le "$REPEAT" ]; do
    for n in $COUNTS; do
        for s in $STRATS; do
            log "run $r/$REPEAT, $n images: $(label "$s")"
            run_strat "$s" "$n"
        done
    done
    r=$((r + 1))
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
# the stage accounting of yolov5c detect on the largest count (last timed run is y5c_cpu2: rerun the default)
rm -rf "$TMP/out"
"$BIN" detect --weights "$W" --source "$TMP/in$MAX" --out "$TMP/out" --imgsz "$IMGSZ" --stats-json "$TMP/stats.json" \
    >"$TMP/log" 2>&1 || die "yolov5c detect failed"
STAGES=$(sed -n '/^stages/,/^done:/p' "$TMP/log")
STEADY=$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
r = sum(e["after_warmup"]["images"] / e["after_warmup"]["window_s"] for e in s["engines"]
        if e["after_warmup"]["window_s"] > 0 and not e.get("device_failed"))
print("%.2f" % r if r > 0 else "?")' "$TMP/stats.json" 2>/dev/null) || STEADY=""
# pure forward at the letterboxed shape of a 1920x1080 input (rect: 384x640 at 640)
LBH=$(( (IMGSZ * 1080 / 1920 + 31) / 32 * 32 ))
FWD=$("$BIN" bench --weights "$W" --imgsz "${LBH}x$IMGSZ" --iters 10 --warmup 2 | awk '/median ms/ { getline; print $5; exit }')

# best (lowest wall) run per strategy and count, with its CPU seconds
best() { awk -v s="$1" -v n="$2" '$1 == s && $2 == n && (b == "" || $3 + 0 < b + 0) { b = $3; c = $4 } END { print b, c }' "$RES"; }
TABLE="| strategy |"
SEP="| --- |"
for n in $COUNTS; do TABLE="$TABLE $n img: s | img/s | CPU s |"; SEP="$SEP ---: | ---: | ---: |"; done
TABLE="$TABLE
$SEP"
for s in $STRATS; do
    row="| $(label "$s") |"
    for n in $COUNTS; do
        set -- $(best "$s" "$n")
        r=$(awk -v t="$1" -v n="$n" 'BEGIN { printf "%.2f", (t > 0 ? n / t : 0) }')
        row="$row $1 | $r | $2 |"
    done
    TABLE="$TABLE
$row"
done
# every run's wall seconds, in run order (the spread shows the machine's noise)
runs() { awk -v s="$1" -v n="$2" '$1 == s && $2 == n { printf "%s%s", (k++ ? " / " : ""), $3 } END { print "" }' "$RES"; }
ALL="| strategy |"
SEP="| --- |"
for n in $COUNTS; do ALL="$ALL $n img: wall s of each run |"; SEP="$SEP --- |"; done
ALL="$ALL
$SEP"
for s in $STRATS; do
    row="| $(label "$s") |"
    for n in $COUNTS; do row="$row $(runs "$s" "$n") |"; done
    ALL="$ALL
$row"
done
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
MACHINE="$CPU, $(nproc) cores (nproc)"
NOTES="Load average (1, 5, 15 min) before: $LOAD0, after: $LOAD1 (the machine is shared).
yolov5c steady state (after its engine's 2 warm-up batches, --stats-json, $MAX images): ${STEADY:-?} images/s; pure forward (yolov5c bench, ${LBH}x$IMGSZ, batch 1): $FWD images/s."
echo
echo "$MODEL, imgsz $IMGSZ, 1920x1080 JPEG inputs, annotated images written; whole process start to exit, best of $REPEAT (CPU s: user+sys of that run)"
echo
echo "$TABLE"
echo
echo "$ALL"
echo
echo "$NOTES"
echo
echo "$STAGES"
if [ "$RECORD" = 1 ]; then
    mkdir -p bench/results
    F=bench/results/pipeline.md
    [ -f "$F" ] || printf '# Many images: yolov5c detect against Python loops (CPU)\n\nRecorded by bench/pipeline.sh; newest last.\n' >"$F"
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $MACHINE"
        echo
        echo "Command: \`$CMDLINE\` ($MODEL, imgsz $IMGSZ, 1920x1080 JPEG q95 inputs from coco64, annotated images + labels written;"
        echo "torch $("$PY" -c 'import torch; print(torch.__version__)'), OpenCV $("$PY" -c 'import cv2; print(cv2.__version__)');"
        echo "each strategy timed as a whole process, model load included, best wall of $REPEAT interleaved runs; CPU s = user + system"
        echo "seconds of that run)."
        echo
        echo "$TABLE"
        echo
        echo "Every run:"
        echo
        echo "$ALL"
        echo
        echo "$NOTES"
        echo
        echo "Stage accounting of \`yolov5c detect\` on $MAX images:"
        echo
        echo '```'
        echo "$STAGES"
        echo '```'
    } >>"$F"
    log "recorded in $F"
fi
