"""Idle and slow-header connections against a running wagate (issue 13, item 1).

Opens IDLE connections that never send a byte and SLOW ones that send a request head a line at
a time (one header every 2 s, never finishing), while another process probes /healthz every
100 ms on fresh connections, and reads the server's RSS from /proc. Prints one JSON object: the peak RSS, the
health probes' latencies, and when the server closed the connections.

usage: python3 connections.py HOST PORT PID [IDLE] [SLOW] [HOLD_SECONDS]
"""

import asyncio
import json
import sys
import time

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
IDLE = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000
SLOW = int(sys.argv[5]) if len(sys.argv) > 5 else 2_000
HOLD = float(sys.argv[6]) if len(sys.argv) > 6 else 40.0

closed_after = []  # seconds from open to the server's close, per connection
refused = 0


def rss_mb():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def wait_closed(reader, opened):
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass
    closed_after.append(time.monotonic() - opened)


async def connect():
    """A connection and when it opened, or None when the OS refused it (counted)."""
    global refused
    try:
        reader, writer = await asyncio.open_connection(HOST, PORT)
    except OSError:
        refused += 1
        return None
    return reader, writer, time.monotonic()


async def idle():
    conn = await connect()
    if conn is None:
        return
    reader, writer, opened = conn
    await asyncio.wait_for(wait_closed(reader, opened), HOLD + 60)
    writer.close()


async def slow():
    conn = await connect()
    if conn is None:
        return
    reader, writer, opened = conn
    watcher = asyncio.create_task(wait_closed(reader, opened))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
        for i in range(int(HOLD)):
            if watcher.done():
                break
            await asyncio.sleep(2)
            writer.write(f"X-Slow-{i}: y\r\n".encode())
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    await asyncio.wait_for(watcher, HOLD + 60)
    writer.close()


def probe_health(host, port, out, stop):
    """/healthz every 100 ms on a fresh blocking connection, in a process of its own, so that
    the latency is the server's and not this load's event loop."""
    import socket

    while not stop.is_set():
        t = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                ok = sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            ok = False
        out.put((time.monotonic() - t) * 1000 if ok else None)
        time.sleep(0.1)


async def main():
    import multiprocessing

    results, stop = multiprocessing.Queue(), multiprocessing.Event()
    base_rss = rss_mb()
    probe = multiprocessing.Process(target=probe_health, args=(HOST, PORT, results, stop))
    probe.start()
    peak = base_rss
    tasks = []
    # Opened in bursts, so the accept queue is not what is measured.
    for n in range(IDLE + SLOW):
        tasks.append(asyncio.create_task(idle() if n < IDLE else slow()))
        if n % 500 == 499:
            await asyncio.sleep(0.05)
            peak = max(peak, rss_mb())
    opened_all = time.monotonic()
    while not all(t.done() for t in tasks):
        peak = max(peak, rss_mb())
        await asyncio.sleep(0.5)
        if time.monotonic() - opened_all > HOLD + 90:
            break
    stop.set()
    latencies = []
    while probe.is_alive() or not results.empty():
        try:
            latencies.append(results.get(timeout=0.5))
        except Exception:
            if not probe.is_alive():
                break
    probe.join()
    ok = sorted(x for x in latencies if x is not None)
    print(json.dumps({
        "idle": IDLE,
        "slow": SLOW,
        "refused_by_os": refused,
        "rss_mb": {"before": round(base_rss, 1), "peak": round(peak, 1), "after": round(rss_mb(), 1)},
        "healthz_ms": {
            "probes": len(latencies),
            "failed": len(latencies) - len(ok),
            "p50": round(ok[len(ok) // 2], 2) if ok else None,
            "p99": round(ok[int(len(ok) * 0.99)], 2) if ok else None,
            "max": round(ok[-1], 2) if ok else None,
        },
        "closed_by_server": len(closed_after),
        "closed_after_s": {
            "min": round(min(closed_after), 2) if closed_after else None,
            "max": round(max(closed_after), 2) if closed_after else None,
        },
    }))


asyncio.run(main())
