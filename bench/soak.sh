#!/usr/bin/env bash
# Retention soak (issue 19, goal 7): a sandbox server on SQLite with a short retention period
# (RETENTION_DAYS, default 0.004 = 5.8 min) takes, for SOAK (default 30m):
#   - about 300 sends a second (POST /v1/messages/send, each with an Idempotency-Key) from one
#     instance to a virtual contact, whose `sent`/`delivered`/`read` receipts follow;
#   - about 100 inbound messages a second (POST /sandbox/v1/messages) to 8 other instances;
#   - a webhook for every event of all 9 instances, to a local receiver that answers 200 at once.
# Every SAMPLE seconds (default 60) it prints the server's RSS, the database's size on disk
# (main file + WAL) and the rows of the tables retention prunes and of those it keeps.
#
#   bench/soak.sh                       # 30 minutes
#   SOAK=5m RETENTION_DAYS=0.001 bench/soak.sh
set -euo pipefail
soak=${SOAK:-30m}
sample=${SAMPLE:-60}
SERVE_FLAGS="--webhook-allow-private --retention-days ${RETENTION_DAYS:-0.004}"
source "$(dirname "$0")/lib.sh"
[ "$store" = sqlite ] || { echo "bench/soak.sh measures a SQLite data directory" >&2; exit 2; }
start_sink
hook="\"webhookUrl\":\"http://127.0.0.1:$sink_port/hook\""
sender=$(link 5511900000000 "$hook")
for i in $(seq 1 8); do link "$(printf '55119%08d' "$i")" "$hook" >/dev/null; done

echo "wagate $(git rev-parse --short HEAD), $(nproc) cores, soak $soak, retention ${RETENTION_DAYS:-0.004} days"
WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCE=$sender WAGATE_BENCH_DELAY_MS=9 \
  wrk -t1 -c6 -d"$soak" -s bench/soak_send.lua "$base/v1/messages/send" >"$dir/sends.out" &
sends=$!
WAGATE_BENCH_KEY=$key WAGATE_BENCH_INSTANCES=8 WAGATE_BENCH_DELAY_MS=9 \
  wrk -t1 -c2 -d"$soak" -s bench/inject.lua "$base/sandbox/v1/messages" >"$dir/inbound.out" &
inbound=$!
extra_pids+=("$sends" "$inbound")

start=$(date +%s)
printf '%6s %8s %9s %9s %11s %13s %11s %9s %10s\n' min rss_mb db_mb events deliveries delivery_logs idempotency messages webhooks
while kill -0 "$sends" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  db=$(du -cb "$dir"/wagate.db* | awk 'END {printf "%.1f", $1/1048576}')
  rows=$(sqlite3 -readonly "$dir/wagate.db" "SELECT (SELECT COUNT(*) FROM events), \
    (SELECT COUNT(*) FROM deliveries), (SELECT COUNT(*) FROM delivery_logs), \
    (SELECT COUNT(*) FROM idempotency_keys), (SELECT COUNT(*) FROM messages)" 2>/dev/null | tr '|' ' ' || echo '- - - - -')
  hooks=$(curl -sf "127.0.0.1:$sink_port/stats" | json "['count']")
  # shellcheck disable=SC2086
  printf '%6.1f %8s %9s %9s %11s %13s %11s %9s %10s\n' "$(echo "($(date +%s) - $start) / 60" | bc -l)" \
    "$rss" "$db" $rows "$hooks"
  sleep "$sample"
done
wait "$sends" "$inbound" || true
cat "$dir/sends.out" | grep sends; grep written "$dir/inbound.out"
