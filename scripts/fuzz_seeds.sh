#!/bin/sh
# fuzz_seeds.sh SHARED OUT - seed corpora for the libFuzzer harnesses
# (tests/fuzz/, `make fuzz`), made from the real files in SHARED:
#   OUT/pt      yolov5n.pt whole, and a stored zip of its data.pkl alone (small,
#               so mutations reach the pickle and the module walk quickly)
#   OUT/pickle  the data.pkl of each checkpoint
#   OUT/y5w     yolov5n converted to an FP16 .y5w (by Y5_BIN, default
#               build/yolov5c), the smallest real weight file
#   OUT/image   bus.jpg and zidane.jpg re-encoded small by ffmpeg in every
#               format and pixel layout the decoders take (JPEG 4:2:0 / 4:4:4 /
#               grey, PNG RGB / RGBA / grey / 16-bit, BMP, GIF, TGA, PPM, PGM)
# Runs again cheaply: files already there are kept.
set -e
S=${1:-../shared}
O=${2:-build/fuzz/seeds}
[ -d "$S/models" ] || { echo "fuzz_seeds: $S/models not found (set SHARED)" >&2; exit 1; }
mkdir -p "$O/pt" "$O/pickle" "$O/image" "$O/y5w"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

[ -f "$O/pt/yolov5n.pt" ] || cp "$S/models/yolov5n.pt" "$O/pt/yolov5n.pt"
for m in "$S"/models/*.pt; do
    b=$(basename "$m" .pt)
    [ -f "$O/pickle/$b.pkl" ] && continue
    e=$(unzip -Z1 "$m" | grep '/data\.pkl$' | head -1)
    unzip -p "$m" "$e" > "$O/pickle/$b.pkl"
done
if [ ! -f "$O/pt/pickle-only.pt" ]; then
    mkdir -p "$T/archive"
    unzip -p "$S/models/yolov5n.pt" "$(unzip -Z1 "$S/models/yolov5n.pt" | grep '/data\.pkl$' | head -1)" > "$T/archive/data.pkl"
    (cd "$T" && zip -q -0 -X pickle-only.pt archive/data.pkl)
    cp "$T/pickle-only.pt" "$O/pt/pickle-only.pt"
fi

BIN=${Y5_BIN:-build/yolov5c}
if [ ! -f "$O/y5w/yolov5n-fp16.y5w" ]; then
    if [ -x "$BIN" ]; then
        "$BIN" convert "$S/models/yolov5n.pt" "$O/y5w/yolov5n-fp16.y5w" --fp16 >/dev/null
    else
        echo "fuzz_seeds: $BIN not found: the y5w harness starts from an empty corpus" >&2
    fi
fi

if command -v ffmpeg >/dev/null; then
    for src in bus zidane; do
        in="$S/images/$src.jpg"
        [ -f "$in" ] || continue
        conv() { # name, ffmpeg output options
            f="$O/image/$src-$1"; shift
            [ -f "$f" ] || ffmpeg -loglevel error -y -i "$in" -vf scale=48:-2 "$@" "$f"
        }
        conv 420.jpg -pix_fmt yuvj420p
        conv 444.jpg -pix_fmt yuvj444p
        conv grey.jpg -pix_fmt gray
        conv rgb.png -pix_fmt rgb24
        conv rgba.png -pix_fmt rgba
        conv grey.png -pix_fmt gray
        conv rgb48.png -pix_fmt rgb48be
        conv rgb.bmp -pix_fmt bgr24
        conv pal.gif
        conv rgb.tga -pix_fmt bgr24
        conv rgb.ppm -pix_fmt rgb24
        conv grey.pgm -pix_fmt gray
    done
else
    echo "fuzz_seeds: ffmpeg not found: only the original JPEGs seed the image harness" >&2
    cp "$S"/images/*.jpg "$O/image/"
fi
# the tuning cache: a file as the CUDA backend writes one (an odd first
# byte: the harness puts the stamp line in front of it)
mkdir -p "$O/tune_cache"
printf '\t64 128 3 1 1 32 80 64 64 256 0 1 0 2 0.5 -1 0.125 0.0625 0.25\n8 48 6 2 2 8 80 64 8 48 48 4 0 4 2 -1 -1 1.5 0.75\n' \
    >"$O/tune_cache/two_entries"
printf 'yolov5c-tune 3 S\n255 256 1 1 0 1 20 20 768 256 0 1 0 1 0.03 0.02 -1 -1 0.01\n' >"$O/tune_cache/with_stamp"
echo "fuzz_seeds: $(ls "$O/pt" | wc -l) pt, $(ls "$O/pickle" | wc -l) pickle, $(ls "$O/image" | wc -l) image, $(ls "$O/y5w" | wc -l) y5w, $(ls "$O/tune_cache" | wc -l) tune_cache seeds in $O"
