#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20) on the nightly
# toolchain with cargo-fuzz, starting from the committed seeds (seeds/) and
# whatever an earlier run found (corpus/, git-ignored). Prints one line per
# target with its executions; exits non-zero on the first crash (the input
# is left in artifacts/<target>/).
#   bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_head chunked sse_parser jsonrpc config uri_template schema)
cargo +nightly fuzz build
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz $t: CRASH (see fuzz/artifacts/$t/)"
    rm -f "$log"
    exit 1
  fi
  runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  echo "fuzz $t: ${runs:-0} executions in ${seconds}s, no crash"
  rm -f "$log"
done
