#!/usr/bin/env bash
# Runs schemathesis (PyPI) against /openapi.json of the debug binary serving the sandbox, with one
# instance linked and connected: every keyed route with the API key, every admin route with the
# admin token, all checks (state-dependent 400s are listed in scripts/schemathesis.toml).
# Strings never hold NUL (`--generation-allow-x00 false`): the API refuses it with a 400, as
# documented. MAX_EXAMPLES (default 20) sets the depth, SEED (default 1) the generated data (CI
# keeps both fixed, so a run is repeatable). The server is set up by bench/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/debug/wagate ] || cargo build -q -p wagate
python3 -m pip install -q --disable-pip-version-check schemathesis >/dev/null 2>&1 \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages schemathesis
# Private targets are allowed, so that any well-formed URL is one the server takes (the address
# policy has tests of its own).
WAGATE_BIN=target/debug/wagate SERVE_FLAGS=--webhook-allow-private source bench/lib.sh
inst=$(link 5511900000001)
status=$(curl -sf "$base/v1/instances/$inst/status" "${auth[@]}" | json "['data']['status']")
[ "$status" = connected ] || { echo "the instance did not connect: $status" >&2; exit 1; }
run() {
  st --config-file scripts/schemathesis.toml run "$base/openapi.json" --checks all \
    --generation-allow-x00 false --max-examples "${MAX_EXAMPLES:-20}" --phases examples,fuzzing \
    --seed "${SEED:-1}" -w 1 --no-color "$@"
}
failed=0
echo "== keyed routes, with the API key"
# The event streams never end by themselves (tests/event_streams.rs covers them).
run -H "Authorization: Bearer $key" --exclude-path-regex '^/admin/|^/v1/events/' || failed=1
echo "== admin routes, with the admin token"
run -H "Authorization: Bearer $admin" --include-path-regex '^/admin/' || failed=1
exit $failed
