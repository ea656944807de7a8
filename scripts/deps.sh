#!/bin/sh
# Installs the build dependencies from Debian's packages when missing.
# stb (image decode/encode) comes from libstb-dev: never vendored.
set -e
if [ ! -f /usr/include/stb/stb_image.h ] || [ ! -f /usr/include/stb/stb_image_write.h ]; then
    echo "installing libstb-dev (stb_image, stb_image_write)..." >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libstb-dev >/dev/null
fi
