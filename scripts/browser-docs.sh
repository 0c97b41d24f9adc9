#!/usr/bin/env bash
# Opens /docs of the debug binary in Debian's Chromium (playwright-core from npm) with every
# request that leaves the server refused: the API reference must render offline
# (scripts/browser/docs_offline.js). Installs chromium (apt) and playwright-core (npm) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/wagate
[ -x "$bin" ] || cargo build -q -p wagate
if [ ! -x /usr/bin/chromium ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
npm ci --prefix scripts/browser --no-audit --no-fund --silent
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
node scripts/browser/docs_offline.js "http://127.0.0.1:$port"
