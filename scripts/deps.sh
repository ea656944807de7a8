#!/bin/sh
# Installs the build and test dependencies from Debian's packages when missing.
# libjpeg-turbo (JPEG decode/encode, -ljpeg; libjpeg.a for `make static`)
# comes from libjpeg62-turbo-dev, stb (every other image format) from
# libstb-dev: neither is vendored. ffmpeg is for the tests only
# (tests/test_pipeline.c pipes video through
# `yolov5c detect --source - --raw WxH --out -`); yolov5c never links it.
set -e
PKGS=""
if [ ! -f /usr/include/stb/stb_image.h ] || [ ! -f /usr/include/stb/stb_image_write.h ]; then
    PKGS="$PKGS libstb-dev"
fi
if [ ! -f /usr/include/jpeglib.h ]; then
    PKGS="$PKGS libjpeg62-turbo-dev"
fi
# `scripts/deps.sh test`: also what the test suite needs
if [ "${1:-}" = test ]; then
    command -v ffmpeg >/dev/null 2>&1 || PKGS="$PKGS ffmpeg"
fi
if [ -n "$PKGS" ]; then
    echo "installing$PKGS..." >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
fi
