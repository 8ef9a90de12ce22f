"""A real GIS client: GDAL's OAPIF driver lists every collection and reads every layer completely.

Counts are taken on the client side (rows of the GeoPackage GDAL wrote), never from numberMatched.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import psycopg

from data.permissions import roles_for
from layers import registry
from layers.query import NEXT_PAGE_MIN_LIMIT
from tests.test_layers_support import (  # noqa: F401
    EXPECTED_COUNTS,
    add_principals,
    count,
    layers_template,
    role,
    seeded_ro,
)

# A real account's bearer token, passed the way a GIS desktop passes it to GDAL: a commander's, or a
# planner's for the layers only planners see (the scenarios').
HEADERS = "Authorization: " + role("commander")["Authorization"]
PLANNER_HEADERS = "Authorization: " + role("planner")["Authorization"]


def headers_for(layer_id: str) -> str:
    layer = registry.get(layer_id)
    return HEADERS if not layer.restricted or "commander" in roles_for(layer.access.action) else PLANNER_HEADERS


def gdal(args: list[str], tmp_path, headers: str = HEADERS) -> str:
    env = {**os.environ, "GDAL_HTTP_HEADERS": headers, "CPL_DEBUG": "OFF", "GDAL_HTTP_TIMEOUT": "60"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gdal_lists_and_reads_every_layer(start_server, seeded_ro, tmp_path):  # noqa: F811
    base = start_server(seeded_ro)
    listed = set()
    for headers in (HEADERS, PLANNER_HEADERS):
        listing = gdal(["ogrinfo", "-ro", "-q", f"OAPIF:{base}"], tmp_path, headers)
        listed |= {line.split(":", 1)[1].strip().split(" ")[0] for line in listing.splitlines() if ":" in line}
    assert {lay.id for lay in registry.all_layers()} <= listed
    assert set(EXPECTED_COUNTS) == {lay.id for lay in registry.all_layers()}
    for layer_id, query in EXPECTED_COUNTS.items():
        out = tmp_path / f"{layer_id}.gpkg"
        gdal(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}", layer_id, "-oo", "PAGE_SIZE=500"], tmp_path,
             headers_for(layer_id))
        with sqlite3.connect(out) as db:
            table = db.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
            got = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        assert got == count(seeded_ro, query) > 0, layer_id


# The demo also holds the province and the districts' cities and towns: the unit layers count by their own
# declared condition there.
DEMO_COUNTS = {**EXPECTED_COUNTS, **{
    layer_id: f"SELECT count(*) FROM admin_unit WHERE {registry.get(layer_id).where}"  # noqa: S608
    for layer_id in ("communes", "communes-pre2025", "districts-pre2025")}}


def test_gdal_reads_every_layer_in_large_pages_without_being_told(start_server, demo_db_rw, tmp_path):
    """ogr2ogr as a GIS user runs it (no PAGE_SIZE): GDAL 3.6 asks for pages of 10, and the next links ask for
    NEXT_PAGE_MIN_LIMIT, so a layer takes a few requests per thousand features, not a hundred."""
    with psycopg.connect(demo_db_rw, autocommit=True) as conn:
        add_principals(conn)
        start = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
    base = start_server(demo_db_rw)
    timings = {}
    for layer_id, query in DEMO_COUNTS.items():
        want = count(demo_db_rw, query)
        out = tmp_path / f"{layer_id}.gpkg"
        began = time.perf_counter()
        env = {**os.environ, "GDAL_HTTP_HEADERS": headers_for(layer_id), "CPL_DEBUG": "ON", "GDAL_HTTP_TIMEOUT": "120"}
        done = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}", layer_id], capture_output=True,
                              text=True, env=env, timeout=600, cwd=tmp_path)
        timings[layer_id] = time.perf_counter() - began
        assert done.returncode == 0, done.stderr[-2000:]
        fetches = [line for line in done.stderr.splitlines() if "HTTP: Fetch(" in line and "/items" in line]
        with sqlite3.connect(out) as db:
            table = db.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
            got = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        assert got == want, layer_id
        # The schema probe and the first page (limit=10 each), then one request per NEXT_PAGE_MIN_LIMIT.
        assert 1 <= len(fetches) <= 3 + -(-want // NEXT_PAGE_MIN_LIMIT), (layer_id, len(fetches), fetches[:3])
        if layer_id == "incidents":
            assert want >= 20_000
            with psycopg.connect(demo_db_rw) as conn:  # one audit row per request that returned descriptions
                rows = conn.execute("SELECT count(*) FROM audit_log WHERE id > %s AND action = 'layer.read_personal'"
                                    " AND target LIKE 'incidents:%%'", (start,)).fetchone()[0]
            assert rows == len(fetches)
    report = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    print(f"\nogr2ogr without PAGE_SIZE: {report}")
