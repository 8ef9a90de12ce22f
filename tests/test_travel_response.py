"""Response times (geo/travel/response.py): on the tiny world of test_travel_access the patrol drives FROM
the station, so a one-way road counts the other way than for residents; on the demo the responding station
changes with the reorganisation of 1 July 2025, and the summary's median and 90th percentile are those of
the rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from geo.travel.response import response_summary, response_times
from geo.travel.routes import route
from tests.test_travel_access import build_tiny_world
from tests.test_travel_routes import MAX_SNAP_M, NODES, WALK_KMH

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_patrol_drives_from_the_station(empty_db):
    build_tiny_world(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        for number, node in ((1, 1), (3, 8)):
            conn.execute("INSERT INTO incident (id, category, severity, occurred_at, geom) VALUES (%s, 'theft', "
                         "'less_serious', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                         [uuid.uuid4(), datetime(2026, 1, number, tzinfo=TZ), *NODES[node]])
        t = response_times(conn, since=datetime(2025, 12, 1, tzinfo=TZ), until=datetime(2026, 2, 1, tzinfo=TZ),
                           max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    assert list(t["station_code"]) == ["CA-A", "CA-B"]
    assert list(t["incident_node"]) == [1, 8]
    # A's station is on node 2: 2 -> 1 is 100 s. B's is on node 4: 4 -> 3 -> 8 down the one-way road into the
    # dead end, 120 s, although a resident of node 8 can reach no station at all.
    assert list(t["response_s"]) == [pytest.approx(100), pytest.approx(80 + 40)]
    assert (t["reason"] == "").all() and t.attrs["roads_generated"] is False


def test_demo_response_times(demo_db):
    with psycopg.connect(demo_db) as conn:
        t = response_times(conn, since=datetime(2025, 6, 1, tzinfo=TZ), until=datetime(2025, 8, 1, tzinfo=TZ),
                           max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
        n = conn.execute("SELECT count(*) FROM incident WHERE occurred_at >= '2025-06-01 00:00+07' AND "
                         "occurred_at < '2025-08-01 00:00+07'").fetchone()[0]
        assert len(t) == n > 100 and t.attrs["roads_generated"] is True
        # June: the pre-2025 commune police (CAX-); July: the 2025 commune stations (CA-<commune code>).
        june, july = t[t["month"] == "2025-06"], t[t["month"] == "2025-07"]
        assert june["station_code"].str.startswith("CAX-").all()
        assert (july["station_code"] == "CA-" + july["commune_code"]).all()
        figures = t[t["reason"] == ""]
        assert figures["response_s"].notna().all() and t.loc[t["reason"] != "", "response_s"].isna().all()
        assert (t.loc[t["reason"] != "", "reason"] == "incident too far from a road").all()
        # The point-to-point route (split edges) is never slower than the table's trip via nodes.
        for _, row in figures.sample(5, random_state=1).iterrows():
            lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM station WHERE id = %s",
                                    [int(row["station_id"])]).fetchone()
            r = route(conn, (lon, lat), (row["lon"], row["lat"]), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
            assert r.travel_s <= row["response_s"] + 1.0
            assert r.travel_s >= row["response_s"] - 2 * (MAX_SNAP_M / (WALK_KMH / 3.6))
    s = response_summary(t)
    one = s.iloc[0]
    rows = t[(t["commune_code"] == one["commune_code"]) & (t["month"] == one["month"])]["response_min"].dropna()
    assert one["median_min"] == pytest.approx(np.median(rows))
    assert one["p90_min"] == pytest.approx(np.quantile(rows, 0.9))
    assert s["incidents"].sum() == len(t) and s["with_figure"].sum() == len(figures)
