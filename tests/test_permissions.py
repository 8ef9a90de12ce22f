"""The role × action matrix of data/permissions.py, derived from the table and checked against every route.

Every route that is not public must declare its action (``Depends(require(action))``, found on the route);
a route without one, or one this test has no request for, fails. Then, on a real server, each route is
called by a user of every role: in the caller's own commune the role is refused with 403 exactly when the
table says it may not; in another commune a commune-scoped caller is refused (403, or 404/empty for reads
that filter in SQL) exactly when the action is limited to the caller's communes. Personal details and the
live alerts follow the table's ``personal.read`` and ``alert.receive`` the same way. tests/test_access_matrix.py
pins the statuses of today's policy; this file checks that the code follows whatever the table says.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.app import create_app
from api.security import is_public, require
from data import permissions, vocab
from data.permissions import PERMISSIONS, roles_for
from tests.opsworld import IN_A, IN_B, PASSWORD, SSE, USERS, World, build_world, incident_body

# One user per role, the commune-scoped ones in commune A (T001): "own" is A, "other" is B (T002).
BY_ROLE = {"admin": "admin", "commander": "commander_a", "planner": "planner", "officer": "officer_a"}


def test_the_table_names_only_roles_of_the_vocabulary_and_every_role_has_a_test_user() -> None:
    assert set(BY_ROLE) == set(vocab.codes(vocab.ROLES))
    assert all(USERS[who][0] == role for role, who in BY_ROLE.items())
    for action, rule in PERMISSIONS.items():
        assert rule.roles <= set(permissions.ROLES), action
        assert rule.what, f"{action} says what it allows"


def _declared(route: APIRoute) -> list[str]:
    """The actions a route's dependencies (at any depth) require."""
    found, todo = [], [route.dependant]
    while todo:
        dep = todo.pop()
        if isinstance(dep.call, require):
            found.append(dep.call.action)
        todo.extend(dep.dependencies)
    return found


def routes() -> dict[str, str | None]:
    """"METHOD path" -> its action (None for public routes), for every operation of the app."""
    out: dict[str, str | None] = {}
    for ctx in iter_route_contexts(create_app().routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):  # mounts (static files) and the OpenAPI document
            assert is_public(ctx.path) or is_public(ctx.path + "/x"), f"{ctx.path} is neither public nor an API route"
            continue
        actions = _declared(route)
        for method in sorted(route.methods - {"HEAD"}):
            key = f"{method} {ctx.path}"
            if is_public(ctx.path):
                assert not actions, f"{key} is public but requires {actions}"
                out[key] = None
            else:
                assert len(actions) == 1, (f"{key} is not public and must declare exactly one action of "
                                           f"data/permissions.py with Depends(require(...)); it declares {actions}")
                out[key] = actions[0]
    return out


# ---- one real request per route: (http, base, world, who, commune "own"|"other") -> Outcome ----

@dataclass(frozen=True)
class Outcome:
    status: int
    kind: str  # ok | role (403 forbidden-role) | scope (403 outside the communes, 404 or nothing visible)
    detail: str = ""


def _outcome(r: httpx.Response, *, empty_is_scope: bool = False) -> Outcome:
    if 200 <= r.status_code < 300:
        if empty_is_scope and r.json()["count"] == 0:
            return Outcome(r.status_code, "scope")
        return Outcome(r.status_code, "ok")
    body = r.json() if r.headers.get("content-type", "").startswith("application/problem+json") else {}
    if r.status_code == 403 and body.get("type", "").endswith("/forbidden-role"):
        return Outcome(403, "role", body["detail"])
    if r.status_code in (403, 404):
        return Outcome(r.status_code, "scope", body.get("detail", ""))
    raise AssertionError(f"{r.request.method} {r.request.url} answered {r.status_code}: {r.text[:300]}")


Call = Callable[[httpx.Client, str, World, str, str], Outcome]


def _where(world: World, where: str) -> tuple[tuple[float, float], str, int, int, str]:
    if where == "own":
        return IN_A, "T001", world.point_a, world.station_a, "officer_a"
    return IN_B, "T002", world.point_b, world.station_b, "officer_b"


def _seed(http: httpx.Client, base: str, world: World, where: str, assigned: bool = False) -> str:
    point, _, _, _, officer = _where(world, where)
    body = incident_body(point)
    admin = world.headers("admin")
    assert http.post(f"{base}/incidents", json=body, headers=admin).status_code == 201
    if assigned:
        r = http.patch(f"{base}/incidents/{body['id']}", json={"version": 1, "assignee": officer}, headers=admin)
        assert r.status_code == 200, r.text
    return body["id"]


def _create(http, base, world, who, where):
    return _outcome(http.post(f"{base}/incidents", json=incident_body(_where(world, where)[0]),
                              headers=world.headers(who)))


def _batch(http, base, world, who, where):
    r = http.post(f"{base}/incidents/batch", json={"items": [incident_body(_where(world, where)[0])]},
                  headers=world.headers(who))
    if r.status_code != 200:
        return _outcome(r)
    item = r.json()["results"][0]
    if item["status"] == 201:
        return Outcome(201, "ok")
    assert item["status"] == 403, item
    return Outcome(403, "scope", item["problem"]["detail"])


def _patch(http, base, world, who, where):
    # Started by anyone allowed: an officer may take this step on an incident assigned to them.
    iid = _seed(http, base, world, where, assigned=True)
    return _outcome(http.patch(f"{base}/incidents/{iid}", json={"version": 2, "status": "in_progress"},
                               headers=world.headers(who)))


def _list(http, base, world, who, where):
    code = _where(world, where)[1]
    _seed(http, base, world, where)
    return _outcome(http.get(f"{base}/incidents", params={"commune": code}, headers=world.headers(who)),
                    empty_is_scope=True)


def _read(http, base, world, who, where):
    return _outcome(http.get(f"{base}/incidents/{_seed(http, base, world, where)}", headers=world.headers(who)))


def _history(http, base, world, who, where):
    iid = _seed(http, base, world, where)
    return _outcome(http.get(f"{base}/incidents/{iid}/history", headers=world.headers(who)))


def _visit(http, base, world, who, where):
    point, _, pp, _, _ = _where(world, where)
    visit = {"id": str(uuid.uuid4()), "lon": point[0], "lat": point[1]}
    return _outcome(http.post(f"{base}/patrol-points/{pp}/visits", json=visit, headers=world.headers(who)))


def _point_status(http, base, world, who, where):
    return _outcome(http.get(f"{base}/patrol-points/{_where(world, where)[2]}/status", headers=world.headers(who)))


def _station_status(http, base, world, who, where):
    st = _where(world, where)[3]
    return _outcome(http.put(f"{base}/stations/{st}/status", json={"hq_status": "independent"},
                             headers=world.headers(who)))


def _station_history(http, base, world, who, where):
    st = _where(world, where)[3]
    return _outcome(http.get(f"{base}/stations/{st}/status-history", headers=world.headers(who)))


def _live(http, base, world, who, where):
    with http.stream("GET", f"{base}/live", params={"commune": _where(world, where)[1]},
                     headers=world.headers(who)) as r:
        if r.status_code == 200:
            return Outcome(200, "ok")
        r.read()
        return _outcome(r)


def _me(http, base, world, who, where):
    return _outcome(http.get(f"{base}/auth/me", headers=world.headers(who)))


def _account(http, base, world, who, where):
    return _outcome(http.get(f"{base}/account", headers=world.headers(who)))


def _password(http, base, world, who, where):
    """A real change (204); the call in the other commune changes it back, so both calls succeed."""
    new = PASSWORD + " 2"
    current, new = (PASSWORD, new) if where == "own" else (new, PASSWORD)
    return _outcome(http.post(f"{base}/account/password", json={"current_password": current, "new_password": new},
                              headers=world.headers(who)))


def _roads(world: World) -> None:
    """Once per world: a road through both stations (A west, B east) and a village on it in each commune."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM road_edge)").fetchone()[0]:
            return
        for eid, (a, b), (x1, x2) in ((1, (1, 2), (103.05, 103.2)), (2, (2, 3), (103.2, 103.35))):
            conn.execute(
                "INSERT INTO road_edge (id, source, target, road_class, length_m, cost_s, reverse_cost_s, "
                "is_generated, geom) SELECT %s, %s, %s, 'commune', ST_Length(g::geography), "
                "ST_Length(g::geography) / 8.3, ST_Length(g::geography) / 8.3, false, g "
                "FROM (SELECT ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, 21.5), ST_MakePoint(%s, 21.5)), 4326) g) z",
                [eid, a, b, x1, x2])
        for unit, x in ((world.unit_a, 103.12), (world.unit_b, 103.28)):
            conn.execute("INSERT INTO settlement (name, name_ascii, kind, population, unit_id, geom) VALUES "
                         "('Bản', 'Ban', 'ban', 100, %s, ST_SetSRID(ST_MakePoint(%s, 21.5), 4326))", [unit, x])


def _route(http, base, world, who, where):
    _roads(world)
    x, y = _where(world, where)[0]
    return _outcome(http.get(f"{base}/travel/route", params={"from": f"{x},{y}", "to": f"{x + 0.02},{y}"},
                             headers=world.headers(who)))


def _isochrones(http, base, world, who, where):
    _roads(world)
    return _outcome(http.get(f"{base}/travel/isochrones", params={"station": _where(world, where)[3],
                                                                  "minutes": "5"}, headers=world.headers(who)))


def _analysis(name: str) -> Call:
    def call(http, base, world, who, where):
        _roads(world)
        r = http.get(f"{base}/analyses/{name}", params={"commune": _where(world, where)[1]},
                     headers=world.headers(who))
        return _outcome(r)

    return call


_drawn = iter(range(1, 10**6))


def _square(where: str) -> dict:
    """A small drawn area around the commune's point, a little apart from every other (approving one then
    supersedes nothing: data/ops/designations.py ends only an approved one over the same area)."""
    (x, y), d = IN_A if where == "own" else IN_B, next(_drawn) * 1e-5
    ring = [[x + d, y], [x + d + 0.01, y], [x + d + 0.01, y + 0.01], [x + d, y + 0.01], [x + d, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def _proposal(http, base, world, where, approved: bool = False) -> int:
    r = http.post(f"{base}/designations", json={"kind": "drug_key", "geometry": _square(where)},
                  headers=world.headers("admin"))
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    if approved:
        r = http.post(f"{base}/designations/{did}/approve", json={"version": 1}, headers=world.headers("admin"))
        assert r.status_code == 200, r.text
    return did


def _propose(http, base, world, who, where):
    return _outcome(http.post(f"{base}/designations", json={"kind": "drug_key", "geometry": _square(where)},
                              headers=world.headers(who)))


def _designation_step(step: str) -> Call:
    def call(http, base, world, who, where):
        did = _proposal(http, base, world, where, approved=step == "revoke")
        version = 2 if step == "revoke" else 1
        if step == "edit":
            r = http.patch(f"{base}/designations/{did}", json={"version": 1, "note": "x"}, headers=world.headers(who))
        else:
            r = http.post(f"{base}/designations/{did}/{step}", json={"version": version, "reason": "r"},
                          headers=world.headers(who))
        return _outcome(r)

    return call


def _designations(http, base, world, who, where):
    _proposal(http, base, world, where)
    return _outcome(http.get(f"{base}/designations", params={"commune": _where(world, where)[1]},
                             headers=world.headers(who)), empty_is_scope=True)


def _designation(http, base, world, who, where):
    return _outcome(http.get(f"{base}/designations/{_proposal(http, base, world, where)}", headers=world.headers(who)))


def _unit_designations(http, base, world, who, where):
    unit = world.unit_a if where == "own" else world.unit_b
    return _outcome(http.get(f"{base}/units/{unit}/designations", headers=world.headers(who)))


# Closures of the permission tests start in 2099, so the travel calls of the same world are not affected.
def _closure_body(where: str) -> dict:
    x, y = IN_A if where == "own" else IN_B
    return {"reason": "landslide", "geometry": {"type": "Point", "coordinates": [x, y]},
            "starts_at": "2099-01-01T00:00:00+07:00"}


def _closure(http, base, world, where) -> int:
    _roads(world)
    r = http.post(f"{base}/closures", json=_closure_body(where), headers=world.headers("admin"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _close(http, base, world, who, where):
    _roads(world)
    return _outcome(http.post(f"{base}/closures", json=_closure_body(where), headers=world.headers(who)))


def _closure_step(step: str) -> Call:
    def call(http, base, world, who, where):
        cid = _closure(http, base, world, where)
        if step == "edit":
            r = http.patch(f"{base}/closures/{cid}", json={"version": 1, "ends_at": "2099-02-01T00:00:00+07:00"},
                           headers=world.headers(who))
        else:
            r = http.post(f"{base}/closures/{cid}/reopen", json={"version": 1}, headers=world.headers(who))
        return _outcome(r)

    return call


def _closures(http, base, world, who, where):
    _closure(http, base, world, where)
    return _outcome(http.get(f"{base}/closures", params={"commune": _where(world, where)[1]},
                             headers=world.headers(who)), empty_is_scope=True)


def _closure_read(http, base, world, who, where):
    return _outcome(http.get(f"{base}/closures/{_closure(http, base, world, where)}", headers=world.headers(who)))


def _sites(http, base, world, who, where):
    _roads(world)
    body = {"problem": "mclp", "p": 1, "minutes": 30, "commune": _where(world, where)[1]}
    return _outcome(http.post(f"{base}/analyses/sites", json=body, headers=world.headers(who)))


# Scenarios are province-wide plans (scenario.manage is not limited to communes): "other" changes nothing.
def _scenario(http, base, world, run: bool = False) -> int:
    _roads(world)
    r = http.post(f"{base}/scenarios", json={"name": "s", "changes": []}, headers=world.headers("admin"))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    if run:
        r = http.post(f"{base}/scenarios/{sid}/run", headers=world.headers("admin"))
        assert r.status_code == 200, r.text
    return sid


def _scenario_call(method: str, path: str | None = None, body: dict | None = None, run: bool = False) -> Call:
    """``path`` None: the collection /scenarios; else that path under one scenario made by an admin."""
    def call(http, base, world, who, where):
        if path is None:
            body_ = {"name": "s", "changes": []} if method == "POST" else None
            return _outcome(http.request(method, f"{base}/scenarios", json=body_, headers=world.headers(who)))
        sid = _scenario(http, base, world, run)
        return _outcome(http.request(method, f"{base}/scenarios/{sid}{path}", json=body, headers=world.headers(who)))

    return call


HOTSPOT_BODY = {"categories": ["drugs"], "until": "2026-06-01T00:00:00+07:00"}


def _hotspot_run_id(world: World) -> int:
    """Once per world: a stored hot-spot run (over no incidents) for the read routes to find."""
    from data.ops.hotspot_runs import HotspotParams, run

    with psycopg.connect(world.url) as conn:
        found = conn.execute("SELECT min(id) FROM hotspot_run").fetchone()[0]
        if found is None:
            found = run(conn, HotspotParams.defaults(categories=("drugs",))).run_id
    return found


def _hotspots_post(http, base, world, who, where):
    body = {**HOTSPOT_BODY, "commune": _where(world, where)[1]}
    return _outcome(http.post(f"{base}/analyses/hotspots", json=body, headers=world.headers(who)))


def _hotspot_read(path: str) -> Call:
    def call(http, base, world, who, where):
        url = base + path.format(run_id=_hotspot_run_id(world))
        return _outcome(http.get(url, params={"commune": _where(world, where)[1]}, headers=world.headers(who)))

    return call


def _import(http, base, world, who, where):
    """A dry run of a one-station CSV (data.import is province-wide: "other" changes nothing)."""
    lon, lat = _where(world, where)[0]
    body = f"code,name,kind,hq_status,lon,lat\nCA-IMP,Công an thử,commune_police,shared,{lon + 0.01},{lat}\n"
    return _outcome(http.post(f"{base}/imports/stations", files={"file": ("s.csv", body.encode(), "text/csv")},
                              data={"dry_run": "true"}, headers=world.headers(who)))


def _report(http, base, world, who, where):
    """A month's report of the commune "where" as CSV (one table: the cheapest file)."""
    return _outcome(http.get(f"{base}/reports", params={"period": "2025-09", "commune": _where(world, where)[1],
                                                        "format": "csv", "table": "incidents"},
                             headers=world.headers(who)))


def _report_options(http, base, world, who, where):
    return _outcome(http.get(f"{base}/reports/options", headers=world.headers(who)))


# Notifications: the inbox is the caller's own; one of the caller's notifications is written in the commune
# "where" (directly: the rules' recipients are tested in test_notifications.py), after the older ones are marked
# read, so a commune-scoped caller finds nothing of the other commune (hidden once the scope no longer holds).
def _notification(world: World, who: str, where: str) -> int:
    unit = world.unit_a if where == "own" else world.unit_b
    with psycopg.connect(world.url) as conn:
        rule = conn.execute("INSERT INTO alert_rule (name, enabled, trigger, recipients) VALUES (%s, false, "
                            "'incident', '{admin}') ON CONFLICT (name) DO UPDATE SET enabled = false RETURNING id",
                            ("permissions",)).fetchone()[0]
        conn.execute("UPDATE notification SET read_at = now() WHERE user_id = %s AND read_at IS NULL",
                     (world.user_ids[who],))
        return conn.execute("INSERT INTO notification (user_id, rule_id, trigger, unit_id) VALUES "
                            "(%s, %s, 'incident', %s) RETURNING id", (world.user_ids[who], rule, unit)).fetchone()[0]


def _inbox(http, base, world, who, where):
    _notification(world, who, where)
    return _outcome(http.get(f"{base}/notifications", params={"unread": "true"}, headers=world.headers(who)),
                    empty_is_scope=True)


def _read_notification(http, base, world, who, where):
    nid = _notification(world, who, where)
    return _outcome(http.post(f"{base}/notifications/{nid}/read", headers=world.headers(who)))


def _read_all(http, base, world, who, where):
    _notification(world, who, where)
    r = http.post(f"{base}/notifications/read-all", headers=world.headers(who))
    if r.status_code == 200 and r.json()["marked"] == 0:
        return Outcome(200, "scope")
    return _outcome(r)


# Alert rules are province-wide (notification.rules is not limited to communes): "other" changes nothing.
def _rule_body() -> dict:
    return {"name": f"perm-{uuid.uuid4()}", "trigger": "incident", "recipients": ["commune_chief"]}


def _new_rule(http, base, world) -> int:
    r = http.post(f"{base}/notification-rules", json=_rule_body(), headers=world.headers("admin"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _rule_call(method: str, path: str | None = None, body: dict | None = None) -> Call:
    """``path`` None: the collection /notification-rules; else that path under one rule made by an admin."""
    def call(http, base, world, who, where):
        if path is None:
            body_ = _rule_body() if method == "POST" else None
            return _outcome(http.request(method, f"{base}/notification-rules", json=body_,
                                         headers=world.headers(who)))
        rid = _new_rule(http, base, world)
        return _outcome(http.request(method, f"{base}/notification-rules/{rid}{path}", json=body,
                                     headers=world.headers(who)))

    return call


def _situation(http, base, world, who, where):
    """The situation of one commune: another commune than one's own is refused (403) to a scoped caller."""
    return _outcome(http.get(f"{base}/situation", params={"commune": _where(world, where)[1]},
                             headers=world.headers(who)))


# Patrol schedules (data/ops/patrol_schedules.py): rows made directly, by "admin" (who may check in anywhere).
def _patrol_schedule(world: World, where: str, user: str = "admin") -> int:
    with psycopg.connect(world.url, autocommit=True) as conn:
        return conn.execute("INSERT INTO patrol_schedule (patrol_point_id, user_id, every_hours) VALUES (%s, %s, 24) "
                            "RETURNING id", (_where(world, where)[2], world.user_ids[user])).fetchone()[0]


def _schedule_call(method: str, path: str | None = None, body: dict | None = None,
                   params: dict | None = None) -> Call:
    """``path`` None: the collection /patrol-schedules; else /patrol-schedules/{id} of a new one."""
    def call(http, base, world, who, where):
        if path is None and method == "POST":
            body_ = {"patrol_point_id": _where(world, where)[2], "username": "admin", "every_hours": 24}
            return _outcome(http.post(f"{base}/patrol-schedules", json=body_, headers=world.headers(who)))
        sid = _patrol_schedule(world, where)
        if path is None:
            return _outcome(http.get(f"{base}/patrol-schedules", params={"commune": _where(world, where)[1]},
                                     headers=world.headers(who)), empty_is_scope=True)
        return _outcome(http.request(method, f"{base}/patrol-schedules/{sid}", json=body, params=params,
                                     headers=world.headers(who)))

    return call


def _security_teams(http, base, world, who, where):
    unit = world.unit_a if where == "own" else world.unit_b
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("INSERT INTO security_team (name, unit_id, members) VALUES ('Tổ thử', %s, 3)", (unit,))
    return _outcome(http.get(f"{base}/security-teams", params={"commune": _where(world, where)[1]},
                             headers=world.headers(who)), empty_is_scope=True)


def _patrol_route(http, base, world, who, where):
    """A schedule of the caller's own at a point of ``where``: outside their communes it is not on their route."""
    _patrol_schedule(world, where, who)
    r = http.get(f"{base}/me/patrol-route", headers=world.headers(who))
    if r.status_code == 200 and _where(world, where)[2] not in {i["patrol_point_id"] for i in r.json()["items"]}:
        return Outcome(200, "scope")
    return _outcome(r)


# Every non-public route: the action it must declare and how to call it. A new route needs a line here.
CALLS: dict[str, tuple[str, Call]] = {
    "POST /incidents": ("incident.create", _create),
    "POST /incidents/batch": ("incident.create", _batch),
    "PATCH /incidents/{incident_id}": ("incident.patch", _patch),
    "GET /incidents": ("incident.read", _list),
    "GET /incidents/{incident_id}": ("incident.read", _read),
    "GET /incidents/{incident_id}/history": ("incident.read", _history),
    "POST /patrol-points/{point_id}/visits": ("patrol.check_in", _visit),
    "GET /patrol-points/{point_id}/status": ("patrol.read", _point_status),
    "POST /patrol-schedules": ("patrol.schedule", _schedule_call("POST")),
    "GET /patrol-schedules": ("patrol.schedule", _schedule_call("GET")),
    "GET /patrol-schedules/{schedule_id}": ("patrol.schedule", _schedule_call("GET", "")),
    "PATCH /patrol-schedules/{schedule_id}": ("patrol.schedule", _schedule_call("PATCH", "", {"version": 1,
                                                                                              "note": "x"})),
    "DELETE /patrol-schedules/{schedule_id}": ("patrol.schedule", _schedule_call("DELETE", "",
                                                                                 params={"version": 1})),
    "GET /security-teams": ("patrol.read", _security_teams),
    "GET /me/patrol-route": ("patrol.check_in", _patrol_route),
    "GET /situation": ("situation.read", _situation),
    "PUT /stations/{station_id}/status": ("station.status", _station_status),
    "GET /stations/{station_id}/status-history": ("station.history", _station_history),
    "GET /live": ("live.subscribe", _live),
    "GET /auth/me": ("self.read", _me),
    "GET /account": ("self.read", _account),
    "POST /account/password": ("self.password", _password),
    "GET /travel/route": ("analysis.run", _route),
    "GET /travel/isochrones": ("analysis.run", _isochrones),
    "GET /analyses/access": ("analysis.run", _analysis("access")),
    "GET /analyses/savings": ("analysis.run", _analysis("savings")),
    "GET /analyses/responses": ("analysis.run", _analysis("responses")),
    "GET /analyses/coverage": ("analysis.run", _analysis("coverage")),
    "GET /analyses/coverage/curve.svg": ("analysis.run", _analysis("coverage/curve.svg")),
    "POST /designations": ("designation.propose", _propose),
    "PATCH /designations/{designation_id}": ("designation.propose", _designation_step("edit")),
    "POST /designations/{designation_id}/approve": ("designation.approve", _designation_step("approve")),
    "POST /designations/{designation_id}/reject": ("designation.approve", _designation_step("reject")),
    "POST /designations/{designation_id}/revoke": ("designation.approve", _designation_step("revoke")),
    "GET /designations": ("layer.restricted", _designations),
    "GET /designations/{designation_id}": ("layer.restricted", _designation),
    "GET /units/{unit_id}/designations": ("layer.restricted", _unit_designations),
    "POST /analyses/hotspots": ("analysis.run", _hotspots_post),
    "POST /analyses/sites": ("analysis.run", _sites),
    "POST /scenarios": ("scenario.manage", _scenario_call("POST")),
    "GET /scenarios": ("scenario.manage", _scenario_call("GET")),
    "GET /scenarios/{scenario_id}": ("scenario.manage", _scenario_call("GET", "")),
    "PUT /scenarios/{scenario_id}": ("scenario.manage", _scenario_call("PUT", "", {"version": 1, "name": "t",
                                                                                   "changes": []})),
    "PATCH /scenarios/{scenario_id}": ("scenario.manage", _scenario_call("PATCH", "", {"version": 1, "name": "t"})),
    "DELETE /scenarios/{scenario_id}": ("scenario.manage", _scenario_call("DELETE", "")),
    "POST /scenarios/{scenario_id}/run": ("scenario.manage", _scenario_call("POST", "/run")),
    "GET /scenarios/{scenario_id}/curve.svg": ("scenario.manage", _scenario_call("GET", "/curve.svg", run=True)),
    "POST /closures": ("closure.manage", _close),
    "PATCH /closures/{closure_id}": ("closure.manage", _closure_step("edit")),
    "POST /closures/{closure_id}/reopen": ("closure.manage", _closure_step("reopen")),
    "GET /closures": ("layer.restricted", _closures),
    "GET /closures/{closure_id}": ("layer.restricted", _closure_read),
    "GET /hotspot-runs": ("layer.restricted", _hotspot_read("/hotspot-runs")),
    "GET /hotspot-runs/{run_id}": ("layer.restricted", _hotspot_read("/hotspot-runs/{run_id}")),
    "GET /hotspot-runs/{run_id}/cells": ("layer.restricted", _hotspot_read("/hotspot-runs/{run_id}/cells")),
    "POST /imports/{kind}": ("data.import", _import),
    "GET /reports": ("report.read", _report),
    "GET /reports/options": ("self.read", _report_options),
    "GET /notifications": ("notification.read", _inbox),
    "POST /notifications/{notification_id}/read": ("notification.read", _read_notification),
    "POST /notifications/read-all": ("notification.read", _read_all),
    "GET /notification-rules": ("notification.rules", _rule_call("GET")),
    "POST /notification-rules": ("notification.rules", _rule_call("POST")),
    "GET /notification-rules/{rule_id}": ("notification.rules", _rule_call("GET", "")),
    "PATCH /notification-rules/{rule_id}": ("notification.rules", _rule_call("PATCH", "", {"version": 1,
                                                                                           "enabled": False})),
    "POST /notification-rules/{rule_id}/test": ("notification.rules", _rule_call("POST", "/test")),
}


def test_every_route_is_public_or_declares_its_action() -> None:
    declared = {key: action for key, action in routes().items() if action is not None}
    missing, gone = sorted(set(declared) - set(CALLS)), sorted(set(CALLS) - set(declared))
    assert not missing and not gone, (f"routes without a request in CALLS (add one, with the action they need): "
                                      f"{missing}; routes that are gone: {gone}")
    wrong = {key: (declared[key], CALLS[key][0]) for key in declared if declared[key] != CALLS[key][0]}
    assert not wrong, f"(declared, expected) actions: {wrong}"


def expected(action: str, role: str, who: str, where: str) -> str:
    """What the table says: ok, refused for the role, or refused outside the caller's communes."""
    if role not in PERMISSIONS[action].roles:
        return "role"
    scoped = USERS[who][1] is not None
    if where == "other" and scoped and PERMISSIONS[action].within_communes:
        return "scope"
    return "ok"


@pytest.fixture
def served(empty_db, start_server):
    world = build_world(empty_db)
    return start_server(empty_db), world


def test_every_route_answers_every_role_as_the_table_says(served):
    base, world = served
    wrong: dict[str, tuple[str, str]] = {}
    checked = 0
    with httpx.Client(timeout=30) as http:
        for key, (action, call) in CALLS.items():
            for role, who in BY_ROLE.items():
                for where in ("own", "other"):
                    got = call(http, base, world, who, where)
                    want = expected(action, role, who, where)
                    checked += 1
                    if got.kind != want:
                        wrong[f"{key} as {role} ({who}) in {where} commune"] = (got.kind, want)
                    elif got.kind == "role":  # the refusal names the roles that may
                        assert f"allowed roles: {', '.join(roles_for(action))}" in got.detail, got.detail
    assert not wrong, f"(got, table says): {wrong}"
    assert checked == len(CALLS) * len(BY_ROLE) * 2


def test_personal_details_layers_workflow_and_alerts_follow_the_table(served):
    base, world = served
    admin = world.headers("admin")
    with httpx.Client(timeout=30) as http:
        iid = _seed(http, base, world, "own", assigned=True)
        _seed(http, base, world, "other")
        st = world.station_a
        assert http.put(f"{base}/stations/{st}/status", json={"hq_status": "independent"},
                        headers=admin).status_code == 200
        streams = {role: SSE(base, world.headers(who)) for role, who in BY_ROLE.items()}
        try:
            serious = incident_body(IN_A, severity="serious")
            after = incident_body(IN_A)  # committed later: once it arrives, the serious one's events all have
            for body in (serious, after):
                assert http.post(f"{base}/incidents", json=body, headers=admin).status_code == 201
            for role, who in BY_ROLE.items():
                personal = role in PERMISSIONS["personal.read"].roles
                h = world.headers(who)
                one = http.get(f"{base}/incidents/{iid}", headers=h).json()
                assert (one["description"] is not None and one["assignee"] == "officer_a") == personal, role
                assert ("redacted" in one) != personal, role
                hist = http.get(f"{base}/incidents/{iid}/history", headers=h).json()["items"]
                assert all((x["username"] is not None) == personal for x in hist), role
                changes = http.get(f"{base}/stations/{st}/status-history", headers=h).json()["items"]
                assert changes and all((c["changed_by"] == "admin") == personal for c in changes), role
                r = http.get(f"{base}/collections/incidents/items", params={"limit": 50}, headers=h)
                layer = PERMISSIONS["layer.restricted"]
                assert (r.status_code == 200) == (role in layer.roles), (role, r.status_code)
                feats = r.json()["features"]
                assert feats and all(("description" in f["properties"]) == personal for f in feats), role
                units = {f["properties"]["unit_id"] for f in feats}
                only_own = USERS[who][1] is not None and layer.within_communes
                assert units == ({world.unit_a} if only_own else {world.unit_a, world.unit_b}), role

                # Workflow steps beyond an officer's own and edits are actions of their own.
                for action, change in (("incident.assign", {"status": "transferred"}),
                                       ("incident.edit", {"severity": "serious"})):
                    mine = _seed(http, base, world, "own", assigned=True)
                    r = http.patch(f"{base}/incidents/{mine}", json={"version": 2, **change}, headers=h)
                    assert r.status_code in (200, 403), r.text
                    assert (r.status_code == 200) == (role in PERMISSIONS[action].roles), (role, action, r.text)

                got = streams[role].wait_for(lambda ms: any(m["event"] == "incident_created"
                                                            and m["data"]["feature"]["id"] == after["id"] for m in ms))
                alerts = [m for m in got if m["event"] == "alert"]
                assert bool(alerts) == (role in PERMISSIONS["alert.receive"].roles), (role, got)
                assert all(m["data"]["feature"]["id"] == serious["id"] for m in alerts)
        finally:
            for s in streams.values():
                s.close()
