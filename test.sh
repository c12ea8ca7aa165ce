#!/bin/sh
# Install what is missing (Debian packages, npm test clients), build with
# ASan+UBSan and run every test. Everything else lives in the Makefile.
set -eu
cd "$(dirname "$0")"
if ! command -v make >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends make
fi
exec make test
