#!/usr/bin/env bash
# Drives the dashboard at / of the debug binary (started with --sandbox) in Debian's Chromium
# (playwright-core from npm), signed in with the key the server prints at first start: create,
# connect (QR scanned through /sandbox/v1/scan), send until read, receive, all live; no request
# leaves the server; 390 px wide without sideways scrolling; axe-core finds nothing serious
# (scripts/browser/dashboard.js). Installs chromium (apt) and the npm packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/wagate
if [ ! -x "$bin" ]; then
  echo "browser-dashboard: $bin is missing; build it first (cargo test --workspace --no-run)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
npm ci --prefix scripts/browser --no-audit --no-fund --silent
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --sandbox --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
up=
for _ in $(seq 1 150); do
  if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then up=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "browser-dashboard: the server did not come up; its log:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi
# The first start prints the default account's key on the line after this one.
key=$(awk '/Its API key, shown only this once:/ { getline; print $1; exit }' "$dir/server.log")
if [[ "$key" != wgk_* ]]; then
  echo "browser-dashboard: no API key in the server's output:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi
if ! node scripts/browser/dashboard.js "http://127.0.0.1:$port" "$key"; then
  echo "browser-dashboard: the end of the server's log:" >&2
  tail -n 30 "$dir/server.log" >&2
  exit 1
fi
