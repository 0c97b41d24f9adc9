#!/usr/bin/env bash
# Opens /docs of the debug binary in Debian's Chromium (playwright-core from npm) with every
# request that leaves the server refused: the API reference must render offline
# (scripts/browser/docs_offline.js). Installs chromium (apt) and playwright-core (npm) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/browser/lib.sh
browser_setup
start_server
node scripts/browser/docs_offline.js "$base"
