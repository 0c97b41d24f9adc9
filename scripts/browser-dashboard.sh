#!/usr/bin/env bash
# Drives the dashboard at / of the debug binary (started with --sandbox) in Debian's Chromium
# (playwright-core from npm), signed in with the key the server prints at first start: create,
# connect (QR scanned through /sandbox/v1/scan), send until read, receive, all live; a webhook
# subscription to a local receiver with its delivery log and a retry; an API key made and
# revoked; the operator's accounts and keys, signed in with the printed admin token. No request
# leaves the server; 390 px wide without sideways scrolling; axe-core finds nothing serious
# (scripts/browser/dashboard.js). Installs chromium (apt) and the npm packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/browser/lib.sh
browser_setup
# The test's webhook receiver listens on loopback over plain HTTP.
start_server --sandbox --webhook-allow-private
key=$(first_start_secret 'Its API key, shown only this once:')
admin=$(first_start_secret 'Generated the admin token for /admin/v1, shown only this once:')
if [[ "$key" != wgk_* || -z "$admin" ]]; then
  echo "browser-dashboard: no API key or admin token in the server's output:" >&2
  cat "$server_log" >&2
  exit 1
fi
if ! node scripts/browser/dashboard.js "$base" "$key" "$admin"; then
  echo "browser-dashboard: the end of the server's log:" >&2
  tail -n 30 "$server_log" >&2
  exit 1
fi
