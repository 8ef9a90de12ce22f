"""Fault tests of the HA cluster (issue 17 item 3): a real etcd, two PostgreSQL nodes under Patroni in
synchronous mode, HAProxy and two sitmap workers, brought up by ``data.ha.control.up`` in a temporary folder on
free ports. A retrying client sends incidents with client ids through HAProxy's worker frontend while a worker,
then the leader's postmaster, is killed -9; afterwards every incident is stored exactly once, every
acknowledged write is there, and the old leader is back as a streaming replica (pg_rewind).

The count is SITMAP_HA_TEST_INCIDENTS (default 500, so the module stays within CI's time); bench/failover.py
runs 5,000."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from data.ha import control, procs
from data.ha.layout import PORT_SPAN, Layout, free_port_base
from data.settings import Settings
from tests.opsworld import IN_A, World, build_world, incident_body

pytestmark = [pytest.mark.ha, pytest.mark.timeout(240)]

N = int(os.environ.get("SITMAP_HA_TEST_INCIDENTS", "500"))
SENDERS = 4


def _free_base() -> int:
    """A base port whose whole span is free on the loopback (apart per process: parallel runs)."""
    return free_port_base(21000 + (os.getpid() % 200) * PORT_SPAN)


@dataclass
class HA:
    settings: Settings
    layout: Layout
    password: str
    world: World

    @property
    def web(self) -> str:
        return self.layout.balancers[0].web_url

    def rw(self) -> str:
        return self.layout.dsn(self.password)


@pytest.fixture(scope="module")
def ha():
    folder = Path(tempfile.mkdtemp(prefix="sitmap-ha-", dir="/var/tmp"))
    settings = Settings(cluster_nodes=2, cluster_workers=2, cluster_base_port=_free_base(), cluster_folder=folder)
    try:
        layout = control.up(settings)
        password = control.password(layout)
        yield HA(settings, layout, password, build_world(layout.dsn(password)))
    finally:
        control.down(settings, log=lambda _: None)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Run:
    bodies: list[dict]
    acked: dict[str, float] = field(default_factory=dict)  # client id -> when its 200/201 arrived
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    retries: int = 0
    fault_at: float | None = None

    def gap(self) -> tuple[float, float]:
        """The longest time without an acknowledged write (the fault's write gap) and when it ended."""
        times = sorted(self.acked.values())
        return max(((b - a, b) for a, b in zip(times, times[1:], strict=False)), default=(0.0, 0.0))

    def gap_s(self) -> float:
        return self.gap()[0]


def _send(ha: HA, run: Run, fault_after: int, fault, deadline_s: float = 150.0) -> None:
    """SENDERS threads post every body, each retried with the same client id until it is acknowledged; once
    ``fault_after`` writes are acknowledged, ``fault()`` runs (in its own thread, so sending goes on)."""
    lock = threading.Lock()
    todo = list(reversed(run.bodies))
    deadline = time.monotonic() + deadline_s
    backoff = threading.Event()  # never set: its wait is the retry back-off of a client, not synchronisation

    def sender() -> None:
        with httpx.Client(timeout=10, headers=ha.world.headers("officer_a")) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                while time.monotonic() < deadline:
                    try:
                        r = http.post(f"{ha.web}/incidents", json=body)
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code in (200, 201):
                        with lock:
                            run.acked[body["id"]] = time.monotonic()
                            fire = len(run.acked) == fault_after
                        if fire:
                            run.fault_at = time.monotonic()
                            threading.Thread(target=fault, daemon=True).start()
                        break
                    if r is not None and r.status_code < 500:
                        with lock:
                            run.refused.append((body["id"], r.status_code, r.text[:300]))
                        break
                    with lock:
                        run.retries += 1
                    backoff.wait(0.05)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 5))


def _bodies(tag: str) -> list[dict]:
    return [incident_body(IN_A, description=f"{tag} #{i}") for i in range(N)]


def _check_stored(ha: HA, run: Run, tag: str) -> None:
    assert not run.refused, run.refused[:3]
    assert len(run.acked) == N, f"{N - len(run.acked)} incidents never acknowledged"
    ids = [b["id"] for b in run.bodies]
    with psycopg.connect(ha.rw()) as conn:
        stored = conn.execute("SELECT count(*) FROM incident WHERE description LIKE %s", (f"{tag} #%",)).fetchone()[0]
        dupes = conn.execute("SELECT description, count(*) FROM incident WHERE description LIKE %s "
                             "GROUP BY description HAVING count(*) > 1", (f"{tag} #%",)).fetchall()
        present = {str(r[0]) for r in conn.execute("SELECT id FROM incident WHERE id = ANY(%s::uuid[])",
                                                   (list(run.acked),)).fetchall()}
        events = conn.execute("SELECT count(*) FROM incident_history WHERE incident_id = ANY(%s::uuid[])",
                              (ids,)).fetchone()[0]
    assert stored == N, f"{stored} rows for {N} incidents"
    assert dupes == [], dupes[:5]
    assert present == set(run.acked), f"{len(set(run.acked) - present)} acknowledged writes are missing"
    assert events == N, f"{events} history rows for {N} incidents (one each)"


def test_worker_killed_while_writing(ha: HA) -> None:
    victim = ha.layout.workers[0]
    pid = procs.alive(victim.folder / "sitmap.pid")
    assert pid is not None
    run = Run(_bodies(f"ha-worker-{uuid.uuid4().hex[:8]}"))
    _send(ha, run, N // 4, lambda: os.kill(pid, signal.SIGKILL))
    assert run.fault_at is not None and procs.alive(victim.folder / "sitmap.pid") is None
    _check_stored(ha, run, run.bodies[0]["description"].split(" #")[0])
    print(f"\nworker killed -9 after {N // 4} writes: {N} incidents, 0 lost, 0 duplicated, {run.retries} retries, "
          f"longest time without an acknowledged write {run.gap_s():.2f} s")
    # `up` again starts only what is missing: the killed worker, and HAProxy sees it.
    control.up(ha.settings, log=lambda _: None)
    assert procs.alive(victim.folder / "sitmap.pid") not in (None, pid)


def _replication(ha: HA, leader_name: str) -> dict[str, str]:
    node = next(n for n in ha.layout.nodes if n.name == leader_name)
    with psycopg.connect(ha.layout.node_dsn(node, ha.password, "postgres"), connect_timeout=3) as conn:
        return dict(conn.execute("SELECT application_name, state || '/' || sync_state FROM pg_stat_replication"))


def test_leader_killed_while_writing(ha: HA) -> None:
    before = control.healthy(ha.layout)
    assert before is not None
    old = next(m for m in before["members"] if m["role"] == "leader")
    old_node = next(n for n in ha.layout.nodes if n.name == old["name"])
    pid = control.postmaster_pid(ha.layout, old_node)
    assert pid is not None
    killed: dict[str, float] = {}

    def kill_leader() -> None:
        os.kill(pid, signal.SIGKILL)
        killed["at"] = time.monotonic()

    run = Run(_bodies(f"ha-leader-{uuid.uuid4().hex[:8]}"))
    _send(ha, run, N // 4, kill_leader)
    assert "at" in killed
    _check_stored(ha, run, run.bodies[0]["description"].split(" #")[0])
    gap_s, gap_end = run.gap()

    # A new leader (the synchronous standby), and the old one back as its replica, streaming.
    def rejoined() -> dict | None:
        view = control.healthy(ha.layout)
        if not view:
            return None
        roles = {m["name"]: m["role"] for m in view["members"]}
        new = next((n for n, r in roles.items() if r == "leader"), None)
        if new is None or new == old["name"] or roles.get(old["name"]) not in ("replica", "sync_standby"):
            return None
        try:
            streaming = _replication(ha, new).get(old["name"], "").startswith("streaming/")
        except psycopg.Error:
            return None
        return view if streaming else None

    view = procs.wait_for(rejoined, 90, "the old leader to rejoin as a streaming replica")
    members = {m["name"]: m for m in view["members"]}
    assert members[old["name"]]["timeline"] > old["timeline"], "the old leader did not follow the new timeline"
    assert control.postmaster_pid(ha.layout, old_node) not in (None, pid)
    print(f"\nleader {old['name']} killed -9 after {N // 4} writes: {N} incidents, 0 lost, 0 duplicated, "
          f"{run.retries} retries; write gap {gap_s:.2f} s (writes acknowledged again {gap_end - killed['at']:.2f} s "
          f"after the kill); {old['name']} rejoined as {members[old['name']]['role']} on timeline "
          f"{members[old['name']]['timeline']}")


def test_status_after_the_faults(ha: HA) -> None:
    """What `sitmap cluster status` prints: one leader, a synchronous standby, HAProxy's read-write backend on
    the leader only, both workers answering."""
    doc = procs.wait_for(lambda: (d := control.status(ha.settings)) and all(w["health"] == 200 for w in d["workers"])
                         and any(r["status"] == "UP" for r in d["haproxy"][0]["servers"] if r["proxy"] == "postgres_rw")
                         and d, 30, "status to settle")
    roles = sorted(m["role"] for m in doc["members"])
    assert roles == ["leader", "sync_standby"] and all(m["state"] == "running" for m in doc["members"])
    lead = next(m["name"] for m in doc["members"] if m["role"] == "leader")
    rw = {r["server"]: r["status"] for r in doc["haproxy"][0]["servers"] if r["proxy"] == "postgres_rw"}
    assert rw[lead] == "UP" and [s for s, st in rw.items() if st == "UP"] == [lead]
    lines = control.status_lines(doc)
    assert any(line.startswith(lead) and "leader" in line for line in lines)
    assert sum("/health 200" in line for line in lines) == 2
    # The read-only port reaches a replica, which holds the incidents written through the read-write port.
    with psycopg.connect(ha.layout.dsn(ha.password, read_only=True), connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        assert conn.execute("SELECT count(*) FROM incident WHERE description LIKE 'ha-%'").fetchone()[0] == 2 * N


def test_one_settings_object_describes_three_hosts(tmp_path: Path) -> None:
    """The multi-host reading of the same settings: parts spread over the hosts, every config naming them all."""
    import yaml

    from data.ha import render

    hosts = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
    s = Settings(cluster_nodes=3, cluster_workers=2, cluster_base_port=17000, cluster_folder=tmp_path,
                 cluster_hosts=hosts)
    layout = Layout.from_settings(s)
    assert [n.host for n in layout.nodes] == list(hosts)
    assert [w.host for w in layout.workers] == list(hosts[:2])
    assert [m.host for m in layout.etcd] == list(hosts) and len({b.host for b in layout.balancers}) == 3
    cfg = yaml.safe_load(render.patroni_yaml(layout, layout.nodes[1], "pw"))
    assert cfg["etcd3"]["hosts"] == [f"{h}:17000" for h in hosts]
    assert cfg["bootstrap"]["dcs"]["synchronous_mode"] is True
    assert cfg["bootstrap"]["dcs"]["postgresql"]["use_pg_rewind"] is True
    assert cfg["postgresql"]["listen"] == "10.0.0.12:17011" and cfg["restapi"]["listen"] == "10.0.0.12:17021"
    assert {f"host replication replicator {h}/32 scram-sha-256" for h in hosts} <= set(cfg["postgresql"]["pg_hba"])
    etcd = render.etcd_command(layout, layout.etcd[2])
    assert etcd[etcd.index("--initial-cluster") + 1] == ",".join(
        f"etcd{i}=http://{h}:17001" for i, h in enumerate(hosts))
    ha_cfg = render.haproxy_cfg(layout, "10.0.0.13")
    assert "bind 10.0.0.13:17002" in ha_cfg and "option httpchk GET /primary" in ha_cfg
    assert "option httpchk GET /replica" in ha_cfg
    for n in layout.nodes:
        assert f"server {n.name} {n.host}:{n.pg_port} check port {n.api_port}" in ha_cfg
    env = render.worker_env(layout, layout.workers[1], "pw")
    assert env["SITMAP_DATABASE_URL"] == "postgresql://postgres:pw@10.0.0.12:17002/sitmap"
