#!/bin/sh
# The build and test dependencies, from Debian's packages (none is vendored):
#   libjpeg62-turbo-dev  JPEG decode/encode (-ljpeg; libjpeg.a for `make static`)
#   libstb-dev           stb_image / stb_image_write: every other image format
#   ffmpeg               the test suite only (tests/cli/test_pipeline.c pipes
#                        video through `yolov5c detect --source - --raw WxH
#                        --out -`); yolov5c never links it
#
#   scripts/deps.sh          install what the build needs, when missing
#   scripts/deps.sh test     also what the test suite needs
#   scripts/deps.sh --check  install nothing: name what is missing and fail
#                            (plain `make` runs this before compiling)
set -e
PKGS=""
if [ ! -f /usr/include/stb/stb_image.h ] || [ ! -f /usr/include/stb/stb_image_write.h ]; then
    PKGS="$PKGS libstb-dev"
fi
if [ ! -f /usr/include/jpeglib.h ]; then
    PKGS="$PKGS libjpeg62-turbo-dev"
fi
if [ "${1:-}" = test ]; then
    command -v ffmpeg >/dev/null 2>&1 || PKGS="$PKGS ffmpeg"
fi
if [ "${1:-}" = --check ]; then
    if [ -n "$PKGS" ]; then
        echo "yolov5c: missing Debian packages:$PKGS (run 'make deps', or: apt-get install$PKGS)" >&2
        exit 1
    fi
    exit 0
fi
if [ -n "$PKGS" ]; then
    echo "installing$PKGS..." >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
fi
