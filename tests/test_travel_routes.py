"""Point-to-point travel (geo/travel/routes.py) on a tiny hand-made graph with known answers: snapping to
the middle of an edge, the walking leg, one-way roads, both points on one edge, points too far from a road,
disconnected pieces and one-way dead ends; and one route on the demo (geometry, ratio, symmetric roads)."""

from __future__ import annotations

import math

import psycopg
import pytest

from geo.travel.network import TooFarFromRoad
from geo.travel.routes import Unreachable, route

# Nodes (lon, lat) near 103.0 E 21.4 N; 0.01° of latitude is about 1,106 m.
NODES = {1: (103.00, 21.40), 2: (103.01, 21.40), 3: (103.02, 21.40), 4: (103.01, 21.41),
         6: (103.10, 21.40), 7: (103.11, 21.40), 8: (103.03, 21.40)}
# id: (source, target, cost_s, reverse_cost_s); -1 closes a direction.
EDGES = {
    1: (1, 2, 100.0, 100.0),
    2: (2, 3, 50.0, -1.0),     # one-way 2 -> 3
    3: (3, 4, 80.0, 80.0),
    4: (4, 2, 300.0, 300.0),
    5: (6, 7, 60.0, 60.0),     # a piece of road joined to nothing
    6: (3, 8, 40.0, -1.0),     # one-way into a dead end: 8 can be reached but not left
}
WALK_KMH = 4.0
MAX_SNAP_M = 1000.0


def build_tiny_graph(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for eid, (a, b, cost, rev) in EDGES.items():
            conn.execute(
                "INSERT INTO road_edge (id, source, target, road_class, length_m, cost_s, reverse_cost_s, "
                "is_generated, geom) SELECT %s, %s, %s, 'commune', ST_Length(g::geography), %s, %s, false, g "
                "FROM (SELECT ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 4326) g) z",
                [eid, a, b, cost, rev, *NODES[a], *NODES[b]])


@pytest.fixture
def tiny(empty_db: str):
    build_tiny_graph(empty_db)
    with psycopg.connect(empty_db) as conn:
        yield conn


def on_edge(eid: int, fraction: float) -> tuple[float, float]:
    (x1, y1), (x2, y2) = NODES[EDGES[eid][0]], NODES[EDGES[eid][1]]
    return x1 + (x2 - x1) * fraction, y1 + (y2 - y1) * fraction


def length(conn: psycopg.Connection, *eids: int) -> float:
    return conn.execute("SELECT sum(length_m) FROM road_edge WHERE id = ANY(%s)", [list(eids)]).fetchone()[0]


def test_node_to_node_follows_one_way_roads(tiny):
    forward = route(tiny, NODES[1], NODES[3], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert forward.travel_s == pytest.approx(150.0)
    assert forward.edges == (1, 2)
    assert forward.road_m == pytest.approx(length(tiny, 1, 2))
    assert forward.walk_m == pytest.approx(0, abs=1e-6)
    # Back against the one-way 2 -> 3: round by 4.
    back = route(tiny, NODES[3], NODES[1], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert back.travel_s == pytest.approx(80 + 300 + 100)
    assert back.edges == (3, 4, 1)
    assert back.road_m == pytest.approx(length(tiny, 3, 4, 1))
    assert back.straight_m == pytest.approx(forward.straight_m)
    assert back.ratio == pytest.approx(length(tiny, 3, 4, 1) / back.straight_m)
    # The geometry runs from the origin to the destination through node 4.
    coords = list(back.geometry.coords)
    assert coords[0] == pytest.approx(NODES[3]) and coords[-1] == pytest.approx(NODES[1])
    assert any(c == pytest.approx(NODES[4]) for c in coords)


def test_snaps_mid_edge_and_walks_the_leg_to_the_road(tiny):
    on_road = route(tiny, on_edge(1, 0.5), NODES[3], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert on_road.travel_s == pytest.approx(50 + 50, abs=0.5)
    assert on_road.road_m == pytest.approx(length(tiny, 1) / 2 + length(tiny, 2), rel=1e-3)
    # 0.0009° north of the edge's middle: about 100 m walked at 4 km/h (90 s) before the same drive.
    lon, lat = on_edge(1, 0.5)
    off = route(tiny, (lon, lat + 0.0009), NODES[3], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert off.walk_m == pytest.approx(99.6, abs=0.5)
    assert off.walk_s == pytest.approx(off.walk_m / (WALK_KMH / 3.6))
    assert off.road_s == pytest.approx(on_road.road_s, abs=0.5)
    assert off.travel_s == pytest.approx(on_road.travel_s + off.walk_s, abs=0.5)
    assert off.geometry.coords[0] == pytest.approx((lon, lat + 0.0009))


def test_both_points_on_one_edge(tiny):
    two_way = route(tiny, on_edge(1, 0.2), on_edge(1, 0.7), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert two_way.travel_s == pytest.approx(50.0, abs=0.5)
    assert two_way.edges == (1,)
    # Against the one-way edge 2 -> 3 the trip leaves it at 3 and comes back round by 4 and 2.
    against = route(tiny, on_edge(2, 0.7), on_edge(2, 0.2), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert against.travel_s == pytest.approx(0.3 * 50 + 80 + 300 + 0.2 * 50, abs=0.5)
    along = route(tiny, on_edge(2, 0.2), on_edge(2, 0.7), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert along.travel_s == pytest.approx(0.5 * 50, abs=0.5)


def test_a_point_too_far_from_any_road_says_how_far(tiny):
    far = (103.01, 21.43)  # about 2.2 km north of node 4
    with pytest.raises(TooFarFromRoad) as exc:
        route(tiny, NODES[1], far, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert exc.value.label == "destination"
    assert exc.value.distance_m == pytest.approx(2212, abs=10)
    assert "2,21" in str(exc.value) and "1,000 m" in str(exc.value)
    # Allowed with a larger snapping distance, the walk is counted.
    r = route(tiny, NODES[1], far, max_snap_m=3000, walk_kmh=WALK_KMH)
    assert r.walk_m == pytest.approx(exc.value.distance_m, abs=1)
    assert r.travel_s == pytest.approx(100 + 50 + 80 + r.walk_s, abs=0.5)  # by 2 and 3, not 2 -> 4


def test_unreachable_pairs_give_a_reason_never_a_number(tiny):
    with pytest.raises(Unreachable) as island:
        route(tiny, NODES[1], NODES[7], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert island.value.reason == "disconnected"
    with pytest.raises(Unreachable) as dead_end:
        route(tiny, NODES[8], NODES[1], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert dead_end.value.reason == "one_way"
    # The way in is open.
    assert route(tiny, NODES[1], NODES[8], max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH).travel_s == pytest.approx(190)


def test_a_demo_route_between_district_headquarters(demo_db):
    with psycopg.connect(demo_db) as conn:
        (a, b) = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM station WHERE kind = 'district_police' "
                              "ORDER BY code LIMIT 2").fetchall()
        there = route(conn, a, b, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
        back = route(conn, b, a, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
        # The demo's roads are two-way: the same time both ways, and the figures add up.
        assert there.travel_s == pytest.approx(back.travel_s, rel=1e-9)
        assert there.road_m + there.walk_m > there.straight_m
        assert there.travel_s == pytest.approx(there.road_s + there.walk_s)
        total_cost = conn.execute("SELECT sum(cost_s) FROM road_edge WHERE id = ANY(%s)",
                                  [list(there.edges[1:-1])]).fetchone()[0]
        assert total_cost < there.road_s  # the inner edges are whole, the end ones partly driven
        assert math.isclose(there.geometry.coords[0][0], a[0]) and math.isclose(there.geometry.coords[-1][1], b[1])
