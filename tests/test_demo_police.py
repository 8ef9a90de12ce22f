"""The demo's police, teams, patrol points, incidents, planted clusters, key areas and service figures
(DESIGN §6, issue 4 item 5), checked against the real loaded demo database."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import numpy as np
import psycopg
import pytest

from data.demo.loader import read_config
from tests.conftest import DEMO_UNTIL

# The figures of the province police's 2024-2025 reports: the data file carries them, the demo reproduces them.
REPORTED = {"pre2025_units": 120, "independent": 80, "officers_pre2025": 818, "officers_2025": 1477,
            "teams": 1446, "members": 4338, "models": 34, "model_points_over": 4200,
            "key_complex": 15, "drug_key": 32}


@pytest.fixture(scope="module")
def cfg() -> dict:
    return read_config()


@pytest.fixture(scope="module")
def db(demo_db: str):
    with psycopg.connect(demo_db) as conn:
        yield conn


def one(conn: psycopg.Connection, query: str, params=None):
    return conn.execute(query, params).fetchone()


def test_data_file_carries_the_reported_figures(cfg):
    pc = cfg["police"]
    assert pc["pre2025_units"]["commune_and_township_units"] == REPORTED["pre2025_units"]
    assert pc["pre2025_units"]["independent_headquarters"] == REPORTED["independent"]
    assert pc["pre2025_units"]["full_time_officers"] == REPORTED["officers_pre2025"]
    assert pc["commune_police_2025"]["officers"] == REPORTED["officers_2025"]
    assert (pc["security_teams"]["count"], pc["security_teams"]["members"]) == (REPORTED["teams"], REPORTED["members"])
    assert len(pc["self_governing_models"]["models"]) == pc["self_governing_models"]["count"] == REPORTED["models"]


def test_stations_by_kind_and_validity(db):
    rows = dict(((k, e, vf, vt), n) for k, e, vf, vt, n in db.execute(
        "SELECT s.kind, u.era, s.valid_from, s.valid_to, count(*) FROM station s JOIN admin_unit u ON u.id = s.unit_id "
        "GROUP BY 1, 2, 3, 4").fetchall())
    assert rows == {("commune_police", "pre2025", None, date(2025, 6, 30)): 129,
                    ("district_police", "pre2025", None, date(2025, 2, 28)): 10,
                    ("commune_police", "2025", date(2025, 7, 1), None): 45}
    # Codes name the unit they serve.
    bad = one(db, "SELECT count(*) FROM station s JOIN admin_unit u ON u.id = s.unit_id "
                  "WHERE s.code NOT LIKE '%%-' || u.code")[0]
    assert bad == 0


def test_reported_police_figures(db):
    n, independent, officers = one(db, """
        SELECT count(*), count(*) FILTER (WHERE s.hq_status = 'independent'), sum(s.officers)
          FROM station s JOIN admin_unit u ON u.id = s.unit_id
         WHERE s.kind = 'commune_police' AND u.era = 'pre2025' AND u.kind IN ('commune', 'township')""")
    assert (n, independent, officers) == (REPORTED["pre2025_units"], REPORTED["independent"],
                                          REPORTED["officers_pre2025"])
    n45, officers45, statuses = one(db, "SELECT count(*), sum(officers), count(DISTINCT hq_status) FROM station "
                                        "WHERE valid_from = '2025-07-01'")
    assert (n45, officers45) == (45, REPORTED["officers_2025"])
    assert statuses >= 2, "the 2025 stations' headquarters status is generated with several values"
    assert one(db, "SELECT min(officers) FROM station")[0] > 0


def test_status_history_ends_in_the_current_status(db):
    mismatched = one(db, """
        SELECT count(*) FROM station s
          LEFT JOIN LATERAL (SELECT hq_status FROM station_status_history h WHERE h.station_id = s.id
                             ORDER BY changed_at DESC, id DESC LIMIT 1) h ON true
         WHERE h.hq_status IS DISTINCT FROM s.hq_status""")[0]
    assert mismatched == 0
    assert one(db, "SELECT max(changed_at) FROM station_status_history")[0] <= DEMO_UNTIL
    # An independent earlier unit went through construction before moving in.
    assert one(db, """SELECT count(*) FROM station s WHERE s.valid_to = '2025-06-30' AND s.hq_status = 'independent'
                      AND NOT EXISTS (SELECT 1 FROM station_status_history h WHERE h.station_id = s.id
                                      AND h.hq_status = 'under_construction')""")[0] == 0


def _bare(name: str) -> str:
    s = unicodedata.normalize("NFC", name).lower().strip()
    return re.sub(r"^(thành phố|thị trấn|thị xã|phường|huyện|tp\.?|xã)\s+", "", s)


def test_current_stations_inside_their_unit_at_its_admin_centre(db):
    rows = db.execute("""
        SELECT s.code, n.admin_centre, ST_Intersects(n.geom, s.geom),
               (SELECT min(ST_Distance(st.geom::geography, s.geom::geography)) FROM settlement st
                 WHERE st.unit_id = n.id),
               o.name, d.name, l.old_name_resolution
          FROM station s JOIN admin_unit n ON n.id = s.unit_id
          LEFT JOIN admin_unit o ON o.era = 'pre2025' AND o.kind IN ('commune', 'ward', 'township')
                                AND ST_Intersects(o.geom, s.geom)
          LEFT JOIN admin_unit d ON d.id = o.parent_id
          LEFT JOIN admin_lineage l ON l.old_unit_id = o.id
         WHERE s.valid_from = '2025-07-01' ORDER BY s.code""").fetchall()
    assert len(rows) == 45
    checked = 0
    for code, centre, inside, to_village, old_name, district, resolution_name in rows:
        assert inside, f"{code} lies outside its unit"
        assert to_village is not None and to_village < 1.0, f"{code} is not at a village of its unit"
        m = re.search(r"UBND\s+(thị xã|thị trấn|thành phố|tp\.?|huyện|phường|xã)\s+(.+)$", centre or "", re.I)
        if not m:
            continue
        place = _bare(m.group(2))
        if m.group(1).lower() in ("huyện", "thị xã", "thành phố", "tp", "tp."):
            assert district and _bare(district) == place, f"{code}: centre {centre!r}, station in {district}"
        else:
            # The centre may use the merger resolution's spelling of the earlier unit's name.
            names = {_bare(old_name or ""), _bare(resolution_name or "")}
            assert place in names, f"{code}: centre {centre!r}, station in {old_name}"
        checked += 1
    assert checked >= 40


def test_earlier_stations_inside_their_units(db):
    outside = one(db, "SELECT count(*) FROM station s JOIN admin_unit u ON u.id = s.unit_id "
                      "WHERE u.era = 'pre2025' AND NOT ST_Intersects(u.geom, s.geom)")[0]
    assert outside == 0
    # The district headquarters stand in the district's town, not at another district's.
    assert one(db, "SELECT count(DISTINCT unit_id) FROM station WHERE kind = 'district_police'")[0] == 10


def test_security_teams(db):
    n, members, min_members, units = one(db, """
        SELECT count(*), sum(t.members), min(t.members), count(DISTINCT s.pre2025_unit_id)
          FROM security_team t JOIN settlement s ON s.id = t.settlement_id""")
    assert (n, members) == (REPORTED["teams"], REPORTED["members"])
    assert min_members >= 3
    assert units >= 100, "teams are spread over the earlier units' villages"
    assert one(db, "SELECT count(*) FROM security_team t JOIN settlement s ON s.id = t.settlement_id "
                   "WHERE t.unit_id <> s.unit_id OR NOT ST_Equals(t.geom, s.geom)")[0] == 0


def test_patrol_points(db, cfg):
    by_kind = dict(db.execute("SELECT kind, count(*) FROM patrol_point GROUP BY kind").fetchall())
    assert by_kind["self_governing_model"] > REPORTED["model_points_over"]
    assert by_kind["checkpoint"] > 0 and by_kind["tip_mailbox"] > 0
    assert one(db, "SELECT count(DISTINCT model_name) FROM patrol_point WHERE kind = 'self_governing_model'")[0] \
        == REPORTED["models"]
    intervals = dict(db.execute("SELECT kind, min(visit_interval_hours) FROM patrol_point GROUP BY kind "
                                "HAVING min(visit_interval_hours) = max(visit_interval_hours)").fetchall())
    assert intervals == cfg["police"]["patrol_points"]["visit_interval_hours"]
    assert one(db, "SELECT count(*) FROM patrol_point p JOIN admin_unit u ON u.id = p.unit_id "
                   "WHERE NOT ST_Intersects(u.geom, p.geom)")[0] == 0
    assert one(db, "SELECT count(*) FROM patrol_point p JOIN station s ON s.id = p.station_id "
                   "WHERE s.unit_id <> p.unit_id OR s.valid_to IS NOT NULL")[0] == 0
    # Checkpoints sit on the road network.
    assert one(db, "SELECT max((SELECT min(ST_Distance(e.geom::geography, p.geom::geography)) FROM road_edge e "
                   "WHERE ST_DWithin(e.geom, p.geom, 0.01))) FROM patrol_point p WHERE kind = 'checkpoint'")[0] < 5


def test_patrol_visits_leave_some_points_overdue(db):
    total, overdue, future = one(db, """
        SELECT count(*), count(*) FILTER (WHERE last < %(u)s - make_interval(hours => p.visit_interval_hours)),
               count(*) FILTER (WHERE last > %(u)s)
          FROM patrol_point p JOIN LATERAL (SELECT max(visited_at) last FROM patrol_visit v
                                             WHERE v.patrol_point_id = p.id) v ON true""", {"u": DEMO_UNTIL})
    assert future == 0
    assert 0.05 * total < overdue < 0.5 * total
    rejected, far_accepted = one(db, "SELECT count(*) FILTER (WHERE NOT accepted), count(*) FILTER (WHERE accepted "
                                     "AND ST_Distance(v.geom::geography, p.geom::geography) > 200.5) "
                                     "FROM patrol_visit v JOIN patrol_point p ON p.id = v.patrol_point_id")
    assert rejected > 0 and far_accepted == 0


def test_incidents_span_two_years_ending_at_until(db, cfg):
    n, first, last, recent = one(db, "SELECT count(*), min(occurred_at), max(occurred_at), count(*) FILTER "
                                     "(WHERE occurred_at > %(u)s - interval '24 hours') FROM incident",
                                 {"u": DEMO_UNTIL})
    assert n == cfg["incidents"]["total"] and abs(n - 20000) <= 1000
    assert last <= DEMO_UNTIL and DEMO_UNTIL - last < timedelta(hours=6)
    assert timedelta(days=720) < DEMO_UNTIL - first <= timedelta(days=731)
    assert recent >= 10, "the live map's 'last 24 hours' shows something"
    assert one(db, "SELECT count(*) FROM incident WHERE reported_at < occurred_at OR reported_at > %s",
               [DEMO_UNTIL])[0] == 0
    assert one(db, "SELECT count(DISTINCT category) FROM incident")[0] == len(cfg["incidents"]["categories"])


def test_incident_unit_is_the_unit_containing_it(db):
    wrong = one(db, """
        SELECT count(*) FROM incident i
         WHERE i.unit_id IS DISTINCT FROM (SELECT u.id FROM admin_unit u WHERE u.era = '2025'
                                            AND u.kind IN ('commune', 'ward', 'township')
                                            AND ST_Intersects(u.geom, i.geom) ORDER BY u.id LIMIT 1)""")[0]
    assert wrong == 0


def test_incident_statuses_and_history(db):
    old_closed = one(db, "SELECT avg((status IN ('closed', 'transferred'))::int) FROM incident "
                         "WHERE occurred_at < %s - interval '60 days'", [DEMO_UNTIL])[0]
    assert old_closed > 0.85
    fresh_open = one(db, "SELECT avg((status <> 'closed')::int) FROM incident WHERE occurred_at > %s - interval "
                         "'24 hours'", [DEMO_UNTIL])[0]
    assert fresh_open > 0.8
    assert one(db, """
        SELECT count(*) FROM incident i JOIN LATERAL (SELECT to_status, version FROM incident_history h
               WHERE h.incident_id = i.id ORDER BY version DESC LIMIT 1) h ON true
         WHERE h.to_status <> i.status OR h.version <> i.version""")[0] == 0
    assert one(db, "SELECT count(*) FROM incident i WHERE NOT EXISTS "
                   "(SELECT 1 FROM incident_history h WHERE h.incident_id = i.id)")[0] == 0


def test_incident_geography_follows_the_mix(db):
    border, drugs_border, theft_border = one(db, """
        SELECT avg((u.border_countries IS NOT NULL) ::int) FILTER (WHERE i.category = 'illegal_border_crossing'),
               avg((u.border_countries IS NOT NULL) ::int) FILTER (WHERE i.category = 'drugs'),
               avg((u.border_countries IS NOT NULL) ::int) FILTER (WHERE i.category = 'theft')
          FROM incident i JOIN admin_unit u ON u.id = i.unit_id""")
    assert border > 0.9
    assert float(drugs_border) > float(theft_border) + 0.1


def _period_counts(db, cluster) -> np.ndarray:
    effect = cluster["effect"]
    rows = db.execute("""
        SELECT floor(extract(epoch FROM i.occurred_at - %(start)s::timestamptz) / (86400 * %(days)s))::int, count(*)
          FROM incident i
         WHERE i.category = %(cat)s
           AND 'E' || floor(ST_X(ST_Transform(i.geom, %(srid)s)) / %(size)s)::int
               || 'N' || floor(ST_Y(ST_Transform(i.geom, %(srid)s)) / %(size)s)::int = ANY(%(cells)s)
         GROUP BY 1""", {"start": effect["period_start"], "days": effect["period_days"], "cat": cluster["category"],
                         "srid": effect["grid"]["srid"], "size": cluster["cell_size_m"],
                         "cells": cluster["cells"]}).fetchall()
    counts = np.zeros(effect["periods"])
    for m, n in rows:
        counts[min(max(m, 0), effect["periods"] - 1)] += n
    return counts


def test_planted_clusters_are_concentrated_and_follow_their_trend(db, cfg):
    cols = ("name", "category", "cell_size_m", "cells", "starts_at", "trend", "effect", "incident_count")
    clusters = [dict(zip(cols, r, strict=True)) for r in db.execute(
        f"SELECT {', '.join(cols)} FROM demo_planted_cluster ORDER BY id").fetchall()]
    assert [c["name"] for c in clusters] == [p["name"] for p in cfg["incidents"]["planted"]]
    assert {c["trend"] for c in clusters} >= {"intensifying_hot", "persistent_hot", "consecutive_hot",
                                              "diminishing_hot"}
    area_km2 = one(db, "SELECT ST_Area(geom::geography) / 1e6 FROM admin_unit WHERE era = '2025' "
                       "AND kind = 'province'")[0]
    for c in clusters:
        e = c["effect"]
        assert c["incident_count"] == sum(e["counts"]) > 0
        counts = _period_counts(db, c)
        assert np.all(counts >= np.array(e["counts"])), c["name"]
        total_cat = one(db, "SELECT count(*) FROM incident WHERE category = %s", [c["category"]])[0]
        density_in = counts.sum() / (len(c["cells"]) * (c["cell_size_m"] / 1000) ** 2)
        assert density_in > 10 * total_cat / area_km2, f"{c['name']} is not concentrated in its cells"
        sp = e["start_period"]
        slope = np.polyfit(np.arange(sp, len(counts)), counts[sp:], 1)[0]
        if c["trend"] == "intensifying_hot":
            assert slope > 0.5 * e["slope_per_period"] > 0, c["name"]
        elif c["trend"] == "diminishing_hot":
            assert slope < 0.5 * e["slope_per_period"] < 0, c["name"]
        elif c["trend"] == "persistent_hot":
            assert abs(slope) * len(counts) < 0.5 * counts.mean() and counts.min() > 0, c["name"]
        elif c["trend"] == "consecutive_hot":
            assert sp > 0 and counts[sp:].mean() > 3 * max(counts[:sp].mean(), 1.0), c["name"]
        # Ground-truth geometry covers the planted incidents.
        inside = one(db, "SELECT count(*) FROM incident i, demo_planted_cluster c WHERE c.name = %s "
                         "AND i.category = c.category AND ST_Intersects(c.geom, i.geom)", [c["name"]])[0]
        assert inside >= c["incident_count"]


def test_key_area_designations(db):
    rows = dict(db.execute("SELECT kind, count(*) FROM designation WHERE status = 'approved' AND unit_id IS NOT NULL "
                           "AND basis ? 'rule' AND valid_from IS NOT NULL GROUP BY kind").fetchall())
    assert rows["key_complex"] == REPORTED["key_complex"] and rows["drug_key"] == REPORTED["drug_key"]
    # The province's decisions (the rules' proposals, made at the end of the load, may name others).
    assert one(db, "SELECT count(DISTINCT unit_id) FROM designation WHERE kind = 'key_complex' "
                   "AND origin = 'historical'")[0] == 15
    # The drug key areas are the communes with the most drug incidents in their window.
    worst = one(db, "SELECT max((basis->>'incidents')::int) FROM designation WHERE kind = 'drug_key'")[0]
    top = one(db, "SELECT max(n) FROM (SELECT count(*) n FROM incident WHERE category = 'drugs' GROUP BY unit_id) q")[0]
    assert 0 < worst <= top


def test_service_stats_exactly_as_reported(db, cfg):
    sc = cfg["service_stats"]
    fields = ("received", "online", "in_person", "early", "on_time", "on_time_or_early", "overdue", "in_progress")
    rows = db.execute(f"""
        SELECT CASE WHEN u.kind = 'province' THEN 'province' ELSE u.name END, u.era, s.agency, s.period_start,
               s.is_generated, {', '.join('s.' + f for f in fields)}
          FROM service_stat s JOIN admin_unit u ON u.id = s.unit_id""").fetchall()
    got = {r[0]: r for r in rows}
    assert len(rows) == len(sc["reported"]) == 3
    for item in sc["reported"]:
        r = got[item["unit"]]
        assert r[1] == "2025" and r[2] == sc["agency"] and r[3] == sc["period_start"] and r[4] is False
        assert dict(zip(fields, r[5:], strict=True)) == {f: item.get(f) for f in fields}
    prov = dict(zip(fields, got["province"][5:], strict=True))
    assert prov["received"] == 47894
    # As reported, the parts do not add up to the dossiers received, and they were not forced to.
    assert prov["online"] + prov["in_person"] != prov["received"]
    assert prov["on_time_or_early"] + prov["overdue"] + prov["in_progress"] != prov["received"]
    assert dict(zip(fields, got["Xã Mường Chà"][5:], strict=True))["in_person"] is None


def test_everything_generated_is_labelled(db):
    for table in ("station", "station_status_history", "security_team", "patrol_point", "patrol_visit", "incident",
                  "designation"):
        assert one(db, f"SELECT count(*) FILTER (WHERE NOT is_generated), count(*) FROM {table}")[0] == 0, table


MY_TABLES = ("patrol_visit", "patrol_point", "security_team", "station_status_history", "station",
             "incident_history", "incident", "designation", "demo_planted_cluster", "service_stat")
FINGERPRINT = {
    "station": "code, name, kind, hq_status, officers, services, contact, valid_from, valid_to, ST_AsText(geom)",
    "station_status_history": "(SELECT code FROM station s WHERE s.id = station_id), hq_status, changed_at, note",
    "security_team": "name, unit_id, settlement_id, members, ST_AsText(geom)",
    "patrol_point": "name, kind, unit_id, model_name, visit_interval_hours, ST_AsText(geom)",
    "patrol_visit": "client_id, visited_at, distance_m, accepted, ST_AsText(geom)",
    "incident": "id, category, severity, occurred_at, reported_at, accuracy_m, unit_id, source, status, description, "
                "ST_AsText(geom)",
    "incident_history": "incident_id, at, version, from_status, to_status, changes",
    "designation": "kind, unit_id, status, basis, valid_from",
    "demo_planted_cluster": "name, cells, starts_at, ends_at, trend, effect, incident_count, ST_AsText(geom)",
}


def _fingerprint(conn: psycopg.Connection) -> dict[str, str]:
    return {t: conn.execute(f"SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (SELECT ({cols})::text r FROM {t}) q"
                            ).fetchone()[0] for t, cols in FINGERPRINT.items()}


def test_police_and_incident_stages_are_deterministic(demo_db_rw, cfg):
    from data.demo import incidents, police

    prints = []
    for _run in range(2):
        with psycopg.connect(demo_db_rw) as conn:
            for t in MY_TABLES:
                conn.execute(f"DELETE FROM {t}")
            police.load_police(conn, cfg, np.random.default_rng(7), False)
            incidents.load_incidents(conn, cfg, np.random.default_rng(8), DEMO_UNTIL, False)
            conn.commit()
            prints.append(_fingerprint(conn))
    assert prints[0] == prints[1]
    assert all(prints[0].values())
