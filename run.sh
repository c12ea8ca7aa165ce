#!/bin/sh
# Quick start: install what is missing (Debian packages), build, and start
# the daemon on ./phonely-mcp.db. Everything else lives in the Makefile.
set -eu
cd "$(dirname "$0")"
if ! command -v make >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends make
fi
exec make run
