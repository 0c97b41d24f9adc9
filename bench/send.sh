#!/usr/bin/env bash
# Load test of POST /v1/messages/send: a release build, the sandbox, one connected instance,
# wrk with 32 connections. Every 200 is a durable send (committed before the answer).
#
#   bench/send.sh                     # SQLite in a fresh temporary data directory
#   bench/send.sh postgres://root@127.0.0.1:5432/test   # PostgreSQL (a fresh schema)
#
# Needs: wrk (apt-get install wrk), curl, python3. DURATION (default 20s) and CONNECTIONS (32).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-20s}
connections=${CONNECTIONS:-32}
cargo build -q --release -p wagate
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
db_args=(--data-dir "$dir")
schema=""
if [ -n "${1:-}" ]; then
  schema="wagate_bench_$$"
  psql "$1" -qc "CREATE SCHEMA $schema"
  db_args+=(--database-url "$1?options=-c%20search_path%3D$schema")
fi
WAGATE_LOG=warn target/release/wagate serve --sandbox --listen "127.0.0.1:$port" --admin-token bench "${db_args[@]}" >/dev/null 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$schema" ] && psql "$1" -qc "DROP SCHEMA $schema CASCADE" 2>/dev/null || true
  rm -rf "$dir"
}
trap 'cleanup "${1:-}"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
key=$(curl -sf "$base/admin/v1/accounts" -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
  -d '{"name":"bench","plan":"enterprise"}' | json "['data']['apiKey']['key']")
auth=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
inst=$(curl -sf "$base/v1/instances" "${auth[@]}" -d '{"name":"bench","settings":{"autoTyping":false}}' | json "['data']['id']")
qr=$(curl -sf "$base/v1/instances/$inst/connect" "${auth[@]}" -d '{"method":"qrcode"}' | json "['qrCode']")
curl -sf "$base/sandbox/v1/scan" "${auth[@]}" -d "{\"qrCode\":\"$qr\",\"phone\":\"5511900000001\"}" >/dev/null

store=sqlite; [ -n "${1:-}" ] && store=postgres
echo "wagate $(git rev-parse --short HEAD), store: $store, $(nproc) cores, wrk -t2 -c$connections -d$duration"
WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCE=$inst \
  wrk -t2 -c"$connections" -d"$duration" --latency -s bench/send.lua "$base/v1/messages/send" | grep -E 'accepted/s|p50|errors|Requests/sec'
