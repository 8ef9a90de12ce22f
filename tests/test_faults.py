"""Fault test: officers' phones keep writing incidents while the database's postmaster is killed -9.

A retrying client (client-made UUIDs, POST /incidents again on any connection error or 5xx until it is
acknowledged) writes against a real uvicorn server on a private cluster; the test kills the postmaster
mid-stream and restarts it. Afterwards every write is stored exactly once. The size is bounded for CI and
can be raised: SITMAP_FAULT_WRITES (default 300) incidents, SITMAP_FAULT_KILLS (default 2) kills.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from data.db.cluster import Cluster, ClusterError
from data.db.migrate import migrate
from data.settings import get_settings
from tests.conftest import new_cluster_root
from tests.opsworld import build_world, incident_body

WRITES = int(os.environ.get("SITMAP_FAULT_WRITES", "300"))
KILLS = int(os.environ.get("SITMAP_FAULT_KILLS", "2"))
CLIENTS = 4
DEADLINE_S = 60 + WRITES * 0.1
MARK = "fault-test"


@pytest.fixture
def private_cluster():
    # Its own cluster: killing the shared test cluster's postmaster would break every other test.
    c = Cluster.from_settings(get_settings(), root=new_cluster_root("sitmap-faults-"))
    c.start()
    yield c
    c.destroy()


@dataclass
class Writer:
    """Phones with a queue of incidents to send: each is resent, same body and id, until acknowledged."""

    base: str
    token: str
    todo: queue.Queue = field(default_factory=queue.Queue)
    acknowledged: dict[str, int] = field(default_factory=dict)  # id -> HTTP status that acknowledged it
    retries: int = 0
    refused: list[str] = field(default_factory=list)  # answers no retry can fix: the test fails on them
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, deadline: float) -> None:
        try:
            self._run(deadline)
        except Exception as exc:  # a writer that dies would lose its writes silently: make it a failure
            with self.lock:
                self.refused.append(f"writer died: {exc!r}")

    def _run(self, deadline: float) -> None:
        with httpx.Client(base_url=self.base, timeout=10,
                          headers={"Authorization": f"Bearer {self.token}"}) as http:
            while time.monotonic() < deadline:
                try:
                    body = self.todo.get_nowait()
                except queue.Empty:
                    return
                self._send(http, body, deadline)

    def _send(self, http: httpx.Client, body: dict, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                r = http.post("/incidents", json=body)
            except httpx.HTTPError:  # connection refused or reset, timeout, a cut-off answer: send again
                r = None
            if r is not None and r.status_code in (200, 201):
                with self.lock:
                    self.acknowledged[body["id"]] = r.status_code
                return
            if r is not None and r.status_code < 500:
                with self.lock:
                    self.refused.append(f"{r.status_code} {r.text[:200]}")
                return
            with self.lock:
                self.retries += 1
            time.sleep(0.05)  # a phone's retry pause, so a dead server is not hammered; not a synchronisation


def _kill_postmaster(c: Cluster, deadline: float) -> float:
    """kill -9 the postmaster, then start the cluster again; returns how long it was down."""
    pid = c.running_pid()
    assert pid is not None
    down = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    # Not our child: /proc tells when it is gone.
    while Path(f"/proc/{pid}").exists() and b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():
        os.sched_yield()
    while True:
        try:
            # Orphaned backends notice the postmaster's death and exit; until then the new postmaster refuses
            # the old shared memory, so the restart is tried again until they are gone.
            c.start()
            c.wait_ready()
            return time.monotonic() - down
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_every_acknowledged_write_survives_postmaster_kills_exactly_once(private_cluster, start_server):
    url = private_cluster.url("faults")
    migrate(url)
    world = build_world(url)
    base = start_server(url, workers=2)
    writer = Writer(base, world.tokens["officer_a"])
    bodies = [incident_body(description=f"{MARK} {i}") for i in range(WRITES)]
    for b in bodies:
        writer.todo.put(b)

    deadline = time.monotonic() + DEADLINE_S
    threads = [threading.Thread(target=writer.run, args=(deadline,), daemon=True) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    downtimes, acked_at_kill, postmasters = [], [], [private_cluster.running_pid()]
    for k in range(1, KILLS + 1):
        # Kill while writes are flowing: after k/(KILLS+1) of them are acknowledged.
        while len(writer.acknowledged) < k * WRITES // (KILLS + 1) and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the writers' progress
        acked_at_kill.append(len(writer.acknowledged))
        downtimes.append(_kill_postmaster(private_cluster, deadline))
        postmasters.append(private_cluster.running_pid())
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0) + 15)

    assert writer.refused == []
    assert len(writer.acknowledged) == WRITES, f"{WRITES - len(writer.acknowledged)} writes never acknowledged"
    assert len(downtimes) == KILLS and len(set(postmasters)) == KILLS + 1, postmasters
    # Each kill landed while writes were still to come (a fast restart may leave no request failing, since the
    # pool replaces dead connections at checkout: retries can be 0, and are printed).
    assert all(n < WRITES for n in acked_at_kill), acked_at_kill
    with psycopg.connect(url) as conn:
        rows, ids, numbers = conn.execute(
            "SELECT count(*), count(DISTINCT id), count(DISTINCT number) FROM incident WHERE description LIKE %s",
            (f"{MARK} %",)).fetchone()
        assert conn.execute("SELECT count(*) FROM incident").fetchone()[0] == WRITES
        stored = {str(r[0]) for r in conn.execute("SELECT id FROM incident").fetchall()}
        # One row per logical write: the descriptions are unique per write.
        per_write = conn.execute("SELECT count(DISTINCT description) FROM incident").fetchone()[0]
    assert rows == ids == numbers == per_write == WRITES
    assert stored == set(writer.acknowledged) == {b["id"] for b in bodies}
    print(f"\n{WRITES} writes, {KILLS} kills, {writer.retries} retries, "
          f"down {', '.join(f'{d:.1f}' for d in downtimes)} s, killed after {acked_at_kill} acknowledged, "
          f"{sum(1 for s in writer.acknowledged.values() if s == 200)} acknowledged as replays")
