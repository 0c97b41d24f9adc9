#!/usr/bin/env bash
# Many instances on one node (issue 19, goal 5): N sandbox instances (default 10000) linked on
# one release node on SQLite; its RSS, the cheapest reads, and a restart timed until all read
# connected again. usage: [N=10000] bench/instances.sh   (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${WAGATE_BIN:-${CARGO_TARGET_DIR:-target}/release/wagate}
[ -n "${WAGATE_BIN:-}" ] || cargo build -q --release -p wagate
python3 bench/instances.py "$bin" "${N:-10000}"
