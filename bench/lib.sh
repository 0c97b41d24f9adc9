# Shared set-up of the benchmarks: a release build serving the sandbox on a free port, on SQLite in
# a fresh temporary directory or, when $1 is a postgres:// URL, in a fresh schema of that database.
# Sets: base, key, auth (curl arguments). Extra `serve` flags: SERVE_FLAGS. Cleans up on exit.
# WAGATE_BIN runs another build (e.g. an older commit's, for a before/after comparison).
cd "$(dirname "$0")/.."
bin=${WAGATE_BIN:-${CARGO_TARGET_DIR:-target}/release/wagate}
[ -n "${WAGATE_BIN:-}" ] || cargo build -q --release -p wagate
dir=$(mktemp -d)
admin=bench-admin-token-of-32-characters
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
db_args=(--data-dir "$dir")
schema=""
if [ -n "${1:-}" ]; then
  schema="wagate_bench_$$"
  psql "$1" -qc "CREATE SCHEMA $schema"
  db_args+=(--database-url "$1?options=-c%20search_path%3D$schema")
fi
# shellcheck disable=SC2086
WAGATE_LOG=warn "$bin" serve --sandbox --listen "127.0.0.1:$port" --admin-token "$admin" \
  "${db_args[@]}" ${SERVE_FLAGS:-} >/dev/null 2>&1 &
pid=$!
extra_pids=()
cleanup() {
  kill "$pid" "${extra_pids[@]}" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$schema" ] && psql "$1" -qc "DROP SCHEMA $schema CASCADE" 2>/dev/null || true
  rm -rf "$dir"
}
trap 'cleanup "${1:-}"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
# Unlimited ("rateLimits": {} with no group set): the benchmark measures the server, not the plan.
key=$(curl -sf "$base/admin/v1/accounts" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"bench","plan":"enterprise","rateLimits":{}}' | json "['data']['apiKey']['key']")
auth=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
store=sqlite; [ -n "${1:-}" ] && store=postgres

# link PHONE [INSTANCE-JSON-FIELDS]: creates an instance, links it on the sandbox, prints its id.
link() {
  local inst qr
  inst=$(curl -sf "$base/v1/instances" "${auth[@]}" \
    -d "{\"name\":\"$1\",\"settings\":{\"autoTyping\":false}${2:+,$2}}" | json "['data']['id']")
  qr=$(curl -sf "$base/v1/instances/$inst/connect" "${auth[@]}" -d '{"method":"qrcode"}' | json "['qrCode']")
  curl -sf "$base/sandbox/v1/scan" "${auth[@]}" -d "{\"qrCode\":\"$qr\",\"phone\":\"$1\"}" >/dev/null
  echo "$inst"
}

# start_sink [DELAY_MS [hold]]: starts the webhook receiver (`examples/webhook_sink.rs`) on a free
# port; sets sink_port. It answers 200 after DELAY_MS; with `hold`, only after `POST /release`.
start_sink() {
  cargo build -q --release -p wagate --example webhook_sink
  sink_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${CARGO_TARGET_DIR:-target}/release/examples/webhook_sink" "127.0.0.1:$sink_port" "$@" &
  extra_pids+=($!)
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$sink_port/stats" >/dev/null && break; sleep 0.05; done
}
