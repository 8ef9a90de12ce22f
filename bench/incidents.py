"""Incident write benchmark: durable ``POST /incidents`` throughput and latency with concurrent clients.

``python -m bench.incidents [--seconds 10] [--clients 32] [--workers 2]`` starts a throwaway PostGIS cluster
(fsync and synchronous_commit on, as in production), a small two-commune province with users, and the real
server (uvicorn, N workers); then clients post unique incidents for a fixed time, each acknowledged only after
commit. It also measures the offline-sync batch endpoint. It prints figures and the ratio to the target
(>= 500 durable writes/s); it asserts nothing. Loopback only; bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from data.db.cluster import Cluster
from data.db.migrate import migrate
from data.settings import get_settings
from tests.opsworld import IN_A, World, build_world, incident_body

TARGET_WRITES_S = 500.0


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


@contextlib.contextmanager
def bench_world(workers: int, env: dict[str, str] | None = None) -> Iterator[tuple[str, World]]:
    """A throwaway cluster, a migrated database with the small world, and a running server."""
    root = Path(tempfile.mkdtemp(prefix="sitmap-bench-", dir="/var/tmp"))
    cluster = Cluster.from_settings(get_settings(), root=root)
    cluster.start()
    proc = None
    try:
        url = cluster.url("bench")
        migrate(url)
        world = build_world(url)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port",
             str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
            env={**os.environ, "DATABASE_URL": url, "SITMAP_POOL_MAX": "24", **(env or {})})
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # readiness poll of a benchmark, not a test
        yield base, world
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        cluster.destroy()


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> int:
    """One keep-alive HTTP/1.1 POST; returns the status. A bare client: httpx spent about 3 ms of CPU per
    request, which on a 2-core machine took a quarter of the CPU away from the server being measured."""
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    status_line = await reader.readuntil(b"\r\n")
    length = 0
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def post_for(base: str, world: World, seconds: float, clients: int, max_requests: int) -> tuple[list[float],
                                                                                                       float, int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    host, port = base.removeprefix("http://").split(":")
    auth = world.headers("officer_a")["Authorization"]
    head = (f"POST /incidents HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < stop and len(latencies) < max_requests:
                body = json.dumps(incident_body(IN_A)).encode()
                t0 = time.perf_counter()
                if await _post(reader, writer, head, body) == 201:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
        finally:
            writer.close()

    t_start = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    elapsed = time.perf_counter() - t_start
    return latencies, elapsed, errors


async def batch_for(base: str, world: World, batches: int, size: int) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=world.headers("officer_a")) as http:
        t0 = time.perf_counter()
        stored = 0
        for _ in range(batches):
            r = await http.post("/incidents/batch", json={"items": [incident_body(IN_A) for _ in range(size)]})
            stored += sum(1 for x in r.json()["results"] if x["status"] == 201)
        return time.perf_counter() - t0, stored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-requests", type=int, default=50_000)
    args = ap.parse_args()
    with bench_world(args.workers) as (base, world):
        asyncio.run(post_for(base, world, 1.0, 4, 200))  # warm the pools and the hub-less path
        lat, elapsed, errors = asyncio.run(post_for(base, world, args.seconds, args.clients, args.max_requests))
        rate = len(lat) / elapsed
        b_elapsed, b_stored = asyncio.run(batch_for(base, world, 10, 500))
    ms = [x * 1000 for x in lat]
    print(f"POST /incidents, {args.clients} concurrent clients, {args.workers} workers, {elapsed:.1f} s:")
    print(f"  durable writes: {len(lat)} ({errors} errors) = {rate:.0f}/s; target >= {TARGET_WRITES_S:.0f}/s "
          f"-> ratio {rate / TARGET_WRITES_S:.2f}")
    print(f"  latency ms: p50 {statistics.median(ms):.1f}  p95 {percentile(ms, 95):.1f}  p99 {percentile(ms, 99):.1f}"
          f"  max {max(ms):.1f}")
    print(f"POST /incidents/batch, 10 x 500 items: {b_stored} stored in {b_elapsed:.2f} s = "
          f"{b_stored / b_elapsed:.0f} incidents/s (ratio {b_stored / b_elapsed / TARGET_WRITES_S:.1f} to the target)")


if __name__ == "__main__":
    main()
