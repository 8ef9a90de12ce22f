"""`sitmap analyze ...` (api/cli.py over geo/travel): real subprocesses on the demo database write CSV with
the generated-roads note as comment lines and GeoJSON with it in ``metadata``; bad options exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd


def sitmap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=300)


def test_analyze_savings_csv_and_isochrones_geojson(demo_db, tmp_path: Path):
    out = tmp_path / "savings.csv"
    run = sitmap(demo_db, "analyze", "savings", "--format", "csv", "--output", str(out))
    assert run.returncode == 0, run.stderr
    assert "from 1 July" in run.stdout and "generated" in run.stdout
    head = out.read_text(encoding="utf-8").splitlines()[:3]
    assert head[0] == "# analysis: savings" and head[1] == "# roads_generated: True" and "generated" in head[2]
    table = pd.read_csv(out, comment="#")
    assert len(table) == 1500 and {"village_node", "july_station_node", "change_july_min"} <= set(table.columns)
    geo = tmp_path / "iso.geojson"
    run = sitmap(demo_db, "analyze", "isochrones", "--station", "CA-03127", "--minutes", "10,20",
                 "--format", "geojson", "--output", str(geo))
    assert run.returncode == 0, run.stderr
    doc = json.loads(geo.read_text(encoding="utf-8"))
    assert doc["metadata"]["roads_generated"] is True and "generated" in doc["metadata"]["note"]
    assert [f["properties"]["minutes"] for f in doc["features"]] == [10, 20]
    assert doc["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_analyze_refuses_bad_options(demo_db, tmp_path: Path):
    bad = sitmap(demo_db, "analyze", "access", "--format", "xml", "--output", str(tmp_path / "x"))
    assert bad.returncode == 2 and "csv or geojson" in bad.stderr
    far = sitmap(demo_db, "analyze", "isochrones", "--point", "103.5,20.0", "--output", str(tmp_path / "i.json"))
    assert far.returncode == 2 and "from the nearest open road" in far.stderr
    assert not (tmp_path / "i.json").exists() and not (tmp_path / "x").exists()
