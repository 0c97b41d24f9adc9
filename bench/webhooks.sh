#!/usr/bin/env bash
# Webhook delivery throughput: INSTANCES sandbox instances (default 8), each with its webhookUrl on
# a local receiver (`examples/webhook_sink.rs`, answers 200 at once); wrk makes virtual contacts
# write to them for DURATION (default 10s), every write a `message.received` event committed with
# its delivery. Reports events written per second, deliveries per second, and how long after the
# last write the last delivery arrived, and the percentiles of each event's latency (written to
# delivered). PACE_MS (default 0) makes each connection wait that long between its writes: with
# CONNECTIONS=16, PACE_MS=15 writes about 1,000 events a second.
#
#   bench/webhooks.sh                     # SQLite
#   bench/webhooks.sh postgres://root@127.0.0.1:5432/test
set -euo pipefail
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
instances=${INSTANCES:-8}
SERVE_FLAGS=--webhook-allow-private
source "$(dirname "$0")/lib.sh"
start_sink
for i in $(seq 1 "$instances"); do
  link "$(printf '55119%08d' "$i")" \
    "\"webhookUrl\":\"http://127.0.0.1:$sink_port/hook\",\"webhookEvents\":[\"message.received\"]" >/dev/null
done

echo "wagate $(git rev-parse --short HEAD), store: $store, $(nproc) cores, $instances instances, wrk -t2 -c$connections -d$duration"
out=$(WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCES=$instances WAGATE_BENCH_DELAY_MS=${PACE_MS:-0} \
  wrk -t2 -c"$connections" -d"$duration" -s bench/inject.lua "$base/sandbox/v1/messages")
echo "$out" | grep written
written=$(echo "$out" | sed -n 's/^written: \([0-9]*\) events.*/\1/p')
writes_end=$(python3 -c 'import time; print(int(time.time()*1000))')
for _ in $(seq 1 600); do
  count=$(curl -sf "127.0.0.1:$sink_port/stats" | json "['count']")
  [ "$count" -ge "$written" ] && break
  sleep 0.1
done
curl -sf "127.0.0.1:$sink_port/stats" | python3 -c "
import json, sys
s = json.load(sys.stdin); written = int(sys.argv[1]); end = int(sys.argv[2])
span = (s['lastMs'] - s['firstMs']) / 1000
print(f\"delivered: {s['count']} of {written} events, {s['count'] / span:.0f}/s; \"
      f\"last delivery {max(0, s['lastMs'] - end)} ms after the last write; \"
      f\"latency p50 {s['p50Ms']} ms, p99 {s['p99Ms']} ms, max {s['maxMs']} ms\")" "$written" "$writes_end"
