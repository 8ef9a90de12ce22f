"""Reads where they belong (issue 17 item 2): tiles and feature pages may read from a replica
(SITMAP_REPLICA_URL, within SITMAP_REPLICA_MAX_LAG_S), a caller's own writes are read on the leader, and the
tile cache stays keyed by the versions that were read.

The first tests need no cluster: without SITMAP_REPLICA_URL nothing changes, and a "replica" that is the
leader itself (or one that does not answer) still serves every read. The tests marked ``ha`` bring up the
cluster of tests/test_ha_failover.py (its fixture, one cluster for this module): two workers behind HAProxy,
whose ``sitmap cluster up`` environment names HAProxy's read-only port as the replica.
"""

from __future__ import annotations

import os
import re
import signal
import uuid

import httpx
import psycopg
import pytest

from data.ha import control, procs
from layers.versions import behind
from tests.opsworld import IN_A, SSE, incident_body
from tests.test_ha_failover import HA, ha  # noqa: F401 (the module's cluster fixture)
from tests.test_layers_tiles import tile_of

Z = 14
TX, TY = tile_of(*IN_A, Z)
TILE = f"/collections/incidents/tiles/WebMercatorQuad/{Z}/{TY}/{TX}"
ITEMS = "/collections/incidents/items"


def _ids(page: dict) -> set[str]:
    return {f["id"] for f in page["features"]}


# --- without a cluster --------------------------------------------------------------------------------------

def test_without_a_replica_nothing_changes(world, make_client) -> None:
    client = make_client(world.url, replica_url=None)
    assert client.app.state.reads.replica is None
    body = incident_body()
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    page = client.get(ITEMS, headers=world.headers("commander"))
    assert page.status_code == 200 and body["id"] in _ids(page.json())
    assert "X-Sitmap-Read" not in page.headers
    tile = client.get(TILE, headers=world.headers("commander"))
    assert tile.status_code == 200 and tile.headers["X-Tile-Cache"] == "miss" and "X-Sitmap-Read" not in tile.headers


def test_a_replica_that_is_the_leader_serves_reads(world, make_client) -> None:
    client = make_client(world.url, replica_url=world.url, replica_max_lag_s=5.0)
    reads = client.app.state.reads
    assert reads.replica is not None
    body = incident_body()
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    # The writer's next reads go to the leader (read-your-writes); another caller's to the "replica".
    own = client.get(ITEMS, headers=world.headers("officer_a"))
    assert own.status_code == 200 and own.headers["X-Sitmap-Read"] == "leader" and body["id"] in _ids(own.json())
    other = client.get(ITEMS, headers=world.headers("commander"))
    assert other.status_code == 200 and other.headers["X-Sitmap-Read"] == "replica"
    assert body["id"] in _ids(other.json()) and reads.lag_s == 0.0
    one = client.get(f"{ITEMS}/{body['id']}", headers=world.headers("commander"))
    assert one.status_code == 200 and one.headers["X-Sitmap-Read"] == "replica"
    # Personal details read on the (read-only) replica connection are audited on the leader.
    with psycopg.connect(world.url) as conn:
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'layer.read_personal' "
                               "AND username = 'commander'").fetchone()[0]
    assert audited == 2
    tile = client.get(TILE, headers=world.headers("commander"))
    assert tile.status_code == 200 and tile.headers["X-Sitmap-Read"] == "replica"
    assert tile.headers["X-Tile-Cache"] == "miss"
    again = client.get(TILE, headers=world.headers("commander"))
    assert again.headers["X-Tile-Cache"] == "hit" and again.headers["ETag"] == tile.headers["ETag"]
    assert client.get(TILE, headers={**world.headers("commander"),
                                     "If-None-Match": tile.headers["ETag"]}).status_code == 304
    # Read-only analyses run on the replica's pool of the analysis runner (here: the same database).
    runner = client.app.state.services.analyses
    assert runner.replica is not None
    before = runner.replica.get_stats().get("requests_num", 0), runner.pool.get_stats().get("requests_num", 0)
    name = client.portal.call(lambda: runner.run(lambda conn: conn.info.dbname, on_replica=True))
    assert name == psycopg.conninfo.conninfo_to_dict(world.url)["dbname"]
    after = runner.replica.get_stats().get("requests_num", 0), runner.pool.get_stats().get("requests_num", 0)
    assert after == (before[0] + 1, before[1])


def test_a_replica_that_does_not_answer_leaves_reads_to_the_leader(world, make_client) -> None:
    from tests.conftest import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/sitmap?connect_timeout=1"
    client = make_client(world.url, replica_url=dead)
    page = client.get(ITEMS, headers=world.headers("commander"))
    assert page.status_code == 200 and page.headers["X-Sitmap-Read"] == "leader"
    assert client.app.state.reads.lag_s is None
    tile = client.get(TILE, headers=world.headers("commander"))
    assert tile.status_code in (200, 204) and tile.headers["X-Sitmap-Read"] == "leader"


def test_behind_compares_every_table_of_a_key() -> None:
    assert behind("3.7", "3.8") and behind("2.9", "3.1")
    assert not behind("3.8", "3.8") and not behind("4.8", "3.8") and not behind("", "")


# --- with the cluster ---------------------------------------------------------------------------------------

def _members(cl: HA) -> dict[str, str]:
    view = procs.wait_for(lambda: control.healthy(cl.layout), 30, "the cluster's members")
    return {m["name"]: m["role"] for m in view["members"]}


def _replica_dsn(cl: HA) -> str:
    name = next(n for n, role in _members(cl).items() if role != "leader")
    node = next(n for n in cl.layout.nodes if n.name == name)
    return cl.layout.node_dsn(node, cl.password)


def _maintenance(cl: HA, on: bool) -> None:
    """Patroni's maintenance mode: without it Patroni resumes a paused replay within a second (measured)."""
    api = cl.layout.nodes[0].api_url
    assert httpx.patch(f"{api}/config", json={"pause": on}, timeout=10).status_code == 200
    procs.wait_for(lambda: bool((control.cluster_view(cl.layout) or {}).get("pause")) == on, 30,
                   f"Patroni's maintenance mode {'on' if on else 'off'}")


def _until(check, timeout: float, what: str):
    return procs.wait_for(check, timeout, what)


def _get(http: httpx.Client, url: str, who: str, cl: HA) -> httpx.Response:
    return http.get(url, headers=cl.world.headers(who))


def _metric(text: str, name: str) -> float | None:
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


@pytest.mark.ha
@pytest.mark.timeout(240)
def test_pages_and_tiles_are_read_on_the_replica(ha: HA) -> None:  # noqa: F811
    with httpx.Client(timeout=10) as http:
        def replica_page():
            r = _get(http, f"{ha.web}{ITEMS}", "commander", ha)
            return r if r.status_code == 200 and r.headers.get("X-Sitmap-Read") == "replica" else None

        page = _until(replica_page, 30, "a feature page read on the replica")
        assert page.json()["type"] == "FeatureCollection"
        for w in ha.layout.workers:  # each worker, not only the one HAProxy picked
            def on(w=w):
                r = _get(http, f"{w.url}{TILE}?category=theft", "commander", ha)
                return r if r.headers.get("X-Sitmap-Read") == "replica" else None

            tile = _until(on, 20, f"a tile of worker {w.name} read on the replica")
            assert tile.status_code in (200, 204) and tile.headers["X-Tile-Cache"] == "miss"
        # The replica's own view of it: sitmap's connections there, read-only sessions.
        with psycopg.connect(_replica_dsn(ha), autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
            sessions = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'sitmap' "
                                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()[0]
        assert sessions >= len(ha.layout.workers)
        metrics = http.get(f"{ha.layout.workers[0].url}/metrics").text
        lag = _metric(metrics, "sitmap_read_replica_lag_seconds")
        assert lag is not None and 0 <= lag <= ha.settings.replica_max_lag_s


@pytest.mark.ha
@pytest.mark.timeout(240)
def test_own_writes_and_a_lagging_replica_read_on_the_leader(ha: HA) -> None:  # noqa: F811
    replica = psycopg.connect(_replica_dsn(ha), autocommit=True)
    worker = ha.layout.workers[0].url
    bound = ha.settings.replica_max_lag_s
    _maintenance(ha, True)
    replica.execute("SELECT pg_wal_replay_pause()")
    try:
        with httpx.Client(timeout=10) as http:
            body = incident_body(IN_A, description=f"replica-paused {uuid.uuid4().hex[:8]}")
            # The phone form's confirmation is the write's own answer; so is a PATCH's.
            made = http.post(f"{worker}/incidents", json=body, headers=ha.world.headers("officer_a"))
            assert made.status_code == 201 and made.json()["description"] == body["description"]
            patched = http.patch(f"{worker}/incidents/{body['id']}", json={"version": 1, "assignee": "officer_a"},
                                 headers=ha.world.headers("commander_a"))
            assert patched.status_code == 200 and patched.json()["assignee"] == "officer_a"
            assert patched.json()["version"] == 2
            # The writers read their own write at once, on the leader, although the replica has not replayed it.
            for who in ("officer_a", "commander_a"):
                own = _get(http, f"{worker}{ITEMS}", who, ha)
                assert own.headers["X-Sitmap-Read"] == "leader" and body["id"] in _ids(own.json()), who
            assert replica.execute("SELECT count(*) FROM incident WHERE id = %s",
                                   (body["id"],)).fetchone()[0] == 0
            # Any other caller, on either worker: the lag passes the bound (or the versions say the replica is
            # behind) and the leader answers, with the write.
            for w in ha.layout.workers:
                last: list[httpx.Response] = []

                def sees(w=w, last=last):
                    r = _get(http, f"{w.url}{ITEMS}?limit=1000", "commander", ha)
                    last[:] = [r]
                    return r.headers.get("X-Sitmap-Read") == "leader" and body["id"] in _ids(r.json())

                try:
                    _until(sees, bound + 10, f"worker {w.name} reading the write on the leader")
                except TimeoutError:
                    r = last[0]
                    raise AssertionError(f"{r.status_code} {dict(r.headers)} {r.text[:300]} "
                                         f"{http.get(f'{w.url}/metrics').text[-3000:]}") from None

                def tile_sees(w=w):
                    r = _get(http, f"{w.url}{TILE}?status=assigned", "commander", ha)
                    return r.status_code == 200 and r.headers.get("X-Sitmap-Read") == "leader"

                _until(tile_sees, bound + 10, f"worker {w.name} reading a tile on the leader")

            def lagging():  # a read by a caller who did not write makes the worker measure the lag again
                r = _get(http, f"{worker}{ITEMS}", "planner", ha)
                value = _metric(http.get(f"{worker}/metrics").text, "sitmap_read_replica_lag_seconds")
                return r.headers.get("X-Sitmap-Read") == "leader" and value is not None and value > bound

            _until(lagging, bound + 10, "the measured replica lag to pass the bound")
    finally:
        replica.execute("SELECT pg_wal_replay_resume()")
        _maintenance(ha, False)
    with httpx.Client(timeout=10) as http:
        def back():
            r = _get(http, f"{worker}{ITEMS}?limit=1000", "planner", ha)
            return r.headers.get("X-Sitmap-Read") == "replica" and body["id"] in _ids(r.json())

        _until(back, 30, "reads back on the replica, which has replayed the write")
    replica.close()


@pytest.mark.ha
@pytest.mark.timeout(240)
def test_tiles_change_after_a_write_on_both_workers(ha: HA) -> None:  # noqa: F811
    url = f"{TILE}?category=drugs"
    with httpx.Client(timeout=10) as http:
        before = {}
        for w in ha.layout.workers:
            r = _get(http, f"{w.url}{url}", "commander", ha)
            assert r.status_code in (200, 204)
            before[w.name] = (r.headers["ETag"], r.content)
            cached = _get(http, f"{w.url}{url}", "commander", ha)
            assert cached.headers["ETag"] == r.headers["ETag"] and cached.headers["X-Tile-Cache"] == "hit"
        body = incident_body(IN_A, category="drugs", description=f"replica-tile {uuid.uuid4().hex[:8]}")
        assert http.post(f"{ha.web}/incidents", json=body, headers=ha.world.headers("officer_a")).status_code == 201
        for w in ha.layout.workers:
            def changed(w=w):
                r = _get(http, f"{w.url}{url}", "commander", ha)
                return r if r.status_code == 200 and r.headers["ETag"] != before[w.name][0] else None

            r = _until(changed, 15, f"worker {w.name}'s tile to change")
            assert r.content != before[w.name][1] and r.headers["X-Tile-Cache"] == "miss"
            assert "replica-tile" not in r.text  # tiles carry no personal description
            # Once the worker's copy of the leader's versions has caught up, the new ETag answers 304 there:
            # the entry is keyed and tagged by the versions it was read at, on whichever node.
            _until(lambda w=w, r=r: http.get(f"{w.url}{url}", headers={
                **ha.world.headers("commander"), "If-None-Match": r.headers["ETag"]}).status_code == 304,
                   5, f"worker {w.name} answering 304 to the new ETag")


@pytest.mark.ha
@pytest.mark.timeout(240)
def test_live_streams_on_every_worker_miss_no_event_across_a_failover(ha: HA) -> None:  # noqa: F811
    """Each worker's listener reconnects its LISTEN to the new leader (with back-off) and its hub resumes from
    the event log: a stream held open on each worker gets every incident written before, during and after the
    leader's postmaster is killed -9, and /health/ready (which checks the listener) answers 200 again."""
    old = next(m for m in control.healthy(ha.layout)["members"] if m["role"] == "leader")
    pid = control.postmaster_pid(ha.layout, next(n for n in ha.layout.nodes if n.name == old["name"]))
    assert pid is not None
    streams = {w.name: SSE(w.url, ha.world.headers("commander"), params={"layers": "incidents"})
               for w in ha.layout.workers}
    try:
        assert all(s.status == 200 for s in streams.values())
        bodies = [incident_body(IN_A, description=f"replica-live {uuid.uuid4().hex[:8]} #{i}") for i in range(30)]
        with httpx.Client(timeout=10, headers=ha.world.headers("officer_a")) as http:
            for i, body in enumerate(bodies):
                if i == 10:
                    os.kill(pid, signal.SIGKILL)

                def sent(body=body):
                    try:
                        r = http.post(f"{ha.web}/incidents", json=body)
                    except httpx.TransportError:
                        return None
                    assert r.status_code < 500 or r.status_code in (502, 503, 504), r.text[:300]
                    return r.status_code in (200, 201)

                procs.wait_for(sent, 90, f"incident {i} acknowledged across the failover", every_s=0.1)
        wanted = {b["id"] for b in bodies}
        for name, stream in streams.items():
            got = stream.wait_for(lambda ms: wanted <= _ids_of(ms), timeout=30)
            missing = wanted - _ids_of(got)
            assert not missing, f"worker {name}'s stream missed {len(missing)} of {len(wanted)} events"
        for w in ha.layout.workers:
            procs.wait_for(lambda w=w: http_status(f"{w.url}/health/ready") == 200, 30,
                           f"worker {w.name} ready (its LISTEN reconnected)")
        view = procs.wait_for(lambda: control.cluster_view(ha.layout), 30, "the cluster's view")
        assert {m["name"] for m in view["members"] if m["role"] == "leader"} - {old["name"]}, view
    finally:
        for stream in streams.values():
            stream.close()


def _ids_of(messages: list[dict]) -> set[str]:
    return {m["data"]["feature"]["id"] for m in messages
            if m.get("event") == "incident_created" and isinstance(m.get("data"), dict) and "feature" in m["data"]}


def http_status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None
