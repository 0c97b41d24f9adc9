"""Many instances on one node (issue 19, goal 5): N sandbox instances (default 10,000) linked on
one release node on SQLite, then the node's RSS, the cheapest reads with all of them connected,
and a restart (SIGTERM, then the same data directory) timed until every instance reads
connected again. Prints a Markdown table. Run by bench/instances.sh.

usage: python3 instances.py BIN N
"""

import concurrent.futures
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN, N = sys.argv[1], int(sys.argv[2])
ADMIN = "bench-admin-token-of-32-characters"
DATA = tempfile.mkdtemp(prefix="wagate-instances-")
PORT = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, path, body=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method)
    req.add_header("Authorization", "Bearer " + (token or ADMIN))
    data = None
    if body is not None:
        req.add_header("Content-Type", "application/json")
        data = json.dumps(body).encode()
    with urllib.request.urlopen(req, data, timeout=60) as r:
        return json.load(r)


def start():
    global PORT
    PORT = PORT or free_port()
    env = dict(os.environ, WAGATE_LOG=os.environ.get("WAGATE_LOG", "warn"))
    log = open(os.environ["BENCH_LOG"], "a") if "BENCH_LOG" in os.environ else subprocess.DEVNULL
    proc = subprocess.Popen(
        [BIN, "serve", "--sandbox", "--listen", f"127.0.0.1:{PORT}", "--admin-token", ADMIN,
         "--data-dir", DATA], stdout=subprocess.DEVNULL, stderr=log, env=env)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def connected(key):
    page = call("GET", "/v1/instances?limit=1&status=connected", token=key)
    return page["pagination"]["total"]


def link(key, i):
    phone = f"5511{i:09d}"
    inst = call("POST", "/v1/instances",
                {"name": phone, "settings": {"autoTyping": False}}, token=key)["data"]["id"]
    qr = call("POST", f"/v1/instances/{inst}/connect", {"method": "qrcode"}, token=key)["qrCode"]
    call("POST", "/sandbox/v1/scan", {"qrCode": qr, "phone": phone}, token=key)
    return inst


def wrk(path, key):
    out = subprocess.run(
        ["wrk", "-t1", "-c32", "-d10s", "--latency", "-H", f"Authorization: Bearer {key}",
         f"http://127.0.0.1:{PORT}{path}"], capture_output=True, text=True).stdout
    rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec"))
    p99 = next(l.split()[1] for l in out.splitlines() if l.strip().startswith("99%"))
    return rps, p99


proc = start()
key = call("POST", "/admin/v1/accounts",
           {"name": "bench", "plan": "enterprise", "rateLimits": {}})["data"]["apiKey"]["key"]
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    ids = list(pool.map(lambda i: link(key, i), range(N)))
while connected(key) < N:
    time.sleep(0.2)
linked_s = time.monotonic() - t0
time.sleep(5)  # settle: the statuses written, the leases renewed a few times
rss_linked = rss_mb(proc.pid)
status_rps, status_p99 = wrk(f"/v1/instances/{ids[N // 2]}/status", key)
list_rps, list_p99 = wrk("/v1/instances?limit=100", key)
rss_after_reads = rss_mb(proc.pid)

proc.send_signal(signal.SIGTERM)
t_stop = time.monotonic()
proc.wait(timeout=60)
stop_s = time.monotonic() - t_stop
t_start = time.monotonic()
restart_ms = int(time.time() * 1000)
proc = start()
up_s = time.monotonic() - t_start


def reconnected():
    """Instances whose connection was made again since the restart (the stored status reads
    `connected` throughout: it is what the node resumes), read beside the running server."""
    db = sqlite3.connect(f"file:{DATA}/wagate.db?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM instances WHERE connected_at >= ?",
                          (restart_ms,)).fetchone()[0]
    finally:
        db.close()


while reconnected() < N:
    time.sleep(0.1)
back_s = time.monotonic() - t_start
time.sleep(5)
rss_restarted = rss_mb(proc.pid)
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=60)
shutil.rmtree(DATA, ignore_errors=True)

print(f"| measure | {N:,} sandbox instances |")
print("|---|---|")
print(f"| linked (create, connect, scan; 16 clients) | {linked_s:.1f} s |")
print(f"| RSS, all connected | {rss_linked:.0f} MB |")
print(f"| `GET /v1/instances/{{id}}/status` (wrk -t1 -c32 -d10s) | {status_rps} req/s, p99 {status_p99} |")
print(f"| `GET /v1/instances?limit=100` | {list_rps} req/s, p99 {list_p99} |")
print(f"| RSS after the reads | {rss_after_reads:.0f} MB |")
print(f"| SIGTERM to exit | {stop_s:.1f} s |")
print(f"| restart: start to /healthz | {up_s:.1f} s |")
print(f"| restart: start to all {N:,} connected | {back_s:.1f} s |")
print(f"| RSS after the restart, all connected | {rss_restarted:.0f} MB |")
