#!/usr/bin/env bash
# Runs schemathesis (PyPI) against /openapi.json of the debug binary serving the sandbox, with one
# instance linked and connected: every keyed route with the API key, every admin route with the
# admin token, all checks (state-dependent 400s are listed in scripts/schemathesis.toml).
# Strings never hold NUL (`--generation-allow-x00 false`): the API
# refuses it with a 400, as documented. MAX_EXAMPLES (default 20) sets the depth, SEED (default 1)
# the generated data (CI keeps both fixed, so a run is repeatable).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/wagate
[ -x "$bin" ] || cargo build -q -p wagate
python3 -m pip install -q --disable-pip-version-check schemathesis >/dev/null 2>&1 \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages schemathesis
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=schemathesis-admin-token-32-characters
base="http://127.0.0.1:$port"
# Private targets are allowed, so that any well-formed URL is one the server takes (the address
# policy has tests of its own).
WAGATE_LOG=warn "$bin" serve --sandbox --listen "127.0.0.1:$port" --data-dir "$dir" \
  --admin-token "$admin" --webhook-allow-private >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
key=$(curl -sf "$base/admin/v1/accounts" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"schemathesis","plan":"enterprise","rateLimits":{}}' | json "['data']['apiKey']['key']")
auth=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
inst=$(curl -sf "$base/v1/instances" "${auth[@]}" -d '{"name":"connected"}' | json "['data']['id']")
qr=$(curl -sf "$base/v1/instances/$inst/connect" "${auth[@]}" -d '{"method":"qrcode"}' | json "['qrCode']")
curl -sf "$base/sandbox/v1/scan" "${auth[@]}" -d "{\"qrCode\":\"$qr\",\"phone\":\"5511900000001\"}" >/dev/null
status=$(curl -sf "$base/v1/instances/$inst/status" "${auth[@]}" | json "['data']['status']")
[ "$status" = connected ] || { echo "the instance did not connect: $status" >&2; exit 1; }
run() {
  st --config-file scripts/schemathesis.toml run "$base/openapi.json" --checks all --generation-allow-x00 false \
    --max-examples "${MAX_EXAMPLES:-20}" --phases examples,fuzzing --seed "${SEED:-1}" -w 1 --no-color "$@"
}
status=0
echo "== keyed routes, with the API key"
run -H "Authorization: Bearer $key" --exclude-path-regex '^/admin/' || status=1
echo "== admin routes, with the admin token"
run -H "Authorization: Bearer $admin" --include-path-regex '^/admin/' || status=1
exit $status
