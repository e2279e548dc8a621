#!/usr/bin/env bash
# Debian's chromium for the browser tests (the HTML report, later the dashboard). Playwright
# drives it through executable_path; its own browser download is never used.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
fi
command -v chromium
