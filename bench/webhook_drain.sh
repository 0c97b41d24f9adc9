#!/usr/bin/env bash
# Webhook delivery capacity (issue 19, goal 4): TARGETS subscriptions (default 100, each its own
# URL on one local receiver) spread over INSTANCES sandbox instances (default 10). The receiver
# holds every request at first, so the first attempts in flight wait there and every other
# delivery waits in the outbox while wrk makes virtual contacts write to the instances for
# DURATION (default 4s: under the 5 s attempt timeout, so the held attempts do not fail). Then
# the receiver lets go and counts. Reports deliveries per second from the release to the last
# delivery. RECEIVER_DELAY_MS (default 0) makes the receiver take that long to answer each.
#
#   bench/webhook_drain.sh                                         # 100 targets
#   TARGETS=1 INSTANCES=1 RECEIVER_DELAY_MS=1 bench/webhook_drain.sh  # one lane, a 1 ms receiver
#   bench/webhook_drain.sh postgres://root@127.0.0.1:5432/test
set -euo pipefail
duration=${DURATION:-4s}
targets=${TARGETS:-100}
instances=${INSTANCES:-10}
SERVE_FLAGS=--webhook-allow-private
source "$(dirname "$0")/lib.sh"
start_sink "${RECEIVER_DELAY_MS:-0}" hold
ids=()
for i in $(seq 1 "$instances"); do ids+=("$(link "$(printf '55119%08d' "$i")")"); done
for t in $(seq 0 $((targets - 1))); do
  inst=${ids[$((t % instances))]}
  curl -sf "$base/v1/webhooks" "${auth[@]}" -d "{\"url\":\"http://127.0.0.1:$sink_port/t$t\",\
\"instanceId\":\"$inst\",\"events\":[\"message.received\"]}" >/dev/null
done

echo "wagate $(git rev-parse --short HEAD), store: $store, $(nproc) cores, $targets targets on $instances instances, receiver delay ${RECEIVER_DELAY_MS:-0} ms"
out=$(WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCES=$instances \
  wrk -t2 -c16 -d"$duration" -s bench/inject.lua "$base/sandbox/v1/messages")
echo "$out" | grep written
if [ "$store" = sqlite ]; then
  expected=$(sqlite3 -readonly "$dir/wagate.db" "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
else
  expected=$(psql "$1" -tAc "SELECT COUNT(*) FROM $schema.deliveries WHERE state = 'pending'")
fi
echo "deliveries waiting: $expected"
curl -sf -X POST "127.0.0.1:$sink_port/release" >/dev/null
for _ in $(seq 1 3000); do
  count=$(curl -sf "127.0.0.1:$sink_port/stats" | json "['count']")
  [ "$count" -ge "$expected" ] && break
  sleep 0.1
done
curl -sf "127.0.0.1:$sink_port/stats" | python3 -c "
import json, sys
s = json.load(sys.stdin); expected = int(sys.argv[1])
span = max(1, s['lastMs'] - s['releasedMs']) / 1000
print(f\"delivered: {s['count']} of {expected} in {span:.2f} s after the release: \"
      f\"{s['count'] / span:.0f}/s\")" "$expected"
