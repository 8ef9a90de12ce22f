"""Patrol schedules: ``sitmap_patrol_due`` (migration 0021) against a Python reference that enumerates shift
windows on generated visits; a check-in records the schedule it fulfils; the schedule routes' scope and refusals
(403/404/409/422), audit rows and live events; the security teams and an officer's route of the day; the
patrol-points and security-teams layers read the one definition of overdue.

The world is tests/opsworld.py: communes A (T001) and B (T002), a patrol point in each, one user per role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from data import vocab
from data.ops.patrol_schedules import FULFILS_SQL
from tests.opsworld import IN_A

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = timedelta(hours=1)


# ---------------------------------------------------------------------------------------------- the reference

def windows(shifts: list[str], lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """Every window of ``shifts`` starting on a local day from lo's day - 1 to hi's day + 1, by enumeration."""
    out = []
    day = lo.astimezone(ZONE).date() - timedelta(days=1)
    while day <= hi.astimezone(ZONE).date() + timedelta(days=1):
        for s in shifts:
            a, b = vocab.PATROL_SHIFT_HOURS[s]
            start = datetime.combine(day, time(a), ZONE)
            out.append((start, start + timedelta(hours=(b - a) % 24)))
        day += timedelta(days=1)
    return sorted(out)


def reference(schedule: dict | None, interval_h: int, visits: list[tuple[datetime, bool, int | None]],
              at: datetime) -> dict:
    """Due and overdue by the words of the brief: a visit counts for its schedule (or when it names none); every
    N hours is due N hours after the last; named shifts are due once per window, the window due being the one
    after the last visited window (or the first ending after valid_from), overdue from its end."""
    sid = schedule["id"] if schedule else None
    counted = sorted(t for t, ok, s in visits if ok and t <= at and (sid is None or s is None or s == sid))
    last = counted[-1] if counted else None
    if schedule is None or schedule.get("every_hours"):
        hours = schedule["every_hours"] if schedule else interval_h
        due = last + timedelta(hours=hours) if last else None
    else:
        ws = [w for w in windows(schedule["shifts"], schedule["valid_from"] - timedelta(days=40), at)
              if w[1] > schedule["valid_from"]]
        visited = [i for i, (a, b) in enumerate(ws) if a <= at and any(a <= t < b for t in counted)]
        due = ws[visited[-1] + 1][1] if visited else ws[0][1]
    overdue = due is None or due < at
    return {"last_visit_at": last, "due_at": due, "overdue": overdue,
            "overdue_hours": (at - due) / HOUR if due is not None and due < at else None}


def test_the_migration_and_the_vocabulary_agree_on_the_shifts(world):
    with psycopg.connect(world.url) as conn:
        for s, (a, b) in vocab.PATROL_SHIFT_HOURS.items():
            start, end = conn.execute("SELECT * FROM sitmap_shift_window(%s, %s)",
                                      (s, datetime(2026, 3, 10, a, 30, tzinfo=ZONE))).fetchone()
            assert start == datetime(2026, 3, 10, a, tzinfo=ZONE)
            assert end - start == timedelta(hours=(b - a) % 24)


def _insert_visits(conn, point: int, visits: list[tuple[datetime, bool, int | None]]) -> None:
    conn.execute("DELETE FROM patrol_visit WHERE patrol_point_id = %s", (point,))
    for t, ok, sid in visits:
        conn.execute("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted, schedule_id, geom) VALUES "
                     "(%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))", (point, t, ok, sid, *IN_A))


@pytest.mark.parametrize("rhythm", [{"every_hours": 24}, {"every_hours": 7}, {"shifts": ["morning", "night"]},
                                    {"shifts": ["afternoon"]}, {"shifts": ["morning", "afternoon", "night"]}, None])
def test_due_and_overdue_match_the_reference_on_generated_visits(world, rhythm):
    rng = np.random.default_rng(16)
    valid_from = datetime(2026, 3, 1, 9, 17, tzinfo=ZONE)
    with psycopg.connect(world.url, autocommit=True) as conn:
        schedule = None
        if rhythm is not None:
            sid = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, team_id, user_id, every_hours, shifts, "
                               "valid_from) VALUES (%s, NULL, %s, %s, %s, %s) RETURNING id",
                               (world.point_a, world.user_ids["officer_a"], rhythm.get("every_hours"),
                                rhythm.get("shifts"), valid_from)).fetchone()[0]
            other = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, user_id, every_hours, valid_from) "
                                 "VALUES (%s, %s, 12, %s) RETURNING id",
                                 (world.point_b, world.user_ids["officer_b"], valid_from)).fetchone()[0]
            schedule = {"id": sid, "valid_from": valid_from, **rhythm}
        checked = 0
        for trial in range(12):
            # Visits every few hours with gaps of up to two days; some flagged, some for another schedule.
            t, visits = valid_from - timedelta(hours=float(rng.uniform(0, 30))), []
            while t < valid_from + timedelta(days=6):
                ok = bool(rng.random() > 0.15)
                named = None if rhythm is None else (sid if rng.random() < 0.5 else
                                                     (other if rng.random() < 0.2 else None))
                visits.append((t, ok, named))
                t += timedelta(hours=float(rng.choice([rng.uniform(1, 9), rng.uniform(10, 50)])))
            _insert_visits(conn, world.point_a, visits)
            for at in [valid_from + timedelta(hours=float(h)) for h in rng.uniform(0, 24 * 7, size=8)]:
                got = conn.execute("SELECT last_visit_at, due_at, overdue, overdue_hours, schedule_id, interval_hours "
                                   "FROM sitmap_patrol_due(%s) WHERE patrol_point_id = %s",
                                   (at, world.point_a)).fetchall()
                assert len(got) == 1, got
                last, due, overdue, hours, got_sid, interval = got[0]
                want = reference(schedule, 24, visits, at)
                where = f"trial {trial} at {at.isoformat()} rhythm {rhythm}"
                assert got_sid == (schedule["id"] if schedule else None), where
                assert interval == (rhythm or {"every_hours": 24}).get("every_hours"), where
                assert (last, due, overdue) == (want["last_visit_at"], want["due_at"], want["overdue"]), where
                assert (hours is None) == (want["overdue_hours"] is None), where
                if hours is not None:
                    assert hours == pytest.approx(want["overdue_hours"], abs=1e-6), where
                checked += 1
        assert checked == 96


def test_a_shift_is_overdue_from_the_end_of_the_window_that_passed_without_a_visit(world):
    valid_from = datetime(2026, 3, 1, 0, 0, tzinfo=ZONE)
    with psycopg.connect(world.url, autocommit=True) as conn:
        sid = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, user_id, shifts, valid_from) VALUES "
                           "(%s, %s, '{morning,night}', %s) RETURNING id",
                           (world.point_a, world.user_ids["officer_a"], valid_from)).fetchone()[0]
        # Morning of 3 March visited; the night of 3 March missed.
        _insert_visits(conn, world.point_a, [(datetime(2026, 3, 3, 9, tzinfo=ZONE), True, sid)])

        def due(at: datetime) -> tuple:
            return conn.execute("SELECT due_at, overdue, overdue_hours FROM sitmap_patrol_due(%s) "
                                "WHERE patrol_point_id = %s", (at, world.point_a)).fetchone()

        night_end = datetime(2026, 3, 4, 6, tzinfo=ZONE)
        assert due(datetime(2026, 3, 3, 23, tzinfo=ZONE)) == (night_end, False, None)
        assert due(datetime(2026, 3, 4, 9, tzinfo=ZONE)) == (night_end, True, 3.0)
        # A visit in the next morning fulfils that window: the next night is due.
        _insert_visits(conn, world.point_a, [(datetime(2026, 3, 3, 9, tzinfo=ZONE), True, sid),
                                             (datetime(2026, 3, 4, 10, tzinfo=ZONE), True, None)])
        assert due(datetime(2026, 3, 4, 11, tzinfo=ZONE)) == (datetime(2026, 3, 5, 6, tzinfo=ZONE), False, None)
        # A visit between shifts fulfils nothing.
        _insert_visits(conn, world.point_a, [(datetime(2026, 3, 3, 16, tzinfo=ZONE), True, sid)])
        # (the first window due is the night that holds valid_from, ending at 06:00 on 1 March)
        assert due(datetime(2026, 3, 3, 17, tzinfo=ZONE)) == (datetime(2026, 3, 1, 6, tzinfo=ZONE), True, 59.0)


# ---------------------------------------------------------------------------------------------- the routes

def _schedule(api, world, who="commander_a", **over):
    body = {"patrol_point_id": world.point_a, "username": "officer_a", "every_hours": 24, **over}
    return api.post("/patrol-schedules", json=body, headers=world.headers(who))


def _team(world, unit: int, name: str = "Tổ bảo vệ ANTT Bản Một") -> int:
    with psycopg.connect(world.url, autocommit=True) as conn:
        return conn.execute("INSERT INTO security_team (name, unit_id, members, geom) VALUES (%s, %s, 5, "
                            "ST_SetSRID(ST_MakePoint(103.11, 21.51), 4326)) RETURNING id", (name, unit)).fetchone()[0]


def test_schedules_are_created_read_edited_at_their_version_and_deleted_with_audit_and_events(world, make_client):
    api = make_client(world.url)
    team = _team(world, world.unit_a)
    r = _schedule(api, world, team_id=team, shifts=["night", "morning"], every_hours=None, note="chốt đêm")
    assert r.status_code == 201, r.text
    s = r.json()
    assert r.headers["Location"] == f"/patrol-schedules/{s['id']}"
    assert (s["shifts"], s["every_hours"], s["team_id"], s["username"], s["unit_code"], s["version"]) == \
        (["morning", "night"], None, team, "officer_a", "T001", 1)
    assert api.get(f"/patrol-schedules/{s['id']}", headers=world.headers("admin")).json()["id"] == s["id"]
    listed = api.get("/patrol-schedules", params={"commune": "T001"}, headers=world.headers("commander_a")).json()
    assert [x["id"] for x in listed["items"]] == [s["id"]]

    r = api.patch(f"/patrol-schedules/{s['id']}", json={"version": 1, "every_hours": 12},
                  headers=world.headers("commander_a"))
    assert r.status_code == 200, r.text
    assert (r.json()["every_hours"], r.json()["shifts"], r.json()["version"]) == (12, None, 2)
    stale = api.patch(f"/patrol-schedules/{s['id']}", json={"version": 1, "note": "x"},
                      headers=world.headers("commander_a"))
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert api.delete(f"/patrol-schedules/{s['id']}", params={"version": 1},
                      headers=world.headers("commander_a")).status_code == 409
    assert api.delete(f"/patrol-schedules/{s['id']}", params={"version": 2},
                      headers=world.headers("commander_a")).status_code == 204
    assert api.get(f"/patrol-schedules/{s['id']}", headers=world.headers("admin")).status_code == 404
    with psycopg.connect(world.url) as conn:
        audit = conn.execute("SELECT action, username FROM audit_log WHERE target = %s ORDER BY id",
                             (f"patrol_schedule:{s['id']}",)).fetchall()
        steps = conn.execute("SELECT payload->>'step', layer FROM event WHERE kind = 'patrol_schedule' ORDER BY id"
                             ).fetchall()
    assert audit == [("patrol_schedule.create", "commander_a"), ("patrol_schedule.edit", "commander_a"),
                     ("patrol_schedule.delete", "commander_a")]
    assert steps == [("create", "patrol-points"), ("edit", "patrol-points"), ("delete", "patrol-points")]


def test_the_schedule_routes_keep_to_the_callers_communes_and_refuse_bad_input(world, make_client):
    api = make_client(world.url)
    team_b = _team(world, world.unit_b, "Tổ Beta")
    assert _schedule(api, world, "officer_a").status_code == 403
    assert _schedule(api, world, "planner").status_code == 403
    assert _schedule(api, world, patrol_point_id=world.point_b, username="officer_b").status_code == 403
    assert _schedule(api, world, team_id=team_b).status_code == 403
    ok = _schedule(api, world, "commander", patrol_point_id=world.point_b, username="officer_b", team_id=team_b)
    assert ok.status_code == 201
    assert api.get(f"/patrol-schedules/{ok.json()['id']}", headers=world.headers("commander_a")).status_code == 404
    assert api.patch(f"/patrol-schedules/{ok.json()['id']}", json={"version": 1, "note": "x"},
                     headers=world.headers("commander_a")).status_code == 403
    assert api.get("/patrol-schedules/999999", headers=world.headers("admin")).status_code == 404
    assert api.get("/patrol-schedules", headers=world.headers("commander_a")).json()["count"] == 0
    for over, field in [({"shifts": ["morning"]}, "every_hours"), ({"every_hours": None}, "every_hours"),
                        ({"every_hours": None, "shifts": ["dawn"]}, "shifts"),
                        ({"every_hours": None, "shifts": ["night", "night"]}, "shifts"),
                        ({"every_hours": 0}, "every_hours"), ({"username": None}, "team_id"),
                        ({"username": "officer_b"}, "username"), ({"username": "planner"}, "username"),
                        ({"username": "nobody"}, "username"), ({"team_id": 999999}, "team_id"),
                        ({"patrol_point_id": 999999}, "patrol_point_id"),
                        ({"valid_from": "2026-03-02T00:00:00+07:00", "valid_to": "2026-03-01T00:00:00+07:00"},
                         "valid_to"),
                        ({"valid_from": "2026-03-02T00:00:00"}, "valid_from")]:
        r = _schedule(api, world, **over)
        assert r.status_code == 422, (over, r.text)
        assert r.json().get("field", field) == field, (over, r.json())
    assert api.delete("/patrol-schedules/1", headers=world.headers("commander_a")).status_code in (400, 422)


def test_a_check_in_records_the_schedule_it_fulfils(world, make_client):
    api = make_client(world.url)
    team = _team(world, world.unit_a)
    first = _schedule(api, world, "admin", username=None, team_id=team).json()["id"]
    mine = _schedule(api, world, "admin").json()["id"]

    def check_in(who: str) -> dict:
        r = api.post(f"/patrol-points/{world.point_a}/visits",
                     json={"id": str(uuid.uuid4()), "lon": IN_A[0], "lat": IN_A[1], "accuracy_m": 5},
                     headers=world.headers(who))
        assert r.status_code == 201, r.text
        return r.json()

    assert check_in("officer_a")["schedule_id"] == mine          # their own schedule
    assert check_in("commander_a")["schedule_id"] == first       # nobody's own: the point's oldest
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("INSERT INTO security_team_member (user_id, team_id) VALUES (%s, %s)",
                     (world.user_ids["commander_a"], team))
        later = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, user_id, every_hours) VALUES "
                             "(%s, %s, 6) RETURNING id", (world.point_a, world.user_ids["officer_a"])).fetchone()[0]
        assert conn.execute("SELECT " + FULFILS_SQL, {"pid": world.point_a, "at": datetime.now(UTC),
                                                     "uid": world.user_ids["commander_a"]}).fetchone()[0] == first
        stored = conn.execute("SELECT schedule_id FROM patrol_visit WHERE patrol_point_id = %s ORDER BY id",
                              (world.point_a,)).fetchall()
        due = dict(conn.execute("SELECT schedule_id, overdue FROM sitmap_patrol_due(now()) WHERE patrol_point_id = %s",
                                (world.point_a,)).fetchall())
    assert stored == [(mine,), (first,)]
    assert check_in("commander_a")["schedule_id"] == first       # their team's
    # Each schedule was fulfilled by a visit recorded for it; the new one has no visit of its own yet (both visits
    # name another schedule), so it is overdue.
    assert due == {first: False, mine: False, later: True}


def test_security_teams_and_the_officers_route_of_the_day(world, make_client):
    api = make_client(world.url)
    team_a, team_b = _team(world, world.unit_a), _team(world, world.unit_b, "Tổ Beta")
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("UPDATE patrol_point SET team_id = %s WHERE id = %s", (team_b, world.point_b))
        conn.execute("INSERT INTO security_team_member (user_id, team_id) VALUES (%s, %s)",
                     (world.user_ids["officer_a"], team_a))
    teams = api.get("/security-teams", headers=world.headers("officer_a")).json()["items"]
    assert [t["id"] for t in teams] == [team_a] and teams[0]["patrol_point_ids"] == []
    teams = api.get("/security-teams", params={"commune": "T002"}, headers=world.headers("commander")).json()["items"]
    assert [(t["id"], t["patrol_point_ids"]) for t in teams] == [(team_b, [world.point_b])]

    assert api.get("/me/patrol-route", headers=world.headers("officer_a")).json()["items"] == []
    today = datetime.now(ZONE).date()
    start = datetime.combine(today, time(0), ZONE)
    sid = _schedule(api, world, username=None, team_id=team_a, every_hours=None,
                    shifts=["morning", "afternoon", "night"], valid_from=start.isoformat()).json()["id"]
    route = api.get("/me/patrol-route", params={"date": today.isoformat()}, headers=world.headers("officer_a"))
    assert route.status_code == 200, route.text
    body = route.json()
    assert body["team"] == {"id": team_a, "name": "Tổ bảo vệ ANTT Bản Một"} and body["date"] == today.isoformat()
    [item] = body["items"]
    assert (item["schedule_id"], item["patrol_point_id"], item["assigned_to_me"]) == (sid, world.point_a, False)
    # the night that began yesterday evening ends this morning
    assert [w["shift"] for w in item["windows"]] == ["night", "morning", "afternoon", "night"]
    now = datetime.now(UTC)
    for w in item["windows"]:
        ends = datetime.fromisoformat(w["ends_at"])
        starts = datetime.fromisoformat(w["starts_at"])
        assert w["status"] == ("missed" if ends <= now else "open" if starts <= now else "upcoming"), w
    missed = any(w["status"] == "missed" for w in item["windows"])
    assert item["overdue"] == missed and item["status"] == ("overdue" if missed else "due")
    assert api.get("/me/patrol-route", headers=world.headers("officer_b")).json()["items"] == []
    assert api.get("/me/patrol-route", headers=world.headers("planner")).status_code == 403
    assert api.get("/me/patrol-route", params={"date": "2026-02-30"},
                   headers=world.headers("officer_a")).status_code in (400, 422)


def test_the_layers_read_the_one_definition_of_overdue(world, make_client):
    api = make_client(world.url)
    team_a = _team(world, world.unit_a)
    with psycopg.connect(world.url, autocommit=True) as conn:
        _insert_visits(conn, world.point_a, [(datetime.now(UTC) - timedelta(hours=30), True, None)])
    point = api.get(f"/collections/patrol-points/items/{world.point_a}", headers=world.headers("officer_a")).json()
    assert point["properties"]["overdue"] is True                  # its own 24 h interval
    assert point["properties"]["overdue_hours"] == pytest.approx(6, abs=0.1)
    s = _schedule(api, world, every_hours=48, team_id=team_a)
    assert s.status_code == 201
    point = api.get(f"/collections/patrol-points/items/{world.point_a}", headers=world.headers("officer_a")).json()
    assert (point["properties"]["overdue"], point["properties"]["schedules"]) == (False, 1)
    with psycopg.connect(world.url) as conn:
        want = conn.execute("SELECT due_at FROM sitmap_patrol_due(now()) WHERE patrol_point_id = %s",
                            (world.point_a,)).fetchone()[0]
    assert datetime.fromisoformat(point["properties"]["due_at"]) == want
    status = api.get(f"/patrol-points/{world.point_a}/status", headers=world.headers("officer_a")).json()
    assert (status["overdue"], datetime.fromisoformat(status["due_at"])) == (False, want)

    teams = api.get("/collections/security-teams/items", headers=world.headers("officer_a")).json()["features"]
    assert [(f["id"], f["properties"]["patrol_points"], f["properties"]["schedules"]) for f in teams] == \
        [(team_a, 1, 1)]
    assert teams[0]["geometry"]["coordinates"] == pytest.approx([103.11, 21.51])
    assert api.get("/collections/security-teams/items", headers=world.headers("officer_b")).json()["features"] == []
    assert api.get("/collections/security-teams/items").status_code in (401, 403)


# ---------------------------------------------------------------------------------------------- the CLI

def test_sitmap_patrol_assign_list_member_due_and_delete(world, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app as cli
    from data.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", world.url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        def run(*args):
            return runner.invoke(cli, ["patrol", *args])

        team = _team(world, world.unit_a, "Tổ Bản Noong")
        r = run("assign", "--point", str(world.point_a), "--team", "Tổ Bản Noong", "--shifts", "night,morning")
        assert r.exit_code == 0, r.output
        assert "Tổ Bản Noong" in r.output and "shifts morning,night" in r.output
        r = run("assign", "--point", str(world.point_b), "--user", "officer_b", "--every", "12")
        assert r.exit_code == 0, r.output
        bad = run("assign", "--point", str(world.point_a), "--user", "officer_b", "--every", "12")
        assert bad.exit_code == 2 and "outside their communes" in bad.output
        assert run("assign", "--point", str(world.point_a), "--team", "nobody", "--every", "1").exit_code == 2
        listed = run("list", "--commune", "T002")
        assert listed.exit_code == 0 and "officer_b" in listed.output and "1 schedule(s)" in listed.output
        assert run("member", "--user", "officer_a", "--team", str(team)).exit_code == 0
        due = run("due")
        # Never visited: the every-12-hours point is overdue; the shifts one is due at the end of the current
        # window. Before the schedules began, each point's own interval (never visited: overdue).
        assert due.exit_code == 0 and "1 of 2 point schedule(s) overdue" in due.output, due.output
        assert "OVERDUE (never visited)" in due.output and "shifts morning,night" in due.output
        before = run("due", "--at", "2026-03-02T12:00:00+07:00")
        assert "2 of 2 point schedule(s) overdue" in before.output and "own interval" in before.output
        with psycopg.connect(world.url) as conn:
            sid, n = conn.execute("SELECT max(id), count(*) FROM patrol_schedule").fetchone()
            member = conn.execute("SELECT team_id FROM security_team_member WHERE user_id = %s",
                                  (world.user_ids["officer_a"],)).fetchone()
            actions = [a for (a,) in conn.execute("SELECT action FROM audit_log WHERE username = 'cli' ORDER BY id")]
        assert n == 2 and member == (team,)
        assert actions == ["patrol_schedule.create", "patrol_schedule.create", "security_team.member"]
        assert run("delete", str(sid)).exit_code == 0
        with psycopg.connect(world.url) as conn:
            assert conn.execute("SELECT count(*) FROM patrol_schedule").fetchone()[0] == 1
    finally:
        get_settings.cache_clear()


# ---------------------------------------------------------------------------------------------- the demo

def test_the_demo_schedules_a_share_of_the_team_points_deterministically(demo_db_rw):
    from data.demo import patrols
    from data.demo.loader import read_config
    from tests.conftest import DEMO_UNTIL

    cfg = read_config()
    share = cfg["police"]["patrol_points"]["schedules"]["share"]

    def fingerprint(conn) -> tuple:
        return conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE shifts IS NOT NULL), "
            "md5(string_agg(concat_ws(',', patrol_point_id, team_id, every_hours, shifts::text, valid_from), '|' "
            "ORDER BY patrol_point_id)), (SELECT md5(string_agg(concat_ws(',', patrol_point_id, visited_at), '|' "
            "ORDER BY patrol_point_id, visited_at)) FROM patrol_visit WHERE schedule_id IS NOT NULL) "
            "FROM patrol_schedule").fetchone()

    with psycopg.connect(demo_db_rw) as conn:
        loaded = fingerprint(conn)
        team_points = conn.execute("SELECT count(*) FROM patrol_point WHERE team_id IS NOT NULL").fetchone()[0]
        n, shifted = loaded[:2]
        assert 0.8 * share * team_points < n < 1.2 * share * team_points
        assert 0.2 * n < shifted < 0.6 * n
        assert conn.execute("SELECT count(*) FROM patrol_schedule s JOIN patrol_point p ON p.id = s.patrol_point_id "
                            "WHERE s.team_id IS DISTINCT FROM p.team_id").fetchone()[0] == 0
        total, overdue = conn.execute("SELECT count(*), count(*) FILTER (WHERE overdue) FROM sitmap_patrol_due(%s) "
                                      "WHERE schedule_id IS NOT NULL", (DEMO_UNTIL,)).fetchone()
        assert total == n and 0.01 * n < overdue < 0.3 * n
        runs = []
        for _ in range(2):   # the same generator state gives the same schedules and visits
            conn.execute("DELETE FROM patrol_visit WHERE schedule_id IS NOT NULL")
            conn.execute("DELETE FROM patrol_schedule")
            patrols.load_schedules(conn, cfg, np.random.default_rng(5), DEMO_UNTIL)
            runs.append(fingerprint(conn))
        assert runs[0] == runs[1] and runs[0][0] > 0
        conn.rollback()
