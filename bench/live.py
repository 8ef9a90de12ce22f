"""Live latency benchmark: from the start of ``POST /incidents`` to receipt by each of 200 SSE subscribers.

``python -m bench.live [--subscribers 200] [--posts 40] [--workers 2]`` starts a throwaway cluster and the
real server (N workers: subscribers spread across them, so fan-out crosses processes through LISTEN/NOTIFY),
opens the streams, posts incidents one at a time with a pause, and records when every subscriber receives
each one. Prints p50/p95/p99/max and the ratio to the target (p99 < 250 ms); asserts nothing. The
subscribers run in this one client process, so their own parsing delay is included (a pessimistic figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx

from bench.incidents import bench_world, percentile
from tests.opsworld import IN_A, World, incident_body

TARGET_P99_MS = 250.0


async def run(base: str, world: World, subscribers: int, posts: int, gap_s: float) -> tuple[list[float], int]:
    sent: dict[str, float] = {}
    received: list[tuple[str, float]] = []
    connected = 0
    all_connected = asyncio.Event()
    limits = httpx.Limits(max_connections=subscribers + 4)

    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60), limits=limits,
                                 headers=world.headers("commander")) as http:
        async def subscriber() -> None:
            nonlocal connected
            async with http.stream("GET", "/live", params={"layers": "incidents"}) as resp:
                connected += 1
                if connected == subscribers:
                    all_connected.set()
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        data = json.loads(line[5:])
                        if data["kind"] == "incident_created":
                            received.append((data["feature"]["id"], time.perf_counter()))

        tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
        await asyncio.wait_for(all_connected.wait(), timeout=60)
        for _ in range(posts):
            body = incident_body(IN_A)
            sent[body["id"]] = time.perf_counter()
            r = await http.post("/incidents", json=body, headers=world.headers("officer_a"))
            assert r.status_code == 201, r.text
            await asyncio.sleep(gap_s)
        deadline = time.perf_counter() + 10
        while len(received) < subscribers * posts and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(at - sent[i]) * 1000 for i, at in received if i in sent]
    return latencies, subscribers * posts - len(latencies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--posts", type=int, default=40)
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between posts")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with bench_world(args.workers) as (base, world):
        lat, missing = asyncio.run(run(base, world, args.subscribers, args.posts, args.gap))
    p99 = percentile(lat, 99)
    print(f"live: {args.subscribers} subscribers x {args.posts} posts, {args.workers} workers: {len(lat)} receipts, "
          f"{missing} missing")
    print(f"  POST -> receipt ms: p50 {statistics.median(lat):.1f}  p95 {percentile(lat, 95):.1f}  p99 {p99:.1f}  "
          f"max {max(lat):.1f}")
    print(f"  target p99 < {TARGET_P99_MS:.0f} ms -> ratio {p99 / TARGET_P99_MS:.2f} (below 1 meets it)")


if __name__ == "__main__":
    main()
