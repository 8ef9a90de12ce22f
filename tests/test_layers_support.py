"""Shared helpers of the layer tests (no tests here): a small seeded database and principal headers.

The seed uses the real 2025 communes (data/reference) and generates a few rows per table in SQL, so the
tests can compare what the API returns with what the database holds.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "reference" / "communes-2025.geojson"


# The callers the layer tests use: real accounts with real bearer sessions, created in the seed (so every
# clone of the template has them). (role, commune ids or None for province-wide)
PRINCIPALS: tuple[tuple[str, tuple[int, ...] | None], ...] = (
    ("commander", None), ("planner", None), ("officer", (3, 5)), ("officer", (1,)),
)


def _token(name: str, units: tuple[int, ...] | None) -> str:
    return f"layers-test-{name}-{'all' if units is None else '-'.join(map(str, units))}"


def role(name: str, units: list[int] | None = None) -> dict[str, str]:
    key = (name, tuple(units) if units is not None else None)
    assert key in PRINCIPALS, f"add {key} to PRINCIPALS so the seed creates that account"
    return {"Authorization": f"Bearer {_token(*key)}"}


def add_principals(conn: psycopg.Connection) -> None:
    from data.ops.signin import hash_password, token_hash

    pw = hash_password("not-used-by-these-tests")
    for name, units in PRINCIPALS:
        token = _token(name, units)
        uid = conn.execute("INSERT INTO app_user (username, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
                           (token, pw, name)).fetchone()[0]
        for unit in units or ():
            conn.execute("INSERT INTO app_user_unit (user_id, unit_id) VALUES (%s, %s)", (uid, unit))
        conn.execute("INSERT INTO app_session (token_hash, user_id, kind, expires_at) "
                     "VALUES (%s, %s, 'bearer', now() + interval '1 day')", (token_hash(token), uid))


COMMANDER = role("commander")
PLANNER = role("planner")


def seed(url: str, incidents_per_unit: int = 20) -> None:
    communes = json.loads(REFERENCE.read_text(encoding="utf-8"))["features"]
    with psycopg.connect(url, autocommit=True) as c:
        for i, f in enumerate(communes, 1):
            p = f["properties"]
            c.execute("INSERT INTO admin_unit (id, era, code, name, name_ascii, kind, population, geom) "
                      "VALUES (%s, '2025', %s, %s, %s, %s, %s, "
                      "ST_Multi(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326))))",
                      (i, p["code"], p["name"], p["name"], p["kind"], 1000 * i, json.dumps(f["geometry"])))
        c.execute("""INSERT INTO admin_unit (id, era, code, name, name_ascii, kind, geom)
                     SELECT 1000 + id, 'pre2025', 'P' || code, 'Xã cũ ' || name, name_ascii, 'commune', geom
                       FROM admin_unit WHERE era = '2025' AND id <= 20""")
        c.execute("""INSERT INTO admin_unit (id, era, code, name, name_ascii, kind, geom)
                     SELECT 2000, 'pre2025', 'D1', 'Huyện Mẫu', 'huyen mau', 'district', ST_Multi(ST_Union(geom))
                       FROM admin_unit WHERE era = '2025' AND id <= 5""")
        c.execute("""INSERT INTO station (code, name, kind, unit_id, hq_status, officers, valid_from, geom)
                     SELECT 'S' || id, 'Công an ' || name, 'commune_police', id,
                            (ARRAY['independent', 'shared', 'planned'])[1 + id % 3], 20, '2025-07-01',
                            ST_PointOnSurface(geom) FROM admin_unit WHERE era = '2025'""")
        c.execute("""INSERT INTO station (code, name, kind, unit_id, hq_status, officers, valid_from, valid_to, geom)
                     SELECT 'D' || id, 'Công an huyện ' || id, 'district_police', id, 'independent', 30,
                            '2010-01-01', '2025-02-28', ST_PointOnSurface(geom)
                       FROM admin_unit WHERE era = '2025' AND id <= 10""")
        c.execute("""INSERT INTO settlement (name, name_ascii, kind, population, unit_id, geom)
                     SELECT 'Bản ' || u.id || '-' || (d.path[1]), 'ban', 'ban', 100 + d.path[1], u.id, d.geom
                       FROM admin_unit u, ST_Dump(ST_GeneratePoints(u.geom, 4, u.id)) d WHERE u.era = '2025'""")
        c.execute("""INSERT INTO road_edge (source, target, road_class, length_m, cost_s, reverse_cost_s, name, geom)
                     SELECT a.id, b.id, 'commune', 1000, 60, 60, 'Đường ' || a.id, ST_MakeLine(a.geom, b.geom)
                       FROM settlement a JOIN settlement b ON b.id = a.id + 1 AND b.unit_id = a.unit_id""")
        c.execute("""INSERT INTO patrol_point (name, kind, unit_id, visit_interval_hours, geom)
                     SELECT 'Chốt ' || s.id, 'checkpoint', s.unit_id, 24, s.geom FROM settlement s""")
        # A third of the points were visited 40 h ago (overdue at 24 h), a third 2 h ago, a third never.
        c.execute("""INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted)
                     SELECT id, now() - CASE WHEN id % 3 = 0 THEN interval '40 hours' ELSE interval '2 hours' END,
                            true FROM patrol_point WHERE id % 3 <> 2""")
        c.execute("""INSERT INTO designation (kind, unit_id, status, valid_from, geom)
                     SELECT 'drug_key', id, 'approved', '2025-07-01', geom FROM admin_unit
                      WHERE era = '2025' AND id % 4 = 0""")
        c.execute("""INSERT INTO service_stat (unit_id, agency, period_start, received, online)
                     SELECT id, 'peoples_committee', '2025-07-01', 100 + id, 50 + id FROM admin_unit
                      WHERE era = '2025' AND id % 2 = 0""")
        c.execute("""INSERT INTO incident (id, category, severity, occurred_at, status, description, reporter_name,
                                           geom)
                     SELECT gen_random_uuid(), (ARRAY['drugs', 'theft', 'traffic', 'other'])[1 + d.path[1] %% 4],
                            (ARRAY['administrative', 'less_serious', 'serious', 'very_serious',
                                   'particularly_serious'])[1 + (d.path[1] + u.id) %% 5],
                            timestamptz '2025-01-01' + (d.path[1] * 7 + u.id) * interval '1 day',
                            'new', 'Mô tả vụ việc ' || d.path[1], 'Nguyễn Văn ' || u.id, d.geom
                       FROM admin_unit u, ST_Dump(ST_GeneratePoints(u.geom, %s, u.id)) d
                      WHERE u.era = '2025'""", (incidents_per_unit,))
        c.execute("""INSERT INTO hotspot_run (id, method, cell_size_m, created_at) VALUES
                     (1, 'gi_star', 2000, now() - interval '1 day'), (2, 'gi_star', 2000, now())""")
        c.execute("""INSERT INTO hotspot_cell (run_id, cell, count, z, p, class, geom)
                     SELECT r, 'c' || id, 5, 2.8, 0.004, 'hot_99',
                            ST_Multi(ST_Envelope(ST_Buffer(ST_PointOnSurface(geom), 0.01)))
                       FROM admin_unit, generate_series(1, 2) r WHERE era = '2025' AND id <= 6""")
        c.execute("""INSERT INTO hotspot_run (id, method, analysis, cell_size_m, created_at) VALUES
                     (3, 'emerging', 'emerging', 2000, now())""")
        c.execute("""INSERT INTO hotspot_cell (run_id, cell, count, z, p, class, trend, bins, geom)
                     SELECT 3, 'c' || id, 9, 3.1, 0.002, 'hot_99', 'persistent_hot', repeat('+', 24),
                            ST_Multi(ST_Envelope(ST_Buffer(ST_PointOnSurface(geom), 0.01)))
                       FROM admin_unit WHERE era = '2025' AND id <= 4""")
        # Road closures on every fifth road: in force, reopened, ended and yet to start, by turns.
        c.execute("""INSERT INTO road_closure (reason, starts_at, ends_at, reopened_at, geom)
                     SELECT 'landslide', now() - interval '1 day',
                            CASE WHEN id % 20 = 10 THEN now() - interval '1 hour' END,
                            CASE WHEN id % 20 = 5 THEN now() - interval '2 hours' END,
                            ST_LineInterpolatePoint(geom, 0.5) FROM road_edge WHERE id % 5 = 0
                     UNION ALL
                     SELECT 'flood', now() + interval '1 day', NULL, NULL, geom FROM road_edge WHERE id % 7 = 0""")
        # One stored run of each travel analysis (data/ops/travel_results.py), figures made up in SQL.
        c.execute("""INSERT INTO travel_run (id, analysis, roads_generated) VALUES
                     (1, 'access', true), (2, 'isochrones', true), (3, 'savings', true), (4, 'responses', true)""")
        c.execute("""INSERT INTO travel_access (run_id, settlement_id, unit_id, village, population, own_station_min,
                                                nearest_station_min, band, geom)
                     SELECT 1, id, unit_id, name, population, id % 150, id % 150 / 2, CASE WHEN id % 150 < 15
                            THEN 'm0_15' WHEN id % 150 < 30 THEN 'm15_30' ELSE 'm30_60' END, geom FROM settlement""")
        c.execute("""INSERT INTO travel_isochrone (run_id, station_id, station_code, unit_id, minutes, band, geom)
                     SELECT 2, s.id, s.code, s.unit_id, m, CASE m WHEN 15 THEN 'm0_15' ELSE 'm15_30' END,
                            ST_Multi(ST_Buffer(s.geom, m / 1000.0)) FROM station s, (VALUES (15), (30)) v(m)
                      WHERE s.kind = 'commune_police'""")
        c.execute("""INSERT INTO travel_saving (run_id, settlement_id, unit_id, village, population, change_total_min,
                                                change_band, geom)
                     SELECT 3, id, unit_id, name, population, -(id % 40), 'saved_10', geom FROM settlement""")
        c.execute("""INSERT INTO travel_response (run_id, incident_id, number, unit_id, category, occurred_at,
                                                  response_min, band, geom)
                     SELECT 4, id, number, unit_id, category, occurred_at, 20, 'm15_30', geom FROM incident""")
        # A security team in every fourth village (the security-teams layer draws them there).
        c.execute("""INSERT INTO security_team (name, unit_id, settlement_id, members, geom)
                     SELECT 'Tổ ' || name, unit_id, id, 5, geom FROM settlement WHERE id % 4 = 0""")
        # A what-if scenario's last run: every third village changed (data/ops/scenarios.py stores these).
        c.execute("INSERT INTO scenario (id, name) VALUES (1, 'seeded what-if')")
        c.execute("""INSERT INTO scenario_village (scenario_id, settlement_id, unit_id, village, population, today_min,
                                                   scenario_min, change_min, change_band, roads_generated, geom)
                     SELECT 1, id, unit_id, name, population, id % 60, id % 60 + 12, 12, 'longer_10', true, geom
                       FROM settlement WHERE id % 3 = 0""")
        c.execute("ANALYZE")


def count(url: str, query: str, params: tuple = ()) -> int:
    with psycopg.connect(url) as c:
        return c.execute(query, params).fetchone()[0]


@pytest.fixture(scope="session")
def layers_template(cluster, schema_template) -> str:
    from tests.conftest import clone_database

    # Imported into several test modules, this session fixture may run once per module: unique names.
    name = f"layers_template_{uuid.uuid4().hex[:8]}"
    url = clone_database(cluster, schema_template, name)
    seed(url)
    with psycopg.connect(url, autocommit=True) as conn:
        add_principals(conn)
    return name


@pytest.fixture(scope="session")
def seeded_ro(cluster, layers_template) -> str:
    """A seeded database shared by the tests that only read."""
    from tests.conftest import clone_database

    return clone_database(cluster, layers_template, f"layers_read_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def seeded_db(cluster, layers_template):
    """A private seeded database for a test that writes."""
    from tests.conftest import clone_database, drop_database

    url = clone_database(cluster, layers_template)
    yield url
    drop_database(cluster, url.split("/")[-1].split("?")[0])


@pytest.fixture
def api(make_client, seeded_ro):
    return make_client(seeded_ro, data_version_ttl_s=0.0)


# How many features each layer must yield over its items, counted in the database (the layer tests and the
# GDAL test compare what clients read with these).
EXPECTED_COUNTS = {
    "communes": "SELECT count(*) FROM admin_unit WHERE era = '2025'",
    "communes-pre2025": "SELECT count(*) FROM admin_unit WHERE era = 'pre2025' AND kind = 'commune'",
    "districts-pre2025": "SELECT count(*) FROM admin_unit WHERE kind = 'district'",
    "stations": "SELECT count(*) FROM station WHERE valid_to IS NULL OR valid_to >= current_date",
    "villages": "SELECT count(*) FROM settlement",
    "roads": "SELECT count(*) FROM road_edge",
    "patrol-points": "SELECT count(*) FROM patrol_point",
    "incidents": "SELECT count(*) FROM incident",
    "key-areas": "SELECT count(*) FROM designation",
    # The latest run of each analysis per category and kind of cell (a later run of another category stays).
    **{layer: f"""SELECT count(*) FROM hotspot_cell c JOIN hotspot_run r ON r.id = c.run_id
                   WHERE r.analysis = '{analysis}' AND NOT EXISTS (
                         SELECT 1 FROM hotspot_run later WHERE later.analysis = r.analysis
                            AND later.category IS NOT DISTINCT FROM r.category AND later.cells = r.cells
                            AND (later.created_at, later.id) > (r.created_at, r.id))"""
       for layer, analysis in (("hotspots", "gi_star"), ("emerging-hotspots", "emerging"))},
    "service-stats": "SELECT count(*) FROM service_stat",
    "village-access": "SELECT count(*) FROM travel_access",
    "isochrones": "SELECT count(*) FROM travel_isochrone",
    "reorganisation-savings": "SELECT count(*) FROM travel_saving",
    "response-times": "SELECT count(*) FROM travel_response",
    # Those in force now (the layer's default).
    "road-closures": "SELECT count(*) FROM road_closure WHERE starts_at <= now() AND now() < coalesce(least(ends_at, "
                     "reopened_at), 'infinity')",
    # Beyond SITMAP_COVERAGE_UNDERSERVED_MIN to the nearest or the own station, or without a figure.
    "underserved-villages": "SELECT count(*) FROM travel_access WHERE NOT (coalesce(nearest_station_min <= 60, "
                            "false) AND coalesce(own_station_min <= 60, false))",
    "scenario-villages": "SELECT count(*) FROM scenario_village",
    "security-teams": "SELECT count(*) FROM security_team",
}
