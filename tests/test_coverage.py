"""Station coverage (geo/coverage, GET /analyses/coverage*, the underserved-villages layer) on the demo.

The figures are checked against an independent computation: scipy's Dijkstra over the ``road_edge`` rows
(the reversed graph, a super-source joined to every station's node at the cost of its access leg) gives
every village's minutes to the nearest station and the population within 30 and 60 minutes. A stations
frame passed in changes the figures as it should (removing a station never brings anyone nearer, a station
added at a far village serves it), the status filter keeps only those stations, an off-road village is
beyond every limit with a reason, the curve is an SVG with the note, and the API follows ``analysis.run``.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from geo.coverage.coverage import CoverageError, coverage, station_frame
from geo.coverage.curve import curve_svg
from geo.travel.network import GENERATED_NOTE, Closures, closed_edge_ids
from geo.travel.trips import attached, villages
from tests.test_travel_api import _problem, _user, demo  # noqa: F401 (the module's demo copy with its users)

ON = date(2026, 1, 1)
MAX_SNAP_M, WALK_KMH = 1000.0, 4.0
KW = {"on": ON, "max_snap_m": MAX_SNAP_M, "walk_kmh": WALK_KMH}
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def today(demo_db):
    with psycopg.connect(demo_db) as conn:
        return coverage(conn, minutes=(15, 30, 60), **KW)


def scipy_minutes(url: str) -> pd.Series:
    """Minutes from each village to its nearest station in service on ON, from road_edge alone (and the
    same attachment of points to the road that every analysis uses), indexed by village_id."""
    with psycopg.connect(url) as conn:
        e = pd.DataFrame(conn.execute("SELECT id, source, target, cost_s, reverse_cost_s FROM road_edge").fetchall(),
                         columns=["id", "s", "t", "c", "r"])
        e = e[~e["id"].isin(closed_edge_ids(conn, Closures.on_day(ON)))]  # closures are tested on their own
        vil = attached(conn, villages(conn), "village_id", "out", MAX_SNAP_M, WALK_KMH)
        st = attached(conn, station_frame(conn, ON), "station_id", "in", MAX_SNAP_M, WALK_KMH)
    st = st[st["snap_ok"]]
    n = int(max(e.s.max(), e.t.max())) + 1
    # Reversed graph: a road u -> v (cost c) becomes v -> u; its way back v -> u (cost r) becomes u -> v.
    arcs = pd.concat([e.loc[e.c >= 0, ["t", "s", "c"]].set_axis(["u", "v", "w"], axis=1),
                      e.loc[e.r >= 0, ["s", "t", "r"]].set_axis(["u", "v", "w"], axis=1),
                      pd.DataFrame({"u": n, "v": st["node"].astype(int), "w": st["access_s"]})])
    arcs = arcs.groupby(["u", "v"], as_index=False)["w"].min()
    graph = coo_matrix((arcs.w.clip(lower=1e-9), (arcs.u, arcs.v)), shape=(n + 1, n + 1)).tocsr()
    dist = dijkstra(graph, directed=True, indices=n)
    ok = vil["node"].notna()
    out = pd.Series(np.inf, index=vil.index)
    out[ok] = vil.loc[ok, "access_s"] + dist[vil.loc[ok, "node"].astype(int).to_numpy()]
    return out / 60


def test_population_within_30_and_60_minutes_equals_scipy(demo_db, today):
    want = scipy_minutes(demo_db)
    v = today.villages.set_index("village_id")
    got = v["nearest_min"].fillna(np.inf)
    assert len(got) == len(want) and np.isfinite(want).sum() > 1000
    assert ((np.isinf(got) & np.isinf(want)) | (np.abs(got - want) * 60 <= 1.0)).all()
    for limit in (30, 60):
        near_limit = (np.abs(want - limit) * 60 <= 1.0)  # within a second of the limit: either side is right
        inside = v["population"][want <= limit].sum()
        got_pop = int(today.province[f"population_within_{limit}"].iloc[0])
        assert abs(got_pop - inside) <= v["population"][near_limit].sum()
        assert today.province[f"share_within_{limit}"].iloc[0] == pytest.approx(got_pop / v["population"].sum())
        assert (int(today.province[f"population_beyond_{limit}"].iloc[0]) + got_pop == v["population"].sum())
    # The communes add up to the province; the curve at 30 and 60 minutes is the table's share.
    for col in ("villages", "population", "population_within_30", "villages_beyond_60"):
        assert today.communes[col].sum() == today.province[col].iloc[0]
    curve = today.curve.set_index("minutes")
    assert curve.loc[30.0, "share"] == pytest.approx(today.province["share_within_30"].iloc[0])
    assert curve.loc[60.0, "share"] == pytest.approx(today.province["share_within_60"].iloc[0])
    assert curve["share"].is_monotonic_increasing and len(curve) == 181
    assert today.attrs["roads_generated"] is True and today.attrs["note"] == GENERATED_NOTE


def test_removing_a_station_never_brings_anyone_nearer_and_adding_one_serves_its_village(demo_db, today):
    with psycopg.connect(demo_db) as conn:
        frame = station_frame(conn, ON)
        busiest = today.villages.groupby("nearest_station_id")["population"].sum().idxmax()
        fewer = coverage(conn, stations=frame[frame["station_id"] != busiest], minutes=(15, 30, 60), **KW)
        far = today.underserved(basis="nearest").iloc[0]
        added = pd.concat([frame, pd.DataFrame([{
            "station_id": -2, "station_code": "NEW-1", "station": "Trụ sở mới", "kind": "border_post",
            "unit_id": int(far["unit_id"]), "lon": far["lon"], "lat": far["lat"], "hq_status": "planned"}])],
            ignore_index=True)
        more = coverage(conn, stations=added, minutes=(15, 30, 60), **KW)
    before = today.villages.set_index("village_id")["nearest_min"].fillna(np.inf)
    after = fewer.villages.set_index("village_id")["nearest_min"].fillna(np.inf)
    assert (after >= before - 1e-9).all() and (after > before + 1e-6).any()
    assert busiest not in set(fewer.villages["nearest_station_id"].dropna())
    for m in ("15", "30", "60"):
        assert fewer.province[f"population_within_{m}"].iloc[0] <= today.province[f"population_within_{m}"].iloc[0]
        assert more.province[f"population_within_{m}"].iloc[0] >= today.province[f"population_within_{m}"].iloc[0]
    assert fewer.province["population_within_15"].iloc[0] < today.province["population_within_15"].iloc[0]
    served = more.villages.set_index("village_id").loc[far["village_id"]]
    assert served["nearest_station_id"] == -2 and served["nearest_min"] < far["nearest_min"]
    assert served["nearest_min"] <= 2 * MAX_SNAP_M / 1000 / WALK_KMH * 60 + 1
    assert more.attrs["stations"] == today.attrs["stations"] + 1


def test_status_filter_keeps_only_those_stations(demo_db, today):
    with psycopg.connect(demo_db) as conn:
        frame = station_frame(conn, ON)
        n_independent = int((frame["hq_status"] == "independent").sum())
        only = coverage(conn, statuses=("independent",), minutes=(30, 60), **KW)
        by_hand = coverage(conn, stations=frame[frame["hq_status"] == "independent"], minutes=(30, 60), **KW)
        with pytest.raises(CoverageError, match="unknown headquarters status"):
            coverage(conn, statuses=("palace",), minutes=(30,), **KW)
        with pytest.raises(CoverageError, match="minutes"):
            coverage(conn, minutes=(0,), **KW)
    assert 0 < n_independent < len(frame) and only.attrs["stations"] == n_independent
    independent_ids = set(frame.loc[frame["hq_status"] == "independent", "station_id"])
    assert set(only.villages["nearest_station_id"].dropna()) <= independent_ids
    pd.testing.assert_frame_equal(only.province, by_hand.province)
    assert only.province["population_within_30"].iloc[0] < today.province["population_within_30"].iloc[0]


def test_status_is_the_one_recorded_by_that_day(demo_db):
    with psycopg.connect(demo_db) as conn:
        row = conn.execute("""
            SELECT h.station_id, h.hq_status, h.changed_at::date, p.hq_status FROM station_status_history h
              JOIN LATERAL (SELECT hq_status FROM station_status_history p WHERE p.station_id = h.station_id
                               AND p.changed_at::date < h.changed_at::date ORDER BY changed_at DESC LIMIT 1) p
                ON p.hq_status <> h.hq_status
              JOIN station s ON s.id = h.station_id
             WHERE s.valid_from IS NULL OR s.valid_from < h.changed_at::date - 1
             ORDER BY h.changed_at DESC LIMIT 1""").fetchone()
        assert row is not None, "the demo records status changes"
        sid, new, day, old = row
        on_day = station_frame(conn, day).set_index("station_id")
        before = station_frame(conn, date.fromordinal(day.toordinal() - 1)).set_index("station_id")
    assert on_day.at[sid, "hq_status"] == new and before.at[sid, "hq_status"] == old


def test_an_off_road_village_is_beyond_every_limit_with_its_reason(demo_db_rw):
    with psycopg.connect(demo_db_rw, autocommit=True) as conn:
        vid, pop = conn.execute("UPDATE settlement SET geom = ST_SetSRID(ST_MakePoint(103.5, 20.0), 4326) "
                                "WHERE id = (SELECT min(id) FROM settlement) RETURNING id, population").fetchone()
        run = coverage(conn, minutes=(30, 60), **KW)
    row = run.villages.set_index("village_id").loc[vid]
    assert np.isnan(row["nearest_min"]) and np.isnan(row["own_min"])
    assert row["nearest_reason"].startswith("village ") and "from the nearest road" in row["nearest_reason"]
    assert run.province["villages_unreachable"].iloc[0] == 1
    assert run.province["population_unreachable"].iloc[0] == pop
    under = run.underserved(basis="either")
    assert vid in set(under["village_id"]) and under.set_index("village_id").at[vid, "reason"]


def test_underserved_sorted_by_population_and_bases(today):
    near = today.underserved(basis="nearest")
    own = today.underserved(basis="own")
    either = today.underserved(basis="either")
    assert near["population"].is_monotonic_decreasing and len(near) > 0
    assert (near["nearest_min"].fillna(np.inf) > 60).all()
    assert (own["own_min"].fillna(np.inf) > 60).all()
    assert set(either["village_id"]) == set(near["village_id"]) | set(own["village_id"])
    assert set(near["village_id"]) <= set(own["village_id"])  # the own station is never nearer than the nearest
    assert len(today.underserved(30)) > len(near)
    with pytest.raises(CoverageError):
        today.underserved(basis="farthest")


def test_the_curve_svg_parses_and_carries_the_curves_and_the_note(today):
    svg = curve_svg([("Hiện nay", today.curve), ("<b>Kịch bản</b>", today.curve.assign(share=today.curve.share / 2))],
                    marks=(30, 60), roads_generated=True, note=GENERATED_NOTE, lang="en")
    root = ET.fromstring(svg)
    curves = root.findall(f"{SVG_NS}g[@class='curve']")
    assert [c.get("data-name") for c in curves] == ["Hiện nay", "<b>Kịch bản</b>"]
    pts = curves[0].find(f"{SVG_NS}polyline").get("points").split()
    assert len(pts) == 181
    marks = {m.get("data-minutes"): float(m.get("data-share")) for m in root.iter(f"{SVG_NS}line")
             if m.get("class") == "mark"}
    assert marks["30"] == pytest.approx(today.province["share_within_30"].iloc[0], abs=1e-4)
    assert root.find(f"{SVG_NS}desc").text == GENERATED_NOTE
    notes = " ".join(t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "note")
    assert notes == GENERATED_NOTE
    vi = ET.fromstring(curve_svg([("Hiện nay", today.curve)], roads_generated=True, note=GENERATED_NOTE))
    assert "giả lập" in vi.find(f"{SVG_NS}desc").text and "Tỷ lệ dân số" in vi.find(f"{SVG_NS}title").text
    plain = ET.fromstring(curve_svg([("Hiện nay", today.curve)], roads_generated=False, note=""))
    assert plain.find(f"{SVG_NS}desc") is None


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("\n".join(line for line in text.splitlines()
                                                     if not line.startswith("#")))))


def test_api_tables_underserved_csv_scope_and_refusals(demo, today):  # noqa: F811
    c, who = demo["client"], demo["who"]
    r = c.get("/analyses/coverage", params={"minutes": "30,60", "on": ON.isoformat()}, headers=who["planner"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["roads_generated"] is True and body["note"] == GENERATED_NOTE and body["minutes"] == [30, 60]
    assert body["province"]["population_within_30"] == today.province["population_within_30"].iloc[0]
    assert body["province"]["share_within_60"] == pytest.approx(today.province["share_within_60"].iloc[0])
    assert len(body["communes"]) == len(today.communes) and body["selection"] is None
    assert len(body["curve"]) == 181
    under = body["underserved"]
    assert under["basis"] == "nearest" and under["count"] == len(today.underserved())
    pops = [row["population"] for row in under["rows"]]
    assert pops == sorted(pops, reverse=True)

    csv_r = c.get("/analyses/coverage", params={"f": "csv", "part": "underserved", "on": ON.isoformat(),
                                                "basis": "own", "threshold": 90}, headers=who["planner"])
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    assert "# roads_generated: True" in csv_r.text and "# note: The roads" in csv_r.text
    rows = _csv(csv_r.text)
    assert [int(x["population"]) for x in rows] == sorted((int(x["population"]) for x in rows), reverse=True)
    assert len(rows) == len(today.underserved(90, "own")) and all(float(x["own_min"] or "inf") > 90 for x in rows)
    table = _csv(c.get("/analyses/coverage", params={"f": "csv", "on": ON.isoformat()}, headers=who["planner"]).text)
    assert table[0]["scope"] == "province" and len(table) == 1 + len(today.communes)
    assert int(table[0]["population_within_30"]) == today.province["population_within_30"].iloc[0]

    mine = c.get("/analyses/coverage", params={"on": ON.isoformat()}, headers=who["commander"]).json()
    assert mine["province"] is None and [x["commune_code"] for x in mine["communes"]] == [demo["commune"]]
    assert {x["commune_code"] for x in mine["underserved"]["rows"]} <= {demo["commune"]}
    assert mine["selection"]["population"] == today.communes.set_index("commune_code").at[demo["commune"],
                                                                                          "population"]
    _problem(c.get("/analyses/coverage", params={"commune": demo["other_commune"]}, headers=who["commander"]), 403)
    _problem(c.get("/analyses/coverage", headers=who["officer"]), 403)
    _problem(c.get("/analyses/coverage", params={"minutes": "abc"}, headers=who["planner"]), 400, "minutes")
    _problem(c.get("/analyses/coverage", params={"status": "palace"}, headers=who["planner"]), 400, "status")
    _problem(c.get("/analyses/coverage", params={"commune": "NOPE"}, headers=who["planner"]), 400, "commune")
    bad = c.get("/analyses/coverage", params={"threshold": "0"}, headers=who["planner"])
    assert bad.status_code in (400, 422) and bad.headers["content-type"].startswith("application/problem+json")


def test_api_curve_svg(demo):  # noqa: F811
    c, who = demo["client"], demo["who"]
    r = c.get("/analyses/coverage/curve.svg", params={"status": "independent", "lang": "en"},
              headers=who["planner"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.text)
    names = [g.get("data-name") for g in root.findall(f"{SVG_NS}g[@class='curve']")]
    assert names == ["Today", "Independent headquarters"]
    assert root.find(f"{SVG_NS}desc").text == GENERATED_NOTE
    scoped = ET.fromstring(c.get("/analyses/coverage/curve.svg", headers=who["commander"]).text)
    assert len(scoped.findall(f"{SVG_NS}g[@class='curve']")) == 1
    _problem(c.get("/analyses/coverage/curve.svg", headers=who["officer"]), 403)
    _problem(c.get("/analyses/coverage/curve.svg", params={"minutes": "-5"}, headers=who["planner"]), 400, "minutes")


def test_underserved_layer_is_the_stored_access_run_beyond_the_setting(demo):  # noqa: F811
    c, who, url = demo["client"], demo["who"], demo["url"]
    body = c.get("/collections/underserved-villages/items", params={"limit": 10000}, headers=who["planner"]).json()
    with psycopg.connect(url) as conn:
        on = date.fromisoformat(conn.execute("SELECT params->>'on' FROM travel_run WHERE analysis = 'access'"
                                             ).fetchone()[0])
        run = coverage(conn, minutes=(60,), on=on, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    feats = body["features"]
    by = {f["properties"]["settlement_id"]: f["properties"]["underserved_by"] for f in feats}
    assert set(by.values()) <= {"nearest", "own"} and body["numberReturned"] == len(feats) > 0
    assert {k for k, v in by.items() if v == "nearest"} == set(run.underserved(60, "nearest")["village_id"])
    assert set(by) == set(run.underserved(60, "either")["village_id"])
    assert all(f["properties"]["roads_generated"] is True for f in feats)
    # A commander of the commune with the most underserved villages sees those and no other.
    busiest = pd.Series([f["properties"]["unit_id"] for f in feats]).value_counts().index[0]
    with psycopg.connect(url, autocommit=True) as conn:
        headers = _user(conn, "coverage-commander", "commander", [int(busiest)])
    mine = c.get("/collections/underserved-villages/items", params={"limit": 10000}, headers=headers).json()
    assert {f["properties"]["unit_id"] for f in mine["features"]} == {busiest}
    assert len(mine["features"]) == sum(f["properties"]["unit_id"] == busiest for f in feats) < len(feats)
    refused = c.get("/collections/underserved-villages/items", headers=who["officer"])
    assert refused.status_code in (401, 403, 404)


def test_the_briefing_carries_the_communes_and_the_provinces_curve(demo_db, tmp_path):
    from web import briefing

    page = briefing.export(demo_db, "Mường Chà", "html", tmp_path / "b.html").read_text(encoding="utf-8")
    svg = page[page.index('<svg class="br-curve"'):]
    root = ET.fromstring(svg[:svg.index("</svg>") + len("</svg>")])
    names = [g.get("data-name") for g in root.findall(f"{SVG_NS}g[@class='curve']")]
    assert names == ["Xã Mường Chà", "Tỉnh"]
    assert "giả lập" in root.find(f"{SVG_NS}desc").text
    assert "Tỷ lệ dân số trong tầm tiếp cận đồn công an" in page


def test_the_map_offers_the_curve_to_the_roles_that_run_analyses(make_client, world):
    page = make_client(world.url).get("/", headers={"Accept": "text/html"}).text
    assert "sitmap/coverage.js" in page
    assert '"coverage_roles": ["admin", "commander", "planner"]' in page


def test_cli_prints_the_table_and_writes_the_underserved(demo_db, today, tmp_path):
    from tests.test_travel_cli import sitmap

    out = tmp_path / "under.csv"
    done = sitmap(demo_db, "analyze", "coverage", "--minutes", "30", "--on", ON.isoformat(), "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["commune", "villages", "population", "|", "within", "30", "min"]
    p = today.province.iloc[0]
    assert lines[1].split()[:4] == ["PROVINCE", "1500", f"{int(p['population']):,}", "|"]
    assert lines[1].split()[4] == f"{int(p['population_within_30']):,}"
    assert "are generated" in done.stdout
    rows = _csv(out.read_text(encoding="utf-8"))
    assert len(rows) == len(today.underserved()) and int(rows[0]["population"]) >= int(rows[-1]["population"])
    bad = sitmap(demo_db, "analyze", "coverage", "--status", "palace", "--output", str(tmp_path / "x.csv"))
    assert bad.returncode == 2 and "unknown headquarters status palace" in bad.stderr
    assert not (tmp_path / "x.csv").exists()
