"""The live stream across a database crash: a subscriber that resumes with Last-Event-ID receives every
event exactly once, those committed just before the crash and those written after the restart.

The database runs in a private cluster (the session cluster of conftest serves the other tests, which a
kill -9 of its postmaster would disturb)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from data.db.cluster import Cluster, ClusterError
from data.db.migrate import migrate
from data.settings import get_settings
from tests.conftest import new_cluster_root
from tests.opsworld import IN_A, World, build_world, incident_body

ENV = {"SITMAP_LIVE_HEARTBEAT_S": "0.5", "SITMAP_LIVE_POLL_S": "0.2"}


@pytest.fixture
def crash_cluster() -> Iterator[Cluster]:
    c = Cluster.from_settings(get_settings(), root=new_cluster_root("sitmap-livefault-"))
    c.start()
    yield c
    c.destroy()


class ResumingSubscriber:
    """Follows /live in a thread like a browser's EventSource: whenever the stream ends or fails (or the
    server answers an error while the database is down) it reconnects with the last id it received."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.received: list[tuple[int, str]] = []  # (event id, incident id)
        self.connects = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.dropping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            headers = dict(self.headers)
            with self.lock:
                if self.received:
                    headers["Last-Event-ID"] = str(self.received[-1][0])
            try:
                with httpx.Client(timeout=httpx.Timeout(10, read=5)) as http, \
                        http.stream("GET", f"{self.base}/live", params={"layers": "incidents"},
                                    headers=headers) as resp:
                    if resp.status_code != 200:
                        raise httpx.HTTPStatusError("not 200", request=resp.request, response=resp)
                    self.connects += 1
                    self._read(resp)
            except httpx.HTTPError:
                pass
            self.stop.wait(0.2)  # EventSource's retry delay between reconnects, not a synchronisation

    def _read(self, resp: httpx.Response) -> None:
        cur: dict[str, str] = {}
        for line in resp.iter_lines():  # heartbeats (ENV) bring a line at least every half second
            if self.stop.is_set() or self.dropping.is_set():
                self.dropping.clear()
                return
            if line == "":
                if cur.get("event") == "incident_created":
                    with self.lock:
                        self.received.append((int(cur["id"]), json.loads(cur["data"])["feature"]["id"]))
                cur = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                cur[key] = value.lstrip(" ")

    def drop(self) -> None:
        """Leave the current stream (a network drop) and reconnect with Last-Event-ID."""
        self.dropping.set()

    def incident_ids(self) -> list[str]:
        with self.lock:
            return [i for _, i in self.received]

    def wait_connected(self, timeout: float) -> bool:
        """Whether a stream was open within ``timeout``: its starting point is fixed once /live answered 200
        (a first stream without Last-Event-ID starts at the present, so events posted earlier are not its)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connects:
                return True
            self.stop.wait(0.05)
        return False

    def wait_for(self, ids: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(ids) <= set(self.incident_ids()):
                return True
            self.stop.wait(0.05)
        return False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _post_until_stored(base: str, world: World, body: dict, timeout: float = 30) -> None:
    """Post, retrying the same body (a safe retry: 200) while the server cannot reach the database."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=10) as http:
        while True:
            try:
                r = http.post(f"{base}/incidents", json=body, headers=world.headers("officer_a"))
                if r.status_code in (200, 201):
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the incident {body['id']} could not be stored after the restart"
            time.sleep(0.1)  # retry interval of a client, not a synchronisation


def _crash_and_restart(c: Cluster, while_down: Callable[[], None]) -> None:
    pid = c.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while_down()
    while Path(f"/proc/{pid}").exists() and b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():
        os.sched_yield()
    # Orphaned backends may still hold the shared memory for a moment: the start is retried until they left.
    deadline = time.monotonic() + 20
    while True:
        try:
            c.start()
            return
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_subscriber_resumes_across_a_database_crash_without_missed_or_doubled_events(crash_cluster,
                                                                                       start_server):
    url = crash_cluster.url("livefault")
    migrate(url)
    world = build_world(url)
    base = start_server(url, env=ENV)
    sub = ResumingSubscriber(base, world.headers("commander"))
    try:
        assert sub.wait_connected(timeout=30)
        before = [incident_body(IN_A) for _ in range(5)]
        for b in before:
            _post_until_stored(base, world, b)
        assert sub.wait_for([b["id"] for b in before], timeout=10)
        # Committed (durably) just before the crash: the hub may not have read them yet.
        just_before = [incident_body(IN_A) for _ in range(3)]
        for b in just_before:
            _post_until_stored(base, world, b)
        connects = sub.connects
        # The stream may well survive a short crash; the client drops it anyway, so it reconnects while the
        # database is down (errors: it retries) and resumes with Last-Event-ID.
        _crash_and_restart(crash_cluster, sub.drop)
        after = [incident_body(IN_A) for _ in range(5)]
        for b in after:
            _post_until_stored(base, world, b)
        expected = [b["id"] for b in (*before, *just_before, *after)]
        assert sub.wait_for(expected, timeout=30), f"missing: {set(expected) - set(sub.incident_ids())}"
        got = sub.incident_ids()
        assert sorted(got) == sorted(expected)  # every one, none doubled
        with sub.lock:
            event_ids = [e for e, _ in sub.received]
        assert len(event_ids) == len(set(event_ids))  # no event twice, not even under another id
        assert sub.connects > connects  # the resume path was taken
    finally:
        sub.close()
