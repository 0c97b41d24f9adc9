#!/usr/bin/env bash
# Load test of the cheapest authenticated reads on a store that has grown: a release build, one
# instance with 1,000,000 messages in its history (1,000 chats, 58 days, some of them today) and
# 100,000 instances in the same account, written straight into the SQLite file beside the running
# server (with the status counters as migration 0017 counts them), then wrk on each route.
#
#   bench/reads.sh          # SQLite in a fresh temporary data directory
#   bench/reads.sh postgres://root@127.0.0.1:5432/test   # PostgreSQL, not seeded: one empty instance
#
# Needs: wrk (apt-get install wrk), sqlite3, curl, python3. DURATION (default 10s), CONNECTIONS
# (32), MESSAGES (1000000), INSTANCES (100000).
set -euo pipefail
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
messages=${MESSAGES:-1000000}
instances=${INSTANCES:-100000}
source "$(dirname "$0")/lib.sh"
# The seeding writes the SQLite file; on PostgreSQL the routes are measured on one empty instance.
[ "$store" = sqlite ] || { messages=0; instances=1; }

inst=$(curl -sf "$base/v1/instances" "${auth[@]}" -d '{"name":"history"}' | json "['data']['id']")
acct=$(curl -sf "$base/v1/account" "${auth[@]}" | json "['data']['id']")
now=$(date +%s%3N)
started=$(date +%s)
[ "$store" = sqlite ] && sqlite3 "$dir/wagate.db" <<SQL
.timeout 30000
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
INSERT INTO chats (id, instance_id, peer, contact_name, is_group, unread_count, last_message_id,
    last_message_at, created_at)
SELECT printf('chat_bench%06d', i), '$inst', printf('55119%08d', i), NULL, 0, i % 3, NULL,
    $now - i * 600000, $now - 58 * 86400000 FROM n;
-- One message every 5 s up to now: half sent (a tenth of those failed), half received.
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $messages - 1)
INSERT INTO messages (id, account_id, instance_id, chat_id, direction, peer, type, content,
    external_id, status, created_at, sent_at, delivered_at, read_at)
SELECT printf('msg_bench%010d', i), '$acct', '$inst', printf('chat_bench%06d', i % 1000),
    CASE WHEN i % 2 = 0 THEN 'outbound' ELSE 'inbound' END, printf('55119%08d', i % 1000),
    'text', 'hello', printf('bench-%d', i),
    CASE WHEN i % 2 = 1 THEN 'delivered' WHEN i % 20 = 0 THEN 'failed' ELSE 'read' END,
    $now - ($messages - 1 - i) * 5000,
    CASE WHEN i % 2 = 0 THEN $now - ($messages - 1 - i) * 5000 END,
    CASE WHEN i % 2 = 0 AND i % 20 <> 0 THEN $now - ($messages - 1 - i) * 5000 END,
    CASE WHEN i % 2 = 0 AND i % 20 <> 0 THEN $now - ($messages - 1 - i) * 5000 END
FROM n;
-- The counters, as migration 0017 counts them from stored rows.
INSERT INTO message_days (instance_id, day, sent, received)
SELECT instance_id, day, SUM(sent), SUM(received) FROM (
    SELECT instance_id, sent_at / 86400000 AS day, 1 AS sent, 0 AS received
    FROM messages WHERE instance_id = '$inst' AND direction = 'outbound' AND sent_at IS NOT NULL
    UNION ALL
    SELECT instance_id, created_at / 86400000 AS day, 0 AS sent, 1 AS received
    FROM messages WHERE instance_id = '$inst' AND direction = 'inbound'
) counted GROUP BY instance_id, day;
INSERT INTO message_totals (instance_id, attempted, delivered, unread)
SELECT '$inst',
    (SELECT COUNT(*) FROM messages WHERE instance_id = '$inst' AND direction = 'outbound'
        AND status <> 'queued'),
    (SELECT COUNT(*) FROM messages WHERE instance_id = '$inst' AND direction = 'outbound'
        AND status IN ('delivered', 'read')),
    (SELECT SUM(unread_count) FROM chats WHERE instance_id = '$inst');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $instances - 1)
INSERT INTO instances (id, account_id, name, status, webhook_events, webhook_secret, auto_read,
    auto_typing, created_at)
SELECT printf('inst_bench%016d', i), '$acct', printf('bench-%d', i),
    CASE WHEN i % 10 = 0 THEN 'connected' ELSE 'disconnected' END, '[]', 'secret', 0, 0, $now
FROM n;
-- The account's stored instance count, as migration 0020 counts it.
UPDATE accounts SET instance_count = (
    SELECT COUNT(*) FROM instances WHERE instances.account_id = accounts.id
);
COMMIT;
SQL
echo "seeded $messages messages and $instances instances in $(( $(date +%s) - started )) s"
curl -sf "$base/v1/instances/$inst/status" "${auth[@]}" | json "['data']['stats']" | sed 's/^/stats: /'

# `GET /v1/account` reads the caller's instance count: measured for an account with none too.
small=$(curl -sf "$base/admin/v1/accounts" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"small","plan":"enterprise","rateLimits":{}}' | json "['data']['apiKey']['key']")

echo "wagate ${WAGATE_BIN:-$(git rev-parse --short HEAD)}, store: $store, $(nproc) cores, wrk -t1 -c$connections -d$duration"
echo "| route | account's instances | req/s | p50 | p99 |"
echo "|---|---|---|---|---|"
measure() { # PATH KEY INSTANCES
  wrk -t1 -c"$connections" -d"$duration" --latency -H "Authorization: Bearer $2" "$base$1" \
    | awk -v p="${1/$inst/\{id\}}" -v n="$3" '
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        /Non-2xx/ { bad = " (" $0 ")" }
        END { printf "| `GET %s` | %s | %s%s | %s | %s |\n", p, n, rps, bad, p50, p99 }'
}
measure "/v1/instances/$inst/status" "$key" "$instances"
measure /v1/account "$small" 0
measure /v1/account "$key" "$instances"
measure "/v1/instances?limit=100" "$key" "$instances"
measure "/v1/instances?limit=100&status=connected" "$key" "$instances"
