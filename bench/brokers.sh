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

nats-server -a 127.0.0.1 -p "$nats_port" -m "$monitor_port" -js -sd "$nats_dir" >/dev/null 2>&1 &
extra_pids+=($!)
python3 - "$monitor_port" "$base" <<'PY'
import json, sys, time, urllib.request
port, base = sys.argv[1], sys.argv[2]
def get(url):
    with urllib.request.urlopen(url, timeout=1) as r:
        return r.read().decode()
def stored():
    try:
        return json.loads(get(f"http://127.0.0.1:{port}/jsz?streams=true")).get("messages", 0)
    except OSError:
        return 0
def backlog():
    for line in get(f"{base}/metrics").splitlines():
        if line.startswith('wagate_broker_backlog{target="nats"} '):
            return int(line.split()[-1])
    return None
first = last = None
deadline = time.time() + 300
while time.time() < deadline:
    n, now = stored(), time.time()
    if n and first is None:
        first = (now, n)
    if last is None or n > last[1]:
        last = (now, n)
    # Done: nothing new for 2 s and wagate counts no backlog.
    if first and now - last[0] > 2 and backlog() == 0:
        (t0, n0), (t1, n1) = first, last
        print(f"published: {n1} events to JetStream, {(n1 - n0) / max(t1 - t0, 1e-3):.0f}/s over {t1 - t0:.2f} s (from the first stored to the last)")
        break
    time.sleep(0.02)
else:
    print(f"published: only {stored()} within 300 s")
    sys.exit(1)
PY
