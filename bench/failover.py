"""Failover benchmark (issue 17 item 3, the large run): 5,000 incidents through HAProxy while the leader's
postmaster is killed -9 (and, later in the same run, a worker), with 100 SSE clients on /live spread over the
workers by HAProxy.

``python -m bench.failover [--incidents 5000] [--subscribers 100] [--nodes 2]`` brings an HA cluster up in a
temporary folder on free ports (data.ha.control.up; needs `make cluster`'s Debian packages), builds the small
test world, sends every incident with its client id from a retrying client (4 threads), kills the leader after
a quarter and worker w0 after three quarters of the writes have been acknowledged, then prints: rows stored,
duplicates, acknowledged writes missing, the write gap, how long the old leader took to rejoin as a streaming
replica, and the live events each subscriber missed. A subscriber behaves as the map's EventSource: when its
stream ends it reconnects with Last-Event-ID. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg

from data.ha import control, procs
from data.ha.layout import free_port_base
from data.settings import Settings
from tests.opsworld import IN_A, World, build_world, incident_body


def free_base() -> int:
    return free_port_base(31000)


class Subscribers:
    """``count`` live-stream clients in one asyncio loop on a thread of their own."""

    def __init__(self, base: str, headers: dict[str, str], count: int) -> None:
        self.base, self.headers, self.count = base, headers, count
        self.seen: list[set[str]] = [set() for _ in range(count)]
        self.reconnects = [0] * count
        self.connected = threading.Event()
        self._open = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()

    async def _one(self, http: httpx.AsyncClient, i: int) -> None:
        last: str | None = None
        first = True
        while not self._stop.is_set():
            headers = {**self.headers, **({"Last-Event-ID": last} if last else {})}
            try:
                async with http.stream("GET", "/live", params={"layers": "incidents"}, headers=headers) as resp:
                    if resp.status_code != 200:
                        raise httpx.TransportError(f"status {resp.status_code}")
                    if first:
                        first = False
                        self._open += 1
                        if self._open == self.count:
                            self.connected.set()
                    async for line in resp.aiter_lines():
                        if line.startswith("id:"):
                            last = line[3:].strip()
                        elif line.startswith("data:"):
                            data = json.loads(line[5:])
                            if data.get("kind") == "incident_created":
                                self.seen[i].add(str(data["feature"]["id"]))
            except (httpx.HTTPError, ValueError):
                pass
            self.reconnects[i] += 1
            await asyncio.sleep(0.5)  # EventSource's retry delay before it reconnects

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.count + 4)
        async with httpx.AsyncClient(base_url=self.base, timeout=httpx.Timeout(10, read=60), limits=limits) as http:
            tasks = [asyncio.create_task(self._one(http, i)) for i in range(self.count)]
            while not self._stop.is_set():
                await asyncio.sleep(0.2)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(15)


def send(base: str, world: World, bodies: list[dict], faults: dict[int, object], threads: int = 4,
         deadline_s: float = 600) -> tuple[dict[str, float], int, dict[int, float]]:
    """Post every body until acknowledged (same client id on every retry); run faults[k] at the k-th ack."""
    lock, todo = threading.Lock(), list(reversed(bodies))
    acked: dict[str, float] = {}
    fired: dict[int, float] = {}
    retries = [0]
    deadline = time.monotonic() + deadline_s
    pause = threading.Event()  # never set: its wait is the client's retry back-off

    def sender() -> None:
        with httpx.Client(base_url=base, timeout=10, headers=world.headers("officer_a")) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                while time.monotonic() < deadline:
                    try:
                        ok = http.post("/incidents", json=body).status_code in (200, 201)
                    except httpx.TransportError:
                        ok = False
                    if ok:
                        with lock:
                            acked[body["id"]] = time.monotonic()
                            k = len(acked)
                        if k in faults:
                            fired[k] = time.monotonic()
                            threading.Thread(target=faults[k], daemon=True).start()
                        break
                    with lock:
                        retries[0] += 1
                    pause.wait(0.05)

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return acked, retries[0], fired


def longest_gap(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return max(((b - a, b) for a, b in zip(times, times[1:], strict=False)), default=(0.0, 0.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", type=int, default=5000)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=2, choices=(2, 3))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running (and its folder) afterwards")
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="sitmap-ha-bench-", dir="/var/tmp"))
    settings = Settings(cluster_nodes=args.nodes, cluster_workers=2, cluster_base_port=free_base(),
                        cluster_folder=folder)
    try:
        t0 = time.monotonic()
        layout = control.up(settings, log=lambda _: None)
        pw = control.password(layout)
        print(f"cluster up in {time.monotonic() - t0:.1f} s: {args.nodes} nodes, 2 workers, folder {folder}")
        world = build_world(layout.dsn(pw))
        web = layout.balancers[0].web_url
        subs = Subscribers(web, world.headers("commander"), args.subscribers)
        if not subs.connected.wait(60):
            print(f"only {subs._open} of {args.subscribers} subscribers connected")

        view = control.healthy(layout)
        old = next(m for m in view["members"] if m["role"] == "leader")
        old_node = next(n for n in layout.nodes if n.name == old["name"])
        pm = control.postmaster_pid(layout, old_node)
        worker_pid = procs.alive(layout.workers[0].folder / "sitmap.pid")
        n = args.incidents
        rejoin: dict[str, float] = {}

        def rejoined() -> bool:
            v = control.healthy(layout)
            roles = {m["name"]: m["role"] for m in (v or {}).get("members", [])}
            return roles.get(old["name"]) in ("replica", "sync_standby") and "leader" in roles.values()

        def kill_leader() -> None:
            os.kill(pm, signal.SIGKILL)
            killed = time.monotonic()
            try:
                procs.wait_for(rejoined, 300, "the old leader to rejoin", every_s=0.5)
                rejoin["s"] = time.monotonic() - killed
            except TimeoutError:
                pass

        faults = {n // 4: kill_leader,
                  (3 * n) // 4: lambda: os.kill(worker_pid, signal.SIGKILL)}
        bodies = [incident_body(IN_A, description=f"bench-failover #{i}") for i in range(n)]
        t1 = time.monotonic()
        acked, retries, fired = send(web, world, bodies, faults)
        took = time.monotonic() - t1

        with psycopg.connect(layout.dsn(pw)) as conn:
            rows = conn.execute("SELECT count(*) FROM incident "
                                "WHERE description LIKE 'bench-failover #%'").fetchone()[0]
            dupes = conn.execute("SELECT count(*) FROM (SELECT description FROM incident WHERE description LIKE "
                                 "'bench-failover #%' GROUP BY description HAVING count(*) > 1) d").fetchone()[0]
            present = {str(r[0]) for r in conn.execute("SELECT id FROM incident WHERE id = ANY(%s::uuid[])",
                                                       (list(acked),))}
        kill_at = fired.get(n // 4)
        worker_at = fired.get((3 * n) // 4, float("inf"))
        gap, gap_end = longest_gap([t for t in acked.values() if t < worker_at])  # the leader's gap alone
        print(f"writes: {n} sent in {took:.1f} s ({n / took:.0f}/s), {len(acked)} acknowledged, {retries} retries")
        print(f"  rows stored {rows} (expected {n}), duplicates {dupes}, acknowledged but missing "
              f"{len(set(acked) - present)}")
        if kill_at is not None:
            print(f"  leader {old['name']} killed -9 after {n // 4} writes: write gap {gap:.2f} s, writes acknowledged "
                  f"again {gap_end - kill_at:.2f} s after the kill")

        with contextlib.suppress(TimeoutError):
            procs.wait_for(lambda: "s" in rejoin, 300, "the rejoin watcher")
        if "s" in rejoin:
            print(f"  {old['name']} back as a replica {rejoin['s']:.1f} s after the kill (pg_rewind)")
        else:
            print(f"  {old['name']} did not rejoin as a replica within 300 s")
        if (3 * n) // 4 in fired:
            print(f"  worker w0 killed -9 after {(3 * n) // 4} writes (HAProxy sent its requests to w1)")

        stored = present
        end = time.monotonic() + 60
        while time.monotonic() < end and any(not stored <= s for s in subs.seen):
            time.sleep(0.2)  # polling the subscribers' progress against a deadline
        missed = [len(stored - s) for s in subs.seen]
        subs.stop()
        print(f"live: {args.subscribers} subscribers through HAProxy, {sum(subs.reconnects)} reconnects; "
              f"events missed per subscriber: max {max(missed)}, total {sum(missed)} of {len(stored) * len(missed)}")
        print("(the incidents are generated test data in a square test province)")
    finally:
        if not args.keep:
            control.down(settings, log=lambda _: None)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
