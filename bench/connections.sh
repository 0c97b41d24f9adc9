#!/usr/bin/env bash
# Idle and slow-header connections (issue 13, item 1): 10,000 connections that never send, and
# 2,000 that send a request head a line every 2 s, against a release build; prints the server's
# peak RSS, /healthz latency throughout, and when the server closed each connection (its header
# timeout is 20 s). usage: [IDLE=10000] [SLOW=2000] [HOLD=40] bench/connections.sh [postgres://…]
set -euo pipefail
ulimit -n "$(ulimit -Hn)"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
echo "wagate $("$bin" --version 2>/dev/null || echo "$bin"), pid $pid, descriptors $(ulimit -n)" >&2
python3 bench/connections.py 127.0.0.1 "$port" "$pid" "${IDLE:-10000}" "${SLOW:-2000}" "${HOLD:-40}"
