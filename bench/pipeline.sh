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
# exit (model loading included), best of --repeat runs (default 1; repeats
# interleaved across strategies), with its CPU seconds (user + sys). Also
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
CMDLINE="${Y5_BIN:+Y5_BIN=$Y5_BIN }bench/pipeline.sh $*"
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
if [ ! -x /usr/bin/time ] && [ "$INSTALL" = 1 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >&2 || true
fi
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
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
"${CC:-cc}" -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/make_inputs.c "$LIBA" -ljpeg -lm -pthread -o "$TMP/make_inputs" ||
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
STEADY=$(sed -n 's/^done: .*, \([0-9.]*\) images\/s;.*/\1/p' "$TMP/log")
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
yolov5c steady state (its own clock, after model load, $MAX images): $STEADY images/s; pure forward (yolov5c bench, ${LBH}x$IMGSZ, batch 1): $FWD images/s."
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
