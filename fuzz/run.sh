#!/usr/bin/env bash
# Fuzzes every decoder a peer can reach (fuzz/fuzz_targets/), each target
# for a bounded time, starting from the committed seeds (fuzz/seeds/) and
# the corpus kept in fuzz/corpus/ between runs. Installs cargo-fuzz when
# it is missing; needs the nightly toolchain (libFuzzer's sanitizers).
#
#   bash fuzz/run.sh              # 20 s per target (CI's short run)
#   bash fuzz/run.sh 3600         # an hour per target
#   RUNS=10000000 bash fuzz/run.sh  # a number of executions per target
#   SANITIZER=none bash fuzz/run.sh   # several times faster; the default
#                                     # (address) also checks the unsafe
#                                     # code of the dependencies
#   TARGETS="payload" bash fuzz/run.sh  # some targets only
#
# A crash stops the run and leaves its input in fuzz/artifacts/<target>/;
# replay it with: cargo +nightly fuzz run <target> <file>
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-20}"
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

limit=(-max_total_time="$SECONDS_PER_TARGET")
if [ -n "${RUNS:-}" ]; then
    limit=(-runs="$RUNS")
fi
mkdir -p logs
export CARGO_TARGET_DIR="target/${SANITIZER:-address}"
for target in ${TARGETS:-client_frame server_frame payload http_body cluster_msg}; do
    mkdir -p "corpus/$target"
    if [ -n "${RUNS:-}" ]; then
        echo "== fuzz $target ($RUNS runs, sanitizer ${SANITIZER:-address})"
    else
        echo "== fuzz $target ($SECONDS_PER_TARGET s, sanitizer ${SANITIZER:-address})"
    fi
    if ! cargo +nightly fuzz run --sanitizer "${SANITIZER:-address}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        "${limit[@]}" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 \
        > "logs/$target.log" 2>&1; then
        tail -40 "logs/$target.log" >&2
        echo "fuzz/$target failed (a crash leaves its input in fuzz/artifacts/$target)" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done" "logs/$target.log"
done
