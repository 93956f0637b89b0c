#!/usr/bin/env bash
# Installs the npm packages of the interop tests (tests/interop.rs) exactly
# as package-lock.json pins them. Run by .ci/run, and by the tests
# themselves when interop/node_modules is missing or older than the lock.
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "interop/setup.sh: '$tool' not found: the interop tests need Node.js 20+ and npm" >&2
        exit 1
    fi
done
npm ci --no-audit --no-fund --loglevel=error
