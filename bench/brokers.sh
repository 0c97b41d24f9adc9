#!/usr/bin/env bash
# Publishing to NATS JetStream (§21) from one node: wrk makes virtual contacts write to INSTANCES
# sandbox instances (default 8) for DURATION (default 10s) while the NATS server is down, so the
# events wait in the outbox; then nats-server (with JetStream, a store of its own, on a free
# port) starts and the publisher drains the backlog. Reports events published per second, from
# the first message the stream stored to the last (the reconnect wait is left out), read off
# the server's monitoring endpoint (/jsz).
#
#   bench/brokers.sh                     # SQLite
#   bench/brokers.sh postgres://root@127.0.0.1:5432/test
set -euo pipefail
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
instances=${INSTANCES:-8}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(free_port)
monitor_port=$(free_port)
nats_dir=$(mktemp -d)
SERVE_FLAGS="--nats-url nats://127.0.0.1:$nats_port --nats-stream BENCH"
source "$(dirname "$0")/lib.sh"
trap 'cleanup "${1:-}"; rm -rf "$nats_dir"' EXIT
for i in $(seq 1 "$instances"); do link "$(printf '55119%08d' "$i")" >/dev/null; done

echo "wagate $(git rev-parse --short HEAD), store: $store, $(nproc) cores, $instances instances, wrk -t2 -c$connections -d$duration, NATS down meanwhile"
out=$(WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCES=$instances \
  wrk -t2 -c"$connections" -d"$duration" -s bench/inject.lua "$base/sandbox/v1/messages")
echo "$out" | grep written
written=$(echo "$out" | sed -n 's/^written: \([0-9]*\) events.*/\1/p')
# The links' own events (QR codes, connected) are published too.
backlog=$(curl -sf "$base/metrics" | sed -n 's/^wagate_broker_backlog{target="nats"} //p')
echo "backlog before NATS starts: $backlog events"

nats-server -a 127.0.0.1 -p "$nats_port" -m "$monitor_port" -js -sd "$nats_dir" >/dev/null 2>&1 &
extra_pids+=($!)
python3 - "$monitor_port" "$backlog" <<'PY'
import json, sys, time, urllib.request
port, want = sys.argv[1], int(sys.argv[2])
def stored():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz?streams=true", timeout=1) as r:
            return json.load(r).get("messages", 0)
    except OSError:
        return 0
first = None
deadline = time.time() + 300
while time.time() < deadline:
    n = stored()
    now = time.time()
    if n and first is None:
        first = (now, n)
    if n >= want:
        t0, n0 = first
        span = now - t0
        print(f"published: {n} events to JetStream, {(n - n0) / span:.0f}/s over {span:.2f} s (from the first stored)")
        break
    time.sleep(0.05)
else:
    print(f"published: only {stored()} of {want} within 300 s")
    sys.exit(1)
PY
