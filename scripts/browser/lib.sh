# Shared by scripts/browser-*.sh (sourced): the debug binary, Debian's Chromium and the npm
# packages, and a wagate server started on a free port with a fresh data directory.

# Fails unless target/debug/wagate is built; installs chromium and the npm packages if missing.
browser_setup() {
  bin=target/debug/wagate
  if [ ! -x "$bin" ]; then
    echo "$(basename "$0"): $bin is missing; build it first (cargo test --workspace --no-run)" >&2
    exit 1
  fi
  if [ ! -x /usr/bin/chromium ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  fi
  npm ci --prefix scripts/browser --no-audit --no-fund --silent
}

# start_server [serve flags…]: sets $base, $server_log; the server is killed and its data
# directory removed when the script exits.
start_server() {
  server_dir=$(mktemp -d)
  server_log="$server_dir/server.log"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" serve --listen "127.0.0.1:$port" --data-dir "$server_dir" "$@" >"$server_log" 2>&1 &
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null; rm -rf "$server_dir"' EXIT
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    curl -sf "$base/healthz" >/dev/null && return 0
    kill -0 $server_pid 2>/dev/null || break
    sleep 0.2
  done
  echo "$(basename "$0"): the server did not come up; its log:" >&2
  cat "$server_log" >&2
  exit 1
}

# first_start_secret 'line before it': what the server printed on the line after that one at its
# first start (the default account's key, the generated admin token).
first_start_secret() {
  awk -v m="$1" 'index($0, m) { getline; print $1; exit }' "$server_log"
}
