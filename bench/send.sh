#!/usr/bin/env bash
# Load test of POST /v1/messages/send: a release build, the sandbox, one connected instance,
# wrk with 32 connections. Every 200 is a durable send (committed before the answer).
#
#   bench/send.sh                     # SQLite in a fresh temporary data directory
#   bench/send.sh postgres://root@127.0.0.1:5432/test   # PostgreSQL (a fresh schema)
#
# Needs: wrk (apt-get install wrk), curl, python3. DURATION (default 20s) and CONNECTIONS (32).
set -euo pipefail
duration=${DURATION:-20s}
connections=${CONNECTIONS:-32}
source "$(dirname "$0")/lib.sh"
inst=$(link 5511900000001)

echo "wagate ${WAGATE_BIN:-$(git rev-parse --short HEAD)}, store: $store, $(nproc) cores, wrk -t2 -c$connections -d$duration"
WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCE=$inst \
  wrk -t2 -c"$connections" -d"$duration" --latency -s bench/send.lua "$base/v1/messages/send" | grep -E 'accepted/s|p50|errors|Requests/sec'
# How far the send loop got meanwhile: messages handed to the network while wrk ran (the loop
# competes with the accepting side for the same cores and database).
curl -sf "$base/v1/instances/$inst/status" "${auth[@]}" | json "['data']['stats']['messagesSent']" \
  | sed 's/^/sent by the end of the run: /'
