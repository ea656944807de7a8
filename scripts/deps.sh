#!/bin/sh
# The build and test dependencies, from Debian's packages (none is vendored):
#   libjpeg62-turbo-dev  JPEG decode/encode (-ljpeg; libjpeg.a for `make static`)
#   libstb-dev           stb_image / stb_image_write: every other image format
#   ffmpeg               the test suite only (tests/cli/test_pipeline.c pipes
#                        video through `yolov5c detect --source - --raw WxH
#                        --out -`); yolov5c never links it
# The ARM64 cross build (`make ARCH=aarch64`, `make static ARCH=aarch64`):
#   gcc-aarch64-linux-gnu          Debian's cross compiler (its libc6-dev-arm64-cross)
#   libjpeg62-turbo-dev:arm64      the arm64 libjpeg.a (multiarch: needs
#                                  `dpkg --add-architecture arm64`, done here)
#   qemu-user-static               runs the aarch64 tests here (`make test-aarch64`)
#
#   scripts/deps.sh                 install what the build needs, when missing
#   scripts/deps.sh test            also what the test suite needs (`make test`
#                                   runs the aarch64 tests too: cross build + qemu)
#   scripts/deps.sh aarch64         the cross build's packages; `aarch64 qemu`: and qemu
#   scripts/deps.sh --check [WHAT]  install nothing: name what is missing and fail
#                                   (plain `make` runs this before compiling;
#                                   `make ARCH=aarch64` with WHAT = aarch64)
# Installed packages are detected by their files, so a second run does nothing.
set -e
CHECK=0
WANT_TEST=0
WANT_ARM64=0
WANT_QEMU=0
WHAT=""
for a in "$@"; do
    [ "$a" = --check ] || WHAT="$WHAT $a"
    case "$a" in
    --check) CHECK=1 ;;
    test) WANT_TEST=1; WANT_ARM64=1; WANT_QEMU=1 ;;
    aarch64) WANT_ARM64=1 ;;
    qemu) WANT_QEMU=1 ;;
    x86_64) ;; # the host's own build: the base packages
    *) echo "deps.sh: unknown argument '$a' (test, aarch64, qemu, --check; cross builds for other" \
            "CPUs: install their $a-linux-gnu-gcc and libjpeg by hand, then make ARCH=$a DEPS_CHECK=true)" >&2
       exit 2 ;;
    esac
done

PKGS=""
if [ ! -f /usr/include/stb/stb_image.h ] || [ ! -f /usr/include/stb/stb_image_write.h ]; then
    PKGS="$PKGS libstb-dev"
fi
# The cross build reads the same jpeglib.h (multiarch: libjpeg62-turbo-dev:arm64
# ships it too) but needs no host libjpeg.
if [ $WANT_ARM64 = 0 ] || [ $WANT_TEST = 1 ]; then
    [ -f /usr/include/jpeglib.h ] || PKGS="$PKGS libjpeg62-turbo-dev"
fi
if [ $WANT_TEST = 1 ]; then
    command -v ffmpeg >/dev/null 2>&1 || PKGS="$PKGS ffmpeg"
fi
NEED_ARM64_ARCH=0
if [ $WANT_ARM64 = 1 ]; then
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || PKGS="$PKGS gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
    if [ ! -f /usr/lib/aarch64-linux-gnu/libjpeg.a ] || [ ! -f /usr/include/aarch64-linux-gnu/jconfig.h ]; then
        PKGS="$PKGS libjpeg62-turbo-dev:arm64"
        dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64 || NEED_ARM64_ARCH=1
    fi
fi
if [ $WANT_QEMU = 1 ]; then
    command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1 ||
        PKGS="$PKGS qemu-user-static"
fi

if [ $CHECK = 1 ]; then
    if [ -n "$PKGS" ]; then
        echo "yolov5c: missing Debian packages:$PKGS (run 'sh scripts/deps.sh$WHAT', or: apt-get install$PKGS)" >&2
        exit 1
    fi
    exit 0
fi
if [ -n "$PKGS" ]; then
    echo "installing$PKGS..." >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    # another apt run (a parallel session) may hold the lock for a while: wait for it
    APT="$SUDO apt-get -o DPkg::Lock::Timeout=600 -qq"
    if [ $NEED_ARM64_ARCH = 1 ]; then
        $SUDO dpkg --add-architecture arm64
    fi
    $APT update >/dev/null
    DEBIAN_FRONTEND=noninteractive $APT install -y --no-install-recommends $PKGS >/dev/null
fi
