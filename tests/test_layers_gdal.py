"""A real GIS client: GDAL's OAPIF driver lists every collection and reads every layer completely.

Counts are taken on the client side (rows of the GeoPackage GDAL wrote), never from numberMatched.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

from layers import registry
from tests.test_layers_support import EXPECTED_COUNTS, count, layers_template, role, seeded_ro  # noqa: F401

# A real account's bearer token, passed the way a GIS desktop passes it to GDAL.
HEADERS = "Authorization: " + role("commander")["Authorization"]


def gdal(args: list[str], tmp_path) -> str:
    env = {**os.environ, "GDAL_HTTP_HEADERS": HEADERS, "CPL_DEBUG": "OFF", "GDAL_HTTP_TIMEOUT": "60"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gdal_lists_and_reads_every_layer(start_server, seeded_ro, tmp_path):  # noqa: F811
    base = start_server(seeded_ro)
    listing = gdal(["ogrinfo", "-ro", "-q", f"OAPIF:{base}"], tmp_path)
    listed = {line.split(":", 1)[1].strip().split(" ")[0] for line in listing.splitlines() if ":" in line}
    assert {lay.id for lay in registry.all_layers()} <= listed
    assert set(EXPECTED_COUNTS) == {lay.id for lay in registry.all_layers()}
    for layer_id, query in EXPECTED_COUNTS.items():
        out = tmp_path / f"{layer_id}.gpkg"
        gdal(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}", layer_id, "-oo", "PAGE_SIZE=500"], tmp_path)
        with sqlite3.connect(out) as db:
            table = db.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
            got = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        assert got == count(seeded_ro, query) > 0, layer_id
