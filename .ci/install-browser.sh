#!/usr/bin/env bash
# Install Debian's chromium (and the DejaVu fonts the report's SVG text uses) for the report's browser test,
# tests/test_report_browser.py, which drives it with playwright from pip (no browser download). Idempotent: does
# nothing when chromium is already on PATH. Needs apt-get (Debian/Ubuntu) and root or sudo.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "== chromium already installed: $(chromium --version 2>/dev/null | head -n 1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser.sh: apt-get not found; install chromium with this system's package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-browser.sh: needs root or sudo for apt-get" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-liberation
command -v chromium >/dev/null 2>&1 || { echo "install-browser.sh: chromium is still not on PATH" >&2; exit 1; }
echo "== installed: $(chromium --version 2>/dev/null | head -n 1)"
