"""GET /situation and data/ops/situation.py on a generated world (tests/opsworld.py): every figure is compared
with an independent count in Python over the rows read back from the tables — incidents by category × severity
for 24 h / 7 days / the map's window and a year before, open incidents by status and age, the stale flag,
overdue patrol points (last accepted visit + interval, not sitmap_patrol_due), stations by status, the latest
serious incidents — as a province-wide caller and as a commune commander; and the 401/403/400 answers."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from data import vocab
from data.ops import situation as ops
from data.permissions import Caller
from tests.opsworld import IN_A, IN_B

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AT = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
YEAR = timedelta(days=365)  # 2025-11-20 .. 2026-11-20 has no 29 February: a year is 365 days here
CATS = vocab.codes(vocab.INCIDENT_CATEGORIES)
SEVS = vocab.codes(vocab.INCIDENT_SEVERITIES)
OPEN_STATUSES = [s for s in vocab.codes(vocab.INCIDENT_STATUSES) if s != "closed"]


def _insert(conn: psycopg.Connection, where: tuple[float, float], occurred: datetime, category: str = "theft",
            severity: str = "less_serious", status: str = "new", updated: datetime | None = None,
            description: str | None = None) -> str:
    iid = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO incident (id, category, severity, occurred_at, status, updated_at, description, "
        "reporter_name, is_generated, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, 'Nguyễn Văn A', true, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
        (iid, category, severity, occurred, status, updated or occurred, description, *where))
    return iid


@pytest.fixture
def seeded(world):
    """About 400 incidents in both communes around AT and a year before, with statuses and history rows."""
    rng = random.Random(16)
    with psycopg.connect(world.url, autocommit=True) as conn:
        for _ in range(400):
            where = IN_A if rng.random() < 0.5 else IN_B
            base = AT if rng.random() < 0.6 else AT - YEAR
            occurred = base - timedelta(hours=rng.uniform(-2, 24 * 9))  # a few after AT: not counted
            status = rng.choice([*OPEN_STATUSES, "closed", "closed"])
            updated = occurred + timedelta(hours=rng.uniform(0, 40))
            iid = _insert(conn, (where[0] + rng.uniform(-0.05, 0.05), where[1] + rng.uniform(-0.05, 0.05)),
                          occurred, rng.choice(CATS), rng.choice(SEVS), status, updated, "chi tiết riêng")
            if rng.random() < 0.5:
                conn.execute("INSERT INTO incident_history (incident_id, at, version, to_status) VALUES "
                             "(%s, %s, 1, %s)", (iid, updated + timedelta(hours=rng.uniform(0, 30)), status))
    return world


def _rows(url: str, unit_id: int | None = None) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "SELECT i.id::text, i.number, i.category, i.severity, i.status, i.occurred_at, i.updated_at, u.code, "
            "ST_X(i.geom), ST_Y(i.geom), (SELECT max(h.at) FROM incident_history h WHERE h.incident_id = i.id) "
            "FROM incident i LEFT JOIN admin_unit u ON u.id = i.unit_id "
            "WHERE %(u)s::int IS NULL OR i.unit_id = %(u)s", {"u": unit_id})
        keys = ("id", "number", "category", "severity", "status", "occurred", "updated", "commune", "lon", "lat",
                "history")
        return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]


def _by(rows: list[dict], start: datetime, end: datetime) -> Counter:
    return Counter((r["category"], r["severity"]) for r in rows if start <= r["occurred"] <= end)


def _period(doc: dict, rows: list[dict], start: datetime, end: datetime) -> None:
    now, before = _by(rows, start, end), _by(rows, start - YEAR, end - YEAR)
    got = {(b["category"], b["severity"]): b for b in doc["by"]}
    assert set(got) == {k for k in now | before}
    for key, b in got.items():
        assert (b["count"], b["year_before"], b["change"]) == (now[key], before[key], now[key] - before[key]), key
    assert doc["total"] == sum(now.values()) and doc["year_before"]["total"] == sum(before.values())
    assert doc["change"] == sum(now.values()) - sum(before.values())
    assert datetime.fromisoformat(doc["to"]) == end and datetime.fromisoformat(doc["year_before"]["to"]) == end - YEAR


def _expect_open(doc: dict, rows: list[dict], stale_hours: int) -> None:
    open_ = [r for r in rows if r["status"] != "closed" and r["occurred"] <= AT]
    assert doc["total"] == len(open_)
    assert doc["by_status"] == dict(Counter(r["status"] for r in open_))
    ages = Counter()
    for r in open_:
        h = (AT - r["occurred"]) / timedelta(hours=1)
        ages["lt_24h" if h < 24 else "d1_3" if h < 72 else "d3_7" if h < 168 else "gt_7d"] += 1
    assert doc["by_age"] == {k: ages[k] for k in ops.AGE_BUCKETS}
    stale = sorted((r for r in open_ if r["status"] == "assigned"
                    and max(r["updated"], r["history"] or r["updated"]) < AT - timedelta(hours=stale_hours)),
                   key=lambda r: (max(r["updated"], r["history"] or r["updated"]), r["number"]))
    assert doc["stale"]["count"] == len(stale) and doc["stale"]["hours"] == stale_hours
    assert [s["id"] for s in doc["stale"]["items"]] == [r["id"] for r in stale][:ops.LATEST_MAX]


def _expect_serious(items: list[dict], rows: list[dict], end: datetime, start: datetime | None = None,
                    n: int = 10) -> None:
    serious = sorted((r for r in rows if SEVS.index(r["severity"]) >= SEVS.index("serious")
                      and r["occurred"] <= end and (start is None or r["occurred"] >= start)),
                     key=lambda r: (r["occurred"], r["number"]), reverse=True)[:n]
    assert [i["id"] for i in items] == [r["id"] for r in serious]
    for i, r in zip(items, serious, strict=True):
        assert (i["category"], i["severity"], i["commune"]) == (r["category"], r["severity"], r["commune"])
        assert (i["lon"], i["lat"]) == pytest.approx((r["lon"], r["lat"]))
        # Figures only: nothing personal, whoever asks.
        assert not {"description", "reporter_name", "assignee", "assignee_id", "created_by"} & set(i)


def test_figures_match_independent_counts_with_the_year_before(seeded, make_client):
    client = make_client(seeded.url)
    rows = _rows(seeded.url)
    since, until = AT - timedelta(days=3), AT - timedelta(hours=6)
    r = client.get("/situation", params={"at": AT.isoformat(), "since": since.isoformat(),
                                         "until": until.isoformat(), "latest": 15},
                   headers=seeded.headers("admin"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert list(doc["incidents"]) == ["24h", "7d", "window"]
    _period(doc["incidents"]["24h"], rows, AT - timedelta(hours=24), AT)
    _period(doc["incidents"]["7d"], rows, AT - timedelta(days=7), AT)
    _period(doc["incidents"]["window"], rows, since, until)
    # The world has incidents a year before in each period: the comparison is not vacuous.
    assert doc["incidents"]["7d"]["year_before"]["total"] > 0 and doc["incidents"]["7d"]["total"] > 0
    _expect_open(doc["open"], rows, 24)
    assert doc["open"]["stale"]["count"] > 0
    _expect_serious(doc["serious"], rows, until, since, 15)
    assert doc["incidents_generated"] is True
    assert "chi tiết riêng" not in r.text and "Nguyễn Văn A" not in r.text
    # Without a window only the two rolling periods; the serious list runs up to ``at``.
    doc = client.get("/situation", params={"at": AT.isoformat()}, headers=seeded.headers("commander")).json()
    assert list(doc["incidents"]) == ["24h", "7d"]
    _expect_serious(doc["serious"], rows, AT)


def test_the_synchronous_function_gives_the_same_document(seeded, make_client):
    api = make_client(seeded.url).get("/situation", params={"at": AT.isoformat()},
                                      headers=seeded.headers("admin")).json()
    with psycopg.connect(seeded.url) as conn:
        direct = ops.situation(conn, Caller(None, "local", "admin"), at=AT)
    assert datetime.fromisoformat(direct["at"]) == datetime.fromisoformat(api["at"])
    assert {k: v for k, v in direct.items() if k != "at"} == {k: v for k, v in api.items() if k != "at"}


def test_a_commune_commander_sees_only_their_commune(seeded, make_client):
    client = make_client(seeded.url)
    rows_a = _rows(seeded.url, seeded.unit_a)
    doc = client.get("/situation", params={"at": AT.isoformat()}, headers=seeded.headers("commander_a")).json()
    _period(doc["incidents"]["7d"], rows_a, AT - timedelta(days=7), AT)
    _expect_open(doc["open"], rows_a, 24)
    _expect_serious(doc["serious"], rows_a, AT)
    assert {i["commune"] for i in doc["serious"]} == {"T001"}
    # Asking for their own commune is the same; another commune is refused, naming it.
    own = client.get("/situation", params={"at": AT.isoformat(), "commune": "T001"},
                     headers=seeded.headers("commander_a")).json()
    assert own["incidents"] == doc["incidents"] and own["communes"] == ["T001"]
    r = client.get("/situation", params={"commune": "T002"}, headers=seeded.headers("commander_a"))
    assert r.status_code == 403 and "T002" in r.json()["detail"]
    r = client.get("/situation", params={"commune": "T001,T002"}, headers=seeded.headers("commander_a"))
    assert r.status_code == 403
    # A province-wide commander narrows to one commune with the same figures as the commune's commander.
    one = client.get("/situation", params={"at": AT.isoformat(), "commune": "T001"},
                     headers=seeded.headers("commander")).json()
    assert one["incidents"] == doc["incidents"] and one["open"] == doc["open"]
    both = client.get("/situation", params={"at": AT.isoformat(), "commune": ["T001", "T002"]},
                      headers=seeded.headers("commander")).json()
    whole = client.get("/situation", params={"at": AT.isoformat()}, headers=seeded.headers("commander")).json()
    assert both["incidents"] == whole["incidents"]


def test_stale_flag_follows_the_last_touch_and_the_setting(world, make_client):
    with psycopg.connect(world.url, autocommit=True) as conn:
        untouched = _insert(conn, IN_A, AT - timedelta(hours=40), status="assigned",
                            updated=AT - timedelta(hours=30))
        touched = _insert(conn, IN_A, AT - timedelta(hours=40), status="assigned",
                          updated=AT - timedelta(hours=30))
        conn.execute("INSERT INTO incident_history (incident_id, at, version) VALUES (%s, %s, 2)",
                     (touched, AT - timedelta(hours=2)))
        recent = _insert(conn, IN_A, AT - timedelta(hours=40), status="assigned", updated=AT - timedelta(hours=3))
        _insert(conn, IN_A, AT - timedelta(hours=40), status="in_progress", updated=AT - timedelta(hours=30))
    stale = make_client(world.url).get("/situation", params={"at": AT.isoformat()},
                                       headers=world.headers("admin")).json()["open"]["stale"]
    assert stale["count"] == 1 and [i["id"] for i in stale["items"]] == [untouched]
    assert stale["items"][0]["idle_hours"] == pytest.approx(30.0)
    assert touched not in {i["id"] for i in stale["items"]} and recent not in {i["id"] for i in stale["items"]}
    longer = make_client(world.url, situation_stale_hours=48).get(
        "/situation", params={"at": AT.isoformat()}, headers=world.headers("admin")).json()["open"]["stale"]
    assert longer["count"] == 0 and longer["hours"] == 48


def test_overdue_patrol_points_and_stations_by_status(world, make_client):
    with psycopg.connect(world.url, autocommit=True) as conn:
        # A: visited 10 h before AT (interval 24 h) — not overdue; B: never visited — overdue.
        conn.execute("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted) VALUES (%s, %s, true), "
                     "(%s, %s, false)", (world.point_a, AT - timedelta(hours=10), world.point_b,
                                         AT - timedelta(hours=1)))
        extra = conn.execute(
            "INSERT INTO patrol_point (name, kind, unit_id, visit_interval_hours, geom) VALUES ('Chốt 2', "
            "'checkpoint', %s, 12, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (world.unit_a, *IN_A)).fetchone()[0]
        conn.execute("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted) VALUES (%s, %s, true)",
                     (extra, AT - timedelta(hours=15)))
        conn.execute("UPDATE station SET hq_status = 'independent' WHERE id = %s", (world.station_b,))
        conn.execute("INSERT INTO station_status_history (station_id, hq_status, changed_at) VALUES "
                     "(%s, 'shared', %s), (%s, 'independent', %s)",
                     (world.station_b, AT - timedelta(days=30), world.station_b, AT - timedelta(days=1)))
        points = conn.execute(
            "SELECT u.code, p.visit_interval_hours, (SELECT max(v.visited_at) FROM patrol_visit v WHERE "
            "v.patrol_point_id = p.id AND v.accepted AND v.visited_at <= %s) FROM patrol_point p "
            "JOIN admin_unit u ON u.id = p.unit_id", (AT,)).fetchall()
        statuses = Counter(r[0] for r in conn.execute("SELECT hq_status FROM station").fetchall())
    overdue = Counter(code for code, hours, last in points if last is None or last + timedelta(hours=hours) < AT)
    client = make_client(world.url)
    doc = client.get("/situation", params={"at": AT.isoformat()}, headers=world.headers("admin")).json()
    assert doc["patrols"]["points"] == len(points) and doc["patrols"]["overdue"] == sum(overdue.values()) == 2
    assert {c["commune"]: c["overdue"] for c in doc["patrols"]["by_commune"]} == dict(overdue)
    b = next(c for c in doc["patrols"]["by_commune"] if c["commune"] == "T002")
    assert b["never_visited"] == 1 and b["commune_name"] == "Xã Beta"
    a = next(c for c in doc["patrols"]["by_commune"] if c["commune"] == "T001")
    assert a["max_overdue_hours"] == pytest.approx(3.0) and a["points"] == 2
    assert doc["stations"]["by_status"] == dict(statuses) and doc["stations"]["total"] == 2
    assert [(c["station_id"], c["from_status"], c["hq_status"]) for c in doc["stations"]["changes"]] == [
        (world.station_b, "shared", "independent")]
    mine = client.get("/situation", params={"at": AT.isoformat()}, headers=world.headers("commander_a")).json()
    assert [c["commune"] for c in mine["patrols"]["by_commune"]] == ["T001"]
    assert mine["stations"]["by_status"] == {"shared": 1} and mine["stations"]["changes"] == []


def test_a_new_incident_through_the_api_changes_the_figures(world, make_client):
    client = make_client(world.url)
    before = client.get("/situation", headers=world.headers("commander_a")).json()
    occurred = datetime.now(TZ) - timedelta(minutes=5)
    body = {"id": str(uuid.uuid4()), "category": "drugs", "severity": "very_serious",
            "occurred_at": occurred.isoformat(), "lon": IN_A[0], "lat": IN_A[1], "description": "riêng tư"}
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    after = client.get("/situation", headers=world.headers("commander_a")).json()
    assert after["incidents"]["24h"]["total"] == before["incidents"]["24h"]["total"] + 1
    assert after["open"]["by_status"].get("new", 0) == before["open"]["by_status"].get("new", 0) + 1
    assert after["serious"][0]["id"] == body["id"] and after["serious"][0]["commune"] == "T001"
    assert "riêng tư" not in str(after)


@pytest.mark.parametrize(("params", "parameter"), [
    ({"at": "yesterday"}, "at"),
    ({"since": "2026-13-01T00:00:00+07:00"}, "since"),
    ({"at": "2026-11-20T10:00:00"}, "at"),  # no UTC offset
    ({"since": "2026-11-20T00:00:00+07:00", "until": "2026-11-01T00:00:00+07:00"}, "since"),
    ({"commune": "NOPE"}, "commune"),
    ({"latest": "0"}, "latest"),
    ({"latest": "abc"}, "latest"),
])
def test_bad_values_are_a_problem_never_a_500(world, make_client, params, parameter):
    r = make_client(world.url).get("/situation", params=params, headers=world.headers("admin"))
    # The house rule (api/problems.validation_status): a refused query parameter is 400, named.
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert parameter in r.text


def test_who_may_read_the_situation(world, make_client):
    client = make_client(world.url)
    assert client.get("/situation").status_code == 401
    r = client.get("/situation", headers=world.headers("officer_a"))
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden-role")
    for who in ("admin", "commander", "commander_a", "planner"):
        assert client.get("/situation", headers=world.headers(who)).status_code == 200, who


def test_every_severity_has_its_short_heading_in_both_languages():
    from web import i18n

    for code in vocab.codes(vocab.INCIDENT_SEVERITIES):
        vi, en = i18n.STRINGS[f"situation_sev_{code}"]
        assert vi and en and vi != code


def test_the_briefing_shows_the_same_figures_from_the_same_function(seeded, tmp_path):
    import re

    from web import briefing

    with psycopg.connect(seeded.url) as conn:
        doc = ops.situation(conn, Caller(None, "local", "admin"), at=AT, communes=["T001"])
        whole = ops.situation(conn, Caller(None, "local", "admin"), at=AT)
    page = briefing.export(seeded.url, "T001", "html", tmp_path / "b.html", until=AT).read_text(encoding="utf-8")
    block = page[page.index('<div class="br-situation">'):]
    block = block[:block.index("</table>")]
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", block)]
    for key, label in (("24h", "24 giờ qua"), ("7d", "7 ngày qua")):
        p = doc["incidents"][key]
        i = cells.index(label)
        assert cells[i + 1:i + 4] == [str(p["total"]), str(p["year_before"]["total"]), f"{p['change']:+d}"]
    # Commune A's figures, not the province's (the world's incidents are in both communes).
    assert doc["incidents"]["7d"]["total"] < whole["incidents"]["7d"]["total"]
    i = cells.index("Vụ việc chưa kết thúc")
    assert cells[i + 1] == str(doc["open"]["total"])
    assert cells[i + 2].endswith(f": {doc['open']['stale']['count']}")
    assert "02/12/2026" not in block and "20/11/2026 10:00" in page
    assert "Số liệu tính trên vụ việc giả lập" in page


@pytest.mark.parametrize("query", ["at=0001-01-01T00:00:00Z", "since=0001-01-01T00:00:00Z",
                                   "at=9999-12-31T23:59:59Z&since=9999-12-30T00:00:00Z", "commune=%00",
                                   "commune=" + "x" * 65, "commune=,", "latest=99999999999999999999",
                                   "at=2026-11-20T10:00:00%2B14:00"])
def test_parameters_at_the_edges_are_answered_not_500(world, make_client, query):
    r = make_client(world.url).get(f"/situation?{query}", headers=world.headers("admin"))
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    if r.status_code == 400:
        assert r.headers["content-type"].startswith("application/problem+json")
