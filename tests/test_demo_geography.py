"""Facts of the demo's geography (issue 4, items 5 and 8): the real 2025 units tile the province and keep their
shapes, the generated earlier units and districts are consistent with the lineage, every settlement lies in
one unit of each era with populations that add up, and the road graph reaches every settlement.

Expected values come from data/reference/ and the demo's data file, never from the loader's own output.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import DEMO_SEED, DEMO_UNTIL

REF = Path(__file__).resolve().parent.parent / "data" / "reference"
CFG = yaml.safe_load((Path(__file__).resolve().parent.parent / "data" / "demo" / "dienbien.yaml").read_text())
GEO = CFG["geography"]
COMMUNE_LEVEL = ("commune", "ward", "township")


def read_csv(name: str) -> list[dict]:
    with open(REF / name, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def db(demo_db: str):
    with psycopg.connect(demo_db) as conn:
        yield conn


def one(conn, query: str, params=None):
    return conn.execute(query, params).fetchone()


def test_counts_of_units_per_era(db):
    lineage = read_csv("lineage-2025.csv")
    rows = dict(db.execute(
        "SELECT era || ':' || CASE WHEN kind IN ('commune', 'ward', 'township') THEN 'unit' "
        "WHEN kind = 'province' THEN 'province' ELSE 'district' END, count(*) FROM admin_unit GROUP BY 1").fetchall())
    assert rows == {
        "2025:province": 1, "pre2025:province": 1,
        "2025:unit": len({r["new_code"] for r in lineage}),
        "pre2025:unit": len(lineage),
        "pre2025:district": len({r["old_district_code"] for r in lineage}),
    }
    assert len(lineage) == 129 and len({r["new_code"] for r in lineage}) == 45


def test_2025_units_tile_the_province(db):
    gap, overlap, area = one(db, """
        WITH p AS (SELECT geom FROM admin_unit WHERE era = '2025' AND kind = 'province'),
             u AS (SELECT ST_Union(geom) g, sum(ST_Area(geom::geography)) s FROM admin_unit
                   WHERE era = '2025' AND kind <> 'province')
        SELECT ST_Area(ST_Difference(p.geom, u.g)::geography) + ST_Area(ST_Difference(u.g, p.geom)::geography),
               u.s - ST_Area(u.g::geography), ST_Area(p.geom::geography) FROM p, u""")
    assert gap <= 1e-4 * area
    assert overlap <= 1e-4 * area
    # And pairwise: no two units overlap by more than a trace.
    worst = one(db, """SELECT COALESCE(max(ST_Area(ST_Intersection(a.geom, b.geom))), 0) FROM admin_unit a
                       JOIN admin_unit b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)
                       WHERE a.era = '2025' AND b.era = '2025' AND a.kind <> 'province' AND b.kind <> 'province'""")[0]
    assert worst < 1e-12   # square degrees: far below a square metre


def test_2025_units_keep_their_real_shapes(db):
    feats = json.loads((REF / "communes-2025.geojson").read_text(encoding="utf-8"))["features"]
    changed = []
    for f in feats:
        raw = json.dumps(f["geometry"])
        area_raw, area_db, sym, haus = one(db, """
            WITH r AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326) g),
                 u AS (SELECT geom FROM admin_unit WHERE era = '2025' AND code = %s)
            SELECT ST_Area(r.g::geography), ST_Area(u.geom::geography),
                   ST_Area(ST_SymDifference(r.g, u.geom)::geography),
                   ST_HausdorffDistance(ST_Transform(r.g, 32648), ST_Transform(u.geom, 32648)) FROM r, u""",
                                           [raw, f["properties"]["code"]])
        changed.append((f["properties"]["code"], abs(area_db / area_raw - 1), sym / area_raw, haus))
    assert max(c[1] for c in changed) < 0.005, max(changed, key=lambda c: c[1])
    assert max(c[2] for c in changed) < 0.02, max(changed, key=lambda c: c[2])
    assert max(c[3] for c in changed) < 1500, max(changed, key=lambda c: c[3])


def test_stated_and_computed_areas(db):
    pop = {r["new_code"]: r for r in read_csv("population-2025.csv")}
    rows = db.execute("SELECT code, stated_area_km2, area_km2, valid_from, parent_id IS NOT NULL, is_generated "
                      "FROM admin_unit WHERE era = '2025' AND kind <> 'province'").fetchall()
    for code, stated, computed, valid_from, has_parent, generated in rows:
        assert stated == float(pop[code]["area_km2"])
        assert computed == pytest.approx(stated, rel=0.10)
        assert str(valid_from) == str(CFG["province"]["reorganisation"]["two_tier_government"])
        assert has_parent and not generated


def test_population_and_the_three_estimates(db):
    pop = {r["new_code"]: r for r in read_csv("population-2025.csv")}
    flagged = {c for c, r in pop.items() if r["population_note"]}
    assert len(flagged) == 3
    rows = db.execute("SELECT code, population, population_note, households FROM admin_unit "
                      "WHERE era = '2025' AND kind <> 'province'").fetchall()
    for code, population, note, households in rows:
        assert households and 0 < households < population
        if code in flagged:
            assert note and "estimated" in note and pop[code]["population"] in note
            assert population != int(pop[code]["population"])
            assert population > int(pop[code]["population"])   # the flagged ones are implausibly low
        else:
            assert note is None
            assert population == int(pop[code]["population"])


def test_lineage_equals_the_reference(db):
    lineage = read_csv("lineage-2025.csv")
    rows = db.execute("""
        SELECT o.code, n.code, d.code, l.area_share, l.is_partly_merged, o.valid_to, o.is_generated
          FROM admin_lineage l JOIN admin_unit o ON o.id = l.old_unit_id JOIN admin_unit n ON n.id = l.new_unit_id
          JOIN admin_unit d ON d.id = o.parent_id""").fetchall()
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        (r["old_code"], r["new_code"], r["old_district_code"]) for r in lineage)
    assert all(0 < r[3] <= 1 and r[4] is False and str(r[5]) == "2025-06-30" and r[6] for r in rows)
    # Area shares of each 2025 unit add up to one.
    sums = db.execute("SELECT new_unit_id, sum(area_share) FROM admin_lineage GROUP BY 1").fetchall()
    assert all(s == pytest.approx(1.0, abs=1e-6) for _, s in sums)


def test_earlier_units_are_single_polygons_inside_and_covering_their_2025_unit(db):
    rows = db.execute("""
        SELECT o.code, ST_NumGeometries(o.geom), ST_CoveredBy(o.geom, n.geom)
          FROM admin_lineage l JOIN admin_unit o ON o.id = l.old_unit_id JOIN admin_unit n ON n.id = l.new_unit_id
    """).fetchall()
    assert len(rows) == 129
    assert [r[0] for r in rows if r[1] != 1] == []
    assert [r[0] for r in rows if not r[2]] == []
    uncovered = db.execute("""
        SELECT n.code, ST_Area(ST_Difference(n.geom, ST_Union(o.geom))) / ST_Area(n.geom)
          FROM admin_lineage l JOIN admin_unit o ON o.id = l.old_unit_id JOIN admin_unit n ON n.id = l.new_unit_id
         GROUP BY n.code, n.geom""").fetchall()
    assert len(uncovered) == 45
    assert max(u[1] for u in uncovered) < 1e-6
    # Earlier units do not overlap each other.
    worst = one(db, """SELECT COALESCE(max(ST_Area(ST_Intersection(a.geom, b.geom)) / ST_Area(a.geom)), 0)
                       FROM admin_unit a JOIN admin_unit b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)
                       WHERE a.era = 'pre2025' AND b.era = 'pre2025' AND a.kind IN ('commune', 'ward', 'township')
                         AND b.kind IN ('commune', 'ward', 'township')""")[0]
    assert worst < 1e-6


def test_districts_are_contiguous_unions_of_their_units(db):
    lineage = read_csv("lineage-2025.csv")
    per_district = Counter(r["old_district_code"] for r in lineage)
    rows = db.execute("""
        SELECT d.code, d.kind, ST_NumGeometries(d.geom), count(o.id),
               ST_Area(ST_SymDifference(d.geom, ST_Union(o.geom))) / ST_Area(d.geom)
          FROM admin_unit d JOIN admin_unit o ON o.parent_id = d.id
         WHERE d.era = 'pre2025' AND d.kind IN ('district', 'city', 'town')
         GROUP BY d.id""").fetchall()
    assert {r[0]: r[3] for r in rows} == dict(per_district)
    for code, _kind, parts, _n, diff in rows:
        assert parts == 1, code
        assert diff < 1e-6, code
    names = {r["old_district_code"]: r["old_district_name"] for r in lineage}
    prefixes = GEO["kind_prefixes"]
    for code, kind, *_ in rows:
        assert kind == next(v for k, v in prefixes.items() if names[code].startswith(k + " "))


def test_no_generated_boundary_has_a_straight_segment_over_1_km(db):
    longest = one(db, """
        WITH seg AS (
            SELECT (ST_DumpSegments(ST_Boundary(o.geom))).geom g, n.geom ng
              FROM admin_lineage l JOIN admin_unit o ON o.id = l.old_unit_id JOIN admin_unit n ON n.id = l.new_unit_id)
        SELECT max(ST_Length(g::geography)), count(*) FROM seg WHERE NOT ST_CoveredBy(g, ST_Boundary(ng))""")
    assert longest[1] > 1000          # there are generated boundaries at all
    assert longest[0] <= 1000


def test_every_settlement_lies_in_one_unit_of_each_era(db):
    bad = one(db, """
        SELECT count(*) FROM settlement s
         WHERE (SELECT count(*) FROM admin_unit u WHERE u.era = '2025' AND u.kind IN ('commune', 'ward', 'township')
                  AND ST_Intersects(u.geom, s.geom)) <> 1
            OR (SELECT count(*) FROM admin_unit u WHERE u.era = 'pre2025' AND u.kind IN ('commune', 'ward', 'township')
                  AND ST_Intersects(u.geom, s.geom)) <> 1
            OR NOT EXISTS (SELECT 1 FROM admin_unit u WHERE u.id = s.unit_id AND ST_Contains(u.geom, s.geom))
            OR NOT EXISTS (SELECT 1 FROM admin_unit u WHERE u.id = s.pre2025_unit_id AND u.era = 'pre2025'
                             AND ST_Contains(u.geom, s.geom))""")[0]
    assert bad == 0
    total = one(db, "SELECT count(*) FROM settlement")[0]
    assert 1200 <= total <= 2000


def test_settlement_populations_add_up(db):
    wrong_2025 = db.execute("""
        SELECT u.code, u.population, sum(s.population) FROM admin_unit u JOIN settlement s ON s.unit_id = u.id
         GROUP BY u.id HAVING sum(s.population) <> u.population""").fetchall()
    assert wrong_2025 == []
    wrong_old = db.execute("""
        SELECT u.code FROM admin_unit u LEFT JOIN settlement s ON s.pre2025_unit_id = u.id
         WHERE u.era = 'pre2025' AND u.kind IN ('commune', 'ward', 'township')
         GROUP BY u.id HAVING COALESCE(sum(s.population), -1) <> u.population""").fetchall()
    assert wrong_old == []
    units_without = one(db, """SELECT count(*) FROM admin_unit u WHERE u.kind IN ('commune', 'ward', 'township')
                               AND NOT EXISTS (SELECT 1 FROM settlement s WHERE s.unit_id = u.id
                                               OR s.pre2025_unit_id = u.id)""")[0]
    assert units_without == 0


def test_geonames_places_are_kept_except_those_outside_the_province(db):
    places = read_csv("places-geonames.csv")
    snap = GEO["settlements"]["geonames_snap_m"]
    expected = 0
    for p in places:
        near = one(db, "SELECT ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s) "
                       "FROM admin_unit WHERE era = '2025' AND kind = 'province'", [float(p["lon"]), float(p["lat"]),
                                                                                     snap])[0]
        expected += bool(near)
    got = db.execute("SELECT geonameid, name, is_generated, source FROM settlement WHERE geonameid IS NOT NULL"
                     ).fetchall()
    assert len(got) == expected and expected >= 500
    names = {int(p["geonameid"]): p["name"] for p in places}
    assert all(names[g] == n and not gen and "GeoNames" in src for g, n, gen, src in got)
    generated = db.execute("SELECT name, kind, is_generated FROM settlement WHERE geonameid IS NULL").fetchall()
    assert all(g for *_, g in generated)
    assert all(n.startswith(("Bản ", "Thôn ", "Tổ dân phố ", "Trung tâm ")) for n, *_ in generated)


def test_one_administrative_centre_per_2025_unit(db):
    rows = db.execute("""SELECT u.code, count(s.id) FROM admin_unit u LEFT JOIN settlement s
                         ON s.unit_id = u.id AND s.kind = 'town'
                         WHERE u.era = '2025' AND u.kind <> 'province' GROUP BY u.code""").fetchall()
    assert len(rows) == 45 and all(n == 1 for _, n in rows)


def test_border_units_and_crossings(db):
    countries = {b["country"] for b in GEO["national_border"]}
    rows = db.execute("SELECT code, border_countries FROM admin_unit WHERE era = '2025' "
                      "AND border_countries IS NOT NULL").fetchall()
    seen = {c for _, cs in rows for c in cs}
    assert seen == countries
    assert 0 < len(rows) < 45
    crossings = db.execute("""
        SELECT b.name, b.country, b.is_generated, ST_Contains(u.geom, b.geom), u.border_countries,
               ST_Distance(b.geom::geography, ST_Boundary(p.geom)::geography)
          FROM border_crossing b JOIN admin_unit u ON u.id = b.unit_id
          JOIN admin_unit p ON p.era = '2025' AND p.kind = 'province'""").fetchall()
    assert sorted(c[0] for c in crossings) == sorted(x["name"] for x in CFG["province"]["border_crossings"])
    for name, country, generated, inside, unit_countries, to_outline in crossings:
        assert generated and inside and country in unit_countries, name
        assert to_outline < 100, name


def test_road_graph_is_connected(db):
    n = one(db, "SELECT count(DISTINCT component) FROM pgr_connectedComponents("
                "'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge')")[0]
    assert n == 1
    edges, classes = one(db, "SELECT count(*), array_agg(DISTINCT road_class) FROM road_edge")
    assert 2000 <= edges <= 50000
    assert set(classes) == {"national", "provincial", "commune", "village_track", "footpath"}
    refs = {r[0] for r in db.execute("SELECT DISTINCT ref FROM road_edge WHERE road_class = 'national'")}
    assert refs == {r["ref"] for r in GEO["roads"]["national"]}
    # A proper graph: edges meet only at shared vertices, and each vertex id is one place.
    per_vertex = one(db, """
        WITH ends AS (SELECT source v, ST_StartPoint(geom) p FROM road_edge
                      UNION ALL SELECT target, ST_EndPoint(geom) FROM road_edge)
        SELECT max(n) FROM (SELECT v, count(DISTINCT ST_AsEWKB(p)) n FROM ends GROUP BY v) x""")[0]
    assert per_vertex == 1


def test_road_costs_follow_class_speed_and_slope(db):
    speeds = GEO["roads"]["speed_kmh"]
    rows = db.execute("SELECT road_class, speed_kmh, slope_factor, length_m, cost_s, reverse_cost_s, "
                      "ST_Length(geom::geography) FROM road_edge").fetchall()
    for cls, speed, slope, length, cost, reverse, geo_len in rows:
        assert slope >= 1.0
        assert speed <= speeds[cls] + 1e-9
        assert length == pytest.approx(geo_len, rel=1e-9)
        assert cost == pytest.approx(length / (speed / 3.6), rel=1e-6) and reverse == pytest.approx(cost)
    assert any(s > 1.2 for _, _, s, *_ in rows)   # steep ground slows some roads


def test_every_settlement_reaches_its_administrative_centre(db):
    # Each settlement sits on a vertex of the graph...
    off = one(db, """
        WITH v AS (SELECT DISTINCT source id, ST_StartPoint(geom) p FROM road_edge
                   UNION SELECT DISTINCT target, ST_EndPoint(geom) FROM road_edge)
        SELECT count(*) FROM settlement s WHERE NOT EXISTS (SELECT 1 FROM v WHERE ST_DWithin(v.p, s.geom, 1e-7))""")[0]
    assert off == 0
    # ... and a route leads from it to its unit's administrative centre.
    from scipy.spatial import cKDTree

    verts = db.execute("SELECT source, ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)) FROM road_edge "
                       "UNION SELECT target, ST_X(ST_EndPoint(geom)), ST_Y(ST_EndPoint(geom)) FROM road_edge"
                       ).fetchall()
    tree = cKDTree([(x, y) for _, x, y in verts])
    sett = db.execute("SELECT unit_id, kind = 'town', ST_X(geom), ST_Y(geom) FROM settlement").fetchall()
    dist, idx = tree.query([(x, y) for *_, x, y in sett])
    assert dist.max() < 1e-9
    rows = [(u, town, verts[i][0]) for (u, town, _, _), i in zip(sett, idx, strict=True)]
    centre = {u: v for u, town, v in rows if town}
    targets: dict[int, set[int]] = {}
    for u, town, v in rows:
        if not town and v != centre[u]:
            targets.setdefault(u, set()).add(v)
    edges = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge"
    unreached = []
    for u, vs in sorted(targets.items()):
        got = {r[0] for r in db.execute("SELECT end_vid FROM pgr_dijkstraCost(%s, %s::bigint, %s::bigint[])",
                                        [edges, centre[u], sorted(vs)])}
        unreached += sorted(vs - got)
    assert sum(len(v) for v in targets.values()) > 1000
    assert unreached == []


CHECKSUMS = {
    "admin_unit": "SELECT md5(string_agg(concat_ws('|', id, era, code, name, kind, parent_id, population, "
                  "population_note, households, round(area_km2::numeric, 6), border_countries::text, "
                  "is_generated, md5(ST_AsEWKB(geom))), ';' ORDER BY id)) FROM admin_unit",
    "admin_lineage": "SELECT md5(string_agg(concat_ws('|', old_unit_id, new_unit_id, round(area_share::numeric, 9)), "
                     "';' ORDER BY old_unit_id)) FROM admin_lineage",
    "settlement": "SELECT md5(string_agg(concat_ws('|', id, name, kind, population, unit_id, pre2025_unit_id, "
                  "geonameid, md5(ST_AsEWKB(geom))), ';' ORDER BY id)) FROM settlement",
    "road_edge": "SELECT md5(string_agg(concat_ws('|', id, source, target, ref, road_class, "
                 "round(cost_s::numeric, 6), round(speed_kmh::numeric, 4), md5(ST_AsEWKB(geom))), ';' ORDER BY id)) "
                 "FROM road_edge",
    "border_crossing": "SELECT md5(string_agg(concat_ws('|', id, name, unit_id, md5(ST_AsEWKB(geom))), ';' "
                       "ORDER BY id)) FROM border_crossing",
}


def checksums(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(q).fetchone()[0] for t, q in CHECKSUMS.items()}


def test_load_is_deterministic_and_replaces_everything(empty_db, demo_db):
    from data.demo.loader import is_loaded, load_demo

    assert not is_loaded(empty_db)
    started = time.perf_counter()
    report = load_demo(empty_db, seed=DEMO_SEED, until=DEMO_UNTIL, progress=False)
    elapsed = time.perf_counter() - started
    print(f"\ndemo load: {elapsed:.1f} s\n{report.summary()}")
    assert is_loaded(empty_db)
    assert f"{report.seconds:.1f} s" in report.summary()
    assert checksums(empty_db) == checksums(demo_db)
    assert report.counts["admin_unit (2025)"] == 45
