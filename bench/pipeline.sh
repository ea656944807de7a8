#!/bin/sh
# pipeline.sh - many images at full speed: `yolov5c detect` (one process:
# decode workers, engine, writers) against detect.py-style Python loops run
# sequentially, over 2 threads and over 2 processes - the strategies of
# ../shared/EXPERIMENT.md - on the CPU. (The GPU part comes later.)
#
#   bench/pipeline.sh [--counts "2 20 50"] [--imgsz 640] [--model yolov5n]
#                     [--repeat N] [--no-build] [--no-install] [--record]
#
# Inputs: 1920x1080 JPEGs (quality 95) made deterministically from
# ../shared/data/coco64/images by bench/make_inputs.c (built here against
# build/libyolov5c.a) in a temp folder. Every strategy writes annotated
# images and label files. Each run is timed as a whole process, start to
# exit (model loading included), best of --repeat runs (default 1). Also
# reported: yolov5c's steady-state rate (its own clock, after model load)
# and its pure forward rate (yolov5c bench at the letterboxed 384x640).
# Python: /usr/bin/python3 with Debian's python3-torch and python3-opencv
# (apt-get installed when missing unless --no-install), on the PyTorch
# model of bench/torch_yolov5.py via bench/pipeline_torch.py.
# --record appends the table, the command, machine and date to
# bench/results/pipeline.md.
#
# Environment: Y5_BIN (default build/yolov5c), SHARED (default ../shared).
set -eu

cd "$(dirname "$0")/.."
CMDLINE="bench/pipeline.sh $*"
COUNTS="2 20 50"
IMGSZ=640
MODEL=yolov5n
REPEAT=1
BUILD=1
INSTALL=1
RECORD=0
SHARED=${SHARED:-../shared}
BIN=${Y5_BIN:-build/yolov5c}
PY=/usr/bin/python3

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
    --counts) COUNTS=$2; shift 2 ;;
    --imgsz) IMGSZ=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
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

# ---- Python baselines ---------------------------------------------------------
py_ok() { "$PY" -c 'import torch, cv2, numpy' >/dev/null 2>&1; }
if ! py_ok && [ "$INSTALL" = 1 ]; then
    log "installing Debian's python3-torch and python3-opencv (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-torch python3-opencv python3-numpy >&2 || log "apt-get install failed"
fi
py_ok || die "$PY cannot import torch, cv2 and numpy (apt-get install python3-torch python3-opencv)"
# bench/torch_yolov5.py (the PyTorch model) is written by another engineer: wait for it
waited=0
until [ -f bench/torch_yolov5.py ] && grep -q "^class YOLOv5" bench/torch_yolov5.py; do
    [ "$waited" -ge 600 ] && die "bench/torch_yolov5.py (class YOLOv5) still missing after 10 minutes"
    log "waiting for bench/torch_yolov5.py ..."
    sleep 30
    waited=$((waited + 30))
done

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
"${CC:-cc}" -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/make_inputs.c "$LIBA" -lm -pthread -o "$TMP/make_inputs" ||
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

now() { date +%s.%N; }
# time_best NAME COUNT CMD...: best wall seconds of REPEAT whole-process runs
# (output folder $TMP/out, emptied before each run; the last log in $TMP/log)
time_best() {
    best=""
    i=0
    while [ "$i" -lt "$REPEAT" ]; do
        rm -rf "$TMP/out"
        t0=$(now)
        "$@" >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; die "failed: $*"; }
        t1=$(now)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        best=$(awk -v a="$best" -v b="$s" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }')
        i=$((i + 1))
    done
    echo "$best"
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
    case "$1" in
    torch_seq) time_best "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --mode seq ;;
    torch_2threads) time_best "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --mode threads --jobs 2 ;;
    torch_2procs) time_best "$PY" bench/pipeline_torch.py --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --mode procs --jobs 2 ;;
    y5c) time_best "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" ;;
    y5c_nosave) time_best "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --no-save ;;
    y5c_cpu2) time_best "$BIN" detect --weights "$W" --source "$src" --out "$TMP/out" --imgsz "$IMGSZ" --device cpu,cpu ;;
    esac
}

RES="$TMP/results"
: >"$RES"
for n in $COUNTS; do
    for s in $STRATS; do
        log "$n images: $(label "$s")"
        t=$(run_strat "$s" "$n")
        echo "$s $n $t" >>"$RES"
        log "  $t s"
    done
done
# the stage accounting of yolov5c detect on the largest count (last timed run is y5c_cpu2: rerun the default)
rm -rf "$TMP/out"
"$BIN" detect --weights "$W" --source "$TMP/in$MAX" --out "$TMP/out" --imgsz "$IMGSZ" --stats-json "$TMP/stats.json" \
    >"$TMP/log" 2>&1 || die "yolov5c detect failed"
STAGES=$(sed -n '/^stages/,/^done:/p' "$TMP/log")
STEADY=$(sed -n 's/^done: .*, \([0-9.]*\) images\/s;.*/\1/p' "$TMP/log")
# pure forward at the letterboxed shape of a 1920x1080 input (rect: 384x640 at 640)
LBH=$(( (IMGSZ * 1080 / 1920 + 31) / 32 * 32 ))
FWD=$("$BIN" bench --weights "$W" --imgsz "${LBH}x$IMGSZ" --iters 10 --warmup 2 | awk '/median ms/ { getline; print $5; exit }')

TABLE="| strategy |"
SEP="| --- |"
for n in $COUNTS; do TABLE="$TABLE $n images: s | img/s |"; SEP="$SEP ---: | ---: |"; done
TABLE="$TABLE
$SEP"
for s in $STRATS; do
    row="| $(label "$s") |"
    for n in $COUNTS; do
        t=$(awk -v s="$s" -v n="$n" '$1 == s && $2 == n { print $3 }' "$RES")
        r=$(awk -v t="$t" -v n="$n" 'BEGIN { printf "%.2f", (t > 0 ? n / t : 0) }')
        row="$row $t | $r |"
    done
    TABLE="$TABLE
$row"
done
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
MACHINE="$CPU, $(nproc) cores (nproc)"
NOTES="yolov5c steady state (its own clock, after model load, $MAX images): $STEADY images/s; pure forward (yolov5c bench, ${LBH}x$IMGSZ, batch 1): $FWD images/s."
echo
echo "$MODEL, imgsz $IMGSZ, 1920x1080 JPEG inputs, annotated images written; whole process start to exit, best of $REPEAT"
echo
echo "$TABLE"
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
        echo "each strategy timed as a whole process, model load included, best of $REPEAT)."
        echo
        echo "$TABLE"
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
