"""Failover of several nodes on one PostgreSQL (§19, issue 17): N sandbox instances linked over
three release nodes, then one node is killed (SIGKILL) and, after all are back, another is
stopped (SIGTERM); prints how long until every instance of the lost node is held by the others and
reads `connected`. Run by bench/failover.sh, which builds the binary and makes the schema."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN, URL, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
ADMIN = "bench-admin-token-of-32-characters"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("Authorization", "Bearer " + (token or ADMIN))
    data = None
    if body is not None:
        req.add_header("Content-Type", "application/json")
        data = json.dumps(body).encode()
    with urllib.request.urlopen(req, data, timeout=30) as r:
        return json.load(r)


def start(name):
    port = free_port()
    data = tempfile.mkdtemp(prefix="wagate-failover-")
    env = dict(os.environ, WAGATE_LOG="warn")
    proc = subprocess.Popen(
        [BIN, "serve", "--sandbox", "--listen", f"127.0.0.1:{port}", "--admin-token", ADMIN,
         "--data-dir", data, "--database-url", URL, "--node-id", name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start")


def held(base):
    return {n["nodeId"]: (n["status"], n["instances"]) for n in call(base, "GET", "/admin/v1/nodes")}


def connected(base, key, ids):
    return sum(
        call(base, "GET", f"/v1/instances/{i}/status", token=key)["data"]["status"] == "connected"
        for i in ids)


def wait_moved(base, key, ids, survivors, since):
    """Seconds from `since` until `survivors` hold all N leases, and until `ids` all read
    connected."""
    while sum(held(base)[s][1] for s in survivors) < N:
        time.sleep(0.05)
    claimed = time.monotonic() - since
    while connected(base, key, ids) < len(ids):
        time.sleep(0.05)
    return claimed, time.monotonic() - since


nodes = {name: start(name) for name in ("n1", "n2", "n3")}
base = nodes["n1"][1]
while not all(s == "up" for s, _ in held(base).values()) or len(held(base)) < 3:
    time.sleep(0.1)
key = call(base, "POST", "/admin/v1/accounts",
           {"name": "bench", "plan": "enterprise", "rateLimits": {}})["data"]["apiKey"]["key"]
by_node = {name: [] for name in nodes}
t0 = time.monotonic()
for i in range(N):
    name = ("n1", "n2", "n3")[i % 3]
    b = nodes[name][1]
    inst = call(b, "POST", "/v1/instances", {"name": f"i{i}"}, key)["data"]["id"]
    qr = call(b, "POST", f"/v1/instances/{inst}/connect", {"method": "qrcode"}, key)["qrCode"]
    call(b, "POST", "/sandbox/v1/scan", {"qrCode": qr, "phone": f"55119{i + 1:08d}"}, key)
    by_node[name].append(inst)
everyone = [i for ids in by_node.values() for i in ids]
while connected(base, key, everyone) < N:
    time.sleep(0.1)
print(f"{N} instances linked over 3 nodes in {time.monotonic() - t0:.1f} s: {held(base)}")

proc, _ = nodes.pop("n1")
killed = time.monotonic()
proc.send_signal(signal.SIGKILL)
proc.wait()
claimed, back = wait_moved(nodes["n2"][1], key, by_node["n1"], ("n2", "n3"), killed)
print(f"SIGKILL n1: its {len(by_node['n1'])} instances held by n2+n3 after {claimed:.2f} s, "
      f"all connected after {back:.2f} s: {held(nodes['n2'][1])}")

holding = held(nodes["n3"][1])["n2"][1]
proc, _ = nodes.pop("n2")
asked = time.monotonic()
proc.send_signal(signal.SIGTERM)
claimed, back = wait_moved(nodes["n3"][1], key, everyone, ("n3",), asked)
proc.wait()
print(f"SIGTERM n2: the {holding} instances it held taken by n3 after {claimed:.2f} s, "
      f"all {N} connected after {back:.2f} s: {held(nodes['n3'][1])}")
for proc, _ in nodes.values():
    proc.send_signal(signal.SIGTERM)
    proc.wait()
