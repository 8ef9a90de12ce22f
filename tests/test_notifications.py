"""Notifications: rules as data, evaluated in the incident's own transaction (the trigger of migration 0022) and
by the overdue-patrol sweep; each user's inbox with read/unread; the live stream's per-recipient events; the
admins' rule routes with their 4xx answers and audit rows. Recipients are compared with an independent SQL
reading of app_user / app_user_unit, never with hard-coded names alone."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from data.ops import alert_rules, notifications
from tests.opsworld import IN_A, IN_B, SSE, incident_body

FAST = {"SITMAP_LIVE_POLL_S": "0.2", "SITMAP_LIVE_HEARTBEAT_S": "2"}
SERIOUS = {"name": "serious", "trigger": "incident", "min_severity": "serious",
           "recipients": ["commune_chief", "province_commander"]}
TRAFFICKING = {"name": "trafficking", "trigger": "incident", "categories": ["human_trafficking"],
               "recipients": ["commune_chief", "province_commander"]}


def _expected_recipients(url: str, unit_id: int) -> set[int]:
    """Commune chiefs (commanders scoped to the commune) and province-wide commanders, active: from the tables."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT u.id FROM app_user u WHERE u.role = 'commander' AND NOT u.disabled AND ("
            " u.id IN (SELECT user_id FROM app_user_unit WHERE unit_id = %s)"
            " OR u.id NOT IN (SELECT user_id FROM app_user_unit))", (unit_id,)).fetchall()
    return {r[0] for r in rows}


def _notified(url: str, incident_id: str) -> list[tuple[int, int, dict]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT user_id, rule_id, subject FROM notification WHERE incident_id = %s ORDER BY user_id",
            (incident_id,)).fetchall()


def _add_rules(client, world, *bodies) -> list[dict]:
    out = []
    for b in bodies:
        r = client.post("/notification-rules", json=b, headers=world.headers("admin"))
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def test_serious_incident_notifies_the_commune_chief_and_duty_commander_once_each(world, make_client):
    client = make_client(world.url)
    serious, trafficking = _add_rules(client, world, SERIOUS, TRAFFICKING)
    body = incident_body(IN_A, severity="very_serious", category="human_trafficking")
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    rows = _notified(world.url, body["id"])
    want = _expected_recipients(world.url, world.unit_a)
    assert want == {world.user_ids["commander"], world.user_ids["commander_a"]}
    # Both rules match; each recipient still gets one notification, naming both rules.
    assert sorted(r[0] for r in rows) == sorted(want)
    assert {r[1] for r in rows} == {serious["id"]}
    for _, _, subject in rows:
        assert subject["rules"] == [serious["name"], trafficking["name"]]
        assert (subject["category"], subject["severity"], subject["unit_code"]) == ("human_trafficking",
                                                                                  "very_serious", "T001")
        assert "description" not in subject and "reporter_name" not in subject
    # A retry of the same write (same client id and body) stores nothing more.
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 200
    assert len(_notified(world.url, body["id"])) == len(rows)
    # In commune B the chief of A hears nothing; the province commander does.
    in_b = incident_body(IN_B, severity="serious")
    assert client.post("/incidents", json=in_b, headers=world.headers("officer_b")).status_code == 201
    assert {r[0] for r in _notified(world.url, in_b["id"])} == _expected_recipients(world.url, world.unit_b)
    assert world.user_ids["commander_a"] not in {r[0] for r in _notified(world.url, in_b["id"])}


def test_a_change_that_makes_a_rule_match_notifies_others_do_not(world, make_client):
    client = make_client(world.url)
    _add_rules(client, world, SERIOUS)
    body = incident_body(IN_A, severity="less_serious", category="theft")
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    assert _notified(world.url, body["id"]) == []
    r = client.patch(f"/incidents/{body['id']}", json={"version": 1, "description": "x"},
                     headers=world.headers("commander_a"))
    assert r.status_code == 200, r.text
    assert _notified(world.url, body["id"]) == []
    r = client.patch(f"/incidents/{body['id']}", json={"version": 2, "severity": "serious"},
                     headers=world.headers("commander_a"))
    assert r.status_code == 200, r.text
    rows = _notified(world.url, body["id"])
    assert {u for u, _, _ in rows} == _expected_recipients(world.url, world.unit_a)
    assert all(s["change"] == "updated" and s["severity"] == "serious" for _, _, s in rows)
    # Still serious after another severity change: the rule matched before, nobody is told again.
    r = client.patch(f"/incidents/{body['id']}", json={"version": 3, "severity": "very_serious"},
                     headers=world.headers("commander_a"))
    assert r.status_code == 200
    assert len(_notified(world.url, body["id"])) == len(rows)


def test_notifications_share_the_writes_transaction_and_skip_generated_incidents(world):
    with psycopg.connect(world.url) as conn:
        alert_rules.seed_examples(conn)
        conn.commit()
        insert = ("INSERT INTO incident (id, category, severity, occurred_at, is_generated, geom) VALUES "
                  "(%s, 'drugs', 'particularly_serious', now(), %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))")
        rolled = str(uuid.uuid4())
        conn.execute(insert, (rolled, False, *IN_A))
        assert len(_count(conn, rolled)) == len(_expected_recipients(world.url, world.unit_a))  # visible inside
        conn.rollback()
        generated = str(uuid.uuid4())
        conn.execute(insert, (generated, True, *IN_A))
        conn.commit()
    assert _notified(world.url, rolled) == []
    assert _notified(world.url, generated) == []
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_delivery").fetchone()[0] == 0


def _count(conn, incident_id: str) -> list:
    return conn.execute("SELECT id FROM notification WHERE incident_id = %s", (incident_id,)).fetchall()


def test_inbox_read_unread_only_ones_own(world, make_client):
    client = make_client(world.url)
    _add_rules(client, world, SERIOUS)
    ids = []
    for _ in range(3):
        body = incident_body(IN_A, severity="serious")
        assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
        ids.append(body["id"])
    me = world.headers("commander_a")
    with psycopg.connect(world.url) as conn:
        mine = [r[0] for r in conn.execute("SELECT id FROM notification WHERE user_id = %s ORDER BY id DESC",
                                           (world.user_ids["commander_a"],))]
        theirs = conn.execute("SELECT id FROM notification WHERE user_id = %s LIMIT 1",
                              (world.user_ids["commander"],)).fetchone()[0]
    inbox = client.get("/notifications", params={"unread": "true"}, headers=me).json()
    assert [n["id"] for n in inbox["items"]] == mine and inbox["unread"] == len(mine) == 3
    assert [n["incident_id"] for n in inbox["items"]] == ids[::-1]
    r = client.post(f"/notifications/{mine[0]}/read", headers=me)
    assert r.status_code == 200 and r.json()["unread"] == 2
    assert client.post(f"/notifications/{mine[0]}/read", headers=me).json()["unread"] == 2  # again: no change
    assert [n["id"] for n in client.get("/notifications", params={"unread": "true"}, headers=me).json()["items"]] \
        == mine[1:]
    everything = client.get("/notifications", headers=me).json()["items"]
    assert [n["read_at"] is not None for n in everything] == [True, False, False]
    # Another user's notification is not found for me, and stays unread.
    r = client.post(f"/notifications/{theirs}/read", headers=me)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/notifications/read-all", headers=me).json() == {"marked": 2, "unread": 0}
    assert client.get("/notifications", params={"unread": "true"}, headers=me).json()["unread"] == 0
    assert client.get("/notifications", params={"unread": "true"},
                      headers=world.headers("commander")).json()["unread"] == 3
    # Officers have an inbox too (empty here); a bad parameter is a 400 problem.
    assert client.get("/notifications", headers=world.headers("officer_a")).json()["count"] == 0
    assert client.get("/notifications", params={"limit": 0}, headers=me).status_code in (400, 422)
    with psycopg.connect(world.url) as conn:
        audited = conn.execute("SELECT target, detail->'count' FROM audit_log WHERE action = 'notification.read' "
                               "AND user_id = %s ORDER BY id", (world.user_ids["commander_a"],)).fetchall()
    assert audited == [(f"notification:{mine[0]}", 1), ("notifications:2", 2)]


def test_rule_routes_hide_the_secret_check_input_and_audit(world, make_client):
    client = make_client(world.url)
    admin = world.headers("admin")
    body = {**SERIOUS, "communes": ["T001"], "users": ["planner"], "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_secret": "s" * 32}
    r = client.post("/notification-rules", json=body, headers=admin)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert "webhook_secret" not in rule and rule["webhook_secret_set"] is True
    assert rule["communes"] == ["T001"] and rule["users"] == ["planner"]
    assert "s" * 32 not in client.get("/notification-rules", headers=admin).text
    assert client.post("/notification-rules", json=body, headers=admin).status_code == 409
    bad = [({"recipients": ["mayor"]}, "recipients"), ({"min_severity": "huge"}, "min_severity"),
           ({"trigger": "patrol_overdue"}, "categories"), ({"webhook_secret": None}, "webhook_secret"),
           ({"webhook_url": "ftp://x/y"}, "webhook_url"), ({"communes": ["NOPE"]}, "communes"),
           ({"users": ["nobody"]}, "users"), ({"recipients": [], "users": [], "webhook_url": None,
                                               "webhook_secret": None}, "recipients")]
    for change, field in bad:
        r = client.post("/notification-rules", json={**body, "name": f"x-{field}", **change}, headers=admin)
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in r.text, (change, r.text)
    r = client.patch(f"/notification-rules/{rule['id']}", json={"version": 1, "enabled": False}, headers=admin)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["version"] == 2
    assert client.patch(f"/notification-rules/{rule['id']}", json={"version": 1, "enabled": True},
                        headers=admin).status_code == 409
    assert client.patch(f"/notification-rules/{rule['id']}", json={"version": 2, "name": None},
                        headers=admin).status_code == 422
    assert client.get("/notification-rules/999999", headers=admin).status_code == 404
    for who in ("commander", "planner", "officer_a"):
        assert client.get("/notification-rules", headers=world.headers(who)).status_code == 403
    # A disabled rule notifies nobody.
    inc = incident_body(IN_A, severity="serious")
    assert client.post("/incidents", json=inc, headers=world.headers("officer_a")).status_code == 201
    assert _notified(world.url, inc["id"]) == []
    # The test route: who would hear of it (the named planner is province-wide), and a test delivery queued.
    r = client.post(f"/notification-rules/{rule['id']}/test", headers=admin)
    assert r.status_code == 200, r.text
    assert set(r.json()["recipients"]) == {"commander", "commander_a", "planner"}
    assert client.post(f"/notification-rules/{rule['id']}/test", params={"commune": "NOPE"},
                       headers=admin).status_code == 400
    with psycopg.connect(world.url) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE target = %s ORDER BY id",
                                              (f"alert_rule:{rule['id']}",))]
        secret_logged = conn.execute("SELECT count(*) FROM audit_log WHERE detail::text LIKE %s",
                                     ("%" + "s" * 32 + "%",)).fetchone()[0]
        queued = conn.execute("SELECT body->>'trigger' FROM webhook_delivery WHERE id = %s",
                              (r.json()["delivery_id"],)).fetchone()
    assert actions == ["notification.rule_create", "notification.rule_update", "notification.rule_test"]
    assert secret_logged == 0
    assert queued == ("test",)


def _sweep(url: str):
    async def go():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await notifications.sweep_overdue(conn)

    return asyncio.run(go())


def test_overdue_patrol_points_are_notified_once_per_spell(world, make_client):
    client = make_client(world.url)
    _add_rules(client, world, {"name": "overdue", "trigger": "patrol_overdue", "overdue_hours": 24,
                               "recipients": ["commune_chief"]})
    with psycopg.connect(world.url, autocommit=True) as conn:
        visit = ("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted, geom) "
                 "VALUES (%s, now() - make_interval(hours => %s), true, NULL)")
        conn.execute(visit, (world.point_a, 72))  # due 48 h ago: overdue by 48 h > 24 h
        conn.execute(visit, (world.point_b, 30))  # due 6 h ago: overdue, but not by a day
        interval = dict(conn.execute("SELECT id, visit_interval_hours FROM patrol_point").fetchall())
        last = dict(conn.execute("SELECT patrol_point_id, extract(epoch FROM now() - max(visited_at)) / 3600 "
                                 "FROM patrol_visit GROUP BY 1").fetchall())
    # Independently: overdue hours = hours since the last visit minus the interval.
    over_a_day = {p for p, hours in last.items() if float(hours) - interval[p] > 24}
    assert over_a_day == {world.point_a}
    first = _sweep(world.url)
    assert first == {"spells": 1, "notifications": 1, "deliveries": 0}
    with psycopg.connect(world.url) as conn:
        rows = conn.execute("SELECT user_id, patrol_point_id, subject->>'name' FROM notification").fetchall()
    assert rows == [(world.user_ids["commander_a"], world.point_a, "Chốt " + str(world.unit_a))]
    assert _sweep(world.url)["notifications"] == 0  # the same spell: once
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(visit, (world.point_a, 50))  # a visit, and still overdue by 26 h: a new spell
        # While another worker holds the sweep's lock, this one skips its round.
        with psycopg.connect(world.url) as other:
            other.execute("SELECT pg_advisory_xact_lock(%s)", (notifications.SWEEP_LOCK,))
            assert _sweep(world.url) is None
    assert _sweep(world.url)["notifications"] == 1
    inbox = client.get("/notifications", headers=world.headers("commander_a")).json()
    assert [n["patrol_point_id"] for n in inbox["items"]] == [world.point_a, world.point_a]
    assert inbox["items"][0]["subject"]["overdue_hours"] == pytest.approx(26, abs=0.1)


def test_each_user_receives_only_their_own_notification_events(world, start_server, make_client):
    client = make_client(world.url)
    _add_rules(client, world, SERIOUS)
    base = start_server(world.url, env=FAST)
    streams = {who: SSE(base, world.headers(who)) for who in ("commander_a", "commander", "officer_a", "admin")}
    try:
        body = incident_body(IN_A, severity="serious")
        assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
        with psycopg.connect(world.url) as conn:
            own = dict(conn.execute("SELECT user_id, id FROM notification WHERE incident_id = %s",
                                    (body["id"],)).fetchall())

        def notes(msgs):
            return [m for m in msgs if m.get("event") == "notification"]

        for who in ("commander_a", "commander"):
            got = notes(streams[who].wait_for(lambda m: notes(m) != []))
            assert [m["data"]["notification"]["id"] for m in got] == [own[world.user_ids[who]]], who
            assert got[0]["data"]["notification"]["subject"]["incident_id"] == body["id"]
        # The others' streams carried the incident itself but no notification.
        for who in ("officer_a", "admin"):
            msgs = streams[who].wait_for(lambda m: any(x.get("event") == "incident_created" for x in m))
            assert any(x.get("event") == "incident_created" for x in msgs)
            assert notes(msgs) == []
        r = client.post(f"/notifications/{own[world.user_ids['commander_a']]}/read",
                        headers=world.headers("commander_a"))
        assert r.status_code == 200
        got = streams["commander_a"].wait_for(lambda m: any(x.get("event") == "notification_read" for x in m))
        assert [x["data"]["ids"] for x in got if x.get("event") == "notification_read"] == [
            [own[world.user_ids["commander_a"]]]]
        assert not any(x.get("event") == "notification_read" for x in streams["commander"].messages)
    finally:
        for s in streams.values():
            s.close()
