"""Isochrones (geo/travel/isochrones.py): known reach on the tiny graph of test_travel_routes (edges cut where
the time runs out, one-way roads not driven against), nested valid polygons, a too-far origin; and one demo
station's 15/30/60 minutes."""

from __future__ import annotations

import psycopg
import pytest
from shapely.geometry import Point

from geo.travel.isochrones import isochrones, station_isochrones
from geo.travel.network import TooFarFromRoad
from tests.test_travel_routes import MAX_SNAP_M, NODES, WALK_KMH, build_tiny_graph, length


@pytest.fixture
def tiny(empty_db: str):
    build_tiny_graph(empty_db)
    with psycopg.connect(empty_db) as conn:
        yield conn


def test_reach_is_cut_along_edges(tiny):
    iso = isochrones(tiny, *NODES[1], minutes=(1.0, 2.5), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    one, two = iso.iloc[0], iso.iloc[1]
    assert list(iso["minutes"]) == [1.0, 2.5]
    # 60 s along edge 1 (100 s): 60 % of it.
    assert one["reached_road_km"] * 1000 == pytest.approx(0.6 * length(tiny, 1), rel=1e-6)
    # 150 s: edge 1, then the one-way 2 -> 3 (50 s) whole, and 50 s of the 300 s edge 2 -> 4.
    assert two["reached_road_km"] * 1000 == pytest.approx(length(tiny, 1) + length(tiny, 2)
                                                          + length(tiny, 4) * 50 / 300, rel=1e-6)
    assert two["reached_edges"] == 3
    assert iso.geometry.is_valid.all() and one.geometry.within(two.geometry)
    assert two.geometry.contains(Point(NODES[3])) and not one.geometry.contains(Point(NODES[2]))
    assert 0 < one["area_km2"] < two["area_km2"]


def test_one_way_roads_are_not_driven_against(tiny):
    iso = isochrones(tiny, *NODES[3], minutes=(100 / 60,), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH).iloc[0]
    # From 3: edge 3 (80 s) and the dead end 6 (40 s) whole, 20 s of edge 4 from node 4, none of 2 -> 3.
    assert iso["reached_road_km"] * 1000 == pytest.approx(length(tiny, 3) + length(tiny, 6)
                                                          + length(tiny, 4) * 20 / 300, rel=1e-6)
    assert iso.geometry.contains(Point(NODES[4])) and not iso.geometry.contains(Point(NODES[2]))


def test_origin_too_far_from_a_road(tiny):
    with pytest.raises(TooFarFromRoad) as exc:
        isochrones(tiny, 103.01, 21.43, minutes=(15,), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert exc.value.label == "origin" and exc.value.distance_m > MAX_SNAP_M
    with pytest.raises(ValueError):
        isochrones(tiny, *NODES[1], minutes=(0,), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)


def test_demo_station_isochrones(demo_db):
    with psycopg.connect(demo_db) as conn:
        sid, lon, lat = conn.execute("SELECT id, ST_X(geom), ST_Y(geom) FROM station WHERE code = 'CA-03127'"
                                     ).fetchone()
        iso = station_isochrones(conn, sid, minutes=(15, 30, 60), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
        with pytest.raises(LookupError):
            station_isochrones(conn, -5, minutes=(15,), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert iso.attrs["roads_generated"] is True
    assert list(iso["minutes"]) == [15, 30, 60] and (iso["station_code"] == "CA-03127").all()
    assert iso.geometry.is_valid.all() and iso.crs.to_epsg() == 4326
    g = list(iso.geometry)
    assert g[0].within(g[1]) and g[1].within(g[2]) and g[0].contains(Point(lon, lat))
    assert list(iso["area_km2"]) == sorted(iso["area_km2"]) and iso["area_km2"].iloc[0] > 1
