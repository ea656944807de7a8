#!/bin/sh
# cpu_peers.sh - yolov5c against ONNX Runtime, OpenVINO and PyTorch on the CPU:
# the same weights, the same threads, FP32, rounds interleaved.
#
#   bench/cpu_peers.sh [--rounds R] [--iters N] [--warmup N] [--threads T]
#                      [--imgsz S] [--batches "1 4"] [--models "n m"]
#                      [--peers "ort openvino torch"] [--no-build] [--no-install]
#                      [--check-only] [--record]
#
# 1. Peers. ONNX Runtime, OpenVINO, onnx and numpy from PyPI (pip, by package
#    name) into the virtual environment build/peers-venv (created with
#    /usr/bin/python3 -m venv; only what does not import yet is installed, so
#    reruns install nothing). PyTorch: the first python3 that imports torch
#    (PYTHON, /usr/bin/python3, python3), else Debian's python3-torch via
#    apt-get as bench/cpu_vs_torch.sh does (never PyPI's torch: GBs of CUDA).
#    A peer that cannot be installed or imported is reported as not available
#    and left out; the run goes on.
# 2. yolov5c: make (unless --no-build or Y5_BIN), then yolov5c convert of
#    ../shared/models/{yolov5n,yolov5m-synth}.pt to build/cpu_peers/*.y5w.
# 3. ONNX: bench/y5w_to_onnx.py writes each .y5w as ONNX (static shapes): one
#    file at the golden case's input size, batch 1, and one per timed batch at
#    SxS. ORT and OpenVINO run those, PyTorch runs the .y5w itself
#    (bench/torch_yolov5.py's network), all through bench/peer_run.py.
# 4. Golden parity: every peer runs golden/<model>_bus_640_input.u8 and is
#    compared with _pred.f32 (tolerances of golden/README.md: yolov5n 0.02 px
#    on xywh, 1e-4 on obj/cls; yolov5m-synth 0.5 px, 1e-3). A peer that fails
#    is reported and not timed for that model.
# 5. Timing: R rounds (default 3); in each round, for every model and batch,
#    every runtime (order rotated each round) times N forwards after the
#    warm-up in a fresh process and reports their median. yolov5c:
#    `yolov5c bench --weights M.y5w --imgsz S --batch B --threads T --iters N`.
#    Every round's row is printed (this machine's clock drifts between
#    rounds); the table gives the median over the rounds and yolov5c/peer.
#    Threads: intra-op T (default 2), inter-op 1 for every runtime.
# --check-only stops after step 4. --record appends the report (machine, ISA,
# versions, load before/after, command, date) to bench/results/cpu.md.
#
# Environment: Y5_BIN (yolov5c binary, default build/yolov5c), SHARED
# (default ../shared), PYTHON (a python3 with torch and numpy), PEERS_VENV
# (default build/peers-venv). Nothing here runs in `make test`.
set -eu

cd "$(dirname "$0")/.."
CMDLINE="bench/cpu_peers.sh"
for a in "$@"; do
    case "$a" in *" "*|"") CMDLINE="$CMDLINE '$a'" ;; *) CMDLINE="$CMDLINE $a" ;; esac
done
ROUNDS=3
ITERS=10
WARMUP=2
THREADS=2
IMGSZ=640
BATCHES="1 4"
MODELS="n m"
PEERS="ort openvino torch"
BUILD=1
INSTALL=1
CHECK_ONLY=0
RECORD=0
SHARED=${SHARED:-../shared}
BIN=${Y5_BIN:-build/yolov5c}
VENV=${PEERS_VENV:-build/peers-venv}
WORK=build/cpu_peers

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --imgsz) IMGSZ=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --check-only) CHECK_ONLY=1; shift ;;
    --record) RECORD=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cpu_peers: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
for p in $PEERS; do
    case "$p" in ort|openvino|torch) ;; *) echo "cpu_peers: unknown peer $p (ort, openvino, torch)" >&2; exit 2 ;; esac
done

log() { echo "cpu_peers: $*" >&2; }
die() { log "$*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
peer_name() {
    case "$1" in ort) echo "ONNX Runtime" ;; openvino) echo "OpenVINO" ;; torch) echo "PyTorch" ;; *) echo "$1" ;; esac
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
UP0=$(uptime 2>/dev/null || echo "?")

# ---- peers: ONNX Runtime, OpenVINO (+ onnx, numpy) in a venv ----------------
NOTES=""   # report lines about peers that are missing or failed
note() { NOTES="$NOTES
- $*"; log "$*"; }
VPY="$VENV/bin/python"
py_mod() { case "$1" in onnxruntime) echo onnxruntime ;; openvino) echo openvino ;; onnx) echo onnx ;; numpy) echo numpy ;; esac; }
if [ ! -x "$VPY" ] && [ "$INSTALL" = 1 ]; then
    log "creating the virtual environment $VENV (/usr/bin/python3 -m venv)"
    mkdir -p "$(dirname "$VENV")"
    VBASE=/usr/bin/python3
    [ -x "$VBASE" ] || VBASE=python3
    "$VBASE" -m venv "$VENV" >&2 || {
        log "python3 -m venv failed; trying to install Debian's python3-venv"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv >&2 &&
            "$VBASE" -m venv "$VENV" >&2
    } || log "cannot create $VENV"
fi
if [ -x "$VPY" ]; then
    for pkg in numpy onnx onnxruntime openvino; do
        "$VPY" -c "import $(py_mod $pkg)" >/dev/null 2>&1 && continue
        if [ "$INSTALL" = 1 ]; then
            log "pip install $pkg (PyPI) into $VENV"
            "$VPY" -m pip install --quiet "$pkg" >&2 || log "pip install $pkg failed"
        fi
    done
fi
venv_has() { [ -x "$VPY" ] && "$VPY" -c "import $1" >/dev/null 2>&1; }
EXPORT_OK=0
if venv_has "onnx, numpy"; then EXPORT_OK=1; fi

# ---- peer: PyTorch (Debian's python3-torch) ---------------------------------
has_torch() { "$1" -c 'import torch, numpy' >/dev/null 2>&1; }
find_torch_python() {
    if [ -n "${PYTHON:-}" ]; then has_torch "$PYTHON" && { echo "$PYTHON"; return 0; }; return 1; fi
    for p in /usr/bin/python3 python3; do
        command -v "$p" >/dev/null 2>&1 && has_torch "$p" && { echo "$p"; return 0; }
    done
    return 1
}
TPY=""
case " $PEERS " in *" torch "*)
    TPY=$(find_torch_python || true)
    if [ -z "$TPY" ] && [ "$INSTALL" = 1 ]; then
        if command -v apt-get >/dev/null 2>&1 && apt-cache show python3-torch >/dev/null 2>&1; then
            log "installing Debian's python3-torch (apt-get)"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                python3-torch python3-numpy >&2 || log "apt-get install python3-torch failed"
            TPY=$(find_torch_python || true)
        fi
    fi ;;
esac

# which python runs each peer; empty: not available
peer_py() { case "$1" in torch) echo "$TPY" ;; *) echo "$VPY" ;; esac; }
AVAIL=""
VERSIONS=""
for p in $PEERS; do
    py=$(peer_py "$p")
    why=""
    if [ -z "$py" ]; then
        if [ -n "${PYTHON:-}" ]; then why="PYTHON=$PYTHON cannot import torch and numpy"
        else why="no python3 imports torch and numpy (Debian's python3-torch is not installed$([ "$INSTALL" = 0 ] && echo ", --no-install"))"; fi
    elif [ ! -x "$py" ] && ! command -v "$py" >/dev/null 2>&1; then
        why="no virtual environment $VENV$([ "$INSTALL" = 0 ] && echo " (--no-install)")"
    elif [ "$p" != torch ] && [ "$EXPORT_OK" = 0 ]; then
        why="the ONNX exporter needs the onnx and numpy packages in $VENV (pip install failed?)"
    elif ! v=$("$py" bench/peer_run.py --runtime "$p" --version 2>&1); then
        why="$(echo "$v" | tail -n 1) ($py)"
    fi
    if [ -n "$why" ]; then
        note "$(peer_name "$p"): not available: $why"
    else
        AVAIL="$AVAIL $p"
        VERSIONS="$VERSIONS
- $(peer_name "$p"): ${v#* } ($py)"
        log "$(peer_name "$p"): ${v#* }"
    fi
done
[ "$EXPORT_OK" = 1 ] && VERSIONS="$VERSIONS
- onnx $("$VPY" -c 'import onnx; print(onnx.__version__)'), numpy $("$VPY" -c 'import numpy; print(numpy.__version__)') (exporter bench/y5w_to_onnx.py, $VPY)"

# ---- yolov5c -----------------------------------------------------------------
if [ "$BUILD" = 1 ] && [ -z "${Y5_BIN:-}" ]; then
    log "building yolov5c (make)"
    make >&2 || die "make failed"
fi
[ -x "$BIN" ] || die "$BIN not found (build it with make)"
mkdir -p "$WORK"

model_pt() { case "$1" in n) echo yolov5n ;; m) echo yolov5m-synth ;; *) echo "$1" ;; esac; }
# golden/README.md's suggested FP32 tolerances (xywh px, obj/cls)
golden_tol() { case "$1" in yolov5n) echo "0.02 1e-4" ;; *) echo "0.5 1e-3" ;; esac; }
# input H W of a golden case, from manifest.json (letterbox.input_hw)
golden_hw() {
    python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
c = [c for c in m["cases"] if c["name"] == sys.argv[2]]
print(*c[0]["letterbox"]["input_hw"]) if c else sys.exit(1)' "$SHARED/golden/manifest.json" "$1" 2>/dev/null
}

CHECKS=""
OK=""      # "model:peer" pairs that passed the golden check
NAMES=""
for k in $MODELS; do
    name=$(model_pt "$k")
    NAMES="$NAMES $name"
    pt="$SHARED/models/$name.pt"
    [ -f "$pt" ] || die "$pt not found"
    w="$WORK/$name.y5w"
    "$BIN" convert "$pt" "$w" >&2 || die "yolov5c convert $pt failed"
    case="${name}_bus_640"
    gin="$SHARED/golden/${case}_input.u8"
    gpred="$SHARED/golden/${case}_pred.f32"
    hw=$(golden_hw "$case" || true)
    if [ ! -f "$gin" ] || [ ! -f "$gpred" ] || [ -z "$hw" ]; then
        note "$name: no golden case $case in $SHARED/golden: peers not checked, not timed"
        continue
    fi
    set -- $hw
    gh=$1 gw=$2
    tol=$(golden_tol "$name")
    if [ "$EXPORT_OK" = 1 ]; then
        "$VPY" bench/y5w_to_onnx.py "$w" "$WORK/${name}_${gh}x${gw}_b1.onnx" --imgsz "${gh}x${gw}" >&2 ||
            die "y5w_to_onnx failed on $name"
    fi
    for p in $AVAIL; do
        py=$(peer_py "$p")
        if [ "$p" = torch ]; then src="--weights $w"; else src="--onnx $WORK/${name}_${gh}x${gw}_b1.onnx"; fi
        # shellcheck disable=SC2086 # src and tol are option lists
        if g=$("$py" bench/peer_run.py --runtime "$p" $src --threads "$THREADS" \
            --check-golden "$gin" "$gpred" "$gh" "$gw" --tol $tol 2>&1); then
            OK="$OK $name:$p"
            res=PASS
        else
            res=FAIL
            echo "$g" >&2
        fi
        fig=$(echo "$g" | sed -n 's/.*max |d| xywh \([^ ]*\) px, obj\/cls \([^,]*\),.*/\1 px xywh, \2 obj\/cls/p')
        [ -n "$fig" ] || fig="no result: $(echo "$g" | tail -n 1)"
        CHECKS="$CHECKS
- $name, $(peer_name "$p") vs golden $case pred ($gh x $gw): max |d| $fig -> $res (tolerance $(echo "$tol" | sed 's/ / px, /'))"
        log "$name $(peer_name "$p") golden: $fig -> $res"
        [ "$res" = PASS ] || note "$name: $(peer_name "$p") fails the golden check: not timed"
    done
done
[ "$CHECK_ONLY" = 1 ] && { printf 'Golden parity (%s threads):%s%s\n' "$THREADS" "$CHECKS" "$NOTES"; exit 0; }

# ---- ONNX files for timing -----------------------------------------------------
passed() { case " $OK " in *" $1:$2 "*) return 0 ;; *) return 1 ;; esac; }
for name in $NAMES; do
    for b in $BATCHES; do
        if passed "$name" ort || passed "$name" openvino; then
            "$VPY" bench/y5w_to_onnx.py "$WORK/$name.y5w" "$WORK/${name}_${IMGSZ}_b$b.onnx" \
                --imgsz "$IMGSZ" --batch "$b" >&2 || die "y5w_to_onnx failed on $name batch $b"
        fi
    done
done

# ---- timing: rounds interleaved --------------------------------------------------
RES="$WORK/rounds.txt"   # round model batch runtime median_ms
: > "$RES"
parse_med() { awk '/median ms/ { getline; print $2; exit }'; }
time_one() {  # runtime name batch -> median ms on stdout
    rt=$1 name=$2 b=$3
    if [ "$rt" = yolov5c ]; then
        out=$("$BIN" bench --weights "$WORK/$name.y5w" --imgsz "$IMGSZ" --batch "$b" --device cpu \
            --threads "$THREADS" --iters "$ITERS" --warmup "$WARMUP" 2>&1) || { echo "$out" >&2; return 1; }
    else
        py=$(peer_py "$rt")
        if [ "$rt" = torch ]; then src="--weights $WORK/$name.y5w"; else src="--onnx $WORK/${name}_${IMGSZ}_b$b.onnx"; fi
        # shellcheck disable=SC2086
        out=$("$py" bench/peer_run.py --runtime "$rt" $src --batch "$b" --imgsz "$IMGSZ" \
            --threads "$THREADS" --iters "$ITERS" --warmup "$WARMUP" 2>&1) || { echo "$out" >&2; return 1; }
    fi
    echo "$out" | parse_med
}
RTS="yolov5c$AVAIL"
n_rt=$(echo $RTS | wc -w)
r=1
while [ "$r" -le "$ROUNDS" ]; do
    # rotate the order each round so that no runtime always runs first
    order=$(echo $RTS | awk -v s="$(( (r - 1) % n_rt ))" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + s) % NF + 1) }')
    for name in $NAMES; do
        for b in $BATCHES; do
            row="round $r/$ROUNDS $name b$b:"
            for rt in $order; do
                [ "$rt" = yolov5c ] || passed "$name" "$rt" || continue
                if ms=$(time_one "$rt" "$name" "$b") && [ -n "$ms" ]; then
                    echo "$r $name $b $rt $ms" >> "$RES"
                    row="$row $rt $ms ms,"
                else
                    row="$row $rt FAILED,"
                    note "round $r: $rt failed on $name batch $b"
                fi
            done
            echo "${row%,}" >&2
        done
    done
    r=$((r + 1))
done

# ---- report --------------------------------------------------------------------------
TABLE=$(python3 - "$RES" "$NAMES" "$BATCHES" "$AVAIL" "$PEERS" <<'EOF'
import sys
res, names, batches, avail, peers = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5].split()
label = {"yolov5c": "yolov5c", "ort": "ONNX Runtime", "openvino": "OpenVINO", "torch": "PyTorch"}
t = {}
for line in open(res):
    r, name, b, rt, ms = line.split()
    t.setdefault((name, b, rt), []).append((int(r), float(ms)))
def med(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
cols = ["yolov5c"] + peers
head = "| model | batch | " + " | ".join(f"{label[c]} ms" for c in cols) + " | " + \
    " | ".join(f"yolov5c/{label[p]}" for p in peers) + " |"
print(head)
print("|" + " --- |" * 2 + " ---: |" * (len(cols) + len(peers)))
for name in names:
    for b in batches:
        m = {c: med([ms for _, ms in t[(name, b, c)]]) if (name, b, c) in t else None for c in cols}
        cells = [f"{m[c]:.1f}" if m[c] is not None else "n/a" for c in cols]
        ratios = [f"{m['yolov5c'] / m[p]:.2f}" if m[p] and m["yolov5c"] else "n/a" for p in peers]
        print(f"| {name} | {b} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
print()
print("Each round (median ms of the N forwards of that round; the order of the runtimes rotates from round to round):")
print()
print("| round | model | batch | " + " | ".join(label[c] for c in cols) + " |")
print("| ---: | --- | --- |" + " ---: |" * len(cols))
rounds = sorted({r for v in t.values() for r, _ in v})
for r in rounds:
    for name in names:
        for b in batches:
            cells = []
            for c in cols:
                v = [ms for rr, ms in t.get((name, b, c), []) if rr == r]
                cells.append(f"{v[0]:.1f}" if v else "n/a")
            print(f"| {r} | {name} | {b} | " + " | ".join(cells) + " |")
EOF
)

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
SOCK=$(lscpu | sed -n 's/^Socket(s): *//p' | head -1)
CPS=$(lscpu | sed -n 's/^Core(s) per socket: *//p' | head -1)
TPC=$(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -1)
FLAGS=$(grep -o -w -E 'avx2|fma|avx512f|avx512dq|avx512bw|avx512vl|avx512_vnni|avx512_bf16|amx_tile' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ' || true)
# the ISA yolov5c's kernels use (layers/cpu/isa.c: AVX-512 needs f+vl+bw+dq+fma)
ISA=scalar
case " $FLAGS " in *" avx2 "*) case " $FLAGS " in *" fma "*) ISA=avx2 ;; esac ;; esac
if [ "$ISA" = avx2 ]; then
    n512=0
    for f in avx512f avx512vl avx512bw avx512dq; do case " $FLAGS " in *" $f "*) n512=$((n512 + 1)) ;; esac; done
    [ "$n512" = 4 ] && ISA=avx512
fi
[ -n "${Y5_ISA:-}" ] && ISA="$ISA, capped by Y5_ISA=$Y5_ISA"
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain 2>/dev/null | head -1)" ] && REV="$REV (+ uncommitted changes)"
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
LOADED=$(awk -v a="${LOAD0%% *}" -v b="${LOAD1%% *}" -v n="$(nproc)" \
    'BEGIN { m = a > b ? a : b; if (m > 0.5 * n) printf "**the machine was loaded** (1-minute load average up to %s on %d CPUs: other work shared the cores; treat the figures as rough)", m, n; else printf "machine idle enough (1-minute load average at most %s on %d CPUs)", m, n }')

REPORT="## CPU peers: yolov5c vs ONNX Runtime, OpenVINO, PyTorch, ${IMGSZ}x${IMGSZ}, batch $(echo $BATCHES | sed 's/ /, /g'), $THREADS threads, FP32 ($DATE)

- command: \`$CMDLINE\` (rounds: $ROUNDS, interleaved, runtime order rotated each round; in each round every runtime times $ITERS forwards after $WARMUP warm-up in a fresh process and takes their median; the table: median over the rounds, ms per forward of the whole batch)
- machine: ${CPU:-unknown CPU}, $(nproc) CPUs available (${SOCK:-?} socket(s) x ${CPS:-?} cores x ${TPC:-?} threads), flags: ${FLAGS:-?}; yolov5c ISA: $ISA
- load: $LOADED; uptime before: \`$UP0\`; load average after: $LOAD1
- yolov5c: $REV, FP32, \`yolov5c bench --device cpu --threads $THREADS\` (its own golden parity is tests/golden/test_golden_net.c, in make test)
- threads: intra-op $THREADS, inter-op 1 for every runtime (ORT intra_op/inter_op_num_threads + sequential, I/O bound to preallocated buffers, default spin-wait; OpenVINO INFERENCE_NUM_THREADS $THREADS, NUM_STREAMS 1, LATENCY, INFERENCE_PRECISION_HINT f32; torch set_num_threads / set_num_interop_threads(1)); ORT and OpenVINO run the ONNX file of bench/y5w_to_onnx.py (static shapes), PyTorch bench/torch_yolov5.py's network, all from the same .y5w$VERSIONS$CHECKS$NOTES

$TABLE"
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
