"""The live stream: every write reaches open streams through LISTEN/NOTIFY, in commit-safe order, and a
reconnect with Last-Event-ID misses nothing and repeats nothing, with writers committing concurrently."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import psycopg

from data.ops.events import EMIT_SQL
from tests.opsworld import IN_A, IN_B, SSE, incident_body

FAST = {"SITMAP_LIVE_HEARTBEAT_S": "0.2"}


def _post(base: str, world, who: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}/incidents", json=body, headers=world.headers(who), timeout=30)


def _ids(messages: list[dict]) -> list[str]:
    return [m["data"]["feature"]["id"] for m in messages if m.get("event") == "incident_created"]


def test_posted_incident_reaches_an_open_stream_within_one_second(world, start_server):
    base = start_server(world.url, env=FAST)
    stream = SSE(base, world.headers("commander"))
    try:
        assert stream.status == 200
        body = incident_body()
        sent = time.perf_counter()
        assert _post(base, world, "officer_a", body).status_code == 201
        got = stream.wait_for(lambda ms: body["id"] in _ids(ms), timeout=5)
        msg = next(m for m in got if m.get("event") == "incident_created")
        assert msg["data"]["feature"]["id"] == body["id"]
        assert msg["data"]["layer"] == "incidents" and msg["data"]["unit_code"] == "T001"
        assert "description" not in msg["data"]["feature"]["properties"]  # public properties only
        assert msg["received"] - sent < 1.0
        stream.wait_for(lambda ms: stream.heartbeats > 0, timeout=3)
        assert stream.heartbeats > 0
    finally:
        stream.close()


def test_filters_scope_and_alerts(world, start_server):
    base = start_server(world.url, env=FAST)
    streams = {who: SSE(base, world.headers(who)) for who in ("commander_a", "planner", "officer_b")}
    only_b = SSE(base, world.headers("commander"), params={"commune": "T002", "layers": "incidents"})
    try:
        serious = incident_body(severity="serious")
        in_b = incident_body(IN_B)
        assert _post(base, world, "officer_a", serious).status_code == 201
        assert _post(base, world, "officer_b", in_b).status_code == 201
        visit = {"id": str(uuid.uuid4()), "lon": IN_B[0], "lat": IN_B[1], "accuracy_m": 5}
        r = httpx.post(f"{base}/patrol-points/{world.point_b}/visits", json=visit,
                       headers=world.headers("officer_b"))
        assert r.status_code == 201 and r.json()["accepted"] is True
        expect = {"commander_a": 2, "planner": 3, "officer_b": 2}
        seen = {who: s.wait_for(lambda ms, n=expect[who]: len(ms) >= n, timeout=5) for who, s in streams.items()}
        ob = only_b.wait_for(lambda ms: len(ms) >= 1, timeout=5)
        kinds = {who: sorted(m["event"] for m in ms) for who, ms in seen.items()}
        assert kinds["commander_a"] == ["alert", "incident_created"]  # their commune only, with the alert
        assert [m["data"]["feature"]["id"] for m in seen["commander_a"]] == [serious["id"]] * 2
        assert kinds["planner"] == ["incident_created", "incident_created", "patrol_visit"]  # no alerts
        assert kinds["officer_b"] == ["incident_created", "patrol_visit"]
        assert _ids(seen["officer_b"]) == [in_b["id"]]
        assert [m["event"] for m in ob] == ["incident_created"] and _ids(ob) == [in_b["id"]]
        # A commune outside the caller's scope is refused, an unknown layer is explained.
        r = httpx.get(f"{base}/live", params={"commune": "T002"}, headers=world.headers("commander_a"))
        assert r.status_code == 403
        r = httpx.get(f"{base}/live", params={"layers": "cats"}, headers=world.headers("commander"))
        assert r.status_code == 400 and "patrol-points" in r.json()["detail"]
    finally:
        for s in (*streams.values(), only_b):
            s.close()


def test_out_of_order_commits_are_held_back_not_skipped(world, start_server):
    """Event A gets the smaller id but commits after event B: a stream must deliver both, A never lost."""
    base = start_server(world.url, env=FAST)
    stream = SSE(base, world.headers("admin"))
    try:
        with psycopg.connect(world.url) as slow, psycopg.connect(world.url, autocommit=True) as fast:
            id_a = slow.execute(EMIT_SQL, ("incident_updated", "incidents", world.unit_a,
                                           '{"feature": {"id": "A"}}')).fetchone()[0]
            id_b = fast.execute(EMIT_SQL, ("incident_updated", "incidents", world.unit_a,
                                           '{"feature": {"id": "B"}}')).fetchone()[0]
            assert id_a < id_b
            # B is committed, but A (smaller xid) is still open: B is held back, not delivered past A.
            early = stream.wait_for(lambda ms: len(ms) > 0, timeout=0.6)
            assert early == []
            slow.commit()
        got = stream.wait_for(lambda ms: len(ms) >= 2, timeout=5)
        assert [int(m["id"]) for m in got] == [id_a, id_b]
        # A reconnect after A resumes at B; after B, nothing is repeated.
        again = SSE(base, world.headers("admin"), last_event_id=id_a)
        assert [int(m["id"]) for m in again.wait_for(lambda ms: len(ms) >= 1, timeout=5)] == [id_b]
        again.close()
        tail = SSE(base, world.headers("admin"), last_event_id=id_b)
        assert tail.wait_for(lambda ms: len(ms) > 0, timeout=0.5) == []
        tail.close()
    finally:
        stream.close()


def test_resume_after_disconnect_with_concurrent_writers(world, start_server):
    base = start_server(world.url, env=FAST)
    posted: list[str] = []
    lock = threading.Lock()

    def writer(who: str, point: tuple[float, float]) -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(30):
                body = incident_body(point)
                assert http.post(f"{base}/incidents", json=body, headers=world.headers(who)).status_code == 201
                with lock:
                    posted.append(body["id"])

    first = SSE(base, world.headers("commander"), params={"layers": "incidents"})
    threads = [threading.Thread(target=writer, args=a) for a in
               (("officer_a", IN_A), ("officer_b", IN_B), ("commander", IN_A), ("admin", IN_B))]
    for t in threads:
        t.start()
    received: list[dict] = []
    stream = first
    try:
        # Drop the connection repeatedly while writers run, resuming from the last id received.
        while any(t.is_alive() for t in threads) or len(received) < 120:
            batch = stream.wait_for(lambda ms: len(ms) >= 7, timeout=5)
            stream.close()
            if not batch and not any(t.is_alive() for t in threads):
                break
            received.extend(batch)
            last = int(received[-1]["id"]) if received else None
            stream = SSE(base, world.headers("commander"), params={"layers": "incidents"}, last_event_id=last)
    finally:
        stream.close()
        for t in threads:
            t.join()
    ids = _ids(received)
    assert len(posted) == 120
    assert sorted(ids) == sorted(posted)  # none missed
    assert len(ids) == len(set(ids))  # none doubled
    event_ids = [int(m["id"]) for m in received]
    assert len(event_ids) == len(set(event_ids))


def test_fan_out_across_two_server_processes_on_one_database(world, start_server):
    one = start_server(world.url, env=FAST)
    two = start_server(world.url, env=FAST)
    stream = SSE(one, world.headers("commander"))
    try:
        bodies = [incident_body() for _ in range(3)]
        for b in bodies:
            assert _post(two, world, "officer_a", b).status_code == 201
        got = stream.wait_for(lambda ms: len(_ids(ms)) >= 3, timeout=5)
        assert _ids(got) == [b["id"] for b in bodies]
    finally:
        stream.close()


def test_two_workers_smoke(world, start_server):
    base = start_server(world.url, workers=2, env=FAST)
    # With two workers the kernel picks one per connection: several streams and writes cover both.
    streams = [SSE(base, world.headers("commander")) for _ in range(4)]
    try:
        bodies = [incident_body() for _ in range(8)]
        for b in bodies:
            assert _post(base, world, "officer_a", b).status_code == 201
        for s in streams:
            got = s.wait_for(lambda ms: len(_ids(ms)) >= 8, timeout=8)
            assert sorted(_ids(got)) == sorted(b["id"] for b in bodies)
    finally:
        for s in streams:
            s.close()


def _ended(stream: SSE, timeout: float) -> bool:
    """Poll until the server has ended ``stream`` (its reader thread finishes at the end of the body)."""
    stream.wait_for(lambda _: not stream.thread.is_alive(), timeout=timeout)
    stream.wait_for(lambda _: True, timeout=0.1)  # collect what arrived just before the end
    return not stream.thread.is_alive()


def test_logout_and_disable_end_open_streams_at_once(world, start_server):
    # A heartbeat far away: only the sitmap_auth notification can end the streams within the deadline.
    base = start_server(world.url, env={"SITMAP_LIVE_HEARTBEAT_S": "60"})
    commander = SSE(base, world.headers("commander"), params={"layers": "incidents"})
    officer = SSE(base, world.headers("officer_b"), params={"layers": "incidents"})
    bystander = SSE(base, world.headers("planner"), params={"layers": "incidents"})
    try:
        before = incident_body(IN_B)
        assert _post(base, world, "admin", before).status_code == 201
        for s in (commander, officer, bystander):
            assert before["id"] in _ids(s.wait_for(lambda ms: before["id"] in _ids(ms), timeout=5))

        # Logout through the API; an incident posted right after it must not reach the revoked stream.
        assert httpx.post(f"{base}/auth/logout", headers=world.headers("commander")).status_code == 200
        after_logout = incident_body(IN_B)
        assert _post(base, world, "admin", after_logout).status_code == 201
        assert _ended(commander, timeout=3), "the logged-out stream is still open"
        assert after_logout["id"] not in _ids(commander.messages)

        # `sitmap user disable` from another connection (data.ops.users, as the CLI does).
        import asyncio

        from data.ops import users

        async def disable() -> bool:
            async with await psycopg.AsyncConnection.connect(world.url, autocommit=True) as conn:
                return await users.disable_user(conn, "officer_b")

        assert asyncio.run(disable()) is True
        after_disable = incident_body(IN_B)
        assert _post(base, world, "admin", after_disable).status_code == 201
        assert _ended(officer, timeout=3), "the disabled user's stream is still open"
        assert after_disable["id"] not in _ids(officer.messages)

        # Other users' streams are untouched and receive both.
        got = bystander.wait_for(lambda ms: after_disable["id"] in _ids(ms), timeout=5)
        assert {after_logout["id"], after_disable["id"]} <= set(_ids(got))
        assert bystander.thread.is_alive()
        # A reconnect with the revoked token is refused.
        assert httpx.get(f"{base}/live", headers=world.headers("commander")).status_code == 401
        # The bystander signs out too (which also frees the server: no stream left open at its shutdown).
        assert httpx.post(f"{base}/auth/logout", headers=world.headers("planner")).status_code == 200
        assert _ended(bystander, timeout=3)
    finally:
        for s in (commander, officer, bystander):
            s.close()


def test_a_worker_stopping_while_its_hub_starts_stops_the_hub(world):
    # The lifespan starts the hub in the background; a worker may stop before that start is done (a short
    # test client did, and its shutdown then waited forever on the hub's polling task).
    import asyncio

    from api.app import create_app
    from api.services import Services
    from data.settings import get_settings

    app = create_app(get_settings(), database_url=world.url)

    async def scenario() -> Services:
        async with asyncio.timeout(30):  # a shutdown that hangs fails here instead of freezing the run
            async with app.router.lifespan_context(app):
                svc = app.state.services
                await asyncio.sleep(0)  # the hub's and the listener's tasks run up to their first await
                assert svc.hub._tasks and not svc.hub.started.is_set() and not svc.listener.connected
        return svc

    svc = asyncio.run(scenario())
    assert svc.hub.stopped and not svc.hub.started.is_set()
    assert svc.hub._tasks and all(t.done() for t in svc.hub._tasks)
    assert svc.listener.done and not svc.listener.connected and not svc.session_cache.listening
