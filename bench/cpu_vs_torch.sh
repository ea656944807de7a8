#!/bin/sh
# cpu_vs_torch.sh - yolov5c against PyTorch on the CPU, same weights, same threads.
#
#   bench/cpu_vs_torch.sh [--threads T] [--iters N] [--warmup N] [--imgsz S]
#                         [--models "n m"] [--torch-args "--channels-last"]
#                         [--no-build] [--no-install] [--record]
#
# Installs PyTorch when no python3 can import it (Debian's python3-torch via
# apt-get first, the PyPI CPU wheel otherwise), builds yolov5c (make),
# converts ../shared/models/yolov5n.pt and yolov5m-synth.pt to .y5w in a temp
# folder, checks the PyTorch peer (bench/torch_yolov5.py, which loads the same
# .y5w) against the golden bus prediction, then times both at SxS batch 1
# with the same thread count (default: nproc) and prints a markdown table.
# --record appends it, with the command, machine and date, to
# bench/results/cpu.md. --torch-args passes extra options to the peer's
# timing run (e.g. --channels-last).
#
# Environment: Y5_BIN (yolov5c binary, default build/yolov5c), SHARED
# (default ../shared), PYTHON (a python3 that has torch and numpy).
set -eu

cd "$(dirname "$0")/.."
CMDLINE="bench/cpu_vs_torch.sh $*"
THREADS=$(nproc)
ITERS=10
WARMUP=2
IMGSZ=640
MODELS="n m"
BUILD=1
INSTALL=1
RECORD=0
TORCH_ARGS=""
SHARED=${SHARED:-../shared}
BIN=${Y5_BIN:-build/yolov5c}

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --imgsz) IMGSZ=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --record) RECORD=1; shift ;;
    --torch-args) TORCH_ARGS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cpu_vs_torch: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { echo "cpu_vs_torch: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- PyTorch ---------------------------------------------------------------
has_torch() { "$1" -c 'import torch, numpy' >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

find_python() {
    if [ -n "${PYTHON:-}" ]; then has_torch "$PYTHON" && { echo "$PYTHON"; return 0; }; return 1; fi
    # Debian's python3-torch lives in /usr/bin/python3's dist-packages, so try that one first
    for p in /usr/bin/python3 python3; do
        command -v "$p" >/dev/null 2>&1 && has_torch "$p" && { echo "$p"; return 0; }
    done
    return 1
}

PY=$(find_python || true)
if [ -z "$PY" ] && [ "$INSTALL" = 1 ]; then
    if command -v apt-get >/dev/null 2>&1 && apt-cache show python3-torch >/dev/null 2>&1; then
        log "installing Debian's python3-torch (apt-get)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3-torch python3-numpy >&2 || log "apt-get install python3-torch failed"
        PY=$(find_python || true)
    fi
    if [ -z "$PY" ]; then
        P=${PYTHON:-python3}
        log "installing torch from PyPI for $P (CPU-only wheel if obtainable)"
        "$P" -m pip install --quiet numpy >&2 || true
        "$P" -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu >&2 ||
            "$P" -m pip install --quiet torch >&2 || log "pip install torch failed"
        has_torch "$P" && PY=$P
    fi
fi
[ -n "$PY" ] || die "no python3 with torch and numpy (install python3-torch or pip install torch)"
TORCH_INFO=$("$PY" -c 'import torch; print(torch.__version__, torch.backends.mkldnn.is_available())') ||
    die "$PY cannot import torch"
TORCH_VER=${TORCH_INFO% *}
MKLDNN=${TORCH_INFO#* }
log "python $PY: torch $TORCH_VER, torch.backends.mkldnn.is_available() = $MKLDNN"

# ---- yolov5c ---------------------------------------------------------------
if [ "$BUILD" = 1 ] && [ -z "${Y5_BIN:-}" ]; then
    log "building yolov5c (make)"
    make >&2 || die "make failed"
fi
[ -x "$BIN" ] || die "$BIN not found (build it with make)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cpu_vs_torch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

model_pt() { case "$1" in n) echo yolov5n ;; m) echo yolov5m-synth ;; *) echo "$1" ;; esac; }

# the row under the 'median ms' header: iters median min gflops images/s
parse_row() { awk '/median ms/ { getline; print $2, $3, $4; exit }'; }

ROWS=""
CHECKS=""
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
for k in $MODELS; do
    name=$(model_pt "$k")
    pt="$SHARED/models/$name.pt"
    [ -f "$pt" ] || die "$pt not found"
    w="$TMP/$name.y5w"
    "$BIN" convert "$pt" "$w" >&2 || die "yolov5c convert $pt failed"

    # the peer is faithful: one forward on the golden bus input
    gin="$SHARED/golden/${name}_bus_640_input.u8"
    gpred="$SHARED/golden/${name}_bus_640_pred.f32"
    if [ -f "$gin" ] && [ -f "$gpred" ]; then
        g=$("$PY" bench/torch_yolov5.py --quiet --weights "$w" --threads "$THREADS" \
            --check-golden "$gin" "$gpred" 640 480) || { echo "$g" >&2; die "PyTorch peer fails the golden check on $name"; }
        g=$(echo "$g" | sed -n 's/.*max |d| xywh \([^ ]*\) px, obj\/cls \([^,]*\),.*/\1 px xywh, \2 obj\/cls/p')
        CHECKS="$CHECKS
- $name: PyTorch peer vs golden bus 640 pred: max |d| $g"
        log "$name peer golden check: $g"
    fi

    log "$name: yolov5c bench ($ITERS iters, $THREADS threads)"
    c_out=$("$BIN" bench --weights "$w" --imgsz "$IMGSZ" --batch 1 --device cpu \
        --iters "$ITERS" --warmup "$WARMUP" --threads "$THREADS") || die "yolov5c bench failed on $name"
    echo "$c_out" >&2
    log "$name: PyTorch bench ($ITERS iters, $THREADS threads)"
    # shellcheck disable=SC2086 # TORCH_ARGS is a list of options
    t_out=$("$PY" bench/torch_yolov5.py --weights "$w" --imgsz "$IMGSZ" --batch 1 --device cpu \
        --iters "$ITERS" --warmup "$WARMUP" --threads "$THREADS" $TORCH_ARGS) || die "PyTorch peer failed on $name"
    echo "$t_out" >&2
    read -r c_med c_min c_gf <<EOF
$(echo "$c_out" | parse_row)
EOF
    [ -n "$c_gf" ] || die "cannot parse the yolov5c bench output"
    read -r t_med t_min t_gf <<EOF
$(echo "$t_out" | parse_row)
EOF
    [ -n "$t_gf" ] || die "cannot parse the PyTorch peer output"
    ratio=$(awk -v a="$c_med" -v b="$t_med" 'BEGIN { printf "%.2f", a / b }')
    ROWS="$ROWS
| $name | $c_med | $t_med | $ratio | $c_gf | $t_gf | $c_min | $t_min |"
done

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
SOCK=$(lscpu | sed -n 's/^Socket(s): *//p' | head -1)
CPS=$(lscpu | sed -n 's/^Core(s) per socket: *//p' | head -1)
TPC=$(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -1)
FLAGS=$(grep -o -w -E 'avx2|avx512f|fma' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ' || true)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain 2>/dev/null | head -1)" ] && REV="$REV (+ uncommitted changes)"
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

REPORT="## CPU: yolov5c vs PyTorch, ${IMGSZ}x${IMGSZ} batch 1, $THREADS threads ($DATE)

- command: \`$CMDLINE\` ($ITERS timed forwards after $WARMUP warm-up, median and min over them)
- machine: ${CPU:-unknown CPU}, $(nproc) CPUs available (${SOCK:-?} socket(s) x ${CPS:-?} cores x ${TPC:-?} threads), flags: ${FLAGS:-?}; load average before / after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
- PyTorch: $TORCH_VER ($PY), mkldnn available: $MKLDNN; peer bench/torch_yolov5.py, FP32 NCHW, inference_mode, flush denormal${TORCH_ARGS:+, extra options: $TORCH_ARGS}
- yolov5c: $REV, FP32, \`yolov5c bench --device cpu\`
- GFLOP/s: 2 x conv multiply-adds per forward / median time (both sides count the same convs)$CHECKS

| model | yolov5c median ms | torch median ms | ratio (yolov5c/torch) | yolov5c GFLOP/s | torch GFLOP/s | yolov5c min ms | torch min ms |
| --- | --- | --- | --- | --- | --- | --- | --- |$ROWS"
echo "$REPORT"
if [ "$RECORD" = 1 ]; then
    mkdir -p bench/results
    out=bench/results/cpu.md
    sep=""
    [ -s "$out" ] && sep="
"
    printf '%s%s\n' "$sep" "$REPORT" >> "$out"
    log "appended to bench/results/cpu.md"
fi
