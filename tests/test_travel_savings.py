"""Reorganisation savings (geo/travel/savings.py) on the demo: each step's station is the right one for the
date (district HQ, pre-2025 commune police, 2025 commune station), changes are signed differences, trips
agree with point-to-point routes, summaries are population-weighted, and the 'farther after July' count."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from geo.travel.routes import route
from geo.travel.savings import farther_after_july, savings_summaries, savings_table
from tests.test_travel_routes import MAX_SNAP_M, WALK_KMH


@pytest.fixture(scope="module")
def table(demo_db):
    with psycopg.connect(demo_db) as conn:
        return savings_table(conn, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)


def test_each_step_goes_to_the_station_of_its_date(table, demo_db):
    assert table.attrs["roads_generated"] is True and (table["reason"] == "").all()
    with psycopg.connect(demo_db) as conn:
        district = dict(conn.execute(
            "SELECT s.id, st.code FROM settlement s JOIN admin_unit o ON o.id = s.pre2025_unit_id "
            "JOIN station st ON st.unit_id = o.parent_id AND st.kind = 'district_police'").fetchall())
    assert (table["before_station_code"] == table["village_id"].map(district)).all()
    assert (table["march_station_code"] == "CAX-" + table["pre2025_code"]).all()
    assert (table["july_station_code"] == "CA-" + table["commune_code"]).all()
    assert np.allclose(table["change_march_min"], table["march_min"] - table["before_min"])
    assert np.allclose(table["change_july_km"], table["july_km"] - table["march_km"])
    assert np.allclose(table["change_total_min"], table["change_march_min"] + table["change_july_min"])


def test_trips_agree_with_point_to_point_routes(table, demo_db):
    sample = table.sample(8, random_state=3)
    with psycopg.connect(demo_db) as conn:
        for _, row in sample.iterrows():
            lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM station WHERE code = %s",
                                    [row["july_station_code"]]).fetchone()
            if (lon, lat) == (row["lon"], row["lat"]):
                assert row["july_min"] == 0
                continue
            r = route(conn, (row["lon"], row["lat"]), (lon, lat), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
            assert row["july_min"] * 60 == pytest.approx(r.travel_s, abs=1.0)
            assert row["july_km"] * 1000 == pytest.approx(r.road_m + r.walk_m, rel=1e-3)


def test_summaries_and_farther_after_july(table):
    s = savings_summaries(table)
    prov = s["province"].iloc[0]
    w = table["population"]
    for col in ("before_min", "march_min", "july_min", "change_total_km"):
        assert prov[col] == pytest.approx((table[col] * w).sum() / w.sum())
    assert prov["person_hours_total"] == pytest.approx((table["change_total_min"] * w).sum() / 60)
    assert s["commune"]["population"].sum() == w.sum()
    f = farther_after_july(table)
    worse = table[table["change_july_min"] > 0]
    assert f["villages"] == len(worse) > 0 and f["population"] == worse["population"].sum()
    assert f["extra_min_weighted_mean"] > 0 and f["extra_min_max"] == worse["change_july_min"].max()
    assert f["villages_total"] == len(table)
