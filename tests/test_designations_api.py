"""The key-area designation workflow over HTTP on a real database (tests/opsworld.py: communes A and B, a user
of every role): who may take each step, within which communes, which transitions are refused and how, the
audit rows and versions of each step, supersession, bad input, the live events and the popup's route."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import psycopg
import pytest

from data.ops import designations as ops
from data.ops import signin, users
from tests.opsworld import SSE, World

FAST = {"SITMAP_LIVE_HEARTBEAT_S": "0.2"}
# Drawn polygons: inside A, across A and B, outside the province.
IN_A_POLY = {"type": "Polygon", "coordinates": [[[103.05, 21.45], [103.15, 21.45], [103.15, 21.55],
                                                  [103.05, 21.55], [103.05, 21.45]]]}
ACROSS = {"type": "Polygon", "coordinates": [[[103.1, 21.45], [103.3, 21.45], [103.3, 21.55], [103.1, 21.55],
                                              [103.1, 21.45]]]}
OUTSIDE = {"type": "Polygon", "coordinates": [[[104.0, 21.45], [104.1, 21.45], [104.1, 21.55], [104.0, 21.55],
                                               [104.0, 21.45]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[103.05, 21.45], [103.15, 21.55], [103.15, 21.45], [103.05, 21.55],
                                              [103.05, 21.45]]]}
BASIS = {"rule_text": "drug incidents per 1,000 residents in the top third and hot-spot share >= 20 %",
         "values": {"drug_per_1000": 4.2, "hotspot_share": 0.31}, "thresholds": {"drug_per_1000": 2.5,
                                                                                  "hotspot_share": 0.2},
         "window": ["2025-01-01", "2025-12-31"], "hotspot_run_id": 7, "incidents_generated": True}


def _add_scoped_planner(world: World) -> None:
    """A planner scoped to commune A (opsworld's planner is province-wide)."""
    async def add() -> None:
        async with await psycopg.AsyncConnection.connect(world.url, autocommit=True) as conn:
            uid = await users.add_user(conn, "planner_a", "planner", signin.hash_password("pw-planner-a-1"),
                                       [world.unit_a])
            token = signin.new_token()
            await users.create_session(conn, signin.token_hash(token), uid, "bearer", timedelta(hours=1), None)
            world.tokens["planner_a"] = token
    asyncio.run(add())


def _propose(client, world, who="planner", unit=None, **over):
    body = {"kind": "drug_key", "unit_id": world.unit_a if unit is None else unit, "note": "nhiều vụ ma túy",
            "basis": BASIS, **over}
    return client.post("/designations", json=body, headers=world.headers(who))


def _audit(world: World, did: int) -> list[tuple[str, str, dict]]:
    with psycopg.connect(world.url) as conn:
        return conn.execute("SELECT action, username, detail FROM audit_log WHERE target = %s ORDER BY id",
                            (f"designation:{did}",)).fetchall()


def _row(world: World, did: int) -> dict:
    with psycopg.connect(world.url) as conn:
        cur = conn.execute("SELECT * FROM designation WHERE id = %s", (did,))
        return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def _problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    return r.json()


def test_propose_edit_approve_revoke_each_step_audited_and_versioned(client, world):
    r = _propose(client, world)
    assert r.status_code == 201, r.text
    d = r.json()
    did = d["id"]
    assert r.headers["location"] == f"/designations/{did}"
    assert (d["status"], d["origin"], d["version"], d["unit_code"]) == ("proposed", "planner", 1, "T001")
    assert d["reason"]["statistics"][0] == {"name": "drug_per_1000", "value": 4.2, "threshold": 2.5, "op": None,
                                            "met": None, "quantile": None, "reason": None}
    assert d["reason"]["hotspot_run_id"] == 7 and d["reason"]["incidents_generated"] is True
    r = client.patch(f"/designations/{did}", json={"version": 1, "note": "đã xác minh", "valid_from": "2026-01-01"},
                     headers=world.headers("planner"))
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["note"], r.json()["valid_from"]) == (2, "đã xác minh", "2026-01-01")
    r = client.post(f"/designations/{did}/approve", json={"version": 2, "reason": "đủ căn cứ"},
                    headers=world.headers("commander"))
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["status"], a["version"], a["valid_from"], a["decided_by"], a["decision_reason"]) == (
        "approved", 3, "2026-01-01", "commander", "đủ căn cứ")
    assert a["allowed_steps"] == ["revoke"]
    r = client.post(f"/designations/{did}/revoke", json={"version": 3, "reason": "hết phức tạp"},
                    headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    v = r.json()
    assert (v["status"], v["version"], v["revoked_by"], v["revoke_reason"]) == ("revoked", 4, "admin", "hết phức tạp")
    assert v["allowed_steps"] == []
    row = _row(world, did)
    assert row["revoked_at"] is not None and row["decided_at"] is not None and row["updated_at"] >= row["created_at"]
    assert row["proposed_by"] == world.user_ids["planner"] and row["decided_by"] == world.user_ids["commander"]
    # 2026-01-01 lies ahead of the test's clock only until then: a designation in force ends on revocation day.
    assert row["valid_to"] == (ops.today() if date(2026, 1, 1) <= ops.today() else None)
    steps = _audit(world, did)
    assert [(a, u) for a, u, _ in steps] == [("designation.propose", "planner"), ("designation.edit", "planner"),
                                             ("designation.approve", "commander"), ("designation.revoke", "admin")]
    assert [(x["from"], x["to"], x["version"]) for _, _, x in steps] == [
        (None, "proposed", 1), ("proposed", "proposed", 2), ("proposed", "approved", 3), ("approved", "revoked", 4)]
    assert steps[1][2]["changes"] == {"note": "đã xác minh", "valid_from": "2026-01-01"}
    assert steps[2][2]["reason"] == "đủ căn cứ" and steps[3][2]["reason"] == "hết phức tạp"
    # The history of GET /designations/{id} is the audit log's steps; who is a personal detail.
    hist = client.get(f"/designations/{did}", headers=world.headers("officer_a")).json()["history"]
    assert [(h["step"], h["by"], h["to"]) for h in hist] == [
        ("propose", "planner", "proposed"), ("edit", "planner", "proposed"), ("approve", "commander", "approved"),
        ("revoke", "admin", "revoked")]
    as_planner = client.get(f"/designations/{did}", headers=world.headers("planner")).json()
    assert {h["by"] for h in as_planner["history"]} == {None} and as_planner["proposed_by"] is None
    assert "proposed_by" in as_planner["redacted"]


STEP_CALLS = {
    "propose": lambda c, w, who, did: _propose(c, w, who, unit=w.unit_b),
    "edit": lambda c, w, who, did: c.patch(f"/designations/{did}", json={"version": 1, "note": "x"},
                                           headers=w.headers(who)),
    "approve": lambda c, w, who, did: c.post(f"/designations/{did}/approve", json={"version": 1},
                                             headers=w.headers(who)),
    "reject": lambda c, w, who, did: c.post(f"/designations/{did}/reject", json={"version": 1, "reason": "chưa đủ"},
                                            headers=w.headers(who)),
}
ALLOWED = {"propose": {"admin", "planner"}, "edit": {"admin", "planner"}, "approve": {"admin", "commander"},
           "reject": {"admin", "commander"}}


@pytest.mark.parametrize("step", sorted(STEP_CALLS))
def test_each_role_may_take_a_step_exactly_as_the_table_says(client, world, step):
    for who, role in (("admin", "admin"), ("commander", "commander"), ("planner", "planner"),
                      ("officer_a", "officer")):
        did = _propose(client, world, "admin", kind="key_complex", unit=world.unit_a).json()["id"]
        r = STEP_CALLS[step](client, world, who, did)
        if role in ALLOWED[step]:
            assert r.status_code in (200, 201), (step, who, r.text)
        else:
            body = _problem(r, 403)
            assert body["type"].endswith("forbidden-role"), body
            assert _row(world, did)["version"] == 1
        # Clear the way for the next proposal of this kind in A (one open proposal, one approval a day).
        for left in client.get("/designations", headers=world.headers("admin")).json()["items"]:
            undo = {"proposed": "reject", "approved": "revoke"}.get(left["status"])
            if undo:
                assert client.post(f"/designations/{left['id']}/{undo}", json={"version": left["version"],
                                   "reason": "dọn"}, headers=world.headers("admin")).status_code == 200


def test_revoke_is_for_commanders_and_admins_and_everyone_reads(client, world):
    did = _propose(client, world).json()["id"]
    r = client.post(f"/designations/{did}/approve", json={"version": 1}, headers=world.headers("admin"))
    assert r.status_code == 200
    for who in ("planner", "officer_a"):
        assert _problem(client.post(f"/designations/{did}/revoke", json={"version": 2, "reason": "x"},
                                    headers=world.headers(who)), 403)["type"].endswith("forbidden-role")
    for who in ("admin", "commander", "commander_a", "planner", "officer_a"):
        assert client.get(f"/designations/{did}", headers=world.headers(who)).status_code == 200, who
        assert client.get(f"/units/{world.unit_a}/designations", headers=world.headers(who)).json()["count"] == 1
    assert client.post(f"/designations/{did}/revoke", json={"version": 2, "reason": "x"},
                       headers=world.headers("commander")).status_code == 200


def test_commune_scoped_callers_act_only_in_their_communes(client, world):
    _add_scoped_planner(world)
    in_b = _propose(client, world, unit=world.unit_b).json()["id"]
    in_a = _propose(client, world, unit=world.unit_a).json()["id"]
    # A planner of A proposes and edits in A only.
    body = _problem(_propose(client, world, "planner_a", unit=world.unit_b, kind="key_complex"), 403)
    assert "Xã Beta (T002), outside your communes" in body["detail"]
    assert _problem(client.patch(f"/designations/{in_b}", json={"version": 1, "note": "x"},
                                 headers=world.headers("planner_a")), 403)["unit_code"] == "T002"
    assert client.patch(f"/designations/{in_a}", json={"version": 1, "note": "x"},
                        headers=world.headers("planner_a")).status_code == 200
    assert _problem(client.post("/designations", json={"kind": "drug_key", "geometry": ACROSS},
                                headers=world.headers("planner_a")), 403)["detail"].startswith("the drawn area")
    # A commander of A decides in A only.
    assert _problem(client.post(f"/designations/{in_b}/approve", json={"version": 1},
                                headers=world.headers("commander_a")), 403)["unit_code"] == "T002"
    assert client.post(f"/designations/{in_a}/approve", json={"version": 2},
                       headers=world.headers("commander_a")).status_code == 200
    # An officer of A reads A's, not B's.
    assert client.get(f"/designations/{in_b}", headers=world.headers("officer_a")).status_code == 404
    assert _problem(client.get(f"/units/{world.unit_b}/designations", headers=world.headers("officer_a")), 403)
    listed = client.get("/designations", headers=world.headers("officer_a")).json()["items"]
    assert [d["id"] for d in listed] == [in_a]
    assert _row(world, in_b)["version"] == 1
    assert [a for a, _, _ in _audit(world, in_b)] == ["designation.propose"]


def _invalid_transition(client, world, did: int, version: int, step: str, want_status: str, allowed: list[str]):
    calls = {"approve": ("post", f"/designations/{did}/approve", {"version": version}),
             "reject": ("post", f"/designations/{did}/reject", {"version": version, "reason": "r"}),
             "revoke": ("post", f"/designations/{did}/revoke", {"version": version, "reason": "r"}),
             "edit": ("patch", f"/designations/{did}", {"version": version, "note": "n"})}
    method, url, body = calls[step]
    before = len(_audit(world, did))
    p = _problem(getattr(client, method)(url, json=body, headers=world.headers("admin")), 409)
    assert p["current_status"] == want_status and p["allowed"] == allowed, p
    assert f"is '{want_status}'" in p["detail"] and "Allowed next" in p["detail"], p["detail"]
    assert _row(world, did)["version"] == version and _row(world, did)["status"] == want_status
    assert len(_audit(world, did)) == before  # nothing written


def test_invalid_transitions_are_409_saying_the_status_and_what_is_allowed(client, world):
    admin = world.headers("admin")
    proposed = _propose(client, world, kind="key_complex").json()["id"]
    _invalid_transition(client, world, proposed, 1, "revoke", "proposed", ["edit", "approve", "reject"])
    rejected = _propose(client, world).json()["id"]
    assert client.post(f"/designations/{rejected}/reject", json={"version": 1, "reason": "chưa đủ căn cứ"},
                       headers=admin).status_code == 200
    for step in ("approve", "reject", "revoke", "edit"):
        _invalid_transition(client, world, rejected, 2, step, "rejected", [])
    approved = _propose(client, world).json()["id"]
    assert client.post(f"/designations/{approved}/approve", json={"version": 1}, headers=admin).status_code == 200
    for step in ("approve", "reject", "edit"):
        _invalid_transition(client, world, approved, 2, step, "approved", ["revoke"])
    assert client.post(f"/designations/{approved}/revoke", json={"version": 2, "reason": "r"},
                       headers=admin).status_code == 200
    for step in ("approve", "revoke", "edit"):
        _invalid_transition(client, world, approved, 3, step, "revoked", [])
    assert _problem(client.post("/designations/999999/approve", json={"version": 1}, headers=admin), 404)


def test_a_stale_version_is_refused_and_changes_nothing(client, world):
    did = _propose(client, world).json()["id"]
    assert client.patch(f"/designations/{did}", json={"version": 1, "note": "first"},
                        headers=world.headers("planner")).status_code == 200
    for r in (client.patch(f"/designations/{did}", json={"version": 1, "note": "stale"},
                           headers=world.headers("planner")),
              client.post(f"/designations/{did}/approve", json={"version": 1}, headers=world.headers("commander"))):
        p = _problem(r, 409)
        assert p["current_version"] == 2 and "reload it" in p["detail"], p
    row = _row(world, did)
    assert (row["note"], row["status"], row["version"]) == ("first", "proposed", 2)
    assert [a for a, _, _ in _audit(world, did)] == ["designation.propose", "designation.edit"]


def test_reject_and_revoke_need_a_reason(client, world):
    admin = world.headers("admin")
    did = _propose(client, world).json()["id"]
    for body in ({"version": 1, "reason": "   "}, {"version": 1}):
        p = _problem(client.post(f"/designations/{did}/reject", json=body, headers=admin), 422)
        assert "reason" in p["detail"], p
    assert _row(world, did)["status"] == "proposed"
    assert client.post(f"/designations/{did}/approve", json={"version": 1}, headers=admin).status_code == 200
    assert _problem(client.post(f"/designations/{did}/revoke", json={"version": 2, "reason": ""}, headers=admin), 422)
    assert [a for a, _, _ in _audit(world, did)] == ["designation.propose", "designation.approve"]


@pytest.mark.parametrize(("body", "says"), [
    ({"kind": "drugs", "unit_id": "A"}, "unknown kind 'drugs'; valid values: key_complex"),
    ({"kind": "drug_key"}, "send either unit_id"),
    ({"kind": "drug_key", "unit_id": "A", "geometry": IN_A_POLY}, "not both"),
    ({"kind": "drug_key", "unit_id": 999999}, "there is no administrative unit 999999"),
    ({"kind": "drug_key", "unit_id": "PROVINCE"}, "is a province of 2025; designations name a commune"),
    ({"kind": "drug_key", "unit_id": "A", "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
     "valid_to 2026-01-01 is before valid_from 2026-02-01"),
    ({"kind": "drug_key", "geometry": OUTSIDE}, "geometry is not inside Tỉnh Thử"),
    ({"kind": "drug_key", "geometry": BOWTIE}, "not a valid polygon (Self-intersection"),
    ({"kind": "drug_key", "geometry": {"type": "Point", "coordinates": [103.1, 21.5]}}, "Polygon or MultiPolygon"),
    ({"kind": "drug_key", "geometry": {"type": "Polygon", "coordinates": [[[103.1, 21.5], [103.2, 21.5],
                                                                           [103.2, 21.6], [103.1, 21.6]]]}},
     "must be closed"),
    ({"kind": "drug_key", "unit_id": "A", "basis": {"x": "y" * 30000}}, "basis has"),
])
def test_bad_proposals_are_422_saying_what_to_fix_and_write_nothing(client, world, body, says):
    with psycopg.connect(world.url) as conn:
        province = conn.execute("SELECT id FROM admin_unit WHERE kind = 'province'").fetchone()[0]
    body = {**body}
    if "unit_id" in body:
        body["unit_id"] = {"A": world.unit_a, "PROVINCE": province}.get(body["unit_id"], body["unit_id"])
    p = _problem(client.post("/designations", json=body, headers=world.headers("planner")), 422)
    assert says in p["detail"], p["detail"]
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT count(*) FROM designation").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action LIKE 'designation.%'").fetchone()[0] == 0


def test_malformed_requests_are_problems_never_500(client, world):
    h = world.headers("admin")
    did = _propose(client, world).json()["id"]
    cases = [client.post("/designations", json={"kind": "drug_key", "unit_id": 2**40}, headers=h),
             client.post("/designations", json={"kind": "drug_key", "unit_id": world.unit_a, "colour": "red"},
                         headers=h),
             client.post(f"/designations/{did}/approve", json={}, headers=h),
             client.post(f"/designations/{did}/approve", json={"version": 1, "valid_from": "soon"}, headers=h),
             client.post(f"/designations/{2**40}/approve", json={"version": 1}, headers=h),
             client.patch(f"/designations/{did}", json={"version": 1}, headers=h),
             client.patch(f"/designations/{did}", json={"version": 1, "kind": None}, headers=h),
             client.patch(f"/designations/{did}", json={"version": 1, "unit_id": None}, headers=h),
             client.post("/designations", content=b"{not json", headers={**h, "Content-Type": "application/json"}),
             client.get("/designations", params={"status": "pending"}, headers=h),
             client.get("/designations", params={"kind": "x"}, headers=h),
             client.get(f"/units/{2**40}/designations", headers=h)]
    for r in cases:
        assert r.status_code in (400, 404, 422), (r.request.method, r.request.url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert "valid values: proposed, approved, rejected, revoked" in cases[9].json()["detail"]
    assert "nothing to change" in cases[5].json()["detail"]
    assert _row(world, did)["version"] == 1


def test_a_drawn_area_belongs_to_the_commune_holding_it(client, world):
    r = client.post("/designations", json={"kind": "drug_key", "geometry": IN_A_POLY, "note": "khu vực bản X"},
                    headers=world.headers("planner"))
    assert r.status_code == 201, r.text
    assert r.json()["unit_code"] == "T001"
    with psycopg.connect(world.url) as conn:
        area = conn.execute("SELECT ST_Area(geom) FROM designation WHERE id = %s", (r.json()["id"],)).fetchone()[0]
    assert area == pytest.approx(0.01)  # the drawn square, not the commune


def test_one_open_proposal_per_commune_and_kind(client, world):
    first = _propose(client, world).json()["id"]
    p = _problem(_propose(client, world), 409)
    assert p["existing_id"] == first and f"PATCH /designations/{first}" in p["detail"]
    assert _propose(client, world, kind="key_complex").status_code == 201
    assert _propose(client, world, unit=world.unit_b).status_code == 201


def _insert(world: World, **cols) -> int:
    cols = {"kind": "drug_key", "status": "approved", "origin": "historical", "basis": "{}", **cols}
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    with psycopg.connect(world.url) as conn:
        return conn.execute(f"INSERT INTO designation ({names}, unit_id, geom) SELECT {marks}, id, ST_Multi(geom) "
                            "FROM admin_unit WHERE id = %s RETURNING id",
                            [*cols.values(), world.unit_a]).fetchone()[0]


def test_approving_supersedes_the_one_in_force_of_its_kind(client, world):
    old = _insert(world, valid_from=date(2025, 7, 1))
    other_kind = _insert(world, kind="key_complex", valid_from=date(2025, 7, 1))
    new = _propose(client, world).json()["id"]
    r = client.post(f"/designations/{new}/approve", json={"version": 1, "valid_from": "2026-03-01"},
                    headers=world.headers("commander"))
    assert r.status_code == 200, r.text
    assert r.json()["superseded"] == [old]
    o = _row(world, old)
    assert (o["valid_to"], o["status"], o["version"]) == (date(2026, 2, 28), "approved", 2)
    assert _row(world, other_kind)["valid_to"] is None
    (action, who, detail), = _audit(world, old)
    assert (action, who, detail["by"], detail["valid_to"]) == ("designation.supersede", "commander", new, "2026-02-28")
    assert [a for a, _, x in _audit(world, new)][-1] == "designation.approve"
    assert _audit(world, new)[-1][2]["superseded"] == [old]
    # A drawn part of the commune is another area: it does not end the commune's designation.
    drawn = client.post("/designations", json={"kind": "drug_key", "geometry": IN_A_POLY},
                        headers=world.headers("planner")).json()["id"]
    r = client.post(f"/designations/{drawn}/approve", json={"version": 1, "valid_from": "2026-04-01"},
                    headers=world.headers("commander"))
    assert r.status_code == 200 and r.json()["superseded"] == []
    assert _row(world, new)["valid_to"] is None


def test_an_approved_one_starting_later_is_not_cut_short_but_refused(client, world):
    later = _insert(world, valid_from=date(2026, 6, 1))
    new = _propose(client, world).json()["id"]
    p = _problem(client.post(f"/designations/{new}/approve", json={"version": 1, "valid_from": "2026-03-01"},
                             headers=world.headers("commander")), 409)
    assert p["conflicting_id"] == later and f"POST /designations/{later}/revoke" in p["detail"]
    assert _row(world, new)["status"] == "proposed" and _row(world, later)["valid_to"] is None
    assert _audit(world, later) == [] and len(_audit(world, new)) == 1
    # A validity that ends before the later one starts does not meet it.
    r = client.post(f"/designations/{new}/approve",
                    json={"version": 1, "valid_from": "2026-03-01", "valid_to": "2026-05-31"},
                    headers=world.headers("commander"))
    assert r.status_code == 200 and r.json()["superseded"] == []


def test_a_rules_proposal_keeps_what_the_rule_saw(client, world):
    did = _insert(world, status="proposed", origin="rule", rule="drug_key_rate", basis=json.dumps(BASIS))
    p = _problem(client.patch(f"/designations/{did}", json={"version": 1, "kind": "key_complex"},
                              headers=world.headers("planner")), 409)
    assert "proposed by the rule 'drug_key_rate'" in p["detail"] and p["fixed"] == ["kind"]
    r = client.patch(f"/designations/{did}", json={"version": 1, "note": "đã rà soát"},
                     headers=world.headers("planner"))
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.post(f"/designations/{did}/approve", json={"version": 2}, headers=world.headers("commander"))
    assert r.status_code == 200 and r.json()["valid_from"] == ops.today().isoformat()


def test_the_popup_route_says_why_by_kind_and_status(client, world):
    _insert(world, valid_from=date(2025, 7, 1), basis=json.dumps({
        "rule": "top 32: the communes with the most drug incidents", "window": ["2024-07-01", "2025-07-01"],
        "rank": 3, "incidents": 41, "population": 5200, "rate_per_1000": 7.885}))
    _propose(client, world, kind="key_complex")
    r = client.get(f"/units/{world.unit_a}/designations", headers=world.headers("commander"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["unit"]["code"] == "T001" and doc["count"] == 2
    approved, proposed = doc["items"]
    assert (approved["status"], approved["in_force"], approved["origin"]) == ("approved", True, "historical")
    assert approved["reason"]["window"] == {"from": "2024-07-01", "to": "2025-07-01"}
    assert {s["name"]: s["value"] for s in approved["reason"]["statistics"]} == {
        "incidents": 41, "population": 5200, "rank": 3, "rate_per_1000": 7.885}
    assert approved["reason"]["hotspot_run_stated"] is False
    assert (proposed["status"], proposed["proposed_by"], proposed["reason"]["hotspot_run_id"]) == ("proposed",
                                                                                                   "planner", 7)
    assert proposed["allowed_steps"] == ["approve", "reject"]
    assert client.get(f"/units/{world.unit_a}/designations",
                      headers=world.headers("planner")).json()["items"][1]["allowed_steps"] == ["edit"]


# The shape data/ops/designation_rules.py writes (conditions as criteria, the window as start/end).
RULE_BASIS = {
    "rule": "drug_key_rate_hotspots", "kind": "drug_key", "rule_text": "Drug incidents per 1,000 in the top third",
    "rule_text_vi": "Số vụ ma túy trên 1.000 dân thuộc nhóm một phần ba cao nhất",
    "criteria": [{"statistic": "drug_incidents_per_1000", "op": ">=", "value": 6.5, "threshold": 3.1,
                  "quantile": "2/3", "passed": True, "evaluated": True, "reason": None},
                 {"statistic": "drug_hotspot_share", "op": ">=", "value": None, "threshold": 0.2, "quantile": None,
                  "passed": None, "evaluated": False, "reason": "no hot-spot run for drugs"}],
    "statistics": {"drug_incidents_per_1000": 6.5, "population": 5200},
    "definitions": {"drug_incidents_per_1000": "drug incidents per 1,000 residents in the window"},
    "window": {"start": "2025-11-01", "end": "2026-11-01", "months": 12, "end_is": "newest incident"},
    "hotspot_run_id": None, "hotspot_run": None, "incidents_generated": True, "note": "computed on generated data"}


def test_a_rules_basis_reads_as_its_conditions(client, world):
    did = _insert(world, status="proposed", origin="rule", rule="drug_key_rate_hotspots",
                  basis=json.dumps(RULE_BASIS))
    why = client.get(f"/designations/{did}", headers=world.headers("commander")).json()["reason"]
    assert (why["rule_text_vi"], why["window"]) == (RULE_BASIS["rule_text_vi"], {"from": "2025-11-01",
                                                                                  "to": "2026-11-01"})
    assert (why["hotspot_run_stated"], why["hotspot_run_id"], why["incidents_generated"]) == (True, None, True)
    assert [(c["name"], c["value"], c["op"], c["threshold"], c["met"], c["quantile"]) for c in why["statistics"]] == [
        ("drug_incidents_per_1000", 6.5, ">=", 3.1, True, "2/3"), ("drug_hotspot_share", None, ">=", 0.2, None, None)]
    assert why["statistics"][1]["reason"] == "no hot-spot run for drugs"
    assert why["notes"] == ["computed on generated data"]
    p = client.get(f"/collections/key-areas/items/{did}", headers=world.headers("commander")).json()["properties"]
    assert p["basis_summary"] == ("drug_incidents_per_1000 6.5 (>= 3.1): met, drug_hotspot_share ? (>= 0.2); "
                                  "window 2025-11-01–2026-11-01; no hot-spot run; incidents generated")
    assert p["rule"] == "drug_key_rate_hotspots" and p["origin"] == "rule"


def test_the_key_areas_layer_shows_status_kind_origin_and_the_basis(client, world):
    shown = _propose(client, world).json()["id"]
    gone = _propose(client, world, kind="key_complex").json()["id"]
    client.post(f"/designations/{gone}/reject", json={"version": 1, "reason": "không"}, headers=world.headers("admin"))
    for who, personal in (("commander", True), ("planner", False)):
        fc = client.get("/collections/key-areas/items", headers=world.headers(who)).json()
        assert [f["id"] for f in fc["features"]] == [shown]  # rejected ones are in the history, not on the map
        p = fc["features"][0]["properties"]
        assert (p["status"], p["kind"], p["origin"], p["version"], p["rule"]) == ("proposed", "drug_key", "planner",
                                                                                 1, None)
        assert p["basis_summary"] == ("drug_per_1000 4.2 (≥ 2.5), hotspot_share 0.31 (≥ 0.2); window 2025-01-01–"
                                      "2025-12-31; hot-spot run 7; incidents generated")
        assert ("proposed_by_name" in p) == personal and p.get("proposed_by_name", "planner") == "planner"


def test_every_step_reaches_open_maps_of_the_commune_live(world, start_server):
    base = start_server(world.url, env=FAST)
    a, b = SSE(base, world.headers("officer_a")), SSE(base, world.headers("officer_b"))
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            did = _propose(http, world).json()["id"]
            assert http.post(f"/designations/{did}/approve", json={"version": 1, "reason": "ok"},
                             headers=world.headers("commander")).status_code == 200
            in_b = _propose(http, world, unit=world.unit_b).json()["id"]

        def designation_events(ms):
            return [m for m in ms if m["event"] == "designation"]
        got = designation_events(a.wait_for(lambda ms: len(designation_events(ms)) >= 2))
        assert [(m["data"]["action"], m["data"]["status"], m["data"]["from"]) for m in got] == [
            ("propose", "proposed", None), ("approve", "approved", "proposed")]
        m = got[1]["data"]
        assert (m["layer"], m["unit_code"], m["designation_id"], m["feature"]["id"]) == ("key-areas", "T001", did, did)
        props = m["feature"]["properties"]
        assert props["status"] == "approved" and "proposed_by_name" not in props  # public properties only
        seen_b = designation_events(b.wait_for(lambda ms: len(designation_events(ms)) >= 1))
        # B's stream got B's proposal and nothing of A's (its first event is B's, committed after A's two).
        assert [x["data"]["designation_id"] for x in seen_b] == [in_b]
    finally:
        a.close()
        b.close()
