#!/usr/bin/env bash
# Benchmarks argus-mcp on this machine and prints a table: binary size,
# start-up time, idle memory, memory with many open SSE sessions, and
# request rate / latency through the gateway (answered by the gateway itself,
# and forwarded to a stdio backend). Loopback only; bounded in time.
# Usage: bash bench/run.sh [SECONDS_PER_LOAD_RUN (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --locked --bins -q
rustc -O --edition 2021 bench/load.rs -o "$work/load"
bin=target/release/argus-mcp
fixture=target/release/argus-test-fixture

cat > "$work/argus.yaml" <<EOF
server: {max_connections: 4096}
backends:
  fx:
    type: stdio
    command: $PWD/$fixture
    env: {FIXTURE_TOOLS: echo}
EOF

start=$(date +%s%N)
"$bin" server -c "$work/argus.yaml" --port 0 > "$work/out" 2> "$work/err" &
pid=$!
until grep -q listening "$work/out" 2>/dev/null; do sleep 0.01; done
ready=$(( ($(date +%s%N) - start) / 1000000 ))
addr=$(head -1 "$work/out" | awk '{print $NF}')
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
threads() { ls "/proc/$pid/task" | wc -l; }
# Let the backend connect before measuring.
curl -s -m 10 -o /dev/null "http://$addr/health" || true
sleep 0.5
idle_rss=$(rss)

# 500 open SSE sessions.
python3 - "$addr" 500 "$work/sessions.pid" <<'PY' &
import socket, sys, time, os
addr, n = sys.argv[1], int(sys.argv[2])
host, port = addr.rsplit(":", 1)
socks = []
for _ in range(n):
    s = socket.create_connection((host, int(port)))
    s.sendall(f"GET /sse HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())
    s.recv(4096)
    socks.append(s)
open(sys.argv[3], "w").write("ready")
time.sleep(30)
PY
until [ -s "$work/sessions.pid" ]; do sleep 0.05; done
sse_rss=$(rss); sse_threads=$(threads)
kill %2 2>/dev/null || true

ping='{"jsonrpc":"2.0","id":1,"method":"ping"}'
call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}'
read -r p_n p_err p_rps p_50 p_99 < <("$work/load" "$addr" 8 "$secs" "$ping")
read -r c_n c_err c_rps c_50 c_99 < <("$work/load" "$addr" 8 "$secs" "$call")
load_rss=$(rss)

printf '\n%-44s %s\n' "measure" "value"
printf '%-44s %s\n' "--------------------------------------------" "------------------"
printf '%-44s %s KiB\n' "release binary size" "$(( $(stat -c %s "$bin") / 1024 ))"
printf '%-44s %s ms\n' "start to listening (1 stdio backend)" "$ready"
printf '%-44s %s KiB\n' "RSS idle (1 stdio backend)" "$idle_rss"
printf '%-44s %s KiB, %s threads\n' "RSS with 500 open SSE sessions" "$sse_rss" "$sse_threads"
printf '%-44s %s req/s, p50 %s us, p99 %s us, %s errors\n' "/mcp ping (gateway answers), 8 conns" "$p_rps" "$p_50" "$p_99" "$p_err"
printf '%-44s %s req/s, p50 %s us, p99 %s us, %s errors\n' "/mcp tools/call via stdio backend, 8 conns" "$c_rps" "$c_50" "$c_99" "$c_err"
printf '%-44s %s KiB\n' "RSS after the load runs" "$load_rss"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
