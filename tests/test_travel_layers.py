"""The stored travel analyses as map layers: what the demo load stores equals a fresh geo/travel computation,
the layers serve the roles of analysis.run (scoped by commune) and no one else, and storing replaces a run."""

from __future__ import annotations

import math
import uuid
from datetime import date

import mapbox_vector_tile
import numpy as np
import psycopg
import pytest

from data.permissions import roles_for
from geo.travel.access import access_table
from geo.travel.savings import savings_table

LAYERS = {"village-access": "travel_access", "isochrones": "travel_isochrone",
          "reorganisation-savings": "travel_saving", "response-times": "travel_response"}


def _run(conn: psycopg.Connection, analysis: str) -> tuple[int, dict, bool]:
    return conn.execute("SELECT id, params, roads_generated FROM travel_run WHERE analysis = %s",
                        [analysis]).fetchone()


def _close(a, b) -> bool:
    a, b = (np.asarray(x, dtype=float) for x in (a, b))
    return bool(np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=0, atol=1e-6)))


def test_the_demo_load_stores_what_a_fresh_computation_gives(demo_db):
    with psycopg.connect(demo_db) as conn:
        run_id, params, generated = _run(conn, "access")
        assert generated is True
        fresh = access_table(conn, on=date.fromisoformat(params["on"]), max_snap_m=params["max_snap_m"],
                             walk_kmh=params["walk_kmh"]).set_index("village_id")
        rows = conn.execute("SELECT settlement_id, unit_id, village_node, own_station_code, own_station_node, "
                            "own_station_min, own_station_km, own_station_ratio, nearest_station_code, "
                            "nearest_station_node, nearest_station_min, nearest_station_km, reason, band, "
                            "ST_X(geom), ST_Y(geom) FROM travel_access WHERE run_id = %s ORDER BY settlement_id",
                            [run_id]).fetchall()
        villages = conn.execute("SELECT count(*) FROM settlement").fetchone()[0]
        assert len(rows) == villages == len(fresh)
        cols = list(zip(*rows, strict=True))
        f = fresh.loc[list(cols[0])]
        assert list(cols[1]) == f["unit_id"].tolist()
        assert _close([np.nan if v is None else v for v in cols[2]], f["village_node"])
        assert list(cols[3]) == f["own_station_code"].tolist()
        assert _close([np.nan if v is None else v for v in cols[4]], f["own_station_node"])
        for got, want in ((cols[5], f["own_station_min"]), (cols[6], f["own_station_m"] / 1000),
                          (cols[7], f["own_station_ratio"]), (cols[10], f["nearest_station_min"]),
                          (cols[11], f["nearest_station_m"] / 1000)):
            assert _close([np.nan if v is None else v for v in got], want)
        assert list(cols[8]) == f["nearest_station_code"].tolist()
        assert list(cols[12]) == f["reason"].tolist()
        assert _close(cols[14], f["lon"]) and _close(cols[15], f["lat"])
        # The band is the own station's minutes cut at 15/30/60/120.
        edges = [0, 15, 30, 60, 120, math.inf]
        names = ["m0_15", "m15_30", "m30_60", "m60_120", "m120_plus"]
        for band, minutes in zip(cols[13], cols[5], strict=True):
            assert (band is None) == (minutes is None)
            if minutes is not None:
                i = names.index(band)
                assert edges[i] <= minutes < edges[i + 1], (band, minutes)
        assert {b for b in cols[13] if b} >= {"m0_15", "m120_plus"}

        run_id, params, _ = _run(conn, "savings")
        fresh = savings_table(conn, max_snap_m=params["max_snap_m"], walk_kmh=params["walk_kmh"]).set_index(
            "village_id")
        got = conn.execute("SELECT settlement_id, before_min, march_min, july_min, change_total_min, change_july_km "
                           "FROM travel_saving WHERE run_id = %s ORDER BY settlement_id", [run_id]).fetchall()
        cols = list(zip(*got, strict=True))
        f = fresh.loc[list(cols[0])]
        for i, name in enumerate(("before_min", "march_min", "july_min", "change_total_min", "change_july_km"), 1):
            assert _close([np.nan if v is None else v for v in cols[i]], f[name]), name
        for analysis, table in (("isochrones", "travel_isochrone"), ("responses", "travel_response")):
            rid = _run(conn, analysis)[0]
            n, scoped = conn.execute(f"SELECT count(*), count(unit_id) FROM {table} WHERE run_id = %s",  # noqa: S608
                                     [rid]).fetchone()
            assert n > 0 and scoped == n, analysis


def _caller(conn: psycopg.Connection, role: str, units: tuple[int, ...] = ()) -> dict[str, str]:
    from data.ops.signin import hash_password, token_hash

    token = f"travel-layers-{uuid.uuid4().hex}"
    uid = conn.execute("INSERT INTO app_user (username, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
                       [token, hash_password("unused-here"), role]).fetchone()[0]
    for unit in units:
        conn.execute("INSERT INTO app_user_unit (user_id, unit_id) VALUES (%s, %s)", [uid, unit])
    conn.execute("INSERT INTO app_session (token_hash, user_id, kind, expires_at) "
                 "VALUES (%s, %s, 'bearer', now() + interval '1 day')", [token_hash(token), uid])
    return {"Authorization": f"Bearer {token}"}


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


@pytest.fixture
def served(demo_db_rw, make_client):
    with psycopg.connect(demo_db_rw, autocommit=True) as conn:
        # The commune with the most stored villages scopes the commune commander.
        unit = conn.execute("SELECT unit_id FROM travel_access GROUP BY 1 ORDER BY count(*) DESC, 1 "
                            "LIMIT 1").fetchone()[0]
        callers = {"planner": _caller(conn, "planner"), "commander": _caller(conn, "commander"),
                   "officer": _caller(conn, "officer", (unit,)), "commune_commander": _caller(conn, "commander",
                                                                                             (unit,))}
    return make_client(demo_db_rw, data_version_ttl_s=0.0), demo_db_rw, callers, unit


def _point_of(url: str, table: str, unit: int | None = None) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM {table} "  # noqa: S608
                            "WHERE %s::int IS NULL OR unit_id = %s ORDER BY id LIMIT 1) s", [unit, unit]).fetchone()


def test_travel_layers_serve_the_analysis_roles_and_refuse_officers(served):
    api, url, callers, _unit = served
    assert set(roles_for("analysis.run")) == {"admin", "commander", "planner"}
    listed = {c["id"] for c in api.get("/collections", headers=callers["planner"]).json()["collections"]}
    assert set(LAYERS) <= listed
    officer_listed = {c["id"] for c in api.get("/collections", headers=callers["officer"]).json()["collections"]}
    assert not set(LAYERS) & officer_listed and "incidents" in officer_listed
    for layer, table in LAYERS.items():
        with psycopg.connect(url) as conn:
            want = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        meta = api.get(f"/collections/{layer}", headers=callers["planner"]).json()
        assert "generated roads" in meta["description"], layer
        lon, lat = _point_of(url, table)
        x, y = _tile(lon, lat, 9)
        for who in ("planner", "commander"):
            body = api.get(f"/collections/{layer}/items", params={"limit": 10000}, headers=callers[who]).json()
            assert body["numberMatched"] == want > 0, (layer, who)
            props = body["features"][0]["properties"]
            assert props["roads_generated"] is True and "unit_id" in props, (layer, props)
            r = api.get(f"/collections/{layer}/tiles/WebMercatorQuad/9/{y}/{x}", headers=callers[who])
            assert r.status_code == 200, (layer, who, r.status_code)
            assert mapbox_vector_tile.decode(r.content)[layer]["features"], (layer, who)
        for path in (f"/collections/{layer}/items", f"/collections/{layer}/tiles/WebMercatorQuad/9/{y}/{x}"):
            refused = api.get(path, headers=callers["officer"])
            assert refused.status_code == 403, (path, refused.status_code)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert api.get(path).status_code == 401, path


def test_a_commune_commander_sees_only_their_communes_rows(served):
    api, url, callers, unit = served
    h = callers["commune_commander"]
    for layer, table in LAYERS.items():
        with psycopg.connect(url) as conn:
            want = conn.execute(f"SELECT count(*) FROM {table} WHERE unit_id = %s", [unit]).fetchone()[0]  # noqa: S608
            total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        assert 0 < want < total, layer
        body = api.get(f"/collections/{layer}/items", params={"limit": 10000}, headers=h).json()
        assert body["numberMatched"] == want == len(body["features"]), layer
        assert {f["properties"]["unit_id"] for f in body["features"]} == {unit}, layer
        # A tile around one of the commune's rows holds only that commune's rows, also at a zoom that
        # covers its neighbours.
        lon, lat = _point_of(url, table, unit)
        x, y = _tile(lon, lat, 7)
        r = api.get(f"/collections/{layer}/tiles/WebMercatorQuad/7/{y}/{x}", headers=h)
        assert r.status_code == 200, layer
        feats = mapbox_vector_tile.decode(r.content)[layer]["features"]
        assert feats and {f["properties"]["unit_id"] for f in feats} == {unit}, layer
        wide = api.get(f"/collections/{layer}/tiles/WebMercatorQuad/7/{y}/{x}", headers=callers["commander"])
        assert {f["properties"]["unit_id"] for f in mapbox_vector_tile.decode(wide.content)[layer]["features"]} \
            > {unit}, layer


def _state(conn: psycopg.Connection) -> dict[str, object]:
    return {
        "runs": dict(conn.execute("SELECT analysis, id FROM travel_run").fetchall()),
        "access": conn.execute("SELECT count(*), count(DISTINCT settlement_id) FROM travel_access").fetchone(),
        "savings": conn.execute("SELECT count(*), count(DISTINCT settlement_id) FROM travel_saving").fetchone(),
        "access_runs": conn.execute("SELECT count(DISTINCT run_id) FROM travel_access").fetchone()[0],
        "version": conn.execute("SELECT coalesce(sum(version), 0) FROM data_version "
                                "WHERE table_name = 'travel_access'").fetchone()[0],
    }


def test_storing_again_replaces_the_run_and_a_failed_store_changes_nothing(demo_db_rw):
    from data.ops.travel_results import TravelParams, compute_access, compute_savings, refresh, store
    from tests.conftest import DEMO_UNTIL

    params = TravelParams.defaults(until=DEMO_UNTIL)
    with psycopg.connect(demo_db_rw) as conn:
        villages = conn.execute("SELECT count(*) FROM settlement").fetchone()[0]
        before = _state(conn)
        conn.commit()
        for _ in range(2):
            report = refresh(conn, params, ["access", "savings"])
            assert report.rows == {"access": villages, "savings": villages}
        conn.commit()  # refresh leaves committing to its caller (the CLI's and the loader's connection blocks)
        after = _state(conn)
        assert after["access"] == after["savings"] == (villages, villages)
        assert after["access_runs"] == 1
        assert after["runs"]["access"] > before["runs"]["access"] and after["runs"]["savings"] > \
            before["runs"]["savings"]
        # Other analyses' runs are left alone; the layer's data version moved (tile caches see the new run).
        assert {a: after["runs"][a] for a in ("isochrones", "responses")} == \
            {a: before["runs"][a] for a in ("isochrones", "responses")}
        assert after["version"] > before["version"]

        # A store that fails on its second analysis keeps the first one's previous run too.
        good = compute_access(conn, params)
        bad = compute_savings(conn, params)
        bad.loc[0, "unit_id"] = -1  # no such commune: the foreign key refuses the row
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            store(conn, {"access": good, "savings": bad}, params)
        conn.rollback()
        assert _state(conn) == after
