#!/usr/bin/env bash
# Failover of several nodes (issue 17): N sandbox instances (default 300) over three release
# nodes on one PostgreSQL; SIGKILL one, then SIGTERM another, and time until every instance of
# each is held by the others and reads connected. usage: [N=300] bench/failover.sh postgres://…
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: bench/failover.sh postgres://…}
bin=${WAGATE_BIN:-${CARGO_TARGET_DIR:-target}/release/wagate}
[ -n "${WAGATE_BIN:-}" ] || cargo build -q --release -p wagate
schema="wagate_failover_$$"
dir=$(mktemp -d)
psql "$url" -qc "CREATE SCHEMA $schema"
trap 'psql "$url" -qc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
sep='?'; [[ $url == *\?* ]] && sep='&'
TMPDIR=$dir python3 bench/failover.py "$bin" "$url${sep}options=-c%20search_path%3D$schema" "${N:-300}"
