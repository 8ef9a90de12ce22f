"""The village access table (geo/travel/access.py): known answers on the tiny graph of test_travel_routes
(residents travel TO the station, so a one-way road counts in that direction; villages that cannot reach a
station or are too far from a road get a reason, not a number) and the demo table's own consistency (one row
per village, node ids, the parts adding up, population-weighted summaries)."""

from __future__ import annotations

from datetime import date

import numpy as np
import psycopg
import pytest

from geo.travel.access import access_summaries, access_table
from tests.test_travel_routes import MAX_SNAP_M, NODES, WALK_KMH, build_tiny_graph

ON = date(2026, 1, 1)
SQUARE = "MULTIPOLYGON((({x0} 21.35, {x1} 21.35, {x1} 21.45, {x0} 21.45, {x0} 21.35)))"


def build_tiny_world(url: str) -> dict[str, int]:
    build_tiny_graph(url)
    ids: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for code, x0, x1 in (("A", 102.95, 103.015), ("B", 103.015, 103.2)):
            ids[code] = conn.execute(
                "INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('2025', %s, %s, %s, "
                "'commune', ST_GeomFromText(%s, 4326)) RETURNING id",
                [code, f"Xã {code}", f"xa {code.lower()}", SQUARE.format(x0=x0, x1=x1)]).fetchone()[0]
        # Station of A on node 2, station of B on node 4.
        for code, unit, node in (("CA-A", "A", 2), ("CA-B", "B", 4)):
            ids[code] = conn.execute(
                "INSERT INTO station (code, name, kind, unit_id, hq_status, geom) VALUES (%s, %s, 'commune_police',"
                " %s, 'shared', ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
                [code, code, ids[unit], *NODES[node]]).fetchone()[0]
        villages = {"at1": ("A", NODES[1]), "at3": ("A", NODES[3]), "at8": ("B", NODES[8]),
                    "far": ("B", (103.05, 21.44))}
        for name, (unit, (lon, lat)) in villages.items():
            ids[name] = conn.execute(
                "INSERT INTO settlement (name, name_ascii, kind, population, unit_id, geom) VALUES (%s, %s, 'ban', "
                "100, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
                [name, name, ids[unit], lon, lat]).fetchone()[0]
    return ids


def test_residents_travel_to_the_station_on_one_way_roads(empty_db):
    ids = build_tiny_world(empty_db)
    with psycopg.connect(empty_db) as conn:
        t = access_table(conn, on=ON, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH).set_index("village")
    assert t.attrs["roads_generated"] is False and t.attrs["note"] == ""
    at1, at3 = t.loc["at1"], t.loc["at3"]
    assert (at1["village_node"], at1["own_station_node"], at1["own_station_s"]) == (1, 2, pytest.approx(100))
    # From node 3 the station of A (node 2) is 380 s away round by 4 (the road 2 -> 3 is one-way); the
    # reverse trip, 50 s, is not what a resident makes.
    assert at3["own_station_code"] == "CA-A" and at3["own_station_s"] == pytest.approx(80 + 300)
    assert at3["own_station_network_s"] == pytest.approx(380)
    # The nearest station is B's at node 4, 80 s away.
    assert at3["nearest_station_code"] == "CA-B" and at3["nearest_station_node"] == 4
    assert at3["nearest_station_s"] == pytest.approx(80)
    assert at3["nearest_station_m"] == pytest.approx(conn_length(empty_db, 3))
    assert at3["own_station_min"] == pytest.approx(380 / 60)
    assert at3["reason"] == ""
    # Node 8 is a one-way dead end: no station can be reached from it, and the table says so.
    at8 = t.loc["at8"]
    assert at8["village_node"] == 8 and np.isnan(at8["own_station_s"]) and np.isnan(at8["nearest_station_s"])
    assert "no road path to its own station" in at8["reason"] and "no road path to any station" in at8["reason"]
    far = t.loc["far"]
    assert np.isnan(far["village_node"]) and np.isnan(far["own_station_s"])
    assert far["reason"].startswith("village 4,") and "more than 1,000 m" in far["reason"]
    assert ids["CA-A"] == at1["own_station_id"]


def conn_length(url: str, eid: int) -> float:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT length_m FROM road_edge WHERE id = %s", [eid]).fetchone()[0]


def test_walking_legs_count_at_both_ends(empty_db):
    build_tiny_world(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        # Move A's station 0.0009° (about 100 m) south of node 2 and village at1 as far south of node 1 (no
        # road runs south of them: both walk to the node).
        conn.execute("UPDATE station SET geom = ST_Translate(geom, 0, -0.0009) WHERE code = 'CA-A'")
        conn.execute("UPDATE settlement SET geom = ST_Translate(geom, 0, -0.0009) WHERE name = 'at1'")
        t = access_table(conn, on=ON, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH).set_index("village")
    at1 = t.loc["at1"]
    walk = 99.6 / (WALK_KMH / 3.6)
    assert at1["village_access_s"] == pytest.approx(walk, abs=0.5)
    assert at1["own_station_access_s"] == pytest.approx(walk, abs=0.5)
    assert at1["own_station_s"] == pytest.approx(100 + 2 * walk, abs=1)
    assert at1["own_station_straight_m"] == pytest.approx(1036.9, rel=0.01)
    assert at1["own_station_m"] == pytest.approx(conn_length(empty_db, 1) + 2 * 99.6, abs=1)


def test_demo_access_table(demo_db):
    with psycopg.connect(demo_db) as conn:
        t = access_table(conn, on=ON, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
        n_villages = conn.execute("SELECT count(*) FROM settlement").fetchone()[0]
        nodes = {r[0] for r in conn.execute("SELECT source FROM road_edge UNION SELECT target FROM road_edge")}
    assert t.attrs["roads_generated"] is True and "generated" in t.attrs["note"]
    assert len(t) == n_villages and t["village_id"].is_unique
    assert t.crs.to_epsg() == 4326
    assert (t["reason"] == "").all()  # the demo's graph is one piece and reaches every village
    for col in ("village_node", "nearest_station_node", "own_station_node"):
        assert set(t[col].astype(int)) <= nodes
    parts = t["village_access_s"] + t["own_station_network_s"] + t["own_station_access_s"]
    assert np.allclose(t["own_station_s"], parts)
    assert (t["nearest_station_s"] <= t["own_station_s"] + 1e-6).all()
    assert (t["own_station_m"] >= t["own_station_straight_m"] - 1e-6).all()
    # Every 2025 commune's villages go to that commune's station.
    assert (t["own_station_code"] == "CA-" + t["commune_code"]).all()
    s = access_summaries(t)
    prov = s["province"].iloc[0]
    assert prov["population"] == t["population"].sum()
    weighted = (t["own_station_min"] * t["population"]).sum() / t["population"].sum()
    assert prov["own_station_min_weighted_mean"] == pytest.approx(weighted)
    assert prov["nearest_station_min_weighted_mean"] <= prov["own_station_min_weighted_mean"]
    assert len(s["commune"]) == t["commune_code"].nunique()
