#!/usr/bin/env bash
# Installs what the browser test needs (Debian's Chromium; the npm packages
# come with build.sh) and builds the page. Run as root, or with sudo.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null 2>&1; then
    echo "setup-e2e.sh: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
chromium --version
./build.sh
