#!/bin/sh
# conv_lab.sh - the conv kernel lab (cuda/lab/) in one command on a GPU machine:
# builds build/conv_lab for this card only, checks every version on odd shapes
# (every output against the CPU), then checks and times every version on the
# yolov5m 640 convs at batch 32 against the backend's cuBLAS path; v5 (wgmma)
# in runs of its own, then each of its tiles forced on yolov5m.
#
#   sh bench/conv_lab.sh [OUTDIR]        (default $OUT or /tmp/conv_lab; a minute or two)
#
# OUTDIR gets build.log, odd.log, odd_v4_<tile>.log, yolov5m_b32.log and .csv
# (v5's rows appended), odd_v5.log, odd_v5_split3.log, yolov5m_b32_v5.log
# and .csv, yolov5m_b1_v5.log and .csv, yolov5m_b1_v5_nosplit.log,
# yolov5m_b32_v5_<tile>.log and .csv, and conv_lab.md (the totals tables,
# rewritten after each step). Exit status: 0 when every check passed. Extra
# conv_lab options go in CONV_LAB_ARGS (e.g. "--reps 50").
set -u
cd "$(dirname "$0")/.."
O=${1:-${OUT:-/tmp/conv_lab}}
mkdir -p "$O"
ARCH=${CUDA_ARCH:-}
if [ -z "$ARCH" ]; then
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
    ARCH="-gencode arch=compute_${cc:-90},code=sm_${cc:-90}"
fi
# v5 (wgmma) exists only as sm_90a code: on a Hopper build that alone, so
# the card cannot run a plain sm_90 pass of the lab instead
LAB=$ARCH
case "$ARCH" in *sm_90*) LAB="-gencode arch=compute_90a,code=sm_90a" ;; esac
make -s DEPS_CHECK=true CUDA_ARCH="$ARCH" LAB_ARCH="$LAB" conv-lab >"$O/build.log" 2>&1 || { tail -20 "$O/build.log"; exit 1; }
# ptxas serialising wgmma is an info message, not a warning: -Werror lets it pass
SERIAL=$(grep -c 'C751[45]\|wgmma.mma_async instructions are serialized' "$O/build.log")
# v5 is on the fast path only if its SASS has Hopper's warpgroup MMA
CUOBJ=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
HGMMA=$([ -x "$CUOBJ" ] && "$CUOBJ" -sass build/conv_lab 2>/dev/null | grep -c HGMMA)
# conv_lab.md from whatever has run so far: written after each step, so a
# step the caller's time limit kills leaves the figures before it
summary() {
    {
        echo "# conv_lab, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), commit $(git rev-parse --short HEAD 2>/dev/null)"
        echo
        grep -E '^(\||conv_lab:)' "$O/yolov5m_b32.log"
        echo
        echo "odd shapes: $(grep -E '^conv_lab: [0-9]+ of' "$O/odd.log")"
        echo
        echo "## v5 (wgmma), its own runs: v3, v4 and v5 on yolov5m b32"
        echo
        grep -E '^(\||conv_lab:)' "$O/yolov5m_b32_v5.log"
        echo
        echo "odd shapes, v5: $(grep -E '^conv_lab: [0-9]+ of|v5 not run' "$O/odd_v5.log" | tr '\n' ' ')"
        echo "odd shapes, v5 split 3: $(grep -E '^conv_lab: [0-9]+ of|v5 not run' "$O/odd_v5_split3.log" | tr '\n' ' ')"
        echo
        echo "## batch 1: v5 with split-K (its rule) and without"
        echo
        grep -E '^(\||conv_lab:)' "$O/yolov5m_b1_v5.log"
        echo "v5 without split-K: $(grep -E '^\| v5 ' "$O/yolov5m_b1_v5_nosplit.log") $(grep -E '^conv_lab: [0-9]+ of' "$O/yolov5m_b1_v5_nosplit.log")"
        echo
        for f in bn64 bn96 bn128 bn192 bn256 bm64; do
            [ -f "$O/yolov5m_b32_v5_$f.log" ] &&
                echo "v5 with $f everywhere: $(grep -E '^\| v5 ' "$O/yolov5m_b32_v5_$f.log") $(grep -E '^conv_lab: [0-9]+ of' "$O/yolov5m_b32_v5_$f.log")"
        done
        [ "$SERIAL" -gt 0 ] && echo "WARNING: ptxas serialised wgmma in $SERIAL places (C7514/C7515, build.log): v5 runs slow"
        echo "HGMMA instructions in build/conv_lab's SASS: ${HGMMA:-(no cuobjdump)}"
    } >"$O/conv_lab.md" 2>/dev/null
}
rc=0
# v1-v4 first, v5 (wgmma, never run on a GPU before) in runs of its own: a
# fault there (a sticky CUDA error ends the process) cannot take the other
# versions' figures with it
V14="--versions 1,2,3,4"
timeout 60 build/conv_lab --net odd $V14 ${CONV_LAB_ARGS:-} >"$O/odd.log" 2>&1 || rc=1
tail -8 "$O/odd.log"
# v4's rule picks 64x64 for every odd shape: check its other tiles there too
# (a tile over the card's shared memory is refused with exit status 2: not a failure)
for t in 128x128 128x64 256x128; do
    timeout 30 build/conv_lab --net odd --versions 4 --v4-tile $t >"$O/odd_v4_$t.log" 2>&1
    r=$?
    [ $r -eq 0 ] || { [ $r -eq 2 ] && grep -q 'this card allows' "$O/odd_v4_$t.log"; } || rc=1
    echo "v4 $t on the odd shapes: $(grep -E '^conv_lab: [0-9]+ of' "$O/odd_v4_$t.log" || tail -1 "$O/odd_v4_$t.log")"
done
timeout 150 build/conv_lab --net yolov5m --imgsz 640 --batch 32 --csv "$O/yolov5m_b32.csv" $V14 ${CONV_LAB_ARGS:-} \
    >"$O/yolov5m_b32.log" 2>&1 || rc=1
summary
v5ok=1
timeout 60 build/conv_lab --net odd --versions 5 ${CONV_LAB_ARGS:-} >"$O/odd_v5.log" 2>&1 || { rc=1; v5ok=0; }
echo "v5 on the odd shapes: $(grep -E '^conv_lab: [0-9]+ of|v5 not run' "$O/odd_v5.log" | tr '\n' ' ')"
# split-K forced on every odd shape (3 splits, or one per k-tile where fewer)
timeout 60 build/conv_lab --net odd --versions 5 --v5-splits 3 ${CONV_LAB_ARGS:-} >"$O/odd_v5_split3.log" 2>&1 ||
    { rc=1; v5ok=0; }
echo "v5 split 3 on the odd shapes: $(grep -E '^conv_lab: [0-9]+ of|v5 not run' "$O/odd_v5_split3.log" | tr '\n' ' ')"
# v3 and v4 again beside v5, so its ratios compare within one run
timeout 150 build/conv_lab --net yolov5m --imgsz 640 --batch 32 --csv "$O/yolov5m_b32_v5.csv" --versions 3,4,5 \
    ${CONV_LAB_ARGS:-} >"$O/yolov5m_b32_v5.log" 2>&1 || { rc=1; v5ok=0; }
grep ',v5,' "$O/yolov5m_b32_v5.csv" >>"$O/yolov5m_b32.csv" 2>/dev/null
summary
# batch 1: v5's split-K by its rule (y5w_v5_splits) against none, v3 beside
if [ "$v5ok" = 1 ] && ! grep -q 'v5 not run' "$O/odd_v5.log"; then
    timeout 60 build/conv_lab --net yolov5m --imgsz 640 --batch 1 --versions 3,5 --csv "$O/yolov5m_b1_v5.csv" \
        ${CONV_LAB_ARGS:-} >"$O/yolov5m_b1_v5.log" 2>&1 || rc=1
    timeout 60 build/conv_lab --net yolov5m --imgsz 640 --batch 1 --versions 5 --v5-splits 1 \
        ${CONV_LAB_ARGS:-} >"$O/yolov5m_b1_v5_nosplit.log" 2>&1 || rc=1
    summary
fi
# each v5 width, and 64-row blocks, on every yolov5m shape: to fit its tile
# rule (y5w_v5_tile)
for f in bn64 bn96 bn128 bn192 bn256 bm64; do
    # timing a kernel that failed, crashed, hung or did not run says nothing
    [ "$v5ok" = 1 ] && ! grep -q 'v5 not run' "$O/odd_v5.log" || break
    timeout 60 build/conv_lab --net yolov5m --imgsz 640 --batch 32 --versions 5 --v5-${f%%[0-9]*} ${f#b[mn]} \
        --csv "$O/yolov5m_b32_v5_$f.csv" >"$O/yolov5m_b32_v5_$f.log" 2>&1 || rc=1
    sed "s/,v5,/,v5 $f,/" "$O/yolov5m_b32_v5_$f.csv" 2>/dev/null | grep ",v5 $f," >>"$O/yolov5m_b32.csv"
    summary
done
summary
cat "$O/conv_lab.md"
grep -E 'FAIL|conv_lab:[0-9]+:' "$O/odd.log" "$O"/odd_v4_*.log "$O/yolov5m_b32.log" "$O/odd_v5.log" \
    "$O/odd_v5_split3.log" "$O/yolov5m_b32_v5.log" "$O"/yolov5m_b1_v5*.log 2>/dev/null | head -20
exit $rc
