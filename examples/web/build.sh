#!/usr/bin/env bash
# Builds the chatroom's web front end into examples/web/dist, which
# `cargo run --example chatroom-server` serves at http://127.0.0.1:3000/.
#
#   1. npm ci (from the committed package-lock.json; again only when it changed)
#   2. export the TypeScript protocols from the Rust definitions
#   3. bundle src/index.ts with esbuild
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
    echo "build.sh: npm is needed (Node 20 and npm); install Node.js first" >&2
    exit 1
fi
if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
    npm ci --no-audit --no-fund
    touch node_modules/.installed
fi

cargo run --quiet --example export-ts -- src/shared/protocols

mkdir -p dist
npx --no-install esbuild src/index.ts --bundle --minify --sourcemap --target=es2019 --log-level=warning --outfile=dist/app.js
cp index.html style.css dist/
echo "build.sh: built $(pwd)/dist"
